//! [`CliError`]: why a command stopped, and the exit code it means.

use std::io;
use std::process::ExitCode;

use crate::output::OutputError;

/// Exit code: everything succeeded.
pub(crate) const EXIT_OK: u8 = 0;
/// Exit code: some requests failed (or were skipped or not run).
pub(crate) const EXIT_FAILED: u8 = 1;
/// Exit code: bad usage or configuration; nothing was sent.
pub(crate) const EXIT_USAGE: u8 = 2;

/// Why a command could not do its work. Every message names the cause and the fix.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// Neither an API key nor `--mock`.
    #[error(
        "no API key: set GROQ_API_KEY or pass --mock (to run against the embedded emulator), \
         or put \"api_key\" in the --config file"
    )]
    MissingKey,
    /// The configuration could not be loaded.
    #[error("{context}")]
    Config {
        /// Where it came from and what to do.
        context: String,
        /// The cause.
        #[source]
        source: Box<groq_config::ConfigError>,
    },
    /// A flag or argument does not make sense.
    #[error("{0}")]
    Usage(String),
    /// A file could not be read or written.
    #[error("cannot {action} {path}; check the path and its permissions")]
    File {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The output file cannot be resumed or written.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// The embedded emulator could not start.
    #[error("the embedded emulator could not start; check --mock-time-scale and the limits")]
    Mock(#[source] groq_mock::MockError),
    /// The client failed.
    #[error("{context}")]
    Client {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: Box<groq_client::Error>,
    },
}

impl CliError {
    /// A client error with what was being done.
    pub(crate) fn client(context: impl Into<String>, source: groq_client::Error) -> Self {
        Self::Client {
            context: context.into(),
            source: Box::new(source),
        }
    }

    /// A file error.
    pub(crate) fn file(action: &'static str, path: &std::path::Path, source: io::Error) -> Self {
        Self::File {
            action,
            path: path.display().to_string(),
            source,
        }
    }

    /// The exit code: 2 for usage and configuration errors, 1 for failures of the work.
    pub(crate) fn exit_code(&self) -> ExitCode {
        let code = match self {
            Self::Client { source, .. } if source.kind() != groq_client::ErrorKind::Config => {
                EXIT_FAILED
            }
            _ => EXIT_USAGE,
        };
        ExitCode::from(code)
    }

    /// The message with its causes, `cause: cause: ...`.
    pub(crate) fn report(&self) -> String {
        let mut message = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            source = cause.source();
        }
        message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_and_reports() {
        assert_eq!(CliError::MissingKey.exit_code(), ExitCode::from(EXIT_USAGE));
        assert!(
            CliError::MissingKey
                .report()
                .contains("set GROQ_API_KEY or pass --mock")
        );
        let err = CliError::file(
            "read",
            std::path::Path::new("in.jsonl"),
            io::Error::new(io::ErrorKind::NotFound, "No such file"),
        );
        assert_eq!(
            err.report(),
            "cannot read in.jsonl; check the path and its permissions: No such file"
        );
        let failed = CliError::client("the request failed", groq_client::Error::Cancelled);
        assert_eq!(failed.exit_code(), ExitCode::from(EXIT_FAILED));
    }
}
