//! The reload-events example's library. Run the host (`cargo run -p reload-events`),
//! change the text below and save: the host saves its state, lets the swap go, and reads
//! the state back.

use serde::{Deserialize, Serialize};

/// Kept by the host; written to a file around each reload.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct State {
    /// Iterations so far.
    pub counter: usize,
}

impl State {
    /// Reads a state written by [`State::save`].
    pub fn load(reader: impl std::io::Read) -> serde_json::Result<Self> {
        serde_json::from_reader(reader)
    }

    /// Writes the state as JSON.
    pub fn save(&self, writer: impl std::io::Write) -> serde_json::Result<()> {
        serde_json::to_writer(writer, self)
    }
}

reloadable::plugin_module! {
    /// What the host calls.
    pub mod hot {
        /// One iteration of the host's loop.
        pub fn do_stuff(state: &mut State) {
            state.counter += 1;
            println!("doing stuff in iteration {}", state.counter);
        }
    }
}
