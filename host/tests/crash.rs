//! Crash catching (`Options::catch_crashes`): real plugin libraries raising real signals.
//!
//! Tests whose outcome is the end of a process run the scenario in a child: this test
//! binary, run again with `HOTDEV_CRASH_CHILD` naming the scenario.
#![cfg(all(target_os = "linux", not(feature = "loom")))]

mod support;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use fixture_api::crashy::{Calls, Interface as Crashy};
use hotdev_host::{CallError, CrashCatching, Event, Options, Plugin};
use support::{LONG, fixture, options, shadow_root, wait_for};

/// Options with crash catching on, a shadow root of the test's own and an event channel.
fn catching(root: &tempfile::TempDir) -> (Options, crossbeam_channel::Receiver<Event>) {
    let (opts, rx) = options(root);
    (
        Options {
            // SAFETY: the crashy plugin's calls hold no lock and write no host state; the
            // test process relies on no fault handler of its own.
            catch_crashes: unsafe { CrashCatching::on() },
            ..opts
        },
        rx,
    )
}

/// Loads the `crash` build as generation 1 and the `crash_v2` build as generation 2, which
/// is on probation (generation 1 still loaded). Returns the plugin and both shadow copies.
fn two_generations(
    root: &tempfile::TempDir,
) -> (
    Plugin<Crashy>,
    crossbeam_channel::Receiver<Event>,
    PathBuf,
    PathBuf,
) {
    let (opts, events) = catching(root);
    let plugin = Plugin::<Crashy>::load_with(fixture("crash"), opts).unwrap();
    let v1_copy = plugin.shadow_copies()[0].clone();
    plugin.reload(fixture("crash_v2")).unwrap();
    let v2_copy = plugin
        .shadow_copies()
        .into_iter()
        .find(|p| *p != v1_copy)
        .expect("generation 2's shadow copy");
    assert_eq!(plugin.version().unwrap(), 2);
    (plugin, events, v1_copy, v2_copy)
}

fn crashed(e: CallError) -> (i32, usize, bool, u64, Option<u64>) {
    match e {
        CallError::Crashed {
            signal,
            address,
            stack_overflow,
            generation,
            rolled_back_to,
        } => (signal, address, stack_overflow, generation, rolled_back_to),
        other => panic!("expected Crashed, got {other:?}"),
    }
}

/// Waits until the crashed generation has drained and checks that it was kept mapped,
/// not unloaded.
fn kept_mapped(events: &crossbeam_channel::Receiver<Event>, generation: u64, copy: &Path) {
    let e = wait_for(
        events,
        LONG,
        |e| matches!(e, Event::KeptMapped { generation: g } | Event::Unloaded { generation: g, .. } if *g == generation),
    );
    assert_eq!(
        e,
        Event::KeptMapped { generation },
        "a crashed generation is never unloaded"
    );
    assert_eq!(
        hotdev_host::testing::is_mapped(copy),
        Some(true),
        "{} stays mapped",
        copy.display()
    );
}

#[test]
fn a_null_read_in_a_generation_on_probation_returns_crashed_and_rolls_back() {
    let root = shadow_root();
    let (plugin, events, _, v2_copy) = two_generations(&root);

    let e = plugin.null_read().unwrap_err();
    assert_eq!(e.code(), "HD055");
    let message = e.to_string();
    assert_eq!(crashed(e), (libc::SIGSEGV, 0x10, false, 2, Some(1)));
    assert!(
        message.contains("segmentation fault (SIGSEGV at 0x10)"),
        "{message}"
    );

    // Later calls go to the previous generation.
    assert_eq!(plugin.generation(), 1);
    assert_eq!(plugin.version().unwrap(), 1);
    wait_for(&events, LONG, |e| {
        *e == Event::Crashed {
            generation: 2,
            signal: libc::SIGSEGV,
            address: 0x10,
            stack_overflow: false,
        }
    });
    wait_for(&events, LONG, |e| {
        matches!(e, Event::RolledBack { from: 2, to: 1, .. })
    });
    kept_mapped(&events, 2, &v2_copy);
    assert_eq!(plugin.version().unwrap(), 1, "the host goes on");
}

#[test]
fn a_stack_overflow_in_a_generation_on_probation_returns_crashed_and_rolls_back() {
    let root = shadow_root();
    let (plugin, events, _, v2_copy) = two_generations(&root);

    let e = plugin.overflow(0).unwrap_err();
    let message = e.to_string();
    let (signal, _, stack_overflow, generation, rolled_back_to) = crashed(e);
    assert_eq!(signal, libc::SIGSEGV);
    assert!(stack_overflow, "{message}");
    assert!(message.contains("stack overflow"), "{message}");
    assert_eq!((generation, rolled_back_to), (2, Some(1)));

    assert_eq!(plugin.version().unwrap(), 1);
    kept_mapped(&events, 2, &v2_copy);
    // The thread's stack and alternate stack are usable again: it overflows a second time
    // and is caught again, in generation 1 (no previous generation now).
    let again = crashed(plugin.overflow(0).unwrap_err());
    assert_eq!(
        (again.0, again.2, again.3, again.4),
        (libc::SIGSEGV, true, 1, None)
    );
    assert_eq!(plugin.version().unwrap(), 1);
}

