//! An example gRPC plugin built with `plugin-sdk`: the same chat module as
//! `hello-wasm` (it says hello, uses its configuration, keeps a count in the
//! host's KV store and emits an event per greeting), run as a separate
//! process and reaching its host through go-plugin's broker.
//!
//! Build it with `cargo xtask examples` (which also installs it next to its
//! `plugin.yaml`) and call it with
//! `pluginctl call examples/plugins/hello-grpc greet '{"name":"Ada"}'`.

use std::collections::{BTreeMap, HashMap};

use plugin_sdk::Level;
use plugin_sdk::grpc::{self, HostCallError, Module, ModuleError};
use plugin_sdk::types::{CallContext, DataEvent, InvokeResult, MsgPayload};
use serde_json::{Value, json};

struct Hello;

fn failed(error: HostCallError) -> ModuleError {
    ModuleError::Failed(error.to_string())
}

impl Hello {
    /// `greet`, also the ability operation `greeting/greet_remote`.
    async fn greet(&self, params: &Value) -> Result<Value, ModuleError> {
        let name = match params.get("name").and_then(Value::as_str) {
            Some(name) if !name.is_empty() => name.to_owned(),
            _ => "world".to_owned(),
        };
        let host = match grpc::host() {
            Ok(host) => host,
            // A host that offers no callbacks (flowbot's own Go runner):
            // greet, without counting.
            Err(HostCallError::Unavailable) => {
                return Ok(json!({ "text": format!("Hello, {name}!"), "total": null }));
            }
            Err(e) => return Err(failed(e)),
        };
        let greeting = host
            .get_config("greeting")
            .await
            .map_err(failed)?
            .unwrap_or_else(|| "Hello".to_owned());
        let total = count().await? + 1;
        host.kv_set("greetings", total.to_string().as_bytes())
            .await
            .map_err(failed)?;
        host.emit_event(&DataEvent {
            event_type: "greeting.sent".into(),
            capability: "greeting".into(),
            operation: "greet".into(),
            entity_id: name.clone(),
            data: json!({ "total": total })
                .as_object()
                .cloned()
                .unwrap_or_default(),
            ..DataEvent::default()
        })
        .await
        .map_err(failed)?;
        host.log(
            Level::Info,
            &format!("greeted {name} (#{total})"),
            HashMap::new(),
        )
        .await
        .map_err(failed)?;
        Ok(json!({ "text": format!("{greeting}, {name}!"), "total": total }))
    }
}

/// Greetings so far, from the host's KV store.
async fn count() -> Result<u64, ModuleError> {
    let stored = grpc::host()
        .map_err(failed)?
        .kv_get("greetings")
        .await
        .map_err(failed)?;
    Ok(stored
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.parse().ok())
        .unwrap_or(0))
}

#[grpc::async_trait]
impl Module for Hello {
    async fn help(&self) -> Result<BTreeMap<String, Vec<String>>, ModuleError> {
        Ok(BTreeMap::from([(
            "hello".to_owned(),
            vec![
                "hello [name] - greets you".to_owned(),
                "count - greetings so far".to_owned(),
            ],
        )]))
    }

    async fn command(&self, _ctx: CallContext, content: Value) -> Result<MsgPayload, ModuleError> {
        let text = content.as_str().unwrap_or_default().trim().to_owned();
        let (verb, rest) = text
            .split_once(' ')
            .map_or((text.as_str(), ""), |(a, b)| (a, b.trim()));
        let reply = match verb {
            "hello" => self.greet(&json!({ "name": rest })).await?["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            "count" => format!("{} greetings so far", count().await?),
            _ => {
                return Err(ModuleError::Failed(format!(
                    "unknown command {text:?}; try `hello`"
                )));
            }
        };
        Ok(MsgPayload::Text(reply))
    }

    async fn ability_call(
        &self,
        operation: &str,
        params: Value,
    ) -> Result<InvokeResult, ModuleError> {
        match operation {
            "greet_remote" => {
                let answer = self.greet(&params).await?;
                Ok(InvokeResult {
                    text: answer["text"].as_str().unwrap_or_default().to_owned(),
                    data: answer,
                    ..InvokeResult::default()
                })
            }
            _ => Err(ModuleError::Unsupported),
        }
    }

    async fn call(&self, function: &str, params: Value) -> Result<Value, ModuleError> {
        match function {
            "greet" => self.greet(&params).await,
            // Answers its params: the round trip, for measuring.
            "echo" => Ok(params),
            // Calls a host function by name: `{"name": ..., "input": ...}`.
            "call_host" => {
                let name = params
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let input = params.get("input").cloned().unwrap_or(Value::Null);
                let host = grpc::host().map_err(failed)?;
                host.call_host(name, &input).await.map_err(failed)
            }
            _ => Err(ModuleError::Unsupported),
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), grpc::ServeError> {
    grpc::serve(Hello).await
}
