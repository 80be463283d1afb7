//! The host's half of go-plugin's `GRPCBroker`: how a plugin reaches
//! `HostService`.
//!
//! The plugin serves `plugin.GRPCBroker`; the host opens its one
//! `StartStream` and, for each service it offers, listens on a fresh unix
//! socket and sends a `ConnInfo { service_id, network, address }` down the
//! stream. The plugin, given the id in `InitRequest.broker_id`, waits for
//! that `ConnInfo` and dials it. A plugin that serves no broker answers
//! `UNIMPLEMENTED` and simply has no callbacks.

use std::path::Path;
use std::sync::Arc;

use plugin_core::HostApi;
use proto::flowbot::plugin::host_service_server::HostServiceServer;
use proto::go_plugin::ConnInfo;
use proto::go_plugin::grpc_broker_client::GrpcBrokerClient;
use tokio::net::UnixListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::{ReceiverStream, UnixListenerStream};
use tonic::transport::{Channel, Server};

use crate::host_service::HostServiceImpl;

/// The broker id under which `HostService` is offered (go-plugin numbers
/// services from 1).
pub(crate) const HOST_SERVICE_ID: u32 = 1;

/// The host's broker session with one plugin; dropping it stops serving.
pub(crate) struct HostBroker {
    tasks: [JoinHandle<()>; 2],
    /// Keeps the stream's sending half open: closing it tells the plugin the
    /// host has gone.
    _outbound: mpsc::Sender<ConnInfo>,
}

impl HostBroker {
    /// Serves `HostService` for `plugin` on a socket in `socket_dir` and
    /// announces it over the plugin's broker stream on `channel`.
    pub(crate) async fn start(
        channel: Channel,
        plugin: Arc<str>,
        host: Arc<dyn HostApi>,
        socket_dir: &Path,
    ) -> std::io::Result<Self> {
        let path = socket_dir.join(format!("host-{HOST_SERVICE_ID}.sock"));
        let listener = UnixListener::bind(&path)?;
        let service = HostServiceServer::new(HostServiceImpl::new(plugin.clone(), host))
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX);
        let server_plugin = plugin.clone();
        let server = tokio::spawn(async move {
            let result = Server::builder()
                .add_service(service)
                .serve_with_incoming(UnixListenerStream::new(listener))
                .await;
            if let Err(e) = result {
                tracing::warn!(plugin = %server_plugin, "host service stopped: {e}");
            }
        });

        let (outbound, requests) = mpsc::channel(4);
        let announce = ConnInfo {
            service_id: HOST_SERVICE_ID,
            network: "unix".to_owned(),
            address: path.to_string_lossy().into_owned(),
            knock: None,
        };
        // The channel has room: this never waits.
        let _ = outbound.send(announce).await;
        let stream = tokio::spawn(async move {
            let mut client = GrpcBrokerClient::new(channel);
            match client.start_stream(ReceiverStream::new(requests)).await {
                Ok(response) => {
                    let mut inbound = response.into_inner();
                    // This host dials nothing the plugin offers; note and drop.
                    while let Ok(Some(info)) = inbound.message().await {
                        tracing::debug!(plugin = %plugin, id = info.service_id, "plugin offered a broker service; ignored");
                    }
                }
                Err(status) if status.code() == tonic::Code::Unimplemented => {
                    tracing::debug!(plugin = %plugin, "plugin serves no broker: host callbacks unavailable");
                }
                Err(status) => {
                    tracing::debug!(plugin = %plugin, "broker stream ended: {}", status.message());
                }
            }
        });
        Ok(Self {
            tasks: [server, stream],
            _outbound: outbound,
        })
    }
}

impl Drop for HostBroker {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
