//! Interactive: pick one of the configured models, then chat with it, one question at a time.
//!
//! Reads standard input: first the number of a model, then messages, one per line; an empty
//! input, `/exit` or end of input stops. Each answer shows its token usage.
//!
//! ```text
//! cargo run -p groqchat --example select_model_and_chat
//! printf '1\nWhat is Rust?\n' | cargo run -p groqchat --example select_model_and_chat
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "common/mod.rs"]
mod common;

use std::io::Write as _;

use groqchat::ChatRequest;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Prints `prompt` and reads one line; `None` at the end of input.
async fn ask(
    lines: &mut tokio::io::Lines<BufReader<tokio::io::Stdin>>,
    prompt: &str,
) -> common::BoxResult<Option<String>> {
    print!("{prompt}");
    std::io::stdout().flush()?;
    Ok(lines.next_line().await?.map(|line| line.trim().to_owned()))
}

#[tokio::main]
async fn main() -> common::BoxResult<()> {
    let backend = common::Setup::new().connect().await?;
    let models = backend.models.clone();
    if models.is_empty() {
        println!("No models found in the configuration.");
        backend.close().await;
        return Ok(());
    }
    println!("Available models:");
    for (i, model) in models.iter().enumerate() {
        println!("{}. {model}", i + 1);
    }

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let model = loop {
        let Some(answer) = ask(
            &mut lines,
            &format!("\nSelect a model (1-{}): ", models.len()),
        )
        .await?
        else {
            println!();
            backend.close().await;
            return Ok(());
        };
        match answer.parse::<usize>() {
            Ok(n) if (1..=models.len()).contains(&n) => break models[n - 1].clone(),
            Ok(_) => println!("Invalid selection. Please try again."),
            Err(_) => println!("Please enter a number."),
        }
    };
    println!("\nYou selected: {model}. Type a message (empty line or /exit to quit).");

    while let Some(message) = ask(&mut lines, "\nYou: ").await? {
        if message.is_empty() || message == "/exit" {
            break;
        }
        let request = ChatRequest::new(model.as_str())
            .system("You are a helpful assistant.")
            .user(message)
            .temperature(0.7);
        match backend.client.chat(request).await {
            Ok(reply) => {
                println!("\n{model}: {}", reply.text().unwrap_or_default());
                if let Some(usage) = &reply.usage {
                    println!(
                        "[tokens: {} prompt + {} completion = {} total]",
                        usage.prompt_tokens, usage.completion_tokens, usage.total_tokens
                    );
                }
            }
            Err(error) => println!("\nError: {error}"),
        }
    }
    backend.close().await;
    Ok(())
}
