//! Call cost: the same `add(a, b)` called five ways, from one thread and from two at once.
//!
//! - `static`: a plain call to a function linked into this binary (`#[inline(never)]`);
//! - `raw-fn-ptr`: a bare `extern "C"` symbol of the bench plugin, looked up once with
//!   libloading and called through the function pointer;
//! - `hotdev`: the same plugin loaded with [`Plugin::load_with`], called through the
//!   interface's generated `Calls` method (epoch announcement, table load, panic shim);
//! - `hotdev-pinned`: the same, with one generation pinned for the whole batch
//!   ([`Plugin::pin`]);
//! - `hot-lib-reloader`: the same function in a Rust dylib, called through a `hot_module`.
//!
//! The `rust-call-*` groups time a Rust-typed call, `tick(&mut App)` where `App` is a plain
//! Rust struct (`reloadable::rust_interface!`), three ways: `static`, `raw-fn-ptr` (a bare
//! symbol of `bench/rusty-plugin`) and `hotdev`.
//!
//! The `guarded call` group times `add` with crash catching off (`hotdev`, the same plugin
//! as above) and on (`hotdev-guarded`, `Options::catch_crashes`), side by side with
//! `raw-fn-ptr`.
//!
//! The two-thread groups time two threads that each make N calls at once (from the first
//! thread's start to the last one's end); criterion's "time" is then per pair of calls.
//!
//! After criterion, a paired measurement prints the ratios against the raw pointer
//! (`BENCH call_ratio ...` lines: hotdev, pinned, Rust-typed and guarded): every round
//! times a batch of each side back to back, so a busy machine slows both alike; the
//! criterion groups, measured seconds apart, do not share their load.
//! Run with `cargo bench -p hotdev-host --bench call` (add `-- --quick` for a smoke run).

mod support;

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::{Barrier, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use hotdev_bench_api::App;
use hotdev_bench_api::bench::{Calls, Interface as BenchApi};
use hotdev_bench_api::rusty_bench::{Calls as _, Interface as RustyBench};
use hotdev_host::{Options, Plugin};

/// The statically linked baseline: same body as the plugin's `add`.
#[inline(never)]
fn add(a: u64, b: u64) -> u64 {
    a.wrapping_add(b)
}

/// The plugin's bare C symbol (`hotdev_bench_add` in `bench/plugin`).
type RawAdd = unsafe extern "C" fn(u64, u64) -> u64;

/// The directory holding the hot-lib-reloader library, built on first use.
fn hotlib_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let lib = support::hotlib("");
        lib.parent()
            .expect("a library has a directory")
            .to_path_buf()
    })
    .clone()
}

// hot-lib-reloader's macro expands to `static mut` globals that it references.
#[allow(
    static_mut_refs,
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks
)]
#[hot_lib_reloader::hot_module(dylib = "hotdev_bench_hotlib", lib_dir = super::hotlib_dir())]
mod hot_lib {
    hot_functions_from_file!("bench/hotlib/src/lib.rs");
}

/// One way to call `add`.
#[derive(Debug, Clone, Copy)]
enum Way {
    Static,
    RawFnPtr,
    Hotdev,
    HotdevPinned,
    HotLibReloader,
}

impl Way {
    const ALL: [Way; 5] = [
        Way::Static,
        Way::RawFnPtr,
        Way::Hotdev,
        Way::HotdevPinned,
        Way::HotLibReloader,
    ];

    fn name(self) -> &'static str {
        match self {
            Way::Static => "static",
            Way::RawFnPtr => "raw-fn-ptr",
            Way::Hotdev => "hotdev",
            Way::HotdevPinned => "hotdev-pinned",
            Way::HotLibReloader => "hot-lib-reloader",
        }
    }
}

/// What the calls go through, loaded once.
struct Targets {
    raw: RawAdd,
    plugin: Plugin<BenchApi>,
    /// The same plugin loaded again with crash catching on.
    guarded: Plugin<BenchApi>,
    // Keeps `raw` callable; dropped after everything else.
    _library: libloading::Library,
    _shadow: tempfile::TempDir,
    _guarded_shadow: tempfile::TempDir,
}

