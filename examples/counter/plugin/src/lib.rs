//! The counter plugin. Run the host (`cargo run -p counter-host`), then change `STEP` or
//! the text below and save: the host picks the new code up with its count intact.

use counter_interface::{CounterState, counter};
use reloadable::RString;

/// How much each step adds.
const STEP: u64 = 1;

struct Counter;

impl counter::Implementation for Counter {
    fn step(state: &mut CounterState) -> u64 {
        state.count += STEP;
        state.steps += 1;
        state.count
    }

    fn describe(state: &CounterState) -> RString {
        format!(
            "count = {} after {} steps (+{STEP} per step)",
            state.count, state.steps
        )
        .into()
    }
}

reloadable::export_plugin!(interface: counter_interface::counter, implementation: Counter);
