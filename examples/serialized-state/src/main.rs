//! hot-lib-reloader's serialized-state example, on hotdev: one step per reload, the
//! state passed by value and handed back, stamped with the generation that will step it.
//!
//! ```text
//! cargo run -p serialized-state
//! ```

use hotdev::devloop::HotPlugin;
use serialized_state_lib::State;
use serialized_state_lib::hot::{self, Calls};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (lib, _events) =
        HotPlugin::<hot::Interface>::watch(concat!(env!("CARGO_MANIFEST_DIR"), "/lib"))?;
    let mut state = State {
        version: lib.generation(),
        ..State::default()
    };
    loop {
        state = match lib.step(state) {
            Ok(state) => state,
            // The state was moved into the call that panicked: start afresh.
            Err(e) => {
                eprintln!("{e}");
                State::default()
            }
        };
        state.version = lib.wait_for_reload();
    }
}
