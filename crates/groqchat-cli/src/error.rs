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
    /// `groqchat mock` could not start the emulator (its own flags name the fix).
    #[error("the emulator could not start")]
    Emulator(#[source] groq_mock::MockError),
    /// Stdout was closed by the reader (`groqchat limits | head`): the command ends quietly.
    #[error("stdout was closed")]
    Closed,
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

    /// The exit code: 2 for usage and configuration errors (a model that does not exist and a
    /// request the API refuses as invalid are usage errors too), 1 for failures of the work.
    pub(crate) fn exit_code(&self) -> ExitCode {
        use groq_client::ErrorKind;
        let code = match self {
            Self::Closed => EXIT_OK,
            Self::Client { source, .. }
                if !matches!(
                    source.kind(),
                    ErrorKind::Config | ErrorKind::ModelNotFound | ErrorKind::InvalidRequest
                ) =>
            {
                EXIT_FAILED
            }
            _ => EXIT_USAGE,
        };
        ExitCode::from(code)
    }

    /// The message with its causes, `cause: cause: ...`, in the command line's words.
    pub(crate) fn report(&self) -> String {
        let mut message = self.to_string();
        let mut source = std::error::Error::source(self);
        if let Self::Client { source: client, .. } = self
            && let groq_client::Error::ModelNotFound(not_found) = client.as_ref()
        {
            message.push_str(": ");
            message.push_str(&model_not_found(not_found.model(), not_found.message()));
            source = None;
        }
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

/// A model the API or the configuration does not know, said for the command line: the fix
/// names `groqchat models`, and the server's sentence keeps its one full stop.
pub(crate) fn model_not_found(model: &str, why: &str) -> String {
    let why = why.trim().trim_end_matches(['.', ';', ' ']);
    format!(
        "model `{model}` was not found ({why}); check the model id (`groqchat models` lists the \
         available ones) or add it to the --config file"
    )
}

/// Writes `text` to stdout and flushes; a closed stdout becomes [`CliError::Closed`].
pub(crate) fn print_out(text: &str) -> Result<(), CliError> {
    print_bytes(text.as_bytes())
}

/// Writes `bytes` to stdout as they are (a server's body, say); a closed pipe is
/// [`CliError::Closed`], which ends the process quietly.
pub(crate) fn print_bytes(bytes: &[u8]) -> Result<(), CliError> {
    use std::io::Write as _;
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|e| {
            if e.kind() == io::ErrorKind::BrokenPipe {
                CliError::Closed
            } else {
                CliError::file("write", std::path::Path::new("stdout"), e)
            }
        })
}

/// Makes a closed stdout end the process quietly (exit 0) instead of a panic with a backtrace:
/// `print!` panics with "failed printing to stdout: Broken pipe" when the reader went away
/// (`groqchat limits | head`), wherever it is called.
pub(crate) fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(i32::from(EXIT_OK));
        }
        default(info);
    }));
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
        assert_eq!(CliError::Closed.exit_code(), ExitCode::from(EXIT_OK));
    }

    #[test]
    fn a_missing_model_is_reported_in_cli_words() {
        // The local verdict of a configuration that rejects unknown models.
        let config = groq_client::Config::builder()
            .clear_models()
            .api_key("gsk_cli_error_test_0123456789")
            .model(groq_client::ModelConfig::new("llama-3.1-8b-instant"))
            .unknown_models(groq_config::UnknownModelPolicy::Reject)
            .build()
            .unwrap();
        let client = groq_client::GroqClient::builder()
            .config(config)
            .build()
            .unwrap();
        let missing = client.limits("llama-3.1-8b-instnat").unwrap_err();
        assert!(matches!(missing, groq_client::Error::ModelNotFound(_)));
        let err = CliError::client("the chat request failed", missing);
        let report = err.report();
        assert!(report.contains("`groqchat models` lists"), "{report}");
        assert!(report.contains("rejects unknown models"), "{report}");
        assert!(!report.contains("GroqClient"), "{report}");
        // The server's text ends with a period, which the CLI's words do not double.
        let words = model_not_found(
            "llama-3.1-8b-instnat",
            "The model `llama-3.1-8b-instnat` does not exist or you do not have access to it.",
        );
        assert!(!words.contains(".;") && !words.contains(".)"), "{words}");
        assert!(words.contains("access to it)"), "{words}");
        assert_eq!(err.exit_code(), ExitCode::from(EXIT_USAGE));
    }
}
