//! The gateway's settings and its client keys.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use ring::digest::{SHA256, digest};
use serde::Deserialize;

use crate::GatewayError;

/// How the gateway serves: address, client keys, pass-through, queue bound and the limits
/// on connections and requests.
///
/// ```
/// use groq_gateway::{GatewayKeys, GatewaySettings};
///
/// let settings = GatewaySettings::default()
///     .keys(GatewayKeys::parse(["team-key-1"]).unwrap())
///     .queue_bound(500);
/// assert!(settings.keys.verify("team-key-1"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GatewaySettings {
    /// The address to listen on (default `127.0.0.1:8080`; port 0 picks a free port).
    pub addr: SocketAddr,
    /// The keys clients must present as `Authorization: Bearer KEY`. Empty: no check, and
    /// the gateway only binds a loopback address.
    pub keys: GatewayKeys,
    /// Pass-through mode: a client's bearer that is not a gateway key is taken as its own
    /// Groq key, used upstream and paced under its own fingerprint.
    pub pass_through: bool,
    /// The most requests queued per model; a request beyond it is answered 429
    /// `queue_full` (default 1,024).
    pub queue_bound: usize,
    /// The largest request body accepted, in bytes (default 10 MiB); larger: 413.
    pub max_body_bytes: usize,
    /// How long a client may take to send a request's head (default 10 s).
    pub header_read_timeout: Duration,
    /// The most bytes of a request head (default 64 KiB).
    pub max_header_bytes: usize,
    /// The most connections open at once (default 4,096); more wait to be accepted.
    pub max_connections: usize,
    /// The most connections open at once from one IP address (default 1,024); more are
    /// closed at once.
    pub max_connections_per_ip: usize,
    /// How long a graceful shutdown waits for requests in flight and queued (default 30 s).
    pub drain_timeout: Duration,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            keys: GatewayKeys::default(),
            pass_through: false,
            queue_bound: 1_024,
            max_body_bytes: 10 * 1024 * 1024,
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 64 * 1024,
            max_connections: 4_096,
            max_connections_per_ip: 1_024,
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// The gateway section of a settings file (JSON).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    #[serde(default)]
    gateway_keys: Vec<String>,
    #[serde(default)]
    pass_through: Option<bool>,
    #[serde(default)]
    queue_bound: Option<usize>,
    #[serde(default)]
    max_body_bytes: Option<usize>,
    #[serde(default)]
    header_read_timeout_secs: Option<f64>,
    #[serde(default)]
    max_connections: Option<usize>,
    #[serde(default)]
    max_connections_per_ip: Option<usize>,
    #[serde(default)]
    drain_timeout_secs: Option<f64>,
}

impl GatewaySettings {
    /// Sets the address.
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Sets the client keys.
    pub fn keys(mut self, keys: GatewayKeys) -> Self {
        self.keys = keys;
        self
    }

    /// Turns pass-through mode on or off.
    pub fn pass_through(mut self, on: bool) -> Self {
        self.pass_through = on;
        self
    }

    /// Sets the queue bound per model.
    pub fn queue_bound(mut self, bound: usize) -> Self {
        self.queue_bound = bound.max(1);
        self
    }

    /// Sets the request body limit.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Sets the header read timeout.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// Sets the connection limits: in all and per IP address.
    pub fn max_connections(mut self, total: usize, per_ip: usize) -> Self {
        self.max_connections = total.max(1);
        self.max_connections_per_ip = per_ip.max(1);
        self
    }

    /// Sets the drain timeout of a graceful shutdown.
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// These settings with the gateway file at `path` applied over them: a JSON object with
    /// any of `gateway_keys` (a list; `sha256:HEX` entries are digests of keys),
    /// `pass_through`, `queue_bound`, `max_body_bytes`, `header_read_timeout_secs`,
    /// `max_connections`, `max_connections_per_ip` and `drain_timeout_secs`.
    pub fn with_file(mut self, path: &Path) -> Result<Self, GatewayError> {
        let file = |reason: String| GatewayError::Settings {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| file(e.to_string()))?;
        let parsed: FileSettings =
            serde_json::from_str(&text).map_err(|e| file(format!("invalid JSON: {e}")))?;
        if !parsed.gateway_keys.is_empty() {
            self.keys = GatewayKeys::parse(&parsed.gateway_keys)
                .map_err(|e| file(format!("gateway_keys: {e}")))?;
        }
        if let Some(on) = parsed.pass_through {
            self.pass_through = on;
        }
        if let Some(bound) = parsed.queue_bound {
            self.queue_bound = bound.max(1);
        }
        if let Some(bytes) = parsed.max_body_bytes {
            self.max_body_bytes = bytes;
        }
        let seconds = |name: &str, value: f64| {
            if value.is_finite() && value > 0.0 {
                Ok(Duration::from_secs_f64(value))
            } else {
                Err(file(format!(
                    "{name} must be a positive number of seconds, got {value}"
                )))
            }
        };
        if let Some(value) = parsed.header_read_timeout_secs {
            self.header_read_timeout = seconds("header_read_timeout_secs", value)?;
        }
        if let Some(value) = parsed.drain_timeout_secs {
            self.drain_timeout = seconds("drain_timeout_secs", value)?;
        }
        if let Some(total) = parsed.max_connections {
            self.max_connections = total.max(1);
        }
        if let Some(per_ip) = parsed.max_connections_per_ip {
            self.max_connections_per_ip = per_ip.max(1);
        }
        Ok(self)
    }
}

