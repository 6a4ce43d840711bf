//! `groqchat`: the command line of groqchat.
//!
//! The top of the groqchat stack: it drives `groq-client` (which paces requests through
//! Groq's per-model limits with `groq-queue` and `groq-ratelimit`), counts tokens with
//! `groq-tokens`, reads limits with `groq-config`, and embeds `groq-mock` for offline runs.
//!
//! The main job runs a batch file through the limits in the least time:
//!
//! ```text
//! groqchat batch examples/data/questions.jsonl -o results.jsonl --mock
//! ```
//!
//! | command | does |
//! |---|---|
//! | `batch INPUT -o OUTPUT` | sends every request of a JSON Lines batch, writes batch-format results, resumes |
//! | `chat [PROMPT]` | streams one answer, or an interactive conversation with memory |
//! | `models` | the models the API offers |
//! | `limits [MODEL]` | the configured quota; `--probe` for the live state |
//! | `tokens (TEXT \| --file F \| --chat M.json)` | token counts as groq-tokens makes them |
//! | `mock` | the Groq emulator (the `groq-mock` binary's flags) |
//! | `completions SHELL` | a completion script for bash, zsh, fish or powershell |
//! | `serve` | an OpenAI-compatible gateway on a local address, pacing every client's requests |
//!
//! Exit codes: 0 success, 1 some requests failed (or were skipped or not run), 2 usage or
//! configuration error. Errors go to stderr and say what to do. A closed stdout (`groqchat
//! limits | head`) ends any command quietly. `-v`/`-vv` (or `RUST_LOG`) print the library's
//! tracing output on stderr.
//!
//! # Features
//!
//! None.

mod audio;
mod bar_target;
mod batch;
mod chat;
mod commands;
mod connect;
mod error;
mod input;
mod logging;
mod model_check;
mod output;
mod plan;
mod progress;
mod remote;
mod resources;
mod serve;
mod signals;
mod stdio;
mod summary;
mod tools;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::CliError;

/// Groq Cloud from the command line: batches through the rate limits in the least time, with
/// no avoidable 429, plus chat, models, limits, token counts and an offline emulator.
///
/// Connection: GROQ_API_KEY and GROQ_BASE_URL from the environment, --config FILE for models
/// and limits, or --mock for the embedded emulator.
#[derive(Debug, Parser)]
#[command(name = "groqchat", version)]
pub(crate) struct Cli {
    /// Print the library's tracing output on stderr: -v for debug, -vv for trace (RUST_LOG
    /// gives a finer filter, e.g. RUST_LOG=groq_client=debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send every request of a JSON Lines batch file through the rate limits and write
    /// batch-format results; resumes a partial run.
    Batch(batch::BatchArgs),
    /// Stream an answer, or chat interactively (no PROMPT).
    Chat(chat::ChatArgs),
    /// List the models the API offers.
    Models(commands::ModelsArgs),
    /// Show a model's configured limits (or every configured model's).
    Limits(commands::LimitsArgs),
    /// Count tokens as the client estimates them.
    Tokens(commands::TokensArgs),
    /// Run the Groq emulator until Ctrl-C; prints its base URL first.
    Mock(groq_mock::MockArgs),
    /// Print a shell completion script (bash, zsh, fish or powershell) to stdout.
    Completions(tools::CompletionsArgs),
    /// Write the manual pages (groqchat.1 and one per command).
    #[command(hide = true)]
    Man(tools::ManArgs),
    /// Serve Groq's API on a local address through the pacing pipeline (an
    /// OpenAI-compatible gateway for any language); prints its base URL first.
    Serve(serve::ServeArgs),
    /// Transcribe audio files, paced under the audio-seconds limits; one batch-output line
    /// per file, resumable.
    Transcribe(audio::AudioArgs),
    /// Translate the speech of audio files into English, like `transcribe`.
    Translate(audio::AudioArgs),
    /// Speak a text into an audio file.
    Speak(audio::SpeakArgs),
    /// Files of the Batch API: list, upload, download, delete.
    #[command(subcommand)]
    Files(resources::FilesAction),
    /// Remote batches: list, show, cancel, results.
    #[command(subcommand)]
    Batches(resources::BatchesAction),
}

#[allow(clippy::print_stderr)]
fn main() -> ExitCode {
    error::quiet_on_closed_stdout();
    let cli = Cli::parse();
    logging::init(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("groqchat: cannot start the async runtime: {e}");
            return ExitCode::from(error::EXIT_USAGE);
        }
    };
    let outcome: Result<ExitCode, CliError> = runtime.block_on(async {
        match cli.command {
            Command::Batch(args) => batch::run(args).await,
            Command::Chat(args) => chat::run(args).await,
            Command::Models(args) => commands::models(args).await,
            Command::Limits(args) => commands::limits(args).await,
            Command::Tokens(args) => commands::tokens(args),
            Command::Mock(args) => commands::mock(args).await,
            Command::Completions(args) => tools::completions(&args),
            Command::Man(args) => tools::man(&args),
            Command::Serve(args) => serve::run(args).await,
            Command::Transcribe(args) => audio::run(args, audio::Task::Transcribe).await,
            Command::Translate(args) => audio::run(args, audio::Task::Translate).await,
            Command::Speak(args) => audio::speak(args).await,
            Command::Files(action) => resources::files(action).await,
            Command::Batches(action) => resources::batches(action).await,
        }
    });
    match outcome {
        Ok(code) => code,
        Err(CliError::Closed) => ExitCode::from(error::EXIT_OK),
        Err(err) => {
            eprintln!("groqchat: {}", err.report());
            err.exit_code()
        }
    }
}
