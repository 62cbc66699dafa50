//! End-to-end tests of `hotdev new` and `hotdev serve`, through the real binary, real
//! cargo builds and real HTTP requests. Each test follows the server through its
//! `--events -` stream and waits for events, never for fixed times.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use support::{BUILD_TIMEOUT, Http, Server, edit, edit_all, hotdev, new_plugin};

/// More calls than the host's probation (`hotdev_host::Options::probation_calls`, 8).
const PROBATION_CALLS: usize = 20;

/// The life of a plugin under `hotdev serve`: first build, an edit, a broken build, a
/// panicking handler, and a clean shutdown.
#[test]
fn serve_reloads_edits_survives_broken_builds_and_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("greeter");
    new_plugin(&dir);
    let lib = dir.join("src/lib.rs");
    let mut server = Server::start(&dir, tmp.path());

    // The first build loads as generation 1 and serves the greeting, with the live-reload
    // script injected.
    let first = server.wait_reloaded(1);
    assert!(first["build_ms"].is_u64(), "{first}");
    let page = server.get("/");
    assert_eq!(page.status, 200);
    assert!(page.text().contains("Hello from hotdev"), "{}", page.text());
    assert!(
        page.text()
            .contains("<script src=\"/__hotdev/client.js\"></script>")
    );
    assert_eq!(server.get("/elsewhere").status, 404);
    let script = server.get("/__hotdev/client.js");
    assert_eq!(script.status, 200);
    assert!(script.text().contains("hotdev-overlay"));
    assert!(script.text().contains("EventSource"));

    // An edit becomes generation 2, and the new text is served.
    edit(&lib, "Hello from hotdev", "Hello, edited");
    server.wait_for("change", BUILD_TIMEOUT, |_| true);
    let second = server.wait_reloaded(2);
    assert!(second["swap_us"].is_u64(), "{second}");
    let page = server.get("/");
    assert!(page.text().contains("Hello, edited"), "{}", page.text());

    // A compile error: build_failed with the diagnostics, the old text still served with
    // the overlay script, and the status says so.
    edit(&lib, "Hello, edited", "Hello, edited\" compile_error_here");
    let failed = server.wait_for("build_failed", BUILD_TIMEOUT, |_| true);
    let message = failed["message"].as_str().unwrap();
    assert!(message.contains("src/lib.rs"), "{message}");
    assert!(!message.contains('\u{1b}'), "colour codes in {message}");
    let page = server.get("/");
    assert_eq!(page.status, 200);
    assert!(page.text().contains("Hello, edited"), "{}", page.text());
    assert!(page.text().contains("/__hotdev/client.js"));
    let status: serde_json::Value =
        serde_json::from_slice(&server.get("/__hotdev/status").body).unwrap();
    assert_eq!(status["state"], "failed", "{status}");
    assert_eq!(status["generation"], 2, "{status}");
    let first_error = &status["failure"]["diagnostics"][0];
    assert_eq!(first_error["file"], "src/lib.rs", "{status}");
    assert!(first_error["line"].is_u64(), "{status}");

    // Fixed, with a handler that panics: a 500 page with the message and the location,
    // and the next request is fine.
    edit_all(
        &lib,
        &[
            ("Hello, edited\" compile_error_here", "Hello, fixed"),
            (
                "(\"GET\", \"/\") =>",
                "(\"GET\", \"/boom\") => panic!(\"kaboom {}\", 42),\n            (\"GET\", \"/\") =>",
            ),
        ],
    );
    server.wait_reloaded(3);
    // Get past the host's probation (a panic in a new generation's first calls rolls it
    // back; that is checked below) before the panicking request.
    for _ in 0..PROBATION_CALLS {
        assert_eq!(server.get("/").status, 200);
    }
    let boom = server.get("/boom");
    assert_eq!(boom.status, 500);
    let text = boom.text();
    assert!(text.contains("kaboom 42"), "{text}");
    assert!(text.contains("src/lib.rs:"), "{text}");
    let panic = server.wait_for("panic", Duration::from_secs(30), |_| true);
    assert_eq!(panic["message"], "kaboom 42");
    assert_eq!(panic["generation"], 3);
    assert!(
        panic["location"]
            .as_str()
            .unwrap()
            .starts_with("src/lib.rs:")
    );
    let page = server.get("/");
    assert_eq!(page.status, 200);
    assert!(page.text().contains("Hello, fixed"), "{}", page.text());

    // A new generation whose page panics at once is rolled back: that request gets the
    // 500 page, the next one is served by the previous generation.
    edit(
        &lib,
        "(\"GET\", \"/\") =>",
        "(\"GET\", \"/\") => panic!(\"broken on arrival\"),\n            (\"GET\", \"/old\") =>",
    );
    server.wait_reloaded(4);
    let broken = server.get("/");
    assert_eq!(broken.status, 500);
    assert!(
        broken.text().contains("broken on arrival"),
        "{}",
        broken.text()
    );
    let rolled_back = server.wait_for("rolled_back", Duration::from_secs(30), |_| true);
    assert_eq!(rolled_back["from"], 4, "{rolled_back}");
    assert_eq!(rolled_back["to"], 3, "{rolled_back}");
    let page = server.get("/");
    assert_eq!(page.status, 200);
    assert!(page.text().contains("Hello, fixed"), "{}", page.text());

    // Ctrl-C: shutdown event, exit status 0.
    let status = server.interrupt();
    assert!(status.success(), "hotdev serve exited with {status}");
}

