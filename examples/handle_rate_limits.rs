//! Fifteen questions at once to one model, more than its tokens-per-minute limit holds: the
//! client waits exactly as long as the limits require, and says so.
//!
//! Nothing here retries by hand. The client reserves each request's cost (prompt tokens plus
//! the completion budget, which Groq charges up front) before sending it and holds back what
//! does not fit; if the server still answers 429 (another program using the same key), the
//! model pauses for the wait the server names and the request goes back to the head of its
//! queue. Only a request that keeps meeting 429s fails, with an error that says so.
//!
//! ```text
//! cargo run -p groqchat --example handle_rate_limits
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "common/mod.rs"]
mod common;

use std::time::Duration;

use groqchat::{ChatRequest, Event};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

const QUESTIONS: [&str; 15] = [
    "What is the capital of France?",
    "How does photosynthesis work?",
    "Explain the theory of relativity simply.",
    "What are the main features of Python?",
    "How do neural networks learn?",
    "What is the difference between HTTP and HTTPS?",
    "Explain quantum computing in simple terms.",
    "What causes climate change?",
    "How does blockchain technology work?",
    "What are the benefits of regular exercise?",
    "How does DNA store genetic information?",
    "What is the process of machine learning?",
    "Explain the water cycle.",
    "What is artificial intelligence?",
    "How do vaccines work?",
];

#[tokio::main]
async fn main() -> common::BoxResult<()> {
    let backend = common::Setup::new()
        .models(&["llama-3.1-8b-instant"])
        .minute(Duration::from_secs(6))
        .reply_tokens(500)
        .connect()
        .await?;
    let client = backend.client.clone();
    let model = backend.model_or("llama-3.1-8b-instant");

    let request = |question: &str| {
        ChatRequest::new(model.as_str())
            .system("You are a helpful assistant.")
            .user(question)
            .max_completion_tokens(600)
    };
    let cost = client.count_tokens(&request(QUESTIONS[0]));
    println!("Model: {model}");
    println!(
        "Each request reserves about {} tokens ({} prompt + {} completion budget)",
        cost.total, cost.prompt, cost.completion_allowance
    );
    println!(
        "Limits before: {}",
        common::describe_limits(&client, &model)
    );

    // Report what the pipeline does while the requests wait.
    let mut events = client.events();
    let started = Instant::now();
    let reporter = tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(Event::Waiting {
                    until, dimension, ..
                }) => println!(
                    "  [{:5.2} s] the next request waits {:.2} s for {}",
                    started.elapsed().as_secs_f64(),
                    until
                        .saturating_duration_since(Instant::now())
                        .as_secs_f64(),
                    dimension.map_or_else(|| "capacity".to_owned(), |d| d.to_string()),
                ),
                Ok(Event::RateLimited {
                    id, retry_after, ..
                }) => println!(
                    "  [{:5.2} s] {id}: the server answered 429 (wait {}); requeued",
                    started.elapsed().as_secs_f64(),
                    seconds(retry_after)
                ),
                Ok(Event::Retrying {
                    id, after, reason, ..
                }) => println!(
                    "  [{:5.2} s] {id}: {reason}, retrying in {:.2} s",
                    started.elapsed().as_secs_f64(),
                    after.as_secs_f64()
                ),
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => break,
            }
        }
    });

    println!("\nSending {} requests at once...", QUESTIONS.len());
    let calls: Vec<_> = QUESTIONS
        .iter()
        .enumerate()
        .map(|(i, question)| {
            let call = client
                .chat(request(question))
                .request_id(format!("q{}", i + 1));
            tokio::spawn(async move { (call.await, started.elapsed()) })
        })
        .collect();

    let (mut completed, mut failed) = (0, 0);
    for (question, call) in QUESTIONS.iter().zip(calls) {
        match call.await? {
            (Ok(reply), at) => {
                completed += 1;
                println!(
                    "done at {:5.2} s  Q: {question}\n                  A: {}",
                    at.as_secs_f64(),
                    common::clip(reply.text().unwrap_or_default(), 70)
                );
            }
            (Err(error), _) if error.is_rate_limited() => {
                failed += 1;
                println!(
                    "rate-limited after the allowed retries: {question} (server wait: {})",
                    seconds(error.retry_after())
                );
            }
            (Err(error), _) => {
                failed += 1;
                println!("failed: {question}: {error}");
            }
        }
    }

    println!(
        "\nLimits after: {}",
        common::describe_limits(&client, &model)
    );
    println!(
        "Completed {completed}, failed {failed}, in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    if let Some(stats) = backend.mock_stats() {
        println!("The emulator answered 429 {} times.", stats.rate_limited);
    }
    backend.close().await;
    drop(client);
    reporter.abort();
    Ok(())
}

/// A wait the server may or may not have given, as text.
fn seconds(wait: Option<Duration>) -> String {
    wait.map_or_else(
        || "not given".to_owned(),
        |wait| format!("{:.2} s", wait.as_secs_f64()),
    )
}
