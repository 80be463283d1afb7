//! The host's built-in plugins: Rust closures run in-process by a runtime
//! of our own ([`FnRuntime`], registered as `runtime: builtin`), found by a
//! source of our own ([`Builtins`]). To the manager and the registries they
//! are plugins like any other: a manifest says what they provide, the
//! manager loads, starts, supervises and registers them, and they reach
//! the host through the same host services (here the KV store and the
//! host's own `embed.motd` function).

use async_trait::async_trait;
use plugin_core::Manifest;
use plugin_core::fn_runtime::{FnCall, FnError, FnPlugin, FnRuntime};
use plugin_source::{Discovered, Discovery, Source, SourceError};
use serde_json::json;

/// The name manifests use for this runtime (`runtime: builtin`).
pub(crate) const RUNTIME: &str = "builtin";

/// `shout`'s manifest, built in code: a chat module, and the ability
/// `text/shout`.
fn shout_manifest() -> Result<Manifest, plugin_core::ManifestError> {
    Manifest::builder("shout", "0.1.0")
        .description("Shouts back; built into embed-host.")
        .runtime(RUNTIME, json!({}))
        .provides_module()
        .ability("text", ["shout"])
        .build()
}

/// The source of the built-in plugins: their manifests, from memory. It
/// never changes, so it reports no changes (the default `watch`).
pub(crate) struct Builtins;

#[async_trait]
impl Source for Builtins {
    async fn discover(&self) -> Result<Discovery, SourceError> {
        let manifest = shout_manifest().map_err(SourceError::other)?;
        Ok(Discovery {
            plugins: vec![Discovered {
                location: "builtin/shout".into(),
                manifest,
            }],
            diagnostics: Vec::new(),
        })
    }
}

/// The built-in plugins, by name.
pub(crate) fn runtime() -> FnRuntime {
    let shout = FnPlugin::new()
        .function("help", async |_| {
            Ok(json!({ "shout": ["shout TEXT - says it louder"] }))
        })
        // A chat command (`PluginModule::command`): `{context, content}`
        // in, a message payload out.
        .function("command", async |call: FnCall| {
            let text = call.params["content"].as_str().unwrap_or_default();
            if text.trim() == "motd" {
                return motd(&call).await;
            }
            let text = text.strip_prefix("shout").unwrap_or(text).trim();
            let total = count(&call).await?;
            Ok(json!({ "text": format!("{}! (shout #{total})", text.to_uppercase()) }))
        })
        // An ability operation (`AbilityInvoker::invoke`): `{operation,
        // params}` in, an `InvokeResult` out.
        .function(
            "ability_call",
            async |call: FnCall| match call.params["operation"].as_str() {
                Some("shout") => {
                    let text = call.params["params"]["text"].as_str().unwrap_or_default();
                    Ok(json!({ "text": format!("{}!", text.to_uppercase()) }))
                }
                other => Err(FnError::Failed(format!("unknown operation {other:?}"))),
            },
        );
    FnRuntime::new().plugin("shout", shout)
}

/// Counts shouts in the host's KV store (kept per plugin, across restarts).
async fn count(call: &FnCall) -> Result<u64, FnError> {
    let failed = |e: plugin_core::HostError| FnError::Failed(e.to_string());
    let stored = call.host.kv_get("shouts").await.map_err(failed)?;
    let total = stored
        .and_then(|bytes| String::from_utf8(bytes).ok()?.parse::<u64>().ok())
        .unwrap_or(0)
        + 1;
    let bytes = total.to_string();
    call.host
        .kv_set("shouts", bytes.as_bytes())
        .await
        .map_err(failed)?;
    Ok(total)
}

/// The host's message of the day, through the host function `embed.motd`
/// (the same call a wasm or process plugin makes by name).
async fn motd(call: &FnCall) -> Result<serde_json::Value, FnError> {
    let input = serde_json::value::RawValue::from_string("{}".to_owned())
        .map_err(|e| FnError::Failed(e.to_string()))?;
    let answer = call
        .host
        .call_function("embed.motd", &input)
        .await
        .map_err(|e| FnError::Failed(e.to_string()))?;
    let answer: serde_json::Value =
        serde_json::from_str(answer.get()).map_err(|e| FnError::Failed(e.to_string()))?;
    Ok(json!({ "text": answer["motd"] }))
}
