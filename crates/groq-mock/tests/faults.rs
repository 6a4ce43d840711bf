//! Seeded fault injection: rates within tolerance, reproducibility, drops, latency.

mod common;

use std::time::Duration;

use common::{KEY, MODEL, body, try_chat};
use groq_mock::{Faults, MockLimits, MockServer};
use tokio::time::Instant;

async fn server(faults: Faults, seed: u64, limits: MockLimits) -> MockServer {
    MockServer::builder()
        .api_key(KEY)
        .model(MODEL, limits)
        .faults(faults)
        .seed(seed)
        .start()
        .await
        .unwrap()
}

/// The outcome of `n` sequential requests: a status, or 0 for a dropped connection.
async fn outcomes(server: &MockServer, n: usize) -> Vec<u16> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(
            try_chat(server.addr(), &body("hi", 10))
                .await
                .map_or(0, |r| r.status),
        );
    }
    out
}

#[tokio::test]
async fn rates_are_within_tolerance_and_reproducible() {
    let faults = Faults::none().fail_rate(0.2).drop_rate(0.1);
    let first = server(faults, 42, MockLimits::unlimited()).await;
    let run = outcomes(&first, 300).await;
    let drops = run.iter().filter(|&&s| s == 0).count();
    let failures = run.iter().filter(|&&s| s == 500 || s == 503).count();
    let ok = run.iter().filter(|&&s| s == 200).count();
    assert_eq!(drops + failures + ok, 300, "{run:?}");
    // Expected: 30 drops, 0.2 × 270 = 54 failures.
    assert!((15..=45).contains(&drops), "{drops}");
    assert!((34..=74).contains(&failures), "{failures}");
    let stats = first.stats();
    assert_eq!(stats.dropped as usize, drops);
    assert_eq!(stats.audit.len(), ok);

    let same_seed = server(faults, 42, MockLimits::unlimited()).await;
    assert_eq!(
        outcomes(&same_seed, 300).await,
        run,
        "same seed, same faults"
    );
    let other_seed = server(faults, 43, MockLimits::unlimited()).await;
    assert_ne!(outcomes(&other_seed, 300).await, run);
}

#[tokio::test]
async fn dropped_connections_get_no_response() {
    let server = server(Faults::none().drop_rate(1.0), 1, MockLimits::unlimited()).await;
    for _ in 0..3 {
        assert!(try_chat(server.addr(), &body("hi", 10)).await.is_none());
    }
    let stats = server.stats();
    assert_eq!((stats.dropped, stats.responses), (3, 0));
}

#[tokio::test]
async fn injected_faults_do_not_consume_the_quota() {
    // One request per minute: every request but the first admitted one is a fault or a 429.
    let server = server(
        Faults::none().fail_rate(0.5).drop_rate(0.3),
        7,
        MockLimits::unlimited().rpm(1),
    )
    .await;
    let run = outcomes(&server, 40).await;
    let first_ok = run
        .iter()
        .position(|&s| s == 200)
        .expect("one request is admitted");
    assert!(first_ok > 0, "faults came first with this seed: {run:?}");
    assert_eq!(run.iter().filter(|&&s| s == 200).count(), 1, "{run:?}");
    assert!(run[..first_ok].iter().all(|&s| s != 429), "{run:?}");
    assert!(run[first_ok + 1..].contains(&429));
}

#[tokio::test]
async fn latency_is_within_the_range() {
    let server = server(
        Faults::none().latency(Duration::from_millis(40), Duration::from_millis(80)),
        5,
        MockLimits::unlimited(),
    )
    .await;
    for _ in 0..5 {
        let start = Instant::now();
        let reply = try_chat(server.addr(), &body("hi", 10)).await.unwrap();
        let elapsed = start.elapsed();
        assert_eq!(reply.status, 200);
        assert!(elapsed >= Duration::from_millis(40), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(400), "{elapsed:?}");
        let queue = reply.json()["usage"]["queue_time"].as_f64().unwrap();
        assert!((0.04..=0.081).contains(&queue), "{queue}");
    }
}
