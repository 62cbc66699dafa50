//! A plugin's `log` records and `tracing` events reach the host's logger, with their
//! level, target and location; the events with their fields and spans, without tracing's
//! `log` feature. Alone in its test binary: it sets this process's logger.

mod support;

use std::sync::Mutex;

use fixture_api::counter::{Calls, Interface as CounterApi};
use hotdev_host::{Event, Plugin};
use support::{LONG, fixture, options, shadow_root, wait_for};

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

/// The records seen so far whose message contains `text`.
fn seen_containing(text: &str) -> Vec<Seen> {
    let seen = SEEN.lock().unwrap();
    seen.iter()
        .filter(|r| r.2.contains(text))
        .cloned()
        .collect()
}

/// The plugin's `tracing` has no `log` feature: reloadable's subscriber in the plugin
/// carries the event, its fields and its span. With the feature on (`tracing_log`), the
/// event still arrives once. Neither keeps a generation mapped after it unloads.
#[test]
fn plugin_log_records_and_tracing_events_reach_the_hosts_logger() {
    log::set_logger(&CAPTURE).unwrap();
    log::set_max_level(log::LevelFilter::Info);
    let root = shadow_root();
    let (opts, events) = options(&root);
    let plugin = Plugin::<CounterApi>::load_with(fixture(""), opts).unwrap();
    assert_eq!(plugin.greet("ann").unwrap(), "hello ann from v1");
    let seen = SEEN.lock().unwrap().clone();
    let from = |target: &str| seen.iter().find(|r| r.1 == target).cloned();
    let (level, _, message, file) = from("fixture::greet").expect("the log record arrived");
    assert_eq!(level, log::Level::Info);
    assert_eq!(message, "greeting ann");
    assert!(file.unwrap().ends_with("src/lib.rs"));
    let (level, _, message, file) = from("fixture::tracing").expect("the tracing event arrived");
    assert_eq!(level, log::Level::Warn);
    assert_eq!(
        message,
        "greeting{who=\"ann\"}: traced greeting of ann answer=42"
    );
    assert!(file.unwrap().ends_with("src/lib.rs"));
    assert!(
        !seen.iter().any(|r| r.2.contains("debug detail")),
        "the host's level (info) applies in the plugin: {seen:?}"
    );

    // tracing's `log` feature on as well: one record per event, not two.
    let v1_copy = plugin.shadow_copies().pop().expect("one shadow copy");
    plugin.reload(fixture("tracing_log")).unwrap();
    assert_eq!(plugin.greet("bob").unwrap(), "hello bob from v1");
    let bob = seen_containing("traced greeting of bob");
    assert_eq!(bob.len(), 1, "{bob:?}");
    assert_eq!(
        bob[0].2,
        "greeting{who=\"bob\"}: traced greeting of bob answer=42"
    );

    // The subscriber, its spans and its thread numbers leave nothing that pins the
    // library (no thread-local destructor): the first generation really unloads.
    for _ in 0..10 {
        plugin.version().unwrap();
    }
    wait_for(&events, LONG, |e| {
        matches!(e, Event::Unloaded { generation: 1, .. })
    });
    assert_eq!(
        hotdev_host::testing::is_mapped(&v1_copy),
        Some(false),
        "the first generation is no longer mapped"
    );
}
