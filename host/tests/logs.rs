//! A plugin's `log` records and `tracing` events reach the host's logger, with their
//! level, target and location. Alone in its test binary: it sets this process's logger.

mod support;

use std::sync::Mutex;

use fixture_api::counter::{Calls, Interface as CounterApi};
use hotdev_host::{Options, Plugin};

/// One record the host's logger received: level, target, message, file.
type Seen = (log::Level, String, String, Option<String>);

static SEEN: Mutex<Vec<Seen>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        SEEN.lock().unwrap().push((
            record.level(),
            record.target().to_string(),
            record.args().to_string(),
            record.file().map(str::to_string),
        ));
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture;

#[test]
fn plugin_log_records_and_tracing_events_reach_the_hosts_logger() {
    log::set_logger(&CAPTURE).unwrap();
    log::set_max_level(log::LevelFilter::Info);
    let root = support::shadow_root();
    let plugin = Plugin::<CounterApi>::load_with(
        support::fixture(""),
        Options {
            shadow_dir: Some(root.path().to_path_buf()),
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(plugin.greet("ann").unwrap(), "hello ann from v1");
    let seen = SEEN.lock().unwrap().clone();
    let from = |target: &str| seen.iter().find(|r| r.1 == target).cloned();
    let (level, _, message, file) = from("fixture::greet").expect("the log record arrived");
    assert_eq!(level, log::Level::Info);
    assert_eq!(message, "greeting ann");
    assert!(file.unwrap().ends_with("src/lib.rs"));
    let (level, _, message, _) = from("fixture::tracing").expect("the tracing event arrived");
    assert_eq!(level, log::Level::Warn);
    assert_eq!(message, "traced greeting of ann");
    assert!(
        !seen.iter().any(|r| r.2.contains("debug detail")),
        "the host's level (info) applies in the plugin: {seen:?}"
    );
}
