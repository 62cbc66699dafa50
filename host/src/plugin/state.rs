//! The plugin's state: memory the host owns, laid out as the plugin declares, made and
//! dropped by the plugin's hooks, and carried to a new generation as it is (same layout),
//! through the save and restore hooks (another layout), or reset to its `Default`.
//! Saving it to bytes and restoring it from bytes also serves programs that run their
//! plugin in a worker process and keep the state across a worker's crash.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt;
use std::mem::MaybeUninit;
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::ptr::NonNull;
use std::time::Duration;

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use reloadable::{PluginInterface, RVec, RawSlice, Report, State, StateDecl};

use super::{Generation, Plugin, StateChange, StatePolicy, hook_error};
use crate::events::Events;
use crate::fingerprint::{self, Part};
use crate::{Event, Hook, LoadError, epoch};

/// A generation's state hooks and layout, copied out of its descriptor.
pub(super) struct StateHooks {
    layout: Layout,
    parts: Vec<Part>,
    init: unsafe extern "C" fn(*mut u8) -> *mut Report,
    drop: unsafe extern "C" fn(*mut u8) -> *mut Report,
    save: Option<unsafe extern "C" fn(*const u8, *mut RVec<u8>) -> *mut Report>,
    restore: Option<unsafe extern "C" fn(RawSlice<u8>, *mut u8) -> *mut Report>,
}

impl StateHooks {
    pub(super) fn from_decl(decl: &StateDecl) -> Self {
        let mut parts = Vec::new();
        fingerprint::type_parts(decl.layout, &mut Default::default(), &mut parts);
        let layout = Layout::from_size_align(decl.layout.size.max(1), decl.layout.align.max(1))
            .unwrap_or(Layout::new::<u8>());
        StateHooks {
            layout,
            parts,
            init: decl.init,
            drop: decl.drop,
            save: decl.save,
            restore: decl.restore,
        }
    }

    /// Saves `mem` (a live state of this layout) to bytes with the save hook; `None`
    /// without one. `path` names the library in errors.
    fn save_bytes(&self, mem: &StateMem, path: &Path) -> Result<Option<RVec<u8>>, LoadError> {
        let Some(save) = self.save else {
            return Ok(None);
        };
        let mut bytes = MaybeUninit::<RVec<u8>>::uninit();
        // SAFETY: `mem` holds a live state of this layout (the caller's contract, under the
        // state's lock); `save` writes the bytes into the slot when it returns no report.
        let saved = unsafe { Report::take(save(mem.ptr.as_ptr(), bytes.as_mut_ptr())) };
        if let Some(report) = saved {
            return Err(hook_error(path, Hook::StateSave, report));
        }
        // SAFETY: `save` succeeded, so it wrote the bytes.
        Ok(Some(unsafe { bytes.assume_init() }))
    }

    /// Makes a new state of this layout from `bytes` with the restore hook; `None`
    /// without one. A failing hook leaves nothing behind.
    fn restore_from(&self, bytes: &[u8], path: &Path) -> Result<Option<StateMem>, LoadError> {
        let Some(restore) = self.restore else {
            return Ok(None);
        };
        let ptr = alloc_state(self.layout);
        // SAFETY: `restore` reads the bytes (alive for the call) and writes a new state
        // into uninitialised memory of this layout.
        let restored = unsafe { Report::take(restore(RawSlice::new(bytes), ptr.as_ptr())) };
        if let Some(report) = restored {
            free_state(ptr, self.layout);
            return Err(hook_error(path, Hook::StateRestore, report));
        }
        Ok(Some(StateMem {
            ptr,
            layout: self.layout,
        }))
    }
}

pub(super) struct StateSlot {
    pub(super) mem: Option<StateMem>,
}

pub(super) struct StateMem {
    ptr: NonNull<u8>,
    layout: Layout,
}

// SAFETY: the state is reached only through `Plugin::state`/`state_mut`, which hold the
// `RwLock` around the slot, and `State::get`/`get_mut` require `Sync`/`Send` state types.
unsafe impl Send for StateMem {}
// SAFETY: as above.
unsafe impl Sync for StateMem {}

