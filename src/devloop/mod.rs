//! The development loop as a library: a plugin handle that follows its crate's sources.
//!
//! [`HotPlugin::watch`] builds a plugin crate with cargo, loads it, and then keeps it
//! live: every save rebuilds the crate ([`hotdev_watcher`]) and swaps the new library in
//! ([`hotdev_host`]), while the program keeps calling through the same handle with its
//! state intact. A failed build or a refused library leaves the current generation
//! serving.
//!
//! The host can hold reloads off around a section that must see one generation
//! ([`HotPlugin::hold_reloads`]), be called before and after each swap
//! ([`HotPlugin::before_swap`], [`HotPlugin::after_swap`]) and wait for one
//! ([`HotPlugin::wait_for_reload`]). What it needs of the crates underneath is re-exported
//! here ([`WatchEvent`], [`HostEvent`], [`Options`], ...), so it depends on hotdev alone,
//! with `default-features = false` (no command line, no dev server).
//!
//! ```no_run
//! # reloadable::ffi_interface! { pub mod counter { fn step(n: u64) -> u64; } }
//! use counter::Calls;
//! let (hot, events) = hotdev::devloop::HotPlugin::<counter::Interface>::watch("examples/counter/plugin")?;
//! loop {
//!     println!("{}", hot.step(1)?);          // the newest saved code answers
//!     while let Ok(event) = events.try_recv() {
//!         println!("{event:?}");
//!     }
//!     std::thread::sleep(std::time::Duration::from_secs(1));
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod core;
mod report;

use std::io::{self, IsTerminal};
use std::ops::{ControlFlow, Deref};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use hotdev_watcher::Config;

use crate::reload_hooks::ReloadHooks;
use reloadable::PluginInterface;
use report::{Reporter, describe_changes, ms};

pub use self::core::{BuildError, Core, Follower, Outside, Ready, WatchError};

// What a host needs next to `HotPlugin`, so that it depends on hotdev alone.
pub use crate::reload_hooks::ReloadHold;
pub use crossbeam_channel::{Receiver as EventReceiver, RecvTimeoutError};
pub use hotdev_host::{
    CallError, Event as HostEvent, LoadError, Options, Plugin, Reloaded as HostReloaded, Retire,
};
pub use hotdev_watcher::{Artifact, Event as WatchEvent};

/// What happened in the loop, in order.
#[non_exhaustive]
#[derive(Debug)]
pub enum DevEvent {
    /// Something the watcher reported (changes, builds, failures with diagnostics).
    Watch(hotdev_watcher::Event),
    /// Something the host reported (loads, swaps, drains, unloads, panics, rollbacks).
    Host(hotdev_host::Event),
    /// A build's library is live.
    Reloaded {
        /// The new generation.
        generation: u64,
        /// What changed to cause it.
        changed: Vec<PathBuf>,
        /// How long cargo took.
        build: Duration,
        /// Copy, validation and load hook.
        load: Duration,
        /// The table swap.
        swap: Duration,
    },
    /// A build's library was refused; the current generation keeps serving.
    Rejected(LoadError),
    /// Files outside the plugin crate changed: a crate the plugin depends on, such as an
    /// interface crate. If the host compiles that crate too, the running host still has
    /// its old build of it (its types, declarations and the code the host calls itself):
    /// restart the host to use the change. The plugin is rebuilt and reloaded as usual,
    /// and refused (`HD013`, `HD015`) if what it declares no longer matches the host.
    /// Sent before the `Reloaded` or `Rejected` of that build.
    OutsidePluginChanged {
        /// The packages (by name, or directory when unknown) whose files changed.
        packages: Vec<String>,
        /// The changed files outside the plugin crate.
        paths: Vec<PathBuf>,
    },
}

/// Why the loop could not start.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    /// The watcher could not start, the first build failed (with the compiler's
    /// diagnostics), or the watcher stopped before it finished.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The first library was refused.
    #[error(transparent)]
    Load(#[from] LoadError),
}

