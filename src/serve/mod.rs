//! `hotdev serve`: the development server.
//!
//! The server builds a plugin crate that implements [`reloadable::web::app`], serves it
//! over HTTP/1.1, and keeps serving while the developer edits it:
//!
//! ```text
//!  watcher (hotdev-watcher) ──► artifact ──► Plugin::reload (hotdev-host) ──► browsers reload
//!     │ build failed                              │ rejected
//!     └──────────────► overlay in the browser ◄───┘  (the current generation keeps serving)
//! ```
//!
//! By default (Unix) the server is two processes: the one the user started, the
//! *supervisor* (`supervisor.rs`), binds the socket, follows the watcher and builds, and
//! prints and writes `--events`; a *worker* process (`worker.rs`) loads the plugin and
//! runs the HTTP server on the inherited socket. When a crash ends the worker, the
//! supervisor starts another on the last generation that did not crash (`crash.rs` names
//! the signal, route and generation). `--single-process` runs everything in one process,
//! as below.
//!
//! In the process that serves, three kinds of threads share one `Shared` value: the HTTP workers (which call the
//! plugin), one thread per browser event stream, and the thread that called [`run`], which
//! follows the watcher and swaps generations. What happens is reported three ways: lines
//! on stderr for the developer, [`Event`]s for scripts (`--events`), and server-sent
//! events for browsers (`/__hotdev/events`).
//!
//! Every request names a host the server answers to, or is refused before anything else
//! reads it (`hosts.rs`, with the decision in [`crate::allowed_hosts`]): IP addresses,
//! `localhost`, `*.localhost` and the names given with `--allowed-host`.
//!
//! Static files (the plugin crate's `static/`, or `--static DIR`) take a shorter path: a
//! save there is reported by the watcher as an asset change and never builds; the server
//! says so on the terminal and on `--events` (`asset_changed`), and tells the browsers,
//! whose script swaps a changed stylesheet in place and reloads the page for anything
//! else.
//! A handler that never returns cannot be stopped (a thread cannot be killed safely), so
//! the server stops waiting for it: past the handler timeout its client gets a 504 page,
//! its worker is replaced, and the call is counted as stuck until it returns (`calls.rs`).
//! A route that keeps failing in one generation trips a breaker (`breaker.rs`). A reload
//! never waits for stuck calls: the new generation serves new requests at once. On
//! shutdown the server waits a moment for running calls, then exits without the stuck
//! ones.

use crate::browser::{diagnostics, live, pages};
use crate::events::millis;

mod breaker;
mod calls;
#[cfg(unix)]
mod crash;
mod hosts;
mod http;
pub mod restarts;
mod static_files;
#[cfg(unix)]
mod supervisor;
#[cfg(unix)]
mod worker;

#[cfg(unix)]
pub use worker::run as run_worker;

use std::io::{self, IsTerminal};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::Context;
use crossbeam_channel::{Receiver, select};
use hotdev_host::{Plugin, StateChange, StatePolicy};
use hotdev_watcher::Config;

use crate::allowed_hosts::AllowedHosts;
use crate::devloop::Core;
use reloadable::web::app;

use crate::events::{Event, EventWriter, EventsTarget};
use crate::term::Term;
use diagnostics::Failure;
use live::{Hub, Notice};
use static_files::StaticDir;

/// The plugin type the server runs.
type WebPlugin = Plugin<app::Interface>;

/// The default address: loopback only.
pub const DEFAULT_ADDR: &str = "127.0.0.1:7878";

/// How long a request handler may run before its client gets a 504 and the call is
/// abandoned (`--handler-timeout`).
pub const DEFAULT_HANDLER_TIMEOUT: Duration = Duration::from_secs(5);

