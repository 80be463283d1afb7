//! A guest's stdout reaches `tracing`, tagged with the plugin's name. In a
//! test binary of its own: the log capture is per thread, and tracing's
//! per-callsite interest is process-wide, so other tests hitting the same
//! callsite from other threads at the same moment can hide the line.

#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

use std::sync::Arc;

use plugin_core::{Manifest, MemoryHost, Runner};
use plugin_wasm::{WasmEngine, WasmRunner};
use serde_json::json;
use serde_json::value::RawValue;

#[path = "../../test-support/captured_logs.rs"]
mod captured_logs;
#[path = "../../test-support/examples.rs"]
mod examples;

#[tokio::test]
async fn guest_stdout_goes_to_tracing_with_the_plugin_name() {
    let (captured, _guard) = captured_logs::capture();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        examples::built().wasm.join("fs_guest.wasm"),
        dir.path().join("fs_guest.wasm"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("plugin.yaml"),
        "name: fs-guest\nruntime: wasm\nwasm: {module: fs_guest.wasm}\n",
    )
    .unwrap();
    let manifest = Manifest::from_file(dir.path()).unwrap();
    let runner = WasmRunner::new(
        WasmEngine::new().unwrap(),
        Arc::new(MemoryHost::new("fs-guest", json!({}))),
    );
    runner.load(&manifest).await.unwrap();
    runner.start(&json!({})).await.unwrap();
    let line = RawValue::from_string(r#""a line from the guest""#.into()).unwrap();
    runner.call("print", &line).await.unwrap();
    let logged = captured.text();
    let line = logged
        .lines()
        .find(|l| l.contains("a line from the guest"))
        .unwrap_or_else(|| panic!("not logged: {logged}"));
    assert!(
        line.contains("plugin=fs-guest") && line.contains("stream=\"stdout\""),
        "{line}"
    );
}
