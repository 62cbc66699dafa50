//! FFI-safe types that cross the plugin boundary.
//!
//! Owned values ([`RString`], [`RVec`], and the boxed [`Report`](crate::Report)) are
//! allocated with the process's *system* allocator ([`std::alloc::System`]: `malloc`/`free`
//! on Unix, the process heap on Windows), never with either side's `#[global_allocator]`.
//! There is one system allocator per process, so a value made by a plugin can be freed by
//! the host even when the host installs its own global allocator, and even after the
//! plugin's library has been unloaded: freeing never calls back into plugin code.
//!
//! # Like `Vec` and `String`
//!
//! [`RVec<T>`] and [`RString`] offer what code usually reaches for on `Vec<T>` and
//! `String`, so a plugin can build its results in them directly:
//!
//! - [`RVec<T>`] dereferences to `[T]` (indexing, `iter`, `sort`, `contains`, ...) and has
//!   `push`, `pop`, `insert`, `remove`, `swap_remove`, `truncate`, `clear`, `retain`,
//!   `retain_mut`, `drain`, `extend_from_slice`, `reserve`, `capacity` and `shrink_to_fit`.
//!   It implements `Extend` (of `T`, and of `&T` for `Copy` types), `FromIterator`,
//!   iteration by value ([`IntoIter`]), by reference and by mutable reference, `Clone`,
//!   equality with slices, arrays and `Vec`s, `Ord` and `Hash` like a slice (so equal to
//!   `Vec<T>`'s), `Borrow<[T]>`, `AsRef<[T]>` and `AsMut<[T]>`.
//! - [`RString`] dereferences to `str` and has `push`, `push_str`, `pop`, `insert`,
//!   `insert_str`, `remove`, `retain`, `truncate`, `clear`, `len`, `is_empty` and
//!   `capacity`; every mutator keeps it UTF-8 and panics, as `String`'s do, on a byte index
//!   that is not a char boundary. It implements [`fmt::Write`] (so `write!` works), `+` and
//!   `+=` with `&str`, `Extend` and `FromIterator` of chars and strings, `FromStr`, equality
//!   with `str`, `&str` and `String` both ways, and `Ord` and `Hash` like `str`, so a
//!   `HashMap<RString, V>` can be looked up with a `&str` through `Borrow<str>`.
//! - Both convert to and from their std counterparts (`From`, [`RVec::into_vec`],
//!   [`RString::into_string`]) by copying between the system allocator and the global one.
//! - With the `serde` feature, both implement `serde`'s `Serialize` and `Deserialize`: an
//!   `RString` as a string, an `RVec<T>` as a sequence.
//!
//! ```
//! use reloadable::{RString, RVec};
//! use std::fmt::Write;
//!
//! let mut v: RVec<u32> = [3, 1, 2].into();
//! v.sort();
//! v.retain(|&n| n != 2);
//! assert_eq!(v, [1, 3]);
//!
//! let mut s = RString::from("total:");
//! write!(s, " {}", v.iter().sum::<u32>()).unwrap();
//! assert_eq!(s, "total: 4");
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::borrow::{Borrow, BorrowMut};
use std::cmp::Ordering;
use std::convert::Infallible;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::iter::FusedIterator;
use std::marker::PhantomData;
use std::mem::{self, ManuallyDrop};
use std::ops::{Add, AddAssign, Bound, Deref, DerefMut, RangeBounds};
use std::ptr::{self, NonNull};
use std::str::FromStr;

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

/// Frees a buffer of `cap` elements allocated by [`RVec::reserve`]; does nothing when
/// `cap` is 0 (the pointer is then dangling, not allocated).
///
/// # Safety
/// When `cap != 0`, `ptr` must have been allocated by `System` with
/// `Layout::array::<T>(cap)` and must not be used afterwards.
unsafe fn dealloc_buffer<T>(ptr: NonNull<T>, cap: usize) {
    if cap != 0 {
        let layout = Layout::array::<T>(cap).expect("checked when allocated");
        // SAFETY: the caller promises `ptr` was allocated by `System` with this layout and
        // is not used again.
        unsafe { System.dealloc(ptr.as_ptr().cast(), layout) };
    }
}

