//! Batch result lines, the writer that appends them one flushed line at a time, and reading an
//! earlier run's output to resume it.
//!
//! A result line has the shape of Groq's and OpenAI's batch output:
//!
//! ```json
//! {"id": "batch_req_...", "custom_id": "q1",
//!  "response": {"status_code": 200, "request_id": "req_...", "body": {...}},
//!  "error": null}
//! ```
//!
//! as in OpenAI's batch output format. Whenever the API answered, whatever the status (a 200,
//! a 400, a 404 `model_not_found`, the 429 that ended a request), `response` holds its status,
//! request id and body, and `error` is `null`; `error` (a code and a message with the cause)
//! is set only when no HTTP answer exists: a transport failure, a timeout, a cancelled
//! request, one refused before sending. Only a line with a 2xx status counts as a success.
//!
//! `response.body` is the server's body exactly as received, never a re-serialized typed
//! view: the one change is that line breaks between JSON tokens are dropped (a JSONL line
//! cannot hold them; they carry no meaning in JSON). A body that is not JSON at all (an HTML
//! error page) is written as a JSON string of its text.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use groq_client::Error as ClientError;
use groq_types::ChatCompletion;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// One line of batch output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ResultLine {
    /// This result's own id, `batch_req_...`.
    pub(crate) id: String,
    /// The request's custom id.
    pub(crate) custom_id: String,
    /// The HTTP answer, when there was one.
    pub(crate) response: Option<ResponsePart>,
    /// Why the request failed, when it did.
    pub(crate) error: Option<ErrorPart>,
}

/// The HTTP answer of a result line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ResponsePart {
    /// The HTTP status.
    pub(crate) status_code: u16,
    /// The server's request id (`req_...`), when known.
    pub(crate) request_id: Option<String>,
    /// The response body as the server sent it: the chat completion, or the API's error
    /// envelope.
    pub(crate) body: Box<RawValue>,
}

impl PartialEq for ResponsePart {
    fn eq(&self, other: &Self) -> bool {
        self.status_code == other.status_code
            && self.request_id == other.request_id
            && self.body.get() == other.body.get()
    }
}

impl ResponsePart {
    /// The part for an answer with `status`, `request_id` and the exact `body` bytes.
    pub(crate) fn new(status_code: u16, request_id: Option<String>, body: &[u8]) -> Self {
        Self {
            status_code,
            request_id,
            body: raw_body(body),
        }
    }
}

/// `body` as a JSON value for a JSONL line: its exact text when it is JSON (line breaks
/// between tokens dropped), else a JSON string of its text.
fn raw_body(body: &[u8]) -> Box<RawValue> {
    let text = String::from_utf8_lossy(body);
    let text = if text.contains(['\n', '\r']) {
        // Outside strings a raw line break is only whitespace between tokens (inside one it
        // would be invalid JSON), so dropping them changes nothing a JSON reader sees.
        text.replace(['\n', '\r'], "")
    } else {
        text.into_owned()
    };
    RawValue::from_string(text).unwrap_or_else(|_| {
        let quoted = serde_json::to_string(&String::from_utf8_lossy(body)).unwrap_or_default();
        RawValue::from_string(quoted).unwrap_or_default()
    })
}

/// The error of a failed result line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ErrorPart {
    /// A machine-readable code: Groq's error code when it sent one, else the kind of failure
    /// (`rate_limited`, `transport`, `timeout`, ...).
    pub(crate) code: String,
    /// What went wrong, in words.
    pub(crate) message: String,
}

impl ResultLine {
    /// The line of a completed request: status 200, the request id, the server's body.
    pub(crate) fn success(id: String, custom_id: String, completion: &ChatCompletion) -> Self {
        Self {
            id,
            custom_id,
            response: Some(ResponsePart::new(
                200,
                completion.request_id().map(str::to_owned),
                &completion.to_bytes(),
            )),
            error: None,
        }
    }

