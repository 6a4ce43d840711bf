//! Rate limits over real TCP: buckets, headers, 429s, 413s, refunds and the time scale.

mod common;

use std::time::Duration;

use common::{KEY, MODEL, body, chat, go_seconds, message_wait};
use groq_mock::{MockLimits, MockServer};
use serde_json::json;

async fn server(limits: MockLimits, minute: Duration) -> MockServer {
    MockServer::builder()
        .api_key(KEY)
        .model(MODEL, limits)
        .minute_length(minute)
        .start()
        .await
        .unwrap()
}

/// A body costing exactly `cost` tokens with no refund: prompt "hi" is 8 tokens, the rest
/// is the budget, and the reply uses all of it.
fn exact(cost: u64) -> serde_json::Value {
    let mut b = body("hi", cost - 8);
    b["mock_completion_tokens"] = json!(cost - 8);
    b
}

#[tokio::test]
async fn requests_burst_at_capacity_plus_one() {
    let server = server(MockLimits::unlimited().rpm(5), Duration::from_secs(60)).await;
    for i in 0..5 {
        let reply = chat(server.addr(), &body("hi", 10)).await;
        assert_eq!(reply.status, 200, "request {i}: {}", reply.text());
    }
    let reply = chat(server.addr(), &body("hi", 10)).await;
    assert_eq!(reply.status, 429);
    let error = reply.error();
    assert_eq!(error["type"], "requests");
    assert_eq!(error["code"], "rate_limit_exceeded");
    let message = error["message"].as_str().unwrap();
    let prefix = "Rate limit reached for model `llama-3.1-8b-instant` in organization `org_mock` \
                  service tier `on_demand` on requests per minute (RPM): Limit 5, Used 5, Requested 1. \
                  Please try again in ";
    assert!(message.starts_with(prefix), "{message}");
    assert!(message.ends_with(
        "s. Need more tokens? Upgrade to Dev Tier today at https://console.groq.com/settings/billing"
    ));
    // One request refills in 12 s.
    let wait = message_wait(message);
    assert!((11.0..=12.0).contains(&wait), "{wait}");
    assert_eq!(reply.header("retry-after"), Some("12"));
    assert_eq!(server.stats().rate_limited, 1);
    assert_eq!(server.stats().count(200), 5);
}

#[tokio::test]
async fn tokens_burst_and_headers_agree_with_the_buckets() {
    let server = server(
        MockLimits::unlimited().tpm(1000).rpd(100),
        // A slow "minute" of 10 real minutes: refill adds under 2 tokens per second.
        Duration::from_secs(600),
    )
    .await;
    for i in 1..=5u64 {
        let reply = chat(server.addr(), &exact(200)).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.header_u64("x-ratelimit-limit-tokens"), 1000);
        assert_eq!(reply.header_u64("x-ratelimit-limit-requests"), 100);
        let tokens = reply.header_u64("x-ratelimit-remaining-tokens");
        assert!(
            (1000 - 200 * i..=1002 - 200 * i).contains(&tokens),
            "{i}: {tokens}"
        );
        assert_eq!(reply.header_u64("x-ratelimit-remaining-requests"), 100 - i);
        // Time to full: 200 i tokens at 1000 per minute; i requests at 100 per day.
        let reset_tokens = go_seconds(reply.header("x-ratelimit-reset-tokens").unwrap());
        assert!(
            (reset_tokens - 120.0 * i as f64).abs() < 2.0,
            "{reset_tokens}"
        );
        let reset_requests = go_seconds(reply.header("x-ratelimit-reset-requests").unwrap());
        assert!(
            (reset_requests - 8640.0 * i as f64).abs() < 2.0,
            "{reset_requests}"
        );
        assert!(reply.header("x-request-id").unwrap().starts_with("req_"));
    }
    let reply = chat(server.addr(), &exact(200)).await;
    assert_eq!(reply.status, 429);
    let error = reply.error();
    assert_eq!(error["type"], "tokens");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains(
            "on tokens per minute (TPM): Limit 1000, Used 1000, Requested 200. Please try again in "
        ),
        "{message}"
    );
    assert!(
        (118.0..=120.0).contains(&message_wait(message)),
        "{message}"
    );
    // A 429 carries the headers too, and charged nothing.
    assert_eq!(reply.header_u64("x-ratelimit-remaining-requests"), 95);
    assert!(reply.header_u64("x-ratelimit-remaining-tokens") <= 2);
}

