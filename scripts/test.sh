#!/usr/bin/env bash
# Runs every test of the workspace, after installing what the browser test needs.
#
#   scripts/test.sh            # the whole suite (what CI runs)
#   scripts/test.sh -p hotdev-host    # extra arguments go to `cargo test`
set -euo pipefail
cd "$(dirname "$0")/.."

# The browser test drives Debian's Chromium through chromedriver.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    echo "test.sh: installing chromium and chromium-driver for the browser test" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
fi

cargo test --workspace "$@"

# The model checks of the swap/drain protocol (loom), in their own target directory:
# `--cfg loom` rebuilds the crate with loom's atomics.
if [ "$#" -eq 0 ]; then
    RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/loom" \
        LOOM_MAX_PREEMPTIONS=3 cargo test -p hotdev-host --test loom --release

    # The examples with Rust types across the boundary (egui, ratatui): workspaces of
    # their own, so that the main workspace's build never compiles their GUI crates, and
    # each in its one world: cargo reads the example's `.cargo/config.toml` (the one
    # world's flags) only when it runs in that folder, never with `--manifest-path`.
    for example in egui tui; do
        (cd "examples/$example" && cargo test)
    done
fi
