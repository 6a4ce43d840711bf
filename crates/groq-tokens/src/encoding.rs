//! Byte-pair encodings, their per-process singletons, and panic-free counting.

use std::collections::HashMap;
use std::fmt;
use std::sync::{OnceLock, PoisonError, RwLock};

use tiktoken_rs::CoreBPE;

/// A byte-pair encoding that [`TiktokenCounter`](crate::TiktokenCounter) counts with.
///
/// Neither is the exact tokenizer of every Groq model: Llama 3 extends `cl100k_base` to 128k
/// entries, and other families have their own vocabularies. Both are close enough that a
/// per-model [`Calibration`](crate::Calibration) corrects the remainder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Encoding {
    /// OpenAI's 100k-entry encoding. Llama 3's 128k vocabulary starts with these 100k entries,
    /// which makes it the closest public approximation for Llama and the default for every model
    /// not listed elsewhere.
    Cl100kBase,
    /// OpenAI's 200k-entry encoding, the base of the `openai/gpt-oss-*` models' tokenizer
    /// (`o200k_harmony` only adds chat special tokens, which ordinary text never produces).
    O200kBase,
}

impl Encoding {
    /// The encoding's conventional name, e.g. `cl100k_base`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Cl100kBase => "cl100k_base",
            Self::O200kBase => "o200k_base",
        }
    }

    /// Builds this encoding's tables now, if they are not built yet, so that the first count
    /// does not pay for it. Building takes tens to hundreds of milliseconds; every later use is
    /// free. Returns whether the encoder is available (it always is unless its bundled tables
    /// failed to load, in which case counts fall back to the text's byte length).
    pub fn preload(self) -> bool {
        self.encoder().is_some()
    }

    /// The process-wide cache of word counts of this encoding.
    fn words(self) -> &'static WordCache {
        static CL100K_BASE: OnceLock<WordCache> = OnceLock::new();
        static O200K_BASE: OnceLock<WordCache> = OnceLock::new();
        match self {
            Self::Cl100kBase => &CL100K_BASE,
            Self::O200kBase => &O200K_BASE,
        }
        .get_or_init(WordCache::default)
    }

    /// The process-wide encoder, built on first use and shared by every thread.
    fn encoder(self) -> Option<&'static CoreBPE> {
        static CL100K_BASE: OnceLock<Option<CoreBPE>> = OnceLock::new();
        static O200K_BASE: OnceLock<Option<CoreBPE>> = OnceLock::new();
        match self {
            Self::Cl100kBase => CL100K_BASE.get_or_init(|| tiktoken_rs::cl100k_base().ok()),
            Self::O200kBase => O200K_BASE.get_or_init(|| tiktoken_rs::o200k_base().ok()),
        }
        .as_ref()
    }

    /// Counts the tokens of `text` as ordinary text.
    ///
    /// Special-token spellings such as `<|endoftext|>` count as the ordinary characters they
    /// are made of: a user's text can never inject a control token, and never makes counting
    /// fail. Any Unicode input is accepted, of any length.
    ///
    /// Counts add up at word boundaries: when `a` ends in a non-whitespace character and `b`
    /// starts with a space, `count(a + b) == count(a) + count(b)`, so appending words never
    /// lowers a count. Inside a word byte-pair merges can: `pti` is two `cl100k_base` tokens,
    /// `ptic` one.
    ///
    /// Texts of up to 4 KiB are counted word by word (cut at those boundaries, so the total
    /// is the same), with each word's count kept in a bounded process-wide cache: a short
    /// prompt made of words seen before costs a hash lookup per word instead of a pass of
    /// the encoder.
    ///
    /// ```
    /// use groq_tokens::Encoding;
    ///
    /// assert_eq!(Encoding::Cl100kBase.count("hello world"), 2);
    /// assert_eq!(Encoding::Cl100kBase.count(""), 0);
    /// ```
    pub fn count(self, text: &str) -> u64 {
        match self.encoder() {
            Some(bpe) if text.len() <= CACHED_TEXT_BYTES => count_words(bpe, self.words(), text),
            Some(bpe) => count_chunked(bpe, text),
            // Every token covers at least one byte, so the byte length never undercounts.
            None => as_u64(text.len()),
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The encoding [`TiktokenCounter`](crate::TiktokenCounter) uses for `model`: `o200k_base` for
/// any model id containing `gpt-oss` (in any case, e.g. `openai/gpt-oss-120b`), `cl100k_base`
/// for everything else (Llama, Qwen, Kimi, unknown models).
///
/// ```
/// use groq_tokens::{encoding_for_model, Encoding};
///
/// assert_eq!(encoding_for_model("openai/gpt-oss-20b"), Encoding::O200kBase);
/// assert_eq!(encoding_for_model("llama-3.1-8b-instant"), Encoding::Cl100kBase);
/// ```
pub fn encoding_for_model(model: &str) -> Encoding {
    const GPT_OSS: &[u8] = b"gpt-oss";
    if model
        .as_bytes()
        .windows(GPT_OSS.len())
        .any(|window| window.eq_ignore_ascii_case(GPT_OSS))
    {
        Encoding::O200kBase
    } else {
        Encoding::Cl100kBase
    }
}

/// The largest slice handed to the encoder in one call.
///
/// The encoders' pre-tokenizing regex runs on a backtracking engine with a bounded stack: a
/// run of several hundred thousand whitespace characters makes it fail, and `tiktoken-rs`
/// turns that failure into a panic. Long pieces also make the merge step slow. Slicing the text
/// into chunks of at most this size keeps every call far below those limits.
pub(crate) const MAX_CHUNK_BYTES: usize = 16 * 1024;

/// Counts `text` in chunks of at most [`MAX_CHUNK_BYTES`], cut where the encoders' pre-tokenizer
/// would cut anyway, so the total equals a single whole-text count.
fn count_chunked(bpe: &CoreBPE, text: &str) -> u64 {
    chunks(text)
        .map(|chunk| as_u64(bpe.encode_ordinary(chunk).len()))
        .sum()
}

/// Splits `text` into slices of at most [`MAX_CHUNK_BYTES`] (except that a slice never ends
/// inside a UTF-8 character).
///
/// A cut goes, by preference, just before an ASCII space that follows a non-whitespace
/// character. Neither `cl100k_base`'s nor `o200k_base`'s pre-tokenizer ever makes a piece
/// that spans such a position (a piece that contains the space starts at it), and neither
/// looks behind, so counting the slices separately gives exactly the whole-text count. Only
/// a stretch of [`MAX_CHUNK_BYTES`] / 2 bytes with no such position (a giant whitespace run, a
/// base64 blob) is cut at a plain character boundary, which may shift the count there by a
/// token or so.
pub(crate) fn chunks(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let cut = cut_point(rest);
        let (chunk, tail) = rest.split_at(cut);
        rest = tail;
        Some(chunk)
    })
}

