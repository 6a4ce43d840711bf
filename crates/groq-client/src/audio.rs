//! Speech to text and text to speech: `/audio/transcriptions`, `/audio/translations` and
//! `/audio/speech`.
//!
//! A transcription's cost is its audio: the duration is measured from the file before
//! anything is sent (see `groq-audio`), at least the 10 s Groq bills, and charged to the
//! model's ASH and ASD buckets (and one request to RPM and RPD). The request waits in the
//! model's lane like a chat completion, is retried on transport failures and 5xx, requeued at
//! the head of its lane after a 429, and settled with the duration the server reports
//! (`verbose_json`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use groq_audio::{AudioError, AudioInfo, billed_seconds};
use groq_queue::{Job, Ticket};
use groq_ratelimit::{Cost, LimitMessage, RateLimitHeaders};
use groq_tokens::Estimate;
use groq_transport::{Attempt, RetryDecision, TransportError};
use groq_types::{ErrorEnvelope, SpeechRequest, Transcript, TranscriptionOptions};
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, USER_AGENT};
use http::{HeaderMap, Method, StatusCode};
use tokio::sync::oneshot;

use crate::client::Inner;
use crate::pipeline::{self, Payload, Sent, queue_error, resolve_model, wall_clock_now};
use crate::{Error, GroqClient, HttpResponse};

/// Where the audio of a transcription comes from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AudioSource {
    /// A file, read and measured before sending.
    Path(PathBuf),
    /// Audio in memory, with the file name sent to the server (its extension tells the
    /// format).
    Bytes {
        /// The file name.
        name: String,
        /// The audio.
        data: Bytes,
    },
    /// A URL the server fetches. Its length cannot be measured here: the 10 s minimum is
    /// charged, and the server's `verbose_json` duration settles the rest.
    Url(String),
}

impl AudioSource {
    /// The audio file at `path`.
    pub fn path(path: impl Into<PathBuf>) -> Self {
        Self::Path(path.into())
    }

    /// Audio in memory named `name`.
    pub fn bytes(name: impl Into<String>, data: impl Into<Bytes>) -> Self {
        Self::Bytes {
            name: name.into(),
            data: data.into(),
        }
    }

    /// Audio read from `reader` to its end, named `name`.
    pub fn from_reader(
        name: impl Into<String>,
        mut reader: impl std::io::Read,
    ) -> Result<Self, Error> {
        let name = name.into();
        let mut data = Vec::new();
        reader
            .read_to_end(&mut data)
            .map_err(|source| Error::Audio {
                message: format!("the audio {name} could not be read"),
                source: Some(AudioError::Io {
                    name: name.clone(),
                    source,
                }),
            })?;
        Ok(Self::bytes(name, data))
    }

    /// Audio at `url`, fetched by the server.
    pub fn url(url: impl Into<String>) -> Self {
        Self::Url(url.into())
    }

    /// A name for messages: the path, the file name or the URL.
    pub fn name(&self) -> String {
        match self {
            Self::Path(path) => path.display().to_string(),
            Self::Bytes { name, .. } => name.clone(),
            Self::Url(url) => url.clone(),
        }
    }
}

/// Measures the audio of `source`: `None` for a URL, which cannot be measured here.
pub fn measure(source: &AudioSource) -> Result<Option<AudioInfo>, Error> {
    let measured = match source {
        AudioSource::Path(path) => groq_audio::measure_file(path),
        AudioSource::Bytes { name, data } => groq_audio::measure_bytes(data, name),
        AudioSource::Url(_) => return Ok(None),
    };
    measured.map(Some).map_err(|source| Error::Audio {
        message: format!(
            "{} is not audio that can be sent (wav, mp3, flac, ogg, m4a or webm)",
            source.name()
        ),
        source: Some(source),
    })
}

/// A transcript and what it cost.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AudioReply {
    /// The transcript, its bytes as the server sent them.
    pub transcript: Transcript,
    /// The duration measured before sending (`None` for a URL).
    pub measured: Option<Duration>,
    /// The audio seconds charged to the rate limits after the reply.
    pub billed_seconds: u64,
    /// HTTP attempts made.
    pub attempts: u32,
}

impl GroqClient {
    /// Transcribes `source` (`POST /audio/transcriptions`), paced under the model's ASH and
    /// ASD limits. Bad audio (not audio, truncated, unknown format) fails before anything is
    /// sent.
    ///
    /// ```no_run
    /// use groq_client::{AudioSource, GroqClient, TranscriptionOptions};
    ///
    /// # async fn run() -> Result<(), groq_client::Error> {
    /// let client = GroqClient::from_env()?;
    /// let reply = client
    ///     .transcribe(AudioSource::path("meeting.m4a"), TranscriptionOptions::new("whisper-large-v3-turbo"))
    ///     .await?;
    /// println!("{}", reply.transcript.text);
    /// # Ok(()) }
    /// ```
    pub async fn transcribe(
        &self,
        source: AudioSource,
        options: TranscriptionOptions,
    ) -> Result<AudioReply, Error> {
        audio_call(&self.inner, "/audio/transcriptions", source, options).await
    }

