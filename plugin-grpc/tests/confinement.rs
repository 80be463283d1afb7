//! The hostile suite: a plugin process (`raw-grpc-plugin`, by hand, no SDK)
//! tries what a malicious plugin would, each in its own test, and the
//! kernel refuses it inside the plugin (or ends only that plugin), while
//! the host and the other plugins keep serving.
//!
//! Every test runs the plugin as the manager would: under
//! [`HostGrants`](plugin_core::HostGrants) with a data folder, and with the
//! confinement `strict`, so a mechanism this kernel lacks fails the test
//! instead of passing it unconfined.

#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

#[path = "../../test-support/examples.rs"]
mod examples;
#[path = "../../test-support/raw_plugin.rs"]
mod raw_plugin;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use plugin_core::{Condition, HostGrants, MemoryHost, Runner, RunnerErrorKind};
use plugin_grpc::GrpcRunner;
use plugin_types::PermissionPolicy;
use raw_plugin::{RawPlugin, raw};
use serde_json::{Value, json};

/// A runner for `plugin` under `policy` (JSON; confinement made strict),
/// with the host's data in `data`.
fn confined(plugin: &RawPlugin, policy: &str, data: &Path) -> GrpcRunner {
    let mut policy: PermissionPolicy = serde_json::from_str(policy).unwrap();
    policy.confinement = plugin_types::permissions::Enforcement::Strict;
    let granted = HostGrants::new(policy)
        .with_data_dir(data)
        .grant(&plugin.manifest)
        .unwrap();
    GrpcRunner::new(Arc::new(MemoryHost::new(&plugin.manifest.name, json!({}))))
        .with_granted(granted)
        .with_start_timeout(Duration::from_secs(20))
}

async fn started(runner: &GrpcRunner, manifest: &plugin_core::Manifest) -> plugin_core::PluginInfo {
    let info = runner.load(manifest).await.unwrap();
    runner.start(&json!({})).await.unwrap();
    info
}

/// Calls `function` and reads its JSON answer.
async fn ask(runner: &GrpcRunner, function: &str, params: Value) -> Value {
    let out = runner.call(function, &raw(&params)).await.unwrap();
    serde_json::from_str(out.get()).unwrap()
}

/// The OS's error of a hostile attempt; panics if it succeeded.
fn refused(answer: &Value, what: &str) -> String {
    answer["err"]
        .as_str()
        .unwrap_or_else(|| panic!("{what} succeeded: {answer}"))
        .to_owned()
}

/// Whether `err` is the kernel refusing a path: Landlock's `EACCES`, or
/// `ENOENT` where the private root has no such path, or `EROFS` where it
/// is mounted read-only.
fn denied(err: &str) -> bool {
    [
        "Permission denied",
        "No such file or directory",
        "Read-only file system",
    ]
    .iter()
    .any(|e| err.contains(e))
}

/// A second, well-behaved plugin, to show the others keep serving.
struct Bystander {
    _plugin: RawPlugin,
    _data: tempfile::TempDir,
    runner: GrpcRunner,
}

impl Bystander {
    async fn start() -> Self {
        let plugin = RawPlugin::with_yaml("bystander", "serve", "");
        let data = tempfile::tempdir().unwrap();
        let runner = confined(&plugin, "{}", data.path());
        started(&runner, &plugin.manifest).await;
        Self {
            _plugin: plugin,
            _data: data,
            runner,
        }
    }

