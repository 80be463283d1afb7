//! The plugin's half of go-plugin's `GRPCBroker`: the host announces the
//! services it offers (`ConnInfo`) over the stream it opens; the plugin dials
//! them by id.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use proto::go_plugin::ConnInfo;
use proto::go_plugin::grpc_broker_server::GrpcBroker;
use proto::handshake::Network;
use tokio::sync::watch;
use tonic::transport::Channel;
use tonic::{Request, Response, Status, Streaming};

use super::stream::{ServerStream, silent_until};

/// Services announced by the host, by id.
#[derive(Clone)]
pub(crate) struct Broker {
    announced: watch::Sender<HashMap<u32, ConnInfo>>,
    /// Fires when the plugin shuts down, ending the stream.
    shutdown: watch::Receiver<bool>,
    /// With AutoMTLS: how to dial the host's services.
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Broker {
    pub(crate) fn new(
        shutdown: watch::Receiver<bool>,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Self {
        Self {
            announced: watch::Sender::new(HashMap::new()),
            shutdown,
            tls,
        }
    }

    /// Connects to the service the host announced as `id`, waiting up to
    /// `timeout` for the announcement.
    pub(crate) async fn dial(&self, id: u32, timeout: Duration) -> Result<Channel, String> {
        let mut announced = self.announced.subscribe();
        let info = tokio::time::timeout(timeout, announced.wait_for(|m| m.contains_key(&id)))
            .await
            .map_err(|_| format!("the host announced no broker service {id}"))?
            .map_err(|_| "the broker is closed".to_owned())?
            .get(&id)
            .cloned()
            .ok_or_else(|| format!("the host announced no broker service {id}"))?;
        let network = match info.network.as_str() {
            "unix" => Network::Unix,
            "tcp" => Network::Tcp,
            other => return Err(format!("broker service {id} is on network {other:?}")),
        };
        proto::transport::connect(network, &info.address, self.tls.clone())
            .await
            .map_err(|e| format!("dialing broker service {id} at {}: {e}", info.address))
    }
}

#[tonic::async_trait]
impl GrpcBroker for Broker {
    type StartStreamStream = ServerStream<ConnInfo>;

    async fn start_stream(
        &self,
        request: Request<Streaming<ConnInfo>>,
    ) -> Result<Response<Self::StartStreamStream>, Status> {
        let mut inbound = request.into_inner();
        let announced = self.announced.clone();
        tokio::spawn(async move {
            while let Ok(Some(info)) = inbound.message().await {
                announced.send_modify(|m| {
                    m.insert(info.service_id, info);
                });
            }
        });
        // This plugin offers the host nothing over the broker: the outbound
        // half stays open, silent, until shutdown.
        Ok(Response::new(silent_until(self.shutdown.clone())))
    }
}
