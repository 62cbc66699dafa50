//! Libraries the reload core must refuse, or handle safely, however they are made: each
//! test is named after the way it used to go wrong (a wrong answer, a hang, or a crash of
//! the host), with real cdylibs built by cargo.

mod support;

use std::path::Path;
use std::sync::atomic::AtomicBool;

use fixture_api::counter::{Calls, Interface as CounterApi};
use fixture_api::{calc, first, second};
use hotdev_host::{Event, Options, Plugin};
use support::{LONG, fixture, options, shadow_root, wait_for};

/// Runs `f` on another thread and fails the test if it has not finished within `LONG`: a
/// regression here is a hang, which must fail rather than stall the suite.
fn within_long<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(LONG)
        .unwrap_or_else(|_| panic!("{what} did not finish within {LONG:?}"))
}

#[test]
fn swapped_functions_of_one_signature_are_refused_not_called_in_each_others_slot() {
    use calc::Calls as _;
    let root = shadow_root();
    let (opts, _events) = options(&root);
    let plugin = Plugin::<calc::Interface>::load_with(fixture("calc"), opts).unwrap();
    assert_eq!(plugin.add_one(5).unwrap(), 6);
    let err = plugin.reload(fixture("calc_swapped")).unwrap_err();
    assert_eq!(err.code(), "HD013", "{err}");
    let message = err.to_string();
    assert!(message.contains("fn add_one: slot 1 -> 2"), "{message}");
    assert!(message.contains("fn double: slot 2 -> 1"), "{message}");
    assert_eq!(
        plugin.add_one(5).unwrap(),
        6,
        "the current generation serves"
    );
}

#[test]
fn two_structs_of_one_name_in_different_modules_are_each_checked() {
    use calc::Calls as _;
    let root = shadow_root();
    let (opts, _events) = options(&root);
    let plugin = Plugin::<calc::Interface>::load_with(fixture("calc"), opts).unwrap();
    let err = plugin.reload(fixture("calc_cfg_grown")).unwrap_err();
    assert_eq!(err.code(), "HD013", "{err}");
    let message = err.to_string();
    assert!(
        message.contains("fixture_api::second::Cfg: size 8 -> 16"),
        "{message}"
    );
    assert!(
        !message.contains("fixture_api::first::Cfg: size"),
        "first::Cfg did not change: {message}"
    );
    assert_eq!(
        plugin
            .sizes(&first::Cfg::default(), &second::Cfg::default())
            .unwrap(),
        16
    );
}

#[cfg(unix)]
#[test]
fn a_fifo_or_a_device_at_the_artifact_path_is_refused_without_reading_it() {
    let root = shadow_root();
    let (opts, _events) = options(&root);
    let plugin = Plugin::<CounterApi>::load_with(fixture(""), opts).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let fifo = scratch.path().join("libfifo.so");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let zero_link = scratch.path().join("libzero.so");
    std::os::unix::fs::symlink("/dev/zero", &zero_link).unwrap();

    let cases = [
        (fifo, "FIFO"),
        (Path::new("/dev/zero").to_path_buf(), "character device"),
        (zero_link, "character device"),
    ];
    for (path, kind) in cases {
        let p = plugin.clone();
        let shown = path.display().to_string();
        let err = within_long(&format!("reload({shown})"), move || {
            p.reload(&path).unwrap_err()
        });
        assert_eq!(err.code(), "HD008", "{shown}: {err}");
        assert!(err.to_string().contains(kind), "{err}");
    }
    // The plugin's lock was released each time: a good reload goes through.
    assert_eq!(plugin.reload(fixture("v2")).unwrap().generation, 2);
}

