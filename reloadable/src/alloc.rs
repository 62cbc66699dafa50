//! One allocator for host and plugin.
//!
//! A plugin is a `cdylib` with its own copy of std, and so, by default, its own global
//! allocator. Values that cross a Rust-typed boundary (`String`, `Vec`, `HashMap`, boxes)
//! are freed on the other side, so both sides must allocate through the same allocator,
//! whatever `#[global_allocator]` the host chose. Every plugin (see
//! [`export_plugin!`](crate::export_plugin)) installs [`Forward`] as its global allocator:
//! it sends every allocation to the host's allocator, whose entry points the host hands
//! over when it initialises the library, before any of the plugin's code runs.
//!
//! Until then (the library's own initialisers, or a plugin used outside a hotdev host, as
//! in its unit tests) `Forward` allocates from the system allocator. A plugin may not set
//! a `#[global_allocator]` of its own.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

/// The host's allocator as C entry points, handed to a plugin when it is initialised.
///
/// # Safety
///
/// Each entry point has the contract of the [`GlobalAlloc`] method of the same name, with
/// the [`Layout`] passed as its size and alignment:
/// - `size` and `align` must make a valid `Layout` (`align` a power of two, `size`
///   rounded up to it no more than `isize::MAX`), and `size` must not be 0;
/// - `dealloc` and `realloc` take only a block that this allocator returned and that is
///   not freed yet, with the size and alignment it was made with; after them the block
///   may not be used again;
/// - `realloc`'s `new_size`, rounded up to `align`, must not exceed `isize::MAX` and must
///   not be 0.
///
/// A null result means that the allocation failed.
#[repr(C)]
#[derive(Debug)]
pub struct HostAllocator {
    /// `alloc(size, align)`.
    pub alloc: unsafe extern "C" fn(usize, usize) -> *mut u8,
    /// `alloc_zeroed(size, align)`.
    pub alloc_zeroed: unsafe extern "C" fn(usize, usize) -> *mut u8,
    /// `dealloc(ptr, size, align)`.
    pub dealloc: unsafe extern "C" fn(*mut u8, usize, usize),
    /// `realloc(ptr, size, align, new_size)`.
    pub realloc: unsafe extern "C" fn(*mut u8, usize, usize, usize) -> *mut u8,
}

/// The host's allocator, once the host has initialised this library.
static HOST: AtomicPtr<HostAllocator> = AtomicPtr::new(ptr::null_mut());

/// Points this copy of reloadable (the plugin's) at the host's allocator.
///
/// # Safety
/// `host` must be null or live for as long as the library is loaded, and must be set
/// before the plugin allocates anything that the host may free.
pub(crate) unsafe fn set_host(host: *const HostAllocator) {
    HOST.store(host.cast_mut(), Ordering::Release);
}

/// A plugin's global allocator: the host's, once known (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct Forward;

// SAFETY: every request goes whole to one allocator: the host's (which upholds
// `GlobalAlloc`'s contract, being a `GlobalAlloc` behind C entry points), or the system's
// before the host is known. A block is freed by the allocator that made it as long as the
// host is set before the plugin allocates anything it hands over (the host sets it first
// thing after loading, `set_host`).
unsafe impl GlobalAlloc for Forward {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let host = HOST.load(Ordering::Acquire);
        if host.is_null() {
            // SAFETY: the caller's layout, passed on.
            unsafe { System.alloc(layout) }
        } else {
            // SAFETY: `host` lives while the library is loaded (`set_host`).
            unsafe { ((*host).alloc)(layout.size(), layout.align()) }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let host = HOST.load(Ordering::Acquire);
        if host.is_null() {
            // SAFETY: the caller's layout, passed on.
            unsafe { System.alloc_zeroed(layout) }
        } else {
            // SAFETY: as in `alloc`.
            unsafe { ((*host).alloc_zeroed)(layout.size(), layout.align()) }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        let host = HOST.load(Ordering::Acquire);
        if host.is_null() {
            // SAFETY: the caller's block and layout, passed on.
            unsafe { System.dealloc(p, layout) }
        } else {
            // SAFETY: as in `alloc`.
            unsafe { ((*host).dealloc)(p, layout.size(), layout.align()) }
        }
    }

    #[inline]
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let host = HOST.load(Ordering::Acquire);
        if host.is_null() {
            // SAFETY: the caller's block, layout and size, passed on.
            unsafe { System.realloc(p, layout, new_size) }
        } else {
            // SAFETY: as in `alloc`.
            unsafe { ((*host).realloc)(p, layout.size(), layout.align(), new_size) }
        }
    }
}

/// The allocator of the process this copy of reloadable is linked into (a host's), as C
/// entry points for its plugins.
pub static THIS_PROCESS: HostAllocator = HostAllocator {
    alloc: this_alloc,
    alloc_zeroed: this_alloc_zeroed,
    dealloc: this_dealloc,
    realloc: this_realloc,
};

/// [`HostAllocator::alloc`] for this process: [`std::alloc::alloc`].
///
/// # Safety
/// `size` and `align` must make a valid [`Layout`] of non-zero size (see
/// [`HostAllocator`]).
unsafe extern "C" fn this_alloc(size: usize, align: usize) -> *mut u8 {
    // SAFETY: the caller's promise (a plugin's `Forward` passes on a layout it was given
    // by `GlobalAlloc::alloc`): a valid layout of non-zero size.
    unsafe { std::alloc::alloc(Layout::from_size_align_unchecked(size, align)) }
}

/// [`HostAllocator::alloc_zeroed`] for this process: [`std::alloc::alloc_zeroed`].
///
/// # Safety
/// As for [`this_alloc`].
unsafe extern "C" fn this_alloc_zeroed(size: usize, align: usize) -> *mut u8 {
    // SAFETY: as in `this_alloc`.
    unsafe { std::alloc::alloc_zeroed(Layout::from_size_align_unchecked(size, align)) }
}

/// [`HostAllocator::dealloc`] for this process: [`std::alloc::dealloc`].
///
/// # Safety
/// `p` must be a live block made by this process's global allocator with `size` and
/// `align`, and must not be used afterwards.
unsafe extern "C" fn this_dealloc(p: *mut u8, size: usize, align: usize) {
    // SAFETY: as in `this_alloc`; the block was made by this allocator with this layout.
    unsafe { std::alloc::dealloc(p, Layout::from_size_align_unchecked(size, align)) }
}

/// [`HostAllocator::realloc`] for this process: [`std::alloc::realloc`].
///
/// # Safety
/// As for [`this_dealloc`] (`p` is not used afterwards unless the result is null), and
/// `new`, rounded up to `align`, must be non-zero and no more than `isize::MAX`.
unsafe extern "C" fn this_realloc(p: *mut u8, size: usize, align: usize, new: usize) -> *mut u8 {
    // SAFETY: as in `this_dealloc`.
    unsafe { std::alloc::realloc(p, Layout::from_size_align_unchecked(size, align), new) }
}
