//! The ratatui example end to end, in its one world: a copy of the workspace is built, its
//! headless host (`tui-headless`, this package's second program) loads the copy's plugin
//! and draws on ratatui's `TestBackend`, the plugin's source is edited while it runs, and
//! the next frame shows the new text while the host's `App` (a `Vec<String>` and a
//! `HashMap`) keeps the tasks marked done.
//!
//! The host is a process of its own, built in the copy, not this test binary: a one-world
//! plugin links the interface crate's `libtui_api.so` of its build, and the host refuses
//! it unless that is the very file the host process mapped (HD018). This binary is built in
//! `examples/tui/target`, whose world is not the copy's: it only builds and drives.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Cold builds on a busy machine take minutes; the test waits for lines, never for time.
const BUILD: Duration = Duration::from_secs(900);

/// How long a command that builds nothing may take to answer.
const ANSWER: Duration = Duration::from_secs(60);

/// The copies build into one target directory, kept between runs so that ratatui is
/// compiled once; one test at a time owns it, since a test's build (and the edit of
/// `tui-api`) replaces the world library that another test's host has mapped.
static TARGET: Mutex<()> = Mutex::new(());

/// A copy of this example's workspace (manifests, lockfile, `.cargo/config.toml`,
/// sources) in a fresh directory of the system's temporary directory, removed on drop.
/// Not under `target/`: the watcher ignores what `.gitignore` files ignore, and this
/// checkout's ignores `target`. Holds the target directory for the test.
struct Copy {
    root: PathBuf,
    target: PathBuf,
    _turn: MutexGuard<'static, ()>,
}

