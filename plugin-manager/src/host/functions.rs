//! Where the manager puts the embedder's host functions in front of the
//! services [`HostServices::host_for`](super::HostServices::host_for) made.

use std::sync::Arc;

use plugin_core::{HostApi, HostFunctions};

/// `host` (what the host's services made for `plugin`) answering calls by
/// name from `functions`, the caller named by the host. What the manager
/// hands a plugin's runner.
pub fn with_functions(
    functions: &HostFunctions,
    plugin: &str,
    host: Arc<dyn HostApi>,
) -> Arc<dyn HostApi> {
    functions.serve(plugin, host)
}
