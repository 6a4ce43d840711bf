//! `groqchat chat`: one streamed answer, or a conversation with memory.
//!
//! On a terminal the conversation has line editing and a history file (rustyline), Ctrl-C
//! stops an answer and returns to the prompt, and local commands (`/help`, ...) are handled
//! here, never sent to the model. With stdin not a terminal (`echo hi | groqchat chat`), each
//! line is a turn and stdout carries the answers only.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use groq_client::{ChatRequest, ErrorKind, GroqClient, Message, Priority};
use groq_config::Config;
use groq_tokens::{TiktokenCounter, TokenCounter};
use serde_json::json;
use tokio::io::{AsyncBufReadExt as _, BufReader, Lines, Stdin};

use crate::connect::{self, ConnectArgs};
use crate::error::{CliError, EXIT_FAILED, EXIT_OK, print_out};

/// Arguments of `groqchat chat`.
#[derive(Debug, clap::Args)]
pub(crate) struct ChatArgs {
    /// The model.
    #[arg(short, long, default_value = "llama-3.1-8b-instant")]
    pub(crate) model: String,
    /// A system message that starts the conversation.
    #[arg(short, long, value_name = "TEXT")]
    pub(crate) system: Option<String>,
    /// The most tokens of each answer (at least 1).
    #[arg(long, value_name = "TOKENS", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_completion_tokens: Option<u32>,
    /// Sampling temperature, 0 to 2.
    #[arg(long, value_parser = parse_temperature)]
    pub(crate) temperature: Option<f64>,
    /// Print each answer as one JSON object per line, `{"model", "content", "usage"}`,
    /// instead of streaming its text.
    #[arg(long)]
    pub(crate) json: bool,
    /// The question. Without one, a conversation: on a terminal with line editing, history
    /// and local commands (/help lists them); otherwise each line of stdin is a turn.
    #[arg(value_name = "PROMPT")]
    pub(crate) prompt: Vec<String>,
    /// Connection.
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
}

/// `--temperature`: a number from 0 to 2.
fn parse_temperature(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if (0.0..=2.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!(
            "{value} is out of range: the temperature goes from 0 to 2"
        ))
    }
}

/// The local commands, as `/help` prints them.
const HELP: &str = "\
/help          this list
/reset         forget the conversation (the system message stays)
/model NAME    talk to another model from the next question on
/system TEXT   set the system message (/system alone removes it)
/tokens        the conversation's prompt tokens and what the context window allows
/save FILE     write the conversation as JSON (`groqchat tokens --chat FILE` reads it)
/exit          leave (also Ctrl-D, or Ctrl-C twice)
//text         send `/text` to the model
Ctrl-C during an answer stops it.";

/// Runs `groqchat chat`.
pub(crate) async fn run(args: ChatArgs) -> Result<ExitCode, CliError> {
    let connection = connect::connect(&args.connect).await?;
    let client = connection.client.clone();
    let mut session = Session::new(&args, &connection.config);
    let outcome = if args.prompt.is_empty() {
        if std::io::stdin().is_terminal() {
            interactive(&client, &mut session).await.map(|()| true)
        } else {
            piped(&client, &mut session).await
        }
    } else {
        let question = args.prompt.join(" ");
        session.history.push(Message::user(question));
        match stream_answer(&client, &session, None).await {
            Ok(_) | Err(Stop::Interrupted) => Ok(true),
            Err(Stop::Failed(e)) => Err(e),
        }
    };
    connection.close().await;
    outcome.map(|answered| ExitCode::from(if answered { EXIT_OK } else { EXIT_FAILED }))
}

/// The conversation and the options that shape its requests.
#[derive(Debug)]
struct Session {
    model: String,
    system: Option<String>,
    max_completion_tokens: Option<u32>,
    temperature: Option<f64>,
    json: bool,
    config: Config,
    /// User and assistant messages, oldest first.
    history: Vec<Message>,
}

