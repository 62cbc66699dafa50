//! Builds the fixture plugins (`host/tests/fixtures/plugin`, `host/tests/rusty-plugin`)
//! once per variant per test run, all in one target directory, for hotdev-host's tests and
//! the root package's (`tests/check.rs` includes this file): the dependencies
//! (`reloadable`, `tracing`, `tokio`, ...) compile once, and a variant only recompiles the
//! plugin crate.
#![allow(dead_code)] // each test binary uses a part

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// `host/`: the fixtures' package, from hotdev-host's tests or from the root package's.
fn host_dir() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    if here.join("tests/fixtures/plugin").is_dir() {
        here.to_path_buf()
    } else {
        here.join("host")
    }
}

/// The one target directory of every fixture variant: the dependencies (`reloadable`,
/// `tracing`, `tokio`, ...) compile once per run; a variant only recompiles the plugin.
fn fixtures_target() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("fixtures")
}

/// Builds variant `feature` ("" for the default v1, "panic_abort" for v1 built with
/// `panic = "abort"`) and returns a stable copy of its library.
pub fn fixture(feature: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = built.get(feature) {
        return p.clone();
    }
    let manifest = host_dir().join("tests/fixtures/plugin/Cargo.toml");
    let name = if feature.is_empty() { "v1" } else { feature };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(fixtures_target());
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
    let out = build(cmd, "fixture_plugin", name);
    built.insert(feature.to_string(), out.clone());
    out
}

/// Runs a `cargo build` command into [`fixtures_target`] and returns a copy of the library
/// `lib<name>.so` it made, at `variants/<name>-<variant>/` in that directory (where
/// cargo's `CACHEDIR.TAG` still marks it as build output).
///
/// The variants of one plugin are built to the same path, so the build and the copy
/// happen under a file lock that every test process takes: a concurrent build of another
/// variant waits until this one is copied. A copy that already holds the same bytes is
/// left alone, so that a library another test process has loaded keeps its path's inode;
/// other bytes replace it by a rename (a process that mapped the old file keeps it).
fn build(mut cmd: Command, name: &str, variant: &str) -> PathBuf {
    let target = fixtures_target();
    std::fs::create_dir_all(&target).expect("creating the fixtures' target directory");
    let lock = File::create(target.join("hotdev-fixtures.lock")).expect("creating the lock");
    lock.lock().expect("locking the fixtures' target directory");

    let status = cmd.status().expect("running cargo to build a fixture");
    assert!(status.success(), "building {name} ({variant}) failed");
    let lib = format!(
        "{}{name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let built = target.join("debug").join(&lib);
    let bytes =
        std::fs::read(&built).unwrap_or_else(|e| panic!("no artifact at {}: {e}", built.display()));
    let dir = target.join("variants").join(format!("{name}-{variant}"));
    std::fs::create_dir_all(&dir).expect("creating the variant's directory");
    let out = dir.join(&lib);
    if std::fs::read(&out).ok().as_deref() != Some(&bytes[..]) {
        let tmp = dir.join(format!(".{lib}.{}", std::process::id()));
        std::fs::write(&tmp, &bytes).expect("copying the fixture");
        // Executable, like the build output (the loader does not need it, tools do).
        std::fs::set_permissions(&tmp, std::fs::metadata(&built).unwrap().permissions())
            .expect("copying the fixture's permissions");
        std::fs::rename(&tmp, &out).expect("renaming the fixture's copy");
    }
    drop(lock);
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
    let workspace = host_dir().join("..");
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
        .arg(fixtures_target());
    if !feature.is_empty() {
        cmd.args(["--features", feature]);
    }
    let out = build(cmd, "fixture_rusty_plugin", name);
    built.insert(feature.to_string(), out.clone());
    out
}
