//! The one place where the examples choose their backend: Groq when `GROQ_API_KEY` is set,
//! otherwise an embedded groq-mock on 127.0.0.1 with the same limits (in compressed time where
//! an example asks for it). Each example includes this file with
//! `#[path = "common/mod.rs"] mod common;`.

#![allow(
    dead_code,
    reason = "every example includes this module and uses a different part of it"
)]

use std::error::Error as StdError;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use groq_mock::{MockLimits, MockServer, MockStats};
use groqchat::{
    Config, Dimension, Event, GroqClient, GroqClientBuilder, Limits, ModelConfig, ShutdownMode,
    UnknownModelPolicy,
};
use tokio::sync::broadcast::error::RecvError;

/// What the examples return from `main`.
pub(crate) type BoxResult<T> = Result<T, Box<dyn StdError + Send + Sync>>;

/// The API key the embedded emulator accepts.
const MOCK_KEY: &str = "gsk_groqchat_example_mock";

/// How an example wants its backend: which models, which limits, how fast the emulator's
/// clock runs, and any client option.
#[must_use]
pub(crate) struct Setup {
    models: Vec<String>,
    limits: Vec<(String, Limits)>,
    server_limits: Vec<(String, MockLimits)>,
    minute: Duration,
    stream_interval: Duration,
    reply_tokens: Option<u64>,
    customize: Option<Box<dyn FnOnce(GroqClientBuilder) -> GroqClientBuilder>>,
}

impl Setup {
    /// Every configured model, their configured limits, real time.
    pub(crate) fn new() -> Self {
        Self {
            models: Vec::new(),
            limits: Vec::new(),
            server_limits: Vec::new(),
            minute: Duration::from_secs(60),
            stream_interval: Duration::ZERO,
            reply_tokens: None,
            customize: None,
        }
    }

    /// The models the example works with (default: every model of the configuration).
    pub(crate) fn models(mut self, models: &[&str]) -> Self {
        self.models = models.iter().map(|m| (*m).to_owned()).collect();
        self
    }

    /// Replaces the limits the client is configured with for `model`, on both backends.
    pub(crate) fn limits(mut self, model: &str, limits: Limits) -> Self {
        self.limits.push((model.to_owned(), limits));
        self
    }

    /// Offline only: the limits the emulator enforces for `model`, when they should differ
    /// from what the client is told (default: the same as the client's).
    pub(crate) fn server_limits(mut self, model: &str, limits: MockLimits) -> Self {
        self.server_limits.push((model.to_owned(), limits));
        self
    }

    /// Offline only: how long a rate-limit "minute" lasts in the emulator (a day lasts 1,440
    /// of them); the client's limits are compressed to match.
    pub(crate) fn minute(mut self, minute: Duration) -> Self {
        self.minute = minute;
        self
    }

    /// Offline only: the pause between streamed events, so that streams take time as Groq's do.
    pub(crate) fn stream_interval(mut self, interval: Duration) -> Self {
        self.stream_interval = interval;
        self
    }

    /// Offline only: how many tokens the emulator's replies have (default 16), so that replies
    /// use their budget as real answers do.
    pub(crate) fn reply_tokens(mut self, tokens: u64) -> Self {
        self.reply_tokens = Some(tokens);
        self
    }

    /// Further client options (retries, margins, ...), applied on both backends.
    pub(crate) fn client(
        mut self,
        customize: impl FnOnce(GroqClientBuilder) -> GroqClientBuilder + 'static,
    ) -> Self {
        self.customize = Some(Box::new(customize));
        self
    }

    /// Builds the client: against Groq when `GROQ_API_KEY` is set, else against a freshly
    /// started emulator. Says which on stderr.
    pub(crate) async fn connect(self) -> BoxResult<Backend> {
        // GROQ_CONFIG (if set) and GROQ_BASE_URL apply on both backends; GROQ_API_KEY decides.
        let mut config = Config::load(None)?;
        for (model, limits) in &self.limits {
            match config.models.get_mut(model) {
                Some(entry) => entry.limits = limits.clone(),
                None => {
                    config.models.insert(
                        model.clone(),
                        ModelConfig::new(model.as_str()).with_limits(limits.clone()),
                    );
                }
            }
        }
        let models = if self.models.is_empty() {
            config.models.keys().cloned().collect()
        } else {
            self.models.clone()
        };
        let online = std::env::var("GROQ_API_KEY").is_ok_and(|key| !key.trim().is_empty());

        if online {
            eprintln!(
                "GROQ_API_KEY is set: talking to the Groq API at {}",
                config.base_url
            );
            let mut builder = GroqClient::builder().config(config);
            if let Some(customize) = self.customize {
                builder = customize(builder);
            }
            return Ok(Backend {
                client: builder.build()?,
                models,
                mock: None,
            });
        }

        // The emulator serves the example's models with the configured limits (per real
        // minute and day), over its own compressed clock.
        let mut served: Vec<(String, MockLimits)> = models
            .iter()
            .map(|id| {
                let limits = config
                    .resolve_model(id)
                    .map(|model| MockLimits::from_model_config(&model))
                    .unwrap_or_else(|_| MockLimits::unlimited());
                (id.clone(), limits)
            })
            .collect();
        for (model, limits) in self.server_limits {
            match served.iter_mut().find(|(id, _)| *id == model) {
                Some(entry) => entry.1 = limits,
                None => served.push((model, limits)),
            }
        }
        let mut server = MockServer::builder()
            .api_key(MOCK_KEY)
            .models(served)
            .minute_length(self.minute)
            .stream_interval(self.stream_interval);
        if let Some(tokens) = self.reply_tokens {
            server = server.completion_tokens(tokens);
        }
        let mock = server.start().await?;
        let config = compress_time(config, 60.0 / self.minute.as_secs_f64().max(f64::EPSILON));
        eprintln!(
            "GROQ_API_KEY is not set: running against an embedded groq-mock at {} \
             (a rate-limit minute lasts {:?}; replies are the emulator's placeholder text)",
            mock.base_url(),
            self.minute
        );
        let mut builder = GroqClient::builder()
            .config(config)
            .api_key(MOCK_KEY)
            .base_url(mock.base_url());
        if let Some(customize) = self.customize {
            builder = customize(builder);
        }
        Ok(Backend {
            client: builder.build()?,
            models,
            mock: Some(mock),
        })
    }
}

