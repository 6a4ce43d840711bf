//! The [`Scheduler`] trait, the read-only [`LaneEntry`] it orders, and the default
//! scheduler, [`AgingQueue`].

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::fmt;
use std::time::Duration;

use groq_ratelimit::Cost;
use tokio::time::Instant;

use crate::priority::{AgingConfig, PerClass, Priority};

/// Where a job stands in its lane: the instant it is ordered by, when it arrived, its class,
/// and a sequence number that breaks ties in arrival order and identifies the job.
///
/// Keys order by `(ready, seq)`: smaller first (the order of [`AgingQueue`]; another
/// [`Scheduler`] may order its entries any way it likes). The lane mints a key when the job
/// arrives (sequence numbers are unique within a lane and grow with arrival), and the key
/// stays with the job, so a job handed back after a 429 comes back with the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    ready: Instant,
    enqueued: Instant,
    seq: u64,
    priority: Priority,
}

impl Key {
    /// A key for a job of `priority` enqueued at `enqueued`, ordered by `ready`, with sequence
    /// number `seq`. Lanes make their own; this is for tests and benchmarks of a
    /// [`Scheduler`].
    pub fn new(ready: Instant, enqueued: Instant, seq: u64, priority: Priority) -> Self {
        Self {
            ready,
            enqueued,
            seq,
            priority,
        }
    }

    /// The instant the job is ordered by: what [`Scheduler::ready_at`] said when it arrived
    /// (enqueue instant plus class delay in [`AgingQueue`]).
    pub fn ready(&self) -> Instant {
        self.ready
    }

    /// When the job first entered the queue.
    pub fn enqueued(&self) -> Instant {
        self.enqueued
    }

