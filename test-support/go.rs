//! Shared by integration tests that need the Go interop programs (included
//! with `#[path = "../../test-support/go.rs"] mod go;`): builds
//! `plugin-grpc/tests/go` (a go-plugin plugin and a go-plugin host, on the
//! module versions its go.mod pins) once per test process with the machine's
//! Go, and says where the binaries are. Without Go the test fails, saying
//! how to install it.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The folder holding the Go module.
pub(crate) fn module() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("plugin-grpc/tests/go")
}

/// The workspace's plugin.proto, which the Go programs compile at run time.
pub(crate) fn contract() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("proto/plugin.proto")
}

/// Builds the Go programs (once) and returns the folder holding `goplugin`
/// and `gohost`.
pub(crate) fn built() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let out = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .join("target/go-interop");
        std::fs::create_dir_all(&out).unwrap();
        let output = Command::new("go")
            .args(["build", "-o"])
            // A folder: one binary per package.
            .arg(format!("{}/", out.display()))
            .arg("./...")
            .current_dir(module())
            .env("GOTOOLCHAIN", "local")
            .env("GOFLAGS", "-mod=readonly")
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "these tests need Go 1.26 or newer on PATH ({e}); install it from https://go.dev/dl \
                     or Debian's golang package, with access to the Go module proxy"
                )
            });
        assert!(
            output.status.success(),
            "go build in {} failed:\n{}",
            module().display(),
            String::from_utf8_lossy(&output.stderr)
        );
        out
    })
}
