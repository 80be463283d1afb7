//! The plugin's output reaches `tracing`, tagged with its name and level.
//! Alone in its test binary: it captures logs with a thread-scoped
//! subscriber, and tracing caches a callsite's interest process-wide, so a
//! test in the same binary hitting the same callsite on another thread
//! (without a subscriber) can make this one miss its events.

#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

#[path = "../../test-support/captured_logs.rs"]
mod captured_logs;
#[path = "../../test-support/examples.rs"]
mod examples;
#[path = "../../test-support/raw_plugin.rs"]
mod raw_plugin;

use std::sync::Arc;
use std::time::{Duration, Instant};

use plugin_core::{MemoryHost, Runner};
use plugin_grpc::GrpcRunner;
use raw_plugin::RawPlugin;
use serde_json::json;

#[tokio::test(flavor = "current_thread")]
async fn plugin_output_reaches_tracing_tagged_and_levelled() {
    let (captured, _guard) = captured_logs::capture();

    let plugin = RawPlugin::new("serve");
    let runner = GrpcRunner::new(Arc::new(MemoryHost::new("raw", json!({}))));
    runner.load(&plugin.manifest).await.unwrap();
    runner.start(&json!({})).await.unwrap();
    let find = |needle: &str| {
        captured
            .text()
            .lines()
            .find(|line| line.contains(needle))
            .map(str::to_owned)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while find("raw plugin started").is_none() || find("says hi via stdio").is_none() {
        assert!(Instant::now() < deadline, "{}", captured.text());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // An hclog JSON line on stderr keeps its level and fields.
    let line = find("raw plugin started").unwrap();
    assert!(
        line.contains("WARN") && line.contains("plugin=\"raw\"") && line.contains("@module=raw"),
        "{line}"
    );
    // go-plugin's stdio stream is forwarded too.
    let line = find("says hi via stdio").unwrap();
    assert!(
        line.contains("plugin=\"raw\"") && line.contains("stream=\"stderr\""),
        "{line}"
    );
    runner.stop(Duration::from_secs(1)).await.unwrap();
}
