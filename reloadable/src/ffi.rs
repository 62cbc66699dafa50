//! FFI-safe types that cross the plugin boundary.
//!
//! Owned values ([`RString`], [`RVec`], and the boxed [`Report`](crate::Report)) are
//! allocated with the process's *system* allocator ([`std::alloc::System`]: `malloc`/`free`
//! on Unix, the process heap on Windows), never with either side's `#[global_allocator]`.
//! There is one system allocator per process, so a value made by a plugin can be freed by
//! the host even when the host installs its own global allocator, and even after the
//! plugin's library has been unloaded: freeing never calls back into plugin code.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt;
use std::marker::PhantomData;
use std::mem::{self, ManuallyDrop};
use std::ops::{Deref, DerefMut};
use std::ptr::{self, NonNull};

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

/// A growable vector allocated with the system allocator, safe to pass across the plugin
/// boundary by value and to drop on either side (see the module docs).
#[repr(C)]
pub struct RVec<T> {
    ptr: NonNull<T>,
    len: usize,
    cap: usize,
    _owns: PhantomData<T>,
}

// SAFETY: `RVec<T>` owns its elements like `Vec<T>` does.
unsafe impl<T: Send> Send for RVec<T> {}
// SAFETY: shared access only hands out `&T`.
unsafe impl<T: Sync> Sync for RVec<T> {}

impl<T> RVec<T> {
    const ELEMENT_IS_SIZED: () = assert!(
        mem::size_of::<T>() != 0,
        "RVec does not hold zero-sized types"
    );

    /// An empty vector; does not allocate.
    pub const fn new() -> Self {
        RVec {
            ptr: NonNull::dangling(),
            len: 0,
            cap: 0,
            _owns: PhantomData,
        }
    }

    /// An empty vector with room for `cap` elements.
    pub fn with_capacity(cap: usize) -> Self {
        let mut v = Self::new();
        v.reserve(cap);
        v
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the vector has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Makes room for at least `extra` more elements.
    pub fn reserve(&mut self, extra: usize) {
        let () = Self::ELEMENT_IS_SIZED;
        let needed = self.len.checked_add(extra).expect("RVec capacity overflow");
        if needed <= self.cap {
            return;
        }
        let new_cap = needed.max(self.cap * 2).max(4);
        let new_layout = Layout::array::<T>(new_cap).expect("RVec capacity overflow");
        let new_ptr = if self.cap == 0 {
            // SAFETY: `new_layout` has a non-zero size (T is not zero-sized, new_cap >= 4).
            unsafe { System.alloc(new_layout) }
        } else {
            let old_layout = Layout::array::<T>(self.cap).expect("checked when allocated");
            // SAFETY:
            // - `ptr` was allocated by `System` with `old_layout` (every allocation is);
            // - the new size is non-zero and does not overflow `isize` (Layout::array checked).
            unsafe { System.realloc(self.ptr.as_ptr().cast(), old_layout, new_layout.size()) }
        };
        match NonNull::new(new_ptr.cast::<T>()) {
            Some(p) => self.ptr = p,
            None => std::alloc::handle_alloc_error(new_layout),
        }
        self.cap = new_cap;
    }

    /// Appends an element.
    pub fn push(&mut self, value: T) {
        if self.len == self.cap {
            self.reserve(1);
        }
        // SAFETY: `len < cap` after `reserve`, so the slot is allocated and unused.
        unsafe { self.ptr.as_ptr().add(self.len).write(value) };
        self.len += 1;
    }

    /// The elements as a slice.
    pub fn as_slice(&self) -> &[T] {
        // SAFETY: the first `len` elements are initialised; `ptr` is aligned and non-null
        // (dangling but valid for a zero-length slice).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The elements as a mutable slice.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: as in `as_slice`, and `&mut self` gives exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// Moves the elements into a `Vec` allocated by the global allocator of the caller.
    pub fn into_vec(self) -> Vec<T> {
        let mut this = ManuallyDrop::new(self);
        let mut out = Vec::with_capacity(this.len);
        // SAFETY: the `len` initialised elements are moved bit-for-bit into `out`'s spare
        // capacity; `this` is never dropped, so they are not dropped twice.
        unsafe {
            ptr::copy_nonoverlapping(this.ptr.as_ptr(), out.as_mut_ptr(), this.len);
            out.set_len(this.len);
        }
        this.len = 0;
        this.free_buffer();
        out
    }

    fn free_buffer(&mut self) {
        if self.cap != 0 {
            let layout = Layout::array::<T>(self.cap).expect("checked when allocated");
            // SAFETY: allocated by `System` with this layout in `reserve`.
            unsafe { System.dealloc(self.ptr.as_ptr().cast(), layout) };
            self.cap = 0;
            self.ptr = NonNull::dangling();
        }
    }
}

impl<T> Drop for RVec<T> {
    fn drop(&mut self) {
        // SAFETY: the first `len` elements are initialised and owned by `self`.
        unsafe { ptr::drop_in_place(self.as_mut_slice()) };
        self.free_buffer();
    }
}

impl<T> Default for RVec<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Deref for RVec<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T> DerefMut for RVec<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        self.as_mut_slice()
    }
}

