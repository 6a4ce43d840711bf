//! Configuration for groqchat: models, their per-model rate limits, API keys, and loading
//! from files and the environment.
//!
//! This crate sits at the bottom of the groqchat stack, beside `groq-types`. The rate limiter
//! (`groq-ratelimit`) turns each model's [`Limits`] into GCRA buckets, the queue takes its
//! [`PriorityAging`] delays, and the client (`groq-client`) reads the base URL, the
//! [`ApiKey`], the context windows and the completion allowance, and applies the
//! [`UnknownModelPolicy`] through [`Config::resolve_model`]. It depends on nothing but serde.
//!
//! # Example
//!
//! ```
//! use groq_config::{Config, LimitKind};
//! use std::time::Duration;
//!
//! // As `Config::from_env()` would with only GROQ_API_KEY set: the built-in catalog applies.
//! let config = Config::from_env_with(|name| {
//!     (name == "GROQ_API_KEY").then(|| "gsk_0123456789abcdefghijWXYZ".to_owned())
//! })?;
//! assert_eq!(config.base_url, "https://api.groq.com/openai/v1");
//! assert_eq!(config.api_key.as_ref().map(|k| k.to_string()).as_deref(), Some("gsk_…WXYZ"));
//!
//! let llama = config.resolve_model("llama-3.1-8b-instant")?;
//! let rates: Vec<String> = llama.limits.rates().map(|(kind, rate)| format!("{} {rate}", kind.label())).collect();
//! assert_eq!(rates, ["RPM 30/min", "RPD 14400/day", "TPM 6000/min", "TPD 500000/day"]);
//! assert_eq!(config.completion_allowance(&llama), 1024);
//!
//! // Compressed time for tests against the emulator: 30 requests per 6 seconds.
//! let fast = Config::from_json_str(
//!     r#"{ "models": { "m": { "req_per_minute": { "limit": 30, "per": "6s" }, "max_in_flight": 4 } } }"#,
//!     "inline",
//! )?;
//! let rpm = fast.model("m").and_then(|m| m.limits.get(LimitKind::RequestsPerMinute));
//! assert_eq!(rpm.map(|r| r.period()), Some(Duration::from_secs(6)));
//! # Ok::<(), groq_config::ConfigError>(())
//! ```
//!
//! # Where settings come from
//!
//! [`Config::from_env`] and [`Config::load`] layer three sources; a later one wins for every
//! setting it states:
//!
//! 1. **Defaults**: [`Config::default`]: the built-in [`catalog`] (Groq's chat models with their
//!    free-plan limits and context windows), base URL `https://api.groq.com/openai/v1`, no API
//!    key, 1,024 tokens of default completion allowance, priority aging 5 s / 30 s, unknown
//!    models allowed under [`Limits::conservative`], a 60 s request timeout and 2 retries.
//! 2. **Environment**: `GROQ_API_KEY` sets the API key and `GROQ_BASE_URL` the base URL. A
//!    blank variable counts as unset.
//! 3. **File**: the path given to [`Config::load`], otherwise the file named by `GROQ_CONFIG`.
//!    Every setting the file states replaces the value from the environment or the defaults
//!    (so a file's `api_key` beats `GROQ_API_KEY`). A model entry replaces the catalog entry
//!    of the same id as a whole (a limit it leaves out is unlimited); the other catalog
//!    models stay unless the file says `"builtin_catalog": false`.
//!
//! So: **explicit file > environment > defaults**. A model's own `base_url` and `api_key`
//! (as CustomGroqChat's format writes them) take precedence over the top-level ones for that model:
//! see [`Config::base_url_for`] and [`Config::api_key_for`]. [`Config::from_file`] and
//! [`Config::from_json_str`] read the file over the defaults without the environment; and
//! [`Config::from_env_with`] / [`Config::load_with`] take a variable-lookup closure instead of
//! the process environment, for tests.
//!
//! # File formats
//!
//! Both are JSON and detected automatically: a file whose top level has any native key
//! (`base_url`, `api_key`, `default_completion_tokens`, `priority_aging`, `unknown_models`,
//! `request_timeout`, `stream_timeout`, `stream_idle_timeout`, `max_retries`, `builtin_catalog`,
//! `models`, `redis_*`) is native, anything else is CustomGroqChat's format.
//!
//! **CustomGroqChat's format** (CustomGroqChat is the Python package groqchat succeeds), loaded
//! unchanged: every top-level key is a model.
//!
//! ```json
//! {
//!   "llama-3.1-8b-instant": {
//!     "base_url": "https://api.groq.com/openai/v1", "api_key": "gsk_...",
//!     "req_per_minute": 30, "req_per_day": 14400,
//!     "token_per_minute": 6000, "token_per_day": 500000, "context_window": 131072
//!   }
//! }
//! ```
//!
//! The **native format** has the global settings at the top level and the models under
//! `models`, with the same per-model keys plus `max_in_flight`, `max_completion_tokens` and
//! `default_completion_tokens`. Every key is optional.
//!
//! ```json
//! {
//!   "base_url": "https://api.groq.com/openai/v1",
//!   "api_key": "gsk_...",
//!   "default_completion_tokens": 1024,
//!   "priority_aging": { "normal": "5s", "low": "30s" },
//!   "unknown_models": "reject",
//!   "request_timeout": "60s",
//!   "stream_timeout": "10m",
//!   "stream_idle_timeout": "60s",
//!   "max_retries": 2,
//!   "builtin_catalog": true,
//!   "models": {
//!     "llama-3.3-70b-versatile": {
//!       "req_per_minute": { "limit": 30, "per": "6s" }, "req_per_day": 1000,
//!       "token_per_minute": 12000, "token_per_day": -1,
//!       "context_window": 131072, "max_in_flight": 8, "default_completion_tokens": 512
//!     }
//!   }
//! }
//! ```
//!
//! Values, in both formats:
//!
//! - A limit (`req_per_minute`, `req_per_day`, `token_per_minute`, `token_per_day`) is a
//!   positive integer per the period its name says, or `{ "limit": N, "per": "duration" }` for
//!   any period, or `-1` / `null` / absent for unlimited. `0` and other negative numbers are
//!   errors.
//! - Durations are strings of `<number><unit>` terms: `"6s"`, `"500ms"`, `"1m"`, `"2h"`,
//!   `"1d"`, `"1m30s"`, `"1.5s"` (units `ns`, `us`, `ms`, `s`, `m`, `h`, `d`).
//! - `context_window`, `max_completion_tokens`, `default_completion_tokens` and
//!   `max_in_flight` are positive integers, or `-1` / `null` / absent when not set.
//! - `unknown_models` is `"reject"`, `"unlimited"`, or an object of limits (the four limit
//!   keys and `max_in_flight`) for models the configuration does not list.
//! - Unknown keys are errors in both formats, naming the key and listing the valid ones: a
//!   misspelt limit must not silently mean "unlimited".
//!
//! [`Config::to_json_pretty`] writes the native format, and reading it back gives an equal
//! [`Config`]. Every error ([`ConfigError`]) names the file or variable, the model, the key,
//! the bad value and what would be valid; API keys only ever appear redacted.
//!
//! # Features
//!
//! None: the crate has no optional parts.

mod api_key;
pub mod catalog;
mod config;
mod duration;
mod error;
mod format;
mod limits;
mod model;
mod rate;
mod redis;

pub use api_key::ApiKey;
pub use config::{Config, ConfigBuilder, PriorityAging, UnknownModelPolicy};
pub use duration::{parse_decimal_duration, parse_go_duration};
pub use error::ConfigError;
pub use limits::{LimitKind, LimitUnit, Limits};
pub use model::ModelConfig;
pub use rate::{Rate, RateError};
pub use redis::{RedisSettings, RedisUnreachable};
