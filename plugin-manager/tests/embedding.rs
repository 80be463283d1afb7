//! What an embedder registers and calls through the manager's public API:
//! a source of its own (manifests built in code, changes it reports
//! itself) and typed calls.

#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use plugin_core::{Manifest, PluginState};
use plugin_manager::host::DefaultHost;
use plugin_manager::{ManagerError, PluginManager};
use plugin_source::{Discovered, Discovery, Source, SourceError, SourceEvent, SourceEvents};
use serde::Deserialize;
use tokio::sync::mpsc;

mod common;
#[path = "../../test-support/examples.rs"]
mod examples;
#[path = "../../test-support/plugin_dirs.rs"]
mod plugin_dirs;
use common::{Setup, status, wait_for};
use plugin_dirs::copy_example;

/// Plugins kept in memory, as a host keeps them in its own database; it
/// reports changes when the test tells it to.
struct MemorySource {
    plugins: Arc<Mutex<Vec<Discovered>>>,
    events: Mutex<Option<mpsc::Receiver<SourceEvent>>>,
}

/// The test's side of a [`MemorySource`]: change its plugins, say so.
struct Control {
    plugins: Arc<Mutex<Vec<Discovered>>>,
    events: mpsc::Sender<SourceEvent>,
}

fn memory_source(plugins: Vec<Discovered>) -> (MemorySource, Control) {
    let plugins = Arc::new(Mutex::new(plugins));
    let (send, receive) = mpsc::channel(8);
    let source = MemorySource {
        plugins: plugins.clone(),
        events: Mutex::new(Some(receive)),
    };
    (
        source,
        Control {
            plugins,
            events: send,
        },
    )
}

#[async_trait]
impl Source for MemorySource {
    async fn discover(&self) -> Result<Discovery, SourceError> {
        Ok(Discovery {
            plugins: self.plugins.lock().unwrap().clone(),
            diagnostics: Vec::new(),
        })
    }

    async fn watch(&self) -> Result<SourceEvents, SourceError> {
        let events = self.events.lock().unwrap().take();
        Ok(events.map_or_else(SourceEvents::none, SourceEvents::new))
    }
}

impl Control {
    /// Replaces (or adds) the plugin at its location and reports `event`.
    async fn set(&self, plugin: Discovered, event: fn(Discovered) -> SourceEvent) {
        {
            let mut plugins = self.plugins.lock().unwrap();
            plugins.retain(|p| p.location != plugin.location);
            plugins.push(plugin.clone());
        }
        self.events.send(event(plugin)).await.unwrap();
    }

    async fn remove(&self, location: &str, name: &str) {
        self.plugins
            .lock()
            .unwrap()
            .retain(|p| p.location != Path::new(location));
        let removed = SourceEvent::Removed {
            location: location.into(),
            name: name.into(),
        };
        self.events.send(removed).await.unwrap();
    }
}

/// The example wasm module as plugin `name` at `version`, built in code,
/// claiming its own ability so it can sit beside the example itself.
fn memo(name: &str, version: &str) -> Discovered {
    let module = examples::built().wasm.join("hello_wasm.wasm");
    let manifest = Manifest::builder(name, version)
        .wasm_module(module)
        .provides_module()
        .ability(format!("greeting-{name}"), ["greet"])
        .build()
        .unwrap();
    Discovered {
        location: format!("memory/{name}").into(),
        manifest,
    }
}

/// A manager with `sources` registered after the configured `setup`
/// folder, with hot reload.
async fn manager_with(setup: &Setup, sources: Vec<Box<dyn Source>>) -> PluginManager {
    let host = DefaultHost::open(setup.data.path()).unwrap();
    let mut builder = PluginManager::builder(setup.config(true), Arc::new(host));
    for source in sources {
        builder = builder.source(source);
    }
    builder.build()
}

