//! Edit to page: how long from saving a file of `examples/hello` (a temporary copy) to the
//! open page in headless Chromium showing it, under `hotdev serve`:
//!
//! - `stylesheet`: a colour in `static/style.css` is saved; the clock stops when the
//!   heading's computed colour in the page is the new one (no build, no reload);
//! - `rust`: the heading's text in `src/lib.rs` is saved; the clock stops when the page
//!   (rebuilt, swapped and reloaded by the live-reload script) shows the new text.
//!
//! The page is polled over WebDriver as fast as chromedriver answers (a few ms a round
//! trip, the resolution of these figures). Prints `BENCH edit_to_page ...` lines.
//! `cargo bench -p hotdev --bench edit_to_page [-- --quick]`. Needs Debian's `chromium`
//! and `chromium-driver`; without them it says so and prints nothing. The plugin is built
//! in debug, as in a dev loop.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use support::browser::{Browser, browser_available};
use support::{BUILD_TIMEOUT, Server};

const COLOURS: [(&str, &str); 2] = [
    ("#dc2626", "rgb(220, 38, 38)"),
    ("#16a34a", "rgb(22, 163, 74)"),
];

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let edits = if quick { 3 } else { 10 };
    if !browser_available() {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = tempfile::Builder::new()
        .prefix("hotdev-bench-edit-to-page")
        .tempdir()
        .expect("a temporary directory");
    let dir = copy_hello(root, work.path());
    let lib = dir.join("src/lib.rs");
    let style = dir.join("static/style.css");
    let original_lib = std::fs::read_to_string(&lib).expect("hello's lib.rs");
    let original_style = std::fs::read_to_string(&style).expect("hello's style.css");
    assert!(original_style.contains("color: #1d4ed8;"));

    let mut server = Server::start(&dir, work.path());
    server.wait_reloaded(1);
    let browser = Browser::start(&work.path().join("chromium-profile"));
    browser.open(&format!("http://{}/", server.addr));

    // A reload would replace the document and drop this mark.
    browser.eval("window.__benchMark = true; return null;");
    let mut stylesheet = Vec::new();
    for n in 0..edits {
        let (hex, rgb) = COLOURS[n % 2];
        thread::sleep(Duration::from_millis(300));
        let saved = Instant::now();
        std::fs::write(
            &style,
            original_style.replace("color: #1d4ed8;", &format!("color: {hex};")),
        )
        .expect("saving the stylesheet");
        let script = "var h = document.querySelector('h1'); \
                      return h ? getComputedStyle(h).color : null;";
        poll_until(&browser, script, |v| v == rgb);
        stylesheet.push(saved.elapsed());
        server.wait_for("asset_changed", BUILD_TIMEOUT, |_| true);
    }
    let same_document = browser.eval("return window.__benchMark === true;");

    let mut rust = Vec::new();
    for n in 1..=edits {
        let marker = format!("edit {n} of the edit-to-page bench");
        thread::sleep(Duration::from_millis(300));
        let saved = Instant::now();
        std::fs::write(
            &lib,
            original_lib.replace(
                "<h1>Hello from hotdev</h1>",
                &format!("<h1>Hello from hotdev ({marker})</h1>"),
            ),
        )
        .expect("saving lib.rs");
        let script = "var h = document.querySelector('h1'); return h ? h.textContent : null;";
        poll_until(&browser, script, |v| {
            v.as_str().is_some_and(|text| text.contains(&marker))
        });
        rust.push(saved.elapsed());
        server.wait_reloaded(n as u64 + 1);
    }
    drop(browser);
    let _ = server.interrupt();

    print_line("stylesheet", &stylesheet, "no_build_no_reload");
    print_line("rust", &rust, "build_swap_reload");
    // Kept honest: the stylesheet edits did not reload the page.
    assert_eq!(same_document, true, "a stylesheet edit reloaded the page");
}

/// Evaluates `script` in the page until `done` accepts its value (errors while the page is
/// reloading are retried).
fn poll_until(browser: &Browser, script: &str, done: impl Fn(&serde_json::Value) -> bool) {
    let deadline = Instant::now() + BUILD_TIMEOUT;
    loop {
        if browser.try_eval(script).is_some_and(|v| done(&v)) {
            return;
        }
        assert!(Instant::now() < deadline, "the page never showed the edit");
    }
}

/// Copies the example's manifest, lock file, sources and static files, pointing its
/// `reloadable` dependency at this workspace's.
fn copy_hello(root: &Path, into: &Path) -> PathBuf {
    let from = root.join("examples/hello");
    let dir = into.join("hello");
    std::fs::create_dir_all(dir.join("src")).expect("creating the copy");
    std::fs::create_dir_all(dir.join("static")).expect("creating the copy");
    for file in ["Cargo.lock", "src/lib.rs", "static/style.css"] {
        std::fs::copy(from.join(file), dir.join(file)).expect("copying hello");
    }
    let manifest = std::fs::read_to_string(from.join("Cargo.toml")).expect("hello's manifest");
    let reloadable = root.join("reloadable");
    let manifest = manifest.replace(
        "path = \"../../reloadable\"",
        &format!("path = {:?}", reloadable.display().to_string()),
    );
    assert!(manifest.contains(&*reloadable.to_string_lossy()));
    std::fs::write(dir.join("Cargo.toml"), manifest).expect("writing the manifest");
    dir
}

fn print_line(kind: &str, samples: &[Duration], note: &str) {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let ms = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1e3);
    println!(
        "BENCH edit_to_page kind={kind} edits={} median_ms={} min_ms={} max_ms={} note={note}",
        sorted.len(),
        ms(sorted[sorted.len() / 2]),
        ms(sorted[0]),
        ms(sorted[sorted.len() - 1]),
    );
}
