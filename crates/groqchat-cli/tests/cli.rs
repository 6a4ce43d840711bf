//! End-to-end tests of the `groqchat` binary against its embedded emulator (127.0.0.1 only).

use std::collections::HashSet;
use std::fs;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::time::Duration;

use assert_cmd::Command;
use groq_tokens::{TiktokenCounter, TokenCounter};
use groq_types::{ChatRequest, Message};
use serde_json::{Value, json};

/// The binary with a clean environment: no key, URL or configuration from the host.
fn groqchat() -> Command {
    let mut cmd = Command::cargo_bin("groqchat").expect("the groqchat binary is built");
    cmd.env_remove("GROQ_API_KEY")
        .env_remove("GROQ_BASE_URL")
        .env_remove("GROQ_CONFIG");
    cmd
}

/// The same for a child process driven by hand.
fn groqchat_std() -> StdCommand {
    let mut cmd = StdCommand::new(assert_cmd::cargo::cargo_bin("groqchat"));
    cmd.env_remove("GROQ_API_KEY")
        .env_remove("GROQ_BASE_URL")
        .env_remove("GROQ_CONFIG");
    cmd
}

/// Writes `n` requests: mostly llama-3.1-8b-instant (30 RPM binds), some qwen, mixed formats
/// and priorities. Custom ids are `r<i>` for batch lines and the line number for bare ones.
fn write_batch(path: &Path, n: usize) -> Vec<String> {
    let mut text = String::new();
    let mut ids = Vec::new();
    for i in 0..n {
        let model = if i % 4 == 0 {
            "qwen/qwen3-32b"
        } else {
            "llama-3.1-8b-instant"
        };
        let body = json!({
            "model": model,
            "messages": [{"role": "user", "content": format!("Question {i}: what is {i} squared?")}],
            "max_completion_tokens": 64,
        });
        let priority = ["high", "normal", "low"][i % 3];
        let line = if i % 2 == 1 {
            ids.push(format!("r{i}"));
            json!({"custom_id": format!("r{i}"), "method": "POST", "url": "/v1/chat/completions",
                   "body": body, "priority": priority})
        } else {
            ids.push((i + 1).to_string());
            let mut bare = body;
            bare["priority"] = json!(priority);
            bare
        };
        text.push_str(&line.to_string());
        text.push('\n');
    }
    fs::write(path, text).unwrap();
    ids
}

/// The result lines of an output file.
fn read_results(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("every output line is JSON"))
        .collect()
}

fn is_success(line: &Value) -> bool {
    line["error"].is_null() && line["response"]["status_code"] == 200
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

struct Files {
    _dir: tempfile::TempDir,
    input: PathBuf,
    output: PathBuf,
    summary: PathBuf,
}

fn files() -> Files {
    let dir = tempfile::tempdir().unwrap();
    Files {
        input: dir.path().join("in.jsonl"),
        output: dir.path().join("out.jsonl"),
        summary: dir.path().join("summary.json"),
        _dir: dir,
    }
}

fn batch_args<'a>(f: &'a Files, scale: &'a str) -> Vec<&'a std::ffi::OsStr> {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "batch".as_ref(),
        f.input.as_os_str(),
        "-o".as_ref(),
        f.output.as_os_str(),
        "--mock".as_ref(),
        "--mock-time-scale".as_ref(),
        scale.as_ref(),
        "--progress".as_ref(),
        "off".as_ref(),
    ];
    args.extend(["--summary-json".as_ref(), f.summary.as_os_str()]);
    args
}

#[test]
fn a_100_line_batch_in_compressed_time_meets_no_429() {
    let f = files();
    let ids = write_batch(&f.input, 100);
    let output = groqchat()
        .args(batch_args(&f, "3"))
        .timeout(Duration::from_secs(60))
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&output.get_output().stdout).into_owned();
    assert!(
        stdout.contains("75 requests, ~")
            && stdout.contains("on llama-3.1-8b-instant: 4.5s to 4.5s under its limits"),
        "{stdout}"
    );

    let summary = read_json(&f.summary);
    assert_eq!(summary["ok"], 100, "{summary}");
    assert_eq!(summary["failed"], 0);
    assert_eq!(summary["rate_limited_429"], 0);
    assert_eq!(summary["mock_server_429s"], 0);
    // 75 llama requests at 30 per 3 s: 45 beyond the full bucket, 0.1 s apart.
    assert_eq!(summary["minimum_secs"], 4.5);
    let elapsed = summary["elapsed_secs"].as_f64().unwrap();
    assert!(
        (4.4..15.0).contains(&elapsed),
        "paced to the limits: {elapsed}"
    );

    let results = read_results(&f.output);
    assert_eq!(results.len(), 100);
    assert!(results.iter().all(is_success));
    let got: HashSet<&str> = results
        .iter()
        .map(|r| r["custom_id"].as_str().unwrap())
        .collect();
    assert_eq!(got, ids.iter().map(String::as_str).collect());
    let result_ids: HashSet<&str> = results.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(result_ids.len(), 100);
    assert!(result_ids.iter().all(|id| id.starts_with("batch_req_")));
    assert!(
        results[0]["response"]["request_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("req_"))
    );
}

