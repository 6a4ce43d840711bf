//! Property tests: the limiter against a reference server with the same limits.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Duration;

use groq_config::Rate;
use groq_ratelimit::reference::{Server, nanos};
use groq_ratelimit::{Charge, Cost, Dimension, Quota, QuotaState, ReserveError, Settlement};
use proptest::prelude::*;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    Commit(u64),
    Keep,
    Drop,
}

#[derive(Debug, Clone)]
struct Step {
    /// Time to let pass before this step's reserve, in nanoseconds.
    advance: u64,
    cost: Cost,
    outcome: Outcome,
    /// Time from reserve to settlement, in nanoseconds.
    settle_after: u64,
    /// Where in `[0, margin]` the request's network delay falls (jitter mode only).
    delay_fraction: f64,
}

fn rate(max_limit: u64) -> impl Strategy<Value = Rate> {
    (1..=max_limit, 1u64..=5_000)
        .prop_map(|(limit, ms)| Rate::new(limit, Duration::from_millis(ms)).expect("positive"))
}

fn quota() -> impl Strategy<Value = Quota> {
    (
        proptest::option::of(rate(20)),
        proptest::option::of(rate(40)),
        proptest::option::of(rate(2_000)),
        proptest::option::of(rate(4_000)),
    )
        .prop_map(|(rpm, rpd, tpm, tpd)| {
            let mut q = Quota::unlimited();
            for (d, r) in Dimension::ALL.into_iter().zip([rpm, rpd, tpm, tpd]) {
                if let Some(r) = r {
                    q = q.with_rate(d, r);
                }
            }
            q
        })
}

fn step() -> impl Strategy<Value = Step> {
    let advance = prop_oneof![
        3 => Just(0u64),
        4 => 0u64..200_000_000,
        2 => 0u64..3_000_000_000,
    ];
    let outcome = prop_oneof![
        3 => (0u64..3_000).prop_map(Outcome::Commit),
        2 => Just(Outcome::Keep),
        2 => Just(Outcome::Drop),
    ];
    let settle_after = prop_oneof![
        1 => Just(0u64),
        3 => 0u64..3_000_000_000,
    ];
    (
        advance,
        prop_oneof![1 => Just(0u64), 8 => Just(1u64), 1 => Just(2u64)],
        0u64..2_500,
        outcome,
        settle_after,
        0.0f64..=1.0,
    )
        .prop_map(
            |(advance, requests, tokens, outcome, settle_after, delay_fraction)| Step {
                advance,
                cost: Cost::new(requests, tokens),
                outcome,
                settle_after,
                delay_fraction,
            },
        )
}

struct Sim {
    origin: Instant,
    margin: u128,
    jitter: bool,
    state: QuotaState,
    server: Server,
    quota: Quota,
    /// Arrivals and settlements to come: (time, sequence number, request id, is a settlement).
    events: BinaryHeap<Reverse<(u128, u64, u64, bool)>>,
    seq: u64,
    charges: HashMap<u64, (Charge, Outcome)>,
    /// Whether our state is known to equal the server's (no request is reserved but will
    /// never arrive, and no refund came late enough to be conservative).
    exact: bool,
    /// Requests sent and not dropped: (send time, id, tokens).
    sent: Vec<(u128, u64, u64)>,
}

impl Sim {
    fn new(quota: Quota, margin: Duration, jitter: bool) -> Self {
        let origin = Instant::now();
        Self {
            origin,
            margin: nanos(margin),
            jitter,
            state: QuotaState::new(quota, margin, origin),
            server: Server::new(&quota),
            quota,
            events: BinaryHeap::new(),
            seq: 0,
            charges: HashMap::new(),
            exact: true,
            sent: Vec::new(),
        }
    }

    fn at(&self, t: u128) -> Instant {
        self.origin + Duration::from_nanos(u64::try_from(t).expect("test times fit u64"))
    }

    /// Schedules the arrival (`settle == false`) or the settlement of request `id` at `t`.
    fn schedule(&mut self, t: u128, id: u64, settle: bool) {
        self.seq += 1;
        self.events.push(Reverse((t, self.seq, id, settle)));
    }

