//! The greeter example's interface: the host serves HTTP, the plugin writes the answer.
//! Changing this file changes the ABI that host and plugin share, so `hotdev run` restarts
//! the host (a running host cannot adopt a new interface).

use reloadable::RString;

reloadable::ffi_interface! {
    /// What the greeter plugin provides.
    pub mod greeter {
        /// The body of the answer to a request for `path`.
        fn greet(path: &str) -> RString;
    }
}
