//! The interface and the world: every crate the plugin uses is a dependency here, linked
//! once into this library for host and plugin alike.
use std::future::Future;
use std::pin::Pin;

pub use log;
pub use rayon;
pub use reloadable;
pub use tokio;
pub use tracing;

/// A future the host runs on its own runtime.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

reloadable::rust_interface! {
    pub mod app {
        fn sleepy(ms: u64) -> crate::BoxFuture<String>;
        fn spawner(n: u64) -> crate::BoxFuture<u64>;
        fn failing_task() -> crate::BoxFuture<u64>;
        fn closure() -> Box<dyn Fn() -> u64 + Send>;
        fn traced(id: u64) -> u64;
        fn par_sum(n: u64) -> u64;
        fn build_name() -> &'static str;
        fn explode(n: u64) -> u64;
        fn request_id() -> crate::BoxFuture<u64>;
        fn echo(text: String) -> crate::BoxFuture<String>;
    }
}

tokio::task_local! {
    /// Set by the host around a plugin future; read by the plugin.
    pub static REQUEST_ID: u64;
}

/// Present only in the `more` build of the world.
#[cfg(feature = "more")]
#[inline(never)]
pub fn more() -> u64 {
    7
}
