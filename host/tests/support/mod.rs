//! Builds the fixture plugin (tests/fixtures/plugin) once per variant per test run.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crossbeam_channel::Receiver;
use hotdev_host::Event;

/// Builds variant `feature` ("" for the default v1, "panic_abort" for v1 built with
/// `panic = "abort"`) and returns a stable copy of its
/// library. Each variant has its own target directory, so concurrent test processes never
/// see each other's half-finished outputs.
pub fn fixture(feature: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = built.get(feature) {
        return p.clone();
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plugin/Cargo.toml");
    let name = if feature.is_empty() { "v1" } else { feature };
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("fixtures")
        .join(name);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target);
    match feature {
        "" => {}
        // Not a feature: the default variant built to abort on panic.
        "panic_abort" => {
            cmd.args(["--config", "profile.dev.panic=\"abort\""]);
        }
        _ => {
            cmd.args(["--features", feature]);
        }
    }
    let out = build(cmd, &target, "fixture_plugin", name);
    built.insert(feature.to_string(), out.clone());
    out
}

/// Runs a `cargo build` command and returns the library `lib<name>.so` it made in
/// `target`'s debug directory.
fn build(mut cmd: Command, target: &Path, name: &str, variant: &str) -> PathBuf {
    let status = cmd.status().expect("running cargo to build a fixture");
    assert!(status.success(), "building {name} ({variant}) failed");
    let lib = format!(
        "{}{name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let out = target.join("debug").join(lib);
    assert!(out.is_file(), "no artifact at {}", out.display());
    out
}

/// Builds variant `feature` ("" for v1) of the Rust-typed fixture plugin
/// (`tests/rusty-plugin`, a member of the main workspace, built from the workspace as a
/// plugin next to its host would be) and returns its library.
pub fn rusty_fixture(feature: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = built.get(feature) {
        return p.clone();
    }
    let name = if feature.is_empty() { "v1" } else { feature };
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("rusty-fixtures")
        .join(name);
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&workspace)
        .args([
            "build",
            "--quiet",
            "-p",
            "fixture-rusty-plugin",
            "--target-dir",
        ])
        .arg(&target);
    if !feature.is_empty() {
        cmd.args(["--features", feature]);
    }
    let out = build(cmd, &target, "fixture_rusty_plugin", name);
    built.insert(feature.to_string(), out.clone());
    out
}

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