/// A growable vector allocated with the system allocator, safe to pass across the plugin
/// boundary by value and to drop on either side (see the module docs).
///
/// It dereferences to `[T]`, so slice methods (`iter`, `sort`, `contains`, indexing) work
/// as on a `Vec<T>`; it compares, orders and hashes like the slice it holds.
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

    /// The number of elements the vector can hold without reallocating.
    pub fn capacity(&self) -> usize {
        self.cap
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

    /// Shrinks the allocation to the length, freeing it when the vector is empty.
    pub fn shrink_to_fit(&mut self) {
        if self.cap == self.len {
            return;
        }
        if self.len == 0 {
            self.free_buffer();
            return;
        }
        let old_layout = Layout::array::<T>(self.cap).expect("checked when allocated");
        let new_layout = Layout::array::<T>(self.len).expect("smaller than the old layout");
        // SAFETY:
        // - `cap > len > 0`, so `ptr` was allocated by `System` with `old_layout`;
        // - the new size is non-zero (`len > 0`, and only `reserve` adds capacity, which
        //   rejects zero-sized `T`) and fits `isize` (it is smaller than the old size).
        let new_ptr =
            unsafe { System.realloc(self.ptr.as_ptr().cast(), old_layout, new_layout.size()) };
        match NonNull::new(new_ptr.cast::<T>()) {
            Some(p) => self.ptr = p,
            None => std::alloc::handle_alloc_error(new_layout),
        }
        self.cap = self.len;
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

    /// Removes and returns the last element, or `None` if the vector is empty.
    pub fn pop(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        // SAFETY:
        // - the element at the old `len - 1` is initialised and inside the allocation;
        // - `len` no longer counts it, so this read moves it out exactly once.
        Some(unsafe { self.ptr.as_ptr().add(self.len).read() })
    }

    /// Inserts an element at `index`, shifting the later ones right.
    ///
    /// # Panics
    /// If `index > len`.
    pub fn insert(&mut self, index: usize, value: T) {
        let len = self.len;
        assert!(
            index <= len,
            "insertion index (is {index}) should be <= len (is {len})"
        );
        self.reserve(1);
        // SAFETY:
        // - after `reserve`, `len < cap`, so `index..=len` lies inside the allocation;
        // - `ptr::copy` allows the source and destination to overlap;
        // - the slot at `index` then holds a bitwise duplicate of the element moved to
        //   `index + 1` (or nothing, when `index == len`), which `write` overwrites without
        //   dropping it.
        unsafe {
            let p = self.ptr.as_ptr().add(index);
            ptr::copy(p, p.add(1), len - index);
            p.write(value);
        }
        self.len = len + 1;
    }

    /// Copies `items` in at `index`, shifting the later elements right.
    fn insert_copied(&mut self, index: usize, items: &[T])
    where
        T: Copy,
    {
        let len = self.len;
        assert!(
            index <= len,
            "insertion index (is {index}) should be <= len (is {len})"
        );
        self.reserve(items.len());
        // SAFETY:
        // - after `reserve`, `len + items.len() <= cap`, so the moved tail and the copied
        //   items fit inside the allocation;
        // - `ptr::copy` allows the tail's source and destination to overlap;
        // - `items` does not overlap the buffer: it is a shared borrow and `&mut self` is
        //   exclusive;
        // - `T: Copy`, so the bitwise duplicates left by the shift need no drop.
        unsafe {
            let p = self.ptr.as_ptr().add(index);
            ptr::copy(p, p.add(items.len()), len - index);
            ptr::copy_nonoverlapping(items.as_ptr(), p, items.len());
        }
        self.len = len + items.len();
    }

    /// Removes and returns the element at `index`, shifting the later ones left.
    ///
    /// # Panics
    /// If `index >= len`.
    pub fn remove(&mut self, index: usize) -> T {
        let len = self.len;
        assert!(
            index < len,
            "removal index (is {index}) should be < len (is {len})"
        );
        // SAFETY:
        // - `index < len`, so the element is initialised and `index + 1..len` is in bounds;
        // - the read moves the element out; the shift overwrites its slot without dropping,
        //   and shortening `len` forgets the duplicate left in the last slot.
        unsafe {
            let p = self.ptr.as_ptr().add(index);
            let value = p.read();
            ptr::copy(p.add(1), p, len - index - 1);
            self.len = len - 1;
            value
        }
    }

    /// Removes and returns the element at `index`, moving the last element into its place
    /// (O(1), does not keep the order).
    ///
    /// # Panics
    /// If `index >= len`.
    pub fn swap_remove(&mut self, index: usize) -> T {
        let len = self.len;
        assert!(
            index < len,
            "swap_remove index (is {index}) should be < len (is {len})"
        );
        // SAFETY:
        // - `index < len`, so both the element and the last element are initialised;
        // - the read moves the element out; the last element is then moved into its slot
        //   (a no-op copy when they are the same), and shortening `len` forgets the
        //   duplicate left in the last slot.
        unsafe {
            let base = self.ptr.as_ptr();
            let value = base.add(index).read();
            ptr::copy(base.add(len - 1), base.add(index), 1);
            self.len = len - 1;
            value
        }
    }

    /// Drops the elements from `len` on; does nothing if the vector is not longer than
    /// `len`.
    pub fn truncate(&mut self, len: usize) {
        if len >= self.len {
            return;
        }
        // SAFETY: `len < self.len <= cap`, so the offset stays inside the allocation.
        let tail_start = unsafe { self.ptr.as_ptr().add(len) };
        let tail = ptr::slice_from_raw_parts_mut(tail_start, self.len - len);
        // Shorten first: if a destructor panics, `drop_in_place` still drops the rest of
        // the tail and the vector never sees a dropped element.
        self.len = len;
        // SAFETY: the tail's elements are initialised, owned by `self`, and no longer
        // counted in `len`, so nothing reads or drops them again.
        unsafe { ptr::drop_in_place(tail) };
    }

    /// Drops every element, keeping the allocation.
    pub fn clear(&mut self) {
        self.truncate(0);
    }

    /// Keeps only the elements for which `keep` returns `true`, in order.
    pub fn retain<F: FnMut(&T) -> bool>(&mut self, mut keep: F) {
        self.retain_mut(|x| keep(x));
    }

    /// Keeps only the elements for which `keep` returns `true`, in order, letting `keep`
    /// modify them.
    ///
    /// If `keep` or a destructor panics, the vector keeps the elements not yet examined and
    /// those kept so far; none is dropped twice.
    pub fn retain_mut<F: FnMut(&mut T) -> bool>(&mut self, mut keep: F) {
        /// Closes the gap left by removed elements when retaining ends, even by a panic.
        struct Compact<'a, T> {
            vec: &'a mut RVec<T>,
            original_len: usize,
            examined: usize,
            removed: usize,
        }
        impl<T> Drop for Compact<'_, T> {
            fn drop(&mut self) {
                if self.removed > 0 {
                    // SAFETY:
                    // - `examined <= original_len <= cap`, and `removed <= examined`, so
                    //   both ranges lie inside the allocation;
                    // - the unexamined elements `examined..original_len` are initialised and
                    //   move onto slots that were dropped or moved out, and `ptr::copy`
                    //   allows the overlap.
                    unsafe {
                        let base = self.vec.ptr.as_ptr();
                        ptr::copy(
                            base.add(self.examined),
                            base.add(self.examined - self.removed),
                            self.original_len - self.examined,
                        );
                    }
                }
                self.vec.len = self.original_len - self.removed;
            }
        }

        let original_len = self.len;
        // While elements are being moved, the vector counts none of them: the guard
        // restores a consistent length at the end, or on a panic.
        self.len = 0;
        let mut c = Compact {
            vec: self,
            original_len,
            examined: 0,
            removed: 0,
        };
        while c.examined < original_len {
            // SAFETY: `examined < original_len`, so the element is initialised and was
            // neither dropped nor moved; no other reference to it exists.
            let current = unsafe { &mut *c.vec.ptr.as_ptr().add(c.examined) };
            if keep(current) {
                if c.removed > 0 {
                    // SAFETY: the destination `examined - removed` is a slot whose element
                    // was dropped or moved on, so the move overwrites nothing live; the two
                    // slots differ because `removed > 0`.
                    unsafe {
                        let base = c.vec.ptr.as_ptr();
                        ptr::copy_nonoverlapping(
                            base.add(c.examined),
                            base.add(c.examined - c.removed),
                            1,
                        );
                    }
                }
                c.examined += 1;
            } else {
                // Count it first so that a panicking destructor does not drop it again.
                c.examined += 1;
                c.removed += 1;
                // SAFETY: the element is initialised and, now counted as removed, is
                // never read or dropped again.
                unsafe { ptr::drop_in_place(c.vec.ptr.as_ptr().add(c.examined - 1)) };
            }
        }
    }

    /// Appends clones of the elements of `items`.
    pub fn extend_from_slice(&mut self, items: &[T])
    where
        T: Clone,
    {
        self.reserve(items.len());
        for item in items {
            self.push(item.clone());
        }
    }

    /// Removes the elements in `range` and returns them as an iterator; the elements the
    /// iterator does not yield are dropped with it.
    ///
    /// If the iterator is leaked (with `mem::forget`), the vector is left holding only the
    /// elements before `range` and the rest are leaked, never dropped twice.
    ///
    /// # Panics
    /// If the range starts after it ends or ends after the vector.
    pub fn drain<R: RangeBounds<usize>>(&mut self, range: R) -> Drain<'_, T> {
        let len = self.len;
        let start = match range.start_bound() {
            Bound::Included(&n) => n,
            Bound::Excluded(&n) => n.checked_add(1).expect("range start overflows usize"),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&n) => n.checked_add(1).expect("range end overflows usize"),
            Bound::Excluded(&n) => n,
            Bound::Unbounded => len,
        };
        assert!(
            start <= end,
            "drain range starts at {start} but ends at {end}"
        );
        assert!(
            end <= len,
            "drain range end {end} out of range for length {len}"
        );
        // The vector counts only the elements before the range until the `Drain` is
        // dropped and moves the tail back.
        self.len = start;
        Drain {
            vec: self,
            front: start,
            back: end,
            tail_start: end,
            tail_len: len - end,
        }
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
        // SAFETY: the buffer was allocated by `System` with `Layout::array::<T>(cap)` in
        // `reserve` (or `cap == 0`), and is replaced by a dangling pointer right after.
        unsafe { dealloc_buffer(self.ptr, self.cap) };
        self.cap = 0;
        self.ptr = NonNull::dangling();
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

