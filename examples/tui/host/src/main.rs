//! The ratatui example's host program.
//!
//! It owns the terminal and an [`App`] (a task list, the selection, which tasks are done)
//! and lets the plugin draw every frame (`tui_api::tasks_ui::draw`) and decide what each
//! key does (`tui_api::tasks_ui::key`). Edit `examples/tui/plugin/src/lib.rs` while it
//! runs: the next frame is drawn by the new code, with the tasks marked done still done.
//!
//! ```text
//! cargo run -p tui-host [-- PLUGIN_DIR]
//! ```
//!
//! `q` or Esc quits. The bottom line of the frame shows the dev loop's latest news (the
//! live generation, a failed build, a refused library).

use std::path::PathBuf;
use std::time::Duration;

use hotdev::devloop::{DevEvent, HotOptions, HotPlugin};
use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind};
use ratatui::widgets::{Paragraph, Wrap};
use tui_api::App;
use tui_api::tasks_ui::{Calls, Interface as TasksUi};

fn main() {
    if let Err(e) = run() {
        eprintln!("tui-host: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let plugin_dir = match std::env::args().nth(1).as_deref() {
        Some("-h" | "--help") => {
            println!("usage: tui-host [PLUGIN_DIR]");
            return Ok(());
        }
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugin"),
    };
    eprintln!("tui-host: building {}", plugin_dir.display());
    // No reports on stderr once the terminal is ours: the news goes to `App::status`.
    // `cargo run -p tui-host` sets CARGO_PKG_NAME, which HotOptions selects with every
    // plugin build (`-p tui-host`) so that ratatui resolves the same features on both sides.
    let (plugin, events) = HotPlugin::<TasksUi>::watch_with(&plugin_dir, HotOptions::default())?;
    // What is queued already is the story of the first build, which is over.
    events.try_iter().for_each(drop);
    let mut app = App::with_tasks([
        "write the plugin",
        "run the host",
        "edit the plugin",
        "keep the state",
    ]);
    app.status = "generation 1".into();
    let mut terminal = ratatui::init();
    let result = run_terminal(&mut terminal, &plugin, &events, &mut app);
    ratatui::restore();
    result
}

fn run_terminal(
    terminal: &mut DefaultTerminal,
    plugin: &HotPlugin<TasksUi>,
    events: &crossbeam_channel::Receiver<DevEvent>,
    app: &mut App,
) -> Result<(), Box<dyn std::error::Error>> {
    loop {
        while let Ok(event) = events.try_recv() {
            if let Some(news) = news(&event, plugin.generation()) {
                app.status = news;
            }
        }
        let mut drawn = Ok(());
        terminal.draw(|frame| drawn = plugin.draw(frame, app))?;
        if let Err(e) = drawn {
            // The plugin panicked mid-frame: show why instead (the next save may fix it).
            terminal.draw(|frame| {
                let text = format!("{e}\n\n(q quits)");
                frame.render_widget(
                    Paragraph::new(text).wrap(Wrap { trim: false }),
                    frame.area(),
                );
            })?;
        }
        // Wake up now and then to show a new generation without waiting for a key.
        if !event::poll(Duration::from_millis(100))? {
            continue;
        }
        let Event::Key(key) = event::read()? else {
            continue;
        };
        if key.kind != KeyEventKind::Press {
            continue;
        }
        let key = match key.code {
            KeyCode::Char('q') | KeyCode::Esc => return Ok(()),
            KeyCode::Char(c) => c,
            KeyCode::Down => 'j',
            KeyCode::Up => 'k',
            KeyCode::Enter => ' ',
            _ => continue,
        };
        if let Err(e) = plugin.key(app, key) {
            app.status = e.to_string();
        }
    }
}

/// What the bottom line says about a dev loop event, if anything.
fn news(event: &DevEvent, generation: u64) -> Option<String> {
    match event {
        DevEvent::Reloaded {
            generation, build, ..
        } => Some(format!(
            "generation {generation} (built in {:.1} s)",
            build.as_secs_f64()
        )),
        DevEvent::Rejected(e) => Some(format!("refused, generation {generation} serves: {e}")),
        DevEvent::Watch(hotdev_watcher::Event::BuildStarted { .. }) => {
            Some(format!("building... (generation {generation})"))
        }
        DevEvent::Watch(hotdev_watcher::Event::BuildFailed { .. }) => Some(format!(
            "build failed (cargo build shows why), generation {generation} serves"
        )),
        _ => None,
    }
}
