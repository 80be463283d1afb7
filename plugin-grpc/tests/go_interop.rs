//! Interop both ways with real Go on hashicorp/go-plugin (the version
//! `plugin-grpc/tests/go/go.mod` pins), built from `plugin-grpc/tests/go`:
//! - `goplugin`, a plugin written on go-plugin's `Serve`, loads in this
//!   host, confined, with AutoMTLS off and on, and calls back its host
//!   through go-plugin's broker;
//! - this workspace's SDK example (`hello-grpc`) runs under `gohost`, a host
//!   on go-plugin's own client (`NewClient`, `Dispense`), with AutoMTLS off
//!   and on.
//!
//! flowbot's own Go host (`pkg/plugin/grpc`) could not be used: the Go
//! module proxy refuses `github.com/flowline-io/flowbot` (403, "This module
//! version is not available"); `gohost` drives the plugin the way its
//! `GrpcRunner` does, on the same go-plugin client.

#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

#[path = "../../test-support/examples.rs"]
mod examples;
#[path = "../../test-support/go.rs"]
mod go;

use std::sync::Arc;
use std::time::Duration;

use plugin_core::{HostGrants, Manifest, MemoryHost, Runner};
use plugin_grpc::GrpcRunner;
use plugin_types::PermissionPolicy;
use plugin_types::permissions::Enforcement;
use serde_json::{Value, json};

fn raw(value: &Value) -> Box<serde_json::value::RawValue> {
    serde_json::value::RawValue::from_string(value.to_string()).unwrap()
}

/// A plugin folder for the Go plugin, with the contract it compiles beside
/// its manifest (inside its folder, where the kernel lets it read).
fn go_plugin(auto_mtls: bool) -> (tempfile::TempDir, Manifest) {
    let dir = tempfile::tempdir().unwrap();
    let proto = dir.path().join("plugin.proto");
    std::fs::copy(go::contract(), &proto).unwrap();
    let yaml = format!(
        "name: go-module\nruntime: grpc\ngrpc:\n  binary: {}\n  auto_mtls: {auto_mtls}\n  env: {{FLOWBOT_PLUGIN_PROTO: {}}}\n",
        go::built().join("goplugin").display(),
        proto.display()
    );
    std::fs::write(dir.path().join("plugin.yaml"), yaml).unwrap();
    let manifest = Manifest::from_file(dir.path()).unwrap();
    (dir, manifest)
}

async fn call(runner: &GrpcRunner, function: &str, params: Value) -> Value {
    let out = runner.call(function, &raw(&params)).await.unwrap();
    serde_json::from_str(out.get()).unwrap()
}

#[tokio::test]
async fn a_go_plugin_on_go_plugin_loads_in_our_host_with_and_without_automtls() {
    for auto_mtls in [false, true] {
        let (_dir, manifest) = go_plugin(auto_mtls);
        let data = tempfile::tempdir().unwrap();
        let policy = PermissionPolicy {
            confinement: Enforcement::Strict,
            ..PermissionPolicy::default()
        };
        let granted = HostGrants::new(policy)
            .with_data_dir(data.path())
            .grant(&manifest)
            .unwrap();
        let host = Arc::new(MemoryHost::new("go-module", json!({})));
        let runner = GrpcRunner::new(host.clone())
            .with_granted(granted)
            .with_start_timeout(Duration::from_secs(30));
        runner.load(&manifest).await.unwrap();
        let confinement = runner.confinement().unwrap();
        assert_eq!(confinement.missing().count(), 0, "{confinement:?}");
        runner.start(&json!({})).await.unwrap();

        let help = call(&runner, "help", json!(null)).await;
        assert_eq!(help["go"][0], "remember X - stores X in the host", "{help}");
        let tls = call(&runner, "command", json!({"context": {}, "content": "tls"})).await;
        assert_eq!(tls["text"], format!("automtls={auto_mtls}"), "{tls}");
        // A round trip through the host's KV, over go-plugin's broker (in
        // TLS too, when AutoMTLS is on).
        let memo = call(
            &runner,
            "command",
            json!({"context": {}, "content": "remember rust"}),
        )
        .await;
        assert_eq!(memo["text"], "the host holds rust", "{memo}");
        assert_eq!(host.kv()["memo"], b"rust");
        let ability = call(
            &runner,
            "ability_call",
            json!({"operation": "echo", "params": {"n": 1}}),
        )
        .await;
        assert_eq!(ability["text"], "go did echo", "{ability}");
        assert!(runner.health().await.unwrap().ready);
        runner.stop(Duration::from_secs(2)).await.unwrap();
    }
}

#[test]
fn our_sdk_plugin_runs_under_a_go_plugin_host_with_and_without_automtls() {
    let plugin = examples::built().host.join("hello-grpc");
    for flags in [&[][..], &["-automtls"][..]] {
        let output = std::process::Command::new(go::built().join("gohost"))
            .args(flags)
            .arg(&plugin)
            .env("FLOWBOT_PLUGIN_PROTO", go::contract())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{flags:?}: {stdout}");
        let line = |key: &str| -> Value {
            let text = stdout
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{key}=")))
                .unwrap_or_else(|| panic!("no {key} in {stdout}"));
            serde_json::from_str(text).unwrap()
        };
        assert_eq!(
            line("help")["hello"][0],
            "hello [name] - greets you",
            "{stdout}"
        );
        assert_eq!(line("command")["text"], "Hello, Go!", "{stdout}");
        assert_eq!(line("ability_call")["text"], "Hello, Gopher!", "{stdout}");
        assert_eq!(line("ready"), json!(true));
        assert_eq!(line("protocol"), json!(1));
    }
}