impl<T> AsRef<[T]> for RVec<T> {
    fn as_ref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T> AsMut<[T]> for RVec<T> {
    fn as_mut(&mut self) -> &mut [T] {
        self.as_mut_slice()
    }
}

impl<T> Borrow<[T]> for RVec<T> {
    fn borrow(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T> BorrowMut<[T]> for RVec<T> {
    fn borrow_mut(&mut self) -> &mut [T] {
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

impl<T: PartialEq> PartialEq<[T]> for RVec<T> {
    fn eq(&self, other: &[T]) -> bool {
        self.as_slice() == other
    }
}

impl<T: PartialEq> PartialEq<&[T]> for RVec<T> {
    fn eq(&self, other: &&[T]) -> bool {
        self.as_slice() == *other
    }
}

impl<T: PartialEq, const N: usize> PartialEq<[T; N]> for RVec<T> {
    fn eq(&self, other: &[T; N]) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: PartialEq> PartialEq<Vec<T>> for RVec<T> {
    fn eq(&self, other: &Vec<T>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: PartialEq> PartialEq<RVec<T>> for Vec<T> {
    fn eq(&self, other: &RVec<T>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: PartialOrd> PartialOrd for RVec<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.as_slice().partial_cmp(other.as_slice())
    }
}

impl<T: Ord> Ord for RVec<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

/// Hashes like `[T]` (and so like `Vec<T>`): a vector and a slice with equal elements
/// hash alike, as [`Borrow<[T]>`](Borrow) requires.
impl<T: Hash> Hash for RVec<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl<T> FromIterator<T> for RVec<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut v = RVec::new();
        v.extend(iter);
        v
    }
}

impl<T> Extend<T> for RVec<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        let iter = iter.into_iter();
        self.reserve(iter.size_hint().0);
        for item in iter {
            self.push(item);
        }
    }
}

impl<'a, T: Copy + 'a> Extend<&'a T> for RVec<T> {
    fn extend<I: IntoIterator<Item = &'a T>>(&mut self, iter: I) {
        self.extend(iter.into_iter().copied());
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

impl<T, const N: usize> From<[T; N]> for RVec<T> {
    fn from(array: [T; N]) -> Self {
        array.into_iter().collect()
    }
}

impl<T> From<RVec<T>> for Vec<T> {
    fn from(v: RVec<T>) -> Self {
        v.into_vec()
    }
}

impl<T> IntoIterator for RVec<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;

    fn into_iter(self) -> IntoIter<T> {
        // The iterator takes over the buffer and the elements; the vector is not dropped.
        let this = ManuallyDrop::new(self);
        IntoIter {
            buf: this.ptr,
            cap: this.cap,
            front: 0,
            back: this.len,
            _owns: PhantomData,
        }
    }
}

impl<'a, T> IntoIterator for &'a RVec<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

impl<'a, T> IntoIterator for &'a mut RVec<T> {
    type Item = &'a mut T;
    type IntoIter = std::slice::IterMut<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.as_mut_slice().iter_mut()
    }
}

/// An iterator that moves the elements out of an [`RVec`] (its `into_iter`).
///
/// Dropping it drops the elements not yet yielded and frees the buffer with the system
/// allocator.
pub struct IntoIter<T> {
    buf: NonNull<T>,
    cap: usize,
    /// Elements `front..back` are initialised and not yet yielded.
    front: usize,
    back: usize,
    _owns: PhantomData<T>,
}

// SAFETY: an `IntoIter<T>` owns its remaining elements like `RVec<T>` does.
unsafe impl<T: Send> Send for IntoIter<T> {}
// SAFETY: shared access only hands out `&T` (through `as_slice`).
unsafe impl<T: Sync> Sync for IntoIter<T> {}

impl<T> IntoIter<T> {
    /// The elements not yet yielded.
    pub fn as_slice(&self) -> &[T] {
        // SAFETY: `front..back` are initialised elements inside the buffer (`front <= back`
        // always); the pointer is aligned and non-null.
        unsafe { std::slice::from_raw_parts(self.buf.as_ptr().add(self.front), self.len()) }
    }
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        if self.front == self.back {
            return None;
        }
        self.front += 1;
        // SAFETY: the element at the old `front` is initialised and now outside
        // `front..back`, so this read moves it out exactly once.
        Some(unsafe { self.buf.as_ptr().add(self.front - 1).read() })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back - self.front;
        (n, Some(n))
    }
}

impl<T> DoubleEndedIterator for IntoIter<T> {
    fn next_back(&mut self) -> Option<T> {
        if self.front == self.back {
            return None;
        }
        self.back -= 1;
        // SAFETY: the element at the new `back` is initialised and now outside
        // `front..back`, so this read moves it out exactly once.
        Some(unsafe { self.buf.as_ptr().add(self.back).read() })
    }
}

impl<T> ExactSizeIterator for IntoIter<T> {}
impl<T> FusedIterator for IntoIter<T> {}

impl<T: Clone> Clone for IntoIter<T> {
    fn clone(&self) -> Self {
        self.as_slice()
            .iter()
            .cloned()
            .collect::<RVec<T>>()
            .into_iter()
    }
}

impl<T: fmt::Debug> fmt::Debug for IntoIter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("IntoIter").field(&self.as_slice()).finish()
    }
}

