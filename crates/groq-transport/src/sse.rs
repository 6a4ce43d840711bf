//! Server-sent events: [`SseDecoder`] (bytes in, events out) and [`SseStream`] (a [`Body`] as a
//! stream of events that ends at `[DONE]`).
//!
//! The decoder follows the WHATWG event-stream format: `\n`, `\r\n` and `\r` line endings,
//! comment lines (`:`), multi-line `data:`, `event:`, `id:` and `retry:` fields, one optional
//! leading space after the colon, and a leading byte-order mark. Input may be split anywhere —
//! inside a line, a CRLF pair or a UTF-8 character — because lines are only decoded once
//! complete. Memory is bounded: an event larger than the configured maximum is an error, and the
//! decoder then skips the rest of that event.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use http_body::Body as _;

use crate::{Body, TransportError};

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SseEvent {
    /// The `event:` field, if the event named its type (the default type is `message`).
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
    /// The last `id:` seen on the stream, if any (ids persist across events, per the format).
    pub id: Option<String>,
    /// The `retry:` field of this event, if present and valid.
    pub retry: Option<Duration>,
}

impl SseEvent {
    /// The data that ends an OpenAI-compatible stream.
    pub const DONE: &'static str = "[DONE]";

    /// An event of the default type with this data.
    pub fn new(data: impl Into<String>) -> Self {
        Self {
            event: None,
            data: data.into(),
            id: None,
            retry: None,
        }
    }

    /// Sets the event type.
    #[must_use]
    pub fn with_event(mut self, event: impl Into<String>) -> Self {
        self.event = Some(event.into());
        self
    }

    /// Sets the event id.
    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// The event type: the `event:` field, or `message` when absent.
    pub fn event_type(&self) -> &str {
        self.event.as_deref().unwrap_or("message")
    }

    /// True for the `[DONE]` terminator of an OpenAI-compatible stream.
    pub fn is_done(&self) -> bool {
        self.data.trim() == Self::DONE
    }
}

/// Why an event stream could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SseError {
    /// One event (or one line) was larger than the decoder's limit.
    #[error(
        "a server-sent event exceeded the limit of {limit} bytes; raise the maximum event size \
         if such events are expected"
    )]
    EventTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Reading the response body failed.
    #[error("reading the event stream failed")]
    Transport(#[source] TransportError),
    /// An event's data was not valid UTF-8: the server sent bytes that are not text, and
    /// replacing them would silently change the reply.
    #[error(
        "a server-sent event's data is not valid UTF-8, so the reply cannot be read as sent; \
         retry the request, or check that the base URL points at a Groq-compatible API"
    )]
    InvalidUtf8,
    /// The body ended before the `[DONE]` terminator.
    #[error(
        "the event stream ended before its [DONE] marker, so the response is incomplete; retry \
         the request"
    )]
    UnexpectedEnd,
}

impl SseError {
    /// True when retrying the request may help: transport failures that are retryable, and
    /// streams cut short.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport(err) => err.is_retryable(),
            Self::UnexpectedEnd => true,
            Self::EventTooLarge { .. } | Self::InvalidUtf8 => false,
        }
    }

    /// The transport error behind this one, if any.
    pub fn transport_error(&self) -> Option<&TransportError> {
        match self {
            Self::Transport(err) => Some(err),
            Self::EventTooLarge { .. } | Self::UnexpectedEnd | Self::InvalidUtf8 => None,
        }
    }
}

