//! Every numeric and duration flag of every command, given extreme values (0, negative, NaN,
//! infinities, 1e308, u64::MAX, a tiny fraction): each one is refused as a usage error (exit 2,
//! naming the flag) or accepted and worked with, and never panics (exit 101).

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const EXTREMES: [&str; 9] = [
    "0",
    "-1",
    "NaN",
    "inf",
    "-inf",
    "1e308",
    "18446744073709551615",
    "1e-300",
    "340282366920938463463374607431768211456",
];

/// How long a command that accepted its value may run before it counts as working (servers
/// run until stopped; one-shot commands against the embedded emulator end well before).
const WORKING_AFTER: Duration = Duration::from_secs(3);

/// What one run came to.
#[derive(Debug)]
enum Outcome {
    /// Ended with this code (`None`: killed by a signal).
    Exited(Option<i32>, String),
    /// Still running at the deadline: it accepted the value and is serving.
    Running(String),
}

fn run(args: &[String], dir: &Path) -> Outcome {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("groqchat"))
        .env_remove("GROQ_API_KEY")
        .env_remove("GROQ_BASE_URL")
        .env_remove("GROQ_CONFIG")
        .env_remove("GROQCHAT_REDIS_URL")
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("groqchat starts");
    // Read stderr as it comes so that a chatty command never blocks on a full pipe.
    let mut stderr = child.stderr.take().expect("piped stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    // Polled every 20 ms, up to WORKING_AFTER.
    let poll = Duration::from_millis(20);
    let mut polls = WORKING_AFTER.as_millis() / poll.as_millis();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if polls == 0 {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        polls -= 1;
        std::thread::sleep(poll);
    };
    let text = reader.join().unwrap_or_default();
    match status {
        Some(status) => Outcome::Exited(status.code(), text),
        None => Outcome::Running(text),
    }
}

/// A one-second mono 16-bit WAV file of silence at 8 kHz.
fn wav() -> Vec<u8> {
    let samples = 8_000u32;
    let data = samples * 2;
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&8_000u32.to_le_bytes());
    bytes.extend_from_slice(&16_000u32.to_le_bytes());
    bytes.extend_from_slice(&2u16.to_le_bytes());
    bytes.extend_from_slice(&16u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data.to_le_bytes());
    bytes.resize(bytes.len() + data as usize, 0);
    bytes
}

#[test]
fn every_numeric_flag_of_every_command_is_refused_or_works_and_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("in.jsonl"),
        "{\"model\":\"llama-3.1-8b-instant\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_completion_tokens\":8}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("a.wav"), wav()).unwrap();
    std::fs::write(
        dir.path().join("speech.json"),
        r#"{ "models": { "playai-tts": { "req_per_minute": 10 } } }"#,
    )
    .unwrap();
    let words =
        |text: &str| -> Vec<String> { text.split_whitespace().map(str::to_owned).collect() };
    // (the command before the flag, the flag)
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            words("batch in.jsonl -o out.jsonl --dry-run"),
            "--progress-interval",
        ),
        (words("batch in.jsonl -o out.jsonl --dry-run"), "--window"),
        (
            words("batch in.jsonl -o out.jsonl --dry-run"),
            "--max-line-bytes",
        ),
        (
            words("batch in.jsonl -o out.jsonl --dry-run --remote"),
            "--completion-window",
        ),
        (
            words("batch in.jsonl -o out.jsonl --mock"),
            "--mock-time-scale",
        ),
        (words("chat --mock hi"), "--temperature"),
        (words("chat --mock hi"), "--max-completion-tokens"),
        (words("chat --mock hi"), "--mock-time-scale"),
        (words("limits --mock"), "--mock-time-scale"),
        (words("models --mock"), "--mock-time-scale"),
        (words("tokens hello"), "--mock-time-scale"),
        (words("transcribe a.wav -o t.jsonl --mock"), "--temperature"),
        (
            words("transcribe a.wav -o t.jsonl --mock"),
            "--mock-time-scale",
        ),
        (words("translate a.wav -o t.jsonl --mock"), "--temperature"),
        (
            words("speak hello -o s.wav --mock --config speech.json"),
            "--speed",
        ),
        (
            words("speak hello -o s.wav --mock --config speech.json"),
            "--sample-rate",
        ),
        (words("serve --mock --addr 127.0.0.1:0"), "--queue-bound"),
        (words("serve --mock --addr 127.0.0.1:0"), "--drain-timeout"),
        (
            words("serve --mock --addr 127.0.0.1:0"),
            "--mock-time-scale",
        ),
        (words("mock --addr 127.0.0.1:0"), "--time-scale"),
        (words("mock --addr 127.0.0.1:0"), "--fail-rate"),
        (words("mock --addr 127.0.0.1:0"), "--drop-rate"),
        (words("mock --addr 127.0.0.1:0"), "--malformed-rate"),
        (words("mock --addr 127.0.0.1:0"), "--stream-error-rate"),
        (words("mock --addr 127.0.0.1:0"), "--latency-ms"),
        (words("mock --addr 127.0.0.1:0"), "--stream-interval-ms"),
        (words("mock --addr 127.0.0.1:0"), "--seed"),
        (words("mock --addr 127.0.0.1:0"), "--completion-tokens"),
        (words("mock --addr 127.0.0.1:0"), "--default-budget"),
    ];
    let runs: Vec<(String, Vec<String>)> = cases
        .iter()
        .flat_map(|(command, flag)| {
            EXTREMES.iter().map(move |value| {
                let mut args = command.clone();
                args.push(format!("{flag}={value}"));
                (format!("groqchat {}", args.join(" ")), args)
            })
        })
        .collect();
    // A few at a time: most runs wait on a process, not on the CPU.
    let failures: Vec<String> = std::thread::scope(|scope| {
        runs.chunks(runs.len().div_ceil(6))
            .map(|chunk| {
                let dir = dir.path();
                scope.spawn(move || {
                    let mut failures = Vec::new();
                    for (shown, args) in chunk {
                        let flag = args
                            .last()
                            .and_then(|a| a.split('=').next())
                            .unwrap_or_default();
                        let outcome = run(args, dir);
                        let (Outcome::Exited(_, stderr) | Outcome::Running(stderr)) = &outcome;
                        if stderr.contains("panicked") {
                            failures.push(format!("{shown}: panicked: {stderr}"));
                            continue;
                        }
                        match outcome {
                            Outcome::Exited(Some(2), stderr) => {
                                // The flag, or its words ("the fail rate must be ...").
                                let words = flag.trim_start_matches('-').replace('-', " ");
                                if !stderr.contains(flag) && !stderr.contains(&words) {
                                    failures.push(format!(
                                        "{shown}: exit 2 without naming {flag}: {stderr}"
                                    ));
                                }
                            }
                            Outcome::Exited(Some(0 | 1), _) | Outcome::Running(_) => {}
                            Outcome::Exited(code, stderr) => {
                                failures.push(format!("{shown}: exit {code:?}: {stderr}"));
                            }
                        }
                    }
                    failures
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .flat_map(|handle| handle.join().expect("no thread panics"))
            .collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
