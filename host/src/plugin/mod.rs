//! [`Plugin`]: a typed handle to the live generation of a plugin library.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

// The state's lock: a writer (a reload migrating the state) can wait with a deadline,
// which std's `RwLock` cannot.
use parking_lot::RwLock;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use reloadable::PluginInterface;

mod call;

pub use call::Pinned;
mod generation;
mod reaper;
mod state;
mod swap;

use generation::{Generation, hook_error};
use reaper::Reaper;
pub use state::{StateMut, StateRef};
use state::{StateSlot, drop_state, init_state};

use crate::crash;
use crate::epoch;
use crate::events::Events;
use crate::pipeline;
use crate::shadow::{self, ShadowDir};
use crate::{Event, LoadError};

/// How a [`Plugin`] behaves. `Options::default()` suits development.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where shadow copies go. Default: `hotdev-shadow/` in the cargo target directory
    /// that holds the library (see [`shadow`](crate::shadow)).
    pub shadow_dir: Option<PathBuf>,
    /// How long a reload waits for calls still running in the old generation before it
    /// reports a drain timeout and leaves that generation loaded, to be checked again
    /// later. Default: 5 s.
    pub drain_timeout: Duration,
    /// How many calls a new generation must complete without panicking before the
    /// previous generation is unloaded. A panic during these calls restores the previous
    /// generation. 0 disables rollback. Default: 8.
    pub probation_calls: u32,
    /// What becomes of a retired generation's library once every call into it has
    /// returned. Default: [`Retire::Auto`].
    pub retire: Retire,
    /// Where to send [`Event`]s. Sending never blocks a reload or a call: when a bounded
    /// channel is full, the event is dropped and counted ([`Plugin::dropped_events`]), and
    /// an [`Event::EventsDropped`] goes out once there is room again.
    pub events: Option<Sender<Event>>,
    /// What a reload does when the plugin's state changed layout and cannot be migrated
    /// (no save/restore hooks, or they failed). Default: [`StatePolicy::Refuse`].
    pub state_policy: StatePolicy,
    /// Whether faults raised inside plugin calls are caught: off by default; turned on
    /// with the explicit, `unsafe` [`CrashCatching::on`] (see its `# Safety`).
    pub catch_crashes: CrashCatching,
}

/// Whether a [`Plugin`] catches faults raised inside its calls (`SIGSEGV`, `SIGBUS`,
/// `SIGILL`, `SIGFPE`, stack overflow): the call returns
/// [`CallError::Crashed`](reloadable::CallError::Crashed), the generation is rolled back
/// when it is on probation and is never unloaded, and the host goes on. Faults outside
/// plugin calls keep their usual effect. Unix only (Linux tested); on elsewhere fails the
/// load with `HD056`. Off unless a host opts in with [`CrashCatching::on`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CrashCatching(bool);

impl CrashCatching {
    /// Faults end the process, as they would without hotdev (the default).
    pub const OFF: CrashCatching = CrashCatching(false);

    /// Faults inside plugin calls are caught (`Options { catch_crashes: unsafe {
    /// CrashCatching::on() }, .. }`).
    ///
    /// # Safety
    ///
    /// A caught fault jumps (`siglongjmp`) from the faulting instruction back to the call's
    /// entry, over every frame in between, host frames included when the plugin called
    /// back into the host: none of their destructors run. The caller promises that the
    /// process may go on after that, which means:
    ///
    /// - no frame that plugin calls run through holds a lock or a guard whose release
    ///   the rest of the process depends on (a lock the interrupted call held stays held:
    ///   the next call that takes it waits for ever);
    /// - data the interrupted call was writing (the host's state passed by `&mut`, a
    ///   shared structure) may be left half-written, and the host either checks it or
    ///   does not rely on it;
    /// - memory the call allocated leaks, and the host accepts that;
    /// - no other code in the process relies on the fault signals' handlers (hotdev
    ///   installs its own for `SIGSEGV`, `SIGBUS`, `SIGILL` and `SIGFPE`, handing faults
    ///   outside plugin calls on to those that were there).
    ///
    /// What this cannot guarantee in detail: `docs/crash-recovery.md`. A dev server that
    /// must survive crashes without these promises runs the plugin in a worker process
    /// instead, as `hotdev serve` does.
    pub const unsafe fn on() -> CrashCatching {
        CrashCatching(true)
    }

