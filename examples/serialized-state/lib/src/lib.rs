//! The serialized-state example's library. The host keeps `State`, whose layout is fixed;
//! what the library keeps inside it is JSON, read into `InnerState` on each step. So
//! `InnerState` may change shape freely between reloads: add a field and save.

use serde::{Deserialize, Serialize};

/// Kept by the host across reloads.
#[derive(Debug, Default)]
pub struct State {
    /// The generation of the library that last stepped it.
    pub version: u64,
    /// The library's own state, as JSON.
    pub inner: Box<serde_json::Value>,
}

/// The library's state, free to change between reloads.
#[derive(Debug, Default, Deserialize, Serialize)]
struct InnerState {}

reloadable::plugin_module! {
    /// What the host calls.
    pub mod hot {
        /// Reads the inner state (or starts afresh when its shape changed) and hands the
        /// state back.
        pub fn step(state: State) -> State {
            let State { version, inner } = state;
            let inner: InnerState = serde_json::from_value(*inner).unwrap_or_default();
            println!("version {version}: {inner:?}");
            let inner = serde_json::to_value(inner).unwrap_or_default();
            State {
                version,
                inner: Box::new(inner),
            }
        }
    }
}
