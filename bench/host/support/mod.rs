//! What hotdev-host's benchmarks share: building the bench-only libraries under `bench/`
//! with cargo, a few process measurements, and the result lines `bench/run.sh` collects.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The workspace root (`bench/` lives there).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

/// Where the benchmarks build their libraries: `$HOTDEV_BENCH_DIR` at run time, else the
/// cargo target directory's scratch folder this benchmark was compiled for.
pub fn scratch() -> PathBuf {
    std::env::var_os("HOTDEV_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")))
}

/// Builds the crate `bench/<krate>` in release mode, with `feature` ("" for none), into a
/// target directory of its own per feature, and returns the library `lib<name>.so`.
fn build(krate: &str, lib: &str, feature: &str) -> PathBuf {
    let manifest = workspace_root()
        .join("bench")
        .join(krate)
        .join("Cargo.toml");
    let variant = if feature.is_empty() { "v1" } else { feature };
    let target = scratch().join(krate).join(variant);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "--release", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target);
    if !feature.is_empty() {
        cmd.args(["--features", feature]);
    }
    let status = cmd
        .status()
        .expect("running cargo to build a bench library");
    assert!(
        status.success(),
        "building bench/{krate} ({variant}) failed"
    );
    let out = target.join("release").join(format!(
        "{}{lib}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    assert!(out.is_file(), "no library at {}", out.display());
    out
}

/// The Rust-typed benchmark plugin (`bench/rusty-plugin`), a member of this workspace,
/// built from the workspace with the release profile, like the benchmark binary's own
/// dependencies, so that the types crossing are the same build on both sides.
pub fn rusty_plugin(feature: &str) -> PathBuf {
    let variant = if feature.is_empty() { "v1" } else { feature };
    let target = scratch().join("rusty-plugin").join(variant);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(workspace_root())
        .args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "hotdev-bench-rusty-plugin",
        ])
        .arg("--target-dir")
        .arg(&target)
        .args(if feature.is_empty() {
            vec![]
        } else {
            vec!["--features", feature]
        })
        .status()
        .expect("running cargo to build the Rust-typed bench plugin");
    assert!(status.success(), "building bench/rusty-plugin failed");
    let out = target.join("release").join(format!(
        "{}hotdev_bench_rusty_plugin{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    assert!(out.is_file(), "no library at {}", out.display());
    out
}

/// The hotdev benchmark plugin (`bench/plugin`), variant "" (v1) or "v2".
pub fn plugin(feature: &str) -> PathBuf {
    build("plugin", "hotdev_bench_plugin", feature)
}

/// The same functions as a Rust dylib for hot-lib-reloader (`bench/hotlib`), "" or "v2".
pub fn hotlib(feature: &str) -> PathBuf {
    build("hotlib", "hotdev_bench_hotlib", feature)
}

/// A fresh private directory for shadow copies or watched files.
pub fn tempdir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("creating a temporary directory")
}

/// Whether `--quick` (or `HOTDEV_BENCH_QUICK=1`) asks for the smoke-test form.
pub fn quick() -> bool {
    std::env::args().any(|a| a == "--quick")
        || std::env::var("HOTDEV_BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// Median, minimum and maximum of a set of durations.
#[derive(Debug, Clone, Copy)]
pub struct Spread {
    pub median: Duration,
    pub min: Duration,
    pub max: Duration,
    pub n: usize,
}

impl Spread {
    pub fn of(samples: &[Duration]) -> Spread {
        assert!(!samples.is_empty(), "no samples");
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        Spread {
            median: sorted[sorted.len() / 2],
            min: sorted[0],
            max: sorted[sorted.len() - 1],
            n: sorted.len(),
        }
    }
}

/// Prints one machine-readable result line: `BENCH <name> key=value ...`.
pub fn report(name: &str, fields: &[(&str, String)]) {
    let mut line = format!("BENCH {name}");
    for (k, v) in fields {
        line.push_str(&format!(" {k}={v}"));
    }
    println!("{line}");
}

/// Microseconds with one decimal, for result lines.
pub fn us(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

/// The resident set size of this process in KiB (`VmRSS` in `/proc/self/status`).
pub fn rss_kib() -> Option<u64> {
    status_kib("VmRSS:")
}

/// The mapped size of this process in KiB (`VmSize` in `/proc/self/status`).
pub fn mapped_kib() -> Option<u64> {
    status_kib("VmSize:")
}

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// How many file descriptors this process has open (entries of `/proc/self/fd`).
pub fn open_fds() -> Option<usize> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count())
}

/// How many libraries under `dir` are loaded (one snapshot of the loader's list).
pub fn loaded_under(dir: &Path) -> usize {
    hotdev_host::testing::loaded_under(dir).expect("dl_iterate_phdr is available on Linux")
}
