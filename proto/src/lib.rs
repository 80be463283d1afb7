//! The wire contracts of gRPC plugins, as generated tonic/prost code.
//!
//! This crate owns `plugin.proto` (package `flowbot.plugin`: the
//! `PluginService` a plugin serves and the `HostService` a host serves back,
//! wire-compatible with flowbot's, with documented extensions) and
//! hashicorp/go-plugin's support protocols (package `plugin`: the connection
//! broker, the process controller and stdio forwarding). Health checking uses
//! the standard `grpc.health.v1` service from `tonic-health`.
//!
//! [`handshake`] holds go-plugin's process handshake as flowbot configures
//! it (magic cookie, versions, the line a plugin prints), shared by host and
//! SDK; [`transport::connect`] opens a channel to the address it names, and
//! [`transport::connect_direct`] a [`channel::Direct`] one on a single
//! connection, as a host uses for the plugins it starts.
//!
//! The generated code is checked in under `src/gen`, so building needs no
//! `protoc`. After editing a `.proto` file run `cargo xtask codegen`; CI runs
//! `cargo xtask codegen --check` to catch stale code.

pub mod channel;
pub mod handshake;
pub mod mtls;
pub mod transport;

/// The default bound on one gRPC message, decoded or encoded, on every
/// channel and server of host and SDK: 4 MiB (gRPC's own default for
/// receiving). A larger message is refused from its length prefix, before
/// it is buffered.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

/// flowbot's plugin protocol: `PluginService`, `HostService` and their messages.
pub mod flowbot {
    /// Package `flowbot.plugin`.
    #[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
    pub mod plugin {
        include!("gen/flowbot.plugin.rs");
    }
}

/// hashicorp/go-plugin's support protocols (proto package `plugin`):
/// `GRPCBroker`, `GRPCController` and `GRPCStdio`.
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod go_plugin {
    include!("gen/plugin.rs");
}

#[cfg(test)]
mod tests {
    use super::flowbot::plugin as pb;
    use super::go_plugin;
    use prost::Message as _;
    use tonic::server::NamedService;

    #[test]
    fn service_paths_match_flowbot_and_go_plugin() {
        type Plugin = pb::plugin_service_server::PluginServiceServer<()>;
        type Host = pb::host_service_server::HostServiceServer<()>;
        type Broker = go_plugin::grpc_broker_server::GrpcBrokerServer<()>;
        type Controller = go_plugin::grpc_controller_server::GrpcControllerServer<()>;
        type Stdio = go_plugin::grpc_stdio_server::GrpcStdioServer<()>;
        assert_eq!(
            <Plugin as NamedService>::NAME,
            "flowbot.plugin.PluginService"
        );
        assert_eq!(<Host as NamedService>::NAME, "flowbot.plugin.HostService");
        assert_eq!(<Broker as NamedService>::NAME, "plugin.GRPCBroker");
        assert_eq!(<Controller as NamedService>::NAME, "plugin.GRPCController");
        assert_eq!(<Stdio as NamedService>::NAME, "plugin.GRPCStdio");
    }

    #[test]
    fn original_field_numbers_are_kept() {
        // CommandRequest{context=1, content=2}: tags 0x0a and 0x12.
        let bytes = pb::CommandRequest {
            context: "c".into(),
            content: "d".into(),
        }
        .encode_to_vec();
        assert_eq!(bytes, [0x0a, 1, b'c', 0x12, 1, b'd']);

        // HTTPCallResponse{status=1 (varint), error=4}.
        let bytes = pb::HttpCallResponse {
            status: 200,
            error: "e".into(),
            ..Default::default()
        }
        .encode_to_vec();
        assert_eq!(bytes, [0x08, 0xc8, 0x01, 0x22, 1, b'e']);
    }

    #[test]
    fn extensions_use_new_numbers_and_old_peers_ignore_them() {
        // InitRequest.broker_id is field 2 (varint).
        let bytes = pb::InitRequest {
            config: "{}".into(),
            broker_id: 7,
        }
        .encode_to_vec();
        assert_eq!(bytes, [0x0a, 2, b'{', b'}', 0x10, 7]);

        // A peer that only knows field 1 still reads the config.
        #[derive(Clone, PartialEq, prost::Message)]
        struct OriginalInitRequest {
            #[prost(string, tag = "1")]
            config: String,
        }
        let old = OriginalInitRequest::decode(bytes.as_slice()).unwrap();
        assert_eq!(old.config, "{}");
    }

    #[test]
    fn go_plugin_messages_keep_their_numbers() {
        let bytes = go_plugin::ConnInfo {
            service_id: 3,
            network: "unix".into(),
            address: "/s".into(),
            knock: None,
        }
        .encode_to_vec();
        assert_eq!(
            bytes,
            [
                0x08, 3, 0x12, 4, b'u', b'n', b'i', b'x', 0x1a, 2, b'/', b's'
            ]
        );
        let stdio = go_plugin::StdioData {
            channel: go_plugin::stdio_data::Channel::Stderr as i32,
            data: b"x".to_vec(),
        };
        assert_eq!(stdio.encode_to_vec(), [0x08, 2, 0x12, 1, b'x']);
    }
}
