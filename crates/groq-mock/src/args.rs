//! [`MockArgs`]: the command-line flags of `groq-mock`, reusable by other binaries.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::MockError;
use crate::faults::Faults;
use crate::limits::MockLimits;
use crate::server::{MockServer, MockServerBuilder};

/// The emulator's command-line flags, as a [`clap::Args`] group: `groq-mock` parses them,
/// and other binaries can flatten them (`#[command(flatten)] mock: MockArgs`).
///
/// ```
/// use clap::Parser;
/// use groq_mock::MockArgs;
///
/// #[derive(Parser)]
/// struct Cli {
///     #[command(flatten)]
///     mock: MockArgs,
/// }
///
/// let cli = Cli::parse_from(["groq-mock", "--addr", "127.0.0.1:0", "--time-scale", "6",
///                            "--fail-rate", "0.1", "--latency-ms", "5:50", "--seed", "1"]);
/// assert_eq!(cli.mock.time_scale, 6.0);
/// assert_eq!(cli.mock.latency_ms, Some((5, 50)));
/// let builder = cli.mock.to_builder()?;
/// # Ok::<(), groq_mock::MockError>(())
/// ```
#[derive(Clone, clap::Args)]
#[non_exhaustive]
pub struct MockArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8089")]
    pub addr: SocketAddr,
    /// Limits file: JSON mapping model ids to {rpm, rpd, tpm, tpd, ash, asd, itpm, otpm,
    /// context_window} (a missing field is unlimited), or any groqchat configuration file
    /// (either groq-config format, as `groqchat --config` reads it). Without it the built-in
    /// Groq catalog's free-plan limits apply.
    #[arg(long, value_name = "FILE")]
    pub limits: Option<PathBuf>,
    /// How many seconds a "minute" lasts (a "day" lasts 1440 of them); 60 is real time.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    pub time_scale: f64,
    /// Fraction of chat requests answered 500 or 503.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0)]
    pub fail_rate: f64,
    /// Fraction of chat requests whose connection is closed without a response.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0)]
    pub drop_rate: f64,
    /// Fraction of non-streamed chat requests answered 200 with a truncated JSON body.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0)]
    pub malformed_rate: f64,
    /// Fraction of streamed chat requests broken by an error event inside the 200 stream.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0)]
    pub stream_error_rate: f64,
    /// Extra latency per chat response in milliseconds: `MIN:MAX` (uniform) or `N`.
    #[arg(long, value_name = "MIN:MAX", value_parser = parse_latency)]
    pub latency_ms: Option<(u64, u64)>,
    /// Pause between the events of a streamed reply, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub stream_interval_ms: u64,
    /// Seed of fault injection and ids.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Accepted API key (repeatable). Without one, any non-empty key is accepted.
    #[arg(long = "api-key", value_name = "KEY")]
    pub api_keys: Vec<String>,
    /// Reply length in tokens when a request does not set `mock_completion_tokens`.
    #[arg(long, value_name = "TOKENS", default_value_t = 16)]
    pub completion_tokens: u64,
    /// Completion budget charged when a request sets no `max_completion_tokens`.
    #[arg(long, value_name = "TOKENS", default_value_t = 1024)]
    pub default_budget: u64,
    /// Report repeated leading messages as cached prompt tokens and give them back to the
    /// token buckets, as Groq's prompt cache does.
    #[arg(long)]
    pub prompt_cache: bool,
}

impl fmt::Debug for MockArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockArgs")
            .field("addr", &self.addr)
            .field("limits", &self.limits)
            .field("time_scale", &self.time_scale)
            .field("fail_rate", &self.fail_rate)
            .field("drop_rate", &self.drop_rate)
            .field("malformed_rate", &self.malformed_rate)
            .field("stream_error_rate", &self.stream_error_rate)
            .field("latency_ms", &self.latency_ms)
            .field("stream_interval_ms", &self.stream_interval_ms)
            .field("seed", &self.seed)
            .field(
                "api_keys",
                &format_args!("<{} redacted>", self.api_keys.len()),
            )
            .field("completion_tokens", &self.completion_tokens)
            .field("default_budget", &self.default_budget)
            .field("prompt_cache", &self.prompt_cache)
            .finish()
    }
}

fn parse_latency(text: &str) -> Result<(u64, u64), String> {
    let parse = |part: &str| {
        part.trim()
            .parse::<u64>()
            .map_err(|_| format!("`{part}` is not a whole number of milliseconds"))
    };
    let (min, max) = match text.split_once(':') {
        Some((min, max)) => (parse(min)?, parse(max)?),
        None => {
            let value = parse(text)?;
            (value, value)
        }
    };
    if min > max {
        return Err(format!("the minimum {min} exceeds the maximum {max}"));
    }
    Ok((min, max))
}

