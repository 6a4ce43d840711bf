//! `groqchat chat`: one streamed answer, or an interactive conversation with memory.

use std::io::Write as _;
use std::process::ExitCode;

use groq_client::{ChatRequest, GroqClient, Message, Priority};
use groq_tokens::{TiktokenCounter, TokenCounter};
use tokio::io::{AsyncBufReadExt as _, BufReader};

use crate::connect::{self, ConnectArgs};
use crate::error::{CliError, EXIT_OK};

/// Arguments of `groqchat chat`.
#[derive(Debug, clap::Args)]
pub(crate) struct ChatArgs {
    /// The model.
    #[arg(short, long, default_value = "llama-3.1-8b-instant")]
    pub(crate) model: String,
    /// A system message that starts the conversation.
    #[arg(short, long, value_name = "TEXT")]
    pub(crate) system: Option<String>,
    /// The most tokens of each answer.
    #[arg(long, value_name = "TOKENS")]
    pub(crate) max_completion_tokens: Option<u32>,
    /// Sampling temperature (0 to 2).
    #[arg(long)]
    pub(crate) temperature: Option<f64>,
    /// The question; without one, an interactive conversation reads lines from stdin
    /// (`/reset` forgets the conversation, `/exit` or end of input leaves).
    #[arg(value_name = "PROMPT")]
    pub(crate) prompt: Vec<String>,
    /// Connection.
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
}

/// Runs `groqchat chat`.
#[allow(clippy::print_stderr)]
pub(crate) async fn run(args: ChatArgs) -> Result<ExitCode, CliError> {
    let connection = connect::connect(&args.connect).await?;
    let client = connection.client.clone();
    let budget = history_budget(&args, &connection.config);
    let system = args.system.clone().map(Message::system);
    let outcome = if args.prompt.is_empty() {
        interactive(&client, &args, system, budget).await
    } else {
        let messages: Vec<Message> = system
            .into_iter()
            .chain([Message::user(args.prompt.join(" "))])
            .collect();
        stream_answer(&client, &args, messages).await.map(|_| ())
    };
    connection.close().await;
    outcome.map(|()| ExitCode::from(EXIT_OK))
}

/// The prompt tokens a conversation may use: the context window less the answer's budget
/// (`None` when the window is unknown).
fn history_budget(args: &ChatArgs, config: &groq_config::Config) -> Option<u64> {
    let model = config.resolve_model(&args.model).ok()?;
    let window = u64::from(model.context_window?);
    let answer = args
        .max_completion_tokens
        .unwrap_or_else(|| config.completion_allowance(&model));
    Some(window.saturating_sub(u64::from(answer)))
}

/// The request for `messages` with the command's options.
fn request(args: &ChatArgs, messages: Vec<Message>) -> ChatRequest {
    let mut request = ChatRequest::new(args.model.clone()).messages(messages);
    if let Some(tokens) = args.max_completion_tokens {
        request = request.max_completion_tokens(tokens);
    }
    if let Some(temperature) = args.temperature {
        request = request.temperature(temperature);
    }
    request
}

/// Streams one answer to stdout and returns its text.
async fn stream_answer(
    client: &GroqClient,
    args: &ChatArgs,
    messages: Vec<Message>,
) -> Result<String, CliError> {
    let mut stream = client
        .chat_stream(request(args, messages))
        .priority(Priority::High)
        .await
        .map_err(|e| CliError::client("the chat request failed", e))?;
    let mut stdout = std::io::stdout();
    let mut answer = String::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| CliError::client("the answer broke off", e))?;
        if let Some(text) = chunk.text() {
            answer.push_str(text);
            let _ = stdout.write_all(text.as_bytes());
            let _ = stdout.flush();
        }
    }
    let _ = writeln!(stdout);
    Ok(answer)
}

