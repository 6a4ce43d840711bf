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

/// Parses a whole input file. Blank lines are ignored; every other line becomes a request or a
/// [`LineProblem`]. Never fails: a bad line is reported and the rest is read.
pub(crate) fn parse_input(bytes: &[u8]) -> ParsedInput {
    let mut parsed = ParsedInput::default();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = index + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed_line = std::str::from_utf8(raw)
            .map_err(|e| {
                format!(
                    "not valid UTF-8 (at byte {}); save the file as UTF-8",
                    e.valid_up_to()
                )
            })
            .and_then(|text| parse_line(line, text));
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
