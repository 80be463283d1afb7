//! Shared by integration tests that run the Python plugin (included with
//! `#[path = "../../test-support/python.rs"] mod python;`): a virtual
//! environment at `target/python-interop/venv` with the pinned packages of
//! `plugin-grpc/tests/python/requirements.txt` (from PyPI), and the gRPC
//! stubs of `proto/plugin.proto` generated into `target/python-interop/stubs`
//! (nothing generated is committed). Made once, then reused while the
//! requirements do not change. Without Python the test fails, saying how to
//! install it.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Where things are.
pub(crate) struct Python {
    /// `target/python-interop`: the venv and the stubs.
    pub(crate) root: PathBuf,
    /// The venv's interpreter.
    pub(crate) interpreter: PathBuf,
    /// The installation the venv was made from (its standard library).
    pub(crate) base_prefix: PathBuf,
    /// The generated stubs.
    pub(crate) stubs: PathBuf,
    /// The plugin script.
    pub(crate) script: PathBuf,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn run(command: &mut Command, what: &str) -> String {
    let output = command.output().unwrap_or_else(|e| {
        panic!(
            "{what}: {e}; these tests need Python 3.11+ with venv and pip on PATH \
             (Debian: apt install python3 python3-venv python3-pip) and access to PyPI"
        )
    });
    assert!(
        output.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Makes (once) and returns the environment.
pub(crate) fn ready() -> &'static Python {
    static READY: OnceLock<Python> = OnceLock::new();
    READY.get_or_init(|| {
        let root = workspace().join("target/python-interop");
        let venv = root.join("venv");
        let interpreter = venv.join("bin/python3");
        let requirements = workspace().join("plugin-grpc/tests/python/requirements.txt");
        let wanted = std::fs::read_to_string(&requirements).unwrap();
        let marker = venv.join("installed-requirements.txt");
        if std::fs::read_to_string(&marker).ok().as_deref() != Some(wanted.as_str()) {
            let _ = std::fs::remove_dir_all(&venv);
            run(
                Command::new("python3").arg("-m").arg("venv").arg(&venv),
                "python3 -m venv",
            );
            run(
                Command::new(&interpreter)
                    .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r"])
                    .arg(&requirements),
                "pip install -r plugin-grpc/tests/python/requirements.txt",
            );
            std::fs::write(&marker, &wanted).unwrap();
        }
        let stubs = root.join("stubs");
        std::fs::create_dir_all(&stubs).unwrap();
        let includes = run(
            Command::new(&interpreter).args([
                "-c",
                "import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), '_proto'))",
            ]),
            "finding grpc_tools' protos",
        );
        run(
            Command::new(&interpreter)
                .args(["-m", "grpc_tools.protoc"])
                .arg(format!("-I{}", workspace().join("proto").display()))
                .arg(format!("-I{includes}"))
                .arg(format!("--python_out={}", stubs.display()))
                .arg(format!("--grpc_python_out={}", stubs.display()))
                .arg("plugin.proto"),
            "generating the Python stubs",
        );
        let base_prefix = run(
            Command::new(&interpreter).args(["-c", "import sys; print(sys.base_prefix)"]),
            "asking Python for its installation",
        );
        Python {
            root,
            interpreter,
            base_prefix: PathBuf::from(base_prefix),
            stubs,
            script: workspace().join("plugin-grpc/tests/python/hostile_plugin.py"),
        }
    })
}
