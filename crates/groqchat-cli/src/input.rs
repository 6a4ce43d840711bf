//! Reading a batch input file: Groq/OpenAI batch-format lines or bare chat request bodies.
//!
//! A batch-format line is `{"custom_id", "method": "POST", "url": "/v1/chat/completions",
//! "body": {...}}`; a bare line is the chat request body itself, whose custom id is its line
//! number. Either may carry a top-level `"priority"` (`"high"`, `"normal"`, `"low"`), which
//! is taken off before the body is sent (Groq rejects unknown properties). The body is
//! otherwise sent exactly as written (key order, numbers, spacing inside it): a batch
//! line's `body` byte for byte; a bare line byte for byte when it has no `priority`, else
//! its keys in order without `priority`.

use std::collections::HashMap;
use std::fmt;

use groq_queue::Priority;
use groq_types::ChatRequest;
use serde_json::{Map, Value};

/// The keys a batch-format line may have.
const BATCH_KEYS: [&str; 5] = ["custom_id", "method", "url", "body", "priority"];

/// The endpoints a batch-format line may name (Groq's, OpenAI's and the bare path).
const CHAT_URLS: [&str; 3] = [
    "/v1/chat/completions",
    "/openai/v1/chat/completions",
    "/chat/completions",
];

/// One request of the input.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BatchRequest {
    /// The 1-based line number in the input file.
    pub(crate) line: usize,
    /// The caller's id (the line number for bare bodies).
    pub(crate) custom_id: String,
    /// The queue priority.
    pub(crate) priority: Priority,
    /// The chat request to send.
    pub(crate) request: ChatRequest,
}

/// A line that was not taken, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LineProblem {
    /// The 1-based line number.
    pub(crate) line: usize,
    /// What is wrong with it.
    pub(crate) kind: ProblemKind,
}

/// Why a line was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProblemKind {
    /// The line is not a usable request; the text says why.
    Malformed(String),
    /// The custom id was already used on an earlier line.
    Duplicate {
        /// The repeated id.
        custom_id: String,
        /// The line that used it first.
        first_line: usize,
    },
}

impl fmt::Display for LineProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ProblemKind::Malformed(why) => write!(f, "line {}: skipped: {why}", self.line),
            ProblemKind::Duplicate {
                custom_id,
                first_line,
            } => write!(
                f,
                "line {}: skipped: custom_id \"{custom_id}\" is already used on line {first_line}; \
                 give every request its own custom_id",
                self.line
            ),
        }
    }
}

/// The requests of an input file and the lines that were skipped.
#[derive(Debug, Default)]
pub(crate) struct ParsedInput {
    /// The requests, in input order, with unique custom ids.
    pub(crate) requests: Vec<BatchRequest>,
    /// The skipped lines, in input order.
    pub(crate) problems: Vec<LineProblem>,
}

#[cfg(test)]
impl ParsedInput {
    /// How many lines were skipped because they are malformed.
    pub(crate) fn malformed(&self) -> usize {
        self.problems
            .iter()
            .filter(|p| matches!(p.kind, ProblemKind::Malformed(_)))
            .count()
    }

    /// How many lines were skipped because their custom id repeats an earlier one.
    pub(crate) fn duplicates(&self) -> usize {
        self.problems.len() - self.malformed()
    }
}

/// Parses a whole input held in memory (tests, and `batch --remote`, which uploads the file
/// anyway); the local batch runner reads files as they go with [`InputLines`]. Blank lines are
/// ignored; every other line becomes a request or a [`LineProblem`]. Never fails: a bad line
/// is reported and the rest is read.
pub(crate) fn parse_input(bytes: &[u8]) -> ParsedInput {
    let mut parsed = ParsedInput::default();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut lines = InputLines::new(bytes, usize::MAX);
    while let Ok(Some(raw)) = lines.next_line() {
        let (line, parsed_line) = match raw {
            RawLine::Text { line, bytes } => {
                if bytes.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                (line, parse_raw_line(line, &bytes))
            }
            RawLine::TooLong { line, bytes } => (line, Err(too_long(bytes, usize::MAX))),
        };
        match parsed_line {
            Ok(request) => match seen.get(&request.custom_id) {
                Some(&first_line) => parsed.problems.push(LineProblem {
                    line,
                    kind: ProblemKind::Duplicate {
                        custom_id: request.custom_id,
                        first_line,
                    },
                }),
                None => {
                    seen.insert(request.custom_id.clone(), line);
                    parsed.requests.push(request);
                }
            },
            Err(why) => parsed.problems.push(LineProblem {
                line,
                kind: ProblemKind::Malformed(why),
            }),
        }
    }
    parsed
}