    /// Processes every arrival and settlement up to `t`, in time order.
    fn run_until(&mut self, t: u128) -> Result<(), TestCaseError> {
        while let Some(Reverse((when, _, id, is_settle))) = self.events.peek().copied() {
            if when > t {
                break;
            }
            self.events.pop();
            if is_settle {
                let (charge, outcome) = self.charges.remove(&id).expect("settled once");
                self.settle(when, id, charge, outcome);
            } else {
                let cost = self
                    .charges
                    .get(&id)
                    .expect("arrives before settling")
                    .0
                    .cost();
                prop_assert!(
                    self.server.arrive(when, &cost),
                    "the server rejected an admitted request of {cost:?} arriving at {when}"
                );
            }
        }
        Ok(())
    }

    fn settle(&mut self, t: u128, id: u64, charge: Charge, outcome: Outcome) {
        let estimate = charge.cost().tokens;
        let settlement = match outcome {
            Outcome::Commit(actual) => {
                // With jitter, usage above the estimate is counted by the server before we
                // hear of it, and a request already on its way can find the bucket fuller
                // than we could know: no margin protects against that. Estimates are upper
                // bounds (the completion allowance counts in full), so usage is at most them.
                let actual = if self.jitter {
                    actual.min(estimate)
                } else {
                    actual
                };
                // A refund that would take a bucket below what was sent in the last margin (or
                // stops at empty on the server) is kept partly by us, so that requests still on
                // their way stay counted: safe still, but no longer exact.
                let clamped = self.server.correct(t, estimate, actual);
                if self.margin > 0 && actual < estimate {
                    let since = t.saturating_sub(2 * self.margin);
                    let recent: u64 = self
                        .sent
                        .iter()
                        .filter(|&&(at, other, _)| at >= since && other != id)
                        .map(|&(_, _, tokens)| tokens)
                        .sum();
                    let lowest = self.server.lowest_token_level(t).unwrap_or(u64::MAX);
                    if clamped || lowest < recent {
                        self.exact = false;
                    }
                }
                Settlement::Commit {
                    actual_tokens: actual,
                }
            }
            Outcome::Keep => Settlement::Keep,
            Outcome::Drop => Settlement::Refund,
        };
        self.state.settle(self.at(t), charge, settlement);
    }

    fn step(&mut self, now: u128, step: &Step) -> Result<(), TestCaseError> {
        self.run_until(now)?;
        match self.state.reserve(self.at(now), &step.cost) {
            Ok(charge) => {
                let id = self.seq;
                if step.outcome == Outcome::Drop {
                    if step.settle_after == 0 {
                        self.state.settle(self.at(now), charge, Settlement::Refund);
                    } else {
                        self.exact = false;
                        self.charges.insert(id, (charge, step.outcome));
                        self.schedule(now + u128::from(step.settle_after), id, true);
                    }
                    return Ok(());
                }
                let delay = if self.jitter {
                    (self.margin as f64 * step.delay_fraction) as u128
                } else {
                    0
                };
                let arrival = now + delay.min(self.margin);
                self.sent.push((now, id, step.cost.tokens));
                self.charges.insert(id, (charge, step.outcome));
                self.schedule(arrival, id, false);
                let settle_at = (now + u128::from(step.settle_after)).max(arrival);
                self.schedule(settle_at, id, true);
                // Arrivals due now are checked at once, before anything else happens.
                self.run_until(now)?;
            }
            Err(ReserveError::Wait { until, dimension }) => {
                let t = nanos(until - self.origin);
                prop_assert!(t > now, "a wait must lie in the future");
                prop_assert!(self.quota.rate(dimension).is_some());
                if !self.jitter {
                    prop_assert!(
                        self.server.would_accept(t, &step.cost),
                        "the server would still reject {:?} at the instant we named",
                        step.cost
                    );
                    if self.exact && t > now + self.margin {
                        prop_assert!(
                            !self.server.would_accept(t - self.margin - 1, &step.cost),
                            "we waited for {:?} longer than the margin",
                            step.cost
                        );
                    }
                }
            }
            Err(ReserveError::NeverFits {
                dimension,
                cost,
                capacity,
            }) => {
                let rate = self.quota.rate(dimension).expect("a limited dimension");
                prop_assert_eq!(capacity, rate.limit());
                prop_assert_eq!(cost, step.cost.amount(dimension));
                prop_assert!(cost > capacity);
            }
            Err(other) => prop_assert!(false, "unexpected answer {other:?}"),
        }
        if !self.jitter {
            // Our buckets never hold less than the server's.
            let snapshot = self.state.snapshot(self.at(now));
            for d in &snapshot.dimensions {
                let server = self.server.used(now, d.dimension).expect("same dimensions");
                prop_assert!(
                    d.used >= server,
                    "{}: we hold {} but the server holds {server}",
                    d.dimension,
                    d.used
                );
                prop_assert!(d.remaining <= d.rate.limit());
            }
        }
        Ok(())
    }

