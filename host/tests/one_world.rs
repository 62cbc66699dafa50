//! A Rust-typed plugin in its host's one world (`host/tests/one-world`: an interface crate
//! linked as a Rust dylib, a plugin dylib, a host program, built with `-C prefer-dynamic`):
//! code the plugin made runs on the host's tokio, panics as host code does, traces through
//! the host's subscriber and shares one rayon pool, and a plugin built for another world,
//! or needing a symbol its world lacks, is refused with its code instead of crashing.
//!
//! Each test builds the fixture workspace with cargo (its first build takes a minute) and
//! drives its host program; the tests take turns, since two of them rebuild the world.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// One test at a time owns the fixture's target directory: a lock across the threads of
/// this binary, and a file lock across processes (`tests/check.rs` builds it too).
static FIXTURE: Mutex<()> = Mutex::new(());

/// Holds the fixture for one test.
struct Fixture {
    _file: std::fs::File,
    _threads: MutexGuard<'static, ()>,
}

/// Takes the fixture's file lock.
fn lock_file() -> std::fs::File {
    let dir = workspace().join("target");
    std::fs::create_dir_all(&dir).unwrap();
    let file = std::fs::File::create(dir.join("fixture.lock")).unwrap();
    file.lock().unwrap();
    file
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/one-world")
}

fn cargo(args: &[&str]) {
    let out = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(workspace())
        // The workspace's own `.cargo/config.toml` sets the one world's flags; flags from
        // the environment (a `--cfg loom` run, a coverage run) would replace them.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .stdin(Stdio::null())
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds host and plugin together, as `HotPlugin` and `hotdev run` do, and holds the
/// fixture for the test.
fn built() -> Fixture {
    let threads = FIXTURE.lock().unwrap_or_else(|e| e.into_inner());
    let file = lock_file();
    cargo(&["build", "-p", "world-host", "-p", "world-plugin"]);
    Fixture {
        _file: file,
        _threads: threads,
    }
}

fn target(file: &str) -> PathBuf {
    workspace().join("target/debug").join(file)
}

fn plugin() -> PathBuf {
    target("libworld_plugin.so")
}

/// Runs the host program on `plugin` with `scenarios`: its standard output, and whether it
/// succeeded.
fn run_host(plugin: &Path, scenarios: &[&str]) -> (String, bool) {
    // Started directly, not by cargo: the run-time paths of std's and the world's
    // libraries come from the binary itself (`-C rpath`).
    let out = Command::new(target("world-host"))
        .arg(plugin)
        .args(scenarios)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .output()
        .expect("the host runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("foreign exception") && !stderr.contains("symbol lookup error"),
        "the host died of a second world: {stderr}"
    );
    (stdout + &stderr, out.status.success())
}

fn line<'a>(out: &'a str, scenario: &str) -> &'a str {
    let prefix = format!("{scenario}: ");
    out.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no result for {scenario} in:\n{out}"))
}

#[test]
fn plugin_futures_run_on_the_hosts_tokio_sleep_spawn_and_contain_a_task_panic() {
    let _fixture = built();
    let (out, ok) = run_host(&plugin(), &["sleep", "spawn", "task-panic", "sleep"]);
    assert!(ok, "{out}");
    assert_eq!(line(&out, "sleep"), "slept 20 ms", "{out}");
    assert_eq!(line(&out, "spawn"), "45", "{out}");
    // The task's panic was caught by the host's tokio, as a host task's would be, and
    // the host went on to the next scenario.
    assert_eq!(line(&out, "task-panic"), "99", "{out}");
    assert!(out.contains("boom in a plugin task"), "{out}");
    assert_eq!(out.matches("slept 20 ms").count(), 2, "{out}");
}

#[test]
fn plugin_futures_see_the_hosts_task_locals_and_do_io_on_its_reactor() {
    let _fixture = built();
    let (out, ok) = run_host(&plugin(), &["task-local", "net"]);
    assert!(ok, "{out}");
    // The host scoped the task-local (declared in the world) around the plugin's future.
    assert_eq!(line(&out, "task-local"), "7", "{out}");
    assert_eq!(line(&out, "net"), "OVER LOOPBACK", "{out}");
}

#[test]
fn a_panic_in_a_plugin_closure_on_a_plain_host_thread_is_a_host_panic() {
    let _fixture = built();
    let (out, ok) = run_host(
        &plugin(),
        &["closure-panic", "call-panic", "call-error", "sleep"],
    );
    assert!(ok, "{out}");
    // `JoinHandle::join` returns the panic's payload, which the host can read: the same
    // std raised and caught it.
    assert_eq!(
        line(&out, "closure-panic"),
        "panicked: boom in a plugin closure",
        "{out}"
    );
    assert_eq!(line(&out, "call-panic"), "caught by the host", "{out}");
    // A panic inside a call through the table is still returned as an error, with the
    // plugin's location, and the host goes on.
    let error = line(&out, "call-error");
    assert!(error.starts_with("error: "), "{error}");
    assert!(error.contains("explode 3"), "{error}");
    assert!(error.contains("plugin/src/lib.rs:"), "{error}");
    // The host's panic hook reported it, with the plugin's source location.
    assert!(out.contains("panicked at plugin/src/lib.rs"), "{out}");
    assert_eq!(line(&out, "sleep"), "slept 20 ms", "{out}");
}

