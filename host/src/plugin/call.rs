//! The call path: entering the epoch domain, loading the current generation, calling
//! through its table, and the rare work kept out of line (probation, a panic, a crash
//! under the crash guard, a rollback).

use std::fmt;
use std::mem::MaybeUninit;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use reloadable::{CallError, Caller, Interface, Report};

use super::{Generation, Inner, Plugin};
use crate::crash::{self, Fault};
use crate::{Event, epoch};

impl<I: Interface> Inner<I> {
    /// Counts a successful call of a generation on probation; after the configured
    /// number, ends the probation and returns the previous generation, for the caller to
    /// retire once it has left the epoch domain.
    #[cold]
    #[inline(never)]
    fn probation_call(&self, generation: &Generation<I>) -> Option<Arc<Generation<I>>> {
        let before =
            generation
                .probation_left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        if before != Ok(1) {
            return None;
        }
        // Never wait for the lock here: this thread is inside a call, and a reload holding
        // the lock may be waiting for it to leave. The reload retires `previous` itself.
        let mut slots = self.slots.try_lock().ok()?;
        if !slots.is_current(generation) {
            return None;
        }
        let previous = slots.previous.take()?;
        // Counted as pending now, under the lock, so that a reload that takes the lock
        // next waits for its unloading as for any retired generation (at most two mapped).
        self.reaper.reserve();
        Some(previous)
    }

    /// Turns a shim's report into a `CallError`, rolling back a generation that panics
    /// during its probation.
    #[cold]
    #[inline(never)]
    fn call_failed(&self, generation: &Generation<I>, report: *mut Report) -> CallError {
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
        CallError::Panicked {
            message,
            location,
            generation: generation.id,
            rolled_back_to,
        }
    }
}

impl<I: Interface> Inner<I> {
    /// Rolls back from `generation` to the generation before it, when `generation` serves
    /// on probation (a previous generation is kept): returns the generation serving again,
    /// whose number `reason` gets to explain the rollback. Never waits for the slots' lock:
    /// a reload holding it may be waiting for this thread to leave its call, and that
    /// reload swaps `generation` out anyway. The bad generation is retired like any other
    /// (drained, then unloaded, or kept mapped when a call crashed in it).
    fn roll_back(
        &self,
        generation: &Generation<I>,
        reason: impl FnOnce(u64) -> String,
    ) -> Option<u64> {
        let mut slots = self.slots.try_lock().ok()?;
        if !slots.is_current(generation) {
            return None;
        }
        let previous = slots.previous.take()?;
        generation.probation_left.store(0, Ordering::Relaxed);
        self.set_current(Arc::as_ptr(&previous));
        let to = previous.id;
        let bad = slots.current.replace(previous).expect("current");
        self.events().emit(Event::RolledBack {
            from: bad.id,
            to,
            reason: reason(to),
        });
        self.reaper.retire(bad);
        Some(to)
    }

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
unsafe impl<I: Interface> Caller<I> for Plugin<I> {
    // Always inlined, with the rare work out of line: this is the call path, and the
    // closure it takes must inline into it.
    #[inline(always)]
    fn invoke<R>(
        &self,
        call: impl FnOnce(&I::Table, *mut R) -> *mut Report,
    ) -> Result<R, CallError> {
        let guard = epoch::pin();
        let current = self.inner.current.load(Ordering::Acquire);
        if current.addr() & CATCH_TAG != 0 {
            // The guard stays here (moving it on one path only would cost the plain path
            // a drop flag): the guarded call runs as a pinned one would.
            return invoke_guarded(&self.inner, call, current);
        }
        // SAFETY: see the impl's comment: entered before this load, so the generation
        // stays alive until `guard` drops; it is not used after that. The tag is clear.
        let generation = unsafe { &*current };
        invoke_in(&self.inner, generation, call, Some(guard))
    }
}

impl<I: Interface> Inner<I> {
    /// After a successful call of a generation on probation: counts it, and when it ended
    /// the probation, retires the previous generation once this thread has left the epoch
    /// domain (`guard`, when the caller entered for this call alone): that call ran in the
    /// new generation, so the old one must not wait for (nor count) this thread as one of
    /// its calls. A pinned caller stays in the domain; the old generation then drains when
    /// the pin is dropped.
    #[cold]
    #[inline(never)]
    fn after_probation_call(&self, generation: &Generation<I>, guard: Option<epoch::Guard>) {
        if let Some(previous) = self.probation_call(generation) {
            drop(guard);
            self.reaper.retire_reserved(previous);
        }
    }
}

/// Makes one call in `generation`, entered with `guard` (`None`: the caller is pinned).
/// The rare work (probation, a panic) is out of line, so that the result travels as it
/// would from a plain call.
#[inline(always)]
fn invoke_in<I: Interface, R>(
    inner: &Inner<I>,
    generation: &Generation<I>,
    call: impl FnOnce(&I::Table, *mut R) -> *mut Report,
    guard: Option<epoch::Guard>,
) -> Result<R, CallError> {
    let mut out = MaybeUninit::<R>::uninit();
    let report = call(&generation.table, out.as_mut_ptr());
    finish_call(inner, generation, report, out, guard)
}

/// The end of a call: the result, or the error the report stands for.
#[inline(always)]
fn finish_call<I: Interface, R>(
    inner: &Inner<I>,
    generation: &Generation<I>,
    report: *mut Report,
    out: MaybeUninit<R>,
    guard: Option<epoch::Guard>,
) -> Result<R, CallError> {
    if report.is_null() {
        if generation.probation_left.load(Ordering::Relaxed) != 0 {
            inner.after_probation_call(generation, guard);
        }
        // SAFETY: a null report means the shim wrote the result (into this frame).
        Ok(unsafe { out.assume_init() })
    } else {
        Err(inner.call_failed(generation, report))
    }
}

/// The low bit of [`Inner::current`]: calls run under the crash guard
/// (`Options::catch_crashes`). Generations are aligned to more than one byte, so the bit
/// is free; carrying the flag in the pointer every call loads anyway costs the plain path
/// a test of a register, where a separate field cost it a load and most of a nanosecond.
const CATCH_TAG: usize = 1;

impl<I: Interface> Inner<I> {
    /// Points [`current`](Inner::current) at `generation`, tagged with [`CATCH_TAG`] when
    /// calls run under the crash guard.
    pub(super) fn set_current(&self, generation: *const Generation<I>) {
        let tagged = generation
            .cast_mut()
            .map_addr(|addr| addr | if self.catch_crashes { CATCH_TAG } else { 0 });
        self.current.store(tagged, Ordering::Release);
    }

