//! Events: what the host did, as plain data for listeners.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::{Sender, TrySendError};
use reloadable::codes;

/// One step of a plugin's life, sent to [`Options::events`](crate::Options::events).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A library was copied, validated and its load hook succeeded: generation
    /// `generation` is ready (and about to be swapped in, unless it is the first).
    Loaded {
        /// The new generation's number (1 for the first load).
        generation: u64,
        /// The plugin's package name.
        plugin: String,
        /// The plugin's build id.
        build_id: String,
        /// The artifact it was loaded from.
        path: PathBuf,
        /// Copy, validation and load hook together.
        load: Duration,
    },
    /// A library was refused; the current generation keeps serving.
    Rejected {
        /// The error code (`HD0xx`).
        code: &'static str,
        /// The error message.
        message: String,
        /// The artifact.
        path: PathBuf,
    },
    /// The function table now points at generation `to`.
    Swapped {
        /// The generation replaced.
        from: u64,
        /// The generation now serving.
        to: u64,
        /// How long callers could have seen the swap happen (the pointer store).
        swap: Duration,
    },
    /// The plugin's state was migrated through its save/restore hooks.
    StateMigrated {
        /// The generation that saved it.
        from: u64,
        /// The generation that restored it.
        to: u64,
        /// The saved size in bytes.
        bytes: usize,
    },
    /// The plugin's state changed layout and could not be migrated, so it was dropped and
    /// the new generation started from the state's `Default` ([`StatePolicy::Reset`]).
    ///
    /// [`StatePolicy::Reset`]: crate::StatePolicy::Reset
    StateReset {
        /// The generation whose state was dropped.
        from: u64,
        /// The generation that starts afresh.
        to: u64,
        /// What changed in the layout, old layout first.
        diff: Vec<String>,
        /// Why it could not be migrated (no hooks, or the hook's error).
        reason: String,
    },
    /// Every call that entered a retired generation has returned.
    Drained {
        /// The retired generation.
        generation: u64,
        /// How many threads were inside a call when it was retired (each was waited for).
        /// Some of those calls may have run in the new generation: the host waits for
        /// every call that entered before the retirement, in whichever generation.
        calls: usize,
        /// How long that took.
        waited: Duration,
    },
    /// Calls into a retired generation did not return within the drain timeout; it stays
    /// loaded and is checked again until they do (code `HD040`). Reported at once (with a
    /// short `waited`) when the only calls it waits for already kept an older generation
    /// past the drain timeout: those are stuck, and are not waited for again.
    DrainTimeout {
        /// The retired generation.
        generation: u64,
        /// How long the host has waited so far.
        waited: Duration,
        /// How many threads were still inside a call that entered before the generation
        /// was retired. Such a call may run in this generation or an older one (it holds
        /// both): the host does not track which, a caller that needs to know does (as
        /// `hotdev serve` does).
        calls: usize,
    },
    /// A retired generation's library was closed and its shadow copy removed.
    Unloaded {
        /// The generation.
        generation: u64,
        /// Set when the library is still mapped after closing (code `HD041`), with why.
        pinned: Option<String>,
    },
    /// A generation panicked or crashed during its probation and the previous one serves
    /// again.
    RolledBack {
        /// The generation that failed.
        from: u64,
        /// The generation restored.
        to: u64,
        /// Why (the panic message and location, or the crash).
        reason: String,
    },
    /// A plugin function panicked (the call returned an error; the host goes on).
    Panicked {
        /// The generation.
        generation: u64,
        /// The panic message.
        message: String,
        /// The plugin's `file:line:column`, when known.
        location: Option<String>,
    },
    /// A plugin call raised a fault and crash catching ended it (code `HD055`; only with
    /// [`Options::catch_crashes`](crate::Options::catch_crashes)). The generation is
    /// marked crashed: it is never unloaded, and its unload hook does not run. When it was
    /// on probation, [`Event::RolledBack`] follows.
    Crashed {
        /// The generation.
        generation: u64,
        /// The signal number.
        signal: i32,
        /// The faulting address.
        address: usize,
        /// The fault hit the bottom of the thread's stack.
        stack_overflow: bool,
    },
    /// A retired generation has drained and its unload hook ran; its library stays mapped
    /// for the rest of the process, because values it made may still be in use (see
    /// [`Retire`](crate::Retire)), or because a call crashed in it ([`Event::Crashed`]:
    /// then its unload hook did not run). Its shadow copy's name is removed.
    KeptMapped {
        /// The retired generation.
        generation: u64,
    },
    /// A retired generation has drained, but threads its code started are still running:
    /// its library stays loaded, and is unloaded once they have ended (code `HD042`).
    ThreadsRunning {
        /// The retired generation.
        generation: u64,
        /// How many of its threads are running.
        threads: usize,
    },
    /// Events were dropped because the listener's channel was full (code `HD043`): sending
    /// an event never blocks a reload or a call.
    EventsDropped {
        /// How many were dropped since the last report.
        count: u64,
    },
    /// The plugin's unload hook panicked (the library was unloaded all the same).
    UnloadHookPanicked {
        /// The generation.
        generation: u64,
        /// The panic message and location.
        message: String,
    },
}

