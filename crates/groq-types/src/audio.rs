//! Speech to text (`/audio/transcriptions`, `/audio/translations`) and text to speech
//! (`/audio/speech`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The format of a transcript (`response_format`). The default is [`Json`](Self::Json).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TranscriptFormat {
    /// `{"text": ...}`.
    #[default]
    Json,
    /// The text alone.
    Text,
    /// JSON with the language, the duration and the segments (and words).
    VerboseJson,
    /// SubRip subtitles.
    Srt,
    /// WebVTT subtitles.
    Vtt,
}

impl TranscriptFormat {
    /// The name the API uses: `json`, `text`, `verbose_json`, `srt`, `vtt`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Text => "text",
            Self::VerboseJson => "verbose_json",
            Self::Srt => "srt",
            Self::Vtt => "vtt",
        }
    }

    /// The format named `name` (as [`as_str`](Self::as_str) writes it), if any.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Json,
            Self::Text,
            Self::VerboseJson,
            Self::Srt,
            Self::Vtt,
        ]
        .into_iter()
        .find(|format| format.as_str() == name)
    }

    /// Whether the reply is JSON.
    pub const fn is_json(self) -> bool {
        matches!(self, Self::Json | Self::VerboseJson)
    }
}

/// Which timestamps a `verbose_json` transcript carries (`timestamp_granularities[]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TimestampGranularity {
    /// Per word.
    Word,
    /// Per segment (the default).
    Segment,
}

impl TimestampGranularity {
    /// `word` or `segment`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Word => "word",
            Self::Segment => "segment",
        }
    }
}

/// The text fields of a transcription or translation request: everything but the audio.
///
/// ```
/// use groq_types::{TimestampGranularity, TranscriptFormat, TranscriptionOptions};
///
/// let options = TranscriptionOptions::new("whisper-large-v3-turbo")
///     .language("en")
///     .response_format(TranscriptFormat::VerboseJson)
///     .timestamp_granularity(TimestampGranularity::Word);
/// let fields = options.form_fields();
/// assert!(fields.contains(&("language".to_owned(), "en".to_owned())));
/// assert!(fields.contains(&("timestamp_granularities[]".to_owned(), "word".to_owned())));
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct TranscriptionOptions {
    /// The model, e.g. `whisper-large-v3-turbo`.
    pub model: String,
    /// The language of the audio (ISO-639-1), for transcriptions.
    pub language: Option<String>,
    /// Text to guide the style or continue a previous segment.
    pub prompt: Option<String>,
    /// The transcript's format.
    pub response_format: Option<TranscriptFormat>,
    /// Sampling temperature between 0 and 1.
    pub temperature: Option<f64>,
    /// Timestamps of a `verbose_json` transcript.
    pub timestamp_granularities: Vec<TimestampGranularity>,
    /// Other fields, sent as they are.
    pub extra: Vec<(String, String)>,
}

impl TranscriptionOptions {
    /// Options for `model`, everything else left to the server's defaults.
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            ..Self::default()
        }
    }

    /// Sets the language.
    #[must_use]
    pub fn language(mut self, language: impl Into<String>) -> Self {
        self.language = Some(language.into());
        self
    }

    /// Sets the prompt.
    #[must_use]
    pub fn prompt(mut self, prompt: impl Into<String>) -> Self {
        self.prompt = Some(prompt.into());
        self
    }

    /// Sets the transcript's format.
    #[must_use]
    pub fn response_format(mut self, format: TranscriptFormat) -> Self {
        self.response_format = Some(format);
        self
    }

    /// Sets the temperature.
    #[must_use]
    pub fn temperature(mut self, temperature: f64) -> Self {
        self.temperature = Some(temperature);
        self
    }

    /// Adds a timestamp granularity.
    #[must_use]
    pub fn timestamp_granularity(mut self, granularity: TimestampGranularity) -> Self {
        self.timestamp_granularities.push(granularity);
        self
    }

    /// Adds a field sent as it is.
    #[must_use]
    pub fn extra_field(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra.push((name.into(), value.into()));
        self
    }

    /// The format the reply will be in.
    pub fn format(&self) -> TranscriptFormat {
        self.response_format.unwrap_or_default()
    }

    /// The multipart form fields, in order (the audio itself is added by the sender).
    pub fn form_fields(&self) -> Vec<(String, String)> {
        let mut fields = vec![("model".to_owned(), self.model.clone())];
        let mut push = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                fields.push((name.to_owned(), value));
            }
        };
        push("language", self.language.clone());
        push("prompt", self.prompt.clone());
        push(
            "response_format",
            self.response_format.map(|f| f.as_str().to_owned()),
        );
        push("temperature", self.temperature.map(|t| t.to_string()));
        for granularity in &self.timestamp_granularities {
            fields.push((
                "timestamp_granularities[]".to_owned(),
                granularity.as_str().to_owned(),
            ));
        }
        fields.extend(self.extra.iter().cloned());
        fields
    }

    /// Checks what can be checked before sending: a model, a temperature in `[0, 1]`, and
    /// timestamp granularities only with `verbose_json`.
    pub fn validate(&self) -> Result<(), String> {
        if self.model.trim().is_empty() {
            return Err("`model` is empty: name a speech-to-text model".to_owned());
        }
        if let Some(t) = self.temperature
            && !(0.0..=1.0).contains(&t)
        {
            return Err(format!("`temperature` is {t}; it must be between 0 and 1"));
        }
        if !self.timestamp_granularities.is_empty()
            && self.format() != TranscriptFormat::VerboseJson
        {
            return Err("`timestamp_granularities` need `response_format` verbose_json".to_owned());
        }
        Ok(())
    }
}