    /// Whether faults are caught.
    pub const fn is_on(self) -> bool {
        self.0
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            shadow_dir: None,
            drain_timeout: Duration::from_secs(5),
            probation_calls: 8,
            retire: Retire::Auto,
            events: None,
            state_policy: StatePolicy::Refuse,
            catch_crashes: CrashCatching::OFF,
        }
    }
}

/// What becomes of a retired generation's library once every call into it has returned.
///
/// A value a plugin makes can point into the plugin's code or static data: a closure, a
/// trait object, a function pointer, a `&'static str` literal. With FFI types
/// ([`reloadable::ffi_interface!`]) nothing that crosses can (results must be owned, FFI-safe
/// data). With Rust types ([`reloadable::rust_interface!`]) it easily can, and Rust cannot
/// tell such values apart, so a retired library is kept mapped: its code stays valid for
/// anything the host kept. That costs the library's mapped size per reload (its shadow
/// copy's file is still removed; see BENCHMARKS.md for the figures over 1000 reloads).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Retire {
    /// Unload FFI-typed plugins; keep Rust-typed ones mapped.
    #[default]
    Auto,
    /// Unload the library (its unload hook runs, then the loader closes it). For a
    /// Rust-typed plugin, this asserts that nothing the plugin made outlives the calls
    /// into its generation.
    Unload,
    /// Keep the library mapped for the rest of the process (its unload hook still runs).
    KeepMapped,
}

impl Retire {
    fn keeps_mapped(self, rust_types: bool) -> bool {
        match self {
            Retire::Auto => rust_types,
            Retire::Unload => false,
            Retire::KeepMapped => true,
        }
    }
}

/// What a reload does with a plugin state whose layout changed when it cannot be
/// migrated: the plugin has no save/restore hooks, or they failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StatePolicy {
    /// Refuse the new generation (`HD022`, or `HD021`/`HD023` when a hook failed): the
    /// running generation keeps serving with its state. Memory is never read through the
    /// wrong layout.
    #[default]
    Refuse,
    /// Drop the state and start the new generation with the state type's `Default`, like
    /// a full page reload; [`Event::StateReset`] says what changed.
    Reset,
}

/// What a successful [`Plugin::reload`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    /// The generation now serving.
    pub generation: u64,
    /// Reading, copying and validating the library and running its load hook.
    pub load: Duration,
    /// Swapping the function table (what callers could notice).
    pub swap: Duration,
    /// What happened to the plugin's state.
    pub state: StateChange,
}

/// What a reload did with the plugin's state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StateChange {
    /// Kept as it was: the layout did not change (or there is no state), or the state was
    /// created or dropped because only one of the generations declares one.
    #[default]
    Kept,
    /// Carried over by the plugin's save/restore hooks.
    Migrated {
        /// The saved size in bytes.
        bytes: usize,
    },
    /// Dropped and made afresh with `Default` ([`StatePolicy::Reset`]).
    Reset {
        /// What changed in the layout, old layout first.
        diff: Vec<String>,
        /// Why it could not be migrated.
        reason: String,
    },
}

/// A plugin library loaded for interface `I`, whose generations can be replaced while
/// other threads call it.
///
/// Calls go through the `Calls` trait that [`reloadable::ffi_interface!`] generates:
///
/// ```ignore
/// use counter_interface::counter::{Calls, Interface as Counter};
/// let plugin = hotdev_host::Plugin::<Counter>::load("target/debug/libcounter_plugin.so")?;
/// let n = plugin.step(&mut state, 1)?;      // Result<u64, CallError>
/// plugin.reload("target/debug/libcounter_plugin.so")?;   // callers keep going meanwhile
/// ```
///
/// Cloning is cheap and shares the plugin. When the last clone is dropped, the plugin's
/// state is dropped and every generation drains and unloads.
///
/// # A call that never returns
///
/// A plugin call runs on the caller's thread and cannot be interrupted: Rust has no safe
/// way to stop a thread, and unloading the code under it would crash the process. What
/// the plugin guarantees is that such a call does not stop anything else:
///
/// - other threads keep calling, and after a [`reload`](Self::reload) their calls go to
///   the new generation at once, however many calls are stuck in an old one;
/// - the stuck call's generation (and every generation retired while it runs) stays
///   loaded; the reaper reports [`Event::DrainTimeout`] (`HD040`) and unloads them when
///   the call returns; once a call has kept one generation past the drain timeout, later
///   reloads do not wait for it again;
/// - dropping the last handle waits one more drain timeout, then leaves such libraries
///   mapped.
///
/// So a host that must stay responsive should not make a call it cannot afford to wait for
/// on a thread it needs: hand calls that may block to worker threads, stop waiting for
/// one after a deadline of its own (answer its client, start another worker; the stuck
/// call still holds what it was given, such as a lock on the plugin's state), and,
/// to exit promptly while a call is stuck, exit the process rather than drop the plugin
/// (or `std::mem::forget` the last handle). `hotdev serve` does exactly this: see its
/// `--handler-timeout`.
pub struct Plugin<I: PluginInterface> {
    inner: Arc<Inner<I>>,
}

