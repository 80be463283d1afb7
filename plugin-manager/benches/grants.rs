//! The cost of the host's grant checks (`cargo bench -p plugin-manager
//! --bench grants`):
//! - `grant/fs_http_limits`: `HostGrants::grant` at load, for a manifest
//!   asking two folders (canonicalised), two HTTP hosts and its limits,
//!   under a policy with a filesystem grant and a private network;
//!
//! and of the address check on each request, one GET of a 5-byte body from
//! a loopback server, through a plugin's `http_request` (allowlist, address
//! rules on the IP literal or in the resolver, redirect policy, body cap)
//! and through a bare `reqwest` client with none of them, over a kept-alive
//! connection in both cases:
//! - `by_ip/checked` vs `by_ip/bare`: `http://127.0.0.1:PORT/`;
//! - `by_name/checked` vs `by_name/bare`: `http://localhost:PORT/`, resolved
//!   per new connection.

#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use plugin_core::{HostApi, HostGrants, HostHttpRequest, Manifest};
use plugin_manager::host::{DefaultHost, HostServices};
use plugin_types::PermissionPolicy;
use serde_json::json;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let port = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello" }));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        port
    });
    let data = tempfile::tempdir().unwrap();
    let host = DefaultHost::open(data.path()).unwrap();
    let manifest = Manifest::parse(
        "name: fetcher\nruntime: wasm\nwasm:\n  module: m.wasm\n  permissions:\n    http: [{host: '*'}]\n",
    )
    .unwrap();
    let policy: PermissionPolicy =
        serde_saphyr::from_str("plugins: {fetcher: {private_networks: [127.0.0.0/8, '::1/128']}}")
            .unwrap();
    let granted = HostGrants::new(policy).grant(&manifest).unwrap();
    let plugin: Arc<dyn HostApi> = host.host_for(&manifest, &json!({}), &granted).unwrap();
    let bare = reqwest::Client::new();

    let plugin_dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(plugin_dir.path().join("shelf")).unwrap();
    std::fs::write(
        plugin_dir.path().join("plugin.yaml"),
        "name: fetcher\nruntime: wasm\nwasm:\n  module: m.wasm\n  permissions:\n    filesystem: [{path: shelf}, {path: $DATA, mode: readwrite}]\n    http: [{host: api.example.com}, {host: '*.example.org'}]\n    memory: {max: 16MiB}\n",
    )
    .unwrap();
    let asking = Manifest::from_file(plugin_dir.path()).unwrap();
    let shared = tempfile::tempdir().unwrap();
    let policy: PermissionPolicy = serde_json::from_value(json!({
        "default": {"http": ["*.example.com", "*.example.org"], "memory": "64MiB"},
        "plugins": {"fetcher": {
            "filesystem": [{"path": shared.path()}],
            "private_networks": ["10.0.0.0/8"],
        }},
    }))
    .unwrap();
    let grants = HostGrants::new(policy).with_data_dir(data.path());
    c.bench_function("grant/fs_http_limits", |b| {
        b.iter(|| grants.grant(&asking).unwrap())
    });

    for (group, url) in [
        ("by_ip", format!("http://127.0.0.1:{port}/")),
        ("by_name", format!("http://localhost:{port}/")),
    ] {
        let mut g = c.benchmark_group(group);
        g.bench_function("checked", |b| {
            b.iter(|| {
                rt.block_on(plugin.http_request(HostHttpRequest {
                    method: "GET".into(),
                    url: url.clone(),
                    ..HostHttpRequest::default()
                }))
                .unwrap()
            })
        });
        g.bench_function("bare", |b| {
            b.iter(|| {
                rt.block_on(async { bare.get(&url).send().await.unwrap().bytes().await.unwrap() })
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
