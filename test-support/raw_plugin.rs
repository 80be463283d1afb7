//! Shared by the gRPC runner's integration tests (included with
//! `#[path = "../../test-support/raw_plugin.rs"] mod raw_plugin;`, next to
//! `examples`): a folder running `raw-grpc-plugin`, and helpers to watch its
//! processes.

#![allow(dead_code, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use plugin_core::Manifest;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::examples;

/// `value` as call params.
pub(crate) fn raw(value: &Value) -> Box<RawValue> {
    RawValue::from_string(value.to_string()).unwrap()
}

/// A folder with a manifest running `raw-grpc-plugin MODE MARKER`; the
/// marker (the folder's path) finds the process in /proc.
pub(crate) struct RawPlugin {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) manifest: Manifest,
}

impl RawPlugin {
    /// The plugin `raw` in `mode`.
    pub(crate) fn new(mode: &str) -> Self {
        Self::with_yaml("raw", mode, "")
    }

    /// The plugin `raw` in `mode`, its binary checked against `checksum`.
    pub(crate) fn with_checksum(mode: &str, checksum: Option<String>) -> Self {
        let checksum = checksum.map_or(String::new(), |c| format!("  checksum: {c}\n"));
        Self::with_yaml("raw", mode, &checksum)
    }

    /// The plugin `name` in `mode`, with `grpc` (indented two spaces) added
    /// to its manifest's `grpc:` section.
    pub(crate) fn with_yaml(name: &str, mode: &str, grpc: &str) -> Self {
        let binary = examples::built().host.join("raw-grpc-plugin");
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().display().to_string();
        let yaml = format!(
            "name: {name}\nruntime: grpc\ngrpc:\n  binary: {}\n  args: [{mode}, {marker}]\n{grpc}",
            binary.display()
        );
        std::fs::write(dir.path().join("plugin.yaml"), yaml).unwrap();
        let manifest = Manifest::from_file(dir.path()).unwrap();
        Self { dir, manifest }
    }

    /// The marker on its command line.
    pub(crate) fn marker(&self) -> String {
        self.dir.path().display().to_string()
    }
}

/// Processes whose command line contains `marker`.
pub(crate) fn processes_with(marker: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| is_running(*pid))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(marker))
                .unwrap_or(false)
        })
        .collect()
}

/// Whether `pid` exists and is not a zombie.
pub(crate) fn is_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        })
        .unwrap_or(false)
}

/// Polls until `gone()` holds; panics with `what` after a generous deadline
/// (a correctness check, not a timing one).
pub(crate) async fn eventually(what: &str, gone: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !gone() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