/// Settings for [`HotPlugin::watch_with`].
#[derive(Debug, Clone)]
pub struct HotOptions {
    /// Build with `--release`. Default: the profile this program was built with (release
    /// when debug assertions are off), so that crates shared with the plugin are compiled
    /// alike, which a Rust-typed interface requires.
    pub release: bool,
    /// The host program's package, selected with every plugin build of its workspace so
    /// that the dependencies they share resolve the same features as in the host's build
    /// (see `hotdev_watcher::Config::companions`). Default: `$CARGO_PKG_NAME`, which
    /// `cargo run` sets for the program it runs.
    pub host_package: Option<String>,
    /// More arguments for every `cargo build` of the plugin, such as the `--features` the
    /// host was built with when they change a crate the two share. Default none.
    pub cargo_args: Vec<std::ffi::OsString>,
    /// The debounce window (`None`: the watcher's default).
    pub debounce: Option<Duration>,
    /// Folders of static files (a plugin's `static/`) watched beside the sources: a save
    /// there is reported as `WatchEvent::AssetsChanged` and builds nothing (the axum
    /// integration swaps stylesheets with it). Default none.
    pub asset_dirs: Vec<PathBuf>,
    /// Print a status line while building and one line per reload on stderr.
    pub report: bool,
    /// The host's options (its `events` field is replaced by the loop's).
    pub host: Options,
}

impl Default for HotOptions {
    fn default() -> Self {
        HotOptions {
            release: !cfg!(debug_assertions),
            host_package: std::env::var("CARGO_PKG_NAME").ok(),
            cargo_args: Vec::new(),
            debounce: None,
            asset_dirs: Vec::new(),
            report: false,
            host: Options::default(),
        }
    }
}

/// A plugin handle whose generations advance by themselves as the crate's files are saved.
/// Dereferences to the [`Plugin`], so calls go through it as usual.
///
/// A call that never returns (an endless loop while editing, say) keeps its thread and
/// its generation, but no reload waits for it: the next saved fix serves every new call
/// at once. The thread cannot be stopped; see [`Plugin`]'s section on such calls for what
/// a host should do (call from threads it can spare, give up waiting after a deadline,
/// exit the process rather than drop the plugin while a call is stuck).
pub struct HotPlugin<I: PluginInterface> {
    plugin: Plugin<I>,
    hooks: Arc<ReloadHooks>,
    stop: Sender<()>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl<I: PluginInterface> std::fmt::Debug for HotPlugin<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HotPlugin")
            .field("plugin", &self.plugin)
            .finish_non_exhaustive()
    }
}

impl<I: PluginInterface> Deref for HotPlugin<I> {
    type Target = Plugin<I>;
    fn deref(&self) -> &Plugin<I> {
        &self.plugin
    }
}

impl<I: PluginInterface> HotPlugin<I> {
    /// Builds the plugin crate in `dir`, loads it, and follows its sources, reporting on
    /// stderr. Returns once the first generation serves.
    ///
    /// Each build is loaded into this process and its code runs here: what is checked
    /// before, and what is trusted (a plugin built from the developer's own source, as
    /// `cargo run` trusts what it builds), is on
    /// [`Plugin::load`](hotdev_host::Plugin::load) (its `# Trust` section).
    pub fn watch(dir: impl AsRef<Path>) -> Result<(Self, Receiver<DevEvent>), DevError> {
        Self::watch_with(
            dir,
            HotOptions {
                report: true,
                ..HotOptions::default()
            },
        )
    }