/// How long shutdown waits for running requests before abandoning them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// What `hotdev serve` was asked to do.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The plugin crate's directory.
    pub plugin_dir: PathBuf,
    /// Where to listen; port 0 picks a free port.
    pub addr: SocketAddr,
    /// Build with `--release`.
    pub release: bool,
    /// Where to write JSON events, if anywhere.
    pub events: Option<EventsTarget>,
    /// Open the page in the system browser once the first build serves.
    pub open: bool,
    /// The directory served under `/static/`. `None`: the plugin crate's `static/` when it
    /// exists, else no static files.
    pub static_dir: Option<PathBuf>,
    /// How long a request handler may run before its client gets a 504 and the call is abandoned. Also
    /// the host's drain timeout: a reload never waits longer for calls in an old
    /// generation.
    pub handler_timeout: Duration,
    /// When the plugin's state changes layout and cannot be migrated, refuse the new
    /// generation (`HD022`) instead of resetting the state to its `Default`.
    pub keep_state: bool,
    /// Serve from this process, as one process (for debuggers and comparisons). By default
    /// (on Unix) this process supervises a worker process that serves, and starts a new
    /// one when a crash ends it; elsewhere the server always runs as one process.
    pub single_process: bool,
    /// How many crashes of one generation within how long make the supervisor give it up
    /// instead of restarting it (`--restart-intensity`, 5 in 10 s by default).
    pub restart_intensity: restarts::Intensity,
    /// The names the server answers to besides IP addresses, `localhost` and the names
    /// under it (`--allowed-host`); the host of [`addr`](Self::addr) is added. Requests
    /// naming any other host are refused (`HD057`): see [`crate::allowed_hosts`].
    pub allowed_hosts: AllowedHosts,
}

impl ServeOptions {
    /// Options for serving `plugin_dir` on the default address.
    pub fn new(plugin_dir: impl Into<PathBuf>) -> Self {
        ServeOptions {
            plugin_dir: plugin_dir.into(),
            addr: DEFAULT_ADDR.parse().expect("the default address is valid"),
            release: false,
            events: None,
            open: false,
            static_dir: None,
            handler_timeout: DEFAULT_HANDLER_TIMEOUT,
            keep_state: false,
            single_process: false,
            restart_intensity: restarts::Intensity::default(),
            allowed_hosts: AllowedHosts::new(),
        }
    }
}

/// Maps the host's generation numbers (1, 2, ... in each process that loads the plugin)
/// to the server's, which go on counting across worker processes: the first generation a
/// worker loads is `first` (a generation that served before a crash, or the next build),
/// the ones after it count up from `second`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gens {
    first: u64,
    second: u64,
}

impl Gens {
    /// One process: the host's numbers as they are.
    pub(crate) const ONE_PROCESS: Gens = Gens {
        first: 1,
        second: 2,
    };

    /// The server's number for the host's generation `host`.
    pub(crate) fn display(&self, host: u64) -> u64 {
        match host {
            0 => 0,
            1 => self.first,
            h => self.second + (h - 2),
        }
    }
}

/// What the HTTP workers, the event streams and the reload loop share.
#[derive(Debug)]
pub(crate) struct Shared {
    plugin: RwLock<Option<WebPlugin>>,
    /// How host generation numbers are shown.
    gens: Gens,
    hub: Hub,
    term: Term,
    events: Option<EventWriter>,
    static_dir: Option<StaticDir>,
    calls: calls::Calls,
    breaker: breaker::Breaker,
    /// Whether the limit of stuck calls was reported.
    cap_reported: AtomicBool,
    /// The `Host` and `Origin` headers answered, and the refusals already reported.
    hosts: hosts::HostCheck,
}

