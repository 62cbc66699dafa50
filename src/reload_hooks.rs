//! What a host can ask of the dev loop around a swap: hold reloads off for a while, be
//! called before and after each swap, and wait for the next one.
//!
//! The dev loop's thread and the host's threads meet here. The protocol: the loop, with
//! a library ready, runs the *before* callbacks, then waits until no [`ReloadHold`] is
//! held and marks a swap as under way (new holds wait for it to end); then it reloads,
//! ends the swap, wakes whoever waits for a reload, and runs the *after* callbacks. Holds
//! nest (a counter, not a lock), so a thread that already holds one may take another.

use std::fmt;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

type Before = Box<dyn Fn() + Send + Sync>;
type After = Box<dyn Fn(u64) + Send + Sync>;

#[derive(Default)]
struct Gate {
    holds: usize,
    swapping: bool,
    /// Successful reloads so far, and the generation of the latest.
    reloads: u64,
    generation: u64,
    /// Swaps attempted so far (successful or refused), and the outcome of the latest.
    attempts: u64,
    last: Option<u64>,
}

/// Shared by a `HotPlugin` and its dev loop thread.
#[derive(Default)]
pub(crate) struct ReloadHooks {
    gate: Mutex<Gate>,
    changed: Condvar,
    before: Mutex<Vec<Before>>,
    after: Mutex<Vec<After>>,
}

impl fmt::Debug for ReloadHooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadHooks").finish_non_exhaustive()
    }
}

impl ReloadHooks {
    fn gate(&self) -> std::sync::MutexGuard<'_, Gate> {
        self.gate.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn hold(self: &Arc<Self>) -> ReloadHold {
        let mut gate = self.gate();
        while gate.swapping {
            gate = self
                .changed
                .wait(gate)
                .unwrap_or_else(PoisonError::into_inner);
        }
        gate.holds += 1;
        ReloadHold {
            hooks: self.clone(),
        }
    }

    pub(crate) fn on_before(&self, f: Before) {
        self.before
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(f);
    }

    pub(crate) fn on_after(&self, f: After) {
        self.after
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(f);
    }

    /// Runs the before-swap callbacks, then waits for every hold to be released and marks
    /// a swap as under way. Returns false (nothing marked) if `stop` fires meanwhile.
    /// Returns how long it waited for holds.
    pub(crate) fn begin_swap(&self, stop: &Receiver<()>) -> Option<Duration> {
        for f in self
            .before
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            f();
        }
        let started = Instant::now();
        let mut gate = self.gate();
        while gate.holds > 0 {
            if !stop.is_empty() {
                return None;
            }
            gate = self
                .changed
                .wait_timeout(gate, Duration::from_millis(50))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        gate.swapping = true;
        Some(started.elapsed())
    }

    /// Ends the swap begun by `begin_swap`; with `Some(generation)` when it succeeded,
    /// which wakes `wait_for_reload` and runs the after-swap callbacks.
    pub(crate) fn end_swap(&self, reloaded: Option<u64>) {
        {
            let mut gate = self.gate();
            gate.swapping = false;
            gate.attempts += 1;
            gate.last = reloaded;
            if let Some(g) = reloaded {
                gate.reloads += 1;
                gate.generation = g;
            }
            self.changed.notify_all();
        }
        if let Some(g) = reloaded {
            for f in self
                .after
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
            {
                f(g);
            }
        }
    }

    /// How many reloads succeeded so far.
    pub(crate) fn reloads(&self) -> u64 {
        self.gate().reloads
    }

