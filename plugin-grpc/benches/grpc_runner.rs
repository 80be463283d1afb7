//! Benchmarks of the gRPC runner (`cargo bench -p plugin-grpc`), against the
//! `raw-grpc-plugin` test plugin (built by `cargo xtask examples`):
//! - `call_100b/runner`: `GrpcRunner::call("echo", ~100 B of JSON)`, which
//!   goes through the generic `Call` RPC;
//! - `call_100b/bare_tonic`: the same `Call` RPC to the same plugin process
//!   over the same unix socket with a bare tonic client: the floor;
//! - `cold_start/confined` and `cold_start/unconfined`: `load` (confine,
//!   spawn, handshake, connect, health, broker) + `start` (`Init`) + the
//!   first call, with the kernel's confinement (the private root included)
//!   and with the host's policy turning it off, AutoMTLS on (the default);
//!   `cold_start/confined_plain`: confined, with `auto_mtls: false`; `stop`
//!   is not timed;
//! - `sdk_call_100b/{unix,unix_mtls,tcp,tcp_mtls}`: the SDK example's `echo`
//!   over each transport, in the clear and with AutoMTLS.
//!
//! Set `RAW_PLUGIN=$PWD/target/release/raw-grpc-plugin` and
//! `HELLO_GRPC=$PWD/target/release/hello-grpc` (after `cargo build --release
//! -p raw-grpc-plugin -p hello-grpc`) to measure against optimised plugins.

#![allow(missing_docs, clippy::unwrap_used)]

#[path = "../../test-support/examples.rs"]
mod examples;

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use plugin_core::{HostGrants, Manifest, MemoryHost, Runner};
use plugin_grpc::GrpcRunner;
use plugin_types::PermissionPolicy;
use plugin_types::permissions::Enforcement;
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

/// A runner granted what `manifest` asks under the default policy with
/// confinement `enforcement`.
fn granted_runner(manifest: &Manifest, enforcement: Enforcement, data: &Path) -> GrpcRunner {
    let policy = PermissionPolicy {
        confinement: enforcement,
        ..PermissionPolicy::default()
    };
    let granted = HostGrants::new(policy)
        .with_data_dir(data)
        .grant(manifest)
        .unwrap();
    runner().with_granted(granted)
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
    let data = tempfile::tempdir().unwrap();
    let mut plain = fixture.manifest.clone();
    plain.grpc.as_mut().unwrap().auto_mtls = Some(false);
    for (name, enforcement, manifest) in [
        ("confined", Enforcement::Warn, &fixture.manifest),
        ("confined_plain", Enforcement::Warn, &plain),
        ("unconfined", Enforcement::Off, &fixture.manifest),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let runner = granted_runner(manifest, enforcement, data.path());
                        let start = Instant::now();
                        runner.load(manifest).await.unwrap();
                        runner.start(&json!({})).await.unwrap();
                        black_box(runner.call("echo", &params).await.unwrap());
                        total += start.elapsed();
                        runner.stop(Duration::from_secs(1)).await.unwrap();
                    }
                    total
                })
            });
        });
    }
    group.finish();
}

/// The SDK example's `echo` (~100 B) over unix and TCP, with and without
/// AutoMTLS.
fn sdk_calls(c: &mut Criterion) {
    use plugin_core::manifest::Transport;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    examples::built();
    let base =
        Manifest::from_file(&examples::workspace().join("examples/plugins/hello-grpc")).unwrap();
    let params = params();
    let mut group = c.benchmark_group("sdk_call_100b");
    for (name, transport, mtls) in [
        ("unix", Transport::Unix, false),
        ("unix_mtls", Transport::Unix, true),
        ("tcp", Transport::Tcp, false),
        ("tcp_mtls", Transport::Tcp, true),
    ] {
        let mut manifest = base.clone();
        let grpc = manifest.grpc.as_mut().unwrap();
        if let Some(binary) = std::env::var_os("HELLO_GRPC") {
            grpc.binary = binary.into();
        }
        grpc.transport = transport;
        grpc.auto_mtls = Some(mtls);
        let runner = GrpcRunner::new(Arc::new(MemoryHost::new("hello-grpc", json!({}))));
        rt.block_on(async {
            runner.load(&manifest).await.unwrap();
            runner.start(&json!({})).await.unwrap();
        });
        group.bench_function(name, |b| {
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
        rt.block_on(runner.stop(Duration::from_secs(1))).unwrap();
    }
    group.finish();
}

criterion_group!(benches, calls, cold_start, sdk_calls);
criterion_main!(benches);
