//! The reload core end to end: real cdylibs built by cargo, real loads, swaps and unloads.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use fixture_api::Counter;
use fixture_api::counter::{Calls, Interface as CounterApi};
use hotdev_host::{Event, Plugin, StateChange, StatePolicy};
use reloadable::CallError;
use support::{LONG, fixture, loaded_under, mapped_under, options, shadow_root, wait_for};

/// Starts a call on another thread that waits until the returned flag is set; returns once
/// the call's thread has entered the plugin (pinned its generation).
fn call_blocked_until_set(
    plugin: &Plugin<CounterApi>,
) -> (
    Arc<AtomicBool>,
    std::thread::JoinHandle<Result<u32, CallError>>,
) {
    let flag = Arc::new(AtomicBool::new(false));
    let entered = Arc::new(Barrier::new(2));
    let handle = {
        let (plugin, flag, entered) = (plugin.clone(), flag.clone(), entered.clone());
        std::thread::spawn(move || {
            let pin = plugin.pin();
            entered.wait();
            pin.wait_for(&flag)
        })
    };
    entered.wait();
    (flag, handle)
}

#[test]
fn v1_to_v2_swap_keeps_state_and_unloads_v1() {
    let root = shadow_root();
    let (opts, events) = options(&root);
    let plugin = Plugin::<CounterApi>::load_with(fixture(""), opts).unwrap();
    let mut counter = Counter::default();
    assert_eq!(plugin.version().unwrap(), 1);
    assert_eq!(plugin.step(&mut counter, 3).unwrap(), 3);
    assert_eq!(plugin.hit(&plugin.state()).unwrap(), 1);
    let v1_copy = plugin.shadow_copies().pop().expect("one shadow copy");
    assert_eq!(hotdev_host::testing::is_mapped(&v1_copy), Some(true));

    let reloaded = plugin.reload(fixture("v2")).unwrap();
    assert_eq!(reloaded.generation, 2);
    assert_eq!(plugin.generation(), 2);
    assert_eq!(plugin.version().unwrap(), 2, "new code answers");
    assert_eq!(
        plugin.step(&mut counter, 1).unwrap(),
        5,
        "host state intact: 3 + 2*1"
    );
    assert_eq!(counter.steps, 2);
    assert_eq!(
        plugin.hit(&plugin.state()).unwrap(),
        2,
        "plugin state carried over"
    );
    assert_eq!(plugin.greet("ann").unwrap(), "hello ann from v2");

    // Finish v2's probation; then v1 drains and unloads.
    for _ in 0..10 {
        plugin.version().unwrap();
    }
    wait_for(&events, LONG, |e| {
        matches!(e, Event::Unloaded { generation: 1, .. })
    });
    assert!(!v1_copy.exists(), "the v1 shadow copy is removed");
    assert_eq!(
        hotdev_host::testing::is_mapped(&v1_copy),
        Some(false),
        "v1 is no longer mapped"
    );
    assert_eq!(plugin.shadow_copies().len(), 1);
}

