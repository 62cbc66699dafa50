//! Declare hot-reloadable plugin interfaces and export their implementations.
//!
//! `reloadable` is the half of [hotdev] that plugin and interface crates depend on. An
//! *interface crate*, shared by the host and its plugins, declares the functions a plugin
//! provides with [`interface!`]. A *plugin crate* (a `cdylib`) implements them and exports
//! the implementation with [`export_plugin!`]. The host (with `hotdev-host`) loads the
//! library, checks that both sides were built against the same declaration, types and
//! compiler, and calls the functions through a table it can swap while the program runs.
//!
//! ```
//! // In the interface crate:
//! reloadable::abi_struct! {
//!     /// Kept by the host, passed to every call.
//!     #[derive(Debug, Default)]
//!     pub struct Tally {
//!         pub total: u64,
//!     }
//! }
//!
//! reloadable::interface! {
//!     /// Adds numbers to a tally.
//!     pub mod adder {
//!         /// Adds `n` and returns the new total.
//!         fn add(tally: &mut Tally, n: u64) -> u64;
//!     }
//! }
//!
//! // In the plugin crate (`crate-type = ["cdylib"]`):
//! struct Adder;
//! impl adder::Implementation for Adder {
//!     fn add(tally: &mut Tally, n: u64) -> u64 {
//!         tally.total += n;
//!         tally.total
//!     }
//! }
//! reloadable::export_plugin!(interface: adder, implementation: Adder);
//! # fn main() {}
//! ```
//!
//! # What crosses the boundary
//!
//! Parameters and results are [`Abi`] types: numbers, `bool`, `char`, atomics, `&T` and
//! `&mut T` of such types, `&str`, `&[T]`, [`RString`], [`RVec`], [`State`], and structs
//! declared with [`abi_struct!`]. Results must be [`Owned`] (a result may outlive the
//! library that made it). Owned values are allocated with the system allocator, so either
//! side may free them whatever global allocator it uses.
//!
//! # Panics
//!
//! A panic in a plugin function never unwinds into the host: the generated shim catches
//! it, and the host's call returns [`CallError::Panicked`] with the message and the
//! plugin's `file:line:column`. Plugins must be built with `panic = "unwind"` (the default).
//!
//! [hotdev]: https://docs.rs/hotdev
#![deny(missing_docs)]

pub mod abi;
pub mod alloc;
pub mod codes;
pub mod descriptor;
mod exports;
pub mod ffi;
pub mod hooks;
pub mod linked;
#[doc(hidden)]
pub mod rt;
#[cfg(feature = "serde")]
pub mod serde_state;
mod state;
#[cfg(feature = "web")]
pub mod web;

use std::fmt;

pub use abi::{Abi, Field, Owned, Plain, TypeLayout};
pub use descriptor::{Descriptor, FnDecl, InterfaceDecl, StateDecl};
/// The iterators of [`RVec`].
pub use ffi::{Drain, IntoIter};
pub use ffi::{RString, RVec, RawSlice, RawStr, StaticSlice, StaticStr};
pub use linked::{Implemented, Linked};
pub use rt::Report;
pub use state::State;

/// An interface declared with [`interface!`]: the marker type `<module>::Interface`.
///
/// # Safety
/// `Table` must be the `#[repr(C)]` table of `extern "C"` shims that `DECL` describes.
pub unsafe trait Interface: 'static {
    /// The function table.
    type Table: Copy + Send + Sync + 'static;
    /// The declaration: names, signatures and types, from which the fingerprint is made.
    const DECL: &'static InterfaceDecl;
}

/// Something that can call the live generation of a plugin: implemented by the host's
/// plugin handles, used by the `Calls` trait that [`interface!`] generates.
///
/// # Safety
/// `invoke` must pass a table whose library stays loaded until `call` returns, and return
/// `Ok(r)` only when `call` returned null (the shim then wrote `r`).
pub unsafe trait Caller<I: Interface> {
    /// Calls `call` with the live table and a slot for the result, turning a non-null
    /// report into a [`CallError`].
    fn invoke<R>(
        &self,
        call: impl FnOnce(&I::Table, *mut R) -> *mut Report,
    ) -> Result<R, CallError>;
}

