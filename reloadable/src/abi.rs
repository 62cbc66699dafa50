//! Type layouts and the [`Abi`] trait: what may cross the plugin boundary and how.
//!
//! Every type that appears in an interface's signatures implements [`Abi`], which says two
//! things: how a value is passed through an `extern "C"` call ([`Abi::Ffi`]) and what its
//! memory layout is ([`Abi::LAYOUT`]: name, size, alignment, and for structs each field's
//! offset and type). The layouts of all types in an interface are part of its fingerprint,
//! so a host and a plugin that disagree on a struct's fields are refused before any call.
//!
//! Implemented for the primitive numbers, `bool`, `char`, `()`, the std atomics,
//! `&T`/`&mut T` (of a [`Plain`] `T`), `&str`, `&[T]`, [`RString`], [`RVec`],
//! [`State`](crate::State), and every struct declared with [`abi_struct!`](crate::abi_struct).

use std::sync::atomic;

use crate::ffi::{RString, RVec, RawSlice, RawStr, StaticSlice, StaticStr};

/// The memory layout of a type that crosses the plugin boundary.
#[repr(C)]
#[derive(Debug)]
pub struct TypeLayout {
    /// The type's name as written (`u64`, `CounterState`), or `&`, `&mut`, `&[]`, `RVec`
    /// for types built on [`element`](Self::element).
    pub name: StaticStr,
    /// The module that defines the type (`my_interface::shapes`), or empty for the types
    /// reloadable itself provides. With `name`, it tells apart two structs of the same name
    /// in different modules.
    pub path: StaticStr,
    /// `size_of` the type.
    pub size: usize,
    /// `align_of` the type.
    pub align: usize,
    /// For structs: each field.
    pub fields: StaticSlice<Field>,
    /// For references, slices and vectors: the type they point to or hold.
    pub element: Option<&'static TypeLayout>,
    /// For a Rust type (in a [`rust_interface!`](crate::rust_interface)): its `TypeId` in
    /// the build that made this layout. The host compares the plugin's with its own.
    pub type_id: Option<fn() -> std::any::TypeId>,
    /// For a Rust type: its full name (`alloc::string::String`).
    pub type_name: Option<fn() -> &'static str>,
}

impl TypeLayout {
    /// The layout of a type with no fields and no element.
    pub const fn scalar(name: &'static str, size: usize, align: usize) -> Self {
        TypeLayout {
            name: StaticStr::new(name),
            path: StaticStr::new(""),
            size,
            align,
            fields: StaticSlice::new(&[]),
            element: None,
            type_id: None,
            type_name: None,
        }
    }

    /// The layout of a Rust type `T`, written `written` in a signature: its size,
    /// alignment, `TypeId` and full name, for a [`rust_interface!`](crate::rust_interface).
    pub const fn rust<T: 'static>(written: &'static str) -> Self {
        TypeLayout {
            name: StaticStr::new(written),
            path: StaticStr::new(""),
            size: std::mem::size_of::<T>(),
            align: std::mem::align_of::<T>(),
            fields: StaticSlice::new(&[]),
            element: None,
            type_id: Some(crate::rt::type_id_of::<T>),
            type_name: Some(crate::rt::type_name_of::<T>),
        }
    }

    /// The layout of a type built on another (a reference, slice or vector).
    pub const fn wrapping(
        name: &'static str,
        size: usize,
        align: usize,
        element: &'static TypeLayout,
    ) -> Self {
        TypeLayout {
            name: StaticStr::new(name),
            path: StaticStr::new(""),
            size,
            align,
            fields: StaticSlice::new(&[]),
            element: Some(element),
            type_id: None,
            type_name: None,
        }
    }

    /// The layout of a struct named `name`, defined in module `path` (`module_path!()`).
    pub const fn structure(
        name: &'static str,
        path: &'static str,
        size: usize,
        align: usize,
        fields: &'static [Field],
    ) -> Self {
        TypeLayout {
            name: StaticStr::new(name),
            path: StaticStr::new(path),
            size,
            align,
            fields: StaticSlice::new(fields),
            element: None,
            type_id: None,
            type_name: None,
        }
    }

    /// How the type is written in a signature: `u64`, `&mut CounterState`, `RVec<u8>`.
    pub fn display_name(&self) -> String {
        self.render(false)
    }

    /// The type's name with the module path of every struct in it:
    /// `&mut my_interface::CounterState`. Two different types never share it.
    pub fn qualified_name(&self) -> String {
        self.render(true)
    }

    fn render(&self, qualified: bool) -> String {
        let name = match self.path.as_str() {
            path if qualified && !path.is_empty() => format!("{path}::{}", self.name.as_str()),
            _ => self.name.as_str().to_string(),
        };
        match self.element {
            None => name,
            Some(e) if name == "&[]" => format!("&[{}]", e.render(qualified)),
            Some(e) if name.starts_with('&') => format!("{name} {}", e.render(qualified)),
            Some(e) => format!("{name}<{}>", e.render(qualified)),
        }
        .replace("& ", "&")
    }
}

