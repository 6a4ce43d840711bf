//! [`Config`], its builder, and loading from files and the environment.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::At;
use crate::{ApiKey, ConfigError, Limits, ModelConfig, catalog, format};

/// How long a waiting request of each class takes to rank with fresh requests of the class
/// above it.
///
/// The queue orders requests by `enqueue instant + class delay` (high priority has no delay),
/// so fresh work goes strictly by priority, yet a normal request that has waited `normal`
/// overtakes new high ones, and a low one does so after `low`. Nothing starves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct PriorityAging {
    /// The delay of the normal class (default 5 s).
    pub normal: Duration,
    /// The delay of the low class (default 30 s); never shorter than `normal`.
    pub low: Duration,
}

impl PriorityAging {
    /// Aging with the given class delays. [`Config`] validation requires `normal <= low`.
    pub const fn new(normal: Duration, low: Duration) -> Self {
        Self { normal, low }
    }
}

impl Default for PriorityAging {
    fn default() -> Self {
        Self::new(Duration::from_secs(5), Duration::from_secs(30))
    }
}

/// What [`Config::resolve_model`] does with a model that is not in the configuration.
///
/// The default is [`AllowWithLimits`](Self::AllowWithLimits) with [`Limits::conservative`]:
/// Groq adds models often, and a model newer than the built-in catalog should work, paced at
/// the lowest free-plan limits so that it does not draw 429s. Configure the model, or choose
/// another policy, when that is too slow or too lax.
///
/// In the native file format: `"unknown_models": "reject"`, `"unknown_models": "unlimited"`,
/// or an object of limits such as `"unknown_models": { "req_per_minute": 30, "token_per_minute": 6000 }`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnknownModelPolicy {
    /// Refuse requests to unconfigured models with [`ConfigError::UnknownModel`].
    Reject,
    /// Send them without any local limit (the server's headers and 429s still apply).
    AllowUnlimited,
    /// Send them under these limits.
    AllowWithLimits(Limits),
}

impl Default for UnknownModelPolicy {
    fn default() -> Self {
        Self::AllowWithLimits(Limits::conservative())
    }
}

/// The whole configuration of a groqchat client.
///
/// Build one with [`Config::default`] (the built-in catalog, no key), [`Config::builder`],
/// [`Config::from_env`], [`Config::load`], [`Config::from_file`] or
/// [`Config::from_json_str`]. See the [crate documentation](crate) for the file formats and
/// the precedence of files, environment and defaults.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// The API base URL (default `https://api.groq.com/openai/v1`; trailing `/` removed; a
    /// URL given without a path gets [`API_PATH`](Self::API_PATH) appended).
    pub base_url: String,
    /// The API key, if any. A model may override it.
    pub api_key: Option<ApiKey>,
    /// The configured models by id.
    pub models: BTreeMap<String, ModelConfig>,
    /// The completion allowance charged against token limits for a request that sets no
    /// `max_completion_tokens`, unless its model overrides it
    /// (default [`Config::DEFAULT_COMPLETION_TOKENS`]).
    pub default_completion_tokens: u32,
    /// The priority classes' aging delays.
    pub priority_aging: PriorityAging,
    /// What to do with models not in [`models`](Self::models).
    pub unknown_models: UnknownModelPolicy,
    /// The timeout of one HTTP attempt (default 60 s, as in Groq's official SDKs).
    pub request_timeout: Duration,
    /// How many times a failed request is retried (default 2, as in Groq's official SDKs).
    pub max_retries: u32,
    /// The longest a streamed reply may run, from its head to its last chunk (default
    /// [`Config::DEFAULT_STREAM_TIMEOUT`], 10 minutes). Key `stream_timeout`.
    pub stream_timeout: Duration,
    /// The longest a streamed reply may go without a data event; comments and keep-alives do
    /// not count (default [`Config::DEFAULT_STREAM_IDLE_TIMEOUT`], 60 s). Key
    /// `stream_idle_timeout`.
    pub stream_idle_timeout: Duration,
    /// The shared limiter: where Redis is and what to do when it cannot be reached (keys
    /// `redis_url`, `redis_namespace`, `redis_unreachable`; environment `GROQCHAT_REDIS_URL`).
    pub redis: crate::RedisSettings,
}

