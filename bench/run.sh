#!/usr/bin/env bash
# Runs hotdev's benchmarks (see BENCHMARKS.md) and prints their tables.
#
#   bench/run.sh           the full run (about 10-15 minutes on 2 cores, builds included)
#   bench/run.sh --quick   a smoke run with short measurements (a few minutes); CI runs it
#                          to prove the benchmarks still work. One figure is judged, in both
#                          forms: the run fails when a plain call through hotdev costs more
#                          than 2x a raw function pointer (bench/report.py check; a ratio
#                          measured in pairs, never a time; measured again up to three
#                          times in all before it fails, since a regression passes the
#                          limit every time and a burst of load once)
#
# Step 13 (the one world against the cdylib form and a restart loop, bench/one_world.py)
# runs in the full run only: its copies of the axum app compile axum three times on a cold
# cache (many minutes on 2 cores), more than --quick may add to CI.
#
# Results: one `BENCH <name> key=value ...` line per figure in
# $CARGO_TARGET_DIR/bench-results/results.txt, the Markdown tables in tables.md beside it.
# CARGO_TARGET_DIR defaults to the workspace's target/. Needs cargo, python3 and wrk
# (installed with apt-get when missing). Servers listen on 127.0.0.1 only.
set -euo pipefail

quick=0
case "${1:-}" in
  --quick) quick=1 ;;
  "") ;;
  *) echo "usage: bench/run.sh [--quick]" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
out="$CARGO_TARGET_DIR/bench-results"
mkdir -p "$out"
results="$out/results.txt"
: >"$results"
started=$(date +%s)

step() { printf '\n== %s (%ss)\n' "$1" "$(($(date +%s) - started))" >&2; }
collect() { tee -a "$out/log.txt" | grep '^BENCH ' | tee -a "$results" || true; }

if ! command -v wrk >/dev/null; then
  step "installing wrk"
  apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//; s/ /_/g')
echo "BENCH machine nproc=$(nproc) cpu=$cpu kernel=$(uname -r) date=$(date -u +%Y-%m-%dT%H:%MZ) quick=$quick rustc=$(rustc --version | cut -d' ' -f2)" | tee -a "$results"

if [ "$quick" = 1 ]; then
  criterion_args=(--warm-up-time 0.1 --measurement-time 0.3)
  bench_args=(--quick)
  seconds=2
  starts=2
else
  criterion_args=()
  bench_args=()
  seconds=10
  starts=5
fi

step "1. call cost (criterion)"
cargo bench -p hotdev-host --bench call -- "${criterion_args[@]}" >"$out/call.txt" 2>&1 || { cat "$out/call.txt" >&2; exit 1; }
python3 bench/report.py criterion "$CARGO_TARGET_DIR/criterion" | tee -a "$results"
grep '^BENCH call_ratio ' "$out/call.txt" | tee -a "$results" || true
# The one figure judged, in both forms of the run: a plain call's ratio to a raw pointer.
# A regression passes the limit in every measurement; a burst of load on the shared
# machine in one. So a ratio past the limit is measured again, up to three times in all,
# and the run fails only when every measurement passed it.
grep '^BENCH call_ratio ' "$out/call.txt" >"$out/ratio.1.txt" || true
judged=0
for attempt in 1 2 3; do
  if python3 bench/report.py check "$out/ratio.$attempt.txt"; then
    judged=1
    break
  fi
  [ "$attempt" = 3 ] && break
  echo "run.sh: measurement $attempt passed the limit: measuring the call cost again" >&2
  cargo bench -p hotdev-host --bench call -- "${criterion_args[@]}" >"$out/call.txt" 2>&1 || { cat "$out/call.txt" >&2; exit 1; }
  grep '^BENCH call_ratio ' "$out/call.txt" | tee "$out/ratio.$((attempt + 1)).txt" | tee -a "$results" || true
done
[ "$judged" = 1 ] || exit 1

step "2. swap latency"
cargo bench -p hotdev-host --bench swap -- "${bench_args[@]}" 2>&1 | collect

step "8. retired generations of a Rust-typed plugin"
cargo bench -p hotdev-host --bench retire -- "${bench_args[@]}" 2>&1 | collect

step "4. soak"
cargo bench -p hotdev-host --bench soak -- "${bench_args[@]}" 2>&1 | collect

