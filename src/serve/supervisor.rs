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

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::fd::{AsFd, AsRawFd, FromRawFd};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command as Process, ExitStatus, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;
use crossbeam_channel::{Receiver, Sender, select};
use serde_json::Value;

use super::crash::{Crash, Record};
use super::diagnostics::Failure;
use super::restarts::{CrashOf, Restarts, Verdict};
use super::watch::{Target, Watch};
use super::worker::{Command, Init};
use super::{SHUTDOWN_GRACE, ServeOptions, Shared};
use crate::events::Event;

/// How long the supervisor waits for a worker to exit after `shutdown`, beyond the
/// worker's own grace for running requests, before it kills it.
const EXIT_WAIT: Duration = Duration::from_secs(5);

/// The longest wait between restarts of a worker that keeps crashing on start.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How many generations that served keep their artifact copy (to fall back to).
const KEEP_GOOD: usize = 4;

/// What the worker's threads tell the supervisor's loop.
#[derive(Debug)]
enum FromWorker {
    /// One line of the report pipe.
    Report(String),
    /// The worker `id` ended, with the crash records it wrote.
    Exited {
        id: u64,
        status: io::Result<ExitStatus>,
        records: Vec<Record>,
    },
}

/// The worker running now.
#[derive(Debug)]
struct Worker {
    id: u64,
    pid: u32,
    stdin: Option<ChildStdin>,
    started: Instant,
    /// Whether a generation went live in it (a crash before counts towards the backoff).
    served: bool,
}

/// The private directory of artifact copies (owner-only, removed at exit).
#[derive(Debug)]
struct Copies {
    dir: PathBuf,
    next: u64,
}

impl Copies {
    fn create() -> anyhow::Result<Copies> {
        Self::remove_stale();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir =
            std::env::temp_dir().join(format!("hotdev-serve-{}-{nanos:08x}", std::process::id()));
        // `create`, not `create_all`: a directory someone else made at this name is refused.
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .with_context(|| {
                format!(
                    "[HD065] could not create the directory for build copies {}",
                    dir.display()
                )
            })?;
        Ok(Copies { dir, next: 1 })
    }

    /// Removes the directories of supervisors that were killed before they could (their
    /// pid is gone). Linux only: it reads `/proc`.
    fn remove_stale() {
        if !cfg!(target_os = "linux") {
            return;
        }
        let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = name
                .strip_prefix("hotdev-serve-")
                .and_then(|rest| rest.split('-').next())
                .and_then(|pid| pid.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            let mine = std::os::unix::fs::MetadataExt::uid(&meta) == current_uid();
            if mine && !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }

    /// Copies a build's artifact (which the next build overwrites) under a new name.
    fn store(&mut self, artifact: &Path) -> io::Result<PathBuf> {
        let n = self.next;
        self.next += 1;
        let name = artifact
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "plugin".into());
        let path = self.dir.join(format!("build-{n}-{name}"));
        hotdev_host::shadow::copy_into_place(artifact, &path)?;
        Ok(path)
    }
}

impl Drop for Copies {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

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
    let mut watch = Watch::start(&shared, opts, plugin_dir.clone())?;
    let changes = watch.events();
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
    if let Err(error) = sup.spawn(None, None) {
        watch.shutdown();
        return Err(error);
    }
    let outcome = loop {
        let timer = match sup.restart_at {
            Some(at) => crossbeam_channel::at(at),
            None => crossbeam_channel::never(),
        };
        select! {
            recv(shutdown) -> _ => break Ok(()),
            recv(changes) -> event => match event {
                Ok(event) => {
                    if let Err(error) = watch.on_watch(&shared, &mut sup, event) {
                        break Err(error);
                    }
                }
                Err(_) => break Err(anyhow::anyhow!("the watcher stopped")),
            },
            recv(rx) -> message => {
                if let Ok(message) = message {
                    sup.on_worker(message);
                }
            }
            recv(timer) -> _ => {
                sup.restart_at = None;
                sup.restart();
            }
        }
    };
    shared.term.stop_spinner();
    sup.stop_worker(&rx);
    if !sup.saw_shutdown {
        shared.emit(&Event::Shutdown { abandoned: 0 });
    }
    watch.shutdown();
    outcome
}

