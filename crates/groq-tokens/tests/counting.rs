//! Counting texts and chat requests with `TiktokenCounter`, and the calibrated wrapper.

use std::sync::Arc;

use groq_tokens::framing::{
    DEFAULT_IMAGE_TOKENS, REPLY_PRIMING_TOKENS, TOKENS_PER_MESSAGE, TOKENS_PER_TOOL,
    TOKENS_PER_TOOL_CALL, TOOLS_BLOCK_TOKENS,
};
use groq_tokens::{
    CalibratedCounter, Calibration, CalibrationConfig, Encoding, Estimate, TiktokenCounter,
    TokenCounter,
};
use groq_types::{ChatRequest, Content, ContentPart, Message, Tool, ToolCall, Usage};
use serde_json::json;

const LLAMA: &str = "llama-3.1-8b-instant";
const GPT_OSS: &str = "openai/gpt-oss-120b";

fn text(model: &str, text: &str) -> u64 {
    TiktokenCounter::new().count_text(model, text)
}

/// The framing and role tokens of one message with `body` tokens of content.
fn message(role: &str, body: u64) -> u64 {
    TOKENS_PER_MESSAGE + text(LLAMA, role) + body
}

#[test]
fn known_counts_of_fixed_strings() {
    let cases = [
        ("hello world", 2, 2),
        ("", 0, 0),
        ("The quick brown fox jumps over the lazy dog.", 10, 10),
        ("Hello, world!", 4, 4),
        ("1234567", 3, 3),
        ("Привет, мир!", 7, 5),
        ("こんにちは世界", 4, 2),
        ("😀🎉", 5, 3),
        ("fn main() {\n    println!(\"hi\");\n}", 10, 10),
    ];
    for (input, cl100k, o200k) in cases {
        assert_eq!(Encoding::Cl100kBase.count(input), cl100k, "{input:?}");
        assert_eq!(Encoding::O200kBase.count(input), o200k, "{input:?}");
        assert_eq!(text(LLAMA, input), cl100k, "{input:?}");
        assert_eq!(text(GPT_OSS, input), o200k, "{input:?}");
    }
}

#[test]
fn merging_inside_a_word_can_lower_the_count() {
    // Byte-pair encoding is not monotone inside a word: "ptic" is one token, "pti" two. Counts
    // are additive (hence monotone) only at word boundaries; see the property tests.
    assert_eq!(text(LLAMA, "pti"), 2);
    assert_eq!(text(LLAMA, "ptic"), 1);
    assert_eq!(text(LLAMA, "pti c"), 3);
}

#[test]
fn special_token_spellings_are_ordinary_text() {
    // As special tokens these would be 1 token each; as text they are several.
    assert_eq!(text(LLAMA, "<|endoftext|>"), 7);
    assert_eq!(text(GPT_OSS, "<|endoftext|>"), 7);
    assert_eq!(text(LLAMA, "<|start_header_id|>user<|end_header_id|>"), 15);
    for special in [
        "<|fim_prefix|>",
        "<|endofprompt|>",
        "<|return|>",
        "<|eot_id|>",
    ] {
        assert!(text(LLAMA, special) > 1, "{special}");
        assert!(text(GPT_OSS, special) > 1, "{special}");
    }
}

#[test]
fn forced_encoding_overrides_the_model() {
    let counter = TiktokenCounter::new().with_encoding(Encoding::O200kBase);
    assert_eq!(counter.encoding(LLAMA), Encoding::O200kBase);
    assert_eq!(counter.count_text(LLAMA, "こんにちは世界"), 2);
    assert_eq!(
        TiktokenCounter::default().encoding(GPT_OSS),
        Encoding::O200kBase
    );
    assert_eq!(
        TiktokenCounter::default().encoding(LLAMA),
        Encoding::Cl100kBase
    );
}

#[test]
fn a_single_user_message() {
    let request = ChatRequest::new(LLAMA).user("hello world");
    assert_eq!(TiktokenCounter::new().count_request(&request), 9);
    assert_eq!(
        TiktokenCounter::new().count_request(&request),
        REPLY_PRIMING_TOKENS + message("user", 2)
    );
}

#[test]
fn an_empty_request_is_the_reply_priming() {
    assert_eq!(
        TiktokenCounter::new().count_request(&ChatRequest::new(LLAMA)),
        REPLY_PRIMING_TOKENS
    );
}

