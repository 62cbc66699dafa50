//! `hotdev run`'s part of the dev loop: what it does at each step of
//! [`Core::run`](crate::devloop::Core::run) — the lines on the terminal, the JSON events,
//! and the host program's process: started from a private copy of each new binary,
//! stopped and started again when a build changes it, left running when a build fails or
//! leaves the binary as it was, and reported when it exits by itself.

use std::collections::BTreeSet;
use std::io::{self, IsTerminal};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use crossbeam_channel::Receiver;
use hotdev_watcher::{Config, Diagnostic};

use super::RunOptions;
use super::package::HostPackage;
use super::process::{Host, Listeners, Stopped};
use crate::devloop::{Core, Follower, Ready};
use crate::events::{Event, EventWriter, EventsTarget, millis};
use crate::term::Term;

/// How often a running host is checked for having exited by itself.
const EXIT_CHECK: Duration = Duration::from_millis(100);

/// What the loop keeps between steps: the host package, the sockets, the process.
struct Loop {
    opts: RunOptions,
    host: HostPackage,
    events: Option<EventWriter>,
    term: Term,
    listeners: Listeners,
    running: Option<Running>,
    /// How many times a host was started.
    runs: u64,
    /// Where the private copies of the binary go.
    copies: PathBuf,
}

/// A host process and the file it was started from.
struct Running {
    host: Host,
    /// The private copy of the binary it runs.
    copy: PathBuf,
}

/// Binds the sockets, follows the host package until `shutdown`, then stops the host.
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
        runs: 0,
        copies,
    };
    this.announce();

    let mut config = Config::new([this.host.dir.clone()]);
    config.bin = Some(this.host.bin.clone());
    config.release = this.opts.release;
    config.color = io::stderr().is_terminal();
    let mut core = Core::start(config).context("could not start watching the host")?;

    let outcome = core
        .run(&mut this, &shutdown, &crossbeam_channel::never())
        .map_err(anyhow::Error::new);
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
    core.shutdown();
    let _ = std::fs::remove_dir(&this.copies);
    outcome
}

impl Follower for Loop {
    type Message = ();

    fn changed(&mut self, paths: &[PathBuf]) {
        self.emit(&Event::Change {
            paths: paths.iter().map(|p| p.display().to_string()).collect(),
        });
    }

    fn build_started(&mut self, _packages: &[String], _cause: &[PathBuf]) {
        self.emit(&Event::BuildStarted);
        self.term.build_started(&self.host.name);
    }

    fn build_finished(&mut self, duration: Duration) {
        self.term.stop_spinner();
        self.emit(&Event::BuildFinished {
            ms: millis(duration),
        });
    }

    fn build_failed(&mut self, duration: Duration, diagnostics: &str, _messages: &[Diagnostic]) {
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
        self.term.verbatim(diagnostics);
        self.emit(&Event::BuildFailed {
            message: hotdev_watcher::strip_ansi(diagnostics),
            ms,
        });
    }

    fn warning(&mut self, message: &str) {
        self.term.line(&format!("hotdev run: warning: {message}"));
        self.emit(&Event::Warning {
            message: message.to_string(),
        });
    }

    fn ready(&mut self, ready: Ready) -> ControlFlow<()> {
        self.on_binary(ready);
        ControlFlow::Continue(())
    }

    fn deadline(&self) -> Option<Instant> {
        self.running.as_ref().map(|_| Instant::now() + EXIT_CHECK)
    }

    fn deadline_passed(&mut self) {
        self.check_exited();
    }
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

    /// A build succeeded: restart the host if its binary changed (or start it if
    /// nothing runs).
    fn on_binary(&mut self, ready: Ready) {
        let Ready {
            artifact: binary,
            changed: cause,
            build,
            fresh,
            ..
        } = ready;
        let build_ms = millis(build);
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
        let copy = match self.copy_binary(&binary) {
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
        let env = super::process::library_path(&binary);
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
                        self.host.name, build_ms
                    ),
                    Some((old, stopped)) => format!(
                        "hotdev run: restarted {}: {} changed, which the host program \
                         compiles (pid {old} {}; pid {pid} started; build {} ms)",
                        self.host.name,
                        self.describe(&cause),
                        describe_stop(stopped),
                        build_ms
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// Regression: the private copy of the host's binary was written without its mode, and
    /// every start failed with "Permission denied" (HD087).
    #[test]
    fn the_private_copy_of_the_binary_can_be_started_by_its_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("true-copy");
        hotdev_host::shadow::copy_into_place(Path::new("/bin/true"), &copy).unwrap();
        let mode = std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{mode:o}");
        let status = std::process::Command::new(&copy).status().unwrap();
        assert!(status.success(), "{status}");
    }
}
