//! `groqchat serve --mock`: the first stdout line is the base URL, the gateway answers
//! through the embedded emulator, SIGTERM shuts it down cleanly; a public address without
//! gateway keys is refused.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

fn groqchat() -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("groqchat"));
    cmd.env_remove("GROQ_API_KEY")
        .env_remove("GROQ_BASE_URL")
        .env_remove("GROQ_CONFIG")
        .env_remove("GROQCHAT_GATEWAY_KEYS");
    cmd
}

fn post(addr: &str, path: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn serve_prints_its_url_answers_and_stops_on_sigterm() {
    let mut child = groqchat()
        .args([
            "serve",
            "--mock",
            "--addr",
            "127.0.0.1:0",
            "--log-level",
            "off",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let url = line.trim();
    let addr = url
        .strip_prefix("http://")
        .and_then(|rest| rest.strip_suffix("/openai/v1"))
        .unwrap_or_else(|| panic!("the first line is the base URL: {url:?}"));
    assert!(!addr.ends_with(":0"), "the port was picked: {addr}");

    let answer = post(
        addr,
        "/openai/v1/chat/completions",
        r#"{"model":"llama-3.1-8b-instant","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":8}"#,
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"chat.completion\""), "{answer}");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "exit after SIGTERM: {exit:?}");
}

#[test]
fn serve_refuses_a_public_address_without_gateway_keys() {
    let output = groqchat()
        .args(["serve", "--mock", "--addr", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0:0") && stderr.contains("gateway_keys"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}
