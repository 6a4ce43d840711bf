//! A peer under the same quota: the burst of `benches/quota.rs` (120 short requests against 30
//! requests per minute, in a 3 s minute) sent through `async-openai` with its default retry
//! behaviour, all at once as its users would fire them. Writes `peer.json` to the results
//! directory.
//!
//! `async-openai`'s typed `create` cannot read Groq's replies: they carry
//! `"service_tier": "on_demand"`, which its `ServiceTier` enum does not know. The benchmark
//! records that with one typed call, then sends the burst through `create_byot` (its
//! documented path for OpenAI-compatible services), which goes through the same HTTP client
//! and retry layer and reads the reply as plain JSON.
//!
//! Run with `cargo bench -p groqchat-benches --bench peer` (or `cargo xtask bench`).
#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::process::ExitCode;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionRequestSystemMessageArgs, ChatCompletionRequestUserMessageArgs,
    CreateChatCompletionRequest, CreateChatCompletionRequestArgs,
};
use groq_mock::MockServer;
use groqchat_benches::results::{self, QuotaReport, QuotaRun};
use groqchat_benches::workload::{
    API_KEY, COMPLETION_TOKENS, LARGE, MINUTE, Request, SMALL, Workload, free_plan,
};

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            println!("peer: could not start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            println!("peer: {message}");
            ExitCode::FAILURE
        }
    }
}

fn openai_request(request: &Request) -> Result<CreateChatCompletionRequest, OpenAIError> {
    CreateChatCompletionRequestArgs::default()
        .model(request.model)
        .messages([
            ChatCompletionRequestSystemMessageArgs::default()
                .content(request.system.as_str())
                .build()?
                .into(),
            ChatCompletionRequestUserMessageArgs::default()
                .content(request.user.as_str())
                .build()?
                .into(),
        ])
        .max_completion_tokens(request.budget)
        .build()
}

async fn start_mock() -> Result<MockServer, String> {
    let mut server = MockServer::builder()
        .api_key(API_KEY)
        .minute_length(MINUTE)
        .completion_tokens(COMPLETION_TOKENS)
        .seed(7);
    for model in [SMALL, LARGE] {
        let limits = free_plan(model).ok_or_else(|| format!("no limits for {model}"))?;
        server = server.model(model, limits);
    }
    server
        .start()
        .await
        .map_err(|e| format!("the emulator did not start: {e}"))
}

/// A short, stable name for an error, to count failures by kind.
fn error_kind(error: &OpenAIError) -> String {
    match error {
        OpenAIError::ApiError(api) => format!(
            "HTTP {} {}",
            api.status_code.as_u16(),
            api.api_error.code.as_deref().unwrap_or("error")
        ),
        OpenAIError::JSONDeserialize(..) => "reply not readable".to_owned(),
        OpenAIError::Reqwest(_) => "HTTP client error".to_owned(),
        _ => "other error".to_owned(),
    }
}

async fn run() -> Result<(), String> {
    let workload = Workload::burst();
    let minimum = workload
        .minimum()
        .map_err(|e| format!("{}: {e}", workload.name))?;
    let mut notes = Vec::new();

    // One typed call on its own emulator, to show whether the typed API reads Groq's reply.
    {
        let server = start_mock().await?;
        let client = Client::with_config(
            OpenAIConfig::new()
                .with_api_base(server.base_url())
                .with_api_key(API_KEY),
        );
        let first = workload.requests.first().ok_or("the burst is empty")?;
        let request = openai_request(first).map_err(|e| format!("request not built: {e}"))?;
        match client.chat().create(request).await {
            Ok(_) => notes.push("the typed `chat().create` read the emulator's reply".to_owned()),
            Err(e) => {
                let mut text = e.to_string();
                text.truncate(200);
                notes.push(format!(
                    "the typed `chat().create` fails on every reply ({text}), so the burst \
                     used `create_byot` with JSON replies"
                ));
            }
        }
        server.shutdown().await;
    }

    let server = start_mock().await?;
    let client = Client::with_config(
        OpenAIConfig::new()
            .with_api_base(server.base_url())
            .with_api_key(API_KEY),
    );
    let requests: Vec<CreateChatCompletionRequest> = workload
        .requests
        .iter()
        .map(openai_request)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("request not built: {e}"))?;

    #[allow(clippy::disallowed_methods)] // a benchmark harness measures real time
    let started = std::time::Instant::now();
    let calls: Vec<_> = requests
        .into_iter()
        .map(|request| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .chat()
                    .create_byot::<_, serde_json::Value>(request)
                    .await
            })
        })
        .collect();
    let mut completed = 0_u64;
    let mut failures: BTreeMap<String, u64> = BTreeMap::new();
    for call in calls {
        match call.await {
            Ok(Ok(_)) => completed += 1,
            Ok(Err(e)) => *failures.entry(error_kind(&e)).or_default() += 1,
            Err(_) => *failures.entry("task failed".to_owned()).or_default() += 1,
        }
    }
    let elapsed = started.elapsed();
    let stats = server.stats();
    server.shutdown().await;

    if !failures.is_empty() {
        let list: Vec<String> = failures
            .iter()
            .map(|(kind, count)| format!("{count} x {kind}"))
            .collect();
        notes.push(format!(
            "failed after the default retries (3, honouring retry-after): {}",
            list.join(", ")
        ));
    }
    let first = stats.audit.iter().map(|a| a.at).min().unwrap_or_default();
    let last = stats.audit.iter().map(|a| a.at).max().unwrap_or_default();
    let span = last.saturating_sub(first);
    notes.push(format!(
        "{} requests reached the emulator in all ({} admitted, {} answered 429)",
        stats.responses,
        stats.audit.len(),
        stats.rate_limited
    ));

    let run = QuotaRun {
        workload: workload.name.to_owned(),
        client: "async-openai 0.43, default retries".to_owned(),
        requests: workload.requests.len() as u64,
        completed,
        rate_limited: stats.rate_limited,
        elapsed_s: elapsed.as_secs_f64(),
        minimum_s: minimum.as_secs_f64(),
        last_admission_s: span.as_secs_f64(),
        estimate_ratio: None,
        notes,
    };
    println!(
        "{:<52} {:<36} completed {:>3}/{:<3} 429s {:>3}  elapsed {:>6.2} s  minimum {:>6.2} s",
        run.workload,
        run.client,
        run.completed,
        run.requests,
        run.rate_limited,
        run.elapsed_s,
        run.minimum_s
    );
    for note in &run.notes {
        println!("    {note}");
    }
    let report = QuotaReport {
        minute_s: MINUTE.as_secs_f64(),
        setup: format!(
            "the emulator and limits of the quota benchmark (minute of {} s); async-openai \
             0.43 without TLS features, `OpenAIConfig` pointed at the emulator, its default \
             client (3 retries on 429 and 5xx, `retry-after` honoured, else 100 ms doubling \
             to 8 s); all 120 requests spawned at once",
            MINUTE.as_secs_f64()
        ),
        runs: vec![run],
    };
    let path = results::save(&results::results_dir(), "peer", &report)
        .map_err(|e| format!("could not save the results: {e}"))?;
    println!("peer: results in {}", path.display());
    Ok(())
}
