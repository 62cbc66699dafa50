//! A build is reported when cargo says it succeeded (`build-finished`), not when cargo has
//! exited: cargo's teardown takes a few milliseconds more, which every reload would wait
//! for. The cargo here is a script: `cargo metadata` is the real one; a build prints what
//! cargo prints for a built library, then lingers (or exits with an error).
#![cfg(unix)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hotdev_watcher::{Config, Event, Watcher};

/// Far longer than any wait below: the lingering cargo is still there when they end.
const LINGER_S: u64 = 120;

/// A crate named `early`, a library file for it, and a script standing in for cargo that
/// reports that file built, then runs `after` (shell).
fn crate_with_fake_cargo(root: &Path, after: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = root.join("early");
    fs::create_dir_all(dir.join("src")).unwrap();
    fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"early\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [lib]\ncrate-type = [\"cdylib\"]\n\n[workspace]\n",
    )
    .unwrap();
    fs::write(dir.join("src/lib.rs"), "").unwrap();
    let dir = dir.canonicalize().unwrap();
    let library = dir.join("target/debug/libearly.so");
    fs::create_dir_all(library.parent().unwrap()).unwrap();
    fs::write(&library, b"a library").unwrap();
    let manifest = dir.join("Cargo.toml");
    let artifact = format!(
        r#"{{"reason":"compiler-artifact","package_id":"path+file://{dir}#0.1.0","manifest_path":"{manifest}","target":{{"kind":["cdylib"],"crate_types":["cdylib"],"name":"early","src_path":"{dir}/src/lib.rs","edition":"2021","doc":true,"doctest":false,"test":true}},"profile":{{"opt_level":"0","debuginfo":2,"debug_assertions":true,"overflow_checks":true,"test":false}},"features":[],"filenames":["{library}"],"executable":null,"fresh":false}}"#,
        dir = dir.display(),
        manifest = manifest.display(),
        library = library.display(),
    );
    let real_cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let script = root.join("fake-cargo");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             if [ \"$1\" = metadata ]; then exec '{real_cargo}' \"$@\"; fi\n\
             echo '{artifact}'\n\
             echo '{{\"reason\":\"build-finished\",\"success\":true}}'\n\
             {after}\n"
        ),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    (dir, library, script)
}

/// Events until `until` holds for one (returned last), or panics after `timeout`.
fn events_until(
    events: &crossbeam_channel::Receiver<Event>,
    timeout: Duration,
    until: impl Fn(&Event) -> bool,
) -> Vec<Event> {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        match events.recv_deadline(deadline) {
            Ok(event) => {
                let done = until(&event);
                seen.push(event);
                if done {
                    return seen;
                }
            }
            Err(_) => panic!("no such event within {timeout:?}: {seen:#?}"),
        }
    }
}

#[test]
fn a_build_is_reported_when_cargo_says_it_succeeded_not_when_it_exits() {
    let root = tempfile::tempdir().unwrap();
    let (dir, library, cargo) =
        crate_with_fake_cargo(root.path(), &format!("exec sleep {LINGER_S}"));
    let mut config = Config::new([&dir]);
    config.cargo = cargo;
    let (mut watcher, events) = Watcher::start(config).unwrap();
    let started = Instant::now();
    let seen = events_until(&events, Duration::from_secs(60), |e| {
        matches!(e, Event::ArtifactReady(_))
    });
    assert!(started.elapsed() < Duration::from_secs(LINGER_S));
    assert!(
        matches!(
            seen.as_slice(),
            [
                Event::BuildStarted { .. },
                Event::BuildFinished { .. },
                Event::ArtifactReady(artifact)
            ] if artifact.path == library
        ),
        "{seen:#?}"
    );
    assert!(
        watcher.build_pid().is_some(),
        "cargo is still running: the build was reported before it exited"
    );
    // Shutting down ends the lingering cargo with its group.
    watcher.shutdown();
    assert_eq!(watcher.build_pid(), None);
}

#[test]
fn a_cargo_that_fails_after_reporting_success_is_named_in_a_warning() {
    let root = tempfile::tempdir().unwrap();
    let (dir, _library, cargo) = crate_with_fake_cargo(root.path(), "exit 3");
    let mut config = Config::new([&dir]);
    config.cargo = cargo;
    let (mut watcher, events) = Watcher::start(config).unwrap();
    let seen = events_until(&events, Duration::from_secs(60), |e| {
        matches!(e, Event::Warning(_))
    });
    let kinds: Vec<_> = seen
        .iter()
        .map(|e| match e {
            Event::BuildStarted { .. } => "started",
            Event::BuildFinished { .. } => "finished",
            Event::ArtifactReady(_) => "artifact",
            Event::Warning(_) => "warning",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["started", "finished", "artifact", "warning"]);
    let Some(Event::Warning(message)) = seen.last() else {
        unreachable!()
    };
    assert!(
        message.contains("then exited with exit status: 3"),
        "{message}"
    );
    watcher.shutdown();
}
