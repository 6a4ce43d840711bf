//! `groqchat transcribe`, `groqchat translate` and `groqchat speak`.
//!
//! `transcribe` and `translate` are paced batches of audio files: each file is measured
//! first (a bad one is reported and gets an error line, nothing of it is sent), the plan
//! tells the total audio seconds billed and the least time the ASH and ASD limits allow,
//! and one batch-output line per file is written as its transcript arrives, its `custom_id`
//! the file's path as given. Re-running with the same output resumes: files with a line are
//! skipped.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use groq_client::{
    AudioSource, Dimension, SpeechFormat, SpeechRequest, TranscriptFormat, TranscriptionOptions,
};
use groq_ratelimit::Quota;
use serde_json::{Value, json};

use crate::connect::{self, ConnectArgs};
use crate::error::{CliError, EXIT_FAILED, EXIT_OK};
use crate::output::{
    ErrorPart, IdGenerator, ResponsePart, ResultLine, ResultWriter, prepare_output,
};
use crate::plan::format_duration;

/// The default speech-to-text model.
const DEFAULT_STT_MODEL: &str = "whisper-large-v3-turbo";

/// Arguments of `groqchat transcribe` and `groqchat translate`.
#[derive(Debug, clap::Args)]
pub(crate) struct AudioArgs {
    /// The audio files (wav, mp3, flac, ogg, m4a, webm).
    #[arg(value_name = "FILES", required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// Where to write one batch-output line per file (JSON Lines); resumed if it exists.
    #[arg(short, long, value_name = "OUT.jsonl")]
    pub(crate) output: PathBuf,
    /// The speech-to-text model.
    #[arg(long, default_value = DEFAULT_STT_MODEL)]
    pub(crate) model: String,
    /// The language of the audio (ISO-639-1), for transcriptions.
    #[arg(long)]
    pub(crate) language: Option<String>,
    /// The transcript format: json, text, verbose_json, srt or vtt.
    #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
    pub(crate) format: Option<TranscriptFormat>,
    /// Text to guide the style of the transcript.
    #[arg(long)]
    pub(crate) prompt: Option<String>,
    /// Sampling temperature between 0 and 1.
    #[arg(long, value_parser = parse_audio_temperature)]
    pub(crate) temperature: Option<f64>,
    /// Run the files whose earlier result is a failure again.
    #[arg(long)]
    pub(crate) retry_failed: bool,
    /// Print the plan and send nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Connection.
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
}

fn parse_format(name: &str) -> Result<TranscriptFormat, String> {
    TranscriptFormat::from_name(name)
        .ok_or_else(|| format!("{name:?} is not one of json, text, verbose_json, srt, vtt"))
}

/// Which endpoint a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Task {
    /// `/audio/transcriptions`.
    Transcribe,
    /// `/audio/translations`.
    Translate,
}

/// The least time `quota` allows for `requests` requests of `audio_seconds` in all, and the
/// limit that sets it.
pub(crate) fn least_time(
    quota: &Quota,
    requests: u64,
    audio_seconds: u64,
) -> (Duration, Option<Dimension>) {
    let mut longest = (Duration::ZERO, None);
    for (dimension, rate) in quota.rates() {
        let work = match dimension {
            Dimension::RequestsPerMinute | Dimension::RequestsPerDay => requests,
            Dimension::AudioSecondsPerHour | Dimension::AudioSecondsPerDay => audio_seconds,
            _ => continue,
        };
        let beyond = work.saturating_sub(rate.limit());
        let nanos = rate.period().as_nanos() * u128::from(beyond) / u128::from(rate.limit());
        let wait = Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
        if wait > longest.0 {
            longest = (wait, Some(dimension));
        }
    }
    longest
}

