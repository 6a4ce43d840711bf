//! Tool calls: the model asks for a function, the program runs it, and the model answers with
//! the result.
//!
//! The first request offers a `get_weather` tool and requires a tool call; the reply's
//! `tool_calls` name the function and its JSON arguments. The program answers each call with a
//! `tool` message, and the second request (with the history) gets the final text.
//!
//! ```text
//! cargo run -p groqchat --example tool_calls
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "common/mod.rs"]
mod common;

use groqchat::{ChatRequest, Message, Tool, ToolCall, ToolChoiceMode};
use serde_json::{Value, json};

/// The function the model may call: the weather in a city, from a fixed table.
fn get_weather(arguments: &Value) -> Value {
    let city = arguments.get("city").and_then(Value::as_str).unwrap_or("");
    let celsius = arguments.get("unit").and_then(Value::as_str) != Some("fahrenheit");
    let (temperature, sky) = match city.to_ascii_lowercase().as_str() {
        "paris" => (18.0, "cloudy"),
        "cairo" => (31.0, "sunny"),
        "oslo" => (7.0, "rain"),
        _ => (21.0, "clear"),
    };
    let temperature = if celsius {
        temperature
    } else {
        temperature * 9.0 / 5.0 + 32.0
    };
    json!({ "city": city, "temperature": temperature, "unit": if celsius { "celsius" } else { "fahrenheit" }, "sky": sky })
}

/// Runs one tool call and returns its result as the content of a `tool` message.
fn run(call: &ToolCall) -> String {
    let result = match serde_json::from_str::<Value>(&call.function.arguments) {
        Ok(arguments) if call.function.name == "get_weather" => get_weather(&arguments),
        Ok(_) => json!({ "error": format!("unknown function {}", call.function.name) }),
        Err(error) => json!({ "error": format!("the arguments are not JSON: {error}") }),
    };
    result.to_string()
}

#[tokio::main]
async fn main() -> common::BoxResult<()> {
    let backend = common::Setup::new()
        .models(&["llama-3.3-70b-versatile"])
        .connect()
        .await?;
    let client = backend.client.clone();
    let model = backend.model_or("llama-3.3-70b-versatile");

    let weather = Tool::function(
        "get_weather",
        "The current weather in a city.",
        json!({
            "type": "object",
            "properties": {
                "city": { "type": "string", "description": "The city, e.g. Paris" },
                "unit": { "type": "string", "enum": ["celsius", "fahrenheit"] }
            },
            "required": ["city"]
        }),
    );
    let question = "What is the weather like in Paris right now?";
    let mut messages = vec![
        Message::system("You are a weather assistant. Use the tools to answer."),
        Message::user(question),
    ];
    println!("User: {question}");

    let first = client
        .chat(
            ChatRequest::new(model.as_str())
                .messages(messages.iter().cloned())
                .tool(weather.clone())
                .tool_choice(ToolChoiceMode::Required)
                .max_completion_tokens(200),
        )
        .await?;
    let calls = first.tool_calls().to_vec();
    if calls.is_empty() {
        println!(
            "The model answered without a tool: {}",
            first.text().unwrap_or_default()
        );
        backend.close().await;
        return Ok(());
    }
    messages.push(Message::assistant_tool_calls(calls.clone()));
    for call in &calls {
        let result = run(call);
        println!(
            "Model called {}({}) -> {result}",
            call.function.name, call.function.arguments
        );
        messages.push(Message::tool(call.id.as_str(), result));
    }

    let second = client
        .chat(
            ChatRequest::new(model.as_str())
                .messages(messages)
                .tool(weather)
                .tool_choice(ToolChoiceMode::None)
                .max_completion_tokens(200),
        )
        .await?;
    println!("Assistant: {}", second.text().unwrap_or_default());
    if let Some(usage) = &second.usage {
        println!("[{} tokens in the final request]", usage.total_tokens);
    }
    backend.close().await;
    Ok(())
}
