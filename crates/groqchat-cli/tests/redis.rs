//! Several real `groqchat batch --redis` processes, each with a shard of one workload, share
//! one quota of one groq-mock server through a real Redis the test starts: no 429, every
//! request done once; a process killed with SIGKILL mid-run leaves its leases to expire and
//! the others finish; Redis restarted mid-run loses nothing.

#[path = "../../groq-ratelimit-redis/tests/common/mod.rs"]
mod redis_server;

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use groq_mock::{MockLimits, MockServer};
use redis_server::RedisServer;
use serde_json::{Value, json};

const KEY: &str = "gsk_shared_quota_test_key";

/// The tests of this file run one at a time: each starts several processes, and running
/// them all at once on a small machine delays requests by more than the limiter's margin
/// against jitter (100 ms), which is not what these tests are about.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
const MODEL: &str = "llama-3.1-8b-instant";

struct Setup {
    runtime: tokio::runtime::Runtime,
    mock: MockServer,
    dir: tempfile::TempDir,
    config: PathBuf,
}

/// A groq-mock with 30 requests per 3-second "minute" for MODEL, and the matching client
/// configuration (at most `in_flight` requests in flight across every process).
fn setup(latency: Duration, in_flight: u32) -> Setup {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mock = runtime
        .block_on(
            MockServer::builder()
                .api_key(KEY)
                .model(MODEL, MockLimits::unlimited().rpm(30))
                .minute_length(Duration::from_secs(3))
                .latency(latency, latency)
                .start(),
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("groqchat.json");
    fs::write(
        &config,
        json!({
            "builtin_catalog": false,
            "unknown_models": "reject",
            "models": { MODEL: {
                "req_per_minute": { "limit": 30, "per": "3s" },
                "max_in_flight": in_flight,
            }},
        })
        .to_string(),
    )
    .unwrap();
    Setup {
        runtime,
        mock,
        dir,
        config,
    }
}

/// Writes `count` requests of shard `shard` and returns the input path.
fn shard(dir: &Path, shard: usize, count: usize) -> PathBuf {
    let path = dir.join(format!("shard{shard}.jsonl"));
    let mut text = String::new();
    for i in 0..count {
        let line = json!({
            "custom_id": format!("s{shard}-r{i}"),
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                "model": MODEL,
                "messages": [{"role": "user", "content": format!("shard {shard} question {i}")}],
                "max_completion_tokens": 16,
            },
        });
        text.push_str(&line.to_string());
        text.push('\n');
    }
    fs::write(&path, text).unwrap();
    path
}