    async fn still_serving(&self) {
        let echo = self.runner.call("echo", &raw(&json!("ok"))).await.unwrap();
        assert_eq!(echo.get(), r#""ok""#);
    }
}

/// A plugin process reaches only its own files: its folder, its data
/// folder, its temporary folder and what programs need; the kernel refuses
/// the rest, and the plugin keeps serving.
#[tokio::test]
async fn the_kernel_keeps_the_process_to_its_own_files() {
    let plugin = RawPlugin::new("serve");
    let host_data = tempfile::tempdir().unwrap();
    std::fs::write(host_data.path().join("kv.redb"), "the host's data").unwrap();
    let neighbour = tempfile::tempdir().unwrap();
    std::fs::write(neighbour.path().join("plugin.yaml"), "name: other").unwrap();
    let home = host_data.path().join("plugins/raw");
    let runner = confined(&plugin, "{}", host_data.path());
    started(&runner, &plugin.manifest).await;
    let fs = async |function: &str, params: Value| {
        let out = runner.call(function, &raw(&params)).await.unwrap();
        serde_json::from_str::<Value>(out.get()).unwrap()
    };
    let own = plugin.dir.path().join("plugin.yaml");
    assert!(
        fs("read", json!(own)).await["ok"].is_string(),
        "its own folder"
    );
    assert!(fs("read", json!("/etc/passwd")).await["ok"].is_string());
    // No /proc in its private root: not even its own.
    let status = fs("read", json!("/proc/self/status")).await;
    assert!(status["err"].is_string(), "{status}");
    let note = home.join("note.txt");
    assert_eq!(fs("write", json!([note, "kept"])).await["ok"], "");
    assert_eq!(std::fs::read_to_string(&note).unwrap(), "kept");
    for path in [
        host_data.path().join("kv.redb"),
        neighbour.path().join("plugin.yaml"),
        "/root".into(),
        "/etc/shadow".into(),
        "/proc/1/environ".into(),
    ] {
        let read = fs("read", json!(path)).await;
        let err = read["err"]
            .as_str()
            .unwrap_or_else(|| panic!("{path:?} was read: {read}"));
        assert!(denied(err), "{path:?}: {err}");
    }
    // Nor its own manifest or code: a plugin that rewrote its `name:`
    // would come back, at the next reload, as another plugin.
    let rename = fs("write", json!([own, "name: victim"])).await;
    let err = rename["err"].as_str().unwrap();
    assert!(
        err.contains("Permission denied") || err.contains("Read-only file system"),
        "{rename}"
    );
    assert!(
        std::fs::read_to_string(&own)
            .unwrap()
            .starts_with("name: raw")
    );
    let outside = neighbour.path().join("dropped.txt");
    let write = fs("write", json!([outside, "x"])).await;
    assert!(denied(write["err"].as_str().unwrap()), "{write}");
    assert!(!outside.exists());
    // Still serving.
    let echo = runner.call("echo", &raw(&json!(1))).await.unwrap();
    assert_eq!(echo.get(), "1");
    runner.stop(Duration::from_secs(1)).await.unwrap();
}

/// The plugin process gets none of the host's environment but `PATH`,
/// `LANG`, `LC_*`, `TZ` and its own `HOME` and `TMPDIR`; it cannot gain
/// privileges, dumps no core, and has a bounded number of open files.
#[tokio::test]
async fn the_process_gets_a_scrubbed_environment_and_limits() {
    // Set by cargo for this test process: a stand-in for the host's secrets.
    assert!(std::env::var("CARGO_MANIFEST_DIR").is_ok());
    let plugin = RawPlugin::with_yaml("raw", "serve", "  env: {RAW_GREETING: hi}\n");
    let data = tempfile::tempdir().unwrap();
    let home = data.path().join("plugins/raw");
    let runner = confined(&plugin, "{}", data.path());
    started(&runner, &plugin.manifest).await;
    let env = async |name: &str| {
        let value = runner.call("env", &raw(&json!(name))).await.unwrap();
        serde_json::from_str::<Option<String>>(value.get()).unwrap()
    };
    assert_eq!(
        env("CARGO_MANIFEST_DIR").await,
        None,
        "a host variable leaked"
    );
    assert_eq!(env("CARGO").await, None);
    assert_eq!(env("RAW_GREETING").await.as_deref(), Some("hi"), "grpc.env");
    assert_eq!(env("PATH").await, std::env::var("PATH").ok());
    assert_eq!(env("HOME").await.as_deref(), Some(home.to_str().unwrap()));
    assert!(home.is_dir(), "HOME was created");
    let tmp = env("TMPDIR").await.unwrap();
    assert!(
        Path::new(&tmp).is_dir() && tmp.contains("flowbot-plugin-"),
        "{tmp}"
    );
    assert_eq!(
        env("FLOWBOT_PLUGIN").await.as_deref(),
        Some("flowbot-plugin-v1")
    );

    let limits = runner.call("limits", &raw(&json!(null))).await.unwrap();
    let limits: Value = serde_json::from_str(limits.get()).unwrap();
    assert_eq!(limits["no_new_privs"], true, "{limits}");
    assert_eq!(limits["core"], 0, "{limits}");
    assert!(limits["open_files"].as_u64().unwrap() <= 4096, "{limits}");
    runner.stop(Duration::from_secs(1)).await.unwrap();
    let tmp_gone = !Path::new(&tmp).exists();
    assert!(tmp_gone, "TMPDIR outlived the plugin");
}

/// A plugin whose manifest asks for no network gets none: no TCP connect
/// (not even to the host's loopback), no TCP bind outside its go-plugin
/// port range, no UDP, no raw sockets. Asked and granted, one TCP port
/// opens, and only that one.
#[tokio::test]
async fn no_network_unless_asked_and_granted() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let bystander = Bystander::start().await;

