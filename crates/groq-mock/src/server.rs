//! [`MockServerBuilder`] and the running [`MockServer`].

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::engine::{Engine, EngineConfig};
use crate::error::MockError;
use crate::faults::Faults;
use crate::http::{API_PREFIX, handle};
use crate::limits::MockLimits;
use crate::stats::MockStats;

/// How long a graceful shutdown waits for responses in progress.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Configures and starts a [`MockServer`]. Create it with [`MockServer::builder`].
///
/// Defaults: bound to `127.0.0.1:0` (any free port), any non-empty API key accepted, the
/// built-in catalog's models with their free-plan limits (when no model is added), real time
/// (a minute lasts 60 s), replies of 16 tokens, a completion budget of 1,024 tokens for
/// requests that set no `max_completion_tokens`, streamed events sent at once, no faults,
/// seed 0.
#[derive(Clone)]
pub struct MockServerBuilder {
    api_keys: Vec<String>,
    models: BTreeMap<String, MockLimits>,
    minute: Duration,
    completion_tokens: u64,
    default_budget: u64,
    stream_interval: Duration,
    faults: Faults,
    seed: u64,
    addr: SocketAddr,
    organization: String,
    capture_bodies: bool,
    prompt_cache: bool,
}

impl fmt::Debug for MockServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockServerBuilder")
            .field(
                "api_keys",
                &format_args!("<{} redacted>", self.api_keys.len()),
            )
            .field("models", &self.models)
            .field("minute", &self.minute)
            .field("completion_tokens", &self.completion_tokens)
            .field("default_budget", &self.default_budget)
            .field("stream_interval", &self.stream_interval)
            .field("faults", &self.faults)
            .field("seed", &self.seed)
            .field("addr", &self.addr)
            .field("organization", &self.organization)
            .field("prompt_cache", &self.prompt_cache)
            .finish()
    }
}

impl Default for MockServerBuilder {
    fn default() -> Self {
        Self {
            api_keys: Vec::new(),
            models: BTreeMap::new(),
            minute: Duration::from_secs(60),
            completion_tokens: 16,
            default_budget: 1024,
            stream_interval: Duration::ZERO,
            faults: Faults::none(),
            seed: 0,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            organization: "org_mock".to_owned(),
            capture_bodies: false,
            prompt_cache: false,
        }
    }
}

impl MockServerBuilder {
    /// Accepts `key` as an API key. Once any key is added, only the added keys are accepted;
    /// with none, any non-empty bearer token is. Each key has its own buckets.
    #[must_use]
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_keys.push(key.into());
        self
    }

    /// Serves `model` with `limits`. Once any model is added, only the added models are
    /// served; with none, the built-in catalog's are.
    #[must_use]
    pub fn model(mut self, model: impl Into<String>, limits: MockLimits) -> Self {
        self.models.insert(model.into(), limits);
        self
    }

    /// Serves every `(model, limits)` pair, e.g. from [`MockLimits::load_file`].
    #[must_use]
    pub fn models(mut self, models: impl IntoIterator<Item = (String, MockLimits)>) -> Self {
        self.models.extend(models);
        self
    }

    /// Serves the built-in catalog's models (`groq_config::catalog`) with their free-plan
    /// limits, in addition to those already added.
    #[must_use]
    pub fn catalog_models(mut self) -> Self {
        for (id, limits) in MockLimits::catalog() {
            self.models.entry(id).or_insert(limits);
        }
        self
    }

    /// How long a "minute" lasts (a "day" lasts 1,440 of them): the time scale. Every
    /// per-minute and per-day bucket refills over the scaled period, and the waits the
    /// server reports are in real time. Default 60 s.
    #[must_use]
    pub fn minute_length(mut self, minute: Duration) -> Self {
        self.minute = minute;
        self
    }

    /// The length of replies, in tokens, when a request does not say
    /// (`mock_completion_tokens`). Default 16.
    #[must_use]
    pub fn completion_tokens(mut self, tokens: u64) -> Self {
        self.completion_tokens = tokens;
        self
    }

    /// The completion budget charged for a request that sets neither
    /// `max_completion_tokens` nor `max_tokens`. Default 1,024.
    #[must_use]
    pub fn default_completion_budget(mut self, tokens: u64) -> Self {
        self.default_budget = tokens;
        self
    }

    /// The pause between the events of a streamed reply, so streams take time like Groq's
    /// (and can be cancelled midway). Default zero: all events at once.
    #[must_use]
    pub fn stream_interval(mut self, interval: Duration) -> Self {
        self.stream_interval = interval;
        self
    }

    /// The faults to inject.
    #[must_use]
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Extra latency before each chat response, uniform in `[min, max]` (a fault setting).
    #[must_use]
    pub fn latency(mut self, min: Duration, max: Duration) -> Self {
        self.faults.latency = Some((min, max));
        self
    }

    /// The seed of fault injection and ids.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The address to listen on. Default `127.0.0.1:0`.
    #[must_use]
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Keeps the exact body of every `POST /chat/completions` received (accepted or not),
    /// in [`MockStats::bodies`](crate::MockStats::bodies). Off by default: long runs would
    /// hold every body.
    pub fn capture_bodies(mut self, capture: bool) -> Self {
        self.capture_bodies = capture;
        self
    }

    /// The organization named in rate-limit messages. Default `org_mock`.
    #[must_use]
    pub fn organization(mut self, organization: impl Into<String>) -> Self {
        self.organization = organization.into();
        self
    }

    /// Whether the prompt cache is on (off by default, so that identical requests cost the
    /// same): a request whose leading messages repeat
    /// the leading messages of an earlier request by the same key to the same model reports
    /// their tokens as `usage.prompt_tokens_details.cached_tokens`, and those tokens are given
    /// back to the TPM, TPD and ITPM buckets once the request has been processed, as Groq
    /// does (cached tokens do not count against its limits).
    #[must_use]
    pub fn prompt_cache(mut self, enabled: bool) -> Self {
        self.prompt_cache = enabled;
        self
    }

    /// Validates the settings, binds the socket and starts serving on the current tokio
    /// runtime.
    pub async fn start(self) -> Result<MockServer, MockError> {
        if self.minute.is_zero() {
            return Err(MockError::InvalidConfig(
                "the minute length (time scale) must be longer than zero".to_owned(),
            ));
        }
        self.faults.validate()?;
        let mut models = self.models;
        if models.is_empty() {
            models = MockLimits::catalog().into_iter().collect();
        }
        for (model, limits) in &models {
            limits.validate(model)?;
        }
        let listener = TcpListener::bind(self.addr)
            .await
            .map_err(|source| MockError::Bind {
                addr: self.addr,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| MockError::Bind {
            addr: self.addr,
            source,
        })?;
        let engine = Arc::new(Engine::new(EngineConfig {
            api_keys: self.api_keys,
            models,
            minute: self.minute,
            completion_tokens: self.completion_tokens,
            default_budget: self.default_budget,
            stream_interval: self.stream_interval,
            faults: self.faults,
            seed: self.seed,
            organization: self.organization,
            capture_bodies: self.capture_bodies,
            start_unix: unix_time(),
            prompt_cache: self.prompt_cache,
        }));
        let (shutdown, signal) = watch::channel(false);
        let task = tokio::spawn(serve(listener, Arc::clone(&engine), signal));
        Ok(MockServer {
            addr,
            engine,
            shutdown,
            task: Some(task),
        })
    }
}

