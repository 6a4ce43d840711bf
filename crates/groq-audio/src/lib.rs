//! The duration of an audio file, measured before it is sent: the cost of a speech-to-text
//! request under Groq's audio-seconds limits (ASH, ASD).
//!
//! [`measure_file`] and [`measure_bytes`] read the container (wav, mp3, flac, ogg, m4a/mp4,
//! webm/mkv) with symphonia's pure-Rust demuxers and add up the length of its packets; no
//! audio is decoded. A file that is not audio, in an unknown format, empty or cut short gets
//! an [`AudioError`] naming the file and what is wrong with it, before anything is sent.
//!
//! Groq bills a speech-to-text request at least [`MINIMUM_BILLED`] (10 s) of audio;
//! [`billed_seconds`] is the cost to charge to the ASH and ASD buckets.
//!
//! ```
//! use groq_audio::{billed_seconds, measure_bytes, wav_pcm16};
//! use std::time::Duration;
//!
//! let wav = wav_pcm16(Duration::from_millis(2_500), 16_000, 1);
//! let info = measure_bytes(&wav, "clip.wav").unwrap();
//! assert_eq!(info.duration, Duration::from_millis(2_500));
//! assert_eq!(info.sample_rate, Some(16_000));
//! // Groq bills at least 10 seconds per request.
//! assert_eq!(billed_seconds(info.duration), 10);
//! assert_eq!(billed_seconds(Duration::from_millis(61_200)), 62);
//! ```

use std::fs::File;
use std::io::{Cursor, ErrorKind};
use std::path::Path;
use std::time::Duration;

use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;
use symphonia::core::units::TimeBase;

/// The least audio Groq bills for one speech-to-text request.
pub const MINIMUM_BILLED: Duration = Duration::from_secs(10);

/// The file extensions (lower case) Groq's speech-to-text endpoints accept.
pub const EXTENSIONS: [&str; 10] = [
    "flac", "mp3", "mp4", "mpeg", "mpga", "m4a", "ogg", "opus", "wav", "webm",
];

/// What was measured of one audio file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AudioInfo {
    /// The length of the audio.
    pub duration: Duration,
    /// Samples per second, when the container says.
    pub sample_rate: Option<u32>,
    /// Channels, when the container says.
    pub channels: Option<u32>,
}

/// Why an audio file could not be measured. Every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AudioError {
    /// The file could not be read.
    #[error("cannot read audio file {name}")]
    Io {
        /// The file.
        name: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The file is empty.
    #[error("audio file {name} is empty")]
    Empty {
        /// The file.
        name: String,
    },
    /// No known audio container was recognised: not audio, or a format other than wav, mp3,
    /// flac, ogg, m4a/mp4 and webm/mkv.
    #[error(
        "{name} is not audio in a known format (wav, mp3, flac, ogg, m4a/mp4, webm/mkv): {reason}"
    )]
    UnknownFormat {
        /// The file.
        name: String,
        /// What the reader said.
        reason: String,
    },
    /// The container declares more audio than the file holds: it was cut short.
    #[error(
        "audio file {name} is truncated: its header declares {declared:?} of audio but it holds only {found:?}"
    )]
    Truncated {
        /// The file.
        name: String,
        /// The length the header declares.
        declared: Duration,
        /// The length present.
        found: Duration,
    },
    /// The container is damaged or holds no audio track.
    #[error("audio file {name} is malformed: {reason}")]
    Malformed {
        /// The file.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

impl AudioError {
    /// The file the error is about.
    pub fn name(&self) -> &str {
        match self {
            Self::Io { name, .. }
            | Self::Empty { name }
            | Self::UnknownFormat { name, .. }
            | Self::Truncated { name, .. }
            | Self::Malformed { name, .. } => name,
        }
    }
}

/// The seconds to charge for a request of `duration`: rounded up to the second, at least
/// [`MINIMUM_BILLED`].
pub fn billed_seconds(duration: Duration) -> u64 {
    let whole = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    whole.max(MINIMUM_BILLED.as_secs())
}

/// Measures the audio file at `path` (read as it is demuxed, not loaded whole).
pub fn measure_file(path: &Path) -> Result<AudioInfo, AudioError> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|source| AudioError::Io {
        name: name.clone(),
        source,
    })?;
    let len = file
        .metadata()
        .map_err(|source| AudioError::Io {
            name: name.clone(),
            source,
        })?
        .len();
    if len == 0 {
        return Err(AudioError::Empty { name });
    }
    let extension = path.extension().and_then(|e| e.to_str());
    measure(Box::new(file), extension, name)
}