    let plugin = RawPlugin::new("serve");
    let data = tempfile::tempdir().unwrap();
    let runner = confined(&plugin, "{}", data.path());
    started(&runner, &plugin.manifest).await;
    let network = runner
        .confinement()
        .unwrap()
        .get("network")
        .unwrap()
        .clone();
    assert!(
        network.enforced && network.how.starts_with("none"),
        "{network}"
    );
    let err = refused(&ask(&runner, "connect", json!(address)).await, "connect");
    assert!(err.contains("Permission denied"), "{err}");
    let err = refused(&ask(&runner, "bind", json!("127.0.0.1:0")).await, "bind");
    assert!(err.contains("Permission denied"), "{err}");
    let err = refused(&ask(&runner, "udp", json!(address)).await, "udp");
    assert!(err.contains("Permission denied"), "{err}");
    let err = refused(&ask(&runner, "raw_socket", json!(null)).await, "raw socket");
    assert!(err.contains("Permission denied"), "{err}");
    bystander.still_serving().await;
    assert_eq!(
        runner.call("echo", &raw(&json!(1))).await.unwrap().get(),
        "1"
    );
    runner.stop(Duration::from_secs(1)).await.unwrap();

    // Asked, but not granted: refused at load, naming the setting.
    let port = address.port();
    let asks = format!("  permissions:\n    network: {{connect: [{port}]}}\n");
    let plugin = RawPlugin::with_yaml("raw", "serve", &asks);
    let policy = PermissionPolicy::default();
    let err = HostGrants::new(policy)
        .grant(&plugin.manifest)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("grpc.permissions.network.connect[0]")
            && err.contains("plugins.permissions.plugins.raw.tcp_connect"),
        "{err}"
    );
    // Asked and granted: that port, nothing else.
    let policy = format!(r#"{{"plugins": {{"raw": {{"tcp_connect": [{port}]}}}}}}"#);
    let runner = confined(&plugin, &policy, data.path());
    started(&runner, &plugin.manifest).await;
    let accepted = std::thread::spawn(move || listener.accept().map(|_| ()));
    let ok = ask(&runner, "connect", json!(address)).await;
    assert_eq!(ok["ok"], json!(address.to_string()), "{ok}");
    accepted.join().unwrap().unwrap();
    let err = refused(
        &ask(&runner, "connect", json!(other.local_addr().unwrap())).await,
        "connect to another port",
    );
    assert!(err.contains("Permission denied"), "{err}");
    runner.stop(Duration::from_secs(1)).await.unwrap();
    bystander.still_serving().await;
}

/// A loopback TCP listener the test holds, and whether anything connected
/// to it.
struct Listener(std::net::TcpListener);

impl Listener {
    fn bind() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        Self(listener)
    }

    fn address(&self) -> std::net::SocketAddr {
        self.0.local_addr().unwrap()
    }

    /// Whether a connection is waiting (a refused attempt leaves none).
    fn reached(&self) -> bool {
        self.0.accept().is_ok()
    }
}