/// The default cap on one input line: 16 MiB, far above any chat request Groq accepts.
pub(crate) const DEFAULT_MAX_LINE_BYTES: usize = 16 << 20;

/// One line of an input, as [`InputLines`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RawLine {
    /// A line within the cap, without its line ending.
    Text {
        /// The 1-based line number.
        line: usize,
        /// The bytes, a UTF-8 byte-order mark on line 1 removed.
        bytes: Vec<u8>,
    },
    /// A line longer than the cap: skipped as it was read, never held whole.
    TooLong {
        /// The 1-based line number.
        line: usize,
        /// Its length in bytes.
        bytes: usize,
    },
}

/// The problem text of a line longer than the cap.
pub(crate) fn too_long(bytes: usize, cap: usize) -> String {
    format!(
        "the line is {bytes} bytes, longer than the limit of {cap} bytes; shorten it or raise \
         --max-line-bytes"
    )
}

/// Reads an input line by line with a cap on the line length: memory stays within the cap
/// plus the reader's buffer whatever the file holds. A UTF-8 byte-order mark at the start is
/// skipped; `\r\n` endings are accepted.
#[derive(Debug)]
pub(crate) struct InputLines<R> {
    reader: R,
    max_line_bytes: usize,
    line: usize,
    done: bool,
    /// Whether the last line returned ended with a newline.
    ended: bool,
}

impl<R: std::io::BufRead> InputLines<R> {
    /// Lines of `reader`, each at most `max_line_bytes` long.
    pub(crate) fn new(reader: R, max_line_bytes: usize) -> Self {
        Self {
            reader,
            max_line_bytes,
            line: 0,
            done: false,
            ended: true,
        }
    }

    /// Whether the last line returned ended with a newline (`false` only for a last line cut
    /// short by the end of the input).
    pub(crate) fn last_ended(&self) -> bool {
        self.ended
    }

    /// The next line, or `None` at the end of the input.
    pub(crate) fn next_line(&mut self) -> std::io::Result<Option<RawLine>> {
        if self.done {
            return Ok(None);
        }
        let mut bytes = Vec::new();
        let mut length = 0usize;
        let mut too_long = false;
        let mut ended = false;
        loop {
            let available = match self.reader.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                self.done = true;
                break;
            }
            let (chunk, consumed) = match available.iter().position(|&b| b == b'\n') {
                Some(at) => {
                    ended = true;
                    (&available[..at], at + 1)
                }
                None => (available, available.len()),
            };
            length = length.saturating_add(chunk.len());
            if length > self.max_line_bytes {
                too_long = true;
                bytes = Vec::new();
            } else {
                bytes.extend_from_slice(chunk);
            }
            self.reader.consume(consumed);
            if ended {
                break;
            }
        }
        if !ended && length == 0 {
            return Ok(None);
        }
        self.ended = ended;
        self.line += 1;
        let line = self.line;
        if too_long {
            return Ok(Some(RawLine::TooLong {
                line,
                bytes: length,
            }));
        }
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        if line == 1 && bytes.starts_with(b"\xEF\xBB\xBF") {
            bytes.drain(..3);
        }
        Ok(Some(RawLine::Text { line, bytes }))
    }
}

/// Parses one non-blank raw line: UTF-8, then [`parse_line`].
pub(crate) fn parse_raw_line(line: usize, raw: &[u8]) -> Result<BatchRequest, String> {
    std::str::from_utf8(raw)
        .map_err(|e| {
            format!(
                "not valid UTF-8 (at byte {}); save the file as UTF-8",
                e.valid_up_to()
            )
        })
        .and_then(|text| parse_line(line, text))
}

