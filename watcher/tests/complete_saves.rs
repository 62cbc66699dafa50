//! End-to-end: a complete save starts a build from its completion event, and a write whose
//! writer still holds the file open does not.
//!
//! Every loop here has a debounce window of one hour (and, but for the last test, a settle
//! window of one hour), so within the tests' generous timeouts only a completion event (a
//! close after writing, a rename into place) can start a build. Each test waits for
//! events, never for a fixed time.

mod support;

use std::fs;
use std::io::Write;
use std::time::Duration;

use hotdev_watcher::Event;
use support::{Fixture, Session, contains, count_builds, marker};

const HOUR: Duration = Duration::from_secs(3600);

fn start_with_hour_long_windows(fixture: &Fixture) -> Session {
    let mut config = fixture.config();
    config.debounce = HOUR;
    config.settle = HOUR;
    let mut session = Session::start(config);
    // The first build is requested at start, not by a change.
    session.artifact();
    session
}

/// The changed paths the events report, in order.
fn changed(events: &[Event]) -> Vec<std::path::PathBuf> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Changed { paths } => Some(paths.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// A save in place (truncate, write, close: what `fs::write` and VS Code do) builds from
/// the close, without waiting out the hour-long debounce window.
#[test]
fn a_save_closed_by_its_writer_builds_from_the_close() {
    let fixture = Fixture::new("complete_close");
    let mut session = start_with_hour_long_windows(&fixture);

    fixture.write_plugin(&marker("closed"));
    let (artifact, events) = session.artifact();
    assert!(contains(&artifact.path, &marker("closed")));
    assert_eq!(count_builds(&events), 1, "{:#?}", session.log);
    assert_eq!(changed(&events), [fixture.lib_rs()], "{:#?}", session.log);
}

/// A save by rename (write a temporary file, rename it over the original) builds from
/// the rename; the temporary file is not reported.
#[test]
fn a_save_by_rename_builds_from_the_rename() {
    let fixture = Fixture::new("complete_rename");
    let mut session = start_with_hour_long_windows(&fixture);

    let temp = fixture.plugin.join("src/.lib.rs.hotdev-tmp");
    fs::write(&temp, fixture.plugin_source(&marker("renamed"))).unwrap();
    fs::rename(&temp, fixture.lib_rs()).unwrap();
    let (artifact, events) = session.artifact();
    assert!(contains(&artifact.path, &marker("renamed")));
    assert_eq!(count_builds(&events), 1, "{:#?}", session.log);
    assert_eq!(changed(&events), [fixture.lib_rs()], "{:#?}", session.log);
}

/// JetBrains' safe write (write `lib.rs___jb_tmp___`, move `lib.rs` to
/// `lib.rs___jb_old___`, rename the temporary file over `lib.rs`, delete the old one) and
/// vim's (move `lib.rs` to `lib.rs~`, write a new `lib.rs`, delete the backup) each
/// build once, from the save's completion, for `lib.rs` alone.
#[test]
fn jetbrains_and_vim_saves_build_once_for_the_real_file() {
    let fixture = Fixture::new("complete_editors");
    let mut session = start_with_hour_long_windows(&fixture);
    let src = fixture.plugin.join("src");

    let tmp = src.join("lib.rs___jb_tmp___");
    let old = src.join("lib.rs___jb_old___");
    fs::write(&tmp, fixture.plugin_source(&marker("jetbrains"))).unwrap();
    fs::rename(fixture.lib_rs(), &old).unwrap();
    fs::rename(&tmp, fixture.lib_rs()).unwrap();
    fs::remove_file(&old).unwrap();
    let (artifact, events) = session.artifact();
    assert!(contains(&artifact.path, &marker("jetbrains")));
    assert_eq!(count_builds(&events), 1, "{:#?}", session.log);
    assert_eq!(changed(&events), [fixture.lib_rs()], "{:#?}", session.log);

    let backup = src.join("lib.rs~");
    fs::write(src.join("4913"), "").unwrap();
    fs::remove_file(src.join("4913")).unwrap();
    fs::rename(fixture.lib_rs(), &backup).unwrap();
    fixture.write_plugin(&marker("vim"));
    fs::remove_file(&backup).unwrap();
    let (artifact, events) = session.artifact();
    assert!(contains(&artifact.path, &marker("vim")));
    assert_eq!(count_builds(&events), 1, "{:#?}", session.log);
    assert_eq!(changed(&events), [fixture.lib_rs()], "{:#?}", session.log);
}

/// A file whose writer has written half of it and still holds it open is not built: the
/// build starts only when the writer closes the file, and builds the whole file.
///
/// The proof does not depend on timing: while `lib.rs` is held open half-written, an
/// asset file is saved, and its `AssetsChanged` event comes after the watcher has taken
/// in the half-written `lib.rs`'s events (one queue, in order). Had those events started
/// a build, that build would have started before the file was closed, and the close would
/// have started a second one: exactly one build proves the first never happened.
#[test]
fn a_half_written_file_still_open_is_not_built() {
    let fixture = Fixture::new("complete_half");
    let static_dir = fixture.plugin.join("static");
    fs::create_dir_all(&static_dir).unwrap();
    let mut config = fixture.config();
    config.debounce = HOUR;
    // The sentinel is a new file: complete, it still waits for the settle window (it
    // could be a temporary file about to be renamed), so that window must end.
    config.settle = Duration::from_millis(10);
    config.asset_dirs.push(static_dir.clone());
    let mut session = Session::start(config);
    session.artifact();

    let source = fixture.plugin_source(&marker("whole"));
    let (first_half, second_half) = source.split_at(source.len() / 2);
    let mut file = fs::File::create(fixture.lib_rs()).unwrap();
    file.write_all(first_half.as_bytes()).unwrap();
    file.flush().unwrap();

    fs::write(static_dir.join("sentinel.css"), "h1 {}").unwrap();
    let events = session.until(|e| matches!(e, Event::AssetsChanged { .. }));
    assert_eq!(
        count_builds(&events),
        0,
        "a build started while lib.rs was half-written: {:#?}",
        session.log
    );

    file.write_all(second_half.as_bytes()).unwrap();
    drop(file);
    let (artifact, events) = session.artifact();
    assert!(contains(&artifact.path, &marker("whole")));
    assert_eq!(
        count_builds(&events),
        1,
        "one build, from the close: {:#?}",
        session.log
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::BuildSuperseded { .. } | Event::BuildFailed { .. })),
        "{:#?}",
        session.log
    );
}