impl Targets {
    fn load() -> Targets {
        let path = support::plugin("");
        // SAFETY: the bench plugin's initialisers only set up reloadable's runtime (its
        // panic hook chain); loading it has no other effect on this process.
        let library = unsafe { libloading::Library::new(&path) }.expect("loading the plugin");
        // SAFETY: `hotdev_bench_add` is declared in bench/plugin as
        // `extern "C" fn(u64, u64) -> u64`, the type asked for here; the pointer is only
        // used while `library` is alive (both live in `Targets`).
        let raw = *unsafe { library.get::<RawAdd>(b"hotdev_bench_add\0") }
            .expect("the plugin exports hotdev_bench_add");
        let shadow = support::tempdir("hotdev-bench-shadow");
        let options = Options {
            shadow_dir: Some(shadow.path().to_path_buf()),
            ..Options::default()
        };
        let plugin = Plugin::<BenchApi>::load_with(&path, options).expect("loading the plugin");
        // Leave the new generation's probation before measuring.
        for i in 0..64 {
            assert_eq!(plugin.add(i, 1).expect("add"), i + 1);
        }
        assert_eq!(hot_lib::add(2, 3), 5, "hot-lib-reloader answers");
        let guarded_shadow = support::tempdir("hotdev-bench-shadow");
        let options = Options {
            shadow_dir: Some(guarded_shadow.path().to_path_buf()),
            // SAFETY: the bench plugin's calls hold no lock and write no shared state.
            catch_crashes: unsafe { hotdev_host::CrashCatching::on() },
            ..Options::default()
        };
        let guarded = Plugin::<BenchApi>::load_with(&path, options).expect("loading the plugin");
        for i in 0..64 {
            assert_eq!(guarded.add(i, 1).expect("add"), i + 1);
        }
        Targets {
            raw,
            plugin,
            guarded,
            _library: library,
            _shadow: shadow,
            _guarded_shadow: guarded_shadow,
        }
    }

    /// Makes `iters` calls of `add` the given way.
    fn calls(&self, way: Way, iters: u64) {
        match way {
            Way::Static => {
                for i in 0..iters {
                    black_box(add(black_box(i), black_box(1)));
                }
            }
            Way::RawFnPtr => {
                let raw = black_box(self.raw);
                for i in 0..iters {
                    // SAFETY: `raw` points into the library `self` keeps loaded, with the
                    // signature it was declared with (see `Targets::load`).
                    black_box(unsafe { raw(black_box(i), black_box(1)) });
                }
            }
            Way::Hotdev => {
                for i in 0..iters {
                    black_box(self.plugin.add(black_box(i), black_box(1)).unwrap());
                }
            }
            Way::HotdevPinned => {
                let pinned = self.plugin.pin();
                for i in 0..iters {
                    black_box(pinned.add(black_box(i), black_box(1)).unwrap());
                }
            }
            Way::HotLibReloader => {
                for i in 0..iters {
                    black_box(hot_lib::add(black_box(i), black_box(1)));
                }
            }
        }
    }
}

/// Runs `calls` on two threads at once: the time from the first start to the last end.
fn on_two_threads(calls: impl Fn() + Sync) -> Duration {
    let barrier = Barrier::new(2);
    let spans: Vec<(Instant, Instant)> = thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    let start = Instant::now();
                    calls();
                    (start, Instant::now())
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a calling thread panicked"))
            .collect()
    });
    let start = spans.iter().map(|s| s.0).min().expect("two spans");
    let end = spans.iter().map(|s| s.1).max().expect("two spans");
    end - start
}

fn bench_calls(c: &mut Criterion, targets: &Targets) {
    let mut one = c.benchmark_group("call-1-thread");
    one.throughput(Throughput::Elements(1));
    for way in Way::ALL {
        one.bench_function(BenchmarkId::from_parameter(way.name()), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                targets.calls(way, iters);
                start.elapsed()
            })
        });
    }
    one.finish();

    let mut two = c.benchmark_group("call-2-threads");
    two.throughput(Throughput::Elements(2));
    for way in Way::ALL {
        two.bench_function(BenchmarkId::from_parameter(way.name()), |b| {
            b.iter_custom(|iters| on_two_threads(|| targets.calls(way, iters)))
        });
    }
    two.finish();

    let mut guarded = c.benchmark_group("guarded call");
    guarded.throughput(Throughput::Elements(1));
    for way in ["raw-fn-ptr", "hotdev", "hotdev-guarded"] {
        guarded.bench_function(BenchmarkId::from_parameter(way), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                match way {
                    "raw-fn-ptr" => targets.calls(Way::RawFnPtr, iters),
                    "hotdev" => targets.calls(Way::Hotdev, iters),
                    _ => {
                        for i in 0..iters {
                            black_box(targets.guarded.add(black_box(i), black_box(1)).unwrap());
                        }
                    }
                }
                start.elapsed()
            })
        });
    }
    guarded.finish();
}

