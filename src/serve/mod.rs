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
//! *supervisor* (`supervisor/`), binds the socket, follows the watcher and builds, and
//! prints and writes `--events`; a *worker* process (`worker.rs`) loads the plugin and
//! runs the HTTP server on the inherited socket. When a crash ends the worker, the
//! supervisor starts another on the last generation that did not crash (`crash.rs` names
//! the signal, route and generation). `--single-process` runs everything in one process,
//! as below (`single.rs`).
//!
//! In the process that serves, three kinds of threads share one `Shared` value
//! (`shared.rs`): the HTTP workers (which call the plugin), one thread per browser event
//! stream, and the thread that follows the watcher (`watch.rs`) and swaps generations
//! (`reloader.rs`; the plugin's state across them in `plugin_state.rs`, what the host
//! reports about them in `host_events.rs`). What happens is reported three ways: lines
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
//!
//! `options.rs` holds what `hotdev serve` is asked to do ([`ServeOptions`]); this file
//! starts the server ([`run`]) and says where it listens.

use crate::browser::{diagnostics, live, pages};

mod breaker;
mod calls;
#[cfg(unix)]
mod crash;
mod host_events;
mod hosts;
mod http;
mod last_build;
mod options;
mod plugin_state;
mod reloader;
mod responses;
pub mod restarts;
mod shared;
mod single;
mod static_files;
#[cfg(unix)]
mod supervisor;
mod watch;
#[cfg(unix)]
mod worker;

pub use options::{DEFAULT_ADDR, DEFAULT_HANDLER_TIMEOUT, ServeOptions};
#[cfg(unix)]
pub use worker::run as run_worker;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use crossbeam_channel::Receiver;

use crate::events::{Event, EventWriter};
use crate::term::Term;
use shared::{Gens, Shared};
use static_files::StaticDir;

/// How long shutdown waits for running requests before abandoning them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Runs the development server until `shutdown` receives (or its sender goes away).
///
/// By default (on Unix) this process is the *supervisor*: it owns the listening socket,
/// the watcher and the builds, the terminal and `--events`, and runs the HTTP server and
/// the plugin in a worker process (`supervisor/`), which it replaces when a crash ends
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
    single::single_process(&opts, plugin_dir, shared, shutdown)
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

fn display_dir(dir: &Path) -> String {
    dir.display().to_string()
}

/// Opens `url` in the system browser (`$BROWSER` when set), best effort: a failure is a
/// warning, and the server goes on.
fn open_browser(url: &str) {
    // `opener` neither waits for the browser nor leaves its launcher unreaped, and passes
    // the URL as one argument (no shell reads its `&`).
    if let Err(error) = opener::open_browser(url) {
        tracing::warn!(%error, "could not open a browser");
    }
}
