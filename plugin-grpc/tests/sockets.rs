//! The hostile suite, sockets (issue 22, items 6 and 9): a plugin process
//! (`raw-grpc-plugin`) tries to reach sockets that are not its own, and to
//! aim the host's connection at them; a stranger tries a plugin's broker.
//!
//! As in `confinement.rs`, every plugin runs under
//! [`HostGrants`](plugin_core::HostGrants) with a data folder and the
//! confinement `strict`, so a mechanism this kernel lacks fails the test.

#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

#[path = "../../test-support/examples.rs"]
mod examples;
#[path = "../../test-support/raw_plugin.rs"]
mod raw_plugin;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use plugin_core::{HostGrants, MemoryHost, Runner};
use plugin_grpc::GrpcRunner;
use plugin_types::PermissionPolicy;
use proto::flowbot::plugin as pb;
use raw_plugin::{RawPlugin, raw};
use serde_json::{Value, json};

/// A plugin confined `strict` under the default policy, its data in a
/// folder of its own, and its host.
struct Confined {
    plugin: RawPlugin,
    _data: tempfile::TempDir,
    host: Arc<MemoryHost>,
    runner: GrpcRunner,
}

impl Confined {
    /// `name` in `mode`, with `grpc` added to its manifest's `grpc:`.
    fn new(name: &str, mode: &str, grpc: &str) -> Self {
        let plugin = RawPlugin::with_yaml(name, mode, grpc);
        let data = tempfile::tempdir().unwrap();
        let policy = PermissionPolicy {
            confinement: plugin_types::permissions::Enforcement::Strict,
            ..PermissionPolicy::default()
        };
        let granted = HostGrants::new(policy)
            .with_data_dir(data.path())
            .grant(&plugin.manifest)
            .unwrap();
        let host = Arc::new(MemoryHost::new(name, json!({})));
        let runner = GrpcRunner::new(host.clone())
            .with_granted(granted)
            .with_start_timeout(Duration::from_secs(20));
        Self {
            plugin,
            _data: data,
            host,
            runner,
        }
    }

    /// Loads and starts it.
    async fn started(name: &str, grpc: &str) -> Self {
        let confined = Self::new(name, "serve", grpc);
        confined
            .runner
            .load(&confined.plugin.manifest)
            .await
            .unwrap();
        let mounts = confined
            .runner
            .confinement()
            .unwrap()
            .get("mounts")
            .unwrap()
            .clone();
        assert!(mounts.enforced, "{mounts}");
        confined.runner.start(&json!({})).await.unwrap();
        confined
    }

    async fn ask(&self, function: &str, params: Value) -> Value {
        let out = self.runner.call(function, &raw(&params)).await.unwrap();
        serde_json::from_str(out.get()).unwrap()
    }

    /// Its session folder on the host (the parent of its `TMPDIR`).
    async fn session(&self) -> PathBuf {
        let tmp = self.ask("env", json!("TMPDIR")).await;
        Path::new(tmp.as_str().unwrap())
            .parent()
            .unwrap()
            .to_path_buf()
    }

    /// The socket its gRPC server listens on.
    async fn own_socket(&self) -> PathBuf {
        let pid = self.runner.process_id().unwrap();
        self.session().await.join(format!("raw-{pid}.sock"))
    }

    async fn stop(&self) {
        self.runner.stop(Duration::from_secs(1)).await.unwrap();
    }
}

/// The kernel's refusal of a path the private root does not hold
/// (`ENOENT`), or Landlock's (`EACCES`).
fn refused(answer: &Value, what: &str) {
    let err = answer["err"]
        .as_str()
        .unwrap_or_else(|| panic!("{what} succeeded: {answer}"));
    assert!(
        err.contains("No such file or directory") || err.contains("Permission denied"),
        "{what}: {err}"
    );
}

