//! `groqchat batch` against hostile or odd input: empty files, byte-order marks, huge lines,
//! outputs that are not files, extreme numbers, requests that can never fit, SIGTERM.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::{Value, json};

fn groqchat() -> Command {
    let mut cmd = Command::cargo_bin("groqchat").expect("the groqchat binary is built");
    cmd.env_remove("GROQ_API_KEY")
        .env_remove("GROQ_BASE_URL")
        .env_remove("GROQ_CONFIG");
    cmd
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

fn body(i: usize, budget: u32) -> Value {
    json!({
        "model": "llama-3.1-8b-instant",
        "messages": [{"role": "user", "content": format!("What is {i} squared?")}],
        "max_completion_tokens": budget,
    })
}

fn run(f: &Files, extra: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = groqchat();
    cmd.arg("batch")
        .arg(&f.input)
        .arg("-o")
        .arg(&f.output)
        .args(["--mock", "--mock-time-scale", "1", "--progress", "off"])
        .arg("--summary-json")
        .arg(&f.summary)
        .args(extra)
        .timeout(Duration::from_secs(60));
    let output = cmd.output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn lines(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn an_empty_or_blank_input_has_no_requests() {
    for text in ["", "\n\n  \n", "\u{feff}\n"] {
        let f = files();
        fs::write(&f.input, text).unwrap();
        let (code, stdout, stderr) = run(&f, &[]);
        assert_eq!(code, Some(0), "{stderr}");
        assert!(stdout.contains("the input has no requests"), "{stdout}");
    }
}

#[test]
fn a_bom_is_accepted_and_a_huge_line_is_skipped_unread() {
    let f = files();
    let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(10_000));
    let text = format!("\u{feff}{}\n{huge}\n{}\n", body(1, 16), body(3, 16));
    fs::write(&f.input, text).unwrap();
    let (code, _, stderr) = run(&f, &["--max-line-bytes", "1000"]);
    assert_eq!(
        code,
        Some(1),
        "a skipped line is not a complete success: {stderr}"
    );
    assert!(
        stderr.contains("line 2: skipped: the line is 10010 bytes, longer than the limit of 1000"),
        "{stderr}"
    );
    let results = lines(&f.output);
    assert_eq!(results.len(), 2);
    assert!(results.iter().all(|l| l["error"].is_null()), "{results:?}");
}

#[cfg(unix)]
#[test]
fn an_output_that_is_not_a_regular_file_is_refused() {
    let f = files();
    fs::write(&f.input, format!("{}\n", body(1, 16))).unwrap();
    for device in ["/dev/null", "/dev/zero", "/dev/full"] {
        if !Path::new(device).exists() {
            continue;
        }
        let output = groqchat()
            .args([
                "batch".as_ref(),
                f.input.as_os_str(),
                "-o".as_ref(),
                device.as_ref(),
            ])
            .args(["--mock", "--progress", "off"])
            .timeout(Duration::from_secs(30))
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{device}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("is not a regular file"), "{stderr}");
    }
}

#[test]
fn extreme_numbers_are_usage_errors_never_panics() {
    let f = files();
    fs::write(&f.input, format!("{}\n", body(1, 16))).unwrap();
    let extremes = [
        "0",
        "-1",
        "NaN",
        "inf",
        "-inf",
        "1e308",
        "18446744073709551615",
        "1e-300",
    ];
    let flags: [(&str, &[&str]); 4] = [
        ("--progress-interval", &["--dry-run"]),
        ("--window", &["--dry-run"]),
        ("--max-line-bytes", &["--dry-run"]),
        ("--mock-time-scale", &["--mock"]),
    ];
    for (flag, extra) in flags {
        for value in extremes {
            let output = groqchat()
                .args([
                    "batch".as_ref(),
                    f.input.as_os_str(),
                    "-o".as_ref(),
                    f.output.as_os_str(),
                ])
                .args(extra)
                .arg(format!("{flag}={value}"))
                .timeout(Duration::from_secs(30))
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(!stderr.contains("panicked"), "{flag} {value}: {stderr}");
            // Values that are valid for a flag (a window of 2^64-1 is not) still never panic;
            // every one listed here is out of range for these flags.
            assert_eq!(output.status.code(), Some(2), "{flag} {value}: {stderr}");
        }
    }
    for value in extremes {
        let output = groqchat()
            .args(["chat", "--mock", "--mock-time-scale", value, "hi"])
            .timeout(Duration::from_secs(30))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "chat {value}: {stderr}");
        assert_eq!(output.status.code(), Some(2), "chat {value}: {stderr}");
    }
}

