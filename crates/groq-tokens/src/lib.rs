//! Token counting for groqchat: how many tokens a chat request will cost before it is sent.
//!
//! Groq's limits are counted in tokens per minute and per day, and a request is charged its
//! prompt plus its whole completion budget up front. To send requests as fast as the limits
//! allow without a 429, the client must know each request's cost before sending it. This
//! crate sits just above `groq-types` in the groqchat stack: `groq-client` asks it for an
//! [`Estimate`] of every request and hands the cost to the rate limiter, then reports the
//! reply's `usage.prompt_tokens` back so later estimates improve.
//!
//! - [`TokenCounter`] is the open, dyn-compatible trait: count a text, count a request
//!   (messages, content parts, tool calls and results, tool definitions, [`framing`]),
//!   estimate a request's cost, and optionally learn from observed usage.
//! - [`TiktokenCounter`] implements it with `tiktoken-rs`: `cl100k_base` for Llama and most
//!   models, `o200k_base` for `openai/gpt-oss-*` ([`encoding_for_model`]). Each encoder is
//!   built once per process and shared; counting never panics, whatever the input.
//! - [`Calibration`] learns per-model ratios of the server's prompt count to the estimate,
//!   starting from a conservative prior; [`CalibratedCounter`] applies them and is shared
//!   between tasks.
//!
//! # Example
//!
//! ```
//! use groq_tokens::{CalibratedCounter, TiktokenCounter, TokenCounter};
//! use groq_types::ChatRequest;
//! use std::sync::Arc;
//!
//! let counter: Arc<dyn TokenCounter> = Arc::new(CalibratedCounter::new(TiktokenCounter::new()));
//! let request = ChatRequest::new("llama-3.3-70b-versatile")
//!     .system("You are terse.")
//!     .user("Name three primes.")
//!     .max_completion_tokens(50);
//!
//! let estimate = counter.estimate(&request, 1_024);
//! assert_eq!(estimate.completion_allowance, 50);
//! assert_eq!(estimate.total, estimate.prompt + 50);
//!
//! // After the reply: feed the server's count back.
//! counter.observe(request.model(), estimate.raw_prompt, 27);
//! ```
//!
//! # Features
//!
//! None. The crate depends on `groq-types`, `tiktoken-rs` (whose encoding tables are compiled
//! in: counting needs no network or files), `serde`, `serde_json` and `thiserror`.

use std::fmt;
use std::sync::Arc;

use groq_types::{ChatRequest, Usage};

mod calibration;
mod counter;
mod encoding;
mod error;
pub mod framing;

pub use calibration::{CalibratedCounter, Calibration, CalibrationConfig};
pub use counter::TiktokenCounter;
pub use encoding::{Encoding, encoding_for_model};
pub use error::Error;

/// Counts the tokens of texts and chat requests for a model.
///
/// Implementations must be cheap to call from many tasks at once (`&self`, `Send + Sync`).
/// The trait is dyn-compatible: the client holds an `Arc<dyn TokenCounter>`. Methods added
/// later will have default bodies.
pub trait TokenCounter: Send + Sync + fmt::Debug {
    /// The tokens of `text` for `model`, as plain text (special-token spellings such as
    /// `<|endoftext|>` count as ordinary characters).
    fn count_text(&self, model: &str, text: &str) -> u64;

    /// The prompt tokens of `request`: every message's content, parts, tool calls and tool
    /// results, the tool definitions, and the chat framing around them (see [`framing`]).
    fn count_request(&self, request: &ChatRequest) -> u64;

    /// The cost of `request` to a token budget: its prompt ([`count_request`](Self::count_request))
    /// plus its completion allowance, which is `max_completion_tokens` (or the deprecated
    /// `max_tokens`) when set, else `default_completion`.
    fn estimate(&self, request: &ChatRequest, default_completion: u32) -> Estimate {
        let allowance = request.completion_budget().unwrap_or(default_completion);
        Estimate::new(self.count_request(request), u64::from(allowance))
    }

    /// Reports that a prompt this counter estimated at `raw_prompt` tokens (the estimate's
    /// [`Estimate::raw_prompt`]) was counted as `actual_prompt` tokens by the server
    /// (`usage.prompt_tokens`). Counters that learn, like [`CalibratedCounter`], use it to
    /// correct later counts; the default ignores it.
    fn observe(&self, model: &str, raw_prompt: u64, actual_prompt: u64) {
        let _ = (model, raw_prompt, actual_prompt);
    }

