//! The emulator's shared state: models, buckets per API key and model, stats, ids, faults.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::bucket::Bucket;
use crate::faults::{FaultPlan, Faults};
use crate::limits::MockLimits;
use crate::stats::{AuditEntry, MockStats};

/// One dimension of a model's quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dimension {
    Rpm,
    Rpd,
    Tpm,
    Tpd,
    Ash,
    Asd,
    Itpm,
    Otpm,
}

impl Dimension {
    const ALL: [Self; 8] = [
        Self::Rpm,
        Self::Rpd,
        Self::Tpm,
        Self::Tpd,
        Self::Ash,
        Self::Asd,
        Self::Itpm,
        Self::Otpm,
    ];

    /// The window as Groq's messages name it.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Self::Rpm => "requests per minute (RPM)",
            Self::Rpd => "requests per day (RPD)",
            Self::Tpm => "tokens per minute (TPM)",
            Self::Tpd => "tokens per day (TPD)",
            Self::Ash => "audio seconds per hour (ASH)",
            Self::Asd => "audio seconds per day (ASD)",
            Self::Itpm => "input tokens per minute (ITPM)",
            Self::Otpm => "output tokens per minute (OTPM)",
        }
    }

    /// The error `type` of a rate-limit error in this dimension.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Self::Rpm | Self::Rpd => "requests",
            Self::Ash | Self::Asd => "audio_seconds",
            Self::Tpm | Self::Tpd | Self::Itpm | Self::Otpm => "tokens",
        }
    }

    fn limit(self, limits: &MockLimits) -> Option<u64> {
        match self {
            Self::Rpm => limits.rpm,
            Self::Rpd => limits.rpd,
            Self::Tpm => limits.tpm,
            Self::Tpd => limits.tpd,
            Self::Ash => limits.ash,
            Self::Asd => limits.asd,
            Self::Itpm => limits.itpm,
            Self::Otpm => limits.otpm,
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Rpm => 0,
            Self::Rpd => 1,
            Self::Tpm => 2,
            Self::Tpd => 3,
            Self::Ash => 4,
            Self::Asd => 5,
            Self::Itpm => 6,
            Self::Otpm => 7,
        }
    }
}

/// What one request spends beyond the request itself: tokens (prompt plus completion
/// budget), their input and output sides, and audio seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Units {
    pub(crate) tokens: u64,
    pub(crate) input: u64,
    pub(crate) output: u64,
    pub(crate) audio: u64,
}

impl Units {
    /// A chat completion: `prompt` tokens and a `budget` for the reply.
    pub(crate) fn chat(prompt: u64, budget: u64) -> Self {
        Self {
            tokens: prompt.saturating_add(budget),
            input: prompt,
            output: budget,
            audio: 0,
        }
    }

    /// An audio request of `seconds` billed seconds.
    pub(crate) fn audio(seconds: u64) -> Self {
        Self {
            audio: seconds,
            ..Self::default()
        }
    }

    /// What `dimension` is charged (requests count 1).
    fn amount(&self, dimension: Dimension) -> u64 {
        match dimension {
            Dimension::Rpm | Dimension::Rpd => 1,
            Dimension::Tpm | Dimension::Tpd => self.tokens,
            Dimension::Itpm => self.input,
            Dimension::Otpm => self.output,
            Dimension::Ash | Dimension::Asd => self.audio,
        }
    }
}

/// Limit, remaining and time-to-full of one bucket, as the headers report them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BucketView {
    pub(crate) limit: u64,
    pub(crate) remaining: u64,
    pub(crate) reset: Duration,
}

/// What the `x-ratelimit-*` headers report: requests per day and tokens per minute, and the
/// other limited buckets but RPM and TPD.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RateView {
    pub(crate) requests: Option<BucketView>,
    pub(crate) tokens: Option<BucketView>,
    /// The audio-seconds-per-hour, audio-seconds-per-day, input- and output-tokens-per-minute
    /// buckets, which Groq documents no headers for: reported in the same naming scheme.
    pub(crate) others: [Option<BucketView>; 4],
}

/// The outcome of asking for a request's cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Charged; the view is taken after charging.
    Admitted(RateView),
    /// The cost exceeds a token bucket's capacity: it can never fit.
    TooLarge {
        dimension: Dimension,
        limit: u64,
        requested: u64,
    },
    /// Does not fit now; nothing was charged.
    Limited {
        dimension: Dimension,
        limit: u64,
        used: u64,
        requested: u64,
        wait: Duration,
        view: RateView,
    },
}

