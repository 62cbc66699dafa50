//! The counter example's interface: shared by the host (which keeps a [`CounterState`])
//! and the plugin (which decides what a step does).

use reloadable::RString;

reloadable::abi_struct! {
    /// The counter, owned by the host: it survives every reload.
    #[derive(Debug, Default, Clone, PartialEq, Eq)]
    pub struct CounterState {
        /// The current value.
        pub count: u64,
        /// How many steps were taken.
        pub steps: u64,
    }
}

reloadable::ffi_interface! {
    /// What the counter plugin provides.
    pub mod counter {
        /// Advances the counter by one step; returns the new value.
        fn step(state: &mut CounterState) -> u64;
        /// Describes the counter in one line.
        fn describe(state: &CounterState) -> RString;
    }
}
