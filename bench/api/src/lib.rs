//! The interface that hotdev's benchmarks call: one tiny function, so that a benchmark of
//! it measures the call path and nothing else.

reloadable::interface! {
    /// What the benchmark plugin provides.
    pub mod bench {
        /// Returns `a + b` (wrapping).
        fn add(a: u64, b: u64) -> u64;
        /// Which variant of the plugin answers: 1, or 2 for the `v2` build.
        fn version() -> u32;
    }
}
