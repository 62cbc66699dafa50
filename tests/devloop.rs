//! `HotPlugin` with real builds: the events a host sees for the first build and for an
//! edit outside the plugin crate.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use counter_interface::CounterState;
use counter_interface::counter::{Calls, Interface as Counter};
use hotdev::devloop::{DevEvent, EventReceiver, HotOptions, HotPlugin, WatchEvent};

const BUILD: Duration = Duration::from_secs(300);

/// Copies the counter example's interface and plugin crates into `dir`.
fn copy_counter(dir: &Path) -> PathBuf {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/counter");
    let reloadable = Path::new(env!("CARGO_MANIFEST_DIR")).join("reloadable");
    for krate in ["interface", "plugin"] {
        std::fs::create_dir_all(dir.join(krate).join("src")).unwrap();
        let manifest = std::fs::read_to_string(example.join(krate).join("Cargo.toml"))
            .unwrap()
            .replace("../../../reloadable", &reloadable.to_string_lossy());
        std::fs::write(dir.join(krate).join("Cargo.toml"), manifest).unwrap();
        std::fs::copy(
            example.join(krate).join("src/lib.rs"),
            dir.join(krate).join("src/lib.rs"),
        )
        .unwrap();
    }
    dir.join("plugin")
}

fn next(
    events: &EventReceiver<DevEvent>,
    what: &str,
    pred: impl Fn(&DevEvent) -> bool,
) -> DevEvent {
    let deadline = Instant::now() + BUILD;
    let mut seen = Vec::new();
    loop {
        match events.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(e) if pred(&e) => return e,
            Ok(e) => seen.push(format!("{e:?}")),
            Err(_) => panic!("no {what} within {BUILD:?}; saw:\n{}", seen.join("\n")),
        }
    }
}

/// Regression: the first build's `BuildStarted` and `BuildFinished` were in the channel
/// but no `Reloaded` followed, so a host waiting for `Reloaded` after `BuildStarted` never
/// started. And an edit of the interface crate was reported like a plugin edit.
#[test]
fn the_first_build_is_reloaded_and_an_interface_edit_is_told_apart() {
    let tmp = tempfile::tempdir().unwrap();
    let plugin_dir = copy_counter(tmp.path());
    let options = HotOptions {
        host_package: None,
        ..HotOptions::default()
    };
    let (plugin, events) = HotPlugin::<Counter>::watch_with(&plugin_dir, options).unwrap();
    next(&events, "BuildStarted", |e| {
        matches!(e, DevEvent::Watch(WatchEvent::BuildStarted { .. }))
    });
    next(&events, "Reloaded of generation 1", |e| {
        matches!(e, DevEvent::Reloaded { generation: 1, .. })
    });
    let mut state = CounterState::default();
    assert_eq!(plugin.step(&mut state), Ok(1));

    // A comment in the interface crate: the plugin rebuilds and reloads (nothing it
    // declares changed), and the host is told that the change lies outside the plugin.
    let interface = tmp.path().join("interface/src/lib.rs");
    let source = std::fs::read_to_string(&interface).unwrap();
    std::fs::write(&interface, format!("{source}\n// edited\n")).unwrap();
    let outside = next(&events, "OutsidePluginChanged", |e| {
        matches!(e, DevEvent::OutsidePluginChanged { .. })
    });
    let DevEvent::OutsidePluginChanged { packages, paths } = outside else {
        unreachable!()
    };
    assert_eq!(packages, ["counter-interface"]);
    assert!(
        paths.iter().all(|p| p.ends_with("interface/src/lib.rs")),
        "{paths:?}"
    );
    next(&events, "Reloaded of generation 2", |e| {
        matches!(e, DevEvent::Reloaded { generation: 2, .. })
    });
    assert_eq!(plugin.step(&mut state), Ok(2));
}
