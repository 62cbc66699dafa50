//! The pages the server makes itself, and the injection of the live-reload script into the
//! plugin's HTML.

use crate::allowed_hosts::Refusal;

pub use super::html::escape;

/// The tag injected into every HTML response.
pub const SCRIPT_TAG: &str = "<script src=\"/__hotdev/client.js\"></script>";

/// The live-reload and overlay script served at `/__hotdev/client.js`.
pub const CLIENT_JS: &str = include_str!("client.js");

/// The snippet injected into pages served by `generation`.
fn snippet(generation: u64) -> String {
    format!("<script>window.__hotdevGeneration={generation};</script>{SCRIPT_TAG}")
}

/// Inserts the live-reload script before the last `</body>` (any case), or appends it.
pub fn inject(body: &[u8], generation: u64) -> Vec<u8> {
    let snippet = snippet(generation);
    let at = rfind_ignore_ascii_case(body, b"</body>").unwrap_or(body.len());
    let mut out = Vec::with_capacity(body.len() + snippet.len());
    out.extend_from_slice(&body[..at]);
    out.extend_from_slice(snippet.as_bytes());
    out.extend_from_slice(&body[at..]);
    out
}

fn rfind_ignore_ascii_case(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() > haystack.len() {
        return None;
    }
    (0..=haystack.len() - needle.len())
        .rev()
        .find(|&i| haystack[i..i + needle.len()].eq_ignore_ascii_case(needle))
}

/// A page with the live-reload script, for `generation`.
pub fn page(title: &str, body: &str, generation: u64) -> String {
    bare_page(title, &format!("{body}{}", snippet(generation)))
}

/// A page without the live-reload script.
fn bare_page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{title}</title><style>\
         body{{font:15px/1.5 system-ui,sans-serif;margin:40px auto;max-width:60em;padding:0 1em;\
         color:#18181b}}pre{{background:#f4f4f5;padding:12px;border-radius:6px;\
         white-space:pre-wrap}}h1{{font-size:22px}}.dim{{color:#71717a}}</style></head>\
         <body>{body}</body></html>\n",
        title = escape(title),
    )
}

/// The 400 or 403 page for a request refused for its `Host` or `Origin`. It has no
/// live-reload script: the script's own requests would be refused too.
pub fn host_refused_page(refusal: &Refusal, route: &str) -> String {
    let what = match refusal {
        Refusal::MissingHost | Refusal::MalformedHost { .. } => {
            "<p>An HTTP/1.1 request must name the server it is for in one <code>Host</code> \
             header, as <code>host[:port]</code>.</p>"
                .to_string()
        }
        _ => {
            let allow = match refusal.host() {
                Some(name) => format!(
                    "<p>If <code>{name}</code> is yours (a name for this machine on your \
                     network, a tunnel's name), start hotdev with</p>\
                     <pre id=\"hotdev-allow\">hotdev serve ... --allowed-host {name}</pre>",
                    name = escape(name)
                ),
                None => String::new(),
            };
            format!(
                "<p>This development server answers only to IP addresses, \
                 <code>localhost</code> and names under it, and the names allowed with \
                 <code>--allowed-host</code>, and its own endpoints only to pages on those \
                 names. A web page cannot then read it by making its own name resolve to \
                 this machine (DNS rebinding).</p>{allow}"
            )
        }
    };
    bare_page(
        "request refused",
        &format!(
            "<h1>hotdev refused this request</h1><pre id=\"hotdev-refused\">{message}</pre>\
             <p class=\"dim\">{route}</p>{what}",
            message = escape(&refusal.to_string()),
            route = escape(route),
        ),
    )
}

/// The 500 page for a request whose handler panicked.
pub fn panic_page(
    message: &str,
    location: Option<&str>,
    generation: u64,
    rolled_back_to: Option<u64>,
) -> String {
    let at = location
        .map(|at| format!("<p>at <code>{}</code></p>", escape(at)))
        .unwrap_or_default();
    let rollback = rolled_back_to
        .map(|to| format!("<p>generation {to} is serving again (rolled back)</p>"))
        .unwrap_or_default();
    page(
        "plugin panicked",
        &format!(
            "<h1>the plugin panicked</h1><pre id=\"hotdev-panic\">{}</pre>{at}\
             <p class=\"dim\">generation {generation}; the server goes on. Fix the code and \
             this page reloads by itself.</p>{rollback}",
            escape(message),
        ),
        generation,
    )
}

/// The 504 page for a request whose handler did not return within the handler timeout.
pub fn timeout_page(
    route: &str,
    generation: u64,
    elapsed: std::time::Duration,
    limit: std::time::Duration,
    stuck: usize,
) -> String {
    page(
        "handler timed out",
        &format!(
            "<h1>the handler did not return</h1><pre id=\"hotdev-timeout\">[{code}] {route} \
             has run for {elapsed:.1} s in generation {generation}, past the handler timeout \
             ({limit:.1} s)</pre><p>Its thread cannot be stopped: the call keeps running in \
             the background ({stuck} stuck), and another worker took its place. After \
             repeated failures this route is answered at once with an error page until the \
             next generation. Fix the code (an endless loop? a lock or channel that is \
             never released?) and save: the new generation serves at once and this page \
             reloads by itself.</p><p class=\"dim\">change the limit with \
             <code>hotdev serve --handler-timeout</code></p>",
            code = reloadable::codes::HANDLER_TIMEOUT,
            route = escape(route),
            elapsed = elapsed.as_secs_f64(),
            limit = limit.as_secs_f64(),
        ),
        generation,
    )
}

