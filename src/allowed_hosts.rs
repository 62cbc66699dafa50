//! Which names a development server answers to: the defence against DNS rebinding.
//!
//! A server bound to loopback keeps other machines out, but not the pages open in the
//! developer's own browser. With *DNS rebinding*, a page on `attacker.example` makes its
//! own name resolve to `127.0.0.1`; the browser then takes the dev server for that page's
//! origin and lets the page read whatever it answers. What the attacker cannot change is
//! the `Host` header: the browser sends the name from the page's URL, `attacker.example`.
//! So a dev server answers only to names that cannot be rebound (an IP address, `localhost`
//! and `*.localhost`) and to names its user listed, as webpack-dev-server's `allowedHosts`
//! and Vite's `server.allowedHosts` do.
//!
//! A server's own endpoints (for hotdev, `/__hotdev/*`) also check the `Origin` header: a
//! page served from another origin may send requests to them, and must be one of the
//! allowed names too.
//!
//! This module only decides; it knows nothing of HTTP servers. A caller passes the header
//! values as it received them and answers the [`Refusal`] with its
//! [`status`](Refusal::status). `hotdev serve` applies it to every request; any other
//! server (an axum or tower layer, say) can apply the same check.
//!
//! ```
//! use hotdev::allowed_hosts::{Allowed, AllowedHosts};
//!
//! let mut hosts = AllowedHosts::new();
//! hosts.allow("dev.example.test")?; // `--allowed-host dev.example.test`
//!
//! // Every request: the Host header.
//! assert_eq!(hosts.check_host(Some("localhost:7878")), Ok(Allowed::Localhost));
//! assert_eq!(hosts.check_host(Some("127.0.0.1:7878")), Ok(Allowed::IpAddress));
//! assert_eq!(hosts.check_host(Some("dev.example.test")), Ok(Allowed::Listed));
//! let refused = hosts.check_host(Some("attacker.example:7878")).unwrap_err();
//! assert_eq!((refused.status(), refused.host()), (403, Some("attacker.example")));
//!
//! // The server's own endpoints: the Host, and the Origin when there is one.
//! assert!(hosts.check(Some("localhost:7878"), Some("http://localhost:7878")).is_ok());
//! assert!(hosts.check(Some("localhost:7878"), Some("https://attacker.example")).is_err());
//! # Ok::<(), hotdev::allowed_hosts::InvalidName>(())
//! ```
//!
//! # What is allowed
//!
//! - A `Host` naming an IP address: `127.0.0.1:7878`, `192.168.1.20`, `[::1]:7878`. A
//!   rebinding page cannot produce one (its URL holds a name), and a LAN address typed
//!   into a phone's browser keeps working.
//! - `localhost` and every name under it (`app.localhost`): RFC 6761 reserves them for
//!   loopback, and browsers resolve them without DNS.
//! - The names listed with [`allow`](AllowedHosts::allow): an exact name, `.example.test`
//!   (that name and every name under it), an IP address, or `all` (no check at all).
//! - An `Origin` is allowed when its host is the request's own `Host` (a page asking its own
//!   server), `localhost` or a name under it, a loopback address, an address given to
//!   [`allow_ip`](AllowedHosts::allow_ip) (the address the server listens on), or a listed
//!   name. Other IP addresses are refused here: unlike a `Host`, an `Origin` with an
//!   IP address is a real page anywhere on the network. `Origin: null` (a sandboxed frame,
//!   a `file:` page) is refused. Ports and schemes are not compared.
//!
//! Names are compared without regard to case and to one trailing dot (`LOCALHOST.` is
//! `localhost`). A value that is not a `host[:port]` (userinfo, a port past 65535, an IPv6
//! address without brackets, characters no name has, several values joined by commas) is
//! refused as malformed; international names are compared in their ASCII form
//! (`xn--...`), the form browsers send.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reloadable::codes;

/// The names a server answers to. [`AllowedHosts::new`] allows IP addresses, `localhost`
/// and the names under it; [`allow`](Self::allow) adds more.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    /// `all` was listed: nothing is checked.
    any: bool,
    /// The names listed, in the order given.
    listed: Vec<Pattern>,
    /// Addresses an `Origin` may name besides loopback (the server's own).
    ips: Vec<IpAddr>,
}