/// Where events go: the user's channel and `tracing`. Sending never blocks: a full channel
/// drops the event and counts it.
#[derive(Clone, Default)]
pub(crate) struct Events {
    tx: Option<Sender<Event>>,
    dropped: Arc<Dropped>,
}

#[derive(Default)]
struct Dropped {
    total: AtomicU64,
    /// Dropped since the last `EventsDropped` was delivered.
    unreported: AtomicU64,
}

impl Events {
    pub(crate) fn new(tx: Option<Sender<Event>>) -> Self {
        Events {
            tx,
            dropped: Arc::default(),
        }
    }

    /// How many events were dropped because the channel was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.total.load(Ordering::Relaxed)
    }

    pub(crate) fn emit(&self, event: Event) {
        trace(&event);
        let Some(tx) = &self.tx else {
            return;
        };
        let unreported = self.dropped.unreported.swap(0, Ordering::Relaxed);
        if unreported > 0
            && let Err(TrySendError::Full(_)) =
                tx.try_send(Event::EventsDropped { count: unreported })
        {
            self.dropped
                .unreported
                .fetch_add(unreported, Ordering::Relaxed);
        }
        if let Err(TrySendError::Full(_)) = tx.try_send(event) {
            let total = self.dropped.total.fetch_add(1, Ordering::Relaxed) + 1;
            self.dropped.unreported.fetch_add(1, Ordering::Relaxed);
            if total.is_power_of_two() {
                tracing::warn!(
                    code = codes::EVENTS_DROPPED,
                    dropped = total,
                    "the event channel is full; events are dropped, reloads and calls go on"
                );
            }
        }
    }
}

impl Event {
    /// The code of an event that reports something going wrong (`HD040`–`HD055`, or a
    /// refusal's own), `None` for the ordinary steps of a reload.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            Event::Rejected { code, .. } => Some(code),
            Event::DrainTimeout { .. } => Some(codes::DRAIN_TIMEOUT),
            Event::Unloaded {
                pinned: Some(_), ..
            } => Some(codes::STILL_MAPPED),
            Event::ThreadsRunning { .. } => Some(codes::THREADS_RUNNING),
            Event::EventsDropped { .. } => Some(codes::EVENTS_DROPPED),
            Event::Panicked { .. } => Some(codes::PANICKED),
            Event::RolledBack { .. } => Some(codes::ROLLED_BACK),
            Event::Crashed { .. } => Some(codes::CRASHED),
            _ => None,
        }
    }
}

