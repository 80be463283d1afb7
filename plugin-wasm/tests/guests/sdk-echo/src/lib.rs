//! The guest of the peer bench (`plugin-wasm/examples/peer_host.rs`): the
//! work the Extism guest does, on `plugin-sdk`. `echo` decodes its params
//! into a `serde_json::Value` and answers it; `noop` does nothing.
#![cfg(target_arch = "wasm32")]

use serde_json::Value;

fn echo(v: Value) -> Result<Value, String> {
    Ok(v)
}

fn noop(_: ()) -> Result<(), String> {
    Ok(())
}

plugin_sdk::wasm_plugin!();
plugin_sdk::export!(echo as echo);
plugin_sdk::export!(noop as noop);
