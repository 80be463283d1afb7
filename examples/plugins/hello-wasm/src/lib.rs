//! An example wasm plugin built with `plugin-sdk`: a chat module that says
//! hello, uses its configuration, keeps a count in the host's KV store and
//! emits an event per greeting.
//!
//! Build it with `cargo xtask examples` (or `cargo build -p hello-wasm
//! --target wasm32-wasip1`) and call it with
//! `pluginctl call examples/plugins/hello-wasm greet '{"name":"Ada"}'`.
#![cfg(target_arch = "wasm32")]

use std::collections::BTreeMap;

use plugin_sdk::types::DataEvent;
use plugin_sdk::wasm::{self, Level, kv};
use serde::Deserialize;
use serde_json::{Value, json};

plugin_sdk::wasm_plugin!();

/// `help`: the commands this module understands.
fn help(_: Value) -> Result<BTreeMap<String, Vec<String>>, String> {
    Ok(BTreeMap::from([(
        "hello".to_owned(),
        vec![
            "hello [name] - greets you".to_owned(),
            "count - greetings so far".to_owned(),
        ],
    )]))
}
plugin_sdk::export!(help);

#[derive(Deserialize)]
struct Command {
    #[serde(default)]
    content: Value,
}

/// `command`: `hello [name]` or `count`; answers a text message payload.
fn command(params: Command) -> Result<Value, String> {
    let text = params
        .content
        .as_str()
        .unwrap_or_default()
        .trim()
        .to_owned();
    let reply = match text
        .split_once(' ')
        .map_or((text.as_str(), ""), |(a, b)| (a, b.trim()))
    {
        ("hello", name) => greet(Greet {
            name: name.to_owned(),
        })?["text"]
            .clone(),
        ("count", _) => json!(format!("{} greetings so far", count()?)),
        _ => return Err(format!("unknown command {text:?}; try `hello`")),
    };
    Ok(json!({ "text": reply }))
}
plugin_sdk::export!(command);

#[derive(Deserialize, Default)]
struct Greet {
    #[serde(default)]
    name: String,
}

/// `greet`: the ability operation `greeting/greet`.
fn greet(params: Greet) -> Result<Value, String> {
    let greeting = wasm::get_config("greeting")?.unwrap_or_else(|| "Hello".to_owned());
    let name = if params.name.is_empty() {
        "world"
    } else {
        &params.name
    };
    let total = count()? + 1;
    kv::set("greetings", total.to_string().as_bytes())?;
    wasm::emit_event(&DataEvent {
        event_type: "greeting.sent".into(),
        capability: "greeting".into(),
        operation: "greet".into(),
        entity_id: name.to_owned(),
        data: json!({ "total": total })
            .as_object()
            .cloned()
            .unwrap_or_default(),
        ..DataEvent::default()
    })?;
    wasm::log(Level::Info, &format!("greeted {name} (#{total})"));
    Ok(json!({ "text": format!("{greeting}, {name}!"), "total": total }))
}
plugin_sdk::export!(greet);

#[derive(Deserialize)]
struct AbilityCall {
    operation: String,
    #[serde(default)]
    params: Greet,
}

/// `ability_call`: the declared operations (`greeting/greet`), as the host's
/// ability adapter invokes them.
fn ability_call(call: AbilityCall) -> Result<Value, String> {
    match call.operation.as_str() {
        "greet" => greet(call.params),
        other => Err(format!("unknown operation {other:?}")),
    }
}
plugin_sdk::export!(ability_call);

fn count() -> Result<u64, String> {
    Ok(kv::get("greetings")?
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.parse().ok())
        .unwrap_or(0))
}
