//! A call that never returns, in a process of its own: every plugin of a process shares
//! one epoch domain, so a call held here would hold the other tests' generations too (and
//! theirs would blur what this test measures).

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use fixture_api::counter::{Calls, Interface as CounterApi};
use hotdev_host::{Event, Options, Plugin};
use support::{LONG, fixture, shadow_root, wait_for};

/// Sets the flag when dropped, so that a failing test still releases its stuck call.
struct Release(Arc<AtomicBool>);

impl Drop for Release {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// A call that never returns holds every generation retired while it runs. Once it has
/// kept one past the drain timeout it is known to be stuck, and later retirements do not
/// wait for it again, so that the reloads after them (a fix, say) are not held up.
#[test]
fn a_call_stuck_past_the_drain_timeout_is_not_waited_for_again() {
    let root = shadow_root();
    let (tx, events) = crossbeam_channel::unbounded();
    let mut opts = Options {
        shadow_dir: Some(root.path().to_path_buf()),
        events: Some(tx),
        ..Options::default()
    };
    opts.probation_calls = 0;
    let drain_timeout = Duration::from_secs(5);
    opts.drain_timeout = drain_timeout;
    let plugin = Plugin::<CounterApi>::load_with(fixture(""), opts).unwrap();
    let flag = Arc::new(AtomicBool::new(false));
    let _release = Release(flag.clone());
    let entered = Arc::new(Barrier::new(2));
    let stuck = {
        let (plugin, flag, entered) = (plugin.clone(), flag.clone(), entered.clone());
        std::thread::spawn(move || {
            let pin = plugin.pin();
            entered.wait();
            pin.wait_for(&flag)
        })
    };
    entered.wait();
    plugin.reload(fixture("v2")).unwrap();
    wait_for(&events, LONG, |e| {
        matches!(e, Event::DrainTimeout { generation: 1, .. })
    });
    plugin.reload(fixture("")).unwrap();
    let started = std::time::Instant::now();
    plugin.reload(fixture("v2")).unwrap();
    let reload = started.elapsed();
    let Event::DrainTimeout { waited, .. } = wait_for(&events, LONG, |e| {
        matches!(e, Event::DrainTimeout { generation: 2, .. })
    }) else {
        unreachable!()
    };
    assert!(
        waited < drain_timeout,
        "generation 2 waited {waited:?} for a call known to be stuck"
    );
    assert!(reload < drain_timeout, "the reload waited {reload:?}");
    assert_eq!(plugin.version().unwrap(), 2, "new calls go to generation 4");
    flag.store(true, Ordering::Release);
    assert_eq!(stuck.join().unwrap().unwrap(), 1);
    // The stuck call returned: every generation it held unloads (in any order).
    let mut unloaded = std::collections::BTreeSet::new();
    while unloaded.len() < 3 {
        if let Event::Unloaded { generation, .. } =
            wait_for(&events, LONG, |e| matches!(e, Event::Unloaded { .. }))
        {
            unloaded.insert(generation);
        }
    }
    assert_eq!(unloaded.into_iter().collect::<Vec<_>>(), [1, 2, 3]);
}