impl Shared {
    /// The plugin, once the first build has loaded.
    fn plugin(&self) -> Option<WebPlugin> {
        self.plugin
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The generation serving, once one is.
    fn generation(&self) -> Option<u64> {
        self.plugin().map(|p| self.gens.display(p.generation()))
    }

    fn emit(&self, event: &Event) {
        if let Some(events) = &self.events {
            events.emit(event);
        }
    }
}

/// Runs the development server until `shutdown` receives (or its sender goes away).
///
/// By default (on Unix) this process is the *supervisor*: it owns the listening socket,
/// the watcher and the builds, the terminal and `--events`, and runs the HTTP server and
/// the plugin in a worker process (`supervisor.rs`), which it replaces when a crash ends
/// it. With [`ServeOptions::single_process`] (and on other platforms) everything runs in
/// this process.
///
/// On shutdown the server stops accepting connections and gives running requests a
/// moment to finish, emits `shutdown`, ends the browsers' event streams, stops the watcher
/// (and its cargo), and drops the plugin, which drains and unloads every generation. Calls
/// that are stuck (or still running after that moment) are abandoned: the plugin is then
/// left loaded, and the process can exit without them.
pub fn run(opts: ServeOptions, shutdown: Receiver<()>) -> anyhow::Result<()> {
    let plugin_dir = opts.plugin_dir.canonicalize().with_context(|| {
        format!(
            "[HD083] could not open the plugin directory {}",
            opts.plugin_dir.display()
        )
    })?;
    if !plugin_dir.join("Cargo.toml").is_file() {
        anyhow::bail!(
            "[HD083] {} is not a crate (no Cargo.toml); create one with `hotdev new {}`",
            plugin_dir.display(),
            opts.plugin_dir.display()
        );
    }
    let static_dir = open_static_dir(opts.static_dir.as_deref(), &plugin_dir)?;
    let events = match &opts.events {
        Some(target) => Some(
            EventWriter::open(target)
                .with_context(|| format!("[HD084] could not open the events file {target}"))?,
        ),
        None => None,
    };
    let mut allowed = opts.allowed_hosts.clone();
    allowed.allow_addr(opts.addr);
    let shared = Arc::new(Shared::new(
        Term::default(),
        events,
        static_dir,
        opts.handler_timeout,
        Gens::ONE_PROCESS,
        allowed,
    ));
    #[cfg(unix)]
    if !opts.single_process {
        return supervisor::run(&opts, plugin_dir, shared, shutdown);
    }
    single_process(&opts, plugin_dir, shared, shutdown)
}

/// The static directory: `--static DIR`, else the plugin crate's `static/` if it exists.
fn open_static_dir(asked: Option<&Path>, plugin_dir: &Path) -> anyhow::Result<Option<StaticDir>> {
    let open = |dir: &Path| {
        StaticDir::open(dir).with_context(|| {
            format!(
                "[HD090] could not open the static directory {}",
                dir.display()
            )
        })
    };
    let static_dir = match asked {
        Some(dir) => Some(open(dir)?),
        None => {
            let default = plugin_dir.join("static");
            if default.is_dir() {
                Some(open(&default)?)
            } else {
                None
            }
        }
    };
    if let Some(files) = &static_dir {
        // Files under the static folder never build: a folder holding the crate itself
        // would stop every rebuild (and serve the sources).
        if plugin_dir.starts_with(files.root()) {
            anyhow::bail!(
                "[HD090] the static directory {} holds the plugin crate {}; pass a folder \
                 inside it, such as {}",
                files.root().display(),
                plugin_dir.display(),
                plugin_dir.join("static").display()
            );
        }
    }
    Ok(static_dir)
}

impl Shared {
    fn new(
        term: Term,
        events: Option<EventWriter>,
        static_dir: Option<StaticDir>,
        handler_timeout: Duration,
        gens: Gens,
        allowed: AllowedHosts,
    ) -> Self {
        Shared {
            plugin: RwLock::new(None),
            gens,
            hub: Hub::default(),
            term,
            events,
            static_dir,
            calls: calls::Calls::new(handler_timeout),
            breaker: breaker::Breaker::default(),
            cap_reported: AtomicBool::new(false),
            hosts: hosts::HostCheck::new(allowed),
        }
    }
}

/// Says where the server listens (once, from the process the user started).
fn announce(shared: &Shared, opts: &ServeOptions, addr: SocketAddr) -> String {
    let url = format!("http://{addr}/");
    shared.term.line(&format!(
        "hotdev serving {} at {url}",
        display_dir(&opts.plugin_dir)
    ));
    if !addr.ip().is_loopback() {
        shared.term.line(&format!(
            "warning: listening on {}, beyond this machine's loopback: anyone who can reach \
             it can use this server",
            addr.ip()
        ));
    }
    if opts.allowed_hosts.allows_any() {
        shared.term.line(
            "warning: --allowed-host all: requests naming any host are answered, so any web \
             page open in your browser can read this server through DNS rebinding",
        );
    }
    if let Some(files) = &shared.static_dir {
        shared.term.line(&format!(
            "static files from {} at {url}static/ (changes there need no build)",
            files.root().display()
        ));
    }
    shared.emit(&Event::Listening {
        addr: addr.to_string(),
        url: url.clone(),
    });
    url
}

/// The server in this process: HTTP workers, plugin and watcher together.
fn single_process(
    opts: &ServeOptions,
    plugin_dir: PathBuf,
    shared: Arc<Shared>,
    shutdown: Receiver<()>,
) -> anyhow::Result<()> {
    let listener = std::net::TcpListener::bind(opts.addr)
        .with_context(|| format!("[HD082] could not listen on {}", opts.addr))?;
    let server = http::HttpServer::start(listener, Arc::clone(&shared))?;
    let url = announce(&shared, opts, server.addr());
    let mut watch = match Watch::start(&shared, opts, plugin_dir) {
        Ok(watch) => watch,
        Err(error) => {
            server.stop(Duration::ZERO);
            return Err(error);
        }
    };
    let changes = watch.events();
    let (mut reloader, host_thread) = Reloader::start(
        Arc::clone(&shared),
        opts.handler_timeout,
        opts.keep_state,
        opts.open.then_some(url),
    )?;
    let outcome = loop {
        select! {
            recv(shutdown) -> _ => break Ok(()),
            recv(changes) -> event => match event {
                Ok(event) => {
                    if let Err(error) = watch.on_watch(&shared, &mut reloader, event) {
                        break Err(error);
                    }
                }
                Err(_) => break Err(anyhow::anyhow!("the watcher stopped")),
            },
        }
    };
    shared.term.stop_spinner();
    stop_serving(&shared, server, reloader, host_thread, || watch.shutdown());
    outcome
}

/// Shuts the HTTP side down in order: no new requests, tell listeners, stop cargo (`then`),
/// unload the plugin.
fn stop_serving(
    shared: &Shared,
    server: http::HttpServer,
    mut reloader: Reloader,
    host_thread: JoinHandle<()>,
    then: impl FnOnce(),
) {
    let by_generation = shared.calls.by_generation();
    let abandoned = server.stop(SHUTDOWN_GRACE);
    if abandoned > 0 {
        let detail = by_generation
            .iter()
            .map(|(g, (running, _))| format!("{running} in generation {g}"))
            .collect::<Vec<_>>()
            .join(", ");
        shared.term.line(&format!(
            "abandoning {abandoned} calls still running ({detail}): their threads cannot be \
             stopped; exiting without them"
        ));
    }
    shared.emit(&Event::Shutdown {
        abandoned: abandoned as u64,
    });
    shared.hub.close(Duration::from_secs(1));
    then();
    drop(reloader.host_events.take());
    let plugin = shared
        .plugin
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    if abandoned == 0 {
        drop(plugin);
        join_within(host_thread, Duration::from_secs(10));
    } else {
        // Dropping the plugin would wait for the abandoned calls (a drain timeout) and
        // could never unload their library; the process exits with it still loaded.
        std::mem::forget(plugin);
        // The host's event channel stays open with the plugin: do not wait for its end.
        drop(host_thread);
    }
}

/// Where the watcher's news goes: the server in this process, or the worker process.
trait Target {
    /// A build started.
    fn building(&mut self);
    /// The build failed.
    fn build_failed(&mut self, failure: Failure, ms: u64);
    /// Static files changed (their URLs).
    fn assets_changed(&mut self, urls: &[String]);
    /// A build's artifact is ready: load it as the next generation.
    fn load(&mut self, path: &Path, build_ms: Option<u64>);
    /// The generation serving, for the terminal.
    fn serving(&self) -> Option<u64>;
}

/// Follows the watcher through the dev loop's [`Core`]: reports changes and builds, and
/// hands artifacts to the target.
struct Watch {
    core: Core,
    name: String,
    /// The canonical plugin directory (asset paths are shown relative to it).
    plugin_dir: PathBuf,
}

impl Watch {
    /// Starts the watcher on the plugin crate (and the static folder).
    fn start(shared: &Shared, opts: &ServeOptions, plugin_dir: PathBuf) -> anyhow::Result<Watch> {
        let mut config = Config::new([plugin_dir.clone()]);
        config.release = opts.release;
        config.color = io::stderr().is_terminal();
        if let Some(files) = &shared.static_dir {
            config.asset_dirs.push(files.root().to_path_buf());
        }
        let core = Core::start(config).map_err(|error| {
            anyhow::Error::new(error).context("could not start watching the plugin")
        })?;
        Ok(Watch {
            core,
            name: display_dir(&opts.plugin_dir),
            plugin_dir,
        })
    }

