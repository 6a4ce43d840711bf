//! The two file formats: reading either (auto-detected) and writing the native one.
//!
//! Files are parsed into a [`serde_json::Value`] first and then walked by hand, so that every
//! error can name the origin, the model, the key, the bad value and what would be valid.

use std::time::Duration;

use serde_json::{Map, Number, Value};

use crate::config::{
    FileLayer, PriorityAging, UnknownModelPolicy, check_aging, check_api_key, check_base_url,
    check_model, normalize_url,
};
use crate::error::At;
use crate::{ApiKey, Config, ConfigError, LimitKind, Limits, ModelConfig, Rate, catalog, duration};

/// The native format's top-level keys. A file with any of them is read as native.
const NATIVE_KEYS: [&str; 14] = [
    "base_url",
    "api_key",
    "default_completion_tokens",
    "priority_aging",
    "unknown_models",
    "request_timeout",
    "max_retries",
    "builtin_catalog",
    "models",
    "redis_url",
    "redis_namespace",
    "redis_unreachable",
    "stream_timeout",
    "stream_idle_timeout",
];

/// The keys of one model entry, in both formats.
const MODEL_KEYS: [&str; 14] = [
    "base_url",
    "api_key",
    "req_per_minute",
    "req_per_day",
    "token_per_minute",
    "token_per_day",
    "audio_seconds_per_hour",
    "audio_seconds_per_day",
    "input_token_per_minute",
    "output_token_per_minute",
    "max_in_flight",
    "context_window",
    "max_completion_tokens",
    "default_completion_tokens",
];

/// The keys of an `unknown_models` limits object.
const LIMIT_KEYS: [&str; 9] = [
    "req_per_minute",
    "req_per_day",
    "token_per_minute",
    "token_per_day",
    "audio_seconds_per_hour",
    "audio_seconds_per_day",
    "input_token_per_minute",
    "output_token_per_minute",
    "max_in_flight",
];

const RATE_KEYS: [&str; 2] = ["limit", "per"];
const AGING_KEYS: [&str; 2] = ["normal", "low"];

/// Said when a CustomGroqChat-format model entry has an unknown key: the file may be meant as native.
const SEED_HINT: &str = "in CustomGroqChat's format every top-level key is a model; the native format's top-level keys are base_url, api_key, default_completion_tokens, priority_aging, unknown_models, request_timeout, stream_timeout, stream_idle_timeout, max_retries, builtin_catalog and models";

/// What an optional count (context window, token caps, in-flight cap) accepts.
pub(crate) const COUNT_EXPECTED: &str =
    "a positive integer (at most 4294967295), or -1 or null when not set";
const LIMIT_EXPECTED: &str = "a positive integer (0 would admit nothing), -1 or null for unlimited, or an object such as {\"limit\": 30, \"per\": \"6s\"}";
const MODEL_EXPECTED: &str = "an object with the model's settings (req_per_minute, req_per_day, token_per_minute, token_per_day, context_window, ...)";

/// Parses configuration text of either format.
pub(crate) fn parse(text: &str, origin: &str) -> Result<FileLayer, ConfigError> {
    let value: Value = serde_json::from_str(text).map_err(|e| syntax_error(&e, origin))?;
    let top = At::top(origin);
    let Value::Object(map) = value else {
        return Err(top.wrong_type(
            "(top level)",
            "a JSON object: model entries (CustomGroqChat's format) or settings with a \"models\" map (the native format)",
            &value,
        ));
    };
    // An empty object sets nothing: the defaults, catalog included.
    if map.is_empty() || map.keys().any(|k| NATIVE_KEYS.contains(&k.as_str())) {
        parse_native(top, &map)
    } else {
        parse_seed(top, &map)
    }
}

fn syntax_error(error: &serde_json::Error, origin: &str) -> ConfigError {
    let text = error.to_string();
    // serde_json appends " at line L column C"; the position is reported separately.
    let reason = match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    };
    ConfigError::Syntax {
        origin: origin.to_owned(),
        line: error.line(),
        column: error.column(),
        reason,
    }
}

/// CustomGroqChat's format: every top-level key is a model, and, as in CustomGroqChat, only
/// those models are served: the catalog is dropped and unknown models are refused. So a
/// CustomGroqChat file with an `api_key` on every model gives every request a key without
/// `GROQ_API_KEY`.
fn parse_seed(top: At<'_>, map: &Map<String, Value>) -> Result<FileLayer, ConfigError> {
    let mut layer = FileLayer {
        builtin_catalog: false,
        unknown_models: Some(UnknownModelPolicy::Reject),
        ..FileLayer::default()
    };
    for (id, entry) in map {
        layer
            .models
            .push(parse_model(top.model(id), id, entry, Some(SEED_HINT))?);
    }
    Ok(layer)
}