/// One listed name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    /// This name (lowercase, no trailing dot).
    Exact(String),
    /// This name and every name under it (`.example.test`).
    Domain(String),
    /// This address.
    Ip(IpAddr),
}

impl Pattern {
    fn matches(&self, host: &Host) -> bool {
        match (self, host) {
            (Pattern::Exact(name), Host::Name(n)) => n == name,
            (Pattern::Domain(domain), Host::Name(n)) => {
                n == domain
                    || n.strip_suffix(domain.as_str())
                        .is_some_and(|rest| rest.ends_with('.'))
            }
            (Pattern::Ip(ip), Host::Ip(i)) => ip == i,
            _ => false,
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Exact(name) => f.write_str(name),
            Pattern::Domain(domain) => write!(f, ".{domain}"),
            Pattern::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// Why a request was allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Allowed {
    /// Checking is off (`all` was listed).
    AnyHost,
    /// The `Host` is an IP address.
    IpAddress,
    /// The `Host` is `localhost` or a name under it.
    Localhost,
    /// The `Host` is a listed name.
    Listed,
}

/// Why a request was refused. Every refusal has the code
/// [`HD057`](reloadable::codes::HOST_NOT_ALLOWED).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The request has no `Host` header (HTTP/1.1 requires one): answer 400.
    MissingHost,
    /// The `Host` header is not a `host[:port]`: answer 400.
    MalformedHost {
        /// The header's value.
        value: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The `Host` names a host that is not allowed: answer 403.
    HostNotAllowed {
        /// The host named (lowercase, without port or trailing dot).
        host: String,
    },
    /// The `Origin` is not `null` nor `scheme://host[:port]`: answer 403.
    MalformedOrigin {
        /// The header's value.
        value: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The `Origin` names a host that is not allowed (or is `null`): answer 403.
    OriginNotAllowed {
        /// The header's value.
        origin: String,
        /// The host it names (lowercase, without port or trailing dot; `null` for `null`).
        host: String,
    },
}

impl Refusal {
    /// The HTTP status to answer with: 400 for a missing or malformed `Host`, else 403.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::MissingHost | Refusal::MalformedHost { .. } => 400,
            _ => 403,
        }
    }

    /// The error code, `HD057`.
    pub fn code(&self) -> &'static str {
        codes::HOST_NOT_ALLOWED
    }

    /// The name that, once allowed, would let this request through (`None` for a missing
    /// or malformed header, or `Origin: null`).
    pub fn host(&self) -> Option<&str> {
        match self {
            Refusal::HostNotAllowed { host } => Some(host),
            Refusal::OriginNotAllowed { host, .. } if host != "null" => Some(host),
            _ => None,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] ", self.code())?;
        match self {
            Refusal::MissingHost => f.write_str("the request has no Host header"),
            Refusal::MalformedHost { value, why } => {
                write!(f, "the Host header {value:?} is malformed: {why}")
            }
            Refusal::HostNotAllowed { host } => {
                write!(
                    f,
                    "the Host header names {host}, which is not an allowed host"
                )
            }
            Refusal::MalformedOrigin { value, why } => {
                write!(f, "the Origin header {value:?} is malformed: {why}")
            }
            Refusal::OriginNotAllowed { origin, .. } if origin == "null" => f.write_str(
                "the request comes from an opaque origin (Origin: null), which is not allowed",
            ),
            Refusal::OriginNotAllowed { origin, host } => write!(
                f,
                "the request comes from a page on {origin}, and {host} is not an allowed host"
            ),
        }
    }
}

impl std::error::Error for Refusal {}

/// A name that [`AllowedHosts::allow`] cannot take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidName {
    /// The name given.
    pub name: String,
    /// What is wrong with it.
    pub why: &'static str,
}

impl fmt::Display for InvalidName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a host name to allow: {}",
            self.name, self.why
        )
    }
}

impl std::error::Error for InvalidName {}

/// A host, as a `Host` or `Origin` header names it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    Ip(IpAddr),
    /// Lowercase, without its trailing dot.
    Name(String),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Ip(ip) => write!(f, "{ip}"),
            Host::Name(name) => f.write_str(name),
        }
    }
}