impl<T> Drop for IntoIter<T> {
    fn drop(&mut self) {
        /// Frees the buffer after the elements, even if one of their destructors panics.
        struct FreeBuffer<T> {
            buf: NonNull<T>,
            cap: usize,
        }
        impl<T> Drop for FreeBuffer<T> {
            fn drop(&mut self) {
                // SAFETY: the buffer came from an `RVec`, allocated by `System` with
                // `Layout::array::<T>(cap)` (or `cap == 0`), and is freed only here.
                unsafe { dealloc_buffer(self.buf, self.cap) };
            }
        }
        let _free = FreeBuffer {
            buf: self.buf,
            cap: self.cap,
        };
        let remaining = ptr::slice_from_raw_parts_mut(
            // SAFETY: `front <= back <= cap`, so the offset stays inside the allocation.
            unsafe { self.buf.as_ptr().add(self.front) },
            self.back - self.front,
        );
        // SAFETY: `front..back` are initialised and not yet yielded; the iterator is being
        // dropped, so nothing reads them afterwards.
        unsafe { ptr::drop_in_place(remaining) };
    }
}

/// An iterator that removes a range of elements from an [`RVec`] (see [`RVec::drain`]).
///
/// Dropping it drops the elements not yet yielded and moves the elements after the range
/// back into place.
pub struct Drain<'a, T> {
    vec: &'a mut RVec<T>,
    /// Elements `front..back` are initialised and not yet yielded.
    front: usize,
    back: usize,
    /// The elements after the drained range, `tail_start..tail_start + tail_len`.
    tail_start: usize,
    tail_len: usize,
}

