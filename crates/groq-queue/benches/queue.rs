//! Scheduler cost: one push plus one pop on an `AgingQueue` already holding 1, 10 000 and
//! 1 000 000 jobs, and the memory each queued job takes.
//!
//! Memory is reported two ways (printed to stderr once, before timing):
//! - *accounted*: heap capacity × heap entry size, plus per stored entry its slot and map key
//!   (`size_of`), divided by the number of jobs. A lower bound: it leaves out B-tree node
//!   headers and unused node space.
//! - *resident*: growth of the process's resident set (`/proc/self/statm`, Linux only) while
//!   the 1 000 000-job queue is built, divided by 1 000 000. This includes everything: node
//!   overhead, allocator overhead and fragmentation.
#![allow(clippy::print_stderr)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use groq_queue::{AgingQueue, Key, LaneEntry, Lanes, Priority, Scheduler};
use groq_ratelimit::Cost;
use tokio::time::Instant;

fn class(i: u64) -> Priority {
    match i % 3 {
        0 => Priority::High,
        1 => Priority::Normal,
        _ => Priority::Low,
    }
}

/// Queues job `i` (sequence number `i`, class `class(i)`), arriving at `t0 + i µs`, as a
/// lane does: the key is minted with the scheduler's ready instant.
fn push(q: &mut AgingQueue, i: u64, t0: Instant) {
    let priority = class(i);
    let now = t0 + Duration::from_micros(i);
    let key = Key::new(q.ready_at(priority, now), now, i, priority);
    q.push(LaneEntry::new(key, Cost::request(i)));
}

/// A queue of `n` jobs in mixed classes, arriving one microsecond apart after `t0`.
fn filled(n: u64, t0: Instant) -> AgingQueue {
    let mut q = AgingQueue::default();
    for i in 0..n {
        push(&mut q, i, t0);
    }
    q
}

/// Resident set size in bytes, where the platform reports it.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn report_memory(n: u64, t0: Instant) -> AgingQueue {
    let before = resident_bytes();
    let q = filled(n, t0);
    let after = resident_bytes();
    let per_job = |bytes: f64| bytes / n as f64;
    let accounted = (q.heap_capacity() * AgingQueue::HEAP_ENTRY_BYTES) as f64
        + (q.len() * AgingQueue::SLOT_BYTES) as f64;
    eprintln!(
        "memory per queued job at {n} jobs: accounted {:.1} B (heap entry {} B, slot {} B)",
        per_job(accounted),
        AgingQueue::HEAP_ENTRY_BYTES,
        AgingQueue::SLOT_BYTES,
    );
    // Beside its scheduler's entry a lane keeps each job's payload and failure channel.
    eprintln!(
        "lane record with a zero-size payload: {} B beside the scheduler's slot (add the payload's own size)",
        Lanes::<()>::JOB_BYTES
    );
    if let (Some(before), Some(after)) = (before, after) {
        eprintln!(
            "memory per queued job at {n} jobs: resident {:.1} B",
            per_job(after.saturating_sub(before) as f64)
        );
    }
    q
}

fn push_pop(c: &mut Criterion) {
    let t0 = Instant::now();
    let mut group = c.benchmark_group("push_pop");
    group
        .throughput(Throughput::Elements(1))
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for n in [1u64, 10_000, 1_000_000] {
        // Built once, outside the timed loop; each iteration leaves the size unchanged.
        let mut q = if n == 1_000_000 {
            report_memory(n, t0)
        } else {
            filled(n, t0)
        };
        let mut i = n;
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                push(&mut q, i, t0);
                i += 1;
                black_box(q.pop())
            });
        });
    }
    group.finish();
}

criterion_group!(benches, push_pop);
criterion_main!(benches);
