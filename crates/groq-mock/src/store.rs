//! Files, batches, embeddings and model deletion.
//!
//! Files are stored per API key in memory. A batch is processed in the background at the
//! emulator's time scale: `validating` for a tenth of a "minute", then `in_progress` while
//! each line is answered by the emulator's own chat endpoint (on buckets of its own, so a
//! batch has no impact on the standard rate limits, and waiting out their 429s), then
//! `finalizing` for a tenth of a minute and `completed`, with an output file of
//! `{id, custom_id, response: {status_code, request_id, body}, error}` lines and, when some
//! lines failed, an error file. A cancelled batch stops between lines (`cancelling`, then
//! `cancelled`) and keeps the results so far.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use groq_types::{Batch, CreateBatch, EmbeddingRequest, RequestCounts};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

use crate::engine::Engine;
use crate::http::{Reply, bytes_reply, error, invalid, json as json_reply};
use crate::multipart;

/// One stored file.
#[derive(Debug, Clone)]
struct StoredFile {
    object: Value,
    data: Bytes,
}

/// One batch and whether it was asked to stop.
#[derive(Debug, Clone)]
struct StoredBatch {
    batch: Batch,
    cancel: bool,
}

/// Files and batches, per API key.
#[derive(Debug, Default)]
pub(crate) struct Store {
    inner: Mutex<StoreInner>,
}

#[derive(Debug, Default)]
struct StoreInner {
    files: HashMap<String, BTreeMap<String, StoredFile>>,
    batches: HashMap<String, BTreeMap<String, StoredBatch>>,
    deleted_models: Vec<String>,
}

impl Store {
    fn lock(&self) -> MutexGuard<'_, StoreInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `model` was deleted through the API.
    pub(crate) fn is_deleted(&self, model: &str) -> bool {
        self.lock().deleted_models.iter().any(|m| m == model)
    }

    fn put_file(
        &self,
        engine: &Engine,
        key: &str,
        filename: &str,
        purpose: &str,
        data: Bytes,
    ) -> Value {
        let id = format!("file_{}", engine.next_id());
        let object = json!({
            "id": id, "object": "file", "bytes": data.len(), "created_at": engine.unix_now(),
            "filename": filename, "purpose": purpose,
        });
        self.lock().files.entry(key.to_owned()).or_default().insert(
            id,
            StoredFile {
                object: object.clone(),
                data,
            },
        );
        object
    }

    fn file(&self, key: &str, id: &str) -> Option<StoredFile> {
        self.lock().files.get(key)?.get(id).cloned()
    }

    fn update_batch(
        &self,
        key: &str,
        id: &str,
        change: impl FnOnce(&mut StoredBatch),
    ) -> Option<StoredBatch> {
        let mut inner = self.lock();
        let batch = inner.batches.get_mut(key)?.get_mut(id)?;
        change(batch);
        Some(batch.clone())
    }
}

fn not_found(what: &str, id: &str) -> Reply {
    error(
        StatusCode::NOT_FOUND,
        format!("{what} `{id}` does not exist"),
        "invalid_request_error",
        Some("not_found"),
    )
}

