//! Headless Chromium driven by chromedriver over WebDriver (plain HTTP and JSON through
//! [`Http`]), for the browser test and the edit-to-page benchmark.
//!
//! Needs Debian's `chromium` and `chromium-driver`; [`browser_available`] says whether
//! they are installed.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use super::{Http, eventually};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver and one browser session; both end on drop.
pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
}

impl Browser {
    pub fn start(profile: &Path) -> Browser {
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
    pub fn call(&self, method: &str, path: &str, body: Value) -> Value {
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

    pub fn open(&self, url: &str) {
        self.call(
            "POST",
            &format!("/session/{}/url", self.session),
            json!({ "url": url }),
        );
    }

    /// Runs `script` (a function body) in the page and returns its result.
    pub fn eval(&self, script: &str) -> Value {
        self.call(
            "POST",
            &format!("/session/{}/execute/sync", self.session),
            json!({ "script": script, "args": [] }),
        )
    }

    /// Like [`Browser::eval`], but `None` where WebDriver answers with an error (for
    /// example while the page is being replaced by a reload).
    pub fn try_eval(&self, script: &str) -> Option<Value> {
        let body = serde_json::to_vec(&json!({ "script": script, "args": [] })).ok()?;
        let reply = Http::connect(self.addr)
            .request(
                "POST",
                &format!("/session/{}/execute/sync", self.session),
                &[("Content-Type", "application/json; charset=utf-8")],
                &body,
            )
            .ok()?;
        let value: Value = serde_json::from_slice(&reply.body).ok()?;
        (reply.status == 200).then(|| value["value"].clone())
    }

    /// Runs `script` (a function body whose last argument is the callback that returns
    /// its result) in the page with `args`, and returns the result.
    pub fn eval_async(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            &format!("/session/{}/execute/async", self.session),
            json!({ "script": script, "args": args }),
        )
    }

    /// Types `text` into the element that `css` selects, as a user would (WebDriver's
    /// element send keys).
    pub fn type_into(&self, css: &str, text: &str) {
        let found = self.call(
            "POST",
            &format!("/session/{}/element", self.session),
            json!({ "using": "css selector", "value": css }),
        );
        let id = found["element-6066-11e4-a52e-4f735466cecf"]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_string();
        self.call(
            "POST",
            &format!("/session/{}/element/{id}/value", self.session),
            json!({ "text": text }),
        );
    }

    pub fn body_text(&self) -> String {
        self.eval("return document.body ? document.body.innerText : '';")
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn overlay_text(&self) -> Option<String> {
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

/// Whether Chromium and chromedriver are installed. Where they are not: with `CI` set (to
/// anything but empty, `0` or `false`) the calling test fails; elsewhere it is skipped,
/// and says so on the terminal.
pub fn browser_available() -> bool {
    if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        return true;
    }
    let ci = std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"));
    assert!(
        !ci,
        "the browser tests cannot be skipped in CI (CI is set), but {CHROMIUM} or \
         {CHROMEDRIVER} is missing: apt-get install -y chromium chromium-driver"
    );
    let test = std::thread::current()
        .name()
        .filter(|name| *name != "main")
        .unwrap_or("a browser test or benchmark")
        .to_string();
    // Written to the process's stderr, not through `eprintln!`: the test harness captures
    // what a passing test prints, and a skip must be seen.
    let _ = writeln!(
        std::io::stderr(),
        "skipped: chromium not found ({test}): {CHROMIUM} or {CHROMEDRIVER} is missing \
         (apt-get install -y chromium chromium-driver)"
    );
    false
}
