//! End-to-end test of `hotdev run` on a copy of the greeter example (an HTTP host, its
//! plugin and their interface): real cargo builds, real processes, a real socket. The test
//! follows `hotdev run --events -` and waits for events and conditions, never for fixed
//! times.

mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Http, edit, eventually, hotdev};

/// The first build compiles hotdev and its dependencies into the target directory the
/// examples' copies share (kept between runs); the machine is small and shared.
const FIRST_BUILD: Duration = Duration::from_secs(1200);
/// Later builds compile the host or the plugin crate and link.
const BUILD: Duration = Duration::from_secs(400);

/// Copies the greeter example into `dir` as a workspace of its own, pointing its path
/// dependencies at this checkout, with this checkout's lock file (so that no newer
/// dependency versions are fetched).
fn greeter_workspace(dir: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = root.join("examples/greeter");
    let ws = dir.join("ws");
    for krate in ["interface", "plugin", "host"] {
        std::fs::create_dir_all(ws.join(krate).join("src")).unwrap();
        let manifest = std::fs::read_to_string(example.join(krate).join("Cargo.toml")).unwrap();
        let manifest = manifest
            .replace(
                "path = \"../../../reloadable\"",
                &format!("path = {:?}", root.join("reloadable").display().to_string()),
            )
            .replace(
                "path = \"../../..\"",
                &format!("path = {:?}", root.display().to_string()),
            );
        assert!(!manifest.contains("../../.."), "{manifest}");
        std::fs::write(ws.join(krate).join("Cargo.toml"), manifest).unwrap();
        for file in std::fs::read_dir(example.join(krate).join("src")).unwrap() {
            let file = file.unwrap();
            std::fs::copy(
                file.path(),
                ws.join(krate).join("src").join(file.file_name()),
            )
            .unwrap();
        }
    }
    std::fs::write(
        ws.join("Cargo.toml"),
        "[workspace]\nmembers = [\"interface\", \"plugin\", \"host\"]\nresolver = \"3\"\n",
    )
    .unwrap();
    std::fs::copy(root.join("Cargo.lock"), ws.join("Cargo.lock")).unwrap();
    ws
}

/// A running `hotdev run`, followed through its events.
struct Run {
    child: Child,
    events: mpsc::Receiver<Value>,
    seen: Arc<Mutex<Vec<Value>>>,
    stderr_log: PathBuf,
}

impl Run {
    fn start(ws: &Path, log_dir: &Path) -> Run {
        let stderr_log = log_dir.join("hotdev-run.stderr.log");
        let stderr = std::fs::File::create(&stderr_log).unwrap();
        // Shared with tests/from_hot_lib_reloader.rs, whose copies of the examples build
        // hotdev and its dependencies too: they compile once per run.
        let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("examples-target");
        let mut child = hotdev()
            .args(["run", "-p", "greeter-host", "--listen", "127.0.0.1:0"])
            .args(["--events", "-", "--stop-timeout", "60"])
            .current_dir(ws)
            .env("CARGO_TARGET_DIR", &target)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start hotdev run");
        let stdout = child.stdout.take().unwrap();
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
        Run {
            child,
            events: rx,
            seen,
            stderr_log,
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    fn seen(&self, kind: &str) -> Vec<Value> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e["event"] == kind)
            .cloned()
            .collect()
    }

    /// Waits for the next event of `kind` for which `matches` holds.
    fn wait_for(&self, kind: &str, timeout: Duration, matches: impl Fn(&Value) -> bool) -> Value {
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

    /// Waits until hotdev's stderr (which the host shares) contains `text`.
    fn wait_stderr(&self, text: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.stderr().contains(text) {
            assert!(
                Instant::now() < deadline,
                "stderr never said {text:?}:\n{}",
                self.stderr()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Ctrl-C, then the exit status.
    fn interrupt(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-INT", &pid])
                .status()
                .unwrap()
                .success()
        );
        eventually("hotdev run to exit", Duration::from_secs(120), || {
            self.child.try_wait().unwrap()
        })
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One request on a fresh connection.
fn get(addr: SocketAddr) -> Result<(u16, String), String> {
    let mut http = Http::try_connect(addr).map_err(|e| format!("connect: {e}"))?;
    let reply = http
        .request("GET", "/", &[("Connection", "close")], b"")
        .map_err(|e| format!("request: {e}"))?;
    Ok((reply.status, reply.text()))
}

fn alive(pid: u64) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The processes (other than this test) whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .chars()
                .all(|c| c.is_ascii_digit())
        })
        .filter(|e| e.file_name().to_string_lossy() != me)
        .filter_map(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            cmdline
                .contains(needle)
                .then(|| format!("{}: {cmdline}", e.file_name().to_string_lossy()))
        })
        .collect()
}

/// The life of a host under `hotdev run`: a plugin edit is hot-reloaded inside the same
/// process; a host edit restarts it on the same socket while a client hammers it, and not
/// one request is refused or fails; a host compile error leaves the old process serving
/// and shows the diagnostics; Ctrl-C leaves no process behind.
#[test]
fn run_hot_reloads_plugins_and_restarts_the_host_without_refusing_a_request() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = greeter_workspace(tmp.path());
    let mut run = Run::start(&ws, tmp.path());
    let hotdev_pid = run.child.id();