    /// The arrival sequence number, unique within one lane.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The job's priority class.
    pub fn priority(&self) -> Priority {
        self.priority
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        self.ready.cmp(&other.ready).then(self.seq.cmp(&other.seq))
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A queued job as a [`Scheduler`] sees it: its [`Key`] (priority, enqueue instant, ready
/// instant, sequence number) and the [`Cost`] the lane will ask the limiter to reserve for
/// it. A small `Copy` value; the lane keeps the job's payload itself.
///
/// The cost is the job's own (from [`Job::new`](crate::Job::new), or
/// [`QueuedJob::set_cost`](crate::QueuedJob::set_cost) before a requeue); an
/// [`Admission`](crate::Admission), if the lanes have one, may still reserve another when
/// the job reaches the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LaneEntry {
    key: Key,
    cost: Cost,
}

impl LaneEntry {
    /// An entry with `key` and `cost`. Lanes make their own; this is for tests and
    /// benchmarks of a [`Scheduler`].
    pub fn new(key: Key, cost: Cost) -> Self {
        Self { key, cost }
    }

    /// The job's key.
    pub fn key(&self) -> Key {
        self.key
    }

    /// What the lane will ask the limiter to reserve for the job.
    pub fn cost(&self) -> Cost {
        self.cost
    }

    /// The job's priority class.
    pub fn priority(&self) -> Priority {
        self.key.priority
    }

    /// When the job entered the queue.
    pub fn enqueued(&self) -> Instant {
        self.key.enqueued
    }

    /// The instant the job is ordered by in [`AgingQueue`] (see [`Key::ready`]).
    pub fn ready(&self) -> Instant {
        self.key.ready
    }

    /// The arrival sequence number, unique within the lane.
    pub fn seq(&self) -> u64 {
        self.key.seq
    }
}

/// Orders the jobs of one lane.
///
/// A scheduler only orders [`LaneEntry`] values, small read-only views of the queued jobs
/// (priority, enqueue instant, ready instant, sequence number, cost); the lane keeps the
/// payloads, counts the jobs by class for [`Lanes::status`](crate::Lanes::status), and mints
/// the keys. A lane owns exactly one scheduler and keeps it behind the lane's own lock, so
/// methods take `&mut self` (or `&self` for queries): an implementation needs no
/// synchronization of its own, only `Send`, and can use plain collections. The trait is
/// dyn-compatible (`Box<dyn Scheduler>`).
///
/// Contract: every entry pushed comes out exactly once, through [`pop`](Self::pop) or
/// [`cancel`](Self::cancel), unchanged; [`peek`](Self::peek) shows what `pop` would return
/// next. The lane never pushes a sequence number that is still queued. An entry handed back
/// after a 429 is pushed again with its original key (and possibly a new cost):
/// [`AgingQueue`] puts it back at its original place, the head.
///
/// A scheduler that serves the cheapest job first (ties in arrival order):
///
/// ```
/// use groq_queue::{Key, LaneEntry, Scheduler};
///
/// #[derive(Default)]
/// struct CheapestFirst(Vec<LaneEntry>);
///
/// impl CheapestFirst {
///     fn best(&self) -> Option<usize> {
///         (0..self.0.len()).min_by_key(|&i| (self.0[i].cost().tokens, self.0[i].seq()))
///     }
/// }
///
/// impl Scheduler for CheapestFirst {
///     fn push(&mut self, entry: LaneEntry) {
///         self.0.push(entry);
///     }
///     fn peek(&self) -> Option<LaneEntry> {
///         self.best().map(|i| self.0[i])
///     }
///     fn pop(&mut self) -> Option<LaneEntry> {
///         self.best().map(|i| self.0.swap_remove(i))
///     }
///     fn cancel(&mut self, key: Key) -> Option<LaneEntry> {
///         let i = self.0.iter().position(|e| e.key() == key)?;
///         Some(self.0.swap_remove(i))
///     }
/// }
///
/// // Every lane of these lanes orders its jobs by cost.
/// # fn lanes(limiter: std::sync::Arc<dyn groq_ratelimit::RateLimiter>) {
/// let (tx, _rx) = tokio::sync::mpsc::unbounded_channel::<groq_queue::Dispatched<String>>();
/// let builder = groq_queue::Lanes::builder(limiter, tx)
///     .scheduler(|_model: &str| -> Box<dyn Scheduler> { Box::new(CheapestFirst::default()) });
/// # }
/// ```
pub trait Scheduler: Send {
    /// The instant a job of class `priority` arriving at `now` is ordered by, recorded in
    /// its key ([`Key::ready`]). The default is `now`; [`AgingQueue`] adds the class delay.
    fn ready_at(&self, priority: Priority, now: Instant) -> Instant {
        let _ = priority;
        now
    }

    /// Adds an entry: a job that just arrived, or one handed back after a 429 with its
    /// original key.
    fn push(&mut self, entry: LaneEntry);

    /// The entry [`pop`](Self::pop) would return, without removing it.
    fn peek(&self) -> Option<LaneEntry>;

    /// Removes and returns the next entry.
    fn pop(&mut self) -> Option<LaneEntry>;

    /// Removes the entry with `key`, if it is still queued.
    fn cancel(&mut self, key: Key) -> Option<LaneEntry>;
}

// Compile-time check that the trait stays dyn-compatible.
const _: Option<&dyn Scheduler> = None;

/// The heap holds only small keys; entries live in per-class maps keyed by sequence number.
/// A heap entry whose sequence number is missing from its class map (or whose ready instant
/// differs) is a tombstone left by [`AgingQueue::cancel`](Scheduler::cancel).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HeapEntry {
    ready: Instant,
    seq: u64,
    priority: Priority,
}

impl Ord for HeapEntry {
    // Reversed, so that `BinaryHeap` (a max-heap) yields the smallest `(ready, seq)` first.
    fn cmp(&self, other: &Self) -> Ordering {
        other.ready.cmp(&self.ready).then(other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for HeapEntry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Debug)]
struct Slot {
    ready: Instant,
    enqueued: Instant,
    cost: Cost,
}

/// Below this heap size tombstones are never compacted (compaction would cost more than the
/// memory it saves).
const COMPACT_MIN: usize = 64;

/// The default [`Scheduler`]: priority with aging.
///
/// A job of class `c` enqueued at `t` gets the key `t + delay(c)` (see [`AgingConfig`]);
/// the smallest key goes first, ties in arrival order. Fresh `High` work therefore goes
/// before fresh `Normal` and `Low` work, a class is strictly FIFO, and a waiting `Low` job
/// overtakes every `High` job that arrives more than `low` after it, so nothing starves.
///
/// Costs: `push` and `pop` are O(log n); `cancel` is O(log n) and leaves a tombstone in the
/// heap, and the heap is compacted in O(n) once tombstones outnumber live entries, so
/// cancellation is amortized O(log n) and memory stays within twice the live size (plus a
/// small constant).
///
/// ```
/// use groq_queue::{AgingConfig, AgingQueue, Key, LaneEntry, Priority, Scheduler};
/// use groq_ratelimit::Cost;
/// use std::time::Duration;
/// use tokio::time::Instant;
///
/// let mut q = AgingQueue::new(AgingConfig::default());
/// let t0 = Instant::now();
/// let mut seq = 0;
/// let mut push = |q: &mut AgingQueue, priority, now| {
///     let key = Key::new(q.ready_at(priority, now), now, seq, priority);
///     q.push(LaneEntry::new(key, Cost::request(1)));
///     seq += 1;
/// };
/// push(&mut q, Priority::Low, t0); // seq 0
/// push(&mut q, Priority::High, t0); // seq 1
/// // A High job arriving 31 s later comes after the Low job, which has aged 30 s.
/// push(&mut q, Priority::High, t0 + Duration::from_secs(31)); // seq 2
/// let order: Vec<u64> = std::iter::from_fn(|| q.pop().map(|e| e.seq())).collect();
/// assert_eq!(order, [1, 0, 2]);
/// ```
pub struct AgingQueue {
    aging: AgingConfig,
    heap: BinaryHeap<HeapEntry>,
    classes: [BTreeMap<u64, Slot>; 3],
    /// One past the largest sequence number pushed: a smaller one is a job pushed again,
    /// which a stale tombstone may match.
    next_seq: u64,
}

impl fmt::Debug for AgingQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgingQueue")
            .field("aging", &self.aging)
            .field("len", &self.len())
            .field("heap_entries", &self.heap.len())
            .finish_non_exhaustive()
    }
}

