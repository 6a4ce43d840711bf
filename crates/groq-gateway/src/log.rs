//! [`JsonLog`]: a small `tracing` subscriber that writes events as JSON lines, for the
//! gateway's structured access log.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// A `tracing` subscriber writing each event at or above a level as one JSON object per
/// line: `level`, `target`, `message` and the event's fields. Spans are not recorded.
///
/// ```
/// use groq_gateway::JsonLog;
/// use std::sync::{Arc, Mutex};
///
/// let sink = Arc::new(Mutex::new(Vec::<u8>::new()));
/// let log = JsonLog::new(tracing::Level::INFO, sink.clone());
/// tracing::subscriber::with_default(log, || {
///     tracing::info!(target: "groq_gateway::access", status = 200u16, "request");
/// });
/// let text = String::from_utf8(sink.lock().unwrap().clone()).unwrap();
/// assert!(text.contains("\"status\":200"));
/// ```
pub struct JsonLog {
    level: Level,
    out: Arc<Mutex<dyn Write + Send>>,
    next_span: AtomicU64,
}

impl fmt::Debug for JsonLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonLog")
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

impl JsonLog {
    /// Writes events at `level` or more severe to `out`.
    pub fn new<W: Write + Send + 'static>(level: Level, out: Arc<Mutex<W>>) -> Self {
        Self {
            level,
            out,
            next_span: AtomicU64::new(1),
        }
    }

    /// Writes events at `level` or more severe to standard error.
    pub fn stderr(level: Level) -> Self {
        Self::new(level, Arc::new(Mutex::new(std::io::stderr())))
    }
}

struct Fields(Map<String, Value>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::String(format!("{value:?}")));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().to_owned(), Value::String(value.to_owned()));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
}

impl Subscriber for JsonLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= &self.level
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed))
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let metadata = event.metadata();
        let mut fields = Fields(Map::new());
        fields.0.insert(
            "level".to_owned(),
            Value::String(metadata.level().to_string()),
        );
        fields.0.insert(
            "target".to_owned(),
            Value::String(metadata.target().to_owned()),
        );
        event.record(&mut fields);
        let mut line = Value::Object(fields.0).to_string();
        line.push('\n');
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = out.write_all(line.as_bytes());
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}
