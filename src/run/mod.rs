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

#[cfg(unix)]
mod process;

use crate::events::millis;
use std::ffi::OsString;
use std::io::{self, IsTerminal};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use cargo_metadata::{Metadata, MetadataCommand, Package};
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

/// The host program to build and run.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HostPackage {
    name: String,
    bin: String,
    dir: PathBuf,
    workspace_root: PathBuf,
    target_directory: PathBuf,
}

/// The names of a package's binary targets.
fn bins(package: &Package) -> Vec<&str> {
    package
        .targets
        .iter()
        .filter(|t| t.is_bin())
        .map(|t| t.name.as_str())
        .collect()
}

/// Picks the host package and its binary out of the workspace's metadata.
fn pick_host(
    metadata: &Metadata,
    package: Option<&str>,
    dir: &Path,
) -> anyhow::Result<HostPackage> {
    let members: Vec<&Package> = metadata.workspace_packages();
    let with_bins: Vec<&str> = members
        .iter()
        .filter(|p| !bins(p).is_empty())
        .map(|p| p.name.as_str())
        .collect();
    let chosen = match package {
        Some(name) => members
            .iter()
            .find(|p| p.name.as_str() == name)
            .copied()
            .with_context(|| {
                format!(
                    "[HD085] no package named {name} in the workspace at {} (packages with a \
                     binary: {})",
                    metadata.workspace_root,
                    with_bins.join(", ")
                )
            })?,
        None => {
            let here = members.iter().find(|p| {
                p.manifest_path.parent().map(|d| d.as_std_path()) == Some(dir)
                    && !bins(p).is_empty()
            });
            match (here, with_bins.as_slice()) {
                (Some(p), _) => p,
                (None, [only]) => members
                    .iter()
                    .find(|p| p.name.as_str() == *only)
                    .copied()
                    .expect("the name was taken from the members"),
                (None, []) => anyhow::bail!(
                    "[HD085] no package with a binary in the workspace at {}",
                    metadata.workspace_root
                ),
                (None, several) => anyhow::bail!(
                    "[HD085] several packages have a binary ({}); name the host with -p",
                    several.join(", ")
                ),
            }
        }
    };
    let bins = bins(chosen);
    let bin = match bins.as_slice() {
        [only] => only.to_string(),
        [] => anyhow::bail!(
            "[HD086] package {} has no binary target to run",
            chosen.name
        ),
        several => match several.iter().find(|b| **b == chosen.name.as_str()) {
            Some(b) => b.to_string(),
            None => anyhow::bail!(
                "[HD086] package {} has several binaries ({}) and none named after it",
                chosen.name,
                several.join(", ")
            ),
        },
    };
    Ok(HostPackage {
        name: chosen.name.to_string(),
        bin,
        dir: chosen
            .manifest_path
            .parent()
            .map(|d| d.as_std_path().to_path_buf())
            .unwrap_or_default(),
        workspace_root: metadata.workspace_root.clone().into_std_path_buf(),
        target_directory: metadata.target_directory.clone().into_std_path_buf(),
    })
}

fn find_host(opts: &RunOptions) -> anyhow::Result<HostPackage> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let metadata = MetadataCommand::new()
        .cargo_path(&cargo)
        .no_deps()
        .current_dir(&opts.dir)
        .exec()
        .map_err(|error| match error {
            cargo_metadata::Error::Io(source) => anyhow::Error::new(source).context(format!(
                "[HD072] could not run cargo at {}",
                cargo.to_string_lossy()
            )),
            cargo_metadata::Error::CargoMetadata { stderr } => anyhow::anyhow!(
                "[HD073] cargo metadata failed in {}: {}",
                opts.dir.display(),
                stderr.trim()
            ),
            other => anyhow::Error::new(other).context(format!(
                "[HD074] could not read the output of cargo metadata in {}",
                opts.dir.display()
            )),
        })?;
    let dir = opts.dir.canonicalize().unwrap_or_else(|_| opts.dir.clone());
    pick_host(&metadata, opts.package.as_deref(), &dir)
}

/// Runs the host program's loop until `shutdown` receives (or its sender goes away), then
/// stops the host and exits.
pub fn run(opts: RunOptions, shutdown: Receiver<()>) -> anyhow::Result<()> {
    let host = find_host(&opts)?;
    let events = match &opts.events {
        Some(target) => Some(
            EventWriter::open(target)
                .with_context(|| format!("[HD084] could not open the events file {target}"))?,
        ),
        None => None,
    };
    imp::run_loop(opts, host, events, shutdown)
}

#[cfg(not(unix))]
mod imp {
    use super::*;

