//! The worker process of `hotdev serve`: loads the plugin and serves HTTP on the listening
//! socket its supervisor bound and handed down.
//!
//! It runs the same server as `--single-process` (`http.rs`, `calls.rs`, `live.rs`, ...):
//! its HTTP threads accept connections themselves, so a request costs what it costs in one
//! process. What differs is where its news goes and where its orders come from:
//!
//! - **Commands** arrive as JSON lines on standard input ([`Command`]): load this artifact,
//!   a build started or failed, static files changed, shut down. Standard input closing
//!   (the supervisor died) shuts the worker down too.
//! - **Reports** leave as JSON lines on a pipe (descriptor `report_fd`): every [`Event`]
//!   as `--events` would write it, `{"report":"line","text":..}` for a terminal line, and
//!   `{"report":"serving","generation":..,"artifact":..}` when a generation goes live. The
//!   supervisor prints the lines, writes the events and keeps the artifact of every
//!   generation that served, to start the next worker with after a crash.
//! - **Crash records** go to a second pipe (`crash_fd`), written by the signal handlers of
//!   `crash.rs`.
//!
//! The worker ignores SIGINT: Ctrl-C at the terminal reaches its whole process group, and
//! the supervisor, which got it too, tells the worker to shut down in order.
//!
//! [`Event`]: crate::events::Event

use std::fs::File;
use std::io::{self, BufRead, Write};
use std::net::TcpListener;
use std::os::fd::{FromRawFd, RawFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::diagnostics::Failure;
use super::live::Notice;
use super::reloader::{Reloader, stop_serving};
use super::watch::Target;
use super::{Gens, Shared, http};
use crate::allowed_hosts::AllowedHosts;
use crate::events::EventWriter;
use crate::term::Term;

/// What a worker is started with (one JSON argument of `hotdev __serve-worker`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Init {
    pub plugin_dir: PathBuf,
    pub static_dir: Option<PathBuf>,
    pub handler_timeout_ms: u64,
    pub keep_state: bool,
    /// The listening socket.
    pub listen_fd: RawFd,
    /// The write end of the crash pipe.
    pub crash_fd: RawFd,
    /// The write end of the report pipe.
    pub report_fd: RawFd,
    /// The server's number for the worker's first generation, and for its second.
    pub first: u64,
    pub second: u64,
    /// The artifact to load at once (a generation that served before a crash, or a new
    /// build), with its build time.
    pub artifact: Option<PathBuf>,
    pub build_ms: Option<u64>,
    /// The crash that ended the previous worker: the generation it is about and the
    /// message, shown by the browsers until another generation goes live.
    pub notice: Option<(u64, String)>,
    /// The last build failed: its diagnostics and duration.
    pub failed: Option<(Failure, u64)>,
    /// The first command is [`Command::State`]: the plugin's state to restore.
    pub has_state: bool,
    /// The names allowed with `--allowed-host`, as [`AllowedHosts::names`] gives them.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
}

/// A command from the supervisor, one JSON line each.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub(crate) enum Command {
    /// Load `artifact` as the next generation.
    Load {
        artifact: PathBuf,
        build_ms: Option<u64>,
    },
    /// A build started.
    Building,
    /// The build failed.
    BuildFailed { failure: Failure, ms: u64 },
    /// Static files changed.
    Assets { urls: Vec<String> },
    /// Stop serving and exit.
    Shutdown,
    /// The plugin's state saved when generation `from` went live, to restore into the
    /// first generation loaded (only as the first command).
    State { from: u64, bytes: Vec<u8> },
}

/// The report pipe, shared by the event writer and the terminal lines; each line goes out
/// in one write under the lock (lines never interleave).
#[derive(Debug)]
struct Reports(Mutex<File>);

impl Reports {
    fn send(&self, line: &[u8]) {
        let mut out = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(error) = out.write_all(line) {
            tracing::debug!(%error, "could not report to the supervisor");
        }
    }

    fn report(&self, value: serde_json::Value) {
        let mut line = value.to_string().into_bytes();
        line.push(b'\n');
        self.send(&line);
    }
}

/// An [`EventWriter`]'s output: buffered until it flushes, then sent as one line.
struct ReportWriter {
    reports: Arc<Reports>,
    buf: Vec<u8>,
}

impl Write for ReportWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.reports.send(&self.buf);
            self.buf.clear();
        }
        Ok(())
    }
}

/// Takes ownership of a descriptor handed down by the supervisor and keeps it from the
/// plugin's own child processes.
///
/// # Safety
///
/// `fd` must be open in this process and owned by nothing else in it (the supervisor
/// passes each descriptor once, by number, in [`Init`]).
unsafe fn adopt<T: FromRawFd>(fd: RawFd) -> io::Result<T> {
    // SAFETY: fcntl on a descriptor number; a closed one fails with EBADF, reported.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: open (checked just above) and owned by nothing else (the caller's promise).
    Ok(unsafe { T::from_raw_fd(fd) })
}