/// Where to end the next chunk of `text` (always a character boundary, always > 0).
fn cut_point(text: &str) -> usize {
    if text.len() <= MAX_CHUNK_BYTES {
        return text.len();
    }
    let bytes = text.as_bytes();
    let lowest = MAX_CHUNK_BYTES / 2;
    // A space preceded by a non-whitespace character: an exact piece boundary. A space is
    // always a character boundary; `char::is_whitespace` is the `White_Space` property that the
    // regex class `\s` matches.
    if let Some(cut) = (lowest..=MAX_CHUNK_BYTES).rev().find(|&i| {
        bytes[i] == b' '
            && text[..i]
                .chars()
                .next_back()
                .is_some_and(|c| !c.is_whitespace())
    }) {
        return cut;
    }
    // No word boundary nearby: the last character boundary that fits. Characters are at most
    // four bytes long, so one exists in `MAX_CHUNK_BYTES - 3 ..= MAX_CHUNK_BYTES`.
    (1..=MAX_CHUNK_BYTES)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len())
}

/// Texts up to this size are counted word by word through the [`WordCache`]; longer ones
/// (documents, whose words are mostly counted once) go to the encoder in large chunks.
pub(crate) const CACHED_TEXT_BYTES: usize = 4 * 1024;

/// Words up to this size are cached (stored inline in the cache's slots).
const CACHED_WORD_BYTES: usize = 23;

/// The cache starts over when it holds this many words (a few MiB at most).
const CACHED_WORDS: usize = 1 << 16;

