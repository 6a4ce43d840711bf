//! The input and output token caps (ITPM, OTPM) and the prompt cache.

mod common;

use common::{KEY, MODEL, chat};
use groq_mock::{MockLimits, MockServer};
use serde_json::{Value, json};

async fn server(limits: MockLimits, prompt_cache: bool) -> MockServer {
    MockServer::builder()
        .api_key(KEY)
        .model(MODEL, limits)
        .completion_tokens(10)
        .prompt_cache(prompt_cache)
        .start()
        .await
        .unwrap()
}

/// A request with a long shared system message and a short question.
fn shared_prefix(question: &str, budget: u64) -> Value {
    json!({
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "x".repeat(3_600)},
            {"role": "user", "content": question},
        ],
        "max_completion_tokens": budget,
    })
}

#[tokio::test(start_paused = true)]
async fn input_tokens_per_minute_rejects_with_groqs_text() {
    let server = server(MockLimits::unlimited().itpm(1_500), false).await;
    let first = chat(server.addr(), &shared_prefix("one", 10)).await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.header_u64("x-ratelimit-limit-input-tokens"), 1_500);
    assert!(first.header_u64("x-ratelimit-remaining-input-tokens") < 1_500);
    assert!(first.header("x-ratelimit-limit-output-tokens").is_none());
    let second = chat(server.addr(), &shared_prefix("two", 10)).await;
    assert_eq!(second.status, 429, "{}", second.text());
    let error = second.error();
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("on input tokens per minute (ITPM): Limit 1500, Used"),
        "{message}"
    );
    assert_eq!(error["type"], "tokens");
    assert!(second.header("retry-after").is_some());
}

#[tokio::test(start_paused = true)]
async fn output_tokens_per_minute_counts_the_budget_and_refunds_what_is_unused() {
    let server = server(MockLimits::unlimited().otpm(100), false).await;
    let too_large = chat(server.addr(), &shared_prefix("big", 101)).await;
    assert_eq!(too_large.status, 413, "{}", too_large.text());
    assert!(
        too_large.error()["message"]
            .as_str()
            .unwrap()
            .contains("output tokens per minute (OTPM): Limit 100, Requested 101")
    );
    // A budget of 90 fits; the reply uses 10, so 80 come back and a second one fits.
    for question in ["a", "b"] {
        let reply = chat(server.addr(), &shared_prefix(question, 90)).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    let third = chat(server.addr(), &shared_prefix("c", 90)).await;
    assert_eq!(third.status, 429, "{}", third.text());
    assert!(
        third.error()["message"]
            .as_str()
            .unwrap()
            .contains("(OTPM): Limit 100, Used 20, Requested 90")
    );
}

#[tokio::test(start_paused = true)]
async fn repeated_prefixes_are_reported_cached_and_given_back() {
    // 1,000 tokens of system message: the buckets hold two whole prompts, and a third one
    // only if the cached part of the second is given back once it has been processed.
    let limits = MockLimits::unlimited().tpm(2_100).itpm(2_100);
    let server = server(limits, true).await;
    let first = chat(server.addr(), &shared_prefix("one", 20)).await;
    assert_eq!(first.status, 200, "{}", first.text());
    let usage = &first.json()["usage"];
    // Nothing was cached yet (the field is always there: the spec's full shape).
    assert_eq!(
        usage["prompt_tokens_details"]["cached_tokens"], 0,
        "{usage}"
    );
    let prompt = usage["prompt_tokens"].as_u64().unwrap();
    assert!(prompt > 1_000, "{prompt}");

    let second = chat(server.addr(), &shared_prefix("two", 20)).await;
    assert_eq!(second.status, 200, "{}", second.text());
    let cached = second.json()["usage"]["prompt_tokens_details"]["cached_tokens"]
        .as_u64()
        .unwrap();
    assert_eq!(cached, 4 + 1_000, "the system message and its framing");
    let third = chat(server.addr(), &shared_prefix("three", 20)).await;
    assert_eq!(third.status, 200, "{}", third.text());

    // The same workload without the cache draws a 429 on the third request.
    let uncached = self::server(limits, false).await;
    for question in ["one", "two"] {
        let reply = chat(uncached.addr(), &shared_prefix(question, 20)).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    let refused = chat(uncached.addr(), &shared_prefix("three", 20)).await;
    assert_eq!(refused.status, 429, "{}", refused.text());
}
