//! [`HyperTransport`]: the production transport (hyper-util's pooled client over rustls).

use std::collections::HashMap;
use std::fmt;
use std::future::{Future, ready};
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http_body::{Frame, SizeHint};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;

use crate::transport::mark_sensitive_headers;
use crate::{Body, Transport, TransportError, TransportFuture};

/// Which built-in set of root certificates [`HyperTransport`] trusts.
///
/// Certificates added with [`HyperTransportBuilder::add_root_certificate_der`] or
/// [`HyperTransportBuilder::add_root_certificates_pem`] are trusted in addition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TlsRoots {
    /// Mozilla's root program, compiled in (the `webpki-roots` crate). Works the same everywhere.
    #[default]
    WebPki,
    /// The operating system's trust store, loaded when the transport is built. Needs the
    /// `native-roots` feature.
    #[cfg(feature = "native-roots")]
    Native,
    /// Only the certificates added to the builder (for example a corporate proxy's root or a
    /// test server's self-signed certificate).
    CustomOnly,
}

#[derive(Clone)]
enum ExtraRoot {
    Der(Vec<u8>),
    Pem(Vec<u8>),
}

impl fmt::Debug for ExtraRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Der(der) => write!(f, "Der({} bytes)", der.len()),
            Self::Pem(pem) => write!(f, "Pem({} bytes)", pem.len()),
        }
    }
}

/// Settings that the request path needs; the rest only matter while building.
#[derive(Debug, Clone, Copy)]
struct Limits {
    request_timeout: Option<Duration>,
    body_read_timeout: Option<Duration>,
    max_body_bytes: u64,
    allow_insecure_http: bool,
}

/// Builder for [`HyperTransport`]; see [`HyperTransport::builder`] for the defaults.
#[derive(Debug, Clone)]
#[must_use]
pub struct HyperTransportBuilder {
    connect_timeout: Option<Duration>,
    limits: Limits,
    pool_idle_timeout: Option<Duration>,
    pool_max_idle_per_host: usize,
    max_in_flight_per_host: usize,
    roots: TlsRoots,
    extra_roots: Vec<ExtraRoot>,
}

impl Default for HyperTransportBuilder {
    fn default() -> Self {
        Self {
            connect_timeout: Some(HyperTransport::DEFAULT_CONNECT_TIMEOUT),
            limits: Limits {
                request_timeout: Some(HyperTransport::DEFAULT_REQUEST_TIMEOUT),
                body_read_timeout: Some(HyperTransport::DEFAULT_BODY_READ_TIMEOUT),
                max_body_bytes: HyperTransport::DEFAULT_MAX_BODY_BYTES,
                allow_insecure_http: false,
            },
            pool_idle_timeout: Some(HyperTransport::DEFAULT_POOL_IDLE_TIMEOUT),
            pool_max_idle_per_host: HyperTransport::DEFAULT_POOL_MAX_IDLE_PER_HOST,
            max_in_flight_per_host: default_in_flight_per_host(open_files_limit()),
            roots: TlsRoots::default(),
            extra_roots: Vec::new(),
        }
    }
}