impl From<TransportError> for SseError {
    fn from(err: TransportError) -> Self {
        Self::Transport(err)
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The fields of the event being assembled.
#[derive(Debug, Default)]
struct EventBuilder {
    data: String,
    event: Option<String>,
    last_id: Option<String>,
    retry: Option<Duration>,
    /// Bytes stored for this event so far (data, event and id values).
    bytes: usize,
    /// A data line of this event was not valid UTF-8.
    invalid_utf8: bool,
    /// The last dispatch dropped an event for invalid UTF-8.
    rejected: bool,
}

impl EventBuilder {
    fn reset_event(&mut self) {
        self.data.clear();
        self.event = None;
        self.retry = None;
        self.bytes = 0;
        self.invalid_utf8 = false;
    }

    /// Handles one complete line; returns an event when the line dispatches one.
    fn line(&mut self, line: &[u8]) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line[0] == b':' {
            return None;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &line[line.len()..]),
        };
        match field {
            b"data" => {
                match std::str::from_utf8(value) {
                    Ok(text) => self.data.push_str(text),
                    Err(_) => self.invalid_utf8 = true,
                }
                self.data.push('\n');
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            b"id" if !value.contains(&0) => {
                self.last_id = if value.is_empty() {
                    None
                } else {
                    Some(String::from_utf8_lossy(value).into_owned())
                };
            }
            // All digits, so parsing fails only on overflow: such a value is ignored.
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                if let Some(ms) = std::str::from_utf8(value)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                {
                    self.retry = Some(Duration::from_millis(ms));
                }
            }
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        if self.invalid_utf8 {
            self.reset_event();
            self.rejected = true;
            return None;
        }
        if self.data.is_empty() {
            self.reset_event();
            return None;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop();
        let event = SseEvent {
            event: self.event.take(),
            data,
            id: self.last_id.clone(),
            retry: self.retry.take(),
        };
        self.reset_event();
        Some(event)
    }
}

/// An incremental server-sent-events decoder: [`push`](Self::push) bytes as they arrive, then
/// [`next_event`](Self::next_event) until it returns `Ok(None)`. When the input ends, call
/// [`end`](Self::end) and drain [`next_event`](Self::next_event) once more.
///
/// ```
/// use groq_transport::SseDecoder;
///
/// let mut decoder = SseDecoder::new();
/// decoder.push(b"data: {\"a\":1}\r\n\r\ndata: [DO");
/// let first = decoder.next_event()?.expect("one complete event");
/// assert_eq!(first.data, "{\"a\":1}");
/// assert!(decoder.next_event()?.is_none());
/// decoder.push(b"NE]\n\n");
/// assert!(decoder.next_event()?.expect("the terminator").is_done());
/// # Ok::<(), groq_transport::SseError>(())
/// ```
///
/// Memory stays within about the maximum event size plus the size of one pushed chunk, as long
/// as events are pulled after each push.
pub struct SseDecoder {
    buf: Vec<u8>,
    pos: usize,
    /// `buf[pos..scanned]` holds no line ending.
    scanned: usize,
    /// The last line ended with `\r` at the end of the input: a following `\n` belongs to it.
    skip_lf: bool,
    /// Whether the start of the stream was checked for a byte-order mark.
    bom_checked: bool,
    /// Skipping the rest of an over-long event, up to the next blank line.
    discarding: bool,
    /// Part of the current line was already dropped while discarding.
    line_dropped: bool,
    eof: bool,
    max_event_bytes: usize,
    state: EventBuilder,
}

impl Default for SseDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for SseDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SseDecoder")
            .field("buffered", &(self.buf.len() - self.pos))
            .field("max_event_bytes", &self.max_event_bytes)
            .field("discarding", &self.discarding)
            .field("ended", &self.eof)
            .finish_non_exhaustive()
    }
}

impl SseDecoder {
    /// The default limit for one event: 1 MiB, far above any chat completion chunk.
    pub const DEFAULT_MAX_EVENT_BYTES: usize = 1 << 20;

    /// A decoder with the default event size limit.
    pub fn new() -> Self {
        Self::with_max_event_bytes(Self::DEFAULT_MAX_EVENT_BYTES)
    }

    /// A decoder that fails with [`SseError::EventTooLarge`] on any event (or line) whose stored
    /// size exceeds `limit` bytes.
    pub fn with_max_event_bytes(limit: usize) -> Self {
        Self {
            buf: Vec::new(),
            pos: 0,
            scanned: 0,
            skip_lf: false,
            bom_checked: false,
            discarding: false,
            line_dropped: false,
            eof: false,
            max_event_bytes: limit,
            state: EventBuilder::default(),
        }
    }

    /// The event size limit.
    pub fn max_event_bytes(&self) -> usize {
        self.max_event_bytes
    }