/// One field of a struct's [`TypeLayout`].
#[repr(C)]
#[derive(Debug)]
pub struct Field {
    /// The field's name.
    pub name: StaticStr,
    /// `offset_of` the field.
    pub offset: usize,
    /// The field's type.
    pub ty: &'static TypeLayout,
}

impl Field {
    /// Describes a field.
    pub const fn new(name: &'static str, offset: usize, ty: &'static TypeLayout) -> Self {
        Field {
            name: StaticStr::new(name),
            offset,
            ty,
        }
    }
}

/// A type that may appear in an interface's signatures.
///
/// # Safety
/// `Ffi` must be FFI-safe (`#[repr(C)]`, a primitive, or a thin pointer), `from_ffi` must
/// undo `into_ffi`, and `LAYOUT` must describe the type truthfully: the host relies on it
/// to refuse plugins built against another layout.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot cross an FFI-typed plugin boundary",
    label = "not an FFI type",
    note = "an `ffi_interface!` passes numbers, `bool`, `char`, `&str`, `&[T]`, `RString`, `RVec<T>`, `State` and `abi_struct!` structs (and `&`/`&mut` of them)",
    note = "for `String`, `Vec`, `HashMap`, enums or other crates' types, declare the interface with `reloadable::rust_interface!`: host and plugin must then be built together (same compiler, same crate versions and features), which the host checks when it loads the plugin"
)]
pub unsafe trait Abi: Sized {
    /// How a value travels through an `extern "C"` call.
    type Ffi;
    /// The type's memory layout, part of the interface fingerprint.
    const LAYOUT: &'static TypeLayout;
    /// Converts to the FFI form.
    fn into_ffi(self) -> Self::Ffi;
    /// Converts back from the FFI form.
    ///
    /// # Safety
    /// `ffi` must come from `into_ffi` of a value that is still alive (for borrowed forms).
    unsafe fn from_ffi(ffi: Self::Ffi) -> Self;
}

/// A type that is not an FFI type is refused at compile time, with a note that points to
/// [`rust_interface!`](crate::rust_interface):
///
/// ```compile_fail
/// reloadable::ffi_interface! {
///     pub mod names {
///         fn count(names: Vec<String>) -> u64; // `Vec<String>` cannot cross an FFI-typed boundary
///     }
/// }
/// ```
#[doc(hidden)]
#[derive(Debug)]
pub enum CompileFailExamples {}

/// An [`Abi`] type whose values are passed as they are in memory (`Ffi = Self`): the
/// only kind that may sit behind a reference or inside a struct, vector or state.
pub trait Plain: Abi<Ffi = Self> {}
impl<T: Abi<Ffi = T>> Plain for T {}

/// An [`Abi`] type that owns all its data, so it may be returned from a plugin: a returned
/// value may outlive the library that made it, so it must not borrow from it.
///
/// # Safety
/// The type must not hold references or pointers into plugin memory.
pub unsafe trait Owned: Abi {}

/// Implements `Abi` for `#[repr(C)]` or primitive types passed as themselves, with the
/// compiler's size and alignment and no fields.
macro_rules! self_abi {
    ($($t:ty),* $(,)?) => {$(
        // SAFETY: passed by value as itself (a primitive or `#[repr(C)]`); the layout
        // comes from the compiler.
        unsafe impl $crate::abi::Abi for $t {
            type Ffi = Self;
            const LAYOUT: &'static $crate::abi::TypeLayout = &$crate::abi::TypeLayout::scalar(
                stringify!($t),
                std::mem::size_of::<$t>(),
                std::mem::align_of::<$t>(),
            );
            #[inline(always)]
            fn into_ffi(self) -> Self {
                self
            }
            #[inline(always)]
            unsafe fn from_ffi(ffi: Self) -> Self {
                ffi
            }
        }
    )*};
}
pub(crate) use self_abi;

