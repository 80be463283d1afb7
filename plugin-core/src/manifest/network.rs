//! `network`: the sockets a plugin asks for, in either runtime's
//! `permissions`.

use serde::{Deserialize, Serialize};

use super::error::FieldError;
use super::nullable;

/// Outbound network a plugin asks for. Empty: no network at all.
///
/// A process (`grpc.permissions.network`) gets TCP connect to these ports
/// on any address (the kernel filters TCP by port), and UDP only when it
/// asks `udp` (to any address and port: nothing in the kernel filters UDP
/// by port); never raw sockets nor other protocols. A wasm guest (`wasm.permissions.network`) gets TCP connect
/// through `wasi:sockets` to these ports, on public addresses and on the
/// non-public networks the host grants (`private_networks`), and name
/// lookup; never UDP, and never a listening socket.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkPermission {
    /// TCP ports it may connect to.
    #[serde(deserialize_with = "nullable")]
    pub connect: Vec<u16>,
    /// UDP sockets, to any address and port (a process plugin only; DNS is
    /// the usual reason). The host grants it with `udp: true`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub udp: bool,
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
        if self.udp && prefix.starts_with("wasm.") {
            return Err(FieldError::new(
                format!("{prefix}.udp"),
                "a wasm guest has no UDP (wasi:sockets gives it TCP connect only); remove it",
            ));
        }
        Ok(())
    }
}
