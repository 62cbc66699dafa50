//! The egui example in a window (eframe): the same plugin and `App` as `egui-host`, drawn
//! each frame into the window's root `Ui`. Edit `examples/egui/plugin/src/lib.rs` while it
//! runs: the window redraws with the new code, and the fruit picked so far stay picked.
//!
//! ```text
//! cargo run -p egui-window [-- PLUGIN_DIR]
//! ```

use std::path::PathBuf;

use crossbeam_channel::Receiver;
use egui_api::App;
use egui_api::fruit_ui::{Calls, Interface as FruitUi};
use hotdev::devloop::{DevEvent, HotOptions, HotPlugin};

fn main() {
    // hotdev's own logs (watching, building, loading), filtered by RUST_LOG.
    hotdev::init_tracing();
    if let Err(e) = run() {
        eprintln!("egui-window: {e}");
        std::process::exit(1);
    }
}

struct Window {
    plugin: HotPlugin<FruitUi>,
    app: App,
    error: Option<String>,
}

impl eframe::App for Window {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        match self.plugin.ui(ui, &mut self.app) {
            Ok(()) => self.error = None,
            Err(e) => self.error = Some(e.to_string()),
        }
        if let Some(e) = &self.error {
            ui.colored_label(egui::Color32::RED, e);
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let plugin_dir = match std::env::args().nth(1) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugin"),
    };
    // `cargo run -p egui-window` sets CARGO_PKG_NAME, which HotOptions selects with every
    // plugin build (`-p egui-window`), so that egui gets eframe's features there too.
    let options = HotOptions {
        report: true,
        ..HotOptions::default()
    };
    let (plugin, events) = HotPlugin::<FruitUi>::watch_with(&plugin_dir, options)?;
    let app = App::with_fruit(["apple", "banana", "cherry"]);
    eframe::run_native(
        "hotdev: egui example",
        eframe::NativeOptions::default(),
        Box::new(move |cc| {
            repaint_on_reload(cc.egui_ctx.clone(), events);
            Ok(Box::new(Window {
                plugin,
                app,
                error: None,
            }))
        }),
    )?;
    Ok(())
}

/// egui repaints on input only: a new generation asks for a frame itself.
fn repaint_on_reload(ctx: egui::Context, events: Receiver<DevEvent>) {
    std::thread::spawn(move || {
        for event in events {
            if matches!(event, DevEvent::Reloaded { .. }) {
                ctx.request_repaint();
            }
        }
    });
}
