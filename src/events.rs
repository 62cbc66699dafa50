//! Machine-readable events of `hotdev serve --events <FILE|->`.
//!
//! Each event is one JSON object on its own line, written and flushed as it happens, so a
//! script (or a test) can follow the server line by line. Every object has an `"event"`
//! field naming its kind; the other fields depend on the kind. The schema is documented in
//! `docs/events.md`; fields are only ever added, never renamed or removed.
//!
//! ```
//! use hotdev::events::{Event, EventWriter};
//!
//! let line = serde_json::to_string(&Event::BuildFinished { ms: 840 }).unwrap();
//! assert_eq!(line, r#"{"event":"build_finished","ms":840}"#);
//!
//! let writer = EventWriter::new(std::io::sink()); // or EventWriter::open(&target)?
//! writer.emit(&Event::BuildStarted);
//! ```

use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Mutex;

use serde::Serialize;

/// A duration in whole milliseconds, as the events report them.
pub(crate) fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Where `--events` writes: standard output (`-`) or a file (created or truncated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventsTarget {
    /// Standard output (`--events -`).
    Stdout,
    /// A file (`--events PATH`).
    File(PathBuf),
}

impl FromStr for EventsTarget {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "-" => EventsTarget::Stdout,
            path => EventsTarget::File(PathBuf::from(path)),
        })
    }
}

