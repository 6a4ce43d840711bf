//! `groqchat batch --remote`: the same input run by Groq's Batch API instead of locally.
//!
//! The requests without a result in OUTPUT are uploaded as a Batch API input file and a
//! batch is created; its id is kept in a sidecar file next to OUTPUT (`OUTPUT.remote.json`)
//! before anything else, so an interrupted run resumes the same batch instead of submitting
//! a second one. The batch is polled (progress from `request_counts`) until it finishes; its
//! output and error lines, which are in the local output's format already, are appended to
//! OUTPUT, and the sidecar is removed. The Batch API costs half the synchronous price and has
//! its own quota, but takes up to the completion window (24 h by default) instead of the
//! minutes the local limits allow.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use groq_client::CreateBatch;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::batch::BatchArgs;
use crate::connect;
use crate::error::{CliError, EXIT_FAILED, EXIT_OK};
use crate::input::parse_input;
use crate::output::{ErrorPart, IdGenerator, ResultLine, ResultWriter, prepare_output};

/// The completion window `24h` ... `7d` as a duration (hours or days), if it is one.
pub(crate) fn window_duration(window: &str) -> Option<Duration> {
    let window = window.trim();
    let (number, unit) = window.split_at(window.len().checked_sub(1)?);
    let n: u64 = number.parse().ok()?;
    match unit {
        "h" => Some(Duration::from_secs(n * 3_600)),
        "d" => Some(Duration::from_secs(n * 86_400)),
        _ => None,
    }
}

/// The plan's line comparing a local run whose least time is `local` with the Batch API
/// within `window`: the remote run is always half the price; it is sooner only when the local
/// limits need longer than the window.
pub(crate) fn comparison(local: Duration, window: &str) -> String {
    let verdict = match window_duration(window) {
        Some(limit) if local > limit => format!(
            "sooner than the {} the local limits need",
            crate::plan::format_duration(local)
        ),
        Some(_) => format!(
            "but likely later than the {} the local limits need",
            crate::plan::format_duration(local)
        ),
        None => "in its completion window".to_owned(),
    };
    format!(
        "remote (--remote): half the price and a quota of its own; done within {window}, {verdict}\n"
    )
}

/// What the sidecar file keeps.
#[derive(Debug, Serialize, Deserialize)]
struct Sidecar {
    batch_id: String,
    input_file_id: String,
}

/// The sidecar of `output`.
pub(crate) fn sidecar_path(output: &Path) -> PathBuf {
    let mut name = output.as_os_str().to_owned();
    name.push(".remote.json");
    PathBuf::from(name)
}