impl Session {
    fn new(args: &ChatArgs, config: &Config) -> Self {
        Self {
            model: args.model.clone(),
            system: args.system.clone(),
            max_completion_tokens: args.max_completion_tokens,
            temperature: args.temperature,
            json: args.json,
            config: config.clone(),
            history: Vec::new(),
        }
    }

    /// The system message, if any, then the history.
    fn messages(&self) -> Vec<Message> {
        self.system
            .iter()
            .map(|text| Message::system(text.clone()))
            .chain(self.history.iter().cloned())
            .collect()
    }

    /// The request for `messages` with the session's options.
    fn request(&self, messages: Vec<Message>) -> ChatRequest {
        let mut request = ChatRequest::new(self.model.clone()).messages(messages);
        if let Some(tokens) = self.max_completion_tokens {
            request = request.max_completion_tokens(tokens);
        }
        if let Some(temperature) = self.temperature {
            request = request.temperature(temperature);
        }
        request
    }

    /// The prompt tokens the conversation may use: the context window less the answer's
    /// budget (`None` when the window is unknown).
    fn budget(&self) -> Option<u64> {
        let model = self.config.resolve_model(&self.model).ok()?;
        let window = u64::from(model.context_window?);
        let answer = self
            .max_completion_tokens
            .unwrap_or_else(|| self.config.completion_allowance(&model));
        Some(window.saturating_sub(u64::from(answer)))
    }

    /// The prompt tokens of the conversation as the client estimates them.
    fn prompt_tokens(&self, counter: &TiktokenCounter) -> u64 {
        counter.count_request(&self.request(self.messages()))
    }

    /// Drops the oldest messages until the conversation fits the context window; returns how
    /// many were dropped.
    fn fit(&mut self, counter: &TiktokenCounter) -> usize {
        let Some(budget) = self.budget() else {
            return 0;
        };
        let system = self.system.clone().map(Message::system);
        let model = self.model.clone();
        trim_history(&mut self.history, system.as_ref(), budget, |messages| {
            counter.count_request(&ChatRequest::new(model.clone()).messages(messages.to_vec()))
        })
    }
}

/// Why an answer ended early.
#[derive(Debug)]
enum Stop {
    /// The request or the stream failed.
    Failed(CliError),
    /// Ctrl-C.
    Interrupted,
}

/// Streams the answer to the session's messages to stdout and returns its text. With
/// `interrupt`, the future resolving stops the answer.
async fn stream_answer(
    client: &GroqClient,
    session: &Session,
    interrupt: Option<&mut Interrupt>,
) -> Result<String, Stop> {
    let request = session.request(session.messages());
    let work = async {
        let mut stream = client
            .chat_stream(request)
            .priority(Priority::High)
            .await
            .map_err(|e| Stop::Failed(CliError::client("the chat request failed", e)))?;
        let mut answer = String::new();
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    // End the partial answer's line before the error is reported.
                    if !session.json && !answer.is_empty() {
                        print_out("\n").map_err(Stop::Failed)?;
                    }
                    return Err(Stop::Failed(CliError::client("the answer broke off", e)));
                }
            };
            if let Some(text) = chunk.text() {
                answer.push_str(text);
                if !session.json {
                    print_out(text).map_err(Stop::Failed)?;
                }
            }
        }
        if session.json {
            let line = json!({
                "model": stream.model(),
                "content": answer,
                "usage": stream.usage(),
            });
            print_out(&format!("{line}\n")).map_err(Stop::Failed)?;
        } else {
            print_out("\n").map_err(Stop::Failed)?;
        }
        Ok(answer)
    };
    match interrupt {
        None => work.await,
        Some(interrupt) => {
            tokio::select! {
                outcome = work => outcome,
                () = interrupt.recv() => {
                    if !session.json {
                        print_out("\n").map_err(Stop::Failed)?;
                    }
                    Err(Stop::Interrupted)
                }
            }
        }
    }
}

