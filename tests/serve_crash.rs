//! End-to-end tests of `hotdev serve` surviving plugins that crash the process that runs
//! them: a stack overflow, a null read, an abort, a load hook that crashes. The real
//! binary, real cargo builds, real requests; every wait is for an event or a reply, with
//! generous timeouts.
#![cfg(target_os = "linux")]

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use serde_json::Value;
use support::{BUILD_TIMEOUT, Http, Server, eventually, new_plugin, processes_mentioning};

/// How long a crash may take to be reported and a new worker to serve (generous: the
/// machine is small and shared; the benchmark measures the real figure).
const RECOVERY: Duration = Duration::from_secs(60);

/// The plugin's source: a page saying `version`, and `extra` (more match arms, or a load
/// hook when `on_load` is set).
fn source(version: &str, routes: &str, on_load: &str) -> String {
    format!(
        r#"use reloadable::State;
use reloadable::web::{{Request, Response, app}};

struct App;

impl app::Implementation for App {{
    fn handle(request: &Request, _state: &State) -> Response {{
        match (request.method.as_str(), request.path.as_str()) {{
            {routes}
            ("GET", "/") => Response::html("<!doctype html><html><body><h1>{version}</h1></body></html>"),
            _ => Response::text("not found\n").with_status(404),
        }}
    }}
}}

/// Recurses without end (the frame keeps a buffer so that it is not a loop).
#[allow(unconditional_recursion, dead_code)]
#[inline(never)]
fn deep(n: u64) -> u64 {{
    let buf = [n as u8; 256];
    std::hint::black_box(&buf);
    deep(n + 1) + u64::from(buf[7])
}}

reloadable::export_plugin!(interface: reloadable::web::app, implementation: App{on_load});
"#
    )
}

/// Writes the plugin's source (one write: one build).
fn write(dir: &Path, version: &str, routes: &str, on_load: &str) {
    std::fs::write(dir.join("src/lib.rs"), source(version, routes, on_load))
        .expect("write the plugin source");
}

/// `/` answers 200 with `text`, on a fresh connection (connections in flight when a worker
/// dies are cut; new ones wait in the listening socket's backlog).
fn serves(server: &Server, text: &str) -> bool {
    Http::try_connect(server.addr)
        .and_then(|mut http| http.request("GET", "/", &[], b""))
        .is_ok_and(|reply| reply.status == 200 && reply.text().contains(text))
}

fn status(server: &Server) -> Value {
    serde_json::from_slice(&server.get("/__hotdev/status").body).expect("status is JSON")
}

