//! Which URLs a plugin's `http_request` may reach.

use url::Url;

use crate::manifest::HttpPermission;

/// A plugin's HTTP allowlist, from `wasm.permissions.http`.
///
/// Matching rules:
/// - the scheme must be `http` or `https`; any port is allowed;
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpAllowlist {
    patterns: Vec<String>,
}

impl HttpAllowlist {
    /// The allowlist of these permissions.
    pub fn new(permissions: &[HttpPermission]) -> Self {
        Self {
            patterns: permissions
                .iter()
                .map(|p| p.host.trim_end_matches('.').to_ascii_lowercase())
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
        let allowed = self.patterns.iter().any(|pattern| {
            pattern == "*"
                || *pattern == host
                || pattern.strip_prefix("*.").is_some_and(|domain| {
                    host.strip_suffix(domain)
                        .is_some_and(|sub| sub.ends_with('.') && sub.len() > 1)
                })
        });
        if allowed {
            Ok(parsed)
        } else if self.patterns.is_empty() {
            Err(format!(
                "{host} is not allowed: the plugin has no HTTP permission"
            ))
        } else {
            Err(format!("{host} is not on the plugin's HTTP allowlist"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(hosts: &[&str]) -> HttpAllowlist {
        let permissions: Vec<HttpPermission> = hosts
            .iter()
            .map(|h| HttpPermission {
                host: (*h).to_owned(),
            })
            .collect();
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
    fn star_allows_all_and_empty_allows_none() {
        list(&["*"]).check("https://anything.example/").unwrap();
        let err = list(&[]).check("https://example.com/").unwrap_err();
        assert!(err.contains("no HTTP permission"), "{err}");
    }
}