    /// The watcher's events, to pass to [`on_watch`](Self::on_watch).
    fn events(&self) -> Receiver<hotdev_watcher::Event> {
        self.core.events().clone()
    }

    /// Stops the watcher and its cargo.
    fn shutdown(&mut self) {
        self.core.shutdown();
    }

    fn on_watch(
        &mut self,
        shared: &Shared,
        target: &mut dyn Target,
        event: hotdev_watcher::Event,
    ) -> anyhow::Result<()> {
        use hotdev_watcher::Event as W;
        if let Some(ready) = self.core.follow(&event) {
            target.load(&ready.artifact, Some(millis(ready.build)));
            return Ok(());
        }
        match event {
            W::Changed { paths } => {
                tracing::debug!(?paths, "changed");
                shared.emit(&Event::Change {
                    paths: paths.iter().map(|p| p.display().to_string()).collect(),
                });
            }
            W::BuildStarted { .. } => {
                // The hub (what browsers and /__hotdev/status see) changes before the JSON
                // event goes out, so that a script reacting to the event sees the same state.
                target.building();
                shared.emit(&Event::BuildStarted);
                shared.term.build_started(&self.name);
            }
            W::BuildFinished { duration, .. } => {
                shared.term.stop_spinner();
                shared.emit(&Event::BuildFinished {
                    ms: millis(duration),
                });
            }
            W::BuildFailed {
                duration,
                diagnostics,
                messages,
                ..
            } => {
                shared.term.stop_spinner();
                let ms = millis(duration);
                let serving = match target.serving() {
                    Some(g) => format!("generation {g} keeps serving"),
                    None => "nothing is serving yet".to_string(),
                };
                shared
                    .term
                    .line(&format!("build failed after {ms} ms; {serving}"));
                shared.term.verbatim(&diagnostics);
                let failure = Failure::from_build(&messages, &diagnostics, &self.plugin_dir);
                let message = failure.rendered.clone();
                target.build_failed(failure, ms);
                shared.emit(&Event::BuildFailed { message, ms });
            }
            W::BuildSuperseded { duration, .. } => {
                tracing::debug!(ms = millis(duration), "build superseded by a newer change");
            }
            W::AssetsChanged { paths } => self.assets_changed(shared, target, &paths),
            W::Warning(message) => {
                shared.term.line(&format!("warning: {message}"));
                shared.emit(&Event::Warning { message });
            }
            W::Fatal(error) => {
                shared.term.stop_spinner();
                return Err(anyhow::Error::new(error).context("the watcher stopped"));
            }
            #[allow(unreachable_patterns)] // The watcher's events are non-exhaustive.
            other => tracing::debug!(?other, "unhandled watcher event"),
        }
        Ok(())
    }

