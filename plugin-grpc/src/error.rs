//! Why a gRPC plugin could not be loaded.

use std::path::PathBuf;
use std::time::Duration;

/// A failure between "run this binary" and "the plugin answers": reported
/// inside a [`RunnerError`](plugin_core::RunnerError) that names the plugin.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LaunchError {
    /// The executable does not match `grpc.checksum`; it was not run.
    #[error("{}: checksum mismatch: the manifest expects {expected}, the file is {actual}; not run", binary.display())]
    ChecksumMismatch {
        /// The executable.
        binary: PathBuf,
        /// What `grpc.checksum` says.
        expected: String,
        /// What the file hashes to.
        actual: String,
    },
    /// The executable is not a regular file within the host's
    /// `max_artifact_size`; it was neither read nor run.
    #[error(transparent)]
    Artifact(#[from] plugin_core::ArtifactError),
    /// The executable could not be read or started.
    #[error(
        "cannot run {}: {source}{}",
        binary.display(),
        hint.as_ref().map(|h| format!("; likely cause: {h}")).unwrap_or_default()
    )]
    Spawn {
        /// The executable.
        binary: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
        /// The grant likely missing (a script's interpreter the
        /// confinement hides), in a sentence.
        hint: Option<String>,
    },
    /// Nothing was printed on stdout within the start timeout.
    #[error("no go-plugin handshake on stdout within {}", plugin_types::duration::format(*.0))]
    HandshakeTimeout(Duration),
    /// The process exited before printing its handshake: how it ended,
    /// the likely missing grant when the confinement is the likely cause,
    /// and its last lines on stderr.
    #[error(
        "exited ({status}) before the go-plugin handshake{}{}",
        hint.as_ref().map(|h| format!("; likely cause: {h}")).unwrap_or_default(),
        quote_lines(stderr)
    )]
    ExitedBeforeHandshake {
        /// How it ended.
        status: String,
        /// Its last lines on stderr (at most 20 lines, 4 KiB).
        stderr: Vec<String>,
        /// The grant likely missing, in a sentence.
        hint: Option<String>,
    },
    /// The first line on stdout is not a handshake this host accepts.
    #[error("bad handshake {line:?}: {reason}")]
    BadHandshake {
        /// What the plugin printed.
        line: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The plugin's socket did not accept a gRPC connection.
    #[error("cannot connect to {address}: {reason}")]
    Connect {
        /// The socket path or `host:port` from the handshake.
        address: String,
        /// The transport's error.
        reason: String,
    },
    /// A certificate for AutoMTLS could not be made, or the plugin's could
    /// not be read.
    #[error("AutoMTLS: {0}")]
    Mtls(#[from] proto::mtls::MtlsError),
    /// The process could not be confined as the host's policy requires.
    #[error("confinement: {0}")]
    Confine(#[from] crate::confine::ConfineError),
    /// The plugin's `grpc.health.v1` service says it is not serving.
    #[error("health check of service \"plugin\" failed: {0}")]
    Unhealthy(String),
}

/// `lines` quoted after an error, one indented line each, or nothing.
fn quote_lines(lines: &[String]) -> String {
    if lines.is_empty() {
        return String::new();
    }
    let mut text = String::from("; its last lines on stderr:");
    for line in lines {
        text.push_str("\n    ");
        text.push_str(line);
    }
    text
}