/// `hotdev new` never writes into a directory that holds something.
#[test]
fn new_refuses_a_non_empty_directory() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("notes.txt"), "mine").unwrap();
    let out = hotdev().arg("new").arg(tmp.path()).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not empty"), "{stderr}");
    assert!(stderr.contains("[HD080]"), "{stderr}");
    assert!(
        stderr.contains(&tmp.path().display().to_string()),
        "{stderr}"
    );
    assert!(!tmp.path().join("Cargo.toml").exists());
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("notes.txt")).unwrap(),
        "mine"
    );
}

/// Eight clients keep requests in flight on keep-alive connections while the plugin is
/// rebuilt and swapped 50 times: not one request fails, and both versions are seen.
#[test]
fn no_request_fails_across_50_reloads_under_load() {
    const RELOADS: u64 = 50;
    const CLIENTS: usize = 8;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("under-load");
    new_plugin(&dir);
    let lib = dir.join("src/lib.rs");
    edit(&lib, "Hello from hotdev", "version 0");
    let mut server = Server::start(&dir, tmp.path());
    server.wait_reloaded(1);

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let addr = server.addr;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (stop, ok) = (Arc::clone(&stop), Arc::clone(&ok));
            thread::spawn(move || -> Result<(), String> {
                let mut http = Http::connect(addr);
                let deadline = Instant::now() + Duration::from_secs(900);
                while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                    let reply = http
                        .request("GET", "/", &[], b"")
                        .map_err(|e| format!("request failed: {e}"))?;
                    let text = reply.text();
                    if reply.status != 200 || !text.contains("version ") {
                        return Err(format!("bad reply {}: {text}", reply.status));
                    }
                    ok.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            })
        })
        .collect();

    for n in 1..=RELOADS {
        edit(&lib, &format!("version {}", n - 1), &format!("version {n}"));
        let reloaded = server.wait_reloaded(n + 1);
        assert!(reloaded["swap_us"].is_u64());
        let before = ok.load(Ordering::Relaxed);
        // Let the clients make progress on the new generation before the next swap.
        support::eventually("clients progress", Duration::from_secs(30), || {
            (ok.load(Ordering::Relaxed) >= before + CLIENTS as u64).then_some(())
        });
    }
    let page = server.get("/");
    assert!(
        page.text().contains(&format!("version {RELOADS}")),
        "{}",
        page.text()
    );

    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client
            .join()
            .expect("client thread")
            .expect("every request succeeds");
    }
    assert!(ok.load(Ordering::Relaxed) > RELOADS * CLIENTS as u64);
    let status = server.interrupt();
    assert!(status.success(), "hotdev serve exited with {status}");
}

