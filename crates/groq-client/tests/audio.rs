//! Speech to text and text to speech against the Groq emulator: paced under ASH and ASD,
//! bad audio refused before sending, durations reconciled from `verbose_json`.

use std::time::Duration;

use groq_client::{
    AudioSource, Config, Dimension, Error, GroqClient, ModelConfig, RetryPolicy, SpeechFormat,
    SpeechRequest, TranscriptFormat, TranscriptionOptions,
};
use groq_config::{Limits, Rate, UnknownModelPolicy};
use groq_mock::{MockLimits, MockServer};

const KEY: &str = "gsk_audio_test_0123456789";
const WHISPER: &str = "whisper-large-v3-turbo";
const TTS: &str = "playai-tts";

fn client(server: &MockServer, limits: Limits) -> GroqClient {
    let config = Config::builder()
        .clear_models()
        .base_url(server.base_url())
        .api_key(KEY)
        .unknown_models(UnknownModelPolicy::Reject)
        .model(ModelConfig::new(WHISPER).with_limits(limits))
        .model(ModelConfig::new(TTS))
        .build()
        .unwrap();
    GroqClient::builder()
        .config(config)
        .limiter_margin(Duration::from_millis(100))
        .retry_policy(
            RetryPolicy::default()
                .with_base_delay(Duration::from_millis(20))
                .with_max_delay(Duration::from_millis(200)),
        )
        .build()
        .unwrap()
}

