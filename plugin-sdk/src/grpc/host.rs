//! [`HostClient`]: a gRPC plugin's typed calls into its host.

use std::collections::HashMap;
use std::sync::OnceLock;

use proto::flowbot::plugin as pb;
use proto::flowbot::plugin::host_service_client::HostServiceClient;
use tonic::transport::Channel;

use crate::Level;
use crate::types::{DataEvent, HostHttpRequest, HostHttpResponse};

/// Why a host call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostCallError {
    /// The host offered no `HostService` (no broker, or `host()` called
    /// before `init`).
    #[error("the host offers no callbacks to this plugin")]
    Unavailable,
    /// The host refused or failed the request.
    #[error("{0}")]
    Host(String),
}

impl From<tonic::Status> for HostCallError {
    fn from(status: tonic::Status) -> Self {
        Self::Host(status.message().to_owned())
    }
}

fn answer(error: String) -> Result<(), HostCallError> {
    if error.is_empty() {
        Ok(())
    } else {
        Err(HostCallError::Host(error))
    }
}

/// The host's services, reached over the go-plugin broker: the same set a
/// wasm plugin imports. Cheap to clone.
#[derive(Debug, Clone)]
pub struct HostClient {
    client: HostServiceClient<Channel>,
}

static HOST: OnceLock<HostClient> = OnceLock::new();

/// Records the host client once `Init` has connected it, with messages
/// bounded to `max_message_size` bytes each way.
pub(crate) fn install(channel: Channel, max_message_size: usize) {
    let client = HostServiceClient::new(channel)
        .max_decoding_message_size(max_message_size)
        .max_encoding_message_size(max_message_size);
    let _ = HOST.set(HostClient { client });
}

/// The host client, available from `Module::init` on when the host offers
/// callbacks (a host of this workspace always does).
pub fn host() -> Result<HostClient, HostCallError> {
    HOST.get().cloned().ok_or(HostCallError::Unavailable)
}

impl HostClient {
    /// Calls the host function `name` (one the host registered, or a
    /// built-in such as `kv.get`) with `input` as JSON, and reads its
    /// answer as `Out`. Input and answer are at most 1 MiB of JSON each.
    pub async fn call_host<In, Out>(&self, name: &str, input: &In) -> Result<Out, HostCallError>
    where
        In: serde::Serialize + ?Sized,
        Out: serde::de::DeserializeOwned,
    {
        let input = serde_json::to_string(input)
            .map_err(|e| HostCallError::Host(format!("encoding the input of {name}: {e}")))?;
        let r = self
            .client
            .clone()
            .call(pb::HostCallRequest {
                name: name.to_owned(),
                input,
            })
            .await?
            .into_inner();
        answer(r.error)?;
        serde_json::from_str(&r.output)
            .map_err(|e| HostCallError::Host(format!("the answer of {name}: {e}")))
    }

    /// A value of the plugin's configuration by dotted key; `None` when
    /// absent (or empty).
    pub async fn get_config(&self, key: &str) -> Result<Option<String>, HostCallError> {
        let r = self
            .client
            .clone()
            .get_config(pb::GetConfigRequest {
                key: key.to_owned(),
            })
            .await?
            .into_inner();
        answer(r.error)?;
        Ok(Some(r.value).filter(|v| !v.is_empty()))
    }

    /// Writes a log line through the host, tagged with the plugin's name.
    pub async fn log(
        &self,
        level: Level,
        message: &str,
        fields: HashMap<String, String>,
    ) -> Result<(), HostCallError> {
        self.client
            .clone()
            .log(pb::LogRequest {
                level: level.as_str().to_owned(),
                message: message.to_owned(),
                fields,
            })
            .await?;
        Ok(())
    }

    /// The value of `key` in the plugin's KV store; `None` when absent (an
    /// empty value reads as absent, as on flowbot's wire).
    pub async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, HostCallError> {
        let r = self
            .client
            .clone()
            .kv_get(pb::KvGetRequest {
                key: key.to_owned(),
            })
            .await?
            .into_inner();
        answer(r.error)?;
        Ok(Some(r.value).filter(|v| !v.is_empty()))
    }

    /// Sets `key` to `value` in the plugin's KV store.
    pub async fn kv_set(&self, key: &str, value: &[u8]) -> Result<(), HostCallError> {
        self.client
            .clone()
            .kv_set(pb::KvSetRequest {
                key: key.to_owned(),
                value: value.to_vec(),
            })
            .await?;
        Ok(())
    }

    /// Removes `key` from the plugin's KV store.
    pub async fn kv_delete(&self, key: &str) -> Result<(), HostCallError> {
        self.client
            .clone()
            .kv_delete(pb::KvDeleteRequest {
                key: key.to_owned(),
            })
            .await?;
        Ok(())
    }

    /// Asks the host to make an HTTP request (within its policy for this
    /// plugin).
    pub async fn http_request(
        &self,
        request: HostHttpRequest,
    ) -> Result<HostHttpResponse, HostCallError> {
        let r = self
            .client
            .clone()
            .http_request(pb::HttpCallRequest {
                method: request.method,
                url: request.url,
                headers: request.headers.into_iter().collect(),
                body: request.body,
            })
            .await?
            .into_inner();
        answer(r.error)?;
        Ok(HostHttpResponse {
            status: u16::try_from(r.status)
                .map_err(|_| HostCallError::Host(format!("bad HTTP status {}", r.status)))?,
            headers: r.headers.into_iter().collect(),
            body: r.body,
        })
    }

    /// Publishes an event on the host's event bus (`source` defaults to the
    /// plugin's name).
    pub async fn emit_event(&self, event: &DataEvent) -> Result<(), HostCallError> {
        let payload = serde_json::to_string(event)
            .map_err(|e| HostCallError::Host(format!("event does not serialise: {e}")))?;
        self.client
            .clone()
            .emit_event(pb::EmitEventRequest {
                source: event.source.clone(),
                event_type: event.event_type.clone(),
                payload,
            })
            .await?;
        Ok(())
    }
}