#[test]
fn a_request_that_can_never_fit_is_reported_up_front_and_fails_alone() {
    let f = files();
    let text = format!("{}\n{}\n{}\n", body(1, 16), body(2, 999_999), body(3, 16));
    fs::write(&f.input, text).unwrap();
    let (code, stdout, stderr) = run(&f, &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("line 2: will fail: about"), "{stderr}");
    assert!(
        stdout.contains("2 requests, ~"),
        "the plan excludes it: {stdout}"
    );
    let results = lines(&f.output);
    assert_eq!(results.len(), 3);
    let failed: Vec<&Value> = results.iter().filter(|l| !l["error"].is_null()).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["custom_id"], "2");
    let summary: Value = serde_json::from_str(&fs::read_to_string(&f.summary).unwrap()).unwrap();
    assert_eq!(summary["never_fit"], 1);
    assert_eq!(summary["ok"], 2);
}

#[test]
fn a_dry_run_honours_resume() {
    let f = files();
    let text: String = (0..6).map(|i| format!("{}\n", body(i, 16))).collect();
    fs::write(&f.input, &text).unwrap();
    let (code, _, stderr) = run(&f, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    let more: String = (6..10).map(|i| format!("{}\n", body(i, 16))).collect();
    fs::write(&f.input, text + &more).unwrap();
    let before = fs::read(&f.output).unwrap();
    let output = groqchat()
        .args([
            "batch".as_ref(),
            f.input.as_os_str(),
            "-o".as_ref(),
            f.output.as_os_str(),
        ])
        .arg("--dry-run")
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("6 of 10 requests already have a result"),
        "{stdout}"
    );
    assert!(stdout.contains("4 requests, ~"), "{stdout}");
    assert_eq!(
        fs::read(&f.output).unwrap(),
        before,
        "a dry run changes nothing"
    );
}

#[cfg(unix)]
#[test]
fn sigterm_drains_summarizes_and_exits_1() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mock = runtime
        .block_on(
            groq_mock::MockServer::builder()
                .api_key("gsk_sigterm_key_0123")
                .latency(Duration::from_secs(2), Duration::from_secs(2))
                .start(),
        )
        .unwrap();
    let f = files();
    let text: String = (0..5).map(|i| format!("{}\n", body(i, 16))).collect();
    fs::write(&f.input, text).unwrap();
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("groqchat"))
        .env_remove("GROQ_CONFIG")
        .env("GROQ_API_KEY", "gsk_sigterm_key_0123")
        .env("GROQ_BASE_URL", mock.base_url())
        .args([
            "batch".as_ref(),
            f.input.as_os_str(),
            "-o".as_ref(),
            f.output.as_os_str(),
        ])
        .args(["--progress", "off", "--summary-json"])
        .arg(&f.summary)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1_000));
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("SIGTERM: no new requests are sent"),
        "{stderr}"
    );
    assert!(
        stdout.contains("interrupted: run the same command again"),
        "{stdout}"
    );
    let summary: Value = serde_json::from_str(&fs::read_to_string(&f.summary).unwrap()).unwrap();
    assert_eq!(summary["interrupted"], true);
    drop(mock);
}

