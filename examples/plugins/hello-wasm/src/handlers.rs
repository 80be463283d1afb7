//! The greeting handlers, shared by `hello-wasm` (a core module) and
//! `hello-component` (a component): they call the host through `crate::sdk`,
//! which each crate points at its side of `plugin-sdk`.

use std::collections::BTreeMap;

use crate::sdk::{self, Level, kv};
use plugin_sdk::types::DataEvent;
use serde::Deserialize;
use serde_json::{Value, json};

/// `help`: the commands this module understands.
pub(crate) fn help(_: Value) -> Result<BTreeMap<String, Vec<String>>, String> {
    Ok(BTreeMap::from([(
        "hello".to_owned(),
        vec![
            "hello [name] - greets you".to_owned(),
            "count - greetings so far".to_owned(),
        ],
    )]))
}

#[derive(Deserialize)]
pub(crate) struct Command {
    #[serde(default)]
    content: Value,
}

/// `command`: `hello [name]` or `count`; answers a text message payload.
pub(crate) fn command(params: Command) -> Result<Value, String> {
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

#[derive(Deserialize, Default)]
pub(crate) struct Greet {
    #[serde(default)]
    name: String,
}

/// `greet`: the ability operation `greeting/greet`.
pub(crate) fn greet(params: Greet) -> Result<Value, String> {
    let greeting = sdk::get_config("greeting")?.unwrap_or_else(|| "Hello".to_owned());
    let name = if params.name.is_empty() {
        "world"
    } else {
        &params.name
    };
    let total = count()? + 1;
    kv::set("greetings", total.to_string().as_bytes())?;
    sdk::emit_event(&DataEvent {
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
    sdk::log(Level::Info, &format!("greeted {name} (#{total})"));
    Ok(json!({ "text": format!("{greeting}, {name}!"), "total": total }))
}

#[derive(Deserialize)]
pub(crate) struct AbilityCall {
    operation: String,
    #[serde(default)]
    params: Greet,
}

/// `ability_call`: the declared operations (`greeting/greet`, and
/// `greeting/greet_component` for the component build), as the host's
/// ability adapter invokes them.
pub(crate) fn ability_call(call: AbilityCall) -> Result<Value, String> {
    match call.operation.as_str() {
        "greet" | "greet_component" => greet(call.params),
        other => Err(format!("unknown operation {other:?}")),
    }
}

fn count() -> Result<u64, String> {
    Ok(kv::get("greetings")?
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.parse().ok())
        .unwrap_or(0))
}

#[derive(Deserialize)]
pub(crate) struct Fetch {
    url: String,
}

/// `fetch`: GETs `url` through the host's HTTP service (within the
/// manifest's `wasm.permissions.http` and the host's address rules);
/// answers the status and the body as text.
pub(crate) fn fetch(params: Fetch) -> Result<Value, String> {
    let response = sdk::http_request(&sdk::HttpRequest {
        method: "GET".into(),
        url: params.url,
        ..sdk::HttpRequest::default()
    })?;
    Ok(json!({
        "status": response.status,
        "body": String::from_utf8_lossy(&response.body),
    }))
}

#[derive(Deserialize)]
pub(crate) struct CallHost {
    name: String,
    #[serde(default)]
    input: Value,
}

/// `call_host`: calls the host function `name` (one the host registered,
/// such as an embedder's `weather.lookup`, or a built-in such as `kv.get`)
/// with `input`; answers what it answered.
pub(crate) fn call_host(params: CallHost) -> Result<Value, String> {
    sdk::call_host(&params.name, &params.input)
}

/// `echo`: answers its params (the round trip, for measuring).
pub(crate) fn echo(params: Value) -> Result<Value, String> {
    Ok(params)
}