/// A transcript (or translation) as the server sent it, with a typed view for reading.
///
/// The bytes are kept as they came ([`raw`](Self::raw)); `text`, `language`, `duration` and
/// `segments` are read from them for JSON formats, and `text` is the whole body for `text`,
/// `srt` and `vtt`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Transcript {
    /// The format the body is in.
    pub format: TranscriptFormat,
    /// The transcribed (or translated) text; for subtitles, the whole subtitle file.
    pub text: String,
    /// The language the server detected (`verbose_json`).
    pub language: Option<String>,
    /// The length of the audio in seconds, as the server measured it (`verbose_json`).
    pub duration: Option<f64>,
    /// The segments (`verbose_json`), as JSON.
    pub segments: Option<Vec<Value>>,
    /// The words (`verbose_json` with word timestamps), as JSON.
    pub words: Option<Vec<Value>>,
    /// Groq's `x_groq` object, if present.
    pub x_groq: Option<Value>,
    raw: Vec<u8>,
}

#[derive(Deserialize)]
struct TranscriptJson {
    #[serde(default)]
    text: String,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    duration: Option<f64>,
    #[serde(default)]
    segments: Option<Vec<Value>>,
    #[serde(default)]
    words: Option<Vec<Value>>,
    #[serde(default)]
    x_groq: Option<Value>,
}

impl Transcript {
    /// Reads a reply body of `format`. Fails only when a JSON format is not JSON of the
    /// expected shape, or a text format is not UTF-8.
    pub fn parse(format: TranscriptFormat, body: &[u8]) -> Result<Self, TranscriptError> {
        if format.is_json() {
            let json: TranscriptJson =
                serde_json::from_slice(body).map_err(TranscriptError::Json)?;
            Ok(Self {
                format,
                text: json.text,
                language: json.language,
                duration: json.duration,
                segments: json.segments,
                words: json.words,
                x_groq: json.x_groq,
                raw: body.to_vec(),
            })
        } else {
            let text = std::str::from_utf8(body)
                .map_err(|_| TranscriptError::NotUtf8)?
                .to_owned();
            Ok(Self {
                format,
                text,
                language: None,
                duration: None,
                segments: None,
                words: None,
                x_groq: None,
                raw: body.to_vec(),
            })
        }
    }

    /// The body exactly as the server sent it.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }
}

/// Why a transcript body could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TranscriptError {
    /// A JSON format that is not the expected JSON.
    #[error("the transcript is not the expected JSON")]
    Json(#[source] serde_json::Error),
    /// A text format that is not UTF-8.
    #[error("the transcript is not UTF-8 text")]
    NotUtf8,
}

/// The format of generated speech (`response_format` of `/audio/speech`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SpeechFormat {
    /// WAV.
    #[default]
    Wav,
    /// MP3.
    Mp3,
    /// FLAC.
    Flac,
    /// Ogg.
    Ogg,
    /// μ-law.
    Mulaw,
}

impl SpeechFormat {
    /// `wav`, `mp3`, `flac`, `ogg` or `mulaw`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Wav => "wav",
            Self::Mp3 => "mp3",
            Self::Flac => "flac",
            Self::Ogg => "ogg",
            Self::Mulaw => "mulaw",
        }
    }

    /// The format whose name or file extension is `name` (case-insensitive), if any.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Wav, Self::Mp3, Self::Flac, Self::Ogg, Self::Mulaw]
            .into_iter()
            .find(|format| format.as_str().eq_ignore_ascii_case(name))
    }
}

