//! Which URLs a plugin's `http_request` may reach.

use url::Url;

use crate::manifest::HttpPermission;

/// A plugin's HTTP allowlist, from `wasm.permissions.http`.
///
/// Matching rules:
/// - the scheme must be `http` or `https`, and the entry's scheme when it
///   names one; the port (explicit or the scheme's default) must be the
///   entry's port when it names one;
/// - `api.example.com` matches that host only (case-insensitive);
/// - `*.example.com` matches any subdomain (`a.example.com`,
///   `a.b.example.com`) but not `example.com` itself;
/// - `*` matches every host;
/// - URLs with user info (`http://user@host/`) are refused;
/// - an empty allowlist refuses everything.
///
/// Hosts are compared after URL parsing, so `http://API.example.com.`,
/// percent-encoding and IDNA forms cannot slip past a pattern. A host that
/// follows redirects must check every hop.
///
/// The allowlist says which *names* may be asked for; which *addresses*
/// a request may then reach (no loopback or private network unless granted)
/// is the host's HTTP client's business.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpAllowlist {
    entries: Vec<HttpPermission>,
}

impl HttpAllowlist {
    /// The allowlist of these permissions.
    pub fn new(permissions: &[HttpPermission]) -> Self {
        Self {
            entries: permissions
                .iter()
                .map(|p| HttpPermission {
                    host: p.host.trim_end_matches('.').to_ascii_lowercase(),
                    scheme: p.scheme.clone(),
                    port: p.port,
                })
                .collect(),
        }
    }

    /// Checks `url`, returning why it is refused.
    pub fn check(&self, url: &str) -> Result<Url, String> {
        let parsed = Url::parse(url).map_err(|e| format!("{url:?} is not a valid URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("{url:?}: only http and https are allowed"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(format!("{url:?}: URLs with credentials are not allowed"));
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| format!("{url:?} has no host"))?
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let port = parsed.port_or_known_default();
        let allowed = self.entries.iter().any(|entry| {
            host_matches(&entry.host, &host)
                && entry.scheme.as_deref().is_none_or(|s| s == parsed.scheme())
                && entry.port.is_none_or(|p| Some(p) == port)
        });
        if allowed {
            Ok(parsed)
        } else if self.entries.is_empty() {
            Err(format!(
                "{host} is not allowed: the plugin has no HTTP permission"
            ))
        } else {
            Err(format!("{host} is not on the plugin's HTTP allowlist"))
        }
    }
}

/// Whether host pattern `pattern` (`api.example.com`, `*.example.com`, `*`)
/// matches `host`, which may itself be a pattern: `*.a.example.com` is
/// matched by `*.example.com`, `*` only by `*`. Both lowercase, without a
/// trailing dot.
pub fn host_matches(pattern: &str, host: &str) -> bool {
    pattern == "*"
        || pattern == host
        || pattern.strip_prefix("*.").is_some_and(|domain| {
            host.strip_suffix(domain)
                .is_some_and(|sub| sub.ends_with('.') && sub.len() > 1)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(hosts: &[&str]) -> HttpAllowlist {
        let permissions: Vec<HttpPermission> =
            hosts.iter().map(|h| HttpPermission::host(*h)).collect();
        HttpAllowlist::new(&permissions)
    }

    #[test]
    fn exact_hosts_and_subdomain_globs() {
        let allow = list(&["api.example.com", "*.example.org"]);
        for ok in [
            "https://api.example.com/v1",
            "http://API.Example.com:8080/x",
            "https://api.example.com./",
            "https://a.example.org",
            "https://a.b.example.org/q?x=1",
        ] {
            allow.check(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for denied in [
            "https://example.com",
            "https://evil-api.example.com",
            "https://api.example.com.evil.net",
            "https://example.org",
            "https://badexample.org",
            "https://user:pw@api.example.com/",
            "ftp://api.example.com/",
            "file:///etc/passwd",
            "not a url",
            "https://api.example.com@evil.net/",
        ] {
            assert!(allow.check(denied).is_err(), "{denied}");
        }
    }

    #[test]
    fn scheme_and_port_hold_when_named() {
        let allow = HttpAllowlist::new(&[HttpPermission {
            host: "127.0.0.1".into(),
            scheme: Some("http".into()),
            port: Some(8080),
        }]);
        allow.check("http://127.0.0.1:8080/x").unwrap();
        for denied in [
            "https://127.0.0.1:8080/",
            "http://127.0.0.1/",
            "http://127.0.0.1:8081/",
        ] {
            assert!(allow.check(denied).is_err(), "{denied}");
        }
        let https = HttpAllowlist::new(&[HttpPermission {
            host: "api.example.com".into(),
            scheme: None,
            port: Some(443),
        }]);
        https.check("https://api.example.com/").unwrap();
        assert!(https.check("http://api.example.com/").is_err());
    }

    #[test]
    fn patterns_cover_patterns() {
        assert!(host_matches("*", "*"));
        assert!(host_matches("*.example.com", "*.a.example.com"));
        assert!(host_matches("*.example.com", "a.example.com"));
        assert!(!host_matches("*.example.com", "*.example.com.evil"));
        assert!(!host_matches("a.example.com", "*.example.com"));
        assert!(!host_matches("*.example.com", "*"));
    }

    #[test]
    fn star_allows_all_and_empty_allows_none() {
        list(&["*"]).check("https://anything.example/").unwrap();
        let err = list(&[]).check("https://example.com/").unwrap_err();
        assert!(err.contains("no HTTP permission"), "{err}");
    }
}
