//! The reaper: a thread that takes retired generations, waits until every call that
//! entered them has returned (the drain, bounded by the drain timeout), then runs their
//! unload hook and unloads them, or keeps them mapped when values they made may still be
//! in use, when threads they started still run, or when a call never returned.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use reloadable::{PluginInterface, codes};

use super::Generation;
use crate::Event;
use crate::epoch::{self, Grace};
use crate::events::Events;
use crate::shadow::ShadowDir;

enum Job<I: PluginInterface> {
    Retire(Arc<Generation<I>>, Grace, Instant),
    Stop,
}

pub(super) struct Reaper<I: PluginInterface> {
    tx: Sender<Job<I>>,
    /// Retired generations not yet unloaded or given up on (drain timeout).
    pending: Arc<(Mutex<usize>, Condvar)>,
    handle: Mutex<Option<JoinHandle<()>>>,
}

/// A retired generation that could not be unloaded yet: calls still inside it (`grace`
/// not yet passed), or threads its code started still running.
struct Lingering<I: PluginInterface> {
    generation: Arc<Generation<I>>,
    /// `None` once every call that entered it has returned.
    grace: Option<Grace>,
    since: Instant,
    calls: usize,
    /// Whether `ThreadsRunning` was reported.
    told_threads: bool,
}

impl<I: PluginInterface> Lingering<I> {
    /// Whether it can be unloaded now; reports running threads the first time it sees them
    /// (they matter only when the library is to be unmapped).
    fn ready(&mut self, events: &Events, keep_mapped: bool) -> bool {
        if let Some(grace) = &mut self.grace {
            if !grace.poll() {
                return false;
            }
            self.grace = None;
        }
        let threads = self.generation.threads_running();
        if threads == 0 || keep_mapped || self.generation.crashed.load(Ordering::Relaxed) {
            return true;
        }
        if !self.told_threads {
            self.told_threads = true;
            events.emit(Event::ThreadsRunning {
                generation: self.generation.id,
                threads,
            });
        }
        false
    }
}

impl<I: PluginInterface> Reaper<I> {
    pub(super) fn start(
        shadow: Arc<ShadowDir>,
        events: Events,
        drain_timeout: Duration,
        keep_mapped: bool,
    ) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        let pending = Arc::new((Mutex::new(0usize), Condvar::new()));
        let p = pending.clone();
        let handle = std::thread::Builder::new()
            .name(format!("hotdev-reaper-{}", I::DECL.name.as_str()))
            .spawn(move || {
                // Here, not at the first retirement: on the reload's path it costs a
                // kernel grace period (see `os::prepare_heavy_barrier`).
                crate::os::prepare_heavy_barrier();
                reap(rx, &shadow, &events, drain_timeout, keep_mapped, &p)
            })
            .expect("spawning the hotdev reaper thread");
        Reaper {
            tx,
            pending,
            handle: Mutex::new(Some(handle)),
        }
    }

    pub(super) fn retire(&self, generation: Arc<Generation<I>>) {
        self.reserve();
        self.retire_reserved(generation);
    }

    /// Counts a generation about to be retired as pending (see `wait_idle`); it must be
    /// handed over with `retire_reserved`.
    pub(super) fn reserve(&self) {
        *self
            .pending
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner) += 1;
    }

    pub(super) fn retire_reserved(&self, generation: Arc<Generation<I>>) {
        let grace = epoch::global().retire();
        let _ = self.tx.send(Job::Retire(generation, grace, Instant::now()));
    }

    /// Waits until every retired generation was unloaded or timed out draining.
    pub(super) fn wait_idle(&self, timeout: Duration) {
        let (lock, cv) = &*self.pending;
        let guard = lock.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = cv.wait_timeout_while(guard, timeout, |n| *n > 0);
    }

    pub(super) fn stop(&self) {
        let _ = self.tx.send(Job::Stop);
        if let Some(h) = self
            .handle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = h.join();
        }
    }
}

