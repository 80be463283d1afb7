//! The default host's `http_request` against a real HTTP server on
//! loopback: the allowlist from the manifest holds on every redirect hop,
//! addresses that are not public are refused unless the host's policy
//! grants their network (translated IPv6 forms judged by the IPv4 address
//! they reach), the timeout and size cap apply, and no header sends a
//! request to another virtual host than its URL's, whether asked directly
//! (as gRPC's `HostService` does) or by a wasm guest, each way it can.

#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;
use plugin_core::{
    HostApi, HostError, HostGrants, HostHttpRequest, HostHttpResponse, Manifest, Runner,
};
use plugin_manager::host::{DefaultHost, HostServices, HttpOptions};
use plugin_types::PermissionPolicy;
use plugin_wasm::{WasmEngine, WasmRunner};
use serde_json::value::RawValue;
use serde_json::{Value, json};

#[path = "../../test-support/examples.rs"]
mod examples;

/// Serves the test routes; returns the port and the hit counter of
/// `/target` (and of `/vhost` answering as the virtual host `B`).
///
/// `/vhost` is two virtual hosts on one address, as a reverse proxy routes
/// them: by `X-Forwarded-Host` when present, else by `Host`; `127.0.0.1`
/// is `A`, any other name is `B` (counted as a hit).
async fn server() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let target_hits = hits.clone();
    let vhost_hits = hits.clone();
    let redirect = |to: String| {
        move || {
            let to = to.clone();
            async move { (StatusCode::FOUND, [(header::LOCATION, to)]) }
        }
    };
    let app = Router::new()
        .route("/ok", get(|| async { ([("x-answer", "42")], "hello") }))
        .route("/big", get(|| async { vec![b'x'; 4096] }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .route(
            "/target",
            get(move || {
                target_hits.fetch_add(1, Ordering::SeqCst);
                async { "you should not be here" }
            }),
        )
        .route(
            "/vhost",
            get(move |headers: HeaderMap| {
                let named = headers
                    .get("x-forwarded-host")
                    .or_else(|| headers.get(header::HOST))
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let host = named.split(':').next().unwrap_or_default().to_owned();
                if host != "127.0.0.1" {
                    vhost_hits.fetch_add(1, Ordering::SeqCst);
                }
                async move {
                    if host == "127.0.0.1" {
                        "A".to_owned()
                    } else {
                        format!("B ({named})")
                    }
                }
            }),
        )
        .route(
            "/to-ok",
            get(redirect(format!("http://127.0.0.1:{port}/ok"))),
        )
        .route(
            "/to-other-host",
            get(redirect(format!("http://localhost:{port}/target"))),
        )
        .route(
            "/loop",
            get(redirect(format!("http://127.0.0.1:{port}/loop"))),
        )
        .route(
            "/to-port/{port}",
            get(
                |axum::extract::Path(port): axum::extract::Path<u16>| async move {
                    let to = format!("http://127.0.0.1:{port}/target");
                    (StatusCode::FOUND, [(header::LOCATION, to)])
                },
            ),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, hits)
}

fn manifest(http: &str) -> Manifest {
    Manifest::parse(&format!(
        "name: fetcher\nruntime: wasm\nwasm:\n  module: m.wasm\n  permissions:\n    http: {http}\n"
    ))
    .unwrap()
}

/// The plugin `fetcher` asking for `http`, as the host grants it under
/// `policy` (YAML of the `permissions:` section).
fn plugin_on(host: &DefaultHost, http: &str, policy: &str) -> Arc<dyn HostApi> {
    let manifest = manifest(http);
    let policy: PermissionPolicy = serde_saphyr::from_str(policy).unwrap();
    let granted = HostGrants::new(policy).grant(&manifest).unwrap();
    host.host_for(&manifest, &json!({}), &granted).unwrap()
}

/// Loopback granted, as a test against a local server needs.
const LOOPBACK: &str = "plugins: {fetcher: {private_networks: [127.0.0.0/8, '::1/128']}}";

fn get_request(url: String) -> HostHttpRequest {
    HostHttpRequest {
        method: "GET".into(),
        url,
        ..HostHttpRequest::default()
    }
}

#[tokio::test]
async fn the_allowlist_holds_on_every_hop() {
    let (port, target_hits) = server().await;
    let data = tempfile::tempdir().unwrap();
    let host = DefaultHost::open(data.path())
        .unwrap()
        .with_http_options(HttpOptions {
            timeout: Duration::from_millis(500),
            max_response_bytes: 1000,
            max_redirects: 3,
            ..HttpOptions::default()
        });
    let plugin = plugin_on(&host, "[{host: 127.0.0.1}]", LOOPBACK);
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");

    let response = plugin.http_request(get_request(url("/ok"))).await.unwrap();
    assert_eq!(
        (response.status, response.body.as_slice()),
        (200, &b"hello"[..])
    );
    assert_eq!(response.headers["x-answer"], "42");

    // A redirect within the allowlist is followed...
    let response = plugin
        .http_request(get_request(url("/to-ok")))
        .await
        .unwrap();
    assert_eq!(response.body, b"hello");
    // ...one to a host off the list is refused before it is contacted.
    let err = plugin
        .http_request(get_request(url("/to-other-host")))
        .await
        .unwrap_err();
    assert!(matches!(err, HostError::PermissionDenied(_)), "{err}");
    assert!(err.to_string().contains("localhost"), "{err}");
    assert_eq!(
        target_hits.load(Ordering::SeqCst),
        0,
        "the refused hop was contacted"
    );

    // The first URL is checked too.
    let err = plugin
        .http_request(get_request(format!("http://localhost:{port}/target")))
        .await
        .unwrap_err();
    assert!(matches!(err, HostError::PermissionDenied(_)), "{err}");
    assert_eq!(target_hits.load(Ordering::SeqCst), 0);

    // Limits: redirects, size, time.
    let err = plugin
        .http_request(get_request(url("/loop")))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("more than 3 redirects"), "{err}");
    let err = plugin
        .http_request(get_request(url("/big")))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("larger than 1000 bytes"), "{err}");
    let err = plugin
        .http_request(get_request(url("/slow")))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("timed out"), "{err}");

    let err = plugin
        .http_request(HostHttpRequest {
            method: "BAD METHOD".into(),
            ..get_request(url("/ok"))
        })
        .await
        .unwrap_err();
    assert!(matches!(err, HostError::InvalidRequest(_)), "{err}");
}

