//! A real browser follows `hotdev serve`: headless Chromium, driven by chromedriver over
//! WebDriver (plain HTTP and JSON), opens the page once; the page then updates by itself
//! on an edit, shows the overlay when the build breaks, and drops it when the build is
//! fixed. A stylesheet edit restyles the open page without reloading it.
//!
//! Needs Debian's `chromium` and `chromium-driver`. Without `/usr/bin/chromium` the test
//! is skipped with a message, unless `CI` is set, where it fails.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::browser::{Browser, browser_available};
use support::{BUILD_TIMEOUT, Server, edit, eventually, new_plugin};

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
    // Counts at the top, and each place a link to the source around it.
    assert!(overlay.contains(" error"), "{overlay}");
    let link = browser.eval(
        "var a = document.querySelector('#hotdev-overlay a[href^=\"/__hotdev/source\"]'); \
         return a ? a.getAttribute('href') : null;",
    );
    let link = link
        .as_str()
        .unwrap_or_else(|| panic!("no source link in {overlay}"));
    let source = server.get(link.split('#').next().unwrap());
    assert_eq!(source.status, 200, "{}", source.text());
    assert!(source.text().contains("broken_here"), "{}", source.text());

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

/// A colour change in `static/style.css` shows in the open page without a build or a
/// reload: the computed style changes while what was typed into an input is still there.
/// The server refuses paths that lead out of the static folder, whatever their spelling.
#[test]
fn a_stylesheet_edit_restyles_the_open_page_without_a_reload() {
    if !browser_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("styled");
    new_plugin(&dir);
    edit(
        &dir.join("src/lib.rs"),
        "<h1>Hello from hotdev</h1>",
        "<h1>Hello from hotdev</h1><input id='note' type='text'>",
    );
    let style = dir.join("static/style.css");
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.join("Cargo.toml"), dir.join("static/leak.toml")).unwrap();
    let mut server = Server::start(&dir, tmp.path());
    server.wait_reloaded(1);

    let browser = Browser::start(&tmp.path().join("chromium-profile"));
    browser.open(&format!("http://{}/", server.addr));
    let heading_colour =
        || browser.eval("return getComputedStyle(document.querySelector('h1')).color;");
    assert_eq!(
        heading_colour(),
        "rgb(29, 78, 216)",
        "the scaffold's #1d4ed8"
    );
    browser.type_into("#note", "typed before the save");
    browser.eval("window.__loadedOnce = true; return null;");

    let saved = Instant::now();
    edit(&style, "color: #1d4ed8;", "color: #dc2626;");
    let changed = server.wait_for("asset_changed", Duration::from_secs(60), |e| {
        e["url"] == "/static/style.css"
    });
    assert!(
        changed["path"]
            .as_str()
            .unwrap()
            .ends_with("static/style.css"),
        "{changed}"
    );
    eventually("the heading turns red", Duration::from_secs(30), || {
        (heading_colour() == "rgb(220, 38, 38)").then_some(())
    });
    eprintln!(
        "stylesheet save to new computed style: {} ms (figures: BENCHMARKS.md)",
        saved.elapsed().as_millis()
    );
    // The same document: the mark is there, and so is what was typed.
    assert_eq!(browser.eval("return window.__loadedOnce === true;"), true);
    assert_eq!(
        browser.eval("return document.getElementById('note').value;"),
        "typed before the save"
    );
    // The old <link> went once the new one loaded; the new one busts the cache.
    let links = browser
        .eval("return Array.from(document.querySelectorAll('link[rel=stylesheet]'), l => l.href);");
    let links = links.as_array().unwrap();
    assert_eq!(links.len(), 1, "{links:?}");
    assert!(
        links[0]
            .as_str()
            .unwrap()
            .contains("/static/style.css?hotdev="),
        "{links:?}"
    );
    // No build ran for it.
    let builds = server
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "build_started")
        .count();
    assert_eq!(builds, 1, "only the first build");

    // Paths out of the folder are refused, as the browser sends them (fetch keeps an
    // encoded slash; a literal `..` it would resolve before sending, so that one is
    // checked over a raw connection).
    let fetch_status = |path: &str| -> Value {
        browser.eval_async(
            "var done = arguments[arguments.length - 1]; \
             fetch(arguments[0]).then(r => done(r.status), e => done(String(e)));",
            serde_json::json!([path]),
        )
    };
    assert_eq!(fetch_status("/static/style.css"), 200);
    assert_eq!(fetch_status("/static/..%2fCargo.toml"), 404);
    assert_eq!(fetch_status("/static/%2e%2e%2fCargo.toml"), 404);
    #[cfg(unix)]
    assert_eq!(fetch_status("/static/leak.toml"), 404);
    for path in [
        "/static/../Cargo.toml",
        "/static/..%2fCargo.toml",
        "/static/leak.toml",
    ] {
        let reply = server.get(path);
        assert_eq!(reply.status, 404, "{path}");
        assert!(!reply.text().contains("[package]"), "{path}");
    }

    drop(browser);
    let status = server.interrupt();
    assert!(status.success(), "hotdev serve exited with {status}");
}

/// A request that overflows the stack ends only the worker process: the open page, whose
/// event stream reconnects to the next worker, shows an overlay naming the crash, the
/// route and the generations; the fix's reload takes it away.
#[cfg(target_os = "linux")]
#[test]
fn a_crash_shows_an_overlay_in_the_open_page() {
    if !browser_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("crash-in-browser");
    new_plugin(&dir);
    let lib = dir.join("src/lib.rs");
    let mut server = Server::start(&dir, tmp.path());
    server.wait_reloaded(1);
    let source = std::fs::read_to_string(&lib).unwrap().replacen(
        "(\"GET\", \"/\") =>",
        "(\"GET\", \"/deep\") => Response::text(deep(1).to_string()),\n            (\"GET\", \"/\") =>",
        1,
    ) + "\n#[allow(unconditional_recursion)]\n#[inline(never)]\nfn deep(n: u64) -> u64 {\n    \
         let buf = [n as u8; 256];\n    std::hint::black_box(&buf);\n    \
         deep(n + 1) + u64::from(buf[7])\n}\n";
    // One write: one build.
    std::fs::write(&lib, source).unwrap();
    server.wait_reloaded(2);

    let browser = Browser::start(&tmp.path().join("chromium-profile"));
    browser.open(&format!("http://{}/", server.addr));
    assert!(browser.body_text().contains("Hello from hotdev"));
    let cut = server.connect().request("GET", "/deep", &[], b"");
    assert!(cut.is_err(), "{cut:?}");
    server.wait_for("crashed", Duration::from_secs(60), |_| true);
    let overlay = eventually("the crash overlay appears", Duration::from_secs(60), || {
        browser.overlay_text()
    });
    assert!(overlay.contains("the plugin crashed"), "{overlay}");
    assert!(
        overlay.contains("stack overflow in generation 2 while serving GET /deep"),
        "{overlay}"
    );
    assert!(overlay.contains("serving generation 1"), "{overlay}");

    edit(&lib, "Hello from hotdev", "Hello after the crash");
    server.wait_reloaded(3);
    eventually("the overlay goes", Duration::from_secs(30), || {
        (browser.overlay_text().is_none() && browser.body_text().contains("Hello after the crash"))
            .then_some(())
    });
    drop(browser);
    assert!(server.interrupt().success());
}
