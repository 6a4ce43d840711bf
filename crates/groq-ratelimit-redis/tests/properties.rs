//! Property tests: random interleavings of reserve, commit, keep and refund across several
//! `RedisLimiter`s on one real Redis, checked against groq-ratelimit's reference server.
//!
//! Redis's clock cannot be paused, so the test runs in real time with fast quotas, and reads
//! Redis `TIME` right before and after each operation. An admission reaches the reference
//! server at the reading after it (so up to one round trip late: network jitter, which the
//! limiter's margin of 20 ms absorbs), and a correction at the reading before it. A case in
//! which a round trip exceeds the margin (a loaded machine) is discarded, not counted.

mod common;

use std::time::Duration;

use common::{RedisServer, unique_namespace};
use groq_config::Rate;
use groq_ratelimit::reference::Server;
use groq_ratelimit::{Cost, Dimension, Quota, RateLimiter, Reservation, ReserveError};
use groq_ratelimit_redis::RedisLimiter;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use tokio::time::Instant;

const MODEL: &str = "openai/gpt-oss-20b";
const INSTANCES: usize = 3;
/// Allowance for converting instants between Redis and the local clock.
const TOLERANCE_US: u64 = 1_000;
/// The limiters' margin against jitter.
const MARGIN: Duration = Duration::from_millis(20);
const MARGIN_US: u64 = 20_000;

#[derive(Debug, Clone)]
enum Op {
    Reserve {
        instance: usize,
        cost: Cost,
        send: bool,
    },
    Settle {
        pick: usize,
        actual_fraction: f64,
        keep: bool,
        /// Settle with the usage in every unit (`commit_usage`) rather than the tokens.
        usage: bool,
    },
    Sleep(u64),
}

fn rate(max: u64) -> impl Strategy<Value = Rate> {
    (1..=max, 100u64..=600)
        .prop_map(|(limit, ms)| Rate::new(limit, Duration::from_millis(ms)).expect("positive"))
}

/// Every dimension may be limited: RPM, TPM and RPD as Groq's chat models have them, and
/// ITPM, OTPM, ASH and ASD (in fast periods, like the others).
fn quota() -> impl Strategy<Value = Quota> {
    (
        (
            proptest::option::of(rate(5)),
            proptest::option::of(rate(500)),
            proptest::option::of(
                (2u64..=12, 1_000u64..=3_000)
                    .prop_map(|(l, ms)| Rate::new(l, Duration::from_millis(ms)).expect("positive")),
            ),
        ),
        (
            proptest::option::of(rate(300)),
            proptest::option::of(rate(300)),
            proptest::option::of(rate(120)),
            proptest::option::of(rate(240)),
        ),
    )
        .prop_map(|((rpm, tpm, rpd), (itpm, otpm, ash, asd))| {
            let mut q = Quota::unlimited();
            for (dimension, rate) in [
                (Dimension::RequestsPerMinute, rpm),
                (Dimension::TokensPerMinute, tpm),
                (Dimension::RequestsPerDay, rpd),
                (Dimension::InputTokensPerMinute, itpm),
                (Dimension::OutputTokensPerMinute, otpm),
                (Dimension::AudioSecondsPerHour, ash),
                (Dimension::AudioSecondsPerDay, asd),
            ] {
                if let Some(r) = rate {
                    q = q.with_rate(dimension, r);
                }
            }
            q
        })
}

/// A chat of a prompt and a completion allowance, a bare request of tokens, or an audio
/// request.
fn cost() -> impl Strategy<Value = Cost> {
    prop_oneof![
        3 => (0u64..150, 0u64..150).prop_map(|(prompt, completion)| Cost::chat(prompt, completion)),
        1 => (0u64..200).prop_map(Cost::request),
        1 => (0u64..150).prop_map(Cost::audio),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..INSTANCES, cost(), prop::bool::weighted(0.8))
            .prop_map(|(instance, cost, send)| Op::Reserve { instance, cost, send }),
        3 => (any::<usize>(), 0.0f64..=1.0, prop::bool::weighted(0.3), any::<bool>())
            .prop_map(|(pick, actual_fraction, keep, usage)| Op::Settle { pick, actual_fraction, keep, usage }),
        2 => (0u64..60).prop_map(Op::Sleep),
    ]
}

struct Held {
    reservation: Reservation,
    instance: usize,
    sent: bool,
}

struct Case<'a> {
    limiters: Vec<RedisLimiter>,
    server: Server,
    origin_us: u64,
    held: Vec<Held>,
    /// No correction has made the limiter conservative (unsent refunds and usage below the
    /// estimate may leave it fuller than the server).
    exact: bool,
    quota: &'a Quota,
    /// The longest reserve round trip so far, in microseconds.
    max_trip: u64,
}