    /// Appends input. Bytes pushed after [`end`](Self::end) are ignored.
    pub fn push(&mut self, chunk: &[u8]) {
        if self.eof || chunk.is_empty() {
            return;
        }
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.scanned = self.scanned.saturating_sub(self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// Marks the end of the input: an unterminated last line is then treated as complete and a
    /// pending event with data is dispatched, so a stream that ends with `data: [DONE]` and no
    /// blank line still yields its terminator.
    pub fn end(&mut self) {
        self.eof = true;
    }

    /// The next complete event, `Ok(None)` when more input is needed (or, after
    /// [`end`](Self::end), when the input is exhausted).
    ///
    /// After [`SseError::EventTooLarge`] the decoder skips the rest of that event and can go on.
    pub fn next_event(&mut self) -> Result<Option<SseEvent>, SseError> {
        loop {
            if self.skip_lf && self.pos < self.buf.len() {
                if self.buf[self.pos] == b'\n' {
                    self.pos += 1;
                }
                self.skip_lf = false;
            }
            if !self.bom_checked {
                let rest = &self.buf[self.pos..];
                if rest.len() < BOM.len() && BOM.starts_with(rest) && !self.eof {
                    return Ok(None);
                }
                if rest.starts_with(BOM) {
                    self.pos += BOM.len();
                }
                self.bom_checked = true;
            }
            // Bytes before `scanned` are known to hold no line ending: a line that arrives in
            // many small pieces is scanned once, not once per piece.
            let from = self.scanned.max(self.pos);
            let Some(found) = self.buf[from..]
                .iter()
                .position(|&b| b == b'\n' || b == b'\r')
            else {
                self.scanned = self.buf.len();
                return self.incomplete_line();
            };
            let start = self.pos;
            let eol = from + found - start;
            self.pos += eol + 1;
            self.scanned = self.pos;
            if self.buf[start + eol] == b'\r' {
                if self.pos < self.buf.len() {
                    if self.buf[self.pos] == b'\n' {
                        self.pos += 1;
                    }
                } else {
                    self.skip_lf = true;
                }
            }
            if let Some(event) = self.complete_line(start, start + eol)? {
                return Ok(Some(event));
            }
        }
    }

    /// Handles the bytes after the last line ending.
    fn incomplete_line(&mut self) -> Result<Option<SseEvent>, SseError> {
        let pending = self.buf.len() - self.pos;
        if self.eof {
            if pending > 0 {
                let start = self.pos;
                self.pos = self.buf.len();
                if let Some(event) = self.complete_line(start, self.buf.len())? {
                    return Ok(Some(event));
                }
            }
            self.line_dropped = false;
            self.discarding = false;
            let event = self.state.dispatch();
            if std::mem::take(&mut self.state.rejected) {
                return Err(SseError::InvalidUtf8);
            }
            return Ok(event);
        }
        if self.discarding {
            if pending > 0 {
                self.line_dropped = true;
                self.pos = self.buf.len();
            }
            return Ok(None);
        }
        if self.state.bytes.saturating_add(pending) > self.max_event_bytes {
            self.line_dropped = true;
            self.pos = self.buf.len();
            return Err(self.start_discarding());
        }
        Ok(None)
    }

    /// Handles the complete line `buf[start..end]`.
    fn complete_line(&mut self, start: usize, end: usize) -> Result<Option<SseEvent>, SseError> {
        let dropped = std::mem::replace(&mut self.line_dropped, false);
        let line = &self.buf[start..end];
        if self.discarding {
            if line.is_empty() && !dropped {
                self.discarding = false;
            }
            return Ok(None);
        }
        if !line.starts_with(b":") {
            self.state.bytes = self.state.bytes.saturating_add(line.len());
            if self.state.bytes > self.max_event_bytes {
                return Err(self.start_discarding());
            }
        }
        let event = self.state.line(line);
        if std::mem::take(&mut self.state.rejected) {
            return Err(SseError::InvalidUtf8);
        }
        Ok(event)
    }

    fn start_discarding(&mut self) -> SseError {
        self.state.reset_event();
        self.discarding = true;
        SseError::EventTooLarge {
            limit: self.max_event_bytes,
        }
    }
}

/// A response [`Body`] decoded as a stream of server-sent events.
///
/// Events are yielded as soon as their blank line arrives. The stream ends after the `[DONE]`
/// terminator (which is not yielded). If the body ends without it, the last item is
/// [`SseError::UnexpectedEnd`], unless [`require_done(false)`](Self::require_done) was set. After
/// an error the stream ends.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use futures_core::Stream as _;
/// use groq_transport::{Body, SseStream};
///
/// let body = Body::from(": keep-alive\n\ndata: {\"n\":1}\n\ndata: [DONE]\n\n");
/// let mut events = SseStream::new(body);
/// let first = std::future::poll_fn(|cx| std::pin::Pin::new(&mut events).poll_next(cx)).await;
/// assert_eq!(first.unwrap()?.data, "{\"n\":1}");
/// let end = std::future::poll_fn(|cx| std::pin::Pin::new(&mut events).poll_next(cx)).await;
/// assert!(end.is_none() && events.saw_done());
/// # Ok::<(), groq_transport::SseError>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct SseStream {
    body: Body,
    decoder: SseDecoder,
    body_ended: bool,
    finished: bool,
    saw_done: bool,
    require_done: bool,
}

impl SseStream {
    /// Decodes `body` with a default [`SseDecoder`].
    pub fn new(body: Body) -> Self {
        Self::with_decoder(body, SseDecoder::new())
    }