impl<T> Drain<'_, T> {
    /// The elements not yet yielded.
    pub fn as_slice(&self) -> &[T] {
        // SAFETY: `front..back` are initialised elements inside the buffer (`front <= back`
        // always); the pointer is aligned and non-null.
        unsafe { std::slice::from_raw_parts(self.vec.ptr.as_ptr().add(self.front), self.len()) }
    }
}

impl<T> Iterator for Drain<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        if self.front == self.back {
            return None;
        }
        self.front += 1;
        // SAFETY: the element at the old `front` lies in the drained range, is initialised,
        // not counted by the vector's `len`, and now outside `front..back`, so this read
        // moves it out exactly once.
        Some(unsafe { self.vec.ptr.as_ptr().add(self.front - 1).read() })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back - self.front;
        (n, Some(n))
    }
}

impl<T> DoubleEndedIterator for Drain<'_, T> {
    fn next_back(&mut self) -> Option<T> {
        if self.front == self.back {
            return None;
        }
        self.back -= 1;
        // SAFETY: as in `next`, for the element at the new `back`.
        Some(unsafe { self.vec.ptr.as_ptr().add(self.back).read() })
    }
}

impl<T> ExactSizeIterator for Drain<'_, T> {}
impl<T> FusedIterator for Drain<'_, T> {}

impl<T: fmt::Debug> fmt::Debug for Drain<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Drain").field(&self.as_slice()).finish()
    }
}

