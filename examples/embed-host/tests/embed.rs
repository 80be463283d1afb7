//! The example host as its users see it: the `embed-host` binary started
//! on a free loopback port over the built example plugins, asked real
//! HTTP questions answered by the wasm plugin, the gRPC plugin and the
//! built-in closure plugin through the host's registries, then stopped
//! with SIGTERM.

#![allow(clippy::unwrap_used)] // tests panic on failure by design

#[path = "../../../test-support/examples.rs"]
mod examples;
#[path = "../../../test-support/plugin_dirs.rs"]
mod plugin_dirs;

use std::process::Stdio;

use rustix::process::{Pid, Signal, kill_process};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// The running host: its process, its stdout, its address.
struct Host {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    url: String,
    http: reqwest::Client,
}

impl Host {
    /// Starts `embed-host` on `plugins`, waiting for its `listening on`
    /// line; returns the lines it printed before.
    async fn start(plugins: &std::path::Path, data: &std::path::Path) -> (Self, Vec<String>) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_embed-host"))
            .arg(plugins)
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut printed = Vec::new();
        let url = loop {
            let Some(line) = stdout.next_line().await.unwrap() else {
                panic!("embed-host exited before listening; it printed {printed:?}");
            };
            match line.strip_prefix("listening on ") {
                Some(url) => break url.to_owned(),
                None => printed.push(line),
            }
        };
        let http = reqwest::Client::new();
        (
            Self {
                child,
                stdout,
                url,
                http,
            },
            printed,
        )
    }

    /// GETs `path`; its JSON answer.
    async fn get(&self, path: &str) -> Value {
        let response = self.http.get(format!("{}{path}", self.url)).send();
        let text = response.await.unwrap().text().await.unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// POSTs `body` as JSON to `path`; the status and the JSON answer.
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap())
    }

    /// A chat command to `module`: its reply payload.
    async fn chat(&self, module: &str, text: &str) -> Value {
        let (status, answer) = self
            .post("/chat", json!({ "module": module, "text": text }))
            .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["module"], module);
        answer["reply"].clone()
    }
}

#[tokio::test]
async fn the_host_answers_chat_and_abilities_from_every_runtime_and_stops_cleanly() {
    let plugins = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    plugin_dirs::copy_example("hello-wasm", plugins.path(), "hello-wasm");
    plugin_dirs::copy_example("hello-grpc", plugins.path(), "hello-grpc");

    let (mut host, printed) = Host::start(plugins.path(), data.path()).await;
    assert_eq!(
        printed,
        [
            "running hello-grpc grpc",
            "running hello-wasm wasm",
            "running shout builtin"
        ]
    );

    // What the manager registered into the host's registries.
    let listing = host.get("/plugins").await;
    assert_eq!(
        listing["modules"],
        json!(["hello-grpc", "hello-wasm", "shout"])
    );
    assert_eq!(
        listing["abilities"],
        json!([
            ["greeting/greet", "hello-wasm"],
            ["greeting/greet_remote", "hello-grpc"],
            ["text/shout", "shout"]
        ])
    );

    // Chat, routed by module name; each plugin got its own configuration.
    let wasm = host.chat("hello-wasm", "hello Ada").await;
    assert_eq!(wasm, json!({ "_type": "TextMsg", "text": "Hi, Ada!" }));
    let grpc = host.chat("hello-grpc", "hello Ada").await;
    assert_eq!(grpc, json!({ "_type": "TextMsg", "text": "Howdy, Ada!" }));
    let builtin = host.chat("shout", "shout hello there").await;
    assert_eq!(
        builtin,
        json!({ "_type": "TextMsg", "text": "HELLO THERE! (shout #1)" })
    );
    // The built-in plugin keeps its count in the host's KV store.
    let again = host.chat("shout", "shout again").await;
    assert_eq!(again["text"], "AGAIN! (shout #2)");
    // The wasm plugin counted its greeting in the KV store too.
    let count = host.chat("hello-wasm", "count").await;
    assert_eq!(count["text"], "1 greetings so far");

    // Our host function, from each runtime, answering the caller by name.
    let motd = host.chat("shout", "motd").await;
    assert_eq!(motd["text"], "be kind, shout");
    for plugin in ["hello-wasm", "hello-grpc"] {
        let (status, answer) = host
            .post(
                &format!("/plugins/{plugin}/call_host"),
                json!({ "name": "embed.motd", "input": {} }),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer, json!({ "motd": format!("be kind, {plugin}") }));
    }

    // Abilities, by capability and operation.
    let (status, greet) = host
        .post("/abilities/greeting/greet", json!({ "name": "Bob" }))
        .await;
    assert_eq!(
        (status, &greet["text"]),
        (200, &json!("Hi, Bob!")),
        "{greet}"
    );
    assert_eq!(greet["capability"], "greeting");
    let (status, remote) = host
        .post("/abilities/greeting/greet_remote", json!({ "name": "Bob" }))
        .await;
    assert_eq!(
        (status, &remote["text"]),
        (200, &json!("Howdy, Bob!")),
        "{remote}"
    );
    let (status, shout) = host
        .post("/abilities/text/shout", json!({ "text": "hi" }))
        .await;
    assert_eq!((status, &shout["text"]), (200, &json!("HI!")), "{shout}");

    // What nobody registered, and a plugin's own error.
    let (status, missing) = host
        .post("/chat", json!({ "module": "nobody", "text": "hi" }))
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        missing["error"],
        "no module \"nobody\" (modules: hello-grpc, hello-wasm, shout)"
    );
    let (status, unknown) = host
        .post("/chat", json!({ "module": "hello-wasm", "text": "dance" }))
        .await;
    assert_eq!(status, 502);
    let message = unknown["error"].as_str().unwrap();
    assert!(message.contains("unknown command \"dance\""), "{message}");
    let (status, _) = host.post("/abilities/text/whisper", json!({})).await;
    assert_eq!(status, 404);

    // SIGTERM: the host stops serving, shuts the manager down and exits 0.
    let pid = Pid::from_raw(host.child.id().unwrap().try_into().unwrap()).unwrap();
    kill_process(pid, Signal::TERM).unwrap();
    let exit = host.child.wait().await.unwrap();
    assert!(exit.success(), "{exit}");
    let mut rest = Vec::new();
    while let Some(line) = host.stdout.next_line().await.unwrap() {
        rest.push(line);
    }
    assert_eq!(rest, ["stopped"]);
}
