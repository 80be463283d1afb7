//! [`HttpClient`]: a plugin's outbound HTTP, held to its allowlist on every
//! hop, with a timeout and a response size cap.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use plugin_core::{HostError, HostHttpRequest, HostHttpResponse, HttpAllowlist};
use reqwest::redirect;

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
/// Invariant: no request leaves the machine for a URL the allowlist refuses.
/// The first URL is checked before anything is sent, and every redirect
/// target is checked before it is followed; a refused hop fails the whole
/// request with "permission denied" and is not contacted. An empty allowlist
/// refuses everything.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    allowlist: Arc<HttpAllowlist>,
    options: HttpOptions,
}

/// A redirect the allowlist refused; found again in reqwest's error chain.
#[derive(Debug, thiserror::Error)]
#[error("redirect refused: {0}")]
struct RedirectRefused(String);

impl HttpClient {
    /// A client for a plugin with `allowlist`.
    pub fn new(allowlist: HttpAllowlist, options: HttpOptions) -> Result<Self, HostError> {
        let allowlist = Arc::new(allowlist);
        let policy_allowlist = allowlist.clone();
        let max_redirects = options.max_redirects;
        let policy = redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > max_redirects {
                return attempt.error(RedirectRefused(format!(
                    "more than {max_redirects} redirects"
                )));
            }
            match policy_allowlist.check(attempt.url().as_str()) {
                Ok(_) => attempt.follow(),
                Err(why) => attempt.error(RedirectRefused(why)),
            }
        });
        let client = reqwest::Client::builder()
            .redirect(policy)
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .build()
            .map_err(|e| HostError::Failed(Box::new(e)))?;
        Ok(Self {
            client,
            allowlist,
            options,
        })
    }

    /// Performs `request`.
    pub async fn send(&self, request: HostHttpRequest) -> Result<HostHttpResponse, HostError> {
        let url = self
            .allowlist
            .check(&request.url)
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
        if let Some(refused) = e.downcast_ref::<RedirectRefused>() {
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
