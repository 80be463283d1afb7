//! A gRPC channel on one HTTP/2 connection, driven by `h2` directly.
//!
//! tonic's `Channel` puts a buffer task and hyper's dispatch task between a
//! caller and the connection, and hyper sends a request's body from a task
//! of its own after the head, so a unary call crosses three tasks and leaves
//! in two writes (HEADERS, then DATA). [`Direct`] hands the request, with
//! its body's ready frames, straight to the task that drives the `h2`
//! connection, which queues head and body together: one task hop each way
//! and one write for a unary call, which also wakes the plugin once instead
//! of twice. Measured in BENCHMARKS.md ("gRPC
//! against go-plugin's own host").
//!
//! What it does not do: reconnect. A plugin's connection lives as long as
//! the plugin; when it breaks, calls fail with the `h2` error as the status's
//! source, the way a runner tells a transport failure from a plugin's own
//! status. Flow control is `h2`'s: received data is released as tonic takes
//! it (tonic bounds a message by its decoding limit), and a streaming body
//! beyond its first ready frames waits for send capacity.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use h2::client::SendRequest;
use h2::{RecvStream, SendStream};
use http::uri::{Authority, Scheme, Uri};
use http_body::{Body as _, Frame};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};

/// The request body tonic's generated clients send.
type RequestBody = tonic::body::Body;

/// How many bytes of a request body go out with its head without waiting
/// for the peer's flow-control window (the rest waits for capacity): a
/// unary request is one message, and this covers any but the largest.
const INLINE_BYTES: usize = 64 * 1024;

/// The per-stream receive window (as hyper's client): a message up to this
/// size arrives without a window update.
const STREAM_WINDOW: u32 = 2 * 1024 * 1024;

/// The connection's receive window (as hyper's client).
const CONNECTION_WINDOW: u32 = 5 * 1024 * 1024;

/// The largest header block accepted from the peer (as hyper's client).
const MAX_HEADER_LIST: u32 = 16 * 1024;

/// A gRPC channel on one HTTP/2 connection (see the module docs). Clones
/// share the connection; give it to a generated client with `new`.
#[derive(Clone, Debug)]
pub struct Direct {
    jobs: mpsc::UnboundedSender<Job>,
}

/// A request for the connection task to put on the wire: its head and the
/// part of its body that was ready, and where the stream goes back to.
struct Job {
    head: http::Request<()>,
    ready: Ready,
    reply: oneshot::Sender<Result<Opened, h2::Error>>,
}

/// A request the connection task has queued: its response and, when the
/// body is still streaming, the stream to send the rest on.
type Opened = (h2::client::ResponseFuture, Option<SendStream<Bytes>>);

impl Direct {
    /// Speaks HTTP/2 over `io` and spawns the task that drives the
    /// connection (it ends when the connection closes, or when every clone
    /// is gone and the last stream has ended).
    pub async fn handshake<I>(io: I) -> Result<Self, h2::Error>
    where
        I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let (send, connection) = h2::client::Builder::new()
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .max_header_list_size(MAX_HEADER_LIST)
            .handshake(io)
            .await?;
        let (jobs, queue) = mpsc::unbounded_channel();
        tokio::spawn(drive(connection, send, queue));
        Ok(Self { jobs })
    }
}

/// The connection task: queues each request's head and ready body in one
/// go (so they leave in one write), as many at once as the peer allows
/// streams, and drives the connection.
async fn drive<I>(
    mut connection: h2::client::Connection<I, Bytes>,
    send: SendRequest<Bytes>,
    mut queue: mpsc::UnboundedReceiver<Job>,
) where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let mut send = Some(send);
    let mut waiting: Option<Job> = None;
    let closed = std::future::poll_fn(|cx| {
        while let Some(handle) = send.as_mut() {
            if waiting.is_none() {
                match queue.poll_recv(cx) {
                    Poll::Ready(Some(job)) => waiting = Some(job),
                    // Every handle is gone: no new streams; the connection
                    // ends once the open ones have.
                    Poll::Ready(None) => send = None,
                    Poll::Pending => break,
                }
                continue;
            }
            match handle.poll_ready(cx) {
                Poll::Pending => break,
                Poll::Ready(ready) => {
                    if let Some(job) = waiting.take() {
                        let opened = ready.and_then(|()| open(handle, job.head, job.ready));
                        // A caller that went away drops the stream (reset).
                        let _ = job.reply.send(opened);
                    }
                }
            }
        }
        Pin::new(&mut connection).poll(cx)
    })
    .await;
    if let Err(error) = closed {
        tracing::debug!(%error, "gRPC connection closed");
    }
}

/// Opens a stream for `head` and queues the ready part of its body.
fn open(
    send: &mut SendRequest<Bytes>,
    head: http::Request<()>,
    ready: Ready,
) -> Result<Opened, h2::Error> {
    let empty = ready.ended && ready.data.is_empty() && ready.trailers.is_none();
    let (response, mut stream) = send.send_request(head, empty)?;
    if empty {
        return Ok((response, None));
    }
    let ended = ready.ended;
    ready.send(&mut stream)?;
    Ok((response, (!ended).then_some(stream)))
}

/// The answer of a [`Direct`] call.
pub type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<ResponseBody>, h2::Error>> + Send>>;

impl tower::Service<http::Request<RequestBody>> for Direct {
    type Response = http::Response<ResponseBody>;
    type Error = h2::Error;
    type Future = ResponseFuture;

