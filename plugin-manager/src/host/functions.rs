//! Where the manager puts the embedder's host functions in front of the
//! services [`HostServices::host_for`](super::HostServices::host_for) made.

use std::sync::Arc;

use plugin_core::{Granted, HostApi, HostFunctions, HttpAllowlist, HttpRequestRule};

/// `host` (what the host's services made for `plugin`) answering calls by
/// name from `functions`, the caller named by the host, its HTTP requests
/// by name held to what it was `granted`. What the manager hands a
/// plugin's runner.
pub fn with_functions(
    functions: &HostFunctions,
    plugin: &str,
    host: Arc<dyn HostApi>,
    granted: &Granted,
) -> Arc<dyn HostApi> {
    let http = HttpRequestRule::new(plugin, HttpAllowlist::new(&granted.http));
    functions.serve(plugin, host, http)
}
