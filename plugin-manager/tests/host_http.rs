//! The default host's `http_request` against a real HTTP server on
//! loopback: the allowlist from the manifest holds on every redirect hop,
//! and the timeout and size cap apply.

#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::routing::get;
use plugin_core::{HostError, HostHttpRequest, Manifest};
use plugin_manager::host::{DefaultHost, HostServices, HttpOptions};
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
    let plugin = host
        .host_for(&manifest("[{host: 127.0.0.1}]"), &json!({}))
        .unwrap();
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
    let plugin = host.host_for(&manifest("[]"), &json!({})).unwrap();
    let err = plugin
        .http_request(get_request(format!("http://127.0.0.1:{port}/target")))
        .await
        .unwrap_err();
    assert!(matches!(err, HostError::PermissionDenied(_)), "{err}");
    assert_eq!(target_hits.load(Ordering::SeqCst), 0);
}
