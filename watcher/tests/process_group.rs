//! Stopping builds: shutdown and kill-and-restart end cargo with everything it started.
//!
//! The plugins here have a build script that starts a `sleep` child and then waits, so a
//! build is reliably "in progress" with grandchildren in cargo's process group.

#![cfg(target_os = "linux")]

mod support;

use std::fs;
use std::time::{Duration, Instant};

use hotdev_watcher::Event;
use support::{Fixture, contains, eventually, marker, processes_in_group};

/// A build script that, while `slow.txt` says "slow", starts `sleep 300` and waits for it.
const SLOW_BUILD_RS: &str = r#"
fn main() {
    println!("cargo:rerun-if-changed=slow.txt");
    let mode = std::fs::read_to_string("slow.txt").unwrap_or_default();
    if mode.trim() == "slow" {
        let mut child = std::process::Command::new("sleep").arg("300").spawn().unwrap();
        let _ = child.wait();
    }
}
"#;

fn slow_fixture(name: &str) -> Fixture {
    let fixture = Fixture::with_build_script(name, Some(SLOW_BUILD_RS));
    fs::write(fixture.plugin.join("slow.txt"), "slow\n").unwrap();
    fixture
}

/// Waits until cargo's group holds the build script's `sleep`; returns cargo's pid.
fn wait_for_sleep_in_group(session: &mut support::Session) -> u32 {
    session.until(|e| matches!(e, Event::BuildStarted { .. }));
    let pid = session
        .dev
        .build_pid()
        .expect("a build runs after BuildStarted");
    let found = eventually(support::EVENT_TIMEOUT, || {
        processes_in_group(pid)
            .iter()
            .any(|p| p.comm == "sleep" && p.state != 'Z')
    });
    assert!(
        found,
        "the build script's sleep never ran in group {pid}: {:#?}",
        session.log
    );
    pid
}

fn live(pgid: u32) -> Vec<support::Proc> {
    processes_in_group(pgid)
        .into_iter()
        .filter(|p| p.state != 'Z')
        .collect()
}

#[test]
fn shutdown_during_a_build_leaves_no_process_in_cargos_group() {
    let fixture = slow_fixture("e2e_shutdown");
    let mut session = fixture.start();
    let pid = wait_for_sleep_in_group(&mut session);
    assert!(
        live(pid).len() >= 3,
        "cargo, the build script and sleep: {:?}",
        live(pid)
    );

    let started = Instant::now();
    session.dev.shutdown();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "shutdown took {:?}",
        started.elapsed()
    );
    assert_eq!(session.dev.build_pid(), None);
    // SIGKILL is delivered asynchronously; give the kernel a moment to finish them.
    let gone = eventually(Duration::from_secs(10), || live(pid).is_empty());
    assert!(gone, "left running in group {pid}: {:?}", live(pid));

    session.dev.shutdown(); // idempotent
}

#[test]
fn restart_on_change_kills_the_running_build_and_builds_the_new_sources() {
    let fixture = slow_fixture("e2e_restart");
    let mut config = fixture.config();
    config.restart_build_on_change = true;
    let mut session = support::Session::start(config);
    let pid = wait_for_sleep_in_group(&mut session);

    // Without the restart this build would take five minutes.
    fs::write(fixture.plugin.join("slow.txt"), "fast\n").unwrap();
    fixture.write_plugin(&marker("after-restart"));
    let (artifact, events) = session.artifact();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::BuildSuperseded { .. })),
        "{:#?}",
        session.log
    );
    assert!(contains(&artifact.path, &marker("after-restart")));
    assert!(
        eventually(Duration::from_secs(10), || live(pid).is_empty()),
        "the killed build left {:?}",
        live(pid)
    );
}