/// A text-to-speech request (`POST /audio/speech`).
///
/// ```
/// use groq_types::{SpeechFormat, SpeechRequest};
///
/// let request = SpeechRequest::new("playai-tts", "Hello there", "Fritz-PlayAI")
///     .response_format(SpeechFormat::Wav);
/// let json = serde_json::to_value(&request).unwrap();
/// assert_eq!(json["voice"], "Fritz-PlayAI");
/// assert_eq!(json["response_format"], "wav");
/// assert!(json.get("speed").is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SpeechRequest {
    /// The text-to-speech model.
    pub model: String,
    /// The text to speak.
    pub input: String,
    /// The voice.
    pub voice: String,
    /// The audio format (the server's default is mp3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<SpeechFormat>,
    /// Samples per second of the audio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<u32>,
    /// Speed of the speech.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<f64>,
}

impl SpeechRequest {
    /// `input` spoken by `voice` of `model`.
    pub fn new(
        model: impl Into<String>,
        input: impl Into<String>,
        voice: impl Into<String>,
    ) -> Self {
        Self {
            model: model.into(),
            input: input.into(),
            voice: voice.into(),
            response_format: None,
            sample_rate: None,
            speed: None,
        }
    }

    /// Sets the audio format.
    #[must_use]
    pub fn response_format(mut self, format: SpeechFormat) -> Self {
        self.response_format = Some(format);
        self
    }

    /// Sets the sample rate.
    #[must_use]
    pub fn sample_rate(mut self, rate: u32) -> Self {
        self.sample_rate = Some(rate);
        self
    }

    /// Sets the speed.
    #[must_use]
    pub fn speed(mut self, speed: f64) -> Self {
        self.speed = Some(speed);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbose_json_keeps_its_bytes_and_reads_the_duration() {
        let body = br#"{"task":"transcribe","language":"english","duration":12.5,"text":" Hello.","segments":[{"id":0,"start":0.0,"end":12.5,"text":" Hello."}],"x_groq":{"id":"req_1"},"extra":1}"#;
        let t = Transcript::parse(TranscriptFormat::VerboseJson, body).unwrap();
        assert_eq!(t.text, " Hello.");
        assert_eq!(t.duration, Some(12.5));
        assert_eq!(t.language.as_deref(), Some("english"));
        assert_eq!(t.segments.as_ref().map(Vec::len), Some(1));
        assert_eq!(t.raw(), body);
    }

    #[test]
    fn text_formats_are_the_body() {
        let srt = b"1\n00:00:00,000 --> 00:00:01,000\nHi\n";
        let t = Transcript::parse(TranscriptFormat::Srt, srt).unwrap();
        assert_eq!(t.text.as_bytes(), srt);
        assert!(Transcript::parse(TranscriptFormat::Text, &[0xff, 0xfe]).is_err());
        assert!(Transcript::parse(TranscriptFormat::Json, b"not json").is_err());
    }

    #[test]
    fn options_validate_and_list_every_field() {
        let options = TranscriptionOptions::new("whisper-large-v3")
            .prompt("names: Groq")
            .temperature(0.2)
            .response_format(TranscriptFormat::VerboseJson)
            .timestamp_granularity(TimestampGranularity::Segment)
            .timestamp_granularity(TimestampGranularity::Word)
            .extra_field("x", "y");
        assert!(options.validate().is_ok());
        let names: Vec<_> = options.form_fields().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "model",
                "prompt",
                "response_format",
                "temperature",
                "timestamp_granularities[]",
                "timestamp_granularities[]",
                "x"
            ]
        );
        let bad = TranscriptionOptions::new("m").temperature(1.5);
        assert!(bad.validate().unwrap_err().contains("temperature"));
        let bad = TranscriptionOptions::new("m").timestamp_granularity(TimestampGranularity::Word);
        assert!(bad.validate().unwrap_err().contains("verbose_json"));
        assert!(TranscriptionOptions::new(" ").validate().is_err());
        assert_eq!(
            TranscriptFormat::from_name("vtt"),
            Some(TranscriptFormat::Vtt)
        );
        assert_eq!(SpeechFormat::from_name("WAV"), Some(SpeechFormat::Wav));
    }
}
