//! [`RVec<T>`], a `Vec<T>` in the system allocator, with its iterators [`IntoIter`] and
//! [`Drain`].

use std::alloc::{GlobalAlloc, Layout, System};
use std::borrow::{Borrow, BorrowMut};
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::iter::FusedIterator;
use std::marker::PhantomData;
use std::mem::{self, ManuallyDrop};
use std::ops::{Bound, Deref, DerefMut, RangeBounds};
use std::ptr::{self, NonNull};

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
    pub(super) fn insert_copied(&mut self, index: usize, items: &[T])
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
}
