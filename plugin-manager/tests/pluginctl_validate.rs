//! `pluginctl validate`, run as a real process.

#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn pluginctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pluginctl"))
        .args(args)
        .output()
        .expect("pluginctl runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/plugins")
}

fn write_plugin(root: &Path, folder: &str, text: &str) -> PathBuf {
    let dir = root.join(folder);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("plugin.yaml"), text).unwrap();
    dir
}

#[test]
fn the_bundled_examples_are_valid() {
    let output = pluginctl(&["validate", examples().to_str().unwrap()]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        stdout(&output),
        "ok hello-component 0.1.0 wasm\n  grants memory 16MiB\n  grants timeout 5s\n  grants instances 4\nok hello-go 0.1.0 wasm\n  grants memory 64MiB\n  grants timeout 5s\n  grants instances 4\nok hello-grpc 0.1.0 grpc\n  grants network none\n  grants memory 1GiB\n  grants processes 256\n  grants confinement warn\nok hello-js 0.1.0 wasm\n  grants memory 128MiB\n  grants timeout 5s\n  grants instances 4\nok hello-python 0.1.0 wasm\n  grants memory 128MiB\n  grants timeout 5s\n  grants instances 4\nok hello-wasm 0.1.0 wasm\n  grants memory 16MiB\n  grants timeout 5s\n  grants instances 4\n"
    );
}

#[test]
fn a_broken_manifest_exits_1_naming_file_and_field() {
    let root = tempfile::tempdir().unwrap();
    write_plugin(
        root.path(),
        "good",
        "name: good\nversion: '1'\nruntime: grpc\ngrpc: {binary: ./g}\n",
    );
    let bad = write_plugin(
        root.path(),
        "echo",
        "name: echo\nruntime: wasm\nwasm:\n  module: e.wasm\n  permissions:\n    memory:\n      max: 64XB\n",
    );
    let output = pluginctl(&["validate", root.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let text = stdout(&output);
    let expected_error = format!(
        "error {}: wasm.permissions.memory.max: \"64XB\" is not a size",
        bad.join("plugin.yaml").display()
    );
    assert!(
        text.lines().any(|l| l.starts_with(&expected_error)),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l == "ok good 1 grpc"),
        "the valid neighbour is still reported: {text}"
    );
}

#[test]
fn several_paths_of_each_kind() {
    let root = tempfile::tempdir().unwrap();
    let dir = write_plugin(
        root.path(),
        "one",
        "name: one\nruntime: wasm\nwasm: {module: a.wasm}\n",
    );
    let file = root.path().join("two.yaml");
    std::fs::write(&file, "name: two\nruntime: grpc\ngrpc: {binary: b}\n").unwrap();
    let output = pluginctl(&[
        "validate",
        dir.to_str().unwrap(),
        file.to_str().unwrap(),
        examples().to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
    // One line per plugin, each followed by what it is granted.
    let text = stdout(&output);
    let plugins = text.lines().filter(|l| !l.starts_with("  ")).count();
    assert_eq!(plugins, 8, "{text}");
    assert!(
        text.contains("ok one - wasm\n  grants memory 64MiB\n"),
        "{text}"
    );

    let empty = tempfile::tempdir().unwrap();
    let output = pluginctl(&["validate", empty.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains("no plugin.yaml"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn config_is_checked_against_each_schema() {
    let root = tempfile::tempdir().unwrap();
    let good = root.path().join("good.json");
    std::fs::write(&good, r#"{"greeting": "hi"}"#).unwrap();
    let examples = examples();
    let output = pluginctl(&[
        "validate",
        examples.to_str().unwrap(),
        "--config",
        good.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");

    let bad = root.path().join("bad.yaml");
    std::fs::write(&bad, "greeting: ''\nvolume: 11\n").unwrap();
    let output = pluginctl(&[
        "validate",
        examples.to_str().unwrap(),
        "--config",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let text = stdout(&output);
    for plugin in ["hello-grpc", "hello-wasm"] {
        let line = text
            .lines()
            .find(|l| l.contains(&format!("plugin {plugin}:")))
            .unwrap_or_else(|| panic!("no error line for {plugin}: {text}"));
        assert!(
            line.starts_with("error ") && line.contains("/greeting:"),
            "{line}"
        );
        assert!(
            line.contains("volume"),
            "every violation is reported: {line}"
        );
    }

    let output = pluginctl(&[
        "validate",
        examples.to_str().unwrap(),
        "--config",
        "/nonexistent.yaml",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("--config /nonexistent.yaml"), "{err}");
}

#[test]
fn usage_errors_are_reported_by_clap() {
    let output = pluginctl(&["validate"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("PATH"));
}

#[test]
fn list_shows_what_each_plugin_provides_and_what_is_broken() {
    let root = tempfile::tempdir().unwrap();
    write_plugin(root.path(), "a-broken", "name: broken\nruntime: wasm\n");
    write_plugin(
        root.path(),
        "b-copy",
        "name: hello-wasm\nruntime: wasm\nwasm: {module: m.wasm}\n",
    );
    let output = pluginctl(&[
        "list",
        examples().to_str().unwrap(),
        root.path().to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    assert!(text.contains("\n  grants memory 16MiB\n"), "{text}");
    // The process plugin: what this kernel would hold it to.
    assert!(
        text.contains("\n  confined filesystem: Landlock ABI")
            && text.contains("\n  confined network: none")
            && text.contains("\n  confined processes: ")
            && !text.contains("NOT ENFORCED"),
        "{text}"
    );
    // Grants are indented under their plugin; the rows are the rest.
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with("  ")).collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["NAME", "VERSION", "RUNTIME", "PROVIDES"]
    );
    let examples = [
        ("hello-component", "greeting/greet_component"),
        ("hello-go", "greeting/greet_go"),
        ("hello-grpc", "greeting/greet_remote"),
        ("hello-js", "greeting/greet_js"),
        ("hello-python", "greeting/greet_python"),
        ("hello-wasm", "greeting/greet"),
    ];
    for (row, (name, ability)) in lines[1..].iter().zip(examples) {
        let runtime = if name == "hello-grpc" { "grpc" } else { "wasm" };
        assert_eq!(
            row.split_whitespace().collect::<Vec<_>>(),
            [name, "0.1.0", runtime, "module,", "ability", ability],
            "{text}"
        );
    }
    let rest = &lines[1 + examples.len()..];
    assert!(
        rest[0].starts_with("duplicate ")
            && rest[0].contains("b-copy")
            && rest[0].contains("already provided by"),
        "{text}"
    );
    assert!(
        rest[1].starts_with("broken ") && rest[1].contains("a-broken") && rest[1].contains("wasm"),
        "{text}"
    );
    assert_eq!(rest.len(), 2, "{text}");
}

#[test]
fn a_runtime_pluginctl_does_not_register_is_reported() {
    let root = tempfile::tempdir().unwrap();
    let dir = write_plugin(
        root.path(),
        "boxed",
        "name: boxed\nruntime: docker\ndocker: {image: boxed:1}\n",
    );
    let output = pluginctl(&["validate", root.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let text = stdout(&output);
    assert_eq!(
        text.trim(),
        format!(
            "error {}: runtime: \"docker\" is not registered with pluginctl (registered: grpc, wasm); only a host that registers it can load this plugin",
            dir.join("plugin.yaml").display()
        )
    );
}