impl<I: PluginInterface> Clone for Plugin<I> {
    fn clone(&self) -> Self {
        Plugin {
            inner: self.inner.clone(),
        }
    }
}

impl<I: PluginInterface> fmt::Debug for Plugin<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin")
            .field("interface", &I::DECL.name.as_str())
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

// `repr(C)`: the two fields every call reads come first, in one cache line.
#[repr(C)]
struct Inner<I: PluginInterface> {
    /// The serving generation; always points into `slots.current`. Its low bits send
    /// calls to the slow path (`swap.rs`, `SLOW_PATH`: the crash guard, probation): set
    /// it with `set_current`, read it with `current_generation` or untag it.
    current: AtomicPtr<Generation<I>>,
    /// Calls run under the crash guard (`Options::catch_crashes`).
    catch_crashes: bool,
    slots: Mutex<Slots<I>>,
    state: RwLock<StateSlot>,
    next_generation: AtomicU64,
    drain_timeout: Duration,
    probation_calls: u32,
    state_policy: StatePolicy,
    events: Events,
    shadow: Arc<ShadowDir>,
    reaper: Reaper<I>,
}

struct Slots<I: PluginInterface> {
    current: Option<Arc<Generation<I>>>,
    /// The generation to roll back to while `current` is on probation.
    previous: Option<Arc<Generation<I>>>,
}

impl<I: PluginInterface> Slots<I> {
    fn current(&self) -> &Arc<Generation<I>> {
        self.current
            .as_ref()
            .expect("a plugin always has a current generation")
    }

    fn is_current(&self, generation: &Generation<I>) -> bool {
        std::ptr::eq(Arc::as_ptr(self.current()), generation)
    }
}

// ---------------------------------------------------------------------------------------
// Plugin

