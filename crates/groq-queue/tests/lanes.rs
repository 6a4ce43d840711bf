//! Lanes and dispatcher against groq-ratelimit's real `LocalLimiter`, on tokio's paused clock.

use std::sync::Arc;
use std::time::Duration;

use groq_config::Rate;
use groq_queue::{
    Dispatched, Job, Lanes, Priority, QueueError, QueuedJob, ShutdownMode, Ticket, WhenFull,
};
use groq_ratelimit::{
    Cost, Dimension, LocalLimiter, Quota, RateLimiter, Reservation, ReserveError,
};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, sleep_until};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn rate(limit: u64, period: Duration) -> Rate {
    Rate::new(limit, period).expect("test rates are positive")
}

/// A limiter with no jitter margin, so instants are exactly the GCRA schedule's.
fn limiter(quotas: &[(&str, Quota)]) -> Arc<dyn RateLimiter> {
    let mut builder = LocalLimiter::builder().margin(Duration::ZERO);
    for (model, quota) in quotas {
        builder = builder.quota(*model, *quota);
    }
    Arc::new(builder.build())
}

fn requests(limit: u64, period: Duration) -> Quota {
    Quota::unlimited().with_rate(Dimension::RequestsPerMinute, rate(limit, period))
}

fn tokens(limit: u64, period: Duration) -> Quota {
    Quota::unlimited().with_rate(Dimension::TokensPerMinute, rate(limit, period))
}

/// What the handoff receiver sees: the payload, the instant of dispatch, the job and its
/// reservation.
struct Sent {
    payload: &'static str,
    at: Instant,
    job: QueuedJob<&'static str>,
    reservation: Reservation,
}

struct Harness {
    lanes: Lanes<&'static str>,
    rx: mpsc::UnboundedReceiver<(Instant, Dispatched<&'static str>)>,
    limiter: Arc<dyn RateLimiter>,
}

impl Harness {
    fn new(limiter: Arc<dyn RateLimiter>) -> Self {
        Self::with(limiter, |b| b)
    }

    fn with(
        limiter: Arc<dyn RateLimiter>,
        configure: impl FnOnce(
            groq_queue::LanesBuilder<&'static str>,
        ) -> groq_queue::LanesBuilder<&'static str>,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        // Record the instant inside the dispatcher, at the moment of hand-off.
        let handoff =
            move |d: Dispatched<&'static str>| tx.send((Instant::now(), d)).map_err(|e| e.0.1);
        let lanes = configure(Lanes::builder(Arc::clone(&limiter), handoff))
            .build()
            .expect("valid lanes");
        Self { lanes, rx, limiter }
    }

    async fn submit(
        &self,
        model: &str,
        cost: u64,
        priority: Priority,
        payload: &'static str,
    ) -> Ticket {
        let job = Job::new(model, Cost::request(cost), payload).with_priority(priority);
        self.lanes.submit(job).await.expect("submit succeeds")
    }

    async fn recv(&mut self) -> Sent {
        let (at, dispatched) = self.rx.recv().await.expect("a job is dispatched");
        let (job, reservation) = dispatched.into_parts();
        Sent {
            payload: job.payload(),
            at,
            job,
            reservation,
        }
    }

    /// Receives `n` jobs, keeping their charges (as if the requests were sent and their
    /// usage unknown), and returns payloads with dispatch instants.
    async fn recv_kept(&mut self, n: usize) -> Vec<(&'static str, Instant)> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let sent = self.recv().await;
            sent.reservation.keep();
            out.push((sent.payload, sent.at));
        }
        out
    }

    fn nothing_dispatched(&mut self) -> bool {
        self.rx.try_recv().is_err()
    }
}

