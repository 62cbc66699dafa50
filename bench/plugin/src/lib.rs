//! The benchmark plugin: `add` exported twice from one library, through hotdev's
//! interface table and as a bare `extern "C"` symbol, so both paths call the same code.

use hotdev_bench_api::bench;

const VERSION: u32 = if cfg!(feature = "v2") { 2 } else { 1 };

/// The function every alternative of the call benchmark calls.
#[inline(always)]
fn add(a: u64, b: u64) -> u64 {
    a.wrapping_add(b)
}

struct Bench;

impl bench::Implementation for Bench {
    fn add(a: u64, b: u64) -> u64 {
        add(a, b)
    }

    fn version() -> u32 {
        VERSION
    }
}

reloadable::export_plugin!(interface: bench, implementation: Bench);

/// `add` as a plain C symbol, for the raw function-pointer baseline.
#[unsafe(no_mangle)]
pub extern "C" fn hotdev_bench_add(a: u64, b: u64) -> u64 {
    add(a, b)
}