    /// The serving generation, without its tag. Only a thread inside the epoch domain may
    /// follow it (see `Plugin::invoke`).
    pub(super) fn current_generation(&self) -> *const Generation<I> {
        untag(self.current.load(Ordering::Acquire))
    }
}

/// `current` without [`CATCH_TAG`].
fn untag<I: Interface>(current: *mut Generation<I>) -> *const Generation<I> {
    current.map_addr(|addr| addr & !CATCH_TAG).cast_const()
}

/// A whole call with crash catching on (`Options::catch_crashes`), out of line: the plain
/// path pays one test of the pointer it loaded and stays as it was after it. Calls under
/// the guard in the generation `current` (tagged) points at, for a caller inside the epoch
/// domain until it returns (as a pinned caller is), and turns a crash into its error after
/// handling it (`Inner::call_crashed`).
#[cold]
#[inline(never)]
fn invoke_guarded<I: Interface, R>(
    inner: &Inner<I>,
    call: impl FnOnce(&I::Table, *mut R) -> *mut Report,
    current: *mut Generation<I>,
) -> Result<R, CallError> {
    // SAFETY: the caller entered the epoch domain before loading `current` (or holds a
    // pin taken before), so the generation stays alive for this call.
    let generation = unsafe { &*untag(current) };
    let mut out = MaybeUninit::<R>::uninit();
    let out_ptr = out.as_mut_ptr();
    let mut report = std::ptr::null_mut();
    let mut call = Some(call);
    let mut run = || {
        if let Some(call) = call.take() {
            report = call(&generation.table, out_ptr);
        }
    };
    match crash::guarded(&mut run) {
        Ok(()) => finish_call(inner, generation, report, out, None),
        Err(fault) => Err(inner.call_crashed(generation, fault)),
    }
}

impl<I: Interface> Plugin<I> {
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
pub struct Pinned<'a, I: Interface> {
    plugin: &'a Plugin<I>,
    /// The pinned generation, tagged as [`Inner::current`] is.
    current: *mut Generation<I>,
    _guard: epoch::Guard,
}

impl<I: Interface> Pinned<'_, I> {
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

impl<I: Interface> fmt::Debug for Pinned<'_, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pinned")
            .field("generation", &self.pinned().id)
            .finish()
    }
}

// SAFETY: the pinned generation was loaded after entering the epoch domain, and the guard
// keeps this thread announced until the `Pinned` is dropped, so it stays loaded.
unsafe impl<I: Interface> Caller<I> for Pinned<'_, I> {
    #[inline(always)]
    fn invoke<R>(
        &self,
        call: impl FnOnce(&I::Table, *mut R) -> *mut Report,
    ) -> Result<R, CallError> {
        let inner = &self.plugin.inner;
        if self.current.addr() & CATCH_TAG != 0 {
            return invoke_guarded(inner, call, self.current);
        }
        // SAFETY: as in `pinned`; the tag is clear.
        invoke_in(inner, unsafe { &*self.current }, call, None)
    }
}
