//! Rust types across the boundary (`reloadable::rust_interface!`): `String`, `Vec`,
//! `HashMap`, `Option`, closures and trait objects made by the plugin and kept by the host
//! across reloads, and the load-time check that refuses a plugin from another build world.

mod support;

use fixture_api::rusty::{Calls, Interface as Rusty};
use fixture_api::{App, shared};
use hotdev_host::{Event, Plugin, Retire};
use support::{LONG, options, rusty_fixture, shadow_root, wait_for};

/// Calls until the new generation's probation is over, so the previous one retires.
fn end_probation(plugin: &Plugin<Rusty>) {
    for _ in 0..10 {
        plugin.version().unwrap();
    }
}

#[test]
fn std_types_cross_by_value_and_by_reference_and_the_host_state_survives_reloads() {
    let root = shadow_root();
    let (opts, _events) = options(&root);
    let plugin = Plugin::<Rusty>::load_with(rusty_fixture(""), opts).unwrap();
    let mut app = App::default();
    assert_eq!(
        plugin.greet(&mut app, "ann".into()).unwrap(),
        "hello ann from v1"
    );
    assert_eq!(plugin.total(&app).unwrap(), Some(1));
    assert_eq!(plugin.thing(&shared::Thing { n: 4 }).unwrap(), 40);

    plugin.reload(rusty_fixture("v2")).unwrap();
    assert_eq!(
        plugin.greet(&mut app, "bob".into()).unwrap(),
        "hello bob from v2"
    );
    assert_eq!(
        plugin.greet(&mut app, "ann".into()).unwrap(),
        "hello ann from v2"
    );
    assert_eq!(
        app.names,
        ["ann", "bob", "ann"],
        "strings made by both generations"
    );
    assert_eq!(app.visits["ann"], 2);
    assert_eq!(plugin.total(&app).unwrap(), Some(3));
    assert_eq!(plugin.total(&App::default()).unwrap(), None);
}

#[test]
fn closures_trait_objects_and_static_strs_made_by_the_plugin_outlive_their_generation() {
    let root = shadow_root();
    let (opts, events) = options(&root);
    let plugin = Plugin::<Rusty>::load_with(rusty_fixture(""), opts).unwrap();
    let v1_copy = plugin.shadow_copies().pop().unwrap();
    let mut app = App::default();
    app.greeters.push(plugin.greeter("hi").unwrap());
    app.shapes.push(plugin.square(3.0).unwrap());
    app.labels.push(plugin.label().unwrap());

    // Several generations come and go; generation 1's code and literals stay usable.
    for (i, variant) in ["v2", "", "v2"].into_iter().enumerate() {
        plugin.reload(rusty_fixture(variant)).unwrap();
        end_probation(&plugin);
        let retired = i as u64 + 1;
        match wait_for(&events, LONG, |e| {
            matches!(e, Event::KeptMapped { .. } | Event::Unloaded { .. })
        }) {
            Event::KeptMapped { generation } => assert_eq!(generation, retired),
            other => panic!("a Rust-typed generation was unloaded: {other:?}"),
        }
    }
    assert_eq!(plugin.generation(), 4);
    assert_eq!(
        hotdev_host::testing::is_mapped(&v1_copy),
        Some(true),
        "generation 1 stays mapped"
    );
    assert_eq!((app.greeters[0])("ann"), "hi ann (v1)");
    assert_eq!(app.shapes[0].area(), 9.0);
    assert_eq!(app.shapes[0].name(), "square v1");
    assert_eq!(app.labels[0], "label of v1");
    drop(app);
}

#[test]
fn a_panic_in_a_rust_typed_call_comes_back_as_an_error() {
    let root = shadow_root();
    let (opts, _events) = options(&root);
    let plugin = Plugin::<Rusty>::load_with(rusty_fixture(""), opts).unwrap();
    let err = plugin.fail("no such name".into()).unwrap_err();
    assert_eq!(err.code(), "HD050");
    assert!(err.to_string().contains("no such name"), "{err}");
    assert_eq!(plugin.version().unwrap(), 1, "the host goes on");
}

#[test]
fn unloading_stays_available_when_the_host_asks_for_it() {
    let root = shadow_root();
    let (mut opts, events) = options(&root);
    opts.retire = Retire::Unload;
    let plugin = Plugin::<Rusty>::load_with(rusty_fixture(""), opts).unwrap();
    let v1_copy = plugin.shadow_copies().pop().unwrap();
    plugin.reload(rusty_fixture("v2")).unwrap();
    end_probation(&plugin);
    wait_for(&events, LONG, |e| {
        matches!(e, Event::Unloaded { generation: 1, .. })
    });
    assert_eq!(hotdev_host::testing::is_mapped(&v1_copy), Some(false));
}

#[test]
fn a_crossing_type_from_another_build_of_its_crate_or_with_another_field_is_refused_with_its_name()
{
    let root = shadow_root();
    let (opts, _events) = options(&root);
    let plugin = Plugin::<Rusty>::load_with(rusty_fixture(""), opts).unwrap();
    for variant in ["shared_v2", "shared_extra", "app_grown"] {
        let err = plugin.reload(rusty_fixture(variant)).unwrap_err();
        assert_eq!(err.code(), "HD015", "{variant}: {err}");
        let message = err.to_string();
        let expected = match variant {
            "shared_v2" => "&fixture_shared::Thing -> &fixture_shared_v2::Thing",
            "app_grown" => "&mut fixture_api::App: the plugin's is another build of its crate",
            _ => "&fixture_shared::Thing: the plugin's is another build of its crate",
        };
        assert!(message.contains(expected), "{variant}: {message}");
        assert_eq!(plugin.version().unwrap(), 1, "still serving");
    }
}

#[test]
fn an_ffi_typed_host_refuses_a_rust_typed_plugin_of_the_same_name() {
    let root = shadow_root();
    let (opts, _events) = options(&root);
    let err =
        Plugin::<fixture_api::counter::Interface>::load_with(rusty_fixture(""), opts).unwrap_err();
    assert_eq!(err.code(), "HD012", "{err}");
}

#[test]
fn plugin_code_spawns_tasks_on_the_hosts_tokio_runtime() {
    let root = shadow_root();
    let (opts, _events) = options(&root);
    let plugin = Plugin::<Rusty>::load_with(rusty_fixture(""), opts).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    plugin.spawn_double(runtime.handle(), 21, tx).unwrap();
    assert_eq!(runtime.block_on(rx).unwrap(), 42);
    let (tx, rx) = tokio::sync::oneshot::channel();
    plugin.spawn_entered(runtime.handle(), tx).unwrap();
    assert_eq!(runtime.block_on(rx).unwrap(), "spawned by v1");
}
