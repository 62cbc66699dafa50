//! The minimal example's library. Run the host (`cargo run -p minimal`), change the
//! text below and save: the next iteration prints the new text, and the count goes on.

/// Kept by the host across reloads.
#[derive(Debug, Default)]
pub struct State {
    /// Iterations so far.
    pub counter: usize,
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
