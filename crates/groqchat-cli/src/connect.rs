//! Loading the configuration and building the client, against Groq or the embedded emulator.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use groq_client::{GroqClient, GroqClientBuilder};
use groq_config::{Config, UnknownModelPolicy};
use groq_mock::{MockLimits, MockServer};

use crate::error::CliError;

/// The API key the embedded emulator accepts.
const MOCK_KEY: &str = "gsk_groqchat_embedded_mock";

/// How a command connects: configuration file, emulator.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ConnectArgs {
    /// Configuration file (either groq-config format) for models and limits, layered over
    /// GROQ_API_KEY / GROQ_BASE_URL. Default: the file named by GROQ_CONFIG, else the
    /// built-in catalog of Groq's free-plan limits.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Run against an embedded Groq emulator on 127.0.0.1 instead of Groq (no key needed),
    /// with the configured models' limits.
    #[arg(long)]
    pub(crate) mock: bool,
    /// With --mock: how many seconds a rate-limit "minute" lasts (60 is real time; 6 runs ten
    /// times faster). The client's limits are compressed to match.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    pub(crate) mock_time_scale: f64,
    /// Share the quota with every other process using this Redis (redis://host:port, or
    /// comma-separated cluster nodes): the limits hold across processes and machines.
    /// Overrides GROQCHAT_REDIS_URL and the configuration's redis_url.
    #[arg(long, value_name = "URL")]
    pub(crate) redis: Option<String>,
}

/// A connected client, with the emulator it talks to when `--mock` was given.
#[derive(Debug)]
pub(crate) struct Connection {
    /// The client.
    pub(crate) client: GroqClient,
    /// The configuration it was built with (limits compressed under --mock-time-scale).
    pub(crate) config: Config,
    /// The embedded emulator, if any.
    pub(crate) mock: Option<MockServer>,
}

impl Connection {
    /// Stops the emulator, if there is one.
    pub(crate) async fn close(self) {
        if let Some(mock) = self.mock {
            mock.shutdown().await;
        }
    }
}

/// Loads the configuration: `--config FILE` (or GROQ_CONFIG) over the environment over the
/// built-in catalog.
pub(crate) fn load_config(args: &ConnectArgs) -> Result<Config, CliError> {
    let context = match &args.config {
        Some(path) => format!(
            "cannot load the configuration file {}; fix it or pass another --config",
            path.display()
        ),
        None => "cannot load the configuration from the environment; correct the variable \
                 or the GROQ_CONFIG file named next"
            .to_owned(),
    };
    let mut config = Config::load(args.config.as_deref()).map_err(|source| CliError::Config {
        context,
        source: Box::new(source),
    })?;
    if let Some(url) = &args.redis {
        config.redis.url = Some(url.trim().to_owned());
    }
    Ok(config)
}

/// With a Redis URL (`--redis`, GROQCHAT_REDIS_URL or `redis_url`): the live shared state of
/// `models` as text (used, left, pending and when each bucket is full again, requests in
/// flight and any pause), read from Redis without changing it. `None` without a URL.
pub(crate) async fn shared_limits(
    args: &ConnectArgs,
    models: &[String],
) -> Result<Option<String>, CliError> {
    use groq_ratelimit::RateLimiter;
    let config = load_config(args)?;
    let Some(url) = config.redis.url.clone() else {
        return Ok(None);
    };
    let mut builder = groq_ratelimit_redis::RedisLimiter::builder(&url);
    if let Some(namespace) = &config.redis.namespace {
        builder = builder.namespace(namespace.clone());
    }
    if args.mock {
        builder = builder.api_key(MOCK_KEY);
    } else if let Some(key) = &config.api_key {
        builder = builder.api_key(key.expose_secret());
    }
    // No quota is given: reading the state must not rewrite the rates the processes use.
    let limiter = builder
        .build()
        .map_err(|e| CliError::Usage(format!("cannot use the Redis at {url}: {e}")))?;
    let models = models.to_vec();
    let text = tokio::task::spawn_blocking(move || -> Result<String, CliError> {
        limiter.ping().map_err(|e| {
            CliError::Usage(format!(
                "the Redis at {url} does not answer ({e}); start it or fix --redis"
            ))
        })?;
        let mut text = String::new();
        for model in models {
            text.push_str(&format!(
                "{model} (shared through Redis, namespace {})\n",
                limiter.namespace()
            ));
            let Some(snapshot) = limiter.snapshot(&model) else {
                text.push_str("  no shared state yet: no process has used this model\n");
                continue;
            };
            for usage in &snapshot.dimensions {
                text.push_str(&format!(
                    "  {:<4} {:>9} per {:<8} used {:>9}  left {:>9}  pending {:>7}  full again in {}\n",
                    usage.dimension.label(),
                    usage.rate.limit(),
                    crate::plan::format_duration(usage.rate.period()),
                    usage.used,
                    usage.remaining,
                    usage.pending,
                    crate::plan::format_duration(usage.reset)
                ));
            }
            let cap = snapshot
                .max_in_flight
                .map_or_else(String::new, |max| format!(" of at most {max}"));
            text.push_str(&format!("  in flight {}{cap}\n", snapshot.in_flight));
            if let Some(until) = snapshot.penalized_until {
                let left = until.saturating_duration_since(snapshot.at);
                text.push_str(&format!(
                    "  paused after a 429 for {} more\n",
                    crate::plan::format_duration(left)
                ));
            }
        }
        Ok(text)
    });
    let text = text
        .await
        .map_err(|e| CliError::Usage(format!("reading the shared state failed: {e}")))??;
    Ok(Some(text))
}