/// The native format: settings at the top level and a `models` map.
fn parse_native(top: At<'_>, map: &Map<String, Value>) -> Result<FileLayer, ConfigError> {
    let mut layer = FileLayer {
        builtin_catalog: true,
        ..FileLayer::default()
    };
    for (key, value) in map {
        match key.as_str() {
            "base_url" => layer.base_url = Some(base_url(top, key, value)?),
            "api_key" => layer.api_key = Some(api_key(top, key, value)?),
            "default_completion_tokens" => {
                layer.default_completion_tokens = optional_count(top, key, value)?;
            }
            "priority_aging" => layer.priority_aging = Some(priority_aging(top, value)?),
            "unknown_models" => layer.unknown_models = Some(unknown_models(top, value)?),
            "request_timeout" => layer.request_timeout = Some(timeout(top, key, value, "60s")?),
            "stream_timeout" => layer.stream_timeout = Some(timeout(top, key, value, "10m")?),
            "stream_idle_timeout" => {
                layer.stream_idle_timeout = Some(timeout(top, key, value, "60s")?);
            }
            "max_retries" => layer.max_retries = Some(retries(top, key, value)?),
            "redis_url" | "redis_namespace" | "redis_unreachable" => {
                crate::redis::parse_key(top, key, value, layer.redis.get_or_insert_default())?;
            }
            "builtin_catalog" => match value {
                Value::Bool(include) => layer.builtin_catalog = *include,
                other => return Err(top.wrong_type(key, "true or false", other)),
            },
            "models" => {
                let Value::Object(models) = value else {
                    return Err(top.wrong_type(
                        key,
                        "an object mapping model ids to their settings",
                        value,
                    ));
                };
                for (id, entry) in models {
                    layer
                        .models
                        .push(parse_model(top.model(id), id, entry, None)?);
                }
            }
            _ => {
                let hint = (catalog::builtin_model(key).is_some() || value.is_object())
                    .then_some("model entries belong under \"models\" in the native format");
                return Err(top.unknown_key("(top level)", key, &NATIVE_KEYS, hint));
            }
        }
    }
    Ok(layer)
}

fn parse_model(
    at: At<'_>,
    id: &str,
    entry: &Value,
    hint: Option<&'static str>,
) -> Result<ModelConfig, ConfigError> {
    let Value::Object(map) = entry else {
        return Err(at.wrong_type("", MODEL_EXPECTED, entry));
    };
    let mut model = ModelConfig::new(id);
    for (key, value) in map {
        match key.as_str() {
            "base_url" => model.base_url = Some(base_url(at, key, value)?),
            "api_key" => model.api_key = Some(api_key(at, key, value)?),
            "context_window" => model.context_window = optional_count(at, key, value)?,
            "max_completion_tokens" => {
                model.max_completion_tokens = optional_count(at, key, value)?;
            }
            "default_completion_tokens" => {
                model.default_completion_tokens = optional_count(at, key, value)?;
            }
            _ => parse_limit_key(at, &mut model.limits, key, value, &MODEL_KEYS, hint)?,
        }
    }
    check_model(at, &model)?;
    Ok(model)
}

/// Parses one of [`LIMIT_KEYS`] into `limits`; any other key is unknown (`valid` lists the
/// keys valid in the enclosing object).
fn parse_limit_key(
    at: At<'_>,
    limits: &mut Limits,
    key: &str,
    value: &Value,
    valid: &'static [&'static str],
    hint: Option<&'static str>,
) -> Result<(), ConfigError> {
    if key == "max_in_flight" {
        limits.max_in_flight = optional_count(at, key, value)?;
        return Ok(());
    }
    let Some(kind) = LimitKind::ALL.into_iter().find(|k| k.config_key() == key) else {
        let section = if valid.len() == MODEL_KEYS.len() {
            ""
        } else {
            "unknown_models"
        };
        return Err(at.unknown_key(section, key, valid, hint));
    };
    *limits = limits.clone().with(kind, rate(at, kind, value)?);
    Ok(())
}

