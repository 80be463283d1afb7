//! `pluginctl run`, the host daemon, as a real process: its admin API over
//! real HTTP, hot reload of a real folder, and a graceful stop on SIGTERM.

#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use serde_json::Value;

#[path = "../../test-support/examples.rs"]
mod examples;
#[path = "../../test-support/plugin_dirs.rs"]
mod plugin_dirs;
use plugin_dirs::{copy_example, set_manifest_field};

/// A running `pluginctl run`, its API's base URL and its admin token.
struct Daemon {
    child: Child,
    base: String,
    stdout: Vec<String>,
    token: String,
}

impl Daemon {
    fn start(plugins: &Path, data: &Path) -> Self {
        Self::start_on(plugins, data, "127.0.0.1:0")
    }

    /// Started with the host configuration file `config`.
    fn start_configured(plugins: &Path, data: &Path, config: &Path) -> Self {
        let config = config.to_str().unwrap();
        Self::start_with(
            plugins,
            data,
            &["--listen", "127.0.0.1:0", "--config", config],
        )
    }

    fn start_on(plugins: &Path, data: &Path, listen: &str) -> Self {
        Self::start_with(plugins, data, &["--listen", listen])
    }

    fn start_with(plugins: &Path, data: &Path, args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pluginctl"))
            .arg("run")
            .arg(plugins)
            .args(args)
            .arg("--data-dir")
            .arg(data)
            .stdout(Stdio::piped())
            // Its log stays with the test's data folder, for a post-mortem.
            .stderr(std::fs::File::create(data.join("pluginctl.log")).unwrap())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut stdout = Vec::new();
        let base = loop {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("pluginctl run ended early: {stdout:?}"))
                .unwrap();
            if let Some(url) = line.strip_prefix("admin API on ") {
                break url.to_owned();
            }
            stdout.push(line);
        };
        let token = std::fs::read_to_string(data.join("admin-token")).unwrap();
        Self {
            child,
            base,
            stdout,
            token,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A client that sends the admin token with every request.
    fn client(&self) -> reqwest::Client {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {}", self.token).parse().unwrap(),
        );
        reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn get(client: &reqwest::Client, url: &str) -> (u16, Value) {
    let response = client.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap_or(Value::Null),
    )
}

async fn post(client: &reqwest::Client, url: &str, body: &str) -> (u16, Value) {
    let mut request = client.post(url);
    if !body.is_empty() {
        request = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_owned());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap_or(Value::Null),
    )
}

