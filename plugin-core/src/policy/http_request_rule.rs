//! [`HttpRequestRule`]: the one rule a plugin's outbound HTTP request is
//! held to, whichever way it asks: the core ABI's `http_request`, the
//! world's `fetch`, `wasi:http`, or gRPC's `HostService.HttpRequest`. Each
//! of those calls it before handing the request on, and the host's HTTP
//! service calls it again before it sends, so a host of its own making is
//! held to it too.
//!
//! The rule: the request goes to the host its URL names, and nowhere else.
//! - the URL must pass the plugin's [`HttpAllowlist`] (and, in the host's
//!   HTTP service, the address it resolves to must pass the plugin's
//!   [`AddressRules`](crate::AddressRules), on every redirect hop);
//! - a header that would make a server (or a proxy in front of it) serve
//!   another target than the URL's, or that belongs to the connection
//!   rather than to the request, is **refused** (never rewritten), naming
//!   the header and the plugin; see [`refused_header`] for the list;
//! - `Content-Length` is accepted only with the body's very length (the
//!   host's client writes it from the body);
//! - the `CONNECT` method (which turns the connection into a tunnel) is
//!   refused.

use url::Url;

use crate::http_allowlist::HttpAllowlist;
use plugin_types::HostHttpRequest;

/// Why a plugin's HTTP request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpRefusal {
    /// The URL is not allowed: the allowlist's reason.
    #[error("{0}")]
    Url(String),
    /// A header the plugin may not set.
    #[error(
        "plugin {plugin} may not set the request header {header:?}: {why}; no setting allows it (the request goes to the host its URL names, which the HTTP allowlist judges)"
    )]
    Header {
        /// The plugin.
        plugin: String,
        /// The header, as the plugin wrote it.
        header: String,
        /// What the header would do.
        why: String,
    },
    /// A method the plugin may not use.
    #[error(
        "plugin {plugin} may not use the {method} method: it turns the connection into a tunnel; no setting allows it"
    )]
    Method {
        /// The plugin.
        plugin: String,
        /// The method, as the plugin wrote it.
        method: String,
    },
}

/// The rule one plugin's HTTP requests are held to (see the module's
/// documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpRequestRule {
    plugin: String,
    allowlist: HttpAllowlist,
}

impl HttpRequestRule {
    /// The rule of `plugin`, whose URLs `allowlist` judges.
    pub fn new(plugin: &str, allowlist: HttpAllowlist) -> Self {
        Self {
            plugin: plugin.to_owned(),
            allowlist,
        }
    }

    /// The plugin this rule is for.
    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    /// Checks a whole request (method, URL, headers); its parsed URL when
    /// it may be sent.
    pub fn check(&self, request: &HostHttpRequest) -> Result<Url, HttpRefusal> {
        let url = self.check_url(&request.url)?;
        check_headers(&self.plugin, request)?;
        Ok(url)
    }

    /// Checks a URL alone: the first one before the request is built, or
    /// a redirect hop.
    pub fn check_url(&self, url: &str) -> Result<Url, HttpRefusal> {
        self.allowlist.check(url).map_err(HttpRefusal::Url)
    }
}

/// Checks the method and headers of `plugin`'s `request` (not its URL: a
/// caller that holds no allowlist leaves that to the host's HTTP service).
pub fn check_headers(plugin: &str, request: &HostHttpRequest) -> Result<(), HttpRefusal> {
    if request.method.trim().eq_ignore_ascii_case("CONNECT") {
        return Err(HttpRefusal::Method {
            plugin: plugin.to_owned(),
            method: request.method.clone(),
        });
    }
    for (name, value) in &request.headers {
        let why = match refused_header(name) {
            Some(why) => why.to_owned(),
            None if name.trim().eq_ignore_ascii_case("content-length")
                && value.trim().parse::<u64>().ok() != u64::try_from(request.body.len()).ok() =>
            {
                format!(
                    "it frames the message, and says {value:?} for a body of {} bytes",
                    request.body.len()
                )
            }
            None => continue,
        };
        return Err(HttpRefusal::Header {
            plugin: plugin.to_owned(),
            header: name.clone(),
            why,
        });
    }
    Ok(())
}