/// Token counts of the words seen in short texts, shared by every thread.
///
/// Short prompts (chat turns, system lines, questions) are mostly made of the same few
/// thousand words, and the byte-pair encoder spends microseconds on each call. Counting a
/// short text word by word, with each word's count remembered, costs a hash lookup per word
/// once the words are known. It is exact: words are cut at the same positions as
/// [`chunks`] cuts (just before a space that follows a non-whitespace character), where no
/// pre-tokenizer piece ever spans, so the counts add up to the whole text's.
///
/// Words are stored inline in the map's slots ([`Word`]), so a lookup reads no memory
/// beyond the map's own: between two requests the cache is often cold, and a pointer to
/// chase per word would cost a cache miss each.
#[derive(Debug, Default)]
pub(crate) struct WordCache {
    counts: RwLock<HashMap<Word, u32>>,
}

/// A word of at most [`CACHED_WORD_BYTES`] bytes, held inline and zero-padded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Word {
    len: u8,
    bytes: [u8; CACHED_WORD_BYTES],
}

impl std::hash::Hash for Word {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Only the word itself (equal words have equal lengths and padding).
        state.write(
            self.bytes
                .get(..usize::from(self.len))
                .unwrap_or(&self.bytes),
        );
    }
}

impl Word {
    /// `None` for words longer than [`CACHED_WORD_BYTES`].
    fn new(word: &str) -> Option<Self> {
        let len = u8::try_from(word.len()).ok()?;
        let mut bytes = [0; CACHED_WORD_BYTES];
        bytes
            .get_mut(..word.len())?
            .copy_from_slice(word.as_bytes());
        Some(Self { len, bytes })
    }
}

/// Counts a short `text` word by word, through `cache`.
fn count_words(bpe: &CoreBPE, cache: &WordCache, text: &str) -> u64 {
    let mut total = 0_u64;
    let mut missing: Vec<(Word, &str)> = Vec::new();
    {
        let counts = cache.counts.read().unwrap_or_else(PoisonError::into_inner);
        for text in words(text) {
            match Word::new(text) {
                None => total += as_u64(bpe.encode_ordinary(text).len()),
                Some(word) => match counts.get(&word) {
                    Some(&count) => total += u64::from(count),
                    None => missing.push((word, text)),
                },
            }
        }
    }
    if missing.is_empty() {
        return total;
    }
    let counted: Vec<(Word, usize)> = missing
        .iter()
        .map(|(word, text)| (*word, bpe.encode_ordinary(text).len()))
        .collect();
    let mut counts = cache.counts.write().unwrap_or_else(PoisonError::into_inner);
    if counts.len() + counted.len() > CACHED_WORDS {
        counts.clear();
    }
    for (word, count) in counted {
        total += as_u64(count);
        if let Ok(count) = u32::try_from(count) {
            counts.insert(word, count);
        }
    }
    total
}

/// Splits `text` just before every ASCII space that follows a non-whitespace character: the
/// exact piece boundaries of both encodings' pre-tokenizers (see [`chunks`]).
pub(crate) fn words(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut at = 1;
    std::iter::from_fn(move || {
        if start >= bytes.len() {
            return None;
        }
        while at < bytes.len() {
            let i = at;
            at += 1;
            if bytes[i] == b' ' && i > start && follows_non_whitespace(text, i) {
                let word = &text[start..i];
                start = i;
                return Some(word);
            }
        }
        let word = &text[start..];
        start = bytes.len();
        Some(word)
    })
}

/// Whether the character just before byte `i` (a character boundary) is not whitespace.
fn follows_non_whitespace(text: &str, i: usize) -> bool {
    match text.as_bytes()[i - 1] {
        byte if byte.is_ascii() => !char::from(byte).is_whitespace(),
        _ => text[..i]
            .chars()
            .next_back()
            .is_some_and(|c| !c.is_whitespace()),
    }
}