impl Default for AgingQueue {
    fn default() -> Self {
        Self::new(AgingConfig::default())
    }
}

impl AgingQueue {
    /// An empty queue with the given class delays.
    pub fn new(aging: AgingConfig) -> Self {
        Self {
            aging,
            heap: BinaryHeap::new(),
            classes: [BTreeMap::new(), BTreeMap::new(), BTreeMap::new()],
            next_seq: 0,
        }
    }

    /// The class delays in use.
    pub fn aging(&self) -> AgingConfig {
        self.aging
    }

    /// Number of heap entries, live and tombstones; never more than
    /// `max(2 * len(), 64)` after any operation.
    pub fn heap_entries(&self) -> usize {
        self.heap.len()
    }

    /// Bytes reserved by the queue's heap for each entry (the entries themselves live in
    /// per-class B-tree maps, see the crate README on memory).
    pub const HEAP_ENTRY_BYTES: usize = size_of::<HeapEntry>();

    /// Bytes of one stored entry with its bookkeeping, not counting B-tree node overhead.
    pub const SLOT_BYTES: usize = size_of::<Slot>() + size_of::<u64>();

    /// The heap's allocated capacity, in entries.
    pub fn heap_capacity(&self) -> usize {
        self.heap.capacity()
    }

    /// Number of queued entries.
    pub fn len(&self) -> usize {
        self.classes.iter().map(BTreeMap::len).sum()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.classes.iter().all(BTreeMap::is_empty)
    }

    /// Number of queued entries of each class.
    pub fn lengths(&self) -> PerClass<usize> {
        PerClass::from_fn(|p| self.classes[p.index()].len())
    }

    /// How long the oldest queued entry of each class has waited at `now`.
    pub fn oldest_wait(&self, now: Instant) -> PerClass<Option<Duration>> {
        // Sequence numbers grow with arrival, so a class's first entry is its oldest.
        PerClass::from_fn(|p| {
            self.classes[p.index()]
                .first_key_value()
                .map(|(_, slot)| now.saturating_duration_since(slot.enqueued))
        })
    }

    fn is_live(classes: &[BTreeMap<u64, Slot>; 3], e: &HeapEntry) -> bool {
        classes[e.priority.index()]
            .get(&e.seq)
            .is_some_and(|slot| slot.ready == e.ready)
    }

    /// Drops tombstones from the top so that the heap's top is live (or the heap is empty),
    /// then compacts if tombstones outnumber live entries.
    fn settle(&mut self) {
        while let Some(top) = self.heap.peek() {
            if Self::is_live(&self.classes, top) {
                break;
            }
            self.heap.pop();
        }
        let live = self.len();
        if self.heap.len() > COMPACT_MIN && self.heap.len() > 2 * live {
            let classes = &self.classes;
            self.heap.retain(|e| Self::is_live(classes, e));
            self.heap.shrink_to(2 * live.max(COMPACT_MIN / 2));
        }
    }