    /// The line of a failed request: the server's answer when there was one (and no
    /// error), else the error's code and its message with every cause.
    pub(crate) fn failure(id: String, custom_id: String, error: &ClientError) -> Self {
        if let Some(answer) = error.response() {
            return Self {
                id,
                custom_id,
                response: Some(ResponsePart::new(
                    answer.status(),
                    answer.request_id().map(str::to_owned),
                    answer.body(),
                )),
                error: None,
            };
        }
        let mut message = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            // A cause the message already names (the client's text carries the root cause
            // of a transport failure) is not repeated.
            let text = cause.to_string();
            if !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            source = cause.source();
        }
        Self {
            id,
            custom_id,
            response: None,
            error: Some(ErrorPart {
                code: error
                    .code()
                    .map_or_else(|| error.kind().as_str().to_owned(), str::to_owned),
                message,
            }),
        }
    }

    /// Whether this line records a success: a 2xx answer and no error.
    pub(crate) fn is_success(&self) -> bool {
        self.error.is_none()
            && self
                .response
                .as_ref()
                .is_some_and(|r| (200..300).contains(&r.status_code))
    }

    /// The line as JSON text, without the newline.
    pub(crate) fn to_json(&self) -> String {
        // A struct of strings, numbers and JSON values always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Makes the `batch_req_...` ids of one run: a random run prefix and a counter, so ids are
/// unique within a file even across resumed runs.
#[derive(Debug)]
pub(crate) struct IdGenerator {
    prefix: String,
    next: u64,
}

impl IdGenerator {
    /// A generator with a fresh random prefix.
    pub(crate) fn new() -> Self {
        // RandomState is seeded from the operating system's randomness.
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Self {
            prefix: format!("batch_req_{random:016x}"),
            next: 0,
        }
    }

    /// The next id.
    pub(crate) fn next_id(&mut self) -> String {
        self.next += 1;
        format!("{}_{:06}", self.prefix, self.next)
    }
}

/// Appends result lines to the output file, each written whole and flushed at once, so a
/// crash loses nothing already written. In ordered mode, results are held until every earlier
/// request (in input order) has its line.
#[derive(Debug)]
pub(crate) struct ResultWriter {
    file: File,
    path: PathBuf,
    ordered: Option<OrderedBuffer>,
}

/// Results waiting for their turn in `--ordered` mode, by position in the run (`None`: the
/// request ended without a line).
#[derive(Debug, Default)]
struct OrderedBuffer {
    next: usize,
    pending: BTreeMap<usize, Option<ResultLine>>,
}

impl ResultWriter {
    /// A writer appending to `file` (opened by [`prepare_output`]); `ordered` holds results
    /// back until their predecessors are written.
    pub(crate) fn new(file: File, path: PathBuf, ordered: bool) -> Self {
        Self {
            file,
            path,
            ordered: ordered.then(OrderedBuffer::default),
        }
    }

    /// Records the result of the request at `position` (its index among this run's requests).
    pub(crate) fn write(&mut self, position: usize, line: ResultLine) -> io::Result<()> {
        match self.ordered.as_mut() {
            None => self.append(&line),
            Some(buffer) => {
                let ready = buffer.settle(position, Some(line));
                ready.iter().try_for_each(|line| self.append(line))
            }
        }
    }

    /// Marks the request at `position` as finished without a line (it was cancelled), so that
    /// ordered mode does not wait for it.
    pub(crate) fn skip(&mut self, position: usize) -> io::Result<()> {
        match self.ordered.as_mut() {
            None => Ok(()),
            Some(buffer) => {
                let ready = buffer.settle(position, None);
                ready.iter().try_for_each(|line| self.append(line))
            }
        }
    }

    /// Writes every result still held back, in order (at the end of a run that was stopped
    /// early, when some earlier requests will never have a line).
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        if let Some(buffer) = self.ordered.as_mut() {
            let rest: Vec<ResultLine> = std::mem::take(&mut buffer.pending)
                .into_values()
                .flatten()
                .collect();
            rest.iter().try_for_each(|line| self.append(line))?;
        }
        match self.file.sync_data() {
            // A pipe or a terminal (`-o -`) has nothing to sync.
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => Ok(()),
            other => other,
        }
    }

    /// The output path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn append(&mut self, line: &ResultLine) -> io::Result<()> {
        let mut text = line.to_json();
        text.push('\n');
        // One write of the whole line, then flush: a crash leaves at most a torn last line,
        // which the next run drops.
        self.file.write_all(text.as_bytes())?;
        self.file.flush()
    }
}

impl OrderedBuffer {
    /// Records how the request at `position` ended and returns the lines now due, in order.
    fn settle(&mut self, position: usize, line: Option<ResultLine>) -> Vec<ResultLine> {
        if position >= self.next {
            self.pending.insert(position, line);
        }
        let mut ready = Vec::new();
        while let Some(entry) = self.pending.remove(&self.next) {
            ready.extend(entry);
            self.next += 1;
        }
        ready
    }
}