#[test]
fn every_role_and_its_content_counts() {
    let system = "You are a terse assistant.";
    let developer = "Answer in French.";
    let user = "What is the capital of Italy?";
    let assistant = "Rome.";
    let request = ChatRequest::new(LLAMA)
        .system(system)
        .developer(developer)
        .user(user)
        .assistant(assistant);
    let expected = REPLY_PRIMING_TOKENS
        + message("system", text(LLAMA, system))
        + message("developer", text(LLAMA, developer))
        + message("user", text(LLAMA, user))
        + message("assistant", text(LLAMA, assistant));
    assert_eq!(TiktokenCounter::new().count_request(&request), expected);
}

#[test]
fn tool_definitions_count_their_json_and_framing() {
    let counter = TiktokenCounter::new();
    let base = ChatRequest::new(LLAMA).user("What is the weather in Paris?");
    let weather = Tool::function(
        "get_weather",
        "Current weather for a city",
        json!({
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name"}},
            "required": ["city"]
        }),
    );
    let time = Tool::function(
        "get_time",
        "Local time in a city",
        json!({"type": "object"}),
    );
    let json_tokens = |tool: &Tool| text(LLAMA, &serde_json::to_string(&tool.function).unwrap());

    let one = base.clone().tool(weather.clone());
    assert_eq!(
        counter.count_request(&one),
        counter.count_request(&base) + TOOLS_BLOCK_TOKENS + TOKENS_PER_TOOL + json_tokens(&weather)
    );
    let two = one.clone().tool(time.clone());
    assert_eq!(
        counter.count_request(&two),
        counter.count_request(&one) + TOKENS_PER_TOOL + json_tokens(&time)
    );
    // An empty tool list is no tool block.
    let empty = base.clone().extra("tools", serde_json::json!([]));
    assert_eq!(counter.count_request(&empty), counter.count_request(&base));
}

