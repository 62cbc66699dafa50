//! `tick(&mut App)` for the call benchmark, once through hotdev's Rust-typed table and once
//! as a bare symbol to call through a raw function pointer.

use hotdev_bench_api::{App, rusty_bench};

struct Rusty;

impl rusty_bench::Implementation for Rusty {
    fn tick(app: &mut App) -> u64 {
        tick(app)
    }
}

#[inline(always)]
fn tick(app: &mut App) -> u64 {
    app.ticks = app
        .ticks
        .wrapping_add(if cfg!(feature = "v2") { 2 } else { 1 });
    app.ticks
}

/// The same `tick`, called by the benchmark through a raw function pointer.
///
/// # Safety
/// `app` must point to a live `App` of this build, not otherwise borrowed during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hotdev_bench_tick(app: *mut u8) -> u64 {
    // SAFETY: the caller's promise.
    tick(unsafe { &mut *app.cast::<App>() })
}

reloadable::export_plugin!(interface: hotdev_bench_api::rusty_bench, implementation: Rusty);