/// Serves the files, batches, embeddings and model-deletion routes; `None` when `rest` is
/// none of them.
pub(crate) async fn route<B>(
    engine: &Arc<Engine>,
    request: Request<B>,
    key: &str,
    rest: &str,
    request_id: &str,
) -> Option<Reply>
where
    B: http_body::Body,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let method = request.method().clone();
    let store = &engine.store;
    let reply = match (&method, rest) {
        (&Method::POST, "/files") => {
            let content_type = request
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body = match read(request).await {
                Ok(body) => body,
                Err(reply) => return Some(reply),
            };
            let Some(boundary) = multipart::boundary(&content_type) else {
                return Some(invalid(
                    "request Content-Type must be multipart/form-data",
                    None,
                ));
            };
            let form = match multipart::parse(&body, &boundary) {
                Ok(form) => form,
                Err(reason) => {
                    return Some(invalid(
                        format!("the multipart body is malformed: {reason}"),
                        None,
                    ));
                }
            };
            let Some(purpose) = form.text("purpose") else {
                return Some(invalid("property 'purpose' is missing", Some("purpose")));
            };
            let Some(file) = form.part("file") else {
                return Some(invalid("property 'file' is missing", Some("file")));
            };
            let name = file.filename.clone().unwrap_or_else(|| "file".to_owned());
            json_reply(
                StatusCode::OK,
                &store.put_file(engine, key, &name, &purpose, file.data.clone()),
            )
        }
        (&Method::GET, "/files") => {
            let data: Vec<Value> = store
                .lock()
                .files
                .get(key)
                .map(|files| files.values().map(|f| f.object.clone()).collect())
                .unwrap_or_default();
            json_reply(StatusCode::OK, &json!({"object": "list", "data": data}))
        }
        (&Method::GET, path) if path.starts_with("/files/") => {
            let rest = &path["/files/".len()..];
            if let Some(id) = rest.strip_suffix("/content") {
                match store.file(key, id) {
                    Some(file) => {
                        bytes_reply(StatusCode::OK, "application/octet-stream", file.data)
                    }
                    None => not_found("file", id),
                }
            } else {
                match store.file(key, rest) {
                    Some(file) => json_reply(StatusCode::OK, &file.object),
                    None => not_found("file", rest),
                }
            }
        }
        (&Method::DELETE, path) if path.starts_with("/files/") => {
            let id = &path["/files/".len()..];
            let removed = store
                .lock()
                .files
                .get_mut(key)
                .and_then(|files| files.remove(id));
            match removed {
                Some(_) => json_reply(
                    StatusCode::OK,
                    &json!({"id": id, "object": "file", "deleted": true}),
                ),
                None => not_found("file", id),
            }
        }
        (&Method::DELETE, path) if path.starts_with("/models/") => {
            let id = &path["/models/".len()..];
            if engine.model(id).is_none() || store.is_deleted(id) {
                return Some(not_found("model", id));
            }
            store.lock().deleted_models.push(id.to_owned());
            json_reply(
                StatusCode::OK,
                &json!({"id": id, "object": "model", "deleted": true}),
            )
        }
        (&Method::POST, "/batches") => {
            let body = match read(request).await {
                Ok(body) => body,
                Err(reply) => return Some(reply),
            };
            let create: CreateBatch = match serde_json::from_slice(&body) {
                Ok(create) => create,
                Err(e) => return Some(invalid(format!("the batch request is invalid: {e}"), None)),
            };
            let Some(input) = store.file(key, &create.input_file_id) else {
                return Some(not_found("file", &create.input_file_id));
            };
            if create.endpoint != "/v1/chat/completions" {
                return Some(invalid(
                    format!(
                        "the emulator batches /v1/chat/completions only, not {}",
                        create.endpoint
                    ),
                    Some("endpoint"),
                ));
            }
            let id = format!("batch_{}", engine.next_id());
            let total = input
                .data
                .split(|b| *b == b'\n')
                .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
                .count() as u64;
            let batch: Batch = match serde_json::from_value(json!({
                "id": id, "object": "batch", "endpoint": create.endpoint,
                "input_file_id": create.input_file_id, "completion_window": create.completion_window,
                "status": "validating", "output_file_id": null, "error_file_id": null,
                "created_at": engine.unix_now(),
                "request_counts": {"total": total, "completed": 0, "failed": 0},
                "metadata": create.metadata, "errors": null,
            })) {
                Ok(batch) => batch,
                Err(e) => return Some(invalid(format!("cannot create the batch: {e}"), None)),
            };
            store
                .lock()
                .batches
                .entry(key.to_owned())
                .or_default()
                .insert(
                    id.clone(),
                    StoredBatch {
                        batch: batch.clone(),
                        cancel: false,
                    },
                );
            tokio::spawn(process(Arc::clone(engine), key.to_owned(), id, input.data));
            json_reply(StatusCode::OK, &batch)
        }
        (&Method::GET, "/batches") => {
            let data: Vec<Batch> = store
                .lock()
                .batches
                .get(key)
                .map(|b| b.values().map(|s| s.batch.clone()).collect())
                .unwrap_or_default();
            json_reply(StatusCode::OK, &json!({"object": "list", "data": data}))
        }
        (&Method::POST, path) if path.starts_with("/batches/") && path.ends_with("/cancel") => {
            let id = &path["/batches/".len()..path.len() - "/cancel".len()];
            match store.update_batch(key, id, |b| {
                if !b.batch.is_finished() {
                    b.cancel = true;
                    b.batch.status = "cancelling".to_owned();
                }
            }) {
                Some(b) => json_reply(StatusCode::OK, &b.batch),
                None => not_found("batch", id),
            }
        }
        (&Method::GET, path) if path.starts_with("/batches/") => {
            let id = &path["/batches/".len()..];
            match store.lock().batches.get(key).and_then(|b| b.get(id)) {
                Some(b) => json_reply(StatusCode::OK, &b.batch),
                None => not_found("batch", id),
            }
        }
        (&Method::POST, "/embeddings") => {
            let body = match read(request).await {
                Ok(body) => body,
                Err(reply) => return Some(reply),
            };
            let request: EmbeddingRequest = match serde_json::from_slice(&body) {
                Ok(request) => request,
                Err(e) => {
                    return Some(invalid(
                        format!("the embeddings request is invalid: {e}"),
                        None,
                    ));
                }
            };
            if engine.model(&request.model).is_none() {
                return Some(crate::http::model_not_found(&request.model));
            }
            let texts = request.texts();
            if texts.is_empty() {
                return Some(invalid(
                    "property 'input' must be a string or an array of strings",
                    Some("input"),
                ));
            }
            let mut tokens = 0u64;
            let data: Vec<Value> = texts
                .iter()
                .enumerate()
                .map(|(index, text)| {
                    tokens += crate::tokens::text_tokens(text);
                    json!({"object": "embedding", "index": index, "embedding": vector(text)})
                })
                .collect();
            engine.audit(&request.model, tokens, 0, false, None);
            json_reply(
                StatusCode::OK,
                &json!({"object": "list", "data": data, "model": request.model,
                        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                        "x_groq": {"id": request_id}}),
            )
        }
        _ => return None,
    };
    Some(reply)
}

