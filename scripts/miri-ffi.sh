#!/usr/bin/env bash
# Runs reloadable's FFI type tests (RVec, RString, their iterators, sys_box, the serde
# impls) under Miri, which checks the unsafe code in reloadable/src/ffi/ for undefined
# behaviour and leaks: the in-file tests of the `ffi` module and tests/ffi_std.rs.
#
# Needs a nightly toolchain with Miri:
#   rustup toolchain install nightly --component miri --profile minimal
# Miri's own target directory is target/miri, apart from the normal build.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo +nightly miri --version >/dev/null 2>&1; then
    echo "miri-ffi: no nightly toolchain with Miri; install it with" >&2
    echo "  rustup toolchain install nightly --component miri --profile minimal" >&2
    exit 2
fi

cargo +nightly miri test -p reloadable --all-features --lib ffi
cargo +nightly miri test -p reloadable --all-features --test ffi_std
