//! Shared helpers for the end-to-end tests of `hotdev serve`: a running server followed
//! through its `--events -` stream, plugin crates made with `hotdev new`, and a small
//! keep-alive HTTP/1.1 client (enough for the server and for chromedriver).
#![allow(dead_code)] // each test binary uses a part

pub mod browser;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a cargo build may take (first builds compile `reloadable` too; the machine
/// is small and shared).
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(180);

/// The target directory that the plugins of these tests build into (not the one this
/// test binary was built in): `reloadable` compiles once per run, not once per plugin.
///
/// Cargo's lock on it makes concurrent builds wait for each other. Each plugin crate has a
/// name of its own (its folder's: `greeter`, `crashy`, ...): the libraries of two crates
/// of one name would be written to one path (`debug/lib<name>.so`), and one test could
/// load the other's.
pub fn plugins_target() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugins")
}

/// The `hotdev` binary under test, with an environment whose plugin builds go to
/// [`plugins_target`].
pub fn hotdev() -> Command {
    let mut command = hotdev_own_target();
    command.env("CARGO_TARGET_DIR", plugins_target());
    command
}

/// The `hotdev` binary under test, with an environment that lets plugin builds use their
/// own target directories (`target/` in the plugin's folder), for a test that needs its
/// own (one that runs `cargo clean`).
pub fn hotdev_own_target() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hotdev"));
    command
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .env("RUST_LOG", "hotdev=debug,warn");
    command
}

/// Panics if a plugin crate named after `dir`'s last component was already made by this
/// test binary: the tests' plugins share [`plugins_target`], where two crates of one name
/// would write one library path.
pub fn claim_plugin_name(dir: &Path) {
    static CLAIMED: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let name = dir
        .file_name()
        .expect("a plugin folder has a name")
        .to_string_lossy()
        .into_owned();
    let mut claimed = CLAIMED.lock().unwrap_or_else(|e| e.into_inner());
    assert!(
        !claimed.contains(&name),
        "two tests make a plugin named {name:?}: give each its own name"
    );
    claimed.push(name);
}