/// A limit: an integer per the dimension's natural period, `-1`/`null` for none, or
/// `{ "limit": N, "per": "duration" }`.
fn rate(at: At<'_>, kind: LimitKind, value: &Value) -> Result<Option<Rate>, ConfigError> {
    let key = kind.config_key();
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => match integer(n) {
            Some(-1) => Ok(None),
            Some(limit) if limit >= 1 => {
                let limit = u64::try_from(limit)
                    .map_err(|_| at.invalid(key, n.to_string(), LIMIT_EXPECTED))?;
                Rate::new(limit, kind.natural_period())
                    .map(Some)
                    .map_err(|_| at.invalid(key, n.to_string(), LIMIT_EXPECTED))
            }
            _ => Err(at.invalid(key, n.to_string(), LIMIT_EXPECTED)),
        },
        Value::Object(map) => {
            for name in map.keys() {
                if !RATE_KEYS.contains(&name.as_str()) {
                    return Err(at.unknown_key(key, name, &RATE_KEYS, None));
                }
            }
            let limit_key = format!("{key}.limit");
            let limit_expected = "a positive integer: how many units fit in `per`";
            let limit = match map.get("limit") {
                Some(Value::Number(n)) => match integer(n).and_then(|i| u64::try_from(i).ok()) {
                    Some(limit) if limit >= 1 => limit,
                    _ => return Err(at.invalid(&limit_key, n.to_string(), limit_expected)),
                },
                Some(other) => return Err(at.wrong_type(&limit_key, limit_expected, other)),
                None => return Err(at.wrong_type(&limit_key, limit_expected, &Value::Null)),
            };
            let per_key = format!("{key}.per");
            let per = duration_value(at, &per_key, map.get("per").unwrap_or(&Value::Null))?;
            Rate::new(limit, per).map(Some).map_err(|_| {
                at.invalid(
                    &per_key,
                    format!("{:?}", duration::format(per)),
                    "a period longer than zero",
                )
            })
        }
        other => Err(at.wrong_type(key, LIMIT_EXPECTED, other)),
    }
}

/// The integer value of a JSON number, `None` for fractions.
fn integer(n: &Number) -> Option<i128> {
    n.as_u64()
        .map(i128::from)
        .or_else(|| n.as_i64().map(i128::from))
}

fn optional_count(at: At<'_>, key: &str, value: &Value) -> Result<Option<u32>, ConfigError> {
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => match integer(n) {
            Some(-1) => Ok(None),
            Some(i) if i >= 1 => u32::try_from(i)
                .map(Some)
                .map_err(|_| at.invalid(key, n.to_string(), COUNT_EXPECTED)),
            _ => Err(at.invalid(key, n.to_string(), COUNT_EXPECTED)),
        },
        other => Err(at.wrong_type(key, COUNT_EXPECTED, other)),
    }
}

fn retries(at: At<'_>, key: &str, value: &Value) -> Result<u32, ConfigError> {
    const EXPECTED: &str = "a non-negative integer (0 disables retries)";
    match value {
        Value::Number(n) => integer(n)
            .and_then(|i| u32::try_from(i).ok())
            .ok_or_else(|| at.invalid(key, n.to_string(), EXPECTED)),
        other => Err(at.wrong_type(key, EXPECTED, other)),
    }
}

fn base_url(at: At<'_>, key: &str, value: &Value) -> Result<String, ConfigError> {
    let Value::String(url) = value else {
        return Err(at.wrong_type(
            key,
            "a URL string such as \"https://api.groq.com/openai/v1\"",
            value,
        ));
    };
    let url = normalize_url(url);
    check_base_url(at, key, &url)?;
    Ok(url)
}

fn api_key(at: At<'_>, key: &str, value: &Value) -> Result<ApiKey, ConfigError> {
    // Only the JSON type is reported for a non-string, never the value.
    let Value::String(text) = value else {
        return Err(at.wrong_type(key, "a string holding the API key", value));
    };
    let api_key = ApiKey::new(text.as_str());
    check_api_key(at, key, &api_key)?;
    Ok(api_key)
}

fn duration_value(at: At<'_>, key: &str, value: &Value) -> Result<Duration, ConfigError> {
    match value {
        Value::String(text) => {
            duration::parse(text).map_err(|reason| at.invalid_duration(key, text, reason))
        }
        other => Err(at.wrong_type(
            key,
            "a duration string such as \"6s\", \"500ms\" or \"1m30s\"",
            other,
        )),
    }
}

/// A timeout: a duration longer than zero (`example` shows one in the error).
fn timeout(at: At<'_>, key: &str, value: &Value, example: &str) -> Result<Duration, ConfigError> {
    let timeout = duration_value(at, key, value)?;
    if timeout.is_zero() {
        return Err(at.invalid(
            key,
            "0s",
            &format!("a duration longer than zero, such as \"{example}\""),
        ));
    }
    Ok(timeout)
}