impl fmt::Display for EventsTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventsTarget::Stdout => f.write_str("-"),
            EventsTarget::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// One event of the development server, serialised as `{"event": "<kind>", ...}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// The HTTP server is accepting connections.
    Listening {
        /// The bound address, `127.0.0.1:7878` (the real port when `:0` was asked for).
        addr: String,
        /// The URL to open, `http://127.0.0.1:7878/`.
        url: String,
    },
    /// Files of the plugin crate changed.
    Change {
        /// The changed paths.
        paths: Vec<String>,
    },
    /// A static file changed (no build follows); open pages swap it in if it is one of
    /// their stylesheets, and reload otherwise.
    AssetChanged {
        /// The file on disk.
        path: String,
        /// The URL it is served at, `/static/style.css`.
        url: String,
    },
    /// Cargo started building the plugin.
    BuildStarted,
    /// The build succeeded.
    BuildFinished {
        /// How long cargo ran, in milliseconds.
        ms: u64,
    },
    /// The build failed; the current generation keeps serving.
    BuildFailed {
        /// Cargo's rendered diagnostics, without colour codes.
        message: String,
        /// How long cargo ran, in milliseconds.
        ms: u64,
    },
    /// A new generation of the plugin is serving.
    Reloaded {
        /// The generation now serving: 1 for the first load, then counting up.
        generation: u64,
        /// How long the build that produced it took, in milliseconds.
        build_ms: u64,
        /// How long loading and validating the library took, in milliseconds.
        load_ms: u64,
        /// How long the swap of the function table took, in microseconds.
        swap_us: u64,
        /// Requests that were inside an older generation during the reload: `drained` plus
        /// `running`.
        in_flight: u64,
        /// Of those, the requests that returned before the swap was done.
        drained: u64,
        /// Of those, the requests still running on the old code after the swap (they
        /// finish there; new requests go to the new generation).
        running: u64,
        /// Of `running`, the calls abandoned past the handler timeout (stuck).
        stuck: u64,
    },
    /// The plugin's state changed layout and could not be migrated, so the new generation
    /// starts from the state's `Default` (the server's default policy; `--keep-state`
    /// refuses instead). Comes just before that generation's `Reloaded`.
    StateReset {
        /// The generation that starts afresh.
        generation: u64,
        /// What changed in the layout, old layout first (`"Visits: size 8 -> 16"`).
        diff: Vec<String>,
        /// Why it could not be migrated.
        reason: String,
    },
    /// The plugin's save/restore hooks (or `migrate: serde`) carried its state to a new
    /// layout. Comes just before that generation's `Reloaded`.
    StateMigrated {
        /// The generation that restored it.
        generation: u64,
        /// The saved size in bytes.
        bytes: usize,
    },
    /// The host refused the new library; the current generation keeps serving.
    ReloadRejected {
        /// The stable error code (`HD0xx`, see `docs/errors.md`).
        code: String,
        /// The error message.
        message: String,
    },
    /// A new generation failed its probation and the previous one came back.
    RolledBack {
        /// The generation that was given up.
        from: u64,
        /// The generation serving again.
        to: u64,
        /// Why.
        reason: String,
    },
    /// An old generation's library was unloaded.
    Unloaded {
        /// The generation.
        generation: u64,
        /// Why the library could not leave the address space, when it could not.
        pinned: Option<String>,
    },
    /// An old generation drained, but threads its code started still run; its library
    /// stays loaded until they end (`HD042`).
    ThreadsRunning {
        /// The generation.
        generation: u64,
        /// How many of its threads run.
        threads: u64,
    },
    /// An old generation still had calls running when the drain timeout passed.
    DrainTimeout {
        /// The generation.
        generation: u64,
        /// How long the host waited, in milliseconds.
        waited_ms: u64,
        /// How many calls were still running.
        calls: u64,
    },
    /// A request handler panicked; the request got a 500 and the server went on.
    Panic {
        /// The panic message.
        message: String,
        /// The plugin's `file:line:column`, when known.
        location: Option<String>,
        /// The generation that panicked.
        generation: u64,
        /// The request path.
        path: String,
    },
    /// A handler ran past the handler timeout (code `HD052`): its client got a 504 page and
    /// the call was abandoned. Its thread cannot be stopped and keeps running.
    HandlerTimeout {
        /// The route, `GET /path`.
        route: String,
        /// The generation running the call.
        generation: u64,
        /// How long the call had run, in milliseconds.
        ms: u64,
        /// Abandoned calls still running, this one included.
        stuck: u64,
        /// Whether a new worker took the stuck one's place (false past the limit, `HD054`).
        replaced: bool,
    },
    /// An abandoned call returned at last; its thread ends.
    StuckReturned {
        /// The route, `GET /path`.
        route: String,
        /// The generation that ran it.
        generation: u64,
        /// How long it ran, in milliseconds.
        ms: u64,
        /// Abandoned calls still running.
        stuck: u64,
    },
    /// A route failed (timed out or panicked) repeatedly in one generation (code `HD053`):
    /// until the next generation goes live it is answered at once with an error page.
    BreakerOpen {
        /// The route, `GET /path`.
        route: String,
        /// The generation.
        generation: u64,
        /// The failures that opened it.
        failures: u32,
    },
    /// So many calls are stuck that no more replacement workers are started (code `HD054`).
    StuckLimit {
        /// Abandoned calls still running.
        stuck: u64,
        /// The limit.
        limit: u64,
    },
    /// A request was refused because of its `Host` or `Origin` (`HD057`): reported once
    /// per host (or malformed value), not once per request.
    HostRefused {
        /// The `Host` header (`null` when the request had none).
        host: Option<String>,
        /// The `Origin` header, when the refusal is about it.
        origin: Option<String>,
        /// The name that `--allowed-host` would allow (`null` for a missing or malformed
        /// header, or `Origin: null`).
        allow: Option<String>,
        /// The status answered: 400 or 403.
        status: u16,
        /// The request's method and path, `"GET /__hotdev/status"`.
        route: String,
        /// The refusal, with its code.
        message: String,
    },
    /// A problem the server survived (for example a watcher warning).
    Warning {
        /// What happened.
        message: String,
    },
    /// `hotdev run`: a run of the host program started (after the first successful build,
    /// after a change to what it compiles, or after it exited and something changed).
    HostStarted {
        /// Its process id.
        pid: u32,
        /// 1 for the first run, then counting up.
        run: u64,
        /// The changed paths that caused the build it runs; empty for the first.
        cause: Vec<String>,
    },
    /// `hotdev run`: a run of the host was stopped, for a restart or at shutdown.
    HostStopped {
        /// Its process id.
        pid: u32,
        /// How it ended (`"exit status: 0"`, `"signal: 9 (SIGKILL)"`).
        status: String,
        /// It ignored SIGINT for the stop timeout and its process group was killed.
        killed: bool,
        /// How long stopping took, in milliseconds.
        ms: u64,
    },
    /// `hotdev run`: the host exited by itself; it starts again on the next change.
    HostExited {
        /// Its process id.
        pid: u32,
        /// How it ended.
        status: String,
    },
    /// `hotdev run`: files changed and the host was rebuilt, but its binary did not change
    /// (for example a plugin crate inside a watched package): the host keeps running.
    HostUnchanged {
        /// The running host's process id.
        pid: u32,
        /// The changed paths.
        paths: Vec<String>,
    },
    /// The worker process that serves HTTP and runs the plugin started (`hotdev serve`
    /// without `--single-process`: at start, and again after a crash).
    WorkerStarted {
        /// Its process id.
        pid: u32,
        /// The generation it loads first: the last one that did not crash; `None` when it
        /// waits for a build.
        generation: Option<u64>,
    },
    /// The worker process died from a signal (or exited on its own) and a new one took its
    /// place on the same listening socket (code `HD063`).
    Crashed {
        /// The signal that ended it, `"SIGSEGV"`, `"SIGABRT"` (a stack overflow ends with
        /// SIGABRT), or `"exit status 1"` when it exited without a signal.
        signal: String,
        /// What happened, for people: `"stack overflow"`, `"invalid memory access"`,
        /// `"abort"`.
        cause: String,
        /// The generation that crashed, when the worker's crash record says so.
        generation: Option<u64>,
        /// The request being served, `"GET /deep"`; `None` when the crash happened outside
        /// a request (while loading a generation: its load hook).
        route: Option<String>,
        /// The generation the new worker serves; `None` when no generation is left that
        /// did not crash (it waits for the next build).
        serving: Option<u64>,
        /// Whether the plugin's state starts again from its `Default`: it has no
        /// save/restore hooks (with them, the state saved when the last generation went
        /// live is restored).
        state_reset: bool,
        /// Whether the same generation was started again (the restart policy kept it).
        restarted: bool,
        /// Why the crashed generation was given up, when it was: `"loading"` (it crashed
        /// while loading), `"crash_loop"` (again before answering a request since its
        /// restart), `"probation"` (in its first requests, with an earlier generation to go
        /// back to) or `"intensity"` (too many crashes in the window).
        reason: Option<String>,
        /// How many times the crashed generation crashed since it went live.
        crashes: u32,
        /// The whole message, as the terminal and the overlay show it.
        message: String,
    },
    /// The server is shutting down.
    Shutdown {
        /// Calls still running that the server gave up on (stuck past the handler
        /// timeout, or still running when it stopped); the process exits without them.
        abandoned: u64,
    },
}

