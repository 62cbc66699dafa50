//! What `hotdev serve` is asked to do: [`ServeOptions`] and its defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::restarts;
use crate::allowed_hosts::AllowedHosts;
use crate::events::EventsTarget;

/// The default address: loopback only.
pub const DEFAULT_ADDR: &str = "127.0.0.1:7878";

/// How long a request handler may run before its client gets a 504 and the call is
/// abandoned (`--handler-timeout`).
pub const DEFAULT_HANDLER_TIMEOUT: Duration = Duration::from_secs(5);

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
