//! End-to-end: real plugin crates in temp dirs, real edits, real cargo builds.
//!
//! Each test waits for events (with generous timeouts), never for a fixed time.

mod support;

use std::fs;
use std::time::Duration;

use hotdev_watcher::Event;
use support::{Fixture, contains, count_builds, marker};

/// The first build starts at once, and an edit yields an artifact built from the edit.
#[test]
fn an_edit_yields_an_artifact_built_from_the_new_sources() {
    let fixture = Fixture::new("e2e_edit");
    let mut session = fixture.start();
    let watched = session.dev.watched().to_vec();
    assert!(watched.contains(&fixture.plugin), "{watched:?}");
    assert!(watched.contains(&fixture.dep), "{watched:?}");
    assert!(
        !watched.iter().any(|w| w.ends_with("target")),
        "{watched:?}"
    );

    let (first, events) = session.artifact();
    assert!(matches!(&events[0], Event::BuildStarted { cause, .. } if cause.is_empty()));
    assert_eq!(first.package, "e2e_edit");
    assert_eq!(first.crate_dir, fixture.plugin);
    assert!(contains(&first.path, &marker("plugin-v1")));
    assert!(contains(&first.path, &marker("dep-v1")));

    fixture.write_plugin(&marker("plugin-v2"));
    let (second, events) = session.artifact();
    let changed: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Changed { paths } => Some(paths.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(changed, [fixture.lib_rs()], "{:#?}", session.log);
    assert!(
        events.iter().any(
            |e| matches!(e, Event::BuildStarted { cause, .. } if cause == &[fixture.lib_rs()])
        ),
        "{:#?}",
        session.log
    );
    assert!(contains(&second.path, &marker("plugin-v2")));
    assert!(!contains(&second.path, &marker("plugin-v1")));
}

/// A compile error is reported with the compiler's diagnostics; fixing it recovers.
#[test]
fn a_compile_error_reports_diagnostics_and_a_fix_recovers() {
    let mut fixture = Fixture::new("e2e_error");
    let mut session = fixture.start();
    session.artifact();

    fixture.extra = "pub fn broken() -> u32 { \"not a number\" }\n".into();
    fixture.write_plugin(&marker("broken"));
    let events = session.until(|e| {
        matches!(
            e,
            Event::BuildFailed { .. } | Event::ArtifactReady(_) | Event::Fatal(_)
        )
    });
    let Some(Event::BuildFailed {
        packages,
        diagnostics,
        ..
    }) = events.last()
    else {
        session.panic_with_log("expected the build to fail")
    };
    assert_eq!(packages, &["e2e_error"]);
    assert!(diagnostics.contains("error[E0308]"), "{diagnostics}");
    assert!(diagnostics.contains("src/lib.rs"), "{diagnostics}");
    assert!(
        !diagnostics.contains("\u{1b}["),
        "colour was not asked for: {diagnostics}"
    );

    fixture.extra = "pub fn fixed() -> u32 { 7 }\n".into();
    fixture.write_plugin(&marker("fixed"));
    let (artifact, _) = session.artifact();
    assert!(contains(&artifact.path, &marker("fixed")));
}

/// Thirty quick saves cost a few builds, and the last artifact has the last save.
#[test]
fn a_burst_of_saves_builds_a_bounded_number_of_times_and_the_last_save_wins() {
    let fixture = Fixture::new("e2e_burst");
    let mut session = fixture.start();
    session.artifact();

    let last = marker("burst-29");
    for i in 0..30 {
        fixture.write_plugin(&marker(&format!("burst-{i}")));
        // Pacing that makes the burst last about as long as a build, not synchronisation.
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut builds = 0;
    // Batches of changes delivered since the previous build started.
    let mut changes_since_build = 0;
    let mut artifacts = Vec::new();
    loop {
        match session.next() {
            Event::Changed { .. } => changes_since_build += 1,
            Event::BuildStarted { cause, .. } => {
                builds += 1;
                // A build starts only for changes it has not built yet: however the saves
                // and builds interleave (which depends on the machine's speed), the burst
                // never builds more often than the watcher saw new changes.
                assert!(
                    builds == 1 || (changes_since_build > 0 && !cause.is_empty()),
                    "build {builds} started without a new change: {:#?}",
                    session.log
                );
                changes_since_build = 0;
            }
            Event::ArtifactReady(artifact) => {
                let done = contains(&artifact.path, &last);
                artifacts.push(artifact);
                if done {
                    break;
                }
            }
            Event::BuildFailed { diagnostics, .. } => {
                session.panic_with_log(&format!("build failed: {diagnostics}"))
            }
            _ => {}
        }
    }
    assert!(
        builds < 30,
        "{builds} builds for a burst of 30 saves: {:#?}",
        session.log
    );
    assert!(
        builds >= 2,
        "the first build and at least one for the burst"
    );
}

/// An editor that writes a temporary file and renames it over the original is seen.
#[test]
fn a_save_by_rename_is_detected() {
    let fixture = Fixture::new("e2e_rename");
    let mut session = fixture.start();
    session.artifact();

    let temp = fixture.plugin.join("src/.lib.rs.hotdev-tmp");
    fs::write(&temp, fixture.plugin_source(&marker("renamed"))).unwrap();
    fs::rename(&temp, fixture.lib_rs()).unwrap();
    let (artifact, events) = session.artifact();
    assert!(contains(&artifact.path, &marker("renamed")));
    let changed: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Changed { paths } => Some(paths.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(
        changed,
        [fixture.lib_rs()],
        "the temp file is stitched away: {:#?}",
        session.log
    );
}

/// Deleting a source file and creating it again is a change.
#[test]
fn delete_and_recreate_is_detected_and_a_path_dependency_change_rebuilds() {
    let fixture = Fixture::new("e2e_dep");
    let mut session = fixture.start();
    session.artifact();

    fixture.write_dep(&marker("dep-v2"));
    let (artifact, _) = session.artifact();
    assert!(contains(&artifact.path, &marker("dep-v2")));

    fs::remove_file(fixture.lib_rs()).unwrap();
    fixture.write_plugin(&marker("recreated"));
    let (artifact, _) = session.artifact();
    assert!(contains(&artifact.path, &marker("recreated")));
}

/// Writes under target/, to gitignored files and editor droppings start no build, and
/// neither does the build's own output: the next build is the real change's.
#[test]
fn target_gitignored_and_editor_files_do_not_trigger_builds() {
    let fixture = Fixture::new("e2e_ignore");
    let mut session = fixture.start();
    session.artifact();

    let target = fixture.plugin.join("target");
    fs::create_dir_all(target.join("junk/deeper")).unwrap();
    fs::write(target.join("junk/deeper/file.rs"), "fn main() {}").unwrap();
    fs::write(target.join("junk.rs"), "fn main() {}").unwrap();
    fs::create_dir_all(fixture.dep.join("target")).unwrap();
    fs::write(fixture.dep.join("target/x.rs"), "x").unwrap();
    fs::write(fixture.plugin.join("notes.log"), "ignored").unwrap();
    fs::create_dir_all(fixture.plugin.join("scratch/inner")).unwrap();
    fs::write(fixture.plugin.join("scratch/inner/a.rs"), "ignored").unwrap();
    fs::write(fixture.plugin.join("src/.lib.rs.swp"), "swap").unwrap();
    fs::write(fixture.plugin.join("src/lib.rs~"), "backup").unwrap();
    fs::write(fixture.plugin.join("src/4913"), "").unwrap();
    fs::remove_file(fixture.plugin.join("src/4913")).unwrap();

    fixture.write_plugin(&marker("real-change"));
    let events = session.until(|e| matches!(e, Event::BuildStarted { .. }));
    let changed: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Changed { paths } => Some(paths.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(changed, [fixture.lib_rs()], "{:#?}", session.log);
    let Some(Event::BuildStarted { cause, .. }) = events.last() else {
        unreachable!()
    };
    assert_eq!(cause, &[fixture.lib_rs()]);
    let (artifact, _) = session.artifact();
    assert!(contains(&artifact.path, &marker("real-change")));

    // The build just wrote into target/ inside the watched package. Had that counted, a
    // build would start before the next real change's.
    fixture.write_dep(&marker("dep-real"));
    let events = session.until(|e| matches!(e, Event::BuildStarted { .. }));
    let Some(Event::BuildStarted { cause, .. }) = events.last() else {
        unreachable!()
    };
    assert_eq!(
        cause,
        &[fixture.dep.join("src/lib.rs")],
        "{:#?}",
        session.log
    );
    assert_eq!(count_builds(&events), 1);
    let (artifact, _) = session.artifact();
    assert!(contains(&artifact.path, &marker("dep-real")));
}

/// Files under an asset directory inside the plugin crate never start a build: a write in
/// place, a save by rename and a delete-and-recreate each come out as one asset change
/// naming the file itself, and the next build is the next source change's.
#[test]
fn asset_changes_are_reported_and_never_build() {
    let fixture = Fixture::new("e2e_assets");
    let static_dir = fixture.plugin.join("static");
    fs::create_dir_all(&static_dir).unwrap();
    let style = static_dir.join("style.css");
    fs::write(&style, "h1 { color: red }").unwrap();
    let mut config = fixture.config();
    config.asset_dirs.push(static_dir.clone());
    let mut session = support::Session::start(config);
    session.artifact();
    let style = style.canonicalize().unwrap();

    let assets_until_changed = |session: &mut support::Session| -> Vec<_> {
        let events = session.until(|e| matches!(e, Event::AssetsChanged { .. }));
        assert_eq!(count_builds(&events), 0, "{:#?}", session.log);
        match events.last() {
            Some(Event::AssetsChanged { paths }) => paths.clone(),
            _ => unreachable!(),
        }
    };

    fs::write(&style, "h1 { color: green }").unwrap();
    assert_eq!(
        assets_until_changed(&mut session),
        std::slice::from_ref(&style)
    );

    let temp = static_dir.join(".style.css.hotdev-tmp");
    fs::write(&temp, "h1 { color: blue }").unwrap();
    fs::rename(&temp, &style).unwrap();
    assert_eq!(
        assets_until_changed(&mut session),
        std::slice::from_ref(&style),
        "the temporary file is not reported: {:#?}",
        session.log
    );

    fs::remove_file(&style).unwrap();
    fs::write(&style, "h1 { color: purple }").unwrap();
    assert_eq!(
        assets_until_changed(&mut session),
        std::slice::from_ref(&style)
    );

    fs::create_dir_all(static_dir.join("img")).unwrap();
    fs::write(static_dir.join("img/logo.svg"), "<svg/>").unwrap();
    let logo = static_dir.join("img/logo.svg").canonicalize().unwrap();
    let reported =
        session.until(|e| matches!(e, Event::AssetsChanged { paths } if paths.contains(&logo)));
    assert_eq!(count_builds(&reported), 0, "{:#?}", session.log);

    // The next build is the source change's, caused by it alone.
    fixture.write_plugin(&marker("after-assets"));
    let events = session.until(|e| matches!(e, Event::BuildStarted { .. }));
    let Some(Event::BuildStarted { cause, .. }) = events.last() else {
        unreachable!()
    };
    assert_eq!(cause, &[fixture.lib_rs()], "{:#?}", session.log);
    let (artifact, _) = session.artifact();
    assert!(contains(&artifact.path, &marker("after-assets")));
}

/// A change that lands while a build runs makes that build's result stale: it is reported
/// as superseded, never as an artifact, and the next build carries the change.
#[test]
fn a_build_overtaken_by_a_change_is_superseded_not_reported() {
    // The build script holds the build open while the (gitignored) gate file exists.
    const GATED_BUILD_RS: &str = r#"
fn main() {
    println!("cargo:rerun-if-changed=src/lib.rs");
    while std::path::Path::new("scratch/gate").exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
"#;
    let fixture = Fixture::with_build_script("e2e_superseded", Some(GATED_BUILD_RS));
    let gate = fixture.plugin.join("scratch/gate");
    fs::create_dir_all(gate.parent().unwrap()).unwrap();
    fs::write(&gate, "").unwrap();
    let mut session = fixture.start();
    session.until(|e| matches!(e, Event::BuildStarted { .. }));

    fixture.write_plugin(&marker("during-build"));
    session.until(|e| matches!(e, Event::Changed { .. }));
    fs::remove_file(&gate).unwrap();

    let (artifact, events) = session.artifact();
    assert!(
        matches!(events.first(), Some(Event::BuildSuperseded { .. })),
        "{:#?}",
        session.log
    );
    assert_eq!(count_builds(&events), 1, "{:#?}", session.log);
    assert!(contains(&artifact.path, &marker("during-build")));
}

/// A path dependency added to the manifest while the loop runs is watched from then on.
#[test]
fn a_path_dependency_added_while_running_is_watched() {
    let mut fixture = Fixture::new("e2e_newdep");
    let mut session = fixture.start();
    session.artifact();

    let extra = fixture.tmp.path().canonicalize().unwrap().join("extra");
    fs::create_dir_all(extra.join("src")).unwrap();
    fs::write(
        extra.join("Cargo.toml"),
        "[package]\nname = \"e2e_newdep_extra\"\nversion = \"0.1.0\"\nedition = \"2024\"\n",
    )
    .unwrap();
    let write_extra = |m: &str| {
        fs::write(
            extra.join("src/lib.rs"),
            format!("pub static EXTRA: [u8; 32] = *b\"{m}\";\n"),
        )
        .unwrap()
    };
    write_extra(&marker("extra-v1"));
    fixture.extra = "#[unsafe(no_mangle)]\npub extern \"C\" fn extra() -> *const u8 { \
                     e2e_newdep_extra::EXTRA.as_ptr() }\n"
        .into();
    fixture.write_plugin(&marker("uses-extra"));
    let manifest = fixture.plugin.join("Cargo.toml");
    let text = fs::read_to_string(&manifest).unwrap().replace(
        "[dependencies]\n",
        "[dependencies]\ne2e_newdep_extra = { path = \"../extra\" }\n",
    );
    fs::write(&manifest, text).unwrap();
    let (artifact, _) = session.artifact();
    assert!(
        contains(&artifact.path, &marker("extra-v1")),
        "{:#?}",
        session.log
    );

    write_extra(&marker("extra-v2"));
    let (artifact, events) = session.artifact();
    assert!(
        contains(&artifact.path, &marker("extra-v2")),
        "{:#?}",
        session.log
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::BuildStarted { cause, .. }
            if cause == &[extra.join("src/lib.rs")])),
        "{:#?}",
        session.log
    );
}