/// The statically linked `tick`: same body as the plugin's.
#[inline(never)]
fn tick(app: &mut App) -> u64 {
    app.ticks = app.ticks.wrapping_add(1);
    app.ticks
}

type RawTick = unsafe extern "C" fn(*mut u8) -> u64;

/// The ways of calling `tick(&mut App)`.
const RUST_WAYS: [&str; 3] = ["static", "raw-fn-ptr", "hotdev"];

/// The Rust-typed plugin, loaded once, and its bare symbol.
struct RustTargets {
    raw: RawTick,
    plugin: Plugin<RustyBench>,
    _library: libloading::Library,
    _shadow: tempfile::TempDir,
}

impl RustTargets {
    fn load() -> RustTargets {
        let path = support::rusty_plugin("");
        // SAFETY: the plugin's initialisers only set up reloadable's runtime.
        let library = unsafe { libloading::Library::new(&path) }.expect("loading the plugin");
        // SAFETY: declared in bench/rusty-plugin as `extern "C" fn(*mut u8) -> u64`; used
        // only while `library` lives (both are fields of `RustTargets`).
        let raw = *unsafe { library.get::<RawTick>(b"hotdev_bench_tick\0") }
            .expect("the plugin exports hotdev_bench_tick");
        let shadow = support::tempdir("hotdev-bench-shadow");
        let options = Options {
            shadow_dir: Some(shadow.path().to_path_buf()),
            ..Options::default()
        };
        let plugin =
            Plugin::<RustyBench>::load_with(&path, options).expect("loading the Rust-typed plugin");
        let mut app = App::default();
        for i in 1..=64 {
            assert_eq!(plugin.tick(&mut app).expect("tick"), i);
        }
        RustTargets {
            raw,
            plugin,
            _library: library,
            _shadow: shadow,
        }
    }

    fn calls(&self, way: &str, iters: u64) {
        let mut app = App::default();
        match way {
            "static" => {
                for _ in 0..iters {
                    black_box(tick(black_box(&mut app)));
                }
            }
            "raw-fn-ptr" => {
                let raw = black_box(self.raw);
                for _ in 0..iters {
                    let app: *mut App = black_box(&mut app);
                    // SAFETY: `raw` points into the library `self` keeps loaded; `app` is
                    // a live `App` of the same build (the plugin is this workspace's).
                    black_box(unsafe { raw(app.cast()) });
                }
            }
            _ => {
                for _ in 0..iters {
                    black_box(self.plugin.tick(black_box(&mut app)).unwrap());
                }
            }
        }
        assert_eq!(app.ticks, iters, "every call ticked");
    }
}

fn bench_rust_calls(c: &mut Criterion, targets: &RustTargets) {
    let mut one = c.benchmark_group("rust-call-1-thread");
    one.throughput(Throughput::Elements(1));
    for way in RUST_WAYS {
        one.bench_function(BenchmarkId::from_parameter(way), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                targets.calls(way, iters);
                start.elapsed()
            })
        });
    }
    one.finish();
    let mut two = c.benchmark_group("rust-call-2-threads");
    two.throughput(Throughput::Elements(2));
    for way in RUST_WAYS {
        two.bench_function(BenchmarkId::from_parameter(way), |b| {
            b.iter_custom(|iters| on_two_threads(|| targets.calls(way, iters)))
        });
    }
    two.finish();
}

/// Calls per timed batch of the paired measurement (tens of microseconds).
const PAIRED_BATCH: u64 = 10_000;
/// Rounds of the paired measurement: each times the raw pointer and the way once.
const PAIRED_ROUNDS: usize = 300;

