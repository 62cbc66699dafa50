//! What keeping retired generations mapped costs: the same Rust-typed plugin reloaded
//! N times (alternating two variants) with `Retire::Unload` and then with
//! `Retire::KeepMapped` (the default for Rust-typed interfaces), in one process, reporting
//! the growth of the resident set and of the mapped size per reload, and the library's
//! file size.
//!
//! Prints `BENCH retire ...` lines. `cargo bench -p hotdev-host --bench retire [-- --quick]`.

mod support;

use hotdev_bench_api::App;
use hotdev_bench_api::rusty_bench::{Calls, Interface as RustyBench};
use hotdev_host::{Event, Options, Plugin, Retire};
use support::{mapped_kib, report, rss_kib};

fn run(policy: Retire, reloads: u64, variants: &[std::path::PathBuf; 2]) {
    let shadow = support::tempdir("hotdev-bench-shadow");
    let (tx, events) = crossbeam_channel::unbounded();
    let options = Options {
        shadow_dir: Some(shadow.path().to_path_buf()),
        retire: policy,
        events: Some(tx),
        ..Options::default()
    };
    let plugin = Plugin::<RustyBench>::load_with(&variants[0], options).expect("loading v1");
    let mut app = App::default();
    let (rss_start, mapped_start) = (rss_kib().unwrap_or(0), mapped_kib().unwrap_or(0));
    let mut retired = 0u64;
    for n in 1..=reloads {
        plugin
            .reload(&variants[(n % 2) as usize])
            .expect("a reload");
        // End the new generation's probation, so that the previous one retires.
        for _ in 0..10 {
            plugin.tick(&mut app).expect("tick");
        }
        // Wait until the previous generation has been unloaded or kept.
        while retired < n {
            match events.recv().expect("the plugin's events") {
                Event::Unloaded { .. } | Event::KeptMapped { .. } => retired += 1,
                _ => {}
            }
        }
    }
    let (rss_end, mapped_end) = (rss_kib().unwrap_or(0), mapped_kib().unwrap_or(0));
    let per = |start: u64, end: u64| format!("{:.1}", (end as f64 - start as f64) / reloads as f64);
    report(
        "retire",
        &[
            ("policy", format!("{policy:?}")),
            ("reloads", reloads.to_string()),
            ("rss_kib_per_reload", per(rss_start, rss_end)),
            ("mapped_kib_per_reload", per(mapped_start, mapped_end)),
            ("rss_kib_end", rss_end.to_string()),
            ("mapped_kib_end", mapped_end.to_string()),
        ],
    );
}

fn main() {
    let reloads: u64 = if support::quick() { 50 } else { 1000 };
    let variants = [support::rusty_plugin(""), support::rusty_plugin("v2")];
    let file_kib = std::fs::metadata(&variants[0]).map_or(0, |m| m.len() / 1024);
    report("retire-library", &[("file_kib", file_kib.to_string())]);
    run(Retire::Unload, reloads, &variants);
    run(Retire::KeepMapped, reloads, &variants);
}
