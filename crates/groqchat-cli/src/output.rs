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

/// What an earlier run left in the output file.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ExistingOutput {
    /// The complete, valid lines in file order, with their text.
    pub(crate) lines: Vec<(String, ResultLine)>,
    /// Whether the last line was cut off (a crash in the middle of a write) and dropped.
    pub(crate) torn_tail: bool,
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

/// Parses the text of an existing output file. A last line without its newline that does not
/// parse is a torn write and is dropped; any other bad line is an error.
pub(crate) fn parse_existing(bytes: &[u8], path: &Path) -> Result<ExistingOutput, OutputError> {
    let mut existing = ExistingOutput::default();
    let complete = bytes.ends_with(b"\n");
    let pieces: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    let count = pieces.len();
    for (index, raw) in pieces.into_iter().enumerate() {
        let is_tail = index + 1 == count;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed = std::str::from_utf8(raw)
            .map_err(|e| e.to_string())
            .and_then(|text| {
                serde_json::from_str::<ResultLine>(text)
                    .map(|line| (text.to_owned(), line))
                    .map_err(|e| e.to_string())
            });
        match parsed {
            Ok(entry) => existing.lines.push(entry),
            Err(_) if is_tail && !complete => existing.torn_tail = true,
            Err(reason) => {
                return Err(OutputError::Corrupt {
                    path: path.display().to_string(),
                    line: index + 1,
                    reason,
                });
            }
        }
    }
    Ok(existing)
}

/// What resuming decides: the lines to keep and the custom ids not to run again.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ResumePlan {
    /// The existing lines that stay in the file, in order.
    pub(crate) keep: Vec<String>,
    /// Custom ids whose result stays: every success, and the failures unless retried.
    pub(crate) done: HashSet<String>,
    /// How many kept results are successes.
    pub(crate) succeeded: usize,
    /// How many kept results are failures (not retried).
    pub(crate) failed_kept: usize,
    /// How many failure lines are dropped to be retried.
    pub(crate) retrying: usize,
    /// Whether the file must be rewritten (a torn tail or retried failures to drop).
    pub(crate) rewrite: bool,
}

/// Decides what an earlier run's output means for this run. Without `retry_failed`, every
/// custom id with a result (success or failure) is done; with it, failures are dropped from
/// the file and their requests run again.
pub(crate) fn plan_resume(existing: &ExistingOutput, retry_failed: bool) -> ResumePlan {
    let succeeded_ids: HashSet<&str> = existing
        .lines
        .iter()
        .filter(|(_, line)| line.is_success())
        .map(|(_, line)| line.custom_id.as_str())
        .collect();
    let mut plan = ResumePlan {
        rewrite: existing.torn_tail,
        ..ResumePlan::default()
    };
    for (text, line) in &existing.lines {
        if line.is_success() {
            plan.succeeded += 1;
        } else if retry_failed {
            plan.rewrite = true;
            if !succeeded_ids.contains(line.custom_id.as_str()) {
                plan.retrying += 1;
            }
            continue;
        } else {
            plan.failed_kept += 1;
        }
        plan.done.insert(line.custom_id.clone());
        plan.keep.push(text.clone());
    }
    plan
}

/// Opens the output for appending after resuming: reads an existing file, rewrites it when
/// lines must go (through a temporary file renamed over it, so a crash never leaves a half
/// file), and returns the append handle with the resume plan.
pub(crate) fn prepare_output(
    path: &Path,
    retry_failed: bool,
) -> Result<(File, ResumePlan, ExistingOutput), OutputError> {
    let io_error = |action: &'static str| {
        let path = path.display().to_string();
        move |source| OutputError::Io {
            action,
            path,
            source,
        }
    };
    let (existing, plan) = match fs::read(path) {
        Ok(bytes) => {
            let existing = parse_existing(&bytes, path)?;
            let plan = plan_resume(&existing, retry_failed);
            (existing, plan)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            (ExistingOutput::default(), ResumePlan::default())
        }
        Err(e) => return Err(io_error("read")(e)),
    };
    if plan.rewrite {
        let mut temp = path.as_os_str().to_owned();
        temp.push(".groqchat-tmp");
        let temp = PathBuf::from(temp);
        let mut text = String::new();
        for line in &plan.keep {
            text.push_str(line);
            text.push('\n');
        }
        let written = File::create(&temp).and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            file.sync_all()
        });
        written
            .and_then(|()| fs::rename(&temp, path))
            .map_err(io_error("rewrite"))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io_error("open"))?;
    // A last line kept without its newline gets one before anything is appended.
    if !plan.rewrite && !existing.lines.is_empty() {
        let bytes = fs::read(path).map_err(io_error("read"))?;
        if !bytes.ends_with(b"\n") {
            (&file).write_all(b"\n").map_err(io_error("write"))?;
        }
    }
    Ok((file, plan, existing))
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

    #[test]
    fn a_torn_last_line_is_dropped_and_other_bad_lines_are_errors() {
        let mut text = file_text(&[success("a"), failure("b")]);
        text.push_str(r#"{"id":"batch_req_x","custom_id":"c","resp"#);
        let existing = parse_existing(text.as_bytes(), Path::new("out.jsonl")).unwrap();
        assert!(existing.torn_tail);
        assert_eq!(existing.lines.len(), 2);

        let text = format!(
            "{}garbage\n{}",
            file_text(&[success("a")]),
            file_text(&[success("b")])
        );
        let err = parse_existing(text.as_bytes(), Path::new("out.jsonl")).unwrap_err();
        assert!(
            err.to_string()
                .contains("line 2 of the output file out.jsonl")
        );

        // A complete last line without its newline is kept.
        let text = success("a").to_json();
        let existing = parse_existing(text.as_bytes(), Path::new("o")).unwrap();
        assert_eq!((existing.lines.len(), existing.torn_tail), (1, false));
    }

    #[test]
    fn resume_skips_results_and_retries_failures_on_request() {
        let existing = ExistingOutput {
            lines: [success("a"), failure("b"), failure("c"), success("c")]
                .into_iter()
                .map(|l| (l.to_json(), l))
                .collect(),
            torn_tail: false,
        };
        let plan = plan_resume(&existing, false);
        assert_eq!(
            plan.done,
            HashSet::from(["a".into(), "b".into(), "c".into()])
        );
        assert_eq!((plan.succeeded, plan.failed_kept, plan.retrying), (2, 2, 0));
        assert!(!plan.rewrite);
        assert_eq!(plan.keep.len(), 4);

        let plan = plan_resume(&existing, true);
        assert_eq!(plan.done, HashSet::from(["a".into(), "c".into()]));
        assert_eq!((plan.succeeded, plan.failed_kept, plan.retrying), (2, 0, 1));
        assert!(plan.rewrite);
        assert_eq!(plan.keep, [success("a").to_json(), success("c").to_json()]);
    }

    #[test]
    fn prepare_rewrites_a_torn_file_into_valid_jsonl() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let mut text = file_text(&[success("a")]);
        text.push_str("{\"id\":\"batch_req_9\",\"cus");
        fs::write(&path, text).unwrap();
        let (file, plan, existing) = prepare_output(&path, false).unwrap();
        assert!(existing.torn_tail);
        assert_eq!(plan.done, HashSet::from(["a".to_owned()]));
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
        let (file, _, _) = prepare_output(&path, false).unwrap();
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
        let (file, _, _) = prepare_output(&path, false).unwrap();
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
