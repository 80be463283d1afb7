//! The host-function table through `HostApi::call_function`, as every
//! transport reaches it: functions by name, the built-ins, the caller the
//! host names, the bounds, and unknown names.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use std::collections::BTreeMap;

use async_trait::async_trait;
use plugin_core::host_functions::{MAX_ERROR_TEXT, MAX_HOST_CALL_SIZE, call_text};
use plugin_core::{
    HostApi, HostError, HostFunctions, HostHttpRequest, HostHttpResponse, HttpAllowlist,
    HttpPermission, HttpRequestRule, Identified, LogLevel, MemoryHost,
};
use plugin_types::DataEvent;
use serde::Deserialize;

#[derive(Deserialize)]
struct Lookup {
    city: String,
}

fn functions() -> HostFunctions {
    HostFunctions::new().with("weather.lookup", async |cx, input: Lookup| {
        Ok(serde_json::json!({ "city": input.city, "sunny": true, "asked_by": cx.plugin() }))
    })
}

/// The HTTP rule of a plugin granted `hosts`.
fn allowing(plugin: &str, hosts: &[&str]) -> HttpRequestRule {
    let grants: Vec<HttpPermission> = hosts
        .iter()
        .map(|host| serde_json::from_value(serde_json::json!({ "host": host })).unwrap())
        .collect();
    HttpRequestRule::new(plugin, HttpAllowlist::new(&grants))
}

/// A plugin's host as a runner gets it: the table over the host's own
/// services, behind `Identified`.
fn host_for(plugin: &str, memory: Arc<MemoryHost>) -> Arc<dyn HostApi> {
    Identified::wrap(
        plugin,
        functions().serve(plugin, memory, allowing(plugin, &["*"])),
    )
}

#[tokio::test]
async fn an_embedders_function_answers_by_name_and_is_told_the_caller() {
    let memory = Arc::new(MemoryHost::new("alpha", serde_json::json!({})));
    let host = host_for("alpha", memory);
    // Whatever the input says, the caller is the plugin the host loaded.
    let answer = call_text(
        &*host,
        "weather.lookup",
        r#"{"city":"Oslo","asked_by":"beta"}"#,
    )
    .await
    .unwrap();
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(
        answer,
        serde_json::json!({"city": "Oslo", "sunny": true, "asked_by": "alpha"})
    );
}

