//! Properties of counting and calibration over arbitrary inputs.

use groq_tokens::framing::TOKENS_PER_MESSAGE;
use groq_tokens::{Calibration, Encoding, TiktokenCounter, TokenCounter};
use groq_types::{ChatRequest, ContentPart, Message, ToolCall};
use proptest::prelude::*;

const MODELS: [&str; 2] = ["llama-3.3-70b-versatile", "openai/gpt-oss-20b"];

fn any_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        any::<String>().prop_map(Message::system),
        any::<String>().prop_map(Message::developer),
        any::<String>().prop_map(Message::user),
        any::<String>().prop_map(Message::assistant),
        (any::<String>(), any::<String>()).prop_map(|(id, content)| Message::tool(id, content)),
        (any::<String>(), any::<String>(), any::<String>()).prop_map(|(id, name, args)| {
            Message::assistant_tool_calls(vec![ToolCall::new(id, name, args)])
        }),
        prop::collection::vec(any::<String>(), 0..4).prop_map(|texts| Message::user(
            texts.into_iter().map(ContentPart::text).collect::<Vec<_>>()
        )),
    ]
}

fn request_with(model: &str, messages: Vec<Message>) -> ChatRequest {
    ChatRequest::new(model).messages(messages)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_unicode_counts_without_panicking(text in any::<String>()) {
        for encoding in [Encoding::Cl100kBase, Encoding::O200kBase] {
            let count = encoding.count(&text);
            // Every token covers at least one byte; only the empty text has no tokens.
            prop_assert!(count <= text.len() as u64);
            prop_assert_eq!(count == 0, text.is_empty());
        }
    }

    #[test]
    fn appending_at_a_word_boundary_adds_the_appended_count(
        base in any::<String>(),
        last in any::<char>().prop_filter("non-whitespace", |c| !c.is_whitespace()),
        rest in any::<String>(),
    ) {
        // A text that ends in a non-whitespace character, then a space-led text: the
        // pre-tokenizer never joins the two, so the counts add up and appending never lowers
        // the count. (Inside a word it can: see `merging_inside_a_word_can_lower_the_count`.)
        let head = format!("{base}{last}");
        let tail = format!(" {rest}");
        let whole = format!("{head}{tail}");
        for encoding in [Encoding::Cl100kBase, Encoding::O200kBase] {
            let (h, t, w) = (encoding.count(&head), encoding.count(&tail), encoding.count(&whole));
            prop_assert_eq!(w, h + t, "{}", encoding);
            prop_assert!(w > h);
        }
    }

    #[test]
    fn appending_words_to_a_message_never_decreases_the_request_count(
        words in prop::collection::vec("[A-Za-z0-9'.,!?-]{1,12}", 1..30),
        more in prop::collection::vec("[A-Za-z0-9'.,!?-]{1,12}", 0..10),
    ) {
        for model in MODELS {
            let counter = TiktokenCounter::new();
            let short = words.join(" ");
            let long = words.iter().chain(&more).cloned().collect::<Vec<_>>().join(" ");
            let before = counter.count_request(&ChatRequest::new(model).user(short));
            let after = counter.count_request(&ChatRequest::new(model).user(long));
            prop_assert!(after >= before);
            prop_assert_eq!(after > before, !more.is_empty());
        }
    }

    #[test]
    fn adding_a_message_increases_the_request_count(
        messages in prop::collection::vec(any_message(), 0..5),
        extra in any_message(),
        position in any::<prop::sample::Index>(),
    ) {
        for model in MODELS {
            let counter = TiktokenCounter::new();
            let before = counter.count_request(&request_with(model, messages.clone()));
            let mut more = messages.clone();
            more.insert(position.index(messages.len() + 1), extra.clone());
            let after = counter.count_request(&request_with(model, more));
            // At least the framing and the role name.
            prop_assert!(after > before + TOKENS_PER_MESSAGE, "{} -> {}", before, after);
        }
    }

    #[test]
    fn estimates_are_consistent(
        messages in prop::collection::vec(any_message(), 0..4),
        budget in proptest::option::of(any::<u32>()),
        default_completion in any::<u32>(),
    ) {
        let mut request = request_with(MODELS[0], messages);
        if let Some(budget) = budget {
            request = request.max_completion_tokens(budget);
        }
        let counter = TiktokenCounter::new();
        let estimate = counter.estimate(&request, default_completion);
        prop_assert_eq!(estimate.prompt, counter.count_request(&request));
        prop_assert_eq!(estimate.raw_prompt, estimate.prompt);
        prop_assert_eq!(estimate.completion_allowance, u64::from(budget.unwrap_or(default_completion)));
        prop_assert_eq!(estimate.total, estimate.prompt + estimate.completion_allowance);
    }

    #[test]
    fn calibration_stays_bounded_and_monotone(
        observations in prop::collection::vec((0_u64..1_000_000, 0_u64..3_000_000), 0..40),
        a in 0_u64..10_000_000,
        b in 0_u64..10_000_000,
    ) {
        let mut calibration = Calibration::new();
        for (estimated, actual) in observations {
            calibration.observe("m", estimated, actual);
            let ratio = calibration.ratio("m");
            prop_assert!((0.5..=3.0).contains(&ratio), "{}", ratio);
        }
        let (low, high) = (a.min(b), a.max(b));
        prop_assert!(calibration.apply("m", low) <= calibration.apply("m", high));
        // Rounding up: never below the exact product.
        prop_assert!(calibration.apply("m", high) as f64 >= high as f64 * calibration.ratio("m") - 1e-6 * high as f64);
    }
}