/// The interactive conversation.
#[allow(clippy::print_stderr)]
async fn interactive(
    client: &GroqClient,
    args: &ChatArgs,
    system: Option<Message>,
    budget: Option<u64>,
) -> Result<(), CliError> {
    let counter = TiktokenCounter::new();
    let mut history: Vec<Message> = Vec::new();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    eprintln!(
        "chatting with {} (/reset forgets, /exit or Ctrl-D leaves)",
        args.model
    );
    loop {
        eprint!("> ");
        let line = match lines.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(e) => return Err(CliError::file("read", std::path::Path::new("stdin"), e)),
        };
        let line = line.trim();
        match line {
            "" => continue,
            "/exit" | "/quit" => break,
            "/reset" => {
                history.clear();
                eprintln!("(conversation forgotten)");
                continue;
            }
            _ => {}
        }
        history.push(Message::user(line));
        if let Some(budget) = budget {
            let dropped = trim_history(&mut history, system.as_ref(), budget, |messages| {
                counter.count_request(&request(args, messages.to_vec()))
            });
            if dropped > 0 {
                eprintln!("(the {dropped} oldest messages no longer fit the context window)");
            }
        }
        let messages: Vec<Message> = system.iter().cloned().chain(history.clone()).collect();
        match stream_answer(client, args, messages).await {
            Ok(answer) => history.push(Message::assistant(answer)),
            Err(e) => {
                // The question stays unanswered; the conversation goes on.
                history.pop();
                eprintln!("groqchat: {}", e.report());
            }
        }
    }
    Ok(())
}

/// Drops the oldest messages of `history` until `count(system + history)` fits `budget`,
/// keeping at least the last message. Returns how many were dropped.
fn trim_history(
    history: &mut Vec<Message>,
    system: Option<&Message>,
    budget: u64,
    count: impl Fn(&[Message]) -> u64,
) -> usize {
    let mut dropped = 0;
    while history.len() > 1 {
        let messages: Vec<Message> = system
            .into_iter()
            .cloned()
            .chain(history.iter().cloned())
            .collect();
        if count(&messages) <= budget {
            break;
        }
        history.remove(0);
        dropped += 1;
    }
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts one token per character of text content.
    fn chars(messages: &[Message]) -> u64 {
        messages
            .iter()
            .filter_map(|m| m.content())
            .map(|c| c.text().chars().count() as u64)
            .sum()
    }

    #[test]
    fn trimming_drops_the_oldest_until_the_window_fits() {
        let mut history = vec![
            Message::user("aaaa"),
            Message::assistant("bbbb"),
            Message::user("cc"),
            Message::assistant("dd"),
            Message::user("e"),
        ];
        let system = Message::system("ss");
        // 2 (system) + 2 + 2 + 1 = 7 fits after dropping the first two.
        assert_eq!(trim_history(&mut history, Some(&system), 7, chars), 2);
        assert_eq!(history.len(), 3);
        assert_eq!(chars(&history), 5);
        // Nothing to drop when it fits.
        assert_eq!(trim_history(&mut history, Some(&system), 7, chars), 0);
        // The last message always stays, even when it alone is too long.
        assert_eq!(trim_history(&mut history, None, 0, chars), 2);
        assert_eq!(history.len(), 1);
    }

    #[test]
    fn trimming_with_the_real_counter() {
        let counter = TiktokenCounter::new();
        let long = "word ".repeat(200);
        let mut history = vec![
            Message::user(long.clone()),
            Message::assistant(long),
            Message::user("What did I say?"),
        ];
        let count = |m: &[Message]| {
            counter.count_request(&ChatRequest::new("llama-3.1-8b-instant").messages(m.to_vec()))
        };
        let budget = 100;
        let dropped = trim_history(&mut history, None, budget, count);
        assert_eq!(dropped, 2);
        assert!(count(&history) <= budget);
    }

    #[test]
    fn the_budget_leaves_room_for_the_answer() {
        let config = groq_config::Config::default();
        let args = ChatArgs {
            model: "llama-3.1-8b-instant".into(),
            system: None,
            max_completion_tokens: Some(1_000),
            temperature: None,
            prompt: vec![],
            connect: ConnectArgs {
                redis: None,
                config: None,
                mock: false,
                mock_time_scale: 60.0,
            },
        };
        assert_eq!(history_budget(&args, &config), Some(131_072 - 1_000));
        let unknown = ChatArgs {
            model: "nobody/knows".into(),
            ..args
        };
        assert_eq!(history_budget(&unknown, &config), None);
    }
}
