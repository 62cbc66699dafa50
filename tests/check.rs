//! `hotdev check` on good and bad inputs: each bad one gives its error code and the fix,
//! exit status 1, and never a crash.

use std::path::Path;
use std::process::{Command, Output};

/// The variants of hotdev-host's fixture plugin, built as its tests build them (once per
/// variant per run, in the target directory they share).
#[path = "../host/tests/support/fixtures.rs"]
mod fixtures;

use fixtures::fixture;

fn check(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hotdev"))
        .arg("check")
        .args(args)
        .output()
        .unwrap()
}

fn expect_failure(path: &Path, extra: &[&str], code: &str, needle: &str) {
    let mut args: Vec<&std::ffi::OsStr> = vec![path.as_os_str()];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    let out = check(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{code}: exit status {:?}\n{stdout}",
        out.status
    );
    assert!(stdout.contains("FAIL"), "{stdout}");
    assert!(
        stdout.contains(&format!("[{code}]")),
        "expected {code}:\n{stdout}"
    );
    assert!(stdout.contains(needle), "expected {needle:?}:\n{stdout}");
    assert!(stdout.contains("fix: "), "{stdout}");
    assert!(!stdout.contains("all checks passed"), "{stdout}");
}

#[test]
fn bad_inputs_get_their_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let v1 = std::fs::read(fixture("")).unwrap();
    let empty = tmp.path().join("libempty.so");
    std::fs::write(&empty, b"").unwrap();
    let truncated = tmp.path().join("libtruncated.so");
    std::fs::write(&truncated, &v1[..v1.len() / 3]).unwrap();
    let text = tmp.path().join("notes.txt");
    std::fs::write(&text, "# not a library\n").unwrap();
    let dir = tmp.path().join("empty-dir");
    std::fs::create_dir(&dir).unwrap();

    expect_failure(&tmp.path().join("missing.so"), &[], "HD001", "not found");
    expect_failure(&dir, &[], "HD003", "is a directory");
    expect_failure(&empty, &[], "HD005", "empty");
    expect_failure(&truncated, &[], "HD005", "truncated");
    expect_failure(&text, &[], "HD004", "text file");
    expect_failure(&fixture("no_entry"), &[], "HD010", "HOTDEV_PLUGIN_V1");
    expect_failure(
        &fixture("other_interface"),
        &["--interface", "counter"],
        "HD012",
        "not `counter`",
    );
    expect_failure(
        &fixture("fake_app"),
        &[],
        "HD013",
        "fn handle: signature changed",
    );
}

#[cfg(unix)]
#[test]
fn unsound_inputs_are_refused_with_their_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("libfifo.so");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    expect_failure(&fifo, &[], "HD008", "FIFO");
    expect_failure(Path::new("/dev/zero"), &[], "HD008", "character device");
    expect_failure(
        &fixture("wild_table"),
        &[],
        "HD011",
        "the function table at 0xdead0000 lies outside the library's data",
    );
    expect_failure(
        &fixture("null_interface"),
        &[],
        "HD011",
        "the interface declaration at 0x0",
    );
    // The old build's headers around the middle of another build: its relocations would
    // make the loader write outside the library.
    let (old, new) = (
        std::fs::read(fixture("")).unwrap(),
        std::fs::read(fixture("mismatch")).unwrap(),
    );
    let mut mixed = old.clone();
    let end = old.len().min(new.len()) - 64 * 1024;
    mixed[4096..end].copy_from_slice(&new[4096..end]);
    let path = tmp.path().join("libmixed.so");
    std::fs::write(&path, &mixed).unwrap();
    expect_failure(&path, &[], "HD005", "half-written");
}

#[test]
fn a_good_plugin_passes_every_step() {
    let out = check(&[fixture("").as_os_str()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    for step in [
        "file exists",
        "shared library",
        "system loader",
        "entry symbol",
        "descriptor v",
        "interface `counter`",
    ] {
        assert!(stdout.contains(step), "missing step {step:?}:\n{stdout}");
    }
    assert!(stdout.contains("all checks passed"));
}

#[test]
fn a_plugin_crate_directory_is_built_then_checked() {
    let hello = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hello");
    let out = Command::new(env!("CARGO_BIN_EXE_hotdev"))
        .arg("check")
        .arg(&hello)
        // The target directory the plugins of the serve tests share (tests/support), where
        // `reloadable` is built once per run; the example's own name is its own there.
        .env(
            "CARGO_TARGET_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugins"),
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ok    build"), "{stdout}");
    assert!(
        stdout.contains("interface `app` matches this hotdev's fingerprint"),
        "{stdout}"
    );
}

/// The check takes the load path as a host does, shadow copy included: where a host could
/// not make its copy (here the shadow directory's name is taken by a file), the check
/// fails there too, with the host's code, instead of passing a library a load refuses.
#[test]
fn a_shadow_copy_that_cannot_be_made_fails_the_check_as_it_fails_a_load() {
    let good = fixture("");
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target");
    std::fs::create_dir_all(target.join("debug")).unwrap();
    std::fs::write(
        target.join("CACHEDIR.TAG"),
        "Signature: 8a477f597d28d172789f06886806bc55",
    )
    .unwrap();
    let library = target.join("debug").join(good.file_name().unwrap());
    std::fs::copy(&good, &library).unwrap();
    // A good library checks out, and its shadow copy is gone afterwards.
    let out = check(&[library.as_os_str()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("a private shadow copy ("), "{stdout}");
    let leftovers: Vec<_> = std::fs::read_dir(target.join("hotdev-shadow"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");

    std::fs::remove_dir_all(target.join("hotdev-shadow")).ok();
    std::fs::write(target.join("hotdev-shadow"), "not a directory").unwrap();
    expect_failure(&library, &[], "HD030", "shadow");
}

#[test]
fn a_one_world_plugin_is_recognised_with_its_world_libraries_and_not_loaded_here() {
    // hotdev-host's one-world fixture (host/tests/one-world), built as its tests build it.
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("host/tests/one-world");
    // host/tests/one_world.rs rebuilds that world in its tests: one process at a time.
    std::fs::create_dir_all(workspace.join("target")).unwrap();
    let lock = std::fs::File::create(workspace.join("target/fixture.lock")).unwrap();
    lock.lock().unwrap();
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "--quiet", "-p", "world-host", "-p", "world-plugin"])
        .current_dir(&workspace)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .status()
        .unwrap();
    assert!(status.success(), "building the one-world fixture");
    let plugin = workspace.join("target/debug/libworld_plugin.so");
    let out = check(&[plugin.as_os_str()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("a plugin of the one-world form"),
        "{stdout}"
    );
    assert!(stdout.contains("libworld_api.so ("), "{stdout}");
    assert!(stdout.contains("libstd-"), "{stdout}");
    assert!(stdout.contains("does not load it"), "{stdout}");
}