impl Supervisor {
    /// Starts a worker that loads `artifact` (a generation that served, or a new build)
    /// first, and shows `notice` to its browsers.
    fn spawn(
        &mut self,
        artifact: Option<(u64, PathBuf)>,
        build_ms: Option<u64>,
    ) -> anyhow::Result<()> {
        let (crash_read, crash_write) =
            pipe().context("[HD062] could not create the worker's crash pipe")?;
        let (report_read, report_write) =
            pipe().context("[HD062] could not create the worker's report pipe")?;
        let (first, second) = match &artifact {
            Some((generation, _)) => (*generation, self.max_seen + 1),
            None => (self.max_seen + 1, self.max_seen + 2),
        };
        let fds = [
            self.listener.as_raw_fd(),
            crash_write.as_raw_fd(),
            report_write.as_raw_fd(),
        ];
        let init = Init {
            plugin_dir: self.plugin_dir.clone(),
            static_dir: self
                .shared
                .static_dir
                .as_ref()
                .map(|d| d.root().to_path_buf()),
            handler_timeout_ms: u64::try_from(self.opts.handler_timeout.as_millis())
                .unwrap_or(u64::MAX),
            keep_state: self.opts.keep_state,
            listen_fd: fds[0],
            crash_fd: fds[1],
            report_fd: fds[2],
            first,
            second,
            artifact: artifact.as_ref().map(|(_, path)| path.clone()),
            build_ms,
            notice: self.notice.clone(),
            failed: self.failed.clone(),
            has_state: self.state.is_some(),
            allowed_hosts: self.opts.allowed_hosts.names(),
        };
        let init = serde_json::to_string(&init)
            .context("[HD062] could not encode the worker's arguments")?;
        // /proc/self/exe stays this binary even if cargo rebuilt it meanwhile.
        let exe = if cfg!(target_os = "linux") {
            PathBuf::from("/proc/self/exe")
        } else {
            std::env::current_exe().context("[HD062] could not find the hotdev binary")?
        };
        let stdout = io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .context("[HD062] could not pass stderr to the worker")?;
        let mut command = Process::new(exe);
        command
            .arg("__serve-worker")
            .arg(init)
            .stdin(Stdio::piped())
            .stdout(Stdio::from(stdout));
        // SAFETY: getpid cannot fail and touches no memory.
        let parent = unsafe { libc::getpid() };
        // SAFETY: the closure runs in the forked child before exec and makes only
        // async-signal-safe calls (fcntl, prctl, getppid) on numbers copied before the
        // fork; it allocates nothing (its errors are raw OS errors).
        unsafe {
            command.pre_exec(move || {
                for fd in fds {
                    // Open across exec in this child only: the descriptors keep
                    // FD_CLOEXEC in the supervisor, so cargo and others never get them.
                    if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                        return Err(io::Error::last_os_error());
                    }
                }
                #[cfg(target_os = "linux")]
                {
                    // The worker dies with the supervisor even if it is killed with SIGKILL
                    // (it would see its standard input close too, but could be stuck).
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    if libc::getppid() != parent {
                        return Err(io::Error::from_raw_os_error(libc::ESRCH));
                    }
                }
                let _ = parent;
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .context("[HD062] could not start the worker process")?;
        // The worker holds the write ends now; without these copies, the pipes end when it
        // does.
        drop(crash_write);
        drop(report_write);
        let id = self.next_id;
        self.next_id += 1;
        let pid = child.id();
        let stdin = child.stdin.take();
        let tx = self.tx.clone();
        let reader = thread::Builder::new()
            .name("hotdev-worker-reports".into())
            .spawn(move || {
                for line in BufReader::new(report_read).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(FromWorker::Report(line)).is_err() {
                        break;
                    }
                }
            })
            .context("[HD078] could not start the worker report thread")?;
        let tx = self.tx.clone();
        thread::Builder::new()
            .name("hotdev-worker-wait".into())
            .spawn(move || {
                let status = child.wait();
                // Every report written before the end comes first.
                let _ = reader.join();
                let mut text = String::new();
                let mut crash_read = crash_read;
                let _ = crash_read.read_to_string(&mut text);
                let records = text.lines().filter_map(Record::parse).collect();
                let _ = tx.send(FromWorker::Exited {
                    id,
                    status,
                    records,
                });
            })
            .context("[HD078] could not start the worker wait thread")?;
        self.worker = Some(Worker {
            id,
            pid,
            stdin,
            started: Instant::now(),
            served: false,
        });
        if let Some((from, bytes)) = &self.state {
            let command = Command::State {
                from: *from,
                bytes: bytes.clone(),
            };
            self.send(&command);
        }
        self.pending = artifact
            .iter()
            .filter(|(g, _)| *g > self.max_seen)
            .map(|(_, p)| p.clone())
            .collect();
        self.shared.emit(&Event::WorkerStarted {
            pid,
            generation: artifact.as_ref().map(|(g, _)| *g),
        });
        tracing::debug!(pid, first, second, "worker started");
        Ok(())
    }

    /// Sends a command to the worker, if one runs.
    fn send(&mut self, command: &Command) {
        let Some(stdin) = self.worker.as_mut().and_then(|w| w.stdin.as_mut()) else {
            return;
        };
        let mut line = serde_json::to_vec(command).unwrap_or_default();
        line.push(b'\n');
        if let Err(error) = stdin.write_all(&line).and_then(|()| stdin.flush()) {
            // The worker is gone; its exit is on its way.
            tracing::debug!(%error, "could not send a command to the worker");
        }
    }

    fn on_worker(&mut self, message: FromWorker) {
        match message {
            FromWorker::Report(line) => self.on_report(&line),
            FromWorker::Exited {
                id,
                status,
                records,
            } => self.on_exit(id, status, &records),
        }
    }

    fn on_report(&mut self, line: &str) {
        let Ok(value) = serde_json::from_str::<Value>(line) else {
            tracing::warn!(%line, "the worker reported a line that is not JSON");
            return;
        };
        match value["report"].as_str() {
            Some("line") => self.shared.term.line(value["text"].as_str().unwrap_or("")),
            Some("serving") => {
                let (Some(generation), Some(artifact)) =
                    (value["generation"].as_u64(), value["artifact"].as_str())
                else {
                    return;
                };
                let artifact = PathBuf::from(artifact);
                if let Ok(bytes) = serde_json::from_value::<Vec<u8>>(value["state"].clone()) {
                    self.state = Some((generation, bytes));
                }
                self.pending.retain(|p| *p != artifact);
                self.good.insert(generation, artifact);
                self.serving = Some(generation);
                if generation > self.max_seen {
                    self.restarts.went_live(generation);
                }
                self.max_seen = self.max_seen.max(generation);
                self.failed = None;
                self.start_crashes = 0;
                if let Some(worker) = &mut self.worker {
                    worker.served = true;
                }
                self.forget_old_copies();
                if let Some(url) = self.open.take() {
                    super::open_browser(&url);
                }
            }
            Some(other) => tracing::debug!(report = other, "unknown worker report"),
            None => {
                match value["event"].as_str() {
                    Some("rolled_back") => {
                        if let Some(from) = value["from"].as_u64() {
                            self.bad.insert(from);
                            self.drop_copy(from);
                        }
                        self.serving = value["to"].as_u64();
                    }
                    Some("reload_rejected") if !self.pending.is_empty() => {
                        let path = self.pending.remove(0);
                        let _ = std::fs::remove_file(path);
                    }
                    Some("shutdown") => self.saw_shutdown = true,
                    _ => {}
                }
                if let Some(events) = &self.shared.events {
                    events.emit_line(line);
                }
            }
        }
    }

    /// Keeps the artifact copies of the last few generations that served.
    fn forget_old_copies(&mut self) {
        while self.good.len() > KEEP_GOOD {
            let Some((&oldest, _)) = self.good.iter().next() else {
                break;
            };
            self.drop_copy(oldest);
        }
    }

    fn drop_copy(&mut self, generation: u64) {
        if let Some(path) = self.good.remove(&generation)
            && !self.pending.contains(&path)
        {
            let _ = std::fs::remove_file(path);
        }
    }

    fn on_exit(&mut self, id: u64, status: io::Result<ExitStatus>, records: &[Record]) {
        let Some(worker) = self.worker.take_if(|w| w.id == id) else {
            return;
        };
        let (signal, code) = match &status {
            Ok(status) => (status.signal(), status.code()),
            Err(_) => (None, None),
        };
        tracing::debug!(?records, ?signal, ?code, "the worker exited");
        let crash = Crash::from_records(signal, code, records);
        let verdict = crash.generation.map(|generation| {
            let earlier_good = self
                .good
                .keys()
                .any(|&g| g < generation && !self.bad.contains(&g));
            let of = CrashOf {
                generation,
                loading: crash.route.is_none(),
                answered: crash.answered,
                at: Instant::now(),
            };
            (generation, self.restarts.decide(of, earlier_good))
        });
        let mut restarted = None;
        match &verdict {
            Some((generation, Verdict::Restart { .. })) if self.good.contains_key(generation) => {
                restarted = Some(*generation);
            }
            Some((generation, _)) => {
                self.bad.insert(*generation);
                self.max_seen = self.max_seen.max(*generation);
                self.drop_copy(*generation);
            }
            None => {}
        }
        // Builds sent to the dead worker that never served: the first was loading when a
        // crash came outside any request (it is the culprit); the newest of the others is
        // loaded again by the next worker.
        let mut pending = std::mem::take(&mut self.pending);
        let culprits = usize::from(crash.route.is_none() && crash.generation.is_some());
        self.retry = (pending.len() > culprits).then(|| pending.pop()).flatten();
        for path in pending {
            if !self.good.values().any(|p| *p == path) {
                let _ = std::fs::remove_file(path);
            }
        }
        if worker.served {
            self.start_crashes = 0;
        } else {
            self.start_crashes += 1;
        }
        let fallback = match restarted {
            Some(generation) => self.good.get(&generation).map(|p| (generation, p.clone())),
            None => self.last_good(),
        };
        let what = match (&crash.generation, &crash.route) {
            (Some(g), Some(route)) => {
                format!("{} in generation {g} while serving {route}", crash.cause)
            }
            (Some(g), None) => format!("{} in generation {g} while loading it", crash.cause),
            (None, _) => match self.serving {
                Some(g) => format!("{} while generation {g} served", crash.cause),
                None => crash.cause.clone(),
            },
        };
        let serving = match &fallback {
            Some((g, _)) => format!("serving generation {g}"),
            None => "no generation that did not crash is left: waiting for a fix".into(),
        };
        let (next, reason) = match &verdict {
            Some((g, Verdict::Restart { crash, of })) if restarted.is_some() => (
                format!("restarted generation {g} (crash {crash} of {of})"),
                None,
            ),
            Some((g, Verdict::GiveUp(reason))) => {
                (format!("generation {g} {reason}: {serving}"), Some(reason))
            }
            _ => (serving, None),
        };
        let state = match &self.state {
            Some((from, _)) => {
                format!("state restored as saved when generation {from} went live")
            }
            None => "state reset".into(),
        };
        let message = format!("{what}; {next}; {state}");
        self.shared.term.line(&format!(
            "[HD063] the worker (pid {}) died from {} after {:.1} s: {message}",
            worker.pid,
            crash.signal,
            worker.started.elapsed().as_secs_f64()
        ));
        let waiting = fallback.is_none().then(|| {
            let crashes = crash
                .generation
                .map_or(1, |g| self.restarts.crashes(g).max(1));
            let times = if crashes == 1 { "once" } else { "times" };
            let count = if crashes == 1 {
                String::new()
            } else {
                format!("{crashes} ")
            };
            let generation = crash
                .generation
                .map_or("the plugin".into(), |g| format!("generation {g}"));
            let place = crash
                .route
                .as_ref()
                .map_or(String::new(), |r| format!(" while serving {r}"));
            format!(
                "[HD064] {generation} crashed {count}{times}: {}{place}; save a fix",
                crash.cause
            )
        });
        if let Some(waiting) = &waiting {
            self.shared.term.line(waiting);
        }
        self.shared.emit(&Event::Crashed {
            signal: crash.signal.clone(),
            cause: crash.cause.clone(),
            generation: crash.generation,
            route: crash.route.clone(),
            serving: fallback.as_ref().map(|(g, _)| *g),
            state_reset: self.state.is_none(),
            restarted: restarted.is_some(),
            reason: reason.map(|r| r.name().to_string()),
            crashes: crash.generation.map_or(0, |g| self.restarts.crashes(g)),
            message: message.clone(),
        });
        self.serving = fallback.as_ref().map(|(g, _)| *g);
        self.notice = Some((
            self.serving.unwrap_or(0),
            match waiting {
                Some(waiting) => waiting,
                None => format!("the plugin crashed ({}): {message}", crash.signal),
            },
        ));
        let delay = backoff(self.start_crashes);
        if delay.is_zero() {
            self.restart();
        } else {
            self.shared.term.line(&format!(
                "the worker crashed {} times before serving: the next one starts in {} ms",
                self.start_crashes,
                delay.as_millis()
            ));
            self.restart_at = Some(Instant::now() + delay);
        }
    }

    /// The newest generation that served and did not crash, with its library.
    fn last_good(&self) -> Option<(u64, PathBuf)> {
        self.good
            .iter()
            .rev()
            .find(|(g, _)| !self.bad.contains(g))
            .map(|(g, p)| (*g, p.clone()))
    }

    /// Starts the next worker with the last generation that did not crash.
    fn restart(&mut self) {
        if self.worker.is_some() {
            return;
        }
        let fallback = self.last_good();
        match self.spawn(fallback, None) {
            Ok(()) => {
                if let Some(artifact) = self.retry.take() {
                    self.pending.push(artifact.clone());
                    self.send(&Command::Load {
                        artifact,
                        build_ms: None,
                    });
                }
            }
            Err(error) => {
                self.shared.term.line(&format!("{error:#}"));
                self.start_crashes += 1;
                self.restart_at = Some(
                    Instant::now() + backoff(self.start_crashes).max(Duration::from_millis(100)),
                );
            }
        }
    }

    /// Tells the worker to shut down and waits for it (forwarding its last reports); kills
    /// it if it does not exit in time.
    fn stop_worker(&mut self, rx: &Receiver<FromWorker>) {
        self.restart_at = None;
        let Some(mut worker) = self.worker.take() else {
            return;
        };
        let id = worker.id;
        if let Some(mut stdin) = worker.stdin.take() {
            let mut line = serde_json::to_vec(&Command::Shutdown).unwrap_or_default();
            line.push(b'\n');
            let _ = stdin.write_all(&line);
            // Dropping it closes the worker's standard input too.
        }
        let mut killed = false;
        let mut deadline = Instant::now() + SHUTDOWN_GRACE + EXIT_WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(FromWorker::Report(line)) => self.on_report(&line),
                Ok(FromWorker::Exited { id: exited, .. }) if exited == id => return,
                Ok(_) => {}
                Err(_) if !killed => {
                    self.shared.term.line(&format!(
                        "[HD066] the worker (pid {}) did not exit within {} s of shutdown: \
                         killing it",
                        worker.pid,
                        (SHUTDOWN_GRACE + EXIT_WAIT).as_secs()
                    ));
                    // SAFETY: kill with a pid and a signal touches no memory; the pid is
                    // our unreaped child (its wait thread has not reported), so it cannot
                    // name another process.
                    unsafe { libc::kill(worker.pid as libc::pid_t, libc::SIGKILL) };
                    killed = true;
                    deadline = Instant::now() + EXIT_WAIT;
                }
                Err(_) => return,
            }
        }
    }
}

