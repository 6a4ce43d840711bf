//! The [`Scheduler`] trait and its default implementation, [`AgingQueue`].

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

use crate::priority::{AgingConfig, PerClass, Priority};

/// Where a job stands in a scheduler: the instant it is ordered by, and a sequence number
/// that breaks ties in arrival order and identifies the job for cancellation.
///
/// Keys order by `(ready, seq)`: smaller goes first. A key is handed out by
/// [`Scheduler::push`] and stays with the job, so a job given back with
/// [`Scheduler::requeue`] regains its exact place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    ready: Instant,
    enqueued: Instant,
    seq: u64,
    priority: Priority,
}

impl Key {
    /// A key for a job of `priority` enqueued at `enqueued`, ordered by `ready`, with sequence
    /// number `seq`. For [`Scheduler`] implementations; [`AgingQueue`] makes its own.
    pub fn new(ready: Instant, enqueued: Instant, seq: u64, priority: Priority) -> Self {
        Self {
            ready,
            enqueued,
            seq,
            priority,
        }
    }

    /// The instant the job is ordered by (enqueue instant plus class delay in [`AgingQueue`]).
    pub fn ready(&self) -> Instant {
        self.ready
    }

    /// When the job first entered the queue.
    pub fn enqueued(&self) -> Instant {
        self.enqueued
    }

    /// The arrival sequence number, unique within one scheduler.
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

/// Orders the jobs of one lane.
///
/// A lane owns exactly one scheduler and keeps it behind the lane's own lock, so methods take
/// `&mut self` (or `&self` for queries): an implementation needs no synchronization of its own
/// and can use plain collections. The trait is dyn-compatible (`Box<dyn Scheduler<T>>`), and
/// `Send + Sync + Debug` so a lane holding one can be shared between tasks and printed.
///
/// Contract: every item pushed (or requeued) comes out exactly once, through [`pop`](Self::pop)
/// or [`cancel`](Self::cancel); `peek` shows what `pop` would return next.
pub trait Scheduler<T>: Send + Sync + fmt::Debug {
    /// Adds `item` of class `priority`, arriving at `now`, and returns its key.
    fn push(&mut self, item: T, priority: Priority, now: Instant) -> Key;

    /// Puts back an item previously popped with `key`, at the place that key gives it (for
    /// a job handed back after a 429, this is the head). If an item with the same sequence
    /// number is still queued, the item is refused and returned.
    fn requeue(&mut self, item: T, key: Key) -> Result<(), T>;

    /// The next item and its key, without removing it.
    fn peek(&self) -> Option<(Key, &T)>;

    /// Removes and returns the next item.
    fn pop(&mut self) -> Option<(Key, T)>;

    /// Removes the item with `key`, if it is still queued.
    fn cancel(&mut self, key: Key) -> Option<T>;

    /// Number of queued items.
    fn len(&self) -> usize;

    /// Whether nothing is queued.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of queued items of each class.
    fn lengths(&self) -> PerClass<usize>;

    /// The key an item of class `priority` arriving at `now` gets when it leaves at once,
    /// as if it were pushed and popped in one step (called only while the scheduler is
    /// empty): the key of a job dispatched without waiting
    /// ([`Lanes::dispatch_now`](crate::Lanes::dispatch_now)), which
    /// [`requeue`](Self::requeue) must accept later. `None`, the default, when the scheduler
    /// does not mint keys that way; its lanes then queue every job.
    fn take_key(&mut self, priority: Priority, now: Instant) -> Option<Key> {
        let _ = (priority, now);
        None
    }

    /// How long the oldest queued item of each class has waited at `now`.
    fn oldest_wait(&self, now: Instant) -> PerClass<Option<Duration>>;
}

// Compile-time check that the trait stays dyn-compatible.
const _: Option<&dyn Scheduler<()>> = None;

/// The heap holds only small keys; items live in per-class maps keyed by sequence number.
/// A heap entry whose sequence number is missing from its class map (or whose ready instant
/// differs) is a tombstone left by [`AgingQueue::cancel`].
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
struct Slot<T> {
    ready: Instant,
    enqueued: Instant,
    item: T,
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
/// Costs: `push`, `pop` and `requeue` are O(log n); `cancel` is O(log n) and leaves a
/// tombstone in the heap, and the heap is compacted in O(n) once tombstones outnumber live
/// entries, so cancellation is amortized O(log n) and memory stays within twice the live
/// size (plus a small constant).
///
/// ```
/// use groq_queue::{AgingConfig, AgingQueue, Priority, Scheduler};
/// use std::time::Duration;
/// use tokio::time::Instant;
///
/// let mut q = AgingQueue::new(AgingConfig::default());
/// let t0 = Instant::now();
/// q.push("low", Priority::Low, t0);
/// q.push("high", Priority::High, t0);
/// // A High job arriving 31 s later comes after the Low job, which has aged 30 s.
/// q.push("late high", Priority::High, t0 + Duration::from_secs(31));
/// let order: Vec<_> = std::iter::from_fn(|| q.pop().map(|(_, job)| job)).collect();
/// assert_eq!(order, ["high", "low", "late high"]);
/// ```
pub struct AgingQueue<T> {
    aging: AgingConfig,
    heap: BinaryHeap<HeapEntry>,
    classes: [BTreeMap<u64, Slot<T>>; 3],
    next_seq: u64,
}

impl<T> fmt::Debug for AgingQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgingQueue")
            .field("aging", &self.aging)
            .field("len", &self.live())
            .field("heap_entries", &self.heap.len())
            .finish_non_exhaustive()
    }
}