/// Copies the bundled hello example into `dir/hello`, pointing it at this checkout's
/// `reloadable`.
fn copy_hello(dir: &std::path::Path) -> std::path::PathBuf {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hello");
    let dir = dir.join("hello");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::copy(example.join("src/lib.rs"), dir.join("src/lib.rs")).unwrap();
    let manifest = std::fs::read_to_string(example.join("Cargo.toml")).unwrap();
    let reloadable = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("reloadable");
    let manifest = manifest.replace(
        "path = \"../../reloadable\"",
        &format!("path = {:?}", reloadable.display().to_string()),
    );
    assert!(manifest.contains(&reloadable.display().to_string()));
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    dir
}

/// Adds a field to the hello example's state (which has no migration hooks).
fn add_a_field_to_the_visits_state(dir: &std::path::Path) {
    edit(
        &dir.join("src/lib.rs"),
        "pub count: AtomicU64,",
        "pub count: AtomicU64,\n        /// Added while serving.\n        pub likes: AtomicU64,",
    );
}

/// A state that changed layout without hooks goes live under `hotdev serve` with the
/// state reset, and says so: a terminal line, the `state_reset` event with the diff, and
/// the notice that the browser script shows as a banner.
#[test]
fn a_state_layout_change_resets_the_state_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = copy_hello(tmp.path());
    let mut server = Server::start(&dir, tmp.path());
    server.wait_reloaded(1);
    for _ in 0..3 {
        server.get("/");
    }
    assert_eq!(server.get("/api/visits").text(), "{\"visits\":3}");

    add_a_field_to_the_visits_state(&dir);
    let reset = server.wait_for("state_reset", BUILD_TIMEOUT, |_| true);
    assert_eq!(reset["generation"], 2, "{reset}");
    let diff = reset["diff"].to_string();
    assert!(diff.contains("Visits: size 8 -> 16"), "{reset}");
    assert!(
        reset["reason"]
            .as_str()
            .unwrap()
            .contains("no save/restore hooks"),
        "{reset}"
    );
    server.wait_reloaded(2);
    assert_eq!(
        server.get("/api/visits").text(),
        "{\"visits\":0}",
        "the count starts again from Default"
    );
    let status: serde_json::Value =
        serde_json::from_slice(&server.get("/__hotdev/status").body).unwrap();
    assert_eq!(status["notice"]["kind"], "state_reset", "{status}");
    assert_eq!(status["notice"]["generation"], 2, "{status}");
    let message = status["notice"]["message"].as_str().unwrap();
    assert!(message.contains("Visits: size 8 -> 16"), "{status}");
    assert!(
        server
            .get("/__hotdev/client.js")
            .text()
            .contains("hotdev-banner"),
        "the browser script shows notices"
    );
    support::eventually("the terminal line", Duration::from_secs(30), || {
        server.stderr().contains("state was reset").then_some(())
    });
    assert!(server.interrupt().success());
}

/// With `--keep-state`, the same change is refused as before (HD022), and the count goes on.
#[test]
fn keep_state_refuses_a_state_layout_change() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = copy_hello(tmp.path());
    let mut server = Server::start_with(&dir, tmp.path(), &["--keep-state"]);
    server.wait_reloaded(1);
    server.get("/");
    server.get("/");

    add_a_field_to_the_visits_state(&dir);
    let rejected = server.wait_for("reload_rejected", BUILD_TIMEOUT, |_| true);
    assert_eq!(rejected["code"], "HD022", "{rejected}");
    assert!(
        rejected["message"]
            .as_str()
            .unwrap()
            .contains("Visits: size 8 -> 16"),
        "{rejected}"
    );
    assert_eq!(server.get("/api/visits").text(), "{\"visits\":2}");
    assert!(
        server
            .seen
            .lock()
            .unwrap()
            .iter()
            .all(|e| e["event"] != "state_reset"),
        "nothing was reset"
    );
    assert!(server.interrupt().success());
}