#[tokio::test]
async fn no_allowlist_means_no_http() {
    let (port, target_hits) = server().await;
    let data = tempfile::tempdir().unwrap();
    let host = DefaultHost::open(data.path()).unwrap();
    let plugin = plugin_on(&host, "[]", LOOPBACK);
    let err = plugin
        .http_request(get_request(format!("http://127.0.0.1:{port}/target")))
        .await
        .unwrap_err();
    assert!(matches!(err, HostError::PermissionDenied(_)), "{err}");
    assert_eq!(target_hits.load(Ordering::SeqCst), 0);
}

/// Every way of writing an address of this machine, or of the network
/// around it, is refused when no network is granted, and nothing is sent.
#[tokio::test]
async fn non_public_addresses_are_refused_in_every_spelling() {
    let (port, target_hits) = server().await;
    let data = tempfile::tempdir().unwrap();
    let host = DefaultHost::open(data.path()).unwrap();
    let plugin = plugin_on(&host, "[{host: '*'}]", "{}");
    for target in [
        format!("http://127.0.0.1:{port}/target"),
        format!("http://localhost:{port}/target"),
        format!("http://LocalHost:{port}/target"),
        format!("http://[::1]:{port}/target"),
        format!("http://0x7f000001:{port}/target"),
        format!("http://2130706433:{port}/target"),
        format!("http://0177.0.0.1:{port}/target"),
        format!("http://127.1:{port}/target"),
        format!("http://[::ffff:127.0.0.1]:{port}/target"),
        format!("http://[::ffff:7f00:1]:{port}/target"),
        format!("http://0.0.0.0:{port}/target"),
        // Translated forms, judged by the IPv4 address they reach.
        format!("http://[::ffff:0:7f00:1]:{port}/target"),
        format!("http://[64:ff9b::7f00:1]:{port}/target"),
        format!("http://[64:ff9b:1::7f00:1]:{port}/target"),
        format!("http://[2002:7f00:1::]:{port}/target"),
        format!("http://[2001::80ff:fffe]:{port}/target"),
        "http://[2002:a9fe:a9fe::]/latest/meta-data/".to_owned(),
        "http://198.18.0.1/".to_owned(),
        "http://192.0.0.8/".to_owned(),
        "http://[2001:db8::1]/".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.0.0.1/".to_owned(),
        "http://192.168.0.1/".to_owned(),
        "http://[fe80::1]/".to_owned(),
        "http://[fd00::1]/".to_owned(),
    ] {
        let err = plugin
            .http_request(get_request(target.clone()))
            .await
            .unwrap_err();
        assert!(
            matches!(err, HostError::PermissionDenied(_)),
            "{target}: {err}"
        );
        assert!(
            err.to_string()
                .contains("plugins.permissions.plugins.fetcher.private_networks"),
            "{target}: the refusal names the setting: {err}"
        );
    }
    assert_eq!(target_hits.load(Ordering::SeqCst), 0, "nothing was sent");
}

