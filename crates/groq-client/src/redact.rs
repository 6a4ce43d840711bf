//! Scrubbing the client's own secrets from server text.
//!
//! A hostile or broken server may echo the `Authorization` header (or a URL with userinfo) in
//! its error messages or bodies. Every server text the client shows or stores — error
//! messages, error bodies, and the bodies a caller writes out through
//! [`GroqClient::redact_bytes`](crate::GroqClient::redact_bytes) — has each configured API key
//! and each userinfo credential of a configured URL replaced by [`REDACTED`]. This is the one
//! permitted change to bytes the server sent.

use std::borrow::Cow;

use groq_config::Config;

use crate::{Error, HttpResponse};

/// What a secret is replaced with. Plain ASCII without quotes or backslashes, so JSON stays
/// valid where a secret sat inside a string.
pub const REDACTED: &str = "[REDACTED]";

/// Secrets shorter than this are not scrubbed: replacing every occurrence of a very short
/// string would mangle ordinary text, and such a string is no credential worth hiding.
const MIN_SECRET_LEN: usize = 8;

/// The secrets of `config`: the top-level and per-model API keys, and the userinfo of every
/// configured base URL (the whole `user:password` and each part).
pub(crate) fn secrets(config: &Config) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let keys = config
        .api_key
        .iter()
        .chain(config.models.values().filter_map(|m| m.api_key.as_ref()));
    for key in keys {
        out.push(key.expose_secret().to_owned());
    }
    let urls = std::iter::once(config.base_url.as_str())
        .chain(config.models.values().filter_map(|m| m.base_url.as_deref()));
    for url in urls {
        if let Some(userinfo) = userinfo(url) {
            out.push(userinfo.to_owned());
            out.extend(userinfo.split(':').map(str::to_owned));
        }
    }
    out.retain(|s| s.len() >= MIN_SECRET_LEN);
    // Longest first, so that a secret containing another is replaced whole.
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

/// The userinfo of `url` (`user:password` in `https://user:password@host/`), if any.
fn userinfo(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    authority.rfind('@').map(|at| &authority[..at])
}

/// `text` with every secret replaced by [`REDACTED`]; borrowed when none occurs.
pub(crate) fn scrub<'a>(text: &'a str, secrets: &[String]) -> Cow<'a, str> {
    let mut out = Cow::Borrowed(text);
    for secret in secrets {
        if out.contains(secret.as_str()) {
            out = Cow::Owned(out.replace(secret.as_str(), REDACTED));
        }
    }
    out
}

/// `bytes` with every secret replaced by [`REDACTED`]; borrowed when none occurs.
pub(crate) fn scrub_bytes<'a>(bytes: &'a [u8], secrets: &[String]) -> Cow<'a, [u8]> {
    let mut out = Cow::Borrowed(bytes);
    for secret in secrets {
        let needle = secret.as_bytes();
        if find(&out, needle).is_none() {
            continue;
        }
        let mut replaced = Vec::with_capacity(out.len());
        let mut rest: &[u8] = &out;
        while let Some(at) = find(rest, needle) {
            replaced.extend_from_slice(&rest[..at]);
            replaced.extend_from_slice(REDACTED.as_bytes());
            rest = &rest[at + needle.len()..];
        }
        replaced.extend_from_slice(rest);
        out = Cow::Owned(replaced);
    }
    out
}

/// Scrubs every string of `value` in place.
pub(crate) fn scrub_json(value: &mut serde_json::Value, secrets: &[String]) {
    match value {
        serde_json::Value::String(text) => {
            if let Cow::Owned(clean) = scrub(text, secrets) {
                *text = clean;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| scrub_json(v, secrets)),
        serde_json::Value::Object(map) => map.values_mut().for_each(|v| scrub_json(v, secrets)),
        _ => {}
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > haystack.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn scrub_owned(text: String, secrets: &[String]) -> String {
    match scrub(&text, secrets) {
        Cow::Borrowed(_) => text,
        Cow::Owned(scrubbed) => scrubbed,
    }
}

impl HttpResponse {
    /// The answer with every secret scrubbed from its body (the one permitted change to the
    /// server's bytes).
    pub(crate) fn scrubbed(self, secrets: &[String]) -> Self {
        match scrub_bytes(self.body(), secrets) {
            Cow::Borrowed(_) => self,
            Cow::Owned(body) => Self::new(
                self.status(),
                self.request_id().map(str::to_owned),
                bytes::Bytes::from(body),
            ),
        }
    }
}

impl Error {
    /// The error with every secret scrubbed from the server text it carries.
    pub(crate) fn scrubbed(self, secrets: &[String]) -> Self {
        if secrets.is_empty() {
            return self;
        }
        match self {
            Self::Api(mut e) => {
                e.message = scrub_owned(e.message, secrets);
                e.failed_generation = e.failed_generation.map(|g| scrub_owned(g, secrets));
                e.response = Box::new(e.response.scrubbed(secrets));
                Self::Api(e)
            }
            Self::RateLimited(mut e) => {
                e.message = scrub_owned(e.message, secrets);
                e.response = e.response.map(|r| Box::new(r.scrubbed(secrets)));
                Self::RateLimited(e)
            }
            Self::ModelNotFound(mut e) => {
                e.message = scrub_owned(e.message, secrets);
                e.response = e.response.map(|r| Box::new(r.scrubbed(secrets)));
                Self::ModelNotFound(e)
            }
            Self::Stream(mut e) => {
                e.message = scrub_owned(e.message, secrets);
                Self::Stream(e)
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use groq_config::ModelConfig;

    #[test]
    fn keys_and_userinfo_are_found_and_scrubbed() {
        let config = Config::builder()
            .api_key("gsk_top_level_key_0123")
            .base_url("https://proxyuser:proxy_password_99@proxy.example/openai/v1")
            .model(
                ModelConfig::new("m")
                    .with_api_key(groq_config::ApiKey::new("gsk_model_key_456789")),
            )
            .build()
            .unwrap();
        let secrets = secrets(&config);
        let text = "echo: Bearer gsk_top_level_key_0123, gsk_model_key_456789, \
                    proxyuser:proxy_password_99, proxy_password_99";
        let scrubbed = scrub(text, &secrets);
        for secret in [
            "gsk_top_level_key_0123",
            "gsk_model_key_456789",
            "proxy_password_99",
        ] {
            assert!(!scrubbed.contains(secret), "{scrubbed}");
        }
        assert!(scrubbed.starts_with("echo: Bearer [REDACTED], [REDACTED]"));
        let bytes = scrub_bytes(text.as_bytes(), &secrets);
        assert_eq!(&*bytes, scrubbed.as_bytes());
        // Nothing to scrub: nothing copied.
        assert!(matches!(scrub("clean", &secrets), Cow::Borrowed(_)));
        assert!(matches!(scrub_bytes(b"clean", &secrets), Cow::Borrowed(_)));
    }
}