/// One line for people, starting with the code when the event has one. Every reporter
/// (the terminals of `hotdev serve` and of `HotPlugin`, `tracing`) prints events this way.
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let (Some(code), false) = (self.code(), matches!(self, Event::Rejected { .. })) {
            write!(f, "[{code}] ")?;
        }
        match self {
            Event::Loaded {
                generation,
                path,
                load,
                ..
            } => write!(
                f,
                "generation {generation} loaded from {} in {} ms",
                path.display(),
                load.as_millis()
            ),
            Event::Rejected { message, .. } => f.write_str(message),
            Event::Swapped { from, to, swap } => write!(
                f,
                "generation {to} serves in place of {from} (swap {:.1} µs)",
                swap.as_secs_f64() * 1e6
            ),
            Event::StateMigrated { to, bytes, .. } => write!(
                f,
                "the plugin's state was migrated to generation {to} ({bytes} bytes)"
            ),
            Event::StateReset {
                to, diff, reason, ..
            } => write!(
                f,
                "the plugin's state was reset: {} ({reason}); generation {to} starts from Default",
                diff.join("; ")
            ),
            Event::Drained {
                generation,
                calls,
                waited,
            } => write!(
                f,
                "generation {generation} drained after {} ms: the {calls} call(s) that entered \
                 before it was retired returned",
                waited.as_millis()
            ),
            Event::DrainTimeout {
                generation,
                waited,
                calls,
            } => write!(
                f,
                "generation {generation} is not drained after {} ms: {calls} call(s) that \
                 entered before it was retired (in it or an older generation) are still \
                 running; its library stays loaded until they return",
                waited.as_millis()
            ),
            Event::Unloaded {
                generation,
                pinned: None,
            } => write!(f, "generation {generation} unloaded"),
            Event::Unloaded {
                generation,
                pinned: Some(why),
            } => write!(
                f,
                "generation {generation} stays mapped after unloading: {why}"
            ),
            Event::RolledBack { from, to, reason } => {
                write!(f, "rolled back from generation {from} to {to}: {reason}")
            }
            Event::Panicked {
                generation,
                message,
                location,
            } => {
                write!(f, "generation {generation} panicked")?;
                if let Some(at) = location {
                    write!(f, " at {at}")?;
                }
                write!(f, ": {message}")
            }
            Event::Crashed {
                generation,
                signal,
                address,
                stack_overflow,
            } => {
                let what = if *stack_overflow {
                    "stack overflow".to_string()
                } else {
                    reloadable::signal_name(*signal)
                };
                write!(
                    f,
                    "generation {generation} crashed ({what} at {address:#x}); the host goes on"
                )
            }
            Event::KeptMapped { generation } => write!(
                f,
                "generation {generation} drained and stays mapped (values it made may still \
                 be in use)"
            ),
            Event::ThreadsRunning {
                generation,
                threads,
            } => write!(
                f,
                "generation {generation} started {threads} thread(s) that still run; its \
                 library stays loaded until they end"
            ),
            Event::EventsDropped { count } => write!(
                f,
                "{count} event(s) were dropped: the event channel was full (reloads and calls \
                 went on)"
            ),
            Event::UnloadHookPanicked {
                generation,
                message,
            } => write!(
                f,
                "generation {generation}'s unload hook panicked: {message}"
            ),
        }
    }
}

/// Mirrors an event in `tracing`: those with a code as warnings, the rest as debug lines.
fn trace(event: &Event) {
    match event.code() {
        Some(code) => tracing::warn!(code, "{event}"),
        None => tracing::debug!("{event}"),
    }
}

#[cfg(test)]
mod display_tests {
    use super::*;

    #[test]
    fn problems_start_with_their_code_and_steps_do_not() {
        let timeout = Event::DrainTimeout {
            generation: 3,
            waited: Duration::from_millis(5000),
            calls: 2,
        };
        assert_eq!(timeout.code(), Some("HD040"));
        assert!(
            timeout
                .to_string()
                .starts_with("[HD040] generation 3 is not drained after 5000 ms: 2 call(s)"),
            "{timeout}"
        );
        let rejected = Event::Rejected {
            code: "HD013",
            message: "[HD013] x was built against a different ABI: y".into(),
            path: PathBuf::from("x"),
        };
        assert_eq!(
            rejected.to_string(),
            "[HD013] x was built against a different ABI: y"
        );
        let swapped = Event::Swapped {
            from: 1,
            to: 2,
            swap: Duration::from_nanos(1500),
        };
        assert_eq!(swapped.code(), None);
        assert_eq!(
            swapped.to_string(),
            "generation 2 serves in place of 1 (swap 1.5 µs)"
        );
        let crashed = Event::Crashed {
            generation: 4,
            signal: 11,
            address: 0,
            stack_overflow: true,
        };
        assert!(
            crashed
                .to_string()
                .starts_with("[HD055] generation 4 crashed (stack overflow at 0x0)"),
            "{crashed}"
        );
    }
}
