//! Files (`/files`) and batches (`/batches`): Groq's Batch API.
//!
//! Every object keeps the fields this crate does not name in `extra`, so writing one back
//! loses nothing the server sent.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::JsonObject;

/// An uploaded file (`GET /files/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FileObject {
    /// `file_...`.
    pub id: String,
    /// `file`.
    #[serde(default)]
    pub object: String,
    /// Size in bytes.
    #[serde(default)]
    pub bytes: u64,
    /// Unix seconds.
    #[serde(default)]
    pub created_at: u64,
    /// The name it was uploaded with.
    #[serde(default)]
    pub filename: String,
    /// `batch`, `batch_output`, ...
    #[serde(default)]
    pub purpose: String,
    /// Every other field, as sent.
    #[serde(flatten)]
    pub extra: JsonObject,
}

/// A list of files (`GET /files`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FileList {
    /// `list`.
    #[serde(default)]
    pub object: String,
    /// The files.
    #[serde(default)]
    pub data: Vec<FileObject>,
    /// Every other field, as sent.
    #[serde(flatten)]
    pub extra: JsonObject,
}

/// The answer to a delete (`DELETE /files/{id}`, `DELETE /models/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Deleted {
    /// What was deleted.
    pub id: String,
    /// Its kind.
    #[serde(default)]
    pub object: String,
    /// Whether it is gone.
    #[serde(default)]
    pub deleted: bool,
    /// Every other field, as sent.
    #[serde(flatten)]
    pub extra: JsonObject,
}

/// How many requests of a batch are done (`request_counts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RequestCounts {
    /// Requests in the batch.
    #[serde(default)]
    pub total: u64,
    /// Requests answered.
    #[serde(default)]
    pub completed: u64,
    /// Requests that failed.
    #[serde(default)]
    pub failed: u64,
}

/// A batch (`GET /batches/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Batch {
    /// `batch_...`.
    pub id: String,
    /// `batch`.
    #[serde(default)]
    pub object: String,
    /// The endpoint every request goes to, e.g. `/v1/chat/completions`.
    #[serde(default)]
    pub endpoint: String,
    /// The uploaded input.
    #[serde(default)]
    pub input_file_id: String,
    /// `24h` up to `7d`.
    #[serde(default)]
    pub completion_window: String,
    /// `validating`, `in_progress`, `finalizing`, `completed`, `failed`, `expired`,
    /// `cancelling` or `cancelled`.
    #[serde(default)]
    pub status: String,
    /// The results, once there are any.
    #[serde(default)]
    pub output_file_id: Option<String>,
    /// The failed requests, if any.
    #[serde(default)]
    pub error_file_id: Option<String>,
    /// Unix seconds.
    #[serde(default)]
    pub created_at: u64,
    /// Progress.
    #[serde(default)]
    pub request_counts: Option<RequestCounts>,
    /// The metadata given at creation.
    #[serde(default)]
    pub metadata: Option<Value>,
    /// Every other field, as sent.
    #[serde(flatten)]
    pub extra: JsonObject,
}

impl Batch {
    /// Whether the batch will not change any more: `completed`, `failed`, `expired` or
    /// `cancelled`.
    pub fn is_finished(&self) -> bool {
        matches!(
            self.status.as_str(),
            "completed" | "failed" | "expired" | "cancelled"
        )
    }
}

/// A list of batches (`GET /batches`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BatchList {
    /// `list`.
    #[serde(default)]
    pub object: String,
    /// The batches.
    #[serde(default)]
    pub data: Vec<Batch>,
    /// Every other field, as sent.
    #[serde(flatten)]
    pub extra: JsonObject,
}

/// What `POST /batches` takes.
///
/// ```
/// use groq_types::CreateBatch;
///
/// let create = CreateBatch::new("file_01", "/v1/chat/completions").completion_window("48h");
/// let json = serde_json::to_value(&create).unwrap();
/// assert_eq!(json["completion_window"], "48h");
/// assert!(json.get("metadata").is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CreateBatch {
    /// The uploaded input (purpose `batch`).
    pub input_file_id: String,
    /// The endpoint of every request.
    pub endpoint: String,
    /// How long Groq may take: `24h` up to `7d`.
    pub completion_window: String,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

impl CreateBatch {
    /// A batch of `input_file_id` for `endpoint`, within 24 hours.
    pub fn new(input_file_id: impl Into<String>, endpoint: impl Into<String>) -> Self {
        Self {
            input_file_id: input_file_id.into(),
            endpoint: endpoint.into(),
            completion_window: "24h".to_owned(),
            metadata: None,
        }
    }

    /// Sets the completion window.
    #[must_use]
    pub fn completion_window(mut self, window: impl Into<String>) -> Self {
        self.completion_window = window.into();
        self
    }

    /// Sets the metadata.
    #[must_use]
    pub fn metadata(mut self, metadata: Value) -> Self {
        self.metadata = Some(metadata);
        self
    }
}

/// An embeddings request (`POST /embeddings`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EmbeddingRequest {
    /// The embedding model.
    pub model: String,
    /// A string or an array of strings.
    pub input: Value,
    /// `float` or `base64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<String>,
    /// Other fields, sent as they are.
    #[serde(flatten)]
    pub extra: JsonObject,
}

impl EmbeddingRequest {
    /// Embeddings of `inputs` by `model`.
    pub fn new<I, S>(model: impl Into<String>, inputs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            model: model.into(),
            input: Value::Array(
                inputs
                    .into_iter()
                    .map(|s| Value::String(s.into()))
                    .collect(),
            ),
            encoding_format: None,
            extra: JsonObject::new(),
        }
    }

    /// The texts of the input.
    pub fn texts(&self) -> Vec<&str> {
        match &self.input {
            Value::String(s) => vec![s.as_str()],
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }
}

/// One embedding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Embedding {
    /// Its position in the input.
    #[serde(default)]
    pub index: u32,
    /// The vector.
    #[serde(default)]
    pub embedding: Vec<f32>,
    /// Every other field, as sent.
    #[serde(flatten)]
    pub extra: JsonObject,
}

/// The answer of `POST /embeddings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EmbeddingList {
    /// The embeddings, in input order.
    #[serde(default)]
    pub data: Vec<Embedding>,
    /// The model.
    #[serde(default)]
    pub model: String,
    /// Token usage.
    #[serde(default)]
    pub usage: Option<Value>,
    /// Every other field, as sent.
    #[serde(flatten)]
    pub extra: JsonObject,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let text = r#"{"id":"batch_1","object":"batch","endpoint":"/v1/chat/completions","input_file_id":"file_1","completion_window":"24h","status":"in_progress","output_file_id":null,"error_file_id":null,"created_at":5,"request_counts":{"total":3,"completed":1,"failed":0},"metadata":null,"in_progress_at":6,"errors":null}"#;
        let batch: Batch = serde_json::from_str(text).unwrap();
        assert_eq!(batch.request_counts.unwrap().completed, 1);
        assert!(!batch.is_finished());
        assert_eq!(batch.extra["in_progress_at"], 6);
        let back: Value = serde_json::to_value(&batch).unwrap();
        let original: Value = serde_json::from_str(text).unwrap();
        assert_eq!(back, original);
        let request = EmbeddingRequest::new("m", ["a", "b"]);
        assert_eq!(request.texts(), ["a", "b"]);
    }
}