#[test]
fn bad_libraries_are_refused_with_codes_and_the_current_generation_keeps_serving() {
    let root = shadow_root();
    let (opts, events) = options(&root);
    let plugin = Plugin::<CounterApi>::load_with(fixture(""), opts).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let v1 = std::fs::read(fixture("")).unwrap();

    let empty = scratch.path().join("libempty.so");
    std::fs::write(&empty, b"").unwrap();
    let truncated = scratch.path().join("libtruncated.so");
    std::fs::write(&truncated, &v1[..v1.len() / 2]).unwrap();
    let text = scratch.path().join("libtext.so");
    std::fs::write(&text, "this is not a library\n").unwrap();

    let cases: Vec<(std::path::PathBuf, &str, &str)> = vec![
        (scratch.path().join("missing.so"), "HD001", "not found"),
        (scratch.path().to_path_buf(), "HD003", "is a directory"),
        (empty, "HD005", "empty"),
        (truncated, "HD005", "truncated"),
        (text, "HD004", "text file"),
        (fixture("no_entry"), "HD010", "HOTDEV_PLUGIN_V1"),
        (
            fixture("other_interface"),
            "HD012",
            "implements interface `app`, not `counter`",
        ),
        (fixture("mismatch"), "HD013", "Counter: size 16 -> 24"),
        (
            fixture("panic_abort"),
            "HD013",
            "panic strategy unwind -> abort",
        ),
        (fixture("panic_on_load"), "HD021", "the load hook panicked"),
        (fixture("fail_on_load"), "HD020", "no database"),
    ];
    for (path, code, needle) in cases {
        let err = plugin.reload(&path).expect_err(&path.display().to_string());
        assert_eq!(err.code(), code, "{err}");
        let message = err.to_string();
        assert!(
            message.contains(needle),
            "{code}: {message:?} should mention {needle:?}"
        );
        assert!(message.starts_with(&format!("[{code}]")), "{message}");
        match wait_for(&events, LONG, |e| matches!(e, Event::Rejected { .. })) {
            Event::Rejected { code: c, .. } => assert_eq!(c, code),
            _ => unreachable!(),
        }
        assert_eq!(plugin.version().unwrap(), 1, "still serving after {code}");
        assert_eq!(plugin.generation(), 1);
        assert_eq!(
            plugin.shadow_copies().len(),
            1,
            "nothing of the refused library stays ({code})"
        );
    }
    // The first load is refused the same way.
    let err = Plugin::<CounterApi>::load(scratch.path().join("missing.so")).unwrap_err();
    assert_eq!(err.code(), "HD001");
}

#[test]
fn a_load_hook_panic_reports_the_plugins_location() {
    let root = shadow_root();
    let (opts, _events) = options(&root);
    let plugin = Plugin::<CounterApi>::load_with(fixture(""), opts).unwrap();
    let err = plugin.reload(fixture("panic_on_load")).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("src/lib.rs:"), "{message}");
}

