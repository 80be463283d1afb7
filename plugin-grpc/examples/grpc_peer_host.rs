//! Our side of the gRPC peer bench (issue 15): `GrpcRunner` on tokio's
//! multi-thread runtime, calling a plugin's `AbilityCall` and speaking the
//! same line protocol as its twin on go-plugin's own host
//! (`plugin-grpc/tests/go/gobench`). `cargo xtask peer-grpc` builds both and
//! the Go plugin, and runs them round by round.
//!
//! Started as `grpc_peer_host BINARY` (with `FLOWBOT_PLUGIN_PROTO` naming
//! `plugin.proto`, which is copied into the plugin's folder, where the
//! confined plugin may read it), it prints `ready <µs to first answer>`, then
//! answers one line per command:
//! - `call N`: N sequential calls; `p50 p99` in ns;
//! - `par4 N`: four tasks, N calls each, on the one runner; calls per second;
//! - `spawn K`: K times, a fresh plugin through `load`, `start` (`Init`) and
//!   its first call, under the default policy (confined); µs each;
//! - `spawnu K`: the same with the policy's `confinement: off`.

#![allow(clippy::unwrap_used, clippy::print_stdout)] // a measuring tool

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use plugin_core::{HostGrants, Manifest, MemoryHost, Runner};
use plugin_grpc::GrpcRunner;
use plugin_types::PermissionPolicy;
use plugin_types::permissions::Enforcement;
use serde_json::json;
use serde_json::value::RawValue;

/// The bench's payload (85 bytes), the same as the wasm bench's.
const PARAMS: &str =
    r#"{"user":"u-123456","channel":"c-98765","text":"hello there, plugin","n":42,"ok":true}"#;

/// The plugin's folder: its manifest and the contract it compiles.
fn plugin_dir(binary: &Path) -> (tempfile::TempDir, Manifest) {
    let dir = tempfile::tempdir().unwrap();
    let proto = dir.path().join("plugin.proto");
    let source = std::env::var_os("FLOWBOT_PLUGIN_PROTO").expect("set FLOWBOT_PLUGIN_PROTO");
    std::fs::copy(source, &proto).unwrap();
    std::fs::write(
        dir.path().join("plugin.yaml"),
        format!(
            "name: peer\nruntime: grpc\ngrpc:\n  binary: {}\n  env: {{FLOWBOT_PLUGIN_PROTO: {}}}\n",
            binary.display(),
            proto.display()
        ),
    )
    .unwrap();
    let manifest = Manifest::from_file(dir.path()).unwrap();
    (dir, manifest)
}

/// A started plugin, answering; `confined` under the default policy, else
/// with the host's policy turning confinement off (the floor the kernel's
/// confinement adds to).
async fn start(manifest: &Manifest, params: &RawValue, confined: bool) -> GrpcRunner {
    let mut runner = GrpcRunner::new(Arc::new(MemoryHost::new("peer", json!({}))));
    if !confined {
        let policy = PermissionPolicy {
            confinement: Enforcement::Off,
            ..PermissionPolicy::default()
        };
        runner = runner.with_granted(HostGrants::new(policy).grant(manifest).unwrap());
    }
    runner.load(manifest).await.unwrap();
    runner.start(&json!({})).await.unwrap();
    runner.call("ability_call", params).await.unwrap();
    runner
}

fn main() {
    let binary = PathBuf::from(
        std::env::args()
            .nth(1)
            .expect("usage: grpc_peer_host BINARY"),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let params: Box<RawValue> = RawValue::from_string(
        json!({"operation": "echo", "params": RawValue::from_string(PARAMS.to_owned()).unwrap()})
            .to_string(),
    )
    .unwrap();
    let (_dir, manifest) = plugin_dir(&binary);
    let began = Instant::now();
    let runner = Arc::new(runtime.block_on(start(&manifest, &params, true)));
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready {:.0}", began.elapsed().as_secs_f64() * 1e6).unwrap();
    out.flush().unwrap();

    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        let (command, n) = line.split_once(' ').expect("a line is `COMMAND N`");
        let n: usize = n.trim().parse().expect("N is a count");
        let answer = match command {
            // On a worker, as a host's calls come from its tasks.
            "call" => runtime
                .block_on(runtime.spawn({
                    let runner = Arc::clone(&runner);
                    let params = params.clone();
                    async move {
                        let mut times = Vec::with_capacity(n);
                        for _ in 0..n {
                            let t = Instant::now();
                            runner.call("ability_call", &params).await.unwrap();
                            times.push(t.elapsed());
                        }
                        times.sort();
                        format!(
                            "{} {}",
                            times[n / 2].as_nanos(),
                            times[n * 99 / 100].as_nanos()
                        )
                    }
                }))
                .unwrap(),
            "par4" => runtime.block_on(async {
                let t = Instant::now();
                let tasks: Vec<_> = (0..4)
                    .map(|_| {
                        let runner = Arc::clone(&runner);
                        let params = params.clone();
                        tokio::spawn(async move {
                            for _ in 0..n {
                                runner.call("ability_call", &params).await.unwrap();
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
                format!("{:.0}", (4 * n) as f64 / t.elapsed().as_secs_f64())
            }),
            "spawn" | "spawnu" => runtime.block_on(async {
                let mut values = Vec::with_capacity(n);
                for _ in 0..n {
                    let t = Instant::now();
                    let fresh = start(&manifest, &params, command == "spawn").await;
                    values.push(format!("{:.0}", t.elapsed().as_secs_f64() * 1e6));
                    fresh.stop(Duration::from_secs(1)).await.unwrap();
                }
                values.join(" ")
            }),
            other => panic!("unknown command {other}"),
        };
        writeln!(out, "{answer}").unwrap();
        out.flush().unwrap();
    }
    runtime
        .block_on(runner.stop(Duration::from_secs(1)))
        .unwrap();
}