step "3. save to live"
cargo bench -p hotdev --bench save_to_live -- "${bench_args[@]}" 2>&1 | collect

step "7. edit to page (headless Chromium)"
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  apt-get install -y chromium chromium-driver >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y chromium chromium-driver >/dev/null; }
fi
cargo bench -p hotdev --bench edit_to_page -- "${bench_args[@]}" 2>&1 | collect

step "5-6. HTTP under load, start-up and memory (release builds)"
cargo build --release -q -p hotdev
cargo build --release -q --manifest-path bench/static-hello/Cargo.toml
work=$(mktemp -d "${TMPDIR:-/tmp}/hotdev-bench-serve.XXXXXX")
trap 'rm -rf "$work"' EXIT
hello="$work/hello"
mkdir -p "$hello/src"
cp examples/hello/Cargo.lock "$hello/"
cp examples/hello/src/lib.rs "$hello/src/"
sed "s#path = \"../../reloadable\"#path = \"$root/reloadable\"#" examples/hello/Cargo.toml >"$hello/Cargo.toml"
# Start-up excludes the plugin's build: build it first (hotdev serve finds it fresh).
(cd "$hello" && env -u CARGO_TARGET_DIR cargo build -q --release --lib)
python3 bench/serve_load.py \
  --hotdev "$CARGO_TARGET_DIR/release/hotdev" \
  --static "$CARGO_TARGET_DIR/release/hotdev-bench-static-hello" \
  --hello "$hello" --seconds "$seconds" --starts "$starts" \
  --events "$work/events.jsonl" 2>&1 | collect

step "2b. the swap through hotdev serve --events - (supervised and --single-process)"
if [ "$quick" = 1 ]; then swap_edits=3; swap_rounds=1; else swap_edits=10; swap_rounds=2; fi
python3 bench/swap_outside.py --hotdev "$CARGO_TARGET_DIR/release/hotdev" --hello "$hello" \
  --release --edits "$swap_edits" --rounds "$swap_rounds" 2>&1 | collect

step "12. supervised serve against --single-process, and crash recovery"
python3 bench/supervisor.py --hotdev "$CARGO_TARGET_DIR/release/hotdev" --hello "$hello" \
  --release --seconds "$seconds" --rounds 3 --crashes "$starts" \
  --events "$work/supervisor.jsonl" 2>&1 | collect

step "10. restart loop (watchexec -r cargo run) against hotdev"
watchexec=$(command -v watchexec || true)
[ -z "$watchexec" ] && [ -x "$HOME/.cargo/bin/watchexec" ] && watchexec="$HOME/.cargo/bin/watchexec"
if [ -z "$watchexec" ] && [ "$quick" = 0 ]; then
  # Not packaged in Debian; cargo install compiles it once (several minutes) into ~/.cargo/bin.
  cargo install -q watchexec-cli --locked && watchexec="$HOME/.cargo/bin/watchexec" || true
fi
if [ -n "$watchexec" ]; then
  if [ "$quick" = 1 ]; then edits=2; else edits=10; fi
  python3 bench/restart_loop.py --root "$root" --hotdev "$CARGO_TARGET_DIR/release/hotdev" \
    --hello "$hello" --watchexec "$watchexec" --edits "$edits" \
    --static-target-dir "$CARGO_TARGET_DIR/bench-restart-static" 2>&1 | collect
else
  echo "watchexec is not installed (cargo install watchexec-cli --locked); the restart-loop comparison is skipped" >&2
  echo "BENCH restart_loop_skipped reason=watchexec_not_installed" | tee -a "$results"
fi

step "13. the one world: save to live, plugin size, memory per reload"
if [ "$quick" = 0 ]; then
  cargo build -q -p hotdev
  python3 bench/one_world.py --root "$root" --hotdev "$CARGO_TARGET_DIR/debug/hotdev" \
    ${watchexec:+--watchexec "$watchexec"} --edits 7 --reloads 20 2>&1 | collect
else
  echo "the one-world comparison runs in the full run only (bench/run.sh without --quick)" >&2
fi

step "tables"
python3 bench/report.py tables "$results" | tee "$out/tables.md"
echo >&2
echo "results: $results; tables: $out/tables.md ($(($(date +%s) - started)) s)" >&2