/// The keys clients authenticate with, kept as SHA-256 digests only.
///
/// Entries are either a key as is, or `sha256:` and the 64 hex digits of a key's SHA-256
/// digest (so the file holds no usable key). `Debug` shows only how many there are.
#[derive(Clone, Default)]
pub struct GatewayKeys {
    digests: Vec<[u8; 32]>,
}

impl fmt::Debug for GatewayKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GatewayKeys({} keys)", self.digests.len())
    }
}

impl GatewayKeys {
    /// Parses entries (keys, or `sha256:HEX` digests). An empty entry or a malformed
    /// digest is an error naming its position.
    pub fn parse<I, S>(entries: I) -> Result<Self, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut digests = Vec::new();
        for (index, entry) in entries.into_iter().enumerate() {
            let entry = entry.as_ref().trim();
            if entry.is_empty() {
                return Err(format!("entry {} is empty", index + 1));
            }
            match entry.strip_prefix("sha256:") {
                Some(hex) => digests.push(parse_hex(hex).ok_or_else(|| {
                    format!(
                        "entry {} starts with sha256: but is not followed by 64 hex digits",
                        index + 1
                    )
                })?),
                None => digests.push(sha256(entry)),
            }
        }
        Ok(Self { digests })
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// Whether `presented` is one of the keys (compared by digest, in constant time per
    /// entry).
    pub fn verify(&self, presented: &str) -> bool {
        let digest = sha256(presented);
        let mut found = false;
        for known in &self.digests {
            let difference = known
                .iter()
                .zip(digest.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            found |= difference == 0;
        }
        found
    }

    /// The `sha256:HEX` form of `key`, to store in a settings file instead of the key.
    pub fn digest_entry(key: &str) -> String {
        format!("sha256:{}", hex(&sha256(key)))
    }
}

/// The SHA-256 digest of `text`.
pub(crate) fn sha256(text: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, text.as_bytes()).as_ref());
    out
}

/// A key's fingerprint: the first 8 bytes of its SHA-256 digest, in hex. Safe to log.
pub(crate) fn fingerprint(key: &str) -> String {
    hex(&sha256(key)[..8])
}

fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

fn parse_hex(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_verify_as_given_or_as_digests() {
        let digest = GatewayKeys::digest_entry("secret-two");
        assert!(digest.starts_with("sha256:") && digest.len() == 7 + 64);
        let keys = GatewayKeys::parse(["secret-one", digest.as_str()]).unwrap();
        assert_eq!(keys.len(), 2);
        assert!(keys.verify("secret-one"));
        assert!(keys.verify("secret-two"));
        assert!(!keys.verify("secret-three"));
        assert!(!keys.verify(""));
        assert_eq!(format!("{keys:?}"), "GatewayKeys(2 keys)");
    }

    #[test]
    fn bad_entries_are_named() {
        assert_eq!(
            GatewayKeys::parse(["a", " "]).unwrap_err(),
            "entry 2 is empty"
        );
        assert!(
            GatewayKeys::parse(["sha256:abc"])
                .unwrap_err()
                .contains("entry 1 starts with sha256:")
        );
    }

    #[test]
    fn a_settings_file_is_read_and_unknown_keys_are_named() {
        let dir =
            std::env::temp_dir().join(format!("groq-gateway-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.json");
        std::fs::write(
            &good,
            r#"{"gateway_keys": ["k1"], "pass_through": true, "queue_bound": 7, "drain_timeout_secs": 2.5}"#,
        )
        .unwrap();
        let settings = GatewaySettings::default().with_file(&good).unwrap();
        assert!(settings.keys.verify("k1"));
        assert!(settings.pass_through);
        assert_eq!(settings.queue_bound, 7);
        assert_eq!(settings.drain_timeout, Duration::from_millis(2_500));

        let bad = dir.join("bad.json");
        std::fs::write(&bad, r#"{"gateway_key": ["k1"]}"#).unwrap();
        let error = GatewaySettings::default().with_file(&bad).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("bad.json") && text.contains("gateway_key"),
            "{text}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
