//! The error envelope of failed requests.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The body of a failed request: `{"error": {...}}`.
///
/// ```
/// use groq_types::ErrorEnvelope;
///
/// let body = r#"{"error":{"message":"Invalid API Key","type":"invalid_request_error","code":"invalid_api_key"}}"#;
/// let envelope: ErrorEnvelope = serde_json::from_str(body).unwrap();
/// assert_eq!(envelope.error.code.as_deref(), Some("invalid_api_key"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ErrorEnvelope {
    /// The error.
    pub error: ApiError,
}

impl ErrorEnvelope {
    /// An envelope around `error`.
    pub fn new(error: ApiError) -> Self {
        Self { error }
    }
}

/// An error reported by the API, in an envelope or inside a stream.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ApiError {
    /// A human-readable message, e.g. the rate-limit text with its wait.
    #[serde(default)]
    pub message: String,
    /// The error type: `invalid_request_error`, or `tokens`/`requests` on rate limits.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// A machine-readable code, e.g. `rate_limit_exceeded`, `model_not_found`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The request parameter at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    /// The model's output that failed validation (`json_validate_failed`, `tool_use_failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_generation: Option<String>,
}

impl ApiError {
    /// An error with a message, a type and a code.
    pub fn new(message: impl Into<String>, kind: impl Into<String>, code: Option<&str>) -> Self {
        Self {
            message: message.into(),
            kind: Some(kind.into()),
            code: code.map(str::to_owned),
            param: None,
            failed_generation: None,
        }
    }
}

impl fmt::Display for ApiError {
    /// The message, followed by the code in brackets when there is one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(code) = &self.code {
            write!(f, " [{code}]")?;
        }
        Ok(())
    }
}