/// Ctrl-C while an answer streams.
#[derive(Debug)]
struct Interrupt {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Interrupt {
    /// Takes over SIGINT (Ctrl-C) from the default "terminate" for the rest of the process.
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Self {
                signal: signal(SignalKind::interrupt()).ok(),
            }
        }
        #[cfg(not(unix))]
        {
            Self {}
        }
    }

    /// Forgets a Ctrl-C that came between answers (say, just as one ended), so that it does
    /// not stop the next answer at once.
    async fn forget_pending(&mut self) {
        // `timeout` polls the future once before looking at the (zero) deadline.
        let _ = tokio::time::timeout(std::time::Duration::ZERO, self.recv()).await;
    }

    /// Resolves at the next Ctrl-C.
    async fn recv(&mut self) {
        #[cfg(unix)]
        {
            match &mut self.signal {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// One answer turn: sends the conversation (with the new question already in the history),
/// and after a context-length rejection trims the history and retries once, saying so.
/// The question and its answer stay in the history on success; on failure the question is
/// removed.
#[allow(clippy::print_stderr)]
async fn turn(
    client: &GroqClient,
    session: &mut Session,
    counter: &TiktokenCounter,
    mut interrupt: Option<&mut Interrupt>,
) -> Result<TurnEnd, CliError> {
    let dropped = session.fit(counter);
    if dropped > 0 {
        eprintln!("(the {dropped} oldest messages no longer fit the context window)");
    }
    if let Some(interrupt) = interrupt.as_deref_mut() {
        interrupt.forget_pending().await;
    }
    let mut retried = false;
    loop {
        match stream_answer(client, session, interrupt.as_deref_mut()).await {
            Ok(answer) => {
                session.history.push(Message::assistant(answer));
                return Ok(TurnEnd::Answered);
            }
            Err(Stop::Interrupted) => {
                session.history.pop();
                eprintln!("(answer stopped; the question is forgotten)");
                return Ok(TurnEnd::Interrupted);
            }
            Err(Stop::Failed(CliError::Closed)) => return Err(CliError::Closed),
            Err(Stop::Failed(error)) => {
                let too_long = matches!(&error, CliError::Client { source, .. }
                    if source.kind() == ErrorKind::TokenLimitExceeded);
                if too_long && !retried && session.history.len() > 1 {
                    let dropped = drop_oldest_half(&mut session.history);
                    retried = true;
                    eprintln!(
                        "(the conversation exceeded {}'s context window: dropped the {dropped} \
                         oldest messages; retrying once)",
                        session.model
                    );
                    continue;
                }
                let alone = session.history.len() == 1;
                session.history.pop();
                if too_long && alone {
                    eprintln!(
                        "groqchat: {}; the question alone is too long for {}'s context window \
                         (shorten it, lower --max-completion-tokens, or /model to a larger one)",
                        error.report(),
                        session.model
                    );
                } else if too_long {
                    eprintln!(
                        "groqchat: {}; the conversation still does not fit {}'s context window \
                         after trimming (/reset starts over, /model switches to a larger one)",
                        error.report(),
                        session.model
                    );
                } else {
                    eprintln!("groqchat: {}", error.report());
                }
                return Ok(TurnEnd::Failed);
            }
        }
    }
}

/// How a turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TurnEnd {
    Answered,
    Interrupted,
    Failed,
}

/// Drops the older half of `history` (at least one message, never the last); returns how
/// many were dropped.
fn drop_oldest_half(history: &mut Vec<Message>) -> usize {
    let earlier = history.len().saturating_sub(1);
    let drop = earlier.div_ceil(2).max(1).min(earlier);
    history.drain(..drop);
    drop
}

/// A conversation over a piped stdin: each non-empty line is a question, answers go to
/// stdout with nothing else; errors go to stderr and the conversation goes on. Returns
/// whether every question was answered.
async fn piped(client: &GroqClient, session: &mut Session) -> Result<bool, CliError> {
    let counter = TiktokenCounter::new();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut failed = false;
    while let Some(line) = next_piped_line(&mut lines).await? {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match parse_command(line) {
            Command::Exit => break,
            Command::Question(question) => {
                session.history.push(Message::user(question));
                if turn(client, session, &counter, None).await? == TurnEnd::Failed {
                    failed = true;
                }
            }
            command => local_command(session, &command, &counter),
        }
    }
    Ok(!failed)
}

async fn next_piped_line(lines: &mut Lines<BufReader<Stdin>>) -> Result<Option<String>, CliError> {
    lines
        .next_line()
        .await
        .map_err(|e| CliError::file("read", std::path::Path::new("stdin"), e))
}

/// What the line editor read.
#[derive(Debug)]
enum Input {
    Line(String),
    /// Ctrl-C at the prompt.
    Interrupted,
    /// Ctrl-D or the end of input.
    Eof,
}

/// The line editor, run on a blocking thread for each line.
struct Editor {
    editor: Option<rustyline::DefaultEditor>,
    history_file: Option<PathBuf>,
}

impl std::fmt::Debug for Editor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Editor")
            .field("history_file", &self.history_file)
            .finish_non_exhaustive()
    }
}

