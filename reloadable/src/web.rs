//! The HTTP interface served by `hotdev serve`.
//!
//! A web plugin implements [`app::Implementation`]: one function that turns a
//! [`Request`] into a [`Response`], with access to the plugin's [`State`], which the
//! server keeps across reloads.
//!
//! ```
//! use reloadable::web::{app, Request, Response};
//! use reloadable::State;
//!
//! struct Hello;
//! impl app::Implementation for Hello {
//!     fn handle(request: &Request, _state: &State) -> Response {
//!         match request.path.as_str() {
//!             "/" => Response::html("<h1>Hello</h1>"),
//!             _ => Response::text("not found").with_status(404),
//!         }
//!     }
//! }
//! reloadable::export_plugin!(interface: reloadable::web::app, implementation: Hello);
//! # fn main() {}
//! ```

use crate::ffi::{RString, RVec};
use crate::state::State;

crate::abi_struct! {
    /// One HTTP header.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Header {
        /// The header's name, as received.
        pub name: RString,
        /// The header's value.
        pub value: RString,
    }
}

crate::abi_struct! {
    /// An HTTP request, as the server received it.
    #[derive(Debug, Clone, Default)]
    pub struct Request {
        /// `GET`, `POST`, …
        pub method: RString,
        /// The path, without the query string: `/items/7`.
        pub path: RString,
        /// The query string without the `?` (empty when there is none).
        pub query: RString,
        /// The headers, in the order received.
        pub headers: RVec<Header>,
        /// The body.
        pub body: RVec<u8>,
    }
}

crate::abi_struct! {
    /// An HTTP response.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Response {
        /// The status code.
        pub status: u16,
        /// The headers.
        pub headers: RVec<Header>,
        /// The body.
        pub body: RVec<u8>,
    }
}

impl Request {
    /// The value of the first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// The body as UTF-8 text, if it is.
    pub fn body_text(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }

    /// The value of query parameter `name` (not percent-decoded).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then_some(v)
        })
    }
}

impl Response {
    /// A `200 OK` response with a body and a `Content-Type`.
    pub fn new(content_type: &str, body: impl AsRef<[u8]>) -> Self {
        Response {
            status: 200,
            headers: RVec::new(),
            body: RVec::from(body.as_ref()),
        }
        .with_header("Content-Type", content_type)
    }

    /// An HTML page (`text/html; charset=utf-8`).
    pub fn html(body: impl AsRef<str>) -> Self {
        Self::new("text/html; charset=utf-8", body.as_ref())
    }

    /// Plain text (`text/plain; charset=utf-8`).
    pub fn text(body: impl AsRef<str>) -> Self {
        Self::new("text/plain; charset=utf-8", body.as_ref())
    }

    /// A JSON document (`application/json`), already serialised.
    pub fn json(body: impl AsRef<str>) -> Self {
        Self::new("application/json", body.as_ref())
    }

    /// Sets the status code.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push(Header {
            name: name.into(),
            value: value.into(),
        });
        self
    }

    /// The value of the first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }
}

crate::ffi_interface! {
    /// An HTTP application served by `hotdev serve`.
    pub mod app {
        /// Answers one request. `state` is the plugin's own state (see
        /// `export_plugin!`'s `state:`), shared by concurrent requests.
        fn handle(request: &Request, state: &State) -> Response;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_helpers_find_headers_and_params() {
        let req = Request {
            method: "GET".into(),
            path: "/".into(),
            query: "a=1&b=two&flag".into(),
            headers: [Header {
                name: "Accept".into(),
                value: "text/html".into(),
            }]
            .into_iter()
            .collect(),
            body: RVec::new(),
        };
        assert_eq!(req.header("accept"), Some("text/html"));
        assert_eq!(req.query_param("b"), Some("two"));
        assert_eq!(req.query_param("flag"), Some(""));
        assert_eq!(req.query_param("c"), None);
    }

    #[test]
    fn response_builders_set_type_and_status() {
        let r = Response::json("{}").with_status(201);
        assert_eq!(r.status, 201);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(&*r.body, b"{}");
    }
}
