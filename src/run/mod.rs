//! `hotdev run`: the whole program's loop.
//!
//! `hotdev run` builds the user's host program and keeps it running while its sources
//! change. It watches what the host binary compiles — the host package and the local
//! packages it depends on (`cargo metadata`, normal and build dependencies), not the
//! plugin crates that the host loads at run time — and rebuilds it on every change:
//!
//! ```text
//!  change in the host or an interface ──► cargo build --bin ──► binary changed? ──► restart
//!  change in a plugin crate ──────────► (not ours) the host's own HotPlugin hot-reloads it
//! ```
//!
//! A build runs while the old process keeps serving; a failed build shows cargo's
//! diagnostics and leaves it running. Only after a successful build is the old process
//! stopped (SIGINT to its process group, SIGKILL after a timeout) and the new binary, a
//! private copy that no later build can write to, started. Sockets opened with `--listen`
//! are handed to every run (`LISTEN_FDS`, see `process`), so clients queue in the
//! listening socket during a restart instead of being refused.
//!
//! A build whose binary cargo found up to date (a change in a file the host does not
//! compile, such as a plugin nested inside a watched package) restarts nothing.
//!
//! The loop itself is the dev loop's ([`crate::devloop::Core`], as for every host of
//! hotdev): the watcher follows the host package (with [`hotdev_watcher::Config::bin`], so
//! that each build's artifact is the host's executable), and what `hotdev run` adds is its
//! [`Follower`](crate::devloop::Follower) (`restart`): the terminal's lines and the JSON
//! events, starting and restarting the host process from a private copy of the binary with
//! its run-time library path, stopping it (SIGINT to its process group), and noticing when
//! it exits by itself.
//!
//! Files: `package` finds the host package, `restart` follows the loop, `process` starts
//! and stops the host's processes and hands them the sockets.

mod package;
#[cfg(unix)]
mod process;
#[cfg(unix)]
mod restart;

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use crossbeam_channel::Receiver;

use crate::events::{EventWriter, EventsTarget};

/// What `hotdev run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The host package (`-p`); by default the package in the current directory, or the
    /// workspace's only package with a binary.
    pub package: Option<String>,
    /// The directory to look for the workspace in (the current directory).
    pub dir: PathBuf,
    /// Addresses to listen on; the sockets are handed to the host as descriptors 3, 4, ...
    pub listen: Vec<SocketAddr>,
    /// Arguments for the host program.
    pub args: Vec<OsString>,
    /// Build with `--release`.
    pub release: bool,
    /// Where to write JSON events, if anywhere.
    pub events: Option<EventsTarget>,
    /// How long a host gets to exit after SIGINT before its process group is killed.
    pub stop_timeout: Duration,
}

impl RunOptions {
    /// Options for running the host package found in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        RunOptions {
            package: None,
            dir: dir.into(),
            listen: Vec::new(),
            args: Vec::new(),
            release: false,
            events: None,
            stop_timeout: Duration::from_secs(5),
        }
    }
}

/// Runs the host program's loop until `shutdown` receives (or its sender goes away), then
/// stops the host and exits.
pub fn run(opts: RunOptions, shutdown: Receiver<()>) -> anyhow::Result<()> {
    let host = package::find_host(&opts)?;
    let events = match &opts.events {
        Some(target) => Some(
            EventWriter::open(target)
                .with_context(|| format!("[HD084] could not open the events file {target}"))?,
        ),
        None => None,
    };
    #[cfg(unix)]
    return restart::run_loop(opts, host, events, shutdown);
    #[cfg(not(unix))]
    {
        let _ = (host, events, shutdown);
        anyhow::bail!("[HD087] hotdev run needs process groups and descriptor passing (unix)")
    }
}
