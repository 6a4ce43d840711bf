//! `/audio/transcriptions`, `/audio/translations` and `/audio/speech`.
//!
//! A transcription or translation is a multipart form with the audio in `file` (or a `url`).
//! The emulator measures the uploaded file's duration from its header and packets (wav,
//! mp3, flac, ogg, m4a, webm), bills at least 10 s of it to the model's ASH and ASD buckets
//! (and one request to RPM and RPD), and answers a deterministic transcript in the requested
//! format; `verbose_json` reports the measured `duration`. A `url` cannot be fetched by the
//! emulator: it is billed the 10 s minimum. Speech (`/audio/speech`) answers a WAV file whose
//! length follows the text (about 15 characters a second).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use groq_types::{SpeechFormat, SpeechRequest, TranscriptFormat};
use http::header::CONTENT_TYPE;
use http::{Request, StatusCode};
use http_body::Body;
use serde_json::json;
use tokio::time::Instant;

use crate::bucket::go_duration;
use crate::engine::{Admission, Engine, Units};
use crate::http::{
    INVALID_REQUEST, Reply, admit, bytes_reply, error, invalid, json as json_reply,
    model_not_found, rate_headers, read_limited,
};
use crate::multipart;

/// The largest audio upload accepted (Groq's free-tier limit).
pub const MAX_AUDIO_BYTES: usize = 25 << 20;

/// Serves one audio request; `path` is the part after the API prefix.
pub(crate) async fn handle<B>(
    engine: &Arc<Engine>,
    request: Request<B>,
    key: &str,
    path: &str,
    request_id: &str,
) -> Reply
where
    B: Body,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = match read(request).await {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    if path == "/audio/speech" {
        return speech(engine, key, &body);
    }
    let translate = path == "/audio/translations";
    let Some(boundary) = multipart::boundary(&content_type) else {
        return invalid(
            "request Content-Type must be multipart/form-data with a boundary",
            None,
        );
    };
    let form = match multipart::parse(&body, &boundary) {
        Ok(form) => form,
        Err(reason) => return invalid(format!("the multipart body is malformed: {reason}"), None),
    };
    let Some(model) = form.text("model").filter(|m| !m.is_empty()) else {
        return invalid("property 'model' is missing", Some("model"));
    };
    if engine.model(&model).is_none() {
        return model_not_found(&model);
    }
    let format = match form.text("response_format") {
        None => TranscriptFormat::Json,
        Some(name) => match TranscriptFormat::from_name(&name) {
            Some(format) => format,
            None => {
                return invalid(
                    format!(
                        "response_format must be one of json, text, verbose_json, srt, vtt; got {name:?}"
                    ),
                    Some("response_format"),
                );
            }
        },
    };
    if let Some(t) = form.text("temperature")
        && !t.parse::<f64>().is_ok_and(|t| (0.0..=1.0).contains(&t))
    {
        return invalid(
            format!("temperature must be a number between 0 and 1; got {t:?}"),
            Some("temperature"),
        );
    }
    let granularities = form.texts("timestamp_granularities[]");
    if !granularities.is_empty() && format != TranscriptFormat::VerboseJson {
        return invalid(
            "timestamp_granularities requires response_format verbose_json",
            Some("timestamp_granularities"),
        );
    }
    let (label, duration) = match (form.part("file"), form.text("url")) {
        (Some(file), _) => {
            let name = file.filename.clone().unwrap_or_else(|| "file".to_owned());
            match groq_audio::measure_bytes(&file.data, &name) {
                Ok(info) => (name, info.duration),
                Err(e) => {
                    return invalid(
                        format!("could not process file - is it a valid media file? ({e})"),
                        Some("file"),
                    );
                }
            }
        }
        (None, Some(url)) if !url.is_empty() => (url, groq_audio::MINIMUM_BILLED),
        _ => return invalid("either file or url must be provided", Some("file")),
    };
    let billed = groq_audio::billed_seconds(duration);
    let view = match admit(engine, key, &model, &Units::audio(billed), true) {
        Ok(view) => view,
        Err(reply) => return reply,
    };
    engine.audit(&model, 0, 0, false, Some(label.clone()));
    let seconds = duration.as_secs_f64();
    let task = if translate { "translate" } else { "transcribe" };
    let text = format!(
        " {} of {label}: {seconds:.2} seconds of audio.",
        if translate {
            "Translation"
        } else {
            "Transcript"
        }
    );
    let mut reply = match format {
        TranscriptFormat::Json => json_reply(
            StatusCode::OK,
            &json!({"text": text, "x_groq": {"id": request_id}}),
        ),
        TranscriptFormat::VerboseJson => {
            let language = form
                .text("language")
                .filter(|_| !translate)
                .unwrap_or_else(|| "english".to_owned());
            let mut body = json!({
                "task": task,
                "language": language,
                "duration": seconds,
                "text": text,
                "segments": [{
                    "id": 0, "seek": 0, "start": 0.0, "end": seconds, "text": text,
                    "tokens": [50365, 50366], "temperature": 0.0, "avg_logprob": -0.2,
                    "compression_ratio": 1.0, "no_speech_prob": 0.01
                }],
                "x_groq": {"id": request_id},
            });
            if granularities.iter().any(|g| g == "word") {
                let words: Vec<_> = text
                    .split_whitespace()
                    .enumerate()
                    .map(|(i, word)| {
                        let n = text.split_whitespace().count().max(1) as f64;
                        json!({"word": word, "start": seconds * i as f64 / n, "end": seconds * (i + 1) as f64 / n})
                    })
                    .collect();
                body["words"] = json!(words);
            }
            json_reply(StatusCode::OK, &body)
        }
        TranscriptFormat::Text => bytes_reply(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            Bytes::from(text),
        ),
        TranscriptFormat::Srt => bytes_reply(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            Bytes::from(format!(
                "1\n00:00:00,000 --> {}\n{}\n",
                timestamp(duration, ','),
                text.trim()
            )),
        ),
        TranscriptFormat::Vtt => bytes_reply(
            StatusCode::OK,
            "text/vtt; charset=utf-8",
            Bytes::from(format!(
                "WEBVTT\n\n00:00:00.000 --> {}\n{}\n",
                timestamp(duration, '.'),
                text.trim()
            )),
        ),
        _ => invalid("unsupported response_format", Some("response_format")),
    };
    rate_headers(reply.headers_mut(), &view);
    reply
}

