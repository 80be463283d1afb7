//! The adapters driven through real runners: the `hello-wasm` and
//! `hello-grpc` examples, and `raw-grpc-plugin` for providers and malformed
//! answers.

#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

#[path = "../../test-support/examples.rs"]
mod examples;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use plugin_adapter::{
    AbilityRegistry, AdapterError, InMemoryAbilityRegistry, InMemoryModuleRegistry,
    InMemoryProviderRegistry, ModuleHandler, ModuleRegistry, PluginAbilities, PluginModule,
    PluginProvider, ProviderRegistry, RunnerCell,
};
use plugin_core::{Manifest, MemoryHost, Runner, RunnerErrorKind};
use plugin_grpc::GrpcRunner;
use plugin_types::{CallContext, MsgPayload};
use plugin_wasm::{WasmEngine, WasmRunner};
use serde_json::{Value, json};

fn example(name: &str) -> Manifest {
    examples::built();
    Manifest::from_file(&examples::workspace().join("examples/plugins").join(name)).unwrap()
}

/// A started runner for `manifest`, of its runtime.
async fn start(manifest: &Manifest, config: Value) -> Arc<dyn Runner> {
    let host = Arc::new(MemoryHost::new(&manifest.name, config.clone()));
    let runner: Arc<dyn Runner> = match manifest.runtime.as_str() {
        plugin_core::WASM_RUNTIME => Arc::new(WasmRunner::new(WasmEngine::new().unwrap(), host)),
        _ => Arc::new(GrpcRunner::new(host)),
    };
    runner.load(manifest).await.unwrap();
    runner.start(&config).await.unwrap();
    runner
}

/// A raw-grpc-plugin manifest named `name`.
fn raw_manifest(dir: &tempfile::TempDir, name: &str, provider: &str) -> Manifest {
    let binary = examples::built().host.join("raw-grpc-plugin");
    std::fs::write(
        dir.path().join("plugin.yaml"),
        format!(
            "name: {name}\nruntime: grpc\nprovides:\n  module: true\n  provider: {{name: {provider}, oauth: true}}\ngrpc: {{binary: {}}}\n",
            binary.display()
        ),
    )
    .unwrap();
    Manifest::from_file(dir.path()).unwrap()
}

fn ctx() -> CallContext {
    CallContext {
        user_id: "u1".into(),
        platform: "test".into(),
        ..CallContext::default()
    }
}

#[tokio::test]
async fn both_runtimes_appear_as_modules_and_abilities() {
    let modules = InMemoryModuleRegistry::modules();
    let abilities = InMemoryAbilityRegistry::abilities();
    let mut adapters = Vec::new();
    for name in ["hello-wasm", "hello-grpc"] {
        let manifest = example(name);
        let runner = start(&manifest, json!({"greeting": "Hi"})).await;
        let cell = Arc::new(RunnerCell::new(&manifest.name, runner));
        let module = Arc::new(PluginModule::new(cell.clone()));
        module.register(&modules).unwrap();
        let plugin_abilities = PluginAbilities::new(cell.clone(), &manifest.provides.abilities);
        plugin_abilities.register(&abilities).unwrap();
        adapters.push((module, plugin_abilities, cell));
    }
    assert_eq!(modules.module_names(), ["hello-grpc", "hello-wasm"]);

    for name in ["hello-wasm", "hello-grpc"] {
        let module = modules.module(name).unwrap();
        assert_eq!(module.name(), name);
        let answer = module.command(&ctx(), &json!("hello Ada")).await.unwrap();
        assert_eq!(answer, MsgPayload::Text("Hi, Ada!".into()), "{name}");
        let help = module.help().await.unwrap();
        assert_eq!(help["hello"].len(), 2, "{name}");
        // A module error names the plugin and the function.
        let error = module.command(&ctx(), &json!("dance")).await.unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with(&format!("plugin {name}: call command: unknown command")),
            "{error}"
        );
    }
    // The gRPC module has the SDK's default rules; the wasm one exports none,
    // which is reported, not swallowed as "no rules".
    assert_eq!(
        modules.module("hello-grpc").unwrap().rules().await.unwrap(),
        Vec::<Value>::new()
    );
    let error = modules
        .module("hello-wasm")
        .unwrap()
        .rules()
        .await
        .unwrap_err();
    assert!(
        matches!(&error, AdapterError::Runner(e) if matches!(e.kind(), RunnerErrorKind::Unsupported)),
        "{error}"
    );

    let params = |name: &str| json!({"name": name}).as_object().cloned().unwrap();
    let result = abilities
        .invoker("greeting", "greet")
        .unwrap()
        .invoke(params("Bo"))
        .await
        .unwrap();
    assert_eq!(
        (result.capability.as_str(), result.operation.as_str()),
        ("greeting", "greet")
    );
    assert_eq!(result.text, "Hi, Bo!");
    let result = abilities
        .invoker("greeting", "greet_remote")
        .unwrap()
        .invoke(params("Cy"))
        .await
        .unwrap();
    assert_eq!(result.text, "Hi, Cy!");
    assert_eq!(result.operation, "greet_remote");

    // Unload: everything the plugins registered goes.
    for (module, plugin_abilities, cell) in adapters {
        assert!(module.unregister(&modules));
        plugin_abilities.unregister(&abilities);
        cell.runner().stop(Duration::from_secs(5)).await.unwrap();
    }
    assert!(modules.module_names().is_empty());
    assert!(abilities.invokers().is_empty());
}

