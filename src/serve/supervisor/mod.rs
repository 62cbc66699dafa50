//! The supervisor of `hotdev serve`: the process the user started. It binds the listening
//! socket, watches and builds, prints to the terminal and writes `--events`; a worker
//! process (`worker.rs`) loads the plugin and serves HTTP on that socket.
//!
//! ```text
//!  supervisor: socket, watcher, cargo, terminal, --events, artifact copies
//!     │ stdin: commands (load, building, build_failed, assets, shutdown)
//!     ▼
//!  worker: HTTP threads accept on the inherited socket, plugin, live reload (SSE)
//!     │ report pipe: events, terminal lines, "serving generation N from artifact A"
//!     │ crash pipe: records written by its signal handlers (crash.rs)
//!     ▼
//!  supervisor
//! ```
//!
//! When the worker dies from a signal, the socket stays bound and listening here, so new
//! connections wait in its backlog; a new worker starts at once. It loads the same
//! generation again, unless the restart policy ([`restarts`](super::restarts)) gives that
//! generation up (a crash loop, a crash while loading or on probation, too many crashes
//! in the window): then it is marked bad, never loaded again, and the last good
//! generation serves (its artifact was copied when it was built), or the waiting page
//! shows until a fix is saved. The new worker's browsers get a notice naming the signal,
//! the route, the generation and what was done, and the terminal and `--events`
//! (`crashed`) say the same. When the plugin has save/restore hooks
//! (`export_plugin!(.., migrate: ..)`), the worker saves the state with them each time a
//! generation goes live and sends the bytes here; the next worker restores them (so the
//! state is the one of the last reload, not of the moment of the crash). Without hooks,
//! the state starts again from its `Default`, and the notice says "state reset".
//!
//! A worker that dies before its first generation serves (a crash in a load hook) counts
//! towards a backoff: the restarts after the first wait 100 ms, 200 ms, ... up to 5 s. Each
//! such crash marks its generation bad, so the supervisor soon runs out of generations to
//! try and waits for the next build, which it loads at once.
//!
//! The files: `spawn.rs` starts a worker, sends it commands and stops it; `reports.rs`
//! reads what it reports; `exit.rs` decides, when one ends, what the next one loads (the
//! glue to the restart policy); `copies.rs` keeps the builds' artifacts.

mod copies;
mod exit;
mod reports;
mod spawn;

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use crossbeam_channel::{Receiver, Sender};

use super::diagnostics::Failure;
use super::restarts::Restarts;
use super::watch::{Target, Watch, serve_last_build};
use super::worker::Command;
use super::{ServeOptions, Shared};
use crate::events::Event;
use copies::Copies;
use spawn::{FromWorker, Worker};

/// The supervisor's view of the generations and its worker.
struct Supervisor {
    shared: Arc<Shared>,
    opts: ServeOptions,
    plugin_dir: PathBuf,
    listener: TcpListener,
    tx: Sender<FromWorker>,
    copies: Copies,
    worker: Option<Worker>,
    next_id: u64,
    /// Generations that served, with their artifact copies.
    good: BTreeMap<u64, PathBuf>,
    /// Generations that crashed or were rolled back: never loaded again.
    bad: BTreeSet<u64>,
    /// The highest generation number given out.
    max_seen: u64,
    /// The generation serving.
    serving: Option<u64>,
    /// Artifact copies sent to the worker that have not served yet.
    pending: Vec<PathBuf>,
    /// A build the dead worker never got to load: the next worker loads it.
    retry: Option<PathBuf>,
    /// The last build's failure, while it is the last build.
    failed: Option<(Failure, u64)>,
    /// Crashes in a row of workers that never served.
    start_crashes: u32,
    /// A restart waiting for its backoff: when, and what it loads.
    restart_at: Option<Instant>,
    /// The notice for the next worker's browsers.
    notice: Option<(u64, String)>,
    /// Open the page in a browser once a generation serves.
    open: Option<String>,
    /// The worker's `shutdown` event was forwarded.
    saw_shutdown: bool,
    /// The plugin's state as its save hook wrote it when the last generation went live,
    /// and that generation.
    state: Option<(u64, Vec<u8>)>,
    /// The restart policy and the crash history it keeps.
    restarts: Restarts,
}