/// The longest line read back from an existing output: 64 MiB, twice the largest reply body
/// the client reads (32 MiB), so any line groqchat wrote fits, and a file that is not a batch
/// output (one endless line) is refused after reading at most that much per line.
pub(crate) const MAX_OUTPUT_LINE_BYTES: usize = 64 << 20;

/// The custom ids that already have a result: the one per-line state a resumed run keeps.
///
/// Each id is kept as a 64-bit hash (SipHash with a key drawn at random per process), not as
/// its text: 8 bytes per id plus the table's overhead (about 9 to 18 bytes per id), whatever
/// the ids' length. Two different ids share a hash with a probability of 2^-64 per pair; with
/// a million finished ids and a million requests to check, the chance that any request is
/// wrongly taken as finished is below one in ten million, and the per-process key means no
/// input can be crafted to collide. A collision would skip one request (reported as already
/// done), never send one twice.
#[derive(Debug, Clone)]
pub(crate) struct FinishedIds {
    key: std::hash::RandomState,
    hashes: HashSet<u64, std::hash::BuildHasherDefault<Prehashed>>,
}

impl Default for FinishedIds {
    fn default() -> Self {
        Self {
            key: std::hash::RandomState::new(),
            hashes: HashSet::default(),
        }
    }
}

impl FinishedIds {
    fn hash(&self, id: &str) -> u64 {
        let mut hasher = self.key.build_hasher();
        hasher.write(id.as_bytes());
        hasher.finish()
    }

    /// Records `id` as finished.
    pub(crate) fn insert(&mut self, id: &str) {
        let hash = self.hash(id);
        self.hashes.insert(hash);
    }

    /// Whether `id` is finished.
    pub(crate) fn contains(&self, id: &str) -> bool {
        !self.hashes.is_empty() && self.hashes.contains(&self.hash(id))
    }

    /// How many ids are finished.
    pub(crate) fn len(&self) -> usize {
        self.hashes.len()
    }
}

/// The hasher of a table of hashes: the value is already a keyed hash, so it is used as is.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used by the tables above; anything else is folded in.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

/// Why the existing output cannot be resumed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OutputError {
    /// A line before the last is not a result line.
    #[error(
        "line {line} of the output file {path} is not a batch result line ({reason}); \
         choose another output file, or remove or repair that line to resume"
    )]
    Corrupt {
        /// The file.
        path: String,
        /// The 1-based line.
        line: usize,
        /// Why it did not parse.
        reason: String,
    },
    /// Reading or writing failed.
    #[error("cannot {action} the output file {path}; check the path and its permissions")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// What resuming decides: the custom ids not to run again, and what happens to the file.
#[derive(Debug, Default)]
pub(crate) struct ResumePlan {
    /// Custom ids whose result stays: every success, and the failures unless retried.
    pub(crate) done: FinishedIds,
    /// How many result lines stay in the file.
    pub(crate) kept: usize,
    /// How many kept results are successes.
    pub(crate) succeeded: usize,
    /// How many kept results are failures (not retried).
    pub(crate) failed_kept: usize,
    /// How many failure lines are dropped to be retried (those of ids that never succeeded).
    pub(crate) retrying: usize,
    /// Whether the last line was cut off (a crash in the middle of a write) and is dropped.
    pub(crate) torn_tail: bool,
    /// Whether the file must be rewritten (a torn tail or retried failures to drop).
    pub(crate) rewrite: bool,
    /// Whether the last line kept lacks its newline.
    missing_newline: bool,
}

/// One line of an existing output, read back: a result line, or blank.
enum ReadLine {
    Blank,
    Result { success: bool, custom_id: String },
}

/// Reads an existing output line by line, each line at most [`MAX_OUTPUT_LINE_BYTES`]: the
/// file is never held whole.
struct OutputLines<'a> {
    lines: crate::input::InputLines<io::BufReader<File>>,
    path: &'a Path,
}

