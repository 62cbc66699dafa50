//! End-to-end tests of `hotdev new` and `hotdev serve`, through the real binary, real
//! cargo builds and real HTTP requests. Each test follows the server through its
//! `--events -` stream and waits for events, never for fixed times.

mod support;

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use support::{
    BUILD_TIMEOUT, Http, Server, edit, edit_all, eventually, hotdev, hotdev_own_target, new_plugin,
    processes_mentioning,
};

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
    let status = failed_status(&server);
    assert_eq!(status["state"], "failed", "{status}");
    assert_eq!(status["generation"], 2, "{status}");
    let first_error = &status["failure"]["diagnostics"][0];
    assert_eq!(first_error["file"], "src/lib.rs", "{status}");
    assert!(first_error["line"].is_u64(), "{status}");
    assert!(status["failure"]["errors"].as_u64() >= Some(1), "{status}");
    // The overlay's link shows the source around the error, its line marked.
    let path = first_error["path"].as_str().unwrap();
    let line = first_error["line"].as_u64().unwrap();
    let source = server.get(&format!("/__hotdev/source?file={path}&line={line}"));
    assert_eq!(source.status, 200, "{}", source.text());
    assert!(
        source.text().contains(&format!(
            "<div id=L{line} class=at><span class=n>{line}</span>"
        )),
        "{}",
        source.text()
    );
    assert!(
        source.text().contains("compile_error_here"),
        "{}",
        source.text()
    );
    // Only files the failure names are shown.
    let manifest = plugin_dir_of(path).join("Cargo.toml");
    let refused = server.get(&format!(
        "/__hotdev/source?file={}&line=1",
        manifest.display()
    ));
    assert_eq!(refused.status, 404, "{}", refused.text());

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

