//! [`Call`] ([`ChatCall`], [`ChatStreamCall`]): one call with its options, awaited directly.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use groq_queue::Priority;
use groq_types::{ChatCompletion, ChatRequest, Usage};
use tracing::Instrument;

use crate::Error;
use crate::client::{CallGuard, Inner};
use crate::event::{Event, RequestId};
use crate::pipeline::{self, Attempts, JsonReply, Plan, Receive, StreamReply};
use crate::stream::ChatStream;

/// The per-call options.
#[derive(Debug, Clone, Default)]
struct CallOptions {
    priority: Priority,
    timeout: Option<Duration>,
    max_attempts: Option<u32>,
    request_id: Option<RequestId>,
}

/// One call with its options, from [`GroqClient::chat`](crate::GroqClient::chat)
/// ([`ChatCall`]) or [`GroqClient::chat_stream`](crate::GroqClient::chat_stream)
/// ([`ChatStreamCall`]): set options, then `.await` it for a `T`.
///
/// Dropping the call (or the future) cancels it: a queued request leaves its queue and is not
/// charged; a request on the wire is aborted and its reservation stays charged.
#[must_use = "a call does nothing until it is awaited"]
pub struct Call<T> {
    inner: Arc<Inner>,
    // Boxed: the call's future carries it until the request is prepared.
    request: Box<ChatRequest>,
    options: CallOptions,
    output: PhantomData<fn() -> T>,
}

/// A chat completion call: awaited, a [`ChatCompletion`].
pub type ChatCall = Call<ChatCompletion>;

/// A streamed chat completion call: awaited, a [`ChatStream`].
///
/// The call resolves once the server has accepted the request (its 200 head arrived); errors
/// before that (validation, rate limits beyond the bound, API errors) are the call's, errors
/// after it arrive as stream items. The [`timeout`](Call::timeout) covers queueing and the
/// wait for the stream to start.
pub type ChatStreamCall = Call<ChatStream>;

impl<T> fmt::Debug for Call<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("model", &self.request.model())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<T> Call<T> {
    pub(crate) fn new(inner: Arc<Inner>, request: ChatRequest) -> Self {
        Self {
            inner,
            request: Box::new(request),
            options: CallOptions::default(),
            output: PhantomData,
        }
    }

    /// The priority class (default [`Priority::Normal`]): higher classes go first among
    /// fresh requests of the same model; waiting ones age into higher ranks.
    pub fn priority(mut self, priority: Priority) -> Self {
        self.options.priority = priority;
        self
    }

    /// A deadline for the whole call, queueing and retries included; past it the call
    /// fails with [`Error::Timeout`]. Default: none (each attempt is still bounded by
    /// the configuration's request timeout).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = Some(timeout);
        self
    }

    /// The number of attempts allowed for failures worth retrying (5xx, transport
    /// errors), the first included; 429s are counted separately
    /// ([`GroqClientBuilder::max_rate_limit_retries`](crate::GroqClientBuilder::max_rate_limit_retries)).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.options.max_attempts = Some(attempts.max(1));
        self
    }

    /// The id used in [`Event`]s and by [`GroqClient::cancel`](crate::GroqClient::cancel)
    /// (default: generated, `req-N`).
    pub fn request_id(mut self, id: impl Into<RequestId>) -> Self {
        self.options.request_id = Some(id.into());
        self
    }
}

/// The future of a call: a boxed, `Send` future resolving to the call's result. It is
/// named through [`ChatFuture`] and [`ChatStreamFuture`].
#[must_use = "futures do nothing unless polled"]
pub struct CallFuture<T>(Pin<Box<dyn Future<Output = Result<T, Error>> + Send>>);

impl<T> fmt::Debug for CallFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallFuture").finish_non_exhaustive()
    }
}

impl<T> Future for CallFuture<T> {
    type Output = Result<T, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

/// The future of a [`ChatCall`].
pub type ChatFuture = CallFuture<ChatCompletion>;

/// The future of a [`ChatStreamCall`].
pub type ChatStreamFuture = CallFuture<ChatStream>;

impl IntoFuture for ChatCall {
    type Output = Result<ChatCompletion, Error>;
    type IntoFuture = ChatFuture;

    fn into_future(self) -> ChatFuture {
        CallFuture(Box::pin(self.run()))
    }
}

impl ChatCall {
    /// The call's work, as the future [`ChatFuture`] boxes.
    async fn run(self) -> Result<ChatCompletion, Error> {
        let (outcome, report) =
            run::<JsonReply>(self.inner, self.request, self.options, false).await;
        match outcome {
            Ok(completion) => {
                report.completed(completion.usage.clone());
                Ok(*completion)
            }
            Err(error) => {
                report.failed(&error);
                Err(error)
            }
        }
    }
}

impl IntoFuture for ChatStreamCall {
    type Output = Result<ChatStream, Error>;
    type IntoFuture = ChatStreamFuture;

    fn into_future(self) -> ChatStreamFuture {
        CallFuture(Box::pin(async move {
            let inner = Arc::clone(&self.inner);
            let (outcome, report) =
                run::<StreamReply>(self.inner, self.request, self.options, true).await;
            match outcome {
                Ok(start) => Ok(ChatStream::new(inner, *start, report)),
                Err(error) => {
                    report.failed(&error);
                    Err(error)
                }
            }
        }))
    }
}

/// Reports the end of a call as exactly one [`Event::Completed`] or [`Event::Failed`]; a
/// call dropped before its end is reported as cancelled.
#[derive(Debug)]
pub(crate) struct Report {
    pub(crate) inner: Arc<Inner>,
    pub(crate) id: RequestId,
    pub(crate) model: Arc<str>,
    pub(crate) prepared: Option<pipeline::Prepared>,
    pub(crate) attempts: Attempts,
    pub(crate) call: Option<CallGuard>,
    pub(crate) span: tracing::Span,
    done: bool,
}

impl Report {
    fn finish(&mut self) {
        self.done = true;
        self.span.record("attempts", self.attempts.sent);
        self.span.record(
            "waited_ms",
            u64::try_from(self.attempts.waited.as_millis()).unwrap_or(u64::MAX),
        );
    }