impl HyperTransportBuilder {
    /// Bounds the TCP connect (`None`: no bound beyond the operating system's). The TLS
    /// handshake is bounded by the request timeout.
    pub fn connect_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.connect_timeout = timeout.into();
        self
    }

    /// Bounds the time from sending a request to receiving the whole response head, including
    /// connecting and the TLS handshake (`None`: unbounded). Reading the body is bounded
    /// separately by [`body_read_timeout`](Self::body_read_timeout), so long streams are fine.
    pub fn request_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.limits.request_timeout = timeout.into();
        self
    }

    /// Bounds how long a body read may wait for the next chunk (`None`: unbounded). An idle
    /// stream fails with a retryable timeout error instead of hanging.
    pub fn body_read_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.limits.body_read_timeout = timeout.into();
        self
    }

    /// Caps the size of one response body, streams included. The cap is enforced while the
    /// body is read; a larger body fails with
    /// [`is_body_too_large`](TransportError::is_body_too_large).
    pub fn max_body_bytes(mut self, limit: u64) -> Self {
        self.limits.max_body_bytes = limit;
        self
    }

    /// Closes pooled connections idle for longer than this (`None`: keep them until the server
    /// closes them).
    pub fn pool_idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.pool_idle_timeout = timeout.into();
        self
    }

    /// Keeps at most this many idle connections per host (0 disables keep-alive reuse; default
    /// [`DEFAULT_POOL_MAX_IDLE_PER_HOST`](HyperTransport::DEFAULT_POOL_MAX_IDLE_PER_HOST)).
    pub fn pool_max_idle_per_host(mut self, max: usize) -> Self {
        self.pool_max_idle_per_host = max;
        self
    }

    /// Caps the requests in flight to one host (`host:port`), from sending until the body is
    /// read or dropped (at least 1; default
    /// [`DEFAULT_MAX_IN_FLIGHT_PER_HOST`](HyperTransport::DEFAULT_MAX_IN_FLIGHT_PER_HOST)).
    /// A request beyond the cap waits for a slot: reaching the cap queues, it never fails, so
    /// a burst of any size cannot exhaust the process's file descriptors.
    pub fn max_in_flight_per_host(mut self, max: usize) -> Self {
        self.max_in_flight_per_host = max.max(1);
        self
    }

    /// Allows plain-text `http://` requests to any host. By default `http://` is accepted only
    /// for loopback hosts (`127.0.0.0/8`, `::1`, `localhost`), so an API key never crosses a
    /// network unencrypted by accident.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.limits.allow_insecure_http = allow;
        self
    }

    /// Chooses the built-in root certificates (default: [`TlsRoots::WebPki`]).
    pub fn tls_roots(mut self, roots: TlsRoots) -> Self {
        self.roots = roots;
        self
    }

    /// Trusts one more root certificate, DER-encoded. It is parsed by
    /// [`build`](Self::build).
    pub fn add_root_certificate_der(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.extra_roots.push(ExtraRoot::Der(der.into()));
        self
    }

    /// Trusts every certificate in a PEM document (for example a corporate proxy's CA bundle).
    /// It is parsed by [`build`](Self::build), which fails if it holds no certificate.
    pub fn add_root_certificates_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.extra_roots.push(ExtraRoot::Pem(pem.into()));
        self
    }

    /// Builds the transport: loads the root certificates and sets up the connection pool.
    ///
    /// Fails when a root certificate cannot be parsed or no root certificate is left to trust.
    pub fn build(self) -> Result<HyperTransport, TransportError> {
        let roots = self.root_store()?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TransportError::config)?
            .with_root_certificates(roots)
            .with_no_client_auth();

        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(self.connect_timeout);
        let https = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);

        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(self.pool_idle_timeout)
            .pool_max_idle_per_host(self.pool_max_idle_per_host)
            .build(https);

        Ok(HyperTransport {
            client,
            limits: self.limits,
            hosts: Arc::new(HostSlots {
                per_host: self.max_in_flight_per_host,
                slots: Mutex::new(HashMap::new()),
            }),
            settings: Arc::new(self),
        })
    }

    fn root_store(&self) -> Result<RootCertStore, TransportError> {
        let mut roots = RootCertStore::empty();
        match self.roots {
            TlsRoots::WebPki => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            #[cfg(feature = "native-roots")]
            TlsRoots::Native => {
                let loaded = rustls_native_certs::load_native_certs();
                let (added, _ignored) = roots.add_parsable_certificates(loaded.certs);
                if added == 0 {
                    return Err(TransportError::config(
                        "no usable root certificate was found in the operating system's trust \
                         store; use the bundled webpki roots or add a root certificate",
                    ));
                }
            }
            TlsRoots::CustomOnly => {}
        }
        for extra in &self.extra_roots {
            match extra {
                ExtraRoot::Der(der) => roots
                    .add(CertificateDer::from(der.clone()))
                    .map_err(TransportError::config)?,
                ExtraRoot::Pem(pem) => {
                    let mut found = false;
                    for cert in CertificateDer::pem_slice_iter(pem) {
                        roots
                            .add(cert.map_err(TransportError::config)?)
                            .map_err(TransportError::config)?;
                        found = true;
                    }
                    if !found {
                        return Err(TransportError::config(
                            "the PEM document given as root certificates holds no certificate",
                        ));
                    }
                }
            }
        }
        if roots.is_empty() {
            return Err(TransportError::config(
                "no root certificate to trust: choose built-in roots or add a certificate",
            ));
        }
        Ok(roots)
    }
}

/// The process's soft limit on open files, where the platform says (`/proc/self/limits`).
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The default cap on requests in flight per host: [`HyperTransport::DEFAULT_MAX_IN_FLIGHT_PER_HOST`],
/// or half the process's open-file limit when that is lower (the other half is left for the
/// rest of the program), so that a burst queues instead of failing with "too many open files".
fn default_in_flight_per_host(open_files: Option<u64>) -> usize {
    let by_files = open_files.map_or(usize::MAX, |n| usize::try_from(n / 2).unwrap_or(usize::MAX));
    HyperTransport::DEFAULT_MAX_IN_FLIGHT_PER_HOST
        .min(by_files)
        .max(1)
}