/// `self_abi!` for types that own all their data, so they may be returned.
macro_rules! plain_abi {
    ($($t:ty),* $(,)?) => {$(
        self_abi!($t);
        // SAFETY: holds no pointers into plugin memory (numbers, atomics, or system-
        // allocated buffers).
        unsafe impl Owned for $t {}
    )*};
}

plain_abi!(
    u8,
    u16,
    u32,
    u64,
    usize,
    i8,
    i16,
    i32,
    i64,
    isize,
    f32,
    f64,
    bool,
    char,
    ()
);
plain_abi!(
    atomic::AtomicBool,
    atomic::AtomicU8,
    atomic::AtomicU16,
    atomic::AtomicU32,
    atomic::AtomicU64,
    atomic::AtomicUsize,
    atomic::AtomicI8,
    atomic::AtomicI16,
    atomic::AtomicI32,
    atomic::AtomicI64,
    atomic::AtomicIsize,
);

// SAFETY: a shared reference is passed as a thin pointer to the same memory.
unsafe impl<T: Plain> Abi for &T {
    type Ffi = *const T;
    const LAYOUT: &'static TypeLayout = &TypeLayout::wrapping(
        "&",
        std::mem::size_of::<*const T>(),
        std::mem::align_of::<*const T>(),
        T::LAYOUT,
    );
    #[inline(always)]
    fn into_ffi(self) -> *const T {
        self
    }
    #[inline(always)]
    unsafe fn from_ffi(ffi: *const T) -> Self {
        // SAFETY: made from a live `&T` by `into_ffi` (the caller's promise).
        unsafe { &*ffi }
    }
}

// SAFETY: an exclusive reference is passed as a thin pointer to the same memory.
unsafe impl<T: Plain> Abi for &mut T {
    type Ffi = *mut T;
    const LAYOUT: &'static TypeLayout = &TypeLayout::wrapping(
        "&mut",
        std::mem::size_of::<*mut T>(),
        std::mem::align_of::<*mut T>(),
        T::LAYOUT,
    );
    #[inline(always)]
    fn into_ffi(self) -> *mut T {
        self
    }
    #[inline(always)]
    unsafe fn from_ffi(ffi: *mut T) -> Self {
        // SAFETY: made from a live `&mut T` by `into_ffi` (the caller's promise).
        unsafe { &mut *ffi }
    }
}

// SAFETY: passed as a `#[repr(C)]` (pointer, length) pair.
unsafe impl Abi for &str {
    type Ffi = RawStr;
    const LAYOUT: &'static TypeLayout = &TypeLayout::scalar(
        "&str",
        std::mem::size_of::<RawStr>(),
        std::mem::align_of::<RawStr>(),
    );
    #[inline(always)]
    fn into_ffi(self) -> RawStr {
        RawStr::new(self)
    }
    #[inline(always)]
    unsafe fn from_ffi(ffi: RawStr) -> Self {
        // SAFETY: made from a live `&str` (the caller's promise).
        unsafe { ffi.get() }
    }
}

// SAFETY: passed as a `#[repr(C)]` (pointer, length) pair.
unsafe impl<T: Plain> Abi for &[T] {
    type Ffi = RawSlice<T>;
    const LAYOUT: &'static TypeLayout = &TypeLayout::wrapping(
        "&[]",
        std::mem::size_of::<RawSlice<T>>(),
        std::mem::align_of::<RawSlice<T>>(),
        T::LAYOUT,
    );
    #[inline(always)]
    fn into_ffi(self) -> RawSlice<T> {
        RawSlice::new(self)
    }
    #[inline(always)]
    unsafe fn from_ffi(ffi: RawSlice<T>) -> Self {
        // SAFETY: made from a live `&[T]` (the caller's promise).
        unsafe { ffi.get() }
    }
}

