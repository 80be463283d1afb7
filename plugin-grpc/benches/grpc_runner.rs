//! Benchmarks of the gRPC runner (`cargo bench -p plugin-grpc`), against the
//! `raw-grpc-plugin` test plugin (built by `cargo xtask examples`):
//! - `call_100b/runner`: `GrpcRunner::call("echo", ~100 B of JSON)`, which
//!   goes through the generic `Call` RPC;
//! - `call_100b/bare_tonic`: the same `Call` RPC to the same plugin process
//!   over the same unix socket with a bare tonic client: the floor;
//! - `cold_start/spawn_to_first_response`: `load` (spawn, handshake, connect,
//!   health, broker) + `start` (`Init`) + the first call; `stop` is not
//!   timed.
//!
//! Set `RAW_PLUGIN=target/release/raw-grpc-plugin` (after `cargo build
//! --release -p raw-grpc-plugin`) to measure against an optimised plugin.

#![allow(missing_docs, clippy::unwrap_used)]

#[path = "../../test-support/examples.rs"]
mod examples;

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use plugin_core::{Manifest, MemoryHost, Runner};
use plugin_grpc::GrpcRunner;
use proto::flowbot::plugin as pb;
use proto::handshake::{self, HandshakeLine};
use serde_json::json;
use serde_json::value::RawValue;
use tokio::io::AsyncBufReadExt as _;

/// The plugin executable: `$RAW_PLUGIN` (say, a release build), else the
/// debug build `cargo xtask examples` makes.
fn plugin_binary() -> PathBuf {
    std::env::var_os("RAW_PLUGIN").map_or_else(
        || examples::built().host.join("raw-grpc-plugin"),
        PathBuf::from,
    )
}

fn params() -> Box<RawValue> {
    let text = json!({"user": "ada", "text": "hello there, this message is about a hundred bytes long", "n": [1, 2, 3, 4, 5, 6]}).to_string();
    assert!((90..=110).contains(&text.len()), "{}", text.len());
    RawValue::from_string(text).unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    manifest: Manifest,
}

fn fixture() -> Fixture {
    let binary = plugin_binary();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("plugin.yaml"),
        format!(
            "name: raw\nruntime: grpc\ngrpc: {{binary: {}}}\n",
            binary.display()
        ),
    )
    .unwrap();
    let manifest = Manifest::from_file(dir.path()).unwrap();
    Fixture {
        _dir: dir,
        manifest,
    }
}

fn runner() -> GrpcRunner {
    GrpcRunner::new(Arc::new(MemoryHost::new("raw", json!({}))))
}

/// Starts the plugin by hand (no runner) and returns a bare tonic client.
async fn bare_client(
    binary: &std::path::Path,
    socket_dir: &std::path::Path,
) -> (
    tokio::process::Child,
    pb::plugin_service_client::PluginServiceClient<tonic::transport::Channel>,
) {
    let mut child = tokio::process::Command::new(binary)
        .env(handshake::MAGIC_COOKIE_KEY, handshake::MAGIC_COOKIE_VALUE)
        .env(handshake::ENV_UNIX_SOCKET_DIR, socket_dir)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line: HandshakeLine = lines.next_line().await.unwrap().unwrap().parse().unwrap();
    let channel = proto::transport::connect(line.network, &line.address, None)
        .await
        .unwrap();
    (
        child,
        pb::plugin_service_client::PluginServiceClient::new(channel),
    )
}

fn calls(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let fixture = fixture();
    let runner = runner();
    rt.block_on(async {
        runner.load(&fixture.manifest).await.unwrap();
        runner.start(&json!({})).await.unwrap();
    });
    let params = params();
    let mut group = c.benchmark_group("call_100b");
    group.bench_function("runner", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(runner.call("echo", &params).await.unwrap());
                }
                start.elapsed()
            })
        });
    });

    let socket_dir = tempfile::tempdir().unwrap();
    let binary = plugin_binary();
    let (_child, client) = rt.block_on(bare_client(&binary, socket_dir.path()));
    group.bench_function("bare_tonic", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let request = pb::FunctionCallRequest {
                        function: "echo".to_owned(),
                        params: params.get().to_owned(),
                    };
                    black_box(client.clone().call(request).await.unwrap());
                }
                start.elapsed()
            })
        });
    });
    group.finish();
    rt.block_on(runner.stop(Duration::from_secs(1))).unwrap();
}

fn cold_start(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let fixture = fixture();
    let params = params();
    let mut group = c.benchmark_group("cold_start");
    group.sample_size(30);
    group.bench_function("spawn_to_first_response", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let runner = runner();
                    let start = Instant::now();
                    runner.load(&fixture.manifest).await.unwrap();
                    runner.start(&json!({})).await.unwrap();
                    black_box(runner.call("echo", &params).await.unwrap());
                    total += start.elapsed();
                    runner.stop(Duration::from_secs(1)).await.unwrap();
                }
                total
            })
        });
    });
    group.finish();
}

criterion_group!(benches, calls, cold_start);
criterion_main!(benches);
