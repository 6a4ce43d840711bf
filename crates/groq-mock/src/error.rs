//! The crate's error type.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the emulator could not be configured or started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MockError {
    /// The listening socket could not be bound.
    #[error("could not listen on {addr}: choose a free port, or port 0 for any free one")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The limits file could not be read.
    #[error("could not read the limits file {}: check the path", path.display())]
    LimitsFile {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The limits file is not a JSON object of model → `{rpm, rpd, tpm, tpd, context_window}`.
    #[error(
        "the limits file {} is not valid: it must map model ids to {{rpm, rpd, tpm, tpd, context_window}}, or be a groqchat configuration file",
        path.display()
    )]
    LimitsParse {
        /// The file.
        path: PathBuf,
        /// The parser's error, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// The limits file is not in the emulator's own format and not a valid groq-config file.
    #[error(
        "the limits file {} is not valid as a groqchat configuration (nor as {{model: {{rpm, rpd, tpm, tpd, context_window}}}})",
        path.display()
    )]
    LimitsConfig {
        /// The file.
        path: PathBuf,
        /// The configuration's error, naming the model and key.
        #[source]
        source: Box<groq_config::ConfigError>,
    },
    /// A setting is out of range; the message names it and the accepted values.
    #[error("invalid emulator setting: {0}")]
    InvalidConfig(String),
}