/// A client that keeps requesting `/` on fresh connections until stopped, counting the
/// replies it got.
struct Background {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Background {
    fn start(server: &Server) -> Background {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let addr = server.addr;
        let thread = {
            let (stop, ok) = (Arc::clone(&stop), Arc::clone(&ok));
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let reply =
                        Http::try_connect(addr).and_then(|mut h| h.request("GET", "/", &[], b""));
                    if reply.is_ok_and(|r| r.status == 200) {
                        ok.fetch_add(1, Ordering::SeqCst);
                    } else {
                        // The worker died under this request; the next one waits in the
                        // backlog for the new worker.
                        thread::sleep(Duration::from_millis(10));
                    }
                }
            })
        };
        Background {
            stop,
            ok,
            thread: Some(thread),
        }
    }

    fn ok(&self) -> u64 {
        self.ok.load(Ordering::SeqCst)
    }

    /// Waits until the client has been answered again after this point.
    fn wait_answered(&self) {
        let before = self.ok();
        eventually("the background client is answered again", RECOVERY, || {
            (self.ok() > before).then_some(())
        });
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Requests `path`, which crashes the worker: the connection is cut, no reply.
fn crash_with(server: &Server, path: &str) {
    let mut http = server.connect();
    let reply = http.request("GET", path, &[], b"");
    assert!(reply.is_err(), "GET {path} was answered: {reply:?}");
}

/// Checks the `crashed` event, the status notice and the terminal line for one crash,
/// after which `serving` serves and the message says `next`.
fn check_crash(
    server: &mut Server,
    (signal, cause, generation, route): (&str, &str, u64, &str),
    serving: u64,
    next: &str,
) -> Value {
    let crashed = server.wait_for("crashed", RECOVERY, |_| true);
    // A stack overflow ends the worker with SIGSEGV or, when the standard library's
    // handler got to report it, SIGABRT.
    let signal = match crashed["signal"].as_str() {
        Some(seen @ ("SIGSEGV" | "SIGABRT")) if cause == "stack overflow" => seen.to_string(),
        _ => signal.to_string(),
    };
    assert_eq!(crashed["signal"], signal.as_str(), "{crashed}");
    assert_eq!(crashed["cause"], cause, "{crashed}");
    assert_eq!(crashed["generation"], generation, "{crashed}");
    assert_eq!(crashed["route"], route, "{crashed}");
    assert_eq!(crashed["serving"], serving, "{crashed}");
    assert_eq!(crashed["state_reset"], true, "{crashed}");
    let started = server.wait_for("worker_started", RECOVERY, |_| true);
    assert_eq!(started["generation"], serving, "{started}");
    let expected =
        format!("{cause} in generation {generation} while serving {route}; {next}; state reset");
    assert_eq!(crashed["message"], expected.as_str(), "{crashed}");
    let notice = eventually("the status names the crash", RECOVERY, || {
        let status = status(server);
        (status["generation"] == serving && status["notice"]["kind"] == "crashed").then(|| {
            status["notice"]["message"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
    });
    assert!(notice.contains(&expected), "{notice}");
    assert!(notice.contains(&signal), "{notice}");
    let stderr = server.stderr();
    assert!(
        stderr.contains("[HD063]") && stderr.contains(&expected),
        "{stderr}"
    );
    crashed
}

/// A stack overflow, a null read and an abort, hit one after another in one generation
/// past its probation, with `/` answered in between: each restarts the same generation
/// (crash 1, 2, 3 of 5), the crash is named (event, status, terminal), requests keep being
/// answered, and the next save goes live.
#[test]
fn three_crashing_routes_each_restart_the_same_generation() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("crashy");
    new_plugin(&dir);
    write(&dir, "version one", "", "");
    let mut server = Server::start(&dir, tmp.path());
    let first_worker = server.wait_for("worker_started", RECOVERY, |_| true);
    assert!(first_worker["generation"].is_null(), "{first_worker}");
    server.wait_reloaded(1);
    assert!(serves(&server, "version one"));

    let crashes = [
        ("/deep", "SIGSEGV", "stack overflow"),
        ("/null", "SIGSEGV", "invalid memory access"),
        ("/abort", "SIGABRT", "abort"),
    ];
    let routes = concat!(
        "(\"GET\", \"/deep\") => Response::text(deep(1).to_string()),",
        "(\"GET\", \"/null\") => Response::text(unsafe { std::ptr::read_volatile(std::ptr::null::<u8>()) }.to_string()),",
        "(\"GET\", \"/abort\") => std::process::abort(),",
    );
    write(&dir, "version two", routes, "");
    server.wait_reloaded(2);
    // Past its probation: a crash now restarts it instead of going back to generation 1.
    for _ in 0..8 {
        assert!(serves(&server, "version two"));
    }
    let background = Background::start(&server);
    for (n, (path, signal, cause)) in crashes.into_iter().enumerate() {
        crash_with(&server, path);
        let crashed = check_crash(
            &mut server,
            (signal, cause, 2, &format!("GET {path}")),
            2,
            &format!("restarted generation 2 (crash {} of 5)", n + 1),
        );
        assert_eq!(crashed["restarted"], true, "{crashed}");
        assert!(crashed["reason"].is_null(), "{crashed}");
        eventually("/ is served by generation 2 again", RECOVERY, || {
            serves(&server, "version two").then_some(())
        });
        background.wait_answered();
    }
    // A stack overflow is not mistaken for the standard library's abort.
    assert!(server.stderr().contains("has overflowed its stack"));

    // The fix goes live, with the next number.
    write(&dir, "fixed", "", "");
    server.wait_reloaded(3);
    assert!(serves(&server, "fixed"));
    let status = status(&server);
    assert_eq!(status["generation"], 3, "{status}");
    assert!(status["notice"].is_null(), "{status}");
    background.wait_answered();
    drop(background);
    assert!(server.interrupt().success());
}

/// A first generation whose every request crashes: the first crash restarts it, the
/// second (nothing answered since the restart) is a crash loop, and with nothing to go back
/// to, the waiting page names the crash (never "building"); the fix, once saved, goes live.
#[test]
fn a_first_generation_crashing_on_every_request_ends_on_the_waiting_page() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("crash-loop");
    new_plugin(&dir);
    let every = "(\"GET\", _) => Response::text(deep(1).to_string()),";
    write(&dir, "version one", every, "");
    let mut server = Server::start(&dir, tmp.path());
    server.wait_reloaded(1);
    crash_with(&server, "/");
    let crashed = check_crash(
        &mut server,
        ("SIGSEGV", "stack overflow", 1, "GET /"),
        1,
        "restarted generation 1 (crash 1 of 5)",
    );
    assert_eq!(crashed["restarted"], true, "{crashed}");
    // The restarted worker: its first request crashes too.
    let page = eventually("the restarted worker takes a request", RECOVERY, || {
        let mut http = Http::try_connect(server.addr).ok()?;
        match http.request("GET", "/", &[], b"") {
            Err(_) => Some(None),
            Ok(reply) if reply.status == 503 => Some(Some(reply.text())),
            Ok(_) => None,
        }
    });
    let crashed = match page {
        None => server.wait_for("crashed", RECOVERY, |_| true),
        Some(_) => server
            .seen
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|e| e["event"] == "crashed")
            .cloned()
            .unwrap(),
    };
    assert_eq!(crashed["reason"], "crash_loop", "{crashed}");
    assert!(crashed["serving"].is_null(), "{crashed}");
    assert_eq!(crashed["restarted"], false, "{crashed}");
    let page = eventually("the waiting page", RECOVERY, || {
        let mut http = Http::try_connect(server.addr).ok()?;
        let reply = http.request("GET", "/", &[], b"").ok()?;
        (reply.status == 503).then(|| reply.text())
    });
    assert!(
        page.contains("generation 1 crashed 2 times: stack overflow while serving GET /"),
        "{page}"
    );
    assert!(page.contains("save a fix"), "{page}");
    assert!(!page.contains("building"), "{page}");
    assert!(server.stderr().contains("[HD064]"), "{}", server.stderr());

    write(&dir, "version two", "", "");
    server.wait_reloaded(2);
    assert!(serves(&server, "version two"));
    assert!(server.interrupt().success());
}

/// A build whose load hook crashes the worker never serves: the previous generation does,
/// and the next build goes live.
#[test]
fn a_load_hook_that_crashes_leaves_the_previous_generation_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bad-load");
    new_plugin(&dir);
    write(&dir, "version one", "", "");
    let mut server = Server::start(&dir, tmp.path());
    server.wait_reloaded(1);
    let background = Background::start(&server);

    let on_load = ", on_load: || -> Result<(), String> { \
                   let byte = unsafe { std::ptr::read_volatile(std::ptr::null::<u8>()) }; \
                   Err(format!(\"read {byte}\")) }";
    write(&dir, "version two", "", on_load);
    let crashed = server.wait_for("crashed", BUILD_TIMEOUT, |_| true);
    assert_eq!(crashed["signal"], "SIGSEGV", "{crashed}");
    assert_eq!(crashed["generation"], 2, "{crashed}");
    assert!(crashed["route"].is_null(), "{crashed}");
    assert_eq!(crashed["serving"], 1, "{crashed}");
    eventually("/ is served by generation 1 again", RECOVERY, || {
        serves(&server, "version one").then_some(())
    });
    let notice = eventually("the status names the crash", RECOVERY, || {
        let status = status(&server);
        (status["generation"] == 1).then(|| status["notice"]["message"].to_string())
    });
    assert!(
        notice.contains("in generation 2 while loading it"),
        "{notice}"
    );
    background.wait_answered();

    write(&dir, "version three", "", "");
    server.wait_reloaded(3);
    assert!(serves(&server, "version three"));
    drop(background);
    assert!(server.interrupt().success());
}

