//! The API's resources outside the chat pipeline: models (retrieve is in `client.rs`,
//! delete here), files, batches and embeddings.
//!
//! Files and batches are not rate limited per model: their calls go straight to the
//! transport with the client's retry policy. Embeddings are paced in their model's lane like
//! any request, charged one request and an estimate of their input tokens.

use bytes::Bytes;
use groq_ratelimit::Cost;
use groq_transport::TransportError;
use groq_types::{
    Batch, BatchList, CreateBatch, Deleted, EmbeddingList, EmbeddingRequest, FileList, FileObject,
};
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, USER_AGENT};
use http::{HeaderMap, Method, StatusCode};
use serde::de::DeserializeOwned;

use crate::audio::{multipart, paced_send};
use crate::classify::{Counts, ErrorAnswer, Outcome, classify, classify_failure};
use crate::client::Inner;
use crate::pipeline::{self, wall_clock_now};
use crate::{Error, GroqClient, HttpResponse};

/// A request body and its content type.
type Payload = (Bytes, HeaderValue);

/// What an unpaced exchange does with an error status that no retry fixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorStatus {
    /// Fail with the client's error for it.
    Fail,
    /// Hand it back as the answer (a gateway passes the server's answer on); a 429 is passed
    /// on at once rather than waited out.
    PassThrough,
}

/// The answer of an unpaced exchange, its body read.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// HTTP attempts made.
    pub(crate) attempts: u32,
}

/// Sends one request outside the rate-limit queue, with the client's retry policy; returns
/// the status and body of a 2xx answer. The path of every unpaced call (models, files,
/// batches).
pub(crate) async fn send(
    inner: &Inner,
    method: Method,
    path: &str,
    payload: Option<Payload>,
) -> Result<(StatusCode, Bytes), Error> {
    let answer = exchange(inner, method, path, payload, "*/*", ErrorStatus::Fail).await?;
    Ok((answer.status, answer.body))
}

/// Sends one request outside the rate-limit queue and reads its answer, retrying transport
/// failures, retryable statuses and (unless passing errors through) 429s as the client's
/// policy says. Server text in an error is scrubbed of the client's secrets, as on every
/// other path.
pub(crate) async fn exchange(
    inner: &Inner,
    method: Method,
    path: &str,
    payload: Option<Payload>,
    accept: &'static str,
    errors: ErrorStatus,
) -> Result<Answer, Error> {
    exchange_unscrubbed(inner, method, path, payload, accept, errors)
        .await
        .map_err(|e| e.scrubbed(&inner.secrets()))
}

async fn exchange_unscrubbed(
    inner: &Inner,
    method: Method,
    path: &str,
    payload: Option<Payload>,
    accept: &'static str,
    errors: ErrorStatus,
) -> Result<Answer, Error> {
    let config = inner.config();
    let key = config.api_key.as_ref().ok_or_else(|| {
        Error::config(
            "no API key: set the GROQ_API_KEY environment variable, put \"api_key\" in the \
             configuration, or call `.api_key(...)` on the client builder",
        )
    })?;
    let mut authorization = HeaderValue::from_str(&format!("Bearer {}", key.expose_secret()))
        .map_err(|_| {
            Error::config("the API key contains characters that cannot be sent in an HTTP header")
        })?;
    authorization.set_sensitive(true);
    let uri = pipeline::endpoint(&config.base_url, path)?;
    let started = inner.now();
    let mut counts = Counts::default();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let mut request = http::Request::new(
            payload
                .as_ref()
                .map_or_else(Bytes::new, |(body, _)| body.clone()),
        );
        *request.method_mut() = method.clone();
        *request.uri_mut() = uri.clone();
        let headers = request.headers_mut();
        headers.insert(AUTHORIZATION, authorization.clone());
        headers.insert(ACCEPT, HeaderValue::from_static(accept));
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("groqchat/", env!("CARGO_PKG_VERSION"))),
        );
        if let Some((_, content_type)) = &payload {
            headers.insert(CONTENT_TYPE, content_type.clone());
        }
        let sent = inner
            .timeout(config.request_timeout, inner.wire.transport.send(request))
            .await
            .unwrap_or_else(|| Err(TransportError::timeout()));
        let read = match sent {
            Ok(response) => {
                let (head, body) = response.into_parts();
                body.collect_bytes(inner.wire.max_response_bytes)
                    .await
                    .map(|body| (head, body))
            }
            Err(error) => Err(error),
        };
        counts.elapsed = inner.elapsed(started);
        let (head, body) = match read {
            Ok(answer) => answer,
            Err(error) => {
                let outcome = classify_failure(
                    &error,
                    &inner.wire.retry,
                    counts,
                    wall_clock_now(),
                    &mut inner.rng(),
                );
                counts.failures += 1;
                match outcome {
                    Outcome::Retry { after, .. } => {
                        inner.sleep(after).await;
                        continue;
                    }
                    _ => {
                        return Err(Error::transport(attempts, error));
                    }
                }
            }
        };
        if head.status.is_success() {
            return Ok(Answer {
                status: head.status,
                headers: head.headers,
                body,
                attempts,
            });
        }
        let answer = ErrorAnswer::new(head.status, head.headers, body);
        let outcome = classify(
            &answer,
            &inner.wire.retry,
            inner.wire.max_rate_limit_retries,
            counts,
            wall_clock_now(),
            &mut inner.rng(),
        );
        match (outcome, errors) {
            (Outcome::Retry { after, .. }, _) => {
                counts.failures += 1;
                inner.sleep(after).await;
            }
            (
                Outcome::RateLimited {
                    pause,
                    exhausted: false,
                    ..
                },
                ErrorStatus::Fail,
            ) => {
                counts.limited += 1;
                inner.sleep(pause).await;
            }
            (_, ErrorStatus::Fail) => return Err(answer_error(answer, path)),
            (_, ErrorStatus::PassThrough) => {
                return Ok(Answer {
                    status: answer.status,
                    headers: answer.headers,
                    body: answer.body,
                    attempts,
                });
            }
        }
    }
}