impl<T> Drop for Drain<'_, T> {
    fn drop(&mut self) {
        /// Moves the tail back after the remaining elements are dropped, even if one of
        /// their destructors panics.
        struct MoveTail<'r, 'a, T>(&'r mut Drain<'a, T>);
        impl<T> Drop for MoveTail<'_, '_, T> {
            fn drop(&mut self) {
                let d = &mut *self.0;
                let start = d.vec.len;
                if d.tail_len > 0 && d.tail_start != start {
                    // SAFETY:
                    // - `start <= tail_start` and `tail_start + tail_len` is the vector's
                    //   length before `drain`, so both ranges lie inside the allocation;
                    // - the tail's elements are initialised, and the slots they move onto
                    //   were yielded or dropped; `ptr::copy` allows the overlap.
                    unsafe {
                        let base = d.vec.ptr.as_ptr();
                        ptr::copy(base.add(d.tail_start), base.add(start), d.tail_len);
                    }
                }
                d.vec.len = start + d.tail_len;
            }
        }

        let remaining = ptr::slice_from_raw_parts_mut(
            // SAFETY: `front <= back <= cap`, so the offset stays inside the allocation.
            unsafe { self.vec.ptr.as_ptr().add(self.front) },
            self.back - self.front,
        );
        self.front = self.back;
        let _move_tail = MoveTail(self);
        // SAFETY: `remaining` holds the initialised elements not yet yielded; the iterator
        // no longer counts them (`front == back`) and the vector never did, so they are
        // dropped once.
        unsafe { ptr::drop_in_place(remaining) };
    }
}

/// A UTF-8 string allocated with the system allocator, safe to pass across the plugin
/// boundary by value and to drop on either side.
///
/// It dereferences to `str` and compares, orders and hashes like the `str` it holds, so a
/// `HashMap<RString, V>` or `BTreeMap<RString, V>` can be looked up with a `&str`. Every
/// mutator keeps the contents valid UTF-8; those taking a byte index panic, like `String`'s,
/// if it is not on a char boundary.
#[repr(C)]
#[derive(Clone, Default)]
pub struct RString {
    bytes: RVec<u8>,
}

impl RString {
    /// An empty string; does not allocate.
    pub const fn new() -> Self {
        RString { bytes: RVec::new() }
    }

    /// An empty string with room for `cap` bytes.
    pub fn with_capacity(cap: usize) -> Self {
        RString {
            bytes: RVec::with_capacity(cap),
        }
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor and mutator keeps `bytes` valid UTF-8.
        unsafe { std::str::from_utf8_unchecked(self.bytes.as_slice()) }
    }

    /// The string, mutably (for in-place methods such as `make_ascii_uppercase`).
    pub fn as_mut_str(&mut self) -> &mut str {
        // SAFETY: `bytes` is valid UTF-8 (as in `as_str`), and safe code cannot make a
        // `&mut str` invalid UTF-8.
        unsafe { std::str::from_utf8_unchecked_mut(self.bytes.as_mut_slice()) }
    }

    /// The UTF-8 bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.as_slice()
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the string is empty.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The number of bytes the string can hold without reallocating.
    pub fn capacity(&self) -> usize {
        self.bytes.capacity()
    }

    /// Makes room for at least `extra` more bytes.
    pub fn reserve(&mut self, extra: usize) {
        self.bytes.reserve(extra);
    }

    /// Appends a string.
    pub fn push_str(&mut self, s: &str) {
        self.bytes.extend_from_slice(s.as_bytes());
    }

    /// Appends a char.
    pub fn push(&mut self, ch: char) {
        self.push_str(ch.encode_utf8(&mut [0; 4]));
    }

    /// Removes and returns the last char, or `None` if the string is empty.
    pub fn pop(&mut self) -> Option<char> {
        let ch = self.as_str().chars().next_back()?;
        self.bytes.truncate(self.len() - ch.len_utf8());
        Some(ch)
    }

    /// Shortens the string to `new_len` bytes; does nothing if it is not longer.
    ///
    /// # Panics
    /// If `new_len` is inside the string but not on a char boundary.
    pub fn truncate(&mut self, new_len: usize) {
        if new_len < self.len() {
            assert!(
                self.is_char_boundary(new_len),
                "new_len ({new_len}) is not on a char boundary"
            );
            self.bytes.truncate(new_len);
        }
    }

    /// Empties the string, keeping the allocation.
    pub fn clear(&mut self) {
        self.bytes.clear();
    }

    /// Inserts a char at byte index `idx`.
    ///
    /// # Panics
    /// If `idx` is past the end or not on a char boundary.
    pub fn insert(&mut self, idx: usize, ch: char) {
        self.insert_str(idx, ch.encode_utf8(&mut [0; 4]));
    }