    /// Decodes `body` with the given decoder (for example one with another event size limit).
    pub fn with_decoder(body: Body, decoder: SseDecoder) -> Self {
        Self {
            body,
            decoder,
            body_ended: false,
            finished: false,
            saw_done: false,
            require_done: true,
        }
    }

    /// Whether a body that ends without `[DONE]` is an error (default `true`).
    #[must_use]
    pub fn require_done(mut self, required: bool) -> Self {
        self.require_done = required;
        self
    }

    /// True once the `[DONE]` terminator was seen.
    pub fn saw_done(&self) -> bool {
        self.saw_done
    }

    /// Lets the body finish after `[DONE]` so that an HTTP/1.1 connection completes its
    /// response and can return to the pool instead of being closed. What is already buffered
    /// is read at once; if the end has not arrived yet, a background task on the current tokio
    /// runtime reads at most [`DRAIN_BUDGET`] more bytes, bounded in time by the body's own
    /// idle timeout (for [`HyperTransport`](crate::HyperTransport) bodies).
    fn release_body(&mut self, cx: &mut Context<'_>) {
        let mut body = std::mem::take(&mut self.body);
        let mut budget = DRAIN_BUDGET;
        loop {
            match Pin::new(&mut body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let len = frame.data_ref().map_or(0, bytes::Bytes::len);
                    if len > budget {
                        return;
                    }
                    budget -= len;
                }
                Poll::Ready(None | Some(Err(_))) => return,
                Poll::Pending => break,
            }
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                while let Some(Ok(frame)) =
                    std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
                {
                    let len = frame.data_ref().map_or(0, bytes::Bytes::len);
                    if len > budget {
                        return;
                    }
                    budget -= len;
                }
            });
        }
    }
}

/// How many bytes after `[DONE]` are read to let a connection be reused.
const DRAIN_BUDGET: usize = 64 * 1024;

