//! Every container Groq accepts, from small fixtures of a 3-second 440 Hz tone (made with
//! `ffmpeg -f lavfi -i sine=frequency=440:sample_rate=16000:duration=3 -ac 1`).

use std::path::PathBuf;
use std::time::Duration;

use groq_audio::{AudioError, measure_bytes, measure_file};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn assert_about_three_seconds(name: &str, duration: Duration) {
    // Encoders pad to whole frames (mp3 by up to a frame, plus its decoder delay).
    assert!(
        duration >= Duration::from_millis(2_900) && duration <= Duration::from_millis(3_200),
        "{name}: {duration:?}"
    );
}

#[test]
fn each_format_measures_its_length() {
    for name in ["tone.mp3", "tone.flac", "tone.ogg", "tone.m4a", "tone.webm"] {
        let info = measure_file(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_about_three_seconds(name, info.duration);
        let bytes = std::fs::read(fixture(name)).unwrap();
        let from_memory = measure_bytes(&bytes, name).unwrap();
        assert_eq!(from_memory.duration, info.duration, "{name}");
    }
}

#[test]
fn the_format_is_found_without_an_extension() {
    for name in ["tone.mp3", "tone.flac", "tone.ogg", "tone.m4a", "tone.webm"] {
        let bytes = std::fs::read(fixture(name)).unwrap();
        let info = measure_bytes(&bytes, "upload").unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_about_three_seconds(name, info.duration);
    }
}

#[test]
fn a_cut_flac_is_truncated_or_malformed() {
    let bytes = std::fs::read(fixture("tone.flac")).unwrap();
    let err = measure_bytes(&bytes[..bytes.len() / 2], "cut.flac").unwrap_err();
    assert!(
        matches!(
            err,
            AudioError::Truncated { .. } | AudioError::Malformed { .. }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("cut.flac"), "{err}");
}