// SAFETY: `RVec` is `#[repr(C)]` and system-allocated (see `ffi`).
unsafe impl<T: Plain> Abi for RVec<T> {
    type Ffi = Self;
    const LAYOUT: &'static TypeLayout = &TypeLayout::wrapping(
        "RVec",
        std::mem::size_of::<RVec<T>>(),
        std::mem::align_of::<RVec<T>>(),
        T::LAYOUT,
    );
    #[inline(always)]
    fn into_ffi(self) -> Self {
        self
    }
    #[inline(always)]
    unsafe fn from_ffi(ffi: Self) -> Self {
        ffi
    }
}
// SAFETY: owns its elements, which are themselves owned.
unsafe impl<T: Plain + Owned> Owned for RVec<T> {}

// `RString` is `#[repr(C)]` and system-allocated (see `ffi`).
plain_abi!(RString);

/// Declares a `#[repr(C)]` struct that may cross the plugin boundary, with its layout
/// (every field's name, offset and type) recorded for the interface fingerprint.
///
/// Every field's type must itself be [`Plain`]: a number, an atomic, [`RString`],
/// [`RVec`], or another `abi_struct!`.
///
/// ```
/// reloadable::abi_struct! {
///     /// What the host keeps between calls.
///     #[derive(Debug, Default)]
///     pub struct CounterState {
///         pub count: u64,
///         pub steps: u32,
///     }
/// }
/// let layout = <CounterState as reloadable::Abi>::LAYOUT;
/// assert_eq!(layout.size, 16);
/// assert_eq!(layout.fields.as_slice()[1].offset, 8);
/// ```
#[macro_export]
macro_rules! abi_struct {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident : $fty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[repr(C)]
        $vis struct $name {
            $( $(#[$fmeta])* $fvis $field : $fty ),*
        }

        // SAFETY: `#[repr(C)]`, passed as itself; the layout is read from the compiler
        // (`size_of`, `align_of`, `offset_of`), and every field is `Plain` (checked below).
        unsafe impl $crate::Abi for $name {
            type Ffi = Self;
            const LAYOUT: &'static $crate::TypeLayout = &$crate::TypeLayout::structure(
                ::core::stringify!($name),
                ::core::module_path!(),
                ::core::mem::size_of::<$name>(),
                ::core::mem::align_of::<$name>(),
                &[ $( $crate::Field::new(
                    ::core::stringify!($field),
                    ::core::mem::offset_of!($name, $field),
                    <$fty as $crate::Abi>::LAYOUT,
                ) ),* ],
            );
            #[inline(always)]
            fn into_ffi(self) -> Self {
                self
            }
            #[inline(always)]
            unsafe fn from_ffi(ffi: Self) -> Self {
                ffi
            }
        }

        // SAFETY: every field is `Owned` (the where-clause fails to hold otherwise).
        unsafe impl $crate::Owned for $name where $( $fty: $crate::Owned ),* {}

        const _: fn() = || {
            fn field_is_plain<T: $crate::Plain>() {}
            $( field_is_plain::<$fty>(); )*
        };
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::abi_struct! {
        struct Pair {
            a: u8,
            b: u64,
            name: RString,
        }
    }

    #[test]
    fn struct_layout_records_every_field() {
        let l = <Pair as Abi>::LAYOUT;
        assert_eq!(l.name.as_str(), "Pair");
        assert_eq!(l.size, std::mem::size_of::<Pair>());
        let fields: Vec<_> = l
            .fields
            .as_slice()
            .iter()
            .map(|f| (f.name.as_str(), f.offset, f.ty.name.as_str()))
            .collect();
        assert_eq!(
            fields,
            vec![("a", 0, "u8"), ("b", 8, "u64"), ("name", 16, "RString")]
        );
    }

    #[test]
    fn display_names_read_like_signatures() {
        assert_eq!(<&mut Pair as Abi>::LAYOUT.display_name(), "&mut Pair");
        assert_eq!(<&Pair as Abi>::LAYOUT.display_name(), "&Pair");
        assert_eq!(<&[u8] as Abi>::LAYOUT.display_name(), "&[u8]");
        assert_eq!(<RVec<u32> as Abi>::LAYOUT.display_name(), "RVec<u32>");
        assert_eq!(<&str as Abi>::LAYOUT.display_name(), "&str");
    }

    #[test]
    fn qualified_names_carry_the_defining_module() {
        assert_eq!(
            <&mut Pair as Abi>::LAYOUT.qualified_name(),
            "&mut reloadable::abi::tests::Pair"
        );
        assert_eq!(<RVec<u32> as Abi>::LAYOUT.qualified_name(), "RVec<u32>");
    }
}
