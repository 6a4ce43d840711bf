//! The gateway's counters and histograms, rendered in the Prometheus text format.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use groq_client::{GroqClient, Priority};

/// At most this many distinct model labels are kept; others count as `other`.
const MAX_MODELS: usize = 256;

/// Histogram bucket bounds, in seconds.
const BUCKETS: [f64; 17] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

/// A histogram of durations with fixed buckets.
#[derive(Debug, Default)]
pub(crate) struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    pub(crate) fn observe(&self, value: Duration) {
        let seconds = value.as_secs_f64();
        if let Some(index) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            self.buckets[index].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(
            u64::try_from(value.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {count}");
    }
}

/// A counter per label set.
#[derive(Debug)]
struct Family<K> {
    values: Mutex<HashMap<K, u64>>,
}

impl<K> Default for Family<K> {
    fn default() -> Self {
        Self {
            values: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: std::hash::Hash + Eq + Clone + Ord> Family<K> {
    fn add(&self, key: K, value: u64) {
        *self
            .values
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_default() += value;
    }

    fn sorted(&self) -> Vec<(K, u64)> {
        let values = self.values.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<(K, u64)> = values.iter().map(|(k, v)| (k.clone(), *v)).collect();
        out.sort();
        out
    }
}

/// Everything the gateway counts.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    models: Mutex<Vec<Arc<str>>>,
    requests: Family<(Arc<str>, &'static str, u16)>,
    estimated_tokens: Family<Arc<str>>,
    reported_tokens: Family<Arc<str>>,
    upstream_429: Family<Arc<str>>,
    gateway_refusals: Family<&'static str>,
    pub(crate) queue_wait: Histogram,
    pub(crate) upstream_latency: Histogram,
    pub(crate) connections_open: AtomicU64,
    pub(crate) connections_total: AtomicU64,
    pub(crate) connections_refused: AtomicU64,
    pub(crate) requests_in_flight: AtomicU64,
}

impl Metrics {
    /// The label for `model`, bounded in number.
    pub(crate) fn model_label(&self, model: &str) -> Arc<str> {
        let mut models = self.models.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(known) = models.iter().find(|m| &***m == model) {
            return Arc::clone(known);
        }
        if models.len() >= MAX_MODELS {
            return Arc::from("other");
        }
        let label: Arc<str> = Arc::from(model);
        models.push(Arc::clone(&label));
        label
    }

    pub(crate) fn request(&self, model: &Arc<str>, priority: Priority, status: u16) {
        self.requests
            .add((Arc::clone(model), priority.as_str(), status), 1);
    }

    pub(crate) fn estimated(&self, model: &Arc<str>, tokens: u64) {
        self.estimated_tokens.add(Arc::clone(model), tokens);
    }

    pub(crate) fn reported(&self, model: &Arc<str>, tokens: u64) {
        self.reported_tokens.add(Arc::clone(model), tokens);
    }

    pub(crate) fn rate_limited(&self, model: &str) {
        let label = self.model_label(model);
        self.upstream_429.add(label, 1);
    }

    pub(crate) fn refused(&self, code: &'static str) {
        self.gateway_refusals.add(code, 1);
    }

    /// The Prometheus text of every metric, with the queues and limiter of `clients` read
    /// now.
    pub(crate) fn render(&self, clients: &[GroqClient]) -> String {
        let mut out = String::with_capacity(4096);
        counter_header(
            &mut out,
            "groqchat_gateway_requests_total",
            "Requests answered, by model, priority and HTTP status.",
        );
        for ((model, priority, status), value) in self.requests.sorted() {
            let _ = writeln!(
                out,
                "groqchat_gateway_requests_total{{model=\"{}\",priority=\"{priority}\",status=\"{status}\"}} {value}",
                escape(&model)
            );
        }
        counter_header(
            &mut out,
            "groqchat_gateway_refusals_total",
            "Requests the gateway answered itself with an error, by error code.",
        );
        for (code, value) in self.gateway_refusals.sorted() {
            let _ = writeln!(
                out,
                "groqchat_gateway_refusals_total{{code=\"{code}\"}} {value}"
            );
        }
        for (name, help, family) in [
            (
                "groqchat_gateway_tokens_estimated_total",
                "Tokens reserved by the gateway's estimates (prompt plus completion allowance).",
                &self.estimated_tokens,
            ),
            (
                "groqchat_gateway_tokens_reported_total",
                "Tokens the server reported in usage (prompt plus completion).",
                &self.reported_tokens,
            ),
            (
                "groqchat_gateway_upstream_rate_limited_total",
                "429 answers received from upstream (each retried by the pipeline).",
                &self.upstream_429,
            ),
        ] {
            counter_header(&mut out, name, help);
            for (model, value) in family.sorted() {
                let _ = writeln!(out, "{name}{{model=\"{}\"}} {value}", escape(&model));
            }
        }
        gauge_header(
            &mut out,
            "groqchat_gateway_queue_depth",
            "Requests queued, by model and priority.",
        );
        let mut oldest = String::new();
        gauge_header(
            &mut oldest,
            "groqchat_gateway_queue_oldest_wait_seconds",
            "How long the oldest queued request has waited, by model and priority.",
        );
        let mut in_flight = String::new();
        gauge_header(
            &mut in_flight,
            "groqchat_gateway_lane_in_flight",
            "Requests admitted by the limiter and not finished, by model.",
        );
        for client in clients {
            for lane in client.queue_status().lanes {
                let model = escape(&lane.model);
                for (priority, queued) in lane.queued.iter() {
                    let _ = writeln!(
                        out,
                        "groqchat_gateway_queue_depth{{model=\"{model}\",priority=\"{priority}\"}} {queued}"
                    );
                    let wait = lane
                        .oldest_wait
                        .get(priority)
                        .map_or(0.0, |w| w.as_secs_f64());
                    let _ = writeln!(
                        oldest,
                        "groqchat_gateway_queue_oldest_wait_seconds{{model=\"{model}\",priority=\"{priority}\"}} {wait}"
                    );
                }
                let _ = writeln!(
                    in_flight,
                    "groqchat_gateway_lane_in_flight{{model=\"{model}\"}} {}",
                    lane.in_flight
                );
            }
        }
        out.push_str(&oldest);
        out.push_str(&in_flight);
        self.queue_wait.render(
            &mut out,
            "groqchat_gateway_limiter_wait_seconds",
            "Time requests waited in their lane for the rate limiter.",
        );
        self.upstream_latency.render(
            &mut out,
            "groqchat_gateway_upstream_latency_seconds",
            "Time from sending a request upstream to its answer (head for streams).",
        );
        for (name, help, value) in [
            (
                "groqchat_gateway_connections_open",
                "Client connections open.",
                &self.connections_open,
            ),
            (
                "groqchat_gateway_requests_in_flight",
                "Requests being handled (queued, on the wire or streaming).",
                &self.requests_in_flight,
            ),
        ] {
            gauge_header(&mut out, name, help);
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        for (name, help, value) in [
            (
                "groqchat_gateway_connections_total",
                "Client connections accepted.",
                &self.connections_total,
            ),
            (
                "groqchat_gateway_connections_refused_total",
                "Client connections closed at once by the per-address limit.",
                &self.connections_refused,
            ),
        ] {
            counter_header(&mut out, name, help);
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        out
    }
}

fn counter_header(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} counter");
}

fn gauge_header(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
}

/// A label value escaped for the text format.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_labels_escaped() {
        let metrics = Metrics::default();
        metrics.queue_wait.observe(Duration::from_micros(50));
        metrics.queue_wait.observe(Duration::from_millis(3));
        metrics.queue_wait.observe(Duration::from_secs(100));
        let model = metrics.model_label("we\"ird\nmodel");
        metrics.request(&model, Priority::High, 200);
        let text = metrics.render(&[]);
        assert!(text.contains("groqchat_gateway_limiter_wait_seconds_bucket{le=\"0.0001\"} 1"));
        assert!(text.contains("groqchat_gateway_limiter_wait_seconds_bucket{le=\"0.005\"} 2"));
        assert!(text.contains("groqchat_gateway_limiter_wait_seconds_bucket{le=\"+Inf\"} 3"));
        assert!(text.contains("groqchat_gateway_limiter_wait_seconds_count 3"));
        assert!(text.contains(
            "groqchat_gateway_requests_total{model=\"we\\\"ird\\nmodel\",priority=\"high\",status=\"200\"} 1"
        ));
    }

    #[test]
    fn model_labels_are_bounded() {
        let metrics = Metrics::default();
        for i in 0..MAX_MODELS {
            assert_eq!(&*metrics.model_label(&format!("m{i}")), format!("m{i}"));
        }
        assert_eq!(&*metrics.model_label("one-too-many"), "other");
        assert_eq!(&*metrics.model_label("m3"), "m3");
    }
}
