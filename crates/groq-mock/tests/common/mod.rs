//! A minimal HTTP/1.1 client over raw TCP for the emulator's tests: one request per
//! connection (`Connection: close`), the raw bytes kept for byte-exact checks.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const KEY: &str = "gsk_test_key";
pub const MODEL: &str = "llama-3.1-8b-instant";

/// A parsed response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The body after transfer decoding.
    pub body: Vec<u8>,
    /// Whether the body was sent with chunked transfer encoding.
    pub chunked: bool,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn header_u64(&self, name: &str) -> u64 {
        self.header(name)
            .unwrap_or_else(|| panic!("no header {name}: {:?}", self.headers))
            .parse()
            .unwrap()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The error envelope's `error` object.
    pub fn error(&self) -> Value {
        self.json()["error"].clone()
    }
}

/// Sends raw bytes and reads until the server closes. `None` if the connection was closed
/// without a byte of response.
pub async fn raw(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    // A reset after a dropped connection counts as an empty response.
    let _ = stream.read_to_end(&mut out).await;
    out
}

/// Builds a request's bytes.
pub fn request_bytes(method: &str, path: &str, key: Option<&str>, body: Option<&[u8]>) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    if let Some(key) = key {
        head.push_str(&format!("Authorization: Bearer {key}\r\n"));
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
    bytes
}

/// Parses a complete response; `None` for an empty one (dropped connection).
pub fn parse(raw: &[u8]) -> Option<HttpResponse> {
    if raw.is_empty() {
        return None;
    }
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head ends with a blank line");
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
    let status = status_line[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.trim().to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    Some(HttpResponse {
        status,
        headers,
        body,
        chunked,
    })
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size_text = std::str::from_utf8(&data[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        assert_eq!(&data[size..size + 2], b"\r\n", "chunk ends with CRLF");
        data = &data[size + 2..];
    }
}

/// Sends one request and parses the response (panics on a dropped connection).
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&[u8]>,
) -> HttpResponse {
    try_send(addr, method, path, key, body)
        .await
        .expect("a response, not a dropped connection")
}

/// Sends one request; `None` if the connection was closed without a response.
pub async fn try_send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&[u8]>,
) -> Option<HttpResponse> {
    parse(&raw(addr, &request_bytes(method, path, key, body)).await)
}

/// `POST /openai/v1/chat/completions` with `body` and the test key.
pub async fn chat(addr: SocketAddr, body: &Value) -> HttpResponse {
    let bytes = serde_json::to_vec(body).unwrap();
    send(
        addr,
        "POST",
        "/openai/v1/chat/completions",
        Some(KEY),
        Some(&bytes),
    )
    .await
}

/// As [`chat`], `None` on a dropped connection.
pub async fn try_chat(addr: SocketAddr, body: &Value) -> Option<HttpResponse> {
    let bytes = serde_json::to_vec(body).unwrap();
    try_send(
        addr,
        "POST",
        "/openai/v1/chat/completions",
        Some(KEY),
        Some(&bytes),
    )
    .await
}

/// A small chat body for `MODEL` with a completion budget.
pub fn body(text: &str, max_completion_tokens: u64) -> Value {
    serde_json::json!({
        "model": MODEL,
        "messages": [{"role": "user", "content": text}],
        "max_completion_tokens": max_completion_tokens,
    })
}

/// Parses a Go-style duration such as `7.66s`, `2m59.56s`, `320ms`, `1h2m3s` into seconds.
pub fn go_seconds(text: &str) -> f64 {
    if let Some(ms) = text.strip_suffix("ms") {
        return ms.parse::<f64>().unwrap() / 1000.0;
    }
    let mut total = 0.0;
    let mut number = String::new();
    for c in text.chars() {
        match c {
            'h' => total += std::mem::take(&mut number).parse::<f64>().unwrap() * 3600.0,
            'm' => total += std::mem::take(&mut number).parse::<f64>().unwrap() * 60.0,
            's' => total += std::mem::take(&mut number).parse::<f64>().unwrap(),
            _ => number.push(c),
        }
    }
    total
}

/// The wait in a 429 message: the text between "Please try again in " and the next ". ".
pub fn message_wait(message: &str) -> f64 {
    let start = message
        .find("Please try again in ")
        .expect("wait in message")
        + 20;
    let end = message[start..].find(". ").unwrap() + start;
    go_seconds(&message[start..end])
}