/// Runs a batch of `m` requests against `base_url` until it ends or `kill_after` lines more
/// are written (then SIGKILL). Returns the exit code (None when killed).
#[cfg(unix)]
fn batch_until(f: &Files, config: &Path, base_url: &str, kill_after: Option<usize>) -> Option<i32> {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("groqchat"))
        .env_remove("GROQ_CONFIG")
        .env("GROQ_API_KEY", "gsk_restart_key_0123")
        .env("GROQ_BASE_URL", base_url)
        .args([
            "batch".as_ref(),
            f.input.as_os_str(),
            "-o".as_ref(),
            f.output.as_os_str(),
        ])
        .arg("--config")
        .arg(config)
        .args(["--progress", "off"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let count = || {
        fs::read_to_string(&f.output)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    if let Some(more) = kill_after {
        let start = count();
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if count() >= start + more {
                // Let the run go on a little, then kill it without warning.
                std::thread::sleep(Duration::from_millis(300));
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    child.wait().unwrap().code()
}

#[cfg(unix)]
#[test]
fn a_run_killed_and_resumed_five_times_meets_no_more_429s_than_one_run() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let start_mock = || {
        runtime
            .block_on(
                groq_mock::MockServer::builder()
                    .api_key("gsk_restart_key_0123")
                    .minute_length(Duration::from_secs(2))
                    .model("m", groq_mock::MockLimits::unlimited().rpm(20))
                    .start(),
            )
            .unwrap()
    };
    let n = 90;
    let write = |f: &Files| {
        let text: String = (0..n)
            .map(|i| {
                let mut b = body(i, 8);
                b["model"] = json!("m");
                format!("{b}\n")
            })
            .collect();
        fs::write(&f.input, text).unwrap();
    };
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("config.json");
    fs::write(
        &config,
        r#"{"models": {"m": {"req_per_minute": {"limit": 20, "per": "2s"}}}, "unknown_models": "reject"}"#,
    )
    .unwrap();

    // One uninterrupted run.
    let whole = files();
    write(&whole);
    let mock = start_mock();
    assert_eq!(
        batch_until(&whole, &config, &mock.base_url(), None),
        Some(0)
    );
    let uninterrupted = mock.stats().rate_limited;
    drop(mock);

    // The same batch killed five times, then resumed to the end.
    let restarted = files();
    write(&restarted);
    let mock = start_mock();
    for _ in 0..5 {
        batch_until(&restarted, &config, &mock.base_url(), Some(8));
    }
    assert_eq!(
        batch_until(&restarted, &config, &mock.base_url(), None),
        Some(0)
    );
    let with_restarts = mock.stats().rate_limited;
    let results = lines(&restarted.output);
    let ids: std::collections::HashSet<&str> = results
        .iter()
        .filter_map(|l| l["custom_id"].as_str())
        .collect();
    assert_eq!((results.len(), ids.len()), (n, n), "each request once");
    assert!(
        with_restarts <= uninterrupted,
        "five restarts met {with_restarts} 429s, one run {uninterrupted}"
    );
    drop(mock);
}

#[cfg(unix)]
#[test]
fn a_fresh_run_on_a_drained_server_meets_no_429_burst() {
    // A model limited by requests per minute alone: no header reports that bucket, so only
    // the server's answer to a first request can tell a fresh process that it is drained.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mock = runtime
        .block_on(
            groq_mock::MockServer::builder()
                .api_key("gsk_restart_key_0123")
                .minute_length(Duration::from_secs(40))
                .model("m", groq_mock::MockLimits::unlimited().rpm(10))
                .start(),
        )
        .unwrap();
    let write = |f: &Files, n: usize| {
        let text: String = (0..n)
            .map(|i| {
                let mut b = body(i, 8);
                b["model"] = json!("m");
                format!("{b}\n")
            })
            .collect();
        fs::write(&f.input, text).unwrap();
    };
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("config.json");
    fs::write(
        &config,
        r#"{"models": {"m": {"req_per_minute": {"limit": 10, "per": "40s"}}}, "unknown_models": "reject"}"#,
    )
    .unwrap();
    // An earlier run drains the server's bucket (one request refills every 4 s, far longer
    // than it takes to start the next run).
    let earlier = files();
    write(&earlier, 10);
    assert_eq!(
        batch_until(&earlier, &config, &mock.base_url(), None),
        Some(0)
    );
    let before = mock.stats().rate_limited;
    // A fresh run (another output, so no saved state) on the drained server: its first
    // request meets the drained bucket alone, the limiter learns the server's usage from the
    // 429's text, and the rest go at the server's pace. Bursting three requests would meet
    // three 429s.
    let fresh = files();
    write(&fresh, 3);
    assert_eq!(
        batch_until(&fresh, &config, &mock.base_url(), None),
        Some(0)
    );
    let met = mock.stats().rate_limited - before;
    assert!(met <= 1, "a fresh run met {met} 429s");
    assert_eq!(lines(&fresh.output).len(), 3);
    drop(mock);
}

#[cfg(unix)]
#[test]
fn more_requests_than_open_files_all_complete() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mock = runtime
        .block_on(
            groq_mock::MockServer::builder()
                .api_key("gsk_nofile_key_0123")
                .model("m", groq_mock::MockLimits::unlimited())
                .latency(Duration::from_millis(20), Duration::from_millis(40))
                .start(),
        )
        .unwrap();
    let f = files();
    let n = 600;
    let text: String = (0..n)
        .map(|i| {
            let mut b = body(i, 8);
            b["model"] = json!("m");
            format!("{b}\n")
        })
        .collect();
    fs::write(&f.input, text).unwrap();
    let config = f.input.with_file_name("config.json");
    fs::write(
        &config,
        r#"{"models": {"m": {}}, "unknown_models": "reject"}"#,
    )
    .unwrap();
    // 64 open files for the whole process: far fewer than the requests it is given at once.
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 64 && exec \"$0\" \"$@\"")
        .arg(assert_cmd::cargo::cargo_bin("groqchat"))
        .env_remove("GROQ_CONFIG")
        .env("GROQ_API_KEY", "gsk_nofile_key_0123")
        .env("GROQ_BASE_URL", mock.base_url())
        .args([
            "batch".as_ref(),
            f.input.as_os_str(),
            "-o".as_ref(),
            f.output.as_os_str(),
        ])
        .arg("--config")
        .arg(&config)
        .args(["--progress", "off", "--summary-json"])
        .arg(&f.summary)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let summary: Value = serde_json::from_str(&fs::read_to_string(&f.summary).unwrap()).unwrap();
    assert_eq!(summary["ok"], n, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
    assert_eq!(lines(&f.output).len(), n);
    drop(mock);
}

#[test]
fn a_server_stricter_than_the_configuration_is_named() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mock = runtime
        .block_on(
            groq_mock::MockServer::builder()
                .api_key("gsk_strict_key_0123")
                .minute_length(Duration::from_secs(1))
                .model("m", groq_mock::MockLimits::unlimited().rpm(5))
                .start(),
        )
        .unwrap();
    let f = files();
    let text: String = (0..30)
        .map(|i| {
            let mut b = body(i, 8);
            b["model"] = json!("m");
            format!("{b}\n")
        })
        .collect();
    fs::write(&f.input, text).unwrap();
    let config = f.input.with_file_name("config.json");
    fs::write(
        &config,
        r#"{"models": {"m": {"req_per_minute": {"limit": 30, "per": "1s"}}}, "unknown_models": "reject"}"#,
    )
    .unwrap();
    let output = std::process::Command::new(assert_cmd::cargo::cargo_bin("groqchat"))
        .env_remove("GROQ_CONFIG")
        .env("GROQ_API_KEY", "gsk_strict_key_0123")
        .env("GROQ_BASE_URL", mock.base_url())
        .args([
            "batch".as_ref(),
            f.input.as_os_str(),
            "-o".as_ref(),
            f.output.as_os_str(),
        ])
        .arg("--config")
        .arg(&config)
        .args(["--progress", "off", "--summary-json"])
        .arg(&f.summary)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary: Value = serde_json::from_str(&fs::read_to_string(&f.summary).unwrap()).unwrap();
    assert!(
        summary["rate_limited_429"].as_u64().unwrap() > 0,
        "{summary}"
    );
    let stricter = summary["server_stricter"][0].as_str().unwrap_or_default();
    assert!(
        stricter.contains(
            "of m for RPM: your configured limit of 30/s is above what the server allows"
        ),
        "{summary}"
    );
    assert!(stdout.contains(stricter), "{stdout}");
    // Every 429 the client received is counted, including one that ended a request.
    assert!(
        summary["rate_limited_429"].as_u64() >= Some(mock.stats().rate_limited),
        "{summary}"
    );
    // The server's limit, stated in its 429 texts, is adopted: the first burst meets 429s,
    // the retries do not (a limiter that kept its 30/s would burst into 5/s again and again,
    // and fail requests after eight 429s each).
    assert_eq!(summary["ok"], 30, "{summary}");
    assert!(
        summary["rate_limited_429"].as_u64().unwrap() < 30,
        "{summary}"
    );
    drop(mock);
}

#[test]
fn an_insecure_base_url_is_a_configuration_error_and_nothing_is_sent() {
    let f = files();
    fs::write(&f.input, format!("{}\n{}\n", body(1, 8), body(2, 8))).unwrap();
    let output = groqchat()
        .env("GROQ_API_KEY", "gsk_insecure_key_0123")
        .env("GROQ_BASE_URL", "http://10.255.255.1/openai/v1")
        .args([
            "batch".as_ref(),
            f.input.as_os_str(),
            "-o".as_ref(),
            f.output.as_os_str(),
        ])
        .args(["--progress", "off"])
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("http://10.255.255.1/openai/v1"), "{stderr}");
    assert!(stderr.contains("plain-text http://"), "{stderr}");
    assert!(!stderr.contains("gsk_insecure_key_0123"));
    assert!(!f.output.exists() || fs::read(&f.output).unwrap().is_empty());
}
