//! The listener: connections, their limits, and the graceful shutdown.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use groq_client::{GroqClient, ShutdownMode};
use groq_config::Config;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinHandle;

use crate::GatewayError;
use crate::service::{self, PassThroughBuilder, Shared};
use crate::settings::GatewaySettings;

/// Builds a [`Gateway`]: the pipeline it forwards through and its settings.
#[must_use]
pub struct GatewayBuilder {
    client: GroqClient,
    settings: GatewaySettings,
    pass_through: Option<PassThroughBuilder>,
}

impl std::fmt::Debug for GatewayBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayBuilder")
            .field("client", &self.client)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl GatewayBuilder {
    /// Sets the settings.
    pub fn settings(mut self, settings: GatewaySettings) -> Self {
        self.settings = settings;
        self
    }

    /// How a pipeline is built for a pass-through key (used in pass-through mode): given the
    /// gateway's configuration and the client's key. Default: a [`GroqClient`] with that
    /// configuration and key, the gateway's queue bound, rejecting when full.
    pub fn pass_through_builder(
        mut self,
        build: impl Fn(Config, &str) -> Result<GroqClient, groq_client::Error> + Send + Sync + 'static,
    ) -> Self {
        self.pass_through = Some(Arc::new(build));
        self
    }

    /// Binds the address and starts serving on the current tokio runtime.
    ///
    /// Refuses a non-loopback address when no gateway keys are configured
    /// ([`GatewayError::Unprotected`]).
    // The pass-through builder returns the client's own error type.
    #[allow(clippy::result_large_err)]
    pub async fn start(self) -> Result<Gateway, GatewayError> {
        let Self {
            client,
            settings,
            pass_through,
        } = self;
        let addr = settings.addr;
        if settings.keys.is_empty() && !addr.ip().is_loopback() {
            return Err(GatewayError::Unprotected { addr });
        }
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| GatewayError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| GatewayError::Bind { addr, source })?;
        let bound = settings.queue_bound;
        let pass_through = pass_through.or_else(|| {
            let build: PassThroughBuilder = Arc::new(move |config: Config, key: &str| {
                GroqClient::builder()
                    .config(config)
                    .api_key(key)
                    .lane_capacity(bound)
                    .when_full(groq_client::WhenFull::Reject)
                    .build()
            });
            settings.pass_through.then_some(build)
        });
        let shared = Shared::new(client, settings, pass_through);
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(serve(listener, Arc::clone(&shared), stopped));
        tracing::info!(target: "groq_gateway::access", addr = %local, "gateway listening");
        Ok(Gateway {
            addr: local,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }
}

/// A running gateway: serves until [`shutdown`](Self::shutdown) (or until dropped, which
/// stops it at once).
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use groq_gateway::{Gateway, GatewaySettings};
///
/// let client = groq_client::GroqClient::from_env()?;
/// let gateway = Gateway::builder(client)
///     .settings(GatewaySettings::default())
///     .start()
///     .await?;
/// println!("{}", gateway.base_url()); // http://127.0.0.1:8080/openai/v1
/// gateway.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Gateway {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<DrainReport>>,
}

/// What a graceful shutdown achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DrainReport {
    /// Whether every connection finished its requests within the drain timeout.
    pub drained: bool,
}

impl Gateway {
    /// A builder forwarding through `client` (whose configuration holds the Groq key).
    ///
    /// The client should bound its lanes ([`GroqClientBuilder::lane_capacity`] with
    /// [`WhenFull::Reject`](groq_client::WhenFull::Reject)) for the queue bound to answer
    /// 429 `queue_full`; [`Gateway::client`] builds one so.
    ///
    /// [`GroqClientBuilder::lane_capacity`]: groq_client::GroqClientBuilder::lane_capacity
    pub fn builder(client: GroqClient) -> GatewayBuilder {
        GatewayBuilder {
            client,
            settings: GatewaySettings::default(),
            pass_through: None,
        }
    }