/// Measures audio held in memory; `name` (a file name, whose extension is used as a hint, or
/// any label) names it in errors.
pub fn measure_bytes(bytes: &[u8], name: &str) -> Result<AudioInfo, AudioError> {
    if bytes.is_empty() {
        return Err(AudioError::Empty {
            name: name.to_owned(),
        });
    }
    let extension = Path::new(name).extension().and_then(|e| e.to_str());
    measure(
        Box::new(Cursor::new(bytes.to_vec())),
        extension,
        name.to_owned(),
    )
}

fn measure(
    source: Box<dyn MediaSource>,
    extension: Option<&str>,
    name: String,
) -> Result<AudioInfo, AudioError> {
    let stream = MediaSourceStream::new(source, Default::default());
    let mut hint = Hint::new();
    if let Some(extension) = extension {
        hint.with_extension(&extension.to_ascii_lowercase());
    }
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            stream,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|error| match error {
            SymphoniaError::IoError(e) if e.kind() == ErrorKind::UnexpectedEof => {
                AudioError::UnknownFormat {
                    name: name.clone(),
                    reason: "the file ends before any audio header".to_owned(),
                }
            }
            SymphoniaError::IoError(source) => AudioError::Io {
                name: name.clone(),
                source,
            },
            other => AudioError::UnknownFormat {
                name: name.clone(),
                reason: other.to_string(),
            },
        })?;
    let mut format = probed.format;
    let track = format
        .default_track()
        .ok_or_else(|| AudioError::Malformed {
            name: name.clone(),
            reason: "it holds no audio track".to_owned(),
        })?;
    let track_id = track.id;
    let params = track.codec_params.clone();
    let time_base = params
        .time_base
        .or_else(|| params.sample_rate.map(|rate| TimeBase::new(1, rate)));
    let Some(time_base) = time_base else {
        return Err(AudioError::Malformed {
            name,
            reason: "its audio track has no time base or sample rate".to_owned(),
        });
    };

    // Add up the packets: the end of the last one is the length present in the file.
    let mut end: u64 = 0;
    let mut packets = 0u64;
    loop {
        match format.next_packet() {
            Ok(packet) => {
                if packet.track_id() == track_id {
                    packets += 1;
                    end = end.max(packet.ts().saturating_add(packet.dur()));
                }
            }
            Err(SymphoniaError::IoError(e)) if e.kind() == ErrorKind::UnexpectedEof => break,
            Err(SymphoniaError::ResetRequired) => break,
            Err(SymphoniaError::IoError(source)) => return Err(AudioError::Io { name, source }),
            Err(other) => {
                return Err(AudioError::Malformed {
                    name,
                    reason: other.to_string(),
                });
            }
        }
    }
    let found = to_duration(time_base, end);
    if let Some(declared_frames) = params.n_frames.filter(|n| *n > 0) {
        let declared = to_duration(time_base, declared_frames);
        // A packet's worth of slack: containers round their declared length.
        if end < declared_frames && declared.saturating_sub(found) > Duration::from_millis(50) {
            return Err(AudioError::Truncated {
                name,
                declared,
                found,
            });
        }
    }
    if packets == 0 || found.is_zero() {
        return Err(AudioError::Malformed {
            name,
            reason: "it holds no audio".to_owned(),
        });
    }
    Ok(AudioInfo {
        duration: found,
        sample_rate: params.sample_rate,
        channels: params.channels.map(|c| c.count() as u32),
    })
}