#[test]
fn a_full_event_channel_never_blocks_a_reload_or_a_call() {
    let root = shadow_root();
    let (tx, _unread) = crossbeam_channel::bounded(1);
    let opts = Options {
        shadow_dir: Some(root.path().to_path_buf()),
        events: Some(tx),
        ..Options::default()
    };
    let plugin = Plugin::<CounterApi>::load_with(fixture(""), opts).unwrap();
    let p = plugin.clone();
    within_long(
        "reloads and a panicking call with nobody reading events",
        move || {
            for i in 0..4 {
                let path = if i % 2 == 0 {
                    fixture("v2")
                } else {
                    fixture("")
                };
                p.reload(path).unwrap();
            }
            assert!(p.fail("boom").is_err());
        },
    );
    assert!(
        plugin.dropped_events() > 0,
        "the dropped events are counted"
    );
}

#[test]
fn the_dropped_events_are_reported_when_there_is_room_again() {
    let root = shadow_root();
    let (tx, rx) = crossbeam_channel::bounded(1);
    let opts = Options {
        shadow_dir: Some(root.path().to_path_buf()),
        events: Some(tx),
        ..Options::default()
    };
    let plugin = Plugin::<CounterApi>::load_with(fixture(""), opts).unwrap();
    plugin.reload(fixture("v2")).unwrap();
    let dropped = plugin.dropped_events();
    assert!(dropped > 0);
    // Make room, then cause one more event: the drop report comes first.
    while rx.try_recv().is_ok() {}
    assert!(plugin.fail("boom").is_err());
    match rx.recv_timeout(LONG).unwrap() {
        Event::EventsDropped { count } => assert_eq!(count, dropped),
        other => panic!("expected EventsDropped, got {other:?}"),
    }
}

#[test]
fn a_descriptor_with_null_or_wild_pointers_is_refused_not_followed() {
    let root = shadow_root();
    let (opts, _events) = options(&root);
    let plugin = Plugin::<CounterApi>::load_with(fixture(""), opts).unwrap();
    for (variant, needle) in [
        (
            "wild_table",
            "the function table at 0xdead0000 lies outside the library's data",
        ),
        (
            "null_interface",
            "the interface declaration at 0x0 lies outside the library's data",
        ),
    ] {
        let err = plugin.reload(fixture(variant)).unwrap_err();
        assert_eq!(err.code(), "HD011", "{variant}: {err}");
        assert!(err.to_string().contains(needle), "{variant}: {err}");
        assert_eq!(plugin.version().unwrap(), 1, "still serving");
        assert_eq!(plugin.shadow_copies().len(), 1, "nothing of it stays");
    }
    // The first load checks the same way.
    let err = Plugin::<CounterApi>::load_with(
        fixture("wild_table"),
        Options {
            shadow_dir: Some(root.path().to_path_buf()),
            ..Options::default()
        },
    )
    .unwrap_err();
    assert_eq!(err.code(), "HD011", "{err}");
}

#[cfg(target_os = "linux")]
#[test]
fn a_thread_the_plugin_started_keeps_its_library_mapped_until_it_ends() {
    let root = shadow_root();
    let (opts, events) = options(&root);
    let plugin = Plugin::<CounterApi>::load_with(fixture("raw_thread"), opts).unwrap();
    let v1_copy = plugin.shadow_copies().pop().unwrap();
    let stop: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
    // Starts a POSIX thread in plugin code that runs until `stop` is set.
    assert_eq!(plugin.wait_for(stop).unwrap(), 1);
    plugin.reload(fixture("v2")).unwrap();
    for _ in 0..10 {
        assert_eq!(plugin.version().unwrap(), 2);
    }
    match wait_for(&events, LONG, |e| {
        matches!(e, Event::ThreadsRunning { .. } | Event::Unloaded { .. })
    }) {
        Event::ThreadsRunning {
            generation,
            threads,
        } => assert_eq!((generation, threads), (1, 1)),
        other => panic!("generation 1 was unloaded under its thread: {other:?}"),
    }
    assert_eq!(
        hotdev_host::testing::is_mapped(&v1_copy),
        Some(true),
        "the library stays mapped while its thread runs"
    );
    stop.store(true, std::sync::atomic::Ordering::Release);
    wait_for(&events, LONG, |e| {
        matches!(e, Event::Unloaded { generation: 1, .. })
    });
    assert_eq!(hotdev_host::testing::is_mapped(&v1_copy), Some(false));
}