    /// [`watch`](Self::watch) with settings.
    pub fn watch_with(
        dir: impl AsRef<Path>,
        options: HotOptions,
    ) -> Result<(Self, Receiver<DevEvent>), DevError> {
        let dir = dir.as_ref().to_path_buf();
        let mut config = Config::new([dir.clone()]);
        config.release = options.release;
        config.companions.extend(options.host_package.clone());
        config.extra_args.extend(options.cargo_args.iter().cloned());
        config.asset_dirs.extend(options.asset_dirs.iter().cloned());
        config.color = options.report && io::stderr().is_terminal();
        if let Some(d) = options.debounce {
            config.debounce = d;
        }
        let mut core = Core::start(config).map_err(BuildError::from)?;
        let reporter = Reporter::new(options.report);
        let (tx, rx) = crossbeam_channel::unbounded();

        // The first generation: wait for the first build. Its `BuildStarted` and
        // `BuildFinished` go to the channel; its `Reloaded` follows them, as for every
        // later build.
        let first = core.first_build(|event| {
            reporter.watch(&event);
            if !matches!(event, hotdev_watcher::Event::ArtifactReady(_)) {
                let _ = tx.send(DevEvent::Watch(event));
            }
        });
        let first = match first {
            Ok(first) => first,
            Err(e) => {
                core.shutdown();
                return Err(e.into());
            }
        };
        let (host_tx, host_rx) = crossbeam_channel::unbounded();
        let host_options = Options {
            events: Some(host_tx),
            ..options.host
        };
        let started = Instant::now();
        let plugin = match Plugin::<I>::load_with(&first.artifact, host_options) {
            Ok(p) => p,
            Err(e) => {
                core.shutdown();
                return Err(e.into());
            }
        };
        let load = started.elapsed();
        reporter.line(&format!(
            "hotdev: generation 1 live (build {}, load {})",
            ms(first.build),
            ms(load)
        ));
        let _ = tx.send(DevEvent::Reloaded {
            generation: plugin.generation(),
            changed: Vec::new(),
            build: first.build,
            load,
            swap: Duration::ZERO,
        });

        let (stop, stop_rx) = crossbeam_channel::bounded(1);
        let follower = plugin.clone();
        let hooks = Arc::new(ReloadHooks::default());
        let loop_hooks = hooks.clone();
        let thread = std::thread::Builder::new()
            .name("hotdev-devloop".into())
            .spawn(move || {
                let f = Follow {
                    plugin: follower,
                    stop: stop_rx,
                    tx,
                    reporter,
                    hooks: loop_hooks,
                };
                follow(core, f, host_rx)
            })
            .expect("spawning the dev loop thread");
        let hot = HotPlugin {
            plugin,
            hooks,
            stop,
            thread: Mutex::new(Some(thread)),
        };
        Ok((hot, rx))
    }

    /// The plugin handle (also reachable through `Deref`).
    pub fn plugin(&self) -> &Plugin<I> {
        &self.plugin
    }

    /// Holds reloads off while the returned guard lives: a build that finishes meanwhile
    /// is swapped in once every hold is dropped, never in between. For a section of the
    /// host that must see one generation throughout (several calls whose results must
    /// agree, a state being saved for the next generation). Holds may nest; taking one
    /// while a swap is under way waits for the swap (about a millisecond).
    ///
    /// Holding does not stop calls from running, nor builds: only the swap waits. Do not
    /// wait for a reload ([`wait_for_reload`](Self::wait_for_reload)) while holding one.
    pub fn hold_reloads(&self) -> ReloadHold {
        self.hooks.hold()
    }

    /// Calls `f` on the dev loop's thread when a build's library is ready, before the
    /// loop waits for holds and swaps it in (it may still be refused). `f` gets a
    /// [`ReloadHold`]: the swap waits until it is dropped, so `f` may send it to the
    /// host's main loop, which saves what it must and then calls
    /// [`ReloadHold::release_and_wait`] (or drops it). Dropping it in `f` lets the swap
    /// go at once.
    pub fn before_swap(&self, f: impl Fn(ReloadHold) + Send + Sync + 'static) {
        let hooks = Arc::downgrade(&self.hooks);
        self.hooks.on_before(Box::new(move || {
            if let Some(hooks) = hooks.upgrade() {
                f(hooks.hold());
            }
        }));
    }

    /// Calls `f` with the new generation on the dev loop's thread after each successful
    /// swap (not after a refused library).
    pub fn after_swap(&self, f: impl Fn(u64) + Send + Sync + 'static) {
        self.hooks.on_after(Box::new(f));
    }

    /// Blocks until the next successful reload after this call and returns its
    /// generation. A build that fails or a library that is refused does not count.
    pub fn wait_for_reload(&self) -> u64 {
        let seen = self.hooks.reloads();
        self.hooks
            .wait_for_reload(seen, None)
            .expect("waiting without a timeout")
    }

    /// [`wait_for_reload`](Self::wait_for_reload), giving up after `timeout` (`None`).
    pub fn wait_for_reload_timeout(&self, timeout: Duration) -> Option<u64> {
        let seen = self.hooks.reloads();
        self.hooks.wait_for_reload(seen, Some(timeout))
    }

