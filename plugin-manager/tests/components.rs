//! Wasm plugins in four languages under the manager: components in Rust,
//! Python and JavaScript, and Go on the core-wasm ABI. In a test binary of
//! its own: the Python, JavaScript and Go guests carry their language's
//! runtime, are heavy to compile and to run, and beside the other manager
//! tests they would starve those tests' timing-bounded waits.

#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

mod common;
#[path = "../../test-support/examples.rs"]
mod examples;
#[path = "../../test-support/plugin_dirs.rs"]
mod plugin_dirs;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::{Callers, Setup, call, status};
use plugin_core::PluginState;
use plugin_dirs::{ask_http, copy_example, set_manifest_field};
use plugin_types::PermissionPolicy;

/// The examples, one per language.
const PLUGINS: [&str; 4] = ["hello-component", "hello-python", "hello-js", "hello-go"];

/// An HTTP server on a free loopback port, answering `/hello`.
async fn loopback_server() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new().route("/hello", get(|| async { "hello from loopback" }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}

/// Each language's plugin, loaded together: starts with the host's config,
/// greets through its adapters' registries, counts in the host's KV,
/// emits an event, reaches a loopback server the policy grants through the
/// host's HTTP service, and reloads by API with no call lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wasm_plugins_in_four_languages_serve_and_reload_without_losing_a_call() {
    let setup = Setup::empty();
    let port = loopback_server().await;
    for plugin in PLUGINS {
        copy_example(plugin, setup.plugins.path(), plugin);
        ask_http(&setup.dir(plugin), &["127.0.0.1"]);
    }
    let mut config = setup.config(false);
    // The manifests ask for 127.0.0.1; the host grants its loopback
    // network to these four plugins, and to no other.
    let grants = PLUGINS
        .iter()
        .map(|p| format!("{p}: {{private_networks: [127.0.0.0/8]}}"))
        .collect::<Vec<_>>()
        .join(", ");
    let policy: PermissionPolicy =
        serde_saphyr::from_str(&format!("plugins: {{{grants}}}")).unwrap();
    config.permissions = policy;
    for plugin in PLUGINS {
        config
            .config
            .insert(plugin.into(), serde_json::json!({"greeting": "Hey"}));
    }
    let cache = examples::workspace().join("target/test-wasm-cache");
    let (manager, mut events) = setup.start_observed(config, Some(&cache)).await;
    for plugin in PLUGINS {
        assert_eq!(
            status(&manager, plugin).state,
            PluginState::Running,
            "{plugin}"
        );
        let greeting = call(&manager, plugin, "greet", r#"{"name":"Ann"}"#).await;
        assert_eq!(greeting["text"], "Hey, Ann!", "{plugin}");
        assert_eq!(greeting["total"], 1, "{plugin}: its own KV count");
        let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(event.plugin, plugin);
        assert_eq!(
            (event.event.event_type.as_str(), event.event.source.as_str()),
            ("greeting.sent", plugin)
        );
        assert_eq!(event.event.entity_id, "Ann", "{plugin}");

        let url = format!("http://127.0.0.1:{port}/hello");
        let fetched = call(&manager, plugin, "fetch", &format!(r#"{{"url":"{url}"}}"#)).await;
        assert_eq!(
            fetched,
            serde_json::json!({"status": 200, "body": "hello from loopback"}),
            "{plugin}"
        );
        // A host the manifest did not ask for is refused before any request.
        let refused = manager
            .call(
                plugin,
                "fetch",
                &common::raw(&format!(r#"{{"url":"http://localhost:{port}/hello"}}"#)),
            )
            .await
            .unwrap_err();
        // JavaScript's own `fetch` (wasi:http underneath) reports the
        // refusal as a network error (the host's log says why); the world's
        // `fetch` carries the reason.
        let why = if plugin == "hello-js" {
            "NetworkError"
        } else {
            "not on the plugin's HTTP allowlist"
        };
        assert!(refused.to_string().contains(why), "{plugin}: {refused}");
    }
    for plugin in PLUGINS {
        let callers = Callers::start(&manager, plugin, 4);
        tokio::time::sleep(Duration::from_millis(100)).await;
        set_manifest_field(&setup.dir(plugin), "version", "0.2.0");
        let reloaded = manager.reload(plugin).await.unwrap();
        assert_eq!(
            (reloaded.version.as_str(), reloaded.generation),
            ("0.2.0", 2)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        let calls = callers.finish().await;
        eprintln!("{plugin}: {calls} calls across a reload, none failed");
        // The count lives in the host's KV, not in the instance.
        let greeting = call(&manager, plugin, "greet", r#"{"name":"Bo"}"#).await;
        assert_eq!(greeting["total"], 2, "{plugin}");
    }
    manager.shutdown().await;
}
