//! [`ApiKey`]: a Groq API key that does not leak into logs.

use std::fmt;

/// A Groq API key (`gsk_...`).
///
/// [`Debug`](fmt::Debug) and [`Display`](fmt::Display) never show the key: at most its
/// prefix up to the first `_` and its last four characters (`gsk_…xyz4`), and only `…` for
/// keys shorter than 12 characters. Read the key itself with [`expose_secret`](Self::expose_secret),
/// which the transport calls when it writes the `Authorization` header.
///
/// **Serialization writes the full key.** [`Serialize`](serde::Serialize) exists so that a
/// configuration can be written back to a file ([`Config::to_json_pretty`](crate::Config::to_json_pretty))
/// and loaded again; do not serialize a key anywhere else (logs, metrics, events).
///
/// ```
/// use groq_config::ApiKey;
///
/// let key = ApiKey::new("gsk_0123456789abcdefWXYZ");
/// assert_eq!(key.to_string(), "gsk_…WXYZ");
/// assert_eq!(format!("{key:?}"), "ApiKey(gsk_…WXYZ)");
/// assert_eq!(key.expose_secret(), "gsk_0123456789abcdefWXYZ");
/// assert_eq!(key.fingerprint().len(), 16);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ApiKey(String);

impl ApiKey {
    /// Keys shorter than this are redacted to `…` alone.
    const MIN_SHOWN_LEN: usize = 12;

    /// Wraps a key. Validation (non-empty, printable ASCII without spaces) happens when a
    /// [`Config`](crate::Config) is built or loaded.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key itself, for the `Authorization: Bearer` header. Never log it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// The redacted form shown by `Debug` and `Display`: `gsk_…xyz4`, or `…` for short keys.
    pub fn redacted(&self) -> String {
        let key = &self.0;
        if key.chars().count() < Self::MIN_SHOWN_LEN {
            return "…".to_owned();
        }
        // Show a short, conventional prefix only ("gsk_"), never a long run of the key.
        let prefix = match key.find('_') {
            Some(end)
                if (1..=4).contains(&end)
                    && key[..end].bytes().all(|b| b.is_ascii_alphanumeric()) =>
            {
                &key[..=end]
            }
            _ => "",
        };
        let suffix: String = {
            let mut tail: Vec<char> = key.chars().rev().take(4).collect();
            tail.reverse();
            tail.into_iter().collect()
        };
        format!("{prefix}…{suffix}")
    }

    /// A stable, non-reversible 16-hex-digit hash of the key (64-bit FNV-1a), used to keep
    /// per-key state apart (for example to namespace Redis keys) without storing the key.
    ///
    /// It is **not cryptographic**: it identifies a key, it does not protect a weak one. Its
    /// value for a given key never changes between versions, since shared state is keyed by it.
    pub fn fingerprint(&self) -> String {
        const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let hash = self.0.bytes().fold(OFFSET_BASIS, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(PRIME)
        });
        format!("{hash:016x}")
    }

    /// Why this key cannot be sent in an HTTP header, if it cannot.
    pub(crate) fn problem(&self) -> Option<&'static str> {
        if self.0.is_empty() {
            Some("the key is empty")
        } else if !self.0.bytes().all(|b| b.is_ascii_graphic()) {
            Some("the key contains spaces, control or non-ASCII characters")
        } else {
            None
        }
    }
}

impl From<String> for ApiKey {
    fn from(key: String) -> Self {
        Self(key)
    }
}

impl From<&str> for ApiKey {
    fn from(key: &str) -> Self {
        Self(key.to_owned())
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({})", self.redacted())
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Writes the **full** key: see the type's documentation.
impl serde::Serialize for ApiKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for ApiKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_shows_prefix_and_last_four_only() {
        let key = ApiKey::new("gsk_abcdefghijklmnopqrstuvwxyz4");
        assert_eq!(key.redacted(), "gsk_…xyz4");
        assert_eq!(key.to_string(), "gsk_…xyz4");
        assert_eq!(format!("{key:?}"), "ApiKey(gsk_…xyz4)");
        assert_eq!(format!("{key:#?}"), "ApiKey(gsk_…xyz4)");
    }

    #[test]
    fn short_keys_show_nothing() {
        for short in ["", "gsk_", "gsk_...", "gsk_1234567"] {
            assert_eq!(ApiKey::new(short).to_string(), "…", "{short:?}");
        }
        assert_eq!(ApiKey::new("gsk_12345678").to_string(), "gsk_…5678");
    }

    #[test]
    fn long_or_odd_prefixes_are_not_shown() {
        assert_eq!(ApiKey::new("abcdefghijkl_mnopqrstu").to_string(), "…rstu");
        assert_eq!(ApiKey::new("_abcdefghijklmnop").to_string(), "…mnop");
        assert_eq!(ApiKey::new("nounderscore1234").to_string(), "…1234");
        // Multi-byte characters are handled without slicing inside a character.
        assert_eq!(ApiKey::new("ключ_ééééééééééé").to_string(), "…éééé");
    }

    #[test]
    fn fingerprint_is_stable_fnv1a() {
        // Reference values of 64-bit FNV-1a.
        assert_eq!(ApiKey::new("").fingerprint(), "cbf29ce484222325");
        assert_eq!(ApiKey::new("a").fingerprint(), "af63dc4c8601ec8c");
        assert_eq!(ApiKey::new("foobar").fingerprint(), "85944171f73967e8");
        let key = "gsk_secretsecretsecret";
        assert!(!ApiKey::new(key).fingerprint().contains("secret"));
        assert_ne!(
            ApiKey::new(key).fingerprint(),
            ApiKey::new("gsk_secretsecretsecreu").fingerprint()
        );
    }

    #[test]
    fn serialization_writes_the_key_for_round_trips() {
        let key = ApiKey::new("gsk_roundtrip_1234");
        let json = serde_json::to_string(&key).unwrap();
        assert_eq!(json, "\"gsk_roundtrip_1234\"");
        assert_eq!(serde_json::from_str::<ApiKey>(&json).unwrap(), key);
    }

    #[test]
    fn problems_are_detected() {
        assert!(ApiKey::new("gsk_ok").problem().is_none());
        assert!(ApiKey::new("").problem().is_some());
        assert!(ApiKey::new("gsk_a b").problem().is_some());
        assert!(ApiKey::new("gsk_a\n").problem().is_some());
    }
}
