# hotdev's everyday commands (https://github.com/casey/just); each is a plain command too.

# Serve the bundled example plugin; edit examples/hello/src/lib.rs (or static/style.css) and watch the page.
demo:
    cargo run --release -- serve examples/hello

# The counter example: a host program that reloads its plugin as you edit it.
counter:
    cargo run -p counter-host

# The greeter example under the whole-program loop: edit its plugin (hot reload) or its
# host (restart on the same socket) and curl http://127.0.0.1:7979/.
greeter:
    cargo run --release -- run -p greeter-host --listen 127.0.0.1:7979

# Every test, as CI runs them.
test:
    scripts/test.sh

# The benchmark suite (BENCHMARKS.md); `just bench --quick` for a smoke run.
bench *ARGS:
    bench/run.sh {{ARGS}}

# Formatting, lints and docs, warnings denied.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

# The loom model checks alone.
loom:
    LOOM_MAX_PREEMPTIONS=3 cargo test -p hotdev-host --features loom --test loom
