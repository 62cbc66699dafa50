//! The egui example end to end, headless: the host's `egui::Context` runs frames drawn by
//! the plugin, the plugin's source is edited while the host runs, and the next frame shows
//! the new text while the host's `App` (a `Vec<String>` and a `HashMap`) keeps what was
//! clicked before the edit.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use egui_api::App;
use egui_api::fruit_ui::{Calls, Interface as FruitUi};
use hotdev::devloop::{DevEvent, HotOptions, HotPlugin};

/// Cold builds on a busy machine take minutes; the test waits for events, never for time.
const BUILD: Duration = Duration::from_secs(900);

/// A copy of this example's workspace (manifests, lockfile, sources) in a fresh directory
/// of the system's temporary directory, removed on drop. Not under `target/`: the watcher
/// ignores what `.gitignore` files ignore, and this checkout's ignores `target`.
///
/// The whole workspace is copied, with the same layout, so that the copied `egui-api` is a
/// workspace member at the same relative path as the original: cargo then gives it the
/// same build identity, and the plugin's `App` and `egui::Ui` are the test binary's own
/// types, as the host's load check requires. The copy also holds `egui-host`, the package
/// this test belongs to, which every plugin build selects (`HotOptions::host_package`
/// defaults to `$CARGO_PKG_NAME`) so that egui resolves the same features as here.
struct Copy {
    root: PathBuf,
}

impl Copy {
    fn new() -> Copy {
        static N: AtomicU32 = AtomicU32::new(0);
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
        // The copies share one target directory, kept between runs: egui is compiled once.
        let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("live-edit-target");
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

/// A headless host: one `egui::Context` and one `App`, kept across every reload.
struct Host {
    plugin: HotPlugin<FruitUi>,
    ctx: egui::Context,
    app: App,
}

impl Host {
    /// Runs one frame with these input events, drawn by the live generation.
    fn frame(&mut self, events: Vec<egui::Event>) -> egui::FullOutput {
        let input = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(
                egui::Pos2::ZERO,
                egui::vec2(800.0, 600.0),
            )),
            events,
            ..egui::RawInput::default()
        };
        let mut result = Ok(());
        let mut output = self
            .ctx
            .run_ui(input, |ui| result = self.plugin.ui(ui, &mut self.app));
        result.expect("the plugin draws without panicking");
        // No GPU here: the font atlas updates have nowhere to go.
        output.textures_delta.clear();
        output
    }

    /// Clicks the button labelled `label`, the way a mouse would: press, then release.
    fn click(&mut self, label: &str) {
        let output = self.frame(Vec::new());
        let at = egui_api::text_rect(&output, label)
            .unwrap_or_else(|| panic!("no {label:?} in {:?}", egui_api::texts(&output)))
            .center();
        let button = |pressed| egui::Event::PointerButton {
            pos: at,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: egui::Modifiers::NONE,
        };
        self.frame(vec![egui::Event::PointerMoved(at), button(true)]);
        self.frame(vec![button(false)]);
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
    let (plugin, events) = HotPlugin::<FruitUi>::watch_with(
        copy.plugin_dir(),
        HotOptions {
            debounce: Some(Duration::from_millis(20)),
            ..HotOptions::default()
        },
    )
    .expect("the plugin builds and loads");
    let mut host = Host {
        plugin,
        ctx: egui::Context::default(),
        app: App::with_fruit(["apple", "banana", "cherry"]),
    };

    let texts = egui_api::texts(&host.frame(Vec::new()));
    assert!(texts.contains(&"Pick a fruit".to_owned()), "{texts:?}");
    assert!(
        texts.contains(&"Nothing picked yet".to_owned()),
        "{texts:?}"
    );
    host.click("banana");
    host.click("apple");
    host.click("banana");
    assert_eq!(host.app.picked, ["banana", "apple", "banana"]);
    assert_eq!(host.app.clicks["banana"], 2);
    let texts = egui_api::texts(&host.frame(Vec::new()));
    assert!(
        texts.contains(&"Picked: banana, apple, banana".to_owned()),
        "{texts:?}"
    );

    // One write of the plugin's source, while the host holds its context and app.
    let lib = copy.plugin_dir().join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    let edited = source.replace(
        "const GREETING: &str = \"Pick a fruit\";",
        "const GREETING: &str = \"Pick another fruit\";",
    );
    assert_ne!(
        source, edited,
        "the plugin's greeting is where the test expects it"
    );
    std::fs::write(&lib, edited).unwrap();
    assert_eq!(wait_for_reload(&events), 2);

    let texts = egui_api::texts(&host.frame(Vec::new()));
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
    host.click("cherry");
    assert_eq!(host.app.picked, ["banana", "apple", "banana", "cherry"]);
    assert_eq!(host.app.clicks["banana"], 2);
    assert_eq!(host.app.clicks["cherry"], 1);
    assert_eq!(host.plugin.generation(), 2);
}
