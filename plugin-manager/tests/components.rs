//! Components in Rust, Python and JavaScript under the manager. In a test
//! binary of its own: the Python and JavaScript components are heavy to
//! compile and to run, and beside the other manager tests they would starve
//! those tests' timing-bounded waits.

#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

mod common;
#[path = "../../test-support/examples.rs"]
mod examples;
#[path = "../../test-support/plugin_dirs.rs"]
mod plugin_dirs;

use std::time::Duration;

use common::{Callers, Setup, call, status};
use plugin_core::PluginState;
use plugin_dirs::{copy_example, set_manifest_field};

/// Components in three languages (Rust, Python, JavaScript) under the
/// manager together: each greets through its adapters' registries with the
/// host's config, KV and events, and reloads by API with no call lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn components_in_three_languages_serve_and_reload_without_losing_a_call() {
    let setup = Setup::empty();
    let plugins = ["hello-component", "hello-python", "hello-js"];
    for plugin in plugins {
        copy_example(plugin, setup.plugins.path(), plugin);
    }
    let mut config = setup.config(false);
    for plugin in plugins {
        config
            .config
            .insert(plugin.into(), serde_json::json!({"greeting": "Hey"}));
    }
    let manager = setup.start(config).await;
    for plugin in plugins {
        assert_eq!(
            status(&manager, plugin).state,
            PluginState::Running,
            "{plugin}"
        );
        let greeting = call(&manager, plugin, "greet", r#"{"name":"Ann"}"#).await;
        assert_eq!(greeting["text"], "Hey, Ann!", "{plugin}");
        assert_eq!(greeting["total"], 1, "{plugin}: its own KV count");
    }
    for plugin in plugins {
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