    pub(super) fn run_loop(
        _opts: RunOptions,
        _host: HostPackage,
        _events: Option<EventWriter>,
        _shutdown: Receiver<()>,
    ) -> anyhow::Result<()> {
        anyhow::bail!("[HD087] hotdev run needs process groups and descriptor passing (unix)")
    }
}

#[cfg(unix)]
mod imp {
    use std::collections::BTreeSet;

    use crossbeam_channel::select;
    use hotdev_watcher::{Config, Watcher};

    use super::process::{Host, Listeners, Stopped};
    use super::*;
    use crate::events::Event;
    use crate::term::Term;

    struct Loop {
        opts: RunOptions,
        host: HostPackage,
        events: Option<EventWriter>,
        term: Term,
        listeners: Listeners,
        running: Option<Running>,
        /// Changes seen since the last build that went live, for the restart's reason.
        changed: Vec<PathBuf>,
        build_ms: u64,
        runs: u64,
        copies: PathBuf,
    }

    struct Running {
        host: Host,
        /// The private copy of the binary it runs.
        copy: PathBuf,
    }

    pub(super) fn run_loop(
        opts: RunOptions,
        host: HostPackage,
        events: Option<EventWriter>,
        shutdown: Receiver<()>,
    ) -> anyhow::Result<()> {
        let term = Term::default();
        let listeners = Listeners::bind(&opts.listen).map_err(|(addr, e)| {
            anyhow::Error::new(e).context(format!("[HD082] could not listen on {addr}"))
        })?;
        let copies = host.target_directory.join("hotdev-run");
        let mut this = Loop {
            opts,
            host,
            events,
            term,
            listeners,
            running: None,
            changed: Vec::new(),
            build_ms: 0,
            runs: 0,
            copies,
        };
        this.announce();

        let mut config = Config::new([this.host.dir.clone()]);
        config.bin = Some(this.host.bin.clone());
        config.release = this.opts.release;
        config.color = io::stderr().is_terminal();
        let (mut dev, changes) = Watcher::start(config)
            .map_err(|e| anyhow::Error::new(e).context("could not start watching the host"))?;

        let outcome = loop {
            select! {
                recv(shutdown) -> _ => break Ok(()),
                recv(changes) -> event => match event {
                    Ok(event) => {
                        if let Err(error) = this.on_watch(event) {
                            break Err(error);
                        }
                    }
                    Err(_) => break Err(anyhow::anyhow!("the watcher stopped")),
                },
                default(Duration::from_millis(100)) => this.check_exited(),
            }
        };
        this.term.stop_spinner();
        this.emit(&Event::Shutdown { abandoned: 0 });
        if let Some(running) = this.running.take() {
            let pid = running.host.pid();
            let stopped = this.stop(running);
            this.term.line(&format!(
                "hotdev run: stopped {} (pid {pid}) {}",
                this.host.name,
                describe_stop(&stopped)
            ));
        }
        dev.shutdown();
        let _ = std::fs::remove_dir(&this.copies);
        outcome
    }

    impl Loop {
        fn emit(&self, event: &Event) {
            if let Some(events) = &self.events {
                events.emit(event);
            }
        }

        fn announce(&self) {
            let addrs = self.listeners.addrs();
            for (i, addr) in addrs.iter().enumerate() {
                self.term.line(&format!(
                    "hotdev run: listening on {addr}, handed to {} as fd {} (LISTEN_FDS)",
                    self.host.name,
                    3 + i
                ));
                self.emit(&Event::Listening {
                    addr: addr.to_string(),
                    url: format!("http://{addr}/"),
                });
            }
            self.term.line(&format!(
                "hotdev run: running {} (bin {}); changes to what it compiles restart it, \
                 plugin changes are hot-reloaded by the host",
                self.host.name, self.host.bin
            ));
        }

