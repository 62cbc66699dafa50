//! A worker process's life as the supervisor sees it: started with its pipes and socket,
//! sent commands on its standard input, asked to stop (and killed if it does not).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{ChildStdin, Command as Process, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;
use crossbeam_channel::Receiver;

use super::Supervisor;
use crate::events::Event;
use crate::serve::SHUTDOWN_GRACE;
use crate::serve::crash::Record;
use crate::serve::worker::{Command, Init};

/// How long the supervisor waits for a worker to exit after `shutdown`, beyond the
/// worker's own grace for running requests, before it kills it.
const EXIT_WAIT: Duration = Duration::from_secs(5);

/// What the worker's threads tell the supervisor's loop.
#[derive(Debug)]
pub(super) enum FromWorker {
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
pub(super) struct Worker {
    pub(super) id: u64,
    pub(super) pid: u32,
    pub(super) stdin: Option<ChildStdin>,
    pub(super) started: Instant,
    /// Whether a generation went live in it (a crash before counts towards the backoff).
    pub(super) served: bool,
}

impl Supervisor {
    /// Starts a worker that loads `artifact` (a generation that served, or a new build)
    /// first, and shows `notice` to its browsers.
    pub(super) fn spawn(
        &mut self,
        artifact: Option<(u64, PathBuf)>,
        build_ms: Option<u64>,
    ) -> anyhow::Result<()> {
        // Both ends of both pipes are close-on-exec (`io::pipe` opens them so, atomically
        // where the system can): only the worker gets the write ends, by `pre_exec` below.
        let (crash_read, crash_write) =
            io::pipe().context("[HD062] could not create the worker's crash pipe")?;
        let (report_read, report_write) =
            io::pipe().context("[HD062] could not create the worker's report pipe")?;
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
    pub(super) fn send(&mut self, command: &Command) {
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

    /// Tells the worker to shut down and waits for it (forwarding its last reports); kills
    /// it if it does not exit in time.
    pub(super) fn stop_worker(&mut self, rx: &Receiver<FromWorker>) {
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

#[cfg(test)]
mod tests {
    use std::io;
    use std::os::fd::AsRawFd;

    /// The supervisor relies on it: a pipe's ends reach no child but the worker (cargo,
    /// the plugin's own processes), which gets the write ends by `pre_exec`.
    #[test]
    fn both_ends_of_a_pipe_are_close_on_exec() {
        let (read, write) = io::pipe().unwrap();
        for fd in [read.as_raw_fd(), write.as_raw_fd()] {
            // SAFETY: F_GETFD on a descriptor this test owns reads its flags; no memory.
            let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
            assert!(
                flags != -1 && flags & libc::FD_CLOEXEC != 0,
                "fd {fd}: {flags}"
            );
        }
    }
}