/// `config` with every limit's period divided by `factor`: the same quota in the emulator's
/// compressed time.
fn compress_time(mut config: Config, factor: f64) -> Config {
    for model in config.models.values_mut() {
        model.limits = model.limits.time_scaled(factor);
    }
    if let UnknownModelPolicy::AllowWithLimits(limits) = &config.unknown_models {
        config.unknown_models = UnknownModelPolicy::AllowWithLimits(limits.time_scaled(factor));
    }
    config
}

/// A connected client, with the emulator it talks to when running offline.
pub(crate) struct Backend {
    /// The client.
    pub(crate) client: GroqClient,
    /// The models the example works with.
    pub(crate) models: Vec<String>,
    mock: Option<MockServer>,
}

impl Backend {
    /// Whether the example runs against the embedded emulator.
    pub(crate) fn is_mock(&self) -> bool {
        self.mock.is_some()
    }

    /// The emulator's counters (responses by status, 429s, audit), when running offline.
    pub(crate) fn mock_stats(&self) -> Option<MockStats> {
        self.mock.as_ref().map(MockServer::stats)
    }

    /// The first of the example's models, or `fallback` when there are none.
    pub(crate) fn model_or(&self, fallback: &str) -> String {
        self.models
            .first()
            .cloned()
            .unwrap_or_else(|| fallback.to_owned())
    }

    /// Lets queued requests finish, then stops the client and the emulator.
    pub(crate) async fn close(self) {
        self.client.shutdown(ShutdownMode::Drain).await;
        if let Some(mock) = self.mock {
            mock.shutdown().await;
        }
    }
}

/// One line with the use of each of `model`'s limits, such as
/// `RPM 3/30, RPD 3/14400, TPM 410/6000, TPD 410/500000`.
pub(crate) fn describe_limits(client: &GroqClient, model: &str) -> String {
    match client.limits(model) {
        Ok(limits) if limits.dimensions.is_empty() => "unlimited".to_owned(),
        Ok(limits) => {
            let mut line = String::new();
            for (i, usage) in limits.dimensions.iter().enumerate() {
                let separator = if i == 0 { "" } else { ", " };
                let _ = write!(
                    line,
                    "{separator}{} {}/{}",
                    usage.dimension.label(),
                    usage.used,
                    usage.limit
                );
            }
            line
        }
        Err(error) => format!("unknown ({error})"),
    }
}

/// The first `max` characters of `text`, on one line.
pub(crate) fn clip(text: &str, max: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

/// The least time `n` requests sent at once can take under `model`'s requests-per-minute
/// limit as the client is configured: what fits the full bucket goes at once, the rest at the
/// refill rate. `None` when the model has no such limit.
pub(crate) fn rpm_floor(client: &GroqClient, model: &str, n: u64) -> Option<Duration> {
    let limits = client.limits(model).ok()?;
    let rpm = limits.get(Dimension::RequestsPerMinute)?;
    let extra = n.saturating_sub(rpm.limit);
    let nanos = rpm.period.as_nanos() * u128::from(extra) / u128::from(rpm.limit.max(1));
    Some(Duration::from_nanos(
        u64::try_from(nanos).unwrap_or(u64::MAX),
    ))
}

/// Counts the 429s the client meets from now on (each one paused the model and requeued the
/// request).
pub(crate) fn count_429s(client: &GroqClient) -> Arc<AtomicU64> {
    let count = Arc::new(AtomicU64::new(0));
    let mut events = client.events();
    let counter = Arc::clone(&count);
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(Event::RateLimited { .. }) => {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => break,
            }
        }
    });
    count
}
