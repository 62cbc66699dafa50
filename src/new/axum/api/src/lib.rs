//! What host and plugin share: the state the host owns, the plugin's functions, and the
//! crates the plugin may use (re-exported, so the plugin depends on this crate alone).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

pub use axum;
pub use reloadable;
pub use tokio;
pub use tracing;

/// State that lives as long as the host: it survives every reload.
#[derive(Debug, Default)]
pub struct AppState {
    /// Requests to `/` since the host started.
    pub visits: AtomicU64,
}

reloadable::rust_interface! {
    pub mod app {
        /// The app's routes, over the host's state.
        fn router(state: std::sync::Arc<crate::AppState>) -> axum::Router;
    }
}

/// The state type handed to [`app::Implementation::router`].
pub type Shared = Arc<AppState>;