impl<T> Default for AgingQueue<T> {
    fn default() -> Self {
        Self::new(AgingConfig::default())
    }
}

impl<T> AgingQueue<T> {
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

    /// Bytes reserved by the queue's heap for each entry (the items themselves live in
    /// per-class B-tree maps, see the crate README on memory).
    pub const HEAP_ENTRY_BYTES: usize = size_of::<HeapEntry>();

    /// Bytes of one stored item with its bookkeeping, not counting B-tree node overhead.
    pub const SLOT_BYTES: usize = size_of::<Slot<T>>() + size_of::<u64>();

    /// The heap's allocated capacity, in entries.
    pub fn heap_capacity(&self) -> usize {
        self.heap.capacity()
    }

    fn live(&self) -> usize {
        self.classes.iter().map(BTreeMap::len).sum()
    }

    fn is_live(classes: &[BTreeMap<u64, Slot<T>>; 3], e: &HeapEntry) -> bool {
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
        let live = self.live();
        if self.heap.len() > COMPACT_MIN && self.heap.len() > 2 * live {
            let classes = &self.classes;
            self.heap.retain(|e| Self::is_live(classes, e));
            self.heap.shrink_to(2 * live.max(COMPACT_MIN / 2));
        }
    }

    fn key_of(entry: &HeapEntry, slot: &Slot<T>) -> Key {
        Key::new(entry.ready, slot.enqueued, entry.seq, entry.priority)
    }
}

impl<T: Send + Sync> Scheduler<T> for AgingQueue<T> {
    fn push(&mut self, item: T, priority: Priority, now: Instant) -> Key {
        let delay = self.aging.delay(priority);
        // Delays are clamped to a year, so this only falls back on a clock near its end.
        let ready = now.checked_add(delay).unwrap_or(now);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(HeapEntry {
            ready,
            seq,
            priority,
        });
        self.classes[priority.index()].insert(
            seq,
            Slot {
                ready,
                enqueued: now,
                item,
            },
        );
        Key::new(ready, now, seq, priority)
    }

    fn take_key(&mut self, priority: Priority, now: Instant) -> Option<Key> {
        let delay = self.aging.delay(priority);
        let ready = now.checked_add(delay).unwrap_or(now);
        let seq = self.next_seq;
        self.next_seq += 1;
        Some(Key::new(ready, now, seq, priority))
    }

    fn requeue(&mut self, item: T, key: Key) -> Result<(), T> {
        let class = &mut self.classes[key.priority.index()];
        if class.contains_key(&key.seq) {
            return Err(item);
        }
        class.insert(
            key.seq,
            Slot {
                ready: key.ready,
                enqueued: key.enqueued,
                item,
            },
        );
        self.heap.push(HeapEntry {
            ready: key.ready,
            seq: key.seq,
            priority: key.priority,
        });
        self.next_seq = self.next_seq.max(key.seq.saturating_add(1));
        // A requeued key may sit below stale tombstones with the same sequence number.
        self.settle();
        Ok(())
    }

    fn peek(&self) -> Option<(Key, &T)> {
        let top = self.heap.peek()?;
        let slot = self.classes[top.priority.index()].get(&top.seq)?;
        Some((Self::key_of(top, slot), &slot.item))
    }

    fn pop(&mut self) -> Option<(Key, T)> {
        let top = self.heap.pop()?;
        let slot = self.classes[top.priority.index()].remove(&top.seq)?;
        let key = Self::key_of(&top, &slot);
        self.settle();
        Some((key, slot.item))
    }

    fn cancel(&mut self, key: Key) -> Option<T> {
        let class = &mut self.classes[key.priority.index()];
        match class.get(&key.seq) {
            Some(slot) if slot.ready == key.ready => {}
            _ => return None,
        }
        let slot = class.remove(&key.seq)?;
        self.settle();
        Some(slot.item)
    }

    fn len(&self) -> usize {
        self.live()
    }

    fn lengths(&self) -> PerClass<usize> {
        PerClass::from_fn(|p| self.classes[p.index()].len())
    }

    fn oldest_wait(&self, now: Instant) -> PerClass<Option<Duration>> {
        // Sequence numbers grow with arrival, so a class's first entry is its oldest.
        PerClass::from_fn(|p| {
            self.classes[p.index()]
                .first_key_value()
                .map(|(_, slot)| now.saturating_duration_since(slot.enqueued))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn drain<T: Send + Sync>(q: &mut AgingQueue<T>) -> Vec<T> {
        std::iter::from_fn(|| q.pop().map(|(_, t)| t)).collect()
    }

    #[test]
    fn fresh_jobs_go_in_strict_priority_then_fifo() {
        let t0 = Instant::now();
        let mut q = AgingQueue::default();
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
        let mut q = AgingQueue::default();
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
        let mut q = AgingQueue::default();
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
        let mut q = AgingQueue::default();
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
        let mut q = AgingQueue::default();
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
        let mut q = AgingQueue::default();
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
        let mut q = AgingQueue::default();
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
            let mut q = AgingQueue::new(AgingConfig::default().with_normal(secs(3)).with_low(secs(7)));
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
