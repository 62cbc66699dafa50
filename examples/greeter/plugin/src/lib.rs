//! The greeter plugin. Under `hotdev run -p greeter-host --listen 127.0.0.1:7979`, edit the
//! greeting and save: the running host hot-reloads this library, with the same process id.

use greeter_interface::greeter;
use reloadable::RString;

struct Greeter;

impl greeter::Implementation for Greeter {
    fn greet(path: &str) -> RString {
        format!("hello from the plugin, v1 (you asked for {path})").into()
    }
}

reloadable::export_plugin!(interface: greeter_interface::greeter, implementation: Greeter);
