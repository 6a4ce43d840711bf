//! The crate's error type.

use std::path::PathBuf;

/// Why a configuration could not be loaded, validated or used.
///
/// Every variant says where the problem is: the origin (a file path, an environment variable,
/// the name given to [`Config::from_json_str`](crate::Config::from_json_str), or
/// `Config::builder()`), the model when the problem is inside a model entry, the key, the bad
/// value (never an API key: keys appear only in redacted form), and what would be valid.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A configuration file could not be read. The I/O error is the [`source`](std::error::Error::source).
    #[error(
        "cannot read the configuration file {}: check that the path is right and the file is readable UTF-8 text",
        path.display()
    )]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The text is not valid JSON.
    #[error("{origin}: invalid JSON at line {line}, column {column}: {reason}")]
    Syntax {
        /// Where the text came from.
        origin: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What the JSON parser expected.
        reason: String,
    },

    /// A value has the wrong JSON type.
    #[error("{}: expected {expected}, found {found}", place(origin, model.as_deref(), key))]
    WrongType {
        /// Where the text came from.
        origin: String,
        /// The model entry, if the key is inside one.
        model: Option<String>,
        /// The key (dotted for nested keys, e.g. `priority_aging.low`).
        key: String,
        /// What the key accepts.
        expected: &'static str,
        /// The JSON type that was found.
        found: &'static str,
    },

    /// An object has a key this format does not know. Nothing is ignored silently: a misspelt
    /// limit would otherwise mean "unlimited".
    #[error(
        "{}: unknown key `{key}`; valid keys here are: {}{}",
        place(origin, model.as_deref(), section),
        valid.join(", "),
        hint.map(|h| format!(" ({h})")).unwrap_or_default()
    )]
    UnknownKey {
        /// Where the text came from.
        origin: String,
        /// The model entry, if the key is inside one.
        model: Option<String>,
        /// The object holding the key (`(top level)`, `priority_aging`, a limit key, ...;
        /// empty for a model entry, which `model` names).
        section: &'static str,
        /// The unknown key.
        key: String,
        /// The keys that are valid in this object.
        valid: &'static [&'static str],
        /// A hint when the mistake is a common one.
        hint: Option<&'static str>,
    },

    /// A value has the right type but is out of range or malformed.
    #[error("{}: invalid value {value}: expected {expected}", place(origin, model.as_deref(), key))]
    InvalidValue {
        /// Where the value came from.
        origin: String,
        /// The model entry, if the key is inside one.
        model: Option<String>,
        /// The key (dotted for nested keys).
        key: String,
        /// The bad value as written (redacted for API keys, shortened when long).
        value: String,
        /// What would be valid.
        expected: String,
    },

    /// A duration string could not be parsed.
    #[error(
        "{}: invalid duration {value:?}: {reason}; write a duration such as \"6s\", \"500ms\" or \"1m30s\" (units: ns, us, ms, s, m, h, d)",
        place(origin, model.as_deref(), key)
    )]
    InvalidDuration {
        /// Where the value came from.
        origin: String,
        /// The model entry, if the key is inside one.
        model: Option<String>,
        /// The key (dotted for nested keys).
        key: String,
        /// The string as written (shortened when long).
        value: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A model is not in the configuration and the unknown-model policy is
    /// [`UnknownModelPolicy::Reject`](crate::UnknownModelPolicy::Reject).
    #[error(
        "model `{model}` is not configured and unknown models are rejected; configured models: {}; add the model under \"models\" in the configuration, or set \"unknown_models\" to \"unlimited\" or to default limits",
        if configured.is_empty() { "none".to_owned() } else { configured.join(", ") }
    )]
    UnknownModel {
        /// The requested model.
        model: String,
        /// The models the configuration knows.
        configured: Vec<String>,
    },
}

