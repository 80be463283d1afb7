//! A cap on the connections one plugin's host broker holds at once: each
//! accepted connection holds a slot until it closes, and one accepted
//! while every slot is taken is closed at once, so a plugin (or anything
//! that reaches its socket) cannot make the host hold connections, their
//! buffers and their tasks without bound.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_stream::{Stream, StreamExt as _};
use tonic::transport::server::Connected;

/// A connection holding one of its listener's slots until it is dropped.
pub(crate) struct Capped<S> {
    stream: S,
    _slot: OwnedSemaphorePermit,
}

/// The connections of `incoming`, at most `max` open at once; those past
/// it are closed as soon as they are accepted (and logged under `plugin`).
pub(crate) fn capped<S, I>(
    incoming: I,
    max: usize,
    plugin: Arc<str>,
) -> impl Stream<Item = io::Result<Capped<S>>>
where
    I: Stream<Item = io::Result<S>>,
{
    let slots = Arc::new(Semaphore::new(max));
    incoming.filter_map(move |accepted| match accepted {
        Err(e) => Some(Err(e)),
        Ok(stream) => match slots.clone().try_acquire_owned() {
            Ok(slot) => Some(Ok(Capped {
                stream,
                _slot: slot,
            })),
            Err(_) => {
                tracing::warn!(
                    plugin = %plugin,
                    "host broker: a connection was closed: {max} are open already, the most one plugin may hold"
                );
                None
            }
        },
    })
}

impl<S: Connected> Connected for Capped<S> {
    type ConnectInfo = S::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Capped<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Capped<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