    /// The call succeeded.
    pub(crate) fn completed(mut self, usage: Option<Usage>) {
        self.finish();
        let elapsed = self.inner.elapsed(self.attempts.started);
        tracing::debug!(parent: &self.span, ?elapsed, "request completed");
        if self.inner.calls.events.is_watched() {
            self.inner.calls.events.emit(Event::Completed {
                id: self.id.clone(),
                model: Arc::clone(&self.model),
                usage,
                attempts: self.attempts.sent,
                elapsed,
            });
        }
    }

    /// The call failed.
    pub(crate) fn failed(mut self, error: &Error) {
        self.finish();
        tracing::debug!(parent: &self.span, error = %error, "request failed");
        self.inner.calls.events.emit(Event::Failed {
            id: self.id.clone(),
            model: Arc::clone(&self.model),
            error: error.kind(),
        });
    }

    /// The estimate made for the request, if it got that far.
    pub(crate) fn estimate(&self) -> Option<groq_tokens::Estimate> {
        self.prepared.as_ref().map(|p| p.estimate)
    }
}

impl Drop for Report {
    fn drop(&mut self) {
        if !self.done {
            self.finish();
            self.inner.calls.events.emit(Event::Failed {
                id: self.id.clone(),
                model: Arc::clone(&self.model),
                error: crate::ErrorKind::Cancelled,
            });
        }
    }
}

/// Runs a call up to its accepted answer (or error), with cancellation, the deadline, the
/// tracing span and the events around it.
async fn run<R: Receive>(
    inner: Arc<Inner>,
    request: Box<ChatRequest>,
    options: CallOptions,
    stream: bool,
) -> (Result<R::Output, Error>, Report) {
    let id = options
        .request_id
        .clone()
        .unwrap_or_else(|| inner.calls.events.next_id());
    let model: Arc<str> = Arc::from(request.model());
    let span = tracing::debug_span!(
        "groq_request",
        id = %id,
        model = %model,
        priority = %options.priority,
        stream,
        tokens = tracing::field::Empty,
        attempts = tracing::field::Empty,
        waited_ms = tracing::field::Empty,
    );
    let mut report = Report {
        inner: Arc::clone(&inner),
        id: id.clone(),
        model,

        prepared: None,
        attempts: Attempts::new(inner.now()),
        call: None,
        span: span.clone(),
        done: false,
    };
    let outcome = drive::<R>(&inner, request, options, stream, id, &mut report)
        .instrument(span)
        .await;
    (outcome, report)
}

async fn drive<R: Receive>(
    inner: &Arc<Inner>,
    request: Box<ChatRequest>,
    options: CallOptions,
    stream: bool,
    id: RequestId,
    report: &mut Report,
) -> Result<R::Output, Error> {
    if inner
        .calls
        .closed
        .load(std::sync::atomic::Ordering::Acquire)
    {
        return Err(Error::Shutdown);
    }
    let prepared = inner.prepare(*request, stream)?;
    report.span.record("tokens", prepared.estimate.total);
    let mut plan = Plan {
        priority: options.priority,
        ..Plan::new(inner, id.clone())
    };
    if let Some(attempts) = options.max_attempts {
        plan.retry = plan.retry.with_max_attempts(attempts);
    }
    if let Some(timeout) = options.timeout {
        plan.retry = plan.retry.with_deadline(timeout);
    }
    let guard = inner.register(&id);
    let cancel = Arc::clone(&guard.cancelled).raised();
    report.call = Some(guard);
    let attempts = &mut report.attempts;
    let outcome = tokio::select! {
        biased;
        () = cancel => Err(Error::Cancelled),
        outcome = async {
            // The pipeline's future is made in each branch, so that the call's future does
            // not hold room for it twice.
            match options.timeout {
                Some(after) => {
                    let execute = std::pin::pin!(pipeline::execute::<R>(inner, &prepared, &plan, attempts));
                    inner
                        .timeout(after, execute)
                        .await
                        .unwrap_or(Err(Error::timeout(after)))
                }
                None => pipeline::execute::<R>(inner, &prepared, &plan, attempts).await,
            }
        } => outcome,
    };
    report.prepared = Some(prepared);
    // Server text in the error is scrubbed of the client's secrets before anyone sees it.
    outcome.map_err(|e| e.scrubbed(&inner.secrets()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GroqClient;

    /// A queued call holds its future for as long as it waits: it must not carry room for
    /// the request's copies or for the HTTP exchange (boxed, and made only when it starts).
    #[test]
    fn a_call_future_is_small() {
        let client = GroqClient::builder()
            .api_key("gsk_size_test_0123456789")
            .build()
            .unwrap();
        let request = ChatRequest::new("llama-3.1-8b-instant").user("hi");
        let future = client.chat(request.clone()).run();
        let size = size_of_val(&future);
        assert!(size <= 3 * 1024, "a call's future takes {size} bytes");
        assert!(
            size_of::<ChatCall>() < size_of::<ChatRequest>(),
            "the request is boxed"
        );
    }
}