#[test]
fn tool_calls_and_tool_results_count() {
    let counter = TiktokenCounter::new();
    let arguments = r#"{"city":"Paris","unit":"celsius"}"#;
    let calls = vec![
        ToolCall::new("call_abc123", "get_weather", arguments),
        ToolCall::new("call_def456", "get_time", r#"{"city":"Paris"}"#),
    ];
    let request = ChatRequest::new(LLAMA)
        .user("Weather and time in Paris?")
        .message(Message::assistant_tool_calls(calls.clone()))
        .message(Message::tool("call_abc123", "18 degrees, cloudy"))
        .message(Message::tool("call_def456", "14:05"));

    let call_tokens: u64 = calls
        .iter()
        .map(|call| {
            TOKENS_PER_TOOL_CALL
                + text(LLAMA, &call.id)
                + text(LLAMA, &call.function.name)
                + text(LLAMA, &call.function.arguments)
        })
        .sum();
    let expected = REPLY_PRIMING_TOKENS
        + message("user", text(LLAMA, "Weather and time in Paris?"))
        + message("assistant", call_tokens)
        + message(
            "tool",
            text(LLAMA, "call_abc123") + text(LLAMA, "18 degrees, cloudy"),
        )
        + message("tool", text(LLAMA, "call_def456") + text(LLAMA, "14:05"));
    assert_eq!(counter.count_request(&request), expected);
}

#[test]
fn assistant_reasoning_and_content_count_together() {
    let message: Message = serde_json::from_value(json!({
        "role": "assistant",
        "content": "42",
        "reasoning": "Six times seven is forty-two.",
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    }))
    .unwrap();
    let request = ChatRequest::new(LLAMA).message(message);
    let expected = REPLY_PRIMING_TOKENS
        + TOKENS_PER_MESSAGE
        + text(LLAMA, "assistant")
        + text(LLAMA, "42")
        + text(LLAMA, "Six times seven is forty-two.")
        + TOKENS_PER_TOOL_CALL
        + text(LLAMA, "c1")
        + text(LLAMA, "f")
        + text(LLAMA, "{}");
    assert_eq!(TiktokenCounter::new().count_request(&request), expected);
}

#[test]
fn content_parts_count_text_images_and_documents() {
    let counter = TiktokenCounter::new();
    let huge_image = format!("data:image/png;base64,{}", "iVBORw0KGgo".repeat(50_000));
    let parts = Content::Parts(vec![
        ContentPart::text("Describe this image."),
        ContentPart::image_url(huge_image),
        ContentPart::text("Then this one."),
        ContentPart::image_url("https://example.com/cat.png"),
    ]);
    let request = ChatRequest::new("meta-llama/llama-4-scout-17b-16e-instruct").user(parts);
    let texts = text(LLAMA, "Describe this image.") + text(LLAMA, "Then this one.");
    assert_eq!(
        counter.count_request(&request),
        REPLY_PRIMING_TOKENS + message("user", texts + 2 * DEFAULT_IMAGE_TOKENS)
    );
    // The image cost is configurable and independent of the URL's length.
    let cheap = TiktokenCounter::new().with_image_tokens(85);
    assert_eq!(cheap.image_tokens(), 85);
    assert_eq!(
        cheap.count_request(&request),
        REPLY_PRIMING_TOKENS + message("user", texts + 2 * 85)
    );

    let with_document: Content = serde_json::from_value(json!([
        {"type": "text", "text": "Cite the source."},
        {"type": "document", "document": {"data": {"title": "Rome", "body": "Capital of Italy."}, "id": "doc-1"}}
    ]))
    .unwrap();
    let request = ChatRequest::new(LLAMA).user(with_document);
    let document_json =
        serde_json::to_string(&json!({"title": "Rome", "body": "Capital of Italy."})).unwrap();
    assert_eq!(
        counter.count_request(&request),
        REPLY_PRIMING_TOKENS
            + message(
                "user",
                text(LLAMA, "Cite the source.")
                    + text(LLAMA, &document_json)
                    + text(LLAMA, "doc-1")
            )
    );
}

#[test]
fn gpt_oss_requests_use_o200k() {
    let counter = TiktokenCounter::new();
    let greeting = "こんにちは世界";
    let oss = counter.count_request(&ChatRequest::new(GPT_OSS).user(greeting));
    let llama = counter.count_request(&ChatRequest::new(LLAMA).user(greeting));
    assert_eq!(oss, REPLY_PRIMING_TOKENS + TOKENS_PER_MESSAGE + 1 + 2);
    assert_eq!(llama, REPLY_PRIMING_TOKENS + TOKENS_PER_MESSAGE + 1 + 4);
}

#[test]
fn estimates_add_the_completion_allowance() {
    let counter = TiktokenCounter::new();
    let base = ChatRequest::new(LLAMA).user("hello world");

    let default = counter.estimate(&base, 1_024);
    assert_eq!(default.prompt, 9);
    assert_eq!(default.raw_prompt, 9);
    assert_eq!(default.completion_allowance, 1_024);
    assert_eq!(default.total, 1_033);

    let legacy = counter.estimate(&base.clone().max_tokens(300), 1_024);
    assert_eq!((legacy.completion_allowance, legacy.total), (300, 309));

    let both = counter.estimate(
        &base.clone().max_tokens(300).max_completion_tokens(50),
        1_024,
    );
    assert_eq!((both.completion_allowance, both.total), (50, 59));

    let zero = counter.estimate(&base.max_completion_tokens(0), 1_024);
    assert_eq!((zero.completion_allowance, zero.total), (0, 9));
}

#[test]
fn estimate_arithmetic() {
    let estimate = Estimate::new(120, 400);
    assert_eq!(
        (
            estimate.prompt,
            estimate.completion_allowance,
            estimate.total,
            estimate.raw_prompt
        ),
        (120, 400, 520, 120)
    );
    assert_eq!(Estimate::new(u64::MAX, 5).total, u64::MAX);
    let calibrated = Estimate::new(150, 10).with_raw_prompt(120);
    assert_eq!(
        (calibrated.prompt, calibrated.raw_prompt, calibrated.total),
        (150, 120, 160)
    );
    assert_eq!(Estimate::default().total, 0);
}

#[test]
fn pointers_and_trait_objects_count_the_same() {
    let request = ChatRequest::new(LLAMA)
        .system("Be brief.")
        .user("hello world")
        .max_completion_tokens(7);
    let counter = TiktokenCounter::new();
    let expected = counter.estimate(&request, 100);
    let boxed: Box<dyn TokenCounter> = Box::new(counter);
    let shared: Arc<dyn TokenCounter> = Arc::new(counter);
    let by_ref: &dyn TokenCounter = &counter;
    assert_eq!(boxed.estimate(&request, 100), expected);
    assert_eq!(shared.estimate(&request, 100), expected);
    assert_eq!(by_ref.estimate(&request, 100), expected);
    assert_eq!(shared.count_text(LLAMA, "hello world"), 2);
    // Observing is a no-op for a counter that does not learn.
    shared.observe(LLAMA, 9, 90);
    assert_eq!(shared.count_request(&request), expected.prompt);
}

#[test]
fn calibrated_counter_applies_and_learns_through_a_trait_object() {
    let request = ChatRequest::new(LLAMA)
        .system("You are a careful assistant.")
        .user("Explain the difference between TCP and UDP in two sentences.");
    let raw = TiktokenCounter::new().count_request(&request);
    let counter: Arc<dyn TokenCounter> = Arc::new(CalibratedCounter::new(TiktokenCounter::new()));

    // Before any usage: the conservative prior, rounded up.
    let first = counter.estimate(&request, 256);
    assert_eq!(first.raw_prompt, raw);
    assert_eq!(first.prompt, (raw * 5).div_ceil(4));
    assert_eq!(counter.count_request(&request), first.prompt);
    assert_eq!(first.total, first.prompt + 256);
    // Texts are not calibrated.
    assert_eq!(counter.count_text(LLAMA, "hello world"), 2);

    // The server counts 1.4 times the raw estimate; feed usage back until it converges.
    let actual = raw * 14 / 10;
    for _ in 0..60 {
        let estimate = counter.estimate(&request, 256);
        counter.observe_usage(LLAMA, &estimate, &Usage::new(actual, 12));
    }
    let converged = counter.estimate(&request, 256);
    assert_eq!(converged.raw_prompt, raw);
    let error = converged.prompt.abs_diff(actual) as f64 / actual as f64;
    assert!(error < 0.03, "{converged:?} vs {actual}");
    // Other models still start from the prior.
    let other = ChatRequest::new(GPT_OSS).user("hello world");
    let other_raw = TiktokenCounter::new().count_request(&other);
    assert_eq!(counter.count_request(&other), (other_raw * 5).div_ceil(4));
}

#[test]
fn calibrated_counter_is_shared_between_threads() {
    let config = CalibrationConfig::default().with_prior(2.0);
    let counter = CalibratedCounter::with_calibration(
        TiktokenCounter::new(),
        Calibration::with_config(config).unwrap(),
    );
    assert_eq!(counter.ratio(LLAMA), 2.0);
    assert_eq!(counter.inner().image_tokens(), DEFAULT_IMAGE_TOKENS);
    let request = ChatRequest::new(LLAMA).user("How many tokens is this sentence?");
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..50 {
                    let estimate = counter.estimate(&request, 64);
                    assert!(estimate.prompt >= estimate.raw_prompt);
                    counter.observe(LLAMA, estimate.raw_prompt, estimate.raw_prompt);
                }
            });
        }
    });
    let calibration = counter.calibration();
    assert_eq!(calibration.observations(LLAMA), 200);
    assert!(
        (counter.ratio(LLAMA) - 1.0).abs() < 1e-6,
        "{}",
        counter.ratio(LLAMA)
    );
}