    /// Inserts a string at byte index `idx`.
    ///
    /// # Panics
    /// If `idx` is past the end or not on a char boundary.
    pub fn insert_str(&mut self, idx: usize, s: &str) {
        let len = self.len();
        assert!(
            idx <= len,
            "byte index {idx} is past the end of a string of length {len}"
        );
        assert!(
            self.is_char_boundary(idx),
            "byte index {idx} is not a char boundary"
        );
        self.bytes.insert_copied(idx, s.as_bytes());
    }

    /// Removes and returns the char at byte index `idx`.
    ///
    /// # Panics
    /// If `idx` is at or past the end, or not on a char boundary.
    pub fn remove(&mut self, idx: usize) -> char {
        let Some(ch) = self[idx..].chars().next() else {
            panic!("cannot remove a char from the end of a string");
        };
        self.bytes.drain(idx..idx + ch.len_utf8());
        ch
    }

    /// Keeps only the chars for which `keep` returns `true`, in order.
    ///
    /// If `keep` panics, the string keeps the chars not yet examined and those kept so far.
    pub fn retain<F: FnMut(char) -> bool>(&mut self, mut keep: F) {
        /// Closes the gap left by removed chars when retaining ends, even by a panic, so
        /// the bytes are UTF-8 again before anyone can see them.
        struct Compact<'a> {
            bytes: &'a mut RVec<u8>,
            /// Bytes `..write` are the kept chars, `read..` the chars not yet examined.
            read: usize,
            write: usize,
        }
        impl Drop for Compact<'_> {
            fn drop(&mut self) {
                if self.read != self.write {
                    let len = self.bytes.len();
                    self.bytes.copy_within(self.read..len, self.write);
                    self.bytes.truncate(len - (self.read - self.write));
                }
            }
        }

        let len = self.len();
        let mut c = Compact {
            bytes: &mut self.bytes,
            read: 0,
            write: 0,
        };
        while c.read < len {
            // `read..` is untouched UTF-8, so `read` starts a char.
            let width = utf8_char_width(c.bytes[c.read]);
            let ch = std::str::from_utf8(&c.bytes[c.read..c.read + width])
                .ok()
                .and_then(|s| s.chars().next())
                .expect("an RString holds UTF-8");
            if keep(ch) {
                if c.write != c.read {
                    let (read, write) = (c.read, c.write);
                    c.bytes.copy_within(read..read + width, write);
                }
                c.write += width;
            }
            c.read += width;
        }
    }

    /// Moves the bytes out as a vector.
    pub fn into_bytes(self) -> RVec<u8> {
        self.bytes
    }

    /// Copies the string into a `String` allocated by the caller's global allocator.
    pub fn into_string(self) -> String {
        self.as_str().to_owned()
    }
}