/// Calls hello-grpc's `greet`, which counts greetings in the host's KV.
async fn greet_ann(client: &reqwest::Client, daemon: &Daemon) -> (u16, Value) {
    let url = daemon.url("/plugins/hello-grpc/call/greet");
    post(client, &url, r#"{"name":"Ann"}"#).await
}

/// Processes whose executable lies under `dir`.
fn processes_under(dir: &Path) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let exe = std::fs::read_link(entry.path().join("exe")).ok()?;
            exe.starts_with(dir).then_some(pid)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_the_admin_api_reloads_on_change_and_stops_gracefully() {
    let plugins = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    copy_example("hello-wasm", plugins.path(), "hello-wasm");
    let grpc_dir = copy_example("hello-grpc", plugins.path(), "hello-grpc");
    let broken = plugins.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("plugin.yaml"), "name: broken\n").unwrap();

    let mut daemon = Daemon::start(plugins.path(), data.path());
    // Each plugin as it comes up (in the order they do), with its time;
    // then the folder skipped and a summary.
    let mut up: Vec<&str> = daemon.stdout[..2]
        .iter()
        .map(|line| {
            let (plugin, time) = line
                .strip_suffix("s)")
                .and_then(|l| l.rsplit_once(" ("))
                .unwrap_or_else(|| panic!("no time: {line}"));
            assert!(time.parse::<f64>().is_ok(), "{line}");
            plugin
        })
        .collect();
    up.sort_unstable();
    assert_eq!(
        up,
        [
            "running hello-grpc 0.1.0 grpc",
            "running hello-wasm 0.1.0 wasm"
        ]
    );
    assert!(
        daemon.stdout[2].starts_with("skipped ") && daemon.stdout[2].contains("broken"),
        "{:?}",
        daemon.stdout
    );
    let summary = &daemon.stdout[3];
    assert!(
        summary.starts_with("2 plugins running, 0 failed, 1 skipped, in ")
            && summary.ends_with('s'),
        "{summary}"
    );
    assert_eq!(daemon.stdout.len(), 4, "{:?}", daemon.stdout);
    let client = daemon.client();

    // List, with state and the broken neighbour.
    let (code, list) = get(&client, &daemon.url("/plugins")).await;
    assert_eq!(code, 200);
    let plugins_listed = list["plugins"].as_array().unwrap();
    assert_eq!(plugins_listed.len(), 2);
    assert!(
        plugins_listed.iter().all(|p| p["state"] == "running"),
        "{list}"
    );
    assert_eq!(list["diagnostics"].as_array().unwrap().len(), 1, "{list}");
    // The process plugin's confinement in force, measure by measure.
    let grpc = plugins_listed
        .iter()
        .find(|p| p["name"] == "hello-grpc")
        .unwrap();
    let confinement: Vec<&str> = grpc["confinement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert!(
        confinement
            .iter()
            .any(|m| m.starts_with("filesystem: Landlock ABI"))
            && confinement.iter().any(|m| m.starts_with("network: none"))
            && confinement.iter().all(|m| !m.contains("NOT ENFORCED")),
        "{confinement:?}"
    );

    // Live events: subscribe, then make a plugin emit one.
    let events = client.get(daemon.url("/events")).send().await.unwrap();
    assert_eq!(events.status().as_u16(), 200);
    let mut events = events.bytes_stream();

    // Calls, and errors with the status saying whose fault it is.
    let (code, reply) = greet_ann(&client, &daemon).await;
    assert_eq!(
        (code, &reply["text"]),
        (200, &Value::from("Hello, Ann!")),
        "{reply}"
    );
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(seen.contains("event: plugin-event") && seen.contains("\"plugin\":\"hello-grpc\"")) {
        let chunk = tokio::time::timeout_at(deadline.into(), events.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("greeting.sent"), "{seen}");

    let cases = [
        ("/plugins/hello-wasm/call/greet", "{oops", 400, "not JSON"),
        (
            "/plugins/hello-wasm/call/nope",
            "",
            404,
            "unsupported by plugin",
        ),
        (
            "/plugins/nope/call/greet",
            "",
            404,
            "plugin nope is not loaded",
        ),
        (
            "/plugins/hello-wasm/call/command",
            r#"{"content":"dance"}"#,
            422,
            "unknown command",
        ),
    ];
    for (path, body, expected, message) in cases {
        let (code, reply) = post(&client, &daemon.url(path), body).await;
        assert_eq!(code, expected, "{path}: {reply}");
        assert!(
            reply["error"].as_str().unwrap().contains(message),
            "{path}: {reply}"
        );
    }

    // Reload by API.
    let (code, status) = post(&client, &daemon.url("/plugins/hello-wasm/reload"), "").await;
    assert_eq!(
        (code, &status["generation"]),
        (200, &Value::from(2)),
        "{status}"
    );

    // Reload on file change.
    set_manifest_field(&grpc_dir, "version", "0.9.0");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, status) = get(&client, &daemon.url("/plugins/hello-grpc")).await;
        if status["version"] == "0.9.0" && status["state"] == "running" {
            break;
        }
        assert!(Instant::now() < deadline, "no reload: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (code, reply) = greet_ann(&client, &daemon).await;
    assert_eq!(
        (code, &reply["total"]),
        (200, &Value::from(2)),
        "the count is in the host's KV: {reply}"
    );

    // Unload.
    let response = client
        .post(daemon.url("/plugins/hello-wasm/unload"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let (code, _) = get(&client, &daemon.url("/plugins/hello-wasm")).await;
    assert_eq!(code, 404);

    // SIGTERM: a clean exit, and the plugin process goes with it.
    assert_eq!(processes_under(plugins.path()).len(), 1);
    let term = Command::new("kill")
        .args(["-TERM", &daemon.child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = daemon.child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(processes_under(plugins.path()).is_empty());
}

/// The admin API lets in only its token holder, speaking JSON, to its own
/// address, from no foreign web page; the token file is private and the
/// token is never logged. A unix socket serves the same API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_is_closed_to_all_but_the_token_holder() {
    use std::os::unix::fs::PermissionsExt as _;
    let plugins = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    copy_example("hello-wasm", plugins.path(), "hello-wasm");
    let daemon = Daemon::start(plugins.path(), data.path());
    let token_file = data.path().join("admin-token");
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(daemon.token.len(), 64, "32 random bytes, as hex");

    let anyone = reqwest::Client::new();
    let list = daemon.url("/plugins");
    let unload = daemon.url("/plugins/hello-wasm/unload");
    let call = daemon.url("/plugins/hello-wasm/call/greet");
    let bearer = format!("Bearer {}", daemon.token);
    let host = daemon.base.trim_start_matches("http://").to_owned();
    let status = |r: reqwest::Response| r.status().as_u16();

    // No token, a wrong token, a token of another length.
    assert_eq!(status(anyone.get(&list).send().await.unwrap()), 401);
    assert_eq!(status(anyone.post(&unload).send().await.unwrap()), 401);
    for wrong in [
        "Bearer nope",
        &format!("Bearer {}x", daemon.token),
        "Basic abc",
    ] {
        let r = anyone
            .get(&list)
            .header("authorization", wrong)
            .send()
            .await
            .unwrap();
        assert_eq!(status(r), 401, "{wrong}");
    }
    // A text/plain body (what a cross-site form can send), with the token.
    let r = anyone
        .post(&call)
        .header("authorization", &bearer)
        .header("content-type", "text/plain")
        .body(r#"{"name":"Eve"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 415);
    // A Host that is not the API's (DNS rebinding) and a foreign Origin.
    let r = anyone
        .get(&list)
        .header("authorization", &bearer)
        .header("host", "evil.example:80")
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 421);
    let r = anyone
        .post(&unload)
        .header("authorization", &bearer)
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 403);
    // Nothing above reached the plugin: it still serves.
    let r = anyone
        .post(&call)
        .header("authorization", &bearer)
        .header("content-type", "application/json")
        .header("origin", format!("http://{host}"))
        .body(r#"{"name":"Ann"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 200);

    // The log names the token's file, never the token.
    let log = std::fs::read_to_string(data.path().join("pluginctl.log")).unwrap();
    assert!(log.contains(&token_file.display().to_string()), "{log}");
    assert!(!log.contains(&daemon.token), "the token was logged");
    drop(daemon);

    // The same API on a unix socket, created 0600, with the same token.
    let socket = data.path().join("admin.sock");
    let daemon = Daemon::start_on(
        plugins.path(),
        data.path(),
        &format!("unix:{}", socket.display()),
    );
    assert_eq!(daemon.base, format!("unix:{}", socket.display()));
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let over_unix = |auth: Option<String>| {
        let socket = socket.clone();
        async move {
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            let mut stream = tokio::net::UnixStream::connect(&socket).await.unwrap();
            let auth = auth
                .map(|a| format!("Authorization: {a}\r\n"))
                .unwrap_or_default();
            let request = format!(
                "GET /plugins/hello-wasm HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n"
            );
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut reply = String::new();
            stream.read_to_string(&mut reply).await.unwrap();
            reply
        }
    };
    let reply = over_unix(Some(bearer.clone())).await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains(r#""state":"running""#), "{reply}");
    let reply = over_unix(None).await;
    assert!(reply.starts_with("HTTP/1.1 401"), "{reply}");
}

/// The host configuration's `permissions` hold through `pluginctl run`: a
/// plugin asking more than granted is listed in error, naming the field and
/// the setting, and the one granted what it asks serves, its grants shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_configuration_grants_through_pluginctl_run() {
    let plugins = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    copy_example("hello-wasm", plugins.path(), "hello-wasm");
    let greedy = copy_example("hello-wasm", plugins.path(), "greedy");
    set_manifest_field(&greedy, "name", "greedy");
    let text = std::fs::read_to_string(greedy.join("plugin.yaml"))
        .unwrap()
        .replace("max: 16MiB", "max: 256MiB")
        .replace("operations: [greet]", "operations: [greet_more]");
    std::fs::write(greedy.join("plugin.yaml"), text).unwrap();
    let config = data.path().join("host.yaml");
    std::fs::write(
        &config,
        "plugins:\n  permissions:\n    default: {memory: 64MiB}\n",
    )
    .unwrap();
    let daemon = Daemon::start_configured(plugins.path(), data.path(), &config);
    let greedy_line = daemon
        .stdout
        .iter()
        .find(|l| l.contains("greedy"))
        .unwrap_or_else(|| panic!("{:?}", daemon.stdout));
    assert!(
        greedy_line.starts_with("error greedy 0.1.0 wasm ("),
        "{greedy_line}"
    );
    let summary = daemon.stdout.last().unwrap();
    assert!(
        summary.starts_with("1 plugin running, 1 failed, in "),
        "{summary}"
    );
    assert!(
        greedy_line.contains("wasm.permissions.memory.max asks for 256MiB")
            && greedy_line.contains("the host grants at most 64MiB")
            && greedy_line.contains("plugins.permissions.plugins.greedy.memory"),
        "{greedy_line}"
    );
    let (code, status) = get(&daemon.client(), &daemon.url("/plugins/hello-wasm")).await;
    assert_eq!(
        (code, &status["state"]),
        (200, &Value::from("running")),
        "{status}"
    );
    assert!(
        status["permissions"]
            .as_array()
            .unwrap()
            .contains(&Value::from("memory 16MiB")),
        "{status}"
    );
}

#[test]
fn refuses_a_non_loopback_address() {
    let output = Command::new(env!("CARGO_BIN_EXE_pluginctl"))
        .args(["run", ".", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not a loopback address"), "{stderr}");
}

/// A plugin whose `wasm.module` is a FIFO nobody writes and one whose
/// module is a symlink to `/dev/zero`, beside a good one: the API is up,
/// the good plugin serves, and the two fail at once, by name, saying
/// what their module is (neither hangs the start nor reads without end).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modules_that_are_no_regular_files_fail_by_name_and_hold_up_nothing() {
    let plugins = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    copy_example("hello-wasm", plugins.path(), "hello-wasm");
    for name in ["fifo", "zero"] {
        let dir = plugins.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("plugin.yaml"),
            format!("name: {name}\nruntime: wasm\nwasm: {{module: m.wasm}}\n"),
        )
        .unwrap();
    }
    let made = Command::new("mkfifo")
        .arg(plugins.path().join("fifo/m.wasm"))
        .status();
    assert!(made.unwrap().success());
    std::os::unix::fs::symlink("/dev/zero", plugins.path().join("zero/m.wasm")).unwrap();

    let (dir, data_dir) = (plugins.path().to_owned(), data.path().to_owned());
    let daemon = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::task::spawn_blocking(move || Daemon::start(&dir, &data_dir)),
    )
    .await
    .expect("pluginctl run started")
    .unwrap();
    let line = |name: &str| {
        daemon
            .stdout
            .iter()
            .find(|line| line.split(' ').nth(1) == Some(name))
            .unwrap_or_else(|| panic!("{name}: {:?}", daemon.stdout))
            .clone()
    };
    assert!(
        line("hello-wasm").starts_with("running "),
        "{:?}",
        daemon.stdout
    );
    let fifo = line("fifo");
    assert!(
        fifo.starts_with("error ") && fifo.contains("wasm.module ") && fifo.contains("is a FIFO"),
        "{fifo}"
    );
    let zero = line("zero");
    assert!(
        zero.starts_with("error ") && zero.contains("is a character device"),
        "{zero}"
    );

    let client = daemon.client();
    let (code, _) = get(&client, &daemon.url("/plugins")).await;
    assert_eq!(code, 200);
    let (code, answer) = post(
        &client,
        &daemon.url("/plugins/hello-wasm/call/greet"),
        r#"{"name":"Ann"}"#,
    )
    .await;
    assert_eq!(code, 200, "{answer}");
}
