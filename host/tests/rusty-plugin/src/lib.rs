//! The Rust-typed test plugin: `fixture_api::rusty`. Each feature builds a variant.

/// `rusty`: plain Rust types across the boundary.
mod rusty_impl {
    use fixture_api::{App, Shape, shared};

    const VERSION: u32 = if cfg!(feature = "v2") { 2 } else { 1 };

    struct Square(f64);

    impl Shape for Square {
        fn area(&self) -> f64 {
            self.0 * self.0
        }
        fn name(&self) -> &'static str {
            if VERSION == 1 {
                "square v1"
            } else {
                "square v2"
            }
        }
    }

    pub struct Rusty;

    impl fixture_api::rusty::Implementation for Rusty {
        fn version() -> u32 {
            VERSION
        }
        fn greet(app: &mut App, name: String) -> String {
            *app.visits.entry(name.clone()).or_default() += 1;
            let greeting = format!("hello {name} from v{VERSION}");
            app.names.push(name);
            greeting
        }
        fn greeter(prefix: &str) -> Box<dyn Fn(&str) -> String + Send + Sync> {
            let prefix = prefix.to_string();
            Box::new(move |name| format!("{prefix} {name} (v{VERSION})"))
        }
        fn square(side: f64) -> Box<dyn Shape> {
            Box::new(Square(side))
        }
        fn label() -> &'static str {
            if VERSION == 1 {
                "label of v1"
            } else {
                "label of v2"
            }
        }
        fn thing(thing: &shared::Thing) -> u64 {
            thing.n * 10
        }
        fn total(app: &App) -> Option<u64> {
            let total: u64 = app.visits.values().sum();
            (total > 0).then_some(total)
        }
        fn fail(message: String) -> u32 {
            panic!("{message}");
        }
        fn spawn_double(
            runtime: &tokio::runtime::Handle,
            n: u64,
            reply: tokio::sync::oneshot::Sender<u64>,
        ) {
            runtime.spawn(async move {
                let _ = reply.send(n * 2);
            });
        }
        fn spawn_entered(
            runtime: &tokio::runtime::Handle,
            reply: tokio::sync::oneshot::Sender<&'static str>,
        ) {
            // `tokio::spawn` reads the plugin's own copy of tokio's context: enter the
            // host's runtime in it first.
            let _entered = runtime.enter();
            tokio::spawn(async move {
                let _ = reply.send(if VERSION == 1 {
                    "spawned by v1"
                } else {
                    "spawned by v2"
                });
            });
        }
    }

    reloadable::export_plugin!(interface: fixture_api::rusty, implementation: Rusty);
}