    let listening = run.wait_for("listening", Duration::from_secs(120), |_| true);
    let addr: SocketAddr = listening["addr"].as_str().unwrap().parse().unwrap();
    let started = run.wait_for("host_started", FIRST_BUILD, |_| true);
    assert_eq!(started["run"], 1, "{started}");
    let pid1 = started["pid"].as_u64().unwrap();
    run.wait_stderr(
        &format!("host v1 (pid {pid1}) answers at http://{addr}/"),
        BUILD,
    );
    let (status, body) = get(addr).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("hello from the plugin, v1"), "{body}");
    assert!(body.contains(&format!("[host v1, pid {pid1}]")), "{body}");

    // A plugin edit: the host's own HotPlugin swaps the library; same process.
    edit(
        &ws.join("plugin/src/lib.rs"),
        "hello from the plugin, v1",
        "hello from the plugin, v2",
    );
    let body = eventually("the plugin edit to go live", BUILD, || {
        get(addr)
            .ok()
            .filter(|(_, b)| b.contains("plugin, v2"))
            .map(|(_, b)| b)
    });
    assert!(body.contains(&format!("[host v1, pid {pid1}]")), "{body}");
    assert!(run.stderr().contains("hot-reloaded"), "{}", run.stderr());
    assert_eq!(
        run.seen("host_started").len(),
        1,
        "the host was not restarted"
    );

    // A host edit, with a client sending request after request on fresh connections.
    let stop = Arc::new(AtomicBool::new(false));
    let replies = Arc::new(Mutex::new(Vec::<String>::new()));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let client = {
        let (stop, replies, failures) = (stop.clone(), replies.clone(), failures.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match get(addr) {
                    Ok((200, body)) => replies.lock().unwrap().push(body),
                    Ok((status, body)) => {
                        failures.lock().unwrap().push(format!("{status}: {body}"))
                    }
                    Err(e) => failures.lock().unwrap().push(e),
                }
            }
        })
    };
    eventually("the client to get answers", BUILD, || {
        (replies.lock().unwrap().len() >= 5).then_some(())
    });
    edit(&ws.join("host/src/main.rs"), "\"host v1\"", "\"host v2\"");
    let restarted = run.wait_for("host_started", BUILD, |e| e["run"] == 2);
    let pid2 = restarted["pid"].as_u64().unwrap();
    assert_ne!(pid1, pid2, "a new process");
    assert!(
        restarted["cause"].to_string().contains("main.rs"),
        "{restarted}"
    );
    let stopped = run
        .seen("host_stopped")
        .into_iter()
        .find(|e| e["pid"] == pid1)
        .expect("the old host was stopped");
    assert_eq!(stopped["killed"], false, "{stopped}");
    assert!(!alive(pid1), "the old host is gone");
    let v2 = format!("[host v2, pid {pid2}]");
    eventually("the client to get answers from the new host", BUILD, || {
        (replies
            .lock()
            .unwrap()
            .iter()
            .filter(|b| b.contains(&v2))
            .count()
            >= 5)
            .then_some(())
    });
    stop.store(true, Ordering::SeqCst);
    client.join().unwrap();
    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "failed requests across the restart: {failures:#?}"
    );
    let replies = replies.lock().unwrap();
    assert!(
        replies
            .iter()
            .any(|b| b.contains(&format!("[host v1, pid {pid1}]")))
    );
    assert!(
        replies.iter().all(|b| b.contains("plugin, v2")),
        "the new host loads the edited plugin"
    );
    assert!(
        run.stderr().contains("restarted greeter-host"),
        "{}",
        run.stderr()
    );

    // A compile error in the host: the diagnostics, and the running host goes on.
    edit(
        &ws.join("host/src/main.rs"),
        "\"host v2\"",
        "\"host v2\" compile_error_here",
    );
    let failed = run.wait_for("build_failed", BUILD, |_| true);
    let message = failed["message"].as_str().unwrap();
    assert!(message.contains("src/main.rs"), "{message}");
    run.wait_stderr("[HD088]", Duration::from_secs(30));
    assert!(
        run.stderr().contains("compile_error_here"),
        "{}",
        run.stderr()
    );
    let (status, body) = get(addr).unwrap();
    assert_eq!(status, 200);
    assert!(body.contains(&v2), "{body}");
    assert!(alive(pid2));

    // Ctrl-C: hotdev stops the host and exits; nothing is left running.
    let status = run.interrupt();
    assert!(status.success(), "hotdev run exited with {status}");
    assert!(!alive(pid2), "the host is gone");
    let copies = format!("greeter-host-{hotdev_pid}-");
    let needle = ws.display().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: Vec<String> = processes_mentioning(&copies)
            .into_iter()
            .chain(processes_mentioning(&needle))
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "processes left behind: {left:#?}"
        );
        thread::sleep(Duration::from_millis(20));
    }
    assert!(
        run.seen("host_stopped").iter().any(|e| e["pid"] == pid2),
        "the last host was stopped, not abandoned"
    );
}