impl StateSlot {
    pub(super) fn as_state(&self) -> State {
        match &self.mem {
            // SAFETY: `ptr` holds an initialised value of the layout recorded with it, alive
            // while the slot holds it; the returned `State` is borrowed under the slot's lock.
            Some(m) => unsafe {
                State::from_raw(m.ptr.as_ptr(), m.layout.size(), m.layout.align())
            },
            None => State::none(),
        }
    }
}

pub(super) fn alloc_state(layout: Layout) -> NonNull<u8> {
    // SAFETY: `layout` has a non-zero size (`StateHooks::from_decl` makes it at least 1).
    let p = unsafe { System.alloc(layout) };
    NonNull::new(p).unwrap_or_else(|| std::alloc::handle_alloc_error(layout))
}

pub(super) fn free_state(ptr: NonNull<u8>, layout: Layout) {
    // SAFETY: allocated by `alloc_state` with the same layout.
    unsafe { System.dealloc(ptr.as_ptr(), layout) };
}

/// Makes a fresh state with `hooks` (of the generation loaded from `path`).
pub(super) fn init_state(hooks: &StateHooks, path: &Path) -> Result<StateMem, LoadError> {
    let ptr = alloc_state(hooks.layout);
    // SAFETY: `init` writes a new state into uninitialised memory of its declared layout.
    match unsafe { Report::take((hooks.init)(ptr.as_ptr())) } {
        None => Ok(StateMem {
            ptr,
            layout: hooks.layout,
        }),
        Some(report) => {
            free_state(ptr, hooks.layout);
            Err(hook_error(path, Hook::StateInit, report))
        }
    }
}

/// Drops a state with the hooks of a generation of the same layout.
pub(super) fn drop_state(mem: StateMem, hooks: &StateHooks, events: &Events, generation: u64) {
    // SAFETY: `mem` holds a live state of `hooks`' layout, dropped once here.
    if let Some(report) = unsafe { Report::take((hooks.drop)(mem.ptr.as_ptr())) } {
        events.emit(Event::UnloadHookPanicked {
            generation,
            message: format!("state drop: {report}"),
        });
    }
    free_state(mem.ptr, mem.layout);
}

/// Shared access to a plugin's state, for the calls that take `&State`. Holding it keeps
/// a reload that changes the state's layout waiting.
pub struct StateRef<'a> {
    _guard: RwLockReadGuard<'a, StateSlot>,
    state: State,
}

impl Deref for StateRef<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        &self.state
    }
}

impl fmt::Debug for StateRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.state.fmt(f)
    }
}

/// Exclusive access to a plugin's state, for the calls that take `&mut State`.
pub struct StateMut<'a> {
    _guard: RwLockWriteGuard<'a, StateSlot>,
    state: State,
}

impl Deref for StateMut<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        &self.state
    }
}

impl DerefMut for StateMut<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.state
    }
}

impl fmt::Debug for StateMut<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.state.fmt(f)
    }
}

/// The state's side of a reload: the write lock (held until the caller has swapped the
/// table) when the state was created, dropped, migrated or reset, and what happened.
pub(super) struct Transition<'a> {
    pub(super) guard: Option<RwLockWriteGuard<'a, StateSlot>>,
    pub(super) change: StateChange,
}

