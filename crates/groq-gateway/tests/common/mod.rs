//! Shared helpers of the gateway's tests: the emulator, a gateway in front of it, and a raw
//! HTTP/1.1 client that keeps every byte of the answer.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::time::Duration;

use groq_client::{Config, GroqClient, RetryPolicy};
use groq_config::{Limits, ModelConfig, Rate, UnknownModelPolicy};
use groq_gateway::{Gateway, GatewaySettings};
use groq_mock::{MockLimits, MockServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The Groq key the gateway holds (and must never reveal).
pub const GROQ_KEY: &str = "gsk_gateway_secret_5f3a9c1e7b2d4068";
pub const MODEL: &str = "llama-3.1-8b-instant";
pub const MINUTE: Duration = Duration::from_secs(1);

/// Limits in the compressed time of the tests, for the client and the emulator.
pub fn limits(rpm: u64, tpm: u64) -> (Limits, MockLimits) {
    let rate = |limit, period| Rate::new(limit, period).unwrap();
    (
        Limits::unlimited()
            .with_requests_per_minute(rate(rpm, MINUTE))
            .with_tokens_per_minute(rate(tpm, MINUTE)),
        MockLimits::unlimited()
            .rpm(rpm)
            .tpm(tpm)
            .context_window(131_072),
    )
}

pub async fn mock(limits: MockLimits, stream_interval: Option<Duration>) -> MockServer {
    let mut builder = MockServer::builder()
        .api_key(GROQ_KEY)
        .model(MODEL, limits)
        .minute_length(MINUTE);
    if let Some(interval) = stream_interval {
        builder = builder.stream_interval(interval);
    }
    builder.start().await.unwrap()
}

pub fn config(server: &MockServer, limits: Limits) -> Config {
    let mut model = ModelConfig::new(MODEL);
    model.limits = limits;
    model.context_window = Some(131_072);
    Config::builder()
        .clear_models()
        .base_url(server.base_url())
        .api_key(GROQ_KEY)
        .unknown_models(UnknownModelPolicy::Reject)
        .model(model)
        .build()
        .unwrap()
}

pub fn client(config: Config, settings: &GatewaySettings) -> GroqClient {
    Gateway::client(config, settings)
        .limiter_margin(Duration::from_millis(200))
        .retry_policy(
            RetryPolicy::default()
                .with_base_delay(Duration::from_millis(20))
                .with_max_delay(Duration::from_millis(200))
                .with_max_attempts(6),
        )
        .jitter_seed(7)
        .build()
        .unwrap()
}

/// The emulator and a gateway in front of it, with the given limits and settings.
pub async fn setup(
    rpm: u64,
    tpm: u64,
    settings: GatewaySettings,
    stream_interval: Option<Duration>,
) -> (MockServer, Gateway) {
    let (client_limits, mock_limits) = limits(rpm, tpm);
    let server = mock(mock_limits, stream_interval).await;
    let settings = settings.addr(SocketAddr::from(([127, 0, 0, 1], 0)));
    let client = client(config(&server, client_limits), &settings);
    let gateway = Gateway::builder(client)
        .settings(settings)
        .start()
        .await
        .unwrap();
    (server, gateway)
}

pub fn chat_body(marker: &str, stream: bool) -> String {
    format!(
        r#"{{"model":"{MODEL}","messages":[{{"role":"user","content":"[req:{marker}] Say hello."}}],"max_completion_tokens":20{}}}"#,
        if stream { r#","stream":true"# } else { "" }
    )
}

/// A parsed response, with its raw bytes.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub raw: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One request on its own connection (`Connection: close`); reads the whole answer.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Answer {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    if let Some(body) = body {
        bytes.extend_from_slice(body);
    }
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&bytes).await.unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    parse(raw)
}

/// Parses a whole HTTP/1.1 response (chunked or not).
pub fn parse(raw: Vec<u8>) -> Answer {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    Answer {
        status,
        headers,
        body,
        raw,
    }
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        rest = &rest[line_end + 2..];
        if size == 0 || rest.len() < size {
            return out;
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[(size + 2).min(rest.len())..];
    }
}
