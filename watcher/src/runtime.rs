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

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, select};
use notify::event::{ModifyKind, RenameMode};
use notify::{EventKind, RecursiveMode, Watcher as _};

use crate::cargo::{self, BuildOutput, BuildSpec, Stop};
use crate::filter::{Change, ChangeKind, PluginSpec, WatchPlan};
use crate::schedule::{Action, Scheduler, Verdict, Windows};
use crate::{Artifact, Config, Error, Event, metadata};

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

/// Runs `cargo metadata` for every crate directory and merges the answers.
fn resolve_plan(config: &Config) -> Result<WatchPlan, Error> {
    let mut plan = WatchPlan::default();
    plan.asset_dirs = config
        .asset_dirs
        .iter()
        .map(|dir| canonical_or_self(dir))
        .collect();
    for crate_dir in &config.crate_dirs {
        let resolved = resolve_crate(config, crate_dir)?;
        if plan
            .plugins
            .iter()
            .any(|p| p.manifest_path == resolved.plugin.manifest_path)
        {
            continue; // the same crate named twice
        }
        let workspace = plan.workspace_index(&resolved.workspace_root);
        let index = plan.add_plugin(PluginSpec {
            name: resolved.plugin.name.clone(),
            crate_dir: crate_dir.clone(),
            manifest_path: resolved.plugin.manifest_path.clone(),
            workspace,
            companions: config
                .companions
                .iter()
                .filter(|c| **c != resolved.plugin.name && resolved.members.contains(c))
                .cloned()
                .collect(),
        });
        add_resolved_packages(&mut plan, index, &resolved);
        if let Some(dir) = target_dir_arg(&config.extra_args, &resolved.workspace_root) {
            plan.target_dirs.push(dir);
        }
    }
    Ok(plan)
}

fn resolve_crate(config: &Config, crate_dir: &Path) -> Result<metadata::Resolved, Error> {
    let canonical = crate_dir.canonicalize().map_err(|source| Error::CrateDir {
        path: crate_dir.to_owned(),
        source,
    })?;
    metadata::resolve(&config.cargo, &config.envs, &canonical.join("Cargo.toml"))
}

/// Adds the packages of a resolved plugin crate (with canonical directories) to `plan`.
fn add_resolved_packages(plan: &mut WatchPlan, plugin: usize, resolved: &metadata::Resolved) {
    let packages: Vec<(String, Vec<PathBuf>)> = std::iter::once(&resolved.plugin)
        .chain(&resolved.deps)
        .map(|p| {
            let dirs = std::iter::once(&p.root)
                .chain(&p.outside_dirs)
                .map(|d| canonical_or_self(d))
                .collect();
            (p.name.clone(), dirs)
        })
        .collect();
    for (_, dirs) in &packages {
        load_ancestor_gitignores(plan, &dirs[0]);
    }
    plan.add_packages(
        plugin,
        packages,
        canonical_or_self(&resolved.target_directory),
    );
}

/// The `--target-dir` among cargo arguments, resolved against `cwd` (where cargo runs).
/// Build output there must not count as a change either.
fn target_dir_arg(args: &[std::ffi::OsString], cwd: &Path) -> Option<PathBuf> {
    let mut args = args.iter();
    let mut found = None;
    while let Some(arg) = args.next() {
        let arg = arg.to_string_lossy();
        if arg == "--target-dir" {
            found = args.next().map(PathBuf::from);
        } else if let Some(dir) = arg.strip_prefix("--target-dir=") {
            found = Some(PathBuf::from(dir));
        }
    }
    found.map(|dir| canonical_or_self(&cwd.join(dir)))
}

/// `path` canonicalized, or its parent canonicalized and joined with its name (a target
/// directory may not exist yet), or `path` itself.
fn canonical_or_self(path: &Path) -> PathBuf {
    if let Ok(canonical) = path.canonicalize() {
        return canonical;
    }
    match (path.parent().map(Path::canonicalize), path.file_name()) {
        (Some(Ok(parent)), Some(name)) => parent.join(name),
        _ => path.to_owned(),
    }
}

/// Loads the `.gitignore` files that apply to `root` from above it: those of its
/// ancestors up to the git repository's root, then the repository's `.git/info/exclude`
/// and the user's global excludes file. Outside a repository, none apply.
fn load_ancestor_gitignores(plan: &mut WatchPlan, root: &Path) {
    let Some(repo) = root.ancestors().find(|d| d.join(".git").exists()) else {
        return;
    };
    load_repo_excludes(
        plan,
        repo,
        root,
        ignore::gitignore::gitconfig_excludes_path(),
    );
    if repo == root {
        return;
    }
    for dir in root.ancestors().skip(1) {
        if let Ok(text) = std::fs::read_to_string(dir.join(".gitignore")) {
            if !plan.add_gitignore_lines_unless_ignoring(dir, &text, Some(root)) {
                tracing::warn!(
                    package = %root.display(),
                    gitignore = %dir.join(".gitignore").display(),
                    "the package lies in a folder this .gitignore ignores; its rules are not applied to the package's files"
                );
            }
        }
        if dir == repo {
            break;
        }
    }
}