/// The time-compression factor of `--mock-time-scale`, checked.
pub(crate) fn time_factor(args: &ConnectArgs) -> Result<f64, CliError> {
    let scale = args.mock_time_scale;
    // Bounded so that every compressed period stays a representable, non-zero duration.
    if !(scale.is_finite() && (0.01..=86_400.0).contains(&scale)) {
        return Err(CliError::Usage(format!(
            "--mock-time-scale must be a number of seconds per minute between 0.01 and 86400, \
             got {scale}"
        )));
    }
    if !args.mock && scale != 60.0 {
        return Err(CliError::Usage(
            "--mock-time-scale only applies with --mock; add --mock or drop it".to_owned(),
        ));
    }
    Ok(60.0 / scale)
}

/// Refuses `--mock-time-scale` without `--mock` (and a scale that is not a positive number),
/// for commands that read the configuration without connecting.
pub(crate) fn check_time_scale(args: &ConnectArgs) -> Result<(), CliError> {
    time_factor(args).map(|_| ())
}

/// `config` with every limit's period divided by `factor`.
pub(crate) fn compress_time(mut config: Config, factor: f64) -> Config {
    if factor <= 1.0 {
        return config;
    }
    for model in config.models.values_mut() {
        model.limits = model.limits.time_scaled(factor);
    }
    if let UnknownModelPolicy::AllowWithLimits(limits) = &config.unknown_models {
        config.unknown_models = UnknownModelPolicy::AllowWithLimits(limits.time_scaled(factor));
    }
    config
}

/// Whether `config` supplies a key for every request (mirrors the client's own check).
fn has_key(config: &Config) -> bool {
    config.api_key.is_some()
        || (!config.models.is_empty()
            && config.models.values().all(|m| m.api_key.is_some())
            && matches!(config.unknown_models, UnknownModelPolicy::Reject))
}

/// Loads the configuration and builds the client: against the embedded emulator with
/// `--mock`, else against GROQ_BASE_URL (or the configured URL) with the configured key.
pub(crate) async fn connect(args: &ConnectArgs) -> Result<Connection, CliError> {
    connect_with(args, |builder| builder).await
}

/// [`connect`], with `adjust` applied to the client builder (e.g. a queue bound).
pub(crate) async fn connect_with(
    args: &ConnectArgs,
    adjust: impl Fn(GroqClientBuilder) -> GroqClientBuilder,
) -> Result<Connection, CliError> {
    let factor = time_factor(args)?;
    let config = load_config(args)?;
    if !args.mock {
        if !has_key(&config) {
            return Err(CliError::MissingKey);
        }
        let client = adjust(GroqClient::builder().config(config.clone()))
            .build()
            .map_err(|e| CliError::client("cannot build the client", e))?;
        return Ok(Connection {
            client,
            config,
            mock: None,
        });
    }
    // The emulator takes limits per natural minute and day and compresses time itself, so it
    // is given the configured (uncompressed) limits; the client gets the compressed ones.
    let mut models: Vec<(String, MockLimits)> = config
        .models
        .values()
        .map(|m| (m.id.clone(), MockLimits::from_model_config(m)))
        .collect();
    if models.is_empty() {
        models = MockLimits::catalog();
    }
    let config = compress_time(config, factor);
    let minute = Duration::from_secs_f64(args.mock_time_scale);
    let mock = MockServer::builder()
        .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .api_key(MOCK_KEY)
        .models(models)
        .minute_length(minute)
        .start()
        .await
        .map_err(CliError::Mock)?;
    let client = adjust(
        GroqClient::builder()
            .config(config.clone())
            .api_key(MOCK_KEY)
            .base_url(mock.base_url()),
    )
    .build()
    .map_err(|e| CliError::client("cannot build the client", e))?;
    Ok(Connection {
        client,
        config,
        mock: Some(mock),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use groq_config::LimitKind;

    fn args(mock: bool, scale: f64) -> ConnectArgs {
        ConnectArgs {
            redis: None,
            config: None,
            mock,
            mock_time_scale: scale,
        }
    }

    #[test]
    fn time_scale_is_checked() {
        assert_eq!(time_factor(&args(true, 6.0)).unwrap(), 10.0);
        assert_eq!(time_factor(&args(false, 60.0)).unwrap(), 1.0);
        assert!(time_factor(&args(true, 0.0)).is_err());
        assert!(time_factor(&args(true, f64::NAN)).is_err());
        for extreme in [1e308, f64::INFINITY, -1.0, 1e-300, u64::MAX as f64] {
            assert!(time_factor(&args(true, extreme)).is_err(), "{extreme}");
        }
        assert!(
            time_factor(&args(false, 6.0))
                .unwrap_err()
                .to_string()
                .contains("only applies with --mock")
        );
    }

    #[test]
    fn compressing_time_shortens_every_period() {
        let config = compress_time(Config::default(), 10.0);
        let llama = config.model("llama-3.1-8b-instant").unwrap();
        let rpm = llama.limits.get(LimitKind::RequestsPerMinute).unwrap();
        assert_eq!((rpm.limit(), rpm.period()), (30, Duration::from_secs(6)));
        let tpd = llama.limits.get(LimitKind::TokensPerDay).unwrap();
        assert_eq!(tpd.period(), Duration::from_secs(8_640));
    }

    #[test]
    fn a_key_is_required_unless_every_model_has_one() {
        assert!(!has_key(&Config::default()));
        let with_key = Config::builder().api_key("gsk_abc").build().unwrap();
        assert!(has_key(&with_key));
    }
}