/// A granted network opens just that network: loopback reached by name and
/// by number, while 169.254.169.254 stays closed.
#[tokio::test]
async fn a_granted_network_opens_only_itself() {
    let (port, _) = server().await;
    let data = tempfile::tempdir().unwrap();
    let host = DefaultHost::open(data.path()).unwrap();
    let plugin = plugin_on(&host, "[{host: '*'}]", LOOPBACK);
    for url in [
        format!("http://127.0.0.1:{port}/ok"),
        format!("http://localhost:{port}/ok"),
    ] {
        let response = plugin.http_request(get_request(url)).await.unwrap();
        assert_eq!(response.body, b"hello");
    }
    let err = plugin
        .http_request(get_request("http://169.254.169.254/".into()))
        .await
        .unwrap_err();
    assert!(matches!(err, HostError::PermissionDenied(_)), "{err}");
}

/// The policy grants one loopback server (scheme, host and port); that
/// server redirects to another loopback port the policy does not grant: the
/// hop is refused and the second server never contacted.
#[tokio::test]
async fn a_granted_server_cannot_redirect_to_an_ungranted_port() {
    let (granted_port, _) = server().await;
    let (other_port, other_hits) = server().await;
    let data = tempfile::tempdir().unwrap();
    let host = DefaultHost::open(data.path()).unwrap();
    let policy = format!(
        "default: {{http: []}}\nplugins: {{fetcher: {{http: [{{host: 127.0.0.1, scheme: http, port: {granted_port}}}], private_networks: [127.0.0.0/8]}}}}"
    );
    let plugin = plugin_on(
        &host,
        &format!("[{{host: 127.0.0.1, scheme: http, port: {granted_port}}}]"),
        &policy,
    );
    let ok = plugin
        .http_request(get_request(format!("http://127.0.0.1:{granted_port}/ok")))
        .await
        .unwrap();
    assert_eq!(ok.body, b"hello");
    let err = plugin
        .http_request(get_request(format!(
            "http://127.0.0.1:{granted_port}/to-port/{other_port}"
        )))
        .await
        .unwrap_err();
    assert!(matches!(err, HostError::PermissionDenied(_)), "{err}");
    assert_eq!(
        other_hits.load(Ordering::SeqCst),
        0,
        "the hop was contacted"
    );
    // And straight to it: refused as well.
    let err = plugin
        .http_request(get_request(format!("http://127.0.0.1:{other_port}/target")))
        .await
        .unwrap_err();
    assert!(matches!(err, HostError::PermissionDenied(_)), "{err}");
    assert_eq!(other_hits.load(Ordering::SeqCst), 0);
}

/// `request` with these headers.
fn with_headers(request: HostHttpRequest, headers: &[(&str, &str)]) -> HostHttpRequest {
    HostHttpRequest {
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        ..request
    }
}

