//! An embedder's host function, registered with
//! `PluginManager::builder(..).host_function(..)`, called by name from a
//! plugin in every runtime and language: a Rust core module, Rust, Python
//! and JavaScript components, a Go core module and a Rust gRPC process,
//! each through its SDK's generic call (its example's `call_host`). With
//! the built-in services called by name, an unknown name, and the caller
//! the host names. In a test binary of its own: the Python and JavaScript
//! guests are heavy to compile and run.

#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

mod common;
#[path = "../../test-support/examples.rs"]
mod examples;
#[path = "../../test-support/plugin_dirs.rs"]
mod plugin_dirs;

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{Setup, raw, status};
use plugin_core::host_functions::MAX_HOST_CALL_SIZE;
use plugin_core::{HostError, PluginState};
use plugin_dirs::copy_example;
use plugin_manager::PluginManager;
use plugin_manager::host::DefaultHost;
use serde::Deserialize;
use serde_json::{Value, json};

/// One plugin per runtime and language, each with a `call_host` function
/// (`{"name", "input"}` in, the host function's answer out).
const PLUGINS: [&str; 6] = [
    "hello-wasm",
    "hello-component",
    "hello-python",
    "hello-js",
    "hello-go",
    "hello-grpc",
];

/// The input of `weather.lookup`.
#[derive(Deserialize)]
struct Lookup {
    city: String,
}

/// A manager serving the six plugins, offering `weather.lookup`.
async fn manager(setup: &Setup) -> PluginManager {
    for plugin in PLUGINS {
        copy_example(plugin, setup.plugins.path(), plugin);
    }
    let host = DefaultHost::open(setup.data.path()).unwrap();
    let cache = examples::workspace().join("target/test-wasm-cache");
    let manager = PluginManager::builder(setup.config(false), Arc::new(host))
        .wasm_cache_dir(cache)
        .host_function("weather.lookup", async |cx, input: Lookup| {
            if input.city.is_empty() {
                return Err(HostError::InvalidRequest("which city?".into()));
            }
            Ok(json!({ "city": input.city, "forecast": "sunny", "asked_by": cx.plugin() }))
        })
        .build();
    manager.start().await.unwrap();
    for plugin in PLUGINS {
        assert_eq!(
            status(&manager, plugin).state,
            PluginState::Running,
            "{plugin}: {:?}",
            status(&manager, plugin).last_error
        );
    }
    manager
}

/// Calls host function `name` with `input` through `plugin`'s `call_host`.
async fn call_host(
    manager: &PluginManager,
    plugin: &str,
    name: &str,
    input: Value,
) -> Result<Value, String> {
    let params = json!({ "name": name, "input": input }).to_string();
    manager
        .call(plugin, "call_host", &raw(&params))
        .await
        .map(|answer| serde_json::from_str(answer.get()).unwrap())
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_embedders_host_function_is_called_from_every_runtime_as_the_calling_plugin() {
    let setup = Setup::empty();
    let manager = manager(&setup).await;

    for plugin in PLUGINS {
        // The embedder's function, told the caller by the host: the
        // plugin's claim to be another is not read.
        let answer = call_host(
            &manager,
            plugin,
            "weather.lookup",
            json!({ "city": "Oslo", "asked_by": "hello-other" }),
        )
        .await
        .unwrap_or_else(|e| panic!("{plugin}: {e}"));
        assert_eq!(
            answer,
            json!({ "city": "Oslo", "forecast": "sunny", "asked_by": plugin }),
            "{plugin}"
        );
        // The function's refusal reaches the plugin.
        let refused = call_host(&manager, plugin, "weather.lookup", json!({ "city": "" }))
            .await
            .unwrap_err();
        assert!(refused.contains("which city?"), "{plugin}: {refused}");

        // A built-in service by name, on the plugin's own data.
        let mine = STANDARD.encode(plugin);
        call_host(
            &manager,
            plugin,
            "kv.set",
            json!({ "key": "owner", "value": mine }),
        )
        .await
        .unwrap_or_else(|e| panic!("{plugin}: {e}"));
        let config = call_host(&manager, plugin, "config.get", json!({ "key": "missing" }))
            .await
            .unwrap();
        assert_eq!(config, Value::Null, "{plugin}");

        // An unknown name fails, naming it and what the host offers.
        let unknown = call_host(&manager, plugin, "weather.forecast", json!({}))
            .await
            .unwrap_err();
        assert!(
            unknown.contains(r#"no host function "weather.forecast""#)
                && unknown.contains("weather.lookup")
                && unknown.contains("kv.get"),
            "{plugin}: {unknown}"
        );
    }
    // Input past the bound is refused before the host reads it, on the
    // core ABI (Rust, Go) and over gRPC alike.
    let city = "x".repeat(MAX_HOST_CALL_SIZE);
    for plugin in ["hello-wasm", "hello-go", "hello-grpc"] {
        let refused = call_host(&manager, plugin, "weather.lookup", json!({ "city": city }))
            .await
            .unwrap_err();
        assert!(
            refused.contains("more than the 1048576"),
            "{plugin}: {refused}"
        );
    }
    // Each plugin wrote `owner` in its own KV namespace: none wrote as
    // another.
    for plugin in PLUGINS {
        let owner = call_host(&manager, plugin, "kv.get", json!({ "key": "owner" }))
            .await
            .unwrap();
        assert_eq!(owner, json!(STANDARD.encode(plugin)), "{plugin}");
    }
    manager.shutdown().await;
}
