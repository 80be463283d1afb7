//! [`HttpClient`]: a plugin's outbound HTTP, held to its allowlist and to
//! public addresses on every hop, with a timeout and a response size cap.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use plugin_core::{
    AddressRules, HostError, HostHttpRequest, HostHttpResponse, HttpAllowlist, HttpRequestRule,
};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect;
use url::Url;

/// Limits of the HTTP client every plugin gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpOptions {
    /// The whole request, redirects and body included, must finish within
    /// this. Default 30 s.
    pub timeout: Duration,
    /// Connecting must succeed within this. Default 10 s.
    pub connect_timeout: Duration,
    /// A response body larger than this fails the request. Default 10 MiB.
    pub max_response_bytes: usize,
    /// Redirects followed at most (each one checked against the allowlist).
    /// Default 10.
    pub max_redirects: usize,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_response_bytes: 10 * 1024 * 1024,
            max_redirects: 10,
        }
    }
}

/// One plugin's HTTP client.
///
/// Invariants:
/// - no request leaves the machine for a URL the allowlist refuses: the
///   first URL is checked before anything is sent, and every redirect
///   target before it is followed; a refused hop fails the whole request
///   with "permission denied" and is not contacted. An empty allowlist
///   refuses everything;
/// - no connection goes to an address that is not public (loopback,
///   private, link-local, ...) unless the host granted the plugin a network
///   holding it: an IP in the URL is checked with the URL, and a name is
///   checked *as resolved*, in the client's own resolver, so the connection
///   goes to the very address that was checked (no second lookup for DNS
///   rebinding to slip into). Proxies from the environment are not used;
/// - the request goes to the host its URL names: [`HttpRequestRule`]
///   refuses the headers that would change the target or the connection
///   (`Host`, hop-by-hop, forwarding) and `CONNECT`, before anything is
///   sent, whichever way the plugin asked.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    check: Arc<Destination>,
    options: HttpOptions,
}

/// Where a plugin's requests may go: names (and headers) by the request
/// rule, addresses by the address rules.
#[derive(Debug)]
struct Destination {
    rule: HttpRequestRule,
    addresses: AddressRules,
}

impl Destination {
    /// Checks a whole request: [`HttpRequestRule::check`], then its URL's
    /// address when it is an IP literal.
    fn check_request(&self, request: &HostHttpRequest) -> Result<Url, String> {
        let url = self.rule.check(request).map_err(|e| e.to_string())?;
        self.check_ip(url)
    }

    /// Checks a redirect hop: its name against the allowlist and, when it
    /// is an IP literal (which no resolver sees), its address.
    fn check(&self, url: &str) -> Result<Url, String> {
        let url = self.rule.check_url(url).map_err(|e| e.to_string())?;
        self.check_ip(url)
    }

    fn check_ip(&self, url: Url) -> Result<Url, String> {
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if let Some(ip) = ip {
            self.addresses.check(ip)?;
        }
        Ok(url)
    }
}

/// A refusal made inside reqwest (a redirect, an address); found again in
/// its error chain.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refused(String);

/// Resolves names with the system resolver and keeps only the addresses the
/// plugin may reach; a name with none left fails with [`Refused`].
struct CheckedResolver(Arc<Destination>);

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let check = self.0.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refusal = None;
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| match check.addresses.check(addr.ip()) {
                    Ok(()) => true,
                    Err(why) => {
                        refusal.get_or_insert(why);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let why = refusal.unwrap_or_else(|| "no address".to_owned());
                return Err(Box::new(Refused(format!("{host}: {why}"))) as _);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

impl HttpClient {
    /// A client for plugin `plugin` with `allowlist`, reaching non-public
    /// addresses only in `private_networks`.
    pub fn new(
        plugin: &str,
        allowlist: HttpAllowlist,
        private_networks: Vec<ipnet::IpNet>,
        options: HttpOptions,
    ) -> Result<Self, HostError> {
        let check = Arc::new(Destination {
            rule: HttpRequestRule::new(plugin, allowlist),
            addresses: AddressRules::new(plugin, private_networks),
        });
        let policy_check = check.clone();
        let max_redirects = options.max_redirects;
        let policy = redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > max_redirects {
                return attempt.error(Refused(format!(
                    "redirect refused: more than {max_redirects} redirects"
                )));
            }
            match policy_check.check(attempt.url().as_str()) {
                Ok(_) => attempt.follow(),
                Err(why) => attempt.error(Refused(format!("redirect refused: {why}"))),
            }
        });
        let client = reqwest::Client::builder()
            .redirect(policy)
            .no_proxy()
            .dns_resolver(Arc::new(CheckedResolver(check.clone())))
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .build()
            .map_err(|e| HostError::Failed(Box::new(e)))?;
        Ok(Self {
            client,
            check,
            options,
        })
    }

    /// Performs `request`.
    pub async fn send(&self, request: HostHttpRequest) -> Result<HostHttpResponse, HostError> {
        let url = self
            .check
            .check_request(&request)
            .map_err(HostError::PermissionDenied)?;
        let method = if request.method.is_empty() {
            reqwest::Method::GET
        } else {
            reqwest::Method::from_bytes(request.method.to_ascii_uppercase().as_bytes()).map_err(
                |_| {
                    HostError::InvalidRequest(format!("{:?} is not an HTTP method", request.method))
                },
            )?
        };
        let mut builder = self.client.request(method, url);
        for (name, value) in &request.headers {
            // Checked to be the body's length: the client writes its own.
            if name.trim().eq_ignore_ascii_case("content-length") {
                continue;
            }
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| HostError::InvalidRequest(format!("bad header name {name:?}")))?;
            let value = reqwest::header::HeaderValue::from_str(value)
                .map_err(|_| HostError::InvalidRequest(format!("bad value for header {name}")))?;
            builder = builder.header(name, value);
        }
        let mut response = builder
            .body(request.body)
            .send()
            .await
            .map_err(refusal_or_failure)?;

        let status = response.status().as_u16();
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in response.headers() {
            let value = String::from_utf8_lossy(value.as_bytes());
            headers
                .entry(name.as_str().to_owned())
                .and_modify(|v| {
                    v.push_str(", ");
                    v.push_str(&value);
                })
                .or_insert_with(|| value.into_owned());
        }
        let cap = self.options.max_response_bytes;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(refusal_or_failure)? {
            if body.len() + chunk.len() > cap {
                return Err(HostError::Failed(
                    format!("response body larger than {cap} bytes").into(),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HostHttpResponse {
            status,
            headers,
            body,
        })
    }
}

fn refusal_or_failure(error: reqwest::Error) -> HostError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(e) = cause {
        if let Some(refused) = e.downcast_ref::<Refused>() {
            return HostError::PermissionDenied(refused.to_string());
        }
        cause = e.source();
    }
    let error = error.without_url();
    if error.is_timeout() {
        return HostError::Failed("timed out".into());
    }
    HostError::Failed(Box::new(error))
}