/// Writes [`Event`]s as JSON lines, flushing after each line. Shareable between threads.
pub struct EventWriter {
    out: Mutex<Box<dyn Write + Send>>,
}

impl fmt::Debug for EventWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventWriter").finish_non_exhaustive()
    }
}

impl EventWriter {
    /// Writes one line that is already an event's JSON (as a worker process reported it)
    /// and flushes it.
    pub(crate) fn emit_line(&self, json: &str) {
        let mut out = self
            .out
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let written = out
            .write_all(json.trim_end().as_bytes())
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush());
        if let Err(error) = written {
            tracing::warn!(%error, "could not write event");
        }
    }

    /// Writes to any writer.
    pub fn new(out: impl Write + Send + 'static) -> Self {
        EventWriter {
            out: Mutex::new(Box::new(out)),
        }
    }

    /// Opens the target: standard output, or the file (created or truncated).
    pub fn open(target: &EventsTarget) -> io::Result<Self> {
        Ok(match target {
            EventsTarget::Stdout => Self::new(io::stdout()),
            EventsTarget::File(path) => Self::new(File::create(path)?),
        })
    }

    /// Writes one event as a line and flushes it. A failed write is logged, not returned:
    /// losing the event stream must not stop the server.
    pub fn emit(&self, event: &Event) {
        let mut line = match serde_json::to_vec(event) {
            Ok(line) => line,
            Err(error) => {
                tracing::warn!(%error, "could not serialise event");
                return;
            }
        };
        line.push(b'\n');
        let mut out = self
            .out
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Err(error) = out.write_all(&line).and_then(|()| out.flush()) {
            tracing::warn!(%error, "could not write event");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(event: &Event) -> serde_json::Value {
        serde_json::to_value(event).unwrap()
    }

    #[test]
    fn events_are_tagged_with_their_snake_case_kind() {
        assert_eq!(
            json(&Event::Shutdown { abandoned: 2 }),
            serde_json::json!({"event": "shutdown", "abandoned": 2})
        );
        let reloaded = json(&Event::Reloaded {
            generation: 2,
            build_ms: 900,
            load_ms: 3,
            swap_us: 12,
            in_flight: 3,
            drained: 1,
            running: 2,
            stuck: 2,
        });
        assert_eq!(reloaded["running"], 2);
        let timeout = json(&Event::HandlerTimeout {
            route: "GET /loop".into(),
            generation: 1,
            ms: 5000,
            stuck: 1,
            replaced: true,
        });
        assert_eq!(timeout["event"], "handler_timeout");
        assert_eq!(reloaded["event"], "reloaded");
        assert_eq!(reloaded["generation"], 2);
        assert_eq!(reloaded["swap_us"], 12);
        let rejected = json(&Event::ReloadRejected {
            code: "HD010".into(),
            message: "m".into(),
        });
        assert_eq!(rejected["event"], "reload_rejected");
        assert_eq!(rejected["code"], "HD010");
        let asset = json(&Event::AssetChanged {
            path: "/app/static/style.css".into(),
            url: "/static/style.css".into(),
        });
        assert_eq!(
            asset,
            serde_json::json!({"event": "asset_changed", "path": "/app/static/style.css",
                "url": "/static/style.css"})
        );
    }

    #[test]
    fn targets_parse_dash_as_stdout() {
        assert_eq!("-".parse::<EventsTarget>(), Ok(EventsTarget::Stdout));
        assert_eq!(
            "ev.jsonl".parse::<EventsTarget>(),
            Ok(EventsTarget::File("ev.jsonl".into()))
        );
    }
}