/// The error of a request the API refused: a 429, a 404 of `/models/{id}` (the model is
/// not known), or the API's error.
fn answer_error(answer: ErrorAnswer, path: &str) -> Error {
    if answer.status == StatusCode::TOO_MANY_REQUESTS {
        return pipeline::rate_limited_error("", answer, None);
    }
    if answer.status == StatusCode::NOT_FOUND
        && let Some(id) = path.strip_prefix("/models/")
    {
        let response = HttpResponse::new(
            answer.status.as_u16(),
            pipeline::request_id(&answer.headers),
            answer.body,
        );
        return Error::ModelNotFound(crate::error::ModelNotFound {
            model: id.to_owned(),
            message: answer.envelope.map_or_else(
                || "the API does not know it".to_owned(),
                |e| e.error.message,
            ),
            response: Some(Box::new(response)),
        });
    }
    pipeline::api_error(answer, "")
}

fn decode<T: DeserializeOwned>(body: &[u8], expected: &'static str) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|source| {
        Error::InvalidResponse(crate::error::InvalidResponse {
            status: 200,
            expected,
            source: source.into(),
        })
    })
}

fn json_payload<T: serde::Serialize>(value: &T) -> Result<Payload, Error> {
    let body = serde_json::to_vec(value)
        .map_err(|e| Error::config_from("the request could not be serialized as JSON", e))?;
    Ok((
        Bytes::from(body),
        HeaderValue::from_static("application/json"),
    ))
}

/// A path segment that is an id: refused when it could change the path.
fn id_segment<'a>(id: &'a str, what: &str) -> Result<&'a str, Error> {
    if id.trim().is_empty() || id.contains(['/', '?', '#', ' ']) {
        return Err(Error::config(format!(
            "{what} id {id:?} is not valid: it must be non-empty, without '/', '?', '#' or spaces"
        )));
    }
    Ok(id)
}

impl GroqClient {
    /// Deletes a model (a fine-tuned one) (`DELETE /models/{id}`).
    pub async fn delete_model(&self, id: &str) -> Result<Deleted, Error> {
        // Model ids may contain '/' (`qwen/qwen3-32b`), as in `GET /models/{id}`.
        if id.trim().is_empty() || id.contains(['?', '#', ' ']) || id.contains("..") {
            return Err(Error::ModelNotFound(crate::error::ModelNotFound {
                model: id.to_owned(),
                message: "a model id is a non-empty name without spaces, '?', '#' or '..'"
                    .to_owned(),
                response: None,
            }));
        }
        let (_, body) = send(&self.inner, Method::DELETE, &format!("/models/{id}"), None).await?;
        decode(&body, "a deletion status")
    }

