//! The call path: entering the epoch domain, loading the current generation, calling
//! through its table, and the rare work kept out of line (probation, a panic, a crash
//! under the crash guard, a rollback).

use std::fmt;
use std::mem::MaybeUninit;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use reloadable::{CallError, Invoke, PluginInterface, Report};

use super::swap::{CATCH_TAG, PROBATION_TAG, SLOW_PATH, untag};
use super::{Generation, Inner, Plugin};
use crate::crash::{self, Fault};
use crate::{Event, epoch};

impl<I: PluginInterface> Inner<I> {
    /// Counts a successful call of a generation on probation; after the configured
    /// number, ends the probation: clears [`PROBATION_TAG`] from [`Inner::current`] (later
    /// calls take the plain path) and returns the previous generation, for the caller to
    /// retire once it has left the epoch domain. A call that finds the count already at
    /// zero but the tag still set (the thread that ended the probation found the lock
    /// taken) tries again to clear it.
    #[cold]
    #[inline(never)]
    fn probation_call(&self, generation: &Generation<I>) -> Option<Arc<Generation<I>>> {
        let before =
            generation
                .probation_left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        match before {
            Ok(1) => {}
            Ok(_) => return None,
            Err(_) => {
                // Already over: only a tag left behind is cleared (cheaply told apart, so
                // that pinned calls holding the old tag do not take the lock every time).
                let now = self.current.load(Ordering::Relaxed);
                if now.addr() & PROBATION_TAG == 0 || !std::ptr::eq(untag(now), generation) {
                    return None;
                }
            }
        }
        // Never wait for the lock here: this thread is inside a call, and a reload holding
        // the lock may be waiting for it to leave. The reload retires `previous` itself,
        // and swaps `generation` out, tag and all.
        let mut slots = self.slots.try_lock().ok()?;
        if !slots.is_current(generation) {
            return None;
        }
        self.set_current(generation);
        let previous = slots.previous.take()?;
        // Counted as pending now, under the lock, so that a reload that takes the lock
        // next waits for its unloading as for any retired generation (at most three
        // mapped during a reload: see `Plugin::reload`).
        self.reaper.reserve();
        Some(previous)
    }

    /// Turns a shim's report into a `CallError`, rolling back a generation that panics
    /// during its probation. Boxed, to come back in a register (see `invoke_slow`).
    #[cold]
    #[inline(never)]
    fn call_failed(&self, generation: &Generation<I>, report: *mut Report) -> Box<CallError> {
        // SAFETY: the shim returned this report; it is taken once.
        let report = unsafe { Report::take(report) }.expect("a non-null report");
        let location = report.location();
        let message = report.message.to_string();
        let events = self.events();
        events.emit(Event::Panicked {
            generation: generation.id,
            message: message.clone(),
            location: location.clone(),
        });
        let rolled_back_to = if generation.probation_left.load(Ordering::Relaxed) != 0 {
            self.roll_back(generation, |_| {
                format!(
                    "generation {} panicked in its first calls: {report}",
                    generation.id
                )
            })
        } else {
            None
        };
        Box::new(CallError::Panicked {
            message,
            location,
            generation: generation.id,
            rolled_back_to,
        })
    }
}

impl<I: PluginInterface> Inner<I> {
    /// A call into `generation` crashed: marks it crashed (never unloaded) and, when it
    /// serves on probation, rolls back to the previous generation.
    #[cold]
    #[inline(never)]
    fn call_crashed(&self, generation: &Generation<I>, fault: Fault) -> CallError {
        generation.crashed.store(true, Ordering::Relaxed);
        let events = self.events();
        events.emit(Event::Crashed {
            generation: generation.id,
            signal: fault.signal,
            address: fault.address,
            stack_overflow: fault.stack_overflow,
        });
        let crashed = |rolled_back_to| CallError::Crashed {
            signal: fault.signal,
            address: fault.address,
            stack_overflow: fault.stack_overflow,
            generation: generation.id,
            rolled_back_to,
        };
        let rolled_back_to = self.roll_back(generation, |to| crashed(Some(to)).to_string());
        crashed(rolled_back_to)
    }
}

// SAFETY:
// - the table passed to `call` belongs to the generation `current` pointed at after this
//   thread entered the epoch domain, and a generation is unloaded only after a grace
//   period that waits for every thread that entered before it was retired (`epoch`);
// - `Ok` is returned only for a null report, when the shim wrote the result.
unsafe impl<I: PluginInterface> Invoke<I> for Plugin<I> {
    // Always inlined, with all the rare work out of line: this is the call path, and the
    // closure it takes must inline into it. What it executes is in BENCHMARKS.md (1.).
    #[inline(always)]
    fn invoke<R>(
        &self,
        call: impl FnOnce(&I::Table, *mut R) -> *mut Report,
    ) -> Result<R, CallError> {
        let guard = epoch::pin();
        let current = self.inner.current.load(Ordering::Acquire);
        if current.addr() & SLOW_PATH != 0 {
            return invoke_slow(&self.inner, call, current, Some(guard)).map_err(|e| *e);
        }
        // SAFETY: see the impl's comment: entered before this load, so the generation
        // stays alive until `guard` drops; it is not used after that. No tag is set.
        let generation = unsafe { &*current };
        invoke_plain(&self.inner, generation, call)
    }
}