    fn entry_of(entry: &HeapEntry, slot: &Slot) -> LaneEntry {
        LaneEntry::new(
            Key::new(entry.ready, slot.enqueued, entry.seq, entry.priority),
            slot.cost,
        )
    }
}

impl Scheduler for AgingQueue {
    fn ready_at(&self, priority: Priority, now: Instant) -> Instant {
        // Delays are clamped to a year, so this only falls back on a clock near its end.
        now.checked_add(self.aging.delay(priority)).unwrap_or(now)
    }

    fn push(&mut self, entry: LaneEntry) {
        let key = entry.key;
        self.classes[key.priority.index()].insert(
            key.seq,
            Slot {
                ready: key.ready,
                enqueued: key.enqueued,
                cost: entry.cost,
            },
        );
        self.heap.push(HeapEntry {
            ready: key.ready,
            seq: key.seq,
            priority: key.priority,
        });
        if key.seq < self.next_seq {
            // A job pushed again may sit below stale tombstones with its sequence number.
            self.settle();
        } else {
            self.next_seq = key.seq.saturating_add(1);
        }
    }

    fn peek(&self) -> Option<LaneEntry> {
        let top = self.heap.peek()?;
        let slot = self.classes[top.priority.index()].get(&top.seq)?;
        Some(Self::entry_of(top, slot))
    }

    fn pop(&mut self) -> Option<LaneEntry> {
        let top = self.heap.pop()?;
        let slot = self.classes[top.priority.index()].remove(&top.seq)?;
        let entry = Self::entry_of(&top, &slot);
        self.settle();
        Some(entry)
    }

