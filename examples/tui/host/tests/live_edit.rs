//! The ratatui example end to end: the plugin draws on ratatui's `TestBackend`, its
//! source is edited while the host runs, and the next frame's buffer shows the new text
//! while the host's `App` (a `Vec<String>` and a `HashMap`) keeps the tasks marked done.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use hotdev::devloop::{DevEvent, HotOptions, HotPlugin};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tui_api::App;
use tui_api::tasks_ui::{Calls, Interface as TasksUi};

/// Cold builds on a busy machine take minutes; the test waits for events, never for time.
const BUILD: Duration = Duration::from_secs(900);

/// A copy of this example's workspace (manifests, lockfile, sources) in a fresh directory
/// of the system's temporary directory, removed on drop. Not under `target/`: the watcher
/// ignores what `.gitignore` files ignore, and this checkout's ignores `target`.
///
/// The whole workspace is copied, with the same layout, so that the copied `tui-api` is a
/// workspace member at the same relative path as the original: cargo then gives it the
/// same build identity, and the plugin's `App` and `ratatui::Frame` are the test binary's own
/// types, as the host's load check requires. The copy also holds `tui-host`, the package
/// this test belongs to, which every plugin build selects (`HotOptions::host_package`
/// defaults to `$CARGO_PKG_NAME`) so that ratatui resolves the same features as here.
struct Copy {
    root: PathBuf,
}

impl Copy {
    fn new() -> Copy {
        Copy::with_target("live-edit-target")
    }

    /// A copy building into `target` under this test's scratch directory. A test that
    /// edits a crate the copies share (`tui-api`) needs a target directory of its own:
    /// the copies' crates have the same build identity, so they share its outputs.
    fn with_target(target: &str) -> Copy {
        static N: AtomicU32 = AtomicU32::new(0);
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
        // The copies share one target directory, kept between runs: ratatui is compiled once.
        let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join(target);
        std::fs::create_dir_all(root.join(".cargo")).unwrap();
        std::fs::write(
            root.join(".cargo/config.toml"),
            format!("[build]\ntarget-dir = {:?}\n", target.display().to_string()),
        )
        .unwrap();
        Copy { root }
    }

