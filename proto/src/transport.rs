//! Opening a gRPC channel to an address from a handshake or a broker
//! `ConnInfo`: a unix socket path or a TCP `host:port`.

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint, Error};

use crate::handshake::Network;

/// Connects to `address` over `network`, without TLS (go-plugin's default);
/// the channel reconnects by itself if the connection drops.
pub async fn connect(network: Network, address: &str) -> Result<Channel, Error> {
    match network {
        Network::Tcp => {
            Endpoint::from_shared(format!("http://{address}"))?
                .tcp_nodelay(true)
                .connect()
                .await
        }
        Network::Unix => {
            let path = address.to_owned();
            // The URI is required by tonic but unused: the connector below
            // decides where to connect.
            Endpoint::from_static("http://plugin.sock")
                .connect_with_connector(tower::service_fn(move |_| {
                    let path = path.clone();
                    async move {
                        let stream = tokio::net::UnixStream::connect(path).await?;
                        Ok::<_, std::io::Error>(TokioIo::new(stream))
                    }
                }))
                .await
        }
    }
}