/// Brings the state to the new generation's layout: nothing to do (same layout, or
/// neither has state), created, dropped, migrated through the hooks, or, under
/// [`StatePolicy::Reset`], reset when it cannot be migrated.
pub(super) fn state_transition<'a, I: PluginInterface>(
    state: &'a RwLock<StateSlot>,
    old: &Generation<I>,
    new: &Generation<I>,
    path: &Path,
    (timeout, policy): (Duration, StatePolicy),
    events: &Events,
) -> Result<Transition<'a>, LoadError> {
    let same = match (&old.state, &new.state) {
        (None, None) => true,
        (Some(a), Some(b)) => a.parts == b.parts,
        _ => false,
    };
    if same {
        return Ok(Transition {
            guard: None,
            change: StateChange::Kept,
        });
    }
    let mut unmigratable = None;
    if let (Some(a), Some(b)) = (&old.state, &new.state) {
        let missing = match (a.save.is_some(), b.restore.is_some()) {
            (true, true) => None,
            (false, true) => Some("the running generation has no save hook"),
            (true, false) => Some("the new generation has no restore hook"),
            (false, false) => Some("the plugin has no save/restore hooks"),
        };
        if let Some(missing) = missing {
            let diff = fingerprint::diff(&a.parts, &b.parts);
            if policy == StatePolicy::Refuse {
                return Err(LoadError::StateLayoutChanged {
                    path: path.to_path_buf(),
                    diff,
                    missing,
                });
            }
            unmigratable = Some(missing.to_string());
        }
    }
    let mut slot = state
        .try_write_for(timeout)
        .ok_or_else(|| LoadError::StateMigrationFailed {
            path: path.to_path_buf(),
            message: format!("the state stayed in use for {timeout:?}; try again"),
        })?;
    let mut change = StateChange::Kept;
    match (&old.state, &new.state, slot.mem.take()) {
        (_, Some(hooks), None) => {
            slot.mem = Some(init_state(hooks, path)?);
        }
        (Some(old_hooks), None, Some(mem)) => drop_state(mem, old_hooks, events, old.id),
        (Some(old_hooks), Some(new_hooks), Some(mem)) => {
            let migrated = match &unmigratable {
                None => Some(migrate(&mem, old_hooks, new_hooks, path)),
                Some(_) => None,
            };
            match migrated {
                Some(Ok((fresh, bytes))) => {
                    drop_state(mem, old_hooks, events, old.id);
                    slot.mem = Some(fresh);
                    events.emit(Event::StateMigrated {
                        from: old.id,
                        to: new.id,
                        bytes,
                    });
                    change = StateChange::Migrated { bytes };
                }
                Some(Err(e)) if policy == StatePolicy::Refuse => {
                    slot.mem = Some(mem);
                    return Err(e);
                }
                failed => {
                    let reason = match failed {
                        Some(Err(e)) => format!("migrating it failed: {e}"),
                        _ => unmigratable.unwrap_or_default(),
                    };
                    // The new state is made before the old one goes, so that a failing
                    // `Default` leaves the running generation as it was.
                    let fresh = match init_state(new_hooks, path) {
                        Ok(fresh) => fresh,
                        Err(e) => {
                            slot.mem = Some(mem);
                            return Err(e);
                        }
                    };
                    drop_state(mem, old_hooks, events, old.id);
                    slot.mem = Some(fresh);
                    let diff = fingerprint::diff(&old_hooks.parts, &new_hooks.parts);
                    events.emit(Event::StateReset {
                        from: old.id,
                        to: new.id,
                        diff: diff.clone(),
                        reason: reason.clone(),
                    });
                    change = StateChange::Reset { diff, reason };
                }
            }
        }
        (_, _, mem) => slot.mem = mem,
    }
    Ok(Transition {
        guard: Some(slot),
        change,
    })
}

/// Saves `mem` (a live state of `old`'s layout) with the old generation's hook and
/// restores it into new memory of the new layout. `mem` is left as it was.
pub(super) fn migrate(
    mem: &StateMem,
    old: &StateHooks,
    new: &StateHooks,
    path: &Path,
) -> Result<(StateMem, usize), LoadError> {
    let bytes = old
        .save_bytes(mem, path)?
        .expect("checked: the old generation can save");
    let restored = new
        .restore_from(&bytes, path)?
        .expect("checked: the new generation can restore");
    Ok((restored, bytes.len()))
}

impl<I: PluginInterface> Plugin<I> {
    /// Shared access to the plugin's state, to pass to calls that take `&State`.
    pub fn state(&self) -> StateRef<'_> {
        let guard = self.inner.state.read();
        let state = guard.as_state();
        StateRef {
            _guard: guard,
            state,
        }
    }

    /// Exclusive access to the plugin's state, to pass to calls that take `&mut State`.
    pub fn state_mut(&self) -> StateMut<'_> {
        let guard = self.inner.state.write();
        let state = guard.as_state();
        StateMut {
            _guard: guard,
            state,
        }
    }

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
        let generation = unsafe { &*inner.current_generation() };
        let Some(hooks) = &generation.state else {
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
        let bytes = hooks.save_bytes(mem, &generation.shadow_path)?;
        Ok(bytes.map(|b| b.to_vec()))
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
        let generation = unsafe { &*inner.current_generation() };
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
