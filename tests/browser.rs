//! A real browser follows `hotdev serve`: headless Chromium, driven by chromedriver over
//! WebDriver (plain HTTP and JSON), opens the page once; the page then updates by itself
//! on an edit, shows the overlay when the build breaks, and drops it when the build is
//! fixed.
//!
//! Needs Debian's `chromium` and `chromium-driver`. Without `/usr/bin/chromium` the test
//! is skipped with a message, unless `CI` is set, where it fails.

mod support;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use support::{BUILD_TIMEOUT, Http, Server, edit, eventually, new_plugin};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver and one browser session; both end on drop.
struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
}

impl Browser {
    fn start(profile: &Path) -> Browser {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut browser = Browser {
            driver,
            addr,
            session: String::new(),
        };
        eventually("chromedriver is ready", Duration::from_secs(30), || {
            let mut http = Http::try_connect(addr).ok()?;
            let reply = http.request("GET", "/status", &[], b"").ok()?;
            let status: Value = serde_json::from_slice(&reply.body).ok()?;
            (status["value"]["ready"] == true).then_some(())
        });
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            &format!("--user-data-dir={}", profile.display()),
        ];
        let created = browser.call(
            "POST",
            "/session",
            json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": CHROMIUM, "args": args}
            }}}),
        );
        browser.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_string();
        browser
    }

    /// One WebDriver command; returns its `value`.
    fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let body = serde_json::to_vec(&body).unwrap();
        let reply = Http::connect(self.addr)
            .request(
                method,
                path,
                &[("Content-Type", "application/json; charset=utf-8")],
                &body,
            )
            .unwrap_or_else(|e| panic!("webdriver {method} {path}: {e}"));
        let value: Value = serde_json::from_slice(&reply.body)
            .unwrap_or_else(|e| panic!("webdriver {method} {path}: {e}: {}", reply.text()));
        assert_eq!(reply.status, 200, "webdriver {method} {path}: {value}");
        value["value"].clone()
    }

    fn open(&self, url: &str) {
        self.call(
            "POST",
            &format!("/session/{}/url", self.session),
            json!({ "url": url }),
        );
    }

    /// Runs `script` (a function body) in the page and returns its result.
    fn eval(&self, script: &str) -> Value {
        self.call(
            "POST",
            &format!("/session/{}/execute/sync", self.session),
            json!({ "script": script, "args": [] }),
        )
    }

    fn body_text(&self) -> String {
        self.eval("return document.body ? document.body.innerText : '';")
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn overlay_text(&self) -> Option<String> {
        let value = self.eval(
            "var o = document.getElementById('hotdev-overlay'); return o ? o.innerText : null;",
        );
        value.as_str().map(str::to_string)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            // Best effort: ends Chromium.
            if let Ok(mut http) = Http::try_connect(self.addr) {
                let _ = http.request("DELETE", &format!("/session/{}", self.session), &[], b"");
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn browser_available() -> bool {
    if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but {CHROMIUM} or {CHROMEDRIVER} is missing: \
         apt-get install -y chromium chromium-driver"
    );
    eprintln!(
        "skipping the browser test: {CHROMIUM} or {CHROMEDRIVER} is missing \
         (apt-get install -y chromium chromium-driver)"
    );
    false
}

#[test]
fn page_reloads_itself_and_shows_the_overlay_while_the_build_is_broken() {
    if !browser_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("in-browser");
    new_plugin(&dir);
    let lib = dir.join("src/lib.rs");
    let mut server = Server::start(&dir, tmp.path());
    server.wait_reloaded(1);

    let browser = Browser::start(&tmp.path().join("chromium-profile"));
    browser.open(&format!("http://{}/", server.addr));
    let text = browser.body_text();
    assert!(text.contains("Hello from hotdev"), "{text}");
    // Mark this page: a reload by the script replaces the document and drops the mark.
    browser.eval("window.__loadedOnce = true; return null;");

    // An edit: the open page reloads by itself and shows the new text.
    edit(&lib, "Hello from hotdev", "Hello from the browser test");
    server.wait_reloaded(2);
    eventually("the page shows the edit", Duration::from_secs(30), || {
        browser
            .body_text()
            .contains("Hello from the browser test")
            .then_some(())
    });
    assert_eq!(browser.eval("return window.__loadedOnce === true;"), false);

    // A broken build: the overlay appears with the diagnostics.
    edit(
        &lib,
        "Hello from the browser test",
        "Hello from the browser test\" broken_here",
    );
    server.wait_for("build_failed", BUILD_TIMEOUT, |_| true);
    let overlay = eventually("the overlay appears", Duration::from_secs(30), || {
        browser.overlay_text()
    });
    assert!(overlay.contains("build failed"), "{overlay}");
    assert!(overlay.contains("src/lib.rs:"), "{overlay}");

    // A page opened while the build is broken shows the overlay at once.
    browser.open(&format!("http://{}/", server.addr));
    eventually("the overlay shows on load", Duration::from_secs(30), || {
        browser.overlay_text()
    });

    // Fixed: the page reloads, the overlay goes.
    edit(
        &lib,
        "Hello from the browser test\" broken_here",
        "Hello, fixed in the browser",
    );
    server.wait_reloaded(3);
    eventually("the overlay goes", Duration::from_secs(30), || {
        (browser.overlay_text().is_none()
            && browser.body_text().contains("Hello, fixed in the browser"))
        .then_some(())
    });

    drop(browser);
    let status = server.interrupt();
    assert!(status.success(), "hotdev serve exited with {status}");
}
