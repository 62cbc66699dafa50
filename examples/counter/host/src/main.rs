//! The counter example's host program.
//!
//! It keeps a `CounterState`, calls the plugin once per tick, and prints what the plugin
//! says. Edit `examples/counter/plugin/src/lib.rs` while it runs: the next tick runs the
//! new code, and the count carries on where it was.
//!
//! ```text
//! cargo run -p counter-host [-- PLUGIN_DIR [--ticks N] [--interval-ms MS]]
//! ```
//!
//! The first Ctrl-C stops watching (ending a running cargo), lets calls drain, unloads the
//! plugin and removes its shadow copies; a second one exits at once.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use counter_interface::CounterState;
use counter_interface::counter::{Calls, Interface as Counter};
use hotdev::devloop::HotPlugin;

fn main() {
    // hotdev's own logs (watching, building, loading), filtered by RUST_LOG.
    hotdev::init_tracing();
    if let Err(e) = run() {
        eprintln!("counter-host: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut plugin_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugin");
    let mut ticks: Option<u64> = None;
    let mut interval = Duration::from_millis(500);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--ticks" => ticks = Some(args.next().ok_or("--ticks needs a number")?.parse()?),
            "--interval-ms" => {
                interval = Duration::from_millis(
                    args.next().ok_or("--interval-ms needs a number")?.parse()?,
                )
            }
            "-h" | "--help" => {
                println!("usage: counter-host [PLUGIN_DIR] [--ticks N] [--interval-ms MS]");
                return Ok(());
            }
            dir => plugin_dir = PathBuf::from(dir),
        }
    }

    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ncounter-host: stopping (Ctrl-C again to exit at once)");
    })?;

    let (plugin, _events) = HotPlugin::<Counter>::watch(&plugin_dir)?;
    let mut state = CounterState::default();
    let mut tick = 0u64;
    while !stop.load(Ordering::SeqCst) && ticks.is_none_or(|t| tick < t) {
        match plugin
            .step(&mut state)
            .and_then(|_| plugin.describe(&state))
        {
            Ok(line) => println!("[generation {}] {line}", plugin.generation()),
            Err(e) => eprintln!("counter-host: {e}"),
        }
        tick += 1;
        std::thread::sleep(interval);
    }
    plugin.stop_watching();
    drop(plugin);
    eprintln!(
        "counter-host: stopped after {tick} ticks with count = {}",
        state.count
    );
    Ok(())
}