impl Host {
    fn is_localhost(&self) -> bool {
        matches!(self, Host::Name(n) if n == "localhost" || n.ends_with(".localhost"))
    }
}

impl AllowedHosts {
    /// IP addresses, `localhost` and the names under it; nothing listed.
    pub fn new() -> Self {
        Self::default()
    }

    /// No check at all (`all`): every `Host` and `Origin` is allowed. Only for a server
    /// that nothing else can reach, or that serves nothing worth reading: any web page the
    /// developer opens can then read it through DNS rebinding.
    pub fn any() -> Self {
        AllowedHosts {
            any: true,
            ..Self::default()
        }
    }

    /// The checks with `names` allowed, as [`allow`](Self::allow) takes them.
    pub fn from_names<S: AsRef<str>>(
        names: impl IntoIterator<Item = S>,
    ) -> Result<Self, InvalidName> {
        let mut hosts = Self::new();
        for name in names {
            hosts.allow(name.as_ref())?;
        }
        Ok(hosts)
    }

    /// Allows a name: `dev.example.test` (that name), `.example.test` or `*.example.test`
    /// (that name and every name under it), an IP address (`192.168.1.20`, `::1` or
    /// `[::1]`, which matters for `Origin`: a `Host` with an address is always allowed), or
    /// `all` (checking off, see [`any`](Self::any)). Case and a trailing dot do not matter;
    /// a port, userinfo or a path is refused, and an international name must be given in
    /// its ASCII form (`xn--...`).
    pub fn allow(&mut self, name: &str) -> Result<(), InvalidName> {
        let invalid = |why| InvalidName {
            name: name.to_string(),
            why,
        };
        let trimmed = name.trim();
        if trimmed.eq_ignore_ascii_case("all") {
            self.any = true;
            return Ok(());
        }
        if !trimmed.is_ascii() {
            return Err(invalid(
                "write an international name in its ASCII form (xn--...), as browsers send it",
            ));
        }
        let unbracketed = trimmed
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
            .unwrap_or(trimmed);
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            self.push(Pattern::Ip(ip));
            return Ok(());
        }
        if trimmed.contains(':') {
            return Err(invalid(
                "give the name without a port (every port of an allowed name is allowed)",
            ));
        }
        let (domain, rest) = match trimmed
            .strip_prefix("*.")
            .or_else(|| trimmed.strip_prefix('.'))
        {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        let name = normal_name(rest).map_err(invalid)?;
        if let Ok(ip) = name.parse::<Ipv4Addr>() {
            self.push(Pattern::Ip(IpAddr::V4(ip)));
        } else if domain {
            self.push(Pattern::Domain(name));
        } else {
            self.push(Pattern::Exact(name));
        }
        Ok(())
    }

    /// Allows `ip` as the host of an `Origin` (the address the server listens on; `Host`
    /// headers with an address are always allowed).
    pub fn allow_ip(&mut self, ip: IpAddr) {
        if !self.ips.contains(&ip) {
            self.ips.push(ip);
        }
    }

    /// [`allow_ip`](Self::allow_ip) with the address of `addr`.
    pub fn allow_addr(&mut self, addr: SocketAddr) {
        self.allow_ip(addr.ip());
    }

    fn push(&mut self, pattern: Pattern) {
        if !self.listed.contains(&pattern) {
            self.listed.push(pattern);
        }
    }

    /// Whether checking is off (`all` was allowed).
    pub fn allows_any(&self) -> bool {
        self.any
    }

    /// The names allowed with [`allow`](Self::allow), as it takes them (`all` alone when
    /// checking is off): `AllowedHosts::from_names(hosts.names())` gives back the same
    /// checks, less the addresses given to [`allow_ip`](Self::allow_ip).
    pub fn names(&self) -> Vec<String> {
        if self.any {
            return vec!["all".to_string()];
        }
        self.listed.iter().map(Pattern::to_string).collect()
    }