/// Adds `repo`'s `.git/info/exclude` and the global excludes file `global` (git's
/// `core.excludesFile`) to the plan's rules for the package at `root`.
fn load_repo_excludes(plan: &mut WatchPlan, repo: &Path, root: &Path, global: Option<PathBuf>) {
    // In a worktree or submodule `.git` is a file naming the real git directory; its
    // `info/exclude` is then not read (git reads the common directory's).
    let files: Vec<(PathBuf, String)> = [Some(repo.join(".git/info/exclude")), global]
        .into_iter()
        .flatten()
        .filter_map(|file| {
            let text = std::fs::read_to_string(&file).ok()?;
            Some((file, text))
        })
        .collect();
    for file in plan.add_repo_excludes(repo, &files, root) {
        tracing::warn!(
            package = %root.display(),
            excludes = %file.display(),
            "the package lies in a folder these excludes ignore; they are not applied to the package's files"
        );
    }
}

/// The notify watcher and the directories it watches (each non-recursively, so that
/// target directories and `.git` are never watched).
struct Watches {
    watcher: notify::RecommendedWatcher,
    dirs: HashSet<PathBuf>,
}

impl Watches {
    /// Watches `top` and every directory under it that the plan wants, collecting the
    /// files found on the way (used for directories that appear while running).
    fn watch_tree(
        &mut self,
        plan: &mut WatchPlan,
        top: &Path,
        files: &mut Vec<PathBuf>,
    ) -> Result<(), Error> {
        let mut stack = vec![top.to_path_buf()];
        while let Some(dir) = stack.pop() {
            if self.dirs.contains(&dir) {
                continue;
            }
            if let Ok(text) = std::fs::read_to_string(dir.join(".gitignore")) {
                plan.add_gitignore_lines(&dir, &text);
            }
            // Watch before listing, so a file created meanwhile is seen one way or the other.
            self.watcher
                .watch(&dir, RecursiveMode::NonRecursive)
                .map_err(|source| Error::from_notify(dir.clone(), source))?;
            self.dirs.insert(dir.clone());
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(error) => {
                    tracing::warn!(dir = %dir.display(), %error, "could not list directory");
                    continue;
                }
            };
            for entry in entries.flatten() {
                let Ok(file_type) = entry.file_type() else {
                    continue;
                };
                let path = entry.path();
                if file_type.is_dir() {
                    if plan.should_watch_dir(&path) {
                        stack.push(path);
                    }
                } else if file_type.is_file() {
                    files.push(path);
                }
            }
        }
        Ok(())
    }

    /// Forgets `path` and the directories under it (they were removed or moved away).
    fn forget(&mut self, path: &Path) {
        let gone: Vec<PathBuf> = self
            .dirs
            .iter()
            .filter(|d| d.starts_with(path))
            .cloned()
            .collect();
        for dir in gone {
            let _ = self.watcher.unwatch(&dir);
            self.dirs.remove(&dir);
        }
    }
}

struct RunningBuild {
    id: u64,
    child: Child,
    plugins: Vec<usize>,
    started: Instant,
    reader: JoinHandle<()>,
    /// When to escalate to SIGKILL, after a SIGTERM.
    kill_deadline: Option<Instant>,
    /// Whether we stopped it (then stragglers in its group are killed before reaping).
    stopped: bool,
}

struct Control {
    config: Config,
    plan: WatchPlan,
    watches: Option<Watches>,
    scheduler: Scheduler,
    events: Sender<Event>,
    build: Option<RunningBuild>,
    build_tx: Sender<(u64, BuildOutput)>,
    build_pid: Arc<Mutex<Option<u32>>>,
}

