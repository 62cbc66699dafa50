//! An axum app whose routes hot-reload, as its users write and run it: `hotdev new
//! --template axum` (the workspace of `examples/axum`), then `hotdev run --listen` in it.
//! The plugin's handlers sleep and spawn on the host's tokio, trace through the host's
//! subscriber with span fields, and a panicking handler costs its request only; an edit
//! goes live in the same process with the host's state kept, and the page open in
//! headless Chromium reloads by itself; a build error shows the overlay.
//!
//! The first run builds the app's world (tokio, axum) in a target directory kept under
//! cargo's test scratch space, a few minutes on two cores; later runs reuse it.

mod support;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::browser::{Browser, browser_available};
use support::{Http, Reply, edit, eventually};

/// Long enough for a cold build of the app's world on a loaded two-core machine.
const FIRST_BUILD: Duration = Duration::from_secs(900);
const RELOAD: Duration = Duration::from_secs(240);

/// `hotdev run` in the app's workspace, its output in a file.
struct Run {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Run {
    fn start(app: &Path, log: PathBuf) -> Run {
        let addr = free_addr();
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_hotdev"))
            .args(["run", "--listen", &addr.to_string()])
            .current_dir(app)
            .env("NO_COLOR", "1")
            .env("RUST_BACKTRACE", "0")
            // The workspace's `.cargo/config.toml` sets the one world's flags.
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET_DIR")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        Run { child, addr, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn get(&self, path: &str) -> Option<Reply> {
        Http::try_connect(self.addr)
            .ok()?
            .request("GET", path, &[], b"")
            .ok()
    }

