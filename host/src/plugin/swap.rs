//! The swap: one atomic store of the tagged generation pointer that every call reads.
//!
//! [`Plugin::reload`] loads a new generation, carries the state over, and points
//! [`Inner::current`] at it with one release store ([`Inner::set_current`]): a call sees
//! the old generation or the new one, never a mix. The old generation is then kept for a
//! rollback while the new one is on probation, or retired to the reaper, which waits for
//! the calls still inside it (the epoch protocol, `epoch.rs`) before unloading it. A
//! rollback ([`Inner::roll_back`]) is the same store in the other direction.
//!
//! The pointer's low bits tell a call to take the slow path (crash guard, probation); they
//! are set here and read by the call path (`call.rs`).

use std::path::Path;
use std::sync::Arc;
use std::sync::PoisonError;
use std::sync::atomic::Ordering;
use std::time::Instant;

use reloadable::PluginInterface;

use super::state::state_transition;
use super::{Generation, Inner, Plugin, Reloaded};
use crate::{Event, LoadError, pipeline};

impl<I: PluginInterface> Plugin<I> {
    /// Loads a new generation from `path` and swaps it in. On error the current generation
    /// keeps serving and nothing of the refused library stays loaded.
    ///
    /// Callers are never blocked by the swap. The previous generation stays loaded until
    /// the new one has completed its probation
    /// ([`Options::probation_calls`](super::Options::probation_calls)), then is drained
    /// (every call that entered it returns) and unloaded in the background. Between
    /// reloads at most two generations are mapped (the one serving, and the one kept for
    /// a rollback while it is on probation); during a reload, the one loading makes
    /// three. The generation kept for a rollback is retired once the new one serves, not
    /// before it loads, so that a reload never waits for an unload: a reload waits only
    /// when an unload that an earlier reload started is still under way (so that no
    /// more pile up). Calls that outlive the drain timeout and threads the plugin
    /// started keep their library loaded past these bounds (`HD042`).
    ///
    /// # What is checked about the file
    ///
    /// `path` must be a regular file (a FIFO or a device is refused before it is read,
    /// `HD008`). Of it, the parts the checks need are read (never past the size it had when
    /// opened), and what the loader opens is the file they read: the shadow link is made
    /// only if the file's identity (device, inode, size, modification and change times)
    /// is unchanged since it was opened, and otherwise the copy is a whole read of the
    /// opened file, refused if that file was written meanwhile or differs from what the
    /// checks read (`HD031`).
    /// Its headers must agree with each other and its relocations stay inside it (`HD005`),
    /// and its descriptor's pointers must lie in its own image (`HD011`). Beyond these
    /// checks, the new library's code is trusted as for [`load`](Self::load) (its `# Trust`
    /// section): its initialisers run when it is opened.
    ///
    /// What no reader can see is a file that a writer has left half-written and paused on:
    /// if its headers happen to be consistent, it is loaded as it is. The caller, not
    /// hotdev, decides when the file is complete: hand over a file that a build has
    /// finished (cargo's artifact after cargo has exited, as the watcher does), or write
    /// the library under another name and rename it into place.
    pub fn reload(&self, path: impl AsRef<Path>) -> Result<Reloaded, LoadError> {
        let path = path.as_ref();
        let _span = tracing::info_span!("reload", interface = I::DECL.name.as_str(), path = %path.display())
            .entered();
        let inner = &*self.inner;
        let events = inner.events();
        let rejected = |e: LoadError| {
            events.emit(Event::Rejected {
                code: e.code(),
                message: e.to_string(),
                path: path.to_path_buf(),
            });
            e
        };
        let mut slots = inner.slots.lock().unwrap_or_else(PoisonError::into_inner);
        // Unloads retired by earlier reloads (normally done long ago).
        inner.reaper.wait_idle(inner.drain_timeout);

        let started = Instant::now();
        let id = inner.next_generation.load(Ordering::Relaxed);
        let steps = pipeline::Steps::new(path);
        let bytes = steps.read().map_err(rejected)?;
        steps.inspect(&bytes).map_err(rejected)?;
        let new = Generation::<I>::load(steps, &bytes, id, &inner.shadow).map_err(rejected)?;
        let old = slots.current().clone();

        // The state: kept, created, dropped or migrated; a migration (or creation, or drop)
        // happens under the state's write lock, with the swap, so that no call sees a
        // generation with a state of another layout.
        let transition = match state_transition(
            &inner.state,
            &old,
            &new,
            path,
            (inner.drain_timeout, inner.state_policy),
            &events,
        ) {
            Ok(t) => t,
            Err(e) => {
                new.unload(&inner.shadow, &events);
                return Err(rejected(e));
            }
        };
        let load = started.elapsed();
        events.emit(Event::Loaded {
            generation: id,
            plugin: new.plugin.clone(),
            build_id: new.build_id.clone(),
            path: path.to_path_buf(),
            load,
        });
        let migrated = transition.guard.is_some();
        let new = Arc::new(new);
        // Set before the swap, so that the pointer carries the probation tag from the
        // first call on (see `set_current`).
        let probation = inner.probation_calls > 0 && !migrated;
        if probation {
            new.probation_left
                .store(inner.probation_calls, Ordering::Relaxed);
        }
        let swap_started = Instant::now();
        inner.set_current(&new);
        let swap = swap_started.elapsed();
        drop(transition.guard);
        inner.next_generation.store(id + 1, Ordering::Relaxed);
        slots.current = Some(new.clone());
        events.emit(Event::Swapped {
            from: old.id,
            to: id,
            swap,
        });
        if let Some(previous) = slots.previous.take() {
            inner.reaper.retire(previous);
        }
        if probation {
            slots.previous = Some(old);
        } else {
            inner.reaper.retire(old);
        }
        Ok(Reloaded {
            generation: id,
            load,
            swap,
            state: transition.change,
        })
    }
}