/// The production [`Transport`]: hyper-util's pooled client over rustls.
///
/// - HTTP/1.1 and HTTP/2, chosen per connection by ALPN; keep-alive connections are pooled and
///   reused, so one instance should be shared by everything that talks to one service (it is
///   cheap to clone: clones share the pool).
/// - TLS by rustls with the *ring* provider, trusting Mozilla's roots by default
///   ([`TlsRoots`]), plus any root certificate added to the builder.
/// - A connect timeout, a timeout for the response head, an idle timeout for body reads and a
///   cap on the body size, enforced while streaming.
/// - Refuses `http://` to anything but loopback unless
///   [`allow_insecure_http`](HyperTransportBuilder::allow_insecure_http) is set, and marks the
///   `Authorization` header sensitive on every request.
///
/// It never retries and never follows redirects: retries belong to the client, guided by
/// [`RetryPolicy`](crate::RetryPolicy).
///
/// ```no_run
/// # async fn run() -> Result<(), groq_transport::TransportError> {
/// use std::time::Duration;
/// use groq_transport::{HyperTransport, Transport};
///
/// let transport = HyperTransport::builder()
///     .request_timeout(Duration::from_secs(30))
///     .max_body_bytes(8 << 20)
///     .build()?;
/// let request = http::Request::get("https://api.groq.com/openai/v1/models")
///     .header("authorization", "Bearer gsk_...")
///     .body(bytes::Bytes::new())
///     .expect("a valid request");
/// let response = transport.send(request).await?;
/// let body = response.into_body().collect_bytes(8 << 20).await?;
/// # let _ = body; Ok(()) }
/// ```
#[derive(Clone)]
pub struct HyperTransport {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    limits: Limits,
    hosts: Arc<HostSlots>,
    settings: Arc<HyperTransportBuilder>,
}

/// The per-host caps on requests in flight, shared by the clones of one transport.
#[derive(Debug)]
struct HostSlots {
    per_host: usize,
    slots: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl HostSlots {
    /// The semaphore of `host`, created on first use.
    fn of(&self, host: &str) -> Arc<Semaphore> {
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(semaphore) = slots.get(host) {
            return Arc::clone(semaphore);
        }
        let semaphore = Arc::new(Semaphore::new(self.per_host));
        slots.insert(host.to_owned(), Arc::clone(&semaphore));
        semaphore
    }
}

impl HyperTransport {
    /// Default TCP connect timeout: 10 s.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default time allowed for the response head: 60 s, as Groq's official SDKs.
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
    /// Default longest wait for the next body chunk: 60 s.
    pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);
    /// Default body size cap: 32 MiB.
    pub const DEFAULT_MAX_BODY_BYTES: u64 = 32 << 20;
    /// Default idle time before a pooled connection is closed: 90 s.
    pub const DEFAULT_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
    /// Default number of idle connections kept per host: 256.
    ///
    /// groqchat sends in bursts: a model whose bucket is full admits its whole capacity at
    /// once (30 requests on Groq's free plan, hundreds or thousands per minute on paid plans,
    /// and several models share one host), and every request of a burst is on the wire at the
    /// same time. Over HTTP/1.1 each needs its own connection; those that do not fit the idle
    /// pool are closed when their request ends, and the next burst pays a new TCP and TLS
    /// handshake (one to two round trips and some CPU) for each. 256 keeps the connections of
    /// the bursts the limits let through on one host, while bounding the idle sockets (a few
    /// tens of KiB of TLS buffers each), which the idle timeout closes after 90 s anyway.
    /// Over HTTP/2 one connection carries them all and the setting does not matter.
    pub const DEFAULT_POOL_MAX_IDLE_PER_HOST: usize = 256;
    /// Default cap on requests in flight to one host: 256, or half the process's open-file
    /// limit when that is lower.
    ///
    /// Over HTTP/1.1 every request in flight holds a connection, so a burst that a model with
    /// no limits (or a full bucket) admits at once would open one socket per request and run
    /// into the operating system's limit on open files. 256 matches the idle pool, so every
    /// connection of a full burst is kept and reused, and it stays far below the usual 1,024
    /// descriptors per process. Over HTTP/2 the requests share connections and the cap only
    /// bounds the streams.
    pub const DEFAULT_MAX_IN_FLIGHT_PER_HOST: usize = 256;

    /// A builder with the defaults: connect timeout 10 s, request timeout 60 s, body read
    /// timeout 60 s, body cap 32 MiB, pool idle timeout 90 s with up to 256 idle connections
    /// per host, at most 256 requests in flight per host, webpki roots, `http://` only to
    /// loopback.
    pub fn builder() -> HyperTransportBuilder {
        HyperTransportBuilder::default()
    }