impl<'a> OutputLines<'a> {
    fn open(path: &'a Path) -> Result<Option<Self>, OutputError> {
        match File::open(path) {
            Ok(file) => Ok(Some(Self {
                lines: crate::input::InputLines::new(
                    io::BufReader::with_capacity(64 * 1024, file),
                    MAX_OUTPUT_LINE_BYTES,
                ),
                path,
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(OutputError::Io {
                action: "read",
                path: path.display().to_string(),
                source: e,
            }),
        }
    }

    /// The next line with its raw bytes: `Ok(None)` at the end, or on a torn last line (a
    /// line without its newline that is not a result line), which `torn` then reports.
    fn next(&mut self, torn: &mut bool) -> Result<Option<(ReadLine, Vec<u8>)>, OutputError> {
        let raw = self.lines.next_line().map_err(|source| OutputError::Io {
            action: "read",
            path: self.path.display().to_string(),
            source,
        })?;
        let (line, bytes) = match raw {
            None => return Ok(None),
            Some(crate::input::RawLine::Text { line, bytes }) => (line, bytes),
            Some(crate::input::RawLine::TooLong { line, bytes }) => {
                if !self.lines.last_ended() {
                    *torn = true;
                    return Ok(None);
                }
                return Err(self.corrupt(
                    line,
                    format!("{bytes} bytes, longer than any result line ({MAX_OUTPUT_LINE_BYTES} bytes at most)"),
                ));
            }
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Some((ReadLine::Blank, bytes)));
        }
        let parsed = std::str::from_utf8(&bytes)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str::<ResultLine>(text).map_err(|e| e.to_string()));
        match parsed {
            Ok(result) => Ok(Some((
                ReadLine::Result {
                    success: result.is_success(),
                    custom_id: result.custom_id,
                },
                bytes,
            ))),
            // A last line without its newline that does not parse is a torn write.
            Err(_) if !self.lines.last_ended() => {
                *torn = true;
                Ok(None)
            }
            Err(reason) => Err(self.corrupt(line, reason)),
        }
    }

    fn corrupt(&self, line: usize, reason: String) -> OutputError {
        OutputError::Corrupt {
            path: self.path.display().to_string(),
            line,
            reason,
        }
    }
}

/// Reads an earlier run's output as it goes and decides what it means for this run: every
/// custom id with a result (success or failure) is done; with `retry_failed`, failures are
/// to be dropped from the file and their requests run again. A missing file is a fresh run.
/// Memory: one line at a time plus the set of finished ids (and the hashes of failed ids when
/// retrying them).
pub(crate) fn read_resume(path: &Path, retry_failed: bool) -> Result<ResumePlan, OutputError> {
    let mut plan = ResumePlan::default();
    let Some(mut lines) = OutputLines::open(path)? else {
        return Ok(plan);
    };
    // The hashes of failure lines' ids, when they are retried (failures are few).
    let mut failures: Vec<u64> = Vec::new();
    let mut torn = false;
    while let Some((line, _)) = lines.next(&mut torn)? {
        let ReadLine::Result { success, custom_id } = line else {
            continue;
        };
        plan.missing_newline = !lines.lines.last_ended();
        if success {
            plan.succeeded += 1;
            plan.kept += 1;
            plan.done.insert(&custom_id);
        } else if retry_failed {
            plan.rewrite = true;
            failures.push(plan.done.hash(&custom_id));
        } else {
            plan.failed_kept += 1;
            plan.kept += 1;
            plan.done.insert(&custom_id);
        }
    }
    // A failure retried counts once per line, unless its id succeeded somewhere in the file.
    plan.retrying = failures
        .iter()
        .filter(|hash| !plan.done.hashes.contains(*hash))
        .count();
    plan.torn_tail = torn;
    plan.rewrite |= torn;
    Ok(plan)
}

/// Opens the output for appending after resuming: reads an existing file as it goes,
/// rewrites it when lines must go (through a temporary file renamed over it, so a crash never
/// leaves a half file), and returns the append handle with the resume plan.
pub(crate) fn prepare_output(
    path: &Path,
    retry_failed: bool,
) -> Result<(File, ResumePlan), OutputError> {
    let io_error = |action: &'static str| {
        let path = path.display().to_string();
        move |source| OutputError::Io {
            action,
            path,
            source,
        }
    };
    let plan = read_resume(path, retry_failed)?;
    if plan.rewrite {
        let mut temp = path.as_os_str().to_owned();
        temp.push(".groqchat-tmp");
        let temp = PathBuf::from(temp);
        let copy = || -> Result<(), OutputError> {
            let mut out = io::BufWriter::new(File::create(&temp).map_err(io_error("rewrite"))?);
            let mut lines = OutputLines::open(path)?
                .ok_or_else(|| io_error("read")(io::Error::from(io::ErrorKind::NotFound)))?;
            let mut torn = false;
            while let Some((line, bytes)) = lines.next(&mut torn)? {
                let keep = match line {
                    ReadLine::Blank => false,
                    ReadLine::Result { success, .. } => success || !retry_failed,
                };
                if keep {
                    out.write_all(&bytes)
                        .and_then(|()| out.write_all(b"\n"))
                        .map_err(io_error("rewrite"))?;
                }
            }
            let file = out
                .into_inner()
                .map_err(|e| io_error("rewrite")(e.into_error()))?;
            file.sync_all().map_err(io_error("rewrite"))
        };
        if let Err(e) = copy() {
            let _ = fs::remove_file(&temp);
            return Err(e);
        }
        fs::rename(&temp, path).map_err(io_error("rewrite"))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io_error("open"))?;
    // A last line kept without its newline gets one before anything is appended.
    if !plan.rewrite && plan.missing_newline {
        (&file).write_all(b"\n").map_err(io_error("write"))?;
    }
    Ok((file, plan))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn success(custom_id: &str) -> ResultLine {
        ResultLine {
            id: format!("batch_req_{custom_id}"),
            custom_id: custom_id.to_owned(),
            response: Some(ResponsePart::new(
                200,
                Some("req_1".into()),
                br#"{"id":"chatcmpl-1"}"#,
            )),
            error: None,
        }
    }