/// Copies the bundled hello example into `dir/<name>`, pointing it at this checkout's
/// `reloadable`, and names its package `name` (the plugins share a target directory: see
/// `support::plugins_target`).
fn copy_hello(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hello");
    let dir = dir.join(name);
    support::claim_plugin_name(&dir);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::copy(example.join("src/lib.rs"), dir.join("src/lib.rs")).unwrap();
    std::fs::create_dir_all(dir.join("static")).unwrap();
    std::fs::copy(
        example.join("static/style.css"),
        dir.join("static/style.css"),
    )
    .unwrap();
    let manifest = std::fs::read_to_string(example.join("Cargo.toml")).unwrap();
    let reloadable = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("reloadable");
    let manifest = manifest.replace(
        "path = \"../../reloadable\"",
        &format!("path = {:?}", reloadable.display().to_string()),
    );
    assert!(manifest.contains(&reloadable.display().to_string()));
    let renamed = manifest.replacen("name = \"hello\"", &format!("name = {name:?}"), 1);
    assert_ne!(manifest, renamed, "the example's package is named hello");
    let manifest = renamed;
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
    let dir = copy_hello(tmp.path(), "hello-reset");
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
    let dir = copy_hello(tmp.path(), "hello-kept");
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
    let dir = copy_hello(tmp.path(), "hello-visits");

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
    // The page's look comes from its static stylesheet, served from static/.
    assert!(
        server
            .get("/")
            .text()
            .contains("<link rel=\"stylesheet\" href=\"/static/style.css\">")
    );
    let style = server.get("/static/style.css");
    assert_eq!(style.status, 200);
    assert_eq!(
        style.body,
        std::fs::read(dir.join("static/style.css")).unwrap()
    );
    assert_eq!(server.get("/api/visits").text(), "{\"visits\":3}");

    edit(
        &dir.join("src/lib.rs"),
        "<h1>Hello from hotdev</h1>",
        "<h1>Hello, reloaded</h1>",
    );
    server.wait_reloaded(2);
    let page = server.get("/").text();
    assert!(page.contains("Hello, reloaded"), "{page}");
    assert!(page.contains("<strong id=\"visits\">4</strong>"), "{page}");
    assert_eq!(server.get("/api/visits").text(), "{\"visits\":4}");
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
    // A target directory of its own: `cargo clean` removes it.
    let mut server = Server::start_in(hotdev_own_target(), &dir, tmp.path(), &[] as &[&str]);
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

/// The kinds of the events `server` has seen, in order.
fn kinds(server: &Server) -> Vec<String> {
    let seen = server.seen.lock().unwrap();
    seen.iter()
        .map(|e| e["event"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// A restart serves the library the last run served before cargo is asked, and keeps it
/// when cargo finds it up to date; an edit saved while the server was stopped is built
/// before anything serves.
#[test]
fn a_restart_serves_the_last_build_at_once_and_waits_for_cargo_after_an_edit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = copy_hello(tmp.path(), "hello-restart");
    let lib = dir.join("src/lib.rs");
    // Whether the first `a` came before the first `b` (both seen).
    let before = |kinds: &[String], a: &str, b: &str| {
        let at = |kind: &str| kinds.iter().position(|k| k == kind);
        at(a).expect(a) < at(b).expect(b)
    };

    let mut server = Server::start(&dir, tmp.path());
    server.wait_reloaded(1);
    let first_run = kinds(&server);
    assert!(
        before(&first_run, "build_finished", "reloaded"),
        "nothing recorded yet: the first run waits for cargo: {first_run:?}"
    );
    assert!(server.interrupt().success());

    let mut server = Server::start(&dir, tmp.path());
    let preloaded = server.wait_reloaded(1);
    assert_eq!(
        preloaded["build_ms"], 0,
        "served before any build: {preloaded}"
    );
    assert!(server.get("/").text().contains("Hello from hotdev"));
    server.wait_for("build_finished", BUILD_TIMEOUT, |_| true);
    eventually("cargo's verdict on the terminal", BUILD_TIMEOUT, || {
        server
            .stderr()
            .contains("the last build is up to date: generation 1 keeps serving")
            .then_some(())
    });
    let second_run = kinds(&server);
    assert!(
        before(&second_run, "reloaded", "build_started"),
        "{second_run:?}"
    );
    assert_eq!(
        second_run.iter().filter(|k| *k == "reloaded").count(),
        1,
        "the same library is not loaded twice: {second_run:?}"
    );
    edit(
        &lib,
        "<h1>Hello from hotdev</h1>",
        "<h1>Hello, restarted</h1>",
    );
    server.wait_reloaded(2);
    assert!(server.get("/").text().contains("Hello, restarted"));
    assert!(server.interrupt().success());

    // Saved while no server runs: the next start builds it before serving anything.
    edit(
        &lib,
        "<h1>Hello, restarted</h1>",
        "<h1>Hello, edited while stopped</h1>",
    );
    let mut server = Server::start_with(&dir, tmp.path(), &["--single-process"]);
    server.wait_reloaded(1);
    let third_run = kinds(&server);
    assert!(
        before(&third_run, "build_finished", "reloaded"),
        "{third_run:?}"
    );
    assert!(
        server
            .get("/")
            .text()
            .contains("Hello, edited while stopped")
    );
    assert!(!server.stderr().contains("serving the last build"));
    assert!(server.interrupt().success());
}

/// Requests a path as written, over a raw connection (no client-side normalisation).
fn status_and_body(server: &Server, path: &str) -> (u16, String) {
    let reply = server.get(path);
    (reply.status, reply.text())
}

/// `static/` is served under `/static/` with its content types and caching headers, never
/// a file outside it whatever the spelling, and its changes reach `--events` and the
/// terminal without a build, whichever way an editor saves.
#[test]
fn static_files_are_served_inside_their_folder_and_their_edits_never_build() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("with-assets");
    new_plugin(&dir);
    let static_dir = dir.join("static");
    let style = static_dir.join("style.css");
    std::fs::create_dir_all(static_dir.join("img")).unwrap();
    std::fs::write(static_dir.join("app.js"), "console.log('hi');\n").unwrap();
    std::fs::write(
        static_dir.join("img/logo.svg"),
        "<svg xmlns='http://www.w3.org/2000/svg'/>",
    )
    .unwrap();
    std::fs::write(
        static_dir.join("a page.html"),
        "<html><body>static page</body></html>",
    )
    .unwrap();
    std::fs::write(tmp.path().join("secret.txt"), "outside the crate").unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(dir.join("Cargo.toml"), static_dir.join("leak.toml")).unwrap();
        std::os::unix::fs::symlink(tmp.path(), static_dir.join("up")).unwrap();
    }
    let mut server = Server::start(&dir, tmp.path());
    server.wait_reloaded(1);

    // Served, with type, validators and no-cache.
    let css = server.get("/static/style.css");
    assert_eq!(css.status, 200);
    assert_eq!(css.body, std::fs::read(&style).unwrap());
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert_eq!(css.header("cache-control"), Some("no-cache"));
    let etag = css.header("etag").expect("an ETag").to_string();
    let modified = css
        .header("last-modified")
        .expect("Last-Modified")
        .to_string();
    assert!(modified.ends_with(" GMT"), "{modified}");
    let js = server.get("/static/app.js");
    assert!(
        js.header("content-type").unwrap().contains("javascript"),
        "{:?}",
        js.headers
    );
    assert_eq!(
        server.get("/static/img/logo.svg").header("content-type"),
        Some("image/svg+xml; charset=utf-8")
    );
    // An HTML file is served with the live-reload script, like the plugin's pages.
    let html = server.get("/static/a%20page.html");
    assert_eq!(html.status, 200);
    assert!(
        html.text().contains("static page<script>"),
        "{}",
        html.text()
    );

    // Conditional requests: 304 while unchanged.
    let mut http = server.connect();
    let again = http
        .request("GET", "/static/style.css", &[("If-None-Match", &etag)], b"")
        .unwrap();
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    let again = http
        .request(
            "GET",
            "/static/style.css",
            &[("If-Modified-Since", &modified)],
            b"",
        )
        .unwrap();
    assert_eq!(again.status, 304);
    let head = http.request("HEAD", "/static/style.css", &[], b"").unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("etag"), Some(etag.as_str()));
    let post = http
        .request("POST", "/static/style.css", &[], b"x")
        .unwrap();
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));

    // Nothing outside the folder, however it is spelled: 404, as for a missing file.
    let mut outside = vec![
        "/static/../Cargo.toml",
        "/static/..%2fCargo.toml",
        "/static/..%2FCargo.toml",
        "/static/%2e%2e/Cargo.toml",
        "/static/%2e%2e%2fCargo.toml",
        "/static/img/../../Cargo.toml",
        "/static/..%5cCargo.toml",
        "/static/..\\Cargo.toml",
        "/static//etc/passwd",
        "/static/%2fetc%2fpasswd",
        "/static/style.css%00.txt",
        "/static/missing.css",
        "/static/img",
    ];
    if cfg!(unix) {
        outside.extend(["/static/leak.toml", "/static/up/secret.txt"]);
    }
    for path in outside {
        let (status, body) = status_and_body(&server, path);
        assert_eq!(status, 404, "{path}: {body}");
        assert!(!body.contains("[package]"), "{path}: {body}");
        assert!(!body.contains("outside the crate"), "{path}: {body}");
        assert!(!body.contains("root:"), "{path}: {body}");
    }
    // The plugin still has every other path.
    assert!(server.get("/").text().contains("Hello from hotdev"));
    assert_eq!(server.get("/staticky").text(), "not found\n");

    let events_before = server.seen.lock().unwrap().len();

    // Written in place: one asset_changed, and the new bytes under a new tag.
    std::fs::write(&style, "h1 { color: #dc2626; }\n").unwrap();
    let changed = server.wait_for("asset_changed", BUILD_TIMEOUT, |_| true);
    assert_eq!(changed["url"], "/static/style.css", "{changed}");
    assert_eq!(
        changed["path"],
        style.canonicalize().unwrap().display().to_string()
    );
    let css = server.get("/static/style.css");
    assert_eq!(css.text(), "h1 { color: #dc2626; }\n");
    assert_ne!(css.header("etag"), Some(etag.as_str()));
    let stale = server
        .connect()
        .request("GET", "/static/style.css", &[("If-None-Match", &etag)], b"")
        .unwrap();
    assert_eq!(stale.status, 200, "an old tag gets the new file");

    // Saved through a temporary file and a rename: the stylesheet, not the temp file.
    let temp = static_dir.join(".style.css.tmp-save");
    std::fs::write(&temp, "h1 { color: #16a34a; }\n").unwrap();
    std::fs::rename(&temp, &style).unwrap();
    server.wait_for("asset_changed", BUILD_TIMEOUT, |e| {
        e["url"] == "/static/style.css"
    });
    assert_eq!(
        server.get("/static/style.css").text(),
        "h1 { color: #16a34a; }\n"
    );

    // Deleted and written again.
    std::fs::remove_file(&style).unwrap();
    std::fs::write(&style, "h1 { color: #9333ea; }\n").unwrap();
    server.wait_for("asset_changed", BUILD_TIMEOUT, |e| {
        e["url"] == "/static/style.css"
    });
    assert_eq!(
        server.get("/static/style.css").text(),
        "h1 { color: #9333ea; }\n"
    );

    // An image in a new folder.
    std::fs::create_dir_all(static_dir.join("fonts")).unwrap();
    std::fs::write(static_dir.join("fonts/a.woff2"), b"wOF2").unwrap();
    server.wait_for("asset_changed", BUILD_TIMEOUT, |e| {
        e["url"] == "/static/fonts/a.woff2"
    });

    // Then a Rust edit: its build is the only one since the first, caused by lib.rs alone.
    edit(
        &dir.join("src/lib.rs"),
        "Hello from hotdev",
        "Hello after assets",
    );
    server.wait_reloaded(2);
    let seen = server.seen.lock().unwrap()[events_before..].to_vec();
    let builds = seen
        .iter()
        .filter(|e| e["event"] == "build_started")
        .count();
    assert_eq!(builds, 1, "{seen:#?}");
    for event in seen.iter().filter(|e| e["event"] == "change") {
        assert!(
            event["paths"]
                .as_array()
                .unwrap()
                .iter()
                .all(|p| p.as_str().unwrap().ends_with("src/lib.rs")),
            "{event}"
        );
    }
    assert!(
        !seen
            .iter()
            .any(|e| e["event"] == "asset_changed"
                && e["path"].as_str().unwrap().contains("tmp-save")),
        "{seen:#?}"
    );
    let stderr = server.stderr();
    assert!(
        stderr.contains("static/style.css changed: open pages swap the stylesheet, no build"),
        "{stderr}"
    );
    assert!(
        stderr.contains("static/fonts/a.woff2 changed: open pages reload, no build"),
        "{stderr}"
    );
    let status = server.interrupt();
    assert!(status.success(), "hotdev serve exited with {status}");
}

