//! The crate's error type.

/// What can go wrong in `groq-tokens`. Counting itself never fails; only configuration can.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A [`CalibrationConfig`](crate::CalibrationConfig) setting is out of range.
    #[error("invalid calibration setting `{setting}` = {value}: expected {expected}")]
    InvalidCalibration {
        /// The setting's name, e.g. `prior`.
        setting: &'static str,
        /// The rejected value.
        value: f64,
        /// What would be valid.
        expected: String,
    },
}