#[test]
fn a_library_written_in_place_over_another_build_is_refused() {
    let root = shadow_root();
    let (opts, _events) = options(&root);
    let plugin = Plugin::<CounterApi>::load_with(fixture(""), opts).unwrap();
    let (old, new) = (
        std::fs::read(fixture("")).unwrap(),
        std::fs::read(fixture("mismatch")).unwrap(),
    );
    let scratch = tempfile::tempdir().unwrap();
    // A writer that stopped half-way: the new build's first half over the old file, at the
    // old file's size; and the other way round.
    for (name, head, tail) in [("new-over-old", &new, &old), ("old-over-new", &old, &new)] {
        let half = head.len().min(tail.len()) / 2;
        let mut mixed = tail.clone();
        mixed[..half].copy_from_slice(&head[..half]);
        let path = scratch.path().join(format!("lib{name}.so"));
        std::fs::write(&path, &mixed).unwrap();
        let err = plugin.reload(&path).unwrap_err();
        assert_eq!(err.code(), "HD005", "{name}: {err}");
        assert_eq!(plugin.version().unwrap(), 1, "still serving");
    }
    // The old build's headers at both ends (its ELF and program headers, its section
    // headers), the new build's bytes between them.
    let mut mixed = old.clone();
    let tail = 64 * 1024;
    let end = old.len().min(new.len()) - tail;
    mixed[4096..end].copy_from_slice(&new[4096..end]);
    let path = scratch.path().join("libmiddle.so");
    std::fs::write(&path, &mixed).unwrap();
    let err = plugin.reload(&path).unwrap_err();
    assert_eq!(err.code(), "HD005", "{err}");
}

#[cfg(unix)]
#[test]
fn a_link_planted_under_the_next_temporary_name_is_not_written_through() {
    let root = shadow_root();
    let (opts, _events) = options(&root);
    let plugin = Plugin::<CounterApi>::load_with(fixture(""), opts).unwrap();
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("precious.txt");
    std::fs::write(&victim, "precious").unwrap();
    // Generation 2 is the directory's second copy: `.tmp-<stem>.g2.1.<ext>`.
    let lib = fixture("v2");
    let stem = lib.file_stem().unwrap().to_string_lossy().into_owned();
    let ext = lib.extension().unwrap().to_string_lossy().into_owned();
    let planted = plugin.shadow_dir().join(format!(".tmp-{stem}.g2.1.{ext}"));
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    assert_eq!(plugin.reload(&lib).unwrap().generation, 2);
    assert_eq!(plugin.version().unwrap(), 2);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
}

#[cfg(unix)]
#[test]
fn a_removed_shadow_directory_is_created_again_privately() {
    use std::os::unix::fs::PermissionsExt;
    let root = shadow_root();
    let shadow_root = root.path().join("target/hotdev-shadow");
    let (tx, _events) = crossbeam_channel::unbounded();
    let opts = Options {
        shadow_dir: Some(shadow_root.clone()),
        events: Some(tx),
        ..Options::default()
    };
    let plugin = Plugin::<CounterApi>::load_with(fixture(""), opts).unwrap();
    // What `cargo clean` does to the target directory holding the shadow directory.
    std::fs::remove_dir_all(root.path().join("target")).unwrap();
    assert_eq!(plugin.reload(fixture("v2")).unwrap().generation, 2);
    assert_eq!(plugin.version().unwrap(), 2);
    let dir = plugin.shadow_dir().to_path_buf();
    assert_eq!(plugin.shadow_copies().len(), 1);
    for d in [&shadow_root, &dir] {
        let mode = std::fs::metadata(d).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", d.display());
    }
    assert_eq!(plugin.reload(fixture("")).unwrap().generation, 3);
    drop(plugin);
    assert!(!dir.exists(), "removed at the end as usual");
}
