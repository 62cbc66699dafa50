//! Save to live: an edit of a temporary copy of `examples/hello` is saved, and the clock
//! runs until the new code answers a call through [`HotPlugin`]. The time is split with the
//! dev loop's own events: change seen (save → build started), cargo's build, copy +
//! validation + load, table swap, and the first call that answers new code. Edits are
//! saved two ways, alternately: in place (`fs::write`: truncate, write, close, as VS Code
//! does) and by rename (a temporary file written, then renamed over `lib.rs`, as vim and
//! JetBrains do). Then cargo alone builds the same kind of edit (`cargo build` run
//! directly, with the watcher's arguments and, like the watcher's builds, at nice +10),
//! and the difference of the medians is hotdev's overhead on top of cargo.
//!
//! Then the same on a plugin of a realistic size (`bench/real-plugin`: serde_json and
//! regex, a 22 MB debug library), copied to `$TMPDIR/hotdev-bench-real-plugin-$USER/` so
//! that its dependencies stay built between runs: first `cargo build` as the user would (the
//! warm-up, compiling the dependencies on a first run), then the dev loop's first build
//! (the dependencies already built), then edits by hotdev and by cargo alone. Left out
//! with `--quick`.
//!
//! Prints `BENCH save_to_live ...` and `BENCH real_plugin ...` lines. `cargo bench -p
//! hotdev --bench save_to_live [-- --quick]`. Debug builds, as in a dev loop.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use hotdev::devloop::{DevEvent, HotOptions, HotPlugin};
use reloadable::web::Request;
use reloadable::web::app::{Calls, Interface as App};

const HEADING: &str = "<h1>Hello from hotdev</h1>";

/// How long an edit may take to go live before the bench stops with an error (instead of
/// waiting forever for a change the dev loop did not see).
const GIVE_UP: Duration = Duration::from_secs(300);

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let edits = if quick { 3 } else { 10 };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = tempfile::Builder::new()
        .prefix("hotdev-bench-hello")
        .tempdir()
        .expect("a temporary directory");
    let dir = copy_hello(root, work.path());
    let lib = dir.join("src/lib.rs");
    let original = std::fs::read_to_string(&lib).expect("reading hello's lib.rs");
    assert!(original.contains(HEADING), "hello's page has its heading");

    let options = HotOptions {
        report: false,
        release: false,
        ..HotOptions::default()
    };
    let (hot, events) = HotPlugin::<App>::watch_with(&dir, options).expect("watching hello");
    let events = timestamped(events);
    let request = Request {
        method: "GET".into(),
        path: "/".into(),
        ..Request::default()
    };

    let mut rows: Vec<[Duration; 6]> = Vec::new();
    let mut renamed_rows: Vec<[Duration; 6]> = Vec::new();
    for n in 1..=2 * edits {
        let by_rename = n % 2 == 0;
        let marker = format!("edit {n} of the save-to-live bench");
        thread::sleep(Duration::from_millis(300));
        while events.try_recv().is_ok() {}
        let saved = Instant::now();
        if by_rename {
            edit_by_rename(&lib, &original, &marker);
        } else {
            edit(&lib, &original, &marker);
        }
        let live = loop {
            assert!(
                saved.elapsed() < GIVE_UP,
                "edit {n} did not go live: {marker}"
            );
            let response = hot.handle(&request, &hot.state()).expect("calling hello");
            if String::from_utf8_lossy(&response.body).contains(&marker) {
                break Instant::now();
            }
            thread::sleep(Duration::from_micros(500));
        };
        let (mut build_started, mut reloaded) = (None, None);
        while reloaded.is_none() {
            let (at, event) = events
                .recv_timeout(Duration::from_secs(10))
                .expect("the reload's events");
            match event {
                DevEvent::Watch(hotdev_watcher::Event::BuildStarted { .. }) => {
                    build_started.get_or_insert(at);
                }
                DevEvent::Reloaded {
                    build, load, swap, ..
                } => reloaded = Some((at, build, load, swap)),
                _ => {}
            }
        }
        let (reloaded_at, build, load, swap) = reloaded.expect("a reload");
        let debounce = build_started.expect("a build started") - saved;
        let first_call = live.saturating_duration_since(reloaded_at);
        let row = [debounce, build, load, swap, first_call, live - saved];
        if by_rename {
            renamed_rows.push(row);
        } else {
            rows.push(row);
        }
    }
    hot.stop_watching();
    drop(hot);

    // Untimed: cargo alone builds into the crate's own target directory, which the dev
    // loop may not have used (it follows `CARGO_TARGET_DIR`).
    cargo_build(&dir, &[]);
    let mut cargo_alone = Vec::new();
    for n in 1..=edits {
        edit(&lib, &original, &format!("edit {n} built by cargo alone"));
        let started = Instant::now();
        cargo_build(&dir, &[]);
        cargo_alone.push(started.elapsed());
    }

    let names = ["debounce", "build", "load", "swap", "first_call", "total"];
    for (kind, rows) in [("hotdev", &rows), ("hotdev-rename", &renamed_rows)] {
        let column = |i: usize| rows.iter().map(|r| r[i]).collect::<Vec<_>>();
        let mut fields = vec![
            ("kind".to_string(), kind.to_string()),
            ("edits".to_string(), edits.to_string()),
        ];
        for (i, name) in names.iter().enumerate() {
            fields.extend(spread(name, &column(i)));
        }
        let overhead = median(&column(5)).as_secs_f64() - median(&cargo_alone).as_secs_f64();
        fields.push(("overhead_ms".into(), format!("{:.1}", overhead * 1e3)));
        print_line(&fields);
    }
    let mut fields = vec![
        ("kind".to_string(), "cargo".to_string()),
        ("edits".to_string(), edits.to_string()),
    ];
    fields.extend(spread("cargo_alone", &cargo_alone));
    print_line(&fields);

    if !quick {
        real_plugin(root, edits);
    }
}