/// Why a call into a plugin failed.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The plugin function panicked; the host goes on. Code `HD050`.
    Panicked {
        /// The panic message.
        message: String,
        /// The plugin's `file:line:column`, when known.
        location: Option<String>,
        /// The generation that panicked.
        generation: u64,
        /// The generation it panicked in was rolled back (see the host's probation policy).
        /// Code `HD051`.
        rolled_back_to: Option<u64>,
    },
    /// The plugin function raised a fault (`SIGSEGV`, `SIGBUS`, `SIGILL`, `SIGFPE`, or a
    /// stack overflow) and the host's crash catching ended the call; the host goes on.
    /// Only with the host's crash catching turned on (`Options::catch_crashes`): without
    /// it, such a fault ends the process. Code `HD055`.
    Crashed {
        /// The signal number (`SIGSEGV` for a stack overflow on Linux).
        signal: i32,
        /// The faulting address (`si_addr`): 0 or near it for a null pointer.
        address: usize,
        /// The fault hit the bottom of the thread's stack: a stack overflow.
        stack_overflow: bool,
        /// The generation that crashed. Its library stays mapped for the rest of the
        /// process: the interrupted call's locks and data may point into it.
        generation: u64,
        /// The generation serving again, when the crashed one was on probation (its
        /// previous generation was still loaded).
        rolled_back_to: Option<u64>,
    },
}

/// The usual name of a signal number (`SIGSEGV`), or `signal N`.
pub fn signal_name(signal: i32) -> String {
    // The numbers POSIX leaves to each system: Linux's on x86, Arm and RISC-V, and those of
    // macOS and the BSDs. SIGILL, SIGFPE and SIGSEGV are the same on both.
    let bus = if cfg!(any(
        target_vendor = "apple",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly"
    )) {
        10
    } else {
        7
    };
    match signal {
        4 => "SIGILL".into(),
        8 => "SIGFPE".into(),
        11 => "SIGSEGV".into(),
        6 => "SIGABRT".into(),
        s if s == bus => "SIGBUS".into(),
        s => format!("signal {s}"),
    }
}

