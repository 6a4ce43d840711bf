//! `groqchat transcribe`, `translate` and `speak` against the embedded emulator.

use std::fs;
use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

fn groqchat() -> Command {
    let mut cmd = Command::cargo_bin("groqchat").expect("the groqchat binary is built");
    cmd.env_remove("GROQ_API_KEY")
        .env_remove("GROQ_BASE_URL")
        .env_remove("GROQ_CONFIG");
    cmd
}

fn lines(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn transcribe_writes_one_line_per_file_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (name, seconds) in [("a.wav", 3), ("b.wav", 12), ("c.wav", 25)] {
        let path = dir.path().join(name);
        fs::write(
            &path,
            groq_audio::wav_pcm16(Duration::from_secs(seconds), 8_000, 1),
        )
        .unwrap();
        files.push(path);
    }
    let bad = dir.path().join("notes.wav");
    fs::write(&bad, "not audio at all").unwrap();
    let out = dir.path().join("out.jsonl");

    let assert = groqchat()
        .arg("transcribe")
        .args(&files)
        .arg(&bad)
        .args([
            "--format",
            "verbose_json",
            "--language",
            "en",
            "--mock",
            "-o",
        ])
        .arg(&out)
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    // 10 (minimum) + 12 + 25 seconds billed.
    assert!(stderr.contains("47 audio seconds billed"), "{stderr}");
    assert!(stderr.contains("notes.wav is not audio"), "{stderr}");
    let results = lines(&out);
    assert_eq!(results.len(), 4);
    for (path, seconds) in files.iter().zip([3.0, 12.0, 25.0]) {
        let line = results
            .iter()
            .find(|l| l["custom_id"] == path.display().to_string())
            .unwrap();
        assert_eq!(line["response"]["status_code"], 200);
        assert_eq!(line["response"]["body"]["duration"], seconds);
        assert!(line["error"].is_null());
    }
    let failed = results
        .iter()
        .find(|l| l["custom_id"] == bad.display().to_string())
        .unwrap();
    assert_eq!(failed["error"]["code"], "invalid_audio");

    // A re-run finds every file done and sends nothing.
    let assert = groqchat()
        .arg("transcribe")
        .args(&files)
        .arg(&bad)
        .args(["--mock", "-o"])
        .arg(&out)
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("plan: 0 file(s)"), "{stderr}");
    assert_eq!(lines(&out).len(), 4);

    // A new file is added to the same output.
    let d = dir.path().join("d.wav");
    fs::write(&d, groq_audio::wav_pcm16(Duration::from_secs(2), 8_000, 1)).unwrap();
    groqchat()
        .args(["translate", "--mock", "-o"])
        .arg(&out)
        .arg(&d)
        .assert()
        .success();
    let results = lines(&out);
    assert_eq!(results.len(), 5);
    assert!(
        results[4]["response"]["body"]["text"]
            .as_str()
            .unwrap()
            .contains("Translation of d.wav")
    );
}

#[test]
fn transcribe_dry_run_prints_the_least_time() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("groqchat.json");
    fs::write(
        &config,
        r#"{ "models": { "whisper-large-v3": { "audio_seconds_per_hour": 60 } } }"#,
    )
    .unwrap();
    let path = dir.path().join("long.wav");
    fs::write(
        &path,
        groq_audio::wav_pcm16(Duration::from_secs(90), 800, 1),
    )
    .unwrap();
    let assert = groqchat()
        .args([
            "transcribe",
            "--dry-run",
            "--model",
            "whisper-large-v3",
            "--config",
        ])
        .arg(&config)
        .arg(&path)
        .arg("-o")
        .arg(dir.path().join("out.jsonl"))
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    // 90 s through 60 per hour: 30 s beyond the bucket, half an hour of refill.
    assert!(stderr.contains("90 audio seconds billed"), "{stderr}");
    assert!(stderr.contains("audio seconds per hour (ASH)"), "{stderr}");
    assert!(stderr.contains("30m"), "{stderr}");
}

#[test]
fn speak_writes_an_audio_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("groqchat.json");
    fs::write(
        &config,
        r#"{ "models": { "playai-tts": { "req_per_minute": 10 } } }"#,
    )
    .unwrap();
    let out = dir.path().join("hello.wav");
    groqchat()
        .args([
            "speak",
            "Hello from the speech endpoint",
            "--mock",
            "--sample-rate",
            "8000",
            "--config",
        ])
        .arg(&config)
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    let info = groq_audio::measure_file(&out).unwrap();
    assert_eq!(info.duration, Duration::from_secs(2));
    groqchat()
        .args(["speak", "hi", "--mock", "-o"])
        .arg(dir.path().join("hello.xyz"))
        .assert()
        .code(2);
}
