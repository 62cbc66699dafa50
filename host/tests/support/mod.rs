//! Shared helpers of hotdev-host's tests: the fixture plugins (built once per variant per
//! test run, see [`fixtures`]), shadow roots, and waiting for events.
#![allow(dead_code)]

pub mod fixtures;

use std::path::Path;
use std::time::Duration;

use crossbeam_channel::Receiver;
#[allow(unused_imports)] // each test binary uses a part
pub use fixtures::{fixture, rusty_fixture};
use hotdev_host::Event;

/// Options with a shadow root of the test's own and an event channel to follow.
pub fn options(root: &tempfile::TempDir) -> (hotdev_host::Options, Receiver<Event>) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let opts = hotdev_host::Options {
        shadow_dir: Some(root.path().to_path_buf()),
        events: Some(tx),
        ..hotdev_host::Options::default()
    };
    (opts, rx)
}

/// A fresh shadow root for one test.
pub fn shadow_root() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("hotdev-test-shadow")
        .tempdir()
        .unwrap()
}

/// Waits for the first event matching `pred`, returning it; panics after `timeout` with
/// the events seen meanwhile.
pub fn wait_for(rx: &Receiver<Event>, timeout: Duration, pred: impl Fn(&Event) -> bool) -> Event {
    let deadline = std::time::Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(e) if pred(&e) => return e,
            Ok(e) => seen.push(e),
            Err(_) => panic!("no matching event within {timeout:?}; saw {seen:#?}"),
        }
    }
}

/// How many libraries under `dir` are loaded (one snapshot of the loader's list).
pub fn loaded_under(dir: &Path) -> usize {
    hotdev_host::testing::loaded_under(dir).expect("dl_iterate_phdr is available on Linux")
}

/// How many distinct files under `dir` are mapped into this process.
pub fn mapped_under(dir: &Path) -> usize {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let dir = dir.to_string_lossy();
    let mut files: Vec<&str> = maps
        .lines()
        .filter_map(|l| l.splitn(6, char::is_whitespace).nth(5).map(str::trim))
        .filter(|p| p.starts_with(&*dir))
        .collect();
    files.sort_unstable();
    files.dedup();
    files.len()
}

pub const LONG: Duration = Duration::from_secs(60);
