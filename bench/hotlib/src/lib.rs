//! `add` for hot-lib-reloader: public `no_mangle` Rust functions in a dylib, the way its
//! documentation sets a reloadable library up.

/// Returns `a + b` (wrapping).
#[unsafe(no_mangle)]
pub fn add(a: u64, b: u64) -> u64 {
    a.wrapping_add(b)
}

/// Which variant answers: 1, or 2 for the `v2` build.
#[unsafe(no_mangle)]
pub fn version() -> u32 {
    if cfg!(feature = "v2") { 2 } else { 1 }
}