impl Control {
    fn run(
        mut self,
        fs_rx: Receiver<FsEvent>,
        commands: Receiver<Command>,
        builds: Receiver<(u64, BuildOutput)>,
    ) {
        let _span = tracing::info_span!("hotdev_watcher").entered();
        self.scheduler.request_all(Instant::now());
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
                    Ok(Command::Rebuild) => self.scheduler.request_all(Instant::now()),
                    Ok(Command::Shutdown) | Err(_) => break,
                },
                recv(builds) -> message => {
                    if let Ok((id, output)) = message {
                        self.on_build_output(id, output);
                    }
                },
                default(timeout) => {}
            }
            if let Some(build) = &mut self.build {
                if build.kill_deadline.is_some_and(|d| Instant::now() >= d) {
                    tracing::warn!(id = build.id, "cargo ignored SIGTERM; killing its group");
                    cargo::signal_group(&mut build.child, Stop::Kill);
                    build.kill_deadline = None;
                }
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
                self.scheduler.request_all(now);
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

    fn package_names(&self, plugins: &[usize]) -> Vec<String> {
        plugins
            .iter()
            .map(|&p| self.plan.plugins[p].name.clone())
            .collect()
    }

    fn start_build(&mut self, id: u64, plugins: Vec<usize>, cause: Vec<PathBuf>) {
        let packages = self.package_names(&plugins);
        let workspace = self.plan.plugins[plugins[0]].workspace;
        let spec = BuildSpec {
            cargo: self.config.cargo.clone(),
            envs: self.config.envs.clone(),
            extra_args: self.config.extra_args.clone(),
            release: self.config.release,
            color: self.config.color,
            workspace_root: self.plan.workspaces[workspace].clone(),
            plugins: plugins
                .iter()
                .map(|&p| {
                    (
                        self.plan.plugins[p].name.clone(),
                        self.plan.plugins[p].manifest_path.clone(),
                    )
                })
                .collect(),
            companions: {
                let mut c: Vec<String> = plugins
                    .iter()
                    .flat_map(|&p| self.plan.plugins[p].companions.clone())
                    .collect();
                c.sort();
                c.dedup();
                c
            },
            bin: self.config.bin.clone(),
            low_priority: self.config.low_priority_builds,
        };
        let started = Instant::now();
        let _span = tracing::info_span!("build", id, ?packages).entered();
        let spawned = spec.spawn().map_err(|source| Error::CargoSpawn {
            cargo: spec.cargo.clone(),
            source,
        });
        let mut child = match spawned {
            Ok(child) => child,
            Err(error) => {
                tracing::error!(%error, "could not start cargo");
                self.build_did_not_start(id, packages, cause, started, &error);
                return;
            }
        };
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            unreachable!("cargo is spawned with piped stdout and stderr");
        };
        let wanted = cargo::wanted(&spec);
        let tx = self.build_tx.clone();
        let reader = std::thread::Builder::new()
            .name("hotdev-cargo".into())
            .spawn(move || {
                let output = cargo::read_output(stdout, stderr, &wanted);
                let _ = tx.send((id, output));
            });
        let reader = match reader {
            Ok(reader) => reader,
            Err(source) => {
                cargo::signal_group(&mut child, Stop::Kill);
                let _ = child.wait();
                let error = Error::Thread {
                    name: "hotdev-cargo",
                    source,
                };
                self.build_did_not_start(id, packages, cause, started, &error);
                return;
            }
        };
        tracing::info!(pid = child.id(), ?cause, "cargo started");
        *self
            .build_pid
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(child.id());
        self.build = Some(RunningBuild {
            id,
            child,
            plugins,
            started,
            reader,
            kill_deadline: None,
            stopped: false,
        });
        self.emit(Event::BuildStarted { packages, cause });
    }

    /// Reaps the build, sweeping its process group first if we stopped it.
    fn reap(&self, mut build: RunningBuild) -> (RunningBuild, Option<std::process::ExitStatus>) {
        if build.stopped {
            // Cargo is gone but a build script's children may linger in its group. The
            // group id is still cargo's: cargo is not reaped yet.
            cargo::signal_group(&mut build.child, Stop::Kill);
        }
        let status = build.child.wait().ok();
        *self
            .build_pid
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
        (build, status)
    }

    /// Reports a build that could not run (cargo or its reader thread failed to start)
    /// as a build that started and failed, with the error as its diagnostics.
    fn build_did_not_start(
        &mut self,
        id: u64,
        packages: Vec<String>,
        cause: Vec<PathBuf>,
        started: Instant,
        error: &dyn std::error::Error,
    ) {
        self.scheduler.finished(id);
        self.emit(Event::BuildStarted {
            packages: packages.clone(),
            cause,
        });
        self.emit(Event::BuildFailed {
            packages,
            duration: started.elapsed(),
            diagnostics: format!("{}\n", error_chain(error)),
            messages: Vec::new(),
        });
    }

    fn on_build_output(&mut self, id: u64, output: BuildOutput) {
        let Some(build) = self.build.take_if(|b| b.id == id) else {
            tracing::error!(id, "output of an unknown build");
            return;
        };
        let (build, status) = self.reap(build);
        let _ = build.reader.join();
        let duration = build.started.elapsed();
        let packages = self.package_names(&build.plugins);
        let verdict = self.scheduler.finished(id);
        let _span = tracing::info_span!("build", id, ?packages).entered();
        if verdict == Verdict::Superseded {
            tracing::info!(?duration, "build superseded by newer changes");
            self.emit(Event::BuildSuperseded { packages, duration });
            return;
        }
        let succeeded = status.is_some_and(|s| s.success()) && output.finished != Some(false);
        if !succeeded {
            tracing::info!(?duration, ?status, "build failed");
            let mut diagnostics = output.rendered();
            if diagnostics.trim().is_empty() {
                let status = status.map_or("an unknown status".into(), |s| s.to_string());
                diagnostics = format!("cargo exited with {status} and printed nothing\n");
            }
            self.emit(Event::BuildFailed {
                packages,
                duration,
                diagnostics,
                messages: output.messages,
            });
            return;
        }
        tracing::info!(?duration, "build finished");
        self.emit(Event::BuildFinished { packages, duration });
        for &plugin in &build.plugins {
            let spec = &self.plan.plugins[plugin];
            let library = output
                .artifacts
                .iter()
                .find(|(manifest, _, _)| manifest == &spec.manifest_path)
                .map(|(_, path, fresh)| (path.clone(), *fresh));
            match library {
                Some((path, fresh)) if cargo::is_complete_file(&path) => {
                    self.emit(Event::ArtifactReady(Artifact {
                        package: spec.name.clone(),
                        crate_dir: spec.crate_dir.clone(),
                        path,
                        fresh,
                    }))
                }
                Some((path, _)) => self.emit(Event::Warning(format!(
                    "cargo reported {} for {} but the file is missing or empty",
                    path.display(),
                    spec.name
                ))),
                None if self.config.bin.is_some() => self.emit(Event::Warning(format!(
                    "cargo built {} but reported no executable named {}",
                    spec.name,
                    self.config.bin.as_deref().unwrap_or_default()
                ))),
                None => self.emit(Event::Warning(format!(
                    "cargo built {} but reported no cdylib for it; add `crate-type = \
                     [\"cdylib\"]` to the [lib] section of {}",
                    spec.name,
                    spec.manifest_path.display()
                ))),
            }
        }
    }

    /// Stops watching and ends a running build with its whole process group.
    fn stop(&mut self, builds: &Receiver<(u64, BuildOutput)>) {
        if let Some(watches) = self.watches.take() {
            drop(watches);
        }
        let Some(mut build) = self.build.take() else {
            return;
        };
        let _span = tracing::info_span!("stop_build", id = build.id).entered();
        cargo::signal_group(&mut build.child, Stop::Terminate);
        build.stopped = true;
        let mut ended = builds.recv_timeout(self.config.kill_grace).is_ok();
        if !ended {
            tracing::warn!("cargo did not stop after SIGTERM; killing its group");
            cargo::signal_group(&mut build.child, Stop::Kill);
            ended = builds.recv_timeout(Duration::from_secs(10)).is_ok();
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

/// An error and its sources, joined with ": ".
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_exclude_file_and_a_global_excludes_file_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(repo.join(".git/info")).unwrap();
        std::fs::write(repo.join(".git/info/exclude"), "*.bak\n").unwrap();
        let global = repo.join("global-ignore");
        std::fs::write(&global, "*.orig\n").unwrap();
        let root = repo.join("plugin");
        let mut plan = WatchPlan::default();
        load_repo_excludes(&mut plan, &repo, &root, Some(global));
        // A missing global file is no error.
        load_repo_excludes(&mut plan, &repo, &root, Some(repo.join("missing")));
        let plugin = plan.add_plugin(crate::filter::PluginSpec {
            name: "plugin".into(),
            crate_dir: root.clone(),
            manifest_path: root.join("Cargo.toml"),
            workspace: 0,
            companions: Vec::new(),
        });
        plan.add_packages(
            plugin,
            [("plugin".into(), vec![root.clone()])],
            repo.join("target"),
        );
        let event = |name: &str| {
            notify::Event::new(EventKind::Modify(ModifyKind::Data(
                notify::event::DataChange::Content,
            )))
            .add_path(root.join(name))
        };
        assert!(plan.classify(&event("lib.rs.bak"), |_| false).is_empty());
        assert!(plan.classify(&event("lib.rs.orig"), |_| false).is_empty());
        assert_eq!(plan.classify(&event("lib.rs"), |_| false).len(), 1);
    }

    #[test]
    fn a_target_dir_in_the_extra_cargo_args_is_excluded_too() {
        let args = |list: &[&str]| list.iter().map(Into::into).collect::<Vec<_>>();
        let cwd = Path::new("/nonexistent/ws");
        assert_eq!(target_dir_arg(&args(&["--release"]), cwd), None);
        assert_eq!(
            target_dir_arg(&args(&["--target-dir", "out"]), cwd),
            Some(PathBuf::from("/nonexistent/ws/out"))
        );
        assert_eq!(
            target_dir_arg(&args(&["--features", "x", "--target-dir=/abs/t"]), cwd),
            Some(PathBuf::from("/abs/t"))
        );
    }
}
