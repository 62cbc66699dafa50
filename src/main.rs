//! The `hotdev` command.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use hotdev::allowed_hosts::AllowedHosts;
use hotdev::check::CheckOptions;
use hotdev::events::EventsTarget;
use hotdev::run::RunOptions;
use hotdev::serve::{self, ServeOptions};

/// Hot reload for Rust plugins: a development server and tools.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build a plugin crate, serve it over HTTP, and reload it on every change.
    Serve {
        /// The plugin crate's directory.
        plugin_dir: PathBuf,
        /// Where to listen (loopback by default; port 0 picks a free port).
        #[arg(long, default_value = serve::DEFAULT_ADDR)]
        addr: SocketAddr,
        /// Build the plugin with --release.
        #[arg(long)]
        release: bool,
        /// Write one JSON object per event to FILE, or to stdout with `-`.
        #[arg(long, value_name = "FILE|-")]
        events: Option<EventsTarget>,
        /// Open the page in the system browser once it serves.
        #[arg(long)]
        open: bool,
        /// Serve DIR under /static/ (default: the plugin crate's static/, if it exists).
        /// Changes there need no build: stylesheets swap in open pages, other files reload
        /// them.
        #[arg(long = "static", value_name = "DIR")]
        static_dir: Option<PathBuf>,
        /// How long a request handler may run before its client gets a 504 and the call is
        /// abandoned (`5s`, `500ms`, `2.5s`; a bare number is seconds).
        #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
        handler_timeout: Duration,
        /// When the plugin's state changes layout without migration hooks, refuse the new
        /// build (HD022) instead of resetting the state to its Default.
        #[arg(long)]
        keep_state: bool,
        /// Serve from this one process instead of a supervised worker process (a crash in
        /// the plugin then ends the server; for debuggers and comparisons).
        #[arg(long)]
        single_process: bool,
        /// Give up a crashing generation (the last good one serves, or the waiting page)
        /// when it crashes this many times within this long; until then the worker
        /// restarts it (`5/10s`: five crashes in ten seconds).
        #[arg(long, value_name = "CRASHES/DURATION", default_value = "5/10s")]
        restart_intensity: hotdev::serve::restarts::Intensity,
        /// Answer requests naming NAME too (repeatable). IP addresses, localhost and
        /// *.localhost are always answered; any other Host gets a 403 (HD057), so that no
        /// web page can read the server through DNS rebinding. NAME: a name (a tunnel's,
        /// this machine's on the LAN), `.example.test` for it and every name under it, an
        /// IP address (for pages on it calling /__hotdev/), or `all` to turn the check off
        /// (then any page open in your browser can read the server).
        #[arg(long = "allowed-host", value_name = "NAME", value_parser = parse_allowed_host)]
        allowed_hosts: Vec<String>,
    },
    /// The worker process of `hotdev serve` (started by it, not by people).
    #[command(name = "__serve-worker", hide = true)]
    ServeWorker {
        /// The worker's start arguments, as JSON.
        init: String,
    },
    /// Build and run a host program; restart it when what it compiles changes (plugins it
    /// loads hot-reload inside it), handing it the same listening sockets every time.
    Run {
        /// The host package (default: the package in this directory, or the workspace's
        /// only package with a binary).
        #[arg(short = 'p', long = "package", value_name = "HOST")]
        package: Option<String>,
        /// Open a listening socket at ADDR and hand it to every run of the host as fd 3,
        /// 4, ... (LISTEN_FDS, as systemd socket activation and the listenfd crate).
        #[arg(long, value_name = "ADDR")]
        listen: Vec<SocketAddr>,
        /// Build the host with --release.
        #[arg(long)]
        release: bool,
        /// Write one JSON object per event to FILE, or to stdout with `-` (the host's
        /// stdout then goes to stderr).
        #[arg(long, value_name = "FILE|-")]
        events: Option<EventsTarget>,
        /// Seconds a host gets to exit after SIGINT before its process group is killed.
        #[arg(long, value_name = "SECS", default_value_t = 5.0)]
        stop_timeout: f64,
        /// Arguments for the host program.
        #[arg(last = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// Create a plugin crate that `hotdev serve` runs at once.
    New {
        /// The directory to create (missing or empty).
        dir: PathBuf,
        /// What to create: `web`, a plugin crate for `hotdev serve`; `axum`, a workspace
        /// (host, api, plugin) whose axum routes hot-reload under `hotdev run`.
        #[arg(long, value_enum, default_value = "web")]
        template: hotdev::new::Template,
    },
    /// Walk the load path of a plugin library (or crate) step by step.
    Check {
        /// A plugin library, or a plugin crate's directory (built first).
        path: PathBuf,
        /// The interface it must implement.
        #[arg(long)]
        interface: Option<String>,
        /// Build a crate directory with --release.
        #[arg(long)]
        release: bool,
    },
}