    fn cancel(&mut self, key: Key) -> Option<LaneEntry> {
        let class = &mut self.classes[key.priority.index()];
        match class.get(&key.seq) {
            Some(slot) if slot.ready == key.ready => {}
            _ => return None,
        }
        let slot = class.remove(&key.seq)?;
        self.settle();
        Some(LaneEntry::new(
            Key::new(slot.ready, slot.enqueued, key.seq, key.priority),
            slot.cost,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// An [`AgingQueue`] with payloads beside it, as a lane keeps them: keys minted in
    /// arrival order, payloads found by sequence number.
    struct Q<T> {
        q: AgingQueue,
        items: std::collections::HashMap<u64, T>,
        next_seq: u64,
    }

    impl<T> Default for Q<T> {
        fn default() -> Self {
            Self::new(AgingConfig::default())
        }
    }

    impl<T> Q<T> {
        fn new(aging: AgingConfig) -> Self {
            Self {
                q: AgingQueue::new(aging),
                items: std::collections::HashMap::new(),
                next_seq: 0,
            }
        }

        fn push(&mut self, item: T, priority: Priority, now: Instant) -> Key {
            let key = Key::new(self.q.ready_at(priority, now), now, self.next_seq, priority);
            self.next_seq += 1;
            self.items.insert(key.seq(), item);
            self.q.push(LaneEntry::new(key, Cost::request(key.seq())));
            key
        }

        fn requeue(&mut self, item: T, key: Key) -> Result<(), T> {
            if self.items.contains_key(&key.seq()) {
                return Err(item);
            }
            self.items.insert(key.seq(), item);
            self.q.push(LaneEntry::new(key, Cost::request(key.seq())));
            Ok(())
        }

        fn take(&mut self, entry: LaneEntry) -> (Key, T) {
            assert_eq!(entry.cost(), Cost::request(entry.seq()), "the entry's cost");
            let item = self.items.remove(&entry.seq());
            (entry.key(), item.expect("every entry has its item"))
        }

        fn peek(&self) -> Option<(Key, &T)> {
            let entry = self.q.peek()?;
            Some((entry.key(), &self.items[&entry.seq()]))
        }

        fn pop(&mut self) -> Option<(Key, T)> {
            let entry = self.q.pop()?;
            Some(self.take(entry))
        }

        fn cancel(&mut self, key: Key) -> Option<T> {
            let entry = self.q.cancel(key)?;
            assert_eq!(entry.key(), key);
            Some(self.take(entry).1)
        }

        fn len(&self) -> usize {
            self.q.len()
        }

        fn is_empty(&self) -> bool {
            self.q.is_empty()
        }

        fn lengths(&self) -> PerClass<usize> {
            self.q.lengths()
        }

        fn oldest_wait(&self, now: Instant) -> PerClass<Option<Duration>> {
            self.q.oldest_wait(now)
        }

        fn heap_entries(&self) -> usize {
            self.q.heap_entries()
        }

        fn heap_capacity(&self) -> usize {
            self.q.heap_capacity()
        }
    }

    fn drain<T>(q: &mut Q<T>) -> Vec<T> {
        std::iter::from_fn(|| q.pop().map(|(_, t)| t)).collect()
    }

    #[test]
    fn fresh_jobs_go_in_strict_priority_then_fifo() {
        let t0 = Instant::now();
        let mut q = Q::default();
        q.push("n1", Priority::Normal, t0);
        q.push("l1", Priority::Low, t0);
        q.push("h1", Priority::High, t0);
        q.push("n2", Priority::Normal, t0);
        q.push("h2", Priority::High, t0);
        assert_eq!(drain(&mut q), ["h1", "h2", "n1", "n2", "l1"]);
        assert!(q.is_empty());
    }

    #[test]
    fn low_overtakes_high_exactly_at_its_class_delay() {
        let t0 = Instant::now();
        let mut q = Q::default();
        q.push("low", Priority::Low, t0);
        q.push(
            "high before",
            Priority::High,
            t0 + secs(30) - Duration::from_nanos(1),
        );
        q.push("high at", Priority::High, t0 + secs(30));
        assert_eq!(drain(&mut q), ["high before", "low", "high at"]);
    }

    #[test]
    fn cancel_removes_any_job_once() {
        let t0 = Instant::now();
        let mut q = Q::default();
        let a = q.push('a', Priority::High, t0);
        let b = q.push('b', Priority::Normal, t0);
        let c = q.push('c', Priority::Low, t0);
        assert_eq!(q.cancel(b), Some('b'));
        assert_eq!(q.cancel(b), None);
        assert_eq!(q.peek().map(|(k, v)| (k, *v)), Some((a, 'a')));
        assert_eq!(q.cancel(a), Some('a'));
        assert_eq!(q.peek().map(|(k, v)| (k, *v)), Some((c, 'c')));
        assert_eq!(q.len(), 1);
        assert_eq!(drain(&mut q), ['c']);
        assert_eq!(q.cancel(c), None);
    }

    #[test]
    fn requeue_restores_the_head_with_the_original_key() {
        let t0 = Instant::now();
        let mut q = Q::default();
        q.push(1, Priority::Low, t0);
        q.push(2, Priority::Low, t0 + secs(1));
        let popped = q.pop();
        let Some((key, job)) = popped else {
            panic!("queue was not empty")
        };
        q.push(0, Priority::High, t0 + secs(2));
        // The High job has the earlier key (t0 + 2 s < t0 + 30 s) and stays first; the
        // requeued Low job goes before the other Low job it had preceded.
        assert_eq!(q.requeue(job, key), Ok(()));
        assert_eq!(q.requeue(9, key), Err(9), "same key twice is refused");
        assert_eq!(drain(&mut q), [0, 1, 2]);
    }

    #[test]
    fn requeue_after_cancel_with_a_stale_tombstone_is_exact() {
        let t0 = Instant::now();
        let mut q = Q::default();
        let k = q.push("x", Priority::Normal, t0);
        q.push("y", Priority::Normal, t0 + secs(1));
        assert_eq!(q.cancel(k), Some("x"));
        assert_eq!(q.requeue("x again", k), Ok(()));
        assert_eq!(q.len(), 2);
        assert_eq!(drain(&mut q), ["x again", "y"]);
        assert_eq!(q.heap_entries(), 0);
    }

    #[test]
    fn lengths_and_oldest_wait_by_class() {
        let t0 = Instant::now();
        let mut q = Q::default();
        q.push((), Priority::Low, t0);
        q.push((), Priority::Low, t0 + secs(4));
        q.push((), Priority::High, t0 + secs(6));
        let now = t0 + secs(10);
        let lengths = q.lengths();
        assert_eq!(
            (
                lengths[Priority::High],
                lengths[Priority::Normal],
                lengths[Priority::Low]
            ),
            (1, 0, 2)
        );
        let waits = q.oldest_wait(now);
        assert_eq!(waits[Priority::High], Some(secs(4)));
        assert_eq!(waits[Priority::Normal], None);
        assert_eq!(waits[Priority::Low], Some(secs(10)));
        q.pop(); // the High job
        q.pop(); // the first Low job
        assert_eq!(q.oldest_wait(now)[Priority::Low], Some(secs(6)));
    }

    #[test]
    fn tombstones_stay_bounded_under_mass_cancellation() {
        let t0 = Instant::now();
        let mut q = Q::default();
        let keys: Vec<Key> = (0..10_000u32)
            .map(|i| {
                q.push(
                    i,
                    Priority::Normal,
                    t0 + Duration::from_millis(u64::from(i)),
                )
            })
            .collect();
        // Cancel all but the first from the back, so the head stays live and nothing is
        // pruned from the top: only compaction can reclaim the tombstones.
        for (n, key) in keys.iter().skip(1).rev().enumerate() {
            assert!(q.cancel(*key).is_some());
            let live = 10_000 - 1 - n;
            assert!(q.heap_entries() <= (2 * live).max(COMPACT_MIN) + 1);
        }
        assert_eq!(q.len(), 1);
        assert!(q.heap_entries() <= COMPACT_MIN + 1);
        assert!(q.heap_capacity() <= 4 * COMPACT_MIN);
        assert_eq!(drain(&mut q), [0]);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push(Priority, u64),
        Pop,
        Cancel(usize),
        PopAndRequeue,
    }

    fn op() -> impl Strategy<Value = Op> {
        let class = prop_oneof![
            Just(Priority::High),
            Just(Priority::Normal),
            Just(Priority::Low)
        ];
        prop_oneof![
            4 => (class, 0u64..50).prop_map(|(p, dt)| Op::Push(p, dt)),
            2 => Just(Op::Pop),
            2 => any::<usize>().prop_map(Op::Cancel),
            1 => Just(Op::PopAndRequeue),
        ]
    }

    proptest! {
        /// Every pushed job comes out exactly once, popped or cancelled; pops come out in
        /// key order; and the heap never holds more than twice the live jobs (plus slack).
        #[test]
        fn every_job_is_popped_or_cancelled_exactly_once(ops in proptest::collection::vec(op(), 1..400)) {
            let t0 = Instant::now();
            let mut now = t0;
            let mut q = Q::new(AgingConfig::default().with_normal(secs(3)).with_low(secs(7)));
            let mut pushed = 0u64;
            let mut keys: Vec<Key> = Vec::new();
            let mut seen = std::collections::HashSet::new();
            for op in ops {
                match op {
                    Op::Push(p, dt) => {
                        now += Duration::from_millis(dt * 100);
                        keys.push(q.push(pushed, p, now));
                        pushed += 1;
                    }
                    Op::Pop => {
                        if let Some((key, id)) = q.pop() {
                            prop_assert!(seen.insert(id), "job {} came out twice", id);
                            prop_assert_eq!(key, keys[usize::try_from(id).unwrap_or(usize::MAX)]);
                            // Everything still queued has a later key than what was popped.
                            if let Some((next, _)) = q.peek() { prop_assert!(next > key); }
                        }
                    }
                    Op::Cancel(i) => {
                        if !keys.is_empty() {
                            let key = keys[i % keys.len()];
                            if let Some(id) = q.cancel(key) {
                                prop_assert_eq!(key.seq(), id);
                                prop_assert!(seen.insert(id), "job {} came out twice", id);
                            }
                        }
                    }
                    Op::PopAndRequeue => {
                        if let Some((key, id)) = q.pop() {
                            prop_assert!(q.requeue(id, key).is_ok());
                            prop_assert_eq!(q.peek().map(|(k, _)| k), Some(key));
                        }
                    }
                }
                prop_assert!(q.heap_entries() <= (2 * q.len()).max(COMPACT_MIN) + 1);
                prop_assert_eq!(q.lengths().iter().map(|(_, n)| *n).sum::<usize>(), q.len());
            }
            while let Some((_, id)) = q.pop() {
                prop_assert!(seen.insert(id), "job {} came out twice", id);
            }
            prop_assert_eq!(seen.len() as u64, pushed);
            prop_assert_eq!(q.heap_entries(), 0);
        }
    }
}
