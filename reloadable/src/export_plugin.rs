//! [`export_plugin!`](crate::export_plugin): the descriptor a plugin exports, with its
//! function table, hooks and state.

/// Exports a plugin: the static descriptor the host looks up, with the implementation's
/// function table and optional hooks.
///
/// ```ignore
/// reloadable::export_plugin!(
///     interface: counter_interface::counter,   // the module made by `ffi_interface!`
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
            /// The plugin's `on_load` hook, with a panic or an `Err` returned as a report.
            ///
            /// # Safety
            /// Called by the host through the descriptor, after `init`.
            #[doc(hidden)]
            unsafe extern "C" fn __hotdev_on_load() -> *mut $crate::Report {
                $crate::rt::guard_result($on_load)
            }
        )?
        $(
            /// The plugin's `on_unload` hook, with a panic returned as a report.
            ///
            /// # Safety
            /// Called by the host through the descriptor, before `fini`.
            #[doc(hidden)]
            unsafe extern "C" fn __hotdev_on_unload() -> *mut $crate::Report {
                $crate::rt::guard($on_unload)
            }
        )?
        $(
            /// Writes a new `Default` state to `p`.
            ///
            /// # Safety
            /// `p` must be valid for writing a value of the state's declared layout (size
            /// and alignment), and hold no live state.
            #[doc(hidden)]
            unsafe extern "C" fn __hotdev_state_init(p: *mut u8) -> *mut $crate::Report {
                $crate::rt::guard(|| {
                    let value: $state = ::core::default::Default::default();
                    // SAFETY: the host passes memory of the declared layout for a new state.
                    unsafe { p.cast::<$state>().write(value) }
                })
            }
            /// Drops the state at `p` in place.
            ///
            /// # Safety
            /// `p` must point to a live state of this type, which is not used afterwards.
            #[doc(hidden)]
            unsafe extern "C" fn __hotdev_state_drop(p: *mut u8) -> *mut $crate::Report {
                // SAFETY: the host passes a live state of this type, dropped once.
                $crate::rt::guard(|| unsafe { ::core::ptr::drop_in_place(p.cast::<$state>()) })
            }
            $(
                /// Saves the state at `p` as bytes, with the plugin's `migrate` save hook.
                ///
                /// # Safety
                /// `p` must point to a live state of this type, and `out` must be valid for
                /// writing an `RVec<u8>` (written only when the result is null).
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
                /// Restores a state from saved bytes into `p`, with the plugin's `migrate`
                /// restore hook.
                ///
                /// # Safety
                /// `bytes` must be alive for the call, and `p` valid for writing a value of
                /// the state's declared layout that holds no live state (written only when
                /// the result is null).
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
            interface: <$($iface)::+::Interface as $crate::PluginInterface>::DECL,
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
