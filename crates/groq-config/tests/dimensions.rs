//! The audio-seconds and input/output token dimensions in configuration files.

use std::time::Duration;

use groq_config::{Config, LimitKind, Rate, UnknownModelPolicy};

#[test]
fn the_four_new_keys_take_every_limit_form() {
    let config = Config::from_json_str(
        r#"{ "builtin_catalog": false, "models": { "m": {
            "audio_seconds_per_hour": 7200,
            "audio_seconds_per_day": { "limit": 100, "per": "10s" },
            "input_token_per_minute": -1,
            "output_token_per_minute": 500
        } } }"#,
        "inline",
    )
    .unwrap();
    let limits = &config.model("m").unwrap().limits;
    assert_eq!(limits.audio_seconds_per_hour, Some(Rate::per_hour(7_200)));
    assert_eq!(
        limits.get(LimitKind::AudioSecondsPerDay),
        Some(Rate::new(100, Duration::from_secs(10)).unwrap())
    );
    assert_eq!(limits.input_tokens_per_minute, None);
    assert_eq!(limits.output_tokens_per_minute, Some(Rate::per_minute(500)));
}

#[test]
fn a_zero_audio_limit_is_a_clear_error() {
    let err = Config::from_json_str(
        r#"{ "models": { "m": { "audio_seconds_per_hour": 0 } } }"#,
        "inline",
    )
    .unwrap_err();
    assert_eq!(err.key(), Some("audio_seconds_per_hour"));
}

#[test]
fn unknown_models_accept_the_new_keys() {
    let config = Config::from_json_str(
        r#"{ "unknown_models": { "input_token_per_minute": 1000, "audio_seconds_per_day": 60 } }"#,
        "inline",
    )
    .unwrap();
    let UnknownModelPolicy::AllowWithLimits(limits) = &config.unknown_models else {
        panic!("unexpected policy {:?}", config.unknown_models);
    };
    assert_eq!(
        limits.input_tokens_per_minute,
        Some(Rate::per_minute(1_000))
    );
    assert_eq!(limits.audio_seconds_per_day, Some(Rate::per_day(60)));
    // Written back in the same keys.
    let text = config.to_json_pretty();
    assert!(text.contains("\"input_token_per_minute\": 1000"), "{text}");
}

#[test]
fn the_catalog_has_the_speech_to_text_models() {
    let config = Config::default();
    let whisper = config.model("whisper-large-v3-turbo").unwrap();
    assert_eq!(
        whisper.limits.get(LimitKind::AudioSecondsPerHour),
        Some(Rate::per_hour(7_200))
    );
    assert_eq!(
        whisper.limits.get(LimitKind::AudioSecondsPerDay),
        Some(Rate::per_day(28_800))
    );
}