impl Default for Config {
    /// The built-in [catalog](crate::catalog), Groq's base URL, no API key and the documented
    /// defaults of every other setting.
    fn default() -> Self {
        Self {
            base_url: Self::DEFAULT_BASE_URL.to_owned(),
            api_key: None,
            models: catalog::builtin_models()
                .into_iter()
                .map(|m| (m.id.clone(), m))
                .collect(),
            default_completion_tokens: Self::DEFAULT_COMPLETION_TOKENS,
            priority_aging: PriorityAging::default(),
            unknown_models: UnknownModelPolicy::default(),
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
            max_retries: Self::DEFAULT_MAX_RETRIES,
            stream_timeout: Self::DEFAULT_STREAM_TIMEOUT,
            stream_idle_timeout: Self::DEFAULT_STREAM_IDLE_TIMEOUT,
            redis: crate::RedisSettings::default(),
        }
    }
}

/// The origin named in errors about a configuration made with [`Config::builder`].
const BUILDER_ORIGIN: &str = "Config::builder()";

impl Config {
    /// Groq's OpenAI-compatible API.
    pub const DEFAULT_BASE_URL: &'static str = "https://api.groq.com/openai/v1";
    /// The path of Groq's OpenAI-compatible API, appended to a base URL given without a path
    /// (`https://api.groq.com` → `https://api.groq.com/openai/v1`), as the official SDKs do.
    pub const API_PATH: &'static str = "/openai/v1";
    /// The default completion allowance: 1,024 tokens, a typical reply. Large enough that most
    /// replies fit the reservation (the excess is refunded once `usage` arrives), small enough
    /// that a 6,000 TPM free-plan model still admits several requests at once.
    pub const DEFAULT_COMPLETION_TOKENS: u32 = 1_024;
    /// 60 seconds.
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
    /// The default longest run of a streamed reply: 10 minutes.
    pub const DEFAULT_STREAM_TIMEOUT: Duration = Duration::from_secs(600);
    /// The default longest silence (no data event) of a streamed reply: 60 s.
    pub const DEFAULT_STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
    /// 2 retries.
    pub const DEFAULT_MAX_RETRIES: u32 = 2;
    /// The environment variable holding the API key.
    pub const ENV_API_KEY: &'static str = "GROQ_API_KEY";
    /// The environment variable holding the base URL.
    pub const ENV_BASE_URL: &'static str = "GROQ_BASE_URL";
    /// The environment variable naming a configuration file.
    pub const ENV_CONFIG: &'static str = "GROQ_CONFIG";
    /// The environment variable holding the Redis URL of the shared limiter.
    pub const ENV_REDIS_URL: &'static str = crate::redis::ENV_REDIS_URL;