/// The 503 page answering, without calling the plugin, a route whose breaker is open.
pub fn breaker_page(route: &str, generation: u64, failures: u32, last: &str) -> String {
    page(
        "circuit breaker open",
        &format!(
            "<h1>circuit breaker open</h1><pre id=\"hotdev-breaker\">[{code}] {route} failed \
             {failures} times in generation {generation}; last: {last}</pre><p>This request \
             was answered without calling the handler. Requests to this route are answered \
             so until the next generation goes live: fix the code and save, and this page \
             reloads by itself.</p>",
            code = reloadable::codes::BREAKER_OPEN,
            route = escape(route),
            last = escape(last),
        ),
        generation,
    )
}

/// The 503 page shown while no generation serves; it reloads by itself when one goes
/// live. It says why nothing serves: the first build is running, it failed, or every
/// generation left crashed (then it names the crash and asks for a fix, and never says
/// "building" when nothing builds).
pub fn starting_page(status: &super::live::Status) -> String {
    use super::live::BuildState;
    let crashed = status.notice.as_ref().filter(|n| n.kind == "crashed");
    let (title, body) = match (crashed, &status.state) {
        (Some(notice), _) => (
            "waiting for a fix",
            format!(
                "<h1>waiting for a fix</h1><pre id=\"hotdev-waiting\">{}</pre>\
                 <p class=\"dim\">save a fix: this page reloads by itself when a generation \
                 goes live</p>",
                escape(&notice.message)
            ),
        ),
        (None, BuildState::Failed | BuildState::Rejected) => (
            "build failed",
            "<h1>the build failed</h1><p class=\"dim\">the errors show over this page; \
             save a fix and this page reloads by itself when a generation goes live</p>"
                .to_string(),
        ),
        (None, _) => (
            "building",
            "<h1>hotdev is building the plugin</h1>\
             <p class=\"dim\">this page reloads by itself when the first build is ready</p>"
                .to_string(),
        ),
    };
    page(title, &body, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injects_before_the_last_closing_body_tag() {
        let out = inject(b"<html><BODY>hi</Body></html>", 3);
        let out = String::from_utf8(out).unwrap();
        assert!(out.starts_with("<html><BODY>hi<script>window.__hotdevGeneration=3;</script>"));
        assert!(out.ends_with(&format!("{SCRIPT_TAG}</Body></html>")));
    }

    #[test]
    fn appends_when_there_is_no_body_tag() {
        let out = String::from_utf8(inject(b"<p>hi", 1)).unwrap();
        assert!(out.starts_with("<p>hi<script>"));
        assert!(out.ends_with(SCRIPT_TAG));
    }

    #[test]
    fn timeout_and_breaker_pages_name_the_route_and_generation() {
        let secs = std::time::Duration::from_secs;
        let page = timeout_page("GET /<loop>", 7, secs(6), secs(5), 2);
        assert!(page.contains("GET /&lt;loop&gt;"), "{page}");
        assert!(page.contains("generation 7"), "{page}");
        assert!(page.contains("6.0 s") && page.contains("5.0 s"), "{page}");
        let page = breaker_page("GET /loop", 3, 3, "panicked: <b>");
        assert!(page.contains("[HD053] GET /loop failed 3 times in generation 3"));
        assert!(page.contains("&lt;b&gt;"), "{page}");
    }

    #[test]
    fn the_waiting_page_names_the_crash_and_never_says_building() {
        let mut status = super::super::live::Hub::default().status();
        assert!(starting_page(&status).contains("building the plugin"));
        status.notice = Some(super::super::live::Notice {
            generation: 0,
            kind: "crashed",
            message: "[HD064] generation 1 crashed 2 times: stack overflow while serving \
                      GET /deep; save a fix"
                .into(),
        });
        let page = starting_page(&status);
        assert!(page.contains("generation 1 crashed 2 times"), "{page}");
        assert!(!page.contains("building"), "{page}");
        assert!(page.contains(SCRIPT_TAG), "it reloads by itself: {page}");
    }

    #[test]
    fn host_refused_page_names_the_host_and_the_flag_and_has_no_script() {
        let refusal = Refusal::HostNotAllowed {
            host: "evil.example".into(),
        };
        let page = host_refused_page(&refusal, "GET /<x>");
        assert!(
            page.contains("[HD057] the Host header names evil.example"),
            "{page}"
        );
        assert!(page.contains("--allowed-host evil.example"), "{page}");
        assert!(page.contains("GET /&lt;x&gt;"), "{page}");
        assert!(!page.contains(SCRIPT_TAG), "{page}");
        let page = host_refused_page(&Refusal::MissingHost, "GET /");
        assert!(
            page.contains("[HD057] the request has no Host header"),
            "{page}"
        );
        assert!(!page.contains("--allowed-host "), "{page}");
    }

    #[test]
    fn panic_page_escapes_the_message() {
        let page = panic_page("<b>boom</b>", Some("src/lib.rs:3:5"), 2, None);
        assert!(page.contains("&lt;b&gt;boom&lt;/b&gt;"));
        assert!(page.contains("src/lib.rs:3:5"));
        assert!(page.contains(SCRIPT_TAG));
    }
}
