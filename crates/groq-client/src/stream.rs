//! [`ChatStream`]: the chunks of a streamed reply, with the rate limiter settled at the end.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use groq_queue::QueuedJob;
use groq_ratelimit::Sleep;
use groq_transport::SseStream;
use groq_types::{
    ChatCompletion, ChatCompletionAccumulator, ChatCompletionChunk, StreamPayload, Usage,
};
use tokio::time::Instant;

use crate::Error;
use crate::call::Report;
use crate::client::Inner;
use crate::event::RequestId;
use crate::pipeline::{InFlight, Payload, Sent, StreamStart};

/// The chunks of a streamed chat completion, from
/// [`GroqClient::chat_stream`](crate::GroqClient::chat_stream).
///
/// A [`Stream`] of `Result<ChatCompletionChunk, Error>`; [`next`](Self::next) reads it without
/// any stream combinator crate. It ends after the server's `[DONE]`, or after one `Err` item (an
/// error event from the server, a broken connection, a cancellation by id). The chunks are also
/// merged as they pass: [`usage`](Self::usage) is known after the last one, and
/// [`into_completion`](Self::into_completion) reads the rest and returns the whole reply.
///
/// The rate limiter is settled from the final `x_groq.usage` when the stream ends. Dropping
/// the stream early aborts the request and settles conservatively: the estimate stays
/// charged.
///
/// ```no_run
/// # async fn run(client: groq_client::GroqClient) -> Result<(), groq_client::Error> {
/// use groq_client::ChatRequest;
///
/// let request = ChatRequest::new("llama-3.1-8b-instant").user("Count to five.");
/// let mut stream = client.chat_stream(request).await?;
/// while let Some(chunk) = stream.next().await {
///     print!("{}", chunk?.text().unwrap_or_default());
/// }
/// println!("\n{:?}", stream.usage());
/// # Ok(()) }
/// ```
pub struct ChatStream {
    inner: Arc<Inner>,
    events: SseStream,
    accumulator: ChatCompletionAccumulator,
    sent: Option<Sent>,
    job: Option<QueuedJob<Payload>>,
    wire: Option<InFlight>,
    report: Option<Report>,
    cancel: Pin<Box<dyn Future<Output = ()> + Send>>,
    id: RequestId,
    model: Arc<str>,
    done: bool,
    /// Ends the stream when it runs past the stream timeout.
    deadline: Sleep,
    /// Ends the stream when no data event arrives by [`idle_at`](Self::idle_at).
    idle: Sleep,
    /// When the stream counts as idle; moved by chunks only. The `idle` sleep may end earlier
    /// (it is remade then, rather than on every chunk).
    idle_at: Instant,
    /// Chunks received so far, and how many the completion budget allows at most.
    chunks: u64,
    max_chunks: u64,
}

/// Chunks a reply may send beyond one per token of its completion budget (role, usage and
/// empty chunks) before it counts as running past its budget.
const SPARE_CHUNKS: u64 = 64;

/// When a stream that receives nothing from now on counts as idle.
fn idle_deadline(inner: &Inner) -> Instant {
    let now = inner.now();
    now.checked_add(inner.wire.stream_idle_timeout)
        .unwrap_or_else(|| now + std::time::Duration::from_secs(86_400 * 365))
}

