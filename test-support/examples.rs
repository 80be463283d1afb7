//! Shared by integration tests across the workspace (included with
//! `#[path = "../../test-support/examples.rs"] mod examples;`): builds the
//! example and test plugins once per test process with `cargo xtask
//! examples`, the one place that knows how, and says where they are.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Where `cargo xtask examples` put its output.
pub(crate) struct Built {
    /// The wasm32-wasip1 guests (`hello_wasm.wasm`, `fs_guest.wasm`).
    pub(crate) wasm: PathBuf,
    /// The wasm32-wasip2 component guests (`hello_component.wasm`).
    pub(crate) components: PathBuf,
    /// The host binaries (`hello-grpc`, `raw-grpc-plugin`).
    pub(crate) host: PathBuf,
}

/// The workspace root: the nearest folder above the crate holding
/// `Cargo.lock` (crates sit one or two levels down).
pub(crate) fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .unwrap()
        .to_path_buf()
}

/// Builds the plugins (once per test process) and returns where they are.
pub(crate) fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let output = Command::new(cargo)
            .args(["run", "--quiet", "--package", "xtask", "--", "examples"])
            .current_dir(workspace())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "cargo xtask examples failed: {output:?}"
        );
        let stdout = String::from_utf8(output.stdout).unwrap();
        let dir = |key: &str| {
            stdout
                .lines()
                .find_map(|line| line.strip_prefix(key))
                .map(PathBuf::from)
                .unwrap_or_else(|| panic!("no {key} in {stdout:?}"))
        };
        Built {
            wasm: dir("wasm32-wasip1="),
            components: dir("wasm32-wasip2="),
            host: dir("host="),
        }
    })
}
