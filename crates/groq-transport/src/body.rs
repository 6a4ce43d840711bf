//! [`Body`]: the streaming response body every [`Transport`](crate::Transport) returns.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use tokio::sync::mpsc;

use crate::TransportError;

/// A streaming HTTP response body: a sequence of byte chunks that ends, or fails with a
/// [`TransportError`].
///
/// Chunks are handed out as they arrive, so a server-sent event stream can be decoded while the
/// server is still writing it (see [`SseStream`](crate::SseStream)). [`HyperTransport`](crate::HyperTransport)
/// enforces its body size cap and its idle timeout while the body is read, not after.
///
/// `Body` implements [`http_body::Body`], so the combinators of `http-body-util` work on it; the
/// inherent helpers cover the common cases:
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use groq_transport::Body;
///
/// let body = Body::from("{\"ok\":true}");
/// let bytes = body.collect_bytes(1024).await?;
/// assert_eq!(&bytes[..], b"{\"ok\":true}");
/// # Ok::<(), groq_transport::TransportError>(())
/// # }).unwrap();
/// ```
pub struct Body {
    inner: UnsyncBoxBody<Bytes, TransportError>,
}

impl Body {
    /// Wraps any [`http_body::Body`] that yields [`Bytes`] and fails with [`TransportError`].
    pub fn new<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes, Error = TransportError> + Send + 'static,
    {
        Self {
            inner: UnsyncBoxBody::new(body),
        }
    }

    /// A body with no bytes.
    pub fn empty() -> Self {
        Self::new(http_body_util::Empty::new().map_err(|never| match never {}))
    }

    /// A body made of one chunk.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        Self::new(http_body_util::Full::new(bytes.into()).map_err(|never| match never {}))
    }

    /// A body whose chunks come from a stream; an `Err` item ends the body with that error.
    pub fn from_stream<S>(stream: S) -> Self
    where
        S: Stream<Item = Result<Bytes, TransportError>> + Send + 'static,
    {
        Self::new(StreamBody { stream })
    }

    /// A body fed through a channel: the returned [`BodySender`] pushes chunks (or an error) and
    /// the body ends when the sender is dropped. `capacity` chunks may be buffered (at least 1).
    ///
    /// Useful to write a transport whose responses are produced by another task, and in tests
    /// to deliver a body chunk by chunk.
    pub fn channel(capacity: usize) -> (BodySender, Self) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (BodySender { tx }, Self::new(ChannelBody { rx }))
    }

    /// Reads the whole body into one buffer, failing with
    /// [`is_body_too_large`](TransportError::is_body_too_large) as soon as more than `limit`
    /// bytes have arrived (or are announced by the size hint).
    pub async fn collect_bytes(self, limit: u64) -> Result<Bytes, TransportError> {
        if self.inner.size_hint().lower() > limit {
            return Err(TransportError::body_too_large(limit));
        }
        let mut stream = self.into_data_stream();
        let mut first: Option<Bytes> = None;
        let mut rest = BytesMut::new();
        let mut total: u64 = 0;
        while let Some(chunk) = std::future::poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await
        {
            let chunk = chunk?;
            total = total.saturating_add(u64::try_from(chunk.len()).unwrap_or(u64::MAX));
            if total > limit {
                return Err(TransportError::body_too_large(limit));
            }
            match &first {
                None => first = Some(chunk),
                Some(head) => {
                    if rest.is_empty() {
                        rest.extend_from_slice(head);
                    }
                    rest.extend_from_slice(&chunk);
                }
            }
        }
        Ok(if rest.is_empty() {
            first.unwrap_or_default()
        } else {
            rest.freeze()
        })
    }

    /// The body as a [`Stream`] of data chunks; trailers are skipped, empty chunks are not
    /// yielded.
    pub fn into_data_stream(self) -> DataStream {
        DataStream { body: self }
    }
}

impl Default for Body {
    fn default() -> Self {
        Self::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Body")
            .field("size_hint", &self.inner.size_hint())
            .finish_non_exhaustive()
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = TransportError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, TransportError>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Self {
        Self::full(bytes)
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Self::full(bytes)
    }
}

impl From<String> for Body {
    fn from(text: String) -> Self {
        Self::full(text)
    }
}

impl From<&'static str> for Body {
    fn from(text: &'static str) -> Self {
        Self::full(Bytes::from_static(text.as_bytes()))
    }
}

