//! Every seam swapped at once: a client built from this crate's own transport, limiter,
//! scheduler and token counter, against the emulator over TCP on 127.0.0.1.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use groq_seams_tests::{CheapestFirst, CountingTransport, LengthCounter, WindowLimiter};
use groqchat::mock::{MockLimits, MockServer};
use groqchat::queue::{LaneEntry, Scheduler};
use groqchat::{
    ChatRequest, Config, Dimension, GroqClient, Limits, ModelConfig, Rate, UnknownModelPolicy,
};

const KEY: &str = "gsk_seams_test_0123456789abcdef";
const MODEL: &str = "llama-3.1-8b-instant";
/// The custom limiter's window: one request per window, long enough that the requests reach
/// the transport in the order they were admitted even on a loaded machine.
const WINDOW: Duration = Duration::from_millis(400);
const DAY_LIMIT: u64 = 100;

fn request(marker: &str, max_completion_tokens: u32) -> ChatRequest {
    ChatRequest::new(MODEL)
        .user(format!("[req:{marker}] Say hello in one word."))
        .max_completion_tokens(max_completion_tokens)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_of_custom_parts_serves_every_request_in_the_schedulers_order() {
    // The emulator is generous: the custom limiter is the one that paces.
    let server = MockServer::builder()
        .api_key(KEY)
        .model(
            MODEL,
            MockLimits::unlimited()
                .rpm(1_000)
                .rpd(10_000)
                .tpm(1_000_000)
                .tpd(10_000_000)
                .context_window(131_072),
        )
        .start()
        .await
        .expect("the emulator starts");
    let limits = Limits::unlimited()
        .with_requests_per_minute(Rate::new(1, WINDOW).expect("a valid rate"))
        .with_requests_per_day(
            Rate::new(DAY_LIMIT, Duration::from_secs(86_400)).expect("a valid rate"),
        );
    let config = Config::builder()
        .clear_models()
        .base_url(server.base_url())
        .api_key(KEY)
        .unknown_models(UnknownModelPolicy::Reject)
        .model(ModelConfig::new(MODEL).with_limits(limits))
        .build()
        .expect("a valid configuration");

    let transport = Arc::new(CountingTransport::new().expect("a transport"));
    let limiter = Arc::new(WindowLimiter::new());
    let counter = Arc::new(LengthCounter::default());
    let popped: Arc<Mutex<Vec<LaneEntry>>> = Arc::default();
    let log = Arc::clone(&popped);
    let client = GroqClient::builder()
        .config(config)
        .transport(Arc::clone(&transport))
        .limiter(Arc::clone(&limiter) as _)
        .token_counter(Arc::clone(&counter) as _)
        .scheduler(move |_model: &str| -> Box<dyn Scheduler> {
            Box::new(CheapestFirst::new(Arc::clone(&log)))
        })
        .build()
        .expect("the client builds from custom parts");

    let mut events = client.events();

    // The first request opens the limiter's window.
    client
        .chat(request("first", 50))
        .await
        .expect("the first request is answered");

    // Four more queue behind the shut limiter, in an order that is not their cost's.
    limiter.hold();
    let allowances = [400u32, 100, 300, 200];
    let mut calls = Vec::new();
    for allowance in allowances {
        let call = client.chat(request(&format!("r{allowance}"), allowance));
        calls.push((allowance, tokio::spawn(call.into_future())));
    }
    let mut waited = Duration::ZERO;
    while client.queue_status().queued < allowances.len() {
        assert!(
            waited < Duration::from_secs(10),
            "the requests were not queued: {:?}",
            client.queue_status()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
        waited += Duration::from_millis(5);
    }
    limiter.release();

    // Every request ends in exactly one result, and it is an answer.
    for (allowance, call) in calls {
        let completion = call
            .await
            .expect("the call's task ends")
            .unwrap_or_else(|e| panic!("request r{allowance} failed: {e}"));
        assert!(
            !completion.choices.is_empty(),
            "r{allowance}: {completion:?}"
        );
    }

    // The scheduler ordered the queued requests by cost, and the lane used its order: the
    // limiter admitted them, and the transport sent them, cheapest first.
    let popped: Vec<u64> = popped
        .lock()
        .expect("the log")
        .iter()
        .map(|e| e.cost().tokens)
        .collect();
    assert_eq!(
        popped.len(),
        4,
        "every queued request left through the scheduler"
    );
    assert!(popped.is_sorted(), "cheapest first: {popped:?}");
    let admitted: Vec<u64> = limiter.admitted().iter().map(|(_, c)| c.tokens).collect();
    assert_eq!(
        admitted.len(),
        5,
        "one reservation per request: {admitted:?}"
    );
    assert_eq!(
        admitted[1..],
        popped[..],
        "the limiter saw the scheduler's order"
    );
    let sent: Vec<Option<u64>> = transport
        .sent()
        .iter()
        .filter(|r| r.path.ends_with("/chat/completions"))
        .map(|r| r.max_completion_tokens)
        .collect();
    assert_eq!(
        sent,
        [Some(50), Some(100), Some(200), Some(300), Some(400)],
        "the custom transport sent every request once, in the scheduler's order"
    );

    // The custom token counter made the estimates.
    assert!(counter.calls() >= 5, "counted {} times", counter.calls());

    // The client reports the custom limiter's own snapshot.
    let limits = client.limits(MODEL).expect("the model is configured");
    let day = limits
        .get(Dimension::RequestsPerDay)
        .expect("the limiter reports its day count");
    assert_eq!(
        (day.used, day.remaining, day.limit),
        (5, DAY_LIMIT - 5, DAY_LIMIT)
    );
    assert_eq!(day.pending, 0, "every reservation settled");
    assert_eq!(limits.in_flight, 0);
    let minute = limits
        .get(Dimension::RequestsPerMinute)
        .expect("the limiter reports its window");
    assert_eq!((minute.limit, minute.period), (1, WINDOW));

    // One final event per request.
    let mut finals = std::collections::HashSet::new();
    while let Ok(event) = events.try_recv() {
        if event.is_final() {
            let id = event.request_id().expect("a final event names its request");
            assert!(finals.insert(id.clone()), "two final events: {event:?}");
        }
    }
    assert_eq!(finals.len(), 5);

    // The server saw each request once and refused none.
    let stats = server.stats();
    assert_eq!(stats.audit.len(), 5);
    for marker in ["first", "r100", "r200", "r300", "r400"] {
        assert_eq!(stats.with_marker(marker).count(), 1, "{marker}");
    }
    assert_eq!(stats.rate_limited, 0);
    server.shutdown().await;
}
