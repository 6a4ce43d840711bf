//! Rate-limit test, moderate load: 35 short requests at once to a model allowed 30 requests
//! per minute.
//!
//! Thirty go at once (a full bucket); the client holds the other five and sends each the
//! moment the bucket has refilled enough, so the run takes the least time the limit allows,
//! and the server never has to answer 429.
//!
//! ```text
//! cargo run -p groqchat --example rate_limit_moderate
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "common/mod.rs"]
mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use groqchat::ChatRequest;
use tokio::time::Instant;

const QUESTIONS: [&str; 35] = [
    "What is 1+1?",
    "What is your name?",
    "What is today?",
    "Hello?",
    "What is red?",
    "Who are you?",
    "Tell me a joke.",
    "What is 2+2?",
    "What is Python?",
    "What is an API?",
    "What is the sun?",
    "What is a dog?",
    "What is water?",
    "How are you?",
    "What is the time?",
    "What is a car?",
    "What is music?",
    "What is a book?",
    "What is food?",
    "What is sleep?",
    "What is a computer?",
    "What is code?",
    "What is language?",
    "What is a tree?",
    "What is a number?",
    "What is a question?",
    "What is a word?",
    "What is a sentence?",
    "What is a paragraph?",
    "What is a document?",
    "What is an essay?",
    "What is a novel?",
    "What is a story?",
    "What is art?",
    "What is science?",
];

#[tokio::main]
async fn main() -> common::BoxResult<()> {
    let backend = common::Setup::new()
        .models(&["llama-3.1-8b-instant"])
        .minute(Duration::from_secs(6))
        .connect()
        .await?;
    let client = backend.client.clone();
    let model = backend.model_or("llama-3.1-8b-instant");
    let n = QUESTIONS.len() as u64;
    let rate_limited = common::count_429s(&client);

    println!("Model: {model}");
    println!(
        "Limits before: {}",
        common::describe_limits(&client, &model)
    );
    if let Some(floor) = common::rpm_floor(&client, &model, n) {
        println!(
            "{n} requests need at least {:.2} s under the requests-per-minute limit",
            floor.as_secs_f64()
        );
    }

    let start = Instant::now();
    let calls: Vec<_> = QUESTIONS
        .iter()
        .map(|question| {
            let request = ChatRequest::new(model.as_str())
                .system("You are a helpful assistant. Keep answers very short and simple.")
                .user(*question)
                .temperature(0.7)
                .max_completion_tokens(50);
            let call = client.chat(request);
            let question = *question;
            tokio::spawn(async move {
                let outcome = call.await;
                let at = start.elapsed().as_secs_f64();
                match &outcome {
                    Ok(reply) => println!(
                        "[{at:5.2} s] {question} -> {}",
                        common::clip(reply.text().unwrap_or_default(), 50)
                    ),
                    Err(error) => println!("[{at:5.2} s] {question} FAILED: {error}"),
                }
                outcome.is_ok()
            })
        })
        .collect();
    let mut completed = 0;
    for call in calls {
        if call.await? {
            completed += 1;
        }
    }

    println!(
        "\nLimits after: {}",
        common::describe_limits(&client, &model)
    );
    println!(
        "Completed {completed} of {n} in {:.2} s; 429s met: {}",
        start.elapsed().as_secs_f64(),
        rate_limited.load(Ordering::Relaxed)
    );
    if let Some(stats) = backend.mock_stats() {
        println!("The emulator answered 429 {} times.", stats.rate_limited);
    }
    backend.close().await;
    Ok(())
}