/// A plugin connects only to its own session's sockets: not to a socket the
/// host's user opened outside every grant, nor to another plugin's host
/// broker, nor to another plugin's gRPC server (all live, as the test's own
/// connections show); nor can it list the host's sockets in
/// `/proc/self/net/unix`. Its own broker it reaches.
#[tokio::test]
async fn a_plugin_connects_only_to_its_own_sockets() {
    let outside = tempfile::tempdir().unwrap();
    let stray = outside.path().join("service.sock");
    let _stray = std::os::unix::net::UnixListener::bind(&stray).unwrap();
    let victim = Confined::started("victim", "").await;
    let victim_broker = victim.session().await.join("host-1.sock");
    let victim_server = victim.own_socket().await;
    for socket in [&stray, &victim_broker, &victim_server] {
        std::os::unix::net::UnixStream::connect(socket)
            .unwrap_or_else(|e| panic!("{socket:?} is not live: {e}"));
    }

    let attacker = Confined::started("attacker", "").await;
    for (socket, what) in [
        (&stray, "a socket outside every grant"),
        (&victim_broker, "another plugin's host broker"),
        (&victim_server, "another plugin's gRPC server"),
    ] {
        refused(&attacker.ask("connect_unix", json!(socket)).await, what);
    }
    refused(
        &attacker.ask("read", json!("/proc/self/net/unix")).await,
        "listing the host's sockets",
    );
    refused(
        &attacker.ask("read", json!("/proc/net/unix")).await,
        "/proc/net/unix",
    );
    // Its own session's sockets it reaches.
    let own_broker = attacker.session().await.join("host-1.sock");
    let own = attacker.ask("connect_unix", json!(own_broker)).await;
    assert!(own["ok"].is_string(), "{own}");

    let echo = victim.runner.call("echo", &raw(&json!(1))).await.unwrap();
    assert_eq!(echo.get(), "1");
    attacker.stop().await;
    victim.stop().await;
}

/// A stranger that reaches a plugin's host broker without the plugin's
/// client certificate (AutoMTLS is on by default, over unix too) is
/// refused: no callback runs as that plugin. With `auto_mtls: false` the
/// same stranger gets in, which is what the default prevents.
#[tokio::test]
async fn a_stranger_without_the_plugins_certificate_is_refused_by_its_broker() {
    let plugin = Confined::started("victim", "").await;
    let broker = plugin.session().await.join("host-1.sock");
    let stranger = async |broker: &Path| {
        let channel = proto::transport::connect(
            proto::handshake::Network::Unix,
            &broker.to_string_lossy(),
            None,
        )
        .await?;
        let mut client = pb::host_service_client::HostServiceClient::new(channel);
        client
            .kv_set(pb::KvSetRequest {
                key: "planted".into(),
                value: b"by a stranger".to_vec(),
            })
            .await
            .map(|_| ())
            .map_err(|status| -> Box<dyn std::error::Error> { Box::new(status) })
    };
    let attempt = tokio::time::timeout(Duration::from_secs(10), stranger(&broker)).await;
    assert!(
        !matches!(attempt, Ok(Ok(()))),
        "a stranger called the broker"
    );
    assert_eq!(plugin.host.kv().get("planted"), None);
    // A stranger with a certificate of its own fares no better.
    let own = proto::mtls::Identity::generate().unwrap();
    let config = Arc::new(own.client_config(own.cert().clone()).unwrap());
    let tls = tokio::time::timeout(
        Duration::from_secs(10),
        proto::transport::connect_direct(
            proto::handshake::Network::Unix,
            &broker.to_string_lossy(),
            Some(config),
        ),
    )
    .await;
    assert!(!matches!(tls, Ok(Ok(_))), "a TLS stranger got in");
    plugin.stop().await;

    // The control: without AutoMTLS, the stranger's call lands.
    let plain = Confined::started("plain", "  auto_mtls: false\n").await;
    let broker = plain.session().await.join("host-1.sock");
    stranger(&broker).await.unwrap();
    assert_eq!(plain.host.kv()["planted"], b"by a stranger");
    plain.stop().await;
}

/// The load error of `plugin`, as text.
async fn load_error(confined: &Confined) -> String {
    match confined.runner.load(&confined.plugin.manifest).await {
        Ok(_) => panic!("{} loaded", confined.plugin.manifest.name),
        Err(e) => e.to_string(),
    }
}