    /// A builder starting from [`Config::default`].
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder {
            config: Self::default(),
        }
    }

    /// Loads from the process environment: the file named by `GROQ_CONFIG` (if set) over
    /// `GROQ_API_KEY` / `GROQ_BASE_URL` over the defaults. See the [crate docs](crate).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_env_with(process_env)
    }

    /// [`Config::from_env`] reading variables through `lookup` instead of the process
    /// environment (for tests and for programs with their own settings source). `lookup`
    /// returns `None` for an unset variable; an empty or blank value counts as unset.
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::load_with(None, lookup)
    }

    /// Loads `file` if given, else the file named by `GROQ_CONFIG` if set, over
    /// `GROQ_API_KEY` / `GROQ_BASE_URL` over the defaults.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with(file, process_env)
    }

    /// [`Config::load`] reading variables through `lookup`.
    pub fn load_with(
        file: Option<&Path>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let mut config = Self::default();
        if let Some(key) = get(Self::ENV_API_KEY) {
            let origin = format!("environment variable {}", Self::ENV_API_KEY);
            let key = ApiKey::new(key.trim());
            check_api_key(At::top(&origin), Self::ENV_API_KEY, &key)?;
            config.api_key = Some(key);
        }
        if let Some(url) = get(Self::ENV_BASE_URL) {
            let origin = format!("environment variable {}", Self::ENV_BASE_URL);
            let url = normalize_url(&url);
            check_base_url(At::top(&origin), Self::ENV_BASE_URL, &url)?;
            config.base_url = url;
        }
        if let Some(url) = get(Self::ENV_REDIS_URL) {
            let origin = format!("environment variable {}", Self::ENV_REDIS_URL);
            let url = crate::redis::check_url(At::top(&origin), Self::ENV_REDIS_URL, &url)?;
            config.redis.url = Some(url);
        }
        let path = file
            .map(Path::to_path_buf)
            .or_else(|| get(Self::ENV_CONFIG).map(|p| PathBuf::from(p.trim())));
        if let Some(path) = path {
            read_file(&path)?.apply_to(&mut config);
        }
        Ok(config)
    }

    /// Loads a file (either format) over the defaults. The environment is not consulted;
    /// use [`Config::load`] for file > environment > defaults.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        read_file(path.as_ref())?.apply_to(&mut config);
        Ok(config)
    }

    /// Parses configuration text (either format) over the defaults. `origin` names the text
    /// in error messages (a file name, `"--config argument"`, ...).
    ///
    /// ```
    /// use groq_config::Config;
    ///
    /// let config = Config::from_json_str(
    ///     r#"{ "models": { "llama-3.1-8b-instant": { "req_per_minute": { "limit": 30, "per": "6s" } } } }"#,
    ///     "inline",
    /// )?;
    /// let rpm = config.model("llama-3.1-8b-instant").unwrap().limits.requests_per_minute.unwrap();
    /// assert_eq!(rpm.period(), std::time::Duration::from_secs(6));
    ///
    /// let err = Config::from_json_str(r#"{ "models": { "m": { "req_per_minute": 0 } } }"#, "inline")
    ///     .unwrap_err();
    /// assert_eq!(err.model(), Some("m"));
    /// assert_eq!(err.key(), Some("req_per_minute"));
    /// # Ok::<(), groq_config::ConfigError>(())
    /// ```
    pub fn from_json_str(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        format::parse(text, origin)?.apply_to(&mut config);
        Ok(config)
    }

    /// The configured model `id`, if any (no unknown-model policy applied).
    pub fn model(&self, id: &str) -> Option<&ModelConfig> {
        self.models.get(id)
    }

    /// The configuration to use for model `id`: its entry if configured, otherwise what the
    /// [`UnknownModelPolicy`] says (a model with the policy's limits and nothing else known,
    /// or [`ConfigError::UnknownModel`]).
    pub fn resolve_model(&self, id: &str) -> Result<Cow<'_, ModelConfig>, ConfigError> {
        if let Some(model) = self.models.get(id) {
            return Ok(Cow::Borrowed(model));
        }
        if id.trim().is_empty() {
            return Err(At::top("the request").invalid(
                "model",
                format!("{id:?}"),
                "a model id such as \"llama-3.1-8b-instant\"",
            ));
        }
        match &self.unknown_models {
            UnknownModelPolicy::Reject => Err(ConfigError::UnknownModel {
                model: id.to_owned(),
                configured: self.models.keys().cloned().collect(),
            }),
            UnknownModelPolicy::AllowUnlimited => Ok(Cow::Owned(ModelConfig::new(id))),
            UnknownModelPolicy::AllowWithLimits(limits) => {
                Ok(Cow::Owned(ModelConfig::new(id).with_limits(limits.clone())))
            }
        }
    }

    /// The base URL for `model`: its own, else the configuration's.
    pub fn base_url_for<'a>(&'a self, model: &'a ModelConfig) -> &'a str {
        model.base_url.as_deref().unwrap_or(&self.base_url)
    }

    /// The API key for `model`: its own, else the configuration's, else none.
    pub fn api_key_for<'a>(&'a self, model: &'a ModelConfig) -> Option<&'a ApiKey> {
        model.api_key.as_ref().or(self.api_key.as_ref())
    }

    /// The completion allowance for a request to `model` that sets no maximum: the model's
    /// default, else [`default_completion_tokens`](Self::default_completion_tokens), never more
    /// than the model's `max_completion_tokens`.
    pub fn completion_allowance(&self, model: &ModelConfig) -> u32 {
        let allowance = model
            .default_completion_tokens
            .unwrap_or(self.default_completion_tokens);
        model
            .max_completion_tokens
            .map_or(allowance, |max| allowance.min(max))
    }

    /// Checks every invariant the loaders check. Needed only after changing the public fields
    /// directly; [`ConfigBuilder::build`] and the loaders validate already.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_at(BUILDER_ORIGIN)
    }

    fn validate_at(&self, origin: &str) -> Result<(), ConfigError> {
        let at = At::top(origin);
        check_base_url(at, "base_url", &self.base_url)?;
        if let Some(key) = &self.api_key {
            check_api_key(at, "api_key", key)?;
        }
        if self.default_completion_tokens == 0 {
            return Err(at.invalid(
                "default_completion_tokens",
                "0",
                "a positive number of tokens",
            ));
        }
        check_aging(at, &self.priority_aging)?;
        if let UnknownModelPolicy::AllowWithLimits(limits) = &self.unknown_models {
            check_limits(at, "unknown_models", limits)?;
        }
        for (key, timeout) in [
            ("request_timeout", self.request_timeout),
            ("stream_timeout", self.stream_timeout),
            ("stream_idle_timeout", self.stream_idle_timeout),
        ] {
            if timeout.is_zero() {
                return Err(at.invalid(key, "0s", "a duration longer than zero"));
            }
        }
        for (id, model) in &self.models {
            if *id != model.id {
                return Err(at.model(id).invalid(
                    "id",
                    format!("{:?}", model.id),
                    "the same id as the key of the entry in `models`",
                ));
            }
            check_model(at.model(id), model)?;
        }
        Ok(())
    }

    /// The configuration in the native JSON format, pretty-printed, such that
    /// [`Config::from_json_str`] reads back an equal `Config`.
    ///
    /// **It contains the API keys in full** (see [`ApiKey`]): write it only to files the
    /// user owns. Models identical to the built-in catalog are left out while the whole
    /// catalog is present (`"builtin_catalog": true`); otherwise every model is written and
    /// `"builtin_catalog"` is `false`.
    pub fn to_json_pretty(&self) -> String {
        format!("{:#}", format::to_value(self))
    }
}