/// With no previous generation to go back to, the crashed generation keeps serving: later
/// calls still go to it (a crash is often specific to one call's input), and a reload
/// replaces it as usual, keeping it mapped.
#[test]
fn a_crash_without_a_previous_generation_leaves_it_serving_and_it_is_kept_mapped_after_a_reload() {
    let root = shadow_root();
    let (opts, events) = catching(&root);
    let plugin = Plugin::<Crashy>::load_with(fixture("crash"), opts).unwrap();
    let v1_copy = plugin.shadow_copies()[0].clone();

    assert_eq!(
        crashed(plugin.null_read().unwrap_err()),
        (libc::SIGSEGV, 0x10, false, 1, None)
    );
    assert_eq!(plugin.version().unwrap(), 1);
    assert_eq!(
        crashed(plugin.null_read().unwrap_err()).3,
        1,
        "caught again"
    );
    assert_eq!(plugin.version().unwrap(), 1);

    plugin.reload(fixture("crash_v2")).unwrap();
    for _ in 0..Options::default().probation_calls {
        assert_eq!(plugin.version().unwrap(), 2);
    }
    kept_mapped(&events, 1, &v1_copy);
}

/// A thread without an alternate signal stack (as one started by C code would be) gets
/// one on its first guarded call: without it, the handler of a stack overflow would run on
/// the overflowed stack and the process would die.
#[test]
fn a_stack_overflow_on_a_thread_without_an_alternate_stack_is_caught() {
    let root = shadow_root();
    let (opts, _events) = catching(&root);
    let plugin = Plugin::<Crashy>::load_with(fixture("crash"), opts).unwrap();
    let caught = std::thread::spawn(move || {
        let disable = libc::stack_t {
            ss_sp: std::ptr::null_mut(),
            ss_flags: libc::SS_DISABLE,
            ss_size: 0,
        };
        // SAFETY: turns off this thread's alternate signal stack (Rust's); its memory is
        // still freed by Rust when the thread ends.
        let disabled = unsafe { libc::sigaltstack(&disable, std::ptr::null_mut()) };
        assert_eq!(disabled, 0);
        let e = plugin.overflow(0).unwrap_err();
        assert_eq!(plugin.version().unwrap(), 1);
        e
    })
    .join()
    .expect("the thread survived");
    let (signal, _, stack_overflow, generation, _) = crashed(caught);
    assert_eq!(
        (signal, stack_overflow, generation),
        (libc::SIGSEGV, true, 1)
    );
}

#[cfg(target_arch = "x86_64")]
#[test]
fn sigfpe_and_sigill_inside_a_call_are_caught() {
    let root = shadow_root();
    let (opts, _events) = catching(&root);
    let plugin = Plugin::<Crashy>::load_with(fixture("crash"), opts).unwrap();
    assert_eq!(plugin.divide(7, 2).unwrap(), 3);
    let (signal, _, overflow, generation, _) = crashed(plugin.divide(7, 0).unwrap_err());
    assert_eq!((signal, overflow, generation), (libc::SIGFPE, false, 1));
    let e = plugin.illegal().unwrap_err();
    assert!(e.to_string().contains("illegal instruction (SIGILL"), "{e}");
    assert_eq!(crashed(e).0, libc::SIGILL);
    assert_eq!(plugin.divide(9, 3).unwrap(), 3, "the host goes on");
}

#[test]
fn other_threads_keep_calling_while_one_call_crashes() {
    const WORKERS: usize = 4;
    let root = shadow_root();
    let (opts, _events) = catching(&root);
    let plugin = Plugin::<Crashy>::load_with(fixture("crash"), opts).unwrap();
    let go = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let calls: Arc<Vec<AtomicUsize>> =
        Arc::new((0..WORKERS).map(|_| AtomicUsize::new(0)).collect());

    let workers: Vec<_> = (0..WORKERS)
        .map(|i| {
            let (plugin, done, calls) = (plugin.clone(), done.clone(), calls.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::Acquire) {
                    assert_eq!(plugin.version().unwrap(), 1);
                    calls[i].fetch_add(1, Ordering::Release);
                }
            })
        })
        .collect();
    let crasher = {
        let (plugin, go) = (plugin.clone(), go.clone());
        std::thread::spawn(move || plugin.crash_when(&go))
    };
    let wait_all_past = |marks: &[usize]| {
        while (0..WORKERS).any(|i| calls[i].load(Ordering::Acquire) <= marks[i]) {
            std::thread::yield_now();
        }
    };
    wait_all_past(&[0; WORKERS]);
    go.store(true, Ordering::Release);
    let result = crasher.join().expect("the crashing thread itself goes on");
    assert_eq!(
        crashed(result.unwrap_err()),
        (libc::SIGSEGV, 0x10, false, 1, None)
    );
    // Every worker makes calls after the crash.
    let marks: Vec<usize> = calls.iter().map(|c| c.load(Ordering::Acquire)).collect();
    wait_all_past(&marks);
    done.store(true, Ordering::Release);
    for w in workers {
        w.join().expect("a worker's call failed");
    }
}

