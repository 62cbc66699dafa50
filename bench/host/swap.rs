//! Swap latency: from "a complete new library is at the artifact path" to "the first call
//! that runs the new code", over many reloads alternating two prebuilt variants.
//!
//! - hotdev: [`Plugin::reload`] of the other variant's path, then one call of `version()`;
//!   the reload is triggered directly (no watcher: that is the save-to-live benchmark).
//!   The variants are cargo's outputs in the target directory, so the shadow copy is a
//!   hard link where the platform allows it (Linux);
//! - hotdev-copy: the same with the variants copied to a directory that is not a cargo
//!   target directory, so every shadow copy writes the library's bytes (as before links,
//!   and as on other platforms);
//! - hot-lib-reloader: the other variant is renamed over the watched library (as cargo
//!   replaces its output), then `version()` is called until the new variant answers. Its
//!   file watcher runs with a 1 ms debounce, the smallest it accepts.
//!
//! Prints `BENCH swap ...` lines. `cargo bench -p hotdev-host --bench swap [-- --quick]`.

mod support;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use hotdev_bench_api::bench::{Calls, Interface as BenchApi};
use hotdev_host::{Options, Plugin};
use support::{Spread, report, us};

/// The directory hot-lib-reloader watches (its library is copied in before first use).
fn hotlib_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // Kept for the whole run: hot-lib-reloader's threads watch it until exit.
        let dir = support::tempdir("hotdev-bench-hotlib").keep();
        let v1 = support::hotlib("");
        std::fs::copy(&v1, dir.join(v1.file_name().expect("a file name")))
            .expect("copying the hot-lib library");
        dir
    })
    .clone()
}

// hot-lib-reloader's macro expands to `static mut` globals that it references.
#[allow(
    static_mut_refs,
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks
)]
#[hot_lib_reloader::hot_module(
    dylib = "hotdev_bench_hotlib",
    lib_dir = super::hotlib_dir(),
    file_watch_debounce = 1
)]
mod hot_lib {
    hot_functions_from_file!("bench/hotlib/src/lib.rs");
}

/// The pause between two reloads (several debounce windows, so no change merges into the
/// next one).
const GAP: Duration = Duration::from_millis(50);

fn main() {
    let reloads = if support::quick() { 10 } else { 50 };
    let variants = [support::plugin(""), support::plugin("v2")];
    hotdev(
        &variants,
        reloads,
        "hotdev",
        "Plugin::reload_then_one_call,_shadow_link",
    );
    let elsewhere = support::tempdir("hotdev-bench-copy");
    let copied = [0, 1].map(|i| {
        let v = &variants[i];
        let to = elsewhere.path().join(format!(
            "v{}-{}",
            i + 1,
            v.file_name().expect("a file name").to_string_lossy()
        ));
        std::fs::copy(v, &to).expect("copying a variant out of the target directory");
        to
    });
    hotdev(
        &copied,
        reloads,
        "hotdev-copy",
        "Plugin::reload_then_one_call,_shadow_copy",
    );
    let variants = [support::hotlib(""), support::hotlib("v2")];
    hot_lib_reloader(&variants, reloads);
}

/// The version variant `i` of `variants` answers with.
fn version_of(i: usize) -> u32 {
    if i.is_multiple_of(2) { 1 } else { 2 }
}

fn hotdev(variants: &[PathBuf; 2], reloads: usize, tool: &str, note: &str) {
    let shadow = support::tempdir("hotdev-bench-shadow");
    let options = Options {
        shadow_dir: Some(shadow.path().to_path_buf()),
        ..Options::default()
    };
    let plugin = Plugin::<BenchApi>::load_with(&variants[0], options).expect("loading v1");
    let (mut total, mut load, mut swap) = (Vec::new(), Vec::new(), Vec::new());
    for n in 1..=reloads {
        let next = n % 2;
        let started = Instant::now();
        let reloaded = plugin.reload(&variants[next]).expect("reloading");
        let answer = plugin.version().expect("calling the new generation");
        let elapsed = started.elapsed();
        assert_eq!(answer, version_of(next), "the new code answers");
        total.push(elapsed);
        load.push(reloaded.load);
        swap.push(reloaded.swap);
        // As between two saves: calls finish the new generation's probation, and the old
        // one drains and unloads in the background before the next reload.
        for i in 0..32 {
            plugin.add(i, 1).expect("add");
        }
        thread::sleep(GAP);
    }
    let (t, l, s) = (Spread::of(&total), Spread::of(&load), Spread::of(&swap));
    report(
        "swap",
        &[
            ("tool", tool.into()),
            ("n", t.n.to_string()),
            ("median_us", us(t.median)),
            ("min_us", us(t.min)),
            ("max_us", us(t.max)),
            ("load_median_us", us(l.median)),
            ("swap_median_us", us(s.median)),
            ("lib_bytes", size(&variants[0])),
            ("note", note.into()),
        ],
    );
}

fn hot_lib_reloader(variants: &[PathBuf; 2], reloads: usize) {
    let dir = hotlib_dir();
    let watched = dir.join(variants[0].file_name().expect("a file name"));
    assert_eq!(hot_lib::version(), 1, "hot-lib-reloader loaded v1");
    let mut total = Vec::new();
    let mut timeouts = 0;
    for n in 1..=reloads {
        let next = n % 2;
        place(&variants[next], &watched);
        let started = Instant::now();
        let deadline = started + Duration::from_secs(5);
        loop {
            if hot_lib::version() == version_of(next) {
                total.push(started.elapsed());
                break;
            }
            if Instant::now() > deadline {
                timeouts += 1;
                break;
            }
            std::hint::spin_loop();
        }
        thread::sleep(GAP);
    }
    let t = Spread::of(&total);
    report(
        "swap",
        &[
            ("tool", "hot-lib-reloader".into()),
            ("n", t.n.to_string()),
            ("median_us", us(t.median)),
            ("min_us", us(t.min)),
            ("max_us", us(t.max)),
            ("timeouts", timeouts.to_string()),
            ("lib_bytes", size(&variants[0])),
            ("note", "rename_over_watched_file,_1_ms_debounce".into()),
        ],
    );
}

/// Puts a complete copy of `from` at `to` in one step: written beside it, then renamed.
fn place(from: &Path, to: &Path) {
    let tmp = to.with_extension("tmp");
    std::fs::copy(from, &tmp).expect("copying a variant");
    std::fs::rename(&tmp, to).expect("renaming a variant into place");
}

/// A file's size in bytes, for result lines.
fn size(path: &Path) -> String {
    std::fs::metadata(path).map_or(0, |m| m.len()).to_string()
}
