//! [`plugin_module!`](crate::plugin_module): a plugin's functions, written once, are its interface.

/// Declares a plugin's functions once: they are the plugin's exports, its interface (a
/// [`rust_interface!`](crate::rust_interface) generated from their signatures), and, for
/// release builds, functions a host can call directly ([`Linked`](crate::Linked)).
///
/// ```
/// #[derive(Debug, Default)]
/// pub struct State {
///     pub counter: usize,
/// }
///
/// reloadable::plugin_module! {
///     /// What the host calls.
///     pub mod api {
///         /// One step of work.
///         pub fn do_stuff(state: &mut State) -> String {
///             state.counter += 1;
///             format!("doing stuff in iteration {}", state.counter)
///         }
///     }
/// }
///
/// fn main() {
///     // Still ordinary functions of the crate:
///     let mut state = State::default();
///     assert_eq!(api::do_stuff(&mut state), "doing stuff in iteration 1");
///     // The interface, as `rust_interface!` would declare it:
///     let decl = <api::Interface as reloadable::PluginInterface>::DECL;
///     assert_eq!(decl.name.as_str(), "api");
///     assert_eq!(decl.functions.as_slice().len(), 1);
/// }
/// ```
///
/// Put it in the plugin crate's `lib.rs`, with `crate-type = ["cdylib", "rlib"]`: the
/// `cdylib` is what the host loads and reloads; the `rlib` is what the host depends on for
/// the types and the interface. The host calls through `hotdev::devloop::HotPlugin::<api::
/// Interface>` (with `use plugin::api::Calls`), or, in a build without reloading,
/// through [`Linked<api::Interface>`](crate::Linked), with the same calls.
///
/// The module holds the functions as written (with `use super::*`, so they see the
/// crate's items), and what [`rust_interface!`](crate::rust_interface) generates from
/// their signatures: `Interface`, `Calls`, `Implementation`, `Table`, `table`. `Functions`
/// implements the interface with these functions, and the crate exports it as by
/// [`export_plugin!`](crate::export_plugin); the tokens after the module are passed on to
/// it (`on_load: ..`, `on_unload: ..`, `name: ..`). So the module's functions may not be
/// called `table`, and only `pub fn`s go inside (helpers go next to the module);
/// parameters are plain names (`state: State`, then `let mut state = state;`).
///
/// The host's load-time check covers these interfaces like any `rust_interface!`
/// (signatures, slots, sizes, `TypeId`s): host and plugin must come from one workspace and
/// one build world, which `HotPlugin` sees to.
///
/// # Linking the plugin crate into the host
///
/// The host links the plugin's `rlib`, export included: a second copy of the descriptor
/// symbol (inert in a program: nothing looks it up there) and the plugin's global
/// allocator, [`alloc::Forward`](crate::alloc::Forward), which in a program that is not a
/// loaded plugin allocates from the system allocator, as a program does by default. So a
/// host that links such a crate cannot set a `#[global_allocator]` of its own (the
/// compiler refuses two), and links at most one such plugin crate (each exports the same
/// descriptor symbol).
#[macro_export]
macro_rules! plugin_module {
    (
        $(#[$meta:meta])*
        $vis:vis mod $name:ident {
            $(
                $(#[$fmeta:meta])*
                pub fn $fname:ident ( $( $arg:ident : $aty:ty ),* $(,)? ) $( -> $ret:ty )?
                    $body:block
            )*
        }
        $($export:tt)*
    ) => {
        $crate::__interface! {
            kind: rust,
            items: {
                $(
                    $(#[$fmeta])*
                    pub fn $fname($($arg: $aty),*) $(-> $ret)? $body
                )*

                /// These functions, as the implementation of this interface.
                #[derive(Debug, Clone, Copy)]
                pub enum Functions {}

                impl Implementation for Functions {
                    $(
                        #[inline]
                        fn $fname($($arg: $aty),*) $(-> $ret)? {
                            self::$fname($($arg),*)
                        }
                    )*
                }

                impl $crate::Linkable for Interface {
                    const TABLE: Table = table::<Functions>();
                }
            },
            $(#[$meta])*
            $vis mod $name {
                $( $(#[$fmeta])* fn $fname($($arg: $aty),*) $(-> $ret)?; )*
            }
        }

        $crate::export_plugin!(
            interface: $name,
            implementation: $name::Functions,
            $($export)*
        );
    };
}