fn to_duration(time_base: TimeBase, ts: u64) -> Duration {
    // Exact in integers: ts * numer / denom seconds, to the nanosecond.
    let nanos = u128::from(ts) * u128::from(time_base.numer) * 1_000_000_000
        / u128::from(time_base.denom.max(1));
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// A 16-bit PCM WAV file of `duration` at `sample_rate` with `channels` channels, holding a
/// quiet deterministic tone: test audio, or a placeholder recording.
pub fn wav_pcm16(duration: Duration, sample_rate: u32, channels: u16) -> Vec<u8> {
    let frames = u64::try_from(duration.as_nanos() * u128::from(sample_rate) / 1_000_000_000)
        .unwrap_or(u64::MAX);
    let channels = channels.max(1);
    let block_align = u32::from(channels) * 2;
    let data_len = u32::try_from(frames * u64::from(block_align)).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&sample_rate.to_le_bytes());
    out.extend_from_slice(&(sample_rate * block_align).to_le_bytes());
    out.extend_from_slice(&(block_align as u16).to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for frame in 0..frames {
        // A 440 Hz-ish sawtooth at low volume.
        let phase = (frame * 440 % u64::from(sample_rate.max(1))) as i64;
        let sample = (phase * 2_000 / i64::from(sample_rate.max(1)) - 1_000) as i16;
        for _ in 0..channels {
            out.extend_from_slice(&sample.to_le_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billing_rounds_up_with_a_ten_second_floor() {
        assert_eq!(billed_seconds(Duration::ZERO), 10);
        assert_eq!(billed_seconds(Duration::from_secs(10)), 10);
        assert_eq!(billed_seconds(Duration::from_millis(10_001)), 11);
        assert_eq!(billed_seconds(Duration::from_secs(3_600)), 3_600);
    }

    #[test]
    fn wav_of_every_shape_measures_exactly() {
        for (millis, rate, channels) in
            [(1_000, 8_000, 1), (12_345, 16_000, 2), (60_000, 44_100, 1)]
        {
            let wav = wav_pcm16(Duration::from_millis(millis), rate, channels);
            let info = measure_bytes(&wav, "a.wav").unwrap();
            assert_eq!(info.duration, Duration::from_millis(millis), "{millis} ms");
            assert_eq!(info.sample_rate, Some(rate));
            assert_eq!(info.channels, Some(u32::from(channels)));
        }
    }

    #[test]
    fn a_cut_wav_is_truncated() {
        let wav = wav_pcm16(Duration::from_secs(4), 16_000, 1);
        let cut = &wav[..wav.len() / 2];
        match measure_bytes(cut, "cut.wav") {
            Err(AudioError::Truncated {
                name,
                declared,
                found,
            }) => {
                assert_eq!(name, "cut.wav");
                assert_eq!(declared, Duration::from_secs(4));
                assert!(found < Duration::from_millis(2_100), "{found:?}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn text_and_empty_input_are_not_audio() {
        let err = measure_bytes(b"hello, this is a text file\n", "notes.wav").unwrap_err();
        assert!(matches!(err, AudioError::UnknownFormat { .. }), "{err:?}");
        assert!(
            err.to_string().starts_with("notes.wav is not audio"),
            "{err}"
        );
        let err = measure_bytes(b"", "empty.mp3").unwrap_err();
        assert!(matches!(err, AudioError::Empty { .. }), "{err:?}");
        assert_eq!(err.name(), "empty.mp3");
    }

    #[test]
    fn a_missing_file_names_the_path() {
        let err = measure_file(Path::new("/nonexistent/dir/clip.wav")).unwrap_err();
        assert!(matches!(err, AudioError::Io { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "cannot read audio file /nonexistent/dir/clip.wav"
        );
    }
}
