//! The egui example's host driven line by line: the same plugin and `App` as `egui-host`,
//! with an `egui::Context` that runs a frame for each command read from standard input
//! and prints what it drew. `host/tests/live_edit.rs` runs it; a script can too.
//!
//! ```text
//! cargo run -p egui-host --bin egui-headless [-- PLUGIN_DIR]
//! ```
//!
//! It is a separate program from the test for the one world (docs/rust-types.md): the
//! process that loads the plugin must be built in the plugin's workspace and target
//! directory, so that both link the very same `libegui_api.so`.
//!
//! Standard input, one command a line:
//!
//! | command | what it does | what it prints |
//! |---|---|---|
//! | `fruit A,B,C` | replaces the fruit offered | nothing |
//! | `click LABEL` | clicks the widget showing LABEL, as a mouse would (three frames) | nothing |
//! | `frame` | runs a frame with the live generation | `frame GENERATION N`, then one `text TEXT` per text drawn, in paint order |
//! | `state` | | `state picked=A,B clicks=A:1,B:2` (the counts sorted by fruit) |
//!
//! The dev loop's news, whenever it comes: `ready GENERATION` once the first build is live,
//! `building`, `outside-plugin-changed PACKAGES`, `reloaded GENERATION`, `refused CODE
//! "MESSAGE"`, `build-failed "DIAGNOSTICS"` (quoted and escaped, on one line), and
//! `error "MESSAGE"` for a plugin call that failed or a command not understood. It exits
//! at the end of its input.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use egui_api::App;
use egui_api::fruit_ui::{Calls, Interface as FruitUi};
use hotdev::devloop::{DevEvent, HotOptions, HotPlugin};

fn main() {
    if let Err(e) = run() {
        eprintln!("egui-headless: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let plugin_dir = match std::env::args().nth(1) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugin"),
    };
    let options = HotOptions {
        // Every plugin build selects this package, however the program was started.
        host_package: Some(env!("CARGO_PKG_NAME").to_owned()),
        debounce: Some(std::time::Duration::from_millis(20)),
        ..HotOptions::default()
    };
    let (plugin, events) = HotPlugin::<FruitUi>::watch_with(&plugin_dir, options)?;
    // What is queued already is the story of the first build, which is over.
    events.try_iter().for_each(drop);
    println!("ready {}", plugin.generation());
    std::thread::spawn(move || {
        for event in events {
            if let Some(line) = news(&event) {
                println!("{line}");
            }
        }
    });

    let mut host = Host {
        plugin,
        ctx: egui::Context::default(),
        app: App::default(),
    };
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let (command, rest) = line.split_once(' ').unwrap_or((&line, ""));
        let done = match command {
            "fruit" => {
                host.app = App::with_fruit(rest.split(','));
                Ok(())
            }
            "click" => host.click(rest),
            "frame" => host.frame(Vec::new()).and_then(|output| {
                print_texts(&egui_api::texts(&output), host.plugin.generation())
                    .map_err(|e| e.to_string())
            }),
            "state" => {
                let mut clicks: Vec<String> = (host.app.clicks.iter())
                    .map(|(fruit, n)| format!("{fruit}:{n}"))
                    .collect();
                clicks.sort_unstable();
                println!(
                    "state picked={} clicks={}",
                    host.app.picked.join(","),
                    clicks.join(",")
                );
                Ok(())
            }
            _ => Err(format!("unknown command: {line}")),
        };
        if let Err(e) = done {
            println!("error {e:?}");
        }
    }
    Ok(())
}

/// One `egui::Context` and one `App`, kept across every reload.
struct Host {
    plugin: HotPlugin<FruitUi>,
    ctx: egui::Context,
    app: App,
}

impl Host {
    /// Runs one frame with these input events, drawn by the live generation.
    fn frame(&mut self, events: Vec<egui::Event>) -> Result<egui::FullOutput, String> {
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
        // No GPU here: the font atlas updates have nowhere to go.
        output.textures_delta.clear();
        result.map(|()| output).map_err(|e| e.to_string())
    }

    /// Clicks the widget showing `label`, the way a mouse would: press, then release.
    fn click(&mut self, label: &str) -> Result<(), String> {
        let output = self.frame(Vec::new())?;
        let at = egui_api::text_rect(&output, label)
            .ok_or_else(|| format!("no {label:?} in {:?}", egui_api::texts(&output)))?
            .center();
        let button = |pressed| egui::Event::PointerButton {
            pos: at,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: egui::Modifiers::NONE,
        };
        self.frame(vec![egui::Event::PointerMoved(at), button(true)])?;
        self.frame(vec![button(false)])?;
        Ok(())
    }
}

/// Prints a frame's texts in one write, so that no news line lands between them.
fn print_texts(texts: &[String], generation: u64) -> std::io::Result<()> {
    let mut text = format!("frame {generation} {}\n", texts.len());
    for t in texts {
        // A label with a line break stays one line here.
        text.push_str(&format!("text {}\n", t.replace('\n', "\\n")));
    }
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// The line a dev loop event prints, if any.
fn news(event: &DevEvent) -> Option<String> {
    match event {
        DevEvent::Reloaded { generation, .. } => Some(format!("reloaded {generation}")),
        DevEvent::Rejected(e) => Some(format!("refused {} {:?}", e.code(), e.to_string())),
        DevEvent::OutsidePluginChanged { packages, .. } => {
            Some(format!("outside-plugin-changed {}", packages.join(",")))
        }
        DevEvent::Watch(hotdev_watcher::Event::BuildStarted { .. }) => Some("building".into()),
        DevEvent::Watch(hotdev_watcher::Event::BuildFailed { diagnostics, .. }) => {
            Some(format!("build-failed {:?}", diagnostics.to_string()))
        }
        _ => None,
    }
}
