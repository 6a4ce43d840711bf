//! [`ModelConfig`]: what groqchat knows about one model.

use crate::{ApiKey, Limits};

/// The configuration of one model: its quota, its context window and output cap, the
/// completion allowance used when a request sets no maximum, and optional per-model
/// connection overrides.
///
/// ```
/// use groq_config::{Limits, ModelConfig, Rate};
///
/// let model = ModelConfig::new("llama-3.1-8b-instant")
///     .with_limits(Limits::default().with_requests_per_minute(Rate::per_minute(30)))
///     .with_context_window(131_072)
///     .with_default_completion_tokens(512);
/// assert_eq!(model.id, "llama-3.1-8b-instant");
/// assert_eq!(model.context_window, Some(131_072));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ModelConfig {
    /// The model id sent to Groq (`"llama-3.3-70b-versatile"`, `"openai/gpt-oss-20b"`).
    pub id: String,
    /// The model's quota.
    pub limits: Limits,
    /// The context window in tokens (prompt plus completion), if known.
    pub context_window: Option<u32>,
    /// The most tokens the model can produce in one completion, if known.
    pub max_completion_tokens: Option<u32>,
    /// Base URL for this model only, overriding [`Config::base_url`](crate::Config::base_url).
    pub base_url: Option<String>,
    /// API key for this model only, overriding [`Config::api_key`](crate::Config::api_key).
    pub api_key: Option<ApiKey>,
    /// The completion allowance charged for a request that sets no `max_completion_tokens`,
    /// overriding [`Config::default_completion_tokens`](crate::Config::default_completion_tokens).
    pub default_completion_tokens: Option<u32>,
}

impl ModelConfig {
    /// A model with no limits and nothing else known.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            limits: Limits::default(),
            context_window: None,
            max_completion_tokens: None,
            base_url: None,
            api_key: None,
            default_completion_tokens: None,
        }
    }

    /// Sets the quota.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets or clears the context window.
    #[must_use]
    pub fn with_context_window(mut self, tokens: impl Into<Option<u32>>) -> Self {
        self.context_window = tokens.into();
        self
    }

    /// Sets or clears the model's maximum completion length.
    #[must_use]
    pub fn with_max_completion_tokens(mut self, tokens: impl Into<Option<u32>>) -> Self {
        self.max_completion_tokens = tokens.into();
        self
    }

    /// Sets or clears the per-model base URL.
    #[must_use]
    pub fn with_base_url(mut self, base_url: impl Into<Option<String>>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// Sets or clears the per-model API key.
    #[must_use]
    pub fn with_api_key(mut self, api_key: impl Into<Option<ApiKey>>) -> Self {
        self.api_key = api_key.into();
        self
    }

    /// Sets or clears the per-model default completion allowance.
    #[must_use]
    pub fn with_default_completion_tokens(mut self, tokens: impl Into<Option<u32>>) -> Self {
        self.default_completion_tokens = tokens.into();
        self
    }
}