    /// Static files changed (no build): the terminal, the events and the browsers hear it.
    fn assets_changed(&self, shared: &Shared, target: &mut dyn Target, paths: &[PathBuf]) {
        let Some(files) = &shared.static_dir else {
            return;
        };
        let mut urls = Vec::with_capacity(paths.len());
        for path in paths {
            let Some(url) = files.url_for(path) else {
                continue;
            };
            let shown = path.strip_prefix(&self.plugin_dir).unwrap_or(path);
            let what = if url.to_ascii_lowercase().ends_with(".css") {
                "open pages swap the stylesheet"
            } else {
                "open pages reload"
            };
            shared
                .term
                .line(&format!("{} changed: {what}, no build", shown.display()));
            shared.emit(&Event::AssetChanged {
                path: path.display().to_string(),
                url: url.clone(),
            });
            urls.push(url);
        }
        if !urls.is_empty() {
            target.assets_changed(&urls);
        }
    }
}

/// A generation went live (for the worker: its report to the supervisor), with the
/// plugin's state saved by its hooks, if it has them.
type OnServing = Box<dyn Fn(u64, &Path, Option<Vec<u8>>) + Send>;

/// Loads and swaps generations in the process that serves.
struct Reloader {
    shared: Arc<Shared>,
    host_events: Option<crossbeam_channel::Sender<hotdev_host::Event>>,
    /// Open this URL in a browser once the first generation serves.
    open: Option<String>,
    drain_timeout: Duration,
    state_policy: StatePolicy,
    /// The host's number for the next generation it loads.
    next_host: u64,
    on_serving: Option<OnServing>,
    /// State bytes to restore into the first generation loaded, and the generation that
    /// saved them (a worker after a crash).
    restore: Option<(u64, Vec<u8>)>,
}

impl Target for Reloader {
    fn building(&mut self) {
        self.shared.hub.building();
    }