fn write_sidecar(path: &Path, sidecar: &Sidecar) -> Result<(), CliError> {
    let tmp = path.with_extension("tmp");
    let text = serde_json::to_string_pretty(sidecar).unwrap_or_default();
    std::fs::write(&tmp, text).map_err(|e| CliError::file("write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| CliError::file("write", path, e))
}

/// Runs `groqchat batch --remote`.
#[allow(clippy::print_stderr)]
pub(crate) async fn run(args: BatchArgs, window: &str) -> Result<ExitCode, CliError> {
    let sidecar_file = sidecar_path(&args.output);
    let (file, resume) = prepare_output(&args.output, args.retry_failed)?;
    let mut writer = ResultWriter::new(file, args.output.clone(), false);
    let poll = Duration::from_secs_f64(args.progress_interval.max(0.01));
    let existing: Option<Sidecar> = match std::fs::read(&sidecar_file) {
        Ok(bytes) => Some(serde_json::from_slice(&bytes).map_err(|e| {
            CliError::Usage(format!(
                "the sidecar file {} is not a remote batch record ({e}); remove it to submit anew",
                sidecar_file.display()
            ))
        })?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(CliError::file("read", &sidecar_file, e)),
    };
    let connection = connect::connect(&args.connect).await?;
    let client = connection.client.clone();
    let outcome = async {
        let sidecar = match existing {
            Some(sidecar) => {
                eprintln!("resuming remote batch {}", sidecar.batch_id);
                sidecar
            }
            None => {
                let bytes = std::fs::read(&args.input)
                    .map_err(|e| CliError::file("read", &args.input, e))?;
                let parsed = parse_input(&bytes);
                for problem in &parsed.problems {
                    eprintln!("{}: {problem}", args.input.display());
                }
                let mut lines = String::new();
                let mut count = 0usize;
                for request in &parsed.requests {
                    if resume.done.contains(&request.custom_id) {
                        continue;
                    }
                    count += 1;
                    lines.push_str(
                        &json!({"custom_id": request.custom_id, "method": "POST",
                                "url": "/v1/chat/completions", "body": request.request})
                        .to_string(),
                    );
                    lines.push('\n');
                }
                if count == 0 {
                    eprintln!("nothing to send: every request has a result in {}", args.output.display());
                    return Ok(true);
                }
                eprintln!(
                    "plan: {count} request(s) to the Batch API (half the price, its own quota; done within {window})"
                );
                let name = args
                    .input
                    .file_name()
                    .map_or_else(|| "input.jsonl".to_owned(), |n| n.to_string_lossy().into_owned());
                let uploaded = client
                    .upload_file(&name, lines, "batch")
                    .await
                    .map_err(|e| CliError::client("cannot upload the batch input", e))?;
                let batch = client
                    .create_batch(
                        &CreateBatch::new(&uploaded.id, "/v1/chat/completions")
                            .completion_window(window),
                    )
                    .await
                    .map_err(|e| CliError::client("cannot create the batch", e))?;
                let sidecar = Sidecar {
                    batch_id: batch.id,
                    input_file_id: uploaded.id,
                };
                write_sidecar(&sidecar_file, &sidecar)?;
                eprintln!("submitted remote batch {}", sidecar.batch_id);
                sidecar
            }
        };
        let mut last = String::new();
        let batch = loop {
            let batch = client
                .batch(&sidecar.batch_id)
                .await
                .map_err(|e| CliError::client(format!("cannot read batch {}", sidecar.batch_id), e))?;
            let counts = batch.request_counts.unwrap_or_default();
            let line = format!(
                "batch {}: {}, {}/{} done, {} failed",
                batch.id, batch.status, counts.completed, counts.total, counts.failed
            );
            if line != last {
                eprintln!("{line}");
                last = line;
            }
            if batch.is_finished() {
                break batch;
            }
            tokio::time::sleep(poll).await;
        };
        let mut ids = IdGenerator::new();
        let mut failed = 0usize;
        let mut written = 0usize;
        for file in [&batch.output_file_id, &batch.error_file_id].into_iter().flatten() {
            let bytes = client
                .file_content(file)
                .await
                .map_err(|e| CliError::client(format!("cannot download file {file}"), e))?;
            for raw in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let line = match serde_json::from_slice::<ResultLine>(raw) {
                    Ok(line) => line,
                    Err(_) => {
                        let value: serde_json::Value =
                            serde_json::from_slice(raw).unwrap_or_default();
                        ResultLine {
                            id: ids.next_id(),
                            custom_id: value["custom_id"].as_str().unwrap_or_default().to_owned(),
                            response: None,
                            error: Some(ErrorPart {
                                code: value["error"]["code"]
                                    .as_str()
                                    .unwrap_or("batch_error")
                                    .to_owned(),
                                message: value["error"]["message"]
                                    .as_str()
                                    .unwrap_or("the Batch API reported a failure")
                                    .to_owned(),
                            }),
                        }
                    }
                };
                if resume.done.contains(&line.custom_id) {
                    continue;
                }
                if !line.is_success() {
                    failed += 1;
                }
                writer
                    .write(written, line)
                    .map_err(|e| CliError::file("write", &args.output, e))?;
                written += 1;
            }
        }
        writer
            .finish()
            .map_err(|e| CliError::file("write", &args.output, e))?;
        std::fs::remove_file(&sidecar_file).map_err(|e| CliError::file("remove", &sidecar_file, e))?;
        eprintln!(
            "remote batch {} {}: {written} result(s) written, {failed} failed",
            batch.id, batch.status
        );
        Ok(batch.status == "completed" && failed == 0)
    }
    .await;
    connection.close().await;
    outcome.map(|ok| ExitCode::from(if ok { EXIT_OK } else { EXIT_FAILED }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_says_when_remote_is_sooner() {
        assert_eq!(window_duration("24h"), Some(Duration::from_secs(86_400)));
        assert_eq!(window_duration("7d"), Some(Duration::from_secs(604_800)));
        assert_eq!(window_duration("soon"), None);
        let slow = comparison(Duration::from_secs(3 * 86_400), "24h");
        assert!(slow.contains("sooner than"), "{slow}");
        let fast = comparison(Duration::from_secs(60), "24h");
        assert!(fast.contains("likely later"), "{fast}");
        assert!(fast.contains("half the price"));
        assert_eq!(
            sidecar_path(Path::new("out/results.jsonl")),
            PathBuf::from("out/results.jsonl.remote.json")
        );
    }
}