    /// Checks the `Host` header of a request: `None` when it has none. A request with
    /// several `Host` headers is refused by HTTP/1.1: pass them joined with `,`, which this
    /// refuses as malformed.
    pub fn check_host(&self, host: Option<&str>) -> Result<Allowed, Refusal> {
        if self.any {
            return Ok(Allowed::AnyHost);
        }
        let value = host.ok_or(Refusal::MissingHost)?;
        let (host, _port) = parse_authority(value).map_err(|why| Refusal::MalformedHost {
            value: value.to_string(),
            why,
        })?;
        if matches!(host, Host::Ip(_)) {
            Ok(Allowed::IpAddress)
        } else if host.is_localhost() {
            Ok(Allowed::Localhost)
        } else if self.listed.iter().any(|p| p.matches(&host)) {
            Ok(Allowed::Listed)
        } else {
            Err(Refusal::HostNotAllowed {
                host: host.to_string(),
            })
        }
    }

    /// Checks a request to the server's own endpoints: its `Host` as
    /// [`check_host`](Self::check_host) does, then its `Origin` when it has one (`None`
    /// when it has none: browsers send none with a page's plain requests to its own
    /// server).
    pub fn check(&self, host: Option<&str>, origin: Option<&str>) -> Result<Allowed, Refusal> {
        let allowed = self.check_host(host)?;
        let Some(origin) = origin else {
            return Ok(allowed);
        };
        if self.any {
            return Ok(allowed);
        }
        let value = origin.trim();
        if value == "null" {
            return Err(Refusal::OriginNotAllowed {
                origin: value.to_string(),
                host: "null".to_string(),
            });
        }
        let malformed = |why| Refusal::MalformedOrigin {
            value: value.to_string(),
            why,
        };
        let (scheme, authority) = value
            .split_once("://")
            .ok_or_else(|| malformed("not scheme://host[:port]"))?;
        let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        if !scheme_ok {
            return Err(malformed("not scheme://host[:port]"));
        }
        let (origin_host, _port) = parse_authority(authority).map_err(malformed)?;
        // `check_host` parsed it already.
        let own = host.and_then(|h| parse_authority(h).ok()).map(|(h, _)| h);
        let allowed_origin = own.as_ref() == Some(&origin_host)
            || origin_host.is_localhost()
            || matches!(origin_host, Host::Ip(ip) if ip.is_loopback() || self.ips.contains(&ip))
            || self.listed.iter().any(|p| p.matches(&origin_host));
        if allowed_origin {
            Ok(allowed)
        } else {
            Err(Refusal::OriginNotAllowed {
                origin: value.to_string(),
                host: origin_host.to_string(),
            })
        }
    }
}

/// Reads `host[:port]` (RFC 9110's `uri-host [ ":" port ]`, without userinfo).
fn parse_authority(value: &str) -> Result<(Host, Option<u16>), &'static str> {
    if value.is_empty() {
        return Err("it is empty");
    }
    if value.contains('@') {
        return Err("it holds userinfo (user@host)");
    }
    if value.contains(',') {
        return Err("it holds several values");
    }
    if value.contains(['/', '?', '#']) {
        return Err("it holds a path");
    }
    let (host, port) = if let Some(rest) = value.strip_prefix('[') {
        let (inside, after) = rest
            .split_once(']')
            .ok_or("an IPv6 address without its closing bracket")?;
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or("characters after the IPv6 address")?,
            ),
        };
        (Host::Ip(IpAddr::V6(ipv6_literal(inside)?)), port)
    } else {
        let (host, port) = match value.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (value, None),
        };
        if port.is_some_and(|p| p.contains(':')) {
            return Err("an IPv6 address must be written in brackets ([::1])");
        }
        let name = normal_name(host)?;
        let host = match name.parse::<Ipv4Addr>() {
            Ok(ip) => Host::Ip(IpAddr::V4(ip)),
            Err(_) => Host::Name(name),
        };
        (host, port)
    };
    let port = match port {
        // RFC 3986 allows an empty port; it means the scheme's default.
        None | Some("") => None,
        Some(digits) => {
            if !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err("the port is not a number");
            }
            Some(
                digits
                    .parse::<u16>()
                    .map_err(|_| "the port is past 65535")?,
            )
        }
    };
    Ok((host, port))
}

