//! `HostService`: the plugin's callbacks into its host, served over the
//! go-plugin broker and backed by the runner's [`HostApi`].
//!
//! `HttpRequest` is held to the one rule of every HTTP path
//! ([`plugin_core::HttpRequestRule`]): headers that would change the target
//! or the connection are refused here, whatever the host.
//!
//! Host failures travel in the responses' `error` fields where the message
//! has one (as flowbot's host does); `KVSet`, `KVDelete` and `EmitEvent`,
//! which answer `Empty`, fail with a gRPC status instead of pretending to
//! succeed (flowbot drops those errors).
//!
//! What a plugin sends is bounded by the broker's gRPC message size (4 MiB
//! unless the runner is told otherwise), and past that by
//! [`plugin_core::Identified`], which the runner's host is: an event past
//! 1 MiB is refused, a log line past 64 KiB is cut, and an event's
//! `source` is the plugin's name whatever the request says.
//!
//! `Call` reaches the host's function table by name
//! ([`plugin_core::HostFunctions`]), within its bounds (1 MiB of JSON each
//! way); failures travel in the response's `error`.

use std::sync::Arc;

use plugin_core::{HostApi, HostError, HostHttpRequest, LogLevel};
use plugin_types::DataEvent;
use proto::flowbot::plugin as pb;
use tonic::{Request, Response, Status};

/// Serves one plugin's host callbacks.
pub(crate) struct HostServiceImpl {
    /// The plugin's name, for refusals.
    plugin: Arc<str>,
    host: Arc<dyn HostApi>,
}

impl HostServiceImpl {
    pub(crate) fn new(plugin: Arc<str>, host: Arc<dyn HostApi>) -> Self {
        Self { plugin, host }
    }
}

fn status(error: HostError) -> Status {
    match error {
        HostError::PermissionDenied(_) => Status::permission_denied(error.to_string()),
        HostError::InvalidRequest(_) => Status::invalid_argument(error.to_string()),
        _ => Status::internal(error.to_string()),
    }
}

#[tonic::async_trait]
impl pb::host_service_server::HostService for HostServiceImpl {
    async fn get_config(
        &self,
        request: Request<pb::GetConfigRequest>,
    ) -> Result<Response<pb::GetConfigResponse>, Status> {
        let response = match self.host.get_config(&request.get_ref().key).await {
            Ok(value) => pb::GetConfigResponse {
                value: value.unwrap_or_default(),
                error: String::new(),
            },
            Err(e) => pb::GetConfigResponse {
                value: String::new(),
                error: e.to_string(),
            },
        };
        Ok(Response::new(response))
    }

    async fn log(&self, request: Request<pb::LogRequest>) -> Result<Response<()>, Status> {
        let request = request.into_inner();
        let level = request.level.parse().unwrap_or(LogLevel::Info);
        let fields = request.fields.into_iter().collect();
        self.host.log(level, &request.message, &fields);
        Ok(Response::new(()))
    }

    async fn kv_get(
        &self,
        request: Request<pb::KvGetRequest>,
    ) -> Result<Response<pb::KvGetResponse>, Status> {
        let response = match self.host.kv_get(&request.get_ref().key).await {
            Ok(value) => pb::KvGetResponse {
                value: value.unwrap_or_default(),
                error: String::new(),
            },
            Err(e) => pb::KvGetResponse {
                value: Vec::new(),
                error: e.to_string(),
            },
        };
        Ok(Response::new(response))
    }

    async fn kv_set(&self, request: Request<pb::KvSetRequest>) -> Result<Response<()>, Status> {
        let request = request.get_ref();
        self.host
            .kv_set(&request.key, &request.value)
            .await
            .map_err(status)?;
        Ok(Response::new(()))
    }

    async fn kv_delete(
        &self,
        request: Request<pb::KvDeleteRequest>,
    ) -> Result<Response<()>, Status> {
        self.host
            .kv_delete(&request.get_ref().key)
            .await
            .map_err(status)?;
        Ok(Response::new(()))
    }

    async fn http_request(
        &self,
        request: Request<pb::HttpCallRequest>,
    ) -> Result<Response<pb::HttpCallResponse>, Status> {
        let request = request.into_inner();
        let request = HostHttpRequest {
            method: request.method,
            url: request.url,
            headers: request.headers.into_iter().collect(),
            body: request.body,
        };
        // The rule every HTTP path applies; its URL part is the host's (a
        // process plugin's HTTP grants are the host's business).
        let checked = plugin_core::http_request_rule::check_headers(&self.plugin, &request)
            .map_err(|e| HostError::PermissionDenied(e.to_string()));
        let answer = match checked {
            Ok(()) => self.host.http_request(request).await,
            Err(refused) => Err(refused),
        };
        let response = match answer {
            Ok(response) => pb::HttpCallResponse {
                status: i32::from(response.status),
                headers: response.headers.into_iter().collect(),
                body: response.body,
                error: String::new(),
            },
            Err(e) => pb::HttpCallResponse {
                error: e.to_string(),
                ..Default::default()
            },
        };
        Ok(Response::new(response))
    }

    async fn emit_event(
        &self,
        request: Request<pb::EmitEventRequest>,
    ) -> Result<Response<()>, Status> {
        let request = request.into_inner();
        let mut event: DataEvent = if request.payload.trim().is_empty() {
            DataEvent::default()
        } else {
            serde_json::from_str(&request.payload)
                .map_err(|e| Status::invalid_argument(format!("payload is not a DataEvent: {e}")))?
        };
        if event.event_type.is_empty() {
            event.event_type = request.event_type;
        }
        // `source`, written or not, is the host's to set (the runner's
        // host is `plugin_core::Identified`).
        self.host.emit_event(event).await.map_err(status)?;
        Ok(Response::new(()))
    }

    async fn call(
        &self,
        request: Request<pb::HostCallRequest>,
    ) -> Result<Response<pb::HostCallResponse>, Status> {
        let request = request.get_ref();
        let response = match plugin_core::host_functions::call_text(
            &*self.host,
            &request.name,
            &request.input,
        )
        .await
        {
            Ok(output) => pb::HostCallResponse {
                output,
                error: String::new(),
            },
            Err(e) => pb::HostCallResponse {
                output: String::new(),
                error: e.to_string(),
            },
        };
        Ok(Response::new(response))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use pb::host_service_server::HostService as _;
    use plugin_core::MemoryHost;

    /// A process plugin's `HttpRequest` naming another target in a header
    /// is refused by the service itself, naming the header and the plugin,
    /// before any host sees it (this host would refuse every request with
    /// its own message).
    #[tokio::test]
    async fn http_requests_that_retarget_are_refused_before_the_host() {
        let host = Arc::new(MemoryHost::new("p", serde_json::json!({})));
        let service = HostServiceImpl::new("p".into(), host);
        let ask = |name: &str| pb::HttpCallRequest {
            method: "GET".into(),
            url: "http://127.0.0.1:8080/".into(),
            headers: [(name.to_owned(), "secret.internal".to_owned())].into(),
            body: Vec::new(),
        };
        for name in ["Host", "X-Forwarded-Host", ":authority", "Connection"] {
            let answer = service.http_request(Request::new(ask(name))).await.unwrap();
            let error = answer.into_inner().error;
            assert!(
                error.starts_with(&format!(
                    "permission denied: plugin p may not set the request header {name:?}"
                )),
                "{name}: {error}"
            );
        }
        let answer = service
            .http_request(Request::new(ask("Accept")))
            .await
            .unwrap();
        let error = answer.into_inner().error;
        assert!(
            error.contains("this host makes no HTTP requests"),
            "{error}"
        );
    }
}