impl fmt::Debug for ChatStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatStream")
            .field("id", &self.id)
            .field("model", &self.model)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl ChatStream {
    pub(crate) fn new(inner: Arc<Inner>, start: StreamStart, report: Report) -> Self {
        let StreamStart {
            body,
            job,
            sent,
            wire,
        } = start;
        let cancel: Pin<Box<dyn Future<Output = ()> + Send>> = match &report.call {
            Some(call) => Box::pin(Arc::clone(&call.cancelled).raised()),
            None => Box::pin(std::future::pending()),
        };
        let deadline = inner.sleep(inner.wire.stream_timeout);
        let idle_at = idle_deadline(&inner);
        let idle = inner.sleep_until(idle_at);
        // A server sends at least one token per content chunk: twice the budget is far past it.
        let max_chunks = report.estimate().map_or(u64::MAX, |e| {
            e.completion_allowance
                .saturating_mul(2)
                .saturating_add(SPARE_CHUNKS)
        });
        Self {
            deadline,
            idle,
            idle_at,
            chunks: 0,
            max_chunks,
            inner,
            events: SseStream::new(body),
            accumulator: ChatCompletionAccumulator::new(),
            sent: Some(sent),
            job: Some(job),
            wire: Some(wire),
            id: report.id.clone(),
            model: Arc::clone(&report.model),
            report: Some(report),
            cancel,
            done: false,
        }
    }

    /// The request's id, as in its events.
    pub fn request_id(&self) -> &RequestId {
        &self.id
    }

    /// The model.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The usage the server reported, once the last chunk has arrived.
    pub fn usage(&self) -> Option<&Usage> {
        self.accumulator.usage()
    }

    /// Whether the stream has ended.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The next chunk, or `None` at the end.
    pub async fn next(&mut self) -> Option<Result<ChatCompletionChunk, Error>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Reads the rest of the stream and returns the whole reply, merged from every chunk
    /// (those already read included), as a non-streamed call would have returned it.
    pub async fn into_completion(mut self) -> Result<ChatCompletion, Error> {
        while let Some(chunk) = self.next().await {
            chunk?;
        }
        Ok(std::mem::take(&mut self.accumulator).finish())
    }

    /// The stream ended with `[DONE]`: settle with the final usage.
    fn finish_ok(&mut self) {
        self.done = true;
        let usage = self.accumulator.usage().cloned();
        if let Some(sent) = self.sent.take() {
            match &usage {
                Some(usage) => sent.commit(usage),
                None => sent.keep(),
            }
        }
        if let Some(report) = self.report.take() {
            if let (Some(usage), Some(estimate)) = (&usage, report.estimate()) {
                self.inner
                    .pacing
                    .counter
                    .observe_usage(&self.model, &estimate, usage);
            }
            report.completed(usage);
        }
        self.inner.pacing.warmup.answered(&self.model);
        self.release();
    }

    /// The stream failed: keep the estimate charged (or commit the usage, if it came).
    fn finish_err(&mut self, error: Error) -> Error {
        let error = error.scrubbed(&self.inner.secrets());
        self.done = true;
        if let Some(sent) = self.sent.take() {
            match self.accumulator.usage() {
                Some(usage) => sent.commit(usage),
                None => sent.keep(),
            }
        }
        if let Some(report) = self.report.take() {
            report.failed(&error);
        }
        self.inner.pacing.warmup.answered(&self.model);
        self.release();
        error
    }

    fn release(&mut self) {
        self.wire = None;
        self.job = None;
    }
}

impl Stream for ChatStream {
    type Item = Result<ChatCompletionChunk, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        if this.cancel.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(this.finish_err(Error::Cancelled))));
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            let error = Error::Stream(crate::error::Stream {
                message: format!(
                    "the reply was still streaming after the stream timeout of {:?}",
                    this.inner.wire.stream_timeout
                ),
                code: None,
                source: None,
            });
            return Poll::Ready(Some(Err(this.finish_err(error))));
        }
        while this.idle.as_mut().poll(cx).is_ready() {
            if this.inner.now() < this.idle_at {
                // A chunk arrived since the sleep was made: sleep on to the new instant.
                this.idle = this.inner.sleep_until(this.idle_at);
                continue;
            }
            let error = Error::Stream(crate::error::Stream {
                message: format!(
                    "no data arrived for {:?} (comments and keep-alives do not count)",
                    this.inner.wire.stream_idle_timeout
                ),
                code: None,
                source: None,
            });
            return Poll::Ready(Some(Err(this.finish_err(error))));
        }
        loop {
            match Pin::new(&mut this.events).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    this.finish_ok();
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Err(error))) => {
                    let error = Error::stream(
                        "the event stream broke off".to_owned(),
                        Some(Box::new(error)),
                    );
                    return Poll::Ready(Some(Err(this.finish_err(error))));
                }
                Poll::Ready(Some(Ok(event))) => {
                    if event.data.trim().is_empty() {
                        continue;
                    }
                    // The chunk keeps the event's data as its raw bytes.
                    match StreamPayload::from_bytes(Bytes::from(event.data)) {
                        Ok(StreamPayload::Chunk(chunk)) => {
                            this.chunks += 1;
                            if this.chunks > this.max_chunks {
                                let error = Error::Stream(crate::error::Stream {
                                    message: format!(
                                        "the reply ran far past its completion budget ({} \
                                         chunks); the server did not stop",
                                        this.chunks
                                    ),
                                    code: None,
                                    source: None,
                                });
                                return Poll::Ready(Some(Err(this.finish_err(error))));
                            }
                            this.idle_at = idle_deadline(&this.inner);
                            this.accumulator.push(&chunk);
                            return Poll::Ready(Some(Ok(*chunk)));
                        }
                        Ok(StreamPayload::Error(api)) => {
                            let error = Error::Stream(crate::error::Stream {
                                message: api.message,
                                code: api.code,
                                source: None,
                            });
                            return Poll::Ready(Some(Err(this.finish_err(error))));
                        }
                        Ok(_) => continue,
                        Err(source) => {
                            let error = Error::stream(
                                "an event could not be decoded as a chunk".to_owned(),
                                Some(Box::new(source)),
                            );
                            return Poll::Ready(Some(Err(this.finish_err(error))));
                        }
                    }
                }
            }
        }
    }
}