/// The address inside `[...]`, with an optional zone (`fe80::1%25eth0`, RFC 6874, or
/// `%eth0` as some clients send it), which is dropped.
fn ipv6_literal(inside: &str) -> Result<Ipv6Addr, &'static str> {
    let (address, zone) = match inside.split_once('%') {
        Some((address, zone)) => (address, Some(zone.strip_prefix("25").unwrap_or(zone))),
        None => (inside, None),
    };
    if let Some(zone) = zone {
        let unreserved = |c: char| c.is_ascii_alphanumeric() || "-._~".contains(c);
        if zone.is_empty() || !zone.chars().all(unreserved) {
            return Err("the IPv6 zone is malformed");
        }
    }
    address
        .parse()
        .map_err(|_| "the text in brackets is not an IPv6 address")
}

/// `name` lowercased, without one trailing dot, if it is a DNS name: labels of 1 to 63
/// letters, digits, `-` or `_`, 253 characters at most.
fn normal_name(name: &str) -> Result<String, &'static str> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return Err("the host name is empty");
    }
    if name.len() > 253 {
        return Err("the host name is longer than 253 characters");
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("the host name has an empty label (..)");
        }
        if label.len() > 63 {
            return Err("a label of the host name is longer than 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err("the host name holds a character no host name has");
        }
    }
    Ok(name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `new()` with `dev.example.test`, `.tunnel.example` and `192.168.1.20` listed, and
    /// the server listening on 10.0.0.5.
    fn configured() -> AllowedHosts {
        let mut hosts =
            AllowedHosts::from_names(["dev.example.test", ".tunnel.example", "192.168.1.20"])
                .unwrap();
        hosts.allow_addr("10.0.0.5:7878".parse().unwrap());
        hosts
    }

    /// What the check says, as a short word, for tables.
    fn verdict(result: Result<Allowed, Refusal>) -> String {
        match result {
            Ok(Allowed::AnyHost) => "any".into(),
            Ok(Allowed::IpAddress) => "ip".into(),
            Ok(Allowed::Localhost) => "localhost".into(),
            Ok(Allowed::Listed) => "listed".into(),
            Err(Refusal::MissingHost) => "400 missing".into(),
            Err(Refusal::MalformedHost { .. }) => "400 malformed".into(),
            Err(Refusal::HostNotAllowed { host }) => format!("403 {host}"),
            Err(Refusal::MalformedOrigin { .. }) => "403 malformed origin".into(),
            Err(Refusal::OriginNotAllowed { host, .. }) => format!("403 origin {host}"),
        }
    }

    #[test]
    fn host_headers() {
        let hosts = configured();
        let table: &[(Option<&str>, &str)] = &[
            // IP addresses, with and without a port.
            (Some("127.0.0.1"), "ip"),
            (Some("127.0.0.1:7878"), "ip"),
            (Some("192.168.1.77:7878"), "ip"),
            (Some("0.0.0.0:7878"), "ip"),
            (Some("[::1]"), "ip"),
            (Some("[::1]:7878"), "ip"),
            (Some("[fe80::1%25eth0]:7878"), "ip"),
            (Some("[fe80::1%eth0]"), "ip"),
            (Some("127.0.0.1.:7878"), "ip"),
            // localhost and the names under it.
            (Some("localhost"), "localhost"),
            (Some("localhost:7878"), "localhost"),
            (Some("LOCALHOST:7878"), "localhost"),
            (Some("localhost."), "localhost"),
            (Some("localhost.:7878"), "localhost"),
            (Some("app.localhost:7878"), "localhost"),
            (Some("a.b.LocalHost"), "localhost"),
            (Some("localhost:"), "localhost"),
            // Listed names.
            (Some("dev.example.test"), "listed"),
            (Some("DEV.Example.Test.:443"), "listed"),
            (Some("tunnel.example"), "listed"),
            (Some("abc123.tunnel.example:8080"), "listed"),
            // Foreign names.
            (Some("evil.example"), "403 evil.example"),
            (Some("evil.example:7878"), "403 evil.example"),
            (Some("EVIL.example."), "403 evil.example"),
            (Some("evil.localhost.example"), "403 evil.localhost.example"),
            (Some("localhost.evil.example"), "403 localhost.evil.example"),
            (Some("notlocalhost"), "403 notlocalhost"),
            (Some("x.dev.example.test"), "403 x.dev.example.test"),
            (Some("eviltunnel.example"), "403 eviltunnel.example"),
            (Some("xn--bcher-kva.example"), "403 xn--bcher-kva.example"),
            (Some("2130706433"), "403 2130706433"),
            (Some("127.1"), "403 127.1"),
            (Some("0x7f.0.0.1"), "403 0x7f.0.0.1"),
            // Malformed.
            (None, "400 missing"),
            (Some(""), "400 malformed"),
            (Some(":7878"), "400 malformed"),
            (Some("."), "400 malformed"),
            (Some(".localhost"), "400 malformed"),
            (Some("a..localhost"), "400 malformed"),
            (Some("localhost.."), "400 malformed"),
            (Some("user@localhost"), "400 malformed"),
            (Some("evil.example@127.0.0.1"), "400 malformed"),
            (Some("localhost:65536"), "400 malformed"),
            (Some("localhost:99999999999999999999"), "400 malformed"),
            (Some("localhost:-1"), "400 malformed"),
            (Some("localhost:80x"), "400 malformed"),
            (Some("localhost:80:80"), "400 malformed"),
            (Some("::1"), "400 malformed"),
            (Some("::1:7878"), "400 malformed"),
            (Some("[::1"), "400 malformed"),
            (Some("[::1]x"), "400 malformed"),
            (Some("[127.0.0.1]"), "400 malformed"),
            (Some("[fe80::1%25]"), "400 malformed"),
            (Some("[fe80::1%25e/th0]"), "400 malformed"),
            (Some("localhost, evil.example"), "400 malformed"),
            (Some("localhost/x"), "400 malformed"),
            (Some("local host"), "400 malformed"),
            (Some("bücher.example"), "400 malformed"),
            (Some(&"a".repeat(64)), "400 malformed"),
        ];
        for (host, expected) in table {
            assert_eq!(
                &verdict(hosts.check_host(*host)),
                expected,
                "Host: {host:?}"
            );
        }
    }

    #[test]
    fn origins_of_the_servers_own_endpoints() {
        let hosts = configured();
        let table: &[(&str, Option<&str>, &str)] = &[
            // No Origin: the page's own plain requests.
            ("localhost:7878", None, "localhost"),
            // The page's own origin, whatever the Host.
            ("localhost:7878", Some("http://localhost:7878"), "localhost"),
            ("127.0.0.1:7878", Some("http://127.0.0.1:7878"), "ip"),
            ("192.168.1.77:7878", Some("http://192.168.1.77:7878"), "ip"),
            ("[::1]:7878", Some("http://[::1]:7878"), "ip"),
            (
                "LOCALHOST:7878",
                Some("http://localhost.:7878"),
                "localhost",
            ),
            // Other allowed names and loopback pages, any port or scheme.
            ("127.0.0.1:7878", Some("http://localhost:3000"), "ip"),
            ("127.0.0.1:7878", Some("https://app.localhost"), "ip"),
            ("localhost:7878", Some("http://127.0.0.1:3000"), "localhost"),
            ("localhost:7878", Some("http://[::1]:3000"), "localhost"),
            (
                "localhost:7878",
                Some("https://dev.example.test"),
                "localhost",
            ),
            (
                "localhost:7878",
                Some("https://x.tunnel.example"),
                "localhost",
            ),
            (
                "localhost:7878",
                Some("http://192.168.1.20:3000"),
                "localhost",
            ),
            ("localhost:7878", Some("http://10.0.0.5:7878"), "localhost"),
            // Foreign pages.
            (
                "localhost:7878",
                Some("http://evil.example"),
                "403 origin evil.example",
            ),
            (
                "127.0.0.1:7878",
                Some("https://evil.example:7878"),
                "403 origin evil.example",
            ),
            (
                "localhost:7878",
                Some("http://evil.localhost.example"),
                "403 origin evil.localhost.example",
            ),
            (
                "localhost:7878",
                Some("http://203.0.113.9"),
                "403 origin 203.0.113.9",
            ),
            (
                "127.0.0.1:7878",
                Some("http://192.168.1.77"),
                "403 origin 192.168.1.77",
            ),
            ("localhost:7878", Some("null"), "403 origin null"),
            // Malformed.
            ("localhost:7878", Some(""), "403 malformed origin"),
            (
                "localhost:7878",
                Some("localhost:7878"),
                "403 malformed origin",
            ),
            ("localhost:7878", Some("http://"), "403 malformed origin"),
            (
                "localhost:7878",
                Some("http://u@localhost"),
                "403 malformed origin",
            ),
            (
                "localhost:7878",
                Some("http://localhost:70000"),
                "403 malformed origin",
            ),
            (
                "localhost:7878",
                Some("http://localhost/path"),
                "403 malformed origin",
            ),
            (
                "localhost:7878",
                Some("1http://localhost"),
                "403 malformed origin",
            ),
            // The Host is checked first.
            (
                "evil.example",
                Some("http://evil.example"),
                "403 evil.example",
            ),
        ];
        for (host, origin, expected) in table {
            assert_eq!(
                &verdict(hosts.check(Some(host), *origin)),
                expected,
                "Host: {host:?}, Origin: {origin:?}"
            );
        }
    }

    #[test]
    fn all_turns_checking_off() {
        let hosts = AllowedHosts::from_names(["ALL"]).unwrap();
        assert!(hosts.allows_any());
        assert_eq!(hosts.names(), ["all"]);
        assert_eq!(verdict(hosts.check_host(None)), "any");
        assert_eq!(
            verdict(hosts.check(Some("evil.example"), Some("null"))),
            "any"
        );
        assert_eq!(AllowedHosts::any(), hosts);
    }

    #[test]
    fn names_to_allow() {
        let ok: &[(&str, &str)] = &[
            ("dev.example.test", "dev.example.test"),
            ("DEV.Example.TEST.", "dev.example.test"),
            (" dev.example.test ", "dev.example.test"),
            (".tunnel.example", ".tunnel.example"),
            ("*.tunnel.example", ".tunnel.example"),
            ("192.168.1.20", "192.168.1.20"),
            ("::1", "::1"),
            ("[fe80::1]", "fe80::1"),
            ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ];
        for (given, listed) in ok {
            let hosts = AllowedHosts::from_names([given]).unwrap();
            assert_eq!(hosts.names(), [listed.to_string()], "{given:?}");
            assert_eq!(AllowedHosts::from_names(hosts.names()).unwrap(), hosts);
        }
        let refused = [
            "",
            ".",
            "*.",
            "dev.example.test:8080",
            "user@dev.example.test",
            "dev.example.test/path",
            "bücher.example",
            "a..b",
            "*",
        ];
        for given in refused {
            assert!(AllowedHosts::from_names([given]).is_err(), "{given:?}");
        }
        let error = AllowedHosts::from_names(["x:1"]).unwrap_err();
        assert_eq!(error.name, "x:1");
        assert!(error.to_string().contains("without a port"), "{error}");
    }

    #[test]
    fn refusals_tell_status_code_and_the_name_to_allow() {
        let hosts = AllowedHosts::new();
        let host = hosts.check_host(Some("Evil.Example:7878")).unwrap_err();
        assert_eq!(
            (host.status(), host.code(), host.host()),
            (403, "HD057", Some("evil.example"))
        );
        assert_eq!(
            host.to_string(),
            "[HD057] the Host header names evil.example, which is not an allowed host"
        );
        let origin = hosts
            .check(Some("localhost:1"), Some("http://evil.example:9"))
            .unwrap_err();
        assert_eq!(
            (origin.status(), origin.host()),
            (403, Some("evil.example"))
        );
        assert!(
            origin.to_string().contains("http://evil.example:9"),
            "{origin}"
        );
        let null = hosts.check(Some("localhost"), Some("null")).unwrap_err();
        assert_eq!((null.status(), null.host()), (403, None));
        let missing = hosts.check_host(None).unwrap_err();
        assert_eq!((missing.status(), missing.host()), (400, None));
        let malformed = hosts.check_host(Some("a@b")).unwrap_err();
        assert_eq!((malformed.status(), malformed.host()), (400, None));
        assert!(malformed.to_string().contains("userinfo"), "{malformed}");
    }
}