/// A plugin that announces an address other than its own (a socket
/// outside its session folder, another plugin's socket, a link to one in
/// its own folder, a TCP port outside its window) fails the load with a bad
/// handshake naming the address; the host never connects to it.
#[tokio::test]
async fn a_plugin_announcing_a_foreign_address_is_refused_at_load() {
    let outside = tempfile::tempdir().unwrap();
    let stray = outside.path().join("service.sock");
    let listener = std::os::unix::net::UnixListener::bind(&stray).unwrap();
    listener.set_nonblocking(true).unwrap();
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    tcp.set_nonblocking(true).unwrap();
    let victim = Confined::started("victim", "").await;
    let victim_server = victim.own_socket().await;

    let stray_text = stray.display().to_string();
    let victim_text = victim_server.display().to_string();
    let tcp_text = tcp.local_addr().unwrap().to_string();
    for (mode, announce, named, why) in [
        (
            "announce",
            format!("unix:{stray_text}"),
            stray_text.clone(),
            "session folder",
        ),
        (
            "announce",
            format!("unix:{victim_text}"),
            victim_text,
            "session folder",
        ),
        (
            "announce-link",
            format!("unix:{stray_text}"),
            "link-".to_owned(),
            "symbolic link",
        ),
        (
            "announce",
            format!("tcp:{tcp_text}"),
            tcp_text,
            "its window",
        ),
    ] {
        let env = format!("  env: {{RAW_ANNOUNCE: \"{announce}\"}}\n");
        let attacker = Confined::new("attacker", mode, &env);
        let error = load_error(&attacker).await;
        assert!(
            error.contains("bad handshake") && error.contains(&named) && error.contains(why),
            "{mode} {announce}: {error}"
        );
    }
    assert!(
        listener.accept().is_err() && tcp.accept().is_err(),
        "the host connected to a foreign address"
    );
    let echo = victim.runner.call("echo", &raw(&json!(2))).await.unwrap();
    assert_eq!(echo.get(), "2");
    victim.stop().await;
}

/// A plugin granted no network that listens on a unix socket gets a network
/// namespace of its own, with no interface but a loopback that is down: the
/// host's interfaces are not there.
#[tokio::test]
async fn a_plugin_without_network_has_a_network_namespace_of_its_own() {
    let host_interface = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .find(|name| name != "lo")
        .expect("the host has a network interface besides lo");
    let plugin = Confined::new("offline", "serve", "");
    plugin.runner.load(&plugin.plugin.manifest).await.unwrap();
    let network = plugin
        .runner
        .confinement()
        .unwrap()
        .get("network")
        .unwrap()
        .clone();
    assert!(
        network.enforced && network.how.contains("a network namespace of its own"),
        "{network}"
    );
    plugin.runner.start(&json!({})).await.unwrap();
    let seen = plugin.ask("interface", json!(host_interface)).await;
    let err = seen["err"]
        .as_str()
        .unwrap_or_else(|| panic!("the plugin sees {host_interface}: {seen}"));
    assert!(err.contains("No such device"), "{err}");
    assert!(plugin.ask("interface", json!("lo")).await["ok"].is_string());
    plugin.stop().await;

    // Granted a port, it shares the host's network (Landlock holds it to
    // that port) and sees its interfaces.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let asks = format!("  permissions:\n    network: {{connect: [{port}]}}\n");
    let plugin = RawPlugin::with_yaml("online", "serve", &asks);
    let policy: PermissionPolicy = serde_json::from_value(json!({
        "plugins": {"online": {"tcp_connect": [port]}},
        "confinement": "strict",
    }))
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let granted = HostGrants::new(policy)
        .with_data_dir(data.path())
        .grant(&plugin.manifest)
        .unwrap();
    let runner =
        GrpcRunner::new(Arc::new(MemoryHost::new("online", json!({})))).with_granted(granted);
    runner.load(&plugin.manifest).await.unwrap();
    let network = runner
        .confinement()
        .unwrap()
        .get("network")
        .unwrap()
        .clone();
    assert!(!network.how.contains("network namespace"), "{network}");
    runner.start(&json!({})).await.unwrap();
    let out = runner
        .call("interface", &raw(&json!(host_interface)))
        .await
        .unwrap();
    let seen: Value = serde_json::from_str(out.get()).unwrap();
    assert!(seen["ok"].is_string(), "{seen}");
    runner.stop(Duration::from_secs(1)).await.unwrap();
}