/// A first build whose load hook crashes leaves nothing to serve: the supervisor starts
/// one idle worker (no loop of restarts), says it waits for the next build, and the next
/// build goes live in that worker.
#[test]
fn with_no_generation_left_the_server_waits_for_the_next_build() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("crash-first");
    new_plugin(&dir);
    let on_load = ", on_load: || -> Result<(), String> { std::process::abort() }";
    write(&dir, "version one", "", on_load);
    let mut server = Server::start(&dir, tmp.path());
    let crashed = server.wait_for("crashed", BUILD_TIMEOUT, |_| true);
    assert_eq!(crashed["signal"], "SIGABRT", "{crashed}");
    assert_eq!(crashed["generation"], 1, "{crashed}");
    assert!(crashed["serving"].is_null(), "{crashed}");
    let started = server.wait_for("worker_started", RECOVERY, |_| true);
    assert!(started["generation"].is_null(), "{started}");
    let status = eventually("the idle worker answers", RECOVERY, || {
        Http::try_connect(server.addr)
            .and_then(|mut http| http.request("GET", "/__hotdev/status", &[], b""))
            .ok()
    });
    let status: Value = serde_json::from_slice(&status.body).unwrap();
    assert_eq!(status["generation"], 0, "{status}");
    assert!(
        status["notice"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("generation 1 crashed once: abort; save a fix"),
        "{status}"
    );
    assert!(server.stderr().contains("[HD064]"), "{}", server.stderr());

    write(&dir, "version two", "", "");
    server.wait_reloaded(2);
    assert!(serves(&server, "version two"));
    let workers = server
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "worker_started")
        .count();
    assert_eq!(workers, 2, "the first worker and the one after the crash");
    assert!(server.interrupt().success());
}

