//! The command line as people use it: closed pipes, exit codes, messages in CLI words, the
//! batch model check, `-` for stdin, `mock --limits` formats, completions, man pages,
//! `--json`, `-v`, and a piped chat. Everything runs against the emulator on 127.0.0.1.

use std::fs;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::Duration;

use assert_cmd::Command;
use serde_json::{Value, json};

/// The binary with a clean environment: no key, URL, configuration or log filter from the
/// host.
fn groqchat() -> Command {
    let mut cmd = Command::cargo_bin("groqchat").expect("the groqchat binary is built");
    cmd.env_remove("GROQ_API_KEY")
        .env_remove("GROQ_BASE_URL")
        .env_remove("GROQ_CONFIG")
        .env_remove("RUST_LOG")
        .timeout(Duration::from_secs(60));
    cmd
}

fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `groqchat mock` on a free port, killed on drop.
struct Emulator {
    child: Child,
    base_url: String,
}

impl Emulator {
    fn start(args: &[&str]) -> Self {
        let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("groqchat"))
            .args(["mock", "--addr", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(first.starts_with("http://127.0.0.1:"), "{first:?}");
        Self {
            child,
            base_url: first.trim().to_owned(),
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `groqchat ARGS` with a stdout whose reader is already gone; returns the output.
fn with_closed_stdout(args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut cmd = StdCommand::new(assert_cmd::cargo::cargo_bin("groqchat"));
    cmd.env_remove("GROQ_API_KEY")
        .env_remove("GROQ_BASE_URL")
        .env_remove("GROQ_CONFIG")
        .env_remove("RUST_LOG")
        .env("RUST_BACKTRACE", "1")
        .args(args)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    drop(cmd);
    child.wait_with_output().unwrap()
}

#[test]
fn every_command_exits_quietly_on_a_closed_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    fs::write(
        &input,
        "{\"model\":\"llama-3.1-8b-instant\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}\n",
    )
    .unwrap();
    let input = input.to_str().unwrap();
    for args in [
        &["limits"][..],
        &["limits", "--json"],
        &["models", "--mock"],
        &["tokens", "some words"],
        &["completions", "bash"],
        &["man"],
        &["chat", "--mock", "hi"],
        &["batch", input, "-o", "unused.jsonl", "--dry-run"],
    ] {
        let output = with_closed_stdout(args);
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
    }
}

#[test]
fn usage_and_configuration_errors_exit_2() {
    for args in [
        &["chat", "--mock", "--temperature", "5", "hi"][..],
        &["chat", "--mock", "--temperature", "-1", "hi"],
        &["chat", "--mock", "--max-completion-tokens", "0", "hi"],
        &["limits", "--mock-time-scale", "6"],
        &["limits", "--no-such-flag"],
        &["completions", "tcsh"],
    ] {
        let output = groqchat().args(args).output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr_of(&output)
        );
    }
    let output = groqchat()
        .args(["chat", "--mock", "--temperature", "5", "hi"])
        .output()
        .unwrap();
    assert!(
        stderr_of(&output).contains("from 0 to 2"),
        "{}",
        stderr_of(&output)
    );
    let output = groqchat()
        .args(["limits", "--mock-time-scale", "6"])
        .output()
        .unwrap();
    assert!(stderr_of(&output).contains("only applies with --mock"));
}

#[test]
fn a_missing_model_is_a_usage_error_in_cli_words() {
    let output = groqchat()
        .args(["chat", "--mock", "-m", "llama-3.1-8b-instnat", "hi"])
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`groqchat models`"), "{stderr}");
    assert!(!stderr.contains("GroqClient"), "{stderr}");
    assert!(!stderr.contains(".;"), "{stderr}");
}

fn write_lines(path: &Path, models: &[&str]) {
    let text: String = models
        .iter()
        .map(|model| {
            let line = json!({
                "model": model,
                "messages": [{"role": "user", "content": "hi"}],
                "max_completion_tokens": 8,
            });
            format!("{line}\n")
        })
        .collect();
    fs::write(path, text).unwrap();
}

#[test]
fn batch_refuses_unknown_models_before_sending_anything() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let output = dir.path().join("out.jsonl");
    write_lines(
        &input,
        &[
            "llama-3.1-8b-instnat",
            "llama-3.1-8b-instant",
            "llama-3.1-8b-instnat",
            "no-such/model",
        ],
    );
    let run = groqchat()
        .args([
            "batch",
            input.to_str().unwrap(),
            "-o",
            output.to_str().unwrap(),
        ])
        .args(["--mock", "--progress", "off"])
        .output()
        .unwrap();
    let stderr = stderr_of(&run);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "unknown model `llama-3.1-8b-instnat` in 2 requests (lines 1, 3): did you mean `llama-3.1-8b-instant`?"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("unknown model `no-such/model` in 1 request (line 4)"),
        "{stderr}"
    );
    assert!(stderr.contains("--skip-unknown-models"), "{stderr}");
    assert!(stderr.contains("`groqchat models`"), "{stderr}");
    assert!(!output.exists(), "nothing may be written before the check");