impl Case<'_> {
    fn time(&self) -> u64 {
        self.limiters[0].redis_time_us().expect("Redis answers")
    }

    fn ns(&self, us: u64) -> u128 {
        u128::from(us.saturating_sub(self.origin_us)) * 1_000
    }

    fn flush(&self) {
        for limiter in &self.limiters {
            assert!(
                limiter.flush(Duration::from_secs(5)),
                "settlements did not reach Redis"
            );
        }
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Sleep(ms) => std::thread::sleep(Duration::from_millis(ms)),
            Op::Reserve {
                instance,
                cost,
                send,
            } => {
                let asked = Instant::now();
                let answer = self.limiters[instance].reserve(MODEL, &cost);
                let after = self.time();
                // The named instant is converted at the answer's arrival, and an admission
                // reaches the reference at `after`: both are late by at most this time.
                let trip = u64::try_from(asked.elapsed().as_micros()).unwrap_or(u64::MAX);
                self.max_trip = self.max_trip.max(trip);
                prop_assume!(trip < MARGIN_US, "a round trip exceeds the margin");
                let local_after = Instant::now();
                match answer {
                    Ok(reservation) => {
                        if send {
                            let t = self.ns(after);
                            prop_assert!(
                                self.server.arrive(t, &cost),
                                "the reference server rejected an admitted {cost:?} at {t} ns"
                            );
                        }
                        self.held.push(Held {
                            reservation,
                            instance,
                            sent: send,
                        });
                    }
                    Err(ReserveError::Wait { until, dimension }) => {
                        prop_assert!(self.quota.rate(dimension).is_some());
                        let ahead = until.saturating_duration_since(local_after);
                        let at = after + u64::try_from(ahead.as_micros()).unwrap_or(u64::MAX);
                        // Admissions reached the reference up to a trip late, so its buckets
                        // free up to a trip later than the limiter's.
                        let slack = TOLERANCE_US + self.max_trip;
                        prop_assert!(
                            self.server.would_accept(self.ns(at + slack), &cost),
                            "the reference server would still reject {cost:?} at the instant named"
                        );
                        let early = slack + MARGIN_US;
                        if self.exact && self.held.iter().all(|h| h.sent) && at > after + early {
                            prop_assert!(
                                !self.server.would_accept(self.ns(at - early), &cost),
                                "the wait for {cost:?} was longer than needed by more than {slack} us"
                            );
                        }
                    }
                    Err(ReserveError::NeverFits {
                        dimension,
                        cost: c,
                        capacity,
                    }) => {
                        prop_assert_eq!(
                            Some(capacity),
                            self.quota.rate(dimension).map(|r| r.limit())
                        );
                        prop_assert!(c > capacity);
                    }
                    Err(other) => prop_assert!(false, "unexpected answer {other:?}"),
                }
            }
            Op::Settle {
                pick,
                actual_fraction,
                keep,
                usage,
            } => {
                if self.held.is_empty() {
                    return Ok(());
                }
                let held = self.held.swap_remove(pick % self.held.len());
                let before = self.time();
                let cost = held.reservation.cost();
                if !held.sent {
                    held.reservation.refund();
                    self.exact = false;
                } else if keep {
                    held.reservation.keep();
                } else if usage {
                    let part = |units: u64| (units as f64 * actual_fraction) as u64;
                    let mut actual = Cost::chat(part(cost.input_tokens), part(cost.output_tokens))
                        .with_audio_seconds(part(cost.audio_seconds));
                    actual.tokens = part(cost.tokens);
                    held.reservation.commit_usage(actual);
                    if actual_fraction < 1.0 {
                        self.exact = false;
                    }
                    self.server.correct_usage(self.ns(before), &cost, &actual);
                } else {
                    let actual = (cost.tokens as f64 * actual_fraction) as u64;
                    held.reservation.commit(actual);
                    if actual < cost.tokens {
                        self.exact = false;
                    }
                    self.server.correct(self.ns(before), cost.tokens, actual);
                }
                let _ = held.instance;
                self.flush();
            }
        }
        Ok(())
    }
}

#[test]
fn interleavings_across_instances_never_over_admit_and_wait_exactly() {
    let redis = RedisServer::start();
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(12);
    let mut runner = TestRunner::new(Config {
        cases,
        max_global_rejects: 10 * cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(
            &(quota(), proptest::collection::vec(op(), 1..40)),
            |(quota, ops)| {
                let ns = unique_namespace("prop");
                let limiters: Vec<RedisLimiter> = (0..INSTANCES)
                    .map(|_| {
                        RedisLimiter::builder(&redis.url())
                            .namespace(&ns)
                            .margin(MARGIN)
                            .horizon(Duration::ZERO)
                            .quota(MODEL, quota)
                            .build()
                            .expect("a limiter")
                    })
                    .collect();
                let origin_us = limiters[0].redis_time_us().expect("Redis answers");
                let mut case = Case {
                    limiters,
                    server: Server::new(&quota),
                    origin_us,
                    held: Vec::new(),
                    exact: true,
                    quota: &quota,
                    max_trip: 0,
                };
                for op in &ops {
                    case.step(op)?;
                }
                for held in case.held.drain(..) {
                    held.reservation.keep();
                }
                case.flush();
                Ok(())
            },
        )
        .unwrap();
}