    fn run(&mut self, steps: &[Step]) -> Result<(), TestCaseError> {
        let mut now = 0u128;
        for step in steps {
            now += u128::from(step.advance);
            self.step(now, step)?;
        }
        self.run_until(u128::MAX)
    }
}

fn margin() -> impl Strategy<Value = Duration> {
    prop_oneof![
        1 => Just(Duration::ZERO),
        3 => (1u64..300).prop_map(Duration::from_millis),
    ]
}

// 256 cases each (proptest's default; `PROPTEST_CASES` raises it): about a second in debug.
proptest! {
    /// Requests reach the server the moment they are admitted: the server accepts every one,
    /// every wait ends when the server would accept, and no wait is longer than the server's
    /// plus the margin.
    #[test]
    fn the_server_accepts_everything_and_nothing_waits_too_long(
        quota in quota(),
        margin in margin(),
        steps in proptest::collection::vec(step(), 1..80),
    ) {
        let mut sim = Sim::new(quota, margin, false);
        sim.run(&steps)?;
    }

    /// Each admitted request reaches the server after its own delay in [0, margin]: the
    /// server still accepts every one.
    #[test]
    fn jitter_within_the_margin_never_causes_a_429(
        quota in quota(),
        margin in (1u64..300).prop_map(Duration::from_millis),
        steps in proptest::collection::vec(step(), 1..80),
    ) {
        let mut sim = Sim::new(quota, margin, true);
        sim.run(&steps)?;
    }

    /// However reservations settle, a bucket never holds more than its capacity of room:
    /// at any instant, at most `limit` single units are admitted in a row.
    #[test]
    fn refunds_never_fill_a_bucket_past_capacity(
        limit in 1u64..50,
        period_ms in 1u64..10_000,
        ops in proptest::collection::vec((0u64..2_000_000_000, 0u64..60, 0u8..3), 0..40),
    ) {
        let rate = Rate::new(limit, Duration::from_millis(period_ms)).expect("positive");
        let quota = Quota::unlimited().with_rate(Dimension::TokensPerMinute, rate);
        let origin = Instant::now();
        let mut state = QuotaState::new(quota, Duration::ZERO, origin);
        let mut now = origin;
        let mut held = Vec::new();
        for (advance, tokens, how) in ops {
            now += Duration::from_nanos(advance);
            if let Ok(charge) = state.reserve(now, &Cost::new(0, tokens.min(limit))) {
                held.push(charge);
            }
            if how > 0
                && let Some(charge) = held.pop()
            {
                let settlement = if how == 1 {
                    Settlement::Refund
                } else {
                    Settlement::Commit { actual_tokens: 0 }
                };
                state.settle(now, charge, settlement);
            }
        }
        for charge in held.drain(..) {
            state.settle(now, charge, Settlement::Refund);
        }
        let mut admitted = 0;
        while state.reserve(now, &Cost::new(0, 1)).is_ok() {
            admitted += 1;
            prop_assert!(admitted <= limit, "admitted more than the capacity at one instant");
        }
        prop_assert!(state.snapshot(now).dimensions[0].remaining <= limit);
    }
}
