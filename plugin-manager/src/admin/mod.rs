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

mod access;

use std::convert::Infallible;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::{Stream, StreamExt as _};
use plugin_core::RunnerErrorKind;
use serde_json::json;
use serde_json::value::RawValue;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_util::sync::CancellationToken;

pub use access::{Access, TOKEN_FILE_NAME, check_listen, load_or_create_token};

use crate::host::EventBus;
use crate::{ManagerError, PluginManager};

#[derive(Clone)]
struct AdminState {
    manager: PluginManager,
    events: EventBus,
    closing: CancellationToken,
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