/// Writes the native format, the same as [`Config::to_json_pretty`] (API keys in full).
impl serde::Serialize for Config {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        format::to_value(self).serialize(serializer)
    }
}

/// Builds a [`Config`] from the defaults, validating in [`build`](Self::build).
///
/// ```
/// use groq_config::{Config, Limits, ModelConfig, Rate, UnknownModelPolicy};
///
/// let config = Config::builder()
///     .api_key("gsk_example_key_0000")
///     .clear_models()
///     .model(ModelConfig::new("llama-3.1-8b-instant")
///         .with_limits(Limits::default().with_requests_per_minute(Rate::per_minute(30))))
///     .unknown_models(UnknownModelPolicy::Reject)
///     .build()?;
/// assert!(config.resolve_model("other-model").is_err());
/// # Ok::<(), groq_config::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ConfigBuilder {
    config: Config,
}

impl ConfigBuilder {
    /// Sets the base URL (a trailing `/` is removed; without a path, `/openai/v1` is
    /// appended).
    #[must_use]
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.config.base_url = normalize_url(&base_url.into());
        self
    }

    /// Sets the API key.
    #[must_use]
    pub fn api_key(mut self, api_key: impl Into<ApiKey>) -> Self {
        self.config.api_key = Some(api_key.into());
        self
    }

    /// Adds a model, replacing any model with the same id.
    #[must_use]
    pub fn model(mut self, model: ModelConfig) -> Self {
        self.config.models.insert(model.id.clone(), model);
        self
    }

    /// Removes a model (for instance one of the built-in catalog).
    #[must_use]
    pub fn remove_model(mut self, id: &str) -> Self {
        self.config.models.remove(id);
        self
    }

    /// Removes every model, including the built-in catalog.
    #[must_use]
    pub fn clear_models(mut self) -> Self {
        self.config.models.clear();
        self
    }

    /// Sets the default completion allowance (must be positive).
    #[must_use]
    pub fn default_completion_tokens(mut self, tokens: u32) -> Self {
        self.config.default_completion_tokens = tokens;
        self
    }

    /// Sets the priority aging delays.
    #[must_use]
    pub fn priority_aging(mut self, aging: PriorityAging) -> Self {
        self.config.priority_aging = aging;
        self
    }

    /// Sets the unknown-model policy.
    #[must_use]
    pub fn unknown_models(mut self, policy: UnknownModelPolicy) -> Self {
        self.config.unknown_models = policy;
        self
    }

    /// Sets the timeout of one HTTP attempt (must be longer than zero).
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.config.request_timeout = timeout;
        self
    }

    /// Sets the longest run of a streamed reply (must be longer than zero).
    #[must_use]
    pub fn stream_timeout(mut self, timeout: Duration) -> Self {
        self.config.stream_timeout = timeout;
        self
    }

    /// Sets the longest silence of a streamed reply (must be longer than zero).
    #[must_use]
    pub fn stream_idle_timeout(mut self, timeout: Duration) -> Self {
        self.config.stream_idle_timeout = timeout;
        self
    }

    /// Sets the number of retries.
    #[must_use]
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.config.max_retries = retries;
        self
    }

    /// Shares the quota through the Redis at `url` (see [`RedisSettings`](crate::RedisSettings)).
    #[must_use]
    pub fn redis_url(mut self, url: impl Into<String>) -> Self {
        self.config.redis.url = Some(url.into());
        self
    }

    /// Validates and returns the configuration.
    pub fn build(self) -> Result<Config, ConfigError> {
        self.config.validate_at(BUILDER_ORIGIN)?;
        Ok(self.config)
    }
}

