//! The interactive chat driven through a pseudo-terminal, against `groqchat mock` on
//! 127.0.0.1: line editing and history, local commands, Ctrl-C during an answer, and the
//! retry after a context-length rejection.
#![cfg(unix)]

use std::fs;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use rexpect::process::wait::WaitStatus;
use rexpect::session::{PtySession, spawn_command};
use serde_json::Value;

const TIMEOUT_MS: u64 = 30_000;

fn binary() -> PathBuf {
    assert_cmd::cargo::cargo_bin("groqchat")
}

/// `groqchat mock` on a free port with `args`, killed on drop.
struct Emulator {
    child: Child,
    base_url: String,
}

impl Emulator {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(binary())
            .args(["mock", "--addr", "127.0.0.1:0", "--api-key", "gsk_pty_test"])
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

    /// The emulator's counters (`GET /_mock/stats`).
    fn stats(&self) -> Value {
        let authority = self
            .base_url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        let mut stream = TcpStream::connect(&authority).unwrap();
        write!(
            stream,
            "GET /_mock/stats HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let body = response.split_once("\r\n\r\n").unwrap().1;
        serde_json::from_str(body).unwrap()
    }

    /// How many chat responses had `status`.
    fn count(&self, status: u16) -> u64 {
        self.stats()["by_status"][status.to_string()]
            .as_u64()
            .unwrap_or(0)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `groqchat chat ARGS` on a pseudo-terminal, talking to `emulator`, with its data directory
/// (and so its history file) under `data`.
/// The pseudo-terminal tests run one at a time: each drives a process by keystrokes whose
/// timing matters (a Ctrl-C at the prompt, not before it), which a loaded machine stretches.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn chat(emulator: &Emulator, data: &Path, args: &[&str]) -> PtySession {
    let mut command = Command::new(binary());
    command
        .arg("chat")
        .args(args)
        .env_remove("GROQ_CONFIG")
        .env_remove("RUST_LOG")
        .env("GROQ_API_KEY", "gsk_pty_test")
        .env("GROQ_BASE_URL", &emulator.base_url)
        .env("XDG_DATA_HOME", data)
        .env("HOME", data)
        .env("TERM", "xterm");
    let mut session = spawn_command(command, Some(TIMEOUT_MS)).unwrap();
    session.exp_string("chatting with").unwrap();
    session.exp_string("> ").unwrap();
    session
}

/// Waits for the process to end and returns its exit code.
fn exit_code(session: &mut PtySession) -> i32 {
    session.exp_eof().unwrap();
    match session.process().wait().unwrap() {
        WaitStatus::Exited(_, code) => code,
        other => panic!("the chat did not exit normally: {other:?}"),
    }
}

fn saved(path: &Path) -> Vec<(String, String)> {
    let messages: Vec<Value> = serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
    messages
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_owned(),
                m["content"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[test]
fn line_editing_history_and_local_commands() {
    let _serial = serial();
    let emulator = Emulator::start(&[]);
    let data = tempfile::tempdir().unwrap();
    let save = data.path().join("saved.json");
    let save_arg = format!("/save {}", save.display());
    let mut s = chat(&emulator, data.path(), &["--max-completion-tokens", "4"]);

    // "abc", cursor left, "X": the model gets "abXc", not an escape sequence.
    s.send("abc\x1b[DX\r").unwrap();
    s.flush().unwrap();
    s.exp_string("The mock model answers").unwrap();
    s.exp_string("> ").unwrap();
    // Arrow up recalls the last line.
    s.send("\x1b[A\r").unwrap();
    s.flush().unwrap();
    s.exp_string("The mock model answers").unwrap();
    s.exp_string("> ").unwrap();

    s.send_line("/help").unwrap();
    s.exp_string("/model NAME").unwrap();
    s.send_line("/system Answer briefly.").unwrap();
    s.exp_string("(system message set)").unwrap();
    s.send_line("/tokens").unwrap();
    s.exp_regex(r"\(\d+ prompt tokens in 5 messages").unwrap();
    s.send_line("/frobnicate").unwrap();
    s.exp_string("unknown command /frobnicate").unwrap();
    s.send_line(&save_arg).unwrap();
    s.exp_string("(saved 5 messages to").unwrap();
    assert_eq!(
        saved(&save),
        vec![
            ("system".into(), "Answer briefly.".into()),
            ("user".into(), "abXc".into()),
            ("assistant".into(), "The mock model answers".into()),
            ("user".into(), "abXc".into()),
            ("assistant".into(), "The mock model answers".into()),
        ]
    );
    s.send_line("/model qwen/qwen3-32b").unwrap();
    s.exp_string("(now talking to qwen/qwen3-32b)").unwrap();
    s.send_line("/reset").unwrap();
    s.exp_string("(conversation forgotten)").unwrap();
    s.send_line(&save_arg).unwrap();
    s.exp_string("(saved 1 message to").unwrap();
    // Only the two questions reached the model.
    assert_eq!(emulator.count(200), 2);

    // Ctrl-D leaves with a newline and exit code 0.
    s.send_control('d').unwrap();
    assert_eq!(exit_code(&mut s), 0);

    let history = fs::read_to_string(data.path().join("groqchat").join("history")).unwrap();
    assert!(history.contains("abXc"), "{history}");
    assert!(history.contains("/reset"), "{history}");
    assert!(!history.contains('\x1b'), "{history}");
}

#[test]
fn ctrl_c_stops_an_answer_and_returns_to_the_prompt() {
    let _serial = serial();
    // 60 words, one every 200 ms: 12 s unless stopped.
    let emulator = Emulator::start(&["--completion-tokens", "60", "--stream-interval-ms", "200"]);
    let data = tempfile::tempdir().unwrap();
    let mut s = chat(&emulator, data.path(), &[]);

    s.send_line("Tell me a long story").unwrap();
    s.exp_string("The mock").unwrap();
    s.send_control('c').unwrap();
    s.exp_string("(answer stopped").unwrap();
    s.exp_string("> ").unwrap();
    // Still alive, and the stopped question is forgotten.
    s.send_line("/tokens").unwrap();
    s.exp_regex(r"\(\d+ prompt tokens in 0 messages").unwrap();
    // A Ctrl-C at the prompt (once it is there) warns; a second one leaves.
    s.exp_string("> ").unwrap();
    s.send_control('c').unwrap();
    s.exp_string("(Ctrl-C again or Ctrl-D to leave)").unwrap();
    // An interrupt signal that arrives between answers does not stop the next one.
    let pid = s.process().child_pid.to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    s.send_line("Another story").unwrap();
    s.exp_string("The mock model answers with").unwrap();
    s.send_control('c').unwrap();
    s.exp_string("(answer stopped").unwrap();
    s.exp_string("> ").unwrap();
    // Right after a stopped answer, one Ctrl-C at the prompt leaves.
    s.send_control('c').unwrap();
    assert_eq!(exit_code(&mut s), 0);
}

#[test]
fn a_context_length_rejection_trims_the_history_and_retries_once() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let limits = dir.path().join("limits.json");
    // The client has no context window for "tiny" (not in its configuration), so only the
    // server's rejection can tell: three ~64-token questions do not fit 200 tokens, two do.
    fs::write(&limits, r#"{"tiny": {"context_window": 200}}"#).unwrap();
    let emulator = Emulator::start(&["--limits", limits.to_str().unwrap()]);
    let save = dir.path().join("saved.json");
    let mut s = chat(
        &emulator,
        dir.path(),
        &["--model", "tiny", "--max-completion-tokens", "10"],
    );
    let question = |n: usize| format!("q{n} {}", "lorem ipsum dolor ".repeat(12));
    for n in 1..=2 {
        s.send_line(&question(n)).unwrap();
        s.exp_string("The mock model").unwrap();
        s.exp_string("> ").unwrap();
    }
    s.send_line(&question(3)).unwrap();
    s.exp_string(
        "(the conversation exceeded tiny's context window: dropped the 2 oldest messages; retrying once)",
    )
    .unwrap();
    s.exp_string("The mock model").unwrap();
    s.exp_string("> ").unwrap();
    s.send_line(&format!("/save {}", save.display())).unwrap();
    s.exp_string("(saved 4 messages to").unwrap();
    let messages = saved(&save);
    assert!(messages[0].1.starts_with("q2 "), "{messages:?}");
    assert!(messages[2].1.starts_with("q3 "), "{messages:?}");
    assert_eq!(emulator.count(400), 1);
    assert_eq!(emulator.count(200), 3);
    s.send_line("/exit").unwrap();
    assert_eq!(exit_code(&mut s), 0);
}