fn priority_aging(at: At<'_>, value: &Value) -> Result<PriorityAging, ConfigError> {
    let Value::Object(map) = value else {
        return Err(at.wrong_type(
            "priority_aging",
            "an object such as {\"normal\": \"5s\", \"low\": \"30s\"}",
            value,
        ));
    };
    let mut aging = PriorityAging::default();
    for (key, value) in map {
        let dotted = format!("priority_aging.{key}");
        match key.as_str() {
            "normal" => aging.normal = duration_value(at, &dotted, value)?,
            "low" => aging.low = duration_value(at, &dotted, value)?,
            _ => return Err(at.unknown_key("priority_aging", key, &AGING_KEYS, None)),
        }
    }
    check_aging(at, &aging)?;
    Ok(aging)
}

fn unknown_models(at: At<'_>, value: &Value) -> Result<UnknownModelPolicy, ConfigError> {
    const EXPECTED: &str = "\"reject\", \"unlimited\", or an object of limits such as {\"req_per_minute\": 30, \"token_per_minute\": 6000}";
    match value {
        Value::String(policy) => match policy.as_str() {
            "reject" => Ok(UnknownModelPolicy::Reject),
            "unlimited" => Ok(UnknownModelPolicy::AllowUnlimited),
            _ => Err(at.invalid("unknown_models", format!("{policy:?}"), EXPECTED)),
        },
        Value::Object(map) => {
            let mut limits = Limits::default();
            for (key, value) in map {
                parse_limit_key(at, &mut limits, key, value, &LIMIT_KEYS, None)?;
            }
            Ok(UnknownModelPolicy::AllowWithLimits(limits))
        }
        other => Err(at.wrong_type("unknown_models", EXPECTED, other)),
    }
}

/// The native format of `config`, which [`parse`] reads back to an equal `Config`.
pub(crate) fn to_value(config: &Config) -> Value {
    let mut top = Map::new();
    top.insert("base_url".into(), config.base_url.clone().into());
    if let Some(key) = &config.api_key {
        top.insert("api_key".into(), key.expose_secret().into());
    }
    top.insert(
        "default_completion_tokens".into(),
        config.default_completion_tokens.into(),
    );
    let mut aging = Map::new();
    aging.insert(
        "normal".into(),
        duration::format(config.priority_aging.normal).into(),
    );
    aging.insert(
        "low".into(),
        duration::format(config.priority_aging.low).into(),
    );
    top.insert("priority_aging".into(), aging.into());
    let unknown = match &config.unknown_models {
        UnknownModelPolicy::Reject => "reject".into(),
        UnknownModelPolicy::AllowUnlimited => "unlimited".into(),
        UnknownModelPolicy::AllowWithLimits(limits) => {
            let mut map = Map::new();
            write_limits(&mut map, limits);
            map.into()
        }
    };
    top.insert("unknown_models".into(), unknown);
    top.insert(
        "request_timeout".into(),
        duration::format(config.request_timeout).into(),
    );
    top.insert("max_retries".into(), config.max_retries.into());
    top.insert(
        "stream_timeout".into(),
        duration::format(config.stream_timeout).into(),
    );
    top.insert(
        "stream_idle_timeout".into(),
        duration::format(config.stream_idle_timeout).into(),
    );
    crate::redis::write(&config.redis, &mut top);

    let builtin = catalog::builtin_models();
    let catalog_intact = builtin.iter().all(|m| config.models.get(&m.id) == Some(m));
    top.insert("builtin_catalog".into(), catalog_intact.into());
    let mut models = Map::new();
    for (id, model) in &config.models {
        let from_catalog = builtin.iter().any(|m| m.id == *id && m == model);
        if !(catalog_intact && from_catalog) {
            models.insert(id.clone(), model_value(model));
        }
    }
    top.insert("models".into(), models.into());
    top.into()
}

fn model_value(model: &ModelConfig) -> Value {
    let mut map = Map::new();
    if let Some(url) = &model.base_url {
        map.insert("base_url".into(), url.clone().into());
    }
    if let Some(key) = &model.api_key {
        map.insert("api_key".into(), key.expose_secret().into());
    }
    write_limits(&mut map, &model.limits);
    for (key, value) in [
        ("context_window", model.context_window),
        ("max_completion_tokens", model.max_completion_tokens),
        ("default_completion_tokens", model.default_completion_tokens),
    ] {
        if let Some(value) = value {
            map.insert(key.into(), value.into());
        }
    }
    map.into()
}

fn write_limits(map: &mut Map<String, Value>, limits: &Limits) {
    for (kind, rate) in limits.rates() {
        let value = if rate.period() == kind.natural_period() {
            rate.limit().into()
        } else {
            let mut pair = Map::new();
            pair.insert("limit".into(), rate.limit().into());
            pair.insert("per".into(), duration::format(rate.period()).into());
            pair.into()
        };
        map.insert(kind.config_key().into(), value);
    }
    if let Some(max) = limits.max_in_flight {
        map.insert("max_in_flight".into(), max.into());
    }
}