    let run = groqchat()
        .args([
            "batch",
            input.to_str().unwrap(),
            "-o",
            output.to_str().unwrap(),
        ])
        .args(["--mock", "--progress", "off", "--skip-unknown-models"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1), "{}", stderr_of(&run));
    assert!(stderr_of(&run).contains("skipping those 3 requests"));
    let lines: Vec<Value> = fs::read_to_string(&output)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["custom_id"], "2");
    assert!(lines[0]["error"].is_null());
}

#[test]
fn a_dash_reads_stdin_for_token_counts() {
    let text = "Count these words, please.";
    let from_stdin = groqchat()
        .args(["tokens", "--file", "-"])
        .write_stdin(text)
        .output()
        .unwrap();
    let from_arg = groqchat().args(["tokens", text]).output().unwrap();
    assert!(from_stdin.status.success());
    assert_eq!(stdout_of(&from_stdin), stdout_of(&from_arg));
    let chat = groqchat()
        .args(["tokens", "--chat", "-", "--json"])
        .write_stdin(r#"[{"role":"user","content":"hello"}]"#)
        .output()
        .unwrap();
    assert!(chat.status.success(), "{}", stderr_of(&chat));
    let value: Value = serde_json::from_str(&stdout_of(&chat)).unwrap();
    assert!(value["tokens"].as_u64().unwrap() > 1);
}

#[test]
fn mock_limits_take_every_configuration_format() {
    let dir = tempfile::tempdir().unwrap();
    let formats = [
        (
            "own.json",
            r#"{"my-model": {"rpm": 30, "context_window": 4096}}"#,
        ),
        (
            "seed.json",
            r#"{"my-model": {"req_per_minute": {"limit": 30, "per": "6s"}, "context_window": 4096}}"#,
        ),
        (
            "native.json",
            r#"{"builtin_catalog": false, "models": {"my-model": {"req_per_minute": 30, "context_window": 4096}}}"#,
        ),
    ];
    for (name, text) in formats {
        let path = dir.path().join(name);
        fs::write(&path, text).unwrap();
        let emulator = Emulator::start(&["--limits", path.to_str().unwrap()]);
        let output = groqchat()
            .args(["models", "--json"])
            .env("GROQ_API_KEY", "gsk_test")
            .env("GROQ_BASE_URL", &emulator.base_url)
            .output()
            .unwrap();
        assert!(output.status.success(), "{name}: {}", stderr_of(&output));
        let list: Value = serde_json::from_str(&stdout_of(&output)).unwrap();
        let model = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == "my-model")
            .unwrap_or_else(|| panic!("{name}: {list}"));
        assert_eq!(model["context_window"], 4096, "{name}");
    }

    let bad = dir.path().join("bad.json");
    fs::write(&bad, r#"{"my-model": {"req_per_minute": 0}}"#).unwrap();
    let output = groqchat()
        .args([
            "mock",
            "--addr",
            "127.0.0.1:0",
            "--limits",
            bad.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("req_per_minute"), "{stderr}");
    assert!(!stderr.contains("--mock-time-scale"), "{stderr}");
}

#[test]
fn completions_and_man_pages() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let output = groqchat().args(["completions", shell]).output().unwrap();
        assert!(output.status.success(), "{shell}");
        let script = stdout_of(&output);
        assert!(script.contains("groqchat"), "{shell}");
        assert!(script.contains("completions"), "{shell}");
    }
    let dir = tempfile::tempdir().unwrap();
    groqchat()
        .args(["man", "--dir", dir.path().to_str().unwrap()])
        .assert()
        .success();
    let page = fs::read_to_string(dir.path().join("groqchat-batch.1")).unwrap();
    assert!(page.contains("skip\\-unknown\\-models"), "{page}");
}