    /// Waits until more than `seen` reloads have succeeded, up to `timeout` (`None`:
    /// forever). Returns the latest one's generation.
    pub(crate) fn wait_for_reload(&self, seen: u64, timeout: Option<Duration>) -> Option<u64> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut gate = self.gate();
        while gate.reloads <= seen {
            gate = match deadline {
                None => self
                    .changed
                    .wait(gate)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(d) => {
                    let left = d.checked_duration_since(Instant::now())?;
                    self.changed
                        .wait_timeout(gate, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
        Some(gate.generation)
    }
}

/// Holds reloads off while it lives: a library that is ready waits until every hold is
/// dropped before it is swapped in (see `HotPlugin::hold_reloads`). Holds may nest, and
/// may be sent to another thread (from a `before_swap` callback to the host's main loop).
#[must_use = "reloads are held only while the guard lives"]
pub struct ReloadHold {
    hooks: Arc<ReloadHooks>,
}

impl ReloadHold {
    /// Releases this hold and waits for the end of the next swap attempt: `Some` with the
    /// new generation once it is live, `None` if the library was refused (the current
    /// generation keeps serving). For a hold taken in a `before_swap` callback, that is
    /// the swap it held back; there is no window in which that swap could be missed.
    /// Other holds still held keep it waiting.
    pub fn release_and_wait(self) -> Option<u64> {
        let hooks = self.hooks.clone();
        let seen = hooks.gate().attempts;
        drop(self);
        let mut gate = hooks.gate();
        while gate.attempts <= seen {
            gate = hooks
                .changed
                .wait(gate)
                .unwrap_or_else(PoisonError::into_inner);
        }
        gate.last
    }
}

impl fmt::Debug for ReloadHold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadHold").finish_non_exhaustive()
    }
}

impl Drop for ReloadHold {
    fn drop(&mut self) {
        let mut gate = self.hooks.gate();
        gate.holds -= 1;
        if gate.holds == 0 {
            self.hooks.changed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A swap waits for a hold taken before it, and a hold taken during a swap waits for
    /// the swap to end; `wait_for_reload` returns the generation of the swap.
    #[test]
    fn a_swap_waits_for_holds_and_wakes_waiters() {
        let hooks = Arc::new(ReloadHooks::default());
        let (_stop_tx, stop) = crossbeam_channel::bounded::<()>(1);
        let (order_tx, order) = crossbeam_channel::unbounded();
        let hold = hooks.hold();
        let nested = hooks.hold();
        let h = hooks.clone();
        let o = order_tx.clone();
        let swapper = std::thread::spawn(move || {
            h.begin_swap(&stop).expect("not stopped");
            o.send("swap").unwrap();
            h.end_swap(Some(2));
        });
        let h = hooks.clone();
        let seen = hooks.reloads();
        let waiter = std::thread::spawn(move || h.wait_for_reload(seen, None));
        drop(nested);
        order_tx.send("released").unwrap();
        drop(hold);
        swapper.join().unwrap();
        assert_eq!(order.try_iter().collect::<Vec<_>>(), ["released", "swap"]);
        assert_eq!(waiter.join().unwrap(), Some(2));
    }

    /// A failed reload wakes no waiter, and the after-swap callbacks see only successful
    /// ones; a stop while holds are held gives up the swap.
    #[test]
    fn failures_and_stops() {
        let hooks = Arc::new(ReloadHooks::default());
        let (stop_tx, stop) = crossbeam_channel::bounded::<()>(1);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        hooks.on_after(Box::new(move |g| s.lock().unwrap().push(g)));
        hooks.begin_swap(&stop).unwrap();
        hooks.end_swap(None);
        assert_eq!(
            hooks.wait_for_reload(0, Some(Duration::from_millis(1))),
            None
        );
        hooks.begin_swap(&stop).unwrap();
        hooks.end_swap(Some(3));
        assert_eq!(*seen.lock().unwrap(), [3]);
        let _hold = hooks.hold();
        stop_tx.send(()).unwrap();
        assert_eq!(hooks.begin_swap(&stop), None);
    }
}

#[cfg(test)]
mod release_tests {
    use super::*;

    /// A hold taken before the swap's check and released with `release_and_wait` sees the
    /// outcome of the swap it held back, however the threads are scheduled.
    #[test]
    fn release_and_wait_sees_the_swap_it_held() {
        let hooks = Arc::new(ReloadHooks::default());
        let (_stop_tx, stop) = crossbeam_channel::bounded::<()>(1);
        {
            let outcome = Some(2);
            let hold = hooks.hold();
            let h = hooks.clone();
            let swapper = std::thread::spawn(move || {
                h.begin_swap(&stop).expect("not stopped");
                h.end_swap(outcome);
                stop
            });
            assert_eq!(hold.release_and_wait(), outcome);
            let stop = swapper.join().unwrap();
            let hold = hooks.hold();
            let h = hooks.clone();
            let swapper = std::thread::spawn(move || {
                h.begin_swap(&stop).expect("not stopped");
                h.end_swap(None);
            });
            assert_eq!(hold.release_and_wait(), None, "a refused library");
            swapper.join().unwrap();
        }
    }
}