    /// Stops watching and terminates a running cargo and its children. The plugin keeps
    /// serving its current generation; dropping the last handle drains and unloads it.
    pub fn stop_watching(&self) {
        // The loop's thread owns the watcher and shuts it down as it ends.
        let _ = self.stop.try_send(());
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
    }
}

impl<I: PluginInterface> Drop for HotPlugin<I> {
    fn drop(&mut self) {
        self.stop_watching();
    }
}

/// The library's dev loop on its thread: swaps each ready library into the plugin and
/// forwards every event to the host's channel.
struct Follow<I: PluginInterface> {
    plugin: Plugin<I>,
    stop: Receiver<()>,
    tx: Sender<DevEvent>,
    reporter: Reporter,
    hooks: Arc<ReloadHooks>,
}

/// Runs the loop until the handle stops it; the watcher (`core`) is shut down as it ends.
fn follow<I: PluginInterface>(
    mut core: Core,
    mut f: Follow<I>,
    host_rx: Receiver<hotdev_host::Event>,
) {
    let stop = f.stop.clone();
    let ended = core.run(&mut f, &stop, &host_rx);
    if let Err(WatchError::Fatal(error)) = ended {
        // The watcher's last event: the host hears it like every other.
        let event = hotdev_watcher::Event::Fatal(error);
        f.reporter.watch(&event);
        let _ = f.tx.send(DevEvent::Watch(event));
    }
    core.shutdown();
}

impl<I: PluginInterface> Follower for Follow<I> {
    type Message = hotdev_host::Event;

    fn event(&mut self, event: hotdev_watcher::Event) {
        self.reporter.watch(&event);
        let _ = self.tx.send(DevEvent::Watch(event));
    }

    fn message(&mut self, event: hotdev_host::Event) -> ControlFlow<()> {
        self.reporter.host(&event);
        let _ = self.tx.send(DevEvent::Host(event));
        ControlFlow::Continue(())
    }

    fn ready(&mut self, ready: Ready) -> ControlFlow<()> {
        let Ready {
            artifact: path,
            changed: cause,
            build,
            outside,
            ..
        } = ready;
        let Follow {
            plugin,
            stop,
            tx,
            reporter,
            hooks,
        } = self;
        if let Some(Outside {
            packages, paths, ..
        }) = outside
        {
            reporter.line(&format!(
                "hotdev: {} changed outside the plugin crate ({}); if the host \
                 compiles it too, the host runs its old build of it: restart the \
                 host to use the change",
                describe_changes(&paths),
                packages.join(", ")
            ));
            let _ = tx.send(DevEvent::OutsidePluginChanged {
                packages: packages.clone(),
                paths,
            });
            if I::DECL.rust_types {
                // The check at load compares each crossing type's identity, not its
                // definition: an edited crate that host and plugin both compile keeps its
                // identity, and the host still has the old definition. Refuse rather than
                // risk two layouts of one type.
                let e = LoadError::OutsideChange {
                    path: path.clone(),
                    packages,
                };
                reporter.line(&format!("hotdev: {e}\n  fix: {}", e.fix()));
                let _ = tx.send(DevEvent::Rejected(e));
                return ControlFlow::Continue(());
            }
        }
        let Some(held) = hooks.begin_swap(stop) else {
            return ControlFlow::Break(());
        };
        if held >= Duration::from_millis(1) {
            tracing::debug!(waited = ?held, "a reload waited for the host's holds");
        }
        let result = plugin.reload(&path);
        hooks.end_swap(result.as_ref().ok().map(|r| r.generation));
        match result {
            Ok(r) => {
                reporter.line(&format!(
                    "hotdev: {} -> hot-reloaded, generation {} live (build {}, load {}, swap {:.1} µs)",
                    describe_changes(&cause),
                    r.generation,
                    ms(build),
                    ms(r.load),
                    r.swap.as_secs_f64() * 1e6
                ));
                let _ = tx.send(DevEvent::Reloaded {
                    generation: r.generation,
                    changed: cause,
                    build,
                    load: r.load,
                    swap: r.swap,
                });
            }
            Err(e) => {
                reporter.line(&format!("hotdev: {e}\n  fix: {}", e.fix()));
                let _ = tx.send(DevEvent::Rejected(e));
            }
        }
        ControlFlow::Continue(())
    }
}