#[test]
fn json_output_for_scripts() {
    let output = groqchat().args(["limits", "--json"]).output().unwrap();
    assert!(output.status.success());
    let lines: Vec<Value> = stdout_of(&output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let llama = lines
        .iter()
        .find(|l| l["model"] == "llama-3.1-8b-instant")
        .unwrap();
    assert_eq!(llama["context_window"], 131_072);
    assert!(
        llama["limits"]
            .as_array()
            .unwrap()
            .contains(&json!({"dimension": "RPM", "limit": 30, "period_secs": 60.0}))
    );

    let output = groqchat()
        .args(["chat", "--mock", "--json", "--max-completion-tokens", "5"])
        .write_stdin("first\nsecond\n")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let answers: Vec<Value> = stdout_of(&output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(answers.len(), 2);
    for answer in &answers {
        assert_eq!(answer["model"], "llama-3.1-8b-instant");
        assert_eq!(answer["usage"]["completion_tokens"], 5);
        assert!(!answer["content"].as_str().unwrap().is_empty());
    }
}

#[test]
fn a_piped_chat_prints_only_the_answers() {
    let output = groqchat()
        .args(["chat", "--mock", "--max-completion-tokens", "6"])
        .write_stdin("hi\n")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(stdout_of(&output), "The mock model answers with steady\n");
    assert_eq!(
        stderr_of(&output),
        "",
        "no prompt or banner on stderr either"
    );
}

#[test]
fn verbose_flags_and_rust_log_turn_on_tracing() {
    let quiet = groqchat().args(["chat", "--mock", "hi"]).output().unwrap();
    assert!(
        !stderr_of(&quiet).contains("DEBUG"),
        "{}",
        stderr_of(&quiet)
    );
    let verbose = groqchat()
        .args(["-v", "chat", "--mock", "hi"])
        .output()
        .unwrap();
    assert!(verbose.status.success());
    let stderr = stderr_of(&verbose);
    assert!(stderr.contains("DEBUG"), "{stderr}");
    assert!(stderr.contains("groq_client"), "{stderr}");
    let env = groqchat()
        .args(["chat", "--mock", "hi"])
        .env("RUST_LOG", "groq_client=debug")
        .output()
        .unwrap();
    assert!(stderr_of(&env).contains("DEBUG"), "{}", stderr_of(&env));
}

#[test]
fn progress_bar_draws_off_a_terminal_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let output = dir.path().join("out.jsonl");
    // 45 requests against 30 RPM with a one-second "minute": about half a second of waiting.
    write_lines(&input, &["llama-3.1-8b-instant"; 45]);
    let run = groqchat()
        .args([
            "batch",
            input.to_str().unwrap(),
            "-o",
            output.to_str().unwrap(),
        ])
        .args(["--mock", "--mock-time-scale", "1", "--progress", "bar"])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr_of(&run));
    let stderr = stderr_of(&run);
    assert!(stderr.contains("/45"), "{stderr:?}");
    assert!(stderr.contains('\r'), "{stderr:?}");
}