impl Editor {
    #[allow(clippy::print_stderr)]
    fn new() -> Result<Self, CliError> {
        let config = rustyline::Config::builder()
            .auto_add_history(false)
            .max_history_size(1_000)
            .map_err(|e| CliError::Usage(format!("cannot start the line editor: {e}")))?
            .build();
        let mut editor = rustyline::DefaultEditor::with_config(config)
            .map_err(|e| CliError::Usage(format!("cannot start the line editor: {e}")))?;
        let history_file = history_path();
        if let Some(path) = &history_file
            && path.exists()
            && let Err(e) = editor.load_history(path)
        {
            eprintln!(
                "groqchat: cannot read the history file {} ({e}); starting without it",
                path.display()
            );
        }
        Ok(Self {
            editor: Some(editor),
            history_file,
        })
    }

    /// Reads a line with `prompt`.
    async fn read(&mut self, prompt: &str) -> Result<Input, CliError> {
        let Some(mut editor) = self.editor.take() else {
            return Ok(Input::Eof);
        };
        let prompt = prompt.to_owned();
        let (editor, read) = tokio::task::spawn_blocking(move || {
            let read = editor.readline(&prompt);
            (editor, read)
        })
        .await
        .map_err(|e| CliError::Usage(format!("the line editor stopped: {e}")))?;
        self.editor = Some(editor);
        match read {
            Ok(line) => Ok(Input::Line(line)),
            Err(rustyline::error::ReadlineError::Interrupted) => Ok(Input::Interrupted),
            Err(rustyline::error::ReadlineError::Eof) => Ok(Input::Eof),
            Err(e) => Err(CliError::file(
                "read",
                std::path::Path::new("the terminal"),
                std::io::Error::other(e.to_string()),
            )),
        }
    }

    /// Adds `line` to the history and appends it to the history file.
    #[allow(clippy::print_stderr)]
    fn remember(&mut self, line: &str) {
        let Some(editor) = &mut self.editor else {
            return;
        };
        let _ = editor.add_history_entry(line);
        if let Some(path) = &self.history_file {
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            if let Err(e) = editor.append_history(path) {
                eprintln!(
                    "groqchat: cannot write the history file {} ({e})",
                    path.display()
                );
                self.history_file = None;
            }
        }
    }
}

/// The history file: `$XDG_DATA_HOME/groqchat/history`, else
/// `~/.local/share/groqchat/history` (`%APPDATA%\groqchat\history` on Windows).
fn history_path() -> Option<PathBuf> {
    history_path_from(|name| std::env::var_os(name))
}

