//! What the browser sees of the dev loop, for every server that shows it (`hotdev serve`
//! and the axum integration): the live-reload and overlay script, the pages hotdev makes
//! itself, the build status and the events that carry it, and a failed build as the
//! overlay shows it. Nothing here knows an HTTP server: each server writes the event
//! stream and the pages with its own types.

// Without the command line (the axum integration alone), the source pages and the stream
// counting of `hotdev serve` go unused.
#![cfg_attr(not(feature = "cli"), allow(dead_code))]

pub mod diagnostics;
mod html;
pub mod live;
pub mod pages;
