//! The external-process (gRPC) plugin runner.
//!
//! This crate will own `GrpcRunner`, the [`plugin_core::Runner`] that launches a
//! plugin binary and speaks hashicorp/go-plugin's protocol to it: the
//! handshake line, the tonic channel over a unix or TCP socket, the
//! `PluginService` calls, the `HostService` callbacks served through the
//! go-plugin broker, log forwarding, and the process lifecycle (drain,
//! controller shutdown, kill, exit notification).