    fn page(&self, path: &str) -> Reply {
        self.get(path)
            .unwrap_or_else(|| panic!("GET {path} failed; hotdev run said:\n{}", self.log()))
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        // SAFETY: `kill` only sends a signal, to the child this test started.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        let stopped = eventually(
            "hotdev run exits on SIGINT",
            Duration::from_secs(30),
            || self.child.try_wait().ok().flatten(),
        );
        let _ = stopped;
    }
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn visits(page: &str) -> u64 {
    let at = page
        .find("id=\"visits\">")
        .unwrap_or_else(|| panic!("no visits in {page}"));
    page[at + "id=\"visits\">".len()..]
        .split('<')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {page}"))
}

/// A new app from the template, building into a target directory shared by the runs.
fn new_app(tmp: &Path) -> PathBuf {
    let app = tmp.join("app");
    let out = Command::new(env!("CARGO_BIN_EXE_hotdev"))
        .args(["new", "--template", "axum"])
        .arg(&app)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = app.join(".cargo/config.toml");
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("axum-app-target");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replace(
        "[build]\n",
        &format!("[build]\ntarget-dir = {:?}\n", target.display().to_string()),
    );
    std::fs::write(&config, text).unwrap();
    app
}

#[test]
fn an_axum_app_reloads_its_routes_in_one_process_with_its_state_and_its_runtime() {
    let tmp = tempfile::tempdir().unwrap();
    let app = new_app(tmp.path());
    let run = Run::start(&app, tmp.path().join("run.log"));

    let first = eventually("the app answers /", FIRST_BUILD, || {
        run.get("/").filter(|r| r.status == 200)
    });
    let page = first.text();
    assert!(page.contains("<h1>Hello from hotdev</h1>"), "{page}");
    assert!(
        page.contains("/__hotdev/client.js"),
        "the live-reload script: {page}"
    );
    // Requests that waited in the socket's queue while the first build ran may have been
    // answered after the poll gave up on them: count from here.
    let first_visits = visits(&page);

    // The plugin's futures run on the host's runtime: its timer and its spawn.
    assert_eq!(run.page("/sleep").text(), "slept 50 ms\n");
    assert_eq!(run.page("/spawn").text(), "spawned a task: 55\n");

    // A panicking handler answers its own request with the panic, and the same process
    // (the same state) answers the next one.
    let panicked = run.page("/panic");
    assert_eq!(panicked.status, 500, "{}", panicked.text());
    assert!(
        panicked.text().contains("index out of bounds"),
        "{}",
        panicked.text()
    );
    assert_eq!(visits(&run.page("/").text()), first_visits + 1);

    // The plugin's tracing, with its span's fields, through the host's subscriber.
    let log = eventually("the span and event in the host's log", RELOAD, || {
        let log = run.log();
        log.contains("the task finished sum=55").then_some(log)
    });
    assert!(log.contains("spawn{route=\"/spawn\"}"), "{log}");

    // The host check of the dev server.
    let foreign = Http::connect(run.addr)
        .with_host(Some("evil.example"))
        .request("GET", "/", &[], b"")
        .unwrap();
    assert_eq!(foreign.status, 403, "{}", foreign.text());
    assert!(foreign.text().contains("HD057"), "{}", foreign.text());

    // An edit goes live in the same process: the state is the host's.
    let lib = app.join("plugin/src/lib.rs");
    let browser = browser_available().then(|| Browser::start(&tmp.path().join("chromium-profile")));
    if let Some(browser) = &browser {
        browser.open(&format!("http://{}/", run.addr));
        assert!(browser.body_text().contains("Hello from hotdev"));
        browser.eval("window.__loadedOnce = true; return null;");
    }
    // The same save adds a route whose handler never answers.
    support::edit_all(
        &lib,
        &[
            ("<h1>Hello from hotdev</h1>", "<h1>Hello, edited</h1>"),
            (
                ".route(\"/sleep\", get(sleep))",
                ".route(\"/sleep\", get(sleep))\n            \
                 .route(\"/stuck\", get(|| std::future::pending::<String>()))",
            ),
        ],
    );
    let edited = eventually("the edit answers /", RELOAD, || {
        run.get("/").filter(|r| r.text().contains("Hello, edited"))
    });
    let after = visits(&edited.text());
    assert!(
        after > first_visits + 1,
        "the visits were kept: {}",
        edited.text()
    );
    assert!(
        run.log().contains("hot-reloaded"),
        "reloaded in the process, not restarted: {}",
        run.log()
    );

    // A handler past the handler timeout: its client gets the 504 page, the process goes on.
    let stuck = run.page("/stuck");
    assert_eq!(stuck.status, 504, "{}", stuck.text());
    assert!(stuck.text().contains("HD052"), "{}", stuck.text());
    assert!(stuck.text().contains("GET /stuck"), "{}", stuck.text());
    assert_eq!(run.page("/sleep").text(), "slept 50 ms\n");

    // The plugin crate's static files, as `hotdev serve` serves them.
    let css = run.page("/static/style.css");
    assert_eq!(css.status, 200);
    assert!(
        css.header("content-type")
            .unwrap_or("")
            .starts_with("text/css")
    );
    assert_eq!(run.page("/static/../Cargo.toml").status, 404);

    if let Some(browser) = &browser {
        // The open page reloaded by itself.
        eventually("the open page shows the edit", RELOAD, || {
            browser.body_text().contains("Hello, edited").then_some(())
        });
        assert_eq!(browser.eval("return window.__loadedOnce === true;"), false);

        // A saved stylesheet is swapped into the open page, without a reload or a build.
        browser.eval("window.__loadedOnce = true; return null;");
        let color = "return getComputedStyle(document.querySelector('h1')).color;";
        assert_eq!(browser.eval(color), "rgb(183, 65, 14)");
        edit(&app.join("plugin/static/style.css"), "#b7410e", "#0000ff");
        eventually("the stylesheet is swapped in place", RELOAD, || {
            (browser.eval(color) == "rgb(0, 0, 255)").then_some(())
        });
        assert_eq!(browser.eval("return window.__loadedOnce === true;"), true);

        // A broken build shows the overlay over the page, and the old routes serve.
        edit(
            &lib,
            "<h1>Hello, edited</h1>",
            "<h1>Hello, edited</h1>\" broken_here",
        );
        let overlay = eventually("the overlay appears", RELOAD, || browser.overlay_text());
        assert!(overlay.contains("build failed"), "{overlay}");
        assert!(run.page("/").text().contains("Hello, edited"));
    }
}
