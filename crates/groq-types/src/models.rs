//! `GET /models` and `GET /models/{id}`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The reply of `GET /models`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModelList {
    /// Always `list`.
    #[serde(default = "list_object")]
    pub object: String,
    /// The models.
    #[serde(default)]
    pub data: Vec<Model>,
}

fn list_object() -> String {
    "list".to_owned()
}

impl ModelList {
    /// A list of `models`.
    pub fn new(models: Vec<Model>) -> Self {
        Self {
            object: list_object(),
            data: models,
        }
    }
}

/// One model, as `GET /models` and `GET /models/{id}` describe it. Every field but `id` is
/// optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Model {
    /// The model id.
    pub id: String,
    /// Always `model`.
    #[serde(default = "model_object")]
    pub object: String,
    /// Creation time, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<u64>,
    /// The model's owner, e.g. `Meta`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owned_by: Option<String>,
    /// Whether the model is served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Context window in tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u32>,
    /// Most completion tokens (from `GET /models/{id}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    /// Apps the model is public for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_apps: Option<Value>,
}

fn model_object() -> String {
    "model".to_owned()
}

impl Model {
    /// A model with only an id.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            object: model_object(),
            created: None,
            owned_by: None,
            active: None,
            context_window: None,
            max_completion_tokens: None,
            public_apps: None,
        }
    }
}