impl Target for Supervisor {
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
                    self.copies.dir.display()
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
}

/// This process's user id.
fn current_uid() -> u32 {
    // SAFETY: getuid cannot fail and touches no memory.
    unsafe { libc::getuid() }
}

/// A pipe (read end, write end), both ends close-on-exec.
fn pipe() -> io::Result<(File, File)> {
    let mut fds = [0 as libc::c_int; 2];
    #[cfg(target_os = "linux")]
    // SAFETY: pipe2 writes two descriptors into the array, which lives across the call.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == -1 {
        return Err(io::Error::last_os_error());
    }
    #[cfg(not(target_os = "linux"))]
    {
        // SAFETY: pipe writes two descriptors into the array, which lives across the call;
        // fcntl sets a flag on each. (Without pipe2, a fork on another thread between the
        // two calls could inherit them: macOS has no atomic form.)
        unsafe {
            if libc::pipe(fds.as_mut_ptr()) == -1 {
                return Err(io::Error::last_os_error());
            }
            for fd in fds {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            }
        }
    }
    // SAFETY: both descriptors were just opened by pipe2 and are owned by nothing else.
    Ok(unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) })
}

/// The wait before restarting a worker after `crashes` crashes in a row before serving:
/// none for the first, then 100 ms doubling up to [`MAX_BACKOFF`].
fn backoff(crashes: u32) -> Duration {
    if crashes <= 1 {
        return Duration::ZERO;
    }
    Duration::from_millis(100)
        .saturating_mul(1 << (crashes - 2).min(16))
        .min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_bounded() {
        assert_eq!(backoff(0), Duration::ZERO);
        assert_eq!(backoff(1), Duration::ZERO);
        assert_eq!(backoff(2), Duration::from_millis(100));
        assert_eq!(backoff(3), Duration::from_millis(200));
        assert_eq!(backoff(40), MAX_BACKOFF);
    }
}