    fn failure(custom_id: &str) -> ResultLine {
        ResultLine {
            id: format!("batch_req_{custom_id}"),
            custom_id: custom_id.to_owned(),
            response: None,
            error: Some(ErrorPart {
                code: "transport".into(),
                message: "connection reset".into(),
            }),
        }
    }

    fn file_text(lines: &[ResultLine]) -> String {
        lines.iter().map(|l| l.to_json() + "\n").collect()
    }

    #[test]
    fn result_lines_have_the_batch_shape() {
        let value: Value = serde_json::from_str(&success("a").to_json()).unwrap();
        assert_eq!(
            value,
            json!({"id": "batch_req_a", "custom_id": "a",
                   "response": {"status_code": 200, "request_id": "req_1", "body": {"id": "chatcmpl-1"}},
                   "error": null})
        );
        let value: Value = serde_json::from_str(&failure("b").to_json()).unwrap();
        assert_eq!(value["response"], Value::Null);
        assert_eq!(value["error"]["code"], "transport");
        assert!(success("a").is_success());
        assert!(!failure("b").is_success());
        let mut refused = success("c");
        refused.response.as_mut().unwrap().status_code = 400;
        assert!(!refused.is_success());
    }

    #[test]
    fn ids_are_unique() {
        let mut a = IdGenerator::new();
        let mut b = IdGenerator::new();
        let ids: HashSet<String> = (0..3).flat_map(|_| [a.next_id(), b.next_id()]).collect();
        assert_eq!(ids.len(), 6);
        assert!(ids.iter().all(|id| id.starts_with("batch_req_")));
    }

    fn resume_of(text: &str, retry_failed: bool) -> Result<ResumePlan, OutputError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        fs::write(&path, text).unwrap();
        read_resume(&path, retry_failed)
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_other_bad_lines_are_errors() {
        let mut text = file_text(&[success("a"), failure("b")]);
        text.push_str(r#"{"id":"batch_req_x","custom_id":"c","resp"#);
        let plan = resume_of(&text, false).unwrap();
        assert!(plan.torn_tail && plan.rewrite);
        assert_eq!(plan.kept, 2);
        assert!(plan.done.contains("a") && plan.done.contains("b") && !plan.done.contains("c"));

        let text = format!(
            "{}garbage\n{}",
            file_text(&[success("a")]),
            file_text(&[success("b")])
        );
        let err = resume_of(&text, false).unwrap_err();
        assert!(
            err.to_string().contains("line 2 of the output file"),
            "{err}"
        );

        // A complete last line without its newline is kept.
        let plan = resume_of(&success("a").to_json(), false).unwrap();
        assert_eq!((plan.kept, plan.torn_tail, plan.rewrite), (1, false, false));
        assert!(plan.missing_newline);
    }

    #[test]
    fn a_line_longer_than_any_result_is_refused_without_being_held() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let mut file = File::create(&path).unwrap();
        file.write_all(success("a").to_json().as_bytes()).unwrap();
        file.write_all(b"\n").unwrap();
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..=(MAX_OUTPUT_LINE_BYTES >> 20) {
            file.write_all(&chunk).unwrap();
        }
        file.write_all(b"\n").unwrap();
        drop(file);
        let err = read_resume(&path, false).unwrap_err();
        assert!(
            err.to_string().contains("line 2 of the output file")
                && err.to_string().contains("longer than any result line"),
            "{err}"
        );
    }