    /// A client builder for `config` with the queue bound of `settings` (requests beyond it
    /// are refused rather than waited for).
    pub fn client(config: Config, settings: &GatewaySettings) -> groq_client::GroqClientBuilder {
        GroqClient::builder()
            .config(config)
            .lane_capacity(settings.queue_bound)
            .when_full(groq_client::WhenFull::Reject)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL for OpenAI-style clients: `http://ADDR/openai/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/openai/v1", self.addr)
    }

    /// The pipeline it forwards through.
    pub fn client_handle(&self) -> &GroqClient {
        &self.shared.client
    }

    /// The Prometheus text `GET /metrics` serves now.
    pub fn metrics_text(&self) -> String {
        self.shared.metrics.render(&self.shared.clients())
    }

    /// Graceful shutdown: stops accepting connections, lets every request in flight or
    /// queued finish (streams included) within the drain timeout, then closes what is left
    /// and drains the pipelines.
    pub async fn shutdown(mut self) -> DrainReport {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let report = match self.task.take() {
            Some(task) => task.await.unwrap_or(DrainReport { drained: false }),
            None => DrainReport { drained: true },
        };
        for client in self.shared.clients() {
            let _ = tokio::time::timeout(
                Duration::from_secs(1),
                client.shutdown(ShutdownMode::Cancel),
            )
            .await;
        }
        report
    }

    /// Serves until `stop` completes (for a service: a termination signal, such as
    /// `groq_mock::wait_for_termination` or `tokio::signal::ctrl_c`), then shuts down
    /// gracefully.
    pub async fn run_until(self, stop: impl Future<Output = ()>) -> DrainReport {
        stop.await;
        tracing::info!(target: "groq_gateway::access", "shutting down: draining");
        self.shutdown().await
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Connections open per IP address.
#[derive(Debug, Default)]
struct PerIp(Mutex<HashMap<IpAddr, usize>>);

impl PerIp {
    fn enter(self: &Arc<Self>, ip: IpAddr, limit: usize) -> Option<IpSlot> {
        let mut open = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(ip).or_default();
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(IpSlot(Arc::clone(self), ip))
    }
}

struct IpSlot(Arc<PerIp>, IpAddr);

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut open = self.0.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.1) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.1);
            }
        }
    }
}

async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: oneshot::Receiver<()>,
) -> DrainReport {
    let settings = shared.settings.clone();
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(settings.max_connections));
    let per_ip = Arc::new(PerIp::default());
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .max_buf_size(settings.max_header_bytes.max(8_192))
        .keep_alive(true);
    loop {
        let permit = tokio::select! {
            biased;
            _ = &mut stopped => break,
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            biased;
            _ = &mut stopped => break,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, peer)) = accepted else {
            // Out of descriptors or a reset before accept: keep serving.
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        let Some(ip_slot) = per_ip.enter(peer.ip(), settings.max_connections_per_ip) else {
            shared
                .metrics
                .connections_refused
                .fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        shared
            .metrics
            .connections_total
            .fetch_add(1, Ordering::Relaxed);
        shared
            .metrics
            .connections_open
            .fetch_add(1, Ordering::Relaxed);
        let state = Arc::clone(&shared);
        let service = service_fn(move |request| {
            let state = Arc::clone(&state);
            async move { Ok::<_, Infallible>(service::handle(state, request, peer).await) }
        });
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        let metrics = Arc::clone(&shared.metrics);
        tokio::spawn(async move {
            let _ = connection.await;
            metrics.connections_open.fetch_sub(1, Ordering::Relaxed);
            drop(ip_slot);
            drop(permit);
        });
    }
    drop(listener);
    let drained = tokio::time::timeout(settings.drain_timeout, graceful.shutdown())
        .await
        .is_ok();
    if !drained {
        tracing::warn!(
            target: "groq_gateway::access",
            timeout_s = settings.drain_timeout.as_secs_f64(),
            "drain timeout: closing the connections left"
        );
    }
    DrainReport { drained }
}
