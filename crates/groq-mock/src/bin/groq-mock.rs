//! `groq-mock`: runs the Groq emulator until killed.
//!
//! Prints the base URL (`http://ADDR/openai/v1`) on its first stdout line, then serves until
//! SIGTERM or Ctrl-C, when it shuts down gracefully.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser;
use groq_mock::{MockArgs, wait_for_termination};

/// A faithful Groq Cloud emulator: Groq's endpoints, limits, headers, errors and streams.
#[derive(Debug, Parser)]
#[command(name = "groq-mock", version)]
struct Cli {
    #[command(flatten)]
    mock: MockArgs,
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let server = match cli.mock.to_builder() {
        Ok(builder) => builder.start().await,
        Err(err) => Err(err),
    };
    let server = match server {
        Ok(server) => server,
        Err(err) => {
            let mut message = format!("groq-mock: {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "{}", server.base_url());
    let _ = stdout.flush();
    wait_for_termination().await;
    server.shutdown().await;
    ExitCode::SUCCESS
}
