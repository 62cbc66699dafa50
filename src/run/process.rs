//! The host program's processes: listening sockets handed over as `LISTEN_FDS`, a process
//! group per run, and a graceful stop (SIGINT to the group, SIGKILL after a timeout).
//!
//! # Handing over the sockets
//!
//! The convention is systemd's socket activation, as the `listenfd` crate and systemfd
//! read and write it: the sockets are file descriptors 3, 4, ... in the child, open across
//! `exec` (no `FD_CLOEXEC`), `LISTEN_FDS` says how many, and `LISTEN_PID` holds the pid of
//! the process meant to take them, so that a grandchild that inherits the environment does
//! not take them too.
//!
//! `LISTEN_PID` must be the child's own pid, which only exists after `fork`, and between
//! `fork` and `exec` a child of a threaded program may only do async-signal-safe things:
//! no allocation, no locks (`setenv` takes both). So everything is prepared before the
//! fork — the program's path, its arguments, its whole environment with a `LISTEN_PID=`
//! entry padded for any pid — and the child, in `CommandExt::pre_exec`, only moves the
//! sockets into place with `dup2`, writes its pid's digits into the padded entry, and
//! calls `execve` itself with the prepared arrays. (The alternative, re-executing hotdev
//! as a trampoline that sets the variable and execs the host, costs an extra exec per
//! start and a hidden command.)
//!
//! The sockets live in hotdev at descriptors above `3 + n`, so that moving them to
//! `3..3 + n` in the child never overwrites one not yet moved; and hotdev keeps the
//! numbers `3..3 + n` themselves occupied, so that the pipe std uses to report a failed
//! `exec` never gets one of them (the child would overwrite it).
//!
//! Unix only: this module is compiled on unix, and `hotdev run` reports an error elsewhere.
//! The libc calls are made directly (not through nix) because the child side must not
//! allocate, and the few parent-side calls follow the same style.

use std::ffi::{CString, OsString};
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The sockets `hotdev run --listen` opened, handed to every run of the host.
#[derive(Debug)]
pub(crate) struct Listeners {
    /// The sockets as bound (kept open: their descriptor numbers stay taken).
    sockets: Vec<TcpListener>,
    /// Copies above `3 + n`, the sources of the child's `dup2`s.
    high: Vec<OwnedFd>,
    /// Copies that keep the numbers `3..3 + n` taken in hotdev.
    _reserved: Vec<OwnedFd>,
}

impl Listeners {
    /// Binds every address (`HD082` is the caller's to report), in order: the first is
    /// descriptor 3 in the host.
    pub(crate) fn bind(addrs: &[SocketAddr]) -> Result<Self, (SocketAddr, io::Error)> {
        let sockets = addrs
            .iter()
            .map(|addr| TcpListener::bind(addr).map_err(|e| (*addr, e)))
            .collect::<Result<Vec<_>, _>>()?;
        let n = sockets.len() as RawFd;
        let any = |e| {
            (
                addrs.first().copied().unwrap_or(([0, 0, 0, 0], 0).into()),
                e,
            )
        };
        let mut reserved = Vec::new();
        if let Some(first) = sockets.first() {
            for fd in 3..3 + n {
                if !is_open(fd) {
                    // The lowest free number at or above `fd` is `fd` itself.
                    reserved.push(dup_at_least(first.as_raw_fd(), fd).map_err(any)?);
                }
            }
        }
        let high = sockets
            .iter()
            .map(|s| dup_at_least(s.as_raw_fd(), 3 + n))
            .collect::<io::Result<Vec<_>>>()
            .map_err(any)?;
        Ok(Listeners {
            sockets,
            high,
            _reserved: reserved,
        })
    }

    /// The bound addresses (with the real ports when port 0 was asked for).
    pub(crate) fn addrs(&self) -> Vec<SocketAddr> {
        self.sockets
            .iter()
            .filter_map(|s| s.local_addr().ok())
            .collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.sockets.len()
    }
}