fn wav(seconds: u64) -> Vec<u8> {
    groq_audio::wav_pcm16(Duration::from_secs(seconds), 8_000, 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audio_seconds_bound_batch_meets_no_429() {
    // A "minute" of 50 ms: an hour lasts 3 s. The bucket holds 120 audio seconds and refills
    // 40 a second; the batch needs 16 files of 20 s, 320 s in all.
    let minute = Duration::from_millis(50);
    let server = MockServer::builder()
        .api_key(KEY)
        .model(WHISPER, MockLimits::unlimited().ash(120).asd(100_000))
        .model(TTS, MockLimits::unlimited())
        .minute_length(minute)
        .start()
        .await
        .unwrap();
    let hour = minute * 60;
    let limits = Limits::unlimited()
        .with(Dimension::AudioSecondsPerHour, Rate::new(120, hour).ok())
        .with(
            Dimension::AudioSecondsPerDay,
            Rate::new(100_000, minute * 1_440).ok(),
        );
    let client = client(&server, limits);
    let audio = wav(20);
    let started = tokio::time::Instant::now();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let client = client.clone();
            let source = AudioSource::bytes(format!("part-{i}.wav"), audio.clone());
            tokio::spawn(async move {
                client
                    .transcribe(source, TranscriptionOptions::new(WHISPER))
                    .await
            })
        })
        .collect();
    for task in tasks {
        let reply = task.await.unwrap().unwrap();
        assert_eq!(reply.measured, Some(Duration::from_secs(20)));
        assert_eq!(reply.billed_seconds, 20);
        assert!(reply.transcript.text.contains("20.00 seconds"));
    }
    let elapsed = started.elapsed();
    let stats = server.stats();
    assert_eq!(stats.rate_limited, 0, "{:?}", stats.by_status);
    assert_eq!(stats.audit.len(), 16);
    // 320 s of audio through a bucket of 120 that refills 40 a second: at least 5 s.
    assert!(elapsed >= Duration::from_secs(5), "{elapsed:?}");
    assert_eq!(client.limits(WHISPER).unwrap().in_flight, 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_audio_is_refused_before_anything_is_sent() {
    let server = MockServer::builder()
        .api_key(KEY)
        .model(WHISPER, MockLimits::unlimited())
        .start()
        .await
        .unwrap();
    let client = client(&server, Limits::unlimited());
    let cut = wav(4);
    let dir = tempfile::tempdir().unwrap();
    let text_file = dir.path().join("notes.mp3");
    std::fs::write(&text_file, "just some text").unwrap();
    let cases = [
        (
            AudioSource::bytes("cut.wav", cut[..cut.len() / 3].to_vec()),
            "cut.wav",
        ),
        (AudioSource::path(&text_file), "notes.mp3"),
        (AudioSource::bytes("empty.ogg", Vec::new()), "empty.ogg"),
        (
            AudioSource::path(dir.path().join("missing.wav")),
            "missing.wav",
        ),
    ];
    for (source, name) in cases {
        let err = client
            .transcribe(source, TranscriptionOptions::new(WHISPER))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Audio(_)), "{err:?}");
        let chain = format!(
            "{err}: {}",
            std::error::Error::source(&err)
                .map(ToString::to_string)
                .unwrap_or_default()
        );
        assert!(chain.contains(name), "{chain}");
    }
    let truncated = client
        .transcribe(
            AudioSource::bytes("cut.wav", cut[..cut.len() / 3].to_vec()),
            TranscriptionOptions::new(WHISPER),
        )
        .await
        .unwrap_err();
    let source = std::error::Error::source(&truncated).unwrap().to_string();
    assert!(source.contains("truncated"), "{source}");
    assert_eq!(server.stats().audit.len(), 0);
    assert_eq!(server.stats().by_status.values().sum::<u64>(), 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_format_translation_url_and_speech() {
    let server = MockServer::builder()
        .api_key(KEY)
        .model(WHISPER, MockLimits::unlimited().ash(7_200))
        .model(TTS, MockLimits::unlimited())
        .start()
        .await
        .unwrap();
    let limits = Limits::unlimited().with(
        Dimension::AudioSecondsPerHour,
        Rate::new(7_200, Rate::HOUR).ok(),
    );
    let client = client(&server, limits);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meeting.wav");
    std::fs::write(&path, wav(42)).unwrap();
    let verbose = client
        .transcribe(
            AudioSource::path(&path),
            TranscriptionOptions::new(WHISPER)
                .language("en")
                .prompt("A meeting.")
                .temperature(0.0)
                .response_format(TranscriptFormat::VerboseJson)
                .timestamp_granularity(groq_client::TimestampGranularity::Word),
        )
        .await
        .unwrap();
    assert_eq!(verbose.transcript.duration, Some(42.0));
    assert!(verbose.transcript.words.is_some());
    assert!(
        std::str::from_utf8(verbose.transcript.raw())
            .unwrap()
            .contains("\"duration\":42")
    );
    let used = client.limits(WHISPER).unwrap();
    let ash = used
        .dimensions
        .iter()
        .find(|d| d.dimension == Dimension::AudioSecondsPerHour)
        .unwrap();
    assert_eq!(ash.used, 42);

    for format in [
        TranscriptFormat::Text,
        TranscriptFormat::Srt,
        TranscriptFormat::Vtt,
    ] {
        let reply = client
            .transcribe(
                AudioSource::bytes("a.wav", wav(3)),
                TranscriptionOptions::new(WHISPER).response_format(format),
            )
            .await
            .unwrap();
        assert_eq!(reply.billed_seconds, 10, "the 10 s minimum");
        assert!(!reply.transcript.text.is_empty());
    }
    let translated = client
        .translate(
            AudioSource::bytes("fr.wav", wav(5)),
            TranscriptionOptions::new(WHISPER),
        )
        .await
        .unwrap();
    assert!(translated.transcript.text.contains("Translation of fr.wav"));
    let by_url = client
        .transcribe(
            AudioSource::url("https://example.com/a.wav"),
            TranscriptionOptions::new(WHISPER),
        )
        .await
        .unwrap();
    assert_eq!(by_url.measured, None);
    assert_eq!(by_url.billed_seconds, 10);

    let out = dir.path().join("hello.wav");
    let written = client
        .speech_to_file(
            SpeechRequest::new(TTS, "x".repeat(30), "Fritz-PlayAI")
                .response_format(SpeechFormat::Wav)
                .sample_rate(8_000),
            &out,
        )
        .await
        .unwrap();
    assert_eq!(written, std::fs::metadata(&out).unwrap().len());
    let info = groq_audio::measure_file(&out).unwrap();
    assert_eq!(info.duration, Duration::from_secs(2));
    server.shutdown().await;
}
