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
//!   that is not a char boundary. It implements [`fmt::Write`](std::fmt::Write) (so
//!   `write!` works), `+` and `+=` with `&str`, `Extend` and `FromIterator` of chars and
//!   strings, `FromStr`, equality with `str`, `&str` and `String` both ways, and `Ord` and
//!   `Hash` like `str`, so a `HashMap<RString, V>` can be looked up with a `&str` through
//!   `Borrow<str>`.
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

//!
//! # Where each type lives
//!
//! - [`StaticStr`], [`StaticSlice`]: static data in descriptors (`statics.rs`).
//! - [`RVec`] with its iterators [`IntoIter`] and [`Drain`] (`rvec.rs`).
//! - [`RString`] (`rstring.rs`).
//! - [`RawStr`], [`RawSlice`]: borrowed arguments (`borrowed.rs`).
//! - [`sys_box`], [`sys_unbox`]: boxes in the system allocator (`sys_box.rs`).
//! - The `serde` impls, with the `serde` feature (`serde.rs`).

mod borrowed;
mod rstring;
mod rvec;
#[cfg(feature = "serde")]
mod serde;
mod statics;
mod sys_box;

pub use borrowed::{RawSlice, RawStr};
pub use rstring::RString;
pub use rvec::{Drain, IntoIter, RVec};
pub use statics::{StaticSlice, StaticStr};
pub use sys_box::{sys_box, sys_unbox};