#[test]
fn plugin_tracing_reaches_the_hosts_subscriber_with_span_fields() {
    let _fixture = built();
    let (out, ok) = run_host(&plugin(), &["tracing"]);
    assert!(ok, "{out}");
    let traced = line(&out, "tracing");
    assert!(traced.starts_with("42 "), "{traced}");
    assert!(
        traced.contains("request{id=21 route=\"/traced\"}"),
        "the span and its fields: {traced}"
    );
    assert!(traced.contains("answer=42"), "the event's field: {traced}");
}

#[test]
fn plugin_log_records_reach_the_hosts_logger_with_no_bridge() {
    let _fixture = built();
    // The host's tracing-subscriber set the one `log` logger (its `LogTracer`).
    let (out, ok) = run_host(&plugin(), &["log"]);
    assert!(ok, "{out}");
    let record = line(&out, "log");
    assert!(
        record.contains("a log record from the plugin, id 5"),
        "{record}"
    );
    assert!(record.contains("INFO"), "{record}");
}

#[test]
fn one_rayon_pool_serves_every_generation_the_thread_count_stays_flat() {
    let _fixture = built();
    let (out, ok) = run_host(&plugin(), &["rayon"]);
    assert!(ok, "{out}");
    let result = line(&out, "rayon");
    let counts: Vec<usize> = result
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    assert_eq!(counts.len(), 3, "{result}");
    assert_eq!(
        counts[0], counts[1],
        "threads grew over ten reloads: {result}"
    );
}

#[test]
fn a_plugin_needing_a_symbol_its_world_lacks_is_refused_with_hd017() {
    let _fixture = built();
    cargo(&[
        "build",
        "-p",
        "world-host",
        "-p",
        "world-plugin",
        "--features",
        "world-plugin/missing",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("libworld_plugin.so");
    std::fs::copy(plugin(), &missing).unwrap();
    cargo(&["build", "-p", "world-host", "-p", "world-plugin"]);
    let (out, ok) = run_host(&missing, &["sleep"]);
    assert!(!ok, "{out}");
    assert!(out.contains("refused: HD017"), "{out}");
    assert!(
        out.contains("`world_api_x::nowhere`"),
        "names the symbol: {out}"
    );
}

#[test]
fn a_plugin_built_for_a_rebuilt_world_is_refused_with_hd018_and_the_host_goes_on() {
    let _fixture = built();
    let mut host = Command::new(target("world-host"))
        .arg(plugin())
        .args(["wait-reload", "sleep"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = host.stdin.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = host.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let next = |what: &str| {
        rx.recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("the host printed nothing for {what}"))
    };
    // A reload of a build of the same world goes live.
    writeln!(stdin, "{}", plugin().display()).unwrap();
    assert_eq!(next("the first reload"), "reloaded one");
    // The plugin built with a feature of a world crate (as a dependency added or changed,
    // or `cargo build -p plugin` resolving other features, would): cargo rebuilds the
    // world library under the running host.
    cargo(&["build", "-p", "world-plugin", "--features", "more"]);
    writeln!(stdin, "{}", plugin().display()).unwrap();
    let refused = next("the reload of another world");
    assert!(refused.starts_with("refused HD018"), "{refused}");
    assert!(refused.contains("libworld_api.so"), "{refused}");
    assert!(
        refused.contains("rebuilt since this process loaded it"),
        "{refused}"
    );
    drop(stdin);
    let _ = next("the end of the reloads");
    // The generation it had goes on serving.
    assert_eq!(next("the sleep after"), "sleep: slept 20 ms");
    assert!(host.wait().unwrap().success());
    // The world as the host builds it, for the other tests.
    cargo(&["build", "-p", "world-host", "-p", "world-plugin"]);
}

#[test]
fn a_host_that_links_std_statically_refuses_a_one_world_plugin_with_hd018() {
    let _fixture = built();
    // This test program links std statically: the plugin would bring a second std.
    let bytes = std::fs::read(plugin()).unwrap();
    let err = hotdev_host::world::check(&plugin(), &bytes[..]).unwrap_err();
    assert_eq!(err.code(), "HD018", "{err}");
    let message = err.to_string();
    assert!(message.contains("libworld_api.so"), "{message}");
    assert!(message.contains("links std statically"), "{message}");
}