fn reap<I: PluginInterface>(
    rx: Receiver<Job<I>>,
    shadow: &ShadowDir,
    events: &Events,
    drain_timeout: Duration,
    keep_mapped: bool,
    pending: &(Mutex<usize>, Condvar),
) {
    let done = || {
        let mut n = pending.0.lock().unwrap_or_else(PoisonError::into_inner);
        *n -= 1;
        pending.1.notify_all();
    };
    let finish =
        |generation: Arc<Generation<I>>, since: Instant, calls: usize| match Arc::into_inner(
            generation,
        ) {
            Some(g) => {
                let id = g.id;
                let _span = tracing::info_span!("unload", generation = id).entered();
                events.emit(Event::Drained {
                    generation: id,
                    calls,
                    waited: since.elapsed(),
                });
                let keep_mapped = keep_mapped || g.crashed.load(Ordering::Relaxed);
                let pinned = g.retire(shadow, events, keep_mapped);
                events.emit(if keep_mapped {
                    Event::KeptMapped { generation: id }
                } else {
                    Event::Unloaded {
                        generation: id,
                        pinned,
                    }
                });
            }
            None => unreachable!("a retired generation is referenced only by the reaper"),
        };
    let mut lingering: Vec<Lingering<I>> = Vec::new();
    loop {
        let job = if lingering.is_empty() {
            rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            rx.recv_timeout(Duration::from_millis(50))
        };
        match job {
            Ok(Job::Retire(generation, mut grace, since)) => {
                let calls = grace.pending();
                let drained = drain(&mut grace, drain_timeout, &lingering);
                if !drained {
                    events.emit(Event::DrainTimeout {
                        generation: generation.id,
                        waited: since.elapsed(),
                        calls: grace.pending(),
                    });
                }
                let mut l = Lingering {
                    generation,
                    grace: (!drained).then_some(grace),
                    since,
                    calls,
                    told_threads: false,
                };
                if l.ready(events, keep_mapped) {
                    finish(l.generation, l.since, l.calls);
                } else {
                    lingering.push(l);
                }
                done();
            }
            Ok(Job::Stop) | Err(RecvTimeoutError::Disconnected) => {
                // Every retirement queued before the stop was handled above (the channel
                // is FIFO). One last bounded wait for calls that are stuck and threads that
                // still run, then give up on them: their libraries stay mapped (never
                // unmapped under running code) for the rest of the process's life.
                let deadline = Instant::now() + drain_timeout;
                loop {
                    for l in lingering.extract_if(.., |l| l.ready(events, keep_mapped)) {
                        finish(l.generation, l.since, l.calls);
                    }
                    if lingering.is_empty() || Instant::now() >= deadline {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                for l in lingering.drain(..) {
                    let (code, what) = if l.grace.is_some() {
                        (codes::DRAIN_TIMEOUT, "calls never returned")
                    } else {
                        (
                            codes::THREADS_RUNNING,
                            "threads started by the plugin still run",
                        )
                    };
                    tracing::error!(
                        code,
                        generation = l.generation.id,
                        "{what}; leaving the library loaded"
                    );
                    std::mem::forget(l.generation);
                }
                break;
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        for l in lingering.extract_if(.., |l| l.ready(events, keep_mapped)) {
            finish(l.generation, l.since, l.calls);
        }
    }
}

/// Waits up to `timeout` for `grace`, but stops early once every call it waits for is one
/// that already kept a lingering generation past the drain timeout: such a call is stuck,
/// and waiting for it again would only hold up the next reload.
fn drain<I: PluginInterface>(
    grace: &mut Grace,
    timeout: Duration,
    lingering: &[Lingering<I>],
) -> bool {
    let older: Vec<&Grace> = lingering.iter().filter_map(|l| l.grace.as_ref()).collect();
    let started = Instant::now();
    loop {
        let left = timeout.saturating_sub(started.elapsed());
        if grace.wait(left.min(Duration::from_millis(20))) {
            return true;
        }
        if left.is_zero() || (!older.is_empty() && grace.held_by(&older)) {
            return false;
        }
    }
}
