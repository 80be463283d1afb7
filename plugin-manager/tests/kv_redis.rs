//! The default host's KV on Redis (`plugins.kv.backend: redis`), against a
//! real `redis-server` each test starts on a free loopback port: the same
//! per-plugin namespaces as redb, the quota exact with two hosts writing at
//! once, bounded failures naming the backend while Redis is down (other
//! host calls unaffected), recovery without restarting the host when it is
//! back, and a password that never shows.

#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use plugin_core::{HostApi, HostError, HostGrants, Manifest};
use plugin_manager::host::{DefaultHost, HostServices, KvLimits};
use plugin_types::{KvBackendKind, KvSettings, PermissionPolicy};
use serde_json::{Value, json};

#[path = "../../test-support/examples.rs"]
mod examples;
#[path = "../../test-support/plugin_dirs.rs"]
mod plugin_dirs;

/// A `redis-server` on loopback, killed when dropped.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    /// Starts one on a free port, keeping its append-only file in `dir`.
    fn start(dir: &Path, extra: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start_on(dir, port, extra)
    }

    /// Starts one on `port` (again, after [`Redis::kill`]).
    fn start_on(dir: &Path, port: u16, extra: &[&str]) -> Self {
        let port_arg = port.to_string();
        Self::spawn(dir, port, &[&["--port", &port_arg], extra].concat())
    }

    /// Starts one serving TLS only, on a free port, with the certificates
    /// `certs` wrote.
    fn start_tls(dir: &Path, certs: &Certs, extra: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let path = |name: &str| certs.dir.join(name).to_str().unwrap().to_owned();
        let (cert, key, ca) = (path("server.pem"), path("server.key"), path("ca.pem"));
        let port_arg = port.to_string();
        let args = [
            &["--port", "0", "--tls-port", &port_arg][..],
            &["--tls-cert-file", &cert, "--tls-key-file", &key],
            &["--tls-ca-cert-file", &ca],
            extra,
        ]
        .concat();
        Self::spawn(dir, port, &args)
    }

    fn spawn(dir: &Path, port: u16, args: &[&str]) -> Self {
        let child = Command::new("redis-server")
            .args(args)
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run redis-server ({e}): install it (Debian: apt-get install -y redis-server)"
                )
            });
        let mut redis = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = redis.child.try_wait().unwrap() {
                panic!("redis-server on port {port} exited: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {port} did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        redis
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn settings(url: String) -> KvSettings {
    KvSettings {
        backend: KvBackendKind::Redis,
        url: Some(url),
        prefix: "test:".into(),
        timeout: Duration::from_millis(500),
        ..KvSettings::default()
    }
}

async fn host(settings: &KvSettings, data: &Path) -> DefaultHost {
    DefaultHost::open_with(data, settings).await.unwrap()
}

/// The services `host` gives the plugin `name` (configured `greeting: hi`).
fn plugin(host: &DefaultHost, name: &str) -> Arc<dyn HostApi> {
    let manifest = Manifest::parse(&format!(
        "name: {name}\nruntime: wasm\nwasm:\n  module: m.wasm\n"
    ))
    .unwrap();
    let granted = HostGrants::new(PermissionPolicy::default())
        .grant(&manifest)
        .unwrap();
    host.host_for(&manifest, &json!({"greeting": "hi"}), &granted)
        .unwrap()
}

#[tokio::test]
async fn each_plugin_has_its_own_namespace_shared_by_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let redis = Redis::start(dir.path(), &[]);
    let a = host(&settings(redis.url()), dir.path()).await;
    let b = host(&settings(redis.url()), dir.path()).await;
    let (one_a, two_a) = (plugin(&a, "one"), plugin(&a, "two"));
    let one_b = plugin(&b, "one");

    assert_eq!(one_a.kv_get("k").await.unwrap(), None);
    one_a.kv_set("k", b"1").await.unwrap();
    two_a.kv_set("k", b"2").await.unwrap();
    assert_eq!(one_a.kv_get("k").await.unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(two_a.kv_get("k").await.unwrap().as_deref(), Some(&b"2"[..]));
    // The same plugin on another host sees the same value.
    assert_eq!(one_b.kv_get("k").await.unwrap().as_deref(), Some(&b"1"[..]));
    one_b.kv_delete("k").await.unwrap();
    one_b.kv_delete("k").await.unwrap();
    assert_eq!(one_a.kv_get("k").await.unwrap(), None);
    assert_eq!(two_a.kv_get("k").await.unwrap().as_deref(), Some(&b"2"[..]));

    // Another deployment (prefix) on the same Redis sees none of it.
    let other = host(
        &KvSettings {
            prefix: "other:".into(),
            ..settings(redis.url())
        },
        dir.path(),
    )
    .await;
    assert_eq!(plugin(&other, "two").kv_get("k").await.unwrap(), None);

    // The key and value limits are the same as on redb.
    let limited = a.clone().with_kv_limits(KvLimits {
        max_key_bytes: 4,
        max_value_bytes: 4,
        max_plugin_bytes: 100,
    });
    let p = plugin(&limited, "one");
    let err = p.kv_set("12345", b"v").await.unwrap_err();
    assert!(
        matches!(&err, HostError::InvalidRequest(m) if m.contains("KV key of 5B is over the limit of 4B")),
        "{err}"
    );
    let err = p.kv_set("k", b"12345").await.unwrap_err();
    assert!(
        matches!(&err, HostError::InvalidRequest(m) if m.contains("value")),
        "{err}"
    );
}

#[tokio::test]
async fn the_quota_holds_exactly_with_two_hosts_writing_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let redis = Redis::start(dir.path(), &[]);
    let limits = KvLimits {
        max_plugin_bytes: 250,
        ..KvLimits::default()
    };
    let a = host(&settings(redis.url()), dir.path())
        .await
        .with_kv_limits(limits);
    let b = host(&settings(redis.url()), dir.path())
        .await
        .with_kv_limits(limits);
    let (pa, pb) = (plugin(&a, "counter"), plugin(&b, "counter"));

    // 50 writes of 10 bytes each (3-byte key, 7-byte value) race to a
    // 250-byte quota from two hosts: exactly 25 fit.
    let mut writes = tokio::task::JoinSet::new();
    for i in 0..50 {
        let p = if i % 2 == 0 { pa.clone() } else { pb.clone() };
        writes.spawn(async move {
            let key = format!("k{i:02}");
            let result = p.kv_set(&key, b"1234567").await;
            (key, result)
        });
    }
    let mut acknowledged = Vec::new();
    let mut refused = Vec::new();
    while let Some(done) = writes.join_next().await {
        let (key, result) = done.unwrap();
        match result {
            Ok(()) => acknowledged.push(key),
            Err(HostError::PermissionDenied(m)) => {
                assert!(m.contains("KV quota of 250B for plugin counter"), "{m}");
                refused.push(key);
            }
            Err(other) => panic!("{key}: {other}"),
        }
    }
    assert_eq!(acknowledged.len(), 25, "refused: {refused:?}");
    assert_eq!(a.kv().usage("counter").await.unwrap(), 250);
    for key in &acknowledged {
        assert_eq!(
            pb.kv_get(key).await.unwrap().as_deref(),
            Some(&b"1234567"[..]),
            "{key}"
        );
    }
    for key in &refused {
        assert_eq!(pa.kv_get(key).await.unwrap(), None, "{key}");
    }
    // Overwriting counts the difference; deleting gives the room back.
    let first = &acknowledged[0];
    pa.kv_set(first, b"1").await.unwrap();
    assert_eq!(b.kv().usage("counter").await.unwrap(), 244);
    pb.kv_delete(first).await.unwrap();
    assert_eq!(a.kv().usage("counter").await.unwrap(), 240);
}

#[tokio::test]
async fn redis_down_fails_kv_calls_in_time_and_recovery_needs_no_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut redis = Redis::start(dir.path(), &[]);
    let port = redis.port;
    let host = host(&settings(redis.url()), dir.path()).await;
    let p = plugin(&host, "p");
    p.kv_set("kept", b"acknowledged").await.unwrap();

    redis.kill();
    let started = Instant::now();
    let err = p.kv_get("kept").await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    let message = err.to_string();
    assert!(
        message.contains(&format!("kv backend redis at 127.0.0.1:{port}")),
        "{message}"
    );
    let started = Instant::now();
    assert!(p.kv_set("lost", b"x").await.is_err());
    assert!(started.elapsed() < Duration::from_secs(2));
    // Calls that do not touch KV still work.
    assert_eq!(
        p.get_config("greeting").await.unwrap().as_deref(),
        Some("hi")
    );

    // Back on the same port (with its append-only file): the same host
    // reconnects by itself, and the acknowledged write is there.
    let _redis = Redis::start_on(dir.path(), port, &[]);
    let deadline = Instant::now() + Duration::from_secs(15);
    let value = loop {
        match p.kv_get("kept").await {
            Ok(value) => break value,
            Err(e) => {
                assert!(Instant::now() < deadline, "no recovery: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(value.as_deref(), Some(&b"acknowledged"[..]));
    p.kv_set("after", b"1").await.unwrap();
    assert_eq!(p.kv_get("after").await.unwrap().as_deref(), Some(&b"1"[..]));
}

#[tokio::test]
async fn the_password_never_shows() {
    let dir = tempfile::tempdir().unwrap();
    // Cargo gives the test its package name in CARGO_PKG_NAME: the server's
    // password, read by the host through `password_env`.
    let password = std::env::var("CARGO_PKG_NAME")
        .expect("run through cargo test (CARGO_PKG_NAME is the password here)");
    let redis = Redis::start(dir.path(), &["--requirepass", &password]);

    let good = KvSettings {
        password_env: Some("CARGO_PKG_NAME".into()),
        ..settings(redis.url())
    };
    let ok = host(&good, dir.path()).await;
    plugin(&ok, "p").kv_set("k", b"v").await.unwrap();

    // No password: refused by Redis, saying which backend.
    let none = host(&settings(redis.url()), dir.path()).await;
    let err = plugin(&none, "p")
        .kv_get("k")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("kv backend redis at 127.0.0.1:"), "{err}");

    // A wrong password in the URL: neither the error nor Debug shows it.
    let secret = "s3cret-in-the-url";
    let wrong = settings(format!("redis://app:{secret}@127.0.0.1:{}/0", redis.port));
    let bad = host(&wrong, dir.path()).await;
    let err = plugin(&bad, "p").kv_get("k").await.unwrap_err();
    for shown in [
        err.to_string(),
        format!("{err:?}"),
        format!("{wrong:?}"),
        format!("{bad:?}"),
        format!("{good:?}"),
        format!("{ok:?}"),
    ] {
        assert!(!shown.contains(secret), "{shown}");
        assert!(!shown.contains(&password), "{shown}");
    }
    assert!(
        err.to_string().contains("kv backend redis at 127.0.0.1:"),
        "{err}"
    );

    // A password variable that is not set is an error naming it.
    let unset = KvSettings {
        password_env: Some("KV_REDIS_TEST_UNSET_PASSWORD".into()),
        ..settings(redis.url())
    };
    let err = DefaultHost::open_with(dir.path(), &unset)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("KV_REDIS_TEST_UNSET_PASSWORD"),
        "{err}"
    );
}

#[tokio::test]
async fn a_slow_redis_fails_kv_calls_after_the_timeout() {
    use std::io::{Read as _, Write as _};
    let dir = tempfile::tempdir().unwrap();
    let redis = Redis::start(dir.path(), &["--enable-debug-command", "local"]);
    let host = host(&settings(redis.url()), dir.path()).await;
    let p = plugin(&host, "p");
    p.kv_set("k", b"v").await.unwrap();

    // Another client makes the server sleep 3 s (it answers nobody meanwhile).
    let mut sleeper = TcpStream::connect(("127.0.0.1", redis.port)).unwrap();
    sleeper.write_all(b"DEBUG SLEEP 3\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let err = p.kv_get("k").await.unwrap_err().to_string();
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    assert!(
        err.contains(&format!("kv backend redis at 127.0.0.1:{}", redis.port)),
        "{err}"
    );
    assert_eq!(
        p.get_config("greeting").await.unwrap().as_deref(),
        Some("hi")
    );
    let mut reply = [0; 5];
    sleeper.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"+OK\r\n");
    // Once it answers again, so do KV calls.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match p.kv_get("k").await {
            Ok(value) => break assert_eq!(value.as_deref(), Some(&b"v"[..])),
            Err(e) => assert!(Instant::now() < deadline, "no recovery: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A `pluginctl run` and its admin API's base URL and token.
struct Daemon {
    child: Child,
    base: String,
    token: String,
}

impl Daemon {
    fn start(plugins: &Path, data: &Path, config: &Path) -> Self {
        use std::io::BufRead as _;
        let mut child = Command::new(env!("CARGO_BIN_EXE_pluginctl"))
            .arg("run")
            .arg(plugins)
            .args(["--listen", "127.0.0.1:0", "--config"])
            .arg(config)
            .arg("--data-dir")
            .arg(data)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(data.join("pluginctl.log")).unwrap())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let base = loop {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("pluginctl run ended early"))
                .unwrap();
            if let Some(url) = line.strip_prefix("admin API on ") {
                break url.to_owned();
            }
        };
        let token = std::fs::read_to_string(data.join("admin-token")).unwrap();
        Self { child, base, token }
    }

    /// Calls hello-wasm's `greet`, which counts greetings in KV.
    async fn greet(&self) -> Value {
        let response = reqwest::Client::new()
            .post(format!("{}/plugins/hello-wasm/call/greet", self.base))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(r#"{"name":"Ann"}"#)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert!(status.is_success(), "{status}: {body}");
        body
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pluginctl_run_hosts_share_a_plugins_count() {
    let dir = tempfile::tempdir().unwrap();
    let redis = Redis::start(dir.path(), &[]);
    let plugins = tempfile::tempdir().unwrap();
    plugin_dirs::copy_example("hello-wasm", plugins.path(), "hello-wasm");
    let config = dir.path().join("host.yaml");
    std::fs::write(
        &config,
        format!(
            "plugins:\n  kv:\n    backend: redis\n    url: \"{}\"\n    prefix: \"fleet:\"\n",
            redis.url()
        ),
    )
    .unwrap();
    let (data_a, data_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Daemon::start(plugins.path(), data_a.path(), &config);
    let b = Daemon::start(plugins.path(), data_b.path(), &config);
    assert_eq!(a.greet().await["total"], 1);
    assert_eq!(b.greet().await["total"], 2);
    assert_eq!(a.greet().await["total"], 3);
    // Neither host wrote a redb file: the count lives in Redis.
    assert!(!data_a.path().join("kv.redb").exists());
    assert!(!data_b.path().join("kv.redb").exists());
}

/// A CA, a server certificate for `localhost` and a client certificate it
/// signed, in `dir` (PEM: `ca.pem`, `server.pem`/`.key`, `client.pem`/`.key`).
struct Certs {
    dir: std::path::PathBuf,
}

impl Certs {
    fn new(dir: &Path) -> Self {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
        // Distinct names: a certificate named as its issuer is taken for
        // self-signed.
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        for (name, sans) in [("server", vec!["localhost".to_owned()]), ("client", vec![])] {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(sans).unwrap();
            params.distinguished_name.push(DnType::CommonName, name);
            let cert = params.signed_by(&key, &ca).unwrap();
            std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
            std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
        }
        Self {
            dir: dir.to_path_buf(),
        }
    }
}

#[tokio::test]
async fn rediss_with_the_configured_ca_and_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let certs = Certs::new(dir.path());
    let redis = Redis::start_tls(dir.path(), &certs, &["--tls-auth-clients", "yes"]);
    let tls = KvSettings {
        ca_file: Some(dir.path().join("ca.pem")),
        cert_file: Some(dir.path().join("client.pem")),
        key_file: Some(dir.path().join("client.key")),
        ..settings(format!("rediss://localhost:{}/0", redis.port))
    };
    let host_a = host(&tls, dir.path()).await;
    assert!(
        host_a.kv().describe().contains("(TLS)"),
        "{}",
        host_a.kv().describe()
    );
    let p = plugin(&host_a, "p");
    p.kv_set("k", b"over TLS").await.unwrap();
    assert_eq!(
        p.kv_get("k").await.unwrap().as_deref(),
        Some(&b"over TLS"[..])
    );

    // Without the client certificate the server refuses the connection.
    let anonymous = KvSettings {
        cert_file: None,
        key_file: None,
        ..tls.clone()
    };
    let err = plugin(&host(&anonymous, dir.path()).await, "p")
        .kv_get("k")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("kv backend redis at localhost:") && err.contains("CertificateRequired"),
        "{err}"
    );
    // Nor is a server trusted whose certificate does not chain to the CA
    // (here: the system's roots).
    let system_roots = KvSettings {
        ca_file: None,
        ..tls.clone()
    };
    let err = plugin(&host(&system_roots, dir.path()).await, "p")
        .kv_get("k")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("kv backend redis at localhost:") && err.contains("UnknownIssuer"),
        "{err}"
    );
    // Plain redis:// to the TLS port does not get through either.
    let plain = KvSettings {
        ca_file: None,
        cert_file: None,
        key_file: None,
        ..settings(format!("redis://127.0.0.1:{}/0", redis.port))
    };
    assert!(
        plugin(&host(&plain, dir.path()).await, "p")
            .kv_get("k")
            .await
            .is_err()
    );
    // TLS files with a plain URL are a configuration error.
    let mixed = KvSettings {
        ca_file: Some(dir.path().join("ca.pem")),
        ..plain
    };
    let err = DefaultHost::open_with(dir.path(), &mixed)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("kv.ca_file needs a rediss:// URL"),
        "{err}"
    );
}
