//! The egui example's plugin. Edit it while `egui-host` runs: the next frame draws with
//! the new code, and the fruit picked so far stay picked (the host owns them).

use egui_api::App;

/// The heading; change it and save.
const GREETING: &str = "Pick a fruit";

struct FruitUi;

impl egui_api::fruit_ui::Implementation for FruitUi {
    fn ui(ui: &mut egui::Ui, app: &mut App) {
        egui::CentralPanel::default().show(ui, |ui| {
            ui.heading(GREETING);
            ui.horizontal(|ui| {
                for fruit in &app.fruit {
                    if ui.button(fruit).clicked() {
                        app.picked.push(fruit.clone());
                        *app.clicks.entry(fruit.clone()).or_default() += 1;
                    }
                }
            });
            ui.separator();
            if app.picked.is_empty() {
                ui.label("Nothing picked yet");
            } else {
                ui.label(format!("Picked: {}", app.picked.join(", ")));
            }
            for fruit in &app.fruit {
                if let Some(n) = app.clicks.get(fruit) {
                    ui.label(format!("{fruit}: {n}"));
                }
            }
        });
    }
}

reloadable::export_plugin!(interface: egui_api::fruit_ui, implementation: FruitUi);