    fn build_failed(&mut self, failure: Failure, ms: u64) {
        self.shared.hub.build_failed(failure, ms);
    }

    fn assets_changed(&mut self, urls: &[String]) {
        self.shared.hub.assets_changed(urls);
    }

    fn load(&mut self, path: &Path, build_ms: Option<u64>) {
        Reloader::load(self, path, build_ms);
    }

    fn serving(&self) -> Option<u64> {
        self.shared.generation()
    }
}

impl Reloader {
    /// A reloader for `shared`, and the thread that reports the host's events.
    fn start(
        shared: Arc<Shared>,
        drain_timeout: Duration,
        keep_state: bool,
        open: Option<String>,
    ) -> anyhow::Result<(Reloader, JoinHandle<()>)> {
        let (host_tx, host_rx) = crossbeam_channel::unbounded();
        let host_thread = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("hotdev-host-events".into())
                .spawn(move || follow_host(&host_rx, &shared))
                .context("[HD078] could not start the host event thread")?
        };
        let reloader = Reloader {
            shared,
            host_events: Some(host_tx),
            open,
            drain_timeout,
            state_policy: if keep_state {
                StatePolicy::Refuse
            } else {
                StatePolicy::Reset
            },
            next_host: 1,
            on_serving: None,
            restore: None,
        };
        Ok((reloader, host_thread))
    }

    /// Loads the first generation, or swaps in the next one.
    fn load(&mut self, path: &Path, build_ms: Option<u64>) {
        let shared = &*self.shared;
        let current = shared.plugin();
        let before = shared.calls.snapshot();
        let started = Instant::now();
        #[cfg(unix)]
        crash::enter_load(shared.gens.display(self.next_host));
        let result = match &current {
            Some(plugin) => plugin
                .reload(path)
                .map(|r| (r.generation, r.load, r.swap, r.state)),
            None => {
                let options = hotdev_host::Options {
                    events: self.host_events.clone(),
                    drain_timeout: self.drain_timeout,
                    state_policy: self.state_policy,
                    ..Default::default()
                };
                WebPlugin::load_with(path, options).map(|plugin| {
                    let generation = plugin.generation();
                    *shared.plugin.write().unwrap_or_else(|p| p.into_inner()) = Some(plugin);
                    (
                        generation,
                        started.elapsed(),
                        Duration::ZERO,
                        StateChange::Kept,
                    )
                })
            }
        };
        #[cfg(unix)]
        crash::leave();
        match result {
            Ok((host_generation, load, swap, state)) => {
                self.next_host = host_generation + 1;
                let generation = shared.gens.display(host_generation);
                report_state(shared, generation, state);
                if let Some((from, bytes)) = self.restore.take() {
                    restore_state(shared, generation, from, &bytes);
                }
                let flight = shared.calls.since(&before, generation);
                shared.breaker.forget_before(generation);
                let build = build_ms
                    .map(|ms| format!("build {ms} ms, "))
                    .unwrap_or_default();
                let line = if current.is_some() {
                    format!(
                        "reloaded generation {generation}: {build}load {} ms, swap {:.1} µs{}",
                        millis(load),
                        swap.as_nanos() as f64 / 1000.0,
                        describe_flight(flight)
                    )
                } else {
                    format!(
                        "loaded generation {generation}: {build}load {} ms",
                        millis(load)
                    )
                };
                shared.term.line(&line);
                shared.hub.reloaded(generation, build_ms);
                if let Some(on_serving) = &self.on_serving {
                    on_serving(generation, path, save_state(shared));
                }
                shared.emit(&Event::Reloaded {
                    generation,
                    build_ms: build_ms.unwrap_or(0),
                    load_ms: millis(load),
                    swap_us: u64::try_from(swap.as_micros()).unwrap_or(u64::MAX),
                    in_flight: flight.total(),
                    drained: flight.drained,
                    running: flight.running,
                    stuck: flight.stuck,
                });
                if current.is_none()
                    && let Some(url) = self.open.take()
                {
                    open_browser(&url);
                }
            }
            Err(error) => {
                let code = error.code();
                let message = error.to_string();
                let serving = match shared.generation() {
                    Some(g) => format!("generation {g} keeps serving"),
                    None => "nothing is serving yet".to_string(),
                };
                shared
                    .term
                    .line(&format!("reload rejected: {message}; {serving}"));
                shared
                    .hub
                    .rejected(Failure::refused(message.clone(), code, path));
                shared.emit(&Event::ReloadRejected {
                    code: code.to_string(),
                    message,
                });
            }
        }
    }
}