/// The TCP rules hold against the protocol tricks that get around them: a
/// plugin granted one TCP port cannot reach another port (that the test
/// listens on) over MPTCP (not TCP to Landlock), by TCP Fast Open (a
/// connect made by `sendto`), or through the x32 system-call ABI (which
/// numbers calls past seccomp's rules); seccomp refuses each with `EACCES`.
/// (Landlock refuses the Fast Open connect here too; and this kernel has no
/// x32, so without the filter's refusal that call fails with `ENOSYS`.)
#[tokio::test]
async fn protocol_tricks_do_not_get_around_the_tcp_rules() {
    let granted = Listener::bind();
    let target = Listener::bind();
    let port = granted.address().port();
    let asks = format!("  permissions:\n    network: {{connect: [{port}]}}\n");
    let plugin = RawPlugin::with_yaml("raw", "serve", &asks);
    let data = tempfile::tempdir().unwrap();
    let policy = format!(r#"{{"plugins": {{"raw": {{"tcp_connect": [{port}]}}}}}}"#);
    let runner = confined(&plugin, &policy, data.path());
    started(&runner, &plugin.manifest).await;
    for trick in ["mptcp", "fast_open", "x32"] {
        let answer = ask(&runner, trick, json!(target.address())).await;
        let err = refused(&answer, trick);
        assert!(err.contains("Permission denied"), "{trick}: {err}");
        assert!(!target.reached(), "{trick} reached the port");
    }
    // The port granted is reachable the plain way.
    let ok = ask(&runner, "connect", json!(granted.address())).await;
    assert!(ok["ok"].is_string(), "{ok}");
    assert!(granted.reached());
    runner.stop(Duration::from_secs(1)).await.unwrap();
}

/// A loopback UDP socket the test holds.
fn udp_service() -> std::net::UdpSocket {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    socket
}

/// UDP is its own ask and grant: a plugin granted a TCP port cannot send a
/// datagram; asking UDP without the host's grant is refused at load,
/// naming the setting; asked and granted, the datagram arrives.
#[tokio::test]
async fn udp_only_when_asked_and_granted() {
    let service = udp_service();
    let address = service.local_addr().unwrap();
    let tcp = Listener::bind();
    let port = tcp.address().port();
    let data = tempfile::tempdir().unwrap();

    let asks = format!("  permissions:\n    network: {{connect: [{port}]}}\n");
    let plugin = RawPlugin::with_yaml("raw", "serve", &asks);
    let policy = format!(r#"{{"plugins": {{"raw": {{"tcp_connect": [{port}]}}}}}}"#);
    let runner = confined(&plugin, &policy, data.path());
    started(&runner, &plugin.manifest).await;
    let network = runner
        .confinement()
        .unwrap()
        .get("network")
        .unwrap()
        .clone();
    assert!(
        network.enforced && network.how.contains("no UDP"),
        "{network}"
    );
    let err = refused(&ask(&runner, "udp", json!(address)).await, "udp");
    assert!(err.contains("Permission denied"), "{err}");
    let mut buffer = [0u8; 16];
    assert!(
        service.recv_from(&mut buffer).is_err(),
        "a datagram arrived"
    );
    runner.stop(Duration::from_secs(1)).await.unwrap();

    let asks = "  permissions:\n    network: {udp: true}\n";
    let plugin = RawPlugin::with_yaml("raw", "serve", asks);
    let err = HostGrants::new(serde_json::from_str(&policy).unwrap())
        .grant(&plugin.manifest)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("grpc.permissions.network.udp")
            && err.contains("plugins.permissions.plugins.raw.udp"),
        "{err}"
    );
    let runner = confined(
        &plugin,
        r#"{"plugins": {"raw": {"udp": true}}}"#,
        data.path(),
    );
    started(&runner, &plugin.manifest).await;
    let network = runner
        .confinement()
        .unwrap()
        .get("network")
        .unwrap()
        .clone();
    assert!(
        network.enforced && network.how.contains("UDP to any address and port"),
        "{network}"
    );
    let sent = ask(&runner, "udp", json!(address)).await;
    assert_eq!(sent["ok"], "5", "{sent}");
    let (n, _) = service.recv_from(&mut buffer).unwrap();
    assert_eq!(&buffer[..n], b"hello");
    // UDP brings no TCP with it.
    let err = refused(&ask(&runner, "connect", json!(tcp.address())).await, "tcp");
    assert!(err.contains("Permission denied"), "{err}");
    runner.stop(Duration::from_secs(1)).await.unwrap();
}

/// What a plugin would write into the host's memory.
static HOST_SECRET: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0x5afe);

