//! The body of the gateway's responses: whole bytes, or a forwarded event stream.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core_shim::poll_stream;
use groq_client::ForwardStream;
use http_body::{Frame, SizeHint};
use tokio::time::Instant;

use crate::metrics::Metrics;

/// What the end of a streamed response records.
#[derive(Debug)]
pub(crate) struct StreamEnd {
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) model: Arc<str>,
    pub(crate) request_id: String,
    pub(crate) started: Instant,
}

/// A response body.
#[derive(Debug)]
pub(crate) enum GatewayBody {
    /// Whole bytes (taken when sent).
    Full(Option<Bytes>),
    /// An event stream from upstream, passed through chunk by chunk.
    Stream {
        stream: Box<ForwardStream>,
        end: Option<StreamEnd>,
        /// An error event to send after a broken stream, then the end.
        trailer: Option<Bytes>,
        chunks: u64,
    },
}

impl GatewayBody {
    pub(crate) fn full(bytes: impl Into<Bytes>) -> Self {
        Self::Full(Some(bytes.into()))
    }

    pub(crate) fn stream(stream: Box<ForwardStream>, end: StreamEnd) -> Self {
        Self::Stream {
            stream,
            end: Some(end),
            trailer: None,
            chunks: 0,
        }
    }
}

impl http_body::Body for GatewayBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Self::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Self::Stream {
                stream,
                end,
                trailer,
                chunks,
            } => {
                if let Some(bytes) = trailer.take() {
                    return Poll::Ready(Some(Ok(Frame::data(bytes))));
                }
                if end.is_none() {
                    return Poll::Ready(None);
                }
                match poll_stream(stream.as_mut(), cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Some(Ok(bytes))) => {
                        *chunks += 1;
                        Poll::Ready(Some(Ok(Frame::data(bytes))))
                    }
                    Poll::Ready(None) => {
                        finish(stream, end.take(), *chunks, "completed");
                        Poll::Ready(None)
                    }
                    Poll::Ready(Some(Err(error))) => {
                        let event = crate::service::error_event(&error.to_string());
                        finish(stream, end.take(), *chunks, "broken");
                        Poll::Ready(Some(Ok(Frame::data(event))))
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(bytes) => bytes.is_none(),
            Self::Stream { end, trailer, .. } => end.is_none() && trailer.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(Some(bytes)) => SizeHint::with_exact(bytes.len() as u64),
            Self::Full(None) => SizeHint::with_exact(0),
            Self::Stream { .. } => SizeHint::default(),
        }
    }
}

impl Drop for GatewayBody {
    fn drop(&mut self) {
        if let Self::Stream {
            stream,
            end,
            chunks,
            ..
        } = self
            && let Some(end) = end.take()
        {
            // The client went away before the end: the stream's drop aborts the upstream
            // request and settles its reservation.
            finish(stream, Some(end), *chunks, "disconnected");
        }
    }
}

fn finish(stream: &ForwardStream, end: Option<StreamEnd>, chunks: u64, outcome: &'static str) {
    let Some(end) = end else { return };
    let usage = stream.usage();
    if let Some(usage) = usage {
        end.metrics.reported(&end.model, usage.total_tokens);
    }
    end.metrics
        .requests_in_flight
        .fetch_sub(1, Ordering::Relaxed);
    tracing::info!(
        target: "groq_gateway::access",
        request_id = %end.request_id,
        model = %end.model,
        outcome,
        chunks,
        prompt_tokens = usage.map(|u| u.prompt_tokens),
        completion_tokens = usage.map(|u| u.completion_tokens),
        elapsed_ms = end.started.elapsed().as_secs_f64() * 1e3,
        "stream ended"
    );
}

/// Polls a `Stream` without a combinator crate.
mod futures_core_shim {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use groq_client::{Error, ForwardStream};

    pub(crate) fn poll_stream(
        stream: &mut ForwardStream,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<bytes::Bytes, Error>>> {
        futures_core::Stream::poll_next(Pin::new(stream), cx)
    }
}