        fn on_watch(&mut self, event: hotdev_watcher::Event) -> anyhow::Result<()> {
            use hotdev_watcher::Event as W;
            match event {
                W::Changed { paths } => {
                    self.emit(&Event::Change {
                        paths: paths.iter().map(|p| p.display().to_string()).collect(),
                    });
                    self.changed.extend(paths);
                }
                W::BuildStarted { .. } => {
                    self.emit(&Event::BuildStarted);
                    self.term.build_started(&self.host.name);
                }
                W::BuildFinished { duration, .. } => {
                    self.term.stop_spinner();
                    self.build_ms = millis(duration);
                    self.emit(&Event::BuildFinished { ms: self.build_ms });
                }
                W::BuildFailed {
                    duration,
                    diagnostics,
                    ..
                } => {
                    self.term.stop_spinner();
                    let ms = millis(duration);
                    let serving = match &self.running {
                        Some(r) => format!("pid {} keeps running the previous build", r.host.pid()),
                        None => "nothing runs until a build succeeds".to_string(),
                    };
                    self.term.line(&format!(
                        "hotdev run: [HD088] the build of {} failed after {ms} ms; {serving}",
                        self.host.name
                    ));
                    self.term.verbatim(&diagnostics);
                    self.emit(&Event::BuildFailed {
                        message: hotdev_watcher::strip_ansi(&diagnostics),
                        ms,
                    });
                }
                W::BuildSuperseded { .. } => {}
                W::ArtifactReady(artifact) => self.on_binary(&artifact.path, artifact.fresh),
                W::Warning(message) => {
                    self.term.line(&format!("hotdev run: warning: {message}"));
                    self.emit(&Event::Warning { message });
                }
                W::Fatal(error) => {
                    self.term.stop_spinner();
                    return Err(anyhow::Error::new(error).context("the watcher stopped"));
                }
                #[allow(unreachable_patterns)] // The watcher's events are non-exhaustive.
                other => tracing::debug!(?other, "unhandled watcher event"),
            }
            Ok(())
        }

        /// A build succeeded: restart the host if its binary changed (or start it if
        /// nothing runs).
        fn on_binary(&mut self, binary: &Path, fresh: bool) {
            let cause = std::mem::take(&mut self.changed);
            if fresh && let Some(running) = &self.running {
                let pid = running.host.pid();
                self.term.line(&format!(
                    "hotdev run: {} changed, but not {}'s binary: pid {pid} keeps running \
                         (what the host loads at run time, it hot-reloads itself)",
                    self.describe(&cause),
                    self.host.name
                ));
                self.emit(&Event::HostUnchanged {
                    pid,
                    paths: cause.iter().map(|p| p.display().to_string()).collect(),
                });
                return;
            }
            let copy = match self.copy_binary(binary) {
                Ok(copy) => copy,
                Err(error) => {
                    let message = format!(
                        "[HD087] could not copy {} to start it: {error}",
                        binary.display()
                    );
                    self.term.line(&format!("hotdev run: {message}"));
                    self.emit(&Event::Warning { message });
                    return;
                }
            };
            let previous = self.running.take().map(|running| {
                let pid = running.host.pid();
                (pid, self.stop(running))
            });
            let stdout_to_stderr = self.opts.events == Some(EventsTarget::Stdout);
            let env = super::process::library_path(binary);
            match Host::start(
                &copy,
                &self.opts.args,
                &env,
                &self.listeners,
                stdout_to_stderr,
            ) {
                Ok(host) => {
                    self.runs += 1;
                    let pid = host.pid();
                    let line = match &previous {
                        None => format!(
                            "hotdev run: started {} (pid {pid}, build {} ms)",
                            self.host.name, self.build_ms
                        ),
                        Some((old, stopped)) => format!(
                            "hotdev run: restarted {}: {} changed, which the host program \
                             compiles (pid {old} {}; pid {pid} started; build {} ms)",
                            self.host.name,
                            self.describe(&cause),
                            describe_stop(stopped),
                            self.build_ms
                        ),
                    };
                    self.term.line(&line);
                    self.emit(&Event::HostStarted {
                        pid,
                        run: self.runs,
                        cause: cause.iter().map(|p| p.display().to_string()).collect(),
                    });
                    self.running = Some(Running { host, copy });
                }
                Err(error) => {
                    let _ = std::fs::remove_file(&copy);
                    let message = format!(
                        "[HD087] could not start {}: {error}; it starts again on the next change",
                        copy.display()
                    );
                    self.term.line(&format!("hotdev run: {message}"));
                    self.emit(&Event::Warning { message });
                }
            }
        }

        /// Stops a running host, reporting it, and removes its copy of the binary.
        fn stop(&self, running: Running) -> Stopped {
            let pid = running.host.pid();
            let stopped = running.host.stop(self.opts.stop_timeout);
            if stopped.killed {
                self.term.line(&format!(
                    "hotdev run: [HD089] {} (pid {pid}) did not exit within {} ms of SIGINT; \
                     its process group was killed",
                    self.host.name,
                    self.opts.stop_timeout.as_millis()
                ));
            }
            self.emit(&Event::HostStopped {
                pid,
                status: describe_status(stopped.status),
                killed: stopped.killed,
                ms: millis(stopped.took),
            });
            let _ = std::fs::remove_file(&running.copy);
            stopped
        }

        /// Reports a host that exited by itself.
        fn check_exited(&mut self) {
            if !self.running.as_ref().is_some_and(|r| r.host.has_exited()) {
                return;
            }
            let Some(running) = self.running.take() else {
                return;
            };
            let pid = running.host.pid();
            let status = running.host.reap();
            let _ = std::fs::remove_file(&running.copy);
            let status = describe_status(status);
            self.term.line(&format!(
                "hotdev run: {} (pid {pid}) exited ({status}); it starts again on the next change",
                self.host.name
            ));
            self.emit(&Event::HostExited { pid, status });
        }

