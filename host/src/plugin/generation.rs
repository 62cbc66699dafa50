//! A generation: one loaded copy of the plugin's library, with its function table, its
//! state hooks, the threads it started and its shadow copy; how it is loaded (copied,
//! opened, validated, its load hook run) and how it leaves (its unload hook, then
//! unloaded or kept mapped).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use reloadable::{PluginInterface, Report};

use super::state::StateHooks;
use crate::events::Events;
use crate::library::Bytes;
use crate::shadow::ShadowDir;
use crate::threads::{self, ThreadCount};
use crate::{Event, Hook, LoadError, os, pipeline};

/// One loaded copy of the library.
pub(super) struct Generation<I: PluginInterface> {
    pub(super) table: I::Table,
    /// Calls left before probation ends; 0 once it has (then only ever read).
    pub(super) probation_left: AtomicU32,
    /// A call crashed in it: it is never unloaded, and its unload hook does not run.
    pub(super) crashed: AtomicBool,
    pub(super) id: u64,
    pub(super) plugin: String,
    pub(super) build_id: String,
    pub(super) shadow_path: PathBuf,
    pub(super) state: Option<StateHooks>,
    pub(super) fini: unsafe extern "C" fn(),
    pub(super) on_unload: Option<unsafe extern "C" fn() -> *mut Report>,
    /// Threads started by this generation's code and still running.
    pub(super) threads: Option<ThreadCount>,
    pub(super) lib: Option<libloading::Library>,
}

impl<I: PluginInterface> Generation<I> {
    /// Takes a library that was read and inspected (the first two [`pipeline`] steps)
    /// through the rest of the load path (world, shadow copy, open, descriptor, interface),
    /// counts the threads it starts, and runs its load hook. On error nothing of it stays
    /// (its shadow copy is removed).
    pub(super) fn load(
        steps: pipeline::Steps<'_>,
        bytes: &Bytes,
        id: u64,
        shadow: &ShadowDir,
    ) -> Result<Self, LoadError> {
        let artifact = steps.artifact();
        let world = steps.world(bytes)?;
        let copy = steps.copy(bytes, shadow, id)?;
        // SAFETY:
        // - the file was inspected (complete, a shared library for this machine,
        //   relocations inside its own image);
        // - running its initialisers is the trust `Plugin::load` documents (`# Trust`): the
        //   file is a plugin built from the developer's own source.
        let opened = unsafe { steps.open(&copy)? };
        let desc = steps.descriptor(&opened, &world)?;
        steps.interface::<I>(desc)?;
        // Before any of the plugin's code runs: count the threads it starts.
        let threads = match opened.image() {
            Some(image) => Some(threads::watch(&image, bytes.data()).map_err(|reason| {
                LoadError::ThreadWatch {
                    path: artifact.to_path_buf(),
                    reason,
                }
            })?),
            None => None,
        };
        // SAFETY: the fingerprint matched, which includes the table's size and every
        // function's signature, so `desc.table` points at an `I::Table` in the library
        // (the fingerprint is what the plugin's build recorded: trusted, as above).
        let table = unsafe { desc.table.cast::<I::Table>().read() };
        let generation = Generation {
            table,
            probation_left: AtomicU32::new(0),
            crashed: AtomicBool::new(false),
            id,
            plugin: desc.plugin_name.as_str().to_string(),
            build_id: desc.build_id.as_str().to_string(),
            shadow_path: copy.path().to_path_buf(),
            state: desc.state.map(StateHooks::from_decl),
            fini: desc.fini,
            on_unload: desc.on_unload,
            threads,
            lib: None,
        };
        let on_load = desc.on_load;
        // SAFETY: validated descriptor; `init` is reloadable's own and runs once per load.
        unsafe { (desc.init)(&crate::logs::hooks()) };
        if let Some(hook) = on_load {
            // SAFETY: a validated hook; its report, if any, is taken once.
            if let Some(report) = unsafe { Report::take(hook()) } {
                // SAFETY: undoes `init` before the library is closed below.
                unsafe { (desc.fini)() };
                if generation.threads_running() > 0 {
                    tracing::warn!(
                        code = reloadable::codes::THREADS_RUNNING,
                        path = %artifact.display(),
                        "the refused library started threads that still run; it stays loaded"
                    );
                    std::mem::forget(opened);
                }
                return Err(hook_error(artifact, Hook::Load, report));
            }
        }
        copy.keep();
        Ok(Generation {
            lib: Some(opened.into_library()),
            ..generation
        })
    }

    /// Threads started by this generation's code that are still running.
    pub(super) fn threads_running(&self) -> usize {
        self.threads.as_ref().map_or(0, ThreadCount::running)
    }

    /// Runs the unload hook, closes the library and removes the shadow copy. Returns the
    /// pin reason when the library is still mapped afterwards.
    pub(super) fn unload(self, shadow: &ShadowDir, events: &Events) -> Option<String> {
        self.retire(shadow, events, false)
    }

    /// Runs the unload hook and undoes `init`; then closes the library, or, with
    /// `keep_mapped`, leaves it mapped for the rest of the process. Removes the shadow
    /// copy either way (a mapped file stays valid after its name is removed). Returns the
    /// pin reason when a closed library is still mapped afterwards.
    pub(super) fn retire(
        mut self,
        shadow: &ShadowDir,
        events: &Events,
        keep_mapped: bool,
    ) -> Option<String> {
        if self.crashed.load(Ordering::Relaxed) {
            // Its interrupted call may hold the plugin's locks and have left its data
            // half-written, and its frames may point into it: no more of its code runs
            // outside a call, and it stays mapped.
            let _ = std::mem::ManuallyDrop::new(self.lib.take());
            if let Err(e) = shadow.remove(&self.shadow_path) {
                tracing::warn!(path = %self.shadow_path.display(), error = %e, "could not remove a shadow copy");
            }
            return None;
        }
        if let Some(hook) = self.on_unload {
            // SAFETY: every call into this generation has returned (it drained); the hook
            // is the plugin's own and its report is taken once.
            if let Some(report) = unsafe { Report::take(hook()) } {
                events.emit(Event::UnloadHookPanicked {
                    generation: self.id,
                    message: report.to_string(),
                });
            }
        }
        // SAFETY: as above; undoes `init`.
        unsafe { (self.fini)() };
        let lib = self.lib.take();
        let pinned = if keep_mapped {
            std::mem::forget(lib);
            None
        } else {
            if let Some(lib) = lib
                && let Err(e) = lib.close()
            {
                tracing::warn!(generation = self.id, error = %e, "closing the library failed");
            }
            (os::is_mapped(&self.shadow_path) == Some(true)).then(|| os::PIN_REASON.to_string())
        };
        if let Err(e) = shadow.remove(&self.shadow_path) {
            tracing::warn!(path = %self.shadow_path.display(), error = %e, "could not remove a shadow copy");
        }
        pinned
    }
}

pub(super) fn hook_error(path: &Path, hook: Hook, report: Report) -> LoadError {
    if report.is_panic() {
        return LoadError::HookPanicked {
            path: path.to_path_buf(),
            hook,
            location: report.location(),
            message: report.message.to_string(),
        };
    }
    match hook {
        Hook::Load => LoadError::OnLoadFailed {
            path: path.to_path_buf(),
            message: report.message.to_string(),
        },
        Hook::StateInit | Hook::StateSave | Hook::StateRestore => LoadError::StateMigrationFailed {
            path: path.to_path_buf(),
            message: report.message.to_string(),
        },
    }
}
