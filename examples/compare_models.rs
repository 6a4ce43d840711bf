//! The same prompt through every configured model, side by side: answer, time and tokens.
//!
//! The requests go out together; each model has its own queue and limits, so a slow or
//! throttled model never delays another. A model that fails (retired, not on your plan) is
//! reported and the others carry on.
//!
//! ```text
//! cargo run -p groqchat --example compare_models
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "common/mod.rs"]
mod common;

use std::time::Duration;

use groqchat::ChatRequest;
use tokio::time::Instant;

const PROMPT: &str = "Explain the concept of quantum computing in one paragraph.";

#[tokio::main]
async fn main() -> common::BoxResult<()> {
    let backend = common::Setup::new()
        .minute(Duration::from_secs(6))
        .connect()
        .await?;
    let models = backend.models.clone();
    if models.is_empty() {
        println!("No models found in the configuration.");
        backend.close().await;
        return Ok(());
    }
    println!("Found {} models: {}", models.len(), models.join(", "));
    println!("Prompt: {PROMPT}\n");

    let start = Instant::now();
    let calls: Vec<_> = models
        .iter()
        .map(|model| {
            let request = ChatRequest::new(model.as_str())
                .system("You are a helpful assistant that provides accurate information.")
                .user(PROMPT)
                .temperature(0.7)
                .max_completion_tokens(300);
            let call = backend.client.chat(request);
            tokio::spawn(async move {
                let outcome = call.await;
                (outcome, start.elapsed())
            })
        })
        .collect();

    let mut answered = 0;
    println!("{}", "=".repeat(80));
    println!("RESULTS");
    println!("{}", "=".repeat(80));
    for (model, call) in models.iter().zip(calls) {
        println!("\n## {model}");
        match call.await? {
            (Ok(reply), elapsed) => {
                answered += 1;
                let tokens = reply
                    .usage
                    .as_ref()
                    .map_or_else(|| "n/a".to_owned(), |u| u.total_tokens.to_string());
                println!(
                    "answered after {:.2} s, {tokens} tokens",
                    elapsed.as_secs_f64()
                );
                println!("{}", common::clip(reply.text().unwrap_or_default(), 400));
            }
            (Err(error), _) => println!("ERROR: {error}"),
        }
    }
    println!(
        "\n{answered} of {} models answered in {:.2} s",
        models.len(),
        start.elapsed().as_secs_f64()
    );
    backend.close().await;
    Ok(())
}
