//! The development loop as a library: a plugin handle that follows its crate's sources.
//!
//! [`HotPlugin::watch`] builds a plugin crate with cargo, loads it, and then keeps it
//! live: every save rebuilds the crate ([`hotdev_watcher`]) and swaps the new library in
//! ([`hotdev_host`]), while the program keeps calling through the same handle with its
//! state intact. A failed build or a refused library leaves the current generation
//! serving.
//!
//! ```no_run
//! # reloadable::interface! { pub mod counter { fn step(n: u64) -> u64; } }
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

use std::io::{self, IsTerminal};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, select};
use hotdev_host::{LoadError, Options, Plugin};
use hotdev_watcher::{Config, DevLoop};

use crate::term::Term;
use reloadable::Interface;

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
}

/// Why the loop could not start.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    /// The watcher could not start (see its code in the message).
    #[error(transparent)]
    Watch(#[from] hotdev_watcher::Error),
    /// The first build failed; the compiler's diagnostics follow.
    #[error("[HD060] the first build of {} failed:\n{diagnostics}", dir.display())]
    FirstBuildFailed {
        /// The plugin crate.
        dir: PathBuf,
        /// cargo's rendered diagnostics.
        diagnostics: String,
    },
    /// The first library was refused.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The watcher stopped before the first build finished.
    #[error("[HD061] the watcher stopped before the first build of {} finished", dir.display())]
    Stopped {
        /// The plugin crate.
        dir: PathBuf,
    },
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
    /// The debounce window (`None`: the watcher's default).
    pub debounce: Option<Duration>,
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
            debounce: None,
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
pub struct HotPlugin<I: Interface> {
    plugin: Plugin<I>,
    devloop: Mutex<Option<DevLoop>>,
    stop: Sender<()>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl<I: Interface> std::fmt::Debug for HotPlugin<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HotPlugin")
            .field("plugin", &self.plugin)
            .finish_non_exhaustive()
    }
}

impl<I: Interface> Deref for HotPlugin<I> {
    type Target = Plugin<I>;
    fn deref(&self) -> &Plugin<I> {
        &self.plugin
    }
}

impl<I: Interface> HotPlugin<I> {
    /// Builds the plugin crate in `dir`, loads it, and follows its sources, reporting on
    /// stderr. Returns once the first generation serves.
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
        config.color = options.report && io::stderr().is_terminal();
        if let Some(d) = options.debounce {
            config.debounce = d;
        }
        let (mut devloop, watch_rx) = DevLoop::start(config)?;
        let reporter = Reporter::new(options.report);
        let (tx, rx) = crossbeam_channel::unbounded();

        // The first generation: wait for the first build.
        let mut build_time = Duration::ZERO;
        let artifact = loop {
            let Ok(event) = watch_rx.recv() else {
                devloop.shutdown();
                return Err(DevError::Stopped { dir });
            };
            reporter.watch(&event);
            match &event {
                hotdev_watcher::Event::BuildFinished { duration, .. } => build_time = *duration,
                hotdev_watcher::Event::BuildFailed { diagnostics, .. } => {
                    devloop.shutdown();
                    return Err(DevError::FirstBuildFailed {
                        dir,
                        diagnostics: diagnostics.clone(),
                    });
                }
                hotdev_watcher::Event::ArtifactReady(a) => break a.path.clone(),
                _ => {}
            }
            let _ = tx.send(DevEvent::Watch(event));
        };
        let (host_tx, host_rx) = crossbeam_channel::unbounded();
        let host_options = Options {
            events: Some(host_tx),
            ..options.host
        };
        let started = Instant::now();
        let plugin = match Plugin::<I>::load_with(&artifact, host_options) {
            Ok(p) => p,
            Err(e) => {
                devloop.shutdown();
                return Err(e.into());
            }
        };
        reporter.line(&format!(
            "hotdev: generation 1 live (build {}, load {})",
            ms(build_time),
            ms(started.elapsed())
        ));

        let (stop, stop_rx) = crossbeam_channel::bounded(1);
        let follower = plugin.clone();
        let thread = std::thread::Builder::new()
            .name("hotdev-devloop".into())
            .spawn(move || follow(follower, watch_rx, host_rx, stop_rx, tx, reporter))
            .expect("spawning the dev loop thread");
        let hot = HotPlugin {
            plugin,
            devloop: Mutex::new(Some(devloop)),
            stop,
            thread: Mutex::new(Some(thread)),
        };
        Ok((hot, rx))
    }

    /// The plugin handle (also reachable through `Deref`).
    pub fn plugin(&self) -> &Plugin<I> {
        &self.plugin
    }

    /// Stops watching and terminates a running cargo and its children. The plugin keeps
    /// serving its current generation; dropping the last handle drains and unloads it.
    pub fn stop_watching(&self) {
        if let Some(mut d) = self
            .devloop
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            d.shutdown();
        }
        let _ = self.stop.try_send(());
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
    }
}

