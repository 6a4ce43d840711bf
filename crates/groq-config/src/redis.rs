//! The settings of the shared (Redis-backed) rate limiter: `redis_url`, `redis_namespace`,
//! `redis_unreachable` and the environment variable `GROQCHAT_REDIS_URL`.

use std::fmt;

use serde_json::Value;

use crate::ConfigError;
use crate::error::At;

/// Where the shared limiter keeps a quota's state, and what to do when it cannot be reached.
///
/// With a [`url`](Self::url), every process configured with the same URL and namespace
/// shares one quota (see the `groq-ratelimit-redis` crate). Without one, each process limits
/// itself alone.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct RedisSettings {
    /// `redis://host:port/db`, or several comma-separated URLs naming the nodes of a Redis
    /// Cluster (key `redis_url`, environment `GROQCHAT_REDIS_URL`).
    pub url: Option<String>,
    /// The namespace of the keys (key `redis_namespace`; default: a fingerprint of the API
    /// key, never the key itself).
    pub namespace: Option<String>,
    /// What to do while Redis is unreachable (key `redis_unreachable`).
    pub unreachable: RedisUnreachable,
}

/// What the shared limiter does while Redis cannot be reached (key `redis_unreachable`:
/// `"wait"`, or `"local:SHARE"` with a share such as `1/4` or `0.25`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub enum RedisUnreachable {
    /// Admit nothing until Redis answers again (the default): requests wait.
    #[default]
    Wait,
    /// Fall back to a local limiter with `share` (in `(0, 1]`) of every quota, and go back to
    /// Redis when it answers again.
    Local {
        /// This process's share of each limit, e.g. `0.25` for one of four processes.
        share: f64,
    },
}

impl fmt::Display for RedisUnreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Wait => f.write_str("wait"),
            Self::Local { share } => write!(f, "local:{share}"),
        }
    }
}

const UNREACHABLE_EXPECTED: &str =
    "\"wait\" or \"local:SHARE\" with a share in (0, 1] such as \"local:1/4\" or \"local:0.25\"";

impl RedisUnreachable {
    /// Parses `wait` or `local:SHARE` (`SHARE` a fraction `a/b` or a decimal in `(0, 1]`).
    /// `None` when the text is neither.
    ///
    /// ```
    /// use groq_config::RedisUnreachable;
    ///
    /// assert_eq!(RedisUnreachable::parse("wait"), Some(RedisUnreachable::Wait));
    /// assert_eq!(RedisUnreachable::parse("local:1/4"), Some(RedisUnreachable::Local { share: 0.25 }));
    /// assert_eq!(RedisUnreachable::parse("local:2"), None);
    /// ```
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("wait") {
            return Some(Self::Wait);
        }
        let share = text.strip_prefix("local:")?.trim();
        let share = match share.split_once('/') {
            Some((a, b)) => {
                let (a, b): (f64, f64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if b == 0.0 {
                    return None;
                }
                a / b
            }
            None => share.parse().ok()?,
        };
        (share > 0.0 && share <= 1.0).then_some(Self::Local { share })
    }
}

/// The environment variable holding the Redis URL.
pub(crate) const ENV_REDIS_URL: &str = "GROQCHAT_REDIS_URL";

/// Checks a Redis URL (`redis://`, `rediss://` or `unix://`, comma-separated for a cluster).
pub(crate) fn check_url(at: At<'_>, key: &str, url: &str) -> Result<String, ConfigError> {
    let url = url.trim();
    let ok = !url.is_empty()
        && url.split(',').all(|u| {
            let u = u.trim();
            ["redis://", "rediss://", "unix://", "redis+unix://"]
                .iter()
                .any(|scheme| u.len() > scheme.len() && u.starts_with(scheme))
                && u.bytes().all(|b| b.is_ascii_graphic())
        });
    if ok {
        Ok(url.to_owned())
    } else {
        Err(at.invalid(
            key,
            format!("{url:?}"),
            "a redis:// URL such as \"redis://127.0.0.1:6379\" (comma-separated for a cluster)",
        ))
    }
}

/// Reads the `redis_*` keys of a native file.
pub(crate) fn parse_key(
    at: At<'_>,
    key: &str,
    value: &Value,
    settings: &mut RedisSettings,
) -> Result<(), ConfigError> {
    match key {
        "redis_url" => match value {
            Value::String(url) => settings.url = Some(check_url(at, key, url)?),
            Value::Null => settings.url = None,
            other => return Err(at.wrong_type(key, "a redis:// URL string", other)),
        },
        "redis_namespace" => match value {
            Value::String(ns) if !ns.trim().is_empty() => {
                settings.namespace = Some(ns.trim().to_owned());
            }
            Value::String(ns) => {
                return Err(at.invalid(key, format!("{ns:?}"), "a non-empty namespace"));
            }
            other => return Err(at.wrong_type(key, "a namespace string", other)),
        },
        "redis_unreachable" => match value {
            Value::String(text) => {
                settings.unreachable = RedisUnreachable::parse(text)
                    .ok_or_else(|| at.invalid(key, format!("{text:?}"), UNREACHABLE_EXPECTED))?;
            }
            other => return Err(at.wrong_type(key, UNREACHABLE_EXPECTED, other)),
        },
        _ => {}
    }
    Ok(())
}

/// Writes the settings that differ from the defaults.
pub(crate) fn write(settings: &RedisSettings, top: &mut serde_json::Map<String, Value>) {
    if let Some(url) = &settings.url {
        top.insert("redis_url".into(), url.clone().into());
    }
    if let Some(ns) = &settings.namespace {
        top.insert("redis_namespace".into(), ns.clone().into());
    }
    if settings.unreachable != RedisUnreachable::Wait {
        top.insert(
            "redis_unreachable".into(),
            settings.unreachable.to_string().into(),
        );
    }
}
