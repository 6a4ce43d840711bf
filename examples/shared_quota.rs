//! Two clients in two processes sharing one quota through Redis.
//!
//! The program starts two copies of itself, each a `GroqClient` built with
//! `.redis(url)`, and gives each half of one workload. Alone, each would pace itself to the
//! model's whole limit and together they would draw 429s; sharing the limiter's state in
//! Redis, they take turns and the server sees one client at the limit.
//!
//! ```text
//! redis-server --port 6379 --save '' --appendonly no &   # any Redis or Valkey
//! cargo run -p groqchat --features redis --example shared_quota
//! ```
//!
//! `GROQCHAT_REDIS_URL` names another Redis (default `redis://127.0.0.1:6379`). With
//! `GROQ_API_KEY` set the two processes talk to Groq; otherwise to a groq-mock started here,
//! whose "minute" lasts 6 seconds, and the program ends by printing what the server saw.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::Stdio;
use std::time::Duration;

use groq_mock::{MockLimits, MockServer};
use groqchat::redis::RedisLimiter;
use groqchat::{ChatRequest, Config, GroqClient, Limits, Rate};
use tokio::time::Instant;

type BoxResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const MODEL: &str = "llama-3.1-8b-instant";
const MOCK_KEY: &str = "gsk_groqchat_example_mock";
/// Requests per process.
const EACH: usize = 20;
/// The offline "minute": 30 requests per 6 seconds.
const MINUTE: Duration = Duration::from_secs(6);

fn redis_url() -> String {
    std::env::var("GROQCHAT_REDIS_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned())
}

/// One of the two processes: a client sharing the quota through Redis.
async fn worker(name: &str, offline: bool) -> BoxResult<()> {
    let mut config = Config::load(None)?;
    if offline {
        // The emulator's minute lasts 6 s: the client is told the same compressed limit.
        let limits = Limits::default().with_requests_per_minute(Rate::new(30, MINUTE)?);
        if let Some(model) = config.models.get_mut(MODEL) {
            model.limits = limits;
        }
    }
    let client = GroqClient::builder()
        .config(config)
        .redis(redis_url())
        .build()?;
    let start = Instant::now();
    let calls: Vec<_> = (0..EACH)
        .map(|i| {
            client.chat(
                ChatRequest::new(MODEL)
                    .user(format!("{name}: in one word, what is {i} plus {i}?"))
                    .max_completion_tokens(8),
            )
        })
        .collect();
    let mut ok = 0;
    for call in calls {
        match call.await {
            Ok(_) => ok += 1,
            Err(e) => eprintln!("{name}: {e}"),
        }
    }
    println!(
        "{name}: {ok}/{EACH} answered in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    client.shutdown(groqchat::ShutdownMode::Drain).await;
    Ok(())
}

#[tokio::main]
async fn main() -> BoxResult<()> {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("worker") {
        let name = args.next().unwrap_or_default();
        let offline = std::env::var("SHARED_QUOTA_OFFLINE").is_ok();
        return worker(&name, offline).await;
    }

    // Is Redis there? (The limiter would wait for it; an example should rather say so.)
    let url = redis_url();
    let probe = RedisLimiter::connect(&url)?;
    if let Err(e) = tokio::task::spawn_blocking(move || probe.ping()).await? {
        return Err(format!(
            "no Redis at {url} ({e}); start one with `redis-server --port 6379 --save '' \
             --appendonly no` or set GROQCHAT_REDIS_URL"
        )
        .into());
    }

    let online = std::env::var("GROQ_API_KEY").is_ok_and(|k| !k.trim().is_empty());
    let mock = if online {
        eprintln!("GROQ_API_KEY is set: both processes talk to the Groq API");
        None
    } else {
        let mock = MockServer::builder()
            .api_key(MOCK_KEY)
            .model(MODEL, MockLimits::unlimited().rpm(30))
            .minute_length(MINUTE)
            .start()
            .await?;
        eprintln!(
            "No GROQ_API_KEY: both processes talk to a groq-mock at {} (30 requests per 6 s)",
            mock.base_url()
        );
        Some(mock)
    };

    let start = Instant::now();
    let mut children = Vec::new();
    for name in ["process A", "process B"] {
        let mut command = std::process::Command::new(std::env::current_exe()?);
        command.args(["worker", name]).stdin(Stdio::null());
        if let Some(mock) = &mock {
            command
                .env("GROQ_API_KEY", MOCK_KEY)
                .env("GROQ_BASE_URL", mock.base_url())
                .env("SHARED_QUOTA_OFFLINE", "1");
        }
        children.push(command.spawn()?);
    }
    for mut child in children {
        let status = tokio::task::spawn_blocking(move || child.wait()).await??;
        if !status.success() {
            return Err(format!("a worker process failed: {status}").into());
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    if let Some(mock) = mock {
        let stats = mock.stats();
        let span = match (stats.audit.first(), stats.audit.last()) {
            (Some(first), Some(last)) => last.at.saturating_sub(first.at).as_secs_f64(),
            _ => 0.0,
        };
        // 40 requests at 30 per 6 s: 30 at once, then one every 0.2 s.
        println!(
            "The server answered {} requests with {} 429s; from the first to the last, \
             {span:.1} s (the limit allows {:.1} s at best; {elapsed:.1} s with start-up).",
            stats.audit.len(),
            stats.rate_limited,
            (2 * EACH - 30) as f64 * 0.2
        );
        mock.shutdown().await;
    }
    Ok(())
}