#[tokio::test]
async fn concurrent_burst_admits_exactly_the_capacity() {
    let server = server(MockLimits::unlimited().tpm(1000), Duration::from_secs(60)).await;
    let addr = server.addr();
    let replies = futures_join(
        (0..6)
            .map(|_| tokio::spawn(async move { chat(addr, &exact(200)).await.status }))
            .collect(),
    )
    .await;
    let ok = replies.iter().filter(|&&s| s == 200).count();
    let limited = replies.iter().filter(|&&s| s == 429).count();
    assert_eq!((ok, limited), (5, 1), "{replies:?}");
}

async fn futures_join(handles: Vec<tokio::task::JoinHandle<u16>>) -> Vec<u16> {
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

#[tokio::test]
async fn unused_budget_is_refunded_after_the_response() {
    let server = server(MockLimits::unlimited().tpm(1000), Duration::from_secs(600)).await;
    // Prompt 8 + budget 500 = 508 charged; the reply has 10 tokens, so 490 come back.
    let mut request = body("hi", 500);
    request["mock_completion_tokens"] = json!(10);
    let first = chat(server.addr(), &request).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.json()["usage"]["completion_tokens"], 10);
    let remaining = first.header_u64("x-ratelimit-remaining-tokens");
    assert!((492..=494).contains(&remaining), "{remaining}");
    // Without the refund this would not fit (508 > 492).
    let second = chat(server.addr(), &request).await;
    assert_eq!(second.status, 200, "{}", second.text());
    let remaining = second.header_u64("x-ratelimit-remaining-tokens");
    assert!((474..=477).contains(&remaining), "{remaining}");
    let third = chat(server.addr(), &body("hi", 10)).await;
    let remaining = third.header_u64("x-ratelimit-remaining-tokens");
    // 1000 - 18 - 18 - 18 after both refunds.
    assert!((946..=950).contains(&remaining), "{remaining}");
}

