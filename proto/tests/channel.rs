//! The `Direct` channel against a real tonic server over a unix socket:
//! unary calls and statuses, a unary request leaving in one write, a
//! bidirectional stream fed over time, and a connection that breaks.

#![allow(missing_docs, clippy::unwrap_used)]

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use proto::channel::Direct;
use proto::go_plugin::grpc_broker_client::GrpcBrokerClient;
use proto::go_plugin::grpc_broker_server::{GrpcBroker, GrpcBrokerServer};
use proto::go_plugin::grpc_controller_client::GrpcControllerClient;
use proto::go_plugin::grpc_controller_server::{GrpcController, GrpcControllerServer};
use proto::go_plugin::{ConnInfo, Empty};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{UnixListener, UnixStream};
use tokio_stream::wrappers::{ReceiverStream, UnixListenerStream};
use tokio_stream::{Stream, StreamExt as _};
use tonic::{Request, Response, Status, Streaming};

/// Answers `Shutdown` with OK, or PERMISSION_DENIED when the request
/// carries `refuse` metadata.
struct Controller;

#[tonic::async_trait]
impl GrpcController for Controller {
    async fn shutdown(&self, request: Request<Empty>) -> Result<Response<Empty>, Status> {
        if request.metadata().contains_key("refuse") {
            Err(Status::permission_denied("no more"))
        } else {
            Ok(Response::new(Empty {}))
        }
    }
}

/// Echoes every `ConnInfo` back with its id doubled.
struct Broker;

#[tonic::async_trait]
impl GrpcBroker for Broker {
    type StartStreamStream = Pin<Box<dyn Stream<Item = Result<ConnInfo, Status>> + Send + 'static>>;

    async fn start_stream(
        &self,
        request: Request<Streaming<ConnInfo>>,
    ) -> Result<Response<Self::StartStreamStream>, Status> {
        let inbound = request.into_inner();
        Ok(Response::new(Box::pin(inbound.map(|info| {
            info.map(|mut info| {
                info.service_id *= 2;
                info
            })
        }))))
    }
}

/// A server on a fresh unix socket; its path.
async fn serve(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let path = dir.path().join("s.sock");
    let listener = UnixListener::bind(&path).unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(GrpcControllerServer::new(Controller))
            .add_service(GrpcBrokerServer::new(Broker))
            .serve_with_incoming(UnixListenerStream::new(listener)),
    );
    path
}

/// A stream that counts its writes.
struct Counted {
    inner: UnixStream,
    writes: Arc<AtomicUsize>,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let done = Pin::new(&mut self.inner).poll_write(cx, buf);
        if done.is_ready() {
            self.writes.fetch_add(1, Ordering::SeqCst);
        }
        done
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let done = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if done.is_ready() {
            self.writes.fetch_add(1, Ordering::SeqCst);
        }
        done
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unary_calls_answer_and_statuses_arrive_as_sent() {
    let dir = tempfile::tempdir().unwrap();
    let path = serve(&dir).await;
    let channel = Direct::handshake(UnixStream::connect(&path).await.unwrap())
        .await
        .unwrap();
    let mut client = GrpcControllerClient::new(channel);
    for _ in 0..3 {
        client.shutdown(Empty {}).await.unwrap();
    }
    let mut refused = Request::new(Empty {});
    refused
        .metadata_mut()
        .insert("refuse", tonic::metadata::MetadataValue::from_static("1"));
    let status = client.shutdown(refused).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    assert_eq!(status.message(), "no more");
    // A status the server sent carries no transport error.
    assert!(std::error::Error::source(&status).is_none(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unary_request_leaves_in_one_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = serve(&dir).await;
    let writes = Arc::new(AtomicUsize::new(0));
    let io = Counted {
        inner: UnixStream::connect(&path).await.unwrap(),
        writes: writes.clone(),
    };
    let mut client = GrpcControllerClient::new(Direct::handshake(io).await.unwrap());
    // The first call also settles the connection (SETTINGS and their ack).
    client.shutdown(Empty {}).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let before = writes.load(Ordering::SeqCst);
    // From a task, as a host's calls come, and from outside the runtime's
    // workers (this test's own thread), where the connection task runs in
    // parallel with the caller: either way the connection task queues head
    // and body together.
    let mut from_task = client.clone();
    tokio::spawn(async move {
        for _ in 0..20 {
            from_task.shutdown(Empty {}).await.unwrap();
        }
    })
    .await
    .unwrap();
    for _ in 0..20 {
        client.shutdown(Empty {}).await.unwrap();
    }
    // HEADERS and DATA (with END_STREAM) of each request in one write;
    // hyper's client, behind tonic's `Channel`, makes two.
    assert_eq!(writes.load(Ordering::SeqCst) - before, 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_fed_over_time_flows_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let path = serve(&dir).await;
    let channel = Direct::handshake(UnixStream::connect(&path).await.unwrap())
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let mut client = GrpcBrokerClient::new(channel);
    let info = |id| ConnInfo {
        service_id: id,
        network: "unix".into(),
        address: "/s".into(),
        knock: None,
    };
    tx.send(info(1)).await.unwrap();
    let mut answers = client
        .start_stream(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answers.message().await.unwrap().unwrap().service_id, 2);
    // Sent after the call started: the body's pipe carries them later.
    for id in [5, 7] {
        tx.send(info(id)).await.unwrap();
        assert_eq!(answers.message().await.unwrap().unwrap().service_id, id * 2);
    }
    drop(tx);
    assert!(
        answers.message().await.unwrap().is_none(),
        "the stream ends"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_connection_fails_calls_with_the_transport_error_as_source() {
    let (io, far_end) = tokio::io::duplex(64 * 1024);
    let channel = Direct::handshake(io).await.unwrap();
    drop(far_end);
    let status = GrpcControllerClient::new(channel)
        .shutdown(Empty {})
        .await
        .unwrap_err();
    assert!(
        std::error::Error::source(&status).is_some(),
        "a transport failure keeps its cause: {status:?}"
    );
}
