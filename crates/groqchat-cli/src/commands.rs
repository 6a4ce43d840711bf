//! The small subcommands: `models`, `limits`, `tokens` and `mock`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use groq_client::{ChatRequest, Message, Priority};
use groq_config::Config;
use groq_ratelimit::Quota;
use groq_tokens::{TiktokenCounter, TokenCounter, encoding_for_model};
use serde_json::Value;

use crate::connect::{self, ConnectArgs};
use crate::error::{CliError, EXIT_OK, print_bytes, print_out};
use crate::plan::format_duration;

/// Arguments of `groqchat models`: the list, or one model with `show ID` / `delete ID`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct ModelsArgs {
    /// One model instead of the list.
    #[command(subcommand)]
    pub(crate) action: Option<crate::resources::ModelsAction>,
    /// Print the API's answer as JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// Connection.
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
}

/// Runs `groqchat models`: the models the API offers.
pub(crate) async fn models(args: ModelsArgs) -> Result<ExitCode, CliError> {
    if let Some(action) = args.action {
        return crate::resources::models(action).await;
    }
    let connection = connect::connect(&args.connect).await?;
    let listed = connection.client.models().await;
    connection.close().await;
    let list = listed.map_err(|e| CliError::client("cannot list the models", e))?;
    let mut text = String::new();
    if args.json {
        // The server's own bytes, not the typed view re-serialized.
        let mut bytes = list.to_bytes().to_vec();
        bytes.push(b'\n');
        print_bytes(&bytes)?;
        return Ok(ExitCode::from(EXIT_OK));
    } else {
        let width = list
            .data
            .iter()
            .map(|m| m.id.len())
            .max()
            .unwrap_or(5)
            .max(5);
        text.push_str(&format!(
            "{:width$}  {:>14}  OWNER\n",
            "MODEL", "CONTEXT WINDOW"
        ));
        for model in &list.data {
            text.push_str(&format!(
                "{:width$}  {:>14}  {}\n",
                model.id,
                model
                    .context_window
                    .map_or_else(|| "-".to_owned(), |w| w.to_string()),
                model.owned_by.as_deref().unwrap_or("-")
            ));
        }
    }
    print_out(&text)?;
    Ok(ExitCode::from(EXIT_OK))
}

/// Arguments of `groqchat limits`.
#[derive(Debug, clap::Args)]
pub(crate) struct LimitsArgs {
    /// The model (default: every configured model).
    #[arg(value_name = "MODEL")]
    pub(crate) model: Option<String>,
    /// Send one tiny request (1 completion token) to learn the live state from the server's
    /// rate-limit headers, and show what is used and left. Needs a key or --mock.
    #[arg(long, requires = "model")]
    pub(crate) probe: bool,
    /// Print one JSON object per model instead of text.
    #[arg(long)]
    pub(crate) json: bool,
    /// Connection.
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
}

/// Runs `groqchat limits`: the configured quota, and with `--probe` the live snapshot.
pub(crate) async fn limits(args: LimitsArgs) -> Result<ExitCode, CliError> {
    if args.probe {
        let model = args.model.clone().unwrap_or_default();
        let connection = connect::connect(&args.connect).await?;
        let client = connection.client.clone();
        let probe = client
            .chat(
                ChatRequest::new(model.clone())
                    .user("ping")
                    .max_completion_tokens(1),
            )
            .priority(Priority::High)
            .await;
        let snapshot = client.limits(&model);
        connection.close().await;
        probe.map_err(|e| CliError::client(format!("the probe request to {model} failed"), e))?;
        let snapshot =
            snapshot.map_err(|e| CliError::client(format!("no limits for {model}"), e))?;
        if args.json {
            let dimensions: Vec<Value> = snapshot
                .dimensions
                .iter()
                .map(|usage| {
                    serde_json::json!({
                        "dimension": usage.dimension.label(),
                        "limit": usage.limit,
                        "period_secs": usage.period.as_secs_f64(),
                        "used": usage.used,
                        "remaining": usage.remaining,
                        "reset_secs": usage.reset.as_secs_f64(),
                    })
                })
                .collect();
            let value = serde_json::json!({
                "model": model,
                "probed": true,
                "limits": dimensions,
                "context_window": snapshot.context_window,
            });
            print_out(&format!("{value}\n"))?;
            return Ok(ExitCode::from(EXIT_OK));
        }
        let mut text = format!("{model} (after one probe request)\n");
        for usage in &snapshot.dimensions {
            text.push_str(&format!(
                "  {:<4} {:>9} per {:<8} used {:>9}  left {:>9}  full again in {}\n",
                usage.dimension.label(),
                usage.limit,
                format_duration(usage.period),
                usage.used,
                usage.remaining,
                format_duration(usage.reset)
            ));
        }
        if let Some(window) = snapshot.context_window {
            text.push_str(&format!("  context window {window} tokens\n"));
        }
        print_out(&text)?;
        return Ok(ExitCode::from(EXIT_OK));
    }
    connect::check_time_scale(&args.connect)?;
    let config = connect::load_config(&args.connect)?;
    let models: Vec<String> = match &args.model {
        Some(model) => vec![model.clone()],
        None => config.models.keys().cloned().collect(),
    };
    if let Some(shared) = connect::shared_limits(&args.connect, &models).await? {
        print_out(&shared)?;
        return Ok(ExitCode::from(EXIT_OK));
    }
    for model in models {
        let text = if args.json {
            format!("{}\n", limits_json(&config, &model)?)
        } else {
            describe_limits(&config, &model)?
        };
        print_out(&text)?;
    }
    Ok(ExitCode::from(EXIT_OK))
}

