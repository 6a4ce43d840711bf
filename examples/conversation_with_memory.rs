//! A multi-turn conversation that remembers: every request carries the history, and the
//! history is trimmed (oldest turns first, the system prompt kept) when it grows past a token
//! budget, measured with the client's own token counter before sending.
//!
//! The conversation is scripted so the example runs unattended: the second turn relies on the
//! first, and the later turns push the oldest ones out of the budget. At the end the history is
//! saved to a JSON file and loaded back, as CustomGroqChat's `/save` and `/load` commands did.
//!
//! ```text
//! cargo run -p groqchat --example conversation_with_memory
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "common/mod.rs"]
mod common;

use groqchat::{ChatRequest, Error, GroqClient, Message, Usage};

const SYSTEM: &str = "You are a helpful and friendly assistant. Keep answers under 60 words.";
const TURNS: [&str; 5] = [
    "Hi! My name is Ada and I collect antique maps.",
    "What is my name, and what do I collect?",
    "What is a good way to store them?",
    "Which century should I start with?",
    "Any tips for spotting forgeries?",
];
/// The most prompt tokens a request may carry; older turns are dropped beyond it.
const HISTORY_BUDGET: u64 = 200;

/// A conversation with one model: the system prompt plus the turns so far.
struct Conversation {
    client: GroqClient,
    model: String,
    messages: Vec<Message>,
    last_usage: Option<Usage>,
}

impl Conversation {
    fn new(client: GroqClient, model: String) -> Self {
        Self {
            client,
            model,
            messages: vec![Message::system(SYSTEM)],
            last_usage: None,
        }
    }

    fn request(&self) -> ChatRequest {
        ChatRequest::new(self.model.as_str())
            .messages(self.messages.iter().cloned())
            .temperature(0.7)
            .max_completion_tokens(120)
    }

    /// Drops the oldest user/assistant turn after the system prompt. False when none is left.
    fn forget_oldest_turn(&mut self) -> bool {
        if self.messages.len() <= 2 {
            return false;
        }
        // Remove up to the next user message, so that the history still starts with one.
        let next_user = self.messages[2..]
            .iter()
            .position(|m| matches!(m, Message::User { .. }))
            .map_or(self.messages.len(), |i| i + 2);
        self.messages.drain(1..next_user);
        true
    }

    async fn send(&mut self, text: &str) -> Result<String, Error> {
        self.messages.push(Message::user(text));
        // Keep the prompt within the budget before sending.
        while self.client.count_tokens(&self.request()).prompt > HISTORY_BUDGET {
            if !self.forget_oldest_turn() {
                break;
            }
            println!("   (history trimmed to {} messages)", self.messages.len());
        }
        let reply = loop {
            match self.client.chat(self.request()).await {
                Ok(reply) => break reply,
                // Should the model's context window still be too small, forget more.
                Err(Error::TokenLimitExceeded { .. }) if self.forget_oldest_turn() => {}
                Err(error) => {
                    self.messages.pop();
                    return Err(error);
                }
            }
        };
        let answer = reply.text().unwrap_or_default().to_owned();
        self.last_usage = reply.usage.clone();
        self.messages.push(Message::assistant(answer.as_str()));
        Ok(answer)
    }
}

#[tokio::main]
async fn main() -> common::BoxResult<()> {
    let backend = common::Setup::new()
        .models(&["llama-3.3-70b-versatile"])
        .connect()
        .await?;
    let model = backend.model_or("llama-3.3-70b-versatile");
    let mut conversation = Conversation::new(backend.client.clone(), model.clone());
    println!("Conversation with {model} (history budget: {HISTORY_BUDGET} prompt tokens)\n");

    for turn in TURNS {
        println!("You: {turn}");
        match conversation.send(turn).await {
            Ok(answer) => {
                println!("Assistant: {answer}");
                if let Some(usage) = &conversation.last_usage {
                    println!(
                        "   [tokens: {} prompt + {} completion = {} total]\n",
                        usage.prompt_tokens, usage.completion_tokens, usage.total_tokens
                    );
                }
            }
            Err(error) => println!("Error: {error}\n"),
        }
    }

    // Save the history as JSON and load it back.
    let path = std::env::temp_dir().join("groqchat_conversation.json");
    std::fs::write(&path, serde_json::to_string_pretty(&conversation.messages)?)?;
    let loaded: Vec<Message> = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    println!(
        "Saved {} messages to {} and loaded {} back.",
        conversation.messages.len(),
        path.display(),
        loaded.len()
    );
    if loaded != conversation.messages {
        return Err("the loaded conversation differs from the saved one".into());
    }
    std::fs::remove_file(&path)?;
    backend.close().await;
    Ok(())
}