/// Tells what a reload did with the plugin's state, before the reload itself is reported
/// (so that browsers reloading for it find the notice).
fn report_state(shared: &Shared, generation: u64, state: StateChange) {
    match state {
        StateChange::Reset { diff, reason } => {
            let message = format!(
                "the plugin's state was reset: {} ({reason}); generation {generation} starts \
                 from Default",
                diff.join("; ")
            );
            shared
                .term
                .line(&format!("{message} (--keep-state refuses such changes)"));
            shared.hub.notice(Notice {
                generation,
                kind: "state_reset",
                message,
            });
            shared.emit(&Event::StateReset {
                generation,
                diff,
                reason,
            });
        }
        StateChange::Migrated { bytes } => {
            shared.term.line(&format!(
                "the plugin's state was migrated to generation {generation} ({bytes} bytes)"
            ));
            shared.emit(&Event::StateMigrated { generation, bytes });
        }
        _ => {}
    }
}

/// Restores the state that generation `from` saved into `generation` (the first a new
/// worker loads after a crash), and says how it went.
fn restore_state(shared: &Shared, generation: u64, from: u64, bytes: &[u8]) {
    let Some(plugin) = shared.plugin() else {
        return;
    };
    #[cfg(unix)]
    crash::enter_load(generation);
    let restored = plugin.restore_state(bytes);
    #[cfg(unix)]
    crash::leave();
    match restored {
        Ok(true) => shared.term.line(&format!(
            "the plugin's state was restored in generation {generation} ({} bytes, saved when \
             generation {from} went live)",
            bytes.len()
        )),
        Ok(false) => shared.term.line(&format!(
            "the plugin's state could not be restored in generation {generation} (it has no \
             restore hook, or calls held the state): it starts from Default"
        )),
        Err(error) => {
            let message = format!(
                "the plugin's state could not be restored in generation {generation}: {error}; \
                 it starts from Default"
            );
            shared.term.line(&format!("warning: {message}"));
            shared.emit(&Event::Warning { message });
        }
    }
}

/// The plugin's state as its save hook writes it, when it has one.
fn save_state(shared: &Shared) -> Option<Vec<u8>> {
    let plugin = shared.plugin()?;
    match plugin.save_state() {
        Ok(bytes) => bytes,
        Err(error) => {
            let message = format!(
                "the plugin's state could not be saved: {error}; after a crash it would \
                 start from Default"
            );
            shared.term.line(&format!("warning: {message}"));
            shared.emit(&Event::Warning { message });
            None
        }
    }
}

