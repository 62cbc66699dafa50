//! The egui example's interface, shared by the host and the plugin.
//!
//! The host keeps an [`App`] and an `egui::Context` for the life of the program and, each
//! frame, hands the plugin the root `egui::Ui` and the `App`. Both are plain Rust types:
//! `reloadable::rust_interface!` passes them as they are, and the host refuses a plugin
//! whose `egui` or `App` is another build than its own.

use std::collections::HashMap;

/// The state the host owns: it outlives every generation of the plugin.
#[derive(Debug, Default)]
pub struct App {
    /// The fruit the plugin offers as buttons.
    pub fruit: Vec<String>,
    /// The fruit clicked, in order.
    pub picked: Vec<String>,
    /// How often each fruit was clicked.
    pub clicks: HashMap<String, u64>,
}

impl App {
    /// An app offering these fruit.
    pub fn with_fruit<S: Into<String>>(fruit: impl IntoIterator<Item = S>) -> Self {
        App {
            fruit: fruit.into_iter().map(Into::into).collect(),
            ..App::default()
        }
    }
}

reloadable::rust_interface! {
    /// Draws the example's user interface.
    pub mod fruit_ui {
        /// Shows `app` in `ui` (the root `Ui` of the frame) and applies what was clicked.
        fn ui(ui: &mut egui::Ui, app: &mut App);
    }
}

/// The texts of a frame's output, in paint order: every label, button and heading that
/// the frame drew. Lets a headless host (or a test) see what the plugin showed.
pub fn texts(output: &egui::FullOutput) -> Vec<String> {
    let mut found = Vec::new();
    for clipped in &output.shapes {
        visit_text(&clipped.shape, &mut |text, _| found.push(text.to_owned()));
    }
    found
}

/// Where the frame drew `text` (the first exact match), in points: for example to click the
/// button with that label.
pub fn text_rect(output: &egui::FullOutput, text: &str) -> Option<egui::Rect> {
    let mut found = None;
    for clipped in &output.shapes {
        visit_text(&clipped.shape, &mut |t, rect| {
            if t == text && found.is_none() {
                found = Some(rect);
            }
        });
    }
    found
}

fn visit_text(shape: &egui::Shape, f: &mut impl FnMut(&str, egui::Rect)) {
    match shape {
        egui::Shape::Text(text) => f(text.galley.text(), text.visual_bounding_rect()),
        egui::Shape::Vec(shapes) => shapes.iter().for_each(|s| visit_text(s, f)),
        _ => {}
    }
}
