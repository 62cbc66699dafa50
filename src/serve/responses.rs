//! The responses the HTTP server and the static files write themselves.

use std::io::Cursor;

use tiny_http::StatusCode;

/// A header the server writes: a constant name, and a value that is a constant or ASCII
/// it made (dates, hex tags, MIME types).
pub(super) fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes())
        .unwrap_or_else(|()| unreachable!("invalid header {name}: {value}"))
}

/// A plain-text response.
pub(super) fn text(status: u16, body: &str) -> tiny_http::Response<Cursor<Vec<u8>>> {
    tiny_http::Response::from_data(body.as_bytes().to_vec())
        .with_status_code(StatusCode(status))
        .with_header(header("Content-Type", "text/plain; charset=utf-8"))
}