/// The configured limits of `model` as one JSON object.
fn limits_json(config: &Config, model: &str) -> Result<Value, CliError> {
    let resolved = config
        .resolve_model(model)
        .map_err(|source| CliError::Config {
            context: format!("no limits for model {model}"),
            source: Box::new(source),
        })?;
    let quota = Quota::from_limits(&resolved.limits);
    let limits: Vec<Value> = quota
        .rates()
        .map(|(dimension, rate)| {
            serde_json::json!({
                "dimension": dimension.label(),
                "limit": rate.limit(),
                "period_secs": rate.period().as_secs_f64(),
            })
        })
        .collect();
    Ok(serde_json::json!({
        "model": model,
        "configured": config.model(model).is_some(),
        "limits": limits,
        "max_in_flight": quota.max_in_flight(),
        "context_window": resolved.context_window,
        "completion_allowance": config.completion_allowance(&resolved),
    }))
}

/// The configured limits of `model` as text.
fn describe_limits(config: &Config, model: &str) -> Result<String, CliError> {
    let resolved = config
        .resolve_model(model)
        .map_err(|source| CliError::Config {
            context: format!("no limits for model {model}"),
            source: Box::new(source),
        })?;
    let configured = config.model(model).is_some();
    let mut text = format!(
        "{model}{}\n",
        if configured {
            ""
        } else {
            " (not configured: the unknown-model policy applies)"
        }
    );
    let quota = Quota::from_limits(&resolved.limits);
    let mut any = false;
    for (dimension, rate) in quota.rates() {
        any = true;
        text.push_str(&format!("  {:<4} {rate}\n", dimension.label()));
    }
    if !any {
        text.push_str("  no rate limits\n");
    }
    if let Some(max) = quota.max_in_flight() {
        text.push_str(&format!("  at most {max} requests in flight\n"));
    }
    if let Some(window) = resolved.context_window {
        text.push_str(&format!("  context window {window} tokens\n"));
    }
    text.push_str(&format!(
        "  completion allowance {} tokens when a request sets none\n",
        config.completion_allowance(&resolved)
    ));
    Ok(text)
}

/// Arguments of `groqchat tokens`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["text", "file", "chat"])))]
pub(crate) struct TokensArgs {
    /// The model whose tokenizer counts (cl100k_base for most, o200k_base for
    /// openai/gpt-oss-*). With --chat, default: the file's "model", else llama-3.1-8b-instant.
    #[arg(short, long)]
    pub(crate) model: Option<String>,
    /// The text to count.
    #[arg(value_name = "TEXT")]
    pub(crate) text: Option<String>,
    /// Count the text of this file (`-` reads stdin).
    #[arg(long, value_name = "FILE")]
    pub(crate) file: Option<PathBuf>,
    /// Count the prompt tokens of a chat: a JSON array of messages, or a chat request object
    /// with "messages" (framing included, as the client estimates it). `-` reads stdin.
    #[arg(long, value_name = "MESSAGES.json")]
    pub(crate) chat: Option<PathBuf>,
    /// Print `{"model", "encoding", "tokens"}` instead of the bare number.
    #[arg(long)]
    pub(crate) json: bool,
}

/// The model `tokens` counts for when none is given.
const DEFAULT_MODEL: &str = "llama-3.1-8b-instant";

