//! [`Runtime`]: a kind of plugin execution environment, registered by a
//! host under the name manifests give in `runtime:`.
//!
//! A runtime turns a manifest into a [`Runner`] for one version of one
//! plugin; the host then loads, starts, calls and stops it, and watches its
//! [`events`](Runner::events). The wasm and gRPC runtimes are two
//! registrations; a host adds its own (a container runtime, a native
//! library, plugins written as Rust closures for its tests) the same way,
//! with no change to the host. A runtime owns what its runners share (an
//! engine, a compile cache, timeouts) and nothing of any one plugin.
//!
//! A manifest for runtime `NAME` carries its settings in a section of the
//! same name, which the runtime reads with [`Manifest::section`]; the wasm
//! and gRPC sections are parsed (strictly) by [`Manifest`] itself.

use std::sync::Arc;

use crate::error::RunnerError;
use crate::grant::Granted;
use crate::host::HostApi;
use crate::manifest::{Manifest, ManifestError};
use crate::runner::Runner;
use plugin_types::ByteSize;

/// What a host hands a runtime for one version of one plugin.
#[derive(Clone)]
pub struct RunnerSetup {
    /// The plugin's host services, already bound to its identity.
    pub host: Arc<dyn HostApi>,
    /// What the host granted it (folders, network, limits).
    pub granted: Granted,
    /// The largest artifact (module, executable) the runner may read for it.
    pub max_artifact_size: ByteSize,
}

/// A kind of plugin execution environment; see the [module docs](self).
pub trait Runtime: Send + Sync {
    /// Checks `manifest` for what this runtime needs beyond what parsing
    /// checked (its own section, read with [`Manifest::section`]). A
    /// manifest that passes must be one [`runner`](Self::runner) can load.
    /// The default accepts any manifest.
    fn check(&self, manifest: &Manifest) -> Result<(), ManifestError> {
        let _ = manifest;
        Ok(())
    }

    /// A runner for the plugin `manifest` describes, not yet loaded: the
    /// host calls its `load`, then `start`. Each version of a plugin (a
    /// reload, a restart) gets a new runner.
    fn runner(
        &self,
        manifest: &Manifest,
        setup: RunnerSetup,
    ) -> Result<Arc<dyn Runner>, RunnerError>;
}
