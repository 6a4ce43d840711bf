//! Priority classes, their aging delays and per-class tallies.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::QueueError;

/// The priority class of a request.
///
/// Classes only decide how long a job's queue key is pushed back (see [`AgingConfig`]): a
/// `High` job is keyed at its enqueue instant, a `Normal` or `Low` one that much later. A job
/// of a lower class therefore overtakes newer `High` jobs once it has waited its class delay.
///
/// Parses from and serializes to `"high"`, `"normal"` and `"low"` (parsing ignores ASCII case),
/// the names the Python CustomGroqChat used:
///
/// ```
/// use groq_queue::Priority;
///
/// assert_eq!("HIGH".parse::<Priority>().unwrap(), Priority::High);
/// assert_eq!(Priority::Low.to_string(), "low");
/// assert!("urgent".parse::<Priority>().is_err());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Priority {
    /// Served first among fresh jobs; no aging delay.
    High,
    /// The default class; delayed by [`AgingConfig::normal`].
    #[default]
    Normal,
    /// Background work; delayed by [`AgingConfig::low`].
    Low,
}

impl Priority {
    /// Every class, highest first.
    pub const ALL: [Priority; 3] = [Priority::High, Priority::Normal, Priority::Low];

    /// The lowercase name: `"high"`, `"normal"` or `"low"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Priority::High => "high",
            Priority::Normal => "normal",
            Priority::Low => "low",
        }
    }

    /// Position in [`Priority::ALL`]; indexes per-class arrays.
    pub(crate) const fn index(self) -> usize {
        match self {
            Priority::High => 0,
            Priority::Normal => 1,
            Priority::Low => 2,
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Priority {
    type Err = QueueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Priority::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| QueueError::InvalidPriority {
                value: s.chars().take(64).collect(),
            })
    }
}

impl Serialize for Priority {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Priority {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Priority;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("one of \"high\", \"normal\" or \"low\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Priority, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// How far each class's queue key is pushed back from its enqueue instant.
///
/// `High` is never delayed. A `Normal` job enqueued at `t` is keyed `t + normal`, so it goes
/// before every `High` job enqueued after `t + normal` (and after those enqueued before); the
/// same holds for `Low` with `low`. Nothing starves: every job's key is fixed when it arrives.
///
/// Delays longer than [`AgingConfig::MAX_DELAY`] are clamped to it.
///
/// ```
/// use groq_queue::AgingConfig;
/// use std::time::Duration;
///
/// let aging = AgingConfig::default().with_low(Duration::from_secs(60));
/// assert_eq!(aging.normal(), Duration::from_secs(5));
/// assert_eq!(aging.low(), Duration::from_secs(60));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct AgingConfig {
    normal: Duration,
    low: Duration,
}

impl Default for AgingConfig {
    /// `normal` 5 s, `low` 30 s.
    fn default() -> Self {
        Self {
            normal: Duration::from_secs(5),
            low: Duration::from_secs(30),
        }
    }
}

impl AgingConfig {
    /// The longest accepted class delay (one year); longer ones are clamped.
    pub const MAX_DELAY: Duration = Duration::from_secs(365 * 24 * 3600);

    /// Sets the delay of [`Priority::Normal`].
    #[must_use]
    pub fn with_normal(mut self, delay: Duration) -> Self {
        self.normal = delay.min(Self::MAX_DELAY);
        self
    }

    /// Sets the delay of [`Priority::Low`].
    #[must_use]
    pub fn with_low(mut self, delay: Duration) -> Self {
        self.low = delay.min(Self::MAX_DELAY);
        self
    }

    /// The delay of [`Priority::Normal`].
    pub fn normal(&self) -> Duration {
        self.normal
    }

    /// The delay of [`Priority::Low`].
    pub fn low(&self) -> Duration {
        self.low
    }

    /// The delay of `priority` (zero for [`Priority::High`]).
    pub fn delay(&self, priority: Priority) -> Duration {
        match priority {
            Priority::High => Duration::ZERO,
            Priority::Normal => self.normal,
            Priority::Low => self.low,
        }
    }
}

/// One value per [`Priority`] class.
///
/// ```
/// use groq_queue::{PerClass, Priority};
///
/// let mut counts = PerClass::<usize>::default();
/// *counts.get_mut(Priority::Low) += 2;
/// assert_eq!(counts[Priority::Low], 2);
/// assert_eq!(counts.iter().map(|(_, n)| *n).sum::<usize>(), 2);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PerClass<V>([V; 3]);

impl<V> PerClass<V> {
    /// Builds the tally by asking `f` for each class.
    pub fn from_fn(mut f: impl FnMut(Priority) -> V) -> Self {
        Self(Priority::ALL.map(&mut f))
    }

    /// The value of `priority`.
    pub fn get(&self, priority: Priority) -> &V {
        &self.0[priority.index()]
    }

    /// The value of `priority`, mutably.
    pub fn get_mut(&mut self, priority: Priority) -> &mut V {
        &mut self.0[priority.index()]
    }

    /// Every class with its value, highest class first.
    pub fn iter(&self) -> impl Iterator<Item = (Priority, &V)> {
        Priority::ALL.into_iter().zip(self.0.iter())
    }
}

impl<V> std::ops::Index<Priority> for PerClass<V> {
    type Output = V;
    fn index(&self, priority: Priority) -> &V {
        self.get(priority)
    }
}

impl<V: Serialize> Serialize for PerClass<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(3))?;
        for (p, v) in self.iter() {
            map.serialize_entry(p.as_str(), v)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_case_insensitively() {
        for (s, p) in [
            ("high", Priority::High),
            ("Normal", Priority::Normal),
            (" LOW ", Priority::Low),
        ] {
            assert_eq!(s.parse::<Priority>().ok(), Some(p));
        }
    }

    #[test]
    fn rejects_unknown_names_with_the_accepted_ones() {
        let err = "urgent".parse::<Priority>().err().map(|e| e.to_string());
        let msg = err.unwrap_or_default();
        assert!(msg.contains("\"urgent\""), "{msg}");
        assert!(msg.contains("high, normal or low"), "{msg}");
    }

    #[test]
    fn serde_uses_lowercase_names() {
        let json = serde_json::to_string(&[Priority::High, Priority::Normal, Priority::Low]);
        assert_eq!(json.ok().as_deref(), Some(r#"["high","normal","low"]"#));
        let back: Result<Vec<Priority>, _> = serde_json::from_str(r#"["Low","HIGH","normal"]"#);
        assert_eq!(
            back.ok(),
            Some(vec![Priority::Low, Priority::High, Priority::Normal])
        );
        assert!(serde_json::from_str::<Priority>("\"soon\"").is_err());
        assert!(serde_json::from_str::<Priority>("3").is_err());
    }

    #[test]
    fn default_is_normal_and_delays_follow_the_config() {
        assert_eq!(Priority::default(), Priority::Normal);
        let aging = AgingConfig::default();
        assert_eq!(aging.delay(Priority::High), Duration::ZERO);
        assert_eq!(aging.delay(Priority::Normal), Duration::from_secs(5));
        assert_eq!(aging.delay(Priority::Low), Duration::from_secs(30));
        let clamped = aging.with_low(Duration::MAX);
        assert_eq!(clamped.low(), AgingConfig::MAX_DELAY);
    }

    #[test]
    fn per_class_serializes_as_a_map() {
        let counts = PerClass::from_fn(|p| p.index() * 10);
        let json = serde_json::to_string(&counts).ok();
        assert_eq!(json.as_deref(), Some(r#"{"high":0,"normal":10,"low":20}"#));
    }
}
