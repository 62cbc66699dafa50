//! The plugin's static files: `GET /static/<path>` answered from the static directory
//! (the plugin crate's `static/`, or `--static DIR`), without a build.
//!
//! A request never reaches a file outside that directory. The path is percent-decoded
//! first, then refused (404, as for a missing file) if it holds a NUL, a backslash, a `..`
//! segment or anything that makes it absolute; what is left is joined to the directory and
//! canonicalized, and the file it really is (symlinks followed) must lie inside the
//! canonical directory. Responses carry the type guessed from the extension
//! (`mime_guess`), an `ETag` and `Last-Modified`, and `Cache-Control: no-cache`, so
//! browsers keep a copy but ask again each time and get `304 Not Modified` when nothing
//! changed. HTML files get the live-reload script like the plugin's pages.
//!
//! tiny_http has no file serving of its own, and the well-kept file servers
//! (`tower-http`'s `ServeDir`, `actix-files`) belong to other HTTP stacks; what is written
//! here is only the path check and the few headers, each piece of parsing left to a
//! crate (`percent-encoding`, `mime_guess`, `httpdate`).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::{self, Cursor};
use std::path::{Component, Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use mime_guess::mime;
use percent_encoding::percent_decode_str;
use tiny_http::StatusCode;

use super::pages;
use super::responses::{header, text};

/// The URL prefix static files are served under.
pub const PREFIX: &str = "/static/";

/// The static directory, canonicalized once at start.
#[derive(Debug, Clone)]
pub struct StaticDir {
    root: PathBuf,
}

impl StaticDir {
    /// Opens `dir`: it must exist, be a directory, and be listable.
    pub fn open(dir: &Path) -> io::Result<StaticDir> {
        let root = dir.canonicalize()?;
        // Listing it proves it is a readable directory (and not a file).
        std::fs::read_dir(&root)?;
        Ok(StaticDir { root })
    }

    /// The canonical directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The URL path (decoded, `/`-separated) that serves `file`, a path under the root.
    pub fn url_for(&self, file: &Path) -> Option<String> {
        let relative = file.strip_prefix(&self.root).ok()?;
        let parts: Vec<String> = relative
            .components()
            .map(|c| match c {
                Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect::<Option<_>>()?;
        (!parts.is_empty()).then(|| format!("{PREFIX}{}", parts.join("/")))
    }

    /// The file that the still percent-encoded path `encoded` (what follows `/static/` in
    /// the request) names, or `None` when it names nothing inside the directory.
    pub fn resolve(&self, encoded: &str) -> Option<PathBuf> {
        let decoded = percent_decode_str(encoded).decode_utf8().ok()?;
        if decoded.is_empty() || decoded.contains(['\0', '\\']) {
            return None;
        }
        if decoded.split('/').any(|segment| segment == "..") {
            return None;
        }
        let relative = Path::new(decoded.as_ref());
        // Only plain names: no root, no drive prefix, no `.` or `..`.
        if !relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        {
            return None;
        }
        let real = self.root.join(relative).canonicalize().ok()?;
        (real.starts_with(&self.root) && real.is_file()).then_some(real)
    }
}

/// The response for the static file `file`, honouring the request's conditional headers.
pub fn response(
    file: &Path,
    if_none_match: Option<&str>,
    if_modified_since: Option<&str>,
    generation: u64,
) -> tiny_http::Response<Cursor<Vec<u8>>> {
    let (body, modified) = match read(file) {
        Ok(read) => read,
        // Deleted between the check and the read (an editor's delete-and-recreate).
        Err(error) if error.kind() == io::ErrorKind::NotFound => return not_found(),
        Err(error) => {
            tracing::warn!(file = %file.display(), %error, "could not read a static file");
            return text(500, "could not read the file\n");
        }
    };
    let mime = mime_guess::from_path(file).first_or_octet_stream();
    let body = if mime.essence_str() == "text/html" {
        pages::inject(&body, generation)
    } else {
        body
    };
    let etag = etag(&body);
    // HTTP dates have whole seconds.
    let modified = modified.and_then(|m| {
        let secs = m.duration_since(UNIX_EPOCH).ok()?.as_secs();
        Some(UNIX_EPOCH + std::time::Duration::from_secs(secs))
    });
    let not_modified = match (if_none_match, if_modified_since) {
        // When both are sent the entity tag decides (RFC 9110, 13.2.2).
        (Some(tags), _) => etag_matches(tags, &etag),
        (None, Some(since)) => match (httpdate::parse_http_date(since), modified) {
            (Ok(since), Some(modified)) => modified <= since,
            _ => false,
        },
        (None, None) => false,
    };
    let mut out = if not_modified {
        tiny_http::Response::from_data(Vec::new()).with_status_code(StatusCode(304))
    } else {
        tiny_http::Response::from_data(body)
            .with_header(header("Content-Type", &content_type(&mime)))
            .with_header(header("X-Content-Type-Options", "nosniff"))
    };
    out.add_header(header("ETag", &etag));
    if let Some(modified) = modified {
        out.add_header(header("Last-Modified", &httpdate::fmt_http_date(modified)));
    }
    out.add_header(header("Cache-Control", "no-cache"));
    out
}

/// 404 for a path that names nothing servable (missing, outside, or refused).
pub fn not_found() -> tiny_http::Response<Cursor<Vec<u8>>> {
    text(404, "no such static file\n")
}

/// 405 for methods other than GET and HEAD.
pub fn method_not_allowed() -> tiny_http::Response<Cursor<Vec<u8>>> {
    text(405, "static files answer GET and HEAD only\n").with_header(header("Allow", "GET, HEAD"))
}

fn read(file: &Path) -> io::Result<(Vec<u8>, Option<SystemTime>)> {
    let body = std::fs::read(file)?;
    let modified = std::fs::metadata(file).and_then(|m| m.modified()).ok();
    Ok((body, modified))
}

/// A strong entity tag from the bytes served: their length and a 64-bit hash. Hashing the
/// content (files here are a page's assets, read whole anyway) stays right where file
/// times are coarse: two saves within one timestamp tick get different tags. The hasher
/// may differ between Rust releases; that only costs a full response instead of a 304.
fn etag(body: &[u8]) -> String {
    let mut hasher = DefaultHasher::new();
    body.hash(&mut hasher);
    format!("\"{:x}-{:016x}\"", body.len(), hasher.finish())
}

/// Whether an `If-None-Match` list names `etag` (weak comparison, as for GET).
fn etag_matches(list: &str, etag: &str) -> bool {
    list.split(',').map(str::trim).any(|tag| {
        tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag.trim_start_matches("W/")
    })
}

fn content_type(mime: &mime::Mime) -> String {
    let textual = mime.type_() == mime::TEXT
        || mime.subtype() == mime::JAVASCRIPT
        || mime.subtype() == mime::JSON
        || mime.suffix() == Some(mime::XML)
        || mime.subtype() == mime::XML;
    if textual && mime.get_param(mime::CHARSET).is_none() {
        format!("{}; charset=utf-8", mime.essence_str())
    } else {
        mime.essence_str().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with_files() -> (tempfile::TempDir, StaticDir) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("static");
        std::fs::create_dir_all(root.join("css")).unwrap();
        std::fs::write(root.join("css/site.css"), "h1{}").unwrap();
        std::fs::write(root.join("my file.txt"), "spaced").unwrap();
        std::fs::write(tmp.path().join("secret.txt"), "outside").unwrap();
        let dir = StaticDir::open(&root).unwrap();
        (tmp, dir)
    }

    #[test]
    fn resolves_plain_and_encoded_names_inside() {
        let (_tmp, dir) = dir_with_files();
        assert_eq!(
            dir.resolve("css/site.css"),
            Some(dir.root().join("css/site.css"))
        );
        assert_eq!(
            dir.resolve("my%20file.txt"),
            Some(dir.root().join("my file.txt"))
        );
        assert_eq!(
            dir.resolve("css%2fsite.css"),
            Some(dir.root().join("css/site.css"))
        );
    }

    #[test]
    fn refuses_everything_outside_or_odd() {
        let (_tmp, dir) = dir_with_files();
        #[rustfmt::skip]
        let refused = [
            "../secret.txt", "..%2fsecret.txt", "%2e%2e/secret.txt", "%2E%2E%2Fsecret.txt",
            "css/../../secret.txt", "css/%2e%2e/%2e%2e/secret.txt",
            "/etc/passwd", "%2fetc%2fpasswd", "..\\secret.txt", "..%5csecret.txt",
            "css/site.css%00", "%00", "", "css", "css/", "./css/site.css", "missing.css",
            "%ff%fe",
        ];
        for path in refused {
            assert_eq!(dir.resolve(path), None, "{path:?} must be refused");
        }
    }

    #[cfg(unix)]
    #[test]
    fn refuses_a_symlink_that_leads_outside_and_follows_one_inside() {
        let (tmp, dir) = dir_with_files();
        std::os::unix::fs::symlink(tmp.path().join("secret.txt"), dir.root().join("leak.txt"))
            .unwrap();
        std::os::unix::fs::symlink(tmp.path(), dir.root().join("up")).unwrap();
        std::os::unix::fs::symlink(
            dir.root().join("css/site.css"),
            dir.root().join("alias.css"),
        )
        .unwrap();
        assert_eq!(dir.resolve("leak.txt"), None);
        assert_eq!(dir.resolve("up/secret.txt"), None);
        assert_eq!(
            dir.resolve("alias.css"),
            Some(dir.root().join("css/site.css"))
        );
    }

    #[test]
    fn url_for_names_files_under_the_root() {
        let (tmp, dir) = dir_with_files();
        assert_eq!(
            dir.url_for(&dir.root().join("css/site.css")).as_deref(),
            Some("/static/css/site.css")
        );
        assert_eq!(dir.url_for(&tmp.path().join("secret.txt")), None);
        assert_eq!(dir.url_for(dir.root()), None);
    }

    #[test]
    fn content_types_carry_a_charset_for_text() {
        let t = |name: &str| content_type(&mime_guess::from_path(name).first_or_octet_stream());
        assert_eq!(t("a.css"), "text/css; charset=utf-8");
        assert!(
            t("a.js").ends_with("javascript; charset=utf-8"),
            "{}",
            t("a.js")
        );
        assert_eq!(t("a.svg"), "image/svg+xml; charset=utf-8");
        assert_eq!(t("a.png"), "image/png");
        assert_eq!(t("a.woff2"), "font/woff2");
        assert_eq!(t("noextension"), "application/octet-stream");
    }

    #[test]
    fn entity_tags_follow_the_content_and_match_weakly() {
        assert_ne!(etag(b"h1{color:#f00}"), etag(b"h1{color:#0f0}"));
        assert_eq!(etag(b"same"), etag(b"same"));
        let tag = etag(b"x");
        assert!(etag_matches(&tag, &tag));
        assert!(etag_matches(&format!("\"other\", W/{tag}"), &tag));
        assert!(etag_matches("*", &tag));
        assert!(!etag_matches("\"other\"", &tag));
    }
}