/// Save to live on `bench/real-plugin`, against cargo alone; see the module docs.
fn real_plugin(root: &Path, edits: usize) {
    // Outside this repository: its `.gitignore` ignores `target/`, and the watcher would
    // apply it to a crate copied there through the `reloadable` path dependency's rules.
    // Kept between runs (not a fresh temporary directory) so that the dependencies stay
    // built.
    let target_root = std::env::temp_dir().join(format!(
        "hotdev-bench-real-plugin-{}",
        std::env::var("USER").unwrap_or_else(|_| "user".into())
    ));
    let dir = target_root.join("crate");
    let target = target_root.join("target");
    std::fs::create_dir_all(dir.join("src")).expect("creating the real plugin's copy");
    let from = root.join("bench/real-plugin");
    std::fs::copy(from.join("Cargo.lock"), dir.join("Cargo.lock")).expect("copying");
    std::fs::copy(from.join("src/lib.rs"), dir.join("src/lib.rs")).expect("copying");
    let manifest = std::fs::read_to_string(from.join("Cargo.toml")).expect("the manifest");
    let manifest = manifest.replace(
        "path = \"../../reloadable\"",
        &format!("path = {:?}", root.join("reloadable").display().to_string()),
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).expect("writing the manifest");
    let lib = dir.join("src/lib.rs");
    let original = std::fs::read_to_string(&lib).expect("reading the real plugin");
    let target_args = ["--target-dir".into(), target.clone().into_os_string()];

    let started = Instant::now();
    cargo_build(&dir, &target_args);
    let user_build = started.elapsed();

    let options = HotOptions {
        report: false,
        release: false,
        cargo_args: target_args.to_vec(),
        ..HotOptions::default()
    };
    let started = Instant::now();
    let (hot, events) =
        HotPlugin::<App>::watch_with(&dir, options).expect("watching the real plugin");
    let first_build = started.elapsed();
    let request = Request {
        method: "GET".into(),
        path: "/".into(),
        ..Request::default()
    };
    let mut hotdev = Vec::new();
    for n in 1..=edits {
        let marker = format!("real edit {n}");
        thread::sleep(Duration::from_millis(300));
        while events.try_recv().is_ok() {}
        let saved = Instant::now();
        if n % 2 == 0 {
            edit_by_rename(&lib, &original, &marker);
        } else {
            edit(&lib, &original, &marker);
        }
        loop {
            assert!(
                saved.elapsed() < GIVE_UP,
                "edit {n} did not go live: {marker}"
            );
            let response = hot
                .handle(&request, &hot.state())
                .expect("calling the plugin");
            if String::from_utf8_lossy(&response.body).contains(&marker) {
                hotdev.push(saved.elapsed());
                break;
            }
            thread::sleep(Duration::from_micros(500));
        }
    }
    hot.stop_watching();
    drop(hot);
    let mut cargo_alone = Vec::new();
    for n in 1..=edits {
        edit(&lib, &original, &format!("real edit {n} by cargo alone"));
        let started = Instant::now();
        cargo_build(&dir, &target_args);
        cargo_alone.push(started.elapsed());
    }
    std::fs::write(&lib, &original).expect("restoring the real plugin");
    let lib_bytes = std::fs::read_dir(target.join("debug"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .ends_with(std::env::consts::DLL_SUFFIX)
        })
        .map(|e| e.metadata().map_or(0, |m| m.len()))
        .max()
        .unwrap_or(0);
    let line = |tool: &str, samples: &[Duration], note: &str| {
        let mut fields = vec![
            ("tool".to_string(), tool.to_string()),
            ("edits".to_string(), samples.len().to_string()),
        ];
        fields.extend(
            spread("x", samples)
                .into_iter()
                .map(|(k, v)| (k.trim_start_matches("x_").to_string(), v)),
        );
        fields.push(("lib_bytes".into(), lib_bytes.to_string()));
        fields.push(("note".into(), note.replace(' ', "_")));
        let mut text = "BENCH real_plugin".to_string();
        for (k, v) in fields {
            text.push_str(&format!(" {k}={v}"));
        }
        println!("{text}");
    };
    line(
        "cargo-build-by-the-user",
        &[user_build],
        "the warm-up: plain cargo build of the copy, dependencies compiled on a first run",
    );
    line(
        "hotdev-first-build",
        &[first_build],
        "watch_with until the first generation is live, dependencies already built",
    );
    line(
        "hotdev",
        &hotdev,
        "save to live, in place and by rename alternately",
    );
    line(
        "cargo-alone",
        &cargo_alone,
        "the same edits, cargo build at nice +10",
    );
}