    /// Translates the speech of `source` into English (`POST /audio/translations`), paced
    /// like [`transcribe`](Self::transcribe).
    pub async fn translate(
        &self,
        source: AudioSource,
        options: TranscriptionOptions,
    ) -> Result<AudioReply, Error> {
        audio_call(&self.inner, "/audio/translations", source, options).await
    }

    /// Generates speech (`POST /audio/speech`) and writes the audio to `path` as it arrives;
    /// returns the number of bytes written. Paced as one request of the model.
    pub async fn speech_to_file(&self, request: SpeechRequest, path: &Path) -> Result<u64, Error> {
        let body = serde_json::to_vec(&request)
            .map_err(|e| Error::config_from("the speech request could not be serialized", e))?;
        let (_, _, response) = paced_send(
            &self.inner,
            &request.model,
            Cost::request(0),
            "/audio/speech",
            Bytes::from(body),
            "application/json",
        )
        .await?;
        let mut file = tokio::fs::File::create(path)
            .await
            .map_err(|e| Error::config_from(format!("cannot create {}", path.display()), e))?;
        let mut written = 0u64;
        use tokio::io::AsyncWriteExt as _;
        let mut chunks = response.body.into_data_stream();
        loop {
            let next = std::future::poll_fn(|cx| {
                futures_core::Stream::poll_next(std::pin::Pin::new(&mut chunks), cx)
            })
            .await;
            let Some(chunk) = next else { break };
            let data = chunk.map_err(|source| Error::Transport {
                attempts: response.attempts,
                source,
            })?;
            file.write_all(&data)
                .await
                .map_err(|e| Error::config_from(format!("cannot write {}", path.display()), e))?;
            written += data.len() as u64;
        }
        file.flush()
            .await
            .map_err(|e| Error::config_from(format!("cannot write {}", path.display()), e))?;
        response.sent.keep_as_served();
        Ok(written)
    }
}

async fn audio_call(
    inner: &Arc<Inner>,
    path: &str,
    source: AudioSource,
    options: TranscriptionOptions,
) -> Result<AudioReply, Error> {
    options.validate().map_err(|message| Error::Audio {
        message,
        source: None,
    })?;
    let info = measure(&source)?;
    let measured = info.map(|i| i.duration);
    let charged = billed_seconds(measured.unwrap_or_default());
    let (name, data) = match &source {
        AudioSource::Path(file) => {
            let data = tokio::fs::read(file).await.map_err(|e| Error::Audio {
                message: format!("the audio {} could not be read", file.display()),
                source: Some(AudioError::Io {
                    name: file.display().to_string(),
                    source: e,
                }),
            })?;
            let name = file
                .file_name()
                .map_or_else(|| "audio".to_owned(), |n| n.to_string_lossy().into_owned());
            (Some(name), Some(Bytes::from(data)))
        }
        AudioSource::Bytes { name, data } => (Some(name.clone()), Some(data.clone())),
        AudioSource::Url(_) => (None, None),
    };
    let boundary = format!("groqchat-{:016x}", inner.rng().u64(..));
    let mut fields = options.form_fields();
    if let AudioSource::Url(url) = &source {
        fields.push(("url".to_owned(), url.clone()));
    }
    let body = multipart(&boundary, &fields, name.as_deref().zip(data.as_ref()));
    let format = options.format();
    let (status, _, response) = paced_send(
        inner,
        &options.model,
        Cost::audio(charged),
        path,
        body,
        &format!("multipart/form-data; boundary={boundary}"),
    )
    .await?;
    let attempts = response.attempts;
    let bytes = match response.body.collect_bytes(inner.max_response_bytes).await {
        Ok(bytes) => bytes,
        Err(source) => {
            response.sent.keep_as_served();
            return Err(Error::Transport { attempts, source });
        }
    };
    let transcript = match Transcript::parse(format, &bytes) {
        Ok(transcript) => transcript,
        Err(_) => {
            response.sent.keep_as_served();
            return Err(Error::Api {
                status: status.as_u16(),
                code: None,
                kind: None,
                message: format!(
                    "the reply is not a transcript in the {} format",
                    format.as_str()
                ),
                failed_generation: None,
                response: Box::new(HttpResponse::new(status.as_u16(), None, bytes.clone())),
            });
        }
    };
    // Reconcile with the server's measure when it gives one.
    let billed = transcript
        .duration
        .filter(|d| d.is_finite() && *d >= 0.0)
        .map_or(charged, |d| billed_seconds(Duration::from_secs_f64(d)));
    response.sent.commit_audio(billed);
    Ok(AudioReply {
        transcript,
        measured,
        billed_seconds: billed,
        attempts,
    })
}

