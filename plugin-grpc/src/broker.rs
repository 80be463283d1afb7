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
use std::time::Duration;

use plugin_core::HostApi;
use proto::channel::Direct;
use proto::flowbot::plugin::host_service_server::HostServiceServer;
use proto::go_plugin::ConnInfo;
use proto::go_plugin::grpc_broker_client::GrpcBrokerClient;
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::{ReceiverStream, UnixListenerStream};
use tonic::transport::Server;

use crate::connections;
use crate::host_service::HostServiceImpl;

/// The broker id under which `HostService` is offered (go-plugin numbers
/// services from 1).
pub(crate) const HOST_SERVICE_ID: u32 = 1;

/// Host callbacks one plugin connection may have running at once; more
/// wait their turn.
const HOST_CONCURRENCY: usize = 32;
/// Connections to one plugin's host broker open at once; more are closed
/// as soon as they are accepted. A plugin needs one (go-plugin dials its
/// host once); the rest is room for reconnecting.
pub(crate) const HOST_CONNECTIONS: usize = 8;
/// How long one host callback may take (an HTTP request has its own,
/// shorter timeout inside this).
const HOST_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The host's broker session with one plugin. [`close`](Self::close) then
/// [`closed`](Self::closed) end it in order; dropping it aborts both tasks
/// (connections already accepted then end only when the plugin hangs up).
pub(crate) struct HostBroker {
    server: JoinHandle<()>,
    stream: JoinHandle<()>,
    /// Asks the server to stop accepting and to end its connections.
    shutdown: Option<oneshot::Sender<()>>,
    /// Keeps the stream's sending half open: closing it tells the plugin the
    /// host has gone.
    outbound: Option<mpsc::Sender<ConnInfo>>,
}

impl HostBroker {
    /// Serves `HostService` for `plugin` on a socket in `socket_dir` and
    /// announces it over the plugin's broker stream on `channel`. Messages
    /// are bounded to `max_message_size` each way; at most
    /// [`HOST_CONNECTIONS`] connections are open at once, each with at most
    /// [`HOST_CONCURRENCY`] callbacks running, each bounded by
    /// [`HOST_REQUEST_TIMEOUT`].
    pub(crate) async fn start(
        channel: Direct,
        plugin: Arc<str>,
        host: Arc<dyn HostApi>,
        socket_dir: &Path,
        max_message_size: usize,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> std::io::Result<Self> {
        let path = socket_dir.join(format!("host-{HOST_SERVICE_ID}.sock"));
        let listener = UnixListener::bind(&path)?;
        let service = HostServiceServer::new(HostServiceImpl::new(plugin.clone(), host))
            .max_decoding_message_size(max_message_size)
            .max_encoding_message_size(max_message_size);
        let server_plugin = plugin.clone();
        let (shutdown, stop_serving) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let router = Server::builder()
                .concurrency_limit_per_connection(HOST_CONCURRENCY)
                .timeout(HOST_REQUEST_TIMEOUT)
                .add_service(service);
            let incoming = connections::capped(
                UnixListenerStream::new(listener),
                HOST_CONNECTIONS,
                server_plugin.clone(),
            );
            let stopped = async {
                let _ = stop_serving.await;
            };
            // With AutoMTLS, only the plugin's certificate gets in.
            let result = match tls {
                Some(tls) => {
                    let incoming = proto::transport::tls_incoming(incoming, tls);
                    router.serve_with_incoming_shutdown(incoming, stopped).await
                }
                None => router.serve_with_incoming_shutdown(incoming, stopped).await,
            };
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
            server,
            stream,
            shutdown: Some(shutdown),
            outbound: Some(outbound),
        })
    }

    /// Closes the broker stream (the plugin sees the host go, as go-plugin's
    /// host closes its broker before `Shutdown`) and tells the host service
    /// to stop: no new connections, current ones end after their requests.
    pub(crate) fn close(&mut self) {
        self.outbound = None;
        self.stream.abort();
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    /// Waits, up to `grace`, until the host service and every connection it
    /// accepted have ended, so nothing of this plugin holds the host any
    /// more (a host can then reopen what it owns, e.g. its KV file). Past
    /// `grace` the server is aborted.
    pub(crate) async fn closed(mut self, grace: Duration) {
        self.close();
        if tokio::time::timeout(grace, &mut self.server).await.is_err() {
            tracing::debug!("host service connections still open after {grace:?}; aborted");
        }
    }
}

