//! The admin HTTP API `pluginctl run` serves, as an [`axum::Router`] a host
//! application can mount too.
//!
//! | method and path | what |
//! | --- | --- |
//! | `GET /plugins` | `{"plugins": [PluginStatus…], "diagnostics": […]}` |
//! | `GET /plugins/{name}` | one [`PluginStatus`](crate::PluginStatus) |
//! | `POST /plugins/{name}/call/{function}` | calls it; the body is the JSON params (empty: `null`); the answer is the JSON result |
//! | `POST /plugins/{name}/reload` | validate-then-swap reload; the new status |
//! | `POST /plugins/{name}/unload` | unloads it (`204`) |
//! | `GET /events` | a server-sent event stream of [`EmittedEvent`]s (`event: plugin-event`) |
//!
//! Errors are `{"error": "…"}` with a status saying whose fault it is: `404`
//! an unknown plugin or function, `400` a body that is not JSON, `409` a
//! reload refused, `422` the plugin's own error answer or a config that
//! fails its schema, `503` a plugin not running, `504` a call that timed
//! out, `502` any other plugin failure.
//!
//! **Access.** Every request needs `Authorization: Bearer <token>` (`401`
//! otherwise, compared in constant time). A request body must be
//! `application/json` (`415`). A `Host` header other than the listen
//! address is refused (`421`: DNS rebinding), and so is an `Origin` other
//! than the API's own (`403`: a web page posting cross-site). `pluginctl run`
//! keeps the token in `<data-dir>/admin-token` (mode 0600,
//! [`load_or_create_token`]).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::{Stream, StreamExt as _};
use plugin_core::RunnerErrorKind;
use serde_json::json;
use serde_json::value::RawValue;
use sha2::Digest as _;
use subtle::ConstantTimeEq as _;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_util::sync::CancellationToken;

use crate::host::EventBus;
use crate::{ManagerError, PluginManager};

#[derive(Clone)]
struct AdminState {
    manager: PluginManager,
    events: EventBus,
    closing: CancellationToken,
}

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
    fn refuse(&self, request: &Request) -> Option<ApiError> {
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

/// The admin API over `manager`, streaming the events of `events`, open to
/// the requests `access` lets through. Event streams end when `closing` is
/// cancelled, so that a graceful shutdown of the server need not wait for
/// their clients to go.
pub fn router(
    manager: PluginManager,
    events: EventBus,
    closing: CancellationToken,
    access: Access,
) -> Router {
    Router::new()
        .route("/plugins", get(list))
        .route("/plugins/{name}", get(status))
        .route("/plugins/{name}/call/{function}", post(call))
        .route("/plugins/{name}/reload", post(reload))
        .route("/plugins/{name}/unload", post(unload))
        .route("/events", get(events_stream))
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            let refused = access.refuse(&request);
            async move {
                match refused {
                    Some(error) => error.into_response(),
                    None => next.run(request).await,
                }
            }
        }))
        .with_state(AdminState {
            manager,
            events,
            closing,
        })
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

struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<ManagerError> for ApiError {
    fn from(error: ManagerError) -> Self {
        let status = match &error {
            ManagerError::NotFound(_) => StatusCode::NOT_FOUND,
            ManagerError::NotRunning { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ManagerError::Config(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ManagerError::Runner(e) => match e.kind() {
                RunnerErrorKind::Unsupported => StatusCode::NOT_FOUND,
                RunnerErrorKind::Plugin(_) | RunnerErrorKind::Config(_) => {
                    StatusCode::UNPROCESSABLE_ENTITY
                }
                RunnerErrorKind::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
                RunnerErrorKind::PoolExhausted(_)
                | RunnerErrorKind::Stopped
                | RunnerErrorKind::NotStarted
                | RunnerErrorKind::NotLoaded => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::BAD_GATEWAY,
            },
            _ => StatusCode::CONFLICT,
        };
        Self(status, error.to_string())
    }
}

async fn list(State(state): State<AdminState>) -> Json<serde_json::Value> {
    Json(json!({
        "plugins": state.manager.list(),
        "diagnostics": state.manager.diagnostics(),
    }))
}

async fn status(
    State(state): State<AdminState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let status = state
        .manager
        .get(&name)
        .ok_or(ManagerError::NotFound(name))?;
    Ok(Json(status).into_response())
}

async fn call(
    State(state): State<AdminState>,
    Path((name, function)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let text = if body.iter().all(u8::is_ascii_whitespace) {
        "null".to_owned()
    } else {
        String::from_utf8(body.to_vec())
            .map_err(|_| ApiError(StatusCode::BAD_REQUEST, "the body is not UTF-8".into()))?
    };
    let params = RawValue::from_string(text).map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("the body is not JSON: {e}"),
        )
    })?;
    let result = state.manager.call(&name, &function, &params).await?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        String::from(Box::<str>::from(result)),
    )
        .into_response())
}

async fn reload(
    State(state): State<AdminState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(state.manager.reload(&name).await?).into_response())
}

async fn unload(
    State(state): State<AdminState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.manager.unload(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn events_stream(
    State(state): State<AdminState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let closed = state.closing.cancelled_owned();
    let stream = BroadcastStream::new(state.events.subscribe())
        .take_until(closed)
        .map(|item| {
            Ok(match item {
                Ok(emitted) => Event::default()
                    .event("plugin-event")
                    .json_data(&emitted)
                    .unwrap_or_else(|e| {
                        Event::default().comment(format!("unencodable event: {e}"))
                    }),
                Err(BroadcastStreamRecvError::Lagged(missed)) => Event::default()
                    .comment(format!("{missed} events missed: this client is too slow")),
            })
        });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
