//! Why a gateway could not start.

use std::net::SocketAddr;

/// Why a gateway could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// A non-loopback address without gateway keys: anyone who can reach it would spend
    /// the Groq key.
    #[error(
        "refusing to listen on {addr} without gateway keys: anyone who can reach it could use \
         the Groq key. Listen on a loopback address (127.0.0.1 or [::1]), or list client keys \
         in \"gateway_keys\" of the gateway settings file"
    )]
    Unprotected {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The settings file could not be read.
    #[error("the gateway settings file {path} cannot be used: {reason}")]
    Settings {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}
