//! [`QueueError`]: everything that can go wrong in this crate.

/// Why a queue operation failed, or why a queued job was not dispatched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// A priority name was not one of the accepted ones.
    #[error("unknown priority {value:?}: use high, normal or low")]
    InvalidPriority {
        /// The rejected text (at most 64 characters of it).
        value: String,
    },
}
