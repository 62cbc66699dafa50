//! The running loop: a control thread that owns the file watcher, the scheduler and the
//! cargo child, and one reader thread per build.
//!
//! ```text
//!  notify watcher thread ───fs events──┐
//!  Watcher::rebuild / shutdown ──cmds───┼──► control thread ──Event──► caller
//!  build reader thread ──cargo output───┘     (filter, scheduler, cargo child)
//! ```
//!
//! Only the control thread reaps the cargo child, and it signals cargo's process group
//! only before reaping it, so the group id it signals is always cargo's own.
//!
//! The stages, each in its file: what to watch (`plan.rs`: cargo metadata, target
//! directories, ignore files), the watches themselves (`watches.rs`), what each file
//! event means and when it is time to build (`crate::filter`, `crate::schedule`), and
//! a build's life from spawn to artifact (`build.rs`).

mod build;
mod plan;
mod watches;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, select};
use notify::EventKind;
use notify::event::{ModifyKind, RenameMode};

use crate::cargo::{self, Stop};
use crate::filter::{Change, ChangeKind, WatchPlan};
use crate::schedule::{Action, Scheduler, Windows};
use crate::{Config, Error, Event};
use build::{BuildNews, RunningBuild, error_chain};
use plan::{add_resolved_packages, resolve_crate, resolve_plan};
use watches::Watches;

type FsEvent = notify::Result<notify::Event>;

#[derive(Debug)]
enum Command {
    Rebuild,
    Shutdown,
}

/// A running watch-and-build loop.
///
/// Created by [`Watcher::start`]; events arrive on the channel returned with it. Dropping
/// the `Watcher` shuts it down.
#[derive(Debug)]
pub struct Watcher {
    watched: Vec<PathBuf>,
    commands: Sender<Command>,
    thread: Option<JoinHandle<()>>,
    build_pid: Arc<Mutex<Option<u32>>>,
}

impl Watcher {
    /// Resolves what to watch, starts watching, and starts the first build at once.
    ///
    /// Fails if a crate directory is not a package, `cargo metadata` fails, or a
    /// directory cannot be watched (including running out of inotify watches).
    pub fn start(config: Config) -> Result<(Watcher, Receiver<Event>), Error> {
        let _span = tracing::info_span!("devloop_start", crates = ?config.crate_dirs).entered();
        if config.crate_dirs.is_empty() {
            return Err(Error::NoCrates);
        }
        let mut plan = resolve_plan(&config)?;
        let roots = plan.roots();

        let (fs_tx, fs_rx) = crossbeam_channel::unbounded();
        // Raw events, as the OS reports them: the scheduler tells a complete save (closed
        // after writing, renamed into place) from a write that may still go on, and
        // debounces only the latter.
        let watcher = notify::recommended_watcher(move |event: FsEvent| {
            let _ = fs_tx.send(event);
        })
        .map_err(|source| Error::from_notify(roots[0].clone(), source))?;
        let mut watches = Watches {
            watcher,
            dirs: HashSet::new(),
        };
        for root in &roots {
            let mut files = Vec::new();
            watches.watch_tree(&mut plan, root, &mut files)?;
        }
        let packages: Vec<&str> = plan.packages.iter().map(|p| p.name.as_str()).collect();
        tracing::info!(dirs = watches.dirs.len(), ?roots, ?packages, "watching");

        let scheduler = Scheduler::new(
            Windows {
                debounce: config.debounce,
                settle: config.settle,
                complete_settle: config.complete_settle,
            },
            config.restart_build_on_change,
            plan.packages.iter().map(|p| p.plugins.clone()).collect(),
            plan.plugins.iter().map(|p| p.workspace).collect(),
        );
        let (events_tx, events_rx) = crossbeam_channel::unbounded();
        let (commands_tx, commands_rx) = crossbeam_channel::unbounded();
        let (build_tx, build_rx) = crossbeam_channel::unbounded();
        let build_pid = Arc::new(Mutex::new(None));
        let control = Control {
            config,
            plan,
            watches: Some(watches),
            scheduler,
            events: events_tx,
            build: None,
            build_tx,
            build_pid: Arc::clone(&build_pid),
        };
        let thread = std::thread::Builder::new()
            .name("hotdev-watcher".into())
            .spawn(move || control.run(fs_rx, commands_rx, build_rx))
            .map_err(|source| Error::Thread {
                name: "hotdev-watcher",
                source,
            })?;
        let dev = Watcher {
            watched: roots,
            commands: commands_tx,
            thread: Some(thread),
            build_pid,
        };
        Ok((dev, events_rx))
    }

