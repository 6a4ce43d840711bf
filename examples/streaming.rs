//! Streaming: print a reply as it is generated, read its usage at the end, and cancel a stream
//! midway by its request id.
//!
//! A stream is rate-limited like any call: it waits in the queue until its cost fits, and the
//! limiter is settled with the usage the server reports in the last chunk (`x_groq.usage`).
//!
//! ```text
//! cargo run -p groqchat --example streaming
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "common/mod.rs"]
mod common;

use std::io::Write as _;
use std::time::Duration;

use groqchat::{ChatRequest, Error};

#[tokio::main]
async fn main() -> common::BoxResult<()> {
    let backend = common::Setup::new()
        .models(&["llama-3.1-8b-instant"])
        .stream_interval(Duration::from_millis(25))
        .reply_tokens(48)
        .connect()
        .await?;
    let client = backend.client.clone();
    let model = backend.model_or("llama-3.1-8b-instant");

    println!("1. A streamed reply from {model}:\n");
    let request = ChatRequest::new(model.as_str())
        .system("You are a poet.")
        .user("Write a four-line poem about rivers.")
        .max_completion_tokens(200);
    let mut stream = client.chat_stream(request).await?;
    let mut chunks = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        chunks += 1;
        print!("{}", chunk.text().unwrap_or_default());
        std::io::stdout().flush()?;
    }
    println!("\n");
    match stream.usage() {
        Some(usage) => println!(
            "{chunks} chunks; usage: {} prompt + {} completion = {} total tokens",
            usage.prompt_tokens, usage.completion_tokens, usage.total_tokens
        ),
        None => println!("{chunks} chunks; the server reported no usage"),
    }

    println!("\n2. A long reply, cancelled by its id after five chunks:\n");
    let request = ChatRequest::new(model.as_str())
        .user("Write a detailed essay about the history of cartography.")
        .max_completion_tokens(1_000);
    let mut stream = client.chat_stream(request).request_id("essay").await?;
    let mut received = 0;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => {
                received += 1;
                print!("{}", chunk.text().unwrap_or_default());
                std::io::stdout().flush()?;
                if received == 5 {
                    // Any task holding a clone of the client can do this.
                    let cancelled = client.cancel("essay");
                    print!(" [cancel sent: {cancelled}]");
                }
            }
            Err(Error::Cancelled) => {
                println!("\n\nThe stream ended with Error::Cancelled after {received} chunks.");
                break;
            }
            Err(error) => return Err(error.into()),
        }
    }
    if !stream.is_done() {
        return Err("the cancelled stream should have ended".into());
    }
    backend.close().await;
    Ok(())
}
