//! Configuration for groqchat.
#![doc = "(crate documentation is completed with the rest of the crate)"]

mod rate;

pub use rate::{Rate, RateError};
