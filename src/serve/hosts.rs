//! The host check of every request ([`crate::allowed_hosts`]) and what a refusal shows: a
//! page for the client, and one terminal line and one `host_refused` event per refused
//! host (not per request: a page polling the server would fill the terminal).

use std::collections::HashSet;
use std::sync::Mutex;

use crate::allowed_hosts::{AllowedHosts, Refusal};
use crate::events::Event;

use super::{Shared, pages};

/// How many refused hosts are reported; past that, refusals are answered silently.
const MAX_REPORTED: usize = 64;

/// The names the server answers to, and the refusals already reported.
#[derive(Debug)]
pub(crate) struct HostCheck {
    allowed: AllowedHosts,
    reported: Mutex<HashSet<String>>,
}

impl HostCheck {
    pub(crate) fn new(allowed: AllowedHosts) -> Self {
        HostCheck {
            allowed,
            reported: Mutex::new(HashSet::new()),
        }
    }
}

/// A refused request's answer: its status and HTML page.
pub(crate) struct Refused {
    pub status: u16,
    pub page: String,
}

/// Checks a request's `Host` and, for the server's own endpoints (`own`), its `Origin`.
/// A refusal is reported the first time its host is seen.
pub(crate) fn check(
    shared: &Shared,
    host: Option<&str>,
    origin: Option<&str>,
    own: bool,
    route: &str,
) -> Result<(), Refused> {
    let allowed = &shared.hosts.allowed;
    let result = if own {
        allowed.check(host, origin)
    } else {
        allowed.check_host(host)
    };
    let Err(refusal) = result else {
        return Ok(());
    };
    report(shared, &refusal, host, origin, route);
    Err(Refused {
        status: refusal.status(),
        page: pages::host_refused_page(&refusal, route),
    })
}

/// Says once per host (or malformed value) that requests for it are refused.
fn report(
    shared: &Shared,
    refusal: &Refusal,
    host: Option<&str>,
    origin: Option<&str>,
    route: &str,
) {
    let key = match refusal {
        Refusal::HostNotAllowed { host } => format!("host {host}"),
        Refusal::OriginNotAllowed { host, .. } => format!("origin {host}"),
        Refusal::MissingHost => "no host".to_string(),
        Refusal::MalformedHost { value, .. } => format!("host value {value}"),
        Refusal::MalformedOrigin { value, .. } => format!("origin value {value}"),
    };
    {
        let mut reported = shared
            .hosts
            .reported
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if reported.len() > MAX_REPORTED || !reported.insert(key) {
            return;
        }
        if reported.len() > MAX_REPORTED {
            shared.term.line(&format!(
                "[{}] more than {MAX_REPORTED} hosts were refused: further refusals are not \
                 reported",
                refusal.code()
            ));
            return;
        }
    }
    let status = refusal.status();
    let hint = match refusal.host() {
        Some(name) => format!(
            "; if {name} is yours (a tunnel, a LAN name), restart with --allowed-host {name}"
        ),
        None => String::new(),
    };
    shared.term.line(&format!(
        "{refusal}: answered {route} with {status}{hint} (reported once per host)"
    ));
    let origin = match refusal {
        Refusal::OriginNotAllowed { .. } | Refusal::MalformedOrigin { .. } => {
            origin.map(str::to_string)
        }
        _ => None,
    };
    shared.emit(&Event::HostRefused {
        host: host.map(str::to_string),
        origin,
        allow: refusal.host().map(str::to_string),
        status,
        route: route.to_string(),
        message: refusal.to_string(),
    });
}
