//! The Responses API (`POST /responses`), paced like chat completions.
//!
//! The cost is the input's estimate (instructions and every input text, counted by the
//! client's token counter as user messages) plus the output budget (`max_output_tokens`, else
//! the model's completion allowance), split into input and output for ITPM and OTPM. The
//! reservation is settled from the reply's usage, cached input tokens given back. A stream
//! settles when its `response.completed` event arrives.

use std::pin::Pin;

use groq_ratelimit::Cost;
use groq_transport::{SseEvent, SseStream};
use groq_types::{ChatRequest, ResponseObject, ResponseRequest, ResponseUsage};
use serde_json::Value;

use crate::audio::{Settled, paced_send};
use crate::{Error, GroqClient};

/// The cost of a served response, from its usage.
fn actual_cost(usage: &ResponseUsage) -> Cost {
    let cached = usage.cached_tokens();
    let mut cost = Cost::chat(
        usage.input_tokens.saturating_sub(cached),
        usage.output_tokens,
    );
    cost.tokens = usage
        .total_tokens
        .max(usage.input_tokens + usage.output_tokens)
        .saturating_sub(cached);
    cost
}

impl GroqClient {
    fn response_cost(&self, request: &ResponseRequest) -> Cost {
        let mut chat = ChatRequest::new(request.model.clone());
        for text in request.input_texts() {
            chat = chat.user(text);
        }
        let config = self.inner.config();
        let allowance = request.max_output_tokens.unwrap_or_else(|| {
            config
                .resolve_model(&request.model)
                .map_or(config.default_completion_tokens, |m| {
                    config.completion_allowance(&m)
                })
        });
        let estimate = self.inner.pacing.counter.estimate(&chat, allowance);
        Cost::chat(estimate.prompt, estimate.completion_allowance)
    }

    /// Creates a response (`POST /responses`), paced in the model's lane.
    pub async fn create_response(
        &self,
        request: &ResponseRequest,
    ) -> Result<ResponseObject, Error> {
        let mut request = request.clone();
        request.stream = None;
        let body = serde_json::to_vec(&request)
            .map_err(|e| Error::config_from("the request could not be serialized as JSON", e))?;
        let (status, _, accepted) = paced_send(
            &self.inner,
            &request.model,
            self.response_cost(&request),
            "/responses",
            body.into(),
            "application/json",
        )
        .await?;
        let attempts = accepted.attempts;
        let bytes = match accepted
            .body
            .collect_bytes(self.inner.wire.max_response_bytes)
            .await
        {
            Ok(bytes) => bytes,
            Err(source) => {
                accepted.sent.keep_as_served();
                return Err(Error::transport(attempts, source));
            }
        };
        match serde_json::from_slice::<ResponseObject>(&bytes) {
            Ok(response) => {
                match &response.usage {
                    Some(usage) => accepted.sent.commit_cost(actual_cost(usage)),
                    None => accepted.sent.keep_as_served(),
                }
                Ok(response)
            }
            Err(source) => {
                accepted.sent.keep_as_served();
                Err(Error::invalid_response(
                    status.as_u16(),
                    "a response object",
                    source,
                ))
            }
        }
    }

    /// Creates a streamed response: the events as they arrive.
    pub async fn create_response_stream(
        &self,
        request: &ResponseRequest,
    ) -> Result<ResponseStream, Error> {
        let mut request = request.clone();
        request.stream = Some(true);
        let body = serde_json::to_vec(&request)
            .map_err(|e| Error::config_from("the request could not be serialized as JSON", e))?;
        let (_, _, accepted) = paced_send(
            &self.inner,
            &request.model,
            self.response_cost(&request),
            "/responses",
            body.into(),
            "application/json",
        )
        .await?;
        Ok(ResponseStream {
            events: SseStream::new(accepted.body).require_done(false),
            sent: Some(accepted.sent),
            completed: None,
            attempts: accepted.attempts,
        })
    }
}

/// The events of a streamed response. Dropping it early keeps the estimate charged.
pub struct ResponseStream {
    events: SseStream,
    sent: Option<Settled>,
    completed: Option<ResponseObject>,
    attempts: u32,
}

impl std::fmt::Debug for ResponseStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseStream")
            .field("completed", &self.completed.is_some())
            .finish_non_exhaustive()
    }
}

/// One event of a streamed response: its type and its JSON.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ResponseEvent {
    /// `response.created`, `response.output_text.delta`, `response.completed`, ...
    pub kind: String,
    /// The event's JSON, as sent.
    pub data: Value,
}

impl ResponseEvent {
    /// The text of a `response.output_text.delta` event.
    pub fn delta(&self) -> Option<&str> {
        (self.kind == "response.output_text.delta")
            .then(|| self.data["delta"].as_str())
            .flatten()
    }
}

impl ResponseStream {
    /// The next event, `None` at the end.
    pub async fn next_event(&mut self) -> Option<Result<ResponseEvent, Error>> {
        let next = std::future::poll_fn(|cx| {
            futures_core::Stream::poll_next(Pin::new(&mut self.events), cx)
        })
        .await;
        let event: SseEvent = match next? {
            Ok(event) => event,
            Err(e) => {
                return Some(Err(Error::stream(e.to_string(), None)));
            }
        };
        let data: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
        let kind = event
            .event
            .clone()
            .or_else(|| data["type"].as_str().map(str::to_owned))
            .unwrap_or_default();
        if kind == "response.completed"
            && let Ok(response) = serde_json::from_value::<ResponseObject>(data["response"].clone())
        {
            if let Some(sent) = self.sent.take() {
                match &response.usage {
                    Some(usage) => sent.commit_cost(actual_cost(usage)),
                    None => sent.keep_as_served(),
                }
            }
            self.completed = Some(response);
        }
        Some(Ok(ResponseEvent { kind, data }))
    }

    /// The final response, once `response.completed` has arrived.
    pub fn completed(&self) -> Option<&ResponseObject> {
        self.completed.as_ref()
    }

    /// HTTP attempts made to start the stream.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

impl Drop for ResponseStream {
    fn drop(&mut self) {
        if let Some(sent) = self.sent.take() {
            sent.keep_as_served();
        }
    }
}