/// A `multipart/form-data` body: the text fields, then the file.
pub(crate) fn multipart(
    boundary: &str,
    fields: &[(String, String)],
    file: Option<(&str, &Bytes)>,
) -> Bytes {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n{value}\r\n",
                escape(name)
            )
            .as_bytes(),
        );
    }
    if let Some((name, data)) = file {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
                escape(name)
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Bytes::from(body)
}

/// A name quoted in a header: quotes and line breaks escaped.
fn escape(name: &str) -> String {
    name.replace('\\', "\\\\")
        .replace('"', "%22")
        .replace(['\r', '\n'], " ")
}

/// An accepted response whose body is still to be read, with its reservation.
pub(crate) struct Accepted {
    pub(crate) body: groq_transport::Body,
    pub(crate) sent: Settled,
    pub(crate) attempts: u32,
    _ticket: Ticket,
}

/// The reservation of an accepted request, settled from what the reply says.
pub(crate) struct Settled(Sent);

impl Settled {
    /// The request was served with its estimate (speech, or an unreadable reply).
    pub(crate) fn keep_as_served(self) {
        self.0.keep();
    }

    /// The request was served and billed `seconds` of audio.
    pub(crate) fn commit_audio(self, seconds: u64) {
        self.0.commit_cost(Cost::audio(seconds));
    }

    /// The request was served and really cost `actual`.
    pub(crate) fn commit_cost(self, actual: Cost) {
        self.0.commit_cost(actual);
    }
}