/// Widens a length or count; `usize` is at most 64 bits on every supported target.
pub(crate) fn as_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids_choose_their_encoding() {
        for model in [
            "openai/gpt-oss-120b",
            "openai/gpt-oss-20b",
            "openai/gpt-oss-safeguard-20b",
            "OpenAI/GPT-OSS-20B",
            "gpt-oss",
        ] {
            assert_eq!(encoding_for_model(model), Encoding::O200kBase, "{model}");
        }
        for model in [
            "llama-3.1-8b-instant",
            "llama-3.3-70b-versatile",
            "meta-llama/llama-4-scout-17b-16e-instruct",
            "qwen/qwen3-32b",
            "gpt-os",
            "",
        ] {
            assert_eq!(encoding_for_model(model), Encoding::Cl100kBase, "{model}");
        }
    }

    #[test]
    fn names_and_display() {
        assert_eq!(Encoding::Cl100kBase.name(), "cl100k_base");
        assert_eq!(Encoding::O200kBase.to_string(), "o200k_base");
    }

    #[test]
    fn short_text_is_one_chunk() {
        assert_eq!(chunks("").count(), 0);
        assert_eq!(chunks("hello world").collect::<Vec<_>>(), ["hello world"]);
    }

    #[test]
    fn chunks_cover_the_text_within_the_size_limit() {
        let texts = [
            "lorem ipsum dolor ".repeat(5_000),
            "x".repeat(3 * MAX_CHUNK_BYTES + 7),
            "é中😀".repeat(MAX_CHUNK_BYTES),
            " ".repeat(2 * MAX_CHUNK_BYTES + 1),
        ];
        for text in &texts {
            let parts: Vec<&str> = chunks(text).collect();
            assert!(parts.len() > 1);
            assert!(
                parts
                    .iter()
                    .all(|p| !p.is_empty() && p.len() <= MAX_CHUNK_BYTES)
            );
            assert_eq!(parts.concat(), *text);
        }
    }

    #[test]
    fn chunking_at_word_boundaries_is_exact() {
        let text = "The quick brown fox, 12345 jumps; over the lazy dog's back.\n\t".repeat(1_000);
        assert!(text.len() > 3 * MAX_CHUNK_BYTES);
        for encoding in [Encoding::Cl100kBase, Encoding::O200kBase] {
            let bpe = encoding.encoder().unwrap();
            let whole = as_u64(bpe.encode_ordinary(&text).len());
            assert_eq!(encoding.count(&text), whole, "{encoding}");
        }
    }

    #[test]
    fn words_cut_before_spaces_that_follow_a_word() {
        assert_eq!(words("").count(), 0);
        assert_eq!(
            words("Name a  prime,\n number\u{a0} x").collect::<Vec<_>>(),
            ["Name", " a", "  prime,\n number\u{a0} x"]
        );
        assert_eq!(words(" lead").collect::<Vec<_>>(), [" lead"]);
        let text = "The quick brown fox, 12345 jumps; over\tthe lazy dog's back.\n";
        assert_eq!(words(text).collect::<String>(), text);
    }

    #[test]
    fn word_by_word_counts_are_exact_and_cached() {
        let texts = [
            "You are terse.",
            "Name a prime number above 123, in one word.",
            "Name a prime number above 124, in one word.",
            "  leading spaces, trailing spaces   ",
            "mixed\nlines\r\n and\ttabs \u{a0}nbsp \u{3000}ideographic space",
            "numbers 1234567 and 3.14159, punctuation!!! ??? ... «quotes» 'it's' don't",
            "Unicode: 日本語のテキスト, emoji 😀😀 and accents: café naïve",
            "a_very_long_identifier_that_is_longer_than_the_cached_word_limit_for_sure ok",
            "<|endoftext|> special spellings are text",
            "",
        ];
        for encoding in [Encoding::Cl100kBase, Encoding::O200kBase] {
            let bpe = encoding.encoder().unwrap();
            for _ in 0..2 {
                // The second round is served from the cache.
                for text in texts {
                    let whole = as_u64(bpe.encode_ordinary(text).len());
                    assert_eq!(encoding.count(text), whole, "{encoding}: {text:?}");
                }
            }
            let cached = encoding
                .words()
                .counts
                .read()
                .unwrap()
                .contains_key(&Word::new(" prime").unwrap());
            assert!(cached, "{encoding}");
        }
    }

    #[test]
    fn giant_whitespace_runs_do_not_panic() {
        // A single call on this input overflows the regex engine's stack inside tiktoken-rs.
        let text = format!("{}a", " \t".repeat(600_000));
        for encoding in [Encoding::Cl100kBase, Encoding::O200kBase] {
            let count = encoding.count(&text);
            assert!(
                count > 0 && count <= as_u64(text.len()),
                "{encoding}: {count}"
            );
        }
    }
}
