//! Saving a plugin's state to bytes and restoring it from bytes, through the plugin's own
//! save/restore hooks (`export_plugin!(.., state: S, migrate: ..)`).
//!
//! A reload migrates the state in memory, from one generation straight into the next.
//! These two methods cut that path in the middle, so that the bytes can travel: a program
//! that runs its plugin in a worker process saves them whenever a generation goes live
//! and, when that process dies, restores them in the next one (`hotdev serve` does this).
//! The bytes are whatever the plugin's save hook makes (with `migrate: serde`, JSON), so
//! a restore hook of a later or earlier generation can read them, as in a migration.
//!
//! Plugins without state or without the hooks have nothing to save: `save_state` returns
//! `None` and `restore_state` `false`, and the state stays as it is.

use std::mem::MaybeUninit;
use std::sync::atomic::Ordering;

use reloadable::{Interface, RVec, RawSlice, Report};

use super::{Plugin, StateMem, alloc_state, drop_state, free_state, hook_error};
use crate::{Hook, LoadError, epoch};

impl<I: Interface> Plugin<I> {
    /// Saves the plugin's state with the save hook of the generation serving.
    ///
    /// Returns `None` when there is nothing to save: the plugin declares no state, or no
    /// save hook. The hook runs like a call that takes `&State`, alongside other such
    /// calls. A save hook that panics gives `HD021`, one that returns an error `HD023`.
    pub fn save_state(&self) -> Result<Option<Vec<u8>>, LoadError> {
        let inner = &*self.inner;
        let _pin = epoch::pin();
        // SAFETY: entered the epoch domain before loading the pointer, as in `invoke`: the
        // generation stays loaded while the pin lives.
        let generation = unsafe { &*inner.current.load(Ordering::Acquire) };
        let Some(hooks) = &generation.state else {
            return Ok(None);
        };
        let Some(save) = hooks.save else {
            return Ok(None);
        };
        let slot = inner.state.read();
        let Some(mem) = &slot.mem else {
            return Ok(None);
        };
        if mem.layout != hooks.layout {
            // A reload swapped in another layout meanwhile; the next save catches up.
            return Ok(None);
        }
        let mut bytes = MaybeUninit::<RVec<u8>>::uninit();
        // SAFETY: `mem` holds a live state of this generation's layout (checked above,
        // under the state's lock); `save` writes the bytes into the slot when it returns
        // no report.
        let saved = unsafe { Report::take(save(mem.ptr.as_ptr(), bytes.as_mut_ptr())) };
        if let Some(report) = saved {
            return Err(hook_error(&generation.shadow_path, Hook::StateSave, report));
        }
        // SAFETY: `save` succeeded, so it wrote the bytes.
        let bytes = unsafe { bytes.assume_init() };
        Ok(Some(bytes.to_vec()))
    }

    /// Replaces the plugin's state with one restored from `bytes` (made by
    /// [`save_state`](Self::save_state), here or in another process) by the restore hook
    /// of the generation serving. The state it replaces is dropped.
    ///
    /// Returns `false` when nothing was restored: the plugin declares no state or no
    /// restore hook, or calls holding the state did not return within the drain timeout.
    /// A restore hook that panics (`HD021`) or returns an error (`HD023`) leaves the state as it
    /// was.
    pub fn restore_state(&self, bytes: &[u8]) -> Result<bool, LoadError> {
        let inner = &*self.inner;
        let _pin = epoch::pin();
        // SAFETY: as in `save_state`.
        let generation = unsafe { &*inner.current.load(Ordering::Acquire) };
        let Some(hooks) = &generation.state else {
            return Ok(false);
        };
        let Some(restore) = hooks.restore else {
            return Ok(false);
        };
        let Some(mut slot) = inner.state.try_write_for(inner.drain_timeout) else {
            return Ok(false);
        };
        let ptr = alloc_state(hooks.layout);
        // SAFETY: `restore` reads the bytes (alive for the call) and writes a new state
        // into uninitialised memory of this generation's layout.
        let restored = unsafe { Report::take(restore(RawSlice::new(bytes), ptr.as_ptr())) };
        if let Some(report) = restored {
            free_state(ptr, hooks.layout);
            return Err(hook_error(
                &generation.shadow_path,
                Hook::StateRestore,
                report,
            ));
        }
        let old = slot.mem.replace(StateMem {
            ptr,
            layout: hooks.layout,
        });
        // A state of another layout cannot be here (swaps change the layout under this
        // lock); if it were, it is leaked (StateMem frees nothing by itself) rather than
        // dropped through the wrong hooks.
        if let Some(old) = old.filter(|old| old.layout == hooks.layout) {
            drop_state(old, hooks, &inner.events, generation.id);
        }
        Ok(true)
    }
}
