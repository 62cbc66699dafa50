//! [`RawStr`] and [`RawSlice`]: the FFI forms of borrowed `&str` and `&[T]` arguments,
//! valid for the call they are passed to.

/// The FFI form of a borrowed `&str` argument.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RawStr {
    ptr: *const u8,
    len: usize,
}

impl RawStr {
    /// Borrows a string for one call.
    pub fn new(s: &str) -> Self {
        RawStr {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }

    /// The string again.
    ///
    /// # Safety
    /// The string this was made from must still be alive for `'a`: true for the duration
    /// of the call it was passed to.
    pub unsafe fn get<'a>(self) -> &'a str {
        // SAFETY: the caller promises the source `&str` is alive; it was valid UTF-8.
        unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(self.ptr, self.len)) }
    }
}

/// The FFI form of a borrowed `&[T]` argument.
#[repr(C)]
#[derive(Debug)]
pub struct RawSlice<T> {
    ptr: *const T,
    len: usize,
}

impl<T> Clone for RawSlice<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for RawSlice<T> {}

impl<T> RawSlice<T> {
    /// Borrows a slice for one call.
    pub fn new(s: &[T]) -> Self {
        RawSlice {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }

    /// The slice again.
    ///
    /// # Safety
    /// The slice this was made from must still be alive for `'a`.
    pub unsafe fn get<'a>(self) -> &'a [T] {
        // SAFETY: the caller promises the source slice is alive.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}
