//! Many items processed in parallel with a live progress line, driven by the client's events.
//!
//! There is no semaphore or worker pool: every item is submitted at once and the client's
//! queue decides when each goes, at the pace of the model's limits. Subscribing to
//! [`GroqClient::events`](groqchat::GroqClient::events) gives what a progress bar needs:
//! queued, dispatched, waiting for a limit, completed, failed. Results are written to a CSV
//! file in the temporary directory.
//!
//! ```text
//! cargo run -p groqchat --example parallel_processing
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "common/mod.rs"]
mod common;

use std::fmt::Write as _;
use std::time::Duration;

use groqchat::{ChatRequest, Event, Priority};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

const ITEMS: [&str; 10] = [
    "What is machine learning?",
    "Explain the concept of blockchain.",
    "What are the benefits of cloud computing?",
    "How does natural language processing work?",
    "What is the Internet of Things?",
    "Explain the difference between AI and machine learning.",
    "What are microservices in software architecture?",
    "How do neural networks learn?",
    "What is edge computing?",
    "Explain containerization in DevOps.",
];

/// A CSV field, quoted.
fn csv(field: &str) -> String {
    format!("\"{}\"", field.replace('"', "\"\""))
}

#[tokio::main]
async fn main() -> common::BoxResult<()> {
    let backend = common::Setup::new()
        .models(&["llama-3.1-8b-instant"])
        .minute(Duration::from_secs(6))
        .reply_tokens(400)
        .connect()
        .await?;
    let client = backend.client.clone();
    let model = backend.model_or("llama-3.1-8b-instant");
    println!(
        "Model: {model}; limits: {}",
        common::describe_limits(&client, &model)
    );

    // The progress line, redrawn on every event that changes it.
    let mut events = client.events();
    let total = ITEMS.len();
    let start = Instant::now();
    let progress = tokio::spawn(async move {
        let (mut queued, mut sending, mut done, mut failed) = (0usize, 0usize, 0usize, 0usize);
        let mut waiting = String::new();
        while done + failed < total {
            match events.recv().await {
                Ok(Event::Queued { .. }) => queued += 1,
                Ok(Event::Dispatched { .. }) => {
                    queued = queued.saturating_sub(1);
                    sending += 1;
                    waiting.clear();
                }
                Ok(Event::Waiting {
                    until, dimension, ..
                }) => {
                    let wait = until.saturating_duration_since(Instant::now());
                    waiting = format!(
                        ", waiting {:.1} s for {}",
                        wait.as_secs_f64(),
                        dimension.map_or("capacity", |d| d.label())
                    );
                }
                Ok(Event::RateLimited { .. } | Event::Retrying { .. }) => {
                    sending = sending.saturating_sub(1);
                    queued += 1;
                }
                Ok(Event::Completed { .. }) => {
                    sending = sending.saturating_sub(1);
                    done += 1;
                }
                Ok(Event::Failed { .. }) => {
                    sending = sending.saturating_sub(1);
                    failed += 1;
                }
                Ok(_) | Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => break,
            }
            let width = 20;
            let filled = (done + failed) * width / total;
            eprintln!(
                "[{}{}] {done}/{total} done, {failed} failed, {sending} sending, {queued} queued{waiting} ({:.1} s)",
                "#".repeat(filled),
                "-".repeat(width - filled),
                start.elapsed().as_secs_f64()
            );
        }
    });

    // Submit everything; the first item is urgent, the last can wait.
    let calls: Vec<_> = ITEMS
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let priority = match i {
                0 => Priority::High,
                i if i == ITEMS.len() - 1 => Priority::Low,
                _ => Priority::Normal,
            };
            let request = ChatRequest::new(model.as_str())
                .system("You are a helpful assistant. Provide concise answers to questions.")
                .user(*text)
                .temperature(0.5)
                .max_completion_tokens(600);
            let call = client
                .chat(request)
                .priority(priority)
                .request_id(format!("item-{}", i + 1));
            tokio::spawn(call.into_future())
        })
        .collect();

    let mut table = String::from("id,question,answer,tokens\n");
    let (mut completed, mut errors) = (0, 0);
    let mut samples = Vec::new();
    for (i, call) in calls.into_iter().enumerate() {
        let (answer, tokens) = match call.await? {
            Ok(reply) => {
                completed += 1;
                let answer = reply.text().unwrap_or_default().to_owned();
                let tokens = reply.usage.map_or(0, |u| u.total_tokens);
                if samples.len() < 3 {
                    samples.push((ITEMS[i], common::clip(&answer, 100)));
                }
                (answer, tokens.to_string())
            }
            Err(error) => {
                errors += 1;
                (format!("ERROR: {error}"), "n/a".to_owned())
            }
        };
        let _ = writeln!(
            table,
            "{},{},{},{tokens}",
            i + 1,
            csv(ITEMS[i]),
            csv(&answer)
        );
    }
    progress.await?;

    let elapsed = start.elapsed().as_secs_f64();
    println!("\nProcessed {total} items in {elapsed:.2} s: {completed} completed, {errors} errors");
    println!("Average time per item: {:.2} s", elapsed / total as f64);
    for (question, answer) in samples {
        println!("\n{question}\n  {answer}");
    }
    let path = std::env::temp_dir().join("groqchat_parallel_processing_results.csv");
    std::fs::write(&path, table)?;
    println!("\nResults exported to {}", path.display());
    println!("Limits after: {}", common::describe_limits(&client, &model));
    backend.close().await;
    Ok(())
}