#[tokio::test]
async fn oversized_cost_gets_413_and_charges_nothing() {
    let server = server(MockLimits::unlimited().tpm(1000), Duration::from_secs(60)).await;
    let reply = chat(server.addr(), &body("hi", 1500)).await;
    assert_eq!(reply.status, 413);
    let error = reply.error();
    assert_eq!(error["code"], "rate_limit_exceeded");
    assert_eq!(error["type"], "tokens");
    assert_eq!(
        error["message"],
        "Request too large for model `llama-3.1-8b-instant` in organization `org_mock` service tier \
         `on_demand` on tokens per minute (TPM): Limit 1000, Requested 1508, please reduce your message \
         size and try again. Need more tokens? Upgrade to Dev Tier today at https://console.groq.com/settings/billing"
    );
    assert_eq!(reply.header("retry-after"), None);
    assert_eq!(reply.header_u64("x-ratelimit-remaining-tokens"), 1000);
    // Exactly the capacity still fits.
    let reply = chat(server.addr(), &exact(1000)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}

#[tokio::test]
async fn time_scale_compresses_minutes_and_days() {
    // A "minute" of 2 s: 4 requests per minute refill one every 500 ms.
    let server = server(
        MockLimits::unlimited().rpm(4).rpd(10).tpm(1000),
        Duration::from_secs(2),
    )
    .await;
    let first = chat(server.addr(), &exact(200)).await;
    assert_eq!(first.status, 200);
    // A day lasts 1440 "minutes" = 2880 s: one request of 10 refills in 288 s.
    let reset_requests = go_seconds(first.header("x-ratelimit-reset-requests").unwrap());
    assert!(
        (287.0..=288.0).contains(&reset_requests),
        "{reset_requests}"
    );
    // 200 tokens of 1000 per 2 s refill in 400 ms.
    let reset_tokens = go_seconds(first.header("x-ratelimit-reset-tokens").unwrap());
    assert!((0.3..=0.4).contains(&reset_tokens), "{reset_tokens}");
    for _ in 0..3 {
        assert_eq!(chat(server.addr(), &body("hi", 10)).await.status, 200);
    }
    let limited = chat(server.addr(), &body("hi", 10)).await;
    assert_eq!(limited.status, 429, "{}", limited.text());
    let message = limited.error()["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("requests per minute (RPM): Limit 4, Used 4"),
        "{message}"
    );
    let wait = message_wait(&message);
    assert!(wait > 0.0 && wait <= 0.5, "{wait}");
    assert_eq!(limited.header("retry-after"), Some("1"));
    // Waiting the reported time is enough.
    tokio::time::sleep(Duration::from_secs_f64(wait)).await;
    let reply = chat(server.addr(), &body("hi", 10)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}

#[tokio::test]
async fn day_limits_name_their_window() {
    let server = server(
        MockLimits::unlimited().rpd(1).tpd(500),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(chat(server.addr(), &exact(100)).await.status, 200);
    let reply = chat(server.addr(), &exact(100)).await;
    assert_eq!(reply.status, 429);
    let message = reply.error()["message"].as_str().unwrap().to_owned();
    // 1 request per 1440 minutes: the wait is a day, about 24 h.
    assert!(
        message.contains(
            "on requests per day (RPD): Limit 1, Used 1, Requested 1. Please try again in "
        ),
        "{message}"
    );
    let wait = message_wait(&message);
    assert!((86_399.0..=86_400.0).contains(&wait), "{wait}");
    assert_eq!(reply.header("retry-after"), Some("86400"));

    server
        .set_limits(MODEL, MockLimits::unlimited().tpd(500))
        .unwrap();
    let reply = chat(server.addr(), &exact(450)).await;
    assert_eq!(reply.status, 429);
    let message = reply.error()["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("on tokens per day (TPD): Limit 500, Used 100, Requested 450."),
        "{message}"
    );
    assert_eq!(reply.error()["type"], "tokens");
}

#[tokio::test]
async fn each_api_key_has_its_own_buckets() {
    let server = MockServer::builder()
        .api_key(KEY)
        .api_key("gsk_second")
        .model(MODEL, MockLimits::unlimited().rpm(1))
        .start()
        .await
        .unwrap();
    assert_eq!(chat(server.addr(), &body("hi", 10)).await.status, 200);
    assert_eq!(chat(server.addr(), &body("hi", 10)).await.status, 429);
    let bytes = serde_json::to_vec(&body("hi", 10)).unwrap();
    let other = common::send(
        server.addr(),
        "POST",
        "/openai/v1/chat/completions",
        Some("gsk_second"),
        Some(&bytes),
    )
    .await;
    assert_eq!(other.status, 200);
}

#[tokio::test]
async fn limits_change_at_runtime_keeping_usage() {
    let server = server(MockLimits::unlimited().rpm(1), Duration::from_secs(60)).await;
    assert_eq!(chat(server.addr(), &body("hi", 10)).await.status, 200);
    assert_eq!(chat(server.addr(), &body("hi", 10)).await.status, 429);
    server
        .set_limits(MODEL, MockLimits::unlimited().rpm(3))
        .unwrap();
    assert_eq!(chat(server.addr(), &body("hi", 10)).await.status, 200);
    assert_eq!(chat(server.addr(), &body("hi", 10)).await.status, 200);
    assert_eq!(chat(server.addr(), &body("hi", 10)).await.status, 429);
    assert!(
        server
            .set_limits(MODEL, MockLimits::unlimited().rpm(0))
            .is_err()
    );
    // A model added at runtime is served.
    server
        .set_limits("new-model", MockLimits::unlimited())
        .unwrap();
    let mut request = body("hi", 10);
    request["model"] = json!("new-model");
    assert_eq!(chat(server.addr(), &request).await.status, 200);
}
