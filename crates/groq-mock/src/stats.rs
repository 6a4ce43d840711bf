//! Counters and the audit of accepted requests.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What the emulator has served so far; `GET /_mock/stats` returns it as JSON.
///
/// ```json
/// {"responses": 3, "by_status": {"200": 2, "429": 1}, "rate_limited": 1, "dropped": 0,
///  "audit": [{"at": {"secs": 0, "nanos": 1200000}, "model": "m", "prompt_tokens": 12,
///             "completion_tokens": 16, "stream": false, "marker": "job-1"}]}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MockStats {
    /// Responses sent under `/openai/v1` (dropped connections excluded).
    pub responses: u64,
    /// Responses by HTTP status code.
    pub by_status: BTreeMap<u16, u64>,
    /// Responses with status 429.
    pub rate_limited: u64,
    /// Connections closed before a response (fault injection).
    pub dropped: u64,
    /// Every chat request accepted and charged, in order of admission.
    pub audit: Vec<AuditEntry>,
    /// The exact body of every chat request received, in order of arrival, when the server
    /// was built with [`capture_bodies`](crate::MockServerBuilder::capture_bodies).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bodies: Vec<String>,
}

impl MockStats {
    /// The number of responses with `status`.
    pub fn count(&self, status: u16) -> u64 {
        self.by_status.get(&status).copied().unwrap_or(0)
    }

    /// The audit entries whose marker is `marker`.
    pub fn with_marker<'a>(&'a self, marker: &'a str) -> impl Iterator<Item = &'a AuditEntry> {
        self.audit
            .iter()
            .filter(move |entry| entry.marker.as_deref() == Some(marker))
    }

    pub(crate) fn record_status(&mut self, status: u16) {
        self.responses += 1;
        *self.by_status.entry(status).or_default() += 1;
        if status == 429 {
            self.rate_limited += 1;
        }
    }
}

/// One accepted chat request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditEntry {
    /// When it was admitted, since the server started.
    pub at: Duration,
    /// The model.
    pub model: String,
    /// Prompt tokens by the emulator's rule.
    pub prompt_tokens: u64,
    /// Completion tokens of the reply.
    pub completion_tokens: u64,
    /// Whether the reply was streamed.
    pub stream: bool,
    /// `<id>` from a `[req:<id>]` marker in the last user message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}