    #[test]
    fn resume_skips_results_and_retries_failures_on_request() {
        let text = file_text(&[success("a"), failure("b"), failure("c"), success("c")]);
        let plan = resume_of(&text, false).unwrap();
        assert!(["a", "b", "c"].iter().all(|id| plan.done.contains(id)));
        assert_eq!(plan.done.len(), 3);
        assert_eq!((plan.succeeded, plan.failed_kept, plan.retrying), (2, 2, 0));
        assert!(!plan.rewrite);
        assert_eq!(plan.kept, 4);

        let plan = resume_of(&text, true).unwrap();
        assert!(plan.done.contains("a") && plan.done.contains("c") && !plan.done.contains("b"));
        assert_eq!((plan.succeeded, plan.failed_kept, plan.retrying), (2, 0, 1));
        assert!(plan.rewrite);
        assert_eq!(plan.kept, 2);
    }

    #[test]
    fn retrying_rewrites_the_file_without_the_failures() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let text = file_text(&[success("a"), failure("b"), failure("c"), success("c")]);
        fs::write(&path, format!("{text}\n")).unwrap();
        let (file, plan) = prepare_output(&path, true).unwrap();
        drop(file);
        assert_eq!(plan.retrying, 1);
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            file_text(&[success("a"), success("c")])
        );
    }

    #[test]
    fn finished_ids_are_hashes_of_the_ids() {
        let mut ids = FinishedIds::default();
        for i in 0..10_000 {
            ids.insert(&format!("request-{i}"));
        }
        ids.insert("request-0");
        assert_eq!(ids.len(), 10_000);
        assert!((0..10_000).all(|i| ids.contains(&format!("request-{i}"))));
        assert!((10_000..20_000).all(|i| !ids.contains(&format!("request-{i}"))));
        assert!(!FinishedIds::default().contains("request-0"));
    }

    #[test]
    fn prepare_rewrites_a_torn_file_into_valid_jsonl() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let mut text = file_text(&[success("a")]);
        text.push_str("{\"id\":\"batch_req_9\",\"cus");
        fs::write(&path, text).unwrap();
        let (file, plan) = prepare_output(&path, false).unwrap();
        assert!(plan.torn_tail);
        assert!(plan.done.contains("a") && plan.done.len() == 1);
        let mut writer = ResultWriter::new(file, path.clone(), false);
        writer.write(0, success("b")).unwrap();
        writer.finish().unwrap();
        let after = fs::read_to_string(&path).unwrap();
        let ids: Vec<String> = after
            .lines()
            .map(|l| serde_json::from_str::<ResultLine>(l).unwrap().custom_id)
            .collect();
        assert_eq!(ids, ["a", "b"]);
        assert!(!dir.path().join("out.jsonl.groqchat-tmp").exists());
    }

    #[test]
    fn prepare_adds_a_missing_final_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        fs::write(&path, success("a").to_json()).unwrap();
        let (file, _) = prepare_output(&path, false).unwrap();
        let mut writer = ResultWriter::new(file, path.clone(), false);
        writer.write(0, success("b")).unwrap();
        let after = fs::read_to_string(&path).unwrap();
        assert_eq!(after.lines().count(), 2);
        assert_eq!(writer.path(), path);
    }

    #[test]
    fn ordered_mode_holds_results_until_their_turn() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let (file, _) = prepare_output(&path, false).unwrap();
        let mut writer = ResultWriter::new(file, path.clone(), true);
        let read = || -> Vec<String> {
            fs::read_to_string(&path)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<ResultLine>(l).unwrap().custom_id)
                .collect()
        };
        writer.write(2, success("c")).unwrap();
        writer.write(1, success("b")).unwrap();
        assert!(read().is_empty());
        writer.write(0, success("a")).unwrap();
        assert_eq!(read(), ["a", "b", "c"]);
        // Position 3 was cancelled: 4 goes out at once.
        writer.skip(3).unwrap();
        writer.write(4, success("e")).unwrap();
        assert_eq!(read(), ["a", "b", "c", "e"]);
        // 5 is cancelled after 6 finished: 6 is written when 5 is skipped.
        writer.write(6, success("g")).unwrap();
        writer.skip(5).unwrap();
        assert_eq!(read(), ["a", "b", "c", "e", "g"]);
        // Held results are written by finish even when a gap remains.
        writer.write(9, success("j")).unwrap();
        writer.finish().unwrap();
        assert_eq!(read(), ["a", "b", "c", "e", "g", "j"]);
    }
}
