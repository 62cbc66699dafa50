//! The harness of the egui and ratatui examples' end-to-end tests (their
//! `host/tests/live_edit.rs` include it with `#[path]`): a copy of the example's workspace
//! that builds in its one world, and the example's scripted host driven over its standard
//! input and output.
//!
//! The host is a process of its own, built in the copy, not the test binary: a one-world
//! plugin links the interface crate's `lib<name>_api.so` of its build, and the host refuses
//! it unless that is the very file the host process mapped (HD018). The test binary is
//! built in the example's own target directory, whose world is not the copy's: it only
//! builds and drives.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Cold builds on a busy machine take minutes; the test waits for lines, never for time.
pub const BUILD: Duration = Duration::from_secs(900);

/// How long a command that builds nothing may take to answer.
pub const ANSWER: Duration = Duration::from_secs(60);

/// The copies build into one target directory, kept between runs so that the example's
/// GUI or terminal crates are compiled once; one test at a time owns it, since a test's
/// build (and an edit of the interface crate) replaces the world library that another
/// test's host has mapped.
static TARGET: Mutex<()> = Mutex::new(());

/// What tells the examples apart: the name (`egui`: packages `egui-host`, `egui-plugin`,
/// the scripted host `egui-headless`) and the crates of its workspace.
pub struct Example {
    pub name: &'static str,
    pub crates: &'static [&'static str],
}

/// A copy of this example's workspace (manifests, lockfile, `.cargo/config.toml`,
/// sources) in a fresh directory of the system's temporary directory, removed on drop.
/// Not under `target/`: the watcher ignores what `.gitignore` files ignore, and this
/// checkout's ignores `target`. Holds the target directory for the test.
pub struct Copy {
    pub example: &'static Example,
    root: PathBuf,
    target: PathBuf,
    _turn: MutexGuard<'static, ()>,
}

