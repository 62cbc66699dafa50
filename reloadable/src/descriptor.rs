//! The descriptor a plugin exports and the host reads before anything else.
//!
//! A plugin exports one static, [`ENTRY_SYMBOL`], holding a [`Descriptor`]. It is plain
//! data (no code runs to produce it), so the host can check the magic number, the
//! descriptor version and the interface fingerprint before it calls into the library.

use std::ffi::c_void;

use crate::abi::TypeLayout;
use crate::ffi::{RVec, RawSlice, StaticSlice, StaticStr};
use crate::rt::Report;

/// The name of the static every plugin exports (see [`export_plugin!`](crate::export_plugin)).
pub const ENTRY_SYMBOL: &str = "HOTDEV_PLUGIN_V1";

/// The first eight bytes of every descriptor: `HOTDEV` followed by two format bytes.
pub const MAGIC: u64 = u64::from_le_bytes(*b"HOTDEV\x00\x01");

/// The version of the [`Descriptor`] layout. The host reads `magic` and this field first
/// and refuses a descriptor of another version before reading anything else.
/// Version 2 added [`TypeLayout::path`](crate::TypeLayout::path).
pub const DESCRIPTOR_VERSION: u32 = 2;

/// The version of reloadable's calling convention (shims, reports, FFI types); part of the
/// fingerprint.
pub const ABI_VERSION: u32 = 1;

/// The compiler that built this copy of reloadable (and so the plugin or host using it).
pub const RUSTC_VERSION: &str = env!("RELOADABLE_RUSTC_VERSION");

/// The target triple this copy of reloadable was built for.
pub const TARGET: &str = env!("RELOADABLE_TARGET");

/// The panic strategy of the crate this is evaluated in: `unwind` or `abort`.
#[macro_export]
#[doc(hidden)]
macro_rules! __panic_strategy {
    () => {
        if cfg!(panic = "unwind") {
            "unwind"
        } else {
            "abort"
        }
    };
}

/// What a plugin exports: who it is, what it implements, and its function table.
#[repr(C)]
#[derive(Debug)]
pub struct Descriptor {
    /// Always [`MAGIC`].
    pub magic: u64,
    /// Always [`DESCRIPTOR_VERSION`] for this layout.
    pub descriptor_version: u32,
    /// reloadable's [`ABI_VERSION`] in the plugin.
    pub abi_version: u32,
    /// `size_of::<Descriptor>()` in the plugin.
    pub descriptor_size: usize,
    /// The interface the plugin implements.
    pub interface: &'static InterfaceDecl,
    /// The plugin's package name.
    pub plugin_name: StaticStr,
    /// The plugin's build id (`HOTDEV_BUILD_ID` at build time, or its package version).
    pub build_id: StaticStr,
    /// The compiler that built the plugin.
    pub rustc: StaticStr,
    /// The plugin's target triple.
    pub target: StaticStr,
    /// How the plugin was built to handle panics: `unwind` (what the call shims need to
    /// catch them) or `abort` (a panic would end the host).
    pub panic: StaticStr,
    /// The interface's function table (`<I as Interface>::Table`).
    pub table: *const c_void,
    /// `size_of` the table in the plugin.
    pub table_size: usize,
    /// Prepares the plugin's runtime: takes the host's allocator and logger (the
    /// argument) and installs its panic hook. Called once after validation.
    pub init: unsafe extern "C" fn(*const crate::hooks::HostHooks),
    /// Undoes `init`. Called once before the library is unloaded.
    pub fini: unsafe extern "C" fn(),
    /// The plugin's load hook: a non-null report refuses the generation.
    pub on_load: Option<unsafe extern "C" fn() -> *mut Report>,
    /// The plugin's unload hook.
    pub on_unload: Option<unsafe extern "C" fn() -> *mut Report>,
    /// The plugin's own state, if it keeps any.
    pub state: Option<&'static StateDecl>,
}

// SAFETY: the descriptor is immutable static data; `table` points to an immutable static.
unsafe impl Sync for Descriptor {}
// SAFETY: as above.
unsafe impl Send for Descriptor {}

/// An interface as declared by [`ffi_interface!`](crate::ffi_interface) or
/// [`rust_interface!`](crate::rust_interface).
#[repr(C)]
#[derive(Debug)]
pub struct InterfaceDecl {
    /// The interface's name (the module name given to `ffi_interface!`).
    pub name: StaticStr,
    /// Its functions, in table order.
    pub functions: StaticSlice<FnDecl>,
    /// Whether its signatures use Rust types (`rust_interface!`), which cross only
    /// between a host and a plugin from one build world, rather than FFI types.
    pub rust_types: bool,
}

impl InterfaceDecl {
    /// Describes an interface of FFI types.
    pub const fn new(name: &'static str, functions: &'static [FnDecl]) -> Self {
        InterfaceDecl {
            name: StaticStr::new(name),
            functions: StaticSlice::new(functions),
            rust_types: false,
        }
    }

    /// Describes an interface of Rust types.
    pub const fn rust(name: &'static str, functions: &'static [FnDecl]) -> Self {
        InterfaceDecl {
            name: StaticStr::new(name),
            functions: StaticSlice::new(functions),
            rust_types: true,
        }
    }
}

/// One function of an interface.
#[repr(C)]
#[derive(Debug)]
pub struct FnDecl {
    /// The function's name.
    pub name: StaticStr,
    /// Its signature as written: `fn step(state: &mut CounterState, by: u64) -> u64`.
    pub signature: StaticStr,
    /// The layouts of its parameter types, then of its return type.
    pub types: StaticSlice<&'static TypeLayout>,
}

impl FnDecl {
    /// Describes a function.
    pub const fn new(
        name: &'static str,
        signature: &'static str,
        types: &'static [&'static TypeLayout],
    ) -> Self {
        FnDecl {
            name: StaticStr::new(name),
            signature: StaticStr::new(signature),
            types: StaticSlice::new(types),
        }
    }
}

/// State a plugin keeps in host-owned memory across generations.
///
/// The host allocates `layout.size` bytes aligned to `layout.align`, and calls `init` to
/// fill them. When a new generation declares a different layout, the host moves the state
/// through `save` (old generation) and `restore` (new generation), or refuses the new
/// generation when either is missing.
#[repr(C)]
#[derive(Debug)]
pub struct StateDecl {
    /// The state type's layout.
    pub layout: &'static TypeLayout,
    /// Writes a fresh state into uninitialised memory.
    pub init: unsafe extern "C" fn(*mut u8) -> *mut Report,
    /// Drops a state in place.
    pub drop: unsafe extern "C" fn(*mut u8) -> *mut Report,
    /// Serialises a state to bytes.
    pub save: Option<unsafe extern "C" fn(*const u8, *mut RVec<u8>) -> *mut Report>,
    /// Writes a state rebuilt from saved bytes into uninitialised memory.
    pub restore: Option<unsafe extern "C" fn(RawSlice<u8>, *mut u8) -> *mut Report>,
}