/// Why a plugin may not set a request header of this name (compared
/// without case or surrounding blanks), or `None` if it may:
/// - **the target**: `Host` and any pseudo-header (`:authority`,
///   `:path`, ...): the host addressed is the URL's;
/// - **forwarding**: `Forwarded`, `Via`, every `X-Forwarded-*`,
///   `X-Real-IP`, `X-Host`, `X-HTTP-Host-Override`, `X-Original-Host`,
///   `X-Original-URL`, `X-Rewrite-URL`: they tell a proxy or a framework
///   which host, path or client a request is for, and the host is not a
///   proxy forwarding on someone's behalf;
/// - **the connection** (hop-by-hop): `Connection`, `Keep-Alive`,
///   `Proxy-Connection`, `Proxy-Authorization`, `Proxy-Authenticate`,
///   `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`, `HTTP2-Settings`:
///   the connection is the host's client's.
///
/// This list is also what `wasi:http` forbids a component to set (a superset
/// of wasmtime's default forbidden headers).
pub fn refused_header(name: &str) -> Option<&'static str> {
    let name = name.trim().to_ascii_lowercase();
    Some(match name.as_str() {
        "host" => "it would change the host addressed, which is the URL's",
        _ if name.starts_with(':') => "a pseudo-header names the target, which is the URL's",
        "forwarded"
        | "via"
        | "x-real-ip"
        | "x-host"
        | "x-http-host-override"
        | "x-original-host"
        | "x-original-url"
        | "x-rewrite-url" => "it tells a proxy where or for whom to forward the request",
        _ if name.starts_with("x-forwarded-") => {
            "it tells a proxy where or for whom to forward the request"
        }
        "connection"
        | "keep-alive"
        | "proxy-connection"
        | "proxy-authorization"
        | "proxy-authenticate"
        | "te"
        | "trailer"
        | "transfer-encoding"
        | "upgrade"
        | "http2-settings" => "it is hop-by-hop: the connection is the host's client's",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::manifest::HttpPermission;

    fn rule() -> HttpRequestRule {
        HttpRequestRule::new(
            "p",
            HttpAllowlist::new(&[HttpPermission::host("a.example.com")]),
        )
    }

    fn request(headers: &[(&str, &str)], body: &[u8]) -> HostHttpRequest {
        HostHttpRequest {
            method: "POST".into(),
            url: "https://a.example.com/x".into(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
            body: body.to_vec(),
        }
    }

    #[test]
    fn headers_that_change_the_target_or_the_connection_are_refused() {
        let rule = rule();
        for name in [
            "Host",
            "host",
            "HOST",
            " Host ",
            ":authority",
            ":path",
            "Forwarded",
            "Via",
            "X-Forwarded-Host",
            "x-forwarded-for",
            "X-Forwarded-Proto",
            "X-Real-IP",
            "X-Host",
            "X-HTTP-Host-Override",
            "X-Original-Host",
            "X-Original-URL",
            "X-Rewrite-URL",
            "Connection",
            "Keep-Alive",
            "Proxy-Connection",
            "Proxy-Authorization",
            "Proxy-Authenticate",
            "TE",
            "Trailer",
            "Transfer-Encoding",
            "Upgrade",
            "HTTP2-Settings",
        ] {
            let err = rule
                .check(&request(&[("accept", "*/*"), (name, "b.example.com")], b""))
                .unwrap_err();
            let text = err.to_string();
            assert!(
                text.starts_with(&format!("plugin p may not set the request header {name:?}")),
                "{text}"
            );
        }
        // Wasmtime's own forbidden list is within ours.
        for name in [
            "connection",
            "keep-alive",
            "proxy-authenticate",
            "proxy-authorization",
            "proxy-connection",
            "transfer-encoding",
            "upgrade",
            "host",
            "http2-settings",
        ] {
            assert!(refused_header(name).is_some(), "{name}");
        }
    }

    #[test]
    fn ordinary_headers_and_a_true_length_pass() {
        let rule = rule();
        let url = rule
            .check(&request(
                &[
                    ("Accept", "*/*"),
                    ("Authorization", "Bearer t"),
                    ("Content-Type", "text/plain"),
                    ("Content-Length", "5"),
                    ("X-Request-Id", "1"),
                    ("Hostname", "b"),
                ],
                b"hello",
            ))
            .unwrap();
        assert_eq!(url.host_str(), Some("a.example.com"));
        for length in ["4", "6", "", "5, 5", "-5", "x"] {
            let err = rule
                .check(&request(&[("content-length", length)], b"hello"))
                .unwrap_err();
            assert!(err.to_string().contains("body of 5 bytes"), "{err}");
        }
    }

    #[test]
    fn the_url_and_the_method_are_judged_too() {
        let rule = rule();
        let mut other = request(&[], b"");
        other.url = "https://b.example.com/".into();
        assert!(matches!(rule.check(&other), Err(HttpRefusal::Url(_))));
        let mut connect = request(&[], b"");
        connect.method = "connect".into();
        let err = rule.check(&connect).unwrap_err();
        assert!(
            err.to_string()
                .contains("plugin p may not use the connect method"),
            "{err}"
        );
    }
}
