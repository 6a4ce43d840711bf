//! An audio batch bound by audio seconds per hour (ASH) finishes in the least time the limit
//! allows, within a few percent, and meets no 429: on tokio's paused clock, so the timing is
//! the pipeline's own and not the machine's.

use std::time::Duration;

use groq_client::{AudioSource, Config, Dimension, GroqClient, ModelConfig, TranscriptionOptions};
use groq_config::{Limits, Rate, UnknownModelPolicy};
use groq_mock::{MockLimits, MockServer};

const KEY: &str = "gsk_audio_pace_0123456789";
const WHISPER: &str = "whisper-large-v3-turbo";

#[tokio::test(start_paused = true)]
async fn an_audio_seconds_bound_batch_finishes_in_the_least_time_the_limit_allows() {
    // Groq's real hour, on the paused clock: a bucket of 600 audio seconds refilling 1 every
    // 6 s. The files are of several lengths, two shorter than the 10 s Groq bills at least.
    let ash = Rate::new(600, Duration::from_secs(3_600)).unwrap();
    let server = MockServer::builder()
        .api_key(KEY)
        .model(WHISPER, MockLimits::unlimited().ash(600).asd(100_000))
        .start()
        .await
        .unwrap();
    let config = Config::builder()
        .clear_models()
        .base_url(server.base_url())
        .api_key(KEY)
        .unknown_models(UnknownModelPolicy::Reject)
        .model(
            ModelConfig::new(WHISPER).with_limits(
                Limits::unlimited()
                    .with(Dimension::AudioSecondsPerHour, Some(ash))
                    .with(
                        Dimension::AudioSecondsPerDay,
                        Rate::new(100_000, Rate::DAY).ok(),
                    ),
            ),
        )
        .build()
        .unwrap();
    let client = GroqClient::builder()
        .config(config)
        .limiter_margin(Duration::from_millis(100))
        .build()
        .unwrap();
    let lengths: Vec<u64> = (0..24).map(|i| [3, 45, 80, 7, 120, 61][i % 6]).collect();
    let billed: u64 = lengths
        .iter()
        .map(|&s| groq_audio::billed_seconds(Duration::from_secs(s)))
        .sum();
    assert!(billed > 600, "the batch must be bound by the limit");
    // The bucket starts full: what exceeds it goes at the refill rate, and the last file is
    // sent the moment its seconds fit.
    let least = ash.emission_interval() * u32::try_from(billed - 600).unwrap();

    let started = tokio::time::Instant::now();
    let tasks: Vec<_> = lengths
        .iter()
        .enumerate()
        .map(|(i, &seconds)| {
            let client = client.clone();
            let audio = groq_audio::wav_pcm16(Duration::from_secs(seconds), 8_000, 1);
            tokio::spawn(async move {
                client
                    .transcribe(
                        AudioSource::bytes(format!("part-{i}.wav"), audio),
                        TranscriptionOptions::new(WHISPER),
                    )
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let elapsed = started.elapsed();
    let stats = server.stats();
    assert_eq!(stats.rate_limited, 0, "{:?}", stats.by_status);
    assert_eq!(stats.audit.len(), lengths.len());
    assert!(
        elapsed >= least,
        "{elapsed:?} is less than the least {least:?}"
    );
    // Within 2 % (the jitter margin of 100 ms is far less).
    assert!(
        elapsed.as_secs_f64() <= least.as_secs_f64() * 1.02,
        "{elapsed:?} against the least {least:?}"
    );
    server.shutdown().await;
}