/// Parses one non-blank line.
fn parse_line(line: usize, text: &str) -> Result<BatchRequest, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        format!(
            "not valid JSON ({e}); each line must be one JSON object (batch format or a chat request body)"
        )
    })?;
    let Value::Object(mut object) = value else {
        return Err(
            "not a JSON object; each line must be one JSON object (batch format or a chat request body)"
                .to_owned(),
        );
    };
    let priority = take_priority(&mut object)?;
    let (custom_id, request) = if object.contains_key("body") || object.contains_key("custom_id") {
        let (custom_id, body) = parse_batch_line(object)?;
        // The body goes out as given: its exact text, read apart from the checks above.
        #[derive(serde::Deserialize)]
        struct Line<'a> {
            #[serde(borrow)]
            body: &'a serde_json::value::RawValue,
        }
        let raw = serde_json::from_str::<Line<'_>>(text)
            .map_err(|e| format!("the \"body\" cannot be read: {e}"))?;
        (custom_id, parse_body(&body, raw.body.get())?)
    } else {
        // A bare line is the body; the only change is taking off its `priority`.
        let mut request = parse_body(&Value::Object(object), text)?;
        request.remove("priority");
        (line.to_string(), request)
    };
    Ok(BatchRequest {
        line,
        custom_id,
        priority,
        request,
    })
}

/// Removes and parses the optional `priority` field.
fn take_priority(object: &mut Map<String, Value>) -> Result<Priority, String> {
    match object.remove("priority") {
        None | Some(Value::Null) => Ok(Priority::Normal),
        Some(Value::String(text)) => text.parse::<Priority>().map_err(|_| {
            format!(
                "\"priority\" is \"{}\"; use \"high\", \"normal\" or \"low\"",
                text.chars().take(40).collect::<String>()
            )
        }),
        Some(other) => Err(format!(
            "\"priority\" is {}; use \"high\", \"normal\" or \"low\"",
            json_kind(&other)
        )),
    }
}

/// Parses a batch-format line (its priority already taken off): its custom id and request.
fn parse_batch_line(mut object: Map<String, Value>) -> Result<(String, Value), String> {
    if let Some(key) = object.keys().find(|k| !BATCH_KEYS.contains(&k.as_str())) {
        return Err(format!(
            "unknown key \"{key}\" in a batch-format line; the keys are {}",
            BATCH_KEYS.join(", ")
        ));
    }
    let custom_id = match object.remove("custom_id") {
        Some(Value::String(id)) if !id.trim().is_empty() => id,
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => n.to_string(),
        None => return Err("a batch-format line needs a \"custom_id\"".to_owned()),
        Some(other) => {
            return Err(format!(
                "\"custom_id\" must be a non-empty string, got {}",
                json_kind(&other)
            ));
        }
    };
    match object.remove("method") {
        None => {}
        Some(Value::String(method)) if method.eq_ignore_ascii_case("POST") => {}
        Some(other) => {
            return Err(format!(
                "\"method\" must be \"POST\", got {}",
                short_json(&other)
            ));
        }
    }
    match object.remove("url") {
        None => {}
        Some(Value::String(url)) if CHAT_URLS.contains(&url.trim_end_matches('/')) => {}
        Some(other) => {
            return Err(format!(
                "\"url\" must be \"/v1/chat/completions\" (the only endpoint supported), got {}",
                short_json(&other)
            ));
        }
    }
    let body = object
        .remove("body")
        .ok_or_else(|| "a batch-format line needs a \"body\" with the chat request".to_owned())?;
    Ok((custom_id, body))
}

/// Parses a chat request body from its exact text `raw` (checked through its `body` value).
fn parse_body(body: &Value, raw: &str) -> Result<ChatRequest, String> {
    let Value::Object(object) = body else {
        return Err(format!(
            "the chat request body must be a JSON object, got {}",
            json_kind(body)
        ));
    };
    for key in ["model", "messages"] {
        if !object.contains_key(key) {
            return Err(format!("the chat request has no \"{key}\""));
        }
    }
    let request = ChatRequest::from_slice(raw.as_bytes())
        .map_err(|e| format!("not a valid chat request: {e}"))?;
    request
        .validate()
        .map_err(|e| format!("not a valid chat request: {e}"))?;
    Ok(request)
}

