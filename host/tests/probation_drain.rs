//! Regression test in a process of its own: the epoch domain is process-wide, so a drain
//! counts every thread inside a plugin call when the generation was retired, including
//! the threads of other tests running in the same process.

mod support;

use fixture_api::Counter;
use fixture_api::counter::{Calls, Interface as CounterApi};
use hotdev_host::testing::{CallPath, call_path};
use hotdev_host::{Event, Options, Plugin};
use support::{LONG, fixture, shadow_root, wait_for};

fn options(root: &tempfile::TempDir) -> (Options, crossbeam_channel::Receiver<Event>) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let opts = Options {
        shadow_dir: Some(root.path().to_path_buf()),
        events: Some(tx),
        ..Options::default()
    };
    (opts, rx)
}

/// Regression: in a single-threaded host, the call that ended a new generation's probation
/// retired the previous generation while still inside the epoch domain, so the drain
/// counted the caller's own thread ("1 call(s) finished on the old code") although that
/// thread was calling the new generation.
#[test]
fn the_call_that_ends_probation_is_not_counted_as_a_call_in_the_old_generation() {
    let root = shadow_root();
    let (mut opts, events) = options(&root);
    opts.probation_calls = 3;
    let plugin = Plugin::<CounterApi>::load_with(fixture(""), opts).unwrap();
    let mut counter = Counter::default();
    plugin.step(&mut counter, 1).unwrap();
    plugin.reload(fixture("v2")).unwrap();
    for _ in 0..3 {
        plugin.step(&mut counter, 1).unwrap();
    }
    let drained = wait_for(&events, LONG, |e| {
        matches!(e, Event::Drained { generation: 1, .. })
    });
    assert!(
        matches!(drained, Event::Drained { calls: 0, .. }),
        "no call was in generation 1 when it was retired: {drained:?}"
    );
}

/// A new generation serves on probation, on the slow path, for exactly its probation's
/// calls; the call that ends it puts the plain path back (the tag in the pointer is
/// cleared), and a reload starts a new probation.
#[test]
fn calls_take_the_plain_path_again_once_probation_ends() {
    const PLAIN: CallPath = CallPath {
        guarded: false,
        probation: false,
    };
    const ON_PROBATION: CallPath = CallPath {
        guarded: false,
        probation: true,
    };
    let root = shadow_root();
    let (mut opts, _events) = options(&root);
    opts.probation_calls = 3;
    let plugin = Plugin::<CounterApi>::load_with(fixture(""), opts).unwrap();
    // The first generation has nothing to go back to: no probation.
    assert_eq!(call_path(&plugin), PLAIN);
    let mut counter = Counter::default();
    for version in ["v2", ""] {
        plugin.reload(fixture(version)).unwrap();
        for call in 1..=3 {
            assert_eq!(
                call_path(&plugin),
                ON_PROBATION,
                "before call {call} of {version:?}"
            );
            plugin.step(&mut counter, 1).unwrap();
        }
        assert_eq!(
            call_path(&plugin),
            PLAIN,
            "after the probation of {version:?}"
        );
        plugin.step(&mut counter, 1).unwrap();
        assert_eq!(call_path(&plugin), PLAIN);
    }
}
