//! The counter example end to end: the host runs, the plugin's source is edited, the new
//! code answers with the count intact, and Ctrl-C shuts everything down cleanly.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

const BUILD: Duration = Duration::from_secs(240);

/// Copies the example's interface and plugin crates into `dir`, pointing their
/// `reloadable` dependency at this checkout.
fn copy_example(dir: &Path) -> PathBuf {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let reloadable = example.join("../../reloadable").canonicalize().unwrap();
    for krate in ["interface", "plugin"] {
        std::fs::create_dir_all(dir.join(krate).join("src")).unwrap();
        let manifest = std::fs::read_to_string(example.join(krate).join("Cargo.toml")).unwrap();
        let manifest = manifest.replace("../../../reloadable", &reloadable.to_string_lossy());
        std::fs::write(dir.join(krate).join("Cargo.toml"), manifest).unwrap();
        std::fs::copy(
            example.join(krate).join("src/lib.rs"),
            dir.join(krate).join("src/lib.rs"),
        )
        .unwrap();
    }
    dir.join("plugin")
}

fn lines(stream: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_line(
    rx: &Receiver<String>,
    timeout: Duration,
    mut pred: impl FnMut(&str) -> bool,
) -> String {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(l) if pred(&l) => return l,
            Ok(l) => seen.push(l),
            Err(_) => panic!(
                "no matching line within {timeout:?}; saw:\n{}",
                seen.join("\n")
            ),
        }
    }
}

/// Runs the counter host on `plugin_dir`, ticking every 50 ms; returns its stdout and
/// stderr as channels of lines.
fn start_host(plugin_dir: &Path) -> (std::process::Child, Receiver<String>, Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_counter-host"))
        .arg(plugin_dir)
        .args(["--interval-ms", "50"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = lines(child.stdout.take().unwrap());
    let err = lines(child.stderr.take().unwrap());
    (child, out, err)
}

/// Sends SIGINT (Ctrl-C) and waits for the process to exit.
fn ctrl_c(child: &mut std::process::Child) -> std::process::ExitStatus {
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "the host did not stop after Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What is left in the plugin's shadow directory.
fn shadow_copies(plugin_dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(plugin_dir.join("target/hotdev-shadow"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

fn count(line: &str) -> u64 {
    line.split("count = ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn editing_the_plugin_changes_behaviour_and_keeps_the_count() {
    let tmp = tempfile::tempdir().unwrap();
    let plugin_dir = copy_example(tmp.path());
    let (mut child, out, err) = start_host(&plugin_dir);

    let first = wait_line(&out, BUILD, |l| {
        l.starts_with("[generation 1]") && count(l) >= 3
    });
    assert!(first.contains("(+1 per step)"), "{first}");

    let lib = plugin_dir.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(
        &lib,
        source.replace("const STEP: u64 = 1;", "const STEP: u64 = 1000;"),
    )
    .unwrap();

    // The last line of generation 1 and the first of generation 2: the host ticks every
    // 50 ms while the build runs, so every line in between is read (a slow build on a
    // loaded machine prints many).
    let mut before = first.clone();
    let after = wait_line(&out, BUILD, |l| {
        if l.starts_with("[generation 1]") {
            before = l.to_string();
        }
        l.starts_with("[generation 2]")
    });
    assert!(after.contains("(+1000 per step)"), "{after}");
    let (b, a) = (count(&before), count(&after));
    assert!(
        a >= b + 1000 && (a - b) % 1000 <= 10,
        "the count carried on: {b} then {a}"
    );

    // Ctrl-C: a graceful stop, exit status 0, shadow copies removed.
    let status = ctrl_c(&mut child);
    assert!(status.success(), "{status:?}");
    wait_line(&err, Duration::from_secs(10), |l| {
        l.contains("stopped after")
    });
    let left = shadow_copies(&plugin_dir);
    assert!(left.is_empty(), "shadow copies left behind: {left:?}");
}

/// The processes (other than this test) whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .chars()
                .all(|c| c.is_ascii_digit())
        })
        .filter(|e| e.file_name().to_string_lossy() != me)
        .filter_map(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            cmdline
                .contains(needle)
                .then(|| format!("{}: {cmdline}", e.file_name().to_string_lossy()))
        })
        .collect()
}

#[test]
fn ctrl_c_during_a_build_leaves_no_cargo_or_rustc_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let plugin_dir = copy_example(tmp.path());
    // A build script that takes a while makes sure the interrupt lands mid-build.
    let manifest = plugin_dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace("[lib]", "build = \"build.rs\"\n\n[lib]"),
    )
    .unwrap();
    std::fs::write(
        plugin_dir.join("build.rs"),
        "fn main() {\n    println!(\"cargo:rerun-if-changed=src/lib.rs\");\n    \
         if std::path::Path::new(\"slow\").exists() {\n        \
         std::thread::sleep(std::time::Duration::from_secs(60));\n    }\n}\n",
    )
    .unwrap();
    let (mut child, out, err) = start_host(&plugin_dir);
    wait_line(&out, BUILD, |l| l.starts_with("[generation 1]"));

    // The next build sleeps in its build script.
    std::fs::write(plugin_dir.join("slow"), b"").unwrap();
    let lib = plugin_dir.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(
        &lib,
        source.replace("const STEP: u64 = 1;", "const STEP: u64 = 2;"),
    )
    .unwrap();
    wait_line(&err, BUILD, |l| l.contains("building"));
    let needle = tmp.path().to_string_lossy().into_owned();
    let deadline = Instant::now() + BUILD;
    while !processes_mentioning(&needle)
        .iter()
        .any(|p| p.contains("build-script"))
    {
        assert!(
            Instant::now() < deadline,
            "the slow build script never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let status = ctrl_c(&mut child);
    assert!(status.success(), "{status:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = processes_mentioning(&needle);
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "processes left behind: {left:#?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = shadow_copies(&plugin_dir);
    assert!(left.is_empty(), "shadow copies left behind: {left:?}");
}
