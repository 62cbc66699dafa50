//! hot-lib-reloader's minimal, reload-events and serialized-state examples, ported to
//! hotdev (`examples/`): each host runs with `cargo run`, one edit of its library is
//! saved, and the new code answers with the host's state intact.
//!
//! The examples use Rust-typed interfaces, so host and library must be built in one
//! workspace: the three are copied into a temporary workspace of their own (their
//! `reloadable` and `hotdev` dependencies pointing at this checkout), built into one target
//! directory that is kept between runs.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

/// Generous: the first run builds hotdev and serde in a fresh target directory.
const BUILD: Duration = Duration::from_secs(600);

const EXAMPLES: [&str; 3] = ["minimal", "reload-events", "serialized-state"];

/// The temporary workspace holding the three examples, copied once per test run. It lies
/// outside this repository: under it, the repository's `.gitignore` (`/target`) would
/// apply and the watcher would rightly ignore every edit.
fn workspace() -> &'static Path {
    static WS: OnceLock<tempfile::TempDir> = OnceLock::new();
    WS.get_or_init(|| {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = tempfile::Builder::new()
            .prefix("hotdev-from-hot-lib-reloader-")
            .tempdir()
            .unwrap();
        let ws = dir.path();
        let mut members = Vec::new();
        for example in EXAMPLES {
            for krate in ["", "lib"] {
                let from = repo.join("examples").join(example).join(krate);
                let to = ws.join(example).join(krate);
                std::fs::create_dir_all(to.join("src")).unwrap();
                let manifest = std::fs::read_to_string(from.join("Cargo.toml"))
                    .unwrap()
                    .replace(
                        "\"../../../reloadable\"",
                        &format!("{:?}", repo.join("reloadable")),
                    )
                    .replace(
                        "\"../../reloadable\"",
                        &format!("{:?}", repo.join("reloadable")),
                    )
                    .replace("\"../..\"", &format!("{:?}", repo));
                std::fs::write(to.join("Cargo.toml"), manifest).unwrap();
                for file in std::fs::read_dir(from.join("src")).unwrap() {
                    let file = file.unwrap().path();
                    std::fs::copy(&file, to.join("src").join(file.file_name().unwrap())).unwrap();
                }
                members.push(format!("{:?}", Path::new(example).join(krate)));
            }
        }
        std::fs::write(
            ws.join("Cargo.toml"),
            format!(
                "[workspace]\nmembers = [{}]\nresolver = \"3\"\n",
                members.join(", ")
            ),
        )
        .unwrap();
        dir
    })
    .path()
}

/// Shared with tests/run.rs, whose copy of the greeter example builds hotdev and its
/// dependencies too: they compile once per run.
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("examples-target")
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

/// Waits for a line matching `pred`; returns it and the lines before it.
fn wait_line(
    rx: &Receiver<String>,
    timeout: Duration,
    pred: impl Fn(&str) -> bool,
) -> (String, Vec<String>) {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(l) if pred(&l) => return (l, seen),
            Ok(l) => seen.push(l),
            Err(_) => panic!(
                "no matching line within {timeout:?}; saw:\n{}",
                seen.join("\n")
            ),
        }
    }
}

/// A host started with `cargo run -p PACKAGE -- ARGS`, killed when dropped.
struct Host {
    child: Child,
    out: Receiver<String>,
    err: Receiver<String>,
}

impl Host {
    fn start(package: &str, args: &[&str]) -> Host {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut child = Command::new(cargo)
            .current_dir(workspace())
            .args(["run", "--quiet", "-p", package, "--"])
            .args(args)
            .env("CARGO_TARGET_DIR", target_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = lines(child.stdout.take().unwrap());
        let err = lines(child.stderr.take().unwrap());
        Host { child, out, err }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for line in self.err.try_iter() {
            eprintln!("host stderr: {line}");
        }
    }
}

fn edit(file: &Path, from: &str, to: &str) {
    let source = std::fs::read_to_string(file).unwrap();
    assert!(source.contains(from), "{} has no {from:?}", file.display());
    std::fs::write(file, source.replace(from, to)).unwrap();
}

fn iteration(line: &str) -> usize {
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn minimal_an_edit_goes_live_and_the_count_goes_on() {
    let host = Host::start("minimal", &["50"]);
    let (first, _) = wait_line(&host.out, BUILD, |l| {
        l.starts_with("doing stuff in iteration")
    });
    let before = iteration(&first);
    edit(
        &workspace().join("minimal/lib/src/lib.rs"),
        "doing stuff in",
        "doing more stuff in",
    );
    let (after, _) = wait_line(&host.out, BUILD, |l| {
        l.starts_with("doing more stuff in iteration")
    });
    assert!(iteration(&after) > before, "{before} then {after}");
}

#[test]
fn reload_events_the_host_saves_before_the_swap_and_restores_after() {
    let host = Host::start("reload-events", &["50"]);
    wait_line(&host.out, BUILD, |l| {
        l.starts_with("doing stuff in iteration")
    });
    edit(
        &workspace().join("reload-events/lib/src/lib.rs"),
        "doing stuff in",
        "doing more stuff in",
    );
    let (_, before) = wait_line(&host.out, BUILD, |l| {
        l == "about to reload: saving the state first"
    });
    let last = before
        .iter()
        .rev()
        .find(|l| l.starts_with("doing stuff in iteration"))
        .map(|l| iteration(l))
        .expect("iterations before the reload");
    wait_line(&host.out, BUILD, |l| l == "...ready for the reload");
    let (live, between) = wait_line(&host.out, BUILD, |l| l.contains("is live, state restored"));
    assert!(live.contains("generation 2"), "{live}");
    assert!(
        between.iter().all(|l| !l.contains("iteration")),
        "no call while the swap was held: {between:?}"
    );
    let (after, _) = wait_line(&host.out, BUILD, |l| {
        l.starts_with("doing more stuff in iteration")
    });
    assert_eq!(iteration(&after), last + 1, "the restored state goes on");
}

#[test]
fn serialized_state_one_step_per_reload_with_a_changed_inner_state() {
    let host = Host::start("serialized-state", &[]);
    wait_line(&host.out, BUILD, |l| l == "version 1: InnerState");
    edit(
        &workspace().join("serialized-state/lib/src/lib.rs"),
        "struct InnerState {}",
        "struct InnerState {\n    #[serde(default)]\n    reloaded: bool,\n}",
    );
    wait_line(&host.out, BUILD, |l| {
        l == "version 2: InnerState { reloaded: false }"
    });
}
