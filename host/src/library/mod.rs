//! One step at a time along the load path: read the artifact, inspect its object-file
//! headers, open it with the system loader, find the descriptor, check the interface.
//!
//! [`Plugin`](crate::Plugin) runs every step; `hotdev check` runs them one by one and
//! reports each.
//!
//! One file per step: [`read_artifact`] (`read.rs`), [`inspect`] (`inspect.rs`), [`open`]
//! (`open.rs`), [`descriptor`] (`descriptor.rs`) and [`check_interface`]
//! (`interface.rs`).

mod descriptor;
mod inspect;
mod interface;
mod open;
mod read;

pub(crate) use descriptor::check_at;
pub use descriptor::descriptor;
pub use inspect::inspect;
pub use interface::{check_interface, plugin_parts};
pub use open::{Opened, open};
pub(crate) use read::Changed;
pub use read::{Bytes, Data, read_artifact};