    /// Uploads `data` as a file named `name` for `purpose` (`batch` for Batch API input).
    pub async fn upload_file(
        &self,
        name: &str,
        data: impl Into<Bytes>,
        purpose: &str,
    ) -> Result<FileObject, Error> {
        let boundary = format!("groqchat-{:016x}", self.inner.rng().u64(..));
        let data = data.into();
        let body = multipart(
            &boundary,
            &[("purpose".to_owned(), purpose.to_owned())],
            Some((name, &data)),
        );
        let content_type =
            HeaderValue::from_str(&format!("multipart/form-data; boundary={boundary}"))
                .map_err(|e| Error::config_from("the content type cannot be sent", e))?;
        let (_, body) = send(
            &self.inner,
            Method::POST,
            "/files",
            Some((body, content_type)),
        )
        .await?;
        decode(&body, "a file object")
    }

    /// The files of the organization (`GET /files`).
    pub async fn files(&self) -> Result<FileList, Error> {
        let (_, body) = send(&self.inner, Method::GET, "/files", None).await?;
        decode(&body, "a file list")
    }

    /// One file's description (`GET /files/{id}`).
    pub async fn file(&self, id: &str) -> Result<FileObject, Error> {
        let id = id_segment(id, "file")?;
        let (_, body) = send(&self.inner, Method::GET, &format!("/files/{id}"), None).await?;
        decode(&body, "a file object")
    }

    /// One file's content, byte for byte (`GET /files/{id}/content`).
    pub async fn file_content(&self, id: &str) -> Result<Bytes, Error> {
        let id = id_segment(id, "file")?;
        send(
            &self.inner,
            Method::GET,
            &format!("/files/{id}/content"),
            None,
        )
        .await
        .map(|(_, body)| body)
    }

    /// Deletes a file (`DELETE /files/{id}`).
    pub async fn delete_file(&self, id: &str) -> Result<Deleted, Error> {
        let id = id_segment(id, "file")?;
        let (_, body) = send(&self.inner, Method::DELETE, &format!("/files/{id}"), None).await?;
        decode(&body, "a deletion status")
    }

    /// Creates a batch (`POST /batches`).
    pub async fn create_batch(&self, create: &CreateBatch) -> Result<Batch, Error> {
        let (_, body) = send(
            &self.inner,
            Method::POST,
            "/batches",
            Some(json_payload(create)?),
        )
        .await?;
        decode(&body, "a batch")
    }

    /// One batch (`GET /batches/{id}`).
    pub async fn batch(&self, id: &str) -> Result<Batch, Error> {
        let id = id_segment(id, "batch")?;
        let (_, body) = send(&self.inner, Method::GET, &format!("/batches/{id}"), None).await?;
        decode(&body, "a batch")
    }

    /// The batches of the organization (`GET /batches`).
    pub async fn batches(&self) -> Result<BatchList, Error> {
        let (_, body) = send(&self.inner, Method::GET, "/batches", None).await?;
        decode(&body, "a batch list")
    }

    /// Cancels a batch (`POST /batches/{id}/cancel`).
    pub async fn cancel_batch(&self, id: &str) -> Result<Batch, Error> {
        let id = id_segment(id, "batch")?;
        let (_, body) = send(
            &self.inner,
            Method::POST,
            &format!("/batches/{id}/cancel"),
            None,
        )
        .await?;
        decode(&body, "a batch")
    }

    /// Embeddings of the request's texts (`POST /embeddings`), paced in the model's lane:
    /// one request and about a token per four characters of input.
    pub async fn embeddings(&self, request: &EmbeddingRequest) -> Result<EmbeddingList, Error> {
        let tokens: u64 = request
            .texts()
            .iter()
            .map(|t| (t.len() as u64).div_ceil(4))
            .sum();
        let (body, content_type) = json_payload(request)?;
        let content_type = content_type
            .to_str()
            .unwrap_or("application/json")
            .to_owned();
        let (status, _, accepted) = paced_send(
            &self.inner,
            &request.model,
            Cost::chat(tokens, 0),
            "/embeddings",
            body,
            &content_type,
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
        accepted.sent.keep_as_served();
        serde_json::from_slice(&bytes)
            .map_err(|source| Error::invalid_response(status.as_u16(), "embeddings", source))
    }
}
