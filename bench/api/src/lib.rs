//! The interface that hotdev's benchmarks call: one tiny function, so that a benchmark of
//! it measures the call path and nothing else.

reloadable::ffi_interface! {
    /// What the benchmark plugin provides.
    pub mod bench {
        /// Returns `a + b` (wrapping).
        fn add(a: u64, b: u64) -> u64;
        /// Which variant of the plugin answers: 1, or 2 for the `v2` build.
        fn version() -> u32;
    }
}

/// Host-owned state of plain Rust types, for the Rust-typed call benchmark.
#[derive(Debug, Default)]
pub struct App {
    /// Names (not touched by `tick`: they make `App` a realistic Rust struct).
    pub names: Vec<String>,
    /// Incremented by every `tick`.
    pub ticks: u64,
}

reloadable::rust_interface! {
    /// The Rust-typed benchmark interface: a call that takes `&mut App`.
    pub mod rusty_bench {
        /// Adds one to `app.ticks` and returns it.
        fn tick(app: &mut App) -> u64;
    }
}
