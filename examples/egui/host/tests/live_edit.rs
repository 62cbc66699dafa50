//! The egui example end to end, headless, in its one world: a copy of the workspace is
//! built, its scripted host (`egui-headless`, this package's second program) runs frames
//! drawn by the copy's plugin in an `egui::Context`, the plugin's source is edited while it
//! runs, and the next frame shows the new text while the host's `App` (a `Vec<String>` and
//! a `HashMap`) keeps what was clicked before the edit.
//!
//! The host is a process of its own, built in the copy, not this test binary: a one-world
//! plugin links the interface crate's `libegui_api.so` of its build, and the host refuses
//! it unless that is the very file the host process mapped (HD018). This binary is built in
//! `examples/egui/target`, whose world is not the copy's: it only builds and drives.

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

/// The copies build into one target directory, kept between runs so that egui is
/// compiled once; one test at a time owns it, since a test's build (and the edit of
/// `egui-api`) replaces the world library that another test's host has mapped.
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
            "hotdev-egui-live-edit-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        // A new directory, never one left by someone else.
        std::fs::create_dir(&root).unwrap();
        for file in ["Cargo.toml", "Cargo.lock"] {
            copy_file(&example.join(file), &root.join(file));
        }
        for krate in ["api", "plugin", "host", "window"] {
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
    /// the copy's host would map this example's `libegui_api.so` instead of the copy's.
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
/// compiled: the registry crates (egui and the rest), built with the same flags,
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

/// `egui-headless` running on the copy's plugin: commands go to
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
        copy.cargo(&["build", "-p", "egui-host", "-p", "egui-plugin"]);
        // Started directly: the paths of std's and the world's libraries are in the
        // binary (`-C rpath`).
        let mut child = copy
            .command(copy.target.join("debug/egui-headless"))
            .args([
                copy.root.join("plugin").as_os_str(),
                "40".as_ref(),
                "8".as_ref(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("egui-headless starts");
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

    /// Runs a frame: the generation that drew it, and the texts it drew, in paint order.
    fn frame(&mut self) -> (u64, Vec<String>) {
        self.send("frame");
        let header = self.expect("a frame", ANSWER, |l| l.starts_with("frame "));
        let mut words = header.split(' ').skip(1).map(|n| n.parse::<u64>().unwrap());
        let (generation, texts) = (words.next().unwrap(), words.next().unwrap());
        let texts = (0..texts)
            .map(|_| {
                let text = self.expect("a text", ANSWER, |l| l.starts_with("text "));
                text["text ".len()..].to_owned()
            })
            .collect();
        (generation, texts)
    }

    /// The host's `App`: `picked=A,B clicks=A:1,B:2`.
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
    host.send("fruit apple,banana,cherry");

    let (generation, texts) = host.frame();
    assert_eq!(generation, 1);
    assert!(texts.contains(&"Pick a fruit".to_owned()), "{texts:?}");
    assert!(
        texts.contains(&"Nothing picked yet".to_owned()),
        "{texts:?}"
    );
    host.send("click banana");
    host.send("click apple");
    host.send("click banana");
    assert_eq!(
        host.state(),
        "picked=banana,apple,banana clicks=apple:1,banana:2"
    );
    let (_, texts) = host.frame();
    assert!(
        texts.contains(&"Picked: banana, apple, banana".to_owned()),
        "{texts:?}"
    );

    // One write of the plugin's source, while the host holds its context and app.
    copy.edit(
        "plugin/src/lib.rs",
        "const GREETING: &str = \"Pick a fruit\";",
        "const GREETING: &str = \"Pick another fruit\";",
    );
    let reloaded = host.expect("the reload", BUILD, |l| l.starts_with("reloaded "));
    assert_eq!(reloaded, "reloaded 2");

    let (generation, texts) = host.frame();
    assert_eq!(generation, 2);
    assert!(
        texts.contains(&"Pick another fruit".to_owned()),
        "{texts:?}"
    );
    assert!(!texts.contains(&"Pick a fruit".to_owned()), "{texts:?}");
    // What was picked before the edit is still there, and the new code adds to it.
    assert!(
        texts.contains(&"Picked: banana, apple, banana".to_owned()),
        "{texts:?}"
    );
    host.send("click cherry");
    assert_eq!(
        host.state(),
        "picked=banana,apple,banana,cherry clicks=apple:1,banana:2,cherry:1"
    );
}

/// An edit of `egui-api`, which the host compiled too, changes what the host's `App` means
/// to a rebuilt plugin without changing its identity, and rebuilds the world library the
/// host has mapped: the dev loop refuses the rebuilt plugin (HD016, a change outside the
/// plugin crate; HD018, the world rebuilt) instead of loading code that disagrees with the
/// host, and the running generation keeps drawing and taking clicks.
#[test]
fn an_edit_of_the_api_crate_the_host_compiled_is_refused_not_loaded() {
    let copy = Copy::new();
    let mut host = Host::start(&copy);
    host.send("fruit apple,banana");
    let before = host.frame();
    assert_eq!(before.0, 1);

    // The same size, another meaning: `picked` moves behind a field of the same type.
    copy.edit(
        "api/src/lib.rs",
        "    /// The fruit clicked, in order.\n    pub picked: Vec<String>,",
        "    /// The fruit offered before (new), in front of the picks.\n    pub offered: Vec<String>,\n    /// The fruit clicked, in order.\n    pub picked: Vec<String>,",
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
        refused.contains("egui-api") || refused.contains("libegui_api.so"),
        "names the crate: {refused}"
    );
    // The running generation serves: it draws as before and takes clicks.
    assert_eq!(host.frame(), before);
    host.send("click apple");
    assert_eq!(host.state(), "picked=apple clicks=apple:1");
}