/// A plugin whose state has save/restore hooks: a visit counter.
const STATEFUL: &str = r#"use std::sync::atomic::{AtomicU64, Ordering};

use reloadable::State;
use reloadable::web::{Request, Response, app};

reloadable::abi_struct! {
    #[derive(Debug, Default)]
    pub struct Visits {
        pub count: AtomicU64,
    }
}

fn save(visits: &Visits) -> Vec<u8> {
    visits.count.load(Ordering::SeqCst).to_le_bytes().to_vec()
}

fn restore(bytes: &[u8]) -> Result<Visits, String> {
    let bytes: [u8; 8] = bytes.try_into().map_err(|_| format!("{} bytes", bytes.len()))?;
    Ok(Visits { count: AtomicU64::new(u64::from_le_bytes(bytes)) })
}

struct App;

impl app::Implementation for App {
    fn handle(request: &Request, state: &State) -> Response {
        let visits = state.get::<Visits>();
        match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/visit") => Response::text(format!("{}", visits.count.fetch_add(1, Ordering::SeqCst) + 1)),
            ("GET", "/count") => Response::text(format!("VERSION {}", visits.count.load(Ordering::SeqCst))),
            ROUTES
            _ => Response::text("not found
").with_status(404),
        }
    }
}

reloadable::export_plugin!(interface: reloadable::web::app, implementation: App, state: Visits, migrate: (save, restore));
"#;

/// With save/restore hooks, the state saved when the last generation went live is restored
/// in the worker that follows a crash (and the notice says so instead of "state reset").
#[test]
fn a_plugin_with_state_hooks_gets_its_state_back_after_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("stateful");
    new_plugin(&dir);
    let lib = dir.join("src/lib.rs");
    std::fs::write(
        &lib,
        STATEFUL.replace("ROUTES", "").replace("VERSION", "one"),
    )
    .unwrap();
    let mut server = Server::start(&dir, tmp.path());
    server.wait_reloaded(1);
    for n in 1..=3 {
        assert_eq!(server.get("/visit").text(), n.to_string());
    }
    // Generation 2 goes live with the count (3) and saves it; one more visit is not saved.
    let null = r#"("GET", "/null") => Response::text(unsafe { std::ptr::read_volatile(std::ptr::null::<u8>()) }.to_string()),"#;
    std::fs::write(
        &lib,
        STATEFUL.replace("ROUTES", null).replace("VERSION", "two"),
    )
    .unwrap();
    server.wait_reloaded(2);
    assert_eq!(server.get("/count").text(), "two 3");
    assert_eq!(server.get("/visit").text(), "4");
    crash_with(&server, "/null");
    let crashed = server.wait_for("crashed", RECOVERY, |_| true);
    assert_eq!(crashed["state_reset"], false, "{crashed}");
    assert_eq!(crashed["serving"], 1, "{crashed}");
    let count = eventually("generation 1 serves again", RECOVERY, || {
        Http::try_connect(server.addr)
            .and_then(|mut http| http.request("GET", "/count", &[], b""))
            .ok()
            .filter(|reply| reply.status == 200)
            .map(|reply| reply.text())
    });
    assert_eq!(count, "one 3");
    let notice = status(&server)["notice"]["message"].to_string();
    assert!(
        notice.contains("state restored as saved when generation 2 went live"),
        "{notice}"
    );
    assert!(
        server
            .stderr()
            .contains("the plugin's state was restored in generation 1")
    );
    assert!(server.interrupt().success());
}