fn names(sent: &[(&'static str, Instant)]) -> Vec<&'static str> {
    sent.iter().map(|(p, _)| *p).collect()
}

#[tokio::test(start_paused = true)]
async fn fresh_jobs_go_in_strict_priority_order_fifo_within_a_class() {
    let t0 = Instant::now();
    let mut h = Harness::new(limiter(&[("m", requests(1, secs(10)))]));
    let mut tickets = vec![h.submit("m", 1, Priority::Low, "blocker").await];
    assert_eq!(h.recv_kept(1).await, [("blocker", t0)]);
    for (priority, name) in [
        (Priority::Low, "low 1"),
        (Priority::Normal, "normal 1"),
        (Priority::High, "high 1"),
        (Priority::Low, "low 2"),
        (Priority::High, "high 2"),
        (Priority::Normal, "normal 2"),
    ] {
        tickets.push(h.submit("m", 1, priority, name).await);
    }
    let sent = h.recv_kept(6).await;
    assert_eq!(
        names(&sent),
        ["high 1", "high 2", "normal 1", "normal 2", "low 1", "low 2"]
    );
    // One every ten seconds, exactly.
    for (i, (_, at)) in sent.iter().enumerate() {
        assert_eq!(*at, t0 + secs(10) * (i as u32 + 1));
    }
}

#[tokio::test(start_paused = true)]
async fn a_low_job_overtakes_new_high_jobs_exactly_after_its_class_delay() {
    let t0 = Instant::now();
    let mut h = Harness::new(limiter(&[("m", requests(1, secs(100)))]));
    let mut tickets = vec![h.submit("m", 1, Priority::High, "blocker").await];
    assert_eq!(h.recv_kept(1).await, [("blocker", t0)]);
    tickets.push(h.submit("m", 1, Priority::Low, "low").await);
    tickets.push(h.submit("m", 1, Priority::High, "high at 0").await);
    // The Low job's key is t0 + 30 s (the default Low delay).
    sleep_until(t0 + secs(30) - Duration::from_millis(1)).await;
    tickets.push(h.submit("m", 1, Priority::High, "high at 29.999").await);
    sleep_until(t0 + secs(30)).await;
    tickets.push(h.submit("m", 1, Priority::High, "high at 30").await);
    let sent = h.recv_kept(4).await;
    assert_eq!(
        names(&sent),
        ["high at 0", "high at 29.999", "low", "high at 30"]
    );
    assert_eq!(sent[3].1, t0 + secs(400));
}

/// An independent GCRA schedule: for each cost (requests, tokens) the instant it fits every
/// bucket `(capacity, period)` at once, all jobs present at `t0`.
fn gcra_schedule(t0: Instant, buckets: &[(u64, Duration, bool)], costs: &[u64]) -> Vec<Instant> {
    let mut tat: Vec<Instant> = vec![t0; buckets.len()];
    let mut previous = t0;
    costs
        .iter()
        .map(|&tokens| {
            let increments: Vec<Duration> = buckets
                .iter()
                .map(|&(capacity, period, is_tokens)| {
                    let amount = if is_tokens { tokens } else { 1 };
                    let nanos = period.as_nanos() * u128::from(amount) / u128::from(capacity);
                    Duration::from_nanos(u64::try_from(nanos).expect("fits"))
                })
                .collect();
            let mut at = previous;
            for (i, &(_, period, _)) in buckets.iter().enumerate() {
                let fits = (tat[i] + increments[i]).checked_sub(period).unwrap_or(t0);
                at = at.max(fits);
            }
            for (i, inc) in increments.iter().enumerate() {
                tat[i] = tat[i].max(at) + *inc;
            }
            previous = at;
            at
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn jobs_dispatch_at_exactly_the_instants_of_the_gcra_schedule() {
    let t0 = Instant::now();
    // 4 requests and 6 000 tokens per minute.
    let quota = requests(4, secs(60)).with_rate(Dimension::TokensPerMinute, rate(6_000, secs(60)));
    let mut h = Harness::new(limiter(&[("m", quota)]));
    let costs = [3_000, 2_500, 1_000, 4_000, 500, 2_000, 100, 100, 100, 5_900];
    let mut tickets = Vec::new();
    let names = ["j0", "j1", "j2", "j3", "j4", "j5", "j6", "j7", "j8", "j9"];
    for (cost, name) in costs.iter().zip(names) {
        tickets.push(h.submit("m", *cost, Priority::Normal, name).await);
    }
    let sent = h.recv_kept(costs.len()).await;
    let expected = gcra_schedule(t0, &[(4, secs(60), false), (6_000, secs(60), true)], &costs);
    let got: Vec<Instant> = sent.iter().map(|(_, at)| *at).collect();
    let offsets = |v: &[Instant]| v.iter().map(|t| *t - t0).collect::<Vec<_>>();
    assert_eq!(offsets(&got), offsets(&expected));
    assert_eq!(self::names(&sent), names);
    // Not a trivial schedule: the tokens bind first (j2 waits for 1 000 tokens), the
    // requests later (j8 waits for a request slot).
    assert_eq!(expected[2] - t0, secs(5));
    assert_eq!(expected[8] - t0, secs(75));
}

#[tokio::test(start_paused = true)]
async fn a_throttled_model_never_delays_another() {
    let t0 = Instant::now();
    let mut h = Harness::new(limiter(&[("slow", requests(1, secs(3_600)))]));
    let mut tickets = Vec::new();
    tickets.push(h.submit("slow", 1, Priority::High, "slow 1").await);
    tickets.push(h.submit("slow", 1, Priority::High, "slow 2").await);
    for name in ["fast 1", "fast 2", "fast 3"] {
        tickets.push(h.submit("fast", 1, Priority::Low, name).await);
    }
    let sent = h.recv_kept(4).await;
    assert!(sent.iter().all(|(_, at)| *at == t0), "{sent:?}");
    let mut first_four = names(&sent);
    first_four.sort_unstable();
    assert_eq!(first_four, ["fast 1", "fast 2", "fast 3", "slow 1"]);
    assert_eq!(h.recv_kept(1).await, [("slow 2", t0 + secs(3_600))]);
}

#[tokio::test(start_paused = true)]
async fn a_cost_that_never_fits_fails_at_once_and_the_lane_goes_on() {
    let t0 = Instant::now();
    let mut h = Harness::new(limiter(&[("m", tokens(1_000, secs(60)))]));
    let mut too_big = h.submit("m", 5_000, Priority::High, "too big").await;
    let _ok = h.submit("m", 1_000, Priority::Normal, "ok").await;
    let failure = too_big.failed().await;
    match &failure {
        Some(QueueError::NeverFits { model, source }) => {
            assert_eq!(model, "m");
            assert!(matches!(
                source,
                ReserveError::NeverFits {
                    cost: 5_000,
                    capacity: 1_000,
                    ..
                }
            ));
        }
        other => panic!("expected NeverFits, got {other:?}"),
    }
    assert!(failure.is_some_and(|e| e.reserve_error().is_some()));
    assert_eq!(Instant::now(), t0, "failed without waiting");
    assert_eq!(h.recv_kept(1).await, [("ok", t0)]);
}

#[tokio::test(start_paused = true)]
async fn an_earlier_arrival_wakes_the_waiting_dispatcher() {
    let t0 = Instant::now();
    // 1 000 tokens per minute: 1 token per 60 ms.
    let mut h = Harness::new(limiter(&[("m", tokens(1_000, secs(60)))]));
    let _blocker = h.submit("m", 1_000, Priority::Low, "blocker").await;
    assert_eq!(h.recv_kept(1).await, [("blocker", t0)]);
    // The Low job needs the whole bucket: it fits at t0 + 60 s.
    let _big = h.submit("m", 1_000, Priority::Low, "big low").await;
    sleep(secs(1)).await;
    // A small High job arrives while the dispatcher sleeps for the Low one.
    let _small = h.submit("m", 100, Priority::High, "small high").await;
    let sent = h.recv_kept(2).await;
    assert_eq!(
        sent,
        [("small high", t0 + secs(6)), ("big low", t0 + secs(66))]
    );
}

#[tokio::test(start_paused = true)]
async fn cancelling_the_head_lets_the_next_job_go_when_it_fits() {
    let t0 = Instant::now();
    let mut h = Harness::new(limiter(&[("m", tokens(1_000, secs(60)))]));
    let _blocker = h.submit("m", 1_000, Priority::High, "blocker").await;
    assert_eq!(h.recv_kept(1).await, [("blocker", t0)]);
    let big = h.submit("m", 1_000, Priority::High, "big").await;
    let _small = h.submit("m", 100, Priority::Low, "small").await;
    sleep(secs(1)).await;
    assert!(big.cancel(), "the head was still queued");
    assert_eq!(h.recv_kept(1).await, [("small", t0 + secs(6))]);
}

#[tokio::test(start_paused = true)]
async fn cancellation_under_load_removes_exactly_the_cancelled_jobs() {
    let t0 = Instant::now();
    let mut h = Harness::new(limiter(&[("m", requests(1, secs(1)))]));
    const N: usize = 200;
    let names: Vec<&'static str> = (0..N)
        .map(|i| &*Box::leak(format!("job {i:03}").into_boxed_str()))
        .collect();
    let mut tickets: Vec<Option<Ticket>> = Vec::new();
    for name in &names {
        tickets.push(Some(h.submit("m", 1, Priority::Normal, name).await));
    }
    // Let a few go, then cancel: every third job by dropping its ticket, every fifth by id.
    let first = h.recv_kept(3).await;
    assert_eq!(self::names(&first), names[..3]);
    let mut by_id = Vec::new();
    for (i, slot) in tickets.iter_mut().enumerate().skip(3) {
        if i % 3 == 0 {
            drop(slot.take());
        } else if i % 5 == 0 {
            let ticket = slot.as_ref().expect("still held");
            assert!(h.lanes.cancel(ticket.id()));
            assert!(!h.lanes.cancel(ticket.id()), "cancelled once only");
            by_id.push(i);
        }
    }
    let kept: Vec<&'static str> = (3..N)
        .filter(|i| i % 3 != 0 && i % 5 != 0)
        .map(|i| names[i])
        .collect();
    let status = h.lanes.status();
    assert_eq!(status[0].total, kept.len());
    let sent = h.recv_kept(kept.len()).await;
    assert_eq!(self::names(&sent), kept);
    // The cancelled jobs took no slot: one dispatch per second without gaps.
    for (i, (_, at)) in sent.iter().enumerate() {
        assert_eq!(*at, t0 + secs(3 + i as u64));
    }
    for i in by_id {
        let ticket = tickets[i].as_mut().expect("still held");
        assert!(ticket.failed().await.is_some_and(|e| e.is_cancelled()));
    }
    sleep(secs(10)).await;
    assert!(h.nothing_dispatched());
    assert_eq!(h.lanes.status()[0].total, 0);
}

#[tokio::test(start_paused = true)]
async fn a_full_lane_rejects_when_so_configured() {
    let mut h = Harness::with(limiter(&[("m", requests(1, secs(60)))]), |b| {
        b.capacity(2).when_full(WhenFull::Reject)
    });
    let _blocker = h.submit("m", 1, Priority::Normal, "blocker").await;
    h.recv_kept(1).await;
    let _a = h.submit("m", 1, Priority::Normal, "a").await;
    let _b = h.submit("m", 1, Priority::Normal, "b").await;
    let err = h
        .lanes
        .submit(Job::new("m", Cost::request(1), "c"))
        .await
        .expect_err("lane is full");
    assert!(err.is_full(), "{err}");
    assert!(err.to_string().contains("\"m\""));
    // Other models have their own room.
    let _other = h.submit("other", 1, Priority::Normal, "other").await;
    // Room frees up when a job leaves.
    h.recv_kept(2).await;
    assert!(
        h.lanes
            .try_submit(Job::new("m", Cost::request(1), "d"))
            .is_ok()
    );
}

#[tokio::test(start_paused = true)]
async fn a_full_lane_makes_submitters_wait_for_room() {
    let t0 = Instant::now();
    let mut h = Harness::with(limiter(&[("m", requests(1, secs(60)))]), |b| b.capacity(2));
    let _blocker = h.submit("m", 1, Priority::Normal, "blocker").await;
    h.recv_kept(1).await;
    let _a = h.submit("m", 1, Priority::Normal, "a").await;
    let _b = h.submit("m", 1, Priority::Normal, "b").await;
    assert!(
        h.lanes
            .try_submit(Job::new("m", Cost::request(1), "x"))
            .is_err_and(|e| e.is_full())
    );
    // An abandoned wait queues nothing.
    let abandoned = tokio::time::timeout(
        secs(5),
        h.lanes.submit(Job::new("m", Cost::request(1), "abandoned")),
    )
    .await;
    assert!(abandoned.is_err(), "still waiting after 5 s");
    let lanes = h.lanes.clone();
    let waiter = tokio::spawn(async move {
        let ticket = lanes.submit(Job::new("m", Cost::request(1), "c")).await;
        (Instant::now(), ticket)
    });
    let sent = h.recv_kept(1).await;
    assert_eq!(sent, [("a", t0 + secs(60))]);
    let (admitted_at, ticket) = waiter.await.expect("waiter ran");
    assert_eq!(admitted_at, t0 + secs(60), "admitted when a left");
    let _c = ticket.expect("admitted");
    assert_eq!(names(&h.recv_kept(2).await), ["b", "c"]);
}

#[tokio::test(start_paused = true)]
async fn a_job_handed_back_after_a_429_goes_first_with_its_original_key() {
    let t0 = Instant::now();
    let mut h = Harness::new(limiter(&[("m", requests(10, secs(60)))]));
    let mut first = h.submit("m", 1, Priority::High, "first").await;
    let sent = h.recv().await;
    assert_eq!((sent.payload, sent.at), ("first", t0));
    let id = sent.job.id();
    // While it is in flight, newer High work queues up behind a pause.
    h.limiter.penalize("m", None, t0 + secs(5));
    let _later = h.submit("m", 1, Priority::High, "later high").await;
    assert_eq!(
        Instant::now(),
        t0,
        "both High jobs have the key t0; first has the lower seq"
    );
    sleep(secs(1)).await;
    assert!(h.nothing_dispatched(), "the lane is paused");
    // The server said 429: the request was not counted; hand the job back.
    drop(sent.reservation);
    h.lanes.requeue_front(sent.job).expect("requeued");
    let again = h.recv().await;
    assert_eq!((again.payload, again.at), ("first", t0 + secs(5)));
    assert_eq!(again.job.id(), id, "same identity");
    again.reservation.keep();
    drop(again.job);
    assert!(first.failed().await.is_none(), "finished without failure");
    assert_eq!(h.recv_kept(1).await, [("later high", t0 + secs(5))]);
}

#[tokio::test(start_paused = true)]
async fn a_requeued_job_is_cancelled_when_its_ticket_drops() {
    let mut h = Harness::new(limiter(&[("m", requests(1, secs(60)))]));
    let ticket = h.submit("m", 1, Priority::Normal, "a").await;
    let sent = h.recv().await;
    sent.reservation.keep();
    h.lanes.requeue_front(sent.job).expect("requeued");
    assert_eq!(h.lanes.status()[0].total, 1);
    drop(ticket);
    assert_eq!(h.lanes.status()[0].total, 0);
    sleep(secs(120)).await;
    assert!(h.nothing_dispatched());
}

#[tokio::test(start_paused = true)]
async fn max_in_flight_admits_the_next_job_when_one_settles() {
    let t0 = Instant::now();
    let mut h = Harness::new(limiter(&[("m", Quota::unlimited().with_max_in_flight(1))]));
    let _a = h.submit("m", 1, Priority::Normal, "a").await;
    let _b = h.submit("m", 1, Priority::Normal, "b").await;
    let a = h.recv().await;
    assert_eq!(a.at, t0);
    sleep(secs(7)).await;
    assert!(h.nothing_dispatched());
    a.reservation.commit(1);
    let b = h.recv().await;
    assert_eq!((b.payload, b.at), ("b", t0 + secs(7)));
}

#[tokio::test(start_paused = true)]
async fn shutdown_drain_dispatches_everything_and_waits_for_dispatched_jobs() {
    let t0 = Instant::now();
    let mut h = Harness::new(limiter(&[("m", requests(1, secs(10)))]));
    let mut tickets = Vec::new();
    for name in ["a", "b", "c", "d"] {
        tickets.push(h.submit("m", 1, Priority::Normal, name).await);
    }
    let a = h.recv().await;
    a.reservation.keep();
    let lanes = h.lanes.clone();
    let shutdown = tokio::spawn(async move {
        let report = lanes.shutdown(ShutdownMode::Drain).await;
        (Instant::now(), report)
    });
    sleep(Duration::from_millis(1)).await;
    let refused = h
        .lanes
        .submit(Job::new("m", Cost::request(1), "late"))
        .await;
    assert!(refused.is_err_and(|e| e.is_shut_down()));
    let rest = h.recv_kept(3).await;
    assert_eq!(
        rest,
        [
            ("b", t0 + secs(10)),
            ("c", t0 + secs(20)),
            ("d", t0 + secs(30))
        ]
    );
    // The first job is still in flight: the drain waits for it.
    sleep(secs(15)).await;
    assert!(!shutdown.is_finished());
    drop(a.job);
    let (done_at, report) = shutdown.await.expect("shutdown ran");
    assert_eq!(done_at, t0 + secs(45));
    assert_eq!(report.queued(), 3);
    assert_eq!(report.dispatched(), 3);
    assert_eq!((report.cancelled(), report.failed()), (0, 0));
    assert!(!h.lanes.status()[0].accepting);
}

#[tokio::test(start_paused = true)]
async fn shutdown_cancel_fails_queued_jobs_and_waiting_submitters() {
    let mut h = Harness::with(limiter(&[("m", requests(1, secs(60)))]), |b| b.capacity(2));
    let mut tickets = Vec::new();
    for name in ["a", "b", "c"] {
        tickets.push(h.submit("m", 1, Priority::Normal, name).await);
    }
    let a = h.recv().await;
    let lanes = h.lanes.clone();
    let waiting =
        tokio::spawn(async move { lanes.submit(Job::new("m", Cost::request(1), "d")).await });
    sleep(secs(1)).await;
    let report = h.lanes.shutdown(ShutdownMode::Cancel).await;
    assert_eq!(
        (report.queued(), report.cancelled(), report.dispatched()),
        (2, 2, 0)
    );
    assert_eq!(report.lanes[0].model, "m");
    for ticket in &mut tickets[1..] {
        assert!(ticket.failed().await.is_some_and(|e| e.is_cancelled()));
    }
    let waited = waiting.await.expect("submitter ran");
    assert!(waited.is_err_and(|e| e.is_shut_down()));
    // The dispatched job can no longer be handed back.
    drop(a.reservation);
    let refused = h.lanes.requeue_front(a.job);
    assert!(refused.is_err_and(|e| e.is_shut_down()));
    assert!(tickets[0].failed().await.is_some_and(|e| e.is_shut_down()));
    sleep(secs(600)).await;
    assert!(h.nothing_dispatched());
}

#[tokio::test(start_paused = true)]
async fn a_gone_receiver_stops_the_lane_and_fails_its_jobs() {
    let mut h = Harness::new(limiter(&[("m", requests(1, secs(60)))]));
    let mut a = h.submit("m", 1, Priority::Normal, "a").await;
    h.rx.close();
    let mut b = h.submit("m", 1, Priority::Normal, "b").await;
    assert!(matches!(a.failed().await, Some(QueueError::HandoffClosed)));
    assert!(matches!(b.failed().await, Some(QueueError::HandoffClosed)));
    let refused = h.lanes.submit(Job::new("m", Cost::request(1), "c")).await;
    assert!(matches!(refused, Err(QueueError::HandoffClosed)));
}

#[tokio::test(start_paused = true)]
async fn dropping_the_lanes_fails_what_is_queued() {
    let h = Harness::new(limiter(&[("m", requests(1, secs(60)))]));
    let mut tickets = Vec::new();
    for name in ["a", "b"] {
        tickets.push(h.submit("m", 1, Priority::Normal, name).await);
    }
    let Harness { lanes, rx, .. } = h;
    drop(lanes);
    drop(rx);
    for ticket in &mut tickets {
        let failure = ticket.failed().await;
        assert!(
            failure.as_ref().is_some_and(QueueError::is_shut_down),
            "{failure:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn status_reports_lengths_and_waits_by_class() {
    let mut h = Harness::new(limiter(&[("m", requests(1, secs(3_600)))]));
    let mut tickets = vec![h.submit("m", 1, Priority::High, "first").await];
    h.recv_kept(1).await;
    tickets.push(h.submit("m", 1, Priority::Low, "low").await);
    sleep(secs(3)).await;
    tickets.push(h.submit("m", 1, Priority::High, "high").await);
    tickets.push(h.submit("m", 1, Priority::High, "high 2").await);
    sleep(secs(2)).await;
    let status = h.lanes.status();
    assert_eq!(status.len(), 1);
    let m = &status[0];
    assert_eq!(m.model, "m");
    assert_eq!((m.total, m.in_flight), (3, 0));
    assert_eq!(m.queued[Priority::High], 2);
    assert_eq!(m.queued[Priority::Normal], 0);
    assert_eq!(m.queued[Priority::Low], 1);
    assert_eq!(m.oldest_wait[Priority::High], Some(secs(2)));
    assert_eq!(m.oldest_wait[Priority::Low], Some(secs(5)));
    assert_eq!(m.oldest_wait[Priority::Normal], None);
}

#[test]
fn zero_capacity_is_refused_and_lanes_need_a_runtime() {
    let (tx, _rx) = mpsc::unbounded_channel::<Dispatched<()>>();
    let limiter: Arc<dyn RateLimiter> = Arc::new(LocalLimiter::new());
    let err = Lanes::builder(Arc::clone(&limiter), tx.clone())
        .capacity(0)
        .build();
    assert!(matches!(err, Err(QueueError::ZeroCapacity)));
    let lanes = Lanes::builder(limiter, tx).build().expect("valid");
    let outside = lanes.try_submit(Job::new("m", Cost::request(1), ()));
    assert!(matches!(outside, Err(QueueError::NoRuntime)));
}

#[tokio::test(start_paused = true)]
async fn dispatch_now_goes_at_once_only_when_nothing_is_queued_ahead() {
    let limiter = limiter(&[("m", requests(2, secs(60)))]);
    let (tx, mut rx) = mpsc::unbounded_channel::<Dispatched<&'static str>>();
    let lanes = Lanes::builder(Arc::clone(&limiter), tx).build().unwrap();

    // An empty lane and room in the bucket: dispatched on the caller's task.
    let (_ticket, first) = lanes
        .dispatch_now(Job::new("m", Cost::request(1), "first"))
        .expect("an empty lane dispatches at once");
    assert_eq!(*first.job().payload(), "first");
    assert_eq!(limiter.snapshot("m").unwrap().in_flight, 1);

    // The bucket's second place goes the same way; the third is refused and comes back.
    let (_ticket, second) = lanes
        .dispatch_now(Job::new("m", Cost::request(1), "second"))
        .expect("room for a second request");
    assert!(second.job().id().seq() > first.job().id().seq());
    let Err(third) = lanes.dispatch_now(Job::new("m", Cost::request(1), "third")) else {
        panic!("the bucket is empty: the job must come back");
    };
    let _queued = lanes.submit(third).await.unwrap();

    // Something is queued now: even a job that could fit must wait its turn.
    let fourth = Job::new("m", Cost::request(1), "fourth").with_priority(Priority::High);
    assert!(lanes.dispatch_now(fourth).is_err());
    assert!(rx.try_recv().is_err());

    // A dispatched-now job handed back after a 429 regains its place at the head.
    let (job, reservation) = first.into_parts();
    drop(reservation);
    lanes.requeue_front(job).unwrap();
    let (job, _reservation) = rx.recv().await.unwrap().into_parts();
    assert_eq!(*job.payload(), "first");
}

#[tokio::test(start_paused = true)]
async fn an_admission_can_hold_the_head_until_a_dispatched_job_finishes() {
    let limiter = limiter(&[("m", tokens(10_000, secs(60)))]);
    let (tx, mut rx) = mpsc::unbounded_channel::<Dispatched<&'static str>>();
    // One job on the wire at a time, and every cost doubled.
    let lanes = Lanes::builder(Arc::clone(&limiter), tx)
        .admission(|_: &str, _: &&'static str, cost: Cost, in_flight: usize| {
            (in_flight == 0).then(|| Cost::request(cost.tokens * 2))
        })
        .build()
        .unwrap();
    let _a = lanes
        .submit(Job::new("m", Cost::request(100), "a"))
        .await
        .unwrap();
    let _b = lanes
        .submit(Job::new("m", Cost::request(100), "b"))
        .await
        .unwrap();
    let (job, reservation) = rx.recv().await.unwrap().into_parts();
    assert_eq!(*job.payload(), "a");
    assert_eq!(job.cost().tokens, 200, "the admission's cost is reserved");
    sleep(secs(1)).await;
    assert!(rx.try_recv().is_err(), "b is held while a is on the wire");
    assert!(
        lanes
            .dispatch_now(Job::new("m", Cost::request(1), "c"))
            .is_err()
    );
    reservation.commit(150);
    drop(job);
    let (job, _reservation) = rx.recv().await.unwrap().into_parts();
    assert_eq!(*job.payload(), "b");
}

/// Serves the cheapest job first (ties in arrival order); counts what it saw.
#[derive(Default)]
struct CheapestFirst {
    entries: Vec<groq_queue::LaneEntry>,
    pushed: Arc<std::sync::atomic::AtomicUsize>,
}

impl CheapestFirst {
    fn best(&self) -> Option<usize> {
        (0..self.entries.len()).min_by_key(|&i| {
            let e = &self.entries[i];
            (e.cost().tokens, e.seq())
        })
    }
}

impl groq_queue::Scheduler for CheapestFirst {
    fn push(&mut self, entry: groq_queue::LaneEntry) {
        self.pushed
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.entries.push(entry);
    }

    fn peek(&self) -> Option<groq_queue::LaneEntry> {
        self.best().map(|i| self.entries[i])
    }

    fn pop(&mut self) -> Option<groq_queue::LaneEntry> {
        self.best().map(|i| self.entries.swap_remove(i))
    }

    fn cancel(&mut self, key: groq_queue::Key) -> Option<groq_queue::LaneEntry> {
        let i = self.entries.iter().position(|e| e.key() == key)?;
        Some(self.entries.swap_remove(i))
    }
}

#[tokio::test(start_paused = true)]
async fn a_custom_scheduler_orders_by_the_entries_cost() {
    let pushed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let made = Arc::clone(&pushed);
    let mut h = Harness::with(limiter(&[("m", requests(1, secs(60)))]), move |b| {
        b.scheduler(move |_model: &str| -> Box<dyn groq_queue::Scheduler> {
            Box::new(CheapestFirst {
                entries: Vec::new(),
                pushed: Arc::clone(&made),
            })
        })
    });
    let t0 = Instant::now();
    let mut tickets = vec![h.submit("m", 500, Priority::High, "first").await];
    assert_eq!(names(&h.recv_kept(1).await), ["first"]);
    // Queued behind the one-per-minute limit, in an order that is neither cost nor class.
    for (cost, priority, name) in [
        (300, Priority::High, "300"),
        (100, Priority::Low, "100"),
        (200, Priority::Normal, "200"),
        (100, Priority::High, "100 later"),
    ] {
        tickets.push(h.submit("m", cost, priority, name).await);
    }
    // The scheduler's order is used, its entries carry the costs, and the lane still counts
    // what is queued by class for the status.
    let status = h.lanes.status();
    assert_eq!(status[0].total, 4);
    assert_eq!(status[0].queued[Priority::High], 2);
    assert_eq!(status[0].oldest_wait[Priority::Low], Some(Duration::ZERO));
    let sent = h.recv_kept(4).await;
    assert_eq!(names(&sent), ["100", "100 later", "200", "300"]);
    let at: Vec<Duration> = sent.iter().map(|(_, at)| *at - t0).collect();
    assert_eq!(at, [secs(60), secs(120), secs(180), secs(240)]);
    // Every submitted job went through the scheduler (the first one too).
    assert_eq!(pushed.load(std::sync::atomic::Ordering::SeqCst), 5);
}

#[tokio::test(start_paused = true)]
async fn a_custom_scheduler_sees_cancellations_and_requeues() {
    let mut h = Harness::with(limiter(&[("m", requests(1, secs(60)))]), |b| {
        b.scheduler(|_model: &str| -> Box<dyn groq_queue::Scheduler> {
            Box::new(CheapestFirst::default())
        })
    });
    let _first = h.submit("m", 1, Priority::Normal, "first").await;
    let sent = h.recv().await;
    let cheap = h.submit("m", 5, Priority::Normal, "cheap").await;
    let _dear = h.submit("m", 50, Priority::Normal, "dear").await;
    assert!(cheap.cancel(), "the cheap job was still queued");
    // Handed back as after a 429, with a cost below the dear job's: it goes first.
    sent.reservation.keep();
    h.lanes.requeue_front(sent.job).expect("requeued");
    assert_eq!(h.lanes.status()[0].total, 2);
    assert_eq!(names(&h.recv_kept(2).await), ["first", "dear"]);
    assert!(h.nothing_dispatched());
}

/// Breaks the contract: forgets every second entry it is given, and makes up an entry of a
/// job that was never queued.
#[derive(Default)]
struct Lossy {
    entries: std::collections::VecDeque<groq_queue::LaneEntry>,
    given: u64,
}

impl groq_queue::Scheduler for Lossy {
    fn push(&mut self, entry: groq_queue::LaneEntry) {
        self.given += 1;
        if self.given % 2 == 1 {
            self.entries.push_back(entry);
        }
        if self.given == 1 {
            // An entry no lane ever made, at the head.
            let key = entry.key();
            let made_up =
                groq_queue::Key::new(key.ready(), key.enqueued(), u64::MAX, key.priority());
            self.entries
                .push_front(groq_queue::LaneEntry::new(made_up, entry.cost()));
        }
    }

    fn peek(&self) -> Option<groq_queue::LaneEntry> {
        self.entries.front().copied()
    }

    fn pop(&mut self) -> Option<groq_queue::LaneEntry> {
        self.entries.pop_front()
    }

    fn cancel(&mut self, key: groq_queue::Key) -> Option<groq_queue::LaneEntry> {
        let i = self.entries.iter().position(|e| e.key() == key)?;
        self.entries.remove(i)
    }
}

#[tokio::test(start_paused = true)]
async fn a_scheduler_that_loses_jobs_cannot_strand_them() {
    let mut h = Harness::with(limiter(&[("m", requests(1, secs(60)))]), |b| {
        b.scheduler(|_model: &str| -> Box<dyn groq_queue::Scheduler> { Box::new(Lossy::default()) })
    });
    let mut tickets = Vec::new();
    for name in ["a", "b", "c", "d"] {
        tickets.push(h.submit("m", 1, Priority::Normal, name).await);
    }
    // The made-up entry is skipped; the jobs the scheduler kept go at the limiter's pace.
    let sent = h.recv_kept(2).await;
    assert_eq!(names(&sent), ["a", "c"]);
    sleep(secs(600)).await;
    assert!(h.nothing_dispatched(), "the lost jobs never reach the head");
    // The lane still counts the lost jobs, and a shutdown fails them: each ends once.
    assert_eq!(h.lanes.status()[0].total, 2);
    let report = h.lanes.shutdown(ShutdownMode::Cancel).await;
    assert_eq!((report.queued(), report.cancelled()), (2, 2));
    assert!(tickets[1].failed().await.is_some_and(|e| e.is_cancelled()));
    assert!(tickets[3].failed().await.is_some_and(|e| e.is_cancelled()));
}

/// Breaks the contract another way: `pop` returns the newest entry while `peek` shows the
/// oldest.
#[derive(Default)]
struct TwoFaced(Vec<groq_queue::LaneEntry>);

impl groq_queue::Scheduler for TwoFaced {
    fn push(&mut self, entry: groq_queue::LaneEntry) {
        self.0.push(entry);
    }

    fn peek(&self) -> Option<groq_queue::LaneEntry> {
        self.0.first().copied()
    }

    fn pop(&mut self) -> Option<groq_queue::LaneEntry> {
        self.0.pop()
    }

    fn cancel(&mut self, key: groq_queue::Key) -> Option<groq_queue::LaneEntry> {
        let i = self.0.iter().position(|e| e.key() == key)?;
        Some(self.0.remove(i))
    }
}

#[tokio::test(start_paused = true)]
async fn a_scheduler_whose_pop_disagrees_with_its_peek_stalls_without_spinning() {
    let limiter = limiter(&[("m", requests(10, secs(86_400)))]);
    let mut h = Harness::with(Arc::clone(&limiter), |b| {
        b.scheduler(|_model: &str| -> Box<dyn groq_queue::Scheduler> {
            Box::new(TwoFaced::default())
        })
    });
    // Alone in the queue, a job is both what peek shows and what pop returns: it goes.
    let mut tickets = vec![h.submit("m", 1, Priority::Normal, "a").await];
    assert_eq!(names(&h.recv_kept(1).await), ["a"]);
    // With two, the lane cannot take the head peek shows; it waits for the queue to change
    // instead of spinning (a spinning dispatcher would keep this paused-clock test from ever
    // advancing its clock).
    for name in ["b", "c"] {
        tickets.push(h.submit("m", 1, Priority::Normal, name).await);
    }
    sleep(secs(600)).await;
    assert!(h.nothing_dispatched());
    assert_eq!(h.lanes.status()[0].total, 2);
    // Every reservation the lane could not use was refunded: only "a" is charged.
    let snapshot = limiter.snapshot("m").expect("a quota");
    assert_eq!(
        snapshot.get(Dimension::RequestsPerMinute).map(|d| d.used),
        Some(1)
    );
    let report = h.lanes.shutdown(ShutdownMode::Cancel).await;
    assert_eq!(report.cancelled(), 2);
    assert!(tickets[1].failed().await.is_some_and(|e| e.is_cancelled()));
    assert!(tickets[2].failed().await.is_some_and(|e| e.is_cancelled()));
}
