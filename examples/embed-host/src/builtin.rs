//! The host's built-in plugins: Rust closures run in-process by a runtime
//! of our own ([`FnRuntime`], registered as `runtime: builtin`). To the
//! manager and the registries they are plugins like any other: a manifest
//! says what they provide, the manager loads, starts, supervises and
//! registers them, and they reach the host through the same host services
//! (here the KV store).

use std::path::{Path, PathBuf};

use plugin_core::fn_runtime::{FnCall, FnError, FnPlugin, FnRuntime};
use serde_json::json;

/// The name manifests use for this runtime (`runtime: builtin`).
pub(crate) const RUNTIME: &str = "builtin";

/// `shout`'s manifest: a chat module, and the ability `text/shout`.
const SHOUT_MANIFEST: &str = "\
name: shout
version: 0.1.0
description: Shouts back; built into embed-host.
runtime: builtin
provides:
  module: true
  abilities:
    - capability: text
      operations: [shout]
";

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

/// Writes the built-in plugins' manifest folder under `root`; returns it.
pub(crate) fn write_manifest(root: &Path) -> std::io::Result<PathBuf> {
    let dir = root.join("shout");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("plugin.yaml"), SHOUT_MANIFEST)?;
    Ok(dir)
}
