//! Soak: many reloads alternating two variants while two threads call `add` in a tight
//! loop. Counts calls made and failed (an error or a wrong sum), the most libraries mapped
//! from the shadow directory at once, and the process's RSS and open descriptors at start
//! and end.
//!
//! Prints one `BENCH soak ...` line. `cargo bench -p hotdev-host --bench soak [-- --quick]`.

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use hotdev_bench_api::bench::{Calls, Interface as BenchApi};
use hotdev_host::{Options, Plugin};
use support::{Spread, loaded_under, open_fds, report, rss_kib, us};

fn main() {
    let reloads: u64 = if support::quick() { 100 } else { 1000 };
    let variants = [support::plugin(""), support::plugin("v2")];
    let shadow = support::tempdir("hotdev-bench-shadow");
    let options = Options {
        shadow_dir: Some(shadow.path().to_path_buf()),
        ..Options::default()
    };
    let plugin = Plugin::<BenchApi>::load_with(&variants[0], options).expect("loading v1");

    let stop = AtomicBool::new(false);
    let calls = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    let most_mapped = AtomicUsize::new(loaded_under(shadow.path()));
    let mut reload_times = Vec::new();
    let mut rejected = 0u64;
    let mut rss_warm = 0;
    let (rss_start, fds_start, rss_end, fds_end, elapsed) = thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let (mut made, mut bad) = (0u64, 0u64);
                while !stop.load(Ordering::Relaxed) {
                    for i in 0..1024u64 {
                        match plugin.add(i, 1) {
                            Ok(sum) if sum == i + 1 => {}
                            _ => bad += 1,
                        }
                    }
                    made += 1024;
                }
                calls.fetch_add(made, Ordering::Relaxed);
                failed.fetch_add(bad, Ordering::Relaxed);
            });
        }
        // Samples the mapped copies between reloads too, not only after each.
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                most_mapped.fetch_max(loaded_under(shadow.path()), Ordering::Relaxed);
                thread::sleep(Duration::from_micros(500));
            }
        });

        thread::sleep(Duration::from_millis(100));
        let rss_start = rss_kib().unwrap_or(0);
        let fds_start = open_fds().unwrap_or(0);
        let started = Instant::now();
        for n in 1..=reloads {
            let t = Instant::now();
            match plugin.reload(&variants[(n % 2) as usize]) {
                Ok(_) => reload_times.push(t.elapsed()),
                Err(e) => {
                    eprintln!("reload {n} refused: {e}");
                    rejected += 1;
                }
            }
            most_mapped.fetch_max(loaded_under(shadow.path()), Ordering::Relaxed);
            // After the first tenth, allocator arenas and the loader's tables have reached
            // their working size: growth past this point would be per reload.
            if n == reloads / 10 {
                rss_warm = rss_kib().unwrap_or(0);
            }
        }
        let elapsed = started.elapsed();
        // Let the last generation finish probation and its predecessor unload.
        thread::sleep(Duration::from_millis(500));
        let rss_end = rss_kib().unwrap_or(0);
        let fds_end = open_fds().unwrap_or(0);
        stop.store(true, Ordering::Relaxed);
        (rss_start, fds_start, rss_end, fds_end, elapsed)
    });

    let r = Spread::of(&reload_times);
    report(
        "soak",
        &[
            ("reloads", reloads.to_string()),
            ("rejected", rejected.to_string()),
            ("seconds", format!("{:.2}", elapsed.as_secs_f64())),
            ("calls", calls.load(Ordering::Relaxed).to_string()),
            ("failed_calls", failed.load(Ordering::Relaxed).to_string()),
            (
                "most_mapped",
                most_mapped.load(Ordering::Relaxed).to_string(),
            ),
            ("mapped_at_end", loaded_under(shadow.path()).to_string()),
            ("rss_start_kib", rss_start.to_string()),
            ("rss_after_tenth_kib", rss_warm.to_string()),
            ("rss_end_kib", rss_end.to_string()),
            ("fds_start", fds_start.to_string()),
            ("fds_end", fds_end.to_string()),
            ("reload_median_us", us(r.median)),
            ("reload_max_us", us(r.max)),
        ],
    );
}
