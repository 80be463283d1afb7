//! Opening a gRPC channel to an address from a handshake or a broker
//! `ConnInfo` (a unix socket path or a TCP `host:port`), in the clear or
//! with AutoMTLS; and the TLS side of a listener, for servers.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_stream::{Stream, StreamExt as _};
use tonic::transport::server::Connected;
use tonic::transport::{Channel, Endpoint, Error};

use crate::channel::Direct;
use crate::handshake::Network;

/// How long a TLS handshake may take before the connection is dropped.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A byte stream of either network, in the clear or in TLS.
trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// Connects to `address` over `network`, with TLS when `tls` is given (the
/// AutoMTLS client configuration) and without otherwise (go-plugin's
/// default); the channel reconnects by itself if the connection drops.
pub async fn connect(
    network: Network,
    address: &str,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<Channel, Error> {
    let address = address.to_owned();
    // The URI is required by tonic but unused: the connector below decides
    // where to connect.
    Endpoint::from_static("http://plugin")
        .connect_with_connector(tower::service_fn(move |_| {
            let address = address.clone();
            let tls = tls.clone();
            async move { open(network, &address, tls).await.map(TokioIo::new) }
        }))
        .await
}

/// Connects to `address` like [`connect`], on one HTTP/2 connection that is
/// not re-established: the [`Direct`] channel a host uses for a plugin it
/// started, whose connection lives as long as the plugin.
pub async fn connect_direct(
    network: Network,
    address: &str,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> io::Result<Direct> {
    let stream = open(network, address, tls).await?;
    Direct::handshake(stream).await.map_err(|e| {
        e.into_io()
            .unwrap_or_else(|| io::Error::other("the HTTP/2 handshake failed"))
    })
}

/// A stream to `address`, in TLS when `tls` is given.
async fn open(
    network: Network,
    address: &str,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> io::Result<Box<dyn Io>> {
    let stream: Box<dyn Io> = match network {
        Network::Tcp => {
            let stream = tokio::net::TcpStream::connect(address).await?;
            stream.set_nodelay(true)?;
            Box::new(stream)
        }
        Network::Unix => Box::new(tokio::net::UnixStream::connect(address).await?),
    };
    Ok(match tls {
        None => stream,
        Some(config) => Box::new(
            tokio_rustls::TlsConnector::from(config)
                .connect(crate::mtls::server_name(), stream)
                .await?,
        ),
    })
}

/// A server-side TLS connection, for `serve_with_incoming`.
pub struct TlsConn<S>(tokio_rustls::server::TlsStream<S>);

/// The TLS connections made on `incoming`'s streams with `config`; each
/// handshake runs on its own task (bounded by [`TLS_HANDSHAKE_TIMEOUT`]), so
/// a slow or failing client holds up no other. Connections whose handshake
/// fails (a certificate not pinned, say) are dropped.
pub fn tls_incoming<S, I>(
    incoming: I,
    config: Arc<rustls::ServerConfig>,
) -> impl Stream<Item = io::Result<TlsConn<S>>> + Send + 'static
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    I: Stream<Item = io::Result<S>> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::spawn(async move {
        let mut incoming = std::pin::pin!(incoming);
        while let Some(stream) = incoming.next().await {
            let Ok(stream) = stream else {
                continue;
            };
            if tx.is_closed() {
                return;
            }
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let accepted =
                    tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await;
                if let Ok(Ok(stream)) = accepted {
                    let _ = tx.send(Ok(TlsConn(stream))).await;
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

impl<S> Connected for TlsConn<S> {
    type ConnectInfo = ();

    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsConn<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsConn<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}