#[test]
fn a_panicking_call_returns_an_error_with_message_and_location_and_the_host_goes_on() {
    let root = shadow_root();
    let (opts, events) = options(&root);
    let plugin = Plugin::<CounterApi>::load_with(fixture(""), opts).unwrap();
    let err = plugin.fail("boom at the bottom").unwrap_err();
    let CallError::Panicked {
        message,
        location,
        generation,
        rolled_back_to,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(message, "boom at the bottom");
    let location = location.as_deref().expect("a location");
    assert!(location.starts_with("src/lib.rs:"), "{location}");
    assert_eq!((*generation, *rolled_back_to), (1, None));
    assert_eq!(err.code(), "HD050");
    wait_for(&events, LONG, |e| {
        matches!(e, Event::Panicked { generation: 1, .. })
    });
    assert_eq!(plugin.version().unwrap(), 1, "the host goes on");
}

#[test]
fn a_generation_that_panics_in_its_first_calls_is_rolled_back() {
    let root = shadow_root();
    let (opts, events) = options(&root);
    let plugin = Plugin::<CounterApi>::load_with(fixture(""), opts).unwrap();
    plugin.reload(fixture("panic_early")).unwrap();
    assert_eq!(plugin.generation(), 2);
    let err = plugin.version().unwrap_err();
    assert_eq!(err.code(), "HD051", "{err}");
    assert!(matches!(
        err,
        CallError::Panicked {
            rolled_back_to: Some(1),
            generation: 2,
            ..
        }
    ));
    match wait_for(&events, LONG, |e| matches!(e, Event::RolledBack { .. })) {
        Event::RolledBack { from, to, reason } => {
            assert_eq!((from, to), (2, 1));
            assert!(reason.contains("this generation is broken"), "{reason}");
        }
        _ => unreachable!(),
    }
    assert_eq!(plugin.generation(), 1);
    assert_eq!(
        plugin.version().unwrap(),
        1,
        "the previous generation serves again"
    );
    wait_for(&events, LONG, |e| {
        matches!(e, Event::Unloaded { generation: 2, .. })
    });
    // The next reload gets the next number; the refused one is not reused.
    assert_eq!(plugin.reload(fixture("v2")).unwrap().generation, 3);
}

#[test]
fn concurrent_callers_see_whole_generations_across_500_reloads() {
    let root = shadow_root();
    let (opts, _events) = options(&root);
    let plugin = Plugin::<CounterApi>::load_with(fixture(""), opts).unwrap();
    let shadow_dir = plugin.shadow_dir().to_path_buf();
    let (v1, v2) = (fixture(""), fixture("v2"));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(4));
    let max_mapped = Arc::new(AtomicUsize::new(0));

    let callers: Vec<_> = (0..2)
        .map(|t| {
            let (plugin, stop, start) = (plugin.clone(), stop.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                let mut calls = 0u64;
                let mut seen = [0u64; 3];
                let mut counter = Counter::default();
                while !stop.load(Ordering::Relaxed) {
                    let v = plugin.version().expect("no call fails across reloads");
                    assert!(v == 1 || v == 2, "thread {t}: version {v}");
                    seen[v as usize] += 1;
                    let before = counter.count;
                    let after = plugin.step(&mut counter, 1).expect("no call fails");
                    let delta = after - before;
                    assert!(
                        delta == 1 || delta == 2,
                        "thread {t}: a step of {delta} mixes generations"
                    );
                    let greeting = plugin.greet("t").expect("no call fails");
                    assert!(
                        greeting == "hello t from v1" || greeting == "hello t from v2",
                        "{greeting}"
                    );
                    calls += 3;
                }
                (calls, seen)
            })
        })
        .collect();
    let sampler = {
        let (stop, start, max_mapped, dir) = (
            stop.clone(),
            start.clone(),
            max_mapped.clone(),
            shadow_dir.clone(),
        );
        std::thread::spawn(move || {
            start.wait();
            while !stop.load(Ordering::Relaxed) {
                max_mapped.fetch_max(loaded_under(&dir), Ordering::Relaxed);
            }
        })
    };
    start.wait();
    for i in 0..500 {
        let path = if i % 2 == 0 { &v2 } else { &v1 };
        plugin
            .reload(path)
            .unwrap_or_else(|e| panic!("reload {i}: {e}"));
        max_mapped.fetch_max(loaded_under(&shadow_dir), Ordering::Relaxed);
    }
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    let mut seen = [0u64; 3];
    for c in callers {
        let (calls, s) = c.join().expect("a caller thread failed");
        total += calls;
        seen[1] += s[1];
        seen[2] += s[2];
    }
    sampler.join().unwrap();
    assert!(total > 1000, "the callers made {total} calls");
    assert!(
        seen[1] > 0 && seen[2] > 0,
        "both generations answered: {seen:?}"
    );
    let max = max_mapped.load(Ordering::Relaxed);
    assert!(
        (1..=3).contains(&max),
        "at most 3 copies mapped at once (the one serving, the one kept for a rollback \
         and the one loading), saw {max}"
    );
    assert_eq!(plugin.generation(), 501);
    // Once the reaper is done with the last reload's retirement: two at most.
    let deadline = std::time::Instant::now() + LONG;
    while loaded_under(&shadow_dir) > 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "{} copies still mapped after the reloads",
            loaded_under(&shadow_dir)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(plugin);
    assert!(
        !shadow_dir.exists(),
        "the shadow directory is removed at the end"
    );
    assert_eq!(mapped_under(&shadow_dir), 0);
}