/// A plugin runs as the host's user (root here), yet cannot attach to the
/// host with `ptrace` nor write its memory with `process_vm_writev`:
/// seccomp refuses both with `EACCES` (Landlock would answer `EPERM`, and
/// only on kernels that have it). The host has made itself not dumpable.
#[tokio::test]
async fn the_plugin_cannot_trace_or_write_the_host() {
    let plugin = RawPlugin::new("serve");
    let data = tempfile::tempdir().unwrap();
    let runner = confined(&plugin, "{}", data.path());
    started(&runner, &plugin.manifest).await;
    let dumpable = rustix::process::dumpable_behavior().unwrap();
    assert_eq!(
        dumpable,
        rustix::process::DumpableBehavior::NotDumpable,
        "the host is dumpable after starting a plugin"
    );
    let host = std::process::id();
    let err = refused(&ask(&runner, "ptrace", json!([host])).await, "ptrace");
    assert!(err.contains("Permission denied"), "{err}");
    let address = HOST_SECRET.as_ptr() as usize;
    let poked = ask(&runner, "poke", json!([host, address, 0xbad])).await;
    let err = refused(&poked, "process_vm_writev");
    assert!(err.contains("Permission denied"), "{err}");
    assert_eq!(
        HOST_SECRET.load(std::sync::atomic::Ordering::SeqCst),
        0x5afe
    );
    // Its own process it may not trace either.
    let own = runner.process_id().unwrap();
    let err = refused(&ask(&runner, "ptrace", json!([own])).await, "ptrace");
    assert!(err.contains("Permission denied"), "{err}");
    runner.stop(Duration::from_secs(1)).await.unwrap();
}

/// The folder of `pid`'s group in the cgroup hierarchy that has `cpu`
/// (v1), or its v2 group.
fn cpu_cgroup(pid: u32) -> std::path::PathBuf {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let groups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let v1 = mounts.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let options = right.split(' ').nth(2)?;
        (right.starts_with("cgroup ") && options.split(',').any(|o| o == "cpu"))
            .then(|| left.split(' ').nth(4).unwrap().to_owned())
    });
    let (point, wanted) = match v1 {
        Some(point) => (point, "cpu"),
        None => ("/sys/fs/cgroup".to_owned(), ""),
    };
    let path = groups
        .lines()
        .find_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, list, path) = (parts.next()?, parts.next()?, parts.next()?);
            let ok = if wanted.is_empty() {
                list.is_empty()
            } else {
                list.split(',').any(|c| c == wanted)
            };
            ok.then(|| path.to_owned())
        })
        .unwrap();
    std::path::Path::new(&point).join(path.trim_start_matches('/'))
}