/// Sends `body` to `path` for `model` once `cost` is admitted in the model's lane, retrying
/// transport failures and retryable statuses, and requeueing after a 429.
pub(crate) async fn paced_send(
    inner: &Arc<Inner>,
    model: &str,
    cost: Cost,
    path: &str,
    body: Bytes,
    content_type: &str,
) -> Result<(StatusCode, HeaderMap, Accepted), Error> {
    let config = inner.config();
    let model_config = resolve_model(&config, model)?;
    let authorization = pipeline::authorization(&config, &model_config)?;
    let uri = pipeline::endpoint(config.base_url_for(&model_config), path)?;
    let content_type = HeaderValue::from_str(content_type)
        .map_err(|e| Error::config_from("the content type cannot be sent", e))?;
    let model: Arc<str> = Arc::from(model);
    let started = inner.now();
    let job = Job::new(
        Arc::clone(&model),
        cost,
        Payload {
            reply: None,
            estimate: Estimate::new(0, 0),
            limited: false,
        },
    );
    let (reply, mut receiver) = oneshot::channel();
    let mut job = job;
    job.payload_mut().reply = Some(reply);
    let mut ticket = inner
        .lanes
        .submit(job)
        .await
        .map_err(|e| queue_error(e, &model))?;
    let mut attempts = 0u32;
    let mut failures = 0u32;
    let mut limited = 0u32;
    loop {
        let dispatched = tokio::select! {
            biased;
            dispatched = &mut receiver => match dispatched {
                Ok(dispatched) => dispatched,
                Err(_) => {
                    let failure = ticket.failed().await;
                    return Err(failure.map_or(Error::Shutdown, |e| queue_error(e, &model)));
                }
            },
            failure = ticket.failed() => {
                return Err(failure.map_or(Error::Shutdown, |e| queue_error(e, &model)));
            }
        };
        let (mut job, reservation) = dispatched.into_parts();
        attempts += 1;
        let sent = Sent::new(reservation);
        let mut request = http::Request::new(body.clone());
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri.clone();
        let headers = request.headers_mut();
        headers.insert(AUTHORIZATION, authorization.clone());
        headers.insert(CONTENT_TYPE, content_type.clone());
        headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("groqchat/", env!("CARGO_PKG_VERSION"))),
        );
        let outcome =
            tokio::time::timeout(config.request_timeout, inner.transport.send(request)).await;
        let after: Option<Duration> = match outcome
            .unwrap_or_else(|_| Err(TransportError::timeout()))
        {
            Ok(response) => {
                let received = inner.now();
                let (head, response_body) = response.into_parts();
                let limits = RateLimitHeaders::from_headers(&head.headers);
                if head.status.is_success() {
                    inner.limiter.observe(&model, &limits, received);
                    drop(job);
                    return Ok((
                        head.status,
                        head.headers,
                        Accepted {
                            body: response_body,
                            sent: Settled(sent),
                            attempts,
                            _ticket: ticket,
                        },
                    ));
                }
                let text = response_body
                    .collect_bytes(64 * 1024)
                    .await
                    .unwrap_or_default();
                let envelope = serde_json::from_slice::<ErrorEnvelope>(&text).ok();
                let message = envelope
                    .as_ref()
                    .and_then(|e| LimitMessage::parse(&e.error.message));
                if head.status == StatusCode::TOO_MANY_REQUESTS {
                    sent.refund();
                    inner
                        .limiter
                        .rate_limited(&model, &limits, message.as_ref(), received);
                    limited += 1;
                    let retry_after = limits
                        .retry_after
                        .or_else(|| message.as_ref().and_then(|m| m.retry_after));
                    let dimension = message.as_ref().and_then(|m| m.dimension);
                    if retry_after.is_none()
                        && let Some(until) =
                            received.checked_add(inner.retry.backoff_ceiling(limited))
                    {
                        inner.limiter.penalize(&model, dimension, until);
                    }
                    if limited > inner.max_rate_limit_retries {
                        return Err(Error::RateLimited {
                            model: model.to_string(),
                            dimension,
                            retry_after,
                            message: envelope.map(|e| e.error.message).unwrap_or_default(),
                            response: Some(Box::new(HttpResponse::new(
                                head.status.as_u16(),
                                pipeline::request_id(&head.headers),
                                text.clone(),
                            ))),
                        });
                    }
                    None
                } else if head.status == StatusCode::PAYLOAD_TOO_LARGE
                    && envelope.as_ref().and_then(|e| e.error.code.as_deref())
                        == Some("rate_limit_exceeded")
                {
                    sent.refund();
                    inner.limiter.observe(&model, &limits, received);
                    return Err(Error::RequestTooLarge {
                        model: model.to_string(),
                        dimension: message.as_ref().and_then(|m| m.dimension),
                        requested: message.as_ref().and_then(|m| m.requested),
                        limit: message.as_ref().and_then(|m| m.limit),
                        from_server: true,
                        response: Some(Box::new(HttpResponse::new(
                            head.status.as_u16(),
                            pipeline::request_id(&head.headers),
                            text.clone(),
                        ))),
                    });
                } else {
                    if head.status.is_client_error() {
                        sent.refund();
                    } else {
                        sent.keep();
                    }
                    inner.limiter.observe(&model, &limits, received);
                    failures += 1;
                    let attempt = Attempt::new(failures, inner.elapsed(started), wall_clock_now());
                    let decision = {
                        let mut rng = inner.rng();
                        inner
                            .retry
                            .classify(head.status, &head.headers, attempt, &mut rng)
                    };
                    match decision {
                        RetryDecision::Retry { after } => Some(after),
                        _ => {
                            let answer = HttpResponse::new(
                                head.status.as_u16(),
                                pipeline::request_id(&head.headers),
                                text.clone(),
                            );
                            return Err(pipeline::api_error(head.status, envelope, answer, &model));
                        }
                    }
                }
            }
            Err(error) => {
                // The request may have reached the server: its charge stays.
                sent.keep();
                failures += 1;
                let attempt = Attempt::new(failures, inner.elapsed(started), wall_clock_now());
                let decision = {
                    let mut rng = inner.rng();
                    inner.retry.classify_error(&error, attempt, &mut rng)
                };
                match decision {
                    RetryDecision::Retry { after } => Some(after),
                    _ => {
                        return Err(Error::Transport {
                            attempts,
                            source: error,
                        });
                    }
                }
            }
        };
        if let Some(after) = after {
            tokio::time::sleep(after).await;
        }
        let (reply, fresh) = oneshot::channel();
        job.payload_mut().reply = Some(reply);
        receiver = fresh;
        inner
            .lanes
            .requeue_front(job)
            .map_err(|e| queue_error(e, &model))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_bodies_carry_fields_and_the_file() {
        let fields = vec![
            ("model".to_owned(), "whisper-large-v3".to_owned()),
            ("language".to_owned(), "en".to_owned()),
        ];
        let data = Bytes::from_static(b"RIFF....");
        let body = multipart("b0undary", &fields, Some(("my \"clip\".wav", &data)));
        let text = String::from_utf8_lossy(&body);
        assert!(text.starts_with(
            "--b0undary\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-large-v3\r\n"
        ));
        assert!(text.contains("filename=\"my %22clip%22.wav\""), "{text}");
        assert!(
            text.contains("\r\n\r\nRIFF....\r\n--b0undary--\r\n"),
            "{text}"
        );
    }

    #[test]
    fn bad_audio_fails_with_the_file_named() {
        let err = measure(&AudioSource::bytes("notes.wav", b"plain text".to_vec())).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("notes.wav is not audio"), "{text}");
        assert!(std::error::Error::source(&err).is_some());
        assert_eq!(
            measure(&AudioSource::url("https://example.com/a.mp3")).unwrap(),
            None
        );
    }
}