impl<T: Clone> Clone for RVec<T> {
    fn clone(&self) -> Self {
        self.as_slice().iter().cloned().collect()
    }
}

impl<T: fmt::Debug> fmt::Debug for RVec<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_slice(), f)
    }
}

impl<T: PartialEq> PartialEq for RVec<T> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}
impl<T: Eq> Eq for RVec<T> {}

impl<T> FromIterator<T> for RVec<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let iter = iter.into_iter();
        let mut v = RVec::with_capacity(iter.size_hint().0);
        for item in iter {
            v.push(item);
        }
        v
    }
}

impl<T> From<Vec<T>> for RVec<T> {
    fn from(v: Vec<T>) -> Self {
        v.into_iter().collect()
    }
}

impl<T: Clone> From<&[T]> for RVec<T> {
    fn from(s: &[T]) -> Self {
        s.iter().cloned().collect()
    }
}

/// A UTF-8 string allocated with the system allocator, safe to pass across the plugin
/// boundary by value and to drop on either side.
#[repr(C)]
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RString {
    bytes: RVec<u8>,
}

impl RString {
    /// An empty string; does not allocate.
    pub const fn new() -> Self {
        RString { bytes: RVec::new() }
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor and mutator keeps `bytes` valid UTF-8.
        unsafe { std::str::from_utf8_unchecked(self.bytes.as_slice()) }
    }

    /// Appends a string.
    pub fn push_str(&mut self, s: &str) {
        self.bytes.reserve(s.len());
        for b in s.bytes() {
            self.bytes.push(b);
        }
    }

    /// The UTF-8 bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.as_slice()
    }
}

impl Deref for RString {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for RString {
    fn from(s: &str) -> Self {
        let mut out = RString {
            bytes: RVec::with_capacity(s.len()),
        };
        out.push_str(s);
        out
    }
}

impl From<String> for RString {
    fn from(s: String) -> Self {
        RString::from(s.as_str())
    }
}

impl From<RString> for String {
    fn from(s: RString) -> Self {
        s.as_str().to_owned()
    }
}

impl fmt::Display for RString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl fmt::Debug for RString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq<str> for RString {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for RString {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

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

/// Moves `value` into a system-allocated box and returns its pointer.
pub fn sys_box<T>(value: T) -> *mut T {
    let layout = Layout::new::<T>();
    if layout.size() == 0 {
        return NonNull::dangling().as_ptr();
    }
    // SAFETY: the layout has a non-zero size.
    let p = unsafe { System.alloc(layout) }.cast::<T>();
    if p.is_null() {
        std::alloc::handle_alloc_error(layout);
    }
    // SAFETY: `p` is freshly allocated for a `T`.
    unsafe { p.write(value) };
    p
}

/// Moves the value out of a box made by [`sys_box`] and frees the box.
///
/// # Safety
/// `p` must come from [`sys_box::<T>`] and not have been unboxed before.
pub unsafe fn sys_unbox<T>(p: *mut T) -> T {
    // SAFETY: the caller promises `p` holds a live `T` from `sys_box`.
    let value = unsafe { p.read() };
    let layout = Layout::new::<T>();
    if layout.size() != 0 {
        // SAFETY: allocated by `System` with this layout in `sys_box`.
        unsafe { System.dealloc(p.cast(), layout) };
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rvec_grows_and_round_trips() {
        let mut v = RVec::new();
        for i in 0..1000u32 {
            v.push(i);
        }
        assert_eq!(v.len(), 1000);
        assert_eq!(v[999], 999);
        let back = v.into_vec();
        assert_eq!(back, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn rvec_drops_its_elements() {
        use std::rc::Rc;
        let marker = Rc::new(());
        let v: RVec<Rc<()>> = (0..10).map(|_| marker.clone()).collect();
        assert_eq!(Rc::strong_count(&marker), 11);
        drop(v);
        assert_eq!(Rc::strong_count(&marker), 1);
    }

    #[test]
    fn rstring_behaves_like_a_string() {
        let mut s = RString::from("hello");
        s.push_str(", world");
        assert_eq!(s, "hello, world");
        assert_eq!(format!("{s}"), "hello, world");
        assert_eq!(String::from(s.clone()), "hello, world");
        assert_eq!(RString::new().as_str(), "");
    }

    #[test]
    fn sys_box_round_trips() {
        let p = sys_box(String::from("boxed"));
        // SAFETY: `p` comes from `sys_box` and is unboxed once.
        let s = unsafe { sys_unbox(p) };
        assert_eq!(s, "boxed");
    }
}