fn main() -> ExitCode {
    // Logs go to stderr: stdout is reserved for `--events -` and `check`'s report.
    init_tracing();
    match run(Cli::parse().command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hotdev: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// What the `hotdev` command logs when `RUST_LOG` is unset: warnings from hotdev and the
/// crates it runs on, and from info up everything else, which is the plugin's own records
/// and events (a `tracing::info!` in a plugin shows under `hotdev serve` as it would under
/// `cargo run`). [`hotdev::init_tracing`], for host programs, keeps to warnings.
const DEFAULT_LOG: &str = "info,hotdev=warn,hotdev_host=warn,hotdev_watcher=warn,reloadable=warn,notify=warn,tiny_http=warn";

/// hotdev's and the plugin's logs on stderr, filtered by `RUST_LOG` or [`DEFAULT_LOG`].
fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG)),
        )
        .with_writer(std::io::stderr)
        .init();
}

fn run(command: Cmd) -> anyhow::Result<ExitCode> {
    match command {
        Cmd::Serve {
            plugin_dir,
            addr,
            release,
            events,
            open,
            static_dir,
            handler_timeout,
            keep_state,
            single_process,
            restart_intensity,
            allowed_hosts,
        } => {
            let allowed_hosts = AllowedHosts::from_names(&allowed_hosts)?;
            let rx = on_interrupt("shutting down")?;
            serve::run(
                ServeOptions {
                    plugin_dir,
                    addr,
                    release,
                    events,
                    open,
                    static_dir,
                    handler_timeout,
                    keep_state,
                    single_process,
                    restart_intensity,
                    allowed_hosts,
                },
                rx,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::ServeWorker { init } => {
            #[cfg(unix)]
            {
                serve::run_worker(&init)?;
                Ok(ExitCode::SUCCESS)
            }
            #[cfg(not(unix))]
            {
                let _ = init;
                anyhow::bail!("[HD062] the serve worker runs on Unix only")
            }
        }
        Cmd::Run {
            package,
            listen,
            release,
            events,
            stop_timeout,
            args,
        } => {
            if !(stop_timeout.is_finite() && stop_timeout >= 0.0) {
                anyhow::bail!(
                    "[HD085] --stop-timeout must be a number of seconds, not {stop_timeout}"
                );
            }
            let rx = on_interrupt("stopping the host")?;
            let mut opts = RunOptions::new(".");
            opts.package = package;
            opts.listen = listen;
            opts.release = release;
            opts.events = events;
            opts.stop_timeout = std::time::Duration::from_secs_f64(stop_timeout);
            opts.args = args;
            hotdev::run::run(opts, rx)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::New { dir, template } => {
            hotdev::new::run(&dir, template)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Check {
            path,
            interface,
            release,
        } => {
            let opts = CheckOptions {
                path,
                interface,
                release,
            };
            Ok(hotdev::check::run(&opts, &mut std::io::stdout().lock())?)
        }
    }
}

/// The first Ctrl-C says `doing` and sends on the channel returned (the command then
/// stops in order); a second one exits at once.
fn on_interrupt(doing: &'static str) -> anyhow::Result<crossbeam_channel::Receiver<()>> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let mut pressed = false;
    ctrlc::set_handler(move || {
        if pressed {
            eprintln!("\nhotdev: second interrupt, exiting at once");
            std::process::exit(130);
        }
        pressed = true;
        eprintln!("\nhotdev: {doing} (press Ctrl-C again to exit at once)");
        let _ = tx.try_send(());
    })?;
    Ok(rx)
}

/// Checks one `--allowed-host` value.
fn parse_allowed_host(name: &str) -> Result<String, String> {
    AllowedHosts::new()
        .allow(name)
        .map(|()| name.to_string())
        .map_err(|e| e.to_string())
}

/// Reads `5s`, `500ms`, `2.5s` or `5` (seconds).
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 1e-3)
    } else {
        (text.strip_suffix('s').unwrap_or(text), 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 5s or 500ms"))?;
    Duration::try_from_secs_f64(value * scale)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{text:?} is not a positive duration"))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_parse_in_seconds_or_milliseconds() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2.5s"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