impl MockArgs {
    /// A builder configured by these flags (reads the limits file, if any).
    pub fn to_builder(&self) -> Result<MockServerBuilder, MockError> {
        let minute = Duration::try_from_secs_f64(self.time_scale)
            .ok()
            .filter(|minute| !minute.is_zero())
            .ok_or_else(|| {
                MockError::InvalidConfig(format!(
                    "--time-scale must be a positive number of seconds per minute, got {}",
                    self.time_scale
                ))
            })?;
        let mut faults = Faults::none()
            .fail_rate(self.fail_rate)
            .drop_rate(self.drop_rate)
            .malformed_rate(self.malformed_rate)
            .stream_error_rate(self.stream_error_rate);
        if let Some((min, max)) = self.latency_ms {
            faults = faults.latency(Duration::from_millis(min), Duration::from_millis(max));
        }
        let mut builder = MockServer::builder()
            .bind(self.addr)
            .minute_length(minute)
            .faults(faults)
            .seed(self.seed)
            .completion_tokens(self.completion_tokens)
            .default_completion_budget(self.default_budget)
            .prompt_cache(self.prompt_cache)
            .stream_interval(Duration::from_millis(self.stream_interval_ms));
        for key in &self.api_keys {
            builder = builder.api_key(key.clone());
        }
        builder = match &self.limits {
            Some(path) => builder.models(load_limits(path)?),
            None => builder.catalog_models(),
        };
        Ok(builder)
    }
}

/// The keys only the emulator's own limits format has.
const OWN_ONLY_KEYS: [&str; 4] = ["rpm", "rpd", "tpm", "tpd"];

/// Reads `--limits`: the emulator's own format (see [`MockLimits`]) when the file is a JSON
/// object of model entries using only its keys (or any of `rpm`, `rpd`, `tpm`, `tpd`), else a
/// groq-config file of either format, each model's limits converted as
/// [`MockLimits::from_model_config`] does.
fn load_limits(path: &std::path::Path) -> Result<Vec<(String, MockLimits)>, MockError> {
    let text = std::fs::read_to_string(path).map_err(|source| MockError::LimitsFile {
        path: path.to_owned(),
        source,
    })?;
    if is_own_format(&text) {
        return Ok(MockLimits::load_file(path)?.into_iter().collect());
    }
    let config = groq_config::Config::from_json_str(&text, &path.display().to_string()).map_err(
        |source| MockError::LimitsConfig {
            path: path.to_owned(),
            source: Box::new(source),
        },
    )?;
    Ok(config
        .models
        .values()
        .map(|model| (model.id.clone(), MockLimits::from_model_config(model)))
        .collect())
}

/// Whether `text` is meant in the emulator's own format: not JSON at all (its parser reports
/// the syntax error), or an object of model entries that either use only the own format's
/// keys or use one of `rpm`, `rpd`, `tpm`, `tpd`.
fn is_own_format(text: &str) -> bool {
    let Ok(serde_json::Value::Object(top)) = serde_json::from_str::<serde_json::Value>(text) else {
        return true;
    };
    let entries: Vec<&serde_json::Map<String, serde_json::Value>> = top
        .values()
        .filter_map(serde_json::Value::as_object)
        .collect();
    if entries.len() != top.len() {
        return false;
    }
    let own_key = |key: &String| OWN_ONLY_KEYS.contains(&key.as_str()) || key == "context_window";
    entries.iter().all(|entry| entry.keys().all(own_key))
        || entries
            .iter()
            .any(|entry| entry.keys().any(|k| OWN_ONLY_KEYS.contains(&k.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn limits_file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("limits.json");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn limits_files_in_every_format() {
        let (_d, own) = limits_file(r#"{"m": {"rpm": 30, "context_window": 8192}}"#);
        assert_eq!(
            load_limits(&own).unwrap(),
            vec![(
                "m".to_owned(),
                MockLimits::unlimited().rpm(30).context_window(8192)
            )]
        );
        let (_d, seed) = limits_file(
            r#"{"m": {"req_per_minute": {"limit": 30, "per": "6s"}, "token_per_day": 1000}}"#,
        );
        let models: BTreeMap<String, MockLimits> =
            load_limits(&seed).unwrap().into_iter().collect();
        assert_eq!(models["m"], MockLimits::unlimited().rpm(300).tpd(1000));
        let (_d, native) =
            limits_file(r#"{"builtin_catalog": false, "models": {"n": {"req_per_minute": 5}}}"#);
        let models: BTreeMap<String, MockLimits> =
            load_limits(&native).unwrap().into_iter().collect();
        assert_eq!(models.len(), 1);
        assert_eq!(models["n"], MockLimits::unlimited().rpm(5));
    }

    #[test]
    fn bad_limits_files_are_explained_without_foreign_flags() {
        let (_d, mixed) = limits_file(r#"{"m": {"rpm": 30, "req_per_day": 5}}"#);
        let err = load_limits(&mixed).unwrap_err();
        assert!(matches!(err, MockError::LimitsParse { .. }), "{err}");
        let (_d, zero) = limits_file(r#"{"m": {"req_per_minute": 0}}"#);
        let err = load_limits(&zero).unwrap_err();
        assert!(matches!(err, MockError::LimitsConfig { .. }), "{err}");
        let (_d, syntax) = limits_file("{nope");
        assert!(matches!(
            load_limits(&syntax).unwrap_err(),
            MockError::LimitsParse { .. }
        ));
        for err in [
            load_limits(&mixed).unwrap_err(),
            load_limits(&zero).unwrap_err(),
        ] {
            let mut text = err.to_string();
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                text.push_str(&cause.to_string());
                source = cause.source();
            }
            assert!(!text.contains("--mock"), "{text}");
            assert!(!text.contains("--config"), "{text}");
        }
    }

    #[test]
    fn latency_forms() {
        assert_eq!(parse_latency("5:50"), Ok((5, 50)));
        assert_eq!(parse_latency("20"), Ok((20, 20)));
        assert!(parse_latency("50:5").is_err());
        assert!(parse_latency("a:5").is_err());
    }
}
