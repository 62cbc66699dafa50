//! The egui example's host program.
//!
//! It owns an `egui::Context` and an [`App`] (the fruit offered, the fruit picked and a
//! count per fruit) and, every frame, lets the plugin draw through
//! `egui_api::fruit_ui::ui`. Edit `examples/egui/plugin/src/lib.rs` while it runs: the
//! next frame is drawn by the new code, with everything picked so far still there.
//!
//! ```text
//! cargo run -p egui-host [-- PLUGIN_DIR [--frames N] [--interval-ms MS]]
//! ```
//!
//! It runs headless: a frame every `--interval-ms` (500), printing the frame's text
//! whenever it changes. `cargo run -p egui-window` shows the same plugin in a window.

use std::path::PathBuf;

use egui_api::App;
use egui_api::fruit_ui::Interface as FruitUi;
use hotdev::devloop::{HotOptions, HotPlugin};

fn main() {
    // hotdev's own logs (watching, building, loading), filtered by RUST_LOG.
    hotdev::init_tracing();
    if let Err(e) = run() {
        eprintln!("egui-host: {e}");
        std::process::exit(1);
    }
}

/// The fruit the example offers (egui-window offers the same).
const FRUIT: [&str; 3] = ["apple", "banana", "cherry"];

struct Args {
    plugin_dir: PathBuf,
    frames: Option<u64>,
    interval_ms: u64,
}

fn args() -> Result<Option<Args>, Box<dyn std::error::Error>> {
    let mut parsed = Args {
        plugin_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugin"),
        frames: None,
        interval_ms: 500,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--frames" => {
                parsed.frames = Some(args.next().ok_or("--frames needs a number")?.parse()?)
            }
            "--interval-ms" => {
                parsed.interval_ms = args.next().ok_or("--interval-ms needs a number")?.parse()?
            }
            "-h" | "--help" => {
                println!("usage: egui-host [PLUGIN_DIR] [--frames N] [--interval-ms MS]");
                return Ok(None);
            }
            dir => parsed.plugin_dir = PathBuf::from(dir),
        }
    }
    Ok(Some(parsed))
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let Some(args) = args()? else { return Ok(()) };
    // `cargo run -p egui-host` sets CARGO_PKG_NAME, which HotOptions selects with every
    // plugin build (`-p egui-host`) so that egui resolves the same features on both sides.
    let options = HotOptions {
        report: true,
        ..HotOptions::default()
    };
    let (plugin, events) = HotPlugin::<FruitUi>::watch_with(&args.plugin_dir, options)?;
    drop(events);
    headless::run(
        &plugin,
        App::with_fruit(FRUIT),
        args.frames,
        args.interval_ms,
    )
}

mod headless {
    use std::time::Duration;

    use egui_api::App;
    use egui_api::fruit_ui::{Calls, Interface as FruitUi};
    use hotdev::devloop::HotPlugin;

    /// Runs frames without a window and prints each new frame's text on one line.
    pub fn run(
        plugin: &HotPlugin<FruitUi>,
        mut app: App,
        frames: Option<u64>,
        interval_ms: u64,
    ) -> Result<(), Box<dyn std::error::Error>> {
        let ctx = egui::Context::default();
        let input = || egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(
                egui::Pos2::ZERO,
                egui::vec2(800.0, 600.0),
            )),
            ..egui::RawInput::default()
        };
        let mut last = Vec::new();
        let mut frame = 0;
        while frames.is_none_or(|n| frame < n) {
            let mut result = Ok(());
            let mut output = ctx.run_ui(input(), |ui| result = plugin.ui(ui, &mut app));
            // No GPU here: the font atlas updates have nowhere to go.
            output.textures_delta.clear();
            match result {
                Ok(()) => {
                    let texts = egui_api::texts(&output);
                    if texts != last {
                        println!("[generation {}] {}", plugin.generation(), texts.join(" | "));
                        last = texts;
                    }
                }
                Err(e) => eprintln!("egui-host: {e}"),
            }
            frame += 1;
            std::thread::sleep(Duration::from_millis(interval_ms));
        }
        Ok(())
    }
}