/// The bundled example counts visits in plugin state, and the count survives a reload.
#[test]
fn hello_example_keeps_its_visit_count_across_reloads() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = copy_hello(tmp.path());

    let mut server = Server::start(&dir, tmp.path());
    server.wait_reloaded(1);
    assert!(server.get("/").text().contains("Hello from hotdev"));
    assert!(
        server
            .get("/")
            .text()
            .contains("<strong id=\"visits\">2</strong>")
    );
    let visits = server.get("/api/visits");
    assert_eq!(visits.header("content-type"), Some("application/json"));
    assert_eq!(visits.text(), "{\"visits\":2}");

    edit(
        &dir.join("src/lib.rs"),
        "<h1>Hello from hotdev</h1>",
        "<h1>Hello, reloaded</h1>",
    );
    server.wait_reloaded(2);
    let page = server.get("/").text();
    assert!(page.contains("Hello, reloaded"), "{page}");
    assert!(page.contains("<strong id=\"visits\">3</strong>"), "{page}");
    assert_eq!(server.get("/api/visits").text(), "{\"visits\":3}");
}

/// `--events FILE` writes the same JSON lines to a file, from `listening` to `shutdown`.
#[test]
fn events_can_go_to_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("filed");
    new_plugin(&dir);
    let events = tmp.path().join("events.jsonl");
    let mut child = hotdev()
        .arg("serve")
        .arg(&dir)
        .args(["--addr", "127.0.0.1:0", "--events"])
        .arg(&events)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let read = || -> Vec<serde_json::Value> {
        std::fs::read_to_string(&events)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    };
    let find = |kind: &str| {
        let kind = kind.to_string();
        move || read().into_iter().find(|e| e["event"] == kind.as_str())
    };
    let listening = support::eventually("listening in the file", BUILD_TIMEOUT, find("listening"));
    let addr = listening["addr"].as_str().unwrap().parse().unwrap();
    let reloaded = support::eventually("reloaded in the file", BUILD_TIMEOUT, find("reloaded"));
    assert_eq!(reloaded["generation"], 1);
    let page = Http::connect(addr).request("GET", "/", &[], b"").unwrap();
    assert!(page.text().contains("Hello from hotdev"));

    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = support::eventually("hotdev to exit", Duration::from_secs(60), || {
        child.try_wait().unwrap()
    });
    assert!(status.success(), "{status:?}");
    let all = read();
    assert_eq!(
        all.first().map(|e| e["event"].clone()),
        Some("listening".into())
    );
    assert!(all.iter().any(|e| e["event"] == "shutdown"), "{all:#?}");
}

/// `cargo clean` while serving removes the target directory and the shadow directory
/// inside it; the next edit still goes live (regression: every later reload failed with
/// HD030 until the server was restarted).
#[test]
fn an_edit_after_cargo_clean_goes_live() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cleaned");
    new_plugin(&dir);
    let lib = dir.join("src/lib.rs");
    let mut server = Server::start(&dir, tmp.path());
    server.wait_reloaded(1);
    edit(&lib, "Hello from hotdev", "Hello before clean");
    server.wait_reloaded(2);

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = std::process::Command::new(cargo)
        .arg("clean")
        .current_dir(&dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        !dir.join("target").exists(),
        "cargo clean removed the target directory"
    );
    assert!(server.get("/").text().contains("Hello before clean"));

    edit(&lib, "Hello before clean", "Hello after clean");
    let reloaded = server.wait_reloaded(3);
    assert_eq!(reloaded["generation"], 3, "{reloaded}");
    assert!(
        server.get("/").text().contains("Hello after clean"),
        "the edit after cargo clean is live"
    );
    assert!(
        server
            .seen
            .lock()
            .unwrap()
            .iter()
            .all(|e| e["event"] != "reload_rejected"),
        "nothing was refused"
    );
    assert!(server.interrupt().success());
}