fn batch(setup: &Setup, redis: &RedisServer, input: &Path) -> Child {
    let output = input.with_extension("out.jsonl");
    let summary = input.with_extension("summary.json");
    Command::new(assert_cmd::cargo::cargo_bin("groqchat"))
        .env_remove("GROQ_CONFIG")
        .env_remove("GROQCHAT_REDIS_URL")
        .env("GROQ_API_KEY", KEY)
        .env("GROQ_BASE_URL", setup.mock.base_url())
        .arg("batch")
        .arg(input)
        .arg("-o")
        .arg(&output)
        .arg("--config")
        .arg(&setup.config)
        .args([
            "--redis",
            &redis.url(),
            "--progress",
            "off",
            "--summary-json",
        ])
        .arg(&summary)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// `groqchat limits MODEL --redis URL`: the shared state as text.
fn limits(setup: &Setup, redis: &RedisServer) -> String {
    let output = Command::new(assert_cmd::cargo::cargo_bin("groqchat"))
        .env_remove("GROQ_CONFIG")
        .env_remove("GROQCHAT_REDIS_URL")
        .env("GROQ_API_KEY", KEY)
        .env("GROQ_BASE_URL", setup.mock.base_url())
        .args(["limits", MODEL, "--redis", &redis.url(), "--config"])
        .arg(&setup.config)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn finish(child: Child) {
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "a batch process failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The custom ids of the successful results of `input`'s output file.
fn done(input: &Path) -> Vec<String> {
    let output = input.with_extension("out.jsonl");
    fs::read_to_string(output)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON result lines"))
        .filter(|v| v["error"].is_null() && v["response"]["status_code"] == 200)
        .map(|v| v["custom_id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn assert_each_once(ids: &[String], shard: usize, count: usize) {
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(
        unique.len(),
        ids.len(),
        "shard {shard}: a request was written twice"
    );
    assert_eq!(
        ids.len(),
        count,
        "shard {shard}: {} of {count} requests done",
        ids.len()
    );
}

#[test]
fn processes_sharing_one_quota_through_redis_meet_no_429() {
    let _serial = serial();
    let redis = RedisServer::start();
    let setup = setup(Duration::from_millis(20), 16);
    let inputs: Vec<PathBuf> = (0..3).map(|i| shard(setup.dir.path(), i, 30)).collect();
    let children: Vec<Child> = inputs.iter().map(|i| batch(&setup, &redis, i)).collect();
    for child in children {
        finish(child);
    }
    for (i, input) in inputs.iter().enumerate() {
        assert_each_once(&done(input), i, 30);
    }
    let stats = setup.mock.stats();
    assert_eq!(
        stats.rate_limited, 0,
        "the server answered 429: {:?}",
        stats.by_status
    );
    assert_eq!(
        stats.audit.len(),
        90,
        "every request reached the server exactly once"
    );
    drop(setup.runtime);
}

#[test]
fn a_killed_process_leases_expire_and_the_others_finish() {
    let _serial = serial();
    let redis = RedisServer::start();
    // Slow answers keep requests in flight, so the killed process holds some of the 6 slots.
    let setup = setup(Duration::from_millis(300), 6);
    let inputs: Vec<PathBuf> = (0..3).map(|i| shard(setup.dir.path(), i, 20)).collect();
    let mut children: Vec<Child> = inputs.iter().map(|i| batch(&setup, &redis, i)).collect();
    // Kill the first process once it is well under way (requests answered, more in flight).
    for _ in 0..200 {
        if done(&inputs[0]).len() >= 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut victim = children.remove(0);
    victim.kill().unwrap();
    victim.wait().unwrap();
    for child in children {
        finish(child);
    }
    for (i, input) in inputs.iter().enumerate().skip(1) {
        assert_each_once(&done(input), i, 20);
    }
    assert_eq!(
        setup.mock.stats().rate_limited,
        0,
        "the server answered 429"
    );
    // `groqchat limits --redis` shows the shared state; the killed process's in-flight slots
    // come back when their leases (15 s) expire.
    let mut last = String::new();
    for _ in 0..40 {
        last = limits(&setup, &redis);
        if last.contains("in flight 0 of at most 6") {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(last.contains("in flight 0 of at most 6"), "{last}");
    assert!(
        last.contains("shared through Redis") && last.contains("RPM"),
        "{last}"
    );
    // The killed shard resumes and completes without writing anything twice.
    finish(batch(&setup, &redis, &inputs[0]));
    assert_each_once(&done(&inputs[0]), 0, 20);
    drop(setup.runtime);
}

#[test]
fn a_redis_restart_mid_run_loses_nothing() {
    let _serial = serial();
    let mut redis = RedisServer::start();
    let setup = setup(Duration::from_millis(20), 16);
    let inputs: Vec<PathBuf> = (0..2).map(|i| shard(setup.dir.path(), i, 40)).collect();
    let children: Vec<Child> = inputs.iter().map(|i| batch(&setup, &redis, i)).collect();
    std::thread::sleep(Duration::from_millis(1_500));
    redis.stop();
    std::thread::sleep(Duration::from_millis(500));
    redis.restart();
    for child in children {
        finish(child);
    }
    // Every request ends in one result. The restarted Redis forgot the buckets, so a 429 or
    // two may occur until the server's headers teach the limiter again; they are retried.
    for (i, input) in inputs.iter().enumerate() {
        assert_each_once(&done(input), i, 40);
    }
    drop(setup.runtime);
}

/// Starts `groqchat serve --redis URL` on a free loopback port; returns the process and its
/// `host:port`, read from the base URL it prints first.
fn serve(setup: &Setup, redis: &RedisServer) -> (Child, String) {
    use std::io::BufRead as _;
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("groqchat"))
        .env_remove("GROQ_CONFIG")
        .env_remove("GROQCHAT_REDIS_URL")
        .env_remove("GROQCHAT_GATEWAY_KEYS")
        .env("GROQ_API_KEY", KEY)
        .env("GROQ_BASE_URL", setup.mock.base_url())
        .args(["serve", "--addr", "127.0.0.1:0", "--log-level", "off"])
        .args(["--redis", &redis.url(), "--config"])
        .arg(&setup.config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("http://")
        .and_then(|rest| rest.strip_suffix("/openai/v1"))
        .unwrap_or_else(|| panic!("the first line is the base URL: {line:?}"))
        .to_owned();
    (child, addr)
}

/// One chat completion through a gateway; its HTTP status.
fn chat_through(addr: &str, question: &str) -> u16 {
    use std::io::{Read as _, Write as _};
    let body = json!({
        "model": MODEL,
        "messages": [{"role": "user", "content": question}],
        "max_completion_tokens": 16,
    })
    .to_string();
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    write!(
        stream,
        "POST /openai/v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
}

#[test]
fn two_gateways_on_one_redis_pace_one_quota() {
    let _serial = serial();
    let redis = RedisServer::start();
    let setup = setup(Duration::from_millis(20), 16);
    let gateways: Vec<(Child, String)> = (0..2).map(|_| serve(&setup, &redis)).collect();
    // 60 requests, half through each gateway, all at once: twice the 30-request bucket, so
    // the second half must wait for the refill whichever gateway it came through.
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..60)
            .map(|i| {
                let addr = gateways[i % 2].1.clone();
                scope.spawn(move || chat_through(&addr, &format!("question {i}")))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (mut child, _) in gateways {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(
        statuses.iter().all(|&s| s == 200),
        "every request answered 200: {statuses:?}"
    );
    let stats = setup.mock.stats();
    assert_eq!(
        stats.rate_limited, 0,
        "the server answered 429: {:?}",
        stats.by_status
    );
    assert_eq!(
        stats.audit.len(),
        60,
        "each request reached the server once"
    );
    drop(setup.runtime);
}