#[derive(Debug, Deserialize)]
struct Greeting {
    text: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_registered_source_is_loaded_reloaded_and_unloaded_through() {
    let setup = Setup::empty();
    copy_example("hello-wasm", setup.plugins.path(), "hello-wasm");
    // The memory source offers `memo`, and `hello-wasm` again: the
    // configured folder comes first and keeps that name.
    let (source, control) = memory_source(vec![memo("memo", "1.0.0"), memo("hello-wasm", "9.9.9")]);
    let manager = manager_with(&setup, vec![Box::new(source)]).await;
    manager.start().await.unwrap();

    let loaded = status(&manager, "memo");
    assert_eq!((loaded.state, loaded.generation), (PluginState::Running, 1));
    assert_eq!(loaded.dir, PathBuf::from("memory/memo"));
    let greeting: Greeting = manager
        .call_json("memo", "greet", &BTreeMap::from([("name", "Ada")]))
        .await
        .unwrap();
    assert_eq!(greeting.text, "Hello, Ada!");
    assert_eq!(status(&manager, "hello-wasm").version, "0.1.0");
    let diagnostics = manager.diagnostics();
    assert!(
        diagnostics
            .iter()
            .any(|d| d.path == Path::new("memory/hello-wasm")
                && d.message.contains("already loaded from")),
        "{diagnostics:?}"
    );

    // An update the source reports: swapped in.
    control
        .set(memo("memo", "2.0.0"), SourceEvent::Updated)
        .await;
    wait_for("version 2 to serve", || {
        status(&manager, "memo").version == "2.0.0"
    })
    .await;
    assert_eq!(status(&manager, "memo").generation, 2);
    // A reload by the API reads the plugin through the source, not from a
    // folder (there is none).
    control.plugins.lock().unwrap()[0] = memo("memo", "3.0.0");
    let reloaded = manager.reload("memo").await.unwrap();
    assert_eq!(
        (reloaded.version.as_str(), reloaded.generation),
        ("3.0.0", 3)
    );

    // The source now has another plugin where `memo` was: a reload by the
    // API refuses it, naming both, and version 3 keeps serving.
    let mut other = memo("other", "1.0.0");
    other.location = "memory/memo".into();
    control.plugins.lock().unwrap()[0] = other;
    let err = manager.reload("memo").await.unwrap_err();
    assert!(matches!(err, ManagerError::IdentityChanged { .. }), "{err}");
    assert!(err.to_string().contains("now has plugin other"), "{err}");
    let now = status(&manager, "memo");
    assert_eq!((now.state, now.generation), (PluginState::Running, 3));
    control.plugins.lock().unwrap()[0] = memo("memo", "3.0.0");

    // A plugin that appears, then the first one going.
    control.set(memo("late", "1.0.0"), SourceEvent::Added).await;
    wait_for("the added plugin to run", || {
        manager
            .get("late")
            .is_some_and(|p| p.state == PluginState::Running)
    })
    .await;
    control.remove("memory/memo", "memo").await;
    wait_for("the removed plugin to go", || manager.get("memo").is_none()).await;
    let err = manager
        .call_json::<_, Greeting>("memo", "greet", &())
        .await
        .unwrap_err();
    assert!(matches!(err, ManagerError::NotFound(_)), "{err}");
    assert_eq!(status(&manager, "late").state, PluginState::Running);
    manager.shutdown().await;
}

/// A source that cannot be reached.
struct Unreachable;

#[async_trait]
impl Source for Unreachable {
    async fn discover(&self) -> Result<Discovery, SourceError> {
        Err(SourceError::other("registry.invalid: connection refused"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_source_that_fails_fails_the_start_and_loads_nothing() {
    let setup = Setup::empty();
    copy_example("hello-wasm", setup.plugins.path(), "hello-wasm");
    let manager = manager_with(&setup, vec![Box::new(Unreachable)]).await;
    let err = manager.start().await.unwrap_err();
    assert!(matches!(err, ManagerError::Source(_)), "{err}");
    assert_eq!(err.to_string(), "registry.invalid: connection refused");
    // Nothing was half-reserved from the folder read before it.
    assert!(manager.list().is_empty(), "{:?}", manager.list());
    assert!(manager.registries().modules.module_names().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn call_json_is_typed_and_says_which_side_failed() {
    let setup = Setup::empty();
    copy_example("hello-wasm", setup.plugins.path(), "hello-wasm");
    let manager = manager_with(&setup, Vec::new()).await;
    manager.start().await.unwrap();

    #[derive(serde::Serialize)]
    struct Params<'a> {
        name: &'a str,
    }
    let greeting: Greeting = manager
        .call_json("hello-wasm", "greet", &Params { name: "Bo" })
        .await
        .unwrap();
    assert_eq!(greeting.text, "Hello, Bo!");

    // Params JSON cannot hold: a map keyed by pairs.
    let unwritable = BTreeMap::from([((1, 2), 3)]);
    let err = manager
        .call_json::<_, Greeting>("hello-wasm", "greet", &unwritable)
        .await
        .unwrap_err();
    assert!(matches!(err, ManagerError::SerializeParams { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("plugin hello-wasm: greet: the params could not be serialized"),
        "{err}"
    );

    // A result that is not the type asked for.
    #[derive(Debug, Deserialize)]
    struct Other {
        #[allow(dead_code)]
        missing: u32,
    }
    let err = manager
        .call_json::<_, Other>("hello-wasm", "greet", &Params { name: "Cy" })
        .await
        .unwrap_err();
    assert!(
        matches!(err, ManagerError::DeserializeResult { .. }),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.starts_with("plugin hello-wasm: greet: the result could not be deserialized")
            && message.contains("missing"),
        "{message}"
    );
    manager.shutdown().await;
}