#[tokio::test]
async fn the_typed_services_are_callable_by_name_on_the_callers_own_data() {
    let memory = Arc::new(MemoryHost::new(
        "alpha",
        serde_json::json!({"db": {"host": "h"}}),
    ));
    let host = host_for("alpha", memory.clone());
    assert_eq!(
        call_text(&*host, "config.get", r#"{"key":"db.host"}"#)
            .await
            .unwrap(),
        r#""h""#
    );
    assert_eq!(
        call_text(&*host, "kv.set", r#"{"key":"k","value":"aGk="}"#)
            .await
            .unwrap(),
        "null"
    );
    assert_eq!(memory.kv()["k"], b"hi");
    assert_eq!(
        call_text(&*host, "kv.get", r#"{"key":"k"}"#).await.unwrap(),
        r#""aGk=""#
    );
    call_text(&*host, "kv.delete", r#"{"key":"k"}"#)
        .await
        .unwrap();
    assert_eq!(
        call_text(&*host, "kv.get", r#"{"key":"k"}"#).await.unwrap(),
        "null"
    );
    call_text(&*host, "log", r#"{"level":"warn","message":"m"}"#)
        .await
        .unwrap();
    // An event's source is the caller's name, whatever the plugin wrote.
    call_text(
        &*host,
        "event.emit",
        r#"{"source":"beta","event_type":"t"}"#,
    )
    .await
    .unwrap();
    assert_eq!(memory.events()[0].source, "alpha");
    // MemoryHost makes no HTTP requests; a retargeting header is refused first.
    let refused = call_text(
        &*host,
        "http.request",
        r#"{"method":"GET","url":"http://x/","headers":{"Host":"y"}}"#,
    )
    .await
    .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("may not set the request header"),
        "{refused}"
    );
}

#[tokio::test]
async fn an_unknown_name_fails_naming_it_and_the_registered_ones() {
    let host = host_for(
        "alpha",
        Arc::new(MemoryHost::new("alpha", serde_json::json!({}))),
    );
    let error = call_text(&*host, "weather.forecast", "{}")
        .await
        .unwrap_err();
    let error = error.to_string();
    assert!(
        error.contains(r#"no host function "weather.forecast""#),
        "{error}"
    );
    assert!(
        error.contains("weather.lookup") && error.contains("kv.get"),
        "{error}"
    );
    // A host with no table knows no function.
    let bare = MemoryHost::new("alpha", serde_json::json!({}));
    let error = call_text(&bare, "kv.get", "{}")
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains(r#"no host function "kv.get""#), "{error}");
}

#[tokio::test]
async fn inputs_and_answers_are_bounded() {
    let memory = Arc::new(MemoryHost::new("alpha", serde_json::json!({})));
    let functions = functions().with("big", async |_cx, n: usize| Ok("x".repeat(n)));
    let host = Identified::wrap(
        "alpha",
        functions.serve("alpha", memory, allowing("alpha", &["*"])),
    );
    let input = format!(r#"{{"city":"{}"}}"#, "x".repeat(MAX_HOST_CALL_SIZE));
    let error = call_text(&*host, "weather.lookup", &input)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("more than the 1048576"), "{error}");
    let error = call_text(&*host, "big", &MAX_HOST_CALL_SIZE.to_string())
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("answer of host function \"big\""), "{error}");
    assert!(call_text(&*host, "big", "10").await.is_ok());
    let error = call_text(&*host, "kv.get", "{not json")
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("not JSON"), "{error}");
}

#[tokio::test]
async fn an_unknown_name_lists_at_most_32_registered_names() {
    let mut functions = HostFunctions::empty();
    for i in 0..40 {
        functions = functions.with(&format!("f{i:02}"), async |_cx, (): ()| Ok(()));
    }
    let host = functions.serve(
        "alpha",
        Arc::new(MemoryHost::new("alpha", serde_json::json!({}))),
        allowing("alpha", &[]),
    );
    let long = "y".repeat(500);
    let error = call_text(&*host, &long, "null")
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("at most 128 bytes, not 500"), "{error}");
    let null = serde_json::value::RawValue::from_string("null".into()).unwrap();
    let error = host
        .call_function(&long, &null)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("f00, f01") && error.contains("f31, and 8 more"),
        "{error}"
    );
    assert!(!error.contains("f32"), "{error}");
    assert!(error.len() < 600, "{error}");
}

/// A host of an embedder's own that answers every HTTP request, trusting
/// the runtime to hold plugins to their grants.
struct Answering(MemoryHost);

#[async_trait]
impl HostApi for Answering {
    async fn get_config(&self, key: &str) -> Result<Option<String>, HostError> {
        self.0.get_config(key).await
    }
    fn log(&self, level: LogLevel, message: &str, fields: &BTreeMap<String, String>) {
        self.0.log(level, message, fields);
    }
    async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        self.0.kv_get(key).await
    }
    async fn kv_set(&self, key: &str, value: &[u8]) -> Result<(), HostError> {
        self.0.kv_set(key, value).await
    }
    async fn kv_delete(&self, key: &str) -> Result<(), HostError> {
        self.0.kv_delete(key).await
    }
    async fn http_request(&self, _: HostHttpRequest) -> Result<HostHttpResponse, HostError> {
        Ok(HostHttpResponse {
            status: 200,
            body: vec![b'x'; 900 * 1024],
            ..HostHttpResponse::default()
        })
    }
    async fn emit_event(&self, event: DataEvent) -> Result<(), HostError> {
        self.0.emit_event(event).await
    }
}

#[tokio::test]
async fn http_by_name_is_held_to_the_plugins_grants_whatever_the_host() {
    let answering = Arc::new(Answering(MemoryHost::new("alpha", serde_json::json!({}))));
    let host = Identified::wrap(
        "alpha",
        functions().serve("alpha", answering, allowing("alpha", &["api.example.com"])),
    );
    let error = call_text(
        &*host,
        "http.request",
        r#"{"method":"GET","url":"http://169.254.169.254/latest/meta-data/"}"#,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        error.starts_with("permission denied") && error.contains("169.254.169.254"),
        "{error}"
    );
    // A granted host is asked; an answer too large to send back by name
    // is refused before it is encoded.
    let error = call_text(
        &*host,
        "http.request",
        r#"{"method":"GET","url":"https://api.example.com/big"}"#,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("the response body is 921600 bytes, more than http.request by name answers"),
        "{error}"
    );
}

#[tokio::test]
async fn a_kv_value_too_large_by_name_is_refused_before_encoding_and_errors_are_bounded() {
    let memory = Arc::new(MemoryHost::new("alpha", serde_json::json!({})));
    memory.kv_set("big", &vec![7u8; 1024 * 1024]).await.unwrap();
    let host = host_for("alpha", memory);
    let error = call_text(&*host, "kv.get", r#"{"key":"big"}"#)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("the value is 1048576 bytes, more than kv.get by name answers"),
        "{error}"
    );
    // An error echoing the plugin's input does not grow past the bound.
    let level = "\u{85}".repeat(200_000);
    let input = format!(r#"{{"level":"{level}","message":"m"}}"#);
    let error = call_text(&*host, "log", &input)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.len() < MAX_ERROR_TEXT + 200, "{} bytes", error.len());
    assert!(
        error.ends_with("bytes cut)"),
        "{}",
        &error[error.len() - 40..]
    );
}