#[tokio::test]
async fn a_taken_operation_is_a_conflict_naming_both_plugins_and_registers_nothing() {
    let abilities = InMemoryAbilityRegistry::abilities();
    let wasm = example("hello-wasm");
    let runner = start(&wasm, json!({})).await;
    let first = PluginAbilities::new(
        Arc::new(RunnerCell::new("hello-wasm", runner.clone())),
        &wasm.provides.abilities,
    );
    first.register(&abilities).unwrap();

    // A second plugin declaring a free operation and the taken one.
    let declared: Vec<plugin_core::manifest::AbilityDecl> = serde_json::from_value(json!([
        {"capability": "greeting", "operations": ["wave", "greet"]}
    ]))
    .unwrap();
    let second = PluginAbilities::new(
        Arc::new(RunnerCell::new("copycat", runner.clone())),
        &declared,
    );
    let error = second.register(&abilities).unwrap_err();
    assert_eq!(
        error.to_string(),
        "ability greeting/greet is already registered by plugin hello-wasm; plugin copycat cannot register it too"
    );
    // All or nothing: `wave` was rolled back; the owner keeps `greet`.
    assert_eq!(
        abilities.invokers(),
        [("greeting/greet".to_owned(), "hello-wasm".to_owned())]
    );
    // Only the owner can unregister.
    second.unregister(&abilities);
    assert_eq!(abilities.invokers().len(), 1);
    first.unregister(&abilities);
    assert!(abilities.invokers().is_empty());
    runner.stop(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn providers_convert_webhooks_and_run_oauth() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = raw_manifest(&dir, "forge", "github");
    let runner = start(&manifest, json!({})).await;
    let cell = Arc::new(RunnerCell::new("forge", runner.clone()));
    let registry = InMemoryProviderRegistry::default();
    let provider = Arc::new(PluginProvider::new(cell, "github", true));
    provider.register(&registry).unwrap();

    let converter = registry.webhook("github").unwrap();
    let events = converter.convert(b"issue-7").await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, "push");
    assert_eq!(events[0].entity_id, "issue-7");
    assert_eq!(events[0].source, "github");
    assert!(events[0].data.is_empty() && events[0].tags.is_empty());
    assert!(events[0].created_at.is_some(), "timestamps are filled in");

    let oauth = registry.oauth("github").unwrap();
    assert_eq!(
        oauth.authorize_url("st").await.unwrap(),
        "https://auth.example/?state=st"
    );
    let token = oauth.exchange("st", "abc").await.unwrap();
    assert_eq!(token.access_token, "tok-abc");
    assert_eq!(
        (token.name.as_str(), token.kind.as_str()),
        ("github", "oauth2")
    );

    // Wrong shapes are decode errors naming plugin and function.
    let error = converter.convert(b"wrong-shape").await.unwrap_err();
    assert!(
        error.to_string().starts_with(
            "plugin forge: call webhook_convert: cannot decode the answer: invalid type: map"
        ),
        "{error}"
    );
    let error = oauth.exchange("st", "").await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "plugin forge: call oauth_callback: cannot decode the answer: the token has no access_token"
    );

    // A second plugin cannot take the provider's name.
    let other = Arc::new(PluginProvider::new(
        Arc::new(RunnerCell::new("forge-2", runner.clone())),
        "github",
        false,
    ));
    assert!(matches!(
        other.register(&registry),
        Err(AdapterError::Conflict { .. })
    ));
    provider.unregister(&registry);
    assert!(registry.providers().is_empty());
    runner.stop(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn malformed_module_answers_are_errors_not_empty_values() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = raw_manifest(&dir, "raw", "none");
    let runner = start(&manifest, json!({})).await;
    let module = PluginModule::new(Arc::new(RunnerCell::new("raw", runner.clone())));

    // Valid JSON of the wrong shape.
    let error = module.command(&ctx(), &json!("array")).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "plugin raw: call command: cannot decode the answer: not a message payload: want a JSON object, got [1,2]"
    );
    // Not JSON at all (caught by the runner).
    let error = module.rules().await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("plugin raw: call rules: protocol error"),
        "{error}"
    );
    // The plugin's own error.
    let error = module.help().await.unwrap_err();
    assert_eq!(error.to_string(), "plugin raw: call help: no help here");
    // The context reaches the plugin as JSON, unknown fields included.
    let mut context = ctx();
    context.extra.insert("topic".into(), json!("t"));
    let answer = module.command(&context, &json!("hi")).await.unwrap();
    let MsgPayload::Kv(fields) = answer else {
        panic!("{answer:?}")
    };
    assert_eq!(fields["context"]["user_id"], "u1");
    assert_eq!(fields["context"]["topic"], "t");
    let form = module
        .form(&ctx(), &BTreeMap::from([("a".to_owned(), "b".to_owned())]))
        .await
        .unwrap_err();
    assert!(form.to_string().contains("unsupported by plugin"), "{form}");
    runner.stop(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn init_starts_the_plugin_with_its_config_and_bootstrap_follows() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = raw_manifest(&dir, "raw", "none");
    let runner: Arc<dyn Runner> =
        Arc::new(GrpcRunner::new(Arc::new(MemoryHost::new("raw", json!({})))));
    runner.load(&manifest).await.unwrap();
    let cell = Arc::new(RunnerCell::new("raw", runner.clone()));
    let module = PluginModule::new(cell.clone());
    let error = module.bootstrap().await.unwrap_err();
    assert!(error.to_string().ends_with("not started"), "{error}");
    module.init(&json!({"answer": 42})).await.unwrap();
    module.bootstrap().await.unwrap();
    let config = cell
        .call(
            "config",
            &serde_json::value::to_raw_value(&json!(null)).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(config.get(), r#"{"answer":42}"#);
    runner.stop(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_runner_swap_under_load_drops_no_call_and_stops_the_old_runner_idle() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = raw_manifest(&dir, "raw", "none");
    let old = start(&manifest, json!({})).await;
    let cell = Arc::new(RunnerCell::new("raw", old.clone()));
    let done = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let params = serde_json::value::to_raw_value(&json!(20)).unwrap();

    let callers: Vec<_> = (0..8)
        .map(|_| {
            let (cell, done, stop, params) =
                (cell.clone(), done.clone(), stop.clone(), params.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    // Each call sleeps 20 ms in the plugin: many are in
                    // flight on the old runner when the swap happens.
                    let answer = cell.call("sleep", &params).await.unwrap();
                    assert_eq!(answer.get(), r#""slept""#);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let new = start(&manifest, json!({})).await;
    let before = done.load(Ordering::Relaxed);
    let retired = cell
        .swap(new.clone(), std::time::Duration::from_secs(30))
        .await;
    assert!(Arc::ptr_eq(&retired, &old));
    // Every call that entered the old runner has finished: stopping it now
    // (with no drain at all) cuts nothing off.
    retired.stop(Duration::ZERO).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    for caller in callers {
        caller.await.unwrap(); // a failed call panics its caller
    }
    assert!(
        done.load(Ordering::Relaxed) > before,
        "calls continued on the new runner"
    );
    let pid_new: Value = serde_json::from_str(
        cell.call(
            "pid",
            &serde_json::value::to_raw_value(&json!(null)).unwrap(),
        )
        .await
        .unwrap()
        .get(),
    )
    .unwrap();
    assert!(pid_new.is_number());
    new.stop(Duration::from_secs(5)).await.unwrap();
}