/// Runs the supervisor until `shutdown` receives. See the module docs.
pub(super) fn run(
    opts: &ServeOptions,
    plugin_dir: PathBuf,
    shared: Arc<Shared>,
    shutdown: Receiver<()>,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(opts.addr)
        .with_context(|| format!("[HD082] could not listen on {}", opts.addr))?;
    let addr = listener
        .local_addr()
        .context("[HD082] the socket has no address")?;
    let copies = Copies::create()?;
    let url = super::announce(&shared, opts, addr);
    let (tx, rx) = crossbeam_channel::unbounded();
    let mut sup = Supervisor {
        shared: Arc::clone(&shared),
        opts: opts.clone(),
        plugin_dir: plugin_dir.clone(),
        listener,
        tx,
        copies,
        worker: None,
        next_id: 1,
        good: BTreeMap::new(),
        bad: BTreeSet::new(),
        max_seen: 0,
        serving: None,
        pending: Vec::new(),
        retry: None,
        failed: None,
        start_crashes: 0,
        restart_at: None,
        notice: None,
        open: opts.open.then_some(url),
        saw_shutdown: false,
        state: None,
        restarts: Restarts::new(opts.restart_intensity),
    };
    sup.spawn(None, None)?;
    // The worker starts and loads the last run's library while the watcher asks cargo
    // (the fast start).
    let preloaded = serve_last_build(&shared, opts, &plugin_dir, &mut sup);
    let mut watch = match Watch::start(&shared, opts, plugin_dir, preloaded) {
        Ok(watch) => watch,
        Err(error) => {
            sup.stop_worker(&rx);
            return Err(error);
        }
    };
    // The worker's messages never close here: `sup` holds a sender.
    let outcome = watch.run(&shared, &mut sup, &shutdown, &rx);
    shared.term.stop_spinner();
    sup.stop_worker(&rx);
    if !sup.saw_shutdown {
        shared.emit(&Event::Shutdown { abandoned: 0 });
    }
    watch.shutdown();
    outcome
}

impl Target for Supervisor {
    type Message = FromWorker;

    fn building(&mut self) {
        self.send(&Command::Building);
    }

    fn build_failed(&mut self, failure: Failure, ms: u64) {
        self.failed = Some((failure.clone(), ms));
        self.send(&Command::BuildFailed { failure, ms });
    }

    fn assets_changed(&mut self, urls: &[String]) {
        self.send(&Command::Assets {
            urls: urls.to_vec(),
        });
    }

    fn load(&mut self, path: &Path, build_ms: Option<u64>) {
        let copy = match self.copies.store(path) {
            Ok(copy) => copy,
            Err(error) => {
                self.shared.term.line(&format!(
                    "[HD065] could not copy the build's artifact {} into {}: {error}; \
                     loading it in place",
                    path.display(),
                    self.copies.dir().display()
                ));
                path.to_path_buf()
            }
        };
        if self.worker.is_some() {
            self.pending.push(copy.clone());
            self.send(&Command::Load {
                artifact: copy,
                build_ms,
            });
            return;
        }
        // No worker (it crashed and waits for its backoff, or nothing was left to load):
        // a new build is new code, so it starts one at once (and supersedes any build the
        // dead worker did not get to).
        if let Some(older) = self.retry.take() {
            let _ = std::fs::remove_file(older);
        }
        self.restart_at = None;
        self.start_crashes = 0;
        let generation = self.max_seen + 1;
        if let Err(error) = self.spawn(Some((generation, copy)), build_ms) {
            self.shared.term.line(&format!("{error:#}"));
            self.restart_at = Some(Instant::now() + Duration::from_millis(100));
        }
    }

    fn serving(&self) -> Option<u64> {
        self.serving
    }

    fn message(&mut self, message: FromWorker) {
        self.on_worker(message);
    }

    /// A restart waiting for its backoff.
    fn deadline(&self) -> Option<Instant> {
        self.restart_at
    }

    fn deadline_passed(&mut self) {
        self.restart_at = None;
        self.restart();
    }
}