    /// Always ready: requests wait in the connection task's queue while the
    /// peer's stream limit is reached.
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<RequestBody>) -> Self::Future {
        let jobs = self.jobs.clone();
        Box::pin(async move {
            // The connection is gone: the request was never sent.
            let gone = || h2::Error::from(h2::Reason::REFUSED_STREAM);
            let (mut head, mut body) = request.into_parts();
            head.uri = with_origin(head.uri);
            // The body's ready part (all of a unary request) goes with the
            // head to the connection task, which queues both at once.
            let ready = std::future::poll_fn(|cx| Poll::Ready(Ready::take(&mut body, cx))).await?;
            let (reply, opened) = oneshot::channel();
            jobs.send(Job {
                head: http::Request::from_parts(head, ()),
                ready,
                reply,
            })
            .map_err(|_| gone())?;
            let (response, stream) = opened.await.map_err(|_| gone())??;
            if let Some(stream) = stream {
                // A streaming body carries on from a task of its own.
                let mut pipe = Pipe { body, stream };
                tokio::spawn(async move {
                    if let Err(error) = std::future::poll_fn(|cx| pipe.poll_send(cx)).await {
                        tracing::debug!(%error, "gRPC request stream ended early");
                    }
                });
            }
            let response = response.await?;
            Ok(response.map(|recv| ResponseBody { recv, data: true }))
        })
    }
}

/// The frames a request body has ready at once, up to [`INLINE_BYTES`].
struct Ready {
    data: Vec<Bytes>,
    trailers: Option<http::HeaderMap>,
    /// Whether the body has ended (with or without trailers).
    ended: bool,
}

impl Ready {
    fn take(body: &mut RequestBody, cx: &mut Context<'_>) -> Result<Self, h2::Error> {
        let mut ready = Self {
            data: Vec::new(),
            trailers: None,
            ended: false,
        };
        let mut budget = INLINE_BYTES;
        while budget > 0 {
            match Pin::new(&mut *body).poll_frame(cx) {
                Poll::Pending => break,
                Poll::Ready(None) => {
                    ready.ended = true;
                    break;
                }
                Poll::Ready(Some(Err(status))) => {
                    tracing::debug!(%status, "gRPC request body failed");
                    return Err(h2::Error::from(h2::Reason::CANCEL));
                }
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        budget = budget.saturating_sub(data.len());
                        ready.data.push(data);
                    }
                    Err(frame) => {
                        ready.trailers = frame.into_trailers().ok();
                        ready.ended = true;
                        break;
                    }
                },
            }
        }
        Ok(ready)
    }

    /// Queues the frames on `stream`, the last with END_STREAM if the body
    /// ended without trailers (a body with nothing at all never gets here:
    /// its head carries END_STREAM).
    fn send(self, stream: &mut SendStream<Bytes>) -> Result<(), h2::Error> {
        let last = self.data.len();
        let close = self.ended && self.trailers.is_none();
        for (i, data) in self.data.into_iter().enumerate() {
            stream.send_data(data, close && i + 1 == last)?;
        }
        match self.trailers {
            Some(trailers) => stream.send_trailers(trailers),
            None => Ok(()),
        }
    }
}

/// `uri` with the scheme and authority HTTP/2 requires (tonic's generated
/// clients send the path alone); the authority is a placeholder, as the
/// connection already decides where the request goes.
fn with_origin(uri: Uri) -> Uri {
    if uri.scheme().is_some() {
        return uri;
    }
    let mut parts = uri.into_parts();
    parts.scheme = Some(Scheme::HTTP);
    parts.authority = Some(Authority::from_static("plugin"));
    Uri::from_parts(parts).unwrap_or_else(|_| Uri::from_static("http://plugin/"))
}

/// Copies the rest of a streaming request body onto its HTTP/2 stream,
/// each frame once the peer has room for it.
struct Pipe {
    body: RequestBody,
    stream: SendStream<Bytes>,
}

impl Pipe {
    /// Sends frames until the body ends (`Ready`) or has none ready
    /// (`Pending`).
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), h2::Error>> {
        loop {
            self.stream.reserve_capacity(1);
            if self.stream.capacity() == 0 {
                match ready!(self.stream.poll_capacity(cx)) {
                    Some(Ok(_)) => {}
                    Some(Err(error)) => return Poll::Ready(Err(error)),
                    None => return Poll::Ready(Ok(())),
                }
            }
            let frame = match ready!(Pin::new(&mut self.body).poll_frame(cx)) {
                None => return Poll::Ready(self.stream.send_data(Bytes::new(), true)),
                Some(Err(status)) => {
                    tracing::debug!(%status, "gRPC request body failed");
                    self.stream.send_reset(h2::Reason::CANCEL);
                    return Poll::Ready(Ok(()));
                }
                Some(Ok(frame)) => frame,
            };
            match frame.into_data() {
                Ok(data) => self.stream.send_data(data, false)?,
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        return Poll::Ready(self.stream.send_trailers(trailers));
                    }
                }
            }
        }
    }
}

/// A response body: the stream's data, then its trailers (where gRPC puts
/// the status).
#[derive(Debug)]
pub struct ResponseBody {
    recv: RecvStream,
    /// Whether data frames may still come.
    data: bool,
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = h2::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, h2::Error>>> {
        if self.data {
            match ready!(self.recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    // tonic takes it now, bounded by its decoding limit.
                    let _ = self.recv.flow_control().release_capacity(data.len());
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Some(Err(error)) => return Poll::Ready(Some(Err(error))),
                None => self.data = false,
            }
        }
        match ready!(self.recv.poll_trailers(cx)) {
            Ok(Some(trailers)) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            Ok(None) => Poll::Ready(None),
            Err(error) => Poll::Ready(Some(Err(error))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.recv.is_end_stream()
    }
}