/// Whether process `pid` is gone (or a zombie nobody reaped yet: it runs nothing).
fn gone(pid: u64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// Ctrl-C ends the supervisor and its worker: no process is left.
#[test]
fn ctrl_c_ends_the_supervisor_and_its_worker() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("interrupted");
    new_plugin(&dir);
    let mut server = Server::start(&dir, tmp.path());
    let worker = server.wait_for("worker_started", RECOVERY, |_| true);
    let pid = worker["pid"].as_u64().expect("worker pid");
    server.wait_reloaded(1);
    assert!(!gone(pid), "the worker {pid} is not running");
    let dir_text = dir.display().to_string();
    assert!(
        processes_mentioning(&dir_text)
            .iter()
            .any(|p| p.contains("__serve-worker")),
        "{:?}",
        processes_mentioning(&dir_text)
    );
    let status = server.interrupt();
    assert!(status.success(), "{status}");
    eventually("the worker has exited", Duration::from_secs(30), || {
        gone(pid).then_some(())
    });
    let left: Vec<_> = processes_mentioning(&dir_text)
        .into_iter()
        .filter(|p| !gone(p.split(':').next().unwrap_or("0").parse().unwrap_or(0)))
        .collect();
    assert!(left.is_empty(), "processes left: {left:?}");
}

/// A supervisor killed outright (SIGKILL, nothing runs in it) takes its worker with it.
#[test]
fn a_killed_supervisor_takes_its_worker_with_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("orphan");
    new_plugin(&dir);
    let mut server = Server::start(&dir, tmp.path());
    let worker = server.wait_for("worker_started", RECOVERY, |_| true);
    let pid = worker["pid"].as_u64().expect("worker pid");
    server.wait_reloaded(1);
    server.kill();
    eventually("the worker has exited", Duration::from_secs(30), || {
        gone(pid).then_some(())
    });
}

/// Clients holding keep-alive connections to a worker that crashes: each held connection
/// is closed at once (its next request fails with a reset or an end of stream, never
/// waits out a timeout: no process kept the dead worker's sockets open), and each client
/// that connects again is answered by the restarted worker.
#[test]
fn a_crash_closes_the_keep_alive_connections_it_held_and_their_clients_are_answered_again() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keepalive");
    new_plugin(&dir);
    let routes = "(\"GET\", \"/deep\") => Response::text(deep(1).to_string()),";
    write(&dir, "version one", routes, "");
    let mut server = Server::start(&dir, tmp.path());
    server.wait_reloaded(1);
    // Past its probation, so that the crash restarts it.
    for _ in 0..8 {
        assert!(serves(&server, "version one"));
    }
    let mut held: Vec<Http> = (0..4).map(|_| server.connect()).collect();
    for http in &mut held {
        let reply = http.request("GET", "/", &[], b"").unwrap();
        assert_eq!(reply.status, 200);
    }
    crash_with(&server, "/deep");
    server.wait_for("worker_started", RECOVERY, |_| true);
    for http in &mut held {
        match http.request("GET", "/", &[], b"") {
            // The connection may have been accepted again only if the new worker got it,
            // which cannot happen: it was the dead worker's.
            Ok(reply) => panic!("a held connection was answered after the crash: {reply:?}"),
            Err(e) => assert!(
                !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "a held connection hung instead of closing: {e}"
            ),
        }
    }
    for _ in 0..4 {
        eventually("a new connection is answered", RECOVERY, || {
            serves(&server, "version one").then_some(())
        });
    }
    assert!(server.interrupt().success());
}
