//! [`GrpcRuntime`]: process plugins as a [`Runtime`] a host registers.

use std::sync::Arc;

use plugin_core::{Manifest, Runner, RunnerError, RunnerSetup, Runtime};

use crate::runner::GrpcRunner;

/// The `grpc` runtime: each plugin version gets a [`GrpcRunner`], a
/// confined child process spoken to over go-plugin's protocol, with the
/// timeouts its manifest's `grpc.timeouts` asks (held to the host's
/// `timeout` grant when the host granted it).
#[derive(Clone, Debug)]
pub struct GrpcRuntime {
    max_message_size: usize,
}

impl Default for GrpcRuntime {
    fn default() -> Self {
        Self::new()
    }
}

impl GrpcRuntime {
    /// The runtime with a 4 MiB message limit.
    pub fn new() -> Self {
        Self {
            max_message_size: proto::DEFAULT_MAX_MESSAGE_SIZE,
        }
    }

    /// The largest gRPC message exchanged with a plugin, either way (see
    /// [`GrpcRunner::with_max_message_size`]).
    pub fn with_max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }
}

impl Runtime for GrpcRuntime {
    fn runner(
        &self,
        _manifest: &Manifest,
        setup: RunnerSetup,
    ) -> Result<Arc<dyn Runner>, RunnerError> {
        Ok(Arc::new(
            GrpcRunner::new(setup.host)
                .with_granted(setup.granted)
                .with_max_artifact_size(setup.max_artifact_size)
                .with_max_message_size(self.max_message_size),
        ))
    }
}