/// Runs `groqchat tokens`.
pub(crate) fn tokens(args: TokensArgs) -> Result<ExitCode, CliError> {
    let counter = TiktokenCounter::new();
    let (model, count) = if let Some(path) = &args.chat {
        let text = crate::stdio::read_text(path)?;
        let request = chat_request(&text, args.model.as_deref()).map_err(|why| {
            CliError::Usage(format!(
                "{} is not a chat: {why}; give a JSON array of messages or an object with \"messages\"",
                path.display()
            ))
        })?;
        let count = counter.count_request(&request);
        (request.model().to_owned(), count)
    } else {
        let model = args.model.unwrap_or_else(|| DEFAULT_MODEL.to_owned());
        let text = match (&args.file, &args.text) {
            (Some(path), _) => crate::stdio::read_text(path)?,
            (None, Some(text)) => text.clone(),
            (None, None) => {
                return Err(CliError::Usage(
                    "give a TEXT, --file FILE or --chat MESSAGES.json".to_owned(),
                ));
            }
        };
        let count = counter.count_text(&model, &text);
        (model, count)
    };
    if args.json {
        let value = serde_json::json!({
            "model": model,
            "encoding": encoding_for_model(&model).name(),
            "tokens": count,
        });
        print_out(&format!("{value}\n"))?;
    } else {
        print_out(&format!("{count}\n"))?;
    }
    Ok(ExitCode::from(EXIT_OK))
}

/// Reads a chat from JSON: an array of messages or a request object with `messages`.
fn chat_request(text: &str, model: Option<&str>) -> Result<ChatRequest, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON ({e})"))?;
    let (file_model, messages) = match value {
        Value::Array(messages) => (None, Value::Array(messages)),
        Value::Object(mut object) => {
            let model = object
                .get("model")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let messages = object
                .remove("messages")
                .ok_or_else(|| "the object has no \"messages\"".to_owned())?;
            (model, messages)
        }
        _ => return Err("neither an array nor an object".to_owned()),
    };
    let messages: Vec<Message> =
        serde_json::from_value(messages).map_err(|e| format!("bad messages ({e})"))?;
    let model = model
        .map(str::to_owned)
        .or(file_model)
        .unwrap_or_else(|| DEFAULT_MODEL.to_owned());
    Ok(ChatRequest::new(model).messages(messages))
}

/// Runs `groqchat mock`: the emulator, as the `groq-mock` binary runs it.
pub(crate) async fn mock(args: groq_mock::MockArgs) -> Result<ExitCode, CliError> {
    let server = args
        .to_builder()
        .map_err(CliError::Emulator)?
        .start()
        .await
        .map_err(CliError::Emulator)?;
    // A closed stdout does not stop the emulator: it serves until Ctrl-C.
    let _ = print_out(&format!("{}\n", server.base_url()));
    groq_mock::wait_for_termination().await;
    // Give in-flight responses a moment; shutdown is graceful.
    tokio::time::sleep(Duration::from_millis(10)).await;
    server.shutdown().await;
    Ok(ExitCode::from(EXIT_OK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chats_from_arrays_and_request_objects() {
        let request = chat_request(r#"[{"role":"user","content":"hi"}]"#, None).unwrap();
        assert_eq!(request.model(), DEFAULT_MODEL);
        assert_eq!(request.message_list().len(), 1);
        let request = chat_request(
            r#"{"model":"openai/gpt-oss-20b","messages":[{"role":"system","content":"s"},{"role":"user","content":"u"}]}"#,
            None,
        )
        .unwrap();
        assert_eq!(request.model(), "openai/gpt-oss-20b");
        assert_eq!(request.message_list().len(), 2);
        let request = chat_request(r#"{"model":"x","messages":[]}"#, Some("y")).unwrap();
        assert_eq!(request.model(), "y");
        assert!(
            chat_request("{}", None)
                .unwrap_err()
                .contains("no \"messages\"")
        );
        assert!(chat_request("3", None).is_err());
        // A message is a JSON object; one with a role this version does not know is kept.
        assert!(chat_request(r#"[3]"#, None).is_err());
        let kept = chat_request(r#"[{"role":"wizard","content":"x"}]"#, None).unwrap();
        assert_eq!(kept.message_list()[0].role(), "wizard");
    }

    #[test]
    fn limits_text() {
        let config = Config::default();
        let text = describe_limits(&config, "llama-3.1-8b-instant").unwrap();
        assert!(text.contains("RPM  30/min"), "{text}");
        assert!(text.contains("TPD  500000/day"), "{text}");
        assert!(text.contains("context window 131072"), "{text}");
        let unknown = describe_limits(&config, "someone/new-model").unwrap();
        assert!(unknown.contains("not configured"), "{unknown}");
    }
}