impl Stream for SseStream {
    type Item = Result<SseEvent, SseError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.finished {
                return Poll::Ready(None);
            }
            match this.decoder.next_event() {
                Err(err) => {
                    this.finished = true;
                    return Poll::Ready(Some(Err(err)));
                }
                Ok(Some(event)) => {
                    if event.is_done() {
                        this.finished = true;
                        this.saw_done = true;
                        this.release_body(cx);
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Ok(event)));
                }
                Ok(None) if this.body_ended => {
                    this.finished = true;
                    if this.require_done {
                        return Poll::Ready(Some(Err(SseError::UnexpectedEnd)));
                    }
                    return Poll::Ready(None);
                }
                Ok(None) => {}
            }
            match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    this.decoder.end();
                    this.body_ended = true;
                }
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        this.decoder.push(data);
                    }
                }
                Poll::Ready(Some(Err(err))) => {
                    this.finished = true;
                    return Poll::Ready(Some(Err(SseError::Transport(err))));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(decoder: &mut SseDecoder, chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        for chunk in chunks {
            decoder.push(chunk);
            while let Some(event) = decoder.next_event().unwrap() {
                out.push(event);
            }
        }
        decoder.end();
        while let Some(event) = decoder.next_event().unwrap() {
            out.push(event);
        }
        out
    }

    fn decode(input: &[u8]) -> Vec<SseEvent> {
        decode_all(&mut SseDecoder::new(), &[input])
    }

    #[test]
    fn invalid_utf8_in_data_is_an_error_not_a_replacement() {
        let mut decoder = SseDecoder::new();
        decoder.push(b"data: {\"a\":\"\xff\xfe\"}\n\ndata: ok \xc3\xa9\n\n");
        assert!(matches!(decoder.next_event(), Err(SseError::InvalidUtf8)));
        // The decoder goes on with the next event; valid multi-byte text is kept as sent.
        assert_eq!(decoder.next_event().unwrap().unwrap().data, "ok \u{e9}");
        // Also when the stream ends without a blank line.
        let mut decoder = SseDecoder::new();
        decoder.push(b"data: \xc3");
        decoder.end();
        assert!(matches!(decoder.next_event(), Err(SseError::InvalidUtf8)));
        assert!(!SseError::InvalidUtf8.is_retryable());
    }

    #[test]
    fn data_only_events_with_every_line_ending() {
        for input in [
            &b"data: a\n\ndata: b\n\n"[..],
            b"data: a\r\n\r\ndata: b\r\n\r\n",
            b"data: a\r\rdata: b\r\r",
            b"data: a\r\n\ndata: b\n\r\n",
        ] {
            let events = decode(input);
            assert_eq!(
                events,
                vec![SseEvent::new("a"), SseEvent::new("b")],
                "{input:?}"
            );
        }
    }

    #[test]
    fn fields_comments_and_multiline_data() {
        let events = decode(
            b"\xEF\xBB\xBF: comment\nevent: delta\nid: 7\nretry: 1500\ndata:first\ndata:  second\ndata\n\n\
              data: x\nunknown: y\n\n",
        );
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].event_type(), "delta");
        assert_eq!(events[0].data, "first\n second\n");
        assert_eq!(events[0].id.as_deref(), Some("7"));
        assert_eq!(events[0].retry, Some(Duration::from_millis(1500)));
        assert_eq!(events[1].event_type(), "message");
        assert_eq!(events[1].id.as_deref(), Some("7"), "ids persist");
        assert_eq!(events[1].retry, None);
    }

    #[test]
    fn events_without_data_are_not_dispatched() {
        assert!(decode(b"event: ping\n\n: keep-alive\n\nid: 3\n\n").is_empty());
        let events = decode(b"data:\n\n");
        assert_eq!(events, vec![SseEvent::new("")]);
    }

    #[test]
    fn invalid_retry_and_nul_ids_are_ignored() {
        let events = decode(b"retry: 12a\nid: a\0b\ndata: x\n\n");
        assert_eq!(events[0].retry, None);
        assert_eq!(events[0].id, None);
    }

    #[test]
    fn end_of_input_flushes_an_unterminated_event() {
        let events = decode(b"data: {\"n\":1}\n\ndata: [DONE]");
        assert_eq!(events.len(), 2);
        assert!(events[1].is_done());
    }

    #[test]
    fn split_inside_utf8_and_crlf() {
        let input = "data: héllo €\r\n\r\n".as_bytes();
        let mut decoder = SseDecoder::new();
        let mut events = Vec::new();
        for byte in input {
            decoder.push(std::slice::from_ref(byte));
            while let Some(event) = decoder.next_event().unwrap() {
                events.push(event);
            }
        }
        assert_eq!(events, vec![SseEvent::new("héllo €")]);
    }

    #[test]
    fn oversized_events_fail_and_the_decoder_recovers() {
        let mut decoder = SseDecoder::with_max_event_bytes(16);
        decoder.push(b"data: 0123456789\ndata: 0123456789\n\ndata: ok\n\n");
        assert!(matches!(
            decoder.next_event(),
            Err(SseError::EventTooLarge { limit: 16 })
        ));
        assert_eq!(decoder.next_event().unwrap(), Some(SseEvent::new("ok")));

        // A line that never ends is dropped as it arrives: memory stays bounded.
        let mut decoder = SseDecoder::with_max_event_bytes(16);
        decoder.push(b"data: ");
        assert!(decoder.next_event().unwrap().is_none());
        decoder.push(&[b'x'; 64]);
        assert!(decoder.next_event().is_err());
        for _ in 0..100 {
            decoder.push(&[b'y'; 1024]);
            assert!(decoder.next_event().unwrap().is_none());
            assert!(decoder.buf.len() <= 1024);
        }
        decoder.push(b"\n\ndata: after\n\n");
        assert_eq!(decoder.next_event().unwrap(), Some(SseEvent::new("after")));
    }

    #[test]
    fn a_line_in_many_pieces_is_not_rescanned() {
        let mut decoder = SseDecoder::new();
        decoder.push(b"data: ");
        for _ in 0..200_000 {
            decoder.push(b"x");
            assert!(decoder.next_event().unwrap().is_none());
        }
        assert_eq!(decoder.scanned, decoder.buf.len());
        decoder.push(b"\n\n");
        let event = decoder.next_event().unwrap().unwrap();
        assert_eq!(event.data.len(), 200_000);
    }

    #[test]
    fn comments_do_not_count_toward_the_limit() {
        let mut input = Vec::new();
        for _ in 0..100 {
            input.extend_from_slice(b": keep-alive ping\n");
        }
        input.extend_from_slice(b"data: ok\n\n");
        let events = decode_all(&mut SseDecoder::with_max_event_bytes(32), &[&input]);
        assert_eq!(events, vec![SseEvent::new("ok")]);
    }

    /// A valid stream: events made of fields and comments, with mixed line endings.
    fn valid_stream() -> impl Strategy<Value = Vec<u8>> {
        let value = "[a-zA-Z0-9 {}\":,é€😀\\[\\]]{0,24}";
        let line = prop_oneof![
            value.prop_map(|v| format!("data: {v}")),
            value.prop_map(|v| format!("data:{v}")),
            "[a-z]{1,8}".prop_map(|v| format!("event: {v}")),
            "[0-9a-z]{1,8}".prop_map(|v| format!("id: {v}")),
            "[0-9]{1,6}".prop_map(|v| format!("retry: {v}")),
            value.prop_map(|v| format!(": {v}")),
        ];
        let ending = prop_oneof![Just("\n"), Just("\r\n"), Just("\r")];
        let event = (
            prop::collection::vec((line, ending.clone()), 1..6),
            ending.clone(),
        );
        (prop::bool::ANY, prop::collection::vec(event, 0..8)).prop_map(|(bom, events)| {
            let mut out = if bom { BOM.to_vec() } else { Vec::new() };
            for (lines, blank) in events {
                for (line, ending) in lines {
                    out.extend_from_slice(line.as_bytes());
                    out.extend_from_slice(ending.as_bytes());
                }
                out.extend_from_slice(blank.as_bytes());
            }
            out
        })
    }

    proptest! {
        #[test]
        fn any_split_yields_the_same_events(
            input in valid_stream(),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        ) {
            let whole = decode(&input);
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(input.len() + 1)).collect();
            points.sort_unstable();
            let mut chunks: Vec<&[u8]> = Vec::new();
            let mut last = 0;
            for p in points {
                chunks.push(&input[last..p]);
                last = p;
            }
            chunks.push(&input[last..]);
            let split = decode_all(&mut SseDecoder::new(), &chunks);
            prop_assert_eq!(whole, split);
        }

        #[test]
        fn byte_by_byte_equals_whole(input in valid_stream()) {
            let whole = decode(&input);
            let chunks: Vec<&[u8]> = input.chunks(1).collect();
            prop_assert_eq!(whole, decode_all(&mut SseDecoder::new(), &chunks));
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..16),
            limit in 1_usize..128,
        ) {
            let mut decoder = SseDecoder::with_max_event_bytes(limit);
            for chunk in &chunks {
                decoder.push(chunk);
                let mut guard = 0;
                loop {
                    match decoder.next_event() {
                        Ok(None) => break,
                        Ok(Some(event)) => prop_assert!(event.data.len() <= 4 * limit),
                        Err(SseError::EventTooLarge { .. } | SseError::InvalidUtf8) => {}
                        Err(other) => prop_assert!(false, "unexpected error {other}"),
                    }
                    guard += 1;
                    prop_assert!(guard < 10_000);
                }
                prop_assert!(decoder.buf.len() - decoder.pos <= limit.max(BOM.len()));
            }
            decoder.end();
            let mut guard = 0;
            loop {
                match decoder.next_event() {
                    Ok(None) => break,
                    Ok(Some(event)) => prop_assert!(event.data.len() <= 4 * limit),
                    Err(_) => {}
                }
                guard += 1;
                prop_assert!(guard < 10_000);
            }
        }
    }
}