impl<I: Interface> Drop for HotPlugin<I> {
    fn drop(&mut self) {
        self.stop_watching();
    }
}

fn follow<I: Interface>(
    plugin: Plugin<I>,
    watch_rx: Receiver<hotdev_watcher::Event>,
    host_rx: Receiver<hotdev_host::Event>,
    stop: Receiver<()>,
    tx: Sender<DevEvent>,
    reporter: Reporter,
) {
    let mut changed: Vec<PathBuf> = Vec::new();
    let mut build = Duration::ZERO;
    loop {
        select! {
            recv(stop) -> _ => return,
            recv(host_rx) -> event => match event {
                Ok(e) => {
                    reporter.host(&e);
                    let _ = tx.send(DevEvent::Host(e));
                }
                Err(_) => return,
            },
            recv(watch_rx) -> event => {
                let Ok(event) = event else { return };
                reporter.watch(&event);
                let ready = match &event {
                    hotdev_watcher::Event::Changed { paths } => {
                        changed.extend(paths.iter().cloned());
                        None
                    }
                    hotdev_watcher::Event::BuildFinished { duration, .. } => {
                        build = *duration;
                        None
                    }
                    hotdev_watcher::Event::ArtifactReady(a) => Some(a.path.clone()),
                    _ => None,
                };
                let _ = tx.send(DevEvent::Watch(event));
                if let Some(path) = ready {
                    let cause = std::mem::take(&mut changed);
                    match plugin.reload(&path) {
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
                }
            }
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

fn describe_changes(paths: &[PathBuf]) -> String {
    let names: Vec<String> = paths
        .iter()
        .filter_map(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    match names.len() {
        0 => "rebuilt".to_string(),
        1..=3 => names.join(", "),
        n => format!("{} and {} more", names[..2].join(", "), n - 2),
    }
}

/// Prints the loop's progress on stderr (through the same [`Term`] as `hotdev serve`):
/// a spinner with the elapsed time while cargo builds, one line per reload, diagnostics
/// verbatim. Silent when reporting is off.
struct Reporter(Option<Term>);

impl Reporter {
    fn new(enabled: bool) -> Self {
        Reporter(enabled.then(Term::default))
    }

    fn line(&self, text: &str) {
        if let Some(t) = &self.0 {
            t.line(text);
        }
    }

    fn watch(&self, event: &hotdev_watcher::Event) {
        use hotdev_watcher::Event as W;
        match event {
            W::BuildStarted { packages, .. } => {
                if let Some(t) = &self.0 {
                    t.build_started(&packages.join(", "));
                }
            }
            W::BuildFailed {
                diagnostics,
                duration,
                ..
            } => {
                self.line(&format!(
                    "hotdev: build failed after {}; the current generation keeps serving",
                    ms(*duration)
                ));
                if let Some(t) = &self.0 {
                    t.verbatim(diagnostics);
                }
            }
            W::BuildFinished { .. } | W::BuildSuperseded { .. } => {
                if let Some(t) = &self.0 {
                    t.stop_spinner();
                }
            }
            W::Warning(w) => self.line(&format!("hotdev: warning: {w}")),
            W::Fatal(e) => self.line(&format!("hotdev: the watcher stopped: {e}")),
            _ => {}
        }
    }

    fn host(&self, event: &hotdev_host::Event) {
        use hotdev_host::Event as H;
        match event {
            H::Drained {
                generation,
                calls,
                waited,
            } if *calls > 0 => self.line(&format!(
                "hotdev: generation {generation} drained after {}: the {calls} call(s) that \
                 entered before it was retired returned",
                ms(*waited)
            )),
            H::DrainTimeout {
                generation,
                calls,
                waited,
            } => self.line(&format!(
                "hotdev: [HD040] generation {generation} is not drained after {}: {calls} call(s) \
                 that entered before it was retired (in it or an older generation) are still \
                 running; it stays loaded until they return",
                ms(*waited)
            )),
            H::ThreadsRunning {
                generation,
                threads,
            } => self.line(&format!(
                "hotdev: [HD042] generation {generation} started {threads} thread(s) that still run; it stays loaded until they end"
            )),
            H::Unloaded {
                generation,
                pinned: Some(why),
            } => self.line(&format!(
                "hotdev: [HD041] generation {generation} stays mapped after unloading: {why}"
            )),
            H::Panicked {
                generation,
                message,
                location,
            } => self.line(&format!(
                "hotdev: [HD050] generation {generation} panicked{}: {message}",
                location
                    .as_ref()
                    .map(|l| format!(" at {l}"))
                    .unwrap_or_default()
            )),
            H::RolledBack { from, to, reason } => self.line(&format!(
                "hotdev: [HD051] rolled back from generation {from} to {to}: {reason}"
            )),
            H::StateReset { to, diff, reason, .. } => self.line(&format!(
                "hotdev: the plugin's state was reset: {} ({reason}); generation {to} starts from Default",
                diff.join("; ")
            )),
            _ => {}
        }
    }
}
