//! `GET /models` and `GET /models/{id}`.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The reply of `GET /models`: a typed view next to the exact bytes it was read from
/// ([`raw`](Self::raw), kept by [`from_bytes`](Self::from_bytes)).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModelList {
    /// Always `list`.
    #[serde(default = "list_object")]
    pub object: String,
    /// The models.
    #[serde(default, deserialize_with = "crate::raw::null_default")]
    pub data: Vec<Model>,
    /// The bytes the list was read from.
    #[serde(skip)]
    raw: Bytes,
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
            raw: Bytes::new(),
        }
    }

    /// Reads the list and keeps its bytes. Each model also keeps its own object's bytes
    /// ([`Model::raw`]).
    pub fn from_bytes(raw: Bytes) -> Result<Self, serde_json::Error> {
        #[derive(Deserialize)]
        struct Shape<'a> {
            #[serde(default = "list_object")]
            object: String,
            #[serde(default, borrow)]
            data: Vec<&'a serde_json::value::RawValue>,
        }
        let shape: Shape<'_> = serde_json::from_slice(&raw)?;
        let data = shape
            .data
            .into_iter()
            .map(|model| Model::from_bytes(raw.slice_ref(model.get().as_bytes())))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            object: shape.object,
            data,
            raw,
        })
    }

    /// The exact bytes the list was read from; empty when it was built in code.
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// The list as JSON bytes: [`raw`](Self::raw) when there are any, else the typed view
    /// serialized.
    pub fn to_bytes(&self) -> Bytes {
        if self.raw.is_empty() {
            // Strings, numbers and JSON values always serialize.
            Bytes::from(serde_json::to_vec(self).unwrap_or_default())
        } else {
            self.raw.clone()
        }
    }
}

/// One model, as `GET /models` and `GET /models/{id}` describe it, next to the exact bytes
/// of its JSON object ([`raw`](Self::raw)). Every field but `id` is optional.
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
    /// The bytes of the model's JSON object.
    #[serde(skip)]
    raw: Bytes,
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
            raw: Bytes::new(),
        }
    }

    /// Reads a model object and keeps its bytes.
    pub fn from_bytes(raw: Bytes) -> Result<Self, serde_json::Error> {
        let mut model: Self = serde_json::from_slice(&raw)?;
        model.raw = raw;
        Ok(model)
    }

    /// The exact bytes of the model's JSON object; empty when it was built in code.
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// The model as JSON bytes: [`raw`](Self::raw) when there are any, else the typed view
    /// serialized.
    pub fn to_bytes(&self) -> Bytes {
        if self.raw.is_empty() {
            // Strings, numbers and JSON values always serialize.
            Bytes::from(serde_json::to_vec(self).unwrap_or_default())
        } else {
            self.raw.clone()
        }
    }
}
