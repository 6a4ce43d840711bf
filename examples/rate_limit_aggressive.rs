//! Rate-limit test, aggressive load: 100 requests at once, split over two models, in three
//! priority classes, against free-plan limits (30 requests per minute per model).
//!
//! Each model has its own queue and limits, so both are served in parallel. Within a model,
//! `High` requests go first, then `Normal`, then `Low` (a waiting `Low` request would overtake
//! new `High` ones after 30 s, so nothing starves). The run takes the least time the limits
//! allow, with no 429.
//!
//! ```text
//! cargo run -p groqchat --example rate_limit_aggressive
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use groqchat::{ChatRequest, Priority};
use tokio::time::Instant;

const MODELS: [&str; 2] = ["llama-3.1-8b-instant", "llama-3.3-70b-versatile"];
const COLOURS: [&str; 10] = [
    "red", "blue", "green", "yellow", "purple", "black", "white", "gray", "brown", "orange",
];
const TOTAL: usize = 100;

/// The class of the `i`-th request: one in ten `High`, three in ten `Low`, the rest `Normal`
/// (the models take turns by tens, so each gets the same mix).
fn priority(i: usize) -> Priority {
    match i % 10 {
        0 => Priority::High,
        1..=3 => Priority::Low,
        _ => Priority::Normal,
    }
}

#[tokio::main]
async fn main() -> common::BoxResult<()> {
    let backend = common::Setup::new()
        .models(&MODELS)
        .minute(Duration::from_secs(3))
        .connect()
        .await?;
    let client = backend.client.clone();
    let models = backend.models.clone();
    let rate_limited = common::count_429s(&client);

    for model in &models {
        println!("{model}: {}", common::describe_limits(&client, model));
        if let Some(floor) = common::rpm_floor(&client, model, (TOTAL / models.len()) as u64) {
            println!(
                "  {} requests need at least {:.2} s under its requests-per-minute limit",
                TOTAL / models.len(),
                floor.as_secs_f64()
            );
        }
    }

    println!("\nSending {TOTAL} requests at once...");
    let start = Instant::now();
    let calls: Vec<_> = (0..TOTAL)
        .map(|i| {
            let model = models[(i / 10) % models.len()].clone();
            let (a, colour) = (i / 10 + 1, COLOURS[i % COLOURS.len()]);
            let request = ChatRequest::new(model.as_str())
                .system("You are a helpful assistant. Keep answers to one sentence.")
                .user(format!("What is {a}+{a}, and what is {colour}?"))
                .max_completion_tokens(40);
            let call = client.chat(request).priority(priority(i));
            tokio::spawn(async move { (model, priority(i), call.await, start.elapsed()) })
        })
        .collect();

    // Per model and class: completions and the mean completion time.
    let mut finished: BTreeMap<(String, Priority), (usize, Duration)> = BTreeMap::new();
    let mut failures = Vec::new();
    for (done, call) in calls.into_iter().enumerate() {
        let (model, class, outcome, at) = call.await?;
        match outcome {
            Ok(_) => {
                let entry = finished.entry((model, class)).or_default();
                entry.0 += 1;
                entry.1 += at;
            }
            Err(error) => failures.push(format!("{model} ({class}): {error}")),
        }
        if (done + 1) % 25 == 0 {
            eprintln!("progress: {}/{TOTAL} collected", done + 1);
        }
    }

    println!("\nmodel                      class   done  mean completion time");
    for ((model, class), (count, sum)) in &finished {
        let mean = sum.as_secs_f64() / (*count).max(1) as f64;
        let class = class.to_string();
        println!("{model:<26} {class:<7} {count:>4}  {mean:6.2} s");
    }
    for failure in &failures {
        println!("failed: {failure}");
    }
    println!(
        "\nCompleted {} of {TOTAL}, failed {}, in {:.2} s; 429s met: {}",
        TOTAL - failures.len(),
        failures.len(),
        start.elapsed().as_secs_f64(),
        rate_limited.load(Ordering::Relaxed)
    );
    if let Some(stats) = backend.mock_stats() {
        println!("The emulator answered 429 {} times.", stats.rate_limited);
    }
    backend.close().await;
    Ok(())
}