impl<I: PluginInterface> Plugin<I> {
    /// Loads generation 1 from `path` with default [`Options`].
    ///
    /// The library is read, its object-file headers are checked, and it is copied to a
    /// private shadow directory before the system loader opens it. Then its descriptor is
    /// checked pointer by pointer and its interface fingerprint compared; nothing of it
    /// runs but its initialisers before its load hook.
    ///
    /// # Trust
    ///
    /// Loading a library runs its code: the system loader runs its initialisers (and
    /// those of the libraries it links) when it opens it, before hotdev can read its
    /// descriptor, and every call through the plugin runs its functions in this process.
    /// What hotdev checks is that the file is a plugin this host can call safely *if it is
    /// what it claims to be*:
    ///
    /// - before the loader sees it: a complete, regular file, not written since it was
    ///   opened (what the loader opens is what the checks read), a
    ///   shared library for this machine whose headers agree and whose relocations stay
    ///   inside it (so the loader does not write or jump outside it);
    /// - after: a descriptor whose every pointer lies in the library (or its world's)
    ///   mapped image, of this descriptor version, declaring this interface with the same
    ///   ABI fingerprint (signatures, sizes, alignments and field offsets of every
    ///   crossing type, the `reloadable` ABI version, the compiler, the target and the
    ///   panic strategy) and, for Rust types, the same build of each crossing type's crate
    ///   and the host's one world.
    ///
    /// What it cannot check is that the code does what its declaration says: a fingerprint
    /// is computed from what the plugin's build recorded, and a hand-made library could
    /// declare one layout and use another, or do anything at all in an initialiser. So
    /// hotdev trusts that the file is a plugin built from the developer's own source by
    /// `reloadable`'s macros: the same trust `cargo run` places in the program it has just
    /// built. Do not point it at a library of unknown origin.
    ///
    /// That trust is in where the file comes from, which no Rust code at the call site can
    /// uphold or break, so `load` is a safe function (as `std::process::Command::spawn`
    /// is, for the program it runs) rather than an `unsafe` one whose callers would all
    /// cite the same sentence. The lower-level [`library::open`](crate::library::open),
    /// which skips every check, is `unsafe`.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        Self::load_with(path, Options::default())
    }

    /// Loads generation 1 from `path`. What is checked, and what is trusted: see
    /// [`load`](Self::load) (its `# Trust` section).
    pub fn load_with(path: impl AsRef<Path>, options: Options) -> Result<Self, LoadError> {
        let path = path.as_ref();
        let _span =
            tracing::info_span!("load", interface = I::DECL.name.as_str(), path = %path.display())
                .entered();
        let events = Events::new(options.events.clone());
        let rejected = |e: LoadError| {
            events.emit(Event::Rejected {
                code: e.code(),
                message: e.to_string(),
                path: path.to_path_buf(),
            });
            e
        };
        let started = Instant::now();
        if options.catch_crashes.is_on() {
            crash::install()
                .map_err(|source| LoadError::CrashCatching {
                    path: path.to_path_buf(),
                    source,
                })
                .map_err(rejected)?;
        }
        let steps = pipeline::Steps::new(path);
        let bytes = steps.read().map_err(rejected)?;
        steps.inspect(&bytes).map_err(rejected)?;
        let root = options
            .shadow_dir
            .clone()
            .unwrap_or_else(|| shadow::default_root(path));
        let shadow = ShadowDir::create(&root)
            .map_err(|source| LoadError::Shadow {
                path: path.to_path_buf(),
                dir: root.clone(),
                source,
            })
            .map_err(rejected)?;
        let generation = Generation::<I>::load(steps, &bytes, 1, &shadow).map_err(rejected)?;
        let state = match &generation.state {
            Some(hooks) => match init_state(hooks, path) {
                Ok(mem) => Some(mem),
                Err(e) => {
                    generation.unload(&shadow, &events);
                    return Err(rejected(e));
                }
            },
            None => None,
        };
        events.emit(Event::Loaded {
            generation: 1,
            plugin: generation.plugin.clone(),
            build_id: generation.build_id.clone(),
            path: path.to_path_buf(),
            load: started.elapsed(),
        });
        let shadow = Arc::new(shadow);
        let generation = Arc::new(generation);
        let first = generation.clone();
        let inner = Inner {
            current: AtomicPtr::new(std::ptr::null_mut()),
            slots: Mutex::new(Slots {
                current: Some(generation),
                previous: None,
            }),
            state: RwLock::new(StateSlot { mem: state }),
            next_generation: AtomicU64::new(2),
            drain_timeout: options.drain_timeout,
            probation_calls: options.probation_calls,
            state_policy: options.state_policy,
            catch_crashes: options.catch_crashes.is_on(),
            reaper: Reaper::start(
                shadow.clone(),
                events.clone(),
                options.drain_timeout,
                options.retire.keeps_mapped(I::DECL.rust_types),
            ),
            events,
            shadow,
        };
        inner.set_current(&first);
        drop(first);
        Ok(Plugin {
            inner: Arc::new(inner),
        })
    }

    /// The number of the generation now serving (1 for the first load).
    pub fn generation(&self) -> u64 {
        let _pin = epoch::pin();
        // SAFETY: entered the epoch domain before loading the pointer, as in `invoke`.
        unsafe { (*self.inner.current_generation()).id }
    }

    /// How many events were dropped because the [`Options::events`] channel was full.
    pub fn dropped_events(&self) -> u64 {
        self.inner.events.dropped()
    }

    /// The directory holding this plugin's shadow copies.
    pub fn shadow_dir(&self) -> &Path {
        self.inner.shadow.path()
    }

    /// The shadow copies now on disk (one per generation still loaded).
    pub fn shadow_copies(&self) -> Vec<PathBuf> {
        self.inner.shadow.copies()
    }
}

impl<I: PluginInterface> Inner<I> {
    fn events(&self) -> Events {
        self.events.clone()
    }
}

impl<I: PluginInterface> Drop for Inner<I> {
    fn drop(&mut self) {
        let slots = self.slots.get_mut().unwrap_or_else(PoisonError::into_inner);
        let current = slots.current.take().expect("current");
        let previous = slots.previous.take();
        let events = self.events.clone();
        let state = self.state.get_mut();
        if let (Some(mem), Some(hooks)) = (state.mem.take(), current.state.as_ref()) {
            drop_state(mem, hooks, &events, current.id);
        }
        self.current.store(std::ptr::null_mut(), Ordering::Release);
        if let Some(p) = previous {
            self.reaper.retire(p);
        }
        self.reaper.retire(current);
        self.reaper.stop();
    }
}