/// Wall-clock seconds since the Unix epoch, read once at start for the `created` fields.
#[allow(clippy::disallowed_methods)]
fn unix_time() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

async fn serve(listener: TcpListener, engine: Arc<Engine>, mut signal: watch::Receiver<bool>) {
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of descriptors or a connection reset before accept: keep serving.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let engine = Arc::clone(&engine);
                let service = service_fn(move |request| handle(Arc::clone(&engine), request));
                let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    // Errors here are client disconnects and injected drops.
                    let _ = connection.await;
                });
            }
            _ = signal.changed() => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {}
    }
}

/// A running emulator. Dropping it stops the server (the port is released at once;
/// responses in progress finish in the background); [`MockServer::shutdown`] also waits for
/// them.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), groq_mock::MockError> {
/// use groq_mock::{MockLimits, MockServer};
/// use std::time::Duration;
///
/// let server = MockServer::builder()
///     .api_key("gsk_test")
///     .model("llama-3.1-8b-instant", MockLimits::unlimited().rpm(30).tpm(6_000))
///     .minute_length(Duration::from_secs(2))
///     .start()
///     .await?;
/// assert!(server.base_url().ends_with("/openai/v1"));
/// assert_eq!(server.stats().responses, 0);
/// server.shutdown().await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct MockServer {
    addr: SocketAddr,
    engine: Arc<Engine>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl MockServer {
    /// A builder with the defaults described on [`MockServerBuilder`].
    pub fn builder() -> MockServerBuilder {
        MockServerBuilder::default()
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API's base URL, `http://127.0.0.1:PORT/openai/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}{API_PREFIX}", self.addr)
    }

    /// The URL of the stats endpoint, `http://127.0.0.1:PORT/_mock/stats`.
    pub fn stats_url(&self) -> String {
        format!("http://{}/_mock/stats", self.addr)
    }

    /// A snapshot of the counters and the audit.
    pub fn stats(&self) -> MockStats {
        self.engine.stats()
    }

    /// The models served and their limits.
    pub fn models(&self) -> BTreeMap<String, MockLimits> {
        self.engine.models()
    }

    /// Changes `model`'s limits (or adds the model) while the server runs. Usage already
    /// counted in each bucket is kept: a bucket that had 400 tokens used still has 400 used
    /// under the new limit.
    pub fn set_limits(&self, model: &str, limits: MockLimits) -> Result<(), MockError> {
        limits.validate(model)?;
        self.engine.set_limits(model, limits);
        Ok(())
    }

    /// Stops accepting connections and waits (up to 5 s) for responses in progress.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}