/// A CPU cap (`grpc.permissions.cpu`, within the host's `process_cpu`) is
/// written to the plugin's control group, and a busy plugin is held to it:
/// two threads spinning for a second get about a tenth of a core, and the
/// scheduler reports throttling. Asking more than the host grants is
/// refused at load, naming the setting.
#[tokio::test]
async fn a_cpu_cap_holds_a_busy_plugin() {
    let plugin = RawPlugin::with_yaml("raw", "serve", "  permissions: {cpu: 0.1}\n");
    let err =
        HostGrants::new(serde_json::from_str(r#"{"default": {"process_cpu": 0.05}}"#).unwrap())
            .grant(&plugin.manifest)
            .unwrap_err()
            .to_string();
    assert!(
        err.contains("grpc.permissions.cpu asks for 0.1 cores")
            && err.contains("plugins.permissions.plugins.raw.process_cpu"),
        "{err}"
    );
    let data = tempfile::tempdir().unwrap();
    let runner = confined(&plugin, r#"{"default": {"process_cpu": 1}}"#, data.path());
    started(&runner, &plugin.manifest).await;
    let cpu = runner.confinement().unwrap().get("cpu").unwrap().clone();
    assert!(cpu.enforced && cpu.how.ends_with(" 0.1 cores"), "{cpu}");
    let group = cpu_cgroup(runner.process_id().unwrap());
    let quota = match std::fs::read_to_string(group.join("cpu.cfs_quota_us")) {
        Ok(v1) => format!(
            "{} {}",
            v1.trim(),
            std::fs::read_to_string(group.join("cpu.cfs_period_us"))
                .unwrap()
                .trim()
        ),
        Err(_) => std::fs::read_to_string(group.join("cpu.max"))
            .unwrap()
            .trim()
            .to_owned(),
    };
    assert_eq!(quota, "10000 100000", "{}", group.display());

    let wall_ms = 1000;
    let spun = ask(&runner, "spin", json!(wall_ms)).await;
    let cpu_ms = spun["cpu_ms"].as_u64().unwrap();
    // At most a tenth of the wall time, and a period's slack either way.
    assert!(
        cpu_ms <= wall_ms / 10 + 150,
        "{cpu_ms} ms of CPU in {wall_ms} ms"
    );
    let stat = std::fs::read_to_string(group.join("cpu.stat")).unwrap();
    let throttled = stat
        .lines()
        .find_map(|l| l.strip_prefix("nr_throttled "))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .unwrap();
    assert!(throttled > 0, "{stat}");
    runner.stop(Duration::from_secs(1)).await.unwrap();
}

/// A fork bomb stops at the plugin's process cap with the kernel's
/// `EAGAIN`; the plugin, the host and the other plugins keep serving.
#[tokio::test]
async fn a_fork_bomb_stops_at_the_process_cap() {
    let bystander = Bystander::start().await;
    let plugin = RawPlugin::with_yaml("raw", "serve", "  permissions: {processes: 64}\n");
    let data = tempfile::tempdir().unwrap();
    let runner = confined(&plugin, "{}", data.path());
    started(&runner, &plugin.manifest).await;
    let processes = runner
        .confinement()
        .unwrap()
        .get("processes")
        .unwrap()
        .clone();
    assert!(
        processes.enforced && processes.how.ends_with(" 64"),
        "{processes}"
    );

    let answer = ask(&runner, "fork", json!(10_000)).await;
    let err = refused(&answer, "forking 10,000 processes");
    assert!(err.contains("Resource temporarily unavailable"), "{err}");
    let started = answer["started"].as_u64().unwrap();
    assert!(started < 64, "{started} processes started");
    assert_eq!(
        runner.call("echo", &raw(&json!(2))).await.unwrap().get(),
        "2"
    );
    bystander.still_serving().await;
    runner.stop(Duration::from_secs(1)).await.unwrap();
}

/// Memory past the cap ends the plugin (the OOM killer, in its own control
/// group) or fails its allocation (`RLIMIT_AS`), and nothing else: the
/// supervisor hears of the exit, the host and the other plugins serve on.
#[tokio::test]
async fn memory_past_the_cap_ends_only_that_plugin() {
    let bystander = Bystander::start().await;
    let plugin = RawPlugin::with_yaml("raw", "serve", "  permissions: {memory: {max: 64MiB}}\n");
    let data = tempfile::tempdir().unwrap();
    let runner = confined(&plugin, "{}", data.path());
    let mut events = runner.events();
    started(&runner, &plugin.manifest).await;
    let memory = runner.confinement().unwrap().get("memory").unwrap().clone();
    assert!(
        memory.enforced && memory.how.ends_with(" 64MiB"),
        "{memory}"
    );

    let within = ask(&runner, "alloc", json!(16)).await;
    assert_eq!(within["ok"], 16, "{within}");
    let past = runner.call("alloc", &raw(&json!(256))).await;
    if memory.how.starts_with("cgroup") {
        let err = past.unwrap_err();
        let RunnerErrorKind::Exited(status) = err.kind() else {
            panic!("not an exit: {err}");
        };
        assert!(
            status.contains("signal 9 (SIGKILL): out of memory"),
            "{status}"
        );
        let report = events
            .wait_for(|r| matches!(r.condition, Condition::Exited { .. }))
            .await
            .unwrap();
        assert!(
            matches!(&report.condition, Condition::Exited { status, expected: false } if status.contains("out of memory")),
            "{report:?}"
        );
    } else {
        let answer: Value = serde_json::from_str(past.unwrap().get()).unwrap();
        assert!(answer["mib"].as_u64().unwrap() < 64, "{answer}");
    }
    bystander.still_serving().await;
    runner.stop(Duration::from_secs(1)).await.unwrap();
}

/// A plugin cannot signal processes outside itself: not the host, though
/// it runs as the same user (as root, even).
#[tokio::test]
async fn the_plugin_cannot_signal_the_host() {
    let plugin = RawPlugin::new("serve");
    let data = tempfile::tempdir().unwrap();
    let runner = confined(&plugin, "{}", data.path());
    started(&runner, &plugin.manifest).await;
    let host = std::process::id();
    let err = refused(
        &ask(&runner, "kill", json!(host)).await,
        "signalling the host",
    );
    assert!(err.contains("Operation not permitted"), "{err}");
    // Its own processes it may.
    let own = runner.process_id().unwrap();
    assert_eq!(ask(&runner, "kill", json!(own)).await["ok"], "alive");
    runner.stop(Duration::from_secs(1)).await.unwrap();
}

/// On this kernel (Landlock, seccomp, a control group) every measure is
/// enforced: the report says so, and a strict policy loads the plugin.
#[tokio::test]
async fn every_measure_is_enforced_on_this_kernel() {
    let plugin = RawPlugin::new("serve");
    let data = tempfile::tempdir().unwrap();
    let runner = confined(&plugin, "{}", data.path());
    started(&runner, &plugin.manifest).await;
    let report = runner.confinement().unwrap();
    let names: Vec<&str> = report.measures.iter().map(|m| m.what.as_str()).collect();
    assert_eq!(
        names,
        [
            "environment",
            "privileges",
            "files",
            "filesystem",
            "mounts",
            "network",
            "isolation",
            "memory",
            "processes",
            "cpu"
        ]
    );
    let missing: Vec<String> = report.missing().map(ToString::to_string).collect();
    assert!(missing.is_empty(), "not enforced here: {missing:?}");
    assert!(
        report
            .get("filesystem")
            .unwrap()
            .how
            .starts_with("Landlock ABI")
    );
    runner.stop(Duration::from_secs(1)).await.unwrap();
}

/// The control: with the host's policy turning confinement off, the same
/// attempts succeed; so the refusals above are the confinement's doing.
#[tokio::test]
async fn with_confinement_off_the_same_attempts_succeed() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let plugin = RawPlugin::new("serve");
    let data = tempfile::tempdir().unwrap();
    let secret = data.path().join("kv.redb");
    std::fs::write(&secret, "the host's data").unwrap();
    let policy = PermissionPolicy {
        confinement: plugin_types::permissions::Enforcement::Off,
        ..PermissionPolicy::default()
    };
    let granted = HostGrants::new(policy)
        .with_data_dir(data.path())
        .grant(&plugin.manifest)
        .unwrap();
    let runner = GrpcRunner::new(Arc::new(MemoryHost::new("raw", json!({})))).with_granted(granted);
    started(&runner, &plugin.manifest).await;
    let report = runner.confinement().unwrap();
    assert_eq!(
        report
            .missing()
            .map(|m| m.what.as_str())
            .collect::<Vec<_>>(),
        ["confinement"]
    );
    assert_eq!(
        ask(&runner, "read", json!(secret)).await["ok"],
        "the host's data"
    );
    let connected = ask(&runner, "connect", json!(address)).await;
    assert!(connected["ok"].is_string(), "{connected}");
    let host = std::process::id();
    assert_eq!(ask(&runner, "kill", json!(host)).await["ok"], "alive");
    // The environment is still scrubbed.
    let leaked = runner
        .call("env", &raw(&json!("CARGO_MANIFEST_DIR")))
        .await
        .unwrap();
    assert_eq!(leaked.get(), "null");
    runner.stop(Duration::from_secs(1)).await.unwrap();
}

/// A granted subfolder of `$DATA` swapped for a symlink to `/` before a
/// relaunch (a running version can do it through its `$DATA` grant): the
/// relaunch's Landlock rule is built from the folder opened when the grant
/// was checked, never from the path, so the symlink widens nothing.
#[tokio::test]
async fn a_granted_folder_swapped_for_a_symlink_widens_no_relaunch() {
    let host_data = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let secret = elsewhere.path().join("secret.txt");
    std::fs::write(&secret, "the host's").unwrap();
    let plugin = RawPlugin::with_yaml(
        "raw",
        "serve",
        "  permissions:\n    filesystem: [{path: $DATA, mode: readwrite}, {path: $DATA/x, mode: readwrite}]\n",
    );
    let policy = PermissionPolicy {
        confinement: plugin_types::permissions::Enforcement::Strict,
        ..PermissionPolicy::default()
    };
    let granted = HostGrants::new(policy)
        .with_data_dir(host_data.path())
        .grant(&plugin.manifest)
        .unwrap();
    let run = |granted| {
        GrpcRunner::new(Arc::new(MemoryHost::new("raw", json!({}))))
            .with_granted(granted)
            .with_start_timeout(Duration::from_secs(20))
    };
    let runner = run(granted.clone());
    started(&runner, &plugin.manifest).await;
    let x = host_data.path().join("plugins/raw/x");
    let swap = ask(
        &runner,
        "write",
        json!([x.join("mark"), "the folder checked"]),
    )
    .await;
    assert_eq!(swap["ok"], "", "{swap}");
    runner.stop(Duration::from_secs(1)).await.unwrap();

    // Between the two runs the folder goes and a symlink to the root takes
    // its place.
    std::fs::rename(&x, host_data.path().join("plugins/raw/old")).unwrap();
    std::os::unix::fs::symlink("/", &x).unwrap();

    // The relaunch looks at its folders again before binding them into
    // its private root, and refuses the one that is no longer the folder
    // checked, naming it (the private root checks once more what it binds;
    // Landlock's rule is the handle's either way).
    let relaunch = run(granted);
    let err = relaunch
        .load(&plugin.manifest)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("is no longer the folder that was granted"),
        "{err}"
    );
    assert!(err.contains("plugins/raw/x"), "{err}");
    assert!(!secret.with_file_name("escaped").exists());
}

/// A plugin of a root host holds no capability, and cannot open files by
/// handle: with `CAP_DAC_READ_SEARCH`, `open_by_handle_at` on its own data
/// folder would open the root of the filesystem under it, around its
/// private root and Landlock's paths (the "shocker" attack).
#[tokio::test]
async fn the_plugin_holds_no_capabilities_and_opens_nothing_by_handle() {
    let plugin = RawPlugin::new("serve");
    let host_data = tempfile::tempdir().unwrap();
    let runner = confined(&plugin, "{}", host_data.path());
    started(&runner, &plugin.manifest).await;
    let caps = ask(&runner, "capabilities", json!(null)).await;
    assert_eq!(
        caps["ok"], "effective 0x0 permitted 0x0 bounding 0",
        "{caps}"
    );
    let home = host_data.path().join("plugins/raw");
    let opened = ask(&runner, "by_handle", json!(home)).await;
    let err = refused(&opened, "opening the filesystem's root by handle");
    assert!(err.contains("Permission denied"), "{err}");
    runner.stop(Duration::from_secs(1)).await.unwrap();
}