/// `--static DIR` serves another folder (and watches it); a crate without `static/`
/// leaves `/static/` to the plugin; a `--static` folder that does not exist is an error
/// with its code.
#[test]
fn static_option_serves_another_folder_and_a_missing_one_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("elsewhere-assets");
    new_plugin(&dir);
    let missing = tmp.path().join("no-such-folder");
    let out = hotdev()
        .arg("serve")
        .arg(&dir)
        .arg("--static")
        .arg(&missing)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[HD090]"), "{stderr}");
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
    assert!(
        !stderr.contains("hotdev serving"),
        "refused before serving: {stderr}"
    );

    std::fs::remove_dir_all(dir.join("static")).unwrap();
    let public = tmp.path().join("public");
    std::fs::create_dir_all(&public).unwrap();
    std::fs::write(public.join("site.css"), "p { margin: 0 }\n").unwrap();
    let mut server =
        Server::start_with(&dir, tmp.path(), &["--static".as_ref(), public.as_os_str()]);
    // Static files do not wait for the build.
    let css = server.get("/static/site.css");
    assert_eq!(css.status, 200);
    assert_eq!(css.text(), "p { margin: 0 }\n");
    // The folder is watched once the watcher runs (it starts the first build); no need to
    // wait for that build.
    server.wait_for("build_started", BUILD_TIMEOUT, |_| true);
    std::fs::write(public.join("site.css"), "p { margin: 1em }\n").unwrap();
    let changed = server.wait_for("asset_changed", BUILD_TIMEOUT, |_| true);
    assert_eq!(changed["url"], "/static/site.css");
    assert_eq!(server.get("/static/site.css").text(), "p { margin: 1em }\n");
    assert!(
        server.stderr().contains("static files from"),
        "{}",
        server.stderr()
    );
    let status = server.interrupt();
    assert!(status.success(), "hotdev serve exited with {status}");

    // Without a static folder, /static/ is the plugin's: before its first build, the
    // server's "building" page, as for any plugin path.
    let bare = tmp.path().join("no-assets");
    new_plugin(&bare);
    std::fs::remove_dir_all(bare.join("static")).unwrap();
    let server = Server::start(&bare, tmp.path());
    let reply = server.get("/static/site.css");
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert!(
        reply.text().contains("building the plugin"),
        "{}",
        reply.text()
    );
    assert!(
        !server.stderr().contains("static files from"),
        "{}",
        server.stderr()
    );
    let status = server.interrupt();
    assert!(status.success(), "hotdev serve exited with {status}");
}

