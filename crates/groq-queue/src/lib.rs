//! Per-model request lanes for groqchat.

mod error;
mod priority;
mod scheduler;

pub use error::QueueError;
pub use priority::{AgingConfig, PerClass, Priority};
pub use scheduler::{AgingQueue, Key, Scheduler};