#[test]
fn a_dash_is_stdin_and_stdout_for_batch() {
    let dir = tempfile::tempdir().unwrap();
    let input: String = (0..3)
        .map(|i| {
            let line = json!({"custom_id": format!("c{i}"), "body": {
                "model": "llama-3.1-8b-instant",
                "messages": [{"role": "user", "content": format!("question {i}")}],
                "max_completion_tokens": 8}});
            format!("{line}\n")
        })
        .collect();
    let run = groqchat()
        .current_dir(dir.path())
        .args(["batch", "-", "-o", "-", "--mock", "--progress", "off"])
        .write_stdin(input)
        .output()
        .unwrap();
    let stderr = stderr_of(&run);
    assert!(run.status.success(), "{stderr}");
    let mut ids: Vec<String> = stdout_of(&run)
        .lines()
        .map(|l| {
            let line: Value = serde_json::from_str(l).expect("stdout holds only result lines");
            assert_eq!(line["response"]["status_code"], 200);
            line["custom_id"].as_str().unwrap().to_owned()
        })
        .collect();
    ids.sort();
    assert_eq!(ids, ["c0", "c1", "c2"]);
    assert!(
        stderr.contains("3 requests"),
        "the plan goes to stderr: {stderr}"
    );
    assert!(
        stderr.contains("3 ok, 0 failed"),
        "the summary too: {stderr}"
    );
    assert!(!dir.path().join("-").exists(), "no file named -");
}

#[test]
fn the_summary_and_the_result_lines_share_one_vocabulary() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let output = dir.path().join("out.jsonl");
    let summary = dir.path().join("summary.json");
    let ok = json!({"custom_id": "ok", "body": {"model": "llama-3.1-8b-instant",
        "messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 8}});
    // A completion budget over the context window of 131072 tokens.
    let long = json!({"custom_id": "long", "body": {"model": "llama-3.1-8b-instant",
        "messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 200_000}});
    fs::write(&input, format!("{ok}\n{long}\n")).unwrap();
    let args = [
        "batch",
        input.to_str().unwrap(),
        "-o",
        output.to_str().unwrap(),
        "--mock",
        "--progress",
        "off",
        "--summary-json",
        summary.to_str().unwrap(),
    ];
    let run = groqchat().args(args).output().unwrap();
    assert_eq!(run.status.code(), Some(1), "{}", stderr_of(&run));
    let lines: Vec<Value> = fs::read_to_string(&output)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let failed = lines.iter().find(|l| l["custom_id"] == "long").unwrap();
    assert_eq!(failed["error"]["code"], "context_length_exceeded");
    let stdout = stdout_of(&run);
    assert!(
        stdout.contains("1 ok, 1 failed (context_length_exceeded: 1)"),
        "{stdout}"
    );
    let written: Value = serde_json::from_str(&fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(
        written["failed_by_kind"],
        json!({"context_length_exceeded": 1})
    );

    // Resumed: the earlier success and the kept failure are counted apart.
    let run = groqchat().args(args).output().unwrap();
    assert_eq!(run.status.code(), Some(1));
    let stdout = stdout_of(&run);
    assert!(
        stdout.contains("1 failed in an earlier run, 1 already done"),
        "{stdout}"
    );
    let written: Value = serde_json::from_str(&fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(written["already_done"], 1);
    assert_eq!(written["failed_earlier"], 1);
}

#[test]
fn a_broken_answer_ends_its_line_and_the_piped_chat_exits_1() {
    let emulator = Emulator::start(&["--stream-error-rate", "1"]);
    let output = groqchat()
        .args(["chat"])
        .env("GROQ_API_KEY", "gsk_test")
        .env("GROQ_BASE_URL", &emulator.base_url)
        .write_stdin("hi\n")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = stdout_of(&output);
    assert!(stdout.ends_with('\n'), "{stdout:?}");
    assert!(
        stderr_of(&output).contains("the answer broke off"),
        "{}",
        stderr_of(&output)
    );
}