/// Headers that would send a request granted for `127.0.0.1` to the
/// virtual host `B` (or take over the connection to do so).
const RETARGETING: &[(&str, &str)] = &[
    ("Host", "secret.internal"),
    ("host", "secret.internal"),
    ("HOST", "secret.internal:80"),
    (":authority", "secret.internal"),
    ("X-Forwarded-Host", "secret.internal"),
    ("Forwarded", "host=secret.internal"),
    ("Connection", "close, Host"),
    ("Upgrade", "h2c"),
    ("Transfer-Encoding", "chunked"),
    ("Content-Length", "1"),
];

/// The host's HTTP service (what gRPC's `HostService.HttpRequest` hands a
/// process plugin's request to): a plugin granted `127.0.0.1` that names
/// another virtual host in a header is refused, naming the header and the
/// plugin, and `B` is never reached; the same request without it reaches
/// `A`.
#[tokio::test]
async fn a_header_never_sends_a_request_to_another_virtual_host() {
    let (port, hits) = server().await;
    let data = tempfile::tempdir().unwrap();
    let host = DefaultHost::open(data.path()).unwrap();
    let plugin = plugin_on(&host, "[{host: 127.0.0.1}]", LOOPBACK);
    let vhost = get_request(format!("http://127.0.0.1:{port}/vhost"));
    let a = plugin.http_request(vhost.clone()).await.unwrap();
    assert_eq!(a.body, b"A");
    for &(name, value) in RETARGETING {
        let err = plugin
            .http_request(with_headers(
                vhost.clone(),
                &[("Accept", "*/*"), (name, value)],
            ))
            .await
            .unwrap_err();
        assert!(
            matches!(err, HostError::PermissionDenied(_)),
            "{name}: {err}"
        );
        assert!(
            err.to_string().contains(&format!(
                "plugin fetcher may not set the request header {name:?}"
            )),
            "{name}: {err}"
        );
    }
    let err = plugin
        .http_request(HostHttpRequest {
            method: "CONNECT".into(),
            ..vhost.clone()
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("CONNECT"), "{err}");
    assert_eq!(hits.load(Ordering::SeqCst), 0, "B was reached");
    // Ordinary headers, and a true length, go through.
    let a = plugin
        .http_request(with_headers(
            vhost,
            &[
                ("Accept", "text/plain"),
                ("Content-Length", "0"),
                ("X-Request-Id", "7"),
            ],
        ))
        .await
        .unwrap();
    assert_eq!(a.body, b"A");
}

/// Plugin `fetcher`, a wasm guest (`module`, copied into its folder),
/// asking `http`, on the default host under `policy`, started.
async fn guest_on(
    host: &DefaultHost,
    module: &std::path::Path,
    http: &str,
    policy: &str,
) -> (WasmRunner, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = module.file_name().unwrap().to_string_lossy().into_owned();
    std::fs::copy(module, dir.path().join(&file)).unwrap();
    std::fs::write(
        dir.path().join("plugin.yaml"),
        format!(
            "name: fetcher\nruntime: wasm\nwasm:\n  module: {file}\n  permissions:\n    http: {http}\n"
        ),
    )
    .unwrap();
    let manifest = Manifest::from_file(dir.path()).unwrap();
    let policy: PermissionPolicy = serde_saphyr::from_str(policy).unwrap();
    let granted = HostGrants::new(policy).grant(&manifest).unwrap();
    let api = host.host_for(&manifest, &json!({}), &granted).unwrap();
    let runner = WasmRunner::new(WasmEngine::new().unwrap(), api).with_granted(granted);
    runner.load(&manifest).await.unwrap();
    runner.start(&json!({})).await.unwrap();
    (runner, dir)
}

/// The core ABI guest of the runner's tests (its `http` hands the params,
/// an HTTP request, to `http_request`).
fn abi_guest(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("guest.wat");
    std::fs::write(
        &path,
        include_str!("../../plugin-wasm/tests/guests/abi.wat"),
    )
    .unwrap();
    path
}

async fn call(runner: &WasmRunner, function: &str, params: Value) -> Result<Value, String> {
    let params = RawValue::from_string(params.to_string()).unwrap();
    match runner.call(function, &params).await {
        Ok(out) => Ok(serde_json::from_str(out.get()).unwrap()),
        Err(e) => Err(e.to_string()),
    }
}

/// A wasm guest granted `127.0.0.1` cannot reach the virtual host `B` on
/// the same address by naming it in a header, whichever way it asks: the
/// core ABI's `http_request`, the world's `fetch`, `wasi:http` (where a
/// component cannot even set such a header: `header-error::forbidden`). Without the
/// header, each reaches `A`.
#[tokio::test]
async fn guests_cannot_reach_another_virtual_host_by_any_path() {
    let (port, hits) = server().await;
    let data = tempfile::tempdir().unwrap();
    let host = DefaultHost::open(data.path()).unwrap();
    let url = format!("http://127.0.0.1:{port}/vhost");
    let granted = "[{host: 127.0.0.1}]";

    // The core ABI.
    let scratch = tempfile::tempdir().unwrap();
    let (core, _dir) = guest_on(&host, &abi_guest(scratch.path()), granted, LOOPBACK).await;
    let answer = call(&core, "http", json!({"method": "GET", "url": url}))
        .await
        .unwrap();
    let answer: HostHttpResponse = serde_json::from_value(answer).unwrap();
    assert_eq!(answer.body, b"A");
    for &(name, value) in RETARGETING {
        let request = json!({"method": "GET", "url": url, "headers": {name: value}});
        let err = call(&core, "http", request).await.unwrap_err();
        assert!(
            err.contains(&format!(
                "permission denied: plugin fetcher may not set the request header {name:?}"
            )),
            "core ABI, {name}: {err}"
        );
    }

    // A component: the world's `fetch`, and `wasi:http`.
    let component = examples::built().components.join("hostile_component.wasm");
    let (guest, _dir) = guest_on(&host, &component, granted, LOOPBACK).await;
    let ask = |headers: Value| json!({"url": url, "headers": headers});
    let a = call(&guest, "fetch_as", ask(json!([]))).await.unwrap();
    assert_eq!(a, "A");
    for &(name, value) in RETARGETING {
        let err = call(&guest, "fetch_as", ask(json!([[name, value]])))
            .await
            .unwrap_err();
        assert!(
            err.contains(&format!(
                "plugin fetcher may not set the request header {name:?}"
            )),
            "fetch, {name}: {err}"
        );
    }
    let authority = format!("127.0.0.1:{port}/vhost");
    let wasi = |headers: Value| json!({"url": authority, "headers": headers});
    let a = call(&guest, "wasi_fetch_as", wasi(json!([])))
        .await
        .unwrap();
    assert_eq!(a, "A");
    for &(name, value) in RETARGETING {
        if name.starts_with(':') || name == "Content-Length" {
            // Not a header name to `wasi:http`; a length wasmtime checks.
            continue;
        }
        let err = call(&guest, "wasi_fetch_as", wasi(json!([[name, value]])))
            .await
            .unwrap_err();
        assert!(
            err.contains("headers: HeaderError::Forbidden"),
            "wasi:http, {name}: {err}"
        );
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "B was reached");
}

/// A guest allowed every host but granted no private network asks for
/// loopback in a translated IPv6 form (6to4, NAT64, Teredo): refused as the
/// IPv4 address it reaches, naming the setting.
#[tokio::test]
async fn a_guest_cannot_reach_loopback_through_a_translated_address() {
    let (port, hits) = server().await;
    let data = tempfile::tempdir().unwrap();
    let host = DefaultHost::open(data.path()).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let (core, _dir) = guest_on(&host, &abi_guest(scratch.path()), "[{host: '*'}]", "{}").await;
    for (address, form) in [
        ("[2002:7f00:1::]", "a 6to4 address reaching 127.0.0.1"),
        ("[64:ff9b::7f00:1]", "a NAT64 address reaching 127.0.0.1"),
        ("[2001::80ff:fffe]", "a Teredo address reaching 127.0.0.1"),
    ] {
        let url = format!("http://{address}:{port}/target");
        let err = call(&core, "http", json!({"method": "GET", "url": url}))
            .await
            .unwrap_err();
        assert!(
            err.contains(form)
                && err.contains("127.0.0.1 is a loopback address")
                && err.contains("plugins.permissions.plugins.fetcher.private_networks"),
            "{address}: {err}"
        );
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}
