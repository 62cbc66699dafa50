//! [`StaticStr`] and [`StaticSlice`]: `&'static str` and `&'static [T]` in `#[repr(C)]`
//! shapes, for descriptors and layouts.

use std::fmt;

/// A `&'static str` in a `#[repr(C)]` shape, for descriptors and layouts.
///
/// Built only from `&'static str`, so it is valid as long as the memory it was built in:
/// a value read from a plugin's descriptor is valid while that plugin's library is loaded.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct StaticStr {
    ptr: *const u8,
    len: usize,
}

// SAFETY: a `StaticStr` is an immutable view of static string data, like `&'static str`.
unsafe impl Send for StaticStr {}
// SAFETY: as above; the data is never written.
unsafe impl Sync for StaticStr {}

impl StaticStr {
    /// Wraps a static string.
    pub const fn new(s: &'static str) -> Self {
        StaticStr {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }

    /// The raw pointer and length, for a host that checks a plugin's descriptor before
    /// trusting it.
    pub fn raw_parts(&self) -> (*const u8, usize) {
        (self.ptr, self.len)
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        // SAFETY: `new` is the only constructor and takes a `&'static str`, so `ptr..ptr+len`
        // is valid UTF-8 for as long as the memory holding it (see the type's docs).
        unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(self.ptr, self.len)) }
    }
}

impl fmt::Debug for StaticStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// A `&'static [T]` in a `#[repr(C)]` shape, for descriptors and layouts.
#[repr(C)]
pub struct StaticSlice<T: 'static> {
    ptr: *const T,
    len: usize,
}

impl<T> Clone for StaticSlice<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for StaticSlice<T> {}

// SAFETY: an immutable view of static data, like `&'static [T]`.
unsafe impl<T: Sync> Send for StaticSlice<T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for StaticSlice<T> {}

impl<T> StaticSlice<T> {
    /// Wraps a static slice.
    pub const fn new(s: &'static [T]) -> Self {
        StaticSlice {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }

    /// The raw pointer and length, for a host that checks a plugin's descriptor before
    /// trusting it.
    pub fn raw_parts(&self) -> (*const T, usize) {
        (self.ptr, self.len)
    }

    /// The slice.
    pub fn as_slice(&self) -> &[T] {
        // SAFETY: built only from a `&'static [T]` (see `StaticStr`).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl<T: fmt::Debug> fmt::Debug for StaticSlice<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}
