//! The Responses API (`POST /responses`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::JsonObject;

/// A Responses API request. Fields this type does not name go in `extra` and are sent as
/// they are.
///
/// ```
/// use groq_types::ResponseRequest;
///
/// let request = ResponseRequest::new("openai/gpt-oss-20b", "Say hello").max_output_tokens(50);
/// let json = serde_json::to_value(&request).unwrap();
/// assert_eq!(json["input"], "Say hello");
/// assert_eq!(json["max_output_tokens"], 50);
/// assert_eq!(request.input_texts(), ["Say hello"]);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ResponseRequest {
    /// The model.
    pub model: String,
    /// A string, or an array of input items (messages).
    pub input: Value,
    /// System instructions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// The most tokens the reply may have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// Stream the reply as events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Every other field, sent as it is.
    #[serde(flatten)]
    pub extra: JsonObject,
}

impl ResponseRequest {
    /// A request of `input` text to `model`.
    pub fn new(model: impl Into<String>, input: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            input: Value::String(input.into()),
            instructions: None,
            max_output_tokens: None,
            stream: None,
            extra: JsonObject::new(),
        }
    }

    /// Sets the instructions.
    #[must_use]
    pub fn instructions(mut self, instructions: impl Into<String>) -> Self {
        self.instructions = Some(instructions.into());
        self
    }

    /// Sets the output budget.
    #[must_use]
    pub fn max_output_tokens(mut self, tokens: u32) -> Self {
        self.max_output_tokens = Some(tokens);
        self
    }

    /// Every text of the input and the instructions: what the prompt is made of.
    pub fn input_texts(&self) -> Vec<&str> {
        let mut texts = Vec::new();
        if let Some(instructions) = &self.instructions {
            texts.push(instructions.as_str());
        }
        collect_texts(&self.input, &mut texts);
        texts
    }
}

fn collect_texts<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(text) => out.push(text),
        Value::Array(items) => items.iter().for_each(|item| collect_texts(item, out)),
        Value::Object(map) => {
            for key in ["content", "text"] {
                if let Some(inner) = map.get(key) {
                    collect_texts(inner, out);
                }
            }
        }
        _ => {}
    }
}

/// A model response (`object: "response"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ResponseObject {
    /// `resp_...`.
    pub id: String,
    /// `response`.
    #[serde(default)]
    pub object: String,
    /// `completed`, `in_progress`, `failed`, `incomplete`.
    #[serde(default)]
    pub status: String,
    /// The model.
    #[serde(default)]
    pub model: String,
    /// The output items.
    #[serde(default)]
    pub output: Vec<Value>,
    /// Token usage.
    #[serde(default)]
    pub usage: Option<ResponseUsage>,
    /// Every other field, as sent.
    #[serde(flatten)]
    pub extra: JsonObject,
}

impl ResponseObject {
    /// The text of every `output_text` part of the output, joined.
    pub fn output_text(&self) -> String {
        let mut text = String::new();
        for item in &self.output {
            for part in item["content"].as_array().into_iter().flatten() {
                if part["type"] == "output_text"
                    && let Some(t) = part["text"].as_str()
                {
                    text.push_str(t);
                }
            }
        }
        text
    }
}

/// Token usage of a response.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ResponseUsage {
    /// Prompt tokens.
    #[serde(default)]
    pub input_tokens: u64,
    /// Reply tokens.
    #[serde(default)]
    pub output_tokens: u64,
    /// Both.
    #[serde(default)]
    pub total_tokens: u64,
    /// Details of the prompt tokens (`cached_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens_details: Option<Value>,
}

impl ResponseUsage {
    /// Prompt tokens served from the cache.
    pub fn cached_tokens(&self) -> u64 {
        self.input_tokens_details
            .as_ref()
            .and_then(|d| d["cached_tokens"].as_u64())
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_and_output_and_unknown_fields() {
        let request: ResponseRequest = serde_json::from_str(
            r#"{"model":"m","instructions":"Be brief.","input":[{"role":"user","content":"Hi"},{"role":"user","content":[{"type":"input_text","text":"there"}]}],"top_p":0.5}"#,
        )
        .unwrap();
        assert_eq!(request.input_texts(), ["Be brief.", "Hi", "there"]);
        assert_eq!(request.extra["top_p"], 0.5);
        let response: ResponseObject = serde_json::from_str(
            r#"{"id":"resp_1","object":"response","status":"completed","model":"m","output":[{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Hello"},{"type":"output_text","text":"!"}]}],"usage":{"input_tokens":10,"output_tokens":2,"total_tokens":12,"input_tokens_details":{"cached_tokens":4}},"created_at":1}"#,
        )
        .unwrap();
        assert_eq!(response.output_text(), "Hello!");
        assert_eq!(response.usage.as_ref().unwrap().cached_tokens(), 4);
        assert_eq!(response.extra["created_at"], 1);
    }
}
