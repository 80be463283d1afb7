//! `network`: the sockets a plugin asks for, in either runtime's
//! `permissions`.

use serde::{Deserialize, Serialize};

use super::error::FieldError;
use super::nullable;

/// Outbound network a plugin asks for. Empty: no network at all.
///
/// A process (`grpc.permissions.network`) gets TCP connect to these ports
/// on any address (the kernel filters TCP by port); no UDP or raw sockets
/// without them. A wasm guest (`wasm.permissions.network`) gets TCP connect
/// through `wasi:sockets` to these ports, on public addresses and on the
/// non-public networks the host grants (`private_networks`), and name
/// lookup; never UDP, and never a listening socket.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkPermission {
    /// TCP ports it may connect to.
    #[serde(deserialize_with = "nullable")]
    pub connect: Vec<u16>,
}

impl NetworkPermission {
    /// Checks the ports, naming the field under `prefix`
    /// (`wasm.permissions.network`).
    pub(super) fn validate(&self, prefix: &str) -> Result<(), FieldError> {
        for (i, port) in self.connect.iter().enumerate() {
            if *port == 0 {
                return Err(FieldError::new(
                    format!("{prefix}.connect[{i}]"),
                    "0 is not a port (1 to 65535)",
                ));
            }
        }
        Ok(())
    }
}
