//! Every validation error path: each error names where, which model, which key, the bad
//! value and what would be valid, and never shows an API key.

use std::io::Write;

use groq_config::{Config, ConfigError};

const ORIGIN: &str = "test.json";

fn load(text: &str) -> ConfigError {
    match Config::from_json_str(text, ORIGIN) {
        Ok(config) => panic!("{text} should be rejected, got {config:?}"),
        Err(err) => err,
    }
}

/// Asserts the error's location and that its message contains every fragment.
#[track_caller]
fn assert_error(err: &ConfigError, model: Option<&str>, key: Option<&str>, fragments: &[&str]) {
    assert_eq!(err.origin(), Some(ORIGIN), "{err}");
    assert_eq!(err.model(), model, "{err}");
    assert_eq!(err.key(), key, "{err}");
    let message = err.to_string();
    assert!(message.starts_with(ORIGIN), "{message}");
    if let Some(model) = model {
        assert!(message.contains(&format!("model \"{model}\"")), "{message}");
    }
    for fragment in fragments {
        assert!(message.contains(fragment), "{message:?} lacks {fragment:?}");
    }
}

#[test]
fn bad_json_reports_line_and_column() {
    let err = load("{\n  \"models\": {\n    \"m\": {,\n  }\n}");
    let ConfigError::Syntax { line, column, .. } = &err else {
        panic!("expected a syntax error, got {err:?}");
    };
    assert_eq!((*line, *column), (3, 11));
    let message = err.to_string();
    assert!(message.contains("line 3, column 11"), "{message}");
    assert!(message.contains("key must be a string"), "{message}");
    // The position is stated once, not repeated from serde_json's own message.
    assert_eq!(message.matches("line").count(), 1, "{message}");

    assert!(matches!(load(""), ConfigError::Syntax { .. }));
    assert!(matches!(load("{} trailing"), ConfigError::Syntax { .. }));
}

#[test]
fn the_top_level_must_be_an_object() {
    let err = load("[1, 2]");
    assert_error(
        &err,
        None,
        Some("(top level)"),
        &["expected a JSON object", "found an array"],
    );
}