#[test]
fn a_call_blocking_across_a_reload_keeps_its_library_until_it_returns() {
    let root = shadow_root();
    let (mut opts, events) = options(&root);
    opts.probation_calls = 0;
    opts.drain_timeout = Duration::from_millis(200);
    let plugin = Plugin::<CounterApi>::load_with(fixture(""), opts).unwrap();
    let v1_copy = plugin.shadow_copies().pop().unwrap();
    let (flag, blocked) = call_blocked_until_set(&plugin);
    plugin.reload(fixture("v2")).unwrap();
    assert_eq!(
        plugin.version().unwrap(),
        2,
        "new calls go to the new generation"
    );
    // The epoch domain is the process's: a call another test holds at the same moment is
    // counted too, so at least this one.
    wait_for(&events, LONG, |e| {
        matches!(
            e,
            Event::DrainTimeout {
                generation: 1,
                calls,
                ..
            } if *calls >= 1
        )
    });
    assert_eq!(
        hotdev_host::testing::is_mapped(&v1_copy),
        Some(true),
        "never unmapped under a running call"
    );
    flag.store(true, Ordering::Release);
    assert_eq!(
        blocked.join().unwrap().unwrap(),
        1,
        "the blocked call finished in the old code"
    );
    wait_for(&events, LONG, |e| {
        matches!(
            e,
            Event::Drained {
                generation: 1,
                calls,
                ..
            } if *calls >= 1
        )
    });
    wait_for(&events, LONG, |e| {
        matches!(e, Event::Unloaded { generation: 1, .. })
    });
    assert_eq!(hotdev_host::testing::is_mapped(&v1_copy), Some(false));
}

#[test]
fn a_plugin_pinned_by_a_thread_local_destructor_is_reported_not_crashed() {
    let root = shadow_root();
    let (mut opts, events) = options(&root);
    opts.probation_calls = 0;
    let plugin = Plugin::<CounterApi>::load_with(fixture("tls"), opts).unwrap();
    let (touched_tx, touched_rx) = crossbeam_channel::bounded(0);
    let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(0);
    let thread = {
        let plugin = plugin.clone();
        std::thread::spawn(move || {
            plugin.touch_tls().unwrap();
            touched_tx.send(()).unwrap();
            // Keep the thread (and its thread-local) alive until the check is done.
            let _ = done_rx.recv();
        })
    };
    touched_rx.recv().unwrap();
    plugin.reload(fixture("")).unwrap();
    match wait_for(&events, LONG, |e| {
        matches!(e, Event::Unloaded { generation: 1, .. })
    }) {
        Event::Unloaded { pinned, .. } => {
            let why = pinned.expect("reported as pinned");
            assert!(why.contains("thread-local"), "{why}");
        }
        _ => unreachable!(),
    }
    assert_eq!(plugin.version().unwrap(), 1);
    drop(done_tx);
    thread.join().unwrap();
}

#[test]
fn plugin_state_migrates_through_hooks_or_the_generation_is_refused() {
    let root = shadow_root();
    let (mut opts, events) = options(&root);
    opts.probation_calls = 0;
    let plugin = Plugin::<CounterApi>::load_with(fixture(""), opts).unwrap();
    assert_eq!(plugin.hit(&plugin.state()).unwrap(), 1);
    assert_eq!(plugin.hit(&plugin.state()).unwrap(), 2);

    let err = plugin.reload(fixture("state_v2")).unwrap_err();
    assert_eq!(err.code(), "HD022", "{err}");
    assert!(
        err.to_string().contains("PluginState: size 8 -> 16"),
        "{err}"
    );
    assert_eq!(
        plugin.hit(&plugin.state()).unwrap(),
        3,
        "old generation and state intact"
    );

    plugin.reload(fixture("state_v2_migrate")).unwrap();
    wait_for(&events, LONG, |e| {
        matches!(
            e,
            Event::StateMigrated {
                from: 1,
                to: 2,
                bytes: 8
            }
        )
    });
    assert_eq!(
        plugin.hit(&plugin.state()).unwrap(),
        4,
        "the count survived the layout change"
    );
}

