//! The ratatui example's host without a terminal, driven line by line: the same plugin
//! and `App` as `tui-host`, drawn on ratatui's `TestBackend`, with key presses read from
//! standard input and each frame printed as text. `host/tests/live_edit.rs` runs it; a
//! script can too.
//!
//! ```text
//! cargo run -p tui-host --bin tui-headless [-- PLUGIN_DIR [WIDTH HEIGHT]]
//! ```
//!
//! It is a separate program from the test for the one world (docs/rust-types.md): the
//! process that loads the plugin must be built in the plugin's workspace and target
//! directory, so that both link the very same `libtui_api.so`.
//!
//! Standard input, one command a line:
//!
//! | command | what it does | what it prints |
//! |---|---|---|
//! | `tasks A,B,C` | replaces the task list | nothing |
//! | `keys TEXT` | sends each character of TEXT (spaces too) to the plugin's `key` | nothing |
//! | `status TEXT` | sets `App::status` (the bottom line) | nothing |
//! | `draw` | draws a frame with the live generation | `frame GENERATION ROWS`, then one `row TEXT` per row |
//! | `state` | | `state selected=N done=A,B` (the tasks done, sorted) |
//!
//! The dev loop's news, whenever it comes: `ready GENERATION` once the first build is live,
//! `building`, `outside-plugin-changed PACKAGES`, `reloaded GENERATION`, `refused CODE
//! "MESSAGE"`, `build-failed "DIAGNOSTICS"` (quoted and escaped, on one line), and
//! `error "MESSAGE"` for a plugin call that failed or a command not understood. It exits
//! at the end of its input.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use hotdev::devloop::{DevEvent, HotOptions, HotPlugin};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tui_api::App;
use tui_api::tasks_ui::{Calls, Interface as TasksUi};

fn main() {
    if let Err(e) = run() {
        eprintln!("tui-headless: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let plugin_dir = match args.next() {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugin"),
    };
    let width = args.next().map(|w| w.parse()).transpose()?.unwrap_or(40);
    let height = args.next().map(|h| h.parse()).transpose()?.unwrap_or(8);
    let options = HotOptions {
        // Every plugin build selects this package, however the program was started.
        host_package: Some(env!("CARGO_PKG_NAME").to_owned()),
        debounce: Some(std::time::Duration::from_millis(20)),
        ..HotOptions::default()
    };
    let (plugin, events) = HotPlugin::<TasksUi>::watch_with(&plugin_dir, options)?;
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

    let mut terminal = Terminal::new(TestBackend::new(width, height))?;
    let mut app = App::default();
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let (command, rest) = line.split_once(' ').unwrap_or((&line, ""));
        match command {
            "tasks" => app = App::with_tasks(rest.split(',')),
            "keys" => {
                for key in rest.chars() {
                    if let Err(e) = plugin.key(&mut app, key) {
                        println!("error {:?}", e.to_string());
                    }
                }
            }
            "status" => app.status = rest.to_owned(),
            "draw" => {
                let mut drawn = Ok(());
                terminal.draw(|frame| drawn = plugin.draw(frame, &app))?;
                match drawn {
                    Ok(()) => print_frame(terminal.backend(), plugin.generation())?,
                    Err(e) => println!("error {:?}", e.to_string()),
                }
            }
            "state" => {
                let mut done: Vec<&str> = app
                    .done
                    .iter()
                    .filter(|&(_, &d)| d)
                    .map(|(task, _)| task.as_str())
                    .collect();
                done.sort_unstable();
                println!("state selected={} done={}", app.selected, done.join(","));
            }
            _ => println!("error {:?}", format!("unknown command: {line}")),
        }
    }
    Ok(())
}

/// Prints the screen in one write, so that no news line lands between its rows.
fn print_frame(backend: &TestBackend, generation: u64) -> std::io::Result<()> {
    let buffer = backend.buffer();
    let mut text = format!("frame {generation} {}\n", buffer.area.height);
    for y in 0..buffer.area.height {
        text.push_str("row ");
        for x in 0..buffer.area.width {
            text.push_str(buffer[(x, y)].symbol());
        }
        text.push('\n');
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
