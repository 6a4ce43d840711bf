//! `groqchat serve`: the pacing pipeline behind Groq's own HTTP API, for clients in any
//! language.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use groq_gateway::{Gateway, GatewayKeys, GatewaySettings, JsonLog};

use crate::connect::{self, ConnectArgs};
use crate::error::{CliError, EXIT_FAILED, EXIT_OK};

/// The environment variable with gateway keys (comma-separated; `sha256:HEX` allowed).
const KEYS_VARIABLE: &str = "GROQCHAT_GATEWAY_KEYS";

/// `groqchat serve` options.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on; port 0 picks a free port. Without gateway keys only a loopback
    /// address is allowed.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Gateway settings file (JSON): gateway_keys (keys or sha256:HEX digests),
    /// pass_through, queue_bound, max_body_bytes, header_read_timeout_secs,
    /// max_connections, max_connections_per_ip, drain_timeout_secs. Gateway keys can also
    /// come from GROQCHAT_GATEWAY_KEYS (comma-separated).
    #[arg(long, value_name = "FILE")]
    gateway_config: Option<PathBuf>,
    /// Use a client's own Groq key (a bearer that is not a gateway key) upstream, paced
    /// under its own fingerprint.
    #[arg(long)]
    pass_through: bool,
    /// The most requests queued per model; more are answered 429 queue_full.
    #[arg(long, value_name = "N")]
    queue_bound: Option<usize>,
    /// Seconds a graceful shutdown (SIGTERM, Ctrl-C) waits for requests in flight and
    /// queued.
    #[arg(long, value_name = "SECONDS")]
    drain_timeout: Option<f64>,
    /// Access log level on stderr (JSON lines): error, warn, info, debug, trace or off.
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    log_level: String,
    #[command(flatten)]
    connect: ConnectArgs,
}

/// The gateway settings from the flags, the settings file and the environment.
fn settings(args: &ServeArgs) -> Result<GatewaySettings, CliError> {
    let mut settings = GatewaySettings::default().addr(args.addr);
    if let Some(path) = &args.gateway_config {
        settings = settings
            .with_file(path)
            .map_err(|e| CliError::Usage(e.to_string()))?;
    }
    if let Ok(value) = std::env::var(KEYS_VARIABLE)
        && !value.trim().is_empty()
    {
        let keys = GatewayKeys::parse(value.split(','))
            .map_err(|e| CliError::Usage(format!("{KEYS_VARIABLE}: {e}")))?;
        settings = settings.keys(keys);
    }
    if args.pass_through {
        settings = settings.pass_through(true);
    }
    if let Some(bound) = args.queue_bound {
        settings = settings.queue_bound(bound);
    }
    if let Some(seconds) = args.drain_timeout {
        let timeout = Duration::try_from_secs_f64(seconds).map_err(|_| {
            CliError::Usage(format!(
                "--drain-timeout must be a number of seconds from 0 to about 584 billion years, \
                 got {seconds}"
            ))
        })?;
        settings = settings.drain_timeout(timeout);
    }
    Ok(settings)
}

fn log_level(text: &str) -> Result<Option<tracing::Level>, CliError> {
    Ok(Some(match text.to_ascii_lowercase().as_str() {
        "off" => return Ok(None),
        "error" => tracing::Level::ERROR,
        "warn" => tracing::Level::WARN,
        "info" => tracing::Level::INFO,
        "debug" => tracing::Level::DEBUG,
        "trace" => tracing::Level::TRACE,
        other => {
            return Err(CliError::Usage(format!(
                "--log-level must be error, warn, info, debug, trace or off, got {other:?}"
            )));
        }
    }))
}

/// Runs `groqchat serve` until SIGTERM or Ctrl-C.
#[allow(clippy::print_stdout)]
pub(crate) async fn run(args: ServeArgs) -> Result<ExitCode, CliError> {
    let settings = settings(&args)?;
    if settings.keys.is_empty() && !settings.addr.ip().is_loopback() {
        return Err(CliError::Usage(
            groq_gateway::GatewayError::Unprotected {
                addr: settings.addr,
            }
            .to_string(),
        ));
    }
    if let Some(level) = log_level(&args.log_level)? {
        let _ = tracing::subscriber::set_global_default(JsonLog::stderr(level));
    }
    let bound = settings.queue_bound;
    let connection = connect::connect_with(&args.connect, |builder| {
        builder
            .lane_capacity(bound)
            .when_full(groq_client::WhenFull::Reject)
    })
    .await?;
    let gateway = Gateway::builder(connection.client.clone())
        .settings(settings)
        .start()
        .await
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "{}", gateway.base_url());
    let _ = stdout.flush();
    let report = gateway.run_until(groq_mock::wait_for_termination()).await;
    connection.close().await;
    if report.drained {
        Ok(ExitCode::from(EXIT_OK))
    } else {
        Ok(ExitCode::from(EXIT_FAILED))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        serve: ServeArgs,
    }

    #[test]
    fn flags_make_the_settings() {
        let args = Wrapper::parse_from([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--queue-bound",
            "9",
            "--drain-timeout",
            "1.5",
            "--pass-through",
        ])
        .serve;
        let settings = settings(&args).unwrap();
        assert_eq!(settings.addr.port(), 0);
        assert_eq!(settings.queue_bound, 9);
        assert_eq!(settings.drain_timeout, Duration::from_millis(1_500));
        assert!(settings.pass_through);
        assert!(log_level("loud").is_err());
        assert_eq!(log_level("off").unwrap(), None);
    }
}