/// Makes one plain call in `generation`: no crash guard, no probation. Nothing but the
/// call and the test of its report; a panic is handled out of line.
#[inline(always)]
fn invoke_plain<I: PluginInterface, R>(
    inner: &Inner<I>,
    generation: &Generation<I>,
    call: impl FnOnce(&I::Table, *mut R) -> *mut Report,
) -> Result<R, CallError> {
    let mut out = MaybeUninit::<R>::uninit();
    let report = call(&generation.table, out.as_mut_ptr());
    if report.is_null() {
        // SAFETY: a null report means the shim wrote the result (into this frame).
        Ok(unsafe { out.assume_init() })
    } else {
        Err(*inner.call_failed(generation, report))
    }
}

impl<I: PluginInterface> Inner<I> {
    /// After a successful call of a generation on probation: counts it, and when it ended
    /// the probation, retires the previous generation once this thread has left the epoch
    /// domain (`guard`, when the caller entered for this call alone): that call ran in the
    /// new generation, so the old one must not wait for (nor count) this thread as one of
    /// its calls. A pinned caller stays in the domain; the old generation then drains when
    /// the pin is dropped.
    fn after_probation_call(&self, generation: &Generation<I>, guard: Option<epoch::Guard>) {
        if let Some(previous) = self.probation_call(generation) {
            drop(guard);
            self.reaper.retire_reserved(previous);
        }
    }
}

/// A whole call on the slow path, out of line: under the crash guard when `current` has
/// [`CATCH_TAG`] (a crash is handled by `Inner::call_crashed`), and counted towards the
/// probation when it has [`PROBATION_TAG`]. For a caller inside the epoch domain until it
/// returns: `guard` when it entered for this call, `None` when it is pinned.
///
/// The error is boxed so that the result comes back in registers: a result returned
/// through memory made the plain path's `Result`, merged with this one, live in memory
/// too (two stores and two loads per plain call).
#[cold]
#[inline(never)]
fn invoke_slow<I: PluginInterface, R>(
    inner: &Inner<I>,
    call: impl FnOnce(&I::Table, *mut R) -> *mut Report,
    current: *mut Generation<I>,
    guard: Option<epoch::Guard>,
) -> Result<R, Box<CallError>> {
    // SAFETY: the caller entered the epoch domain before loading `current` (or holds a
    // pin taken before), and stays in it until this returns (`guard` is dropped early
    // only after the last use of `generation`), so the generation stays alive.
    let generation = unsafe { &*untag(current) };
    let mut out = MaybeUninit::<R>::uninit();
    let out_ptr = out.as_mut_ptr();
    let report = if current.addr() & CATCH_TAG != 0 {
        let table = &generation.table;
        match crash::guarded(move || call(table, out_ptr)) {
            Ok(report) => report,
            Err(fault) => return Err(Box::new(inner.call_crashed(generation, fault))),
        }
    } else {
        call(&generation.table, out_ptr)
    };
    if !report.is_null() {
        return Err(inner.call_failed(generation, report));
    }
    if current.addr() & PROBATION_TAG != 0 {
        inner.after_probation_call(generation, guard);
    }
    // SAFETY: a null report means the shim wrote the result (into this frame).
    Ok(unsafe { out.assume_init() })
}

impl<I: PluginInterface> Plugin<I> {
    /// Pins the serving generation for a batch of calls: calls through the returned handle
    /// skip the per-call announcement and all run in that generation, even if a reload
    /// happens meanwhile (the generation then stays loaded until the pin is dropped).
    pub fn pin(&self) -> Pinned<'_, I> {
        let guard = epoch::pin();
        let current = self.inner.current.load(Ordering::Acquire);
        Pinned {
            plugin: self,
            current,
            _guard: guard,
        }
    }
}

/// One generation pinned for a batch of calls (see [`Plugin::pin`]). Not `Send`: it must
/// be dropped on the thread that pinned.
pub struct Pinned<'a, I: PluginInterface> {
    plugin: &'a Plugin<I>,
    /// The pinned generation, tagged as [`Inner::current`] is.
    current: *mut Generation<I>,
    _guard: epoch::Guard,
}

impl<I: PluginInterface> Pinned<'_, I> {
    /// The pinned generation.
    fn pinned(&self) -> &Generation<I> {
        // SAFETY: loaded after entering the epoch domain; the guard keeps this thread
        // announced while the `Pinned` lives, so the generation stays loaded.
        unsafe { &*untag(self.current) }
    }

    /// The pinned generation's number.
    pub fn generation(&self) -> u64 {
        self.pinned().id
    }
}

impl<I: PluginInterface> fmt::Debug for Pinned<'_, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pinned")
            .field("generation", &self.pinned().id)
            .finish()
    }
}

// SAFETY: the pinned generation was loaded after entering the epoch domain, and the guard
// keeps this thread announced until the `Pinned` is dropped, so it stays loaded.
unsafe impl<I: PluginInterface> Invoke<I> for Pinned<'_, I> {
    #[inline(always)]
    fn invoke<R>(
        &self,
        call: impl FnOnce(&I::Table, *mut R) -> *mut Report,
    ) -> Result<R, CallError> {
        let inner = &self.plugin.inner;
        if self.current.addr() & SLOW_PATH != 0 {
            return invoke_slow(inner, call, self.current, None).map_err(|e| *e);
        }
        // SAFETY: as in `pinned`; no tag is set.
        invoke_plain(inner, unsafe { &*self.current }, call)
    }
}