        /// Copies the binary to a name of its own, so that the next build never writes the
        /// file a running host was started from.
        fn copy_binary(&self, binary: &Path) -> io::Result<PathBuf> {
            std::fs::create_dir_all(&self.copies)?;
            let name = format!("{}-{}-{}", self.host.bin, std::process::id(), self.runs + 1);
            let copy = self.copies.join(&name);
            hotdev_host::shadow::copy_into_place(binary, &copy)?;
            Ok(copy)
        }

        /// The changed files, relative to the workspace.
        fn describe(&self, paths: &[PathBuf]) -> String {
            let names: Vec<String> = paths
                .iter()
                .map(|p| {
                    p.strip_prefix(&self.host.workspace_root)
                        .unwrap_or(p)
                        .display()
                        .to_string()
                })
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            match names.len() {
                0 => "nothing (a rebuild)".to_string(),
                1..=3 => names.join(", "),
                n => format!("{} and {} more", names[..2].join(", "), n - 2),
            }
        }
    }

    fn describe_stop(stopped: &Stopped) -> String {
        if stopped.killed {
            format!("killed after {} ms", millis(stopped.took))
        } else {
            format!(
                "stopped by SIGINT in {} ms, {}",
                millis(stopped.took),
                describe_status(stopped.status)
            )
        }
    }

    fn describe_status(status: Option<std::process::ExitStatus>) -> String {
        match status {
            Some(status) => status.to_string(),
            None => "status unknown".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A workspace with a host (`app`: a binary and a library), a package with two
    /// binaries and a plugin, as `cargo metadata` describes it; and its root.
    fn workspace() -> (tempfile::TempDir, PathBuf, Metadata) {
        let dir = tempfile::tempdir().unwrap();
        let w = dir.path().canonicalize().unwrap();
        let write = |path: &str, text: &str| {
            let path = w.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write(
            "Cargo.toml",
            "[workspace]\nmembers = [\"app\", \"tools\", \"plugin\"]\nresolver = \"2\"\n",
        );
        let package = |name: &str| {
            format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n")
        };
        write("app/Cargo.toml", &package("app"));
        write("app/src/main.rs", "fn main() {}");
        write("app/src/lib.rs", "");
        write("tools/Cargo.toml", &package("tools"));
        write("tools/src/bin/a.rs", "fn main() {}");
        write("tools/src/bin/b.rs", "fn main() {}");
        write(
            "plugin/Cargo.toml",
            &format!("{}[lib]\ncrate-type = [\"cdylib\"]\n", package("plugin")),
        );
        write("plugin/src/lib.rs", "");
        let metadata = MetadataCommand::new()
            .no_deps()
            .current_dir(&w)
            .exec()
            .unwrap();
        (dir, w, metadata)
    }

    #[test]
    fn the_named_package_or_the_one_in_the_directory_is_the_host() {
        let (_dir, w, m) = workspace();
        let host = pick_host(&m, Some("app"), &w).unwrap();
        assert_eq!((host.name.as_str(), host.bin.as_str()), ("app", "app"));
        assert_eq!(host.dir, w.join("app"));
        assert_eq!(host.workspace_root, w);
        assert_eq!(host.target_directory, w.join("target"));
        let host = pick_host(&m, None, &w.join("app")).unwrap();
        assert_eq!(host.name, "app");
    }

    #[test]
    fn an_unclear_choice_is_an_error_with_its_code() {
        let (_dir, w, m) = workspace();
        let e = pick_host(&m, None, &w).unwrap_err().to_string();
        assert!(e.contains("[HD085]") && e.contains("app, tools"), "{e}");
        let e = pick_host(&m, Some("nope"), &w).unwrap_err().to_string();
        assert!(e.contains("[HD085]") && e.contains("nope"), "{e}");
        let e = pick_host(&m, Some("tools"), &w).unwrap_err().to_string();
        assert!(e.contains("[HD086]") && e.contains("a, b"), "{e}");
        let e = pick_host(&m, Some("plugin"), &w).unwrap_err().to_string();
        assert!(e.contains("[HD086]") && e.contains("no binary"), "{e}");
    }

    #[test]
    fn a_directory_without_a_workspace_is_an_error_with_its_code() {
        let dir = tempfile::tempdir().unwrap();
        let opts = RunOptions::new(dir.path());
        let e = format!("{:#}", find_host(&opts).unwrap_err());
        assert!(e.contains("[HD073]") && e.contains("Cargo.toml"), "{e}");
    }
}