fn history_path_from(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> Option<PathBuf> {
    let non_empty = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let data = non_empty("XDG_DATA_HOME")
        .filter(|p| p.is_absolute())
        .or_else(|| non_empty("HOME").map(|home| home.join(".local").join("share")))
        .or_else(|| non_empty("APPDATA"))?;
    Some(data.join("groqchat").join("history"))
}

/// A local command, or a question for the model.
#[derive(Debug, PartialEq, Eq)]
enum Command<'a> {
    Help,
    Reset,
    Model(&'a str),
    System(&'a str),
    Tokens,
    Save(&'a str),
    Exit,
    Unknown(&'a str),
    Question(&'a str),
}

fn parse_command(line: &str) -> Command<'_> {
    if let Some(escaped) = line.strip_prefix("//") {
        return Command::Question(&line[line.len() - escaped.len() - 1..]);
    }
    let Some(rest) = line.strip_prefix('/') else {
        return Command::Question(line);
    };
    let (name, argument) = rest
        .split_once(char::is_whitespace)
        .map_or((rest, ""), |(name, argument)| (name, argument.trim()));
    match name {
        "help" | "?" => Command::Help,
        "reset" => Command::Reset,
        "model" => Command::Model(argument),
        "system" => Command::System(argument),
        "tokens" => Command::Tokens,
        "save" => Command::Save(argument),
        "exit" | "quit" => Command::Exit,
        _ => Command::Unknown(name),
    }
}

/// The conversation on a terminal.
#[allow(clippy::print_stderr)]
async fn interactive(client: &GroqClient, session: &mut Session) -> Result<(), CliError> {
    let counter = TiktokenCounter::new();
    let mut editor = Editor::new()?;
    let mut interrupt = Interrupt::new();
    eprintln!(
        "chatting with {} (/help for commands, Ctrl-D leaves)",
        session.model
    );
    // A Ctrl-C stopped an answer or was pressed at the prompt: another one at the prompt
    // leaves.
    let mut armed = false;
    loop {
        let line = match editor.read("> ").await? {
            Input::Eof => break,
            Input::Interrupted if armed => break,
            Input::Interrupted => {
                armed = true;
                eprintln!("(Ctrl-C again or Ctrl-D to leave)");
                continue;
            }
            Input::Line(line) => line,
        };
        armed = false;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        editor.remember(line);
        match parse_command(line) {
            Command::Exit => break,
            Command::Question(question) => {
                session.history.push(Message::user(question));
                if turn(client, session, &counter, Some(&mut interrupt)).await?
                    == TurnEnd::Interrupted
                {
                    armed = true;
                }
            }
            command => local_command(session, &command, &counter),
        }
    }
    // Leave the shell's prompt on a line of its own.
    print_out("\n")?;
    Ok(())
}

/// Runs a local command (any but a question or `/exit`); what it says goes to stderr.
#[allow(clippy::print_stderr)]
fn local_command(session: &mut Session, command: &Command<'_>, counter: &TiktokenCounter) {
    match *command {
        Command::Help => eprintln!("{HELP}"),
        Command::Reset => {
            session.history.clear();
            eprintln!("(conversation forgotten)");
        }
        Command::Model("") => eprintln!("(the model is {}; /model NAME changes it)", session.model),
        Command::Model(name) => {
            session.model = name.to_owned();
            eprintln!("(now talking to {name})");
        }
        Command::System("") => {
            session.system = None;
            eprintln!("(no system message)");
        }
        Command::System(text) => {
            session.system = Some(text.to_owned());
            eprintln!("(system message set)");
        }
        Command::Tokens => {
            let tokens = session.prompt_tokens(counter);
            let budget = session.budget().map_or_else(
                || format!("{}'s context window is not configured", session.model),
                |b| {
                    format!(
                        "{}'s context window leaves {b} for the prompt",
                        session.model
                    )
                },
            );
            eprintln!(
                "({tokens} prompt tokens in {}; {budget})",
                count_messages(session.messages().len())
            );
        }
        Command::Save("") => eprintln!("(/save needs a file name)"),
        Command::Save(file) => match save(session, file) {
            Ok(()) => eprintln!(
                "(saved {} to {file})",
                count_messages(session.messages().len())
            ),
            Err(e) => eprintln!("groqchat: {}", e.report()),
        },
        Command::Unknown(name) => {
            eprintln!("(unknown command /{name}: /help lists them; //{name} sends it as text)");
        }
        Command::Exit | Command::Question(_) => {}
    }
}

/// `1 message`, `2 messages`.
fn count_messages(n: usize) -> String {
    format!("{n} message{}", if n == 1 { "" } else { "s" })
}

/// Writes the conversation (system message included) as a JSON array of messages.
fn save(session: &Session, file: &str) -> Result<(), CliError> {
    let path = std::path::Path::new(file);
    let text = serde_json::to_string_pretty(&session.messages())
        .map_err(|e| CliError::Usage(format!("cannot encode the conversation: {e}")))?;
    std::fs::write(path, text + "\n").map_err(|e| CliError::file("write", path, e))
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
    fn the_retry_drops_the_older_half_but_never_the_question() {
        let mut history: Vec<Message> = (0..5).map(|i| Message::user(i.to_string())).collect();
        assert_eq!(drop_oldest_half(&mut history), 2);
        assert_eq!(chars(&history[..1]), 1);
        assert_eq!(history.len(), 3);
        let mut two = vec![Message::user("a"), Message::user("b")];
        assert_eq!(drop_oldest_half(&mut two), 1);
        assert_eq!(two.len(), 1);
    }

    fn session(model: &str, max: Option<u32>) -> Session {
        Session {
            model: model.into(),
            system: None,
            max_completion_tokens: max,
            temperature: None,
            json: false,
            config: Config::default(),
            history: Vec::new(),
        }
    }

    #[test]
    fn the_budget_leaves_room_for_the_answer() {
        assert_eq!(
            session("llama-3.1-8b-instant", Some(1_000)).budget(),
            Some(131_072 - 1_000)
        );
        assert_eq!(session("nobody/knows", Some(1_000)).budget(), None);
    }

    #[test]
    fn local_commands_are_recognised() {
        assert_eq!(parse_command("/help"), Command::Help);
        assert_eq!(parse_command("/reset"), Command::Reset);
        assert_eq!(
            parse_command("/model  qwen/qwen3-32b "),
            Command::Model("qwen/qwen3-32b")
        );
        assert_eq!(
            parse_command("/system Be brief."),
            Command::System("Be brief.")
        );
        assert_eq!(parse_command("/tokens"), Command::Tokens);
        assert_eq!(parse_command("/save chat.json"), Command::Save("chat.json"));
        assert_eq!(parse_command("/quit"), Command::Exit);
        assert_eq!(
            parse_command("/frobnicate x"),
            Command::Unknown("frobnicate")
        );
        assert_eq!(
            parse_command("hello /help"),
            Command::Question("hello /help")
        );
        assert_eq!(parse_command("//help me"), Command::Question("/help me"));
    }

    #[test]
    fn temperatures_outside_0_to_2_are_refused() {
        assert_eq!(parse_temperature("0.7"), Ok(0.7));
        assert_eq!(parse_temperature("2"), Ok(2.0));
        assert!(parse_temperature("5").unwrap_err().contains("from 0 to 2"));
        assert!(parse_temperature("-0.1").is_err());
        assert!(parse_temperature("warm").is_err());
        assert!(parse_temperature("NaN").is_err());
    }

    #[test]
    fn the_history_lives_in_the_data_directory() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| std::ffi::OsString::from(v))
            }
        };
        assert_eq!(
            history_path_from(env(&[("XDG_DATA_HOME", "/data"), ("HOME", "/home/u")])),
            Some(PathBuf::from("/data/groqchat/history"))
        );
        assert_eq!(
            history_path_from(env(&[("XDG_DATA_HOME", "relative"), ("HOME", "/home/u")])),
            Some(PathBuf::from("/home/u/.local/share/groqchat/history"))
        );
        assert_eq!(history_path_from(env(&[])), None);
    }

    #[test]
    fn a_saved_conversation_reads_back_as_a_chat() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chat.json");
        let mut s = session("llama-3.1-8b-instant", None);
        s.system = Some("Be brief.".into());
        s.history = vec![Message::user("hi"), Message::assistant("hello")];
        save(&s, path.to_str().unwrap()).unwrap();
        let read: Vec<Message> =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(read, s.messages());
        assert!(save(&s, dir.path().join("no/such/dir/x.json").to_str().unwrap()).is_err());
    }
}
