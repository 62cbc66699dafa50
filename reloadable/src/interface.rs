//! The two interface macros, [`ffi_interface!`](crate::ffi_interface) (FFI types) and
//! [`rust_interface!`](crate::rust_interface) (Rust types, for one build world), and the
//! one internal macro, `__interface!`, that generates the module for both.
//!
//! Both kinds make the same module: the function table `Table`, the marker type
//! `Interface`, the declaration `DECL` the host checks, the trait `Implementation` that
//! plugins implement, the trait `Calls` through which hosts call, the shims in `__shims`
//! and `table::<T>()`. The kind (`ffi` or `rust`) decides only what `__interface_kind!`
//! generates:
//!
//! - the shims' type: `unsafe extern "C" fn` over each type's `Abi::Ffi` form, or
//!   `unsafe fn` over the types as they are;
//! - the declaration: `InterfaceDecl::new` with each type's `Abi::LAYOUT`, or
//!   `InterfaceDecl::rust` with each type's size, alignment and `TypeId`;
//! - how `Calls` and the shims pass arguments and results: through `Abi::into_ffi` and
//!   `Abi::from_ffi`, or as they are;
//! - for the FFI kind, a compile-time check that every result is `Owned`.

/// Declares a plugin interface: a module holding the function table, the marker type
/// `Interface`, the trait `Implementation` that plugins implement, and the trait `Calls`
/// through which hosts call a loaded plugin.
///
/// ```
/// reloadable::ffi_interface! {
///     /// Greets people.
///     pub mod greeter {
///         /// Says hello.
///         fn greet(name: &str) -> reloadable::RString;
///     }
/// }
/// assert_eq!(<greeter::Interface as reloadable::PluginInterface>::DECL.name.as_str(), "greeter");
/// ```
///
/// Parameter types must be [`Abi`](crate::Abi), return types [`Owned`](crate::Owned). The
/// module sees the items of the module where the macro is invoked.
#[macro_export]
macro_rules! ffi_interface {
    (
        $(#[$meta:meta])*
        $vis:vis mod $name:ident {
            $(
                $(#[$fmeta:meta])*
                fn $fname:ident ( $( $arg:ident : $aty:ty ),* $(,)? ) $( -> $ret:ty )? ;
            )*
        }
    ) => {
        $crate::__interface! {
            kind: ffi,
            items: {},
            $(#[$meta])*
            $vis mod $name {
                $( $(#[$fmeta])* fn $fname($($arg: $aty),*) $(-> $ret)?; )*
            }
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
/// Both sides allocate through the host's allocator (see [`alloc`](crate::alloc)), so a
/// `String` made by the plugin may be freed by the host. A value made by the plugin can
/// point into its code (a closure, a trait object, a `&'static str`), so by default the
/// host never unmaps a retired generation of a Rust-typed plugin (see the host's
/// `Options::unload`).
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
        $crate::__interface! {
            kind: rust,
            items: {},
            $(#[$meta])*
            $vis mod $name {
                $( $(#[$fmeta])* fn $fname($($arg: $aty),*) $(-> $ret)?; )*
            }
        }
    };
}

/// The module of an interface of either kind (`ffi` or `rust`), with `items` added to it
/// (`plugin_module!` adds the functions themselves); what differs by kind comes from
/// `__interface_kind!`.
#[doc(hidden)]
#[macro_export]
macro_rules! __interface {
    (
        kind: $kind:ident,
        items: { $($items:tt)* },
        $(#[$meta:meta])*
        $vis:vis mod $name:ident {
            $(
                $(#[$fmeta:meta])*
                fn $fname:ident ( $( $arg:ident : $aty:ty ),* ) $( -> $ret:ty )? ;
            )*
        }
    ) => {
        $(#[$meta])*
        #[allow(clippy::needless_lifetimes, clippy::ptr_arg, clippy::too_many_arguments)]
        $vis mod $name {
            #![allow(unused_imports)]
            use super::*;

            $($items)*

            #[doc = $crate::__interface_kind!($kind, table_doc)]
            #[repr(C)]
            #[derive(Clone, Copy)]
            pub struct Table {
                $(
                    #[doc = ::core::concat!("The shim of `", ::core::stringify!($fname), "`.")]
                    pub $fname: $crate::__interface_kind!(
                        $kind, shim_type ($($aty),*) -> $crate::__ret!($($ret)?)
                    ),
                )*
            }

            impl ::core::fmt::Debug for Table {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    f.write_str(::core::concat!(::core::stringify!($name), "::Table"))
                }
            }

            /// Names this interface to the host: `Plugin<Interface>`.
            #[derive(Debug, Clone, Copy)]
            pub enum Interface {}

            const DECL: $crate::InterfaceDecl = $crate::__interface_kind!(
                $kind, decl(
                    ::core::stringify!($name),
                    &[ $( $crate::FnDecl::new(
                        ::core::stringify!($fname),
                        ::core::stringify!(fn $fname($($arg: $aty),*) $(-> $ret)?),
                        &[
                            $( $crate::__interface_kind!($kind, layout $aty), )*
                            $crate::__interface_kind!($kind, result_layout ($($ret)?)),
                        ],
                    ), )* ],
                )
            );

            // SAFETY: `Table` is the `#[repr(C)]` table of shims built by `table()`, and
            // `DECL` lists exactly its functions, in order, with their types.
            unsafe impl $crate::PluginInterface for Interface {
                type Table = Table;
                const DECL: &'static $crate::InterfaceDecl = &DECL;
            }

            /// What a plugin implements; export it with `reloadable::export_plugin!`.
            pub trait Implementation {
                $( $(#[$fmeta])* fn $fname($($arg: $aty),*) $(-> $ret)?; )*
            }

            /// Calls into the live generation of a loaded plugin (for hosts).
            pub trait Calls: $crate::Invoke<Interface> {
                $(
                    $crate::__interface_kind! {
                        $kind, call $(#[$fmeta])*
                        fn $fname($($arg: $aty),*) -> $crate::__ret!($($ret)?)
                    }
                )*
            }

            impl<C: $crate::Invoke<Interface> + ?Sized> Calls for C {}

            #[doc(hidden)]
            pub mod __shims {
                use super::*;
                $(
                    $crate::__interface_kind! {
                        $kind, shim fn $fname($($arg: $aty),*) -> $crate::__ret!($($ret)?)
                    }
                )*
            }

            /// The table of `T`'s implementation (used by `export_plugin!`).
            pub const fn table<T: Implementation>() -> Table {
                Table { $( $fname: __shims::$fname::<T>, )* }
            }

            $crate::__interface_kind!($kind, check_results ($( $crate::__ret!($($ret)?) ),*));
        }
    };
}

/// What differs between the two kinds of interface (see the module docs): each arm
/// generates one piece of `__interface!`'s module for `ffi` or for `rust`.
#[doc(hidden)]
#[macro_export]
macro_rules! __interface_kind {
    // The table's docs.
    (ffi, table_doc) => {
        "The function table: one panic-catching `extern \"C\"` shim per function."
    };
    (rust, table_doc) => {
        "The function table: one panic-catching shim per function, with Rust's calling \
         convention (host and plugin share one compiler)."
    };

    // The type of a shim, a field of the table.
    (ffi, shim_type ($($aty:ty),*) -> $ret:ty) => {
        unsafe extern "C" fn(
            *mut <$ret as $crate::Abi>::Ffi,
            $( <$aty as $crate::Abi>::Ffi ),*
        ) -> *mut $crate::Report
    };
    (rust, shim_type ($($aty:ty),*) -> $ret:ty) => {
        unsafe fn(*mut $ret, $( $aty ),*) -> *mut $crate::Report
    };

    // The declaration, from the interface's name and its functions.
    (ffi, decl($name:expr, $functions:expr $(,)?)) => {
        $crate::InterfaceDecl::new($name, $functions)
    };
    (rust, decl($name:expr, $functions:expr $(,)?)) => {
        $crate::InterfaceDecl::rust($name, $functions)
    };

    // The layout of a parameter's type, and of the result's.
    (ffi, layout $ty:ty) => {
        <$ty as $crate::Abi>::LAYOUT
    };
    (rust, layout $ty:ty) => {{
        const L: $crate::TypeLayout = $crate::TypeLayout::rust::<$ty>(::core::stringify!($ty));
        &L
    }};
    (ffi, result_layout ($($ret:ty)?)) => {
        <$crate::__ret!($($ret)?) as $crate::Abi>::LAYOUT
    };
    (rust, result_layout ($($ret:ty)?)) => {{
        const L: $crate::TypeLayout = $crate::TypeLayout::rust::<$crate::__ret!($($ret)?)>(
            $crate::__ret_name!($($ret)?)
        );
        &L
    }};

    // A method of `Calls`: a call through the live table.
    (ffi, call $(#[$fmeta:meta])* fn $fname:ident ( $( $arg:ident : $aty:ty ),* ) -> $ret:ty) => {
        $(#[$fmeta])*
        #[inline]
        fn $fname(&self, $($arg: $aty),*)
            -> ::core::result::Result<$ret, $crate::CallError>
        {
            $( let $arg = <$aty as $crate::Abi>::into_ffi($arg); )*
            let out = self.invoke(move |table: &Table, out| {
                // SAFETY: `invoke` keeps the table's library loaded for this
                // call; the arguments are live `into_ffi` values and `out` is a
                // slot for the result.
                unsafe { (table.$fname)(out, $($arg),*) }
            })?;
            // SAFETY: the shim wrote `out` with `into_ffi` of an `Owned` value.
            Ok(unsafe { <$ret as $crate::Abi>::from_ffi(out) })
        }
    };
    (rust, call $(#[$fmeta:meta])* fn $fname:ident ( $( $arg:ident : $aty:ty ),* ) -> $ret:ty) => {
        $(#[$fmeta])*
        #[inline]
        fn $fname(&self, $($arg: $aty),*)
            -> ::core::result::Result<$ret, $crate::CallError>
        {
            self.invoke(move |table: &Table, out| {
                // SAFETY: `invoke` keeps the table's library loaded for this
                // call, and the host checked that the plugin was built in this
                // build world (same compiler and crate builds), so the shim
                // takes these very types; `out` is a slot for the result.
                unsafe { (table.$fname)(out, $($arg),*) }
            })
        }
    };

    // A shim: calls `T`'s implementation, catches a panic, writes the result.
    (ffi, shim fn $fname:ident ( $( $arg:ident : $aty:ty ),* ) -> $ret:ty) => {
        #[doc = ::core::concat!(
            "The `extern \"C\"` shim of `", ::core::stringify!($fname), "`: calls `T`'s ",
            "implementation with the arguments converted back from their FFI forms and ",
            "writes the result to `out`; a panic is caught and returned as a report.",
        )]
        ///
        /// # Safety
        ///
        /// Call it only through the interface's table, as `Calls` does:
        /// - `out` must be valid for writing the result's FFI form (it is written only
        ///   when the shim returns null);
        /// - each argument must come from `Abi::into_ffi` of a value that stays alive for
        ///   the call (borrowed forms point into the caller's values).
        pub unsafe extern "C" fn $fname<T: Implementation>(
            out: *mut <$ret as $crate::Abi>::Ffi,
            $( $arg: <$aty as $crate::Abi>::Ffi ),*
        ) -> *mut $crate::Report {
            $crate::rt::guard(move || {
                // SAFETY: the host passed `into_ffi` values alive for this call.
                let r = T::$fname($( unsafe { <$aty as $crate::Abi>::from_ffi($arg) } ),*);
                // SAFETY: the host passed a valid, writable slot for the result.
                unsafe { out.write(<$ret as $crate::Abi>::into_ffi(r)) }
            })
        }
    };
    (rust, shim fn $fname:ident ( $( $arg:ident : $aty:ty ),* ) -> $ret:ty) => {
        #[doc = ::core::concat!(
            "The shim of `", ::core::stringify!($fname), "`: calls `T`'s implementation ",
            "and writes the result to `out`; a panic is caught and returned as a report.",
        )]
        ///
        /// # Safety
        ///
        /// Call it only through the interface's table, as `Calls` does:
        /// - `out` must be valid for writing the result (it is written only when the shim
        ///   returns null);
        /// - the caller must come from the same build world as this code (same compiler
        ///   and, for every type in the signature, the same crate build), which the host
        ///   checks at load: the arguments are passed with Rust's calling convention.
        pub unsafe fn $fname<T: Implementation>(
            out: *mut $ret,
            $( $arg: $aty ),*
        ) -> *mut $crate::Report {
            $crate::rt::guard(move || {
                let r = T::$fname($($arg),*);
                // SAFETY: the host passed a valid, writable slot for the result.
                unsafe { out.write(r) }
            })
        }
    };

    // The results of an FFI interface must be `Owned`: they may outlive the library.
    (ffi, check_results ($($ret:ty),*)) => {
        const _: fn() = || {
            fn returns_owned<T: $crate::Owned>() {}
            $( returns_owned::<$ret>(); )*
        };
    };
    (rust, check_results ($($ret:ty),*)) => {};
}

/// The name of a function's result type, as written: `"()"` when it has none.
#[doc(hidden)]
#[macro_export]
macro_rules! __ret_name {
    () => {
        "()"
    };
    ($t:ty) => {
        ::core::stringify!($t)
    };
}

/// A function's result type: `()` when it has none.
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
