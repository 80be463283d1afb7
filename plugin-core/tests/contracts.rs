//! The Runner and HostApi traits are object-safe and usable from concurrent
//! callers through `Arc<dyn ...>`: the way the manager and adapters hold them.

#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use plugin_core::{
    HealthStatus, HostApi, HostError, HostHttpRequest, HostHttpResponse, LogLevel, Manifest,
    PluginInfo, Runner, RunnerError, RunnerErrorKind,
};
use plugin_types::DataEvent;
use serde_json::value::{RawValue, to_raw_value};
use serde_json::{Value, json};
use tokio::sync::Mutex;

/// A host whose KV is a map: enough to show a runner calling back into it.
#[derive(Default)]
struct MapHost {
    kv: Mutex<BTreeMap<String, Vec<u8>>>,
}

#[async_trait]
impl HostApi for MapHost {
    async fn get_config(&self, _key: &str) -> Result<Option<String>, HostError> {
        Ok(None)
    }
    fn log(&self, _level: LogLevel, _message: &str, _fields: &BTreeMap<String, String>) {}
    async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        Ok(self.kv.lock().await.get(key).cloned())
    }
    async fn kv_set(&self, key: &str, value: &[u8]) -> Result<(), HostError> {
        self.kv.lock().await.insert(key.to_owned(), value.to_vec());
        Ok(())
    }
    async fn kv_delete(&self, key: &str) -> Result<(), HostError> {
        self.kv.lock().await.remove(key);
        Ok(())
    }
    async fn http_request(&self, request: HostHttpRequest) -> Result<HostHttpResponse, HostError> {
        Err(HostError::PermissionDenied(format!(
            "{} is not allowed",
            request.url
        )))
    }
    async fn emit_event(&self, _event: DataEvent) -> Result<(), HostError> {
        Ok(())
    }
}

/// A runner that counts calls in the host's KV.
struct CountingRunner {
    host: Arc<dyn HostApi>,
    started: AtomicBool,
    calls: AtomicUsize,
    reporter: plugin_core::Reporter,
}

#[async_trait]
impl Runner for CountingRunner {
    async fn load(&self, manifest: &Manifest) -> Result<PluginInfo, RunnerError> {
        Ok(PluginInfo::from(manifest))
    }
    async fn start(&self, _config: &Value) -> Result<(), RunnerError> {
        self.started.store(true, Ordering::SeqCst);
        Ok(())
    }
    async fn stop(&self, _drain: Duration) -> Result<(), RunnerError> {
        self.started.store(false, Ordering::SeqCst);
        Ok(())
    }
    async fn call(&self, function: &str, params: &RawValue) -> Result<Box<RawValue>, RunnerError> {
        if !self.started.load(Ordering::SeqCst) {
            return Err(RunnerError::in_call(
                "count",
                function,
                RunnerErrorKind::NotStarted,
            ));
        }
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let failed = |e: HostError| {
            RunnerError::in_call("count", function, RunnerErrorKind::Other(e.into()))
        };
        self.host
            .kv_set("calls", n.to_string().as_bytes())
            .await
            .map_err(failed)?;
        let echoed: Value = serde_json::from_str(params.get()).unwrap_or(Value::Null);
        to_raw_value(&json!({"function": function, "params": echoed, "n": n}))
            .map_err(|e| RunnerError::in_call("count", function, RunnerErrorKind::Other(e.into())))
    }
    async fn health(&self) -> Result<HealthStatus, RunnerError> {
        Ok(HealthStatus {
            ready: self.started.load(Ordering::SeqCst),
            ..HealthStatus::default()
        })
    }
    fn events(&self) -> plugin_core::LifecycleEvents {
        self.reporter.subscribe()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_runner_serves_concurrent_callers() {
    let host = Arc::new(MapHost::default());
    let runner: Arc<dyn Runner> = Arc::new(CountingRunner {
        host: host.clone(),
        started: AtomicBool::new(false),
        calls: AtomicUsize::new(0),
        reporter: plugin_core::Reporter::new(),
    });
    let manifest = Manifest::parse("name: count\nruntime: wasm\nwasm: {module: c.wasm}\n").unwrap();
    let info = runner.load(&manifest).await.unwrap();
    assert_eq!(info.name, "count");

    let params = RawValue::from_string(r#"{"x":1}"#.to_owned()).unwrap();
    let err = runner.call("f", &params).await.unwrap_err();
    assert_eq!(err.to_string(), "plugin count: call f: not started");

    runner.start(&json!({})).await.unwrap();
    assert!(runner.health().await.unwrap().ready);
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let runner = runner.clone();
            tokio::spawn(async move {
                let params = RawValue::from_string(r#"{"x":1}"#.to_owned()).unwrap();
                runner.call("f", &params).await
            })
        })
        .collect();
    for task in tasks {
        let result: Value = serde_json::from_str(task.await.unwrap().unwrap().get()).unwrap();
        assert_eq!(result["params"], json!({"x": 1}));
    }
    assert_eq!(
        host.kv_get("calls").await.unwrap().as_deref(),
        Some(&b"32"[..])
    );

    runner.stop(Duration::from_secs(1)).await.unwrap();
    assert!(!runner.health().await.unwrap().ready);
    let denied = host
        .http_request(HostHttpRequest::default())
        .await
        .unwrap_err();
    assert!(denied.to_string().starts_with("permission denied"));
}
