//! Model checks of the swap/drain protocol (`hotdev_host::epoch`) with loom.
//!
//! Run: `LOOM_MAX_PREEMPTIONS=3 cargo test -p hotdev-host --features loom --test loom`
//! (`just loom`; `scripts/test.sh` runs it too). Loom explores the interleavings (and weak-memory reorderings) of small
//! programs; here a generation's payload is a `loom::cell::UnsafeCell` that the "unload"
//! writes after the grace period, so any reader still using it is reported as a data race.
#![cfg(feature = "loom")]

use hotdev_host::epoch::{Domain, Record};
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicPtr, Ordering};
use loom::thread;

/// A stand-in for a loaded generation: unloading writes to `code`.
struct Generation {
    code: UnsafeCell<u32>,
}

fn generation(version: u32) -> *mut Generation {
    Box::into_raw(Box::new(Generation {
        code: UnsafeCell::new(version),
    }))
}

/// A reader: enter, load the current generation, use it, exit. `record` is the calling
/// thread's.
fn call(domain: &Domain, record: &Record, current: &AtomicPtr<Generation>) -> u32 {
    // SAFETY: every caller passes the record its own thread registered; exited below.
    unsafe { domain.enter(record) };
    // SAFETY: entered before loading; the protocol under test keeps it alive until exit.
    let g = unsafe { &*current.load(Ordering::Acquire) };
    let v = g.code.with(|p| unsafe { *p });
    // SAFETY: ends the entry above, after the last use of `g`.
    unsafe { domain.exit(record) };
    v
}

/// The reloader: swap, wait for the grace period, then "unload" the old generation.
fn reload(
    domain: &Domain,
    current: &AtomicPtr<Generation>,
    new: *mut Generation,
) -> *mut Generation {
    let old = current.swap(new, Ordering::Release);
    let mut grace = domain.retire();
    while !grace.poll() {
        thread::yield_now();
    }
    // SAFETY: the grace period is over: no reader may still use `old`.
    unsafe { &*old }.code.with_mut(|p| unsafe { *p = 0 });
    old
}

fn free(p: *mut Generation) {
    // SAFETY: every generation is made by `generation` and freed once, at the end.
    drop(unsafe { Box::from_raw(p) });
}

#[test]
fn a_reader_never_uses_a_generation_after_its_grace_period() {
    loom::model(|| {
        let domain = Arc::new(Domain::new());
        let current = Arc::new(AtomicPtr::new(generation(1)));
        let reader = {
            let (domain, current) = (domain.clone(), current.clone());
            thread::spawn(move || {
                let record = domain.register();
                let v = call(&domain, &record, &current);
                assert!(v == 1 || v == 2, "saw an unloaded generation: {v}");
            })
        };
        let old = reload(&domain, &current, generation(2));
        reader.join().unwrap();
        free(old);
        free(current.load(Ordering::Relaxed));
    });
}

#[test]
fn nested_calls_and_two_reloads_are_safe() {
    loom::model(|| {
        let domain = Arc::new(Domain::new());
        let current = Arc::new(AtomicPtr::new(generation(1)));
        let reader = {
            let (domain, current) = (domain.clone(), current.clone());
            thread::spawn(move || {
                let record = domain.register();
                // SAFETY: this thread's record; exited below, after the last use.
                unsafe { domain.enter(&record) };
                // An inner call on the same thread, then the outer call's own use.
                let inner = call(&domain, &record, &current);
                // SAFETY: still inside the outer call.
                let g = unsafe { &*current.load(Ordering::Acquire) };
                let outer = g.code.with(|p| unsafe { *p });
                // SAFETY: ends the outer entry.
                unsafe { domain.exit(&record) };
                assert!(inner != 0 && outer != 0, "saw an unloaded generation");
            })
        };
        let first = reload(&domain, &current, generation(2));
        let second = reload(&domain, &current, generation(3));
        reader.join().unwrap();
        free(first);
        free(second);
        free(current.load(Ordering::Relaxed));
    });
}

#[test]
fn two_readers_and_one_reload() {
    loom::model(|| {
        let domain = Arc::new(Domain::new());
        let current = Arc::new(AtomicPtr::new(generation(1)));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (domain, current) = (domain.clone(), current.clone());
                thread::spawn(move || {
                    let record = domain.register();
                    let v = call(&domain, &record, &current);
                    assert!(v == 1 || v == 2);
                })
            })
            .collect();
        let old = reload(&domain, &current, generation(2));
        for r in readers {
            r.join().unwrap();
        }
        free(old);
        free(current.load(Ordering::Relaxed));
    });
}

#[test]
fn a_thread_stays_announced_until_its_last_entry_exits_in_any_order() {
    // Two pins of one thread, the first dropped first (`Pinned` allows it): the thread
    // must stay announced for the second one's use.
    loom::model(|| {
        let domain = Arc::new(Domain::new());
        let current = Arc::new(AtomicPtr::new(generation(1)));
        let reader = {
            let (domain, current) = (domain.clone(), current.clone());
            thread::spawn(move || {
                let record = domain.register();
                // SAFETY: this thread's record, entered twice and exited twice; `g` is used
                // only while one entry is still live.
                unsafe {
                    domain.enter(&record);
                    domain.enter(&record);
                    domain.exit(&record);
                }
                // SAFETY: the second entry is still live.
                let g = unsafe { &*current.load(Ordering::Acquire) };
                let v = g.code.with(|p| unsafe { *p });
                // SAFETY: ends the second entry, after the last use of `g`.
                unsafe { domain.exit(&record) };
                assert!(v != 0, "saw an unloaded generation");
            })
        };
        let old = reload(&domain, &current, generation(2));
        reader.join().unwrap();
        free(old);
        free(current.load(Ordering::Relaxed));
    });
}