#[test]
fn negative_limits_other_than_minus_one_are_rejected() {
    let err = load(r#"{"m": {"req_per_minute": -2}}"#);
    assert_error(
        &err,
        Some("m"),
        Some("req_per_minute"),
        &["invalid value -2", "-1 or null for unlimited"],
    );
    let ok = Config::from_json_str(r#"{"m": {"req_per_minute": -1}}"#, ORIGIN).unwrap();
    assert!(ok.model("m").unwrap().limits.is_unlimited());
}

#[test]
fn zero_limits_are_rejected() {
    let err = load(r#"{"models": {"m": {"token_per_day": 0}}}"#);
    assert_error(
        &err,
        Some("m"),
        Some("token_per_day"),
        &["invalid value 0", "0 would admit nothing"],
    );
    let err = load(r#"{"models": {"m": {"token_per_day": {"limit": 0, "per": "1h"}}}}"#);
    assert_error(
        &err,
        Some("m"),
        Some("token_per_day.limit"),
        &["invalid value 0"],
    );
}

#[test]
fn fractional_and_non_numeric_limits_are_rejected() {
    let err = load(r#"{"m": {"req_per_day": 1.5}}"#);
    assert_error(&err, Some("m"), Some("req_per_day"), &["invalid value 1.5"]);
    let err = load(r#"{"m": {"req_per_day": "1000"}}"#);
    assert_error(
        &err,
        Some("m"),
        Some("req_per_day"),
        &["found a string", "{\"limit\": 30, \"per\": \"6s\"}"],
    );
    let err = load(r#"{"m": {"req_per_day": 99999999999999999999999}}"#);
    assert_error(&err, Some("m"), Some("req_per_day"), &["invalid value"]);
}

#[test]
fn bad_durations_are_rejected() {
    let err = load(r#"{"models": {"m": {"req_per_minute": {"limit": 30, "per": "6 seconds"}}}}"#);
    assert!(
        matches!(err, ConfigError::InvalidDuration { .. }),
        "{err:?}"
    );
    assert_error(
        &err,
        Some("m"),
        Some("req_per_minute.per"),
        &["\"6 seconds\"", "unknown unit", "\"1m30s\""],
    );

    let err = load(r#"{"models": {"m": {"req_per_minute": {"limit": 30, "per": "0s"}}}}"#);
    assert_error(
        &err,
        Some("m"),
        Some("req_per_minute.per"),
        &["longer than zero"],
    );

    let err = load(r#"{"models": {"m": {"req_per_minute": {"limit": 30, "per": 6}}}}"#);
    assert_error(
        &err,
        Some("m"),
        Some("req_per_minute.per"),
        &["found an integer"],
    );

    let err = load(r#"{"models": {"m": {"req_per_minute": {"limit": 30}}}}"#);
    assert_error(&err, Some("m"), Some("req_per_minute.per"), &["found null"]);

    let err = load(r#"{"priority_aging": {"low": "soon"}}"#);
    assert_error(&err, None, Some("priority_aging.low"), &["\"soon\""]);

    let err = load(r#"{"request_timeout": "0ms"}"#);
    assert_error(&err, None, Some("request_timeout"), &["longer than zero"]);

    let err = load(r#"{"stream_timeout": "0s"}"#);
    assert_error(
        &err,
        None,
        Some("stream_timeout"),
        &["longer than zero", "\"10m\""],
    );
    let err = load(r#"{"stream_idle_timeout": "-5s"}"#);
    assert_error(&err, None, Some("stream_idle_timeout"), &["\"-5s\""]);
    let err = load(r#"{"stream_idle_timeout": 30}"#);
    assert_error(
        &err,
        None,
        Some("stream_idle_timeout"),
        &["found an integer"],
    );

    let err = load(r#"{"request_timeout": 60}"#);
    assert_error(
        &err,
        None,
        Some("request_timeout"),
        &["found an integer", "\"6s\""],
    );
}

#[test]
fn unknown_keys_are_named_with_the_valid_ones() {
    let err = load(r#"{"base_url": "https://api.groq.com/openai/v1", "modles": {}}"#);
    assert!(matches!(err, ConfigError::UnknownKey { .. }), "{err:?}");
    assert_error(
        &err,
        None,
        Some("modles"),
        &[
            "unknown key `modles`",
            "models",
            "priority_aging",
            "unknown_models",
        ],
    );

    let err = load(r#"{"models": {"m": {"req_per_minut": 30}}}"#);
    assert_error(
        &err,
        Some("m"),
        Some("req_per_minut"),
        &[
            "unknown key `req_per_minut`",
            "req_per_minute",
            "context_window",
        ],
    );

    let err = load(r#"{"m": {"req_per_minute": 30, "requests": 5}}"#);
    assert_error(
        &err,
        Some("m"),
        Some("requests"),
        &[
            "unknown key `requests`",
            "in CustomGroqChat's format every top-level key is a model",
        ],
    );

    let err = load(
        r#"{"base_url": "https://api.groq.com/openai/v1", "llama-3.1-8b-instant": {"req_per_minute": 30}}"#,
    );
    assert_error(
        &err,
        None,
        Some("llama-3.1-8b-instant"),
        &["model entries belong under \"models\""],
    );

    let err = load(r#"{"models": {"m": {"req_per_minute": {"limit": 3, "every": "1s"}}}}"#);
    assert_error(&err, Some("m"), Some("every"), &["limit, per"]);

    let err = load(r#"{"priority_aging": {"high": "1s"}}"#);
    assert_error(&err, None, Some("high"), &["normal, low"]);

    let err = load(r#"{"unknown_models": {"rpm": 30}}"#);
    assert_error(
        &err,
        None,
        Some("rpm"),
        &["req_per_minute", "max_in_flight"],
    );
}

#[test]
fn context_windows_and_token_counts_must_be_positive() {
    let err = load(r#"{"m": {"context_window": 0}}"#);
    assert_error(
        &err,
        Some("m"),
        Some("context_window"),
        &["invalid value 0", "positive integer"],
    );
    let err = load(r#"{"m": {"context_window": 4294967296}}"#);
    assert_error(&err, Some("m"), Some("context_window"), &["4294967296"]);
    let err = load(r#"{"m": {"max_in_flight": 0}}"#);
    assert_error(&err, Some("m"), Some("max_in_flight"), &["invalid value 0"]);
    let err = load(r#"{"default_completion_tokens": 0}"#);
    assert_error(
        &err,
        None,
        Some("default_completion_tokens"),
        &["invalid value 0"],
    );
    let err = load(r#"{"models": {"m": {"max_completion_tokens": -5}}}"#);
    assert_error(&err, Some("m"), Some("max_completion_tokens"), &["-5"]);
}

#[test]
fn related_token_counts_must_be_consistent() {
    let err = load(r#"{"m": {"context_window": 1000, "max_completion_tokens": 2000}}"#);
    assert_error(
        &err,
        Some("m"),
        Some("max_completion_tokens"),
        &["2000", "at most the context window (1000)"],
    );
    let err = load(r#"{"m": {"max_completion_tokens": 100, "default_completion_tokens": 200}}"#);
    assert_error(
        &err,
        Some("m"),
        Some("default_completion_tokens"),
        &["200", "at most max_completion_tokens (100)"],
    );
    let err = load(r#"{"priority_aging": {"normal": "1m", "low": "30s"}}"#);
    assert_error(
        &err,
        None,
        Some("priority_aging.low"),
        &["30s", "priority_aging.normal (1m)"],
    );
}

#[test]
fn model_entries_must_be_objects() {
    let err = load(r#"{"llama-3.1-8b-instant": 30}"#);
    assert!(matches!(err, ConfigError::WrongType { .. }), "{err:?}");
    assert_error(
        &err,
        Some("llama-3.1-8b-instant"),
        None,
        &["expected an object", "found an integer"],
    );

    let err = load(r#"{"models": {"m": [1]}}"#);
    assert_error(&err, Some("m"), None, &["found an array"]);

    let err = load(r#"{"models": ["m"]}"#);
    assert_error(&err, None, Some("models"), &["found an array"]);

    let err = load(r#"{"models": {"": {}}}"#);
    assert_error(&err, Some(""), Some("id"), &["non-empty model id"]);
}

#[test]
fn wrong_types_name_the_expected_type() {
    let cases: [(&str, &str, &str); 9] = [
        (r#"{"base_url": 5}"#, "base_url", "found an integer"),
        (
            r#"{"builtin_catalog": "yes"}"#,
            "builtin_catalog",
            "true or false",
        ),
        (r#"{"max_retries": "2"}"#, "max_retries", "found a string"),
        (
            r#"{"max_retries": -1}"#,
            "max_retries",
            "non-negative integer",
        ),
        (
            r#"{"priority_aging": "5s"}"#,
            "priority_aging",
            "found a string",
        ),
        (
            r#"{"unknown_models": 5}"#,
            "unknown_models",
            "\"reject\", \"unlimited\"",
        ),
        (
            r#"{"unknown_models": "maybe"}"#,
            "unknown_models",
            "\"maybe\"",
        ),
        (
            r#"{"default_completion_tokens": true}"#,
            "default_completion_tokens",
            "found a boolean",
        ),
        (
            r#"{"models": {"m": {"context_window": "big"}}}"#,
            "context_window",
            "found a string",
        ),
    ];
    for (text, key, fragment) in cases {
        let err = load(text);
        assert_eq!(err.key(), Some(key), "{text}: {err}");
        assert!(err.to_string().contains(fragment), "{text}: {err}");
    }
}

#[test]
fn bad_urls_are_rejected() {
    for url in [
        "ftp://example.com",
        "api.groq.com/openai/v1",
        "https://",
        "http://a b",
        "",
    ] {
        let text = format!(r#"{{"base_url": {url:?}}}"#);
        let err = load(&text);
        assert_error(&err, None, Some("base_url"), &["http:// or https://"]);
    }
    let err = load(r#"{"m": {"base_url": "localhost:8080"}}"#);
    assert_error(&err, Some("m"), Some("base_url"), &["\"localhost:8080\""]);
}

#[test]
fn api_keys_never_appear_in_errors() {
    let secret = "gsk_topsecret value_abcdefLAST";
    let err = load(&format!(r#"{{"api_key": {secret:?}}}"#));
    let shown = format!("{err} | {err:?}");
    assert!(!shown.contains("topsecret"), "{shown}");
    assert!(shown.contains("gsk_…LAST"), "{shown}");
    assert_eq!(err.key(), Some("api_key"));

    let err = load(&format!(
        r#"{{"m": {{"api_key": {secret:?}, "req_per_minute": 0}}}}"#
    ));
    let shown = format!("{err} | {err:?}");
    assert!(!shown.contains("topsecret"), "{shown}");

    let err = load(r#"{"models": {"m": {"api_key": 12345678901234}}}"#);
    let shown = format!("{err} | {err:?}");
    assert!(!shown.contains("12345678901234"), "{shown}");
    assert!(shown.contains("found an integer"), "{shown}");

    let err = load(r#"{"api_key": ""}"#);
    assert_error(&err, None, Some("api_key"), &["the key is empty"]);
}

#[test]
fn errors_from_files_name_the_file() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(br#"{"models": {"m": {"req_per_minute": -3}}}"#)
        .unwrap();
    let err = Config::from_file(file.path()).unwrap_err();
    let path = file.path().display().to_string();
    assert_eq!(err.origin(), Some(path.as_str()));
    assert!(err.to_string().starts_with(&path), "{err}");

    let mut not_utf8 = tempfile::NamedTempFile::new().unwrap();
    not_utf8.write_all(&[0x7b, 0xff, 0xfe, 0x7d]).unwrap();
    let err = Config::from_file(not_utf8.path()).unwrap_err();
    assert!(matches!(err, ConfigError::Io { .. }), "{err:?}");
}

#[test]
fn long_values_are_shortened_in_messages() {
    let long_url = format!("ftp://{}", "x".repeat(500));
    let err = load(&format!(r#"{{"base_url": {long_url:?}}}"#));
    assert!(err.to_string().len() < 400, "{err}");
}

#[test]
fn deeply_nested_input_is_an_error_not_a_crash() {
    let depth = 100_000;
    let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    assert!(matches!(load(&text), ConfigError::Syntax { .. }));
    let text = format!("{}1{}", "{\"m\":".repeat(depth), "}".repeat(depth));
    assert!(matches!(load(&text), ConfigError::Syntax { .. }));
}

#[test]
fn the_error_type_can_cross_threads_and_be_boxed() {
    fn assert_bounds<T: std::error::Error + Send + Sync + 'static>() {}
    assert_bounds::<ConfigError>();
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(load("[]"));
    assert!(boxed.to_string().contains(ORIGIN));
}