/// Copies the example's manifest, lock file and sources, pointing its `reloadable`
/// dependency at this workspace's.
fn copy_hello(root: &Path, into: &Path) -> PathBuf {
    let from = root.join("examples/hello");
    let dir = into.join("hello");
    std::fs::create_dir_all(dir.join("src")).expect("creating the copy");
    for file in ["Cargo.lock", "src/lib.rs"] {
        std::fs::copy(from.join(file), dir.join(file)).expect("copying hello");
    }
    let manifest = std::fs::read_to_string(from.join("Cargo.toml")).expect("hello's manifest");
    let reloadable = root.join("reloadable");
    let manifest = manifest.replace(
        "path = \"../../reloadable\"",
        &format!("path = {:?}", reloadable.display().to_string()),
    );
    assert!(
        manifest.contains(&*reloadable.to_string_lossy()),
        "rewrote the path"
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).expect("writing the manifest");
    dir
}

/// Saves `lib.rs` with `marker` in the page's heading.
fn edit(lib: &Path, original: &str, marker: &str) {
    let text = original.replace(HEADING, &format!("<h1>Hello from hotdev ({marker})</h1>"));
    std::fs::write(lib, text).expect("saving the edit");
}

/// Saves `lib.rs` with `marker` by writing a temporary file and renaming it over.
fn edit_by_rename(lib: &Path, original: &str, marker: &str) {
    let text = original.replace(HEADING, &format!("<h1>Hello from hotdev ({marker})</h1>"));
    let tmp = lib.with_file_name(".lib.rs.bench-tmp");
    std::fs::write(&tmp, text).expect("writing the temporary file");
    std::fs::rename(&tmp, lib).expect("renaming the edit into place");
}

/// The watcher's build command, run directly, at the watcher's lower priority (nice +10).
fn cargo_build(dir: &Path, extra: &[std::ffi::OsString]) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new("nice")
        .args(["-n", "10"])
        .arg(cargo)
        .args(["build", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .args([
            "--lib",
            "--message-format=json-diagnostic-rendered-ansi",
            "--color=never",
        ])
        .args(extra)
        .env_remove("CARGO_TARGET_DIR")
        .stdout(Stdio::null())
        .status()
        .expect("running cargo");
    assert!(status.success(), "cargo build of the edit failed");
}

/// Stamps each event with the moment it was received.
fn timestamped(events: Receiver<DevEvent>) -> Receiver<(Instant, DevEvent)> {
    let (tx, rx) = crossbeam_channel::unbounded();
    thread::spawn(move || {
        for event in events {
            if tx.send((Instant::now(), event)).is_err() {
                break;
            }
        }
    });
    rx
}

fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    sorted[sorted.len() / 2]
}

fn spread(name: &str, samples: &[Duration]) -> Vec<(String, String)> {
    let ms = |d: Duration| format!("{:.2}", d.as_secs_f64() * 1e3);
    let min = samples.iter().min().copied().unwrap_or_default();
    let max = samples.iter().max().copied().unwrap_or_default();
    vec![
        (format!("{name}_ms"), ms(median(samples))),
        (format!("{name}_min_ms"), ms(min)),
        (format!("{name}_max_ms"), ms(max)),
    ]
}

fn print_line(fields: &[(String, String)]) {
    let mut line = "BENCH save_to_live".to_string();
    for (k, v) in fields {
        line.push_str(&format!(" {k}={v}"));
    }
    println!("{line}");
}