/// What one configuration file says; applied over a [`Config`] (file > environment > defaults).
#[derive(Debug, Default)]
pub(crate) struct FileLayer {
    pub(crate) base_url: Option<String>,
    pub(crate) api_key: Option<ApiKey>,
    pub(crate) default_completion_tokens: Option<u32>,
    pub(crate) priority_aging: Option<PriorityAging>,
    pub(crate) unknown_models: Option<UnknownModelPolicy>,
    pub(crate) request_timeout: Option<Duration>,
    pub(crate) max_retries: Option<u32>,
    pub(crate) stream_timeout: Option<Duration>,
    pub(crate) stream_idle_timeout: Option<Duration>,
    /// The `redis_*` keys, when any is present.
    pub(crate) redis: Option<crate::RedisSettings>,
    /// `false` drops the built-in catalog before the file's models are added.
    pub(crate) builtin_catalog: bool,
    pub(crate) models: Vec<ModelConfig>,
}

impl FileLayer {
    fn apply_to(self, config: &mut Config) {
        fn set<T>(slot: &mut T, value: Option<T>) {
            if let Some(value) = value {
                *slot = value;
            }
        }
        set(&mut config.base_url, self.base_url);
        if self.api_key.is_some() {
            config.api_key = self.api_key;
        }
        set(
            &mut config.default_completion_tokens,
            self.default_completion_tokens,
        );
        set(&mut config.priority_aging, self.priority_aging);
        set(&mut config.unknown_models, self.unknown_models);
        set(&mut config.request_timeout, self.request_timeout);
        set(&mut config.max_retries, self.max_retries);
        set(&mut config.stream_timeout, self.stream_timeout);
        set(&mut config.stream_idle_timeout, self.stream_idle_timeout);
        if let Some(redis) = self.redis {
            let url = redis.url.or(config.redis.url.take());
            config.redis = crate::RedisSettings { url, ..redis };
        }
        if !self.builtin_catalog {
            config.models.clear();
        }
        for model in self.models {
            config.models.insert(model.id.clone(), model);
        }
    }
}

fn process_env(name: &str) -> Option<String> {
    std::env::var_os(name).map(|value| value.to_string_lossy().into_owned())
}

