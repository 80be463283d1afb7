//! The default host's `http_request` against a real HTTP server on
//! loopback: the allowlist from the manifest holds on every redirect hop,
//! addresses that are not public are refused unless the host's policy
//! grants their network, and the timeout and size cap apply.

#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::routing::get;
use plugin_core::{HostApi, HostError, HostGrants, HostHttpRequest, Manifest};
use plugin_manager::host::{DefaultHost, HostServices, HttpOptions};
use plugin_types::PermissionPolicy;
use serde_json::json;

/// Serves the test routes; returns the port and the hit counter of
/// `/target`.
async fn server() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let target_hits = hits.clone();
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
