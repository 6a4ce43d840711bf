//! [`QueueError`]: everything that can go wrong in this crate.

use groq_ratelimit::ReserveError;

/// Why a queue operation failed, or why a queued job was not dispatched.
///
/// Errors about a queued job reach its submitter through [`Ticket::failed`](crate::Ticket::failed).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// A priority name was not one of the accepted ones.
    #[error("unknown priority {value:?}: use high, normal or low")]
    InvalidPriority {
        /// The rejected text (at most 64 characters of it).
        value: String,
    },
    /// The model's lane already holds its capacity of queued jobs and the lanes were built
    /// with [`WhenFull::Reject`](crate::WhenFull::Reject) (or [`Lanes::try_submit`](crate::Lanes::try_submit) was used).
    #[error(
        "the queue for model {model:?} is full ({capacity} jobs waiting); retry later, \
         submit with WhenFull::Wait, or raise the lane capacity"
    )]
    Full {
        /// The model whose lane is full.
        model: String,
        /// The lane's capacity.
        capacity: usize,
    },
    /// The lanes are shutting down (or were dropped) and take no new jobs; a job that was
    /// still queued when they stopped gets this error too.
    #[error("the request queue is shut down and takes no more jobs")]
    ShutDown,
    /// The job was cancelled before it was sent, by [`Lanes::cancel`](crate::Lanes::cancel),
    /// [`Ticket::cancel`](crate::Ticket::cancel) or a [`ShutdownMode::Cancel`](crate::ShutdownMode::Cancel) shutdown. Nothing was
    /// charged to the rate limits.
    #[error("the request was cancelled before it was sent")]
    Cancelled,
    /// The job's cost can never fit its model's limits; the source says which limit.
    #[error("the request for model {model:?} can never be admitted by its rate limits")]
    NeverFits {
        /// The model.
        model: String,
        /// The limiter's answer ([`ReserveError::NeverFits`]).
        #[source]
        source: ReserveError,
    },
    /// The receiver of dispatched jobs (the [`Handoff`](crate::Handoff)) is gone, so the
    /// model's lane stopped; the job was not sent.
    #[error(
        "the component that sends dispatched requests has stopped, so the request was not sent; \
         keep the dispatch receiver alive while the queue runs"
    )]
    HandoffClosed,
    /// A job handed back with [`Lanes::requeue_front`](crate::Lanes::requeue_front) was
    /// refused by its lane because a job with the same key is still queued.
    #[error("the job could not be put back in its queue: a job with the same key is still queued")]
    RequeueRefused,
    /// A lane could not start its dispatcher because no tokio runtime was running.
    #[error("the request queue must be used from within a tokio runtime")]
    NoRuntime,
    /// [`LanesBuilder::capacity`](crate::LanesBuilder::capacity) was zero.
    #[error("a lane capacity must be at least 1")]
    ZeroCapacity,
}

impl QueueError {
    /// Whether the job was refused because its lane was full.
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full { .. })
    }

    /// Whether the job was cancelled (and nothing was charged).
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Self::Cancelled)
    }

    /// Whether the queue is shut down.
    pub fn is_shut_down(&self) -> bool {
        matches!(self, Self::ShutDown)
    }

    /// The limiter's refusal, for [`NeverFits`](Self::NeverFits).
    pub fn reserve_error(&self) -> Option<&ReserveError> {
        match self {
            Self::NeverFits { source, .. } => Some(source),
            _ => None,
        }
    }
}