/// Whether descriptor `fd` is open in this process.
fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags; an unused number gives EBADF.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// A close-on-exec copy of `fd` at the lowest free number at or above `min`.
fn dup_at_least(fd: RawFd, min: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC makes a new descriptor and touches no memory of ours.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) };
    if new == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new` was just created and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Everything the child needs between `fork` and `exec`, prepared before the fork.
struct ExecPlan {
    program: CString,
    _args: Vec<CString>,
    argv: Vec<*const libc::c_char>,
    _env: Vec<CString>,
    envp: Vec<*const libc::c_char>,
    /// `LISTEN_PID=` and room for any pid and a NUL, written by the child.
    pid_entry: Vec<u8>,
    /// `pid_entry`'s buffer, written only through this pointer.
    pid_digits: *mut u8,
    /// (source, target) descriptors.
    moves: Vec<(RawFd, RawFd)>,
    /// hotdev's pid: the child stops if its parent is already gone.
    parent: libc::pid_t,
}

// SAFETY: the raw pointers point into buffers owned by the same `ExecPlan` (the CStrings
// and `pid_entry`, whose heap buffers never move), and they are only used by the forked
// child, which has its own copy of the memory and a single thread.
unsafe impl Send for ExecPlan {}
// SAFETY: as above; the parent never touches the pointers after building the plan.
unsafe impl Sync for ExecPlan {}

const LISTEN_PID: &[u8] = b"LISTEN_PID=";
/// Room for the digits of any pid and the terminating NUL.
const PID_ROOM: usize = 24;

impl ExecPlan {
    fn new(
        program: &Path,
        args: &[OsString],
        overrides: &[(OsString, OsString)],
        listeners: &Listeners,
    ) -> io::Result<Self> {
        let cstring = |bytes: &[u8]| {
            CString::new(bytes).map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in an argument")
            })
        };
        let program = cstring(program.as_os_str().as_bytes())?;
        let mut all_args = vec![program.clone()];
        for arg in args {
            all_args.push(cstring(arg.as_bytes())?);
        }
        let n = listeners.len();
        let mut env = Vec::new();
        let overridden = |key: &OsString| overrides.iter().any(|(k, _)| k == key);
        let own = std::env::vars_os().filter(|(key, _)| !overridden(key));
        for (key, value) in own.chain(overrides.iter().cloned()) {
            // Sockets hotdev itself may have been handed are not the host's.
            if key.as_bytes().starts_with(b"LISTEN_") {
                continue;
            }
            let mut entry = key.as_bytes().to_vec();
            entry.push(b'=');
            entry.extend_from_slice(value.as_bytes());
            env.push(cstring(&entry)?);
        }
        if n > 0 {
            env.push(cstring(format!("LISTEN_FDS={n}").as_bytes())?);
        }
        let mut pid_entry = LISTEN_PID.to_vec();
        pid_entry.resize(LISTEN_PID.len() + PID_ROOM, 0);
        let pid_digits = pid_entry.as_mut_ptr();
        let argv = all_args
            .iter()
            .map(|a| a.as_ptr())
            .chain([std::ptr::null()])
            .collect();
        let mut envp: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
        if n > 0 {
            envp.push(pid_digits.cast_const().cast());
        }
        envp.push(std::ptr::null());
        let moves = listeners
            .high
            .iter()
            .enumerate()
            .map(|(i, fd)| (fd.as_raw_fd(), 3 + i as RawFd))
            .collect();
        Ok(ExecPlan {
            program,
            _args: all_args,
            argv,
            _env: env,
            envp,
            pid_entry,
            pid_digits,
            moves,
            // SAFETY: getpid cannot fail and touches no memory.
            parent: unsafe { libc::getpid() },
        })
    }

    /// Runs in the forked child: async-signal-safe calls and plain memory writes only.
    /// Returns only on failure.
    fn exec_in_child(&mut self) -> io::Result<()> {
        for &(from, to) in &self.moves {
            // SAFETY: both are descriptor numbers; `from` is open (inherited from hotdev)
            // and lies above every `to`, so no move overwrites a source not yet moved.
            // The copy made by dup2 has no FD_CLOEXEC, so it survives the exec.
            if unsafe { libc::dup2(from, to) } == -1 {
                return Err(io::Error::last_os_error());
            }
        }
        #[cfg(target_os = "linux")]
        {
            // SAFETY: prctl with integer arguments; getppid cannot fail. If hotdev dies,
            // the host is told with SIGTERM instead of running on unsupervised; if it died
            // before this line, the child stops here.
            unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                if libc::getppid() != self.parent {
                    return Err(io::Error::from_raw_os_error(libc::ESRCH));
                }
            }
        }
        if !self.moves.is_empty() {
            // SAFETY: getpid cannot fail and touches no memory.
            let pid = unsafe { libc::getpid() };
            let mut digits = [0u8; 20];
            let mut len = 0;
            let mut rest = pid.unsigned_abs();
            loop {
                digits[len] = b'0' + (rest % 10) as u8;
                len += 1;
                rest /= 10;
                if rest == 0 {
                    break;
                }
            }
            for i in 0..len {
                // SAFETY: `pid_digits` points at `pid_entry`'s buffer of
                // `LISTEN_PID.len() + PID_ROOM` bytes; at most 20 digits and a NUL are
                // written after the prefix.
                unsafe {
                    self.pid_digits
                        .add(LISTEN_PID.len() + i)
                        .write(digits[len - 1 - i])
                };
            }
            // SAFETY: as above; the NUL ends the entry.
            unsafe { self.pid_digits.add(LISTEN_PID.len() + len).write(0) };
        }
        debug_assert!(self.pid_entry.len() > LISTEN_PID.len());
        // SAFETY: `program`, `argv` and `envp` are NUL-terminated strings and
        // null-terminated arrays of pointers into strings owned by `self`, alive here.
        unsafe {
            libc::execve(
                self.program.as_ptr(),
                self.argv.as_ptr(),
                self.envp.as_ptr(),
            )
        };
        Err(io::Error::last_os_error())
    }
}

/// One run of the host program, leading its own process group.
#[derive(Debug)]
pub(crate) struct Host {
    child: Child,
    pid: u32,
}

/// How a stopped host ended.
#[derive(Debug)]
pub(crate) struct Stopped {
    pub(crate) status: Option<ExitStatus>,
    /// It ignored SIGINT for the whole timeout and was killed.
    pub(crate) killed: bool,
    pub(crate) took: Duration,
}

impl Host {
    /// Starts `program` with `args` in a new process group, with the sockets as
    /// descriptors 3.. and `LISTEN_FDS`/`LISTEN_PID` set. Its standard input is closed (a
    /// process outside the terminal's foreground group that reads it would be stopped);
    /// its standard output is hotdev's, or hotdev's standard error when `stdout_to_stderr`.
    ///
    /// `env` is set in the host's environment over hotdev's own (the run-time library
    /// path, see [`library_path`]).
    pub(crate) fn start(
        program: &Path,
        args: &[OsString],
        env: &[(OsString, OsString)],
        listeners: &Listeners,
        stdout_to_stderr: bool,
    ) -> io::Result<Host> {
        let mut plan = ExecPlan::new(program, args, env, listeners)?;
        let mut command = Command::new(program);
        command.args(args).process_group(0).stdin(Stdio::null());
        if stdout_to_stderr {
            use std::os::fd::AsFd;
            command.stdout(Stdio::from(io::stderr().as_fd().try_clone_to_owned()?));
        }
        // SAFETY: the closure runs in the forked child before exec; it makes only
        // async-signal-safe calls (dup2, prctl, getppid, getpid, execve) and writes into
        // memory prepared before the fork (see `ExecPlan::exec_in_child`). It allocates
        // nothing: the `io::Error`s it returns are raw OS errors.
        unsafe {
            command.pre_exec(move || plan.exec_in_child());
        }
        let child = command.spawn()?;
        let pid = child.id();
        Ok(Host { child, pid })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether the host has exited, without reaping it: while it is not reaped, its pid,
    /// and so its process group's id, cannot be reused.
    pub(crate) fn has_exited(&self) -> bool {
        // SAFETY: a zeroed siginfo_t is a valid value for waitid to fill.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid writes into `info`, which lives across the call; WNOWAIT leaves
        // the child waitable, WNOHANG makes the call return at once.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                self.pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // SAFETY: waitid filled `info` (or left it zeroed: si_pid 0).
        r == 0 && unsafe { info.si_pid() } != 0
    }

    /// Sends `signal` to the host's process group. Only called while the leader is not
    /// reaped, so the group id still names the group it leads.
    fn signal_group(&self, signal: libc::c_int) {
        // SAFETY: killpg takes integers; the group's leader is our unreaped child (see
        // above), so the id cannot name an unrelated group.
        let r = unsafe { libc::killpg(self.pid as libc::pid_t, signal) };
        if r != 0 {
            let error = io::Error::last_os_error();
            tracing::debug!(pid = self.pid, signal, %error, "killpg failed (the group may be gone)");
        }
    }

    /// Reaps a host that has exited, killing what is left of its process group first.
    pub(crate) fn reap(mut self) -> Option<ExitStatus> {
        self.signal_group(libc::SIGKILL);
        self.child.wait().ok()
    }

    /// Stops the host: SIGINT to its process group, SIGKILL after `timeout`, then the
    /// group's stragglers are killed and the host is reaped.
    pub(crate) fn stop(self, timeout: Duration) -> Stopped {
        let started = Instant::now();
        let mut killed = false;
        if !self.has_exited() {
            self.signal_group(libc::SIGINT);
            while !self.has_exited() {
                if started.elapsed() >= timeout {
                    self.signal_group(libc::SIGKILL);
                    killed = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let status = self.reap();
        Stopped {
            status,
            killed,
            took: started.elapsed(),
        }
    }
}

/// The run-time library path a host built by cargo needs when it runs from its private
/// copy: the build's `deps/` folder and the folder of the binary (a host in a one world
/// links its world's Rust dylibs from there) and the toolchain's library folder (std's
/// shared library, for a host built with `-C prefer-dynamic`), ahead of the environment's
/// own `LD_LIBRARY_PATH`, as `cargo run` sets it.
pub(crate) fn library_path(binary: &Path) -> Vec<(OsString, OsString)> {
    let mut dirs: Vec<std::path::PathBuf> = Vec::new();
    if let Some(dir) = binary.parent() {
        dirs.push(dir.join("deps"));
        dirs.push(dir.to_path_buf());
    }
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    if let Ok(out) = Command::new(rustc)
        .args(["--print", "target-libdir"])
        .stdin(Stdio::null())
        .output()
        && out.status.success()
    {
        let libdir = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !libdir.is_empty() {
            dirs.push(libdir.into());
        }
    }
    // macOS (untested here) reads the same list from DYLD_LIBRARY_PATH.
    let var = if cfg!(target_os = "macos") {
        "DYLD_LIBRARY_PATH"
    } else {
        "LD_LIBRARY_PATH"
    };
    if let Some(existing) = std::env::var_os(var) {
        dirs.extend(std::env::split_paths(&existing));
    }
    match std::env::join_paths(dirs) {
        Ok(joined) => vec![(var.into(), joined)],
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The child sees the socket as descriptor 3, with `LISTEN_FDS=1` and `LISTEN_PID` set
    /// to its own pid, and nothing above.
    #[test]
    fn the_child_gets_the_socket_as_fd_3_with_its_own_pid() {
        let listeners = Listeners::bind(&["127.0.0.1:0".parse().unwrap()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("report");
        let script = format!(
            "echo \"$LISTEN_FDS $LISTEN_PID $$\" > {0}; readlink /proc/$$/fd/3 >> {0}; \
             readlink /proc/$$/fd/4 >> {0} || echo no-fd-4 >> {0}",
            report.display()
        );
        let args: Vec<OsString> = vec!["-c".into(), script.into()];
        let host = Host::start(Path::new("/bin/sh"), &args, &[], &listeners, false).unwrap();
        let pid = host.pid();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !host.has_exited() {
            assert!(Instant::now() < deadline, "the child did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(host.reap().unwrap().success());
        let text = std::fs::read_to_string(&report).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], format!("1 {pid} {pid}"), "{text}");
        assert!(lines[1].starts_with("socket:"), "{text}");
        assert_eq!(lines[2], "no-fd-4", "{text}");
    }

    /// A child that ignores SIGINT is killed after the timeout, and its whole group goes.
    #[test]
    fn a_host_that_ignores_sigint_is_killed_with_its_group() {
        let listeners = Listeners::bind(&[]).unwrap();
        let args: Vec<OsString> = vec!["-c".into(), "trap '' INT; sleep 300 & wait".into()];
        let host = Host::start(Path::new("/bin/sh"), &args, &[], &listeners, false).unwrap();
        let pid = host.pid();
        // Let the shell start its child and install the trap.
        let deadline = Instant::now() + Duration::from_secs(60);
        let sleeper = loop {
            let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                .unwrap_or_default();
            if let Some(child) = children.split_whitespace().next() {
                break child.to_string();
            }
            assert!(Instant::now() < deadline, "the shell did not start sleep");
            std::thread::sleep(Duration::from_millis(10));
        };
        let stopped = host.stop(Duration::from_millis(200));
        assert!(stopped.killed);
        // The shell's child, in its group, is gone too (or a zombie left to init).
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{sleeper}/stat")).unwrap_or_default();
            let state = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .next();
            if stat.is_empty() || state == Some("Z") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "sleep {sleeper} still runs: {stat}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