/// `HH:MM:SS<sep>mmm`.
fn timestamp(duration: Duration, separator: char) -> String {
    let millis = duration.as_millis();
    format!(
        "{:02}:{:02}:{:02}{separator}{:03}",
        millis / 3_600_000,
        millis / 60_000 % 60,
        millis / 1_000 % 60,
        millis % 1_000
    )
}

/// `POST /audio/speech`: a WAV file of the text's spoken length.
fn speech(engine: &Arc<Engine>, key: &str, body: &Bytes) -> Reply {
    let request: SpeechRequest = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(e) => {
            return invalid(
                format!("the request body is not a valid speech request: {e}"),
                None,
            );
        }
    };
    if engine.model(&request.model).is_none() {
        return model_not_found(&request.model);
    }
    if request.input.trim().is_empty() {
        return invalid("property 'input' must not be empty", Some("input"));
    }
    match request.response_format.unwrap_or(SpeechFormat::Wav) {
        SpeechFormat::Wav => {}
        other => {
            return invalid(
                format!(
                    "the emulator produces only wav speech; `{}` was asked for",
                    other.as_str()
                ),
                Some("response_format"),
            );
        }
    }
    let view = match engine.admit_with(key, &request.model, &Units::default(), Instant::now(), true)
    {
        Admission::Admitted(view) => view,
        Admission::Limited { wait, view, .. } => {
            let mut reply = error(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "Rate limit reached for model `{}`. Please try again in {}.",
                    request.model,
                    go_duration(wait)
                ),
                "requests",
                Some("rate_limit_exceeded"),
            );
            rate_headers(reply.headers_mut(), &view);
            return reply;
        }
        Admission::TooLarge { .. } => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request too large",
                INVALID_REQUEST,
                Some("rate_limit_exceeded"),
            );
        }
    };
    engine.audit(&request.model, 0, 0, false, None);
    let chars = request.input.chars().count() as u64;
    let speed = request.speed.filter(|s| *s > 0.0).unwrap_or(1.0);
    let millis = ((chars * 1_000 / 15).max(200) as f64 / speed) as u64;
    let rate = request.sample_rate.unwrap_or(24_000);
    let wav = groq_audio::wav_pcm16(Duration::from_millis(millis), rate, 1);
    let mut reply = bytes_reply(StatusCode::OK, "audio/wav", Bytes::from(wav));
    rate_headers(reply.headers_mut(), &view);
    reply
}

/// The body, up to [`MAX_AUDIO_BYTES`].
async fn read<B>(request: Request<B>) -> Result<Bytes, Reply>
where
    B: Body,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    read_limited(
        request,
        MAX_AUDIO_BYTES,
        &format!("Request body too large: the limit is {MAX_AUDIO_BYTES} bytes for audio."),
    )
    .await
}