/// Runs `groqchat transcribe` or `groqchat translate`.
#[allow(clippy::print_stderr)]
pub(crate) async fn run(args: AudioArgs, task: Task) -> Result<ExitCode, CliError> {
    let options = {
        let mut options = TranscriptionOptions::new(args.model.clone());
        if let Some(language) = &args.language {
            options = options.language(language.clone());
        }
        if let Some(format) = args.format {
            options = options.response_format(format);
        }
        if let Some(prompt) = &args.prompt {
            options = options.prompt(prompt.clone());
        }
        if let Some(t) = args.temperature {
            options = options.temperature(t);
        }
        options.validate().map_err(CliError::Usage)?;
        options
    };
    let config = connect::load_config(&args.connect)?;
    let (file, resume) = prepare_output(&args.output, args.retry_failed)?;
    let mut writer = ResultWriter::new(file, args.output.clone(), false);
    let mut ids = IdGenerator::new();

    // Measure every pending file before anything is sent.
    let mut pending = Vec::new();
    let mut bad = 0usize;
    let mut total_billed = 0u64;
    for (position, path) in args.files.iter().enumerate() {
        let custom_id = path.display().to_string();
        if resume.done.contains(&custom_id) {
            continue;
        }
        match groq_audio::measure_file(path) {
            Ok(info) => {
                let billed = groq_audio::billed_seconds(info.duration);
                total_billed += billed;
                pending.push((position, path.clone(), custom_id, billed));
            }
            Err(e) => {
                bad += 1;
                eprintln!("groqchat: {e}; no request is sent for it");
                if !args.dry_run {
                    let line = ResultLine {
                        id: ids.next_id(),
                        custom_id,
                        response: None,
                        error: Some(ErrorPart {
                            code: "invalid_audio".to_owned(),
                            message: e.to_string(),
                        }),
                    };
                    writer
                        .write(position, line)
                        .map_err(|e| CliError::file("write", &args.output, e))?;
                }
            }
        }
    }
    let quota = config
        .resolve_model(&args.model)
        .ok()
        .map(|m| Quota::from_limits(&m.limits));
    let (least, binding) = quota.as_ref().map_or((Duration::ZERO, None), |q| {
        least_time(q, pending.len() as u64, total_billed)
    });
    eprintln!(
        "plan: {} file(s) to {} with {} ({} already done, {} unusable): {} audio seconds billed; at least {}{}",
        pending.len(),
        if task == Task::Translate {
            "translate"
        } else {
            "transcribe"
        },
        args.model,
        resume.done.len(),
        bad,
        total_billed,
        format_duration(least),
        binding.map_or_else(String::new, |d| format!(" (bound by {d})")),
    );
    if args.dry_run {
        return Ok(ExitCode::from(EXIT_OK));
    }
    let connection = connect::connect(&args.connect).await?;
    let mut tasks = tokio::task::JoinSet::new();
    for (position, path, custom_id, _) in pending {
        let client = connection.client.clone();
        let options = options.clone();
        tasks.spawn(async move {
            let source = AudioSource::path(path);
            let reply = match task {
                Task::Transcribe => client.transcribe(source, options).await,
                Task::Translate => client.translate(source, options).await,
            };
            (position, custom_id, reply)
        });
    }
    let mut failed = bad;
    let mut succeeded = 0usize;
    while let Some(joined) = tasks.join_next().await {
        let Ok((position, custom_id, reply)) = joined else {
            failed += 1;
            continue;
        };
        let line = match reply {
            Ok(reply) => {
                succeeded += 1;
                let transcript = &reply.transcript;
                // The server's bytes when it answered JSON; the text as {"text": ...} for the
                // plain formats (srt, vtt, text), which a JSON line cannot hold as they are.
                let body: Vec<u8> = if transcript.format.is_json() {
                    transcript.raw().to_vec()
                } else {
                    json!({"text": transcript.text}).to_string().into_bytes()
                };
                let request_id = transcript
                    .x_groq
                    .as_ref()
                    .and_then(|x| x.get("id"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                ResultLine {
                    id: ids.next_id(),
                    custom_id,
                    response: Some(ResponsePart::new(200, request_id, &body)),
                    error: None,
                }
            }
            Err(e) => {
                failed += 1;
                ResultLine::failure(ids.next_id(), custom_id, &e)
            }
        };
        writer
            .write(position, line)
            .map_err(|e| CliError::file("write", &args.output, e))?;
    }
    writer
        .finish()
        .map_err(|e| CliError::file("write", &args.output, e))?;
    connection.close().await;
    eprintln!("done: {succeeded} succeeded, {failed} failed");
    Ok(ExitCode::from(if failed == 0 {
        EXIT_OK
    } else {
        EXIT_FAILED
    }))
}

/// A number within `range`, for the flags of the audio commands.
fn number_in(text: &str, range: std::ops::RangeInclusive<f64>, what: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(format!(
            "{value} is out of range: {what} goes from {} to {}",
            range.start(),
            range.end()
        ))
    }
}

/// `--temperature` of transcriptions and translations: 0 to 1, as the API takes it.
fn parse_audio_temperature(text: &str) -> Result<f64, String> {
    number_in(text, 0.0..=1.0, "the temperature")
}

/// `--speed` of speech: 0.5 to 5, as the API takes it.
fn parse_speed(text: &str) -> Result<f64, String> {
    number_in(text, 0.5..=5.0, "the speed")
}

/// The sample rates the speech endpoint offers.
const SAMPLE_RATES: [u32; 7] = [8_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000];

/// `--sample-rate` of speech: one of [`SAMPLE_RATES`].
fn parse_sample_rate(text: &str) -> Result<u32, String> {
    text.trim()
        .parse()
        .ok()
        .filter(|rate| SAMPLE_RATES.contains(rate))
        .ok_or_else(|| {
            format!("`{text}` is not a sample rate the API offers: 8000, 16000, 22050, 24000, 32000, 44100 or 48000")
        })
}

/// Arguments of `groqchat speak`.
#[derive(Debug, clap::Args)]
pub(crate) struct SpeakArgs {
    /// The text to speak.
    #[arg(value_name = "TEXT")]
    pub(crate) text: String,
    /// The audio file to write; its extension picks the format (wav, mp3, flac, ogg).
    #[arg(short, long, value_name = "OUT.wav")]
    pub(crate) output: PathBuf,
    /// The text-to-speech model.
    #[arg(long, default_value = "playai-tts")]
    pub(crate) model: String,
    /// The voice.
    #[arg(long, default_value = "Fritz-PlayAI")]
    pub(crate) voice: String,
    /// Speed of the speech, from 0.5 to 5.
    #[arg(long, value_parser = parse_speed)]
    pub(crate) speed: Option<f64>,
    /// Samples per second: 8000, 16000, 22050, 24000, 32000, 44100 or 48000.
    #[arg(long, value_parser = parse_sample_rate)]
    pub(crate) sample_rate: Option<u32>,
    /// Connection.
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
}

/// Runs `groqchat speak`: the audio is streamed to the output file.
#[allow(clippy::print_stderr)]
pub(crate) async fn speak(args: SpeakArgs) -> Result<ExitCode, CliError> {
    let extension = args
        .output
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("wav");
    let format = SpeechFormat::from_name(extension).ok_or_else(|| {
        CliError::Usage(format!(
            "cannot tell the audio format from {}: name it .wav, .mp3, .flac or .ogg",
            args.output.display()
        ))
    })?;
    let mut request =
        SpeechRequest::new(&args.model, &args.text, &args.voice).response_format(format);
    if let Some(speed) = args.speed {
        request = request.speed(speed);
    }
    if let Some(rate) = args.sample_rate {
        request = request.sample_rate(rate);
    }
    let connection = connect::connect(&args.connect).await?;
    let written = connection
        .client
        .speech_to_file(request, &args.output)
        .await;
    connection.close().await;
    let written = written.map_err(|e| CliError::client("the speech request failed", e))?;
    eprintln!("wrote {written} bytes to {}", args.output.display());
    Ok(ExitCode::from(EXIT_OK))
}

#[cfg(test)]
mod tests {
    use super::*;
    use groq_config::Rate;

    #[test]
    fn least_time_follows_the_audio_limits() {
        let quota = Quota::unlimited()
            .with_rate(Dimension::RequestsPerMinute, Rate::per_minute(20))
            .with_rate(Dimension::AudioSecondsPerHour, Rate::per_hour(7_200))
            .with_rate(Dimension::AudioSecondsPerDay, Rate::per_day(28_800));
        // 10,800 s of audio: 3,600 beyond the hourly bucket, half an hour of refill.
        assert_eq!(
            least_time(&quota, 10, 10_800),
            (
                Duration::from_secs(1_800),
                Some(Dimension::AudioSecondsPerHour)
            )
        );
        assert_eq!(least_time(&quota, 10, 600), (Duration::ZERO, None));
        // 100,000 s: the day bucket binds (71,200 s beyond it at 28,800 a day).
        let (wait, binding) = least_time(&quota, 10, 100_000);
        assert_eq!(binding, Some(Dimension::AudioSecondsPerDay));
        assert_eq!(wait, Duration::from_secs(213_600));
    }
}