/// A plugin's `log` records reach the terminal of `hotdev serve`, through the server's
/// own subscriber, with the plugin's target.
#[test]
fn plugin_log_records_reach_the_servers_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("chatty");
    new_plugin(&dir);
    edit(
        &dir.join("Cargo.toml"),
        "[dependencies]\n",
        "[dependencies]\nlog = \"0.4\"\n",
    );
    edit(
        &dir.join("src/lib.rs"),
        "match (request.method.as_str(), request.path.as_str()) {",
        "log::warn!(target: \"chatty::routes\", \"serving {} from the plugin\", request.path);\n        match (request.method.as_str(), request.path.as_str()) {",
    );
    let mut server = Server::start(&dir, tmp.path());
    server.wait_reloaded(1);
    assert_eq!(server.get("/").status, 200);
    let stderr = support::eventually("the plugin's record on stderr", BUILD_TIMEOUT, || {
        let text = server.stderr();
        text.contains("serving / from the plugin").then_some(text)
    });
    let line = stderr
        .lines()
        .find(|l| l.contains("serving / from the plugin"))
        .unwrap();
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("chatty::routes"), "{line}");
    assert!(server.interrupt().success());
}

/// A plugin's `tracing` events reach the terminal of `hotdev serve` with their fields and
/// the spans they happen in, though the plugin's `tracing` has no `log` feature (issue
/// 23), and an info event shows with `RUST_LOG` unset.
#[test]
fn plugin_tracing_events_reach_the_servers_terminal_without_the_log_feature() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("traced");
    new_plugin(&dir);
    edit(
        &dir.join("Cargo.toml"),
        "[dependencies]\n",
        "[dependencies]\ntracing = { version = \"0.1\", default-features = false, features = [\"std\"] }\n",
    );
    edit(
        &dir.join("src/lib.rs"),
        "match (request.method.as_str(), request.path.as_str()) {",
        "let span = tracing::info_span!(\"request\", id = 7);\n        \
         let _entered = span.enter();\n        \
         tracing::info!(answer = 42, \"traced from the plugin\");\n        \
         match (request.method.as_str(), request.path.as_str()) {",
    );
    let mut command = hotdev();
    command.env_remove("RUST_LOG");
    let mut server = Server::start_in::<&str>(command, &dir, tmp.path(), &[]);
    server.wait_reloaded(1);
    assert_eq!(server.get("/").status, 200);
    let line = eventually("the plugin's event on stderr", BUILD_TIMEOUT, || {
        let text = server.stderr();
        let line = text
            .lines()
            .find(|l| l.contains("traced from the plugin"))?;
        Some(line.to_string())
    });
    let line = without_colours(&line);
    assert!(line.contains(" INFO "), "{line}");
    assert!(
        line.contains(" traced: request{id=7}: traced from the plugin answer=42"),
        "the plugin's target, its span and the event's field: {line}"
    );
    assert!(server.interrupt().success());
}

