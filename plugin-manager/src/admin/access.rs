//! Who may use the admin API: [`Access`] (the bearer token, the `Host` and
//! `Origin` a request may carry, JSON bodies only), the token file, and
//! where the API may listen.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{StatusCode, header};
use sha2::Digest as _;
use subtle::ConstantTimeEq as _;

use super::ApiError;

/// Who may use the admin API: the bearer token, and the `Host` values a
/// request may carry.
#[derive(Clone)]
pub struct Access {
    token: Arc<str>,
    hosts: Option<Arc<[String]>>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("token", &"<secret>")
            .field("hosts", &self.hosts)
            .finish()
    }
}

impl Access {
    /// Requests must carry `token`; the `Host` must name `addr`, the
    /// address the API listens on (for a loopback address, `localhost:PORT`
    /// too). Listening on an unspecified address (`0.0.0.0`), any `Host` is
    /// accepted.
    pub fn tcp(token: impl Into<Arc<str>>, addr: SocketAddr) -> Self {
        let hosts = (!addr.ip().is_unspecified()).then(|| {
            let mut hosts = vec![addr.to_string()];
            if addr.ip().is_loopback() {
                hosts.push(format!("localhost:{}", addr.port()));
            }
            Arc::from(hosts)
        });
        Self {
            token: token.into(),
            hosts,
        }
    }

    /// Requests must carry `token`; any `Host` is accepted (a unix socket
    /// is reached by no browser and no DNS name).
    pub fn unix(token: impl Into<Arc<str>>) -> Self {
        Self {
            token: token.into(),
            hosts: None,
        }
    }

    /// Why `request` is refused, if it is.
    pub(super) fn refuse(&self, request: &Request) -> Option<ApiError> {
        let headers = request.headers();
        let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
        let host = text(header::HOST);
        if let Some(hosts) = &self.hosts
            && !host.is_some_and(|h| hosts.iter().any(|ok| ok.eq_ignore_ascii_case(h)))
        {
            return Some(ApiError(
                StatusCode::MISDIRECTED_REQUEST,
                format!(
                    "Host {:?} is not this API's address ({})",
                    host.unwrap_or(""),
                    hosts.join(" or ")
                ),
            ));
        }
        if let Some(origin) = text(header::ORIGIN) {
            let own = host.is_some_and(|h| {
                origin
                    .strip_prefix("http://")
                    .is_some_and(|o| o.eq_ignore_ascii_case(h))
            });
            if !own {
                return Some(ApiError(
                    StatusCode::FORBIDDEN,
                    format!("requests from origin {origin:?} are refused"),
                ));
            }
        }
        let presented = text(header::AUTHORIZATION)
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let valid = presented.is_some_and(|t| {
            // Equal-length digests, compared in constant time: neither the
            // token's bytes nor its length leak through timing.
            let digest = |s: &str| sha2::Sha256::digest(s.as_bytes());
            bool::from(digest(t).ct_eq(&digest(&self.token)))
        });
        if !valid {
            return Some(ApiError(
                StatusCode::UNAUTHORIZED,
                if presented.is_some() {
                    "the bearer token is wrong".into()
                } else {
                    "an Authorization: Bearer <token> header is required (the token is in the host's admin-token file)".into()
                },
            ));
        }
        let has_body = headers.contains_key(header::CONTENT_TYPE)
            || text(header::CONTENT_LENGTH).is_some_and(|n| n != "0")
            || headers.contains_key(header::TRANSFER_ENCODING);
        if has_body {
            let json = text(header::CONTENT_TYPE).is_some_and(|ct| {
                ct.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
            if !json {
                return Some(ApiError(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "request bodies must be Content-Type: application/json".into(),
                ));
            }
        }
        None
    }
}

/// The file, in the host's data folder, holding the admin token.
pub const TOKEN_FILE_NAME: &str = "admin-token";

/// The admin token kept in `data_dir/admin-token`, created (mode 0600,
/// 32 random bytes as hex) when missing. Returns it and the file's path.
pub fn load_or_create_token(data_dir: &std::path::Path) -> std::io::Result<(String, PathBuf)> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::create_dir_all(data_dir)?;
    let path = data_dir.join(TOKEN_FILE_NAME);
    match std::fs::read_to_string(&path) {
        Ok(token) if !token.trim().is_empty() => return Ok((token.trim().to_owned(), path)),
        Ok(_) => {
            return Err(std::io::Error::other(format!(
                "{} is empty; delete it to have a new token made",
                path.display()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(std::io::Error::other)?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    file.write_all(token.as_bytes())?;
    file.sync_all()?;
    Ok((token, path))
}

/// Refuses a listen address other than loopback unless `allow_remote`.
pub fn check_listen(addr: SocketAddr, allow_remote: bool) -> Result<(), String> {
    if addr.ip().is_loopback() || allow_remote {
        Ok(())
    } else {
        Err(format!(
            "{addr} is not a loopback address: the admin API controls every plugin; pass --allow-remote to serve it there anyway"
        ))
    }
}
