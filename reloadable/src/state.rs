//! Plugin state kept by the host across generations.

use std::fmt;

use crate::abi::{Abi, Plain, TypeLayout};

/// A plugin's own state, in memory the host owns, passed to the interface functions that
/// declare a `&State` or `&mut State` parameter.
///
/// The plugin names its state type once, in [`export_plugin!`](crate::export_plugin), and
/// reads it with [`get`](State::get) or [`get_mut`](State::get_mut). The host keeps the
/// state while generations come and go; when a new generation's state layout differs, the
/// host migrates it through the plugin's save/restore hooks or refuses the generation.
#[repr(C)]
pub struct State {
    ptr: *mut u8,
    size: usize,
    align: usize,
}

// SAFETY: `get` requires `T: Sync` for shared access and `get_mut` requires `T: Send`.
unsafe impl Sync for State {}
// SAFETY: as above.
unsafe impl Send for State {}

impl State {
    /// No state (for plugins that declare none).
    pub const fn none() -> Self {
        State {
            ptr: std::ptr::NonNull::<u64>::dangling().as_ptr().cast(),
            size: 0,
            align: 1,
        }
    }

    /// Wraps host-owned memory holding an initialised state value.
    ///
    /// # Safety
    /// `ptr` must point to a live, initialised value of the plugin's declared state type,
    /// `size` and `align` must be that type's, and the memory must outlive every use of
    /// the returned `State`.
    #[doc(hidden)]
    pub unsafe fn from_raw(ptr: *mut u8, size: usize, align: usize) -> Self {
        State { ptr, size, align }
    }

    /// The raw pointer to the state value.
    #[doc(hidden)]
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }

    fn check<T: Abi>(&self) {
        let layout: &TypeLayout = T::LAYOUT;
        assert!(
            self.size == layout.size && self.align == layout.align,
            "hotdev state is {} bytes aligned to {}, not a {} ({} bytes aligned to {}): \
             read it with the type named in export_plugin!",
            self.size,
            self.align,
            layout.name.as_str(),
            layout.size,
            layout.align,
        );
    }

    /// The state, shared. Panics if `T` is not the declared state type's size and alignment.
    pub fn get<T: Plain + Sync>(&self) -> &T {
        self.check::<T>();
        // SAFETY: `from_raw`'s contract: `ptr` holds a live value of the declared state
        // type, which has `T`'s size and alignment (checked above).
        unsafe { &*self.ptr.cast::<T>() }
    }

    /// The state, exclusive. Panics if `T` is not the declared state type's size and alignment.
    pub fn get_mut<T: Plain + Send>(&mut self) -> &mut T {
        self.check::<T>();
        // SAFETY: as in `get`, and `&mut self` makes the access exclusive.
        unsafe { &mut *self.ptr.cast::<T>() }
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("State")
            .field("size", &self.size)
            .field("align", &self.align)
            .finish()
    }
}

// `#[repr(C)]`, passed as itself behind a reference; not `Owned` (it points at host memory).
crate::abi::self_abi!(State);