/// `text` without its ANSI colour codes (`ESC [ ... m`).
fn without_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|&c| c == 'm');
        } else {
            out.push(c);
        }
    }
    out
}

/// A handler that never returns: it must not take the server down, nor outlive its fix
/// (issue 14). Twenty requests to a looping route leave the server answering; the route
/// trips the breaker; the fix serves at once however many calls are stuck in the old
/// generation; Ctrl-C ends the server within a bound and leaves no process behind.
#[test]
fn a_looping_handler_neither_takes_the_server_down_nor_outlives_its_fix() {
    /// More requests than the server has workers (16).
    const LOOPERS: u64 = 20;
    // The loop sleeps rather than spins, so that the stuck threads leave the small test
    // machine's cores to the builds; the server cannot tell the two apart.
    const LOOP: &str = "loop { std::thread::sleep(std::time::Duration::from_millis(100)); }";
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("looper");
    new_plugin(&dir);
    let lib = dir.join("src/lib.rs");
    // Every path under /loop loops: /loop/1 ... /loop/20 are twenty routes, so the breaker
    // (which counts per route) leaves each of them to time out.
    edit(
        &lib,
        "(\"GET\", \"/\") =>",
        &format!(
            "(\"GET\", p) if p.starts_with(\"/loop\") => {LOOP},\n            (\"GET\", \"/\") =>"
        ),
    );
    let mut server = Server::start_with(&dir, tmp.path(), &["--handler-timeout", "5s"]);
    server.wait_reloaded(1);
    let addr = server.addr;
    let get_all = |paths: Vec<String>| -> Vec<(u16, String)> {
        let clients: Vec<_> = paths
            .into_iter()
            .map(|path| {
                thread::spawn(move || {
                    let reply = Http::connect(addr).request("GET", &path, &[], b"");
                    reply.map(|r| (r.status, r.text()))
                })
            })
            .collect();
        clients
            .into_iter()
            .map(|t| t.join().unwrap().expect("every request is answered"))
            .collect()
    };
    let status = |server: &Server| -> serde_json::Value {
        serde_json::from_slice(&server.get("/__hotdev/status").body).unwrap()
    };

    // Twenty requests to looping routes at once: each is answered with a 504 past the
    // handler timeout, its worker is counted as stuck and replaced, and the server still
    // serves `/` with twenty of its threads stuck.
    let replies = get_all((1..=LOOPERS).map(|n| format!("/loop/{n}")).collect());
    for (status, text) in &replies {
        assert_eq!(*status, 504, "{text}");
        assert!(text.contains("[HD052] GET /loop/"), "{text}");
        assert!(text.contains("in generation 1"), "{text}");
        assert!(text.contains("cannot be stopped"), "{text}");
    }
    let page = server.get("/");
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page.text().contains("Hello from hotdev"), "{}", page.text());
    assert_eq!(status(&server)["stuck"], LOOPERS);
    assert!(server.stderr().contains("[HD052] GET /loop/"));

    // The same route timing out again and again trips its breaker: after three timeouts
    // it is answered at once, without calling the handler, so no more workers are stuck.
    let replies = get_all(vec!["/loop".to_string(); 3]);
    assert!(
        replies.iter().all(|(status, _)| *status == 504),
        "{replies:?}"
    );
    let breaker = server.wait_for("breaker_open", Duration::from_secs(30), |_| true);
    assert_eq!(breaker["route"], "GET /loop", "{breaker}");
    assert_eq!(breaker["generation"], 1, "{breaker}");
    let stuck = LOOPERS + 3;
    assert_eq!(status(&server)["stuck"], stuck);
    let blocked = server.get("/loop");
    assert_eq!(blocked.status, 503, "{}", blocked.text());
    assert!(blocked.text().contains("[HD053] GET /loop failed 3 times"));
    assert_eq!(
        status(&server)["stuck"],
        stuck,
        "the breaker called the handler"
    );
    let seen = Arc::clone(&server.seen);
    eventually(
        "a handler_timeout event per stuck call",
        BUILD_TIMEOUT,
        || {
            let events = seen.lock().unwrap();
            let timeouts = events.iter().filter(|e| e["event"] == "handler_timeout");
            (timeouts.count() as u64 == stuck).then_some(())
        },
    );

    // The fix: it serves the route at once, although every stuck call is still running in
    // generation 1, and the reload reports those calls as running, not drained.
    edit(&lib, LOOP, "Response::text(\"loop fixed\\n\")");
    let reloaded = server.wait_reloaded(2);
    let live = Instant::now();
    let fixed = server.get("/loop");
    let answered = live.elapsed();
    assert_eq!(fixed.status, 200, "{}", fixed.text());
    assert_eq!(fixed.text(), "loop fixed\n");
    // The issue asks for an answer within a second of the reload; slack for a busy machine.
    assert!(
        answered < Duration::from_secs(3),
        "answered after {answered:?}"
    );
    assert_eq!(reloaded["running"].as_u64(), Some(stuck), "{reloaded}");
    assert_eq!(reloaded["stuck"].as_u64(), Some(stuck), "{reloaded}");
    assert_eq!(reloaded["drained"], 0, "{reloaded}");
    assert_eq!(reloaded["in_flight"].as_u64(), Some(stuck), "{reloaded}");
    let line = format!("0 drained, {stuck} still running ({stuck} stuck)");
    assert!(server.stderr().contains(&line), "{}", server.stderr());

    // Ctrl-C while the stuck calls run and cargo builds another change: the server exits
    // within a bound, with status 0, reporting the calls it abandoned, and neither it nor
    // cargo (or rustc) is left running.
    edit(&lib, "loop fixed", "loop fixed again");
    server.wait_for("build_started", BUILD_TIMEOUT, |_| true);
    let (exit, took, shutdown) = server.interrupt_timed();
    assert!(exit.success(), "hotdev serve exited with {exit}");
    // "A couple of seconds", with slack for a busy machine.
    assert!(
        took < Duration::from_secs(8),
        "exited {took:?} after Ctrl-C"
    );
    assert!(
        shutdown["abandoned"].as_u64().unwrap() >= stuck,
        "{shutdown}"
    );
    let dir = dir.display().to_string();
    eventually("no process left behind", Duration::from_secs(30), || {
        processes_mentioning(&dir).is_empty().then_some(())
    });
}

