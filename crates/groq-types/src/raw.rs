//! [`RawObject`]: a JSON object kept as its exact text, key by key, in order.

use std::fmt;

use serde::de::{self, Deserialize, DeserializeOwned, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;

/// A JSON object whose values are kept as the exact JSON text they were given, in the order
/// they were given: nothing is reordered, reformatted or rounded (a 30-digit integer stays a
/// 30-digit integer). Keys are unique; setting a key that exists replaces its value in place.
///
/// It must be read straight from a JSON text (`serde_json::from_str`/`from_slice`): serde's
/// buffering containers (`#[serde(flatten)]`, untagged enums) cannot carry raw values.
///
/// ```
/// use groq_types::RawObject;
///
/// let mut object: RawObject = serde_json::from_str(r#"{"b": 1, "a": 123456789012345678901234567890}"#).unwrap();
/// object.set("b", &2).unwrap();
/// object.set("c", &true).unwrap();
/// assert_eq!(serde_json::to_string(&object).unwrap(), r#"{"b":2,"a":123456789012345678901234567890,"c":true}"#);
/// ```
#[derive(Clone, Default)]
pub struct RawObject {
    entries: Vec<(String, Box<RawValue>)>,
}

impl fmt::Debug for RawObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|(k, v)| (k, v.get())))
            .finish()
    }
}

impl PartialEq for RawObject {
    fn eq(&self, other: &Self) -> bool {
        self.entries.len() == other.entries.len()
            && self
                .entries
                .iter()
                .zip(&other.entries)
                .all(|((ka, va), (kb, vb))| ka == kb && va.get() == vb.get())
    }
}

impl RawObject {
    /// An empty object.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the object has no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }

    /// The entries, in order, with their exact JSON text.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &RawValue)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), &**v))
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// The exact JSON text of `key`'s value.
    pub fn get_raw(&self, key: &str) -> Option<&RawValue> {
        self.position(key).map(|i| &*self.entries[i].1)
    }

    /// `key`'s value read as a `T`: `None` when absent, an error when it is not a `T`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<Result<T, serde_json::Error>> {
        self.get_raw(key).map(|raw| serde_json::from_str(raw.get()))
    }

    /// Sets `key` to the exact JSON text `value`: in place when the key exists, else at the end.
    /// Returns whether anything changed (the same text again changes nothing).
    pub fn set_raw(&mut self, key: impl Into<String>, value: Box<RawValue>) -> bool {
        let key = key.into();
        match self.position(&key) {
            Some(i) if self.entries[i].1.get() == value.get() => false,
            Some(i) => {
                self.entries[i].1 = value;
                true
            }
            None => {
                self.entries.push((key, value));
                true
            }
        }
    }

    /// Sets `key` to `value` serialized as JSON (see [`set_raw`](Self::set_raw)).
    pub fn set<T: Serialize + ?Sized>(
        &mut self,
        key: impl Into<String>,
        value: &T,
    ) -> Result<bool, serde_json::Error> {
        Ok(self.set_raw(key, serde_json::value::to_raw_value(value)?))
    }

    /// Removes `key`, returning its JSON text.
    pub fn remove(&mut self, key: &str) -> Option<Box<RawValue>> {
        self.position(key).map(|i| self.entries.remove(i).1)
    }

    /// Reads a JSON object from text; duplicate keys are refused.
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.entries.iter().position(|(k, _)| k == key)
    }
}

impl Serialize for RawObject {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (key, value) in &self.entries {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for RawObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = RawObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<RawObject, A::Error> {
                let mut object = RawObject::new();
                while let Some(key) = access.next_key::<String>()? {
                    let value: Box<RawValue> = access.next_value()?;
                    if object.contains_key(&key) {
                        return Err(de::Error::custom(format_args!(
                            "the key `{key}` appears twice"
                        )));
                    }
                    object.entries.push((key, value));
                }
                Ok(object)
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// Declares a string enum that keeps values it does not know in an `Other(String)` variant
/// and writes every value back as the same string.
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value this crate does not know, kept as sent.
            Other(String),
        }

        impl $name {
            /// The value as it appears on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $wire, )*
                    Self::Other(other) => other,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                match value {
                    $( $wire => Self::$variant, )*
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
                Ok(Self::from(&*text))
            }
        }
    };
}

pub(crate) use open_enum;

/// Reads `null` as the type's default, for reply fields a server may send as `null`.
pub(crate) fn null_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Option::unwrap_or_default)
}