/// The length in bytes of the UTF-8 char that starts with `first`.
fn utf8_char_width(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

impl Deref for RString {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl DerefMut for RString {
    fn deref_mut(&mut self) -> &mut str {
        self.as_mut_str()
    }
}

impl AsRef<str> for RString {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsMut<str> for RString {
    fn as_mut(&mut self) -> &mut str {
        self.as_mut_str()
    }
}

impl AsRef<[u8]> for RString {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Borrow<str> for RString {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl BorrowMut<str> for RString {
    fn borrow_mut(&mut self) -> &mut str {
        self.as_mut_str()
    }
}

impl From<&str> for RString {
    fn from(s: &str) -> Self {
        let mut out = RString::with_capacity(s.len());
        out.push_str(s);
        out
    }
}

impl From<&String> for RString {
    fn from(s: &String) -> Self {
        RString::from(s.as_str())
    }
}

impl From<String> for RString {
    fn from(s: String) -> Self {
        RString::from(s.as_str())
    }
}

impl From<char> for RString {
    fn from(ch: char) -> Self {
        RString::from(&*ch.encode_utf8(&mut [0; 4]))
    }
}

impl From<RString> for String {
    fn from(s: RString) -> Self {
        s.into_string()
    }
}

impl FromStr for RString {
    type Err = Infallible;
    fn from_str(s: &str) -> Result<Self, Infallible> {
        Ok(RString::from(s))
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

/// Appends to the string, so `write!` works on it.
impl fmt::Write for RString {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push_str(s);
        Ok(())
    }

    fn write_char(&mut self, ch: char) -> fmt::Result {
        self.push(ch);
        Ok(())
    }
}

impl PartialEq for RString {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}
impl Eq for RString {}

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

impl PartialEq<String> for RString {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<RString> for str {
    fn eq(&self, other: &RString) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<RString> for &str {
    fn eq(&self, other: &RString) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<RString> for String {
    fn eq(&self, other: &RString) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialOrd for RString {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for RString {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

/// Hashes like `str` (and so like `String`), as [`Borrow<str>`](Borrow) requires.
impl Hash for RString {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl Add<&str> for RString {
    type Output = RString;
    fn add(mut self, rhs: &str) -> RString {
        self.push_str(rhs);
        self
    }
}

impl AddAssign<&str> for RString {
    fn add_assign(&mut self, rhs: &str) {
        self.push_str(rhs);
    }
}

impl Extend<char> for RString {
    fn extend<I: IntoIterator<Item = char>>(&mut self, iter: I) {
        let iter = iter.into_iter();
        self.reserve(iter.size_hint().0);
        for ch in iter {
            self.push(ch);
        }
    }
}

impl<'a> Extend<&'a char> for RString {
    fn extend<I: IntoIterator<Item = &'a char>>(&mut self, iter: I) {
        self.extend(iter.into_iter().copied());
    }
}

impl<'a> Extend<&'a str> for RString {
    fn extend<I: IntoIterator<Item = &'a str>>(&mut self, iter: I) {
        for s in iter {
            self.push_str(s);
        }
    }
}

impl Extend<String> for RString {
    fn extend<I: IntoIterator<Item = String>>(&mut self, iter: I) {
        for s in iter {
            self.push_str(&s);
        }
    }
}

impl Extend<RString> for RString {
    fn extend<I: IntoIterator<Item = RString>>(&mut self, iter: I) {
        for s in iter {
            self.push_str(&s);
        }
    }
}

impl FromIterator<char> for RString {
    fn from_iter<I: IntoIterator<Item = char>>(iter: I) -> Self {
        let mut s = RString::new();
        s.extend(iter);
        s
    }
}

impl<'a> FromIterator<&'a char> for RString {
    fn from_iter<I: IntoIterator<Item = &'a char>>(iter: I) -> Self {
        let mut s = RString::new();
        s.extend(iter);
        s
    }
}

impl<'a> FromIterator<&'a str> for RString {
    fn from_iter<I: IntoIterator<Item = &'a str>>(iter: I) -> Self {
        let mut s = RString::new();
        s.extend(iter);
        s
    }
}

impl FromIterator<String> for RString {
    fn from_iter<I: IntoIterator<Item = String>>(iter: I) -> Self {
        let mut s = RString::new();
        s.extend(iter);
        s
    }
}

impl FromIterator<RString> for RString {
    fn from_iter<I: IntoIterator<Item = RString>>(iter: I) -> Self {
        let mut s = RString::new();
        s.extend(iter);
        s
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

/// `serde` support: an [`RString`] is a string, an [`RVec<T>`] a sequence.
#[cfg(feature = "serde")]
mod serde_impls {
    use super::{RString, RVec};
    use serde::de::{self, Deserialize, Deserializer, SeqAccess, Visitor};
    use serde::ser::{Serialize, Serializer};
    use std::fmt;
    use std::marker::PhantomData;

    impl Serialize for RString {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_str(self.as_str())
        }
    }

    impl<'de> Deserialize<'de> for RString {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct StringVisitor;
            impl Visitor<'_> for StringVisitor {
                type Value = RString;

                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a string")
                }

                fn visit_str<E: de::Error>(self, v: &str) -> Result<RString, E> {
                    Ok(RString::from(v))
                }

                fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<RString, E> {
                    match std::str::from_utf8(v) {
                        Ok(s) => Ok(RString::from(s)),
                        Err(_) => Err(E::invalid_value(de::Unexpected::Bytes(v), &self)),
                    }
                }
            }
            deserializer.deserialize_str(StringVisitor)
        }
    }

    impl<T: Serialize> Serialize for RVec<T> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.collect_seq(self.as_slice())
        }
    }

    impl<'de, T: Deserialize<'de>> Deserialize<'de> for RVec<T> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct SeqVisitor<T>(PhantomData<T>);
            impl<'de, T: Deserialize<'de>> Visitor<'de> for SeqVisitor<T> {
                type Value = RVec<T>;

                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a sequence")
                }

                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RVec<T>, A::Error> {
                    // The length comes from the input: trust it only up to about 1 MiB.
                    let cautious = (1 << 20) / std::mem::size_of::<T>().max(1);
                    let mut v = RVec::with_capacity(seq.size_hint().unwrap_or(0).min(cautious));
                    while let Some(item) = seq.next_element()? {
                        v.push(item);
                    }
                    Ok(v)
                }
            }
            deserializer.deserialize_seq(SeqVisitor(PhantomData))
        }
    }
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