/// The crate directory of a source file `.../src/lib.rs`.
fn plugin_dir_of(source: &str) -> std::path::PathBuf {
    std::path::Path::new(source)
        .ancestors()
        .nth(2)
        .expect("a file under src/")
        .to_path_buf()
}

/// Issue 21: the server answers only to its own names, so that a web page cannot read it
/// through DNS rebinding (its requests carry the page's own name in `Host`), and its own
/// endpoints refuse requests from pages on other names (`Origin`). Checked with the
/// supervised worker (with `--allowed-host`) and with `--single-process` (without).
#[test]
fn the_server_answers_only_to_its_own_names() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("named");
    new_plugin(&dir);
    let mut server = Server::start_with(&dir, tmp.path(), &["--allowed-host", "dev.example.test"]);
    server.wait_reloaded(1);
    let port = server.addr.port();
    let own_origin = format!("http://127.0.0.1:{port}");
    let get = |server: &Server, host: Option<&str>, path: &str, headers: &[(&str, &str)]| {
        server
            .connect()
            .with_host(host)
            .request("GET", path, headers, b"")
            .unwrap_or_else(|e| panic!("GET {path} with Host {host:?}: {e}"))
    };
    let stream_status = |server: &Server, host: &str, origin: Option<&str>| {
        let headers: Vec<(&str, &str)> = origin.map(|o| ("Origin", o)).into_iter().collect();
        server
            .connect()
            .with_host(Some(host))
            .status_of("/__hotdev/events", &headers)
            .unwrap()
    };

    // IP addresses, localhost and the names under it, and the allowed name: answered.
    let answered = [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("LocalHost.:{port}"),
        format!("app.localhost:{port}"),
        "[::1]".to_string(),
        format!("[::1]:{port}"),
        "dev.example.test".to_string(),
        format!("DEV.example.test:{port}"),
    ];
    for host in &answered {
        let page = get(&server, Some(host), "/", &[]);
        assert_eq!(page.status, 200, "Host: {host}\n{}", page.text());
        assert!(page.text().contains("Hello from hotdev"), "{}", page.text());
        assert_eq!(
            get(&server, Some(host), "/static/style.css", &[]).status,
            200
        );
        assert_eq!(
            get(&server, Some(host), "/__hotdev/status", &[]).status,
            200
        );
        assert_eq!(stream_status(&server, host, None), 200, "Host: {host}");
    }

    // A foreign name, with and without a port: 403 with the code, naming the host and the
    // flag, for the app, static files and every endpoint of hotdev's own.
    for host in [format!("evil.example:{port}"), "evil.example".to_string()] {
        for path in [
            "/",
            "/elsewhere",
            "/static/style.css",
            "/__hotdev/status",
            "/__hotdev/client.js",
            "/__hotdev/source?file=src/lib.rs&line=1",
        ] {
            let reply = get(&server, Some(&host), path, &[]);
            assert_eq!(
                reply.status,
                403,
                "GET {path}, Host: {host}\n{}",
                reply.text()
            );
            let text = reply.text();
            assert!(text.contains("[HD057]"), "{text}");
            assert!(text.contains("names evil.example"), "{text}");
            assert!(text.contains("--allowed-host evil.example"), "{text}");
            assert!(!text.contains("/__hotdev/client.js\""), "{text}");
        }
        assert_eq!(stream_status(&server, &host, None), 403);
    }
    let reply = get(&server, Some("evil.localhost.example"), "/", &[]);
    assert_eq!(reply.status, 403, "{}", reply.text());

    // No Host header, or a malformed one: 400.
    let reply = get(&server, None, "/", &[]);
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert!(reply.text().contains("[HD057]"), "{}", reply.text());
    for host in ["user@localhost", "localhost:99999", "::1"] {
        let reply = get(&server, Some(host), "/", &[]);
        assert_eq!(reply.status, 400, "Host: {host}\n{}", reply.text());
    }

    // hotdev's own endpoints and the Origin: the page's own origin and pages on other
    // allowed names are answered; a page elsewhere is refused. The app's routes are the
    // app's business: the Origin is not checked there.
    let local = format!("127.0.0.1:{port}");
    for origin in [
        own_origin.as_str(),
        "http://localhost:3000",
        "https://dev.example.test",
    ] {
        let status = get(
            &server,
            Some(&local),
            "/__hotdev/status",
            &[("Origin", origin)],
        );
        assert_eq!(status.status, 200, "Origin: {origin}\n{}", status.text());
        assert_eq!(stream_status(&server, &local, Some(origin)), 200);
    }
    for origin in ["http://evil.example", "http://203.0.113.9", "null"] {
        let reply = get(
            &server,
            Some(&local),
            "/__hotdev/status",
            &[("Origin", origin)],
        );
        assert_eq!(reply.status, 403, "Origin: {origin}\n{}", reply.text());
        assert!(reply.text().contains("[HD057]"), "{}", reply.text());
        assert_eq!(stream_status(&server, &local, Some(origin)), 403);
        let client = get(
            &server,
            Some(&local),
            "/__hotdev/client.js",
            &[("Origin", origin)],
        );
        assert_eq!(client.status, 403, "Origin: {origin}");
    }
    let app = get(
        &server,
        Some(&local),
        "/",
        &[("Origin", "http://evil.example")],
    );
    assert_eq!(app.status, 200, "{}", app.text());

    // The source endpoint, while a failure is on show.
    edit(
        &dir.join("src/lib.rs"),
        "Hello from hotdev",
        "Hello\" compile_error_here",
    );
    server.wait_for("build_failed", BUILD_TIMEOUT, |_| true);
    let status = failed_status(&server);
    let error = &status["failure"]["diagnostics"][0];
    let source = format!(
        "/__hotdev/source?file={}&line={}",
        error["path"].as_str().unwrap(),
        error["line"].as_u64().unwrap()
    );
    let shown = get(&server, Some(&local), &source, &[("Origin", &own_origin)]);
    assert_eq!(shown.status, 200, "{}", shown.text());
    assert!(
        shown.text().contains("compile_error_here"),
        "{}",
        shown.text()
    );
    let refused = get(
        &server,
        Some(&local),
        &source,
        &[("Origin", "http://evil.example")],
    );
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert!(!refused.text().contains("compile_error_here"));
    let refused = get(&server, Some("evil.example"), &source, &[]);
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert!(!refused.text().contains("compile_error_here"));

    // One terminal line and one event per refused host, however many requests.
    let events = server.seen.lock().unwrap().clone();
    let refused_host: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "host_refused" && e["allow"] == "evil.example")
        .filter(|e| e["origin"].is_null())
        .collect();
    assert_eq!(refused_host.len(), 1, "{refused_host:#?}");
    assert_eq!(refused_host[0]["status"], 403, "{:#?}", refused_host[0]);
    assert!(
        refused_host[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("[HD057]")
    );
    let stderr = server.stderr();
    let lines = |text: &str| stderr.lines().filter(|l| l.contains(text)).count();
    assert_eq!(lines("the Host header names evil.example,"), 1, "{stderr}");
    assert_eq!(lines("from a page on http://evil.example,"), 1, "{stderr}");
    assert_eq!(lines("--allowed-host evil.example"), 2, "{stderr}");
    assert!(server.interrupt().success());

    // --single-process, without --allowed-host: the name is refused now, and the rest
    // holds the same.
    edit(
        &dir.join("src/lib.rs"),
        "Hello\" compile_error_here",
        "Hello from hotdev",
    );
    let mut server = Server::start_with(&dir, tmp.path(), &["--single-process"]);
    server.wait_reloaded(1);
    let port = server.addr.port();
    let local = format!("localhost:{port}");
    assert_eq!(get(&server, Some(&local), "/", &[]).status, 200);
    assert_eq!(get(&server, Some("[::1]"), "/", &[]).status, 200);
    for _ in 0..3 {
        let reply = get(&server, Some("dev.example.test"), "/", &[]);
        assert_eq!(reply.status, 403, "{}", reply.text());
        assert!(reply.text().contains("--allowed-host dev.example.test"));
    }
    assert_eq!(get(&server, None, "/", &[]).status, 400);
    let origin = [("Origin", "http://evil.example")];
    assert_eq!(
        get(&server, Some(&local), "/__hotdev/status", &origin).status,
        403
    );
    assert_eq!(
        stream_status(&server, &local, Some("http://evil.example")),
        403
    );
    let own = format!("http://localhost:{port}");
    assert_eq!(stream_status(&server, &local, Some(&own)), 200);
    let stderr = server.stderr();
    let lines = stderr
        .lines()
        .filter(|l| l.contains("the Host header names dev.example.test,"))
        .count();
    assert_eq!(lines, 1, "{stderr}");
    assert!(server.interrupt().success());
}

/// `/__hotdev/status` once it shows the failed build that `build_failed` announced. The
/// event stream is the supervisor's and the status is the worker's, which hears of the
/// failure over its pipe a moment later (docs/events.md): a client that read the event
/// may find the status one step behind, never for long.
fn failed_status(server: &Server) -> serde_json::Value {
    support::eventually(
        "the status shows the failed build",
        Duration::from_secs(30),
        || {
            let status: serde_json::Value =
                serde_json::from_slice(&server.get("/__hotdev/status").body).unwrap();
            (status["state"] == "failed" && status["failure"].is_object()).then_some(status)
        },
    )
}
