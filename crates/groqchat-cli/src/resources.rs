//! `groqchat files ...`, `groqchat batches ...` and `groqchat models show|delete`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use crate::connect::{self, ConnectArgs};
use crate::error::{CliError, EXIT_OK};

/// `groqchat files` actions.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum FilesAction {
    /// List the uploaded files.
    List {
        /// Connection.
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Upload a file (for the Batch API: --purpose batch).
    Upload {
        /// The file.
        path: PathBuf,
        /// What the file is for.
        #[arg(long, default_value = "batch")]
        purpose: String,
        /// Connection.
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Write a file's content to OUT (or stdout).
    Download {
        /// The file id.
        id: String,
        /// Where to write it.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Connection.
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Delete a file.
    Delete {
        /// The file id.
        id: String,
        /// Connection.
        #[command(flatten)]
        connect: ConnectArgs,
    },
}

/// `groqchat batches` actions.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum BatchesAction {
    /// List the batches.
    List {
        /// Connection.
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Show one batch.
    Show {
        /// The batch id.
        id: String,
        /// Connection.
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Cancel a batch.
    Cancel {
        /// The batch id.
        id: String,
        /// Connection.
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Write a finished batch's output and error lines to OUT (or stdout).
    Results {
        /// The batch id.
        id: String,
        /// Where to write them.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Connection.
        #[command(flatten)]
        connect: ConnectArgs,
    },
}

/// `groqchat models show|delete`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ModelsAction {
    /// Show one model as the API describes it.
    Show {
        /// The model id.
        id: String,
        /// Connection.
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Delete a (fine-tuned) model.
    Delete {
        /// The model id.
        id: String,
        /// Connection.
        #[command(flatten)]
        connect: ConnectArgs,
    },
}

#[allow(clippy::print_stdout)]
fn print_json<T: Serialize>(value: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

fn write_out(output: Option<&PathBuf>, bytes: &[u8]) -> Result<(), CliError> {
    match output {
        Some(path) => std::fs::write(path, bytes).map_err(|e| CliError::file("write", path, e)),
        None => std::io::stdout()
            .write_all(bytes)
            .map_err(|e| CliError::file("write", std::path::Path::new("stdout"), e)),
    }
}

/// Runs a `groqchat files` action.
pub(crate) async fn files(action: FilesAction) -> Result<ExitCode, CliError> {
    let connect = match &action {
        FilesAction::List { connect }
        | FilesAction::Upload { connect, .. }
        | FilesAction::Download { connect, .. }
        | FilesAction::Delete { connect, .. } => connect,
    };
    let connection = connect::connect(connect).await?;
    let client = connection.client.clone();
    let outcome = async {
        match &action {
            FilesAction::List { .. } => {
                let list = client
                    .files()
                    .await
                    .map_err(|e| CliError::client("cannot list the files", e))?;
                print_json(&list);
            }
            FilesAction::Upload { path, purpose, .. } => {
                let data = std::fs::read(path).map_err(|e| CliError::file("read", path, e))?;
                let name = path
                    .file_name()
                    .map_or_else(|| "file".to_owned(), |n| n.to_string_lossy().into_owned());
                let file = client
                    .upload_file(&name, data, purpose)
                    .await
                    .map_err(|e| CliError::client("cannot upload the file", e))?;
                print_json(&file);
            }
            FilesAction::Download { id, output, .. } => {
                let bytes = client
                    .file_content(id)
                    .await
                    .map_err(|e| CliError::client(format!("cannot download file {id}"), e))?;
                write_out(output.as_ref(), &bytes)?;
            }
            FilesAction::Delete { id, .. } => {
                let deleted = client
                    .delete_file(id)
                    .await
                    .map_err(|e| CliError::client(format!("cannot delete file {id}"), e))?;
                print_json(&deleted);
            }
        }
        Ok::<_, CliError>(())
    }
    .await;
    connection.close().await;
    outcome.map(|()| ExitCode::from(EXIT_OK))
}

/// Runs a `groqchat batches` action.
pub(crate) async fn batches(action: BatchesAction) -> Result<ExitCode, CliError> {
    let connect = match &action {
        BatchesAction::List { connect }
        | BatchesAction::Show { connect, .. }
        | BatchesAction::Cancel { connect, .. }
        | BatchesAction::Results { connect, .. } => connect,
    };
    let connection = connect::connect(connect).await?;
    let client = connection.client.clone();
    let outcome = async {
        match &action {
            BatchesAction::List { .. } => print_json(
                &client
                    .batches()
                    .await
                    .map_err(|e| CliError::client("cannot list the batches", e))?,
            ),
            BatchesAction::Show { id, .. } => print_json(
                &client
                    .batch(id)
                    .await
                    .map_err(|e| CliError::client(format!("cannot read batch {id}"), e))?,
            ),
            BatchesAction::Cancel { id, .. } => print_json(
                &client
                    .cancel_batch(id)
                    .await
                    .map_err(|e| CliError::client(format!("cannot cancel batch {id}"), e))?,
            ),
            BatchesAction::Results { id, output, .. } => {
                let batch = client
                    .batch(id)
                    .await
                    .map_err(|e| CliError::client(format!("cannot read batch {id}"), e))?;
                let mut all = Vec::new();
                for file in [&batch.output_file_id, &batch.error_file_id]
                    .into_iter()
                    .flatten()
                {
                    let bytes = client
                        .file_content(file)
                        .await
                        .map_err(|e| CliError::client(format!("cannot download file {file}"), e))?;
                    all.extend_from_slice(&bytes);
                    if !all.ends_with(b"\n") && !all.is_empty() {
                        all.push(b'\n');
                    }
                }
                if all.is_empty() {
                    return Err(CliError::Usage(format!(
                        "batch {id} has no results yet (status {})",
                        batch.status
                    )));
                }
                write_out(output.as_ref(), &all)?;
            }
        }
        Ok::<_, CliError>(())
    }
    .await;
    connection.close().await;
    outcome.map(|()| ExitCode::from(EXIT_OK))
}

/// Runs `groqchat models show|delete`.
pub(crate) async fn models(action: ModelsAction) -> Result<ExitCode, CliError> {
    let (ModelsAction::Show { connect, .. } | ModelsAction::Delete { connect, .. }) = &action;
    let connection = connect::connect(connect).await?;
    let client = connection.client.clone();
    let outcome = match &action {
        // The server's bytes, not the typed view re-serialized.
        ModelsAction::Show { id, .. } => client
            .model(id)
            .await
            .map_err(|e| CliError::client(format!("cannot read model {id}"), e))
            .and_then(|m| {
                let mut bytes = m.to_bytes().to_vec();
                bytes.push(b'\n');
                crate::error::print_bytes(&bytes)
            }),
        ModelsAction::Delete { id, .. } => client
            .delete_model(id)
            .await
            .map(|d| print_json(&d))
            .map_err(|e| CliError::client(format!("cannot delete model {id}"), e)),
    };
    connection.close().await;
    outcome.map(|()| ExitCode::from(EXIT_OK))
}
