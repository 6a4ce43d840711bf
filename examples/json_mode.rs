//! Structured output: JSON mode, a strict JSON schema, and a forced tool call, each parsed with
//! serde.
//!
//! In JSON mode (`response_format: json_object`) and with a JSON schema, Groq checks the
//! reply itself and answers 400 `json_validate_failed` (with the failed generation) when the
//! model's output does not conform; the example shows how to read that error. A forced tool
//! call is a third way to get arguments that follow a schema. JSON mode guarantees a JSON
//! object but not its fields, so its reply is read as a `serde_json::Value`; the schema and
//! the tool call are read into the `Sentiment` struct. Offline, the embedded emulator answers
//! JSON mode with `{"answer": ...}` and the schema and the tool call with JSON valid against
//! the schema (the enum's first value, a number within its bounds).
//!
//! ```text
//! cargo run -p groqchat --example json_mode
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "common/mod.rs"]
mod common;

use groqchat::{ChatRequest, Error, JsonSchemaFormat, Tool, ToolChoice};
use serde::Deserialize;
use serde_json::json;

/// What the model is asked to produce.
#[derive(Debug, Deserialize)]
struct Sentiment {
    sentiment: String,
    confidence: f64,
}

impl Sentiment {
    fn describe(&self) -> String {
        format!(
            "sentiment {}, confidence {}",
            self.sentiment, self.confidence
        )
    }
}

const REVIEW: &str =
    "The battery lasts all day and the screen is gorgeous, but it ships without a charger.";

fn schema() -> serde_json::Value {
    json!({
        "type": "object",
        "properties": {
            "sentiment": { "type": "string", "enum": ["positive", "negative", "neutral"] },
            "confidence": { "type": "number" }
        },
        "required": ["sentiment", "confidence"],
        "additionalProperties": false
    })
}

/// Sends `request` and returns the reply's text, reporting a failure.
async fn ask(client: &groqchat::GroqClient, request: ChatRequest) -> Option<String> {
    match client.chat(request).await {
        Ok(reply) => Some(reply.text().unwrap_or_default().to_owned()),
        Err(error) if error.code() == Some("json_validate_failed") => {
            let failed = match &error {
                Error::Api(api) => api.failed_generation().map(str::to_owned),
                _ => None,
            };
            println!(
                "  Groq rejected the model's output as invalid JSON: {}",
                failed.as_deref().unwrap_or("(no generation returned)")
            );
            None
        }
        Err(error) => {
            println!("  failed: {error}");
            None
        }
    }
}

/// Parses `text` as a `T`, printing it with `show`, or says why it does not fit.
fn parse<T: serde::de::DeserializeOwned>(text: &str, show: impl Fn(&T) -> String) {
    match serde_json::from_str::<T>(text) {
        Ok(parsed) => println!("  parsed: {}", show(&parsed)),
        Err(error) => println!(
            "  the reply is not the expected JSON ({error}): {}",
            common::clip(text, 80)
        ),
    }
}

#[tokio::main]
async fn main() -> common::BoxResult<()> {
    let backend = common::Setup::new()
        .models(&["openai/gpt-oss-20b"])
        .connect()
        .await?;
    let client = backend.client.clone();
    let model = backend.model_or("openai/gpt-oss-20b");
    let system = "You are a sentiment analysis API. Reply with a JSON object with the fields \
                  \"sentiment\" (positive, negative or neutral) and \"confidence\" (0 to 1).";

    println!("1. JSON mode");
    let request = ChatRequest::new(model.as_str())
        .system(system)
        .user(REVIEW)
        .json_mode()
        .max_completion_tokens(300);
    // JSON mode promises an object, not these fields: read it as any JSON.
    if let Some(text) = ask(&client, request).await {
        parse::<serde_json::Value>(&text, ToString::to_string);
    }

    println!("2. A strict JSON schema");
    let request = ChatRequest::new(model.as_str())
        .system(system)
        .user(REVIEW)
        .json_schema(JsonSchemaFormat::new("sentiment", schema()).strict(true))
        .max_completion_tokens(300);
    if let Some(text) = ask(&client, request).await {
        parse::<Sentiment>(&text, Sentiment::describe);
    }

    println!("3. A forced tool call");
    let request = ChatRequest::new(model.as_str())
        .system("Classify the sentiment of the user's review.")
        .user(REVIEW)
        .tool(Tool::function(
            "record_sentiment",
            "Records the review's sentiment.",
            schema(),
        ))
        .tool_choice(ToolChoice::function("record_sentiment"))
        .max_completion_tokens(300);
    let reply = client.chat(request).await?;
    match reply.tool_calls().first() {
        Some(call) => parse::<Sentiment>(&call.function.arguments, Sentiment::describe),
        None => println!(
            "  no tool call in the reply: {}",
            reply.text().unwrap_or_default()
        ),
    }
    backend.close().await;
    Ok(())
}