// ---------------------------------------------------------------------------------------
// Scenarios that end the process, run in a child.

const CHILD: &str = "HOTDEV_CRASH_CHILD";
const CHILD_LIB: &str = "HOTDEV_CRASH_LIB";
const CHILD_SHADOW: &str = "HOTDEV_CRASH_SHADOW";

/// Runs test `test` of this binary in a child with scenario `scenario`; returns the signal
/// that ended it and its stderr.
fn run_child(test: &str, scenario: &str) -> (Option<i32>, String) {
    let root = shadow_root();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, scenario)
        .env(CHILD_LIB, fixture("crash"))
        .env(CHILD_SHADOW, root.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.signal(), stderr)
}

/// In the child: loads the plugin with crash catching `on`, checks one call works.
fn child_plugin(on: bool) -> Plugin<Crashy> {
    let opts = Options {
        shadow_dir: Some(std::env::var_os(CHILD_SHADOW).unwrap().into()),
        catch_crashes: if on {
            // SAFETY: as in `catching`.
            unsafe { CrashCatching::on() }
        } else {
            CrashCatching::OFF
        },
        ..Options::default()
    };
    let plugin = Plugin::<Crashy>::load_with(std::env::var_os(CHILD_LIB).unwrap(), opts).unwrap();
    assert_eq!(plugin.version().unwrap(), 1);
    plugin
}

#[allow(unconditional_recursion)]
fn host_recursion(depth: u64) -> u64 {
    let mut frame = [0u8; 1024];
    std::hint::black_box(&mut frame);
    host_recursion(std::hint::black_box(depth + 1)) + u64::from(frame[(depth % 1024) as usize])
}

/// Runs the scenario when this process is a child; returns whether it was one.
fn child(scenario: &str) -> bool {
    let Some(wanted) = std::env::var_os(CHILD) else {
        return false;
    };
    if wanted != scenario {
        return true;
    }
    match scenario {
        "off" => {
            let plugin = child_plugin(false);
            let _ = plugin.null_read();
        }
        "outside" => {
            let plugin = child_plugin(true);
            assert!(plugin.null_read().is_err(), "caught inside a call");
            let p = std::hint::black_box(0x10usize) as *const u64;
            // SAFETY: not safe: the fault under test, in the host's own code.
            let _ = unsafe { std::ptr::read_volatile(p) };
        }
        "outside_overflow" => {
            let plugin = child_plugin(true);
            assert!(plugin.null_read().is_err(), "caught inside a call");
            host_recursion(0);
        }
        "abort" => {
            let plugin = child_plugin(true);
            let _ = plugin.abort();
        }
        _ => unreachable!(),
    }
    eprintln!("the child survived");
    true
}

#[test]
fn with_catching_off_a_null_read_in_a_call_ends_the_process_with_sigsegv() {
    if child("off") {
        return;
    }
    let (signal, stderr) = run_child(
        "with_catching_off_a_null_read_in_a_call_ends_the_process_with_sigsegv",
        "off",
    );
    assert_eq!(signal, Some(libc::SIGSEGV), "{stderr}");
}

#[test]
fn with_catching_on_a_null_read_outside_a_plugin_call_ends_the_process_with_sigsegv() {
    if child("outside") {
        return;
    }
    let (signal, stderr) = run_child(
        "with_catching_on_a_null_read_outside_a_plugin_call_ends_the_process_with_sigsegv",
        "outside",
    );
    assert_eq!(signal, Some(libc::SIGSEGV), "{stderr}");
}

/// Rust's own handler still sees a stack overflow of the host's code: its message, then
/// its abort.
#[test]
fn with_catching_on_a_stack_overflow_outside_a_plugin_call_keeps_rusts_report() {
    if child("outside_overflow") {
        return;
    }
    let (signal, stderr) = run_child(
        "with_catching_on_a_stack_overflow_outside_a_plugin_call_keeps_rusts_report",
        "outside_overflow",
    );
    assert_eq!(signal, Some(libc::SIGABRT), "{stderr}");
    assert!(stderr.contains("has overflowed its stack"), "{stderr}");
}

/// `abort()` is not a fault: it is not caught, and ends the process with `SIGABRT`.
#[test]
fn abort_inside_a_call_is_not_caught() {
    if child("abort") {
        return;
    }
    let (signal, stderr) = run_child("abort_inside_a_call_is_not_caught", "abort");
    assert_eq!(signal, Some(libc::SIGABRT), "{stderr}");
}
