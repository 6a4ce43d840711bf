//! `groqchat batch --remote`, `files`, `batches` and `model` against an emulator running in
//! its own process (so that it outlives an interrupted CLI).

use std::fs;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::Duration;

use assert_cmd::Command;
use serde_json::{Value, json};

const KEY: &str = "gsk_remote_batch_test_key";

fn groqchat() -> Command {
    let mut cmd = Command::cargo_bin("groqchat").expect("the groqchat binary is built");
    cmd.env_remove("GROQ_API_KEY")
        .env_remove("GROQ_BASE_URL")
        .env_remove("GROQ_CONFIG");
    cmd
}

fn groqchat_std() -> StdCommand {
    let mut cmd = StdCommand::new(assert_cmd::cargo::cargo_bin("groqchat"));
    cmd.env_remove("GROQ_API_KEY")
        .env_remove("GROQ_BASE_URL")
        .env_remove("GROQ_CONFIG");
    cmd
}

/// An emulator in its own process, and a configuration file pointing at it.
struct Emulator {
    child: Child,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn emulator(dir: &Path) -> (Emulator, std::path::PathBuf) {
    let mut child = groqchat_std()
        .args([
            "mock",
            "--addr",
            "127.0.0.1:0",
            "--time-scale",
            "10",
            "--api-key",
            KEY,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut url = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    let config = dir.join("groqchat.json");
    fs::write(
        &config,
        json!({"base_url": url.trim(), "api_key": KEY}).to_string(),
    )
    .unwrap();
    (Emulator { child }, config)
}

fn write_input(path: &Path, n: usize) {
    let text: String = (0..n)
        .map(|i| {
            json!({"custom_id": format!("r{i}"), "method": "POST", "url": "/v1/chat/completions",
                   "body": {"model": "llama-3.1-8b-instant",
                            "messages": [{"role": "user", "content": format!("question {i}")}],
                            "max_completion_tokens": 32}})
            .to_string()
                + "\n"
        })
        .collect();
    fs::write(path, text).unwrap();
}

#[test]
fn a_remote_batch_survives_an_interrupted_cli_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let (_emulator, config) = emulator(dir.path());
    let input = dir.path().join("in.jsonl");
    let output = dir.path().join("out.jsonl");
    let sidecar = dir.path().join("out.jsonl.remote.json");
    write_input(&input, 12);

    // First run: interrupted as soon as the batch is submitted.
    let mut first = groqchat_std()
        .args([
            "batch",
            "--remote",
            "--progress-interval",
            "0.05",
            "--config",
        ])
        .arg(&config)
        .arg(&input)
        .arg("-o")
        .arg(&output)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Up to 30 s for the submission (3,000 checks 10 ms apart).
    let mut checks = 0;
    while !sidecar.exists() {
        checks += 1;
        assert!(checks < 3_000, "the batch was never submitted");
        std::thread::sleep(Duration::from_millis(10));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let record: Value = serde_json::from_str(&fs::read_to_string(&sidecar).unwrap()).unwrap();
    let batch_id = record["batch_id"].as_str().unwrap().to_owned();

    // Second run: the same batch, not a new one.
    let assert = groqchat()
        .args([
            "batch",
            "--remote",
            "--progress-interval",
            "0.05",
            "--config",
        ])
        .arg(&config)
        .arg(&input)
        .arg("-o")
        .arg(&output)
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(
        stderr.contains(&format!("resuming remote batch {batch_id}")),
        "{stderr}"
    );
    assert!(stderr.contains("/12 done"), "{stderr}");
    assert!(!sidecar.exists());
    let lines: Vec<Value> = fs::read_to_string(&output)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 12);
    let mut ids: Vec<_> = lines
        .iter()
        .map(|l| l["custom_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 12);
    assert!(lines.iter().all(|l| l["response"]["status_code"] == 200));

    // Exactly one batch was created.
    let listed = groqchat()
        .args(["batches", "list", "--config"])
        .arg(&config)
        .assert()
        .success();
    let list: Value = serde_json::from_slice(&listed.get_output().stdout).unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["id"], batch_id.as_str());

    // A third run has nothing to send.
    let assert = groqchat()
        .args(["batch", "--remote", "--config"])
        .arg(&config)
        .arg(&input)
        .arg("-o")
        .arg(&output)
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("nothing to send"), "{stderr}");

    // The results are also reachable by id.
    let results = dir.path().join("results.jsonl");
    groqchat()
        .args(["batches", "results", &batch_id, "--config"])
        .arg(&config)
        .arg("-o")
        .arg(&results)
        .assert()
        .success();
    assert_eq!(fs::read_to_string(&results).unwrap().lines().count(), 12);
}

#[test]
fn files_and_models_commands() {
    let dir = tempfile::tempdir().unwrap();
    let (_emulator, config) = emulator(dir.path());
    let input = dir.path().join("in.jsonl");
    write_input(&input, 2);
    let uploaded = groqchat()
        .args(["files", "upload", "--config"])
        .arg(&config)
        .arg(&input)
        .assert()
        .success();
    let file: Value = serde_json::from_slice(&uploaded.get_output().stdout).unwrap();
    let id = file["id"].as_str().unwrap().to_owned();
    assert_eq!(file["purpose"], "batch");
    let listed = groqchat()
        .args(["files", "list", "--config"])
        .arg(&config)
        .assert()
        .success();
    let list: Value = serde_json::from_slice(&listed.get_output().stdout).unwrap();
    assert_eq!(list["data"][0]["id"], id.as_str());
    let copy = dir.path().join("copy.jsonl");
    groqchat()
        .args(["files", "download", &id, "--config"])
        .arg(&config)
        .arg("-o")
        .arg(&copy)
        .assert()
        .success();
    assert_eq!(fs::read(&copy).unwrap(), fs::read(&input).unwrap());
    groqchat()
        .args(["files", "delete", &id, "--config"])
        .arg(&config)
        .assert()
        .success();
    groqchat()
        .args(["files", "download", &id, "--config"])
        .arg(&config)
        .assert()
        .code(1);

    let shown = groqchat()
        .args(["models", "show", "whisper-large-v3", "--config"])
        .arg(&config)
        .assert()
        .success();
    let model: Value = serde_json::from_slice(&shown.get_output().stdout).unwrap();
    assert_eq!(model["id"], "whisper-large-v3");
    groqchat()
        .args(["models", "delete", "qwen/qwen3-32b", "--config"])
        .arg(&config)
        .assert()
        .success();
}