/// Reports what the host tells about generations (rollbacks, unloads, drain timeouts).
fn follow_host(events: &Receiver<hotdev_host::Event>, shared: &Shared) {
    use hotdev_host::Event as H;
    let display = |g| shared.gens.display(g);
    for event in events {
        match event {
            H::RolledBack { from, to, reason } => {
                let (from, to) = (display(from), display(to));
                shared.term.line(&format!(
                    "rolled back from generation {from} to {to}: {reason}"
                ));
                shared.hub.reloaded(to, None);
                shared.emit(&Event::RolledBack { from, to, reason });
            }
            H::Unloaded { generation, pinned } => {
                let generation = display(generation);
                match &pinned {
                    Some(why) => shared.term.line(&format!(
                        "warning: generation {generation} could not leave memory: {why}"
                    )),
                    None => tracing::debug!(generation, "unloaded"),
                }
                shared.emit(&Event::Unloaded { generation, pinned });
            }
            H::DrainTimeout {
                generation,
                waited,
                calls,
            } => {
                let generation = display(generation);
                // The host counts every call that entered before the generation was retired,
                // whichever generation it runs in; the server knows which.
                let running = shared.calls.by_generation();
                let (inside, stuck) = running.get(&generation).copied().unwrap_or_default();
                let older: u64 = running.range(..generation).map(|(_, (n, _))| n).sum();
                let mut why = format!("{inside} calls still running in it ({stuck} stuck)");
                if older > 0 {
                    why.push_str(&format!(
                        ", and {older} calls running in older generations hold it too"
                    ));
                }
                // Rendered here rather than by the event's `Display`: the server numbers
                // generations across worker processes, and knows where the calls run.
                shared.term.line(&format!(
                    "warning: [{}] generation {generation} is not drained after {} ms: \
                     {why}; its library stays loaded until they return",
                    reloadable::codes::DRAIN_TIMEOUT,
                    waited.as_millis()
                ));
                shared.emit(&Event::DrainTimeout {
                    generation,
                    waited_ms: millis(waited),
                    calls: calls as u64,
                });
            }
            H::ThreadsRunning {
                generation,
                threads,
            } => {
                let generation = display(generation);
                shared.term.line(&format!(
                    "warning: [{}] generation {generation} started {threads} thread(s) that \
                     still run; its library stays loaded until they end",
                    reloadable::codes::THREADS_RUNNING
                ));
                shared.emit(&Event::ThreadsRunning {
                    generation,
                    threads: threads as u64,
                });
            }
            H::UnloadHookPanicked {
                generation,
                message,
            } => {
                let generation = display(generation);
                let message = format!("generation {generation}'s unload hook panicked: {message}");
                shared.term.line(&format!("warning: {message}"));
                shared.emit(&Event::Warning { message });
            }
            // Panics are reported by the request that met them, rejections by `load`.
            other => tracing::debug!(?other, "host event"),
        }
    }
}

fn join_within(thread: JoinHandle<()>, limit: Duration) {
    let deadline = Instant::now() + limit;
    while !thread.is_finished() {
        if Instant::now() >= deadline {
            tracing::warn!("the host event thread did not finish; leaving it");
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
    let _ = thread.join();
}

/// `; calls in older generations: 2 drained, 1 still running (1 stuck)`, or nothing.
fn describe_flight(flight: calls::InFlight) -> String {
    if flight.total() == 0 {
        return String::new();
    }
    let stuck = if flight.stuck > 0 {
        format!(" ({} stuck)", flight.stuck)
    } else {
        String::new()
    };
    format!(
        "; calls in older generations: {} drained, {} still running{stuck}",
        flight.drained, flight.running
    )
}

fn display_dir(dir: &Path) -> String {
    dir.display().to_string()
}

/// Opens `url` in the system browser, best effort.
fn open_browser(url: &str) {
    let mut command = if cfg!(target_os = "macos") {
        Command::new("open")
    } else if cfg!(windows) {
        let mut c = Command::new("cmd");
        c.args(["/C", "start", ""]);
        c
    } else {
        Command::new("xdg-open")
    };
    let spawned = command
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    match spawned {
        // Reap the opener without waiting for it here.
        Ok(mut child) => {
            thread::spawn(move || child.wait());
        }
        Err(error) => tracing::warn!(%error, "could not open a browser"),
    }
}