/// Under the reset policy a layout change without hooks goes live with a fresh state,
/// and says what changed.
#[test]
fn plugin_state_without_hooks_is_reset_under_the_reset_policy() {
    let root = shadow_root();
    let (mut opts, events) = options(&root);
    opts.probation_calls = 0;
    opts.state_policy = StatePolicy::Reset;
    let plugin = Plugin::<CounterApi>::load_with(fixture(""), opts).unwrap();
    assert_eq!(plugin.hit(&plugin.state()).unwrap(), 1);
    assert_eq!(plugin.hit(&plugin.state()).unwrap(), 2);

    let reloaded = plugin.reload(fixture("state_v2")).unwrap();
    let StateChange::Reset { diff, reason } = &reloaded.state else {
        panic!("not reset: {reloaded:?}");
    };
    assert!(
        diff.iter().any(|d| d.contains("PluginState: size 8 -> 16")),
        "{diff:?}"
    );
    assert!(
        reason.contains("the new generation has no restore hook"),
        "{reason}"
    );
    match wait_for(&events, LONG, |e| matches!(e, Event::StateReset { .. })) {
        Event::StateReset { from, to, .. } => assert_eq!((from, to), (1, 2)),
        _ => unreachable!(),
    }
    assert_eq!(plugin.generation(), 2);
    assert_eq!(
        plugin.hit(&plugin.state()).unwrap(),
        1,
        "the new generation starts from Default"
    );
}

/// `migrate: serde` carries the state across a layout change: the count survives and
/// the field added in v2 (without any serde attribute) takes its Default.
#[test]
fn plugin_state_migrates_with_serde_when_a_field_is_added() {
    let root = shadow_root();
    let (mut opts, events) = options(&root);
    opts.probation_calls = 0;
    let plugin = Plugin::<CounterApi>::load_with(fixture("state_serde"), opts).unwrap();
    for n in 1..=3 {
        assert_eq!(plugin.hit(&plugin.state()).unwrap(), n);
    }
    let reloaded = plugin.reload(fixture("state_v2_serde")).unwrap();
    assert!(
        matches!(reloaded.state, StateChange::Migrated { .. }),
        "{reloaded:?}"
    );
    wait_for(&events, LONG, |e| {
        matches!(e, Event::StateMigrated { from: 1, to: 2, .. })
    });
    assert_eq!(
        plugin.hit(&plugin.state()).unwrap(),
        4,
        "the count survived the added field"
    );
}

#[test]
fn stale_shadow_copies_from_a_crashed_run_are_removed_at_start() {
    let root = shadow_root();
    let crashed = root.path().join("4242-feed");
    std::fs::create_dir_all(&crashed).unwrap();
    std::fs::write(crashed.join(".lock"), b"").unwrap();
    std::fs::write(crashed.join("libfixture_plugin.g3.7.so"), b"left behind").unwrap();
    let (opts, _events) = options(&root);
    let plugin = Plugin::<CounterApi>::load_with(fixture(""), opts).unwrap();
    assert!(!crashed.exists());
    assert!(plugin.shadow_dir().starts_with(root.path()));
}

/// Regression: dropping a plugin while a call that never returns is running (here in
/// another plugin, which shares the call protocol's epoch) used to wait forever for it.
/// The drop now waits once more for the drain timeout, then leaves the library mapped.
#[test]
fn dropping_a_plugin_does_not_hang_on_a_stuck_call() {
    let (root_a, root_b) = (shadow_root(), shadow_root());
    let (mut opts_a, _events_a) = options(&root_a);
    opts_a.drain_timeout = Duration::from_millis(100);
    let a = Plugin::<CounterApi>::load_with(fixture(""), opts_a).unwrap();
    let (opts_b, _events_b) = options(&root_b);
    let b = Plugin::<CounterApi>::load_with(fixture(""), opts_b).unwrap();

    let (flag, stuck) = call_blocked_until_set(&b);
    let (done_tx, done_rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        drop(a);
        done_tx.send(()).unwrap();
    });
    done_rx
        .recv_timeout(LONG)
        .expect("dropping the plugin finished");
    flag.store(true, Ordering::Release);
    assert_eq!(
        stuck.join().unwrap().unwrap(),
        1,
        "the stuck call returned normally"
    );
    assert_eq!(b.version().unwrap(), 1);
}