fn read_file(path: &Path) -> Result<FileLayer, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    format::parse(&text, &path.display().to_string())
}

/// Removes trailing slashes and surrounding whitespace, and reads a URL without a path as the
/// official SDKs do: `https://api.groq.com` means `https://api.groq.com/openai/v1`. A URL with
/// a path is kept as given.
pub(crate) fn normalize_url(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    let after_scheme = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match after_scheme {
        Some(rest) if !rest.is_empty() && !rest.contains(['/', '?', '#']) => {
            format!("{url}{}", Config::API_PATH)
        }
        _ => url.to_owned(),
    }
}

pub(crate) fn check_base_url(at: At<'_>, key: &str, url: &str) -> Result<(), ConfigError> {
    let host = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let well_formed = host.is_some_and(|h| !h.is_empty() && !h.starts_with('/'))
        && url.bytes().all(|b| b.is_ascii_graphic());
    if well_formed {
        Ok(())
    } else {
        Err(at.invalid(
            key,
            format!("{url:?}"),
            "an http:// or https:// URL without spaces, such as \"https://api.groq.com/openai/v1\"",
        ))
    }
}

pub(crate) fn check_api_key(at: At<'_>, key: &str, api_key: &ApiKey) -> Result<(), ConfigError> {
    match api_key.problem() {
        None => Ok(()),
        Some(problem) => Err(at.invalid(
            key,
            format!("{api_key} ({problem})"),
            "a Groq API key (printable ASCII without spaces, like gsk_…)",
        )),
    }
}

pub(crate) fn check_aging(at: At<'_>, aging: &PriorityAging) -> Result<(), ConfigError> {
    if aging.normal > aging.low {
        return Err(at.invalid(
            "priority_aging.low",
            crate::duration::format(aging.low),
            &format!(
                "a delay at least as long as priority_aging.normal ({}), so that low priority never outranks normal",
                crate::duration::format(aging.normal)
            ),
        ));
    }
    Ok(())
}

fn check_limits(at: At<'_>, key: &str, limits: &Limits) -> Result<(), ConfigError> {
    if limits.max_in_flight == Some(0) {
        return Err(at.invalid(&format!("{key}.max_in_flight"), "0", format::COUNT_EXPECTED));
    }
    Ok(())
}

/// The checks of one model entry that concern more than one value's type.
pub(crate) fn check_model(at: At<'_>, model: &ModelConfig) -> Result<(), ConfigError> {
    let id = &model.id;
    if id.trim().is_empty() || id.trim() != id || id.chars().any(char::is_control) {
        return Err(at.invalid(
            "id",
            format!("{id:?}"),
            "a non-empty model id without surrounding spaces, such as \"llama-3.1-8b-instant\"",
        ));
    }
    for (key, value) in [
        ("context_window", model.context_window),
        ("max_completion_tokens", model.max_completion_tokens),
        ("default_completion_tokens", model.default_completion_tokens),
        ("max_in_flight", model.limits.max_in_flight),
    ] {
        if value == Some(0) {
            return Err(at.invalid(key, "0", format::COUNT_EXPECTED));
        }
    }
    // Each value that must not exceed another, with the other's name.
    for (key, value, bound, bound_name) in [
        (
            "max_completion_tokens",
            model.max_completion_tokens,
            model.context_window,
            "the context window",
        ),
        (
            "default_completion_tokens",
            model.default_completion_tokens,
            model.max_completion_tokens,
            "max_completion_tokens",
        ),
        (
            "default_completion_tokens",
            model.default_completion_tokens,
            model.context_window,
            "the context window",
        ),
    ] {
        if let (Some(value), Some(bound)) = (value, bound)
            && value > bound
        {
            return Err(at.invalid(
                key,
                value.to_string(),
                &format!("at most {bound_name} ({bound})"),
            ));
        }
    }
    if let Some(url) = &model.base_url {
        check_base_url(at, "base_url", url)?;
    }
    if let Some(key) = &model.api_key {
        check_api_key(at, "api_key", key)?;
    }
    Ok(())
}
