//! Shutdown-bound server streams, shared by the plugin's services.

use std::pin::Pin;

use tokio::sync::{mpsc, watch};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

/// A boxed server stream, as tonic's streaming RPCs return.
pub(crate) type ServerStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// Resolves once shutdown has been asked for.
pub(crate) async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// A server stream that sends nothing and ends at shutdown (so a graceful
/// shutdown does not wait on it forever).
pub(crate) fn silent_until<T: Send + 'static>(stop: watch::Receiver<bool>) -> ServerStream<T> {
    let (outbound, stream) = mpsc::channel::<Result<T, Status>>(1);
    tokio::spawn(async move {
        stopped(stop).await;
        drop(outbound);
    });
    Box::pin(ReceiverStream::new(stream))
}