impl From<&'static [u8]> for Body {
    fn from(bytes: &'static [u8]) -> Self {
        Self::full(Bytes::from_static(bytes))
    }
}

/// The data chunks of a [`Body`], from [`Body::into_data_stream`].
#[derive(Debug)]
pub struct DataStream {
    body: Body,
}

impl DataStream {
    /// Gives back the remaining body.
    pub fn into_inner(self) -> Body {
        self.body
    }
}

impl Stream for DataStream {
    type Item = Result<Bytes, TransportError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match ready!(Pin::new(&mut self.body).poll_frame(cx)) {
                None => return Poll::Ready(None),
                Some(Err(err)) => return Poll::Ready(Some(Err(err))),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data()
                        && !data.is_empty()
                    {
                        return Poll::Ready(Some(Ok(data)));
                    }
                }
            }
        }
    }
}

/// The sending half of [`Body::channel`].
#[derive(Debug, Clone)]
pub struct BodySender {
    tx: mpsc::Sender<Result<Bytes, TransportError>>,
}

impl BodySender {
    /// Sends one chunk, waiting while the channel is full. Fails with the chunk when the body
    /// was dropped by its reader.
    pub async fn send(&self, chunk: impl Into<Bytes>) -> Result<(), Bytes> {
        self.tx.send(Ok(chunk.into())).await.map_err(|e| match e.0 {
            Ok(bytes) => bytes,
            Err(_) => Bytes::new(),
        })
    }

    /// Ends the body with an error, as a broken connection would. Returns `false` when the body
    /// was already dropped.
    pub async fn fail(self, error: TransportError) -> bool {
        self.tx.send(Err(error)).await.is_ok()
    }

    /// True when the reader dropped the body.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, TransportError>>,
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = TransportError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, TransportError>>> {
        self.rx
            .poll_recv(cx)
            .map(|item| item.map(|res| res.map(Frame::data)))
    }
}

pin_project_lite::pin_project! {
    struct StreamBody<S> {
        #[pin]
        stream: S,
    }
}

impl<S> http_body::Body for StreamBody<S>
where
    S: Stream<Item = Result<Bytes, TransportError>>,
{
    type Data = Bytes;
    type Error = TransportError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, TransportError>>> {
        self.project()
            .stream
            .poll_next(cx)
            .map(|item| item.map(|res| res.map(Frame::data)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn collect_joins_chunks_and_enforces_the_limit() {
        let (tx, body) = Body::channel(4);
        tokio::spawn(async move {
            for part in ["ab", "", "cd", "ef"] {
                if tx.send(part).await.is_err() {
                    break;
                }
            }
        });
        assert_eq!(&body.collect_bytes(6).await.unwrap()[..], b"abcdef");

        let (tx, body) = Body::channel(4);
        tokio::spawn(async move {
            for part in ["abc", "def", "g"] {
                if tx.send(part).await.is_err() {
                    break;
                }
            }
        });
        let err = body.collect_bytes(6).await.unwrap_err();
        assert!(err.is_body_too_large());
        assert_eq!(err.body_limit(), Some(6));
    }

    #[tokio::test]
    async fn full_body_over_the_limit_fails_from_its_size_hint() {
        let err = Body::from(vec![0_u8; 10])
            .collect_bytes(9)
            .await
            .unwrap_err();
        assert!(err.is_body_too_large());
        assert!(Body::empty().collect_bytes(0).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn channel_errors_end_the_body() {
        let (tx, body) = Body::channel(2);
        tx.send("x").await.unwrap();
        assert!(tx.clone().fail(TransportError::connection("reset")).await);
        drop(tx);
        let err = body.collect_bytes(100).await.unwrap_err();
        assert!(err.is_retryable());
    }

    #[tokio::test]
    async fn stream_bodies_keep_chunk_boundaries() {
        let chunks = vec![Ok(Bytes::from("a")), Ok(Bytes::from("bc"))];
        let mut stream = Body::from_stream(StreamIter(chunks.into_iter())).into_data_stream();
        let mut seen = Vec::new();
        while let Some(chunk) = std::future::poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await
        {
            seen.push(chunk.unwrap());
        }
        assert_eq!(seen, vec![Bytes::from("a"), Bytes::from("bc")]);
    }

    struct StreamIter<I>(I);

    impl<I: Iterator + Unpin> Stream for StreamIter<I> {
        type Item = I::Item;
        fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<I::Item>> {
            Poll::Ready(self.0.next())
        }
    }
}