/// "a number", "an array", ... for messages.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A value as JSON, cut to a readable length.
fn short_json(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 60 {
        let cut: String = text.chars().take(57).collect();
        format!("{cut}...")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lines(input: &[u8], cap: usize) -> Vec<RawLine> {
        let mut reader = InputLines::new(std::io::BufReader::with_capacity(7, input), cap);
        let mut out = Vec::new();
        while let Some(line) = reader.next_line().unwrap() {
            out.push(line);
        }
        out
    }

    fn text(line: usize, bytes: &[u8]) -> RawLine {
        RawLine::Text {
            line,
            bytes: bytes.to_vec(),
        }
    }

    #[test]
    fn lines_are_read_with_a_cap_a_bom_and_any_ending() {
        assert_eq!(
            lines(b"\xEF\xBB\xBF{}\r\nabc\n\nlast", 100),
            [
                text(1, b"{}"),
                text(2, b"abc"),
                text(3, b""),
                text(4, b"last")
            ]
        );
        assert_eq!(
            lines(b"short\n0123456789abcdef0123\nok\n", 10),
            [
                text(1, b"short"),
                RawLine::TooLong { line: 2, bytes: 20 },
                text(3, b"ok")
            ]
        );
        assert!(lines(b"", 10).is_empty());
        // A BOM is only skipped at the start of the file.
        assert_eq!(lines(b"a\n\xEF\xBB\xBFb", 10)[1], text(2, b"\xEF\xBB\xBFb"));
    }

    #[test]
    fn a_bom_does_not_make_line_one_invalid() {
        let parsed = parse_input(format!("\u{feff}{BODY}\n").as_bytes());
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        assert_eq!(parsed.requests.len(), 1);
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics_and_lines_stay_capped(
            input in prop::collection::vec(any::<u8>(), 0..2048),
            cap in 1usize..64,
        ) {
            for line in lines(&input, cap) {
                match line {
                    RawLine::Text { line, bytes } => {
                        prop_assert!(bytes.len() <= cap);
                        let _ = parse_raw_line(line, &bytes);
                    }
                    RawLine::TooLong { bytes, .. } => prop_assert!(bytes > cap),
                }
            }
        }

        #[test]
        fn json_shaped_lines_never_panic(
            parts in prop::collection::vec(prop::sample::select(vec![
                "{", "}", "[", "]", ":", ",", "\"custom_id\"", "\"body\"", "\"model\"",
                "\"messages\"", "\"priority\"", "\"high\"", "null", "1", "-1", "1e999",
                "\"role\"", "\"user\"", "\"content\"", "\"x\"", "\"method\"", "\"url\"",
            ]), 0..60),
        ) {
            let _ = parse_raw_line(1, parts.concat().as_bytes());
        }
    }

    fn parse(text: &str) -> ParsedInput {
        parse_input(text.as_bytes())
    }

    const BODY: &str = r#"{"model":"llama-3.1-8b-instant","messages":[{"role":"user","content":"Hi"}],"max_completion_tokens":32}"#;

    #[test]
    fn batch_format_and_bare_lines() {
        let text = format!(
            "{{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{BODY},\"priority\":\"high\"}}\n\
             \n\
             {BODY}\n\
             {{\"model\":\"qwen/qwen3-32b\",\"messages\":[{{\"role\":\"user\",\"content\":\"x\"}}],\"priority\":\"low\"}}\n"
        );
        let parsed = parse(&text);
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        let ids: Vec<_> = parsed
            .requests
            .iter()
            .map(|r| (r.line, r.custom_id.as_str(), r.priority))
            .collect();
        assert_eq!(
            ids,
            [
                (1, "a", Priority::High),
                (3, "3", Priority::Normal),
                (4, "4", Priority::Low)
            ]
        );
        assert_eq!(parsed.requests[0].request.completion_budget(), Some(32));
        // Bodies go out byte for byte; the priority never reaches the body sent to Groq.
        assert_eq!(&parsed.requests[0].request.to_bytes()[..], BODY.as_bytes());
        assert_eq!(&parsed.requests[1].request.to_bytes()[..], BODY.as_bytes());
        assert_eq!(
            &parsed.requests[2].request.to_bytes()[..],
            br#"{"model":"qwen/qwen3-32b","messages":[{"role":"user","content":"x"}]}"#
        );
    }

    #[test]
    fn bodies_keep_order_numbers_and_unknown_fields() {
        let body = r#"{"messages": [{"role":"user","content":"hi","name":"ann","x":{"z":1,"a":123456789012345678901234567890}}], "model": "m", "seed": 7, "response_format": {"type":"json_schema","json_schema":{"name":"s","schema":{"properties":{"b":{},"a":{}}},"extra":true}}}"#;
        let text = format!("{{\"custom_id\":\"a\",\"body\":{body}}}\n{body}\n");
        let parsed = parse(&text);
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        for request in &parsed.requests {
            assert_eq!(&request.request.to_bytes()[..], body.as_bytes());
        }
    }

    #[test]
    fn malformed_lines_are_reported_with_their_line_number() {
        let text = format!(
            "{BODY}\n\
             not json\n\
             [1,2]\n\
             {{\"custom_id\":\"x\"}}\n\
             {{\"custom_id\":\"y\",\"url\":\"/v1/embeddings\",\"body\":{BODY}}}\n\
             {{\"custom_id\":\"z\",\"method\":\"GET\",\"body\":{BODY}}}\n\
             {{\"custom_id\":\"w\",\"body\":{BODY},\"priority\":\"urgent\"}}\n\
             {{\"custom_id\":\"v\",\"body\":{BODY},\"prority\":\"low\"}}\n\
             {{\"messages\":[]}}\n\
             {{\"model\":\"m\",\"messages\":\"hello\"}}\n\
             {{\"custom_id\":\"\",\"body\":{BODY}}}\n\
             {BODY}\n"
        );
        let parsed = parse(&text);
        let lines: Vec<usize> = parsed.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
        assert_eq!(parsed.malformed(), 10);
        let ids: Vec<_> = parsed
            .requests
            .iter()
            .map(|r| r.custom_id.clone())
            .collect();
        assert_eq!(ids, ["1", "12"]);
        let messages: Vec<String> = parsed.problems.iter().map(|p| p.to_string()).collect();
        assert!(messages[0].starts_with("line 2: skipped: not valid JSON"));
        assert!(messages[2].contains("needs a \"body\""));
        assert!(messages[3].contains("only endpoint supported"));
        assert!(messages[5].contains("\"urgent\""));
        assert!(messages[6].contains("unknown key \"prority\""));
        assert!(messages[7].contains("no \"model\""));
    }

    #[test]
    fn duplicate_custom_ids_are_reported_and_the_first_kept() {
        let text = format!(
            "{{\"custom_id\":\"q\",\"body\":{BODY}}}\n\
             {{\"custom_id\":\"q\",\"body\":{BODY}}}\n\
             {{\"custom_id\":\"1\",\"body\":{BODY}}}\n\
             {BODY}\n\
             {{\"custom_id\":4,\"body\":{BODY}}}\n"
        );
        let parsed = parse(&text);
        assert_eq!(parsed.duplicates(), 2);
        assert_eq!(
            parsed.problems[0].kind,
            ProblemKind::Duplicate {
                custom_id: "q".into(),
                first_line: 1
            }
        );
        assert!(parsed.problems[0].to_string().contains("line 2"));
        // A bare body on line 4 takes id "4", so the numeric custom_id 4 on line 5 repeats it.
        assert_eq!(parsed.problems[1].line, 5);
        let ids: Vec<_> = parsed
            .requests
            .iter()
            .map(|r| r.custom_id.clone())
            .collect();
        assert_eq!(ids, ["q", "1", "4"]);
    }

    #[test]
    fn invalid_utf8_and_crlf() {
        let mut bytes = format!("{BODY}\r\n").into_bytes();
        bytes.extend_from_slice(b"{\"model\":\"\xff\"}\n");
        let parsed = parse_input(&bytes);
        assert_eq!(parsed.requests.len(), 1);
        assert_eq!(parsed.problems.len(), 1);
        assert!(parsed.problems[0].to_string().contains("UTF-8"));
    }
}