    /// [`observe`](Self::observe) with the estimate made for a request and the usage of its
    /// reply.
    fn observe_usage(&self, model: &str, estimate: &Estimate, usage: &Usage) {
        self.observe(model, estimate.raw_prompt, usage.prompt_tokens);
    }

    /// Whether estimates for `model` rest on the server's own count: `false` while a
    /// counter that learns from usage (like [`CalibratedCounter`]) has not observed a reply
    /// for the model yet, so its estimates are still a prior guess. The client then holds
    /// back a model's first burst until the first reply has calibrated the counter (see
    /// `groq-client`'s calibration warm-up). The default, for counters that do not learn,
    /// is `true`: their estimates will never get better.
    fn is_calibrated(&self, model: &str) -> bool {
        let _ = model;
        true
    }

    /// `estimate`, made earlier by this counter, brought up to date with what the counter
    /// has learned since: a request that waited in a queue while replies calibrated the
    /// counter is charged at the current ratio, not at the one of its submission. The
    /// default returns `estimate` unchanged.
    fn recalibrate(&self, model: &str, estimate: &Estimate) -> Estimate {
        let _ = model;
        *estimate
    }
}

/// The estimated token cost of one request.
///
/// `total` is what a token budget must hold for the request to be sent: Groq charges the
/// completion allowance against tokens per minute up front, with the prompt.
///
/// ```
/// use groq_tokens::Estimate;
///
/// let estimate = Estimate::new(120, 400);
/// assert_eq!(estimate.total, 520);
/// assert_eq!(estimate.raw_prompt, 120);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Estimate {
    /// Prompt tokens, framing included (and calibrated, when the counter calibrates).
    pub prompt: u64,
    /// Tokens reserved for the reply: the request's completion budget or the default.
    pub completion_allowance: u64,
    /// `prompt + completion_allowance` (saturating).
    pub total: u64,
    /// The prompt count before calibration; equal to `prompt` for counters that do not
    /// calibrate. This is the value to report back through [`TokenCounter::observe`].
    pub raw_prompt: u64,
}

impl Estimate {
    /// An estimate of `prompt` tokens plus a `completion_allowance`, uncalibrated.
    pub const fn new(prompt: u64, completion_allowance: u64) -> Self {
        Self {
            prompt,
            completion_allowance,
            total: prompt.saturating_add(completion_allowance),
            raw_prompt: prompt,
        }
    }

    /// The same estimate, recording that its prompt was `raw_prompt` tokens before calibration.
    #[must_use]
    pub const fn with_raw_prompt(mut self, raw_prompt: u64) -> Self {
        self.raw_prompt = raw_prompt;
        self
    }
}

macro_rules! forward_token_counter {
    ($($pointer:ty),+) => {$(
        impl<T: TokenCounter + ?Sized> TokenCounter for $pointer {
            fn count_text(&self, model: &str, text: &str) -> u64 {
                (**self).count_text(model, text)
            }

            fn count_request(&self, request: &ChatRequest) -> u64 {
                (**self).count_request(request)
            }

            fn estimate(&self, request: &ChatRequest, default_completion: u32) -> Estimate {
                (**self).estimate(request, default_completion)
            }

            fn observe(&self, model: &str, raw_prompt: u64, actual_prompt: u64) {
                (**self).observe(model, raw_prompt, actual_prompt);
            }

            fn observe_usage(&self, model: &str, estimate: &Estimate, usage: &Usage) {
                (**self).observe_usage(model, estimate, usage);
            }

            fn is_calibrated(&self, model: &str) -> bool {
                (**self).is_calibrated(model)
            }

            fn recalibrate(&self, model: &str, estimate: &Estimate) -> Estimate {
                (**self).recalibrate(model, estimate)
            }
        }
    )+};
}

forward_token_counter!(&T, Box<T>, Arc<T>);

/// `TokenCounter` must stay dyn-compatible: the client holds an `Arc<dyn TokenCounter>`.
const _: () = {
    fn assert_dyn_compatible(_: &dyn TokenCounter) {}
    fn assert_send_sync<T: Send + Sync>() {}
    let _ = assert_dyn_compatible;
    let _ = assert_send_sync::<Arc<dyn TokenCounter>>;
    let _ = assert_send_sync::<CalibratedCounter<TiktokenCounter>>;
};