#[test]
fn counting_from_many_threads_at_first_use_agrees() {
    let texts = ["hello world", "Привет, мир!", "こんにちは世界"];
    let results: Vec<Vec<(u64, u64)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    texts
                        .iter()
                        .map(|t| (text(LLAMA, t), text(GPT_OSS, t)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for result in &results {
        assert_eq!(result, &[(2, 2), (7, 5), (4, 2)]);
    }
    TiktokenCounter::new().preload();
    assert!(Encoding::Cl100kBase.preload() && Encoding::O200kBase.preload());
}

/// The reference encoder, built once for the property test.
static CL100K: std::sync::LazyLock<tiktoken_rs::CoreBPE> =
    std::sync::LazyLock::new(|| tiktoken_rs::cl100k_base().unwrap());

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Short texts are counted word by word through a cache; the total must be exactly the
    /// encoder's count of the whole text, whatever the mix of words, spaces and symbols.
    #[test]
    fn short_texts_count_exactly_as_the_whole_text(
        parts in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::string::string_regex("[a-zA-Z]{1,8}").unwrap(),
                proptest::string::string_regex("[0-9]{1,6}").unwrap(),
                proptest::string::string_regex("[ \t\n\r\u{a0}\u{3000}]{1,3}").unwrap(),
                proptest::string::string_regex("[.,;:!?'\"()<>|_-]{1,3}").unwrap(),
                proptest::string::string_regex("[é日本😀ßø]{1,3}").unwrap(),
            ],
            0..40,
        )
    ) {
        let text = parts.concat();
        let cl100k = CL100K.encode_ordinary(&text).len() as u64;
        proptest::prop_assert_eq!(Encoding::Cl100kBase.count(&text), cl100k, "{:?}", text);
        // Twice: the second count comes from the cache.
        proptest::prop_assert_eq!(Encoding::Cl100kBase.count(&text), cl100k, "{:?}", text);
    }
}