    /// Requests a build now (as if a file changed).
    pub fn rebuild(&self) {
        let _ = self.commands.send(Command::Rebuild);
    }

    /// Stops watching, terminates a running cargo and all its children (SIGTERM to the
    /// process group, then SIGKILL after [`Config::kill_grace`]), and joins the threads.
    /// Idempotent. Also done on drop.
    pub fn shutdown(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = self.commands.send(Command::Shutdown);
            if thread.join().is_err() {
                tracing::error!("the watcher thread panicked");
            }
        }
    }

    /// The directories being watched: each local package's root (and any source
    /// directory of its library or build script outside it) and each asset directory,
    /// each as a tree. Packages that a manifest change adds later are watched too, but
    /// not listed here.
    pub fn watched(&self) -> &[PathBuf] {
        &self.watched
    }

    /// The process id of the running cargo build, if one runs. On unix it is also the id
    /// of the process group holding cargo and everything it started.
    pub fn build_pid(&self) -> Option<u32> {
        *self
            .build_pid
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct Control {
    config: Config,
    plan: WatchPlan,
    watches: Option<Watches>,
    scheduler: Scheduler,
    events: Sender<Event>,
    build: Option<RunningBuild>,
    build_tx: Sender<(u64, BuildNews)>,
    build_pid: Arc<Mutex<Option<u32>>>,
}

impl Control {
    fn run(
        mut self,
        fs_rx: Receiver<FsEvent>,
        commands: Receiver<Command>,
        builds: Receiver<(u64, BuildNews)>,
    ) {
        let _span = tracing::info_span!("hotdev_watcher").entered();
        self.scheduler.request_all();
        self.act(Instant::now());
        loop {
            let now = Instant::now();
            let deadline = [
                self.scheduler.deadline(),
                self.build.as_ref().and_then(|b| b.kill_deadline),
            ]
            .into_iter()
            .flatten()
            .min();
            let timeout = deadline.map_or(Duration::from_secs(3600), |d| d - now.min(d));
            select! {
                recv(fs_rx) -> message => match message {
                    Ok(first) => {
                        // Take every event already queued, so that changes reported
                        // together (an editor's "save all") land in one batch.
                        let queued = std::iter::once(first).chain(fs_rx.try_iter());
                        let (events, errors): (Vec<_>, Vec<_>) = queued.partition(Result::is_ok);
                        self.on_fs_events(events.into_iter().flatten().collect());
                        self.on_fs_errors(errors.into_iter().filter_map(Result::err).collect());
                    }
                    Err(_) => {
                        self.emit(Event::Fatal(Error::WatcherDied));
                        break;
                    }
                },
                recv(commands) -> command => match command {
                    Ok(Command::Rebuild) => self.scheduler.request_all(),
                    Ok(Command::Shutdown) | Err(_) => break,
                },
                recv(builds) -> message => match message {
                    Ok((id, BuildNews::Succeeded(artifacts))) => self.on_build_succeeded(id, artifacts),
                    Ok((id, BuildNews::Ended(output))) => self.on_build_output(id, output),
                    Err(_) => {}
                },
                default(timeout) => {}
            }
            if let Some(build) = &mut self.build
                && build.kill_deadline.is_some_and(|d| Instant::now() >= d)
            {
                tracing::warn!(id = build.id, "cargo ignored SIGTERM; killing its group");
                cargo::signal_group(&mut build.child, Stop::Kill);
                build.kill_deadline = None;
            }
            self.act(Instant::now());
        }
        self.stop(&builds);
    }

    fn emit(&self, event: Event) {
        tracing::debug!(?event, "event");
        // A caller that dropped the receiver no longer listens; keep building regardless.
        let _ = self.events.send(event);
    }

    fn act(&mut self, now: Instant) {
        for action in self.scheduler.poll(now) {
            match action {
                Action::Changed(paths) => self.emit(Event::Changed { paths }),
                Action::Assets(mut paths) => {
                    // Only files still there: an editor's temporary file renamed away,
                    // or a file deleted (and not yet re-created), is nothing a page
                    // could load.
                    paths.retain(|path| path.is_file());
                    if !paths.is_empty() {
                        tracing::debug!(?paths, "asset changes");
                        self.emit(Event::AssetsChanged { paths });
                    }
                }
                Action::Start { id, plugins, cause } => self.start_build(id, plugins, cause),
                Action::Kill { id } => {
                    if let Some(build) = self.build.as_mut().filter(|b| b.id == id) {
                        tracing::info!(id, "a change arrived during the build; restarting it");
                        cargo::signal_group(&mut build.child, Stop::Terminate);
                        build.stopped = true;
                        build.kill_deadline = Some(now + self.config.kill_grace);
                    }
                }
            }
        }
    }

    fn on_fs_events(&mut self, events: Vec<notify::Event>) {
        let now = Instant::now();
        let mut changes: Vec<Change> = Vec::new();
        let mut assets: Vec<(PathBuf, ChangeKind)> = Vec::new();
        for event in events {
            tracing::trace!(?event, "fs event");
            if event.need_rescan() {
                self.emit(Event::Warning(
                    "the file watcher lost events (its queue overflowed); rebuilding".into(),
                ));
                self.scheduler.request_all();
                continue;
            }
            let (appeared, gone) = moved_paths(&event);
            for path in gone {
                if let Some(watches) = &mut self.watches {
                    watches.forget(path);
                }
            }
            for path in appeared {
                changes.extend(self.watch_new_dir(path, &mut assets));
            }
            changes.extend(self.plan.classify(&event, Path::is_dir));
            assets.extend(self.plan.asset_paths(&event, Path::is_dir));
        }
        self.scheduler.record_assets(now, assets);
        if !changes.is_empty() {
            tracing::debug!(?changes, "source changes");
            if changes
                .iter()
                .any(|c| c.path.file_name() == Some("Cargo.toml".as_ref()))
            {
                self.refresh_plan();
            }
            self.scheduler.record(now, changes);
        }
    }

    /// Re-reads the package graph after a manifest changed, and watches packages that
    /// were added (a new path dependency). Packages no longer used stay watched.
    fn refresh_plan(&mut self) {
        let _span = tracing::info_span!("refresh_plan").entered();
        let known = self.plan.packages.len();
        for index in 0..self.plan.plugins.len() {
            let crate_dir = self.plan.plugins[index].crate_dir.clone();
            match resolve_crate(&self.config, &crate_dir) {
                Ok(resolved) => {
                    self.plan.plugins[index].name = resolved.plugin.name.clone();
                    add_resolved_packages(&mut self.plan, index, &resolved);
                }
                Err(error) => {
                    // The build will say what is wrong with the manifest as well.
                    let message = format!(
                        "could not re-read the package graph after a manifest change: {}",
                        error_chain(&error)
                    );
                    tracing::warn!(%message);
                    self.emit(Event::Warning(message));
                }
            }
        }
        let new_dirs: Vec<PathBuf> = self.plan.packages[known..]
            .iter()
            .flat_map(|p| p.dirs.clone())
            .collect();
        if let Some(watches) = &mut self.watches {
            for dir in &new_dirs {
                let mut files = Vec::new();
                if let Err(error) = watches.watch_tree(&mut self.plan, dir, &mut files) {
                    let _ = self.events.send(Event::Warning(error_chain(&error)));
                }
            }
        }
        if !new_dirs.is_empty() {
            tracing::info!(?new_dirs, "watching new packages");
        }
        self.scheduler.set_packages(
            self.plan
                .packages
                .iter()
                .map(|p| p.plugins.clone())
                .collect(),
        );
    }

    /// Watches a directory that appeared inside a watched tree; its files are changes
    /// (source changes returned, asset files pushed onto `assets`).
    fn watch_new_dir(
        &mut self,
        path: &Path,
        assets: &mut Vec<(PathBuf, ChangeKind)>,
    ) -> Vec<Change> {
        let Some(watches) = &mut self.watches else {
            return Vec::new();
        };
        if !path.is_dir() || watches.dirs.contains(path) || !self.plan.should_watch_dir(path) {
            return Vec::new();
        }
        let mut files = Vec::new();
        if let Err(error) = watches.watch_tree(&mut self.plan, path, &mut files) {
            tracing::warn!(%error, "could not watch a new directory");
            self.emit(Event::Warning(error_chain(&error)));
        }
        assets.extend(
            files
                .iter()
                .filter(|file| self.plan.is_asset_file(file))
                .map(|file| (file.clone(), ChangeKind::Created)),
        );
        files
            .into_iter()
            .filter_map(|file| {
                let package = self.plan.source_package(&file, false)?;
                Some(Change {
                    path: file,
                    package,
                    kind: ChangeKind::Created,
                })
            })
            .collect()
    }

    fn on_fs_errors(&mut self, errors: Vec<notify::Error>) {
        for error in errors {
            let path = error.paths.first().cloned().unwrap_or_default();
            let message = if crate::error::is_watch_limit(&error) {
                Error::WatchLimit { path }.to_string()
            } else {
                format!("file watcher error: {error}")
            };
            tracing::warn!(%message);
            self.emit(Event::Warning(message));
        }
    }

    /// Stops watching and ends a running build with its whole process group.
    fn stop(&mut self, builds: &Receiver<(u64, BuildNews)>) {
        if let Some(watches) = self.watches.take() {
            drop(watches);
        }
        let Some(mut build) = self.build.take() else {
            return;
        };
        let _span = tracing::info_span!("stop_build", id = build.id).entered();
        cargo::signal_group(&mut build.child, Stop::Terminate);
        build.stopped = true;
        // The reader's last word (its output at the pipes' end), past any earlier news.
        let ended_within = |timeout: Duration| {
            let deadline = Instant::now() + timeout;
            while let Ok((_, news)) = builds.recv_deadline(deadline) {
                if matches!(news, BuildNews::Ended(_)) {
                    return true;
                }
            }
            false
        };
        let mut ended = ended_within(self.config.kill_grace);
        if !ended {
            tracing::warn!("cargo did not stop after SIGTERM; killing its group");
            cargo::signal_group(&mut build.child, Stop::Kill);
            ended = ended_within(Duration::from_secs(10));
        }
        let (build, _) = self.reap(build);
        if ended {
            let _ = build.reader.join();
        } else {
            tracing::error!("cargo's output pipes stayed open after it was killed");
        }
    }
}

/// Paths that may be new directories, and paths that may be removed directories.
fn moved_paths(event: &notify::Event) -> (Vec<&Path>, Vec<&Path>) {
    let paths: Vec<&Path> = event.paths.iter().map(PathBuf::as_path).collect();
    match event.kind {
        EventKind::Create(_) | EventKind::Modify(ModifyKind::Name(RenameMode::To)) => {
            (paths, Vec::new())
        }
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => (
            paths.get(1).copied().into_iter().collect(),
            paths.first().copied().into_iter().collect(),
        ),
        EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(RenameMode::From)) => {
            (Vec::new(), paths)
        }
        _ => (Vec::new(), Vec::new()),
    }
}