    fn plugin_dir(&self) -> PathBuf {
        self.root.join("plugin")
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

/// A host drawing on a 40×8 test terminal, with one `App` kept across every reload.
struct Host {
    plugin: HotPlugin<TasksUi>,
    terminal: Terminal<TestBackend>,
    app: App,
}

impl Host {
    /// Draws a frame with the live generation and returns the screen, one string per row.
    fn draw(&mut self) -> Vec<String> {
        let mut drawn = Ok(());
        let (plugin, app) = (&self.plugin, &self.app);
        self.terminal
            .draw(|frame| drawn = plugin.draw(frame, app))
            .unwrap();
        drawn.expect("the plugin draws without panicking");
        let buffer = self.terminal.backend().buffer();
        (0..buffer.area.height)
            .map(|y| {
                (0..buffer.area.width)
                    .map(|x| buffer[(x, y)].symbol())
                    .collect()
            })
            .collect()
    }

    fn keys(&mut self, keys: &str) {
        for key in keys.chars() {
            self.plugin.key(&mut self.app, key).unwrap();
        }
    }
}

/// Waits for the next generation to go live; a failed build or a refused library fails
/// at once.
fn wait_for_reload(events: &crossbeam_channel::Receiver<DevEvent>) -> u64 {
    let deadline = Instant::now() + BUILD;
    let mut seen = Vec::new();
    loop {
        match events.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            // The first build's generation 1 is reported too: wait for the next one.
            Ok(DevEvent::Reloaded { generation, .. }) if generation > 1 => return generation,
            Ok(DevEvent::Rejected(e)) => panic!("the edited plugin was refused: {e}"),
            Ok(DevEvent::Watch(hotdev_watcher::Event::BuildFailed { diagnostics, .. })) => {
                panic!("the edited plugin did not build:\n{diagnostics}")
            }
            Ok(other) => seen.push(format!("{other:?}")),
            Err(_) => panic!("no reload within {BUILD:?}; events:\n{}", seen.join("\n")),
        }
    }
}

#[test]
fn editing_the_plugin_changes_the_next_frame_and_keeps_the_app() {
    let copy = Copy::new();
    let (plugin, events) = HotPlugin::<TasksUi>::watch_with(
        copy.plugin_dir(),
        HotOptions {
            debounce: Some(Duration::from_millis(20)),
            ..HotOptions::default()
        },
    )
    .expect("the plugin builds and loads");
    let mut host = Host {
        plugin,
        terminal: Terminal::new(TestBackend::new(40, 8)).unwrap(),
        app: App::with_tasks(["write", "run", "edit"]),
    };

    // Move down, mark "run" done; move down, mark "edit" done and undone again.
    host.keys("j j  ");
    assert_eq!(host.app.selected, 2);
    assert!(host.app.is_done("run") && !host.app.is_done("edit"));
    host.app.status = "gen 1".into();
    let screen = host.draw();
    assert_eq!(
        screen,
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
    );

    // One write of the plugin's source, while the host holds its terminal and app.
    let lib = copy.plugin_dir().join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    let edited = source.replace(
        "const TITLE: &str = \"Tasks\";",
        "const TITLE: &str = \"Edited while running\";",
    );
    assert_ne!(
        source, edited,
        "the plugin's title is where the test expects it"
    );
    std::fs::write(&lib, edited).unwrap();
    assert_eq!(wait_for_reload(&events), 2);

    host.app.status = "gen 2".into();
    let screen = host.draw();
    assert_eq!(
        screen[0], "┌Edited while running──────────────────┐",
        "{screen:#?}"
    );
    // The tasks done before the edit are still done, and the new code adds to them.
    assert_eq!(
        screen[2], "│  [x] run                             │",
        "{screen:#?}"
    );
    host.keys("kk ");
    assert_eq!(host.app.selected, 0);
    let screen = host.draw();
    assert_eq!(
        screen[1], "│> [x] write                           │",
        "{screen:#?}"
    );
    assert_eq!(
        screen[2], "│  [x] run                             │",
        "{screen:#?}"
    );
    assert_eq!(host.app.done.values().filter(|&&d| d).count(), 2);
    assert_eq!(host.plugin.generation(), 2);
}

/// An edit of `tui-api`, which the host compiled too, changes what the host's `App` means
/// to a rebuilt plugin without changing its identity: the dev loop refuses the rebuilt
/// plugin (HD016) instead of loading code that disagrees with the host, and the running
/// generation keeps drawing.
#[test]
fn an_edit_of_the_api_crate_the_host_compiled_is_refused_not_loaded() {
    let copy = Copy::with_target("api-edit-target");
    let (plugin, events) = HotPlugin::<TasksUi>::watch_with(
        copy.plugin_dir(),
        HotOptions {
            debounce: Some(Duration::from_millis(20)),
            ..HotOptions::default()
        },
    )
    .expect("the plugin builds and loads");
    let mut host = Host {
        plugin,
        terminal: Terminal::new(TestBackend::new(40, 8)).unwrap(),
        app: App::with_tasks(["write", "run"]),
    };
    let before = host.draw();

    // The same size, another meaning: `selected` moves behind a field of the same size.
    let api = copy.plugin_dir().join("../api/src/lib.rs");
    let source = std::fs::read_to_string(&api).unwrap();
    let edited = source.replace(
        "    /// The index of the selected task.\n    pub selected: usize,",
        "    /// Scroll offset (new), in front of the selection.\n    pub offset: usize,\n    /// The index of the selected task.\n    pub selected: usize,",
    );
    assert_ne!(source, edited, "the field is where the test expects it");
    std::fs::write(&api, edited).unwrap();

    let deadline = Instant::now() + BUILD;
    let mut seen = Vec::new();
    let refused = loop {
        match events.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(DevEvent::Rejected(e)) => break e,
            Ok(DevEvent::Reloaded { generation, .. }) if generation > 1 => {
                panic!("generation {generation} was loaded from an edited API crate")
            }
            Ok(other) => seen.push(format!("{other:?}")),
            Err(_) => panic!("no refusal within {BUILD:?}; events:\n{}", seen.join("\n")),
        }
    };
    assert_eq!(refused.code(), "HD016", "{refused}");
    assert!(refused.to_string().contains("tui-api"), "{refused}");
    assert_eq!(host.plugin.generation(), 1, "the running generation serves");
    assert_eq!(host.draw(), before, "and draws as before");
}
