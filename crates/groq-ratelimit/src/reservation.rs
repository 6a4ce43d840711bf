//! [`Reservation`]: an admitted cost that settles exactly once.

use std::fmt;

use crate::local::Ticket;
use crate::{Cost, Settlement};

/// How another [`RateLimiter`](crate::RateLimiter) implementation settles its reservations.
///
/// Wrap the implementation's own record of a charge in a type implementing `Settle` and hand
/// it to [`Reservation::new`]; [`settle`](Settle::settle) is then called exactly once, when the
/// reservation is committed, kept or dropped.
pub trait Settle: Send + fmt::Debug + 'static {
    /// Ends the charge. Called exactly once, possibly from a destructor: do not block for
    /// long and do not panic.
    fn settle(self: Box<Self>, settlement: Settlement);
}

// The local ticket is the common case: kept inline, a reservation costs no allocation.
#[allow(clippy::large_enum_variant)]
enum Inner {
    Local(Ticket),
    Custom(Box<dyn Settle>),
}

/// An admitted cost, charged to every limited bucket of its model, that must be settled
/// exactly once.
///
/// The methods consume the reservation, so settling twice does not compile:
///
/// * [`commit(actual_tokens)`](Self::commit): the request was served; the token buckets are
///   corrected from the estimate to the true usage.
/// * [`keep()`](Self::keep): the request was sent but its usage is unknown (a dropped
///   connection, a cancelled stream); the estimate stays charged.
/// * dropping it (or [`refund()`](Self::refund)): the request was never sent; the charge is
///   undone.
///
/// Each of them also frees the in-flight slot. A reservation is `Send + 'static` and owns
/// what it needs, so it can travel with the request across an HTTP call and into another
/// task. It is deliberately not `Clone`.
///
/// ```compile_fail
/// fn settle_twice(r: groq_ratelimit::Reservation) {
///     r.keep();
///     r.commit(10); // error: use of moved value
/// }
/// ```
#[must_use = "dropping a reservation refunds it at once; keep it until the request is answered"]
pub struct Reservation {
    cost: Cost,
    inner: Option<Inner>,
}

impl Reservation {
    /// A reservation whose settlement `settle` carries out: for other
    /// [`RateLimiter`](crate::RateLimiter) implementations.
    pub fn new(cost: Cost, settle: Box<dyn Settle>) -> Self {
        Self {
            cost,
            inner: Some(Inner::Custom(settle)),
        }
    }

    /// A reservation with nothing to settle: the answer for a model without limits.
    pub fn unlimited(cost: Cost) -> Self {
        Self { cost, inner: None }
    }

    pub(crate) fn local(cost: Cost, ticket: Ticket) -> Self {
        Self {
            cost,
            inner: Some(Inner::Local(ticket)),
        }
    }

    /// The cost that was reserved.
    pub fn cost(&self) -> Cost {
        self.cost
    }

    /// Whether the reservation is charged to any limit (`false` for a model without a quota).
    pub fn is_limited(&self) -> bool {
        self.inner.is_some()
    }

    /// The request was served and the server counted `actual_tokens` (`usage.total_tokens`):
    /// the token buckets are corrected by the difference from the estimate.
    pub fn commit(mut self, actual_tokens: u64) {
        self.settle(Settlement::Commit { actual_tokens });
    }

    /// The request was served and really cost `actual` in every unit (cached prompt tokens
    /// left out, the true completion and audio duration in): every bucket but the request
    /// buckets is corrected by the difference from the charge. See
    /// [`Settlement::CommitUsage`].
    pub fn commit_usage(mut self, actual: Cost) {
        self.settle(Settlement::CommitUsage { actual });
    }

    /// The request was sent but its usage is unknown: the estimate stays charged.
    pub fn keep(mut self) {
        self.settle(Settlement::Keep);
    }

    /// The request was never sent: the charge is undone. The same as dropping the reservation.
    pub fn refund(self) {}

    fn settle(&mut self, settlement: Settlement) {
        match self.inner.take() {
            Some(Inner::Local(ticket)) => ticket.settle(settlement),
            Some(Inner::Custom(settle)) => settle.settle(settlement),
            None => {}
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.settle(Settlement::Refund);
    }
}

impl fmt::Debug for Reservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Reservation");
        d.field("cost", &self.cost);
        match &self.inner {
            Some(Inner::Local(ticket)) => d.field("limiter", ticket),
            Some(Inner::Custom(settle)) => d.field("limiter", settle),
            None => d.field("limiter", &"unlimited"),
        };
        d.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Debug)]
    struct Record(Arc<Mutex<Vec<Settlement>>>);

    impl Settle for Record {
        fn settle(self: Box<Self>, settlement: Settlement) {
            self.0.lock().unwrap().push(settlement);
        }
    }

    #[test]
    fn each_reservation_settles_exactly_once() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let new = || Reservation::new(Cost::request(5), Box::new(Record(log.clone())));
        new().commit(7);
        new().keep();
        new().refund();
        drop(new());
        assert_eq!(
            *log.lock().unwrap(),
            [
                Settlement::Commit { actual_tokens: 7 },
                Settlement::Keep,
                Settlement::Refund,
                Settlement::Refund
            ]
        );
    }

    #[test]
    fn unlimited_has_nothing_to_settle() {
        let r = Reservation::unlimited(Cost::request(3));
        assert!(!r.is_limited());
        assert_eq!(r.cost(), Cost::request(3));
        assert!(format!("{r:?}").contains("unlimited"));
        r.commit(2);
    }

    fn assert_send_static<T: Send + 'static>() {}

    #[test]
    fn reservations_travel_between_tasks() {
        assert_send_static::<Reservation>();
    }
}