impl CallError {
    /// The stable error code (`HD050`, `HD051`, `HD055`), documented in `docs/errors.md`.
    pub fn code(&self) -> &'static str {
        match self {
            CallError::Panicked {
                rolled_back_to: None,
                ..
            } => codes::PANICKED,
            CallError::Panicked {
                rolled_back_to: Some(_),
                ..
            } => codes::ROLLED_BACK,
            CallError::Crashed { .. } => codes::CRASHED,
        }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Panicked {
                message,
                location,
                generation,
                rolled_back_to,
            } => {
                write!(
                    f,
                    "{}: plugin generation {generation} panicked",
                    self.code()
                )?;
                if let Some(at) = location {
                    write!(f, " at {at}")?;
                }
                write!(f, ": {message}")?;
                if let Some(to) = rolled_back_to {
                    write!(f, " (rolled back to generation {to})")?;
                }
                Ok(())
            }
            CallError::Crashed {
                signal,
                address,
                stack_overflow,
                generation,
                rolled_back_to,
            } => {
                let what = if *stack_overflow {
                    "stack overflow"
                } else {
                    match *signal {
                        4 => "illegal instruction",
                        8 => "arithmetic fault",
                        11 => "segmentation fault",
                        _ => "bus error",
                    }
                };
                write!(
                    f,
                    "{}: plugin generation {generation} crashed: {what} ({} at {address:#x})",
                    self.code(),
                    signal_name(*signal)
                )?;
                if let Some(to) = rolled_back_to {
                    write!(f, " (rolled back to generation {to})")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for CallError {}

/// The marker type and the table's `Debug`, shared by both interface macros.
#[doc(hidden)]
#[macro_export]
macro_rules! __interface_marker {
    ($name:ident) => {
        impl ::core::fmt::Debug for Table {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(::core::concat!(::core::stringify!($name), "::Table"))
            }
        }

        /// Names this interface to the host: `Plugin<Interface>`.
        #[derive(Debug, Clone, Copy)]
        pub enum Interface {}
    };
}

/// The `Interface` impl and the `Implementation` trait, shared by both interface macros.
#[doc(hidden)]
#[macro_export]
macro_rules! __interface_items {
    ( $( $(#[$fmeta:meta])* fn $fname:ident ( $( $arg:ident : $aty:ty ),* ) $( -> $ret:ty )? ; )* ) => {
        // SAFETY: `Table` is the `#[repr(C)]` table of shims built by `table()`, and
        // `DECL` lists exactly its functions, in order, with their types.
        unsafe impl $crate::Interface for Interface {
            type Table = Table;
            const DECL: &'static $crate::InterfaceDecl = &DECL;
        }

        /// What a plugin implements; export it with `reloadable::export_plugin!`.
        pub trait Implementation {
            $( $(#[$fmeta])* fn $fname($($arg: $aty),*) $(-> $ret)?; )*
        }
    };
}

/// `table::<T>()`, the table of an implementation, shared by both interface macros.
#[doc(hidden)]
#[macro_export]
macro_rules! __interface_table {
    ( $( $fname:ident ),* ) => {
        /// The table of `T`'s implementation (used by `export_plugin!`).
        pub const fn table<T: Implementation>() -> Table {
            Table { $( $fname: __shims::$fname::<T>, )* }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __ret {
    () => {
        ()
    };
    ($t:ty) => {
        $t
    };
}

/// Declares a plugin interface: a module holding the function table, the marker type
/// `Interface`, the trait `Implementation` that plugins implement, and the trait `Calls`
/// through which hosts call a loaded plugin.
///
/// ```
/// reloadable::interface! {
///     /// Greets people.
///     pub mod greeter {
///         /// Says hello.
///         fn greet(name: &str) -> reloadable::RString;
///     }
/// }
/// assert_eq!(<greeter::Interface as reloadable::Interface>::DECL.name.as_str(), "greeter");
/// ```
///
/// Parameter types must be [`Abi`], return types [`Owned`]. The module sees the items of
/// the module where the macro is invoked.
#[macro_export]
macro_rules! interface {
    (
        $(#[$meta:meta])*
        $vis:vis mod $name:ident {
            $(
                $(#[$fmeta:meta])*
                fn $fname:ident ( $( $arg:ident : $aty:ty ),* $(,)? ) $( -> $ret:ty )? ;
            )*
        }
    ) => {
        $(#[$meta])*
        #[allow(clippy::needless_lifetimes, clippy::ptr_arg)]
        $vis mod $name {
            #![allow(unused_imports)]
            use super::*;

            /// The function table: one panic-catching `extern "C"` shim per function.
            #[repr(C)]
            #[derive(Clone, Copy)]
            pub struct Table {
                $(
                    #[doc = ::core::concat!("The shim of `", ::core::stringify!($fname), "`.")]
                    pub $fname: unsafe extern "C" fn(
                        *mut <$crate::__ret!($($ret)?) as $crate::Abi>::Ffi,
                        $( <$aty as $crate::Abi>::Ffi ),*
                    ) -> *mut $crate::Report,
                )*
            }

            $crate::__interface_marker!($name);

            const DECL: $crate::InterfaceDecl = $crate::InterfaceDecl::new(
                ::core::stringify!($name),
                &[ $( $crate::FnDecl::new(
                    ::core::stringify!($fname),
                    ::core::stringify!(fn $fname($($arg: $aty),*) $(-> $ret)?),
                    &[ $( <$aty as $crate::Abi>::LAYOUT, )*
                       <$crate::__ret!($($ret)?) as $crate::Abi>::LAYOUT ],
                ), )* ],
            );

            $crate::__interface_items! {
                $( $(#[$fmeta])* fn $fname($($arg: $aty),*) $(-> $ret)?; )*
            }

            /// Calls into the live generation of a loaded plugin (for hosts).
            pub trait Calls: $crate::Caller<Interface> {
                $(
                    $(#[$fmeta])*
                    #[inline]
                    fn $fname(&self, $($arg: $aty),*)
                        -> ::core::result::Result<$crate::__ret!($($ret)?), $crate::CallError>
                    {
                        $( let $arg = <$aty as $crate::Abi>::into_ffi($arg); )*
                        let out = self.invoke(move |table: &Table, out| {
                            // SAFETY: `invoke` keeps the table's library loaded for this
                            // call; the arguments are live `into_ffi` values and `out` is a
                            // slot for the result.
                            unsafe { (table.$fname)(out, $($arg),*) }
                        })?;
                        // SAFETY: the shim wrote `out` with `into_ffi` of an `Owned` value.
                        Ok(unsafe { <$crate::__ret!($($ret)?) as $crate::Abi>::from_ffi(out) })
                    }
                )*
            }

            impl<C: $crate::Caller<Interface> + ?Sized> Calls for C {}

            #[doc(hidden)]
            pub mod __shims {
                use super::*;
                $(
                    /// # Safety
                    /// Called only through the table, with live arguments and a result slot.
                    pub unsafe extern "C" fn $fname<T: Implementation>(
                        out: *mut <$crate::__ret!($($ret)?) as $crate::Abi>::Ffi,
                        $( $arg: <$aty as $crate::Abi>::Ffi ),*
                    ) -> *mut $crate::Report {
                        $crate::rt::guard(move || {
                            // SAFETY: the host passed `into_ffi` values alive for this call.
                            let r = T::$fname($( unsafe { <$aty as $crate::Abi>::from_ffi($arg) } ),*);
                            // SAFETY: the host passed a valid, writable slot for the result.
                            unsafe { out.write(<$crate::__ret!($($ret)?) as $crate::Abi>::into_ffi(r)) }
                        })
                    }
                )*
            }

            $crate::__interface_table!($($fname),*);

            const _: fn() = || {
                fn returns_owned<T: $crate::Owned>() {}
                $( returns_owned::<$crate::__ret!($($ret)?)>(); )*
            };
        }
    };
}

/// Declares a plugin interface whose signatures use Rust types as they are: `String`,
/// `Vec`, `HashMap`, `Option`, tuples, enums, closures and trait objects in boxes, other
/// crates' types (`&egui::Context`, `&mut ratatui::Frame`), by reference or by value.
///
/// ```
/// use std::collections::HashMap;
///
/// #[derive(Debug, Default)]
/// pub struct App {
///     pub names: Vec<String>,
///     pub visits: HashMap<String, u64>,
/// }
///
/// reloadable::rust_interface! {
///     /// Greets people and remembers them.
///     pub mod greeter {
///         fn greet(app: &mut App, name: String) -> String;
///         fn known(app: &App) -> Vec<String>;
///     }
/// }
///
/// struct Greeter;
/// impl greeter::Implementation for Greeter {
///     fn greet(app: &mut App, name: String) -> String {
///         *app.visits.entry(name.clone()).or_default() += 1;
///         app.names.push(name.clone());
///         format!("hello {name}")
///     }
///     fn known(app: &App) -> Vec<String> {
///         app.names.clone()
///     }
/// }
/// reloadable::export_plugin!(interface: greeter, implementation: Greeter);
/// # fn main() {}
/// ```
///
/// Such values are passed with Rust's own calling convention, which is sound only between
/// a host and a plugin from one *build world*: the same compiler (version and commit) and
/// target, and, for every type that crosses, the same crate build (version, source,
/// features and profile). The host checks it when it loads the plugin: the static part of
/// the fingerprint (compiler, target, signatures, table slots, each type's size and
/// alignment), then, for every type in the signatures, that the plugin's `TypeId` equals
/// its own, and refuses the plugin otherwise (`HD013`, `HD015`), naming the type.
///
/// Both sides allocate through the host's allocator (see [`alloc`]), so a `String` made by
/// the plugin may be freed by the host. A value made by the plugin can point into its
/// code (a closure, a trait object, a `&'static str`), so by default the host never
/// unmaps a retired generation of a Rust-typed plugin (see the host's `Options::unload`).
///
/// What the check cannot see: a change to the *definition* of a type inside a crate that
/// both sides compile with the same build settings (a workspace crate edited between the
/// host's build and the plugin's) keeps its `TypeId`; a changed size is still refused, a
/// same-size change is not. The development loop treats an edit of a crate that the host
/// compiles as a change that needs a restart.
#[macro_export]
macro_rules! rust_interface {
    (
        $(#[$meta:meta])*
        $vis:vis mod $name:ident {
            $(
                $(#[$fmeta:meta])*
                fn $fname:ident ( $( $arg:ident : $aty:ty ),* $(,)? ) $( -> $ret:ty )? ;
            )*
        }
    ) => {
        $crate::rust_interface! {
            @items {}
            $(#[$meta])*
            $vis mod $name {
                $( $(#[$fmeta])* fn $fname($($arg: $aty),*) $(-> $ret)?; )*
            }
        }
    };
    // Used by `exports!`: the same, with more items in the module.
    (
        @items { $($items:tt)* }
        $(#[$meta:meta])*
        $vis:vis mod $name:ident {
            $(
                $(#[$fmeta:meta])*
                fn $fname:ident ( $( $arg:ident : $aty:ty ),* $(,)? ) $( -> $ret:ty )? ;
            )*
        }
    ) => {
        $(#[$meta])*
        #[allow(clippy::needless_lifetimes, clippy::ptr_arg, clippy::too_many_arguments)]
        $vis mod $name {
            #![allow(unused_imports)]
            use super::*;

            $($items)*

            /// The function table: one panic-catching shim per function, with Rust's
            /// calling convention (host and plugin share one compiler).
            #[repr(C)]
            #[derive(Clone, Copy)]
            pub struct Table {
                $(
                    #[doc = ::core::concat!("The shim of `", ::core::stringify!($fname), "`.")]
                    pub $fname: unsafe fn(
                        *mut $crate::__ret!($($ret)?),
                        $( $aty ),*
                    ) -> *mut $crate::Report,
                )*
            }

            $crate::__interface_marker!($name);

            const DECL: $crate::InterfaceDecl = $crate::InterfaceDecl::rust(
                ::core::stringify!($name),
                &[ $( $crate::FnDecl::new(
                    ::core::stringify!($fname),
                    ::core::stringify!(fn $fname($($arg: $aty),*) $(-> $ret)?),
                    &[ $( {
                        const L: $crate::TypeLayout =
                            $crate::TypeLayout::rust::<$aty>(::core::stringify!($aty));
                        &L
                    }, )* {
                        const L: $crate::TypeLayout =
                            $crate::TypeLayout::rust::<$crate::__ret!($($ret)?)>(
                                ::core::stringify!($crate::__ret!($($ret)?))
                            );
                        &L
                    } ],
                ), )* ],
            );

            $crate::__interface_items! {
                $( $(#[$fmeta])* fn $fname($($arg: $aty),*) $(-> $ret)?; )*
            }

            /// Calls into the live generation of a loaded plugin (for hosts).
            pub trait Calls: $crate::Caller<Interface> {
                $(
                    $(#[$fmeta])*
                    #[inline]
                    fn $fname(&self, $($arg: $aty),*)
                        -> ::core::result::Result<$crate::__ret!($($ret)?), $crate::CallError>
                    {
                        self.invoke(move |table: &Table, out| {
                            // SAFETY: `invoke` keeps the table's library loaded for this
                            // call, and the host checked that the plugin was built in this
                            // build world (same compiler and crate builds), so the shim
                            // takes these very types; `out` is a slot for the result.
                            unsafe { (table.$fname)(out, $($arg),*) }
                        })
                    }
                )*
            }

            impl<C: $crate::Caller<Interface> + ?Sized> Calls for C {}

            #[doc(hidden)]
            pub mod __shims {
                use super::*;
                $(
                    /// # Safety
                    /// Called only through the table, with a slot for the result.
                    pub unsafe fn $fname<T: Implementation>(
                        out: *mut $crate::__ret!($($ret)?),
                        $( $arg: $aty ),*
                    ) -> *mut $crate::Report {
                        $crate::rt::guard(move || {
                            let r = T::$fname($($arg),*);
                            // SAFETY: the host passed a valid, writable slot for the result.
                            unsafe { out.write(r) }
                        })
                    }
                )*
            }

            $crate::__interface_table!($($fname),*);
        }
    };
}

/// Exports a plugin: the static descriptor the host looks up, with the implementation's
/// function table and optional hooks.
///
/// ```ignore
/// reloadable::export_plugin!(
///     interface: counter_interface::counter,   // the module made by `interface!`
///     implementation: MyCounter,               // implements `counter::Implementation`
///     name: "my-counter",                      // optional; default: the package name
///     on_load: || -> Result<(), String> { Ok(()) },   // optional: refuse to load on Err
///     on_unload: || {},                        // optional
///     state: MyState,                          // optional: an `abi_struct!` + Default
///     migrate: (save_fn, restore_fn),          // optional, after `state`:
///                                              //   fn(&MyState) -> Vec<u8>,
///                                              //   fn(&[u8]) -> Result<MyState, String>
/// );
/// ```
///
/// Use it once per plugin crate, whose `crate-type` must include `cdylib`.
///
/// # Migrating the state with serde
///
/// With reloadable's `serde` feature, `migrate: serde` generates both hooks for a state
/// that is `Serialize + Deserialize + Default`: when the state's layout changes, fields
/// that still exist keep their values and new fields take their `Default` values
/// (module `serde_state`). Adding a field is then one edit:
///
/// ```ignore
/// reloadable::abi_struct! {
///     #[derive(Default, serde::Serialize, serde::Deserialize)]
///     pub struct MyState { pub visits: u64, pub likes: u64 /* new */ }
/// }
/// reloadable::export_plugin!(interface: app, implementation: App, state: MyState, migrate: serde);
/// ```
#[macro_export]
macro_rules! export_plugin {
    (
        interface: $($iface:ident)::+,
        implementation: $imp:ty
        $(, name: $pname:expr)?
        $(, on_load: $on_load:expr)?
        $(, on_unload: $on_unload:expr)?
        , state: $state:ty, migrate: serde
        $(,)?
    ) => {
        $crate::export_plugin!(
            interface: $($iface)::+,
            implementation: $imp
            $(, name: $pname)?
            $(, on_load: $on_load)?
            $(, on_unload: $on_unload)?
            , state: $state,
            migrate: ($crate::__serde_save!($state), $crate::__serde_restore!($state))
        );
    };
    (
        interface: $($iface:ident)::+,
        implementation: $imp:ty
        $(, name: $pname:expr)?
        $(, on_load: $on_load:expr)?
        $(, on_unload: $on_unload:expr)?
        $(, state: $state:ty $(, migrate: ($save:expr, $restore:expr))? )?
        $(,)?
    ) => {
        #[doc(hidden)]
        static __HOTDEV_TABLE: $($iface)::+::Table = $($iface)::+::table::<$imp>();

        /// Allocates through the host's allocator (see `reloadable::alloc`).
        #[doc(hidden)]
        #[global_allocator]
        static __HOTDEV_ALLOCATOR: $crate::alloc::Forward = $crate::alloc::Forward;

        $(
            #[doc(hidden)]
            unsafe extern "C" fn __hotdev_on_load() -> *mut $crate::Report {
                $crate::rt::guard_result($on_load)
            }
        )?
        $(
            #[doc(hidden)]
            unsafe extern "C" fn __hotdev_on_unload() -> *mut $crate::Report {
                $crate::rt::guard($on_unload)
            }
        )?
        $(
            #[doc(hidden)]
            unsafe extern "C" fn __hotdev_state_init(p: *mut u8) -> *mut $crate::Report {
                $crate::rt::guard(|| {
                    let value: $state = ::core::default::Default::default();
                    // SAFETY: the host passes memory of the declared layout for a new state.
                    unsafe { p.cast::<$state>().write(value) }
                })
            }
            #[doc(hidden)]
            unsafe extern "C" fn __hotdev_state_drop(p: *mut u8) -> *mut $crate::Report {
                // SAFETY: the host passes a live state of this type, dropped once.
                $crate::rt::guard(|| unsafe { ::core::ptr::drop_in_place(p.cast::<$state>()) })
            }
            $(
                #[doc(hidden)]
                unsafe extern "C" fn __hotdev_state_save(
                    p: *const u8,
                    out: *mut $crate::RVec<u8>,
                ) -> *mut $crate::Report {
                    $crate::rt::guard(|| {
                        // SAFETY: the host passes a live state of this type.
                        let state: &$state = unsafe { &*p.cast::<$state>() };
                        let bytes: ::std::vec::Vec<u8> = ($save)(state);
                        // SAFETY: the host passes a writable slot for the bytes.
                        unsafe { out.write($crate::RVec::from(bytes)) }
                    })
                }
                #[doc(hidden)]
                unsafe extern "C" fn __hotdev_state_restore(
                    bytes: $crate::RawSlice<u8>,
                    p: *mut u8,
                ) -> *mut $crate::Report {
                    $crate::rt::guard_result(|| {
                        // SAFETY: the host passes bytes alive for this call.
                        let bytes: &[u8] = unsafe { bytes.get() };
                        let value: $state = ($restore)(bytes)?;
                        // SAFETY: the host passes memory of the declared layout for a new state.
                        unsafe { p.cast::<$state>().write(value) };
                        ::core::result::Result::<(), ::std::string::String>::Ok(())
                    })
                }
            )?
            #[doc(hidden)]
            static __HOTDEV_STATE: $crate::StateDecl = $crate::StateDecl {
                layout: <$state as $crate::Abi>::LAYOUT,
                init: __hotdev_state_init,
                drop: __hotdev_state_drop,
                save: {
                    let f: ::core::option::Option<
                        unsafe extern "C" fn(*const u8, *mut $crate::RVec<u8>) -> *mut $crate::Report,
                    > = None;
                    $( let _ = ::core::stringify!($save); let f = Some(__hotdev_state_save as _); )?
                    f
                },
                restore: {
                    let f: ::core::option::Option<
                        unsafe extern "C" fn($crate::RawSlice<u8>, *mut u8) -> *mut $crate::Report,
                    > = None;
                    $( let _ = ::core::stringify!($restore); let f = Some(__hotdev_state_restore as _); )?
                    f
                },
            };
        )?

        /// The hotdev plugin descriptor (looked up by the host; see `reloadable::descriptor`).
        #[unsafe(no_mangle)]
        pub static HOTDEV_PLUGIN_V1: $crate::Descriptor = $crate::Descriptor {
            magic: $crate::descriptor::MAGIC,
            descriptor_version: $crate::descriptor::DESCRIPTOR_VERSION,
            abi_version: $crate::descriptor::ABI_VERSION,
            descriptor_size: ::core::mem::size_of::<$crate::Descriptor>(),
            interface: <$($iface)::+::Interface as $crate::Interface>::DECL,
            plugin_name: $crate::StaticStr::new({
                let name = ::core::env!("CARGO_PKG_NAME");
                $( let name = $pname; )?
                name
            }),
            build_id: $crate::StaticStr::new(match ::core::option_env!("HOTDEV_BUILD_ID") {
                Some(id) => id,
                None => ::core::env!("CARGO_PKG_VERSION"),
            }),
            rustc: $crate::StaticStr::new($crate::descriptor::RUSTC_VERSION),
            target: $crate::StaticStr::new($crate::descriptor::TARGET),
            panic: $crate::StaticStr::new($crate::__panic_strategy!()),
            table: &__HOTDEV_TABLE as *const $($iface)::+::Table as *const ::core::ffi::c_void,
            table_size: ::core::mem::size_of::<$($iface)::+::Table>(),
            init: $crate::rt::init,
            fini: $crate::rt::fini,
            on_load: {
                let f: ::core::option::Option<unsafe extern "C" fn() -> *mut $crate::Report> = None;
                $( let _ = ::core::stringify!($on_load); let f = Some(__hotdev_on_load as _); )?
                f
            },
            on_unload: {
                let f: ::core::option::Option<unsafe extern "C" fn() -> *mut $crate::Report> = None;
                $( let _ = ::core::stringify!($on_unload); let f = Some(__hotdev_on_unload as _); )?
                f
            },
            state: {
                let s: ::core::option::Option<&'static $crate::StateDecl> = None;
                $( let _ = ::core::stringify!($state); let s = Some(&__HOTDEV_STATE); )?
                s
            },
        };
    };
}

#[doc(hidden)]
#[cfg(feature = "serde")]
#[macro_export]
macro_rules! __serde_save {
    ($state:ty) => {
        $crate::serde_state::save::<$state>
    };
}

#[doc(hidden)]
#[cfg(feature = "serde")]
#[macro_export]
macro_rules! __serde_restore {
    ($state:ty) => {
        $crate::serde_state::restore::<$state>
    };
}

#[doc(hidden)]
#[cfg(not(feature = "serde"))]
#[macro_export]
macro_rules! __serde_save {
    ($state:ty) => {
        ::core::compile_error!(
            "`migrate: serde` needs reloadable's `serde` feature: \
             reloadable = { ..., features = [\"serde\"] } in the plugin's Cargo.toml"
        )
    };
}

#[doc(hidden)]
#[cfg(not(feature = "serde"))]
#[macro_export]
macro_rules! __serde_restore {
    ($state:ty) => {
        |_: &[u8]| -> ::core::result::Result<$state, ::std::string::String> {
            ::core::unreachable!()
        }
    };
}
