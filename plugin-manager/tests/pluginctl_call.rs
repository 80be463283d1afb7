//! `pluginctl call` on the real wasm example, run as a process.

#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "../../test-support/examples.rs"]
mod examples;
use examples::workspace;

/// The hello-wasm example folder, with its module built (once per process).
fn hello_wasm() -> PathBuf {
    examples::built();
    workspace().join("examples/plugins/hello-wasm")
}

/// The hello-grpc example folder, with its binary built (once per process).
fn hello_grpc() -> PathBuf {
    examples::built();
    workspace().join("examples/plugins/hello-grpc")
}

/// Runs pluginctl with a fresh data folder (an empty KV store).
fn pluginctl(args: &[&str]) -> Output {
    let data = tempfile::tempdir().unwrap();
    pluginctl_with_data(args, data.path())
}

fn pluginctl_with_data(args: &[&str], data_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pluginctl"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Each `(args, expected)` exits 1 with nothing on stdout and `expected`
/// in the `error:` line on stderr.
fn assert_each_fails(cases: &[(&[&str], &str)]) {
    for (args, expected) in cases {
        let output = pluginctl(args);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {output:?}");
        assert!(output.stdout.is_empty(), "{args:?}: nothing on stdout");
        let stderr = text(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// `pluginctl call PLUGIN greet {"name":"Ada"} --config {"greeting":"Hi"}`
/// prints the greeting, the first in a fresh data folder.
fn greets_ada_with_config(plugin: &str) {
    let output = pluginctl(&[
        "call",
        plugin,
        "greet",
        r#"{"name":"Ada"}"#,
        "--config",
        r#"{"greeting":"Hi"}"#,
    ]);
    assert!(output.status.success(), "{plugin}: {output:?}");
    assert_eq!(
        text(&output.stdout),
        "{\"text\":\"Hi, Ada!\",\"total\":1}\n",
        "{plugin}"
    );
}

#[test]
fn calls_a_wasm_plugin_and_prints_json() {
    let plugin = hello_wasm();
    greets_ada_with_config(plugin.to_str().unwrap());

    let output = pluginctl(&["call", plugin.to_str().unwrap(), "help"]);
    assert!(output.status.success(), "{output:?}");
    let help: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(help["hello"].is_array());
}

#[test]
fn config_from_a_yaml_file() {
    let plugin = hello_wasm();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "greeting: Salut\n").unwrap();
    let at_file = format!("@{}", config.display());
    let output = pluginctl(&[
        "call",
        plugin.to_str().unwrap(),
        "command",
        r#"{"content":"hello Zoe"}"#,
        "--config",
        &at_file,
    ]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(text(&output.stdout), "{\"text\":\"Salut, Zoe!\"}\n");
}

#[test]
fn failures_print_error_and_exit_1() {
    let plugin = hello_wasm();
    let plugin = plugin.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["call", plugin, "nope"],
            "error: plugin hello-wasm: call nope: unsupported by plugin",
        ),
        (
            &["call", plugin, "command", r#"{"content":"dance"}"#],
            "unknown command",
        ),
        (
            &["call", plugin, "greet", "--config", r#"{"greeting":""}"#],
            "config does not match config_schema: /greeting",
        ),
        (
            &["call", plugin, "greet", "{bad"],
            "error: PARAMS_JSON is not valid JSON",
        ),
        (
            &["call", plugin, "greet", "--config", "{bad"],
            "error: --config is not valid JSON",
        ),
        (
            &["call", plugin, "greet", "--config", "@/nonexistent.yaml"],
            "error: --config @/nonexistent.yaml",
        ),
        (
            &["call", "/nonexistent", "greet"],
            "error: /nonexistent: cannot read",
        ),
    ];
    assert_each_fails(cases);
}

#[test]
fn a_module_that_is_not_there_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("plugin.yaml"),
        "name: ghost\nruntime: wasm\nwasm: {module: ghost.wasm}\n",
    )
    .unwrap();
    let output = pluginctl(&["call", dir.path().to_str().unwrap(), "f"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("plugin ghost: wasm.module ")
            && stderr.contains("ghost.wasm: No such file"),
        "{stderr}"
    );
}

#[test]
fn calls_a_grpc_plugin_exactly_like_a_wasm_one() {
    let plugin = hello_grpc();
    let plugin = plugin.to_str().unwrap();
    // Host callbacks: config through get_config, the count through KV.
    greets_ada_with_config(plugin);

    // A typed message payload, tagged as flowbot tags it.
    let output = pluginctl(&["call", plugin, "command", r#"{"content":"hello Zoe"}"#]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        text(&output.stdout),
        "{\"_type\":\"TextMsg\",\"text\":\"Hello, Zoe!\"}\n"
    );

    let output = pluginctl(&["call", plugin, "help"]);
    assert!(output.status.success(), "{output:?}");
    let help: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(help["hello"].is_array());

    let cases: &[(&[&str], &str)] = &[
        (
            &["call", plugin, "nope"],
            "error: plugin hello-grpc: call nope: unsupported by plugin",
        ),
        (
            &["call", plugin, "command", r#"{"content":"dance"}"#],
            "error: plugin hello-grpc: call command: unknown command \"dance\"",
        ),
        (
            &["call", plugin, "greet", "--config", r#"{"greeting":""}"#],
            "config does not match config_schema: /greeting",
        ),
    ];
    assert_each_fails(cases);
}

#[test]
fn kv_values_survive_between_runs_of_the_host() {
    let data = tempfile::tempdir().unwrap();
    for plugin in [hello_wasm(), hello_grpc()] {
        let plugin = plugin.to_str().unwrap();
        for expected in 1..=2 {
            let output =
                pluginctl_with_data(&["call", plugin, "greet", r#"{"name":"Kim"}"#], data.path());
            assert!(output.status.success(), "{output:?}");
            assert_eq!(
                text(&output.stdout),
                format!("{{\"text\":\"Hello, Kim!\",\"total\":{expected}}}\n"),
                "{plugin}: each plugin has its own count, kept in {}",
                data.path().display()
            );
        }
    }
    assert!(data.path().join("kv.redb").is_file());
}

#[test]
fn error_causes_are_not_repeated() {
    let output = pluginctl(&["call", "/nonexistent", "greet"]);
    let stderr = text(&output.stderr);
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );
}

/// A component plugin (WASI 0.2) and a Go module answer `pluginctl call`
/// as the Rust core module does: config, the KV count, a typed payload.
#[test]
fn calls_component_and_go_plugins_like_the_others() {
    examples::built();
    for example in ["hello-component", "hello-go"] {
        let plugin = workspace().join("examples/plugins").join(example);
        let plugin = plugin.to_str().unwrap();
        greets_ada_with_config(plugin);
        let output = pluginctl(&["call", plugin, "command", r#"{"content":"count"}"#]);
        assert!(output.status.success(), "{example}: {output:?}");
        assert!(
            text(&output.stdout).contains("0 greetings so far"),
            "{example}: {output:?}"
        );
    }
}

/// A process plugin that asks for a folder is refused without a grant and
/// called once with `--host-config` granting it; that file's
/// `plugins.config` entry is its configuration unless `--config` is given.
#[test]
fn host_config_grants_what_a_plugin_asks_for() {
    let example = hello_grpc();
    let work = tempfile::tempdir().unwrap();
    let plugin = work.path().join("hello-grpc");
    let shared = work.path().join("shared");
    std::fs::create_dir_all(&plugin).unwrap();
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::copy(example.join("hello-grpc"), plugin.join("hello-grpc")).unwrap();
    let manifest = std::fs::read_to_string(example.join("plugin.yaml")).unwrap();
    let manifest = manifest.replace(
        "  binary: hello-grpc\n",
        &format!(
            "  binary: hello-grpc\n  permissions:\n    filesystem: [{{path: {}}}]\n",
            shared.display()
        ),
    );
    std::fs::write(plugin.join("plugin.yaml"), manifest).unwrap();
    let plugin = plugin.to_str().unwrap();

    assert_each_fails(&[(
        &["call", plugin, "greet", r#"{"name":"Ada"}"#],
        "plugins.permissions.plugins.hello-grpc.filesystem",
    )]);

    let host_config = work.path().join("host.yaml");
    std::fs::write(
        &host_config,
        format!(
            "plugins:\n  config: {{hello-grpc: {{greeting: Hey}}}}\n  permissions:\n    plugins: {{hello-grpc: {{filesystem: [{{path: {}}}]}}}}\n",
            shared.display()
        ),
    )
    .unwrap();
    let host_config = host_config.to_str().unwrap();
    let args = [
        "call",
        plugin,
        "greet",
        r#"{"name":"Ada"}"#,
        "--host-config",
        host_config,
    ];
    let output = pluginctl(&args);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        text(&output.stdout),
        "{\"text\":\"Hey, Ada!\",\"total\":1}\n"
    );

    let mut args = args.to_vec();
    args.extend(["--config", r#"{"greeting":"Hi"}"#]);
    let output = pluginctl(&args);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        text(&output.stdout),
        "{\"text\":\"Hi, Ada!\",\"total\":1}\n"
    );
}