impl Copy {
    pub fn new(example: &'static Example) -> Copy {
        let (name, crates) = (example.name, example.crates);
        static N: AtomicU32 = AtomicU32::new(0);
        let turn = TARGET.lock().unwrap_or_else(|e| e.into_inner());
        let example_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let checkout = example_dir.join("../..").canonicalize().unwrap();
        let root = std::env::temp_dir().join(format!(
            "hotdev-{name}-live-edit-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        // A new directory, never one left by someone else.
        std::fs::create_dir(&root).unwrap();
        for file in ["Cargo.toml", "Cargo.lock"] {
            copy_file(&example_dir.join(file), &root.join(file));
        }
        for krate in crates {
            copy_tree(&example_dir.join(krate), &root.join(krate), &|text| {
                // `../../..` is this checkout of hotdev, seen from the example's crates.
                text.replace("\"../../..", &format!("\"{}", checkout.display()))
            });
        }
        // The example's one-world flags, and the shared target directory.
        let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("live-edit-target");
        let config = std::fs::read_to_string(example_dir.join(".cargo/config.toml")).unwrap();
        let with_target = config.replacen(
            "[build]\n",
            &format!("[build]\ntarget-dir = {:?}\n", target.display().to_string()),
            1,
        );
        assert_ne!(
            config, with_target,
            "the example's config has a [build] table"
        );
        std::fs::create_dir_all(root.join(".cargo")).unwrap();
        std::fs::write(root.join(".cargo/config.toml"), with_target).unwrap();
        seed(&target);
        Copy {
            example,
            root,
            target,
            _turn: turn,
        }
    }

    /// A command run in the copy, so that cargo reads its `.cargo/config.toml`; flags and
    /// a target directory from this test's environment would override it. Without the
    /// library path `cargo test` gives this binary: it lists this example's own
    /// `target/debug/deps`, which the loader searches before a binary's own run path, so
    /// the copy's host would map this example's `lib<name>_api.so` instead of the copy's.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command
            .current_dir(&self.root)
            .env_remove("LD_LIBRARY_PATH")
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_BUILD_RUSTFLAGS")
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET_DIR");
        command
    }

    pub fn cargo(&self, args: &[&str]) {
        let out = self
            .command(env!("CARGO"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("cargo runs");
        assert!(
            out.status.success(),
            "cargo {args:?} in {} failed:\n{}",
            self.root.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.root.join(file);
        let source = std::fs::read_to_string(&path).unwrap();
        let edited = source.replace(from, to);
        assert_ne!(source, edited, "{from:?} is in {file}");
        // One write, while the host runs.
        std::fs::write(&path, edited).unwrap();
    }
}

/// Gives a new target directory for the copies what this example's own build already
/// compiled: the registry crates (egui or ratatui and the rest), built with the same flags,
/// features and profile, which cargo then finds fresh, so that the copy's build compiles
/// only its own crates. A copy of the files, never links to them: the copy's build writes
/// files such as `libegui_api.so` whose names carry no hash, and must not write through
/// to this example's. Nothing is seeded into a target directory that exists already.
fn seed(target: &Path) {
    let ours = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../debug");
    let debug = target.join("debug");
    if debug.exists() || !ours.is_dir() {
        return;
    }
    std::fs::create_dir_all(&debug).unwrap();
    for part in ["deps", "build", ".fingerprint"] {
        let status = Command::new("cp")
            .arg("-a")
            .arg(ours.join(part))
            .arg(&debug)
            .status()
            .expect("cp runs");
        assert!(
            status.success(),
            "cp -a {part} into {}: {status}",
            debug.display()
        );
    }
}

impl Drop for Copy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn copy_file(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("copying {}: {e}", from.display()));
}

/// Copies a crate's folder, except build output, passing each `Cargo.toml` through `edit`.
fn copy_tree(from: &Path, to: &Path, edit: &dyn Fn(&str) -> String) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_name() == "target" {
            continue;
        } else if entry.file_type().unwrap().is_dir() {
            copy_tree(&src, &dst, edit);
        } else if entry.file_name() == "Cargo.toml" {
            std::fs::write(&dst, edit(&std::fs::read_to_string(&src).unwrap())).unwrap();
        } else {
            copy_file(&src, &dst);
        }
    }
}

/// The example's scripted host (`<name>-headless`) running on the copy's plugin, with a
/// 40×8 screen: commands go to its standard input, and its lines (standard error's
/// prefixed `stderr: `) come back in the order they were printed. Killed on drop.
pub struct Host {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    /// Every line read so far, for the failure messages.
    seen: Vec<String>,
}

impl Host {
    /// Builds the copy's host and plugin together (as the dev loop's builds do: no world
    /// library is rebuilt after), starts the host and waits for its first generation.
    pub fn start(copy: &Copy) -> Host {
        let name = copy.example.name;
        let (host, plugin) = (format!("{name}-host"), format!("{name}-plugin"));
        copy.cargo(&["build", "-p", &host, "-p", &plugin]);
        // Started directly: the paths of std's and the world's libraries are in the
        // binary (`-C rpath`).
        let mut child = copy
            .command(copy.target.join(format!("debug/{name}-headless")))
            .args([
                copy.root.join("plugin").as_os_str(),
                "40".as_ref(),
                "8".as_ref(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{name}-headless starts: {e}"));
        let (tx, lines) = channel();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let err_tx = tx.clone();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let _ = err_tx.send(format!("stderr: {line}"));
            }
        });
        let stdin = child.stdin.take().unwrap();
        let mut host = Host {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        };
        // The copy's plugin was built above; this is its load (and a build that finds
        // nothing to do).
        assert_eq!(
            host.expect("the first generation", BUILD, |l| l.starts_with("ready ")),
            "ready 1"
        );
        host
    }

    pub fn send(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").expect("the host reads its commands");
    }

    /// The next line for which `wanted` holds, within `within`. A refusal, a failed build
    /// or an error that `wanted` does not take fails the test at once.
    pub fn expect(
        &mut self,
        what: &str,
        within: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + within;
        loop {
            let line = match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => panic!(
                    "no line for {what} within {within:?}; the host printed:\n{}",
                    self.seen.join("\n")
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "the host ended ({:?}) before {what}; it printed:\n{}",
                    self.child.wait(),
                    self.seen.join("\n")
                ),
            };
            self.seen.push(line.clone());
            if wanted(&line) {
                return line;
            }
            let bad = ["refused ", "build-failed ", "error "];
            if bad.iter().any(|b| line.starts_with(b)) {
                panic!(
                    "waiting for {what}, the host printed:\n{}",
                    self.seen.join("\n")
                );
            }
        }
    }

    /// The host's `App`, as its `state` command prints it.
    pub fn state(&mut self) -> String {
        self.send("state");
        let state = self.expect("the state", ANSWER, |l| l.starts_with("state "));
        state["state ".len()..].to_owned()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