    /// The body size cap this transport enforces.
    pub fn max_body_bytes(&self) -> u64 {
        self.limits.max_body_bytes
    }

    /// Whether this transport would send a request to `uri`, checked before anything is sent:
    /// the same error [`send`](Transport::send) would return for a plain-text `http://` URL to
    /// a host that is not loopback, or a URL without a usable scheme and host.
    ///
    /// ```
    /// use groq_transport::HyperTransport;
    ///
    /// let transport = HyperTransport::builder().build().unwrap();
    /// assert!(transport.check_url(&"https://api.groq.com/openai/v1".parse().unwrap()).is_ok());
    /// assert!(transport.check_url(&"http://127.0.0.1:8089/openai/v1".parse().unwrap()).is_ok());
    /// let refused = transport.check_url(&"http://10.255.255.1/openai/v1".parse().unwrap());
    /// assert!(refused.unwrap_err().is_insecure());
    /// ```
    pub fn check_url(&self, uri: &Uri) -> Result<(), TransportError> {
        check_destination(uri, self.limits.allow_insecure_http)
    }
}

impl fmt::Debug for HyperTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.settings;
        f.debug_struct("HyperTransport")
            .field("connect_timeout", &s.connect_timeout)
            .field("request_timeout", &s.limits.request_timeout)
            .field("body_read_timeout", &s.limits.body_read_timeout)
            .field("max_body_bytes", &s.limits.max_body_bytes)
            .field("pool_idle_timeout", &s.pool_idle_timeout)
            .field("pool_max_idle_per_host", &s.pool_max_idle_per_host)
            .field("max_in_flight_per_host", &s.max_in_flight_per_host)
            .field("allow_insecure_http", &s.limits.allow_insecure_http)
            .field("tls_roots", &s.roots)
            .field("extra_roots", &s.extra_roots.len())
            .finish()
    }
}

impl Transport for HyperTransport {
    fn send(&self, request: http::Request<Bytes>) -> TransportFuture {
        let limits = self.limits;
        if let Err(err) = check_destination(request.uri(), limits.allow_insecure_http) {
            return Box::pin(ready(Err(err)));
        }
        let (mut parts, body) = request.into_parts();
        mark_sensitive_headers(&mut parts.headers);
        // Host and port only: the authority may carry userinfo.
        let target = parts.uri.host().map(|host| match parts.uri.port_u16() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        });
        let slots = self.hosts.of(target.as_deref().unwrap_or(""));
        let client = self.client.clone();
        Box::pin(async move {
            // Wait for a slot first: the request timeout starts when the request can go.
            let permit = slots.acquire_owned().await.map_err(|_closed| {
                TransportError::config("the host's request slots were closed")
            })?;
            let pending = client.request(http::Request::from_parts(parts, Full::new(body)));
            let response = match limits.request_timeout {
                Some(after) => tokio::time::timeout(after, pending)
                    .await
                    .map_err(|_elapsed| TransportError::response_timeout(after))?,
                None => pending.await,
            }
            .map_err(|e| {
                let error = TransportError::from_client(e);
                match target {
                    Some(target) => error.with_target(target),
                    None => error,
                }
            })?;
            let (parts, incoming) = response.into_parts();
            let body = HyperBody {
                permit: Some(permit),
                inner: incoming,
                remaining: limits.max_body_bytes,
                limit: limits.max_body_bytes,
                idle: limits.body_read_timeout,
                timer: None,
                armed: false,
                done: false,
            };
            Ok(http::Response::from_parts(parts, Body::new(body)))
        })
    }
}

/// Accepts `https://` anywhere and `http://` only to loopback unless insecure HTTP is allowed.
fn check_destination(uri: &Uri, allow_insecure_http: bool) -> Result<(), TransportError> {
    let Some(host) = uri.host() else {
        return Err(TransportError::invalid_request(
            "the request URL has no host",
        ));
    };
    match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("https") => Ok(()),
        Some(s) if s.eq_ignore_ascii_case("http") => {
            if allow_insecure_http || is_loopback_host(host) {
                Ok(())
            } else {
                Err(TransportError::insecure())
            }
        }
        _ => Err(TransportError::invalid_request(
            "the request URL must use the http or https scheme",
        )),
    }
}

/// `localhost`, `127.0.0.0/8`, `::1` and IPv4-mapped loopback addresses.
fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback(),
        Ok(IpAddr::V6(v6)) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