impl ConfigError {
    /// The file, environment variable or name the bad input came from, if any.
    pub fn origin(&self) -> Option<&str> {
        match self {
            Self::Syntax { origin, .. }
            | Self::WrongType { origin, .. }
            | Self::UnknownKey { origin, .. }
            | Self::InvalidValue { origin, .. }
            | Self::InvalidDuration { origin, .. } => Some(origin),
            Self::Io { .. } | Self::UnknownModel { .. } => None,
        }
    }

    /// The model entry the error is about, if any.
    pub fn model(&self) -> Option<&str> {
        match self {
            Self::WrongType { model, .. }
            | Self::UnknownKey { model, .. }
            | Self::InvalidValue { model, .. }
            | Self::InvalidDuration { model, .. } => model.as_deref(),
            Self::UnknownModel { model, .. } => Some(model),
            Self::Io { .. } | Self::Syntax { .. } => None,
        }
    }

    /// The configuration key the error is about, if any (dotted for nested keys).
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::WrongType { key, .. }
            | Self::UnknownKey { key, .. }
            | Self::InvalidValue { key, .. }
            | Self::InvalidDuration { key, .. } => Some(key.as_str()).filter(|k| !k.is_empty()),
            Self::Io { .. } | Self::Syntax { .. } | Self::UnknownModel { .. } => None,
        }
    }
}

/// `origin: model "m": key "k"`, the prefix of every located message.
fn place(origin: &str, model: Option<&str>, key: &str) -> String {
    match (model, key.is_empty()) {
        (Some(model), true) => format!("{origin}: model \"{model}\""),
        (Some(model), false) => format!("{origin}: model \"{model}\": {key}"),
        (None, true) => origin.to_owned(),
        (None, false) => format!("{origin}: {key}"),
    }
}

/// Where in the input a value sits; builds the located error variants.
#[derive(Debug, Clone, Copy)]
pub(crate) struct At<'a> {
    pub(crate) origin: &'a str,
    pub(crate) model: Option<&'a str>,
}

impl<'a> At<'a> {
    pub(crate) fn top(origin: &'a str) -> Self {
        Self {
            origin,
            model: None,
        }
    }

    pub(crate) fn model(self, model: &'a str) -> Self {
        Self {
            model: Some(model),
            ..self
        }
    }

    pub(crate) fn wrong_type(
        self,
        key: &str,
        expected: &'static str,
        found: &serde_json::Value,
    ) -> ConfigError {
        ConfigError::WrongType {
            origin: self.origin.to_owned(),
            model: self.model.map(str::to_owned),
            key: key.to_owned(),
            expected,
            found: json_type(found),
        }
    }

    pub(crate) fn unknown_key(
        self,
        section: &'static str,
        key: &str,
        valid: &'static [&'static str],
        hint: Option<&'static str>,
    ) -> ConfigError {
        ConfigError::UnknownKey {
            origin: self.origin.to_owned(),
            model: self.model.map(str::to_owned),
            section,
            key: key.to_owned(),
            valid,
            hint,
        }
    }

    pub(crate) fn invalid(
        self,
        key: &str,
        value: impl Into<String>,
        expected: &str,
    ) -> ConfigError {
        ConfigError::InvalidValue {
            origin: self.origin.to_owned(),
            model: self.model.map(str::to_owned),
            key: key.to_owned(),
            value: shorten(&value.into()),
            expected: expected.to_owned(),
        }
    }

    pub(crate) fn invalid_duration(self, key: &str, value: &str, reason: String) -> ConfigError {
        ConfigError::InvalidDuration {
            origin: self.origin.to_owned(),
            model: self.model.map(str::to_owned),
            key: key.to_owned(),
            value: shorten(value),
            reason,
        }
    }
}

/// "a string", "an object", ... for error messages.
pub(crate) fn json_type(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a fractional number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Cuts long values so one bad entry cannot flood a log line.
fn shorten(value: &str) -> String {
    const MAX_CHARS: usize = 80;
    if value.chars().count() <= MAX_CHARS {
        value.to_owned()
    } else {
        let head: String = value.chars().take(MAX_CHARS).collect();
        format!("{head}…")
    }
}
