//! hot-lib-reloader's reload-events example, on hotdev: when a new build of `lib/` is
//! ready, the dev loop hands the host a [`ReloadHold`]; the swap waits while the host
//! saves its state, and the host reads the state back once the new code is live.
//!
//! ```text
//! cargo run -p reload-events [-- TICK_MS]
//! ```

use std::sync::mpsc;
use std::time::Duration;

use hotdev::devloop::{HotPlugin, ReloadHold};
use reload_events_lib::State;
use reload_events_lib::hot::{self, Calls};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tick = Duration::from_millis(std::env::args().nth(1).map_or(Ok(1000), |a| a.parse())?);
    let saved = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("state.json");
    let (lib, _events) =
        HotPlugin::<hot::Interface>::watch(concat!(env!("CARGO_MANIFEST_DIR"), "/lib"))?;

    // Called on the dev loop's thread before each swap; the swap waits for the hold.
    let (about_to_reload, holds) = mpsc::channel::<ReloadHold>();
    lib.before_swap(move |hold| {
        let _ = about_to_reload.send(hold);
    });

    let mut state = State { counter: 0 };
    loop {
        if let Err(e) = lib.do_stuff(&mut state) {
            eprintln!("{e}");
        }
        let Ok(hold) = holds.recv_timeout(tick) else {
            continue;
        };
        println!("about to reload: saving the state first");
        state.save(std::fs::File::create(&saved)?)?;
        println!("...ready for the reload");
        match hold.release_and_wait() {
            Some(generation) => {
                state = State::load(std::fs::File::open(&saved)?)?;
                println!("...generation {generation} is live, state restored");
            }
            None => println!("...the new library was refused; the current one goes on"),
        }
    }
}