/// A hyper response body with the size cap and the idle timeout applied while it streams.
struct HyperBody {
    /// The host slot, held until the body ends, fails or is dropped.
    permit: Option<OwnedSemaphorePermit>,
    inner: Incoming,
    remaining: u64,
    limit: u64,
    idle: Option<Duration>,
    /// The idle timer, allocated on the first wait and reused afterwards.
    timer: Option<Pin<Box<Sleep>>>,
    /// Whether the timer's deadline belongs to the current wait.
    armed: bool,
    done: bool,
}

impl HyperBody {
    fn fail(&mut self, err: TransportError) -> Poll<Option<Result<Frame<Bytes>, TransportError>>> {
        self.done = true;
        self.permit = None;
        Poll::Ready(Some(Err(err)))
    }
}

impl http_body::Body for HyperBody {
    type Data = Bytes;
    type Error = TransportError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, TransportError>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        if http_body::Body::size_hint(&this.inner).lower() > this.remaining {
            return this.fail(TransportError::body_too_large(this.limit));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.armed = false;
                if let Some(data) = frame.data_ref() {
                    let len = u64::try_from(data.len()).unwrap_or(u64::MAX);
                    if len > this.remaining {
                        return this.fail(TransportError::body_too_large(this.limit));
                    }
                    this.remaining -= len;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(err))) => this.fail(TransportError::from_body(err)),
            Poll::Ready(None) => {
                this.done = true;
                this.permit = None;
                Poll::Ready(None)
            }
            Poll::Pending => {
                let Some(idle) = this.idle else {
                    return Poll::Pending;
                };
                let deadline = tokio::time::Instant::now() + idle;
                let timer = match &mut this.timer {
                    Some(timer) => {
                        if !this.armed {
                            timer.as_mut().reset(deadline);
                        }
                        timer
                    }
                    None => this
                        .timer
                        .insert(Box::pin(tokio::time::sleep_until(deadline))),
                };
                this.armed = true;
                if timer.as_mut().poll(cx).is_ready() {
                    return this.fail(TransportError::body_idle_timeout(idle));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_host_cap_follows_the_open_file_limit() {
        assert_eq!(default_in_flight_per_host(None), 256);
        assert_eq!(default_in_flight_per_host(Some(20_000)), 256);
        assert_eq!(default_in_flight_per_host(Some(64)), 32);
        assert_eq!(default_in_flight_per_host(Some(1)), 1);
        assert!(open_files_limit().is_none_or(|n| n > 0));
    }

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[test]
    fn plain_http_is_refused_unless_loopback_or_allowed() {
        for ok in [
            "https://api.groq.com/openai/v1",
            "http://127.0.0.1:8080/x",
            "http://127.1.2.3/",
            "http://localhost:1/",
            "http://LOCALHOST/",
            "http://[::1]:9/",
            "http://[::ffff:127.0.0.1]/",
            "HTTPS://example.com/",
        ] {
            assert!(check_destination(&uri(ok), false).is_ok(), "{ok}");
        }
        for insecure in [
            "http://api.groq.com/openai/v1",
            "http://10.0.0.1/",
            "http://128.0.0.1/",
            "http://[::2]/",
            "http://localhost.example.com/",
            "http://0.0.0.0/",
        ] {
            let err = check_destination(&uri(insecure), false).unwrap_err();
            assert!(err.is_insecure() && !err.is_retryable(), "{insecure}");
            assert!(check_destination(&uri(insecure), true).is_ok());
        }
        for invalid in ["/relative/path", "ftp://example.com/"] {
            let err = check_destination(&uri(invalid), true).unwrap_err();
            assert!(err.is_invalid_request(), "{invalid}");
        }
    }

    #[tokio::test]
    async fn insecure_request_fails_before_any_connection() {
        let transport = HyperTransport::builder().build().unwrap();
        let request = http::Request::post("http://api.groq.com/openai/v1/chat/completions")
            .header("authorization", "Bearer gsk_topsecret")
            .body(Bytes::new())
            .unwrap();
        let err = transport.send(request).await.unwrap_err();
        assert!(err.is_insecure());
        assert!(!format!("{err} {err:?}").contains("gsk_topsecret"));
    }

    #[test]
    fn builder_rejects_bad_roots() {
        let err = HyperTransport::builder()
            .add_root_certificates_pem(b"not a pem".to_vec())
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("could not be built"));
        let err = HyperTransport::builder()
            .tls_roots(TlsRoots::CustomOnly)
            .build()
            .unwrap_err();
        assert!(err.source().is_some());
        let debug = format!("{:?}", HyperTransport::builder().build().unwrap());
        assert!(debug.contains("max_body_bytes"));
    }

    use std::error::Error as _;
}