/// Runs the worker process of `hotdev serve`: `init` is the JSON its supervisor passed
/// (the hidden command `hotdev __serve-worker INIT`). See the module docs of `serve`.
pub fn run(init: &str) -> anyhow::Result<()> {
    let init: Init = serde_json::from_str(init)
        .context("[HD062] the worker's start arguments are not valid (run `hotdev serve`)")?;
    // SAFETY: the supervisor handed down these three descriptors, open across exec, and
    // names each once; nothing else in this process knows them.
    let (listener, report, crash_fd) = unsafe {
        (
            adopt::<TcpListener>(init.listen_fd),
            adopt::<File>(init.report_fd),
            adopt::<std::os::fd::OwnedFd>(init.crash_fd),
        )
    };
    let listener = listener.context("[HD062] the worker got no listening socket")?;
    let report = report.context("[HD062] the worker got no report pipe")?;
    let crash_fd = crash_fd.context("[HD062] the worker got no crash pipe")?;
    // The crash pipe stays open for the life of the process: the handlers write to it.
    let crash_fd = std::os::fd::IntoRawFd::into_raw_fd(crash_fd);
    super::crash::install(crash_fd).context("[HD062] could not install the crash handlers")?;
    // SAFETY: setting SIGINT's disposition to ignore touches no memory; see the module
    // docs for why the worker ignores it.
    unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };

    let reports = Arc::new(Reports(Mutex::new(report)));
    let term = {
        let reports = Arc::clone(&reports);
        Term::forwarding(Box::new(move |text| {
            reports.report(serde_json::json!({"report": "line", "text": text}));
        }))
    };
    let events = EventWriter::new(ReportWriter {
        reports: Arc::clone(&reports),
        buf: Vec::new(),
    });
    let static_dir = match &init.static_dir {
        Some(dir) => Some(super::static_files::StaticDir::open(dir).with_context(|| {
            format!(
                "[HD090] could not open the static directory {}",
                dir.display()
            )
        })?),
        None => None,
    };
    let timeout = Duration::from_millis(init.handler_timeout_ms);
    let mut allowed = AllowedHosts::from_names(&init.allowed_hosts)
        .context("[HD062] the worker's allowed hosts are not valid (run `hotdev serve`)")?;
    allowed.allow_addr(
        listener
            .local_addr()
            .context("[HD062] the worker's listening socket has no address")?,
    );
    let shared = Arc::new(Shared::new(
        term,
        Some(events),
        static_dir,
        timeout,
        Gens {
            first: init.first,
            second: init.second,
        },
        allowed,
    ));
    if let Some((generation, message)) = &init.notice {
        shared.hub.notice(Notice {
            generation: *generation,
            kind: "crashed",
            message: message.clone(),
        });
    }
    if let Some((failure, ms)) = &init.failed {
        shared.hub.build_failed(failure.clone(), *ms);
    }
    let server = http::HttpServer::start(listener, Arc::clone(&shared))?;
    let (mut reloader, host_thread) =
        Reloader::start(Arc::clone(&shared), timeout, init.keep_state, None)?;
    {
        let reports = Arc::clone(&reports);
        reloader.on_serving = Some(Box::new(move |generation, artifact, state| {
            reports.report(serde_json::json!({
                "report": "serving",
                "generation": generation,
                "artifact": artifact,
                "state": state,
            }));
        }));
    }
    let mut lines = io::stdin().lock().lines();
    if init.has_state
        && let Some(Ok(line)) = lines.next()
    {
        match serde_json::from_str(&line) {
            Ok(Command::State { from, bytes }) => reloader.restore = Some((from, bytes)),
            _ => tracing::warn!(%line, "the worker expected the plugin's state first"),
        }
    }
    if let Some(artifact) = &init.artifact {
        reloader.load(artifact, init.build_ms);
    }

    for line in lines {
        let Ok(line) = line else { break };
        let command: Command = match serde_json::from_str(&line) {
            Ok(command) => command,
            Err(error) => {
                tracing::warn!(%error, %line, "the worker got a command it does not know");
                continue;
            }
        };
        match command {
            Command::Load { artifact, build_ms } => reloader.load(&artifact, build_ms),
            Command::Building => reloader.building(),
            Command::BuildFailed { failure, ms } => reloader.build_failed(failure, ms),
            Command::Assets { urls } => reloader.assets_changed(&urls),
            Command::Shutdown => break,
            Command::State { .. } => {
                tracing::warn!("the worker got the plugin's state after its first load");
            }
        }
    }
    stop_serving(&shared, server, reloader, host_thread, || {});
    Ok(())
}
