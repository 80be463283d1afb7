//! The examples in other languages through the runner, each doing what
//! `hello-wasm` does: Python and JavaScript components of the
//! `flowbot:plugin` world (componentize-py, componentize-js), and Go on the
//! core-wasm ABI (`plugin-sdk/go`), all built by `cargo xtask examples`.
//! A test binary of its own: these guests carry their language's runtime
//! and are heavy to compile.

#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

use std::sync::Arc;

use plugin_core::{Manifest, MemoryHost, Runner, RunnerErrorKind};
use plugin_wasm::{WasmEngine, WasmRunner};
use serde_json::json;

mod common;
#[path = "../../test-support/examples.rs"]
mod examples;

use common::{call, raw};

/// An example in another language (built by `cargo xtask examples`)
/// through the same runner: config, KV, events, the adapters' functions,
/// its errors. Compiled once into a cache under `target/` (these components
/// carry their language's runtime and take a while to compile).
async fn the_example_answers_like_the_rust_one(name: &str, operation: &str) {
    examples::built();
    let manifest =
        Manifest::from_file(&examples::workspace().join("examples/plugins").join(name)).unwrap();
    let config = json!({"greeting": "Hi"});
    let host = Arc::new(MemoryHost::new(name, config.clone()));
    let cache =
        plugin_wasm::ModuleCache::open(&examples::workspace().join("target/test-wasm-cache"))
            .unwrap();
    let runner = WasmRunner::new(WasmEngine::new().unwrap(), host.clone()).with_cache(cache);
    runner.load(&manifest).await.unwrap();
    runner.start(&config).await.unwrap();

    let greeting = call(&runner, "greet", json!({"name": "Ada"})).await;
    assert_eq!(greeting, json!({"text": "Hi, Ada!", "total": 1}), "{name}");
    assert_eq!(host.kv()["greetings"], b"1");
    let events = host.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].source, name);
    assert_eq!(events[0].data["total"], 1);
    let help = call(&runner, "help", json!(null)).await;
    assert_eq!(help["hello"][0], "hello [name] - greets you", "{name}");
    let count = call(&runner, "command", json!({"content": "count"})).await;
    assert_eq!(count["text"], "1 greetings so far", "{name}");
    let ability = call(
        &runner,
        "ability_call",
        json!({"operation": operation, "params": {"name": "Lang"}}),
    )
    .await;
    assert_eq!(ability["text"], "Hi, Lang!", "{name}");
    let missing = runner.call("nope", &raw(&json!(null))).await.unwrap_err();
    assert!(
        matches!(missing.kind(), RunnerErrorKind::Unsupported),
        "{name}: {missing}"
    );
    let refused = runner
        .call("command", &raw(&json!({"content": "dance"})))
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("unknown command"),
        "{name}: {refused}"
    );
    // The example asks for no HTTP, so the host never sees the request,
    // and the refusal reaches the guest as an error it reports.
    let fetch = runner
        .call("fetch", &raw(&json!({"url": "http://127.0.0.1:9/"})))
        .await
        .unwrap_err();
    // (JavaScript's own `fetch` reports it as a network error.)
    assert!(
        ["not allowed", "NetworkError"]
            .iter()
            .any(|why| fetch.to_string().contains(why)),
        "{name}: {fetch}"
    );
    // The instance survived its errors.
    let again = call(&runner, "greet", json!({})).await;
    assert_eq!(again["total"], 3, "{name}");
    runner
        .stop(std::time::Duration::from_secs(1))
        .await
        .unwrap();
}

#[tokio::test]
async fn the_python_example_answers_like_the_rust_one() {
    the_example_answers_like_the_rust_one("hello-python", "greet_python").await;
}

#[tokio::test]
async fn the_javascript_example_answers_like_the_rust_one() {
    the_example_answers_like_the_rust_one("hello-js", "greet_js").await;
}

#[tokio::test]
async fn the_go_example_answers_like_the_rust_one() {
    the_example_answers_like_the_rust_one("hello-go", "greet_go").await;
}
