#!/usr/bin/env bash
# Runs every test of the workspace, after installing what the browser test needs.
#
#   scripts/test.sh            # the whole suite (what CI runs)
#   scripts/test.sh -p hotdev-host    # extra arguments go to `cargo test`
#
# The whole suite compiles three parts beside the workspace's tests, at the lowest CPU
# priority (`nice -n 19`), so that they take only what the workspace's tests leave idle:
# the loom models (and runs them: they wait on nothing), and the egui and tui examples'
# tests. Those examples' tests then run after the workspace's at normal priority, since
# they wait for reloads with deadlines. Output of the parts beside is printed after the
# workspace's, each part in one piece.
set -euo pipefail
cd "$(dirname "$0")/.."

# Whether CI is set (anything but empty, 0 or false), as the browser tests read it.
in_ci() {
    case "${CI:-}" in "" | 0 | false) return 1 ;; *) return 0 ;; esac
}

# The browser test drives Debian's Chromium through chromedriver. Where they cannot be
# installed, the browser tests fail in CI and say that they were skipped elsewhere.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    echo "test.sh: installing chromium and chromium-driver for the browser test" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    if ! { $sudo apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null; }; then
        if in_ci; then
            echo "test.sh: could not install chromium and chromium-driver, which CI needs" >&2
            exit 1
        fi
        echo "test.sh: could not install chromium; the browser tests will say they were skipped" >&2
    fi
fi

# Every build of the suite (the workspace's, the examples', and those the tests start, which
# inherit it) carries line tables only, not full debug information: backtraces keep their
# files and lines, and the builds take a good part less time and disk.
export CARGO_PROFILE_DEV_DEBUG=line-tables-only

if [ "$#" -ne 0 ]; then
    exec cargo test --workspace "$@"
fi

side="$(mktemp -d)"
trap 'rm -rf "$side"' EXIT
pids=()

# Runs `"$@"` in the background at the lowest priority, its output to $side/NAME.log and
# its exit status to $side/NAME.status.
beside() {
    local name="$1"
    shift
    (
        set +e
        nice -n 19 "$@" >"$side/$name.log" 2>&1
        echo "$?" >"$side/$name.status"
    ) &
    pids+=("$!")
}

# The model checks of the swap/drain protocol (loom): hotdev-host again with its `loom`
# feature, on the dependencies the workspace's build compiles (this build waits for it).
beside loom env LOOM_MAX_PREEMPTIONS=3 cargo test -p hotdev-host --features loom --test loom

# The examples with Rust types across the boundary (egui, ratatui): workspaces of their
# own, so that the main workspace's build never compiles their GUI crates, and each in its
# one world: cargo reads the example's `.cargo/config.toml` (the one world's flags) only
# when it runs in that folder, never with `--manifest-path`. Both build into one target
# directory, so that hotdev and the crates they share compile once for the two.
examples_target="$(pwd)/${CARGO_TARGET_DIR:-target}/examples"
case "${CARGO_TARGET_DIR:-}" in /*) examples_target="$CARGO_TARGET_DIR/examples" ;; esac
for example in egui tui; do
    beside "$example-build" env CARGO_TARGET_DIR="$examples_target" \
        sh -c 'cd "$1" && exec cargo test --no-run' sh "examples/$example"
done

status=0
cargo test --workspace --no-fail-fast || status=$?

for pid in "${pids[@]}"; do
    wait "$pid" || true
done
for name in loom egui-build tui-build; do
    echo
    echo "== $name (run beside the workspace's tests)"
    cat "$side/$name.log"
    part="$(cat "$side/$name.status" 2>/dev/null || echo 1)"
    if [ "$part" -ne 0 ]; then
        echo "test.sh: $name failed (exit status $part)" >&2
        status=1
    fi
done
for example in egui tui; do
    echo
    echo "== $example"
    (cd "examples/$example" && CARGO_TARGET_DIR="$examples_target" cargo test) || status=1
done
exit "$status"