#[derive(Debug)]
struct ModelBuckets {
    buckets: [Option<Bucket>; 8],
}

impl ModelBuckets {
    fn new(limits: &MockLimits, periods: &Periods, now: Instant) -> Self {
        let buckets = Dimension::ALL.map(|dimension| {
            dimension
                .limit(limits)
                .map(|limit| Bucket::full(limit, periods.of(dimension), now))
        });
        Self { buckets }
    }

    fn resize(&mut self, limits: &MockLimits, periods: &Periods, now: Instant) {
        for dimension in Dimension::ALL {
            let slot = &mut self.buckets[dimension.index()];
            let period = periods.of(dimension);
            *slot = match (dimension.limit(limits), slot.as_ref()) {
                (None, _) => None,
                (Some(limit), None) => Some(Bucket::full(limit, period, now)),
                (Some(limit), Some(old)) => Some(Bucket::resized(old, limit, period, now)),
            };
        }
    }

    fn refill(&mut self, now: Instant) {
        for bucket in self.buckets.iter_mut().flatten() {
            bucket.refill(now);
        }
    }

    fn view(&self) -> RateView {
        let view = |bucket: &Option<Bucket>| {
            bucket.as_ref().map(|bucket| BucketView {
                limit: bucket.capacity(),
                remaining: bucket.remaining(),
                reset: bucket.time_to_full(),
            })
        };
        RateView {
            requests: view(&self.buckets[Dimension::Rpd.index()]),
            tokens: view(&self.buckets[Dimension::Tpm.index()]),
            others: [
                Dimension::Ash,
                Dimension::Asd,
                Dimension::Itpm,
                Dimension::Otpm,
            ]
            .map(|dimension| view(&self.buckets[dimension.index()])),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Periods {
    minute: Duration,
    hour: Duration,
    day: Duration,
}

impl Periods {
    fn of(&self, dimension: Dimension) -> Duration {
        match dimension {
            Dimension::Rpm | Dimension::Tpm | Dimension::Itpm | Dimension::Otpm => self.minute,
            Dimension::Ash => self.hour,
            Dimension::Rpd | Dimension::Tpd | Dimension::Asd => self.day,
        }
    }
}

/// Settings fixed at start.
pub(crate) struct EngineConfig {
    pub(crate) api_keys: Vec<String>,
    pub(crate) models: BTreeMap<String, MockLimits>,
    pub(crate) minute: Duration,
    pub(crate) completion_tokens: u64,
    pub(crate) default_budget: u64,
    pub(crate) stream_interval: Duration,
    pub(crate) faults: Faults,
    pub(crate) seed: u64,
    pub(crate) organization: String,
    pub(crate) start_unix: u64,
    pub(crate) capture_bodies: bool,
    pub(crate) prompt_cache: bool,
}

/// The shared state of one server.
pub(crate) struct Engine {
    api_keys: Vec<String>,
    periods: Periods,
    pub(crate) completion_tokens: u64,
    pub(crate) default_budget: u64,
    pub(crate) stream_interval: Duration,
    pub(crate) organization: String,
    capture_bodies: bool,
    prompt_cache: bool,
    /// Files and batches.
    pub(crate) store: crate::store::Store,
    faults: Faults,
    seed: u64,
    start: Instant,
    start_unix: u64,
    inner: Mutex<Inner>,
}

struct Inner {
    models: BTreeMap<String, MockLimits>,
    /// Buckets by (API key, model).
    buckets: HashMap<(String, String), ModelBuckets>,
    /// Hashes of the message prefixes each (API key, model) has sent: the prompt cache.
    prompt_cache: HashMap<(String, String), HashSet<u64>>,
    stats: MockStats,
    rng: fastrand::Rng,
    next_id: u64,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field(
                "api_keys",
                &format_args!("<{} redacted>", self.api_keys.len()),
            )
            .field("minute", &self.periods.minute)
            .field("completion_tokens", &self.completion_tokens)
            .field("default_budget", &self.default_budget)
            .field("faults", &self.faults)
            .finish_non_exhaustive()
    }
}

impl Engine {
    pub(crate) fn new(config: EngineConfig) -> Self {
        Self {
            api_keys: config.api_keys,
            periods: Periods {
                minute: config.minute,
                hour: config.minute.saturating_mul(60),
                day: config.minute.saturating_mul(1440),
            },
            completion_tokens: config.completion_tokens,
            default_budget: config.default_budget,
            stream_interval: config.stream_interval,
            organization: config.organization,
            capture_bodies: config.capture_bodies,
            prompt_cache: config.prompt_cache,
            store: crate::store::Store::default(),
            faults: config.faults,
            seed: config.seed,
            start: Instant::now(),
            start_unix: config.start_unix,
            inner: Mutex::new(Inner {
                models: config.models,
                buckets: HashMap::new(),
                prompt_cache: HashMap::new(),
                stats: MockStats::default(),
                rng: fastrand::Rng::with_seed(config.seed),
                next_id: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The state stays consistent across a panic in another request (every update is a
        // single assignment), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `key` may use the API: one of the configured keys, or any non-empty key when
    /// none is configured.
    pub(crate) fn authorized(&self, key: &str) -> bool {
        if key.is_empty() {
            return false;
        }
        self.api_keys.is_empty() || self.api_keys.iter().any(|k| k == key)
    }

    /// How long a "minute" lasts: the time scale.
    pub(crate) fn minute(&self) -> Duration {
        self.periods.minute
    }

    /// Seconds since the Unix epoch when the server started: the models' `created`.
    pub(crate) fn started_unix(&self) -> u64 {
        self.start_unix
    }

    /// Seconds since the Unix epoch, on the server's (unscaled) clock.
    pub(crate) fn unix_now(&self) -> u64 {
        self.start_unix + self.start.elapsed().as_secs()
    }

    /// A fresh id: 26 lowercase base-32 characters derived from the seed and a counter.
    pub(crate) fn next_id(&self) -> String {
        let n = {
            let mut inner = self.lock();
            inner.next_id += 1;
            inner.next_id
        };
        let mut state = self.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut hi = splitmix64(&mut state);
        let mut lo = splitmix64(&mut state);
        const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
        let mut id = String::with_capacity(26);
        for i in 0..26 {
            let word = if i < 13 { &mut hi } else { &mut lo };
            id.push(char::from(ALPHABET[(*word & 31) as usize]));
            *word >>= 5;
        }
        id
    }

    pub(crate) fn model(&self, id: &str) -> Option<MockLimits> {
        self.lock().models.get(id).copied()
    }

    pub(crate) fn models(&self) -> BTreeMap<String, MockLimits> {
        self.lock().models.clone()
    }

    pub(crate) fn set_limits(&self, model: &str, limits: MockLimits) {
        let now = Instant::now();
        let mut inner = self.lock();
        inner.models.insert(model.to_owned(), limits);
        for ((_, bucket_model), buckets) in &mut inner.buckets {
            if bucket_model == model {
                buckets.resize(&limits, &self.periods, now);
            }
        }
    }

    pub(crate) fn draw_faults(&self) -> FaultPlan {
        FaultPlan::draw(&self.faults, &mut self.lock().rng)
    }

    /// Charges one request of `tokens` tokens to `key`'s buckets of `model`, if all fit.
    #[cfg(test)]
    fn admit(&self, key: &str, model: &str, tokens: u64, now: Instant) -> Admission {
        let units = Units {
            tokens,
            ..Units::default()
        };
        self.admit_with(key, model, &units, now, true)
    }

    /// Checks whether one request costing `units` fits `key`'s buckets of `model`, and
    /// charges it when it does and `charge` is set (an injected fault is checked but not
    /// charged).
    pub(crate) fn admit_with(
        &self,
        key: &str,
        model: &str,
        units: &Units,
        now: Instant,
        charge: bool,
    ) -> Admission {
        let mut inner = self.lock();
        let limits = inner.models.get(model).copied().unwrap_or_default();
        let periods = self.periods;
        let buckets = inner
            .buckets
            .entry((key.to_owned(), model.to_owned()))
            .or_insert_with(|| ModelBuckets::new(&limits, &periods, now));
        buckets.refill(now);
        for dimension in Dimension::ALL {
            let requested = units.amount(dimension);
            if let Some(bucket) = &buckets.buckets[dimension.index()]
                && requested > bucket.capacity()
            {
                return Admission::TooLarge {
                    dimension,
                    limit: bucket.capacity(),
                    requested,
                };
            }
        }
        // The dimension that needs the longest wait is reported, so `retry-after` suffices.
        let mut worst: Option<(Dimension, Duration)> = None;
        for dimension in Dimension::ALL {
            if let Some(bucket) = &buckets.buckets[dimension.index()] {
                let wait = bucket.wait_for(units.amount(dimension));
                if !wait.is_zero() && worst.is_none_or(|(_, longest)| wait > longest) {
                    worst = Some((dimension, wait));
                }
            }
        }
        if let Some((dimension, wait)) = worst {
            let (limit, used) = buckets.buckets[dimension.index()]
                .as_ref()
                .map_or((0, 0), |bucket| (bucket.capacity(), bucket.used()));
            return Admission::Limited {
                dimension,
                limit,
                used,
                requested: units.amount(dimension),
                wait,
                view: buckets.view(),
            };
        }
        if charge {
            for dimension in Dimension::ALL {
                if let Some(bucket) = &mut buckets.buckets[dimension.index()] {
                    bucket.take(units.amount(dimension));
                }
            }
        }
        Admission::Admitted(buckets.view())
    }

    /// Gives `tokens` back to the token buckets (TPM and TPD).
    #[cfg(test)]
    pub(crate) fn refund(&self, key: &str, model: &str, tokens: u64) {
        let units = Units {
            tokens,
            ..Units::default()
        };
        self.give_back(key, model, &units);
    }

    /// Gives `units` back to `key`'s buckets of `model` (never the request buckets): an
    /// unused completion budget, cached prompt tokens, audio seconds measured shorter.
    pub(crate) fn give_back(&self, key: &str, model: &str, units: &Units) {
        let now = Instant::now();
        let mut inner = self.lock();
        if let Some(buckets) = inner.buckets.get_mut(&(key.to_owned(), model.to_owned())) {
            buckets.refill(now);
            for dimension in Dimension::ALL {
                let amount = units.amount(dimension);
                if matches!(dimension, Dimension::Rpm | Dimension::Rpd) || amount == 0 {
                    continue;
                }
                if let Some(bucket) = &mut buckets.buckets[dimension.index()] {
                    bucket.give(amount);
                }
            }
        }
    }

    /// The tokens of the longest prefix of whole `messages` that `key` has already sent to
    /// `model` (Groq's prompt cache), remembering every prefix of this prompt for the next
    /// requests. `message_tokens` gives each message's count. Always 0 when the cache is off.
    pub(crate) fn cached_prefix(
        &self,
        key: &str,
        model: &str,
        prefixes: &[u64],
        message_tokens: &[u64],
    ) -> u64 {
        if !self.prompt_cache {
            return 0;
        }
        let mut inner = self.lock();
        let seen = inner
            .prompt_cache
            .entry((key.to_owned(), model.to_owned()))
            .or_default();
        let hits = prefixes
            .iter()
            .take_while(|prefix| seen.contains(*prefix))
            .count();
        seen.extend(prefixes.iter().copied());
        message_tokens[..hits.min(message_tokens.len())]
            .iter()
            .sum()
    }

    /// The current view of `key`'s buckets of `model` (full buckets if never used).
    pub(crate) fn view(&self, key: &str, model: &str) -> RateView {
        let now = Instant::now();
        let mut inner = self.lock();
        let limits = inner.models.get(model).copied().unwrap_or_default();
        let periods = self.periods;
        let buckets = inner
            .buckets
            .entry((key.to_owned(), model.to_owned()))
            .or_insert_with(|| ModelBuckets::new(&limits, &periods, now));
        buckets.refill(now);
        buckets.view()
    }

    pub(crate) fn record_status(&self, status: u16) {
        self.lock().stats.record_status(status);
    }

    pub(crate) fn record_drop(&self) {
        self.lock().stats.dropped += 1;
    }

    pub(crate) fn audit(
        &self,
        model: &str,
        prompt_tokens: u64,
        completion_tokens: u64,
        stream: bool,
        marker: Option<String>,
    ) {
        let at = self.start.elapsed();
        self.lock().stats.audit.push(AuditEntry {
            at,
            model: model.to_owned(),
            prompt_tokens,
            completion_tokens,
            stream,
            marker,
        });
    }

    /// Keeps a chat request's body, when the server captures bodies.
    pub(crate) fn capture_body(&self, body: &[u8]) {
        if self.capture_bodies {
            let text = String::from_utf8_lossy(body).into_owned();
            self.lock().stats.bodies.push(text);
        }
    }

    pub(crate) fn stats(&self) -> MockStats {
        self.lock().stats.clone()
    }
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(limits: MockLimits) -> Engine {
        Engine::new(EngineConfig {
            api_keys: vec!["k".to_owned()],
            models: BTreeMap::from([("m".to_owned(), limits)]),
            minute: Duration::from_secs(60),
            completion_tokens: 16,
            default_budget: 100,
            stream_interval: Duration::ZERO,
            faults: Faults::none(),
            seed: 1,
            organization: "org_mock".to_owned(),
            start_unix: 0,
            capture_bodies: false,
            prompt_cache: true,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn admits_until_a_bucket_is_empty_then_names_it() {
        let engine = engine(MockLimits::unlimited().rpm(3).tpm(1000).rpd(100));
        let now = Instant::now();
        for i in 0..3 {
            let admission = engine.admit("k", "m", 100, now);
            let Admission::Admitted(view) = admission else {
                panic!("request {i} refused: {admission:?}");
            };
            assert_eq!(view.tokens.map(|t| t.remaining), Some(1000 - 100 * (i + 1)));
            assert_eq!(view.requests.map(|r| r.remaining), Some(100 - (i + 1)));
        }
        match engine.admit("k", "m", 100, now) {
            Admission::Limited {
                dimension,
                limit,
                used,
                requested,
                wait,
                ..
            } => {
                assert_eq!(dimension, Dimension::Rpm);
                assert_eq!((limit, used, requested), (3, 3, 1));
                assert_eq!(wait, Duration::from_secs(20));
            }
            other => panic!("expected a 429, got {other:?}"),
        }
        // Another key has its own buckets.
        assert!(matches!(
            engine.admit("other", "m", 100, now),
            Admission::Admitted(_)
        ));
        // After the wait the request fits.
        let later = now + Duration::from_secs(20);
        assert!(matches!(
            engine.admit("k", "m", 100, later),
            Admission::Admitted(_)
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn too_large_and_refund() {
        let engine = engine(MockLimits::unlimited().tpm(1000));
        let now = Instant::now();
        assert_eq!(
            engine.admit("k", "m", 1001, now),
            Admission::TooLarge {
                dimension: Dimension::Tpm,
                limit: 1000,
                requested: 1001
            }
        );
        assert!(matches!(
            engine.admit("k", "m", 900, now),
            Admission::Admitted(_)
        ));
        match engine.admit("k", "m", 200, now) {
            Admission::Limited {
                dimension,
                used,
                wait,
                ..
            } => {
                assert_eq!(dimension, Dimension::Tpm);
                assert_eq!(used, 900);
                // 100 tokens missing at 1000 per minute.
                assert_eq!(wait, Duration::from_secs(6));
            }
            other => panic!("expected a 429, got {other:?}"),
        }
        engine.refund("k", "m", 500);
        assert_eq!(engine.view("k", "m").tokens.map(|t| t.remaining), Some(600));
        assert!(matches!(
            engine.admit("k", "m", 200, now),
            Admission::Admitted(_)
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn new_limits_keep_usage() {
        let engine = engine(MockLimits::unlimited().tpm(1000));
        assert!(matches!(
            engine.admit("k", "m", 400, Instant::now()),
            Admission::Admitted(_)
        ));
        engine.set_limits("m", MockLimits::unlimited().tpm(2000).rpd(5));
        let view = engine.view("k", "m");
        assert_eq!(
            view.tokens.map(|t| (t.limit, t.remaining)),
            Some((2000, 1600))
        );
        assert_eq!(view.requests.map(|r| r.remaining), Some(5));
    }

    #[test]
    fn ids_are_distinct_and_seeded() {
        let first = engine(MockLimits::unlimited());
        let a = first.next_id();
        let b = first.next_id();
        assert_eq!(a.len(), 26);
        assert_ne!(a, b);
        assert_eq!(a, engine(MockLimits::unlimited()).next_id());
    }
}