impl<I: PluginInterface> Inner<I> {
    /// Rolls back from `generation` to the generation before it, when `generation` serves
    /// on probation (a previous generation is kept): returns the generation serving again,
    /// whose number `reason` gets to explain the rollback. Never waits for the slots' lock:
    /// a reload holding it may be waiting for this thread to leave its call, and that
    /// reload swaps `generation` out anyway. The bad generation is retired like any other
    /// (drained, then unloaded, or kept mapped when a call crashed in it).
    pub(super) fn roll_back(
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
        self.set_current(&previous);
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
}

/// The low bits of [`Inner::current`] send a call to the slow path (`invoke_slow` in
/// `call.rs`): `CATCH_TAG`, calls run under the crash guard (`Options::catch_crashes`);
/// `PROBATION_TAG`, the generation serves on probation (`Options::probation_calls`).
/// Generations are aligned to 8 bytes, so the bits are free. A plain call tests them in
/// the register it loaded the pointer into, which it must load anyway: one `test` and
/// a branch that is never taken, whichever options are on, and no load of any option.
pub(super) const CATCH_TAG: usize = 1;
/// See [`CATCH_TAG`].
pub(super) const PROBATION_TAG: usize = 2;
/// Either tag: the call takes the slow path.
pub(super) const SLOW_PATH: usize = CATCH_TAG | PROBATION_TAG;

impl<I: PluginInterface> Inner<I> {
    /// Points [`current`](Inner::current) at `generation`, tagged with [`CATCH_TAG`] when
    /// calls run under the crash guard and with [`PROBATION_TAG`] while `generation` is on
    /// probation. Called with the slots' lock held (or before anyone else can see this
    /// plugin), after `generation`'s probation count was set.
    pub(super) fn set_current(&self, generation: &Generation<I>) {
        const { assert!(std::mem::align_of::<Generation<I>>() > SLOW_PATH) };
        let catch = if self.catch_crashes { CATCH_TAG } else { 0 };
        let probation = if generation.probation_left.load(Ordering::Relaxed) != 0 {
            PROBATION_TAG
        } else {
            0
        };
        let tagged = std::ptr::from_ref(generation)
            .cast_mut()
            .map_addr(|addr| addr | catch | probation);
        self.current.store(tagged, Ordering::Release);
    }

    /// The serving generation, without its tags. Only a thread inside the epoch domain may
    /// follow it (see `Plugin::invoke`).
    pub(super) fn current_generation(&self) -> *const Generation<I> {
        untag(self.current.load(Ordering::Acquire))
    }
}

impl<I: PluginInterface> Plugin<I> {
    /// Which of the slow path's tags the serving generation's pointer carries, for
    /// [`testing::call_path`](crate::testing::call_path).
    pub(crate) fn call_path(&self) -> crate::testing::CallPath {
        let tags = self.inner.current.load(Ordering::Acquire).addr();
        crate::testing::CallPath {
            guarded: tags & CATCH_TAG != 0,
            probation: tags & PROBATION_TAG != 0,
        }
    }
}

/// `current` without its tags.
pub(super) fn untag<I: PluginInterface>(current: *mut Generation<I>) -> *const Generation<I> {
    current.map_addr(|addr| addr & !SLOW_PATH).cast_const()
}