impl Copy {
    fn new() -> Copy {
        static N: AtomicU32 = AtomicU32::new(0);
        let turn = TARGET.lock().unwrap_or_else(|e| e.into_inner());
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let checkout = example.join("../..").canonicalize().unwrap();
        let root = std::env::temp_dir().join(format!(
            "hotdev-tui-live-edit-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        // A new directory, never one left by someone else.
        std::fs::create_dir(&root).unwrap();
        for file in ["Cargo.toml", "Cargo.lock"] {
            copy_file(&example.join(file), &root.join(file));
        }
        for krate in ["api", "plugin", "host"] {
            copy_tree(&example.join(krate), &root.join(krate), &|text| {
                // `../../..` is this checkout of hotdev, seen from the example's crates.
                text.replace("\"../../..", &format!("\"{}", checkout.display()))
            });
        }
        // The example's one-world flags, and the shared target directory.
        let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("live-edit-target");
        let config = std::fs::read_to_string(example.join(".cargo/config.toml")).unwrap();
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
            root,
            target,
            _turn: turn,
        }
    }

    /// A command run in the copy, so that cargo reads its `.cargo/config.toml`; flags and
    /// a target directory from this test's environment would override it. Without the
    /// library path `cargo test` gives this binary: it lists this example's own
    /// `target/debug/deps`, which the loader searches before a binary's own run path, so
    /// the copy's host would map this example's `libtui_api.so` instead of the copy's.
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

    fn cargo(&self, args: &[&str]) {
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

    fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.root.join(file);
        let source = std::fs::read_to_string(&path).unwrap();
        let edited = source.replace(from, to);
        assert_ne!(source, edited, "{from:?} is in {file}");
        // One write, while the host runs.
        std::fs::write(&path, edited).unwrap();
    }
}

/// Gives a new target directory for the copies what this example's own build already
/// compiled: the registry crates (ratatui, crossterm and the rest), built with the same flags,
/// features and profile, which cargo then finds fresh, so that the copy's build compiles
/// only its own crates. A copy of the files, never links to them: the copy's build writes
/// files such as `libtui_api.so` whose names carry no hash, and must not write through
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

/// `tui-headless` running on the copy's plugin with a 40×8 test terminal: commands go to
/// its standard input, and its lines (standard error's prefixed `stderr: `) come back in
/// the order they were printed. Killed on drop.
struct Host {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    /// Every line read so far, for the failure messages.
    seen: Vec<String>,
}

impl Host {
    /// Builds the copy's host and plugin together (as the dev loop's builds do: no world
    /// library is rebuilt after), starts the host and waits for its first generation.
    fn start(copy: &Copy) -> Host {
        copy.cargo(&["build", "-p", "tui-host", "-p", "tui-plugin"]);
        // Started directly: the paths of std's and the world's libraries are in the
        // binary (`-C rpath`).
        let mut child = copy
            .command(copy.target.join("debug/tui-headless"))
            .args([
                copy.root.join("plugin").as_os_str(),
                "40".as_ref(),
                "8".as_ref(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tui-headless starts");
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

    fn send(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").expect("the host reads its commands");
    }

    /// The next line for which `wanted` holds, within `within`. A refusal, a failed build
    /// or an error that `wanted` does not take fails the test at once.
    fn expect(&mut self, what: &str, within: Duration, wanted: impl Fn(&str) -> bool) -> String {
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

    /// Draws a frame: the generation that drew it, and the screen, one string per row.
    fn draw(&mut self) -> (u64, Vec<String>) {
        self.send("draw");
        let header = self.expect("a frame", ANSWER, |l| l.starts_with("frame "));
        let mut words = header.split(' ').skip(1).map(|n| n.parse::<u64>().unwrap());
        let (generation, rows) = (words.next().unwrap(), words.next().unwrap());
        let screen = (0..rows)
            .map(|_| {
                let row = self.expect("a row", ANSWER, |l| l.starts_with("row "));
                row["row ".len()..].to_owned()
            })
            .collect();
        (generation, screen)
    }

    /// The host's `App`: `selected=N done=A,B`.
    fn state(&mut self) -> String {
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

#[test]
fn editing_the_plugin_changes_the_next_frame_and_keeps_the_app() {
    let copy = Copy::new();
    let mut host = Host::start(&copy);
    host.send("tasks write,run,edit");

    // Move down, mark "run" done; move down, mark "edit" done and undone again.
    host.send("keys j j  ");
    assert_eq!(host.state(), "selected=2 done=run");
    host.send("status gen 1");
    assert_eq!(
        host.draw(),
        (
            1,
            [
                "┌Tasks─────────────────────────────────┐",
                "│  [ ] write                           │",
                "│  [x] run                             │",
                "│> [ ] edit                            │",
                "│                                      │",
                "│                                      │",
                "└─────────────────────────────────gen 1┘",
                "j/k: move   space: done   q: quit       ",
            ]
            .map(String::from)
            .to_vec()
        )
    );

    // One write of the plugin's source, while the host holds its terminal and app.
    copy.edit(
        "plugin/src/lib.rs",
        "const TITLE: &str = \"Tasks\";",
        "const TITLE: &str = \"Edited while running\";",
    );
    let reloaded = host.expect("the reload", BUILD, |l| l.starts_with("reloaded "));
    assert_eq!(reloaded, "reloaded 2");

    host.send("status gen 2");
    let (generation, screen) = host.draw();
    assert_eq!(generation, 2);
    assert_eq!(
        screen[0], "┌Edited while running──────────────────┐",
        "{screen:#?}"
    );
    // The tasks done before the edit are still done, and the new code adds to them.
    assert_eq!(
        screen[2], "│  [x] run                             │",
        "{screen:#?}"
    );
    host.send("keys kk ");
    assert_eq!(host.state(), "selected=0 done=run,write");
    let (generation, screen) = host.draw();
    assert_eq!(generation, 2);
    assert_eq!(
        screen[1], "│> [x] write                           │",
        "{screen:#?}"
    );
    assert_eq!(
        screen[2], "│  [x] run                             │",
        "{screen:#?}"
    );
}

/// An edit of `tui-api`, which the host compiled too, changes what the host's `App` means
/// to a rebuilt plugin without changing its identity, and rebuilds the world library the
/// host has mapped: the dev loop refuses the rebuilt plugin (HD016, a change outside the
/// plugin crate; HD018, the world rebuilt) instead of loading code that disagrees with the
/// host, and the running generation keeps drawing and handling keys.
#[test]
fn an_edit_of_the_api_crate_the_host_compiled_is_refused_not_loaded() {
    let copy = Copy::new();
    let mut host = Host::start(&copy);
    host.send("tasks write,run");
    let before = host.draw();
    assert_eq!(before.0, 1);

    // The same size, another meaning: `selected` moves behind a field of the same size.
    copy.edit(
        "api/src/lib.rs",
        "    /// The index of the selected task.\n    pub selected: usize,",
        "    /// Scroll offset (new), in front of the selection.\n    pub offset: usize,\n    /// The index of the selected task.\n    pub selected: usize,",
    );
    let news = host.expect("the refusal", BUILD, |l| {
        l.starts_with("refused ") || l.starts_with("reloaded ")
    });
    let refused = news
        .strip_prefix("refused ")
        .unwrap_or_else(|| panic!("a generation was loaded from an edited API crate: {news}"));
    let code = &refused[..5];
    assert!(code == "HD016" || code == "HD018", "{refused}");
    assert!(
        refused.contains("tui-api") || refused.contains("libtui_api.so"),
        "names the crate: {refused}"
    );
    // The running generation serves: it draws as before and handles keys.
    assert_eq!(host.draw(), before);
    host.send("keys j ");
    assert_eq!(host.state(), "selected=1 done=run");
}