/// Runs `hotdev new <dir>` and checks that it succeeded.
pub fn new_plugin(dir: &Path) {
    claim_plugin_name(dir);
    let out = hotdev()
        .arg("new")
        .arg(dir)
        .output()
        .expect("run hotdev new");
    assert!(
        out.status.success(),
        "hotdev new {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Replaces `from` with `to` in `file` (which must contain `from`), in one write.
pub fn edit(file: &Path, from: &str, to: &str) {
    edit_all(file, &[(from, to)]);
}

/// Makes several replacements in `file` and writes it once (so one build sees them all).
pub fn edit_all(file: &Path, replacements: &[(&str, &str)]) {
    let mut text = std::fs::read_to_string(file).expect("read the plugin source");
    for (from, to) in replacements {
        assert!(
            text.contains(from),
            "{} does not contain {from:?}",
            file.display()
        );
        text = text.replacen(from, to, 1);
    }
    std::fs::write(file, text).expect("write the plugin source");
}

/// A running `hotdev serve`, followed through its events.
pub struct Server {
    child: Child,
    events: mpsc::Receiver<Value>,
    /// Every event seen so far, for failure messages.
    pub seen: Arc<Mutex<Vec<Value>>>,
    /// The server's address.
    pub addr: SocketAddr,
    stderr_log: PathBuf,
}

impl Server {
    /// Starts `hotdev serve <dir> --addr 127.0.0.1:0 --events -` and waits for `listening`.
    pub fn start(dir: &Path, log_dir: &Path) -> Server {
        Self::start_with::<&str>(dir, log_dir, &[])
    }

    /// [`Server::start`] with more arguments for `hotdev serve`.
    pub fn start_with<A: AsRef<std::ffi::OsStr>>(dir: &Path, log_dir: &Path, args: &[A]) -> Server {
        Self::start_in(hotdev(), dir, log_dir, args)
    }

    /// [`Server::start_with`] from `command` (`hotdev()` with a changed environment).
    pub fn start_in<A: AsRef<std::ffi::OsStr>>(
        mut command: Command,
        dir: &Path,
        log_dir: &Path,
        args: &[A],
    ) -> Server {
        let stderr_log = log_dir.join(format!(
            "hotdev-serve-{}.stderr.log",
            dir.file_name().unwrap_or_default().to_string_lossy()
        ));
        let stderr = std::fs::File::create(&stderr_log).expect("create the stderr log");
        let mut child = command
            .arg("serve")
            .arg(dir)
            .args(["--addr", "127.0.0.1:0", "--events", "-"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start hotdev serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen_by_reader = Arc::clone(&seen);
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let value: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"));
                seen_by_reader.lock().unwrap().push(value.clone());
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        let mut server = Server {
            child,
            events: rx,
            seen,
            addr: "127.0.0.1:0".parse().unwrap(),
            stderr_log,
        };
        let listening = server.wait_for("listening", Duration::from_secs(60), |_| true);
        server.addr = listening["addr"]
            .as_str()
            .expect("listening has addr")
            .parse()
            .expect("addr is a socket address");
        server
    }

    /// The server's stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    /// Waits for the next event of `kind` for which `matches` holds; panics (with the
    /// events and stderr so far) after `timeout`.
    pub fn wait_for(
        &mut self,
        kind: &str,
        timeout: Duration,
        matches: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(event) if event["event"] == kind && matches(&event) => return event,
                Ok(_) => {}
                Err(_) => panic!(
                    "no {kind} event within {timeout:?}\nevents: {:#?}\nstderr:\n{}",
                    self.seen.lock().unwrap(),
                    self.stderr()
                ),
            }
        }
    }

    /// Waits for `reloaded` with this generation.
    pub fn wait_reloaded(&mut self, generation: u64) -> Value {
        self.wait_for("reloaded", BUILD_TIMEOUT, |e| e["generation"] == generation)
    }

    /// A new connection to the server.
    pub fn connect(&self) -> Http {
        Http::connect(self.addr)
    }

    /// GET `path` on a fresh connection.
    pub fn get(&self, path: &str) -> Reply {
        self.connect()
            .request("GET", path, &[], b"")
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// Kills the server with SIGKILL (no code of it runs) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the server as Ctrl-C does and returns its exit status (after `shutdown`).
    pub fn interrupt(self) -> ExitStatus {
        self.interrupt_timed().0
    }

    /// [`interrupt`](Self::interrupt), also returning how long the process took to exit
    /// after the signal and the `shutdown` event.
    pub fn interrupt_timed(mut self) -> (ExitStatus, Duration, Value) {
        let pid = self.child.id().to_string();
        let sent = Instant::now();
        let killed = Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("run kill");
        assert!(killed.success(), "kill -INT {pid} failed");
        let shutdown = self.wait_for("shutdown", Duration::from_secs(30), |_| true);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for hotdev") {
                return (status, sent.elapsed(), shutdown);
            }
            assert!(
                Instant::now() < deadline,
                "hotdev serve did not exit after Ctrl-C\nstderr:\n{}",
                self.stderr()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The processes (other than this one) whose command line mentions `text`, as
/// `pid: command line` (Linux: read from `/proc`).
pub fn processes_mentioning(text: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let pid = e.file_name().to_string_lossy().into_owned();
            if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == me {
                return None;
            }
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            cmdline.contains(text).then(|| format!("{pid}: {cmdline}"))
        })
        .collect()
}

/// Polls `condition` every 100 ms until it returns `Some`, or panics with `what` after
/// `timeout`.
pub fn eventually<T>(what: &str, timeout: Duration, mut condition: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = condition() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?}: {what}"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// An HTTP response.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The first header named `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A keep-alive HTTP/1.1 connection.
pub struct Http {
    reader: BufReader<TcpStream>,
    /// The `Host` header sent with each request; `None` sends none.
    host: Option<String>,
}

impl Http {
    /// Connects to `addr`.
    pub fn connect(addr: SocketAddr) -> Http {
        Self::try_connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"))
    }

    /// Connects to `addr`, returning the error.
    pub fn try_connect(addr: SocketAddr) -> std::io::Result<Http> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        stream.set_nodelay(true)?;
        Ok(Http {
            reader: BufReader::new(stream),
            host: Some(addr.to_string()),
        })
    }

    /// Sends `host` as the `Host` header of the next requests (`None`: no `Host` header)
    /// instead of the address connected to.
    pub fn with_host(mut self, host: Option<&str>) -> Http {
        self.host = host.map(str::to_string);
        self
    }

    /// Sends a GET and reads only the response's status line: for a response that does
    /// not end (an event stream). The connection is then unusable.
    pub fn status_of(&mut self, path: &str, headers: &[(&str, &str)]) -> std::io::Result<u16> {
        self.send_head("GET", path, headers, 0)?;
        let status_line = self.read_line()?;
        status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("bad status line {status_line:?}"),
                )
            })
    }

    fn send_head(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        length: usize,
    ) -> std::io::Result<()> {
        let mut head = format!("{method} {path} HTTP/1.1\r\n");
        if let Some(host) = &self.host {
            head.push_str(&format!("Host: {host}\r\n"));
        }
        head.push_str(&format!("Content-Length: {length}\r\n"));
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        self.reader.get_mut().write_all(head.as_bytes())
    }

    /// Sends one request and reads its response, keeping the connection open.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Reply> {
        self.send_head(method, path, headers, body.len())?;
        let stream = self.reader.get_mut();
        stream.write_all(body)?;
        stream.flush()?;
        self.read_reply(method == "HEAD")
    }

    fn read_line(&mut self) -> std::io::Result<String> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    }

    fn read_reply(&mut self, head_only: bool) -> std::io::Result<Reply> {
        let bad =
            |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
        let status_line = self.read_line()?;
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(&format!("bad status line {status_line:?}")))?;
        let mut headers = Vec::new();
        loop {
            let line = self.read_line()?;
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').ok_or_else(|| bad("bad header"))?;
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
        let find = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v): &(String, String)| v.clone())
        };
        let mut body = Vec::new();
        if head_only || status == 204 || status == 304 {
        } else if find("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
            loop {
                let size_line = self.read_line()?;
                let size =
                    usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                        .map_err(|_| bad("bad chunk size"))?;
                if size == 0 {
                    // Trailers, then the blank line.
                    while !self.read_line()?.is_empty() {}
                    break;
                }
                let mut chunk = vec![0; size];
                self.reader.read_exact(&mut chunk)?;
                body.extend_from_slice(&chunk);
                self.read_line()?;
            }
        } else if let Some(length) = find("content-length") {
            let length: usize = length.parse().map_err(|_| bad("bad content-length"))?;
            body.resize(length, 0);
            self.reader.read_exact(&mut body)?;
        } else {
            self.reader.read_to_end(&mut body)?;
        }
        Ok(Reply {
            status,
            headers,
            body,
        })
    }
}