#[test]
fn a_killed_run_resumes_without_duplicates_or_losses() {
    let f = files();
    let ids = write_batch(&f.input, 100);
    // A "minute" of 6 s: 75 llama requests take at least 9 s, so the kill lands mid-run.
    let mut child = groqchat_std()
        .args(batch_args(&f, "6"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = 0;
    for _ in 0..400 {
        std::thread::sleep(Duration::from_millis(25));
        lines = fs::read_to_string(&f.output)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if lines >= 40 {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!((40..100).contains(&lines), "killed mid-run, {lines} lines");
    let before = read_results(&f.output);
    // A write torn by the crash: the next run must drop it.
    let mut text = fs::read_to_string(&f.output).unwrap();
    text.push_str(r#"{"id":"batch_req_torn","custom_id":"r1","respo"#);
    fs::write(&f.output, text).unwrap();

    let output = groqchat()
        .args(batch_args(&f, "2"))
        .timeout(Duration::from_secs(60))
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&output.get_output().stderr).into_owned();
    assert!(
        stderr.contains("dropped an incomplete last line"),
        "{stderr}"
    );
    assert!(stderr.contains("resuming"), "{stderr}");

    let results = read_results(&f.output);
    assert_eq!(results.len(), 100, "one line per request");
    let mut seen = HashSet::new();
    for result in &results {
        assert!(is_success(result), "{result}");
        assert!(
            seen.insert(result["custom_id"].as_str().unwrap().to_owned()),
            "duplicate custom_id {}",
            result["custom_id"]
        );
    }
    assert_eq!(seen, ids.into_iter().collect::<HashSet<_>>());
    // What the first run wrote is kept as it was.
    assert_eq!(&results[..before.len()], &before[..]);
    let summary = read_json(&f.summary);
    assert_eq!(summary["already_done"], before.len());
    assert_eq!(summary["ok"], 100 - before.len());
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_dispatch_and_leaves_a_resumable_file() {
    let f = files();
    write_batch(&f.input, 100);
    // Real-time limits: 30 llama requests go at once, then one every 2 s.
    let mut child = groqchat_std()
        .args(batch_args(&f, "60"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = 0;
    for _ in 0..400 {
        std::thread::sleep(Duration::from_millis(25));
        lines = fs::read_to_string(&f.output)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if lines >= 30 {
            break;
        }
    }
    assert!(lines >= 30);
    let status = StdCommand::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "interrupted runs exit 1");
    let mut stderr = String::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        stderr.push_str(&line.unwrap());
        stderr.push('\n');
    }
    assert!(
        stderr.contains("Ctrl-C: no new requests are sent"),
        "{stderr}"
    );
    let summary = read_json(&f.summary);
    assert_eq!(summary["interrupted"], true);
    let ok = summary["ok"].as_u64().unwrap();
    assert_eq!(summary["not_run"].as_u64().unwrap() + ok, 100, "{summary}");
    assert_eq!(summary["failed"], 0, "cancelled requests are not failures");
    let results = read_results(&f.output);
    assert_eq!(results.len() as u64, ok);

    // The rest runs on resume.
    groqchat()
        .args(batch_args(&f, "2"))
        .timeout(Duration::from_secs(60))
        .assert()
        .success();
    let results = read_results(&f.output);
    assert_eq!(results.len(), 100);
    let ids: HashSet<&str> = results
        .iter()
        .map(|r| r["custom_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 100);
}

#[test]
fn malformed_and_duplicate_lines_are_reported_and_skipped() {
    let f = files();
    let body = json!({"model": "llama-3.1-8b-instant", "messages": [{"role": "user", "content": "Hi"}],
                      "max_completion_tokens": 16});
    let text = [
        json!({"custom_id": "a", "body": body}).to_string(),
        "{not json".to_owned(),
        body.to_string(),
        json!({"custom_id": "b", "url": "/v1/embeddings", "body": body}).to_string(),
        json!({"custom_id": "a", "body": body}).to_string(),
        json!({"custom_id": "c", "body": body, "priority": "urgent"}).to_string(),
        json!({"custom_id": "d", "body": body, "priority": "low"}).to_string(),
    ]
    .join("\n");
    fs::write(&f.input, text).unwrap();
    let output = groqchat()
        .args(batch_args(&f, "1"))
        .timeout(Duration::from_secs(30))
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&output.get_output().stderr).into_owned();
    for expected in [
        "line 2: skipped: not valid JSON",
        "line 4: skipped: \"url\" must be \"/v1/chat/completions\"",
        "line 5: skipped: custom_id \"a\" is already used on line 1",
        "line 6: skipped: \"priority\" is \"urgent\"",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in {stderr}"
        );
    }
    let summary = read_json(&f.summary);
    assert_eq!(summary["malformed_lines"], 3);
    assert_eq!(summary["duplicate_lines"], 1);
    assert_eq!(summary["ok"], 3);
    let ids: HashSet<String> = read_results(&f.output)
        .iter()
        .map(|r| r["custom_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, HashSet::from(["a".into(), "3".into(), "d".into()]));
}

#[test]
fn ordered_output_follows_the_input() {
    let f = files();
    let ids = write_batch(&f.input, 40);
    groqchat()
        .args(batch_args(&f, "1"))
        .arg("--ordered")
        .timeout(Duration::from_secs(30))
        .assert()
        .success();
    let got: Vec<String> = read_results(&f.output)
        .iter()
        .map(|r| r["custom_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, ids);
}

#[test]
fn failures_are_kept_or_retried_without_duplicating_lines() {
    let f = files();
    let good =
        json!({"model": "llama-3.1-8b-instant", "messages": [{"role": "user", "content": "Hi"}]});
    // Refused by the API on every attempt (the emulator, like Groq, rejects `logprobs`); an
    // unknown model would stop the run before it starts (see tests/usage.rs), and an out-of-range
    // parameter is refused before sending.
    let unknown = json!({"model": "llama-3.1-8b-instant", "messages": [{"role": "user", "content": "Hi"}],
                         "max_completion_tokens": 8, "logprobs": true});
    fs::write(
        &f.input,
        format!(
            "{}\n{}\n",
            json!({"custom_id": "ok", "body": good}),
            json!({"custom_id": "bad", "body": unknown})
        ),
    )
    .unwrap();
    groqchat()
        .args(batch_args(&f, "1"))
        .timeout(Duration::from_secs(30))
        .assert()
        .code(1);
    let results = read_results(&f.output);
    let bad = results.iter().find(|r| r["custom_id"] == "bad").unwrap();
    // The API answered: OpenAI's batch output keeps its answer, and `error` is null.
    assert_eq!(bad["error"], Value::Null, "{bad}");
    assert_eq!(bad["response"]["status_code"], 400, "{bad}");
    assert!(
        bad["response"]["request_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("req_")),
        "{bad}"
    );
    assert!(
        bad["response"]["body"]["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("logprobs")),
        "{bad}"
    );
    let summary = read_json(&f.summary);
    assert_eq!(summary["failed_by_kind"]["invalid_request"], 1, "{summary}");

    // Without --retry-failed the failure stands: nothing is sent, and the exit code says so.
    let output = groqchat()
        .args(batch_args(&f, "1"))
        .timeout(Duration::from_secs(30))
        .assert()
        .code(1);
    let stdout = String::from_utf8_lossy(&output.get_output().stdout).into_owned();
    assert!(stdout.contains("nothing to send"), "{stdout}");
    assert_eq!(read_results(&f.output).len(), 2);

    // With it, the failure is sent again and replaces its line.
    groqchat()
        .args(batch_args(&f, "1"))
        .arg("--retry-failed")
        .timeout(Duration::from_secs(30))
        .assert()
        .code(1);
    let results = read_results(&f.output);
    assert_eq!(results.len(), 2);
    assert_eq!(read_json(&f.summary)["requests"], 1);
    assert_ne!(
        results[1]["id"], bad["id"],
        "the retried request has a new result line"
    );
}

#[test]
fn a_bad_configuration_is_a_usage_error() {
    let f = files();
    write_batch(&f.input, 3);
    let config = f.input.with_file_name("limits.json");
    fs::write(
        &config,
        r#"{"models": {"llama-3.1-8b-instant": {"req_per_minute": 0}}}"#,
    )
    .unwrap();
    let output = groqchat()
        .args(batch_args(&f, "60"))
        .arg("--config")
        .arg(&config)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&output.get_output().stderr).into_owned();
    assert!(stderr.contains("limits.json"), "{stderr}");
    assert!(stderr.contains("req_per_minute"), "{stderr}");
    assert!(!f.output.exists(), "nothing is written");

    let missing = f.input.with_file_name("missing.json");
    groqchat()
        .args(batch_args(&f, "60"))
        .arg("--config")
        .arg(&missing)
        .assert()
        .code(2);

    // The native format's `{ "limit": N, "per": "duration" }` is accepted.
    fs::write(
        &config,
        r#"{"models": {"llama-3.1-8b-instant": {"req_per_minute": {"limit": 30, "per": "3s"}},
                       "qwen/qwen3-32b": {"req_per_minute": {"limit": 60, "per": "3s"}}}}"#,
    )
    .unwrap();
    groqchat()
        .args(batch_args(&f, "60"))
        .arg("--config")
        .arg(&config)
        .timeout(Duration::from_secs(30))
        .assert()
        .success();
}

#[test]
fn a_missing_key_says_how_to_fix_it() {
    let f = files();
    write_batch(&f.input, 3);
    let output = groqchat()
        .args([
            "batch".as_ref(),
            f.input.as_os_str(),
            "-o".as_ref(),
            f.output.as_os_str(),
        ])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&output.get_output().stderr).into_owned();
    assert!(
        stderr.contains("set GROQ_API_KEY or pass --mock"),
        "{stderr}"
    );
    assert!(!f.output.exists());

    let output = groqchat().args(["models"]).assert().code(2);
    let stderr = String::from_utf8_lossy(&output.get_output().stderr).into_owned();
    assert!(
        stderr.contains("set GROQ_API_KEY or pass --mock"),
        "{stderr}"
    );
}

#[test]
fn token_counts_match_groq_tokens() {
    let counter = TiktokenCounter::new();
    let text = "Rate limits are buckets that refill continuously. Ünïcödé, emoji 🦀 and code: fn main() {}";
    for model in ["llama-3.1-8b-instant", "openai/gpt-oss-20b"] {
        let output = groqchat()
            .args(["tokens", "--model", model, text])
            .assert()
            .success();
        let stdout = String::from_utf8_lossy(&output.get_output().stdout).into_owned();
        assert_eq!(stdout.trim(), counter.count_text(model, text).to_string());
    }

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("text.txt");
    fs::write(&file, text.repeat(20)).unwrap();
    let output = groqchat()
        .args(["tokens".as_ref(), "--file".as_ref(), file.as_os_str()])
        .assert()
        .success();
    assert_eq!(
        String::from_utf8_lossy(&output.get_output().stdout).trim(),
        counter
            .count_text("llama-3.1-8b-instant", &text.repeat(20))
            .to_string()
    );

    let chat = dir.path().join("chat.json");
    let messages = vec![
        Message::system("You are terse."),
        Message::user("Name three primes."),
        Message::assistant("2, 3, 5."),
    ];
    fs::write(&chat, serde_json::to_string(&messages).unwrap()).unwrap();
    let output = groqchat()
        .args([
            "tokens".as_ref(),
            "--chat".as_ref(),
            chat.as_os_str(),
            "--json".as_ref(),
        ])
        .assert()
        .success();
    let value: Value = serde_json::from_slice(&output.get_output().stdout).unwrap();
    let expected =
        counter.count_request(&ChatRequest::new("llama-3.1-8b-instant").messages(messages));
    assert_eq!(value["tokens"], expected);
    assert_eq!(value["encoding"], "cl100k_base");

    groqchat().args(["tokens"]).assert().code(2);
}

#[test]
fn chat_streams_an_answer_and_models_lists_the_catalog() {
    let output = groqchat()
        .args([
            "chat",
            "--mock",
            "--max-completion-tokens",
            "8",
            "Say",
            "hello",
        ])
        .timeout(Duration::from_secs(30))
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&output.get_output().stdout).into_owned();
    assert!(stdout.split_whitespace().count() >= 2, "{stdout:?}");

    let output = groqchat()
        .args(["chat", "--mock"])
        .write_stdin("Hello there\nAnd again\n/exit\n")
        .timeout(Duration::from_secs(30))
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&output.get_output().stdout).into_owned();
    assert_eq!(
        stdout.lines().filter(|l| !l.trim().is_empty()).count(),
        2,
        "{stdout:?}"
    );

    let output = groqchat()
        .args(["models", "--mock"])
        .timeout(Duration::from_secs(30))
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&output.get_output().stdout).into_owned();
    assert!(stdout.contains("llama-3.1-8b-instant"), "{stdout}");
    assert!(stdout.contains("131072"), "{stdout}");
}

#[test]
fn limits_show_the_quota_and_a_probe_the_live_state() {
    let output = groqchat()
        .args(["limits", "llama-3.1-8b-instant"])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&output.get_output().stdout).into_owned();
    assert!(stdout.contains("RPM  30/min"), "{stdout}");
    assert!(stdout.contains("TPM  6000/min"), "{stdout}");

    let output = groqchat()
        .args(["limits", "llama-3.1-8b-instant", "--probe", "--mock"])
        .timeout(Duration::from_secs(30))
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&output.get_output().stdout).into_owned();
    assert!(stdout.contains("after one probe request"), "{stdout}");
    assert!(stdout.contains("left        29"), "{stdout}");
}

#[test]
fn mock_prints_its_base_url_and_serves() {
    let mut child = groqchat_std()
        .args(["mock", "--addr", "127.0.0.1:0", "--time-scale", "6"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(first.starts_with("http://127.0.0.1:"), "{first}");
    assert!(first.trim_end().ends_with("/openai/v1"), "{first}");
}

#[test]
fn dry_run_prints_the_plan_and_sends_nothing() {
    let f = files();
    write_batch(&f.input, 100);
    let output = groqchat()
        .args([
            "batch".as_ref(),
            f.input.as_os_str(),
            "-o".as_ref(),
            f.output.as_os_str(),
            "--dry-run".as_ref(),
        ])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&output.get_output().stdout).into_owned();
    // Real free-plan limits: 75 requests at 30 RPM need 45 * 2 s.
    assert!(
        stdout.contains("on llama-3.1-8b-instant: 1m30s to 1m30s under its limits (at least 1m30s")
            && stdout.contains("RPM 30/min binds"),
        "{stdout}"
    );
    assert!(stdout.contains("in all 100 requests"), "{stdout}");
    assert!(!f.output.exists());
}

#[test]
fn the_output_may_not_be_the_input() {
    let f = files();
    write_batch(&f.input, 2);
    let before = fs::read(&f.input).unwrap();
    let output = groqchat()
        .args([
            "batch".as_ref(),
            f.input.as_os_str(),
            "-o".as_ref(),
            f.input.as_os_str(),
            "--mock".as_ref(),
        ])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&output.get_output().stderr).into_owned();
    assert!(stderr.contains("is the input file"), "{stderr}");
    assert_eq!(fs::read(&f.input).unwrap(), before);
}

#[cfg(unix)]
#[test]
fn a_second_ctrl_c_aborts_the_requests_in_flight() {
    // A server that takes 60 s to answer: only an abort can end the run early.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mock = runtime
        .block_on(
            groq_mock::MockServer::builder()
                .api_key("gsk_slow_server_key")
                .latency(Duration::from_secs(60), Duration::from_secs(60))
                .capture_bodies(true)
                .start(),
        )
        .unwrap();
    let f = files();
    write_batch(&f.input, 5);
    // The wall time of a child process: no injected clock can stand in for it.
    #[allow(clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    let mut child = groqchat_std()
        .env("GROQ_API_KEY", "gsk_slow_server_key")
        .env("GROQ_BASE_URL", mock.base_url())
        .args(["batch".as_ref(), f.input.as_os_str(), "-o".as_ref()])
        .arg(&f.output)
        .args(["--progress", "off", "--summary-json"])
        .arg(&f.summary)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the run is sending (the calibration warm-up sends one request first and
    // holds the rest until it answers, which it never does here), however long the start-up
    // takes on a loaded machine.
    let mut waited = Duration::ZERO;
    while mock.stats().bodies.is_empty() {
        assert!(
            waited < Duration::from_secs(60),
            "the batch never put its requests on the wire"
        );
        std::thread::sleep(Duration::from_millis(20));
        waited += Duration::from_millis(20);
    }
    let interrupt = || {
        let status = StdCommand::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    };
    interrupt();
    std::thread::sleep(Duration::from_millis(300));
    interrupt();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        stderr.push_str(&line.unwrap());
        stderr.push('\n');
    }
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the run ended without waiting for the 60 s answers: {stderr}"
    );
    assert_eq!(status.code(), Some(1), "interrupted runs exit 1");
    assert!(stderr.contains("second Ctrl-C"), "{stderr}");
    let summary = read_json(&f.summary);
    assert_eq!(summary["interrupted"], true);
    assert_eq!(summary["ok"], 0);
    assert_eq!(summary["failed"], 0, "aborted requests are not failures");
    assert_eq!(summary["not_run"], 5, "{summary}");
    // Nothing half-written: the output is empty or valid JSON Lines, so a rerun resumes.
    if f.output.exists() {
        assert!(read_results(&f.output).is_empty());
    }
    drop(mock);
}