impl Drop for HostBroker {
    fn drop(&mut self) {
        self.stream.abort();
        self.server.abort();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use pb::host_service_client::HostServiceClient;
    use plugin_core::MemoryHost;
    use proto::flowbot::plugin as pb;

    /// A host broker for plugin `p` serving `host` in `dir`, and its
    /// socket. No plugin broker to announce to (the connection's far end
    /// is gone): the stream task just ends.
    async fn serve(dir: &Path, host: Arc<MemoryHost>) -> (HostBroker, std::path::PathBuf) {
        let (io, far_end) = tokio::io::duplex(4096);
        let nowhere = Direct::handshake(io).await.unwrap();
        drop(far_end);
        let broker = HostBroker::start(
            nowhere,
            "p".into(),
            host,
            dir,
            proto::DEFAULT_MAX_MESSAGE_SIZE,
            None,
        )
        .await
        .unwrap();
        (broker, dir.join(format!("host-{HOST_SERVICE_ID}.sock")))
    }

    async fn client(path: &Path) -> HostServiceClient<tonic::transport::Channel> {
        let channel = proto::transport::connect(
            proto::handshake::Network::Unix,
            &path.to_string_lossy(),
            None,
        )
        .await
        .unwrap();
        HostServiceClient::new(channel)
    }

    /// A plugin sending a 100 MiB `KVSet` over the real host socket: refused
    /// from its length prefix (the host never buffers it), nothing stored,
    /// and the host service keeps answering.
    #[tokio::test]
    async fn an_oversized_callback_is_refused_and_the_host_keeps_serving() {
        let dir = tempfile::tempdir().unwrap();
        let host = Arc::new(MemoryHost::new("p", serde_json::json!({})));
        let (broker, path) = serve(dir.path(), host.clone()).await;
        let mut client = client(&path).await.max_encoding_message_size(usize::MAX);

        let huge = pb::KvSetRequest {
            key: "big".into(),
            value: vec![7; 100 * 1024 * 1024],
        };
        let status = client.kv_set(huge).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::OutOfRange, "{status:?}");
        assert!(
            status.message().contains("message length too large"),
            "{status:?}"
        );
        assert_eq!(host.kv_get("big").await.unwrap(), None, "nothing stored");

        client
            .kv_set(pb::KvSetRequest {
                key: "small".into(),
                value: b"ok".to_vec(),
            })
            .await
            .unwrap();
        assert_eq!(host.kv_get("small").await.unwrap(), Some(b"ok".to_vec()));
        broker.closed(Duration::from_secs(1)).await;
    }

    /// Whether the host kept `stream` open: an HTTP/2 server speaks first
    /// (its SETTINGS), a closed connection reads end-of-file.
    async fn kept_open(stream: &mut tokio::net::UnixStream) -> bool {
        use tokio::io::AsyncReadExt as _;
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
        matches!(read, Ok(Ok(n)) if n > 0)
    }

    /// Fifty connections to a plugin's host socket: the host keeps
    /// [`HOST_CONNECTIONS`] open (the plugin's own among them) and closes
    /// the rest at once; the plugin's callbacks keep working throughout,
    /// and a slot given back is usable again.
    #[tokio::test]
    async fn connections_beyond_the_cap_are_closed_and_callbacks_still_work() {
        let dir = tempfile::tempdir().unwrap();
        let host = Arc::new(MemoryHost::new("p", serde_json::json!({})));
        let (broker, path) = serve(dir.path(), host.clone()).await;
        let mut plugin = client(&path).await;
        let set = |key: &str| pb::KvSetRequest {
            key: key.into(),
            value: b"v".to_vec(),
        };
        plugin.kv_set(set("before")).await.unwrap();

        let mut flood = Vec::new();
        for _ in 0..50 {
            flood.push(tokio::net::UnixStream::connect(&path).await.unwrap());
        }
        let mut open = 0;
        for stream in &mut flood {
            if kept_open(stream).await {
                open += 1;
            }
        }
        assert_eq!(open, HOST_CONNECTIONS - 1, "the plugin's own holds one");
        plugin.kv_set(set("during")).await.unwrap();
        assert_eq!(host.kv_get("during").await.unwrap(), Some(b"v".to_vec()));

        // Hanging up gives the slots back.
        drop(flood);
        let mut again = loop {
            let mut stream = tokio::net::UnixStream::connect(&path).await.unwrap();
            if kept_open(&mut stream).await {
                break stream;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        drop(again);
        again = tokio::net::UnixStream::connect(&path).await.unwrap();
        drop(again);
        let mut late = client(&path).await;
        late.kv_set(set("after")).await.unwrap();
        broker.closed(Duration::from_secs(1)).await;
    }
}
