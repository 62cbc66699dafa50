//! [`sys_box`] and [`sys_unbox`]: a `Box` in the system allocator, for values one side
//! makes and the other frees.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr::NonNull;

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
    fn sys_box_round_trips() {
        let p = sys_box(String::from("boxed"));
        // SAFETY: `p` comes from `sys_box` and is unboxed once.
        let s = unsafe { sys_unbox(p) };
        assert_eq!(s, "boxed");
    }
}