/// One ratio of the paired measurement: a way and its baseline, each making `n` calls.
struct Pair<'a> {
    name: &'static str,
    way: &'a (dyn Fn(u64) + Sync),
    raw: &'a (dyn Fn(u64) + Sync),
}

/// The time of `n` calls made by `calls`.
fn timed(calls: &dyn Fn(u64), n: u64) -> Duration {
    let start = Instant::now();
    calls(n);
    start.elapsed()
}

/// The ratios of one thread's rounds: each round times a batch of the way and a batch of
/// the raw pointer back to back (in alternating order), so that both see the same load.
fn paired_rounds(pair: &Pair<'_>) -> Vec<(f64, f64)> {
    (pair.way)(PAIRED_BATCH);
    (pair.raw)(PAIRED_BATCH);
    (0..PAIRED_ROUNDS)
        .map(|round| {
            let (way, raw) = if round % 2 == 0 {
                let way = timed(pair.way, PAIRED_BATCH);
                (way, timed(pair.raw, PAIRED_BATCH))
            } else {
                let raw = timed(pair.raw, PAIRED_BATCH);
                (timed(pair.way, PAIRED_BATCH), raw)
            };
            (way.as_secs_f64(), raw.as_secs_f64())
        })
        .collect()
}

/// The paired measurement: ratios against the raw function pointer that a loaded, noisy
/// machine leaves standing, unlike the quotient of two criterion groups measured seconds
/// apart. Prints one `BENCH call_ratio` line per way and thread count: the median of the
/// per-round ratios, and the median time per call of each side. `bench/run.sh` checks
/// the `hotdev` lines (`bench/report.py check`).
fn paired_ratios(targets: &Targets, rust: &RustTargets) {
    let raw = |n| targets.calls(Way::RawFnPtr, n);
    let hotdev = |n| targets.calls(Way::Hotdev, n);
    let pinned = |n| targets.calls(Way::HotdevPinned, n);
    let guarded = |n| {
        for i in 0..n {
            black_box(targets.guarded.add(black_box(i), black_box(1)).unwrap());
        }
    };
    let rust_raw = |n| rust.calls("raw-fn-ptr", n);
    let rust_hotdev = |n| rust.calls("hotdev", n);
    let pairs = [
        (
            Pair {
                name: "hotdev",
                way: &hotdev,
                raw: &raw,
            },
            2,
        ),
        (
            Pair {
                name: "hotdev-pinned",
                way: &pinned,
                raw: &raw,
            },
            2,
        ),
        (
            Pair {
                name: "rust-hotdev",
                way: &rust_hotdev,
                raw: &rust_raw,
            },
            2,
        ),
        (
            Pair {
                name: "hotdev-guarded",
                way: &guarded,
                raw: &raw,
            },
            1,
        ),
    ];
    for (pair, max_threads) in &pairs {
        for threads in 1..=*max_threads {
            let barrier = Barrier::new(threads);
            let rounds: Vec<(f64, f64)> = thread::scope(|s| {
                let workers: Vec<_> = (0..threads)
                    .map(|_| {
                        s.spawn(|| {
                            barrier.wait();
                            paired_rounds(pair)
                        })
                    })
                    .collect();
                workers
                    .into_iter()
                    .flat_map(|w| w.join().expect("a calling thread panicked"))
                    .collect()
            });
            let median = |mut v: Vec<f64>| {
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            };
            let per_call = 1e9 / PAIRED_BATCH as f64;
            let ratio = median(rounds.iter().map(|(w, r)| w / r).collect());
            let way_ns = median(rounds.iter().map(|(w, _)| w * per_call).collect());
            let raw_ns = median(rounds.iter().map(|(_, r)| r * per_call).collect());
            println!(
                "BENCH call_ratio way={} threads={threads} ratio={ratio:.3} way_ns={way_ns:.3} \
                 raw_ns={raw_ns:.3} rounds={} batch={PAIRED_BATCH}",
                pair.name,
                rounds.len(),
            );
        }
    }
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    let (targets, rust) = (Targets::load(), RustTargets::load());
    bench_calls(&mut criterion, &targets);
    bench_rust_calls(&mut criterion, &rust);
    criterion.final_summary();
    // Not under `cargo test --benches` (criterion's test mode) nor `--list`.
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--test" || a == "--list") {
        paired_ratios(&targets, &rust);
    }
}
