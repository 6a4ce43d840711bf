//! The audio endpoints: multipart uploads measured from the file, ASH and ASD buckets with
//! Groq's texts, every transcript format, and speech.

mod common;

use std::time::Duration;

use common::{HttpResponse, KEY, parse, raw};
use groq_mock::{MockLimits, MockServer};
use serde_json::json;

const WHISPER: &str = "whisper-large-v3-turbo";
const BOUNDARY: &str = "test-boundary-7MA4YWxkTrZu0gW";

async fn server(limits: MockLimits) -> MockServer {
    MockServer::builder()
        .api_key(KEY)
        .model(WHISPER, limits)
        .model("playai-tts", MockLimits::unlimited().rpm(10))
        .start()
        .await
        .unwrap()
}

fn wav(seconds: u64) -> Vec<u8> {
    groq_audio::wav_pcm16(Duration::from_secs(seconds), 8_000, 1)
}

/// A multipart body with text `fields` and an optional file.
fn form(fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    if let Some((filename, data)) = file {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn post(server: &MockServer, path: &str, content_type: &str, body: &[u8]) -> HttpResponse {
    let mut request = format!(
        "POST /openai/v1{path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: Bearer {KEY}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    parse(&raw(server.addr(), &request).await).unwrap()
}

async fn transcribe(
    server: &MockServer,
    fields: &[(&str, &str)],
    file: Option<(&str, &[u8])>,
) -> HttpResponse {
    post(
        server,
        "/audio/transcriptions",
        &format!("multipart/form-data; boundary={BOUNDARY}"),
        &form(fields, file),
    )
    .await
}

#[tokio::test(start_paused = true)]
async fn verbose_json_reports_the_measured_duration() {
    let server = server(MockLimits::unlimited().ash(7_200)).await;
    let audio = wav(23);
    let reply = transcribe(
        &server,
        &[
            ("model", WHISPER),
            ("response_format", "verbose_json"),
            ("language", "en"),
            ("timestamp_granularities[]", "word"),
        ],
        Some(("talk.wav", &audio)),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["duration"], 23.0);
    assert_eq!(body["task"], "transcribe");
    assert_eq!(body["language"], "en");
    assert!(body["text"].as_str().unwrap().contains("talk.wav"));
    assert!(body["words"].as_array().is_some_and(|w| !w.is_empty()));
    assert_eq!(server.stats().audit.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn every_text_format() {
    let server = server(MockLimits::unlimited()).await;
    let audio = wav(2);
    let text = transcribe(
        &server,
        &[("model", WHISPER), ("response_format", "text")],
        Some(("a.wav", &audio)),
    )
    .await;
    assert_eq!(text.status, 200);
    assert!(text.text().contains("2.00 seconds"), "{}", text.text());
    let srt = transcribe(
        &server,
        &[("model", WHISPER), ("response_format", "srt")],
        Some(("a.wav", &audio)),
    )
    .await;
    assert!(
        srt.text().starts_with("1\n00:00:00,000 --> 00:00:02,000\n"),
        "{}",
        srt.text()
    );
    let vtt = transcribe(
        &server,
        &[("model", WHISPER), ("response_format", "vtt")],
        Some(("a.wav", &audio)),
    )
    .await;
    assert!(vtt.text().starts_with("WEBVTT\n"), "{}", vtt.text());
    let json = post(
        &server,
        "/audio/translations",
        &format!("multipart/form-data; boundary={BOUNDARY}"),
        &form(&[("model", WHISPER)], Some(("b.wav", &audio))),
    )
    .await;
    assert!(
        json.json()["text"]
            .as_str()
            .unwrap()
            .starts_with(" Translation of b.wav")
    );
}

#[tokio::test(start_paused = true)]
async fn audio_seconds_per_hour_bills_at_least_ten_seconds() {
    let server = server(MockLimits::unlimited().ash(25).asd(1_000)).await;
    let short = wav(3);
    // Billed 10 s each: two fit in 25, the third does not.
    for used in [10, 20] {
        let reply = transcribe(&server, &[("model", WHISPER)], Some(("s.wav", &short))).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        // Both audio buckets are reported in the scheme of Groq's headers.
        assert_eq!(reply.header_u64("x-ratelimit-limit-audio-seconds"), 25);
        assert_eq!(
            reply.header_u64("x-ratelimit-remaining-audio-seconds"),
            25 - used
        );
        assert!(reply.header("x-ratelimit-reset-audio-seconds").is_some());
        assert_eq!(
            reply.header_u64("x-ratelimit-limit-audio-seconds-day"),
            1_000
        );
        assert_eq!(
            reply.header_u64("x-ratelimit-remaining-audio-seconds-day"),
            1_000 - used
        );
        assert!(reply.header("x-ratelimit-limit-input-tokens").is_none());
    }
    let refused = transcribe(&server, &[("model", WHISPER)], Some(("s.wav", &short))).await;
    assert_eq!(refused.status, 429, "{}", refused.text());
    let error = refused.error();
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("on audio seconds per hour (ASH): Limit 25, Used 20, Requested 10."),
        "{message}"
    );
    assert_eq!(error["type"], "audio_seconds");
    // Longer than the whole bucket: 413.
    let long = wav(30);
    let too_large = transcribe(&server, &[("model", WHISPER)], Some(("l.wav", &long))).await;
    assert_eq!(too_large.status, 413, "{}", too_large.text());
    assert!(
        too_large.error()["message"]
            .as_str()
            .unwrap()
            .contains("(ASH): Limit 25, Requested 30")
    );
}

#[tokio::test(start_paused = true)]
async fn bad_uploads_get_clear_errors() {
    let server = server(MockLimits::unlimited()).await;
    let not_audio = transcribe(
        &server,
        &[("model", WHISPER)],
        Some(("notes.wav", b"plain text")),
    )
    .await;
    assert_eq!(not_audio.status, 400);
    assert!(
        not_audio.error()["message"]
            .as_str()
            .unwrap()
            .contains("valid media file")
    );
    let none = transcribe(&server, &[("model", WHISPER)], None).await;
    assert_eq!(none.status, 400);
    assert!(
        none.error()["message"]
            .as_str()
            .unwrap()
            .contains("either file or url")
    );
    let unknown = transcribe(&server, &[("model", "nope")], Some(("a.wav", &wav(1)))).await;
    assert_eq!(unknown.status, 404);
    let granularity = transcribe(
        &server,
        &[("model", WHISPER), ("timestamp_granularities[]", "word")],
        Some(("a.wav", &wav(1))),
    )
    .await;
    assert_eq!(granularity.status, 400);
    let json_body = post(&server, "/audio/transcriptions", "application/json", b"{}").await;
    assert_eq!(json_body.status, 400);
    assert!(
        json_body.error()["message"]
            .as_str()
            .unwrap()
            .contains("multipart/form-data")
    );
}

#[tokio::test(start_paused = true)]
async fn speech_is_a_wav_of_the_texts_length() {
    let server = server(MockLimits::unlimited()).await;
    let body = json!({"model": "playai-tts", "input": "x".repeat(45), "voice": "Fritz-PlayAI", "response_format": "wav", "sample_rate": 8000});
    let reply = post(
        &server,
        "/audio/speech",
        "application/json",
        &serde_json::to_vec(&body).unwrap(),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("audio/wav"));
    let info = groq_audio::measure_bytes(&reply.body, "speech.wav").unwrap();
    assert_eq!(info.duration, Duration::from_secs(3));
    let mp3 = json!({"model": "playai-tts", "input": "hi", "voice": "v", "response_format": "mp3"});
    let refused = post(
        &server,
        "/audio/speech",
        "application/json",
        &serde_json::to_vec(&mp3).unwrap(),
    )
    .await;
    assert_eq!(refused.status, 400);
}
