//! Plugin folders for manager tests and benches (included with
//! `#[path = "../../test-support/plugin_dirs.rs"] mod plugin_dirs;`, next to
//! `examples.rs`): copies of the built examples, the raw gRPC test plugin,
//! and the edits a deployment makes to them.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use crate::examples;

/// Copies the example `name` (`hello-wasm`, `hello-grpc`, `hello-go`, or a
/// component: its manifest and built artifact) into `root/folder`.
pub(crate) fn copy_example(name: &str, root: &Path, folder: &str) -> PathBuf {
    examples::built();
    let from = examples::workspace().join("examples/plugins").join(name);
    let to = root.join(folder);
    std::fs::create_dir_all(&to).unwrap();
    let artifact = match name {
        "hello-wasm" => "hello_wasm.wasm",
        "hello-grpc" => "hello-grpc",
        "hello-component" => "hello_component.wasm",
        "hello-python" => "hello_python.wasm",
        "hello-js" => "hello_js.wasm",
        "hello-go" => "hello_go.wasm",
        other => panic!("no example {other}"),
    };
    for file in ["plugin.yaml", artifact] {
        std::fs::copy(from.join(file), to.join(file)).unwrap();
    }
    to
}

/// A folder `root/folder` for the raw gRPC test plugin, named `name`.
pub(crate) fn raw_grpc(root: &Path, folder: &str, name: &str) -> PathBuf {
    let binary = examples::built().host.join("raw-grpc-plugin");
    let dir = root.join(folder);
    std::fs::create_dir_all(&dir).unwrap();
    let yaml = format!(
        "name: {name}\nversion: 1.0.0\nruntime: grpc\ngrpc:\n  binary: {}\n  args: [serve]\n",
        binary.display()
    );
    std::fs::write(dir.join("plugin.yaml"), yaml).unwrap();
    dir
}

/// Replaces `path` with `bytes` the way deployments do: a temporary file
/// renamed over it.
pub(crate) fn replace(path: &Path, bytes: &[u8]) {
    let temporary = path.with_extension("partial");
    std::fs::write(&temporary, bytes).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}

/// Rewrites the first line starting with `key:` of a folder's manifest.
pub(crate) fn set_manifest_field(dir: &Path, key: &str, value: &str) {
    let path = dir.join("plugin.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let prefix = format!("{key}:");
    let edited: Vec<String> = text
        .lines()
        .map(|line| {
            if line.starts_with(&prefix) {
                format!("{key}: {value}")
            } else {
                line.to_owned()
            }
        })
        .collect();
    assert_ne!(edited.join("\n"), text.trim_end(), "no {key}: line to edit");
    replace(&path, (edited.join("\n") + "\n").as_bytes());
}

/// Has a wasm plugin's manifest ask for HTTP to `hosts`
/// (`wasm.permissions.http`).
pub(crate) fn ask_http(dir: &Path, hosts: &[&str]) {
    let path = dir.join("plugin.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let list = hosts
        .iter()
        .map(|h| format!("{{host: '{h}'}}"))
        .collect::<Vec<_>>()
        .join(", ");
    let edited = text.replacen(
        "\n  permissions:\n",
        &format!("\n  permissions:\n    http: [{list}]\n"),
        1,
    );
    assert_ne!(edited, text, "no wasm permissions in {}", path.display());
    replace(&path, edited.as_bytes());
}

/// `module` with a custom section appended: the same code, different bytes
/// (a new build of the same plugin).
pub(crate) fn retagged(module: &[u8], tag: &str) -> Vec<u8> {
    let name = b"build-tag";
    let size = 1 + name.len() + tag.len();
    assert!(size < 128, "one-byte LEB128 sizes only");
    let mut bytes = module.to_vec();
    bytes.extend_from_slice(&[0, size as u8, name.len() as u8]);
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(tag.as_bytes());
    bytes
}
