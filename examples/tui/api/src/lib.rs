//! The ratatui example's interface, shared by the host and the plugin.
//!
//! The host keeps an [`App`] and the terminal for the life of the program. Each frame it
//! hands the plugin ratatui's `Frame` to draw on; each key press goes to the plugin, which
//! decides what it does to the `App`. `Frame` and `App` are plain Rust types:
//! `reloadable::rust_interface!` passes them as they are, and the host refuses a plugin
//! whose `ratatui` or `App` is another build than its own.

use std::collections::HashMap;

/// The state the host owns: it outlives every generation of the plugin.
#[derive(Debug, Default)]
pub struct App {
    /// The tasks in the list.
    pub tasks: Vec<String>,
    /// The index of the selected task.
    pub selected: usize,
    /// Which tasks are done, by name.
    pub done: HashMap<String, bool>,
    /// A line the host wants shown (the dev loop's latest news).
    pub status: String,
}

impl App {
    /// An app with these tasks, none done.
    pub fn with_tasks<S: Into<String>>(tasks: impl IntoIterator<Item = S>) -> Self {
        App {
            tasks: tasks.into_iter().map(Into::into).collect(),
            ..App::default()
        }
    }

    /// Whether the task is done.
    pub fn is_done(&self, task: &str) -> bool {
        self.done.get(task).copied().unwrap_or(false)
    }
}

reloadable::rust_interface! {
    /// Draws the example's terminal interface and handles its keys.
    pub mod tasks_ui {
        /// Draws `app` on the whole frame.
        fn draw(frame: &mut ratatui::Frame<'_>, app: &App);
        /// Applies a key press (`'q'` is the host's: it quits).
        fn key(app: &mut App, key: char);
    }
}
