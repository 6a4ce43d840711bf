//! Token counting speed: tokens per second over a 100 KB English text and a long chat, and the
//! one-off cost of building an encoder (which `groq-tokens` pays once per process).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use groq_tokens::{CalibratedCounter, Encoding, TiktokenCounter, TokenCounter};
use groq_types::{ChatRequest, Message, Tool, ToolCall};
use serde_json::json;

const WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "in",
    "a",
    "is",
    "that",
    "for",
    "it",
    "as",
    "was",
    "with",
    "be",
    "by",
    "on",
    "not",
    "he",
    "this",
    "are",
    "or",
    "his",
    "from",
    "at",
    "which",
    "but",
    "have",
    "an",
    "had",
    "they",
    "you",
    "were",
    "their",
    "one",
    "all",
    "we",
    "can",
    "her",
    "has",
    "there",
    "been",
    "if",
    "more",
    "when",
    "will",
    "would",
    "who",
    "so",
    "no",
    "model",
    "request",
    "limit",
    "token",
    "minute",
    "quickly",
    "throughput",
    "language",
    "network",
    "Groq",
    "server",
    "response",
    "budget",
    "estimate",
    "calibration",
    "inference",
    "latency",
    "rate",
    "queue",
    "priority",
    "deadline",
    "stream",
    "complete",
    "reasonable",
    "exactly",
];

/// A deterministic English-like text of at least `bytes` bytes: sentences of 6 to 20 words
/// drawn by a fixed linear congruential generator, with punctuation, numbers and paragraphs.
fn english_text(bytes: usize) -> String {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |bound: usize| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        usize::try_from(state >> 33).unwrap_or(0) % bound
    };
    let mut text = String::with_capacity(bytes + 256);
    while text.len() < bytes {
        let words = 6 + next(15);
        for i in 0..words {
            let word = WORDS[next(WORDS.len())];
            if i == 0 {
                let mut chars = word.chars();
                if let Some(first) = chars.next() {
                    text.extend(first.to_uppercase());
                    text.push_str(chars.as_str());
                }
            } else {
                text.push(' ');
                text.push_str(word);
            }
            if i + 1 < words && next(12) == 0 {
                text.push(',');
            }
            if next(40) == 0 {
                text.push_str(&format!(" {}", next(10_000)));
            }
        }
        text.push_str(if next(8) == 0 { "?" } else { "." });
        text.push_str(if next(6) == 0 { "\n\n" } else { " " });
    }
    text
}

/// A 200-turn conversation with a system prompt, two tools and a tool round trip.
fn long_chat() -> ChatRequest {
    let mut request = ChatRequest::new("llama-3.3-70b-versatile")
        .system(english_text(2_000))
        .tool(Tool::function(
            "search",
            "Search the knowledge base",
            json!({"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}),
        ))
        .tool(Tool::function(
            "get_time",
            "Current time in a time zone",
            json!({"type": "object", "properties": {"tz": {"type": "string"}}}),
        ))
        .max_completion_tokens(1_024);
    let turns = english_text(120_000);
    let sentences: Vec<&str> = turns.split_inclusive(". ").collect();
    for (i, chunk) in sentences.chunks(3).take(200).enumerate() {
        let text = chunk.concat();
        request = if i % 2 == 0 {
            request.user(text)
        } else {
            request.assistant(text)
        };
        if i % 50 == 25 {
            request = request
                .message(Message::assistant_tool_calls(vec![ToolCall::new(
                    format!("call_{i}"),
                    "search",
                    r#"{"query":"rate limits per model"}"#,
                )]))
                .message(Message::tool(format!("call_{i}"), english_text(600)));
        }
    }
    request
}

fn count_text(c: &mut Criterion) {
    let text = english_text(100 * 1024);
    let mut group = c.benchmark_group("count_text_100kb");
    for (encoding, model) in [
        (Encoding::Cl100kBase, "llama-3.1-8b-instant"),
        (Encoding::O200kBase, "openai/gpt-oss-20b"),
    ] {
        let counter = TiktokenCounter::new();
        let tokens = counter.count_text(model, &text);
        group.throughput(Throughput::Elements(tokens));
        group.bench_function(encoding.name(), |b| {
            b.iter(|| counter.count_text(black_box(model), black_box(&text)));
        });
    }
    group.finish();
}

fn count_chat(c: &mut Criterion) {
    let request = long_chat();
    let counter = TiktokenCounter::new();
    let calibrated = CalibratedCounter::new(TiktokenCounter::new());
    let mut group = c.benchmark_group("count_long_chat");
    group.throughput(Throughput::Elements(counter.count_request(&request)));
    group.bench_function("count_request", |b| {
        b.iter(|| counter.count_request(black_box(&request)));
    });
    group.bench_function("calibrated_estimate", |b| {
        b.iter(|| calibrated.estimate(black_box(&request), 1_024));
    });
    group.finish();
}

/// A short chat like most interactive requests: a system line and a one-line question (the
/// request of the pipeline overhead benchmark), its number varying between iterations.
fn count_short_chat(c: &mut Criterion) {
    let requests: Vec<ChatRequest> = (0..1_000)
        .map(|i| {
            ChatRequest::new("llama-3.1-8b-instant")
                .system("You are terse.")
                .user(format!("Name a prime number above {i}, in one word."))
                .max_completion_tokens(16)
        })
        .collect();
    let calibrated = CalibratedCounter::new(TiktokenCounter::new());
    let mut group = c.benchmark_group("count_short_chat");
    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    group.bench_function("calibrated_estimate", |b| {
        b.iter(|| {
            i = (i + 1) % requests.len();
            calibrated.estimate(black_box(&requests[i]), 1_024)
        });
    });
    group.finish();
}

fn encoder_first_use(c: &mut Criterion) {
    let mut group = c.benchmark_group("encoder_build");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(4));
    group.bench_function("cl100k_base", |b| {
        b.iter_batched(
            || (),
            |()| tiktoken_rs::cl100k_base(),
            BatchSize::PerIteration,
        );
    });
    group.bench_function("o200k_base", |b| {
        b.iter_batched(
            || (),
            |()| tiktoken_rs::o200k_base(),
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = count_text, count_chat, count_short_chat, encoder_first_use
}
criterion_main!(benches);