/// A deterministic unit-length 8-dimensional vector of `text`.
fn vector(text: &str) -> Vec<f32> {
    let mut v = [0f32; 8];
    for (i, b) in text.bytes().enumerate() {
        v[i % 8] += f32::from(b) / 255.0;
    }
    let norm = v
        .iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt()
        .max(f32::EPSILON);
    v.iter().map(|x| x / norm).collect()
}

async fn read<B>(request: Request<B>) -> Result<Bytes, Reply>
where
    B: http_body::Body,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    match http_body_util::Limited::new(request.into_body(), crate::MAX_AUDIO_BYTES)
        .collect()
        .await
    {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(_) => Err(invalid(
            "the request body is too large or could not be read",
            None,
        )),
    }
}

/// Processes batch `id` of `key` in the background.
async fn process(engine: Arc<Engine>, key: String, id: String, input: Bytes) {
    let tenth = engine.minute() / 10;
    tokio::time::sleep(tenth).await;
    let store = &engine.store;
    let mut cancelled = store
        .update_batch(&key, &id, |b| {
            if !b.cancel {
                b.batch.status = "in_progress".to_owned();
            }
        })
        .is_none_or(|b| b.cancel);
    let mut output = String::new();
    let mut errors = String::new();
    let mut counts = RequestCounts::default();
    for (number, line) in input.split(|b| *b == b'\n').enumerate() {
        if cancelled {
            break;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        // Each request takes a fiftieth of a "minute": batches take time.
        tokio::time::sleep(engine.minute() / 50).await;
        let result_id = format!("batch_req_{}", engine.next_id());
        let parsed: Result<Value, _> = serde_json::from_slice(line);
        let entry = parsed.ok().filter(|v| {
            v.get("custom_id").and_then(Value::as_str).is_some() && v.get("body").is_some()
        });
        let Some(entry) = entry else {
            counts.failed += 1;
            errors.push_str(&json!({"id": result_id, "custom_id": null, "response": null,
                "error": {"code": "invalid_request", "message": format!("line {} is not a batch request line", number + 1)}}).to_string());
            errors.push('\n');
            update_counts(store, &key, &id, counts, &mut cancelled);
            continue;
        };
        let custom_id = entry["custom_id"].clone();
        let body = serde_json::to_vec(&entry["body"]).unwrap_or_default();
        let (status, request_id, reply) = loop {
            let request = Request::builder()
                .method(Method::POST)
                .uri("/openai/v1/chat/completions")
                .body(Full::new(Bytes::from(body.clone())));
            let Ok(request) = request else {
                break (500, None, json!({"error": {"message": "internal error"}}));
            };
            let request_id = format!("req_{}", engine.next_id());
            // A bucket set of its own: batches do not touch the standard limits.
            let answer =
                crate::http::chat(&engine, request, &format!("batch:{key}"), &request_id).await;
            let Ok(answer) = answer else { continue };
            let status = answer.status().as_u16();
            let retry = answer
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let bytes = answer
                .into_body()
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            if status == 429 {
                tokio::time::sleep(Duration::from_secs(retry.unwrap_or(1))).await;
                continue;
            }
            let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            break (status, Some(request_id), value);
        };
        let line = json!({"id": result_id, "custom_id": custom_id,
            "response": {"status_code": status, "request_id": request_id, "body": reply},
            "error": null});
        if (200..300).contains(&status) {
            counts.completed += 1;
            output.push_str(&line.to_string());
            output.push('\n');
        } else {
            counts.failed += 1;
            errors.push_str(&line.to_string());
            errors.push('\n');
        }
        update_counts(store, &key, &id, counts, &mut cancelled);
    }
    if !cancelled {
        store.update_batch(&key, &id, |b| b.batch.status = "finalizing".to_owned());
        tokio::time::sleep(tenth).await;
    }
    let output_id = (!output.is_empty()).then(|| {
        store.put_file(
            &engine,
            &key,
            &format!("{id}_output.jsonl"),
            "batch_output",
            Bytes::from(output),
        )
    });
    let error_id = (!errors.is_empty()).then(|| {
        store.put_file(
            &engine,
            &key,
            &format!("{id}_error.jsonl"),
            "batch_output",
            Bytes::from(errors),
        )
    });
    let file_id = |v: Option<Value>| v.and_then(|v| v["id"].as_str().map(str::to_owned));
    let (output_id, error_id) = (file_id(output_id), file_id(error_id));
    store.update_batch(&key, &id, |b| {
        b.batch.status = if b.cancel { "cancelled" } else { "completed" }.to_owned();
        b.batch.output_file_id = output_id;
        b.batch.error_file_id = error_id;
        b.batch.request_counts = Some(counts);
    });
}

fn update_counts(store: &Store, key: &str, id: &str, counts: RequestCounts, cancelled: &mut bool) {
    if let Some(b) = store.update_batch(key, id, |b| b.batch.request_counts = Some(counts)) {
        *cancelled = b.cancel;
    }
}
