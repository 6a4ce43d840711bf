//! The figures each end-to-end benchmark hands to the report, as JSON files.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The environment variable that overrides [`results_dir`].
pub const RESULTS_DIR_VAR: &str = "GROQCHAT_BENCH_RESULTS";

/// Errors reading or writing result files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResultsError {
    /// A file or directory could not be read or written.
    #[error("could not access {path}; check that the directory exists and is writable")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A result file is not the JSON this package writes.
    #[error("{path} is not a result file of this version; rerun `cargo xtask bench`")]
    Json {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
}

/// Where results go: `$GROQCHAT_BENCH_RESULTS`, else `$CARGO_TARGET_DIR/groqchat-bench`, else
/// the workspace's `target/groqchat-bench`.
pub fn results_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(RESULTS_DIR_VAR) {
        return PathBuf::from(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .unwrap_or_else(|| Path::new("."))
                .join("target")
        },
        PathBuf::from,
    );
    target.join("groqchat-bench")
}

/// Writes `value` as `<dir>/<name>.json`, creating `dir`, and returns the path.
pub fn save<T: Serialize>(dir: &Path, name: &str, value: &T) -> Result<PathBuf, ResultsError> {
    fs::create_dir_all(dir).map_err(|source| ResultsError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let path = dir.join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(value).map_err(|source| ResultsError::Json {
        path: path.clone(),
        source,
    })?;
    fs::write(&path, text).map_err(|source| ResultsError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// Reads `<dir>/<name>.json`, or `None` when there is no such file.
pub fn load<T: DeserializeOwned>(dir: &Path, name: &str) -> Result<Option<T>, ResultsError> {
    let path = dir.join(format!("{name}.json"));
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(ResultsError::Io { path, source }),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|source| ResultsError::Json { path, source })
}

/// One workload pushed through one client against the emulator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotaRun {
    /// The workload's name.
    pub workload: String,
    /// The client that ran it.
    pub client: String,
    /// Requests submitted.
    pub requests: u64,
    /// Requests that ended in a reply.
    pub completed: u64,
    /// 429 responses the emulator sent.
    pub rate_limited: u64,
    /// From the first submission to the last result, in seconds.
    pub elapsed_s: f64,
    /// The theoretical minimum, in seconds (see [`crate::minimum`]).
    pub minimum_s: f64,
    /// From the emulator's first admission to its last, in seconds.
    pub last_admission_s: f64,
    /// The client's prompt-token estimate over the server's count, summed over the workload,
    /// before any reply (the calibration prior) and after the run; `None` when not known.
    pub estimate_ratio: Option<(f64, f64)>,
    /// What the run's figures show about where time went.
    pub notes: Vec<String>,
}

impl QuotaRun {
    /// `minimum / elapsed`: 1.0 is a client that wastes no time at all.
    pub fn efficiency(&self) -> f64 {
        if self.elapsed_s > 0.0 {
            self.minimum_s / self.elapsed_s
        } else {
            0.0
        }
    }
}

/// The results of `benches/quota.rs` or `benches/peer.rs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotaReport {
    /// How long the emulator's minute lasted, in seconds.
    pub minute_s: f64,
    /// The limits and client settings, in words.
    pub setup: String,
    /// One entry per workload and client.
    pub runs: Vec<QuotaRun>,
}

/// Throughput and latency of one client at one concurrency.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Side {
    /// Requests completed per second.
    pub requests_per_s: f64,
    /// Median latency of one request, in microseconds.
    pub p50_us: f64,
    /// 99th-percentile latency, in microseconds.
    pub p99_us: f64,
}

/// The raw client and `GroqClient` at one concurrency.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OverheadLevel {
    /// Requests in flight at once.
    pub concurrency: u64,
    /// Requests measured per client.
    pub requests: u64,
    /// The raw hyper-util client.
    pub raw: Side,
    /// `HyperTransport` alone: the request built and sent, the body read.
    pub transport: Side,
    /// `GroqClient` with a token counter that only measures text length: the pipeline
    /// without tokenization.
    pub client_length_counter: Side,
    /// `GroqClient`, full pipeline.
    pub client: Side,
}

/// The results of `benches/overhead.rs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverheadReport {
    /// The server and client settings, in words.
    pub setup: String,
    /// One entry per concurrency.
    pub levels: Vec<OverheadLevel>,
}

/// The results of `benches/memory.rs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryReport {
    /// Requests held in the queue.
    pub queued: u64,
    /// Prompt length of each queued request, in bytes.
    pub prompt_bytes: u64,
    /// Resident set before the requests were submitted, in KiB.
    pub rss_before_kib: u64,
    /// Resident set with every request queued, in KiB.
    pub rss_queued_kib: u64,
    /// Peak resident set of the process, in KiB.
    pub peak_kib: u64,
    /// Resident set after as many more spawned tasks, each awaiting a future that never
    /// completes, were added: the share of a bare task, in KiB.
    pub rss_with_bare_tasks_kib: u64,
    /// Whether every request was reported queued before the measurement.
    pub all_queued: bool,
}

impl MemoryReport {
    /// Resident bytes per bare spawned task (the harness's own share of each queued call).
    pub fn bytes_per_bare_task(&self) -> f64 {
        if self.queued == 0 {
            return 0.0;
        }
        self.rss_with_bare_tasks_kib
            .saturating_sub(self.rss_queued_kib) as f64
            * 1024.0
            / self.queued as f64
    }

    /// Resident bytes per queued request.
    pub fn bytes_per_request(&self) -> f64 {
        if self.queued == 0 {
            return 0.0;
        }
        self.rss_queued_kib.saturating_sub(self.rss_before_kib) as f64 * 1024.0 / self.queued as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_round_trip_through_files() {
        let dir = std::env::temp_dir().join(format!("groqchat-bench-test-{}", std::process::id()));
        let report = MemoryReport {
            queued: 4,
            prompt_bytes: 10,
            rss_before_kib: 100,
            rss_queued_kib: 102,
            peak_kib: 110,
            rss_with_bare_tasks_kib: 103,
            all_queued: true,
        };
        let path = save(&dir, "memory", &report).unwrap();
        assert!(path.ends_with("memory.json"));
        assert_eq!(load::<MemoryReport>(&dir, "memory").unwrap(), Some(report));
        assert_eq!(load::<MemoryReport>(&dir, "absent").unwrap(), None);
        fs::write(dir.join("broken.json"), "{").unwrap();
        assert!(matches!(
            load::<MemoryReport>(&dir, "broken"),
            Err(ResultsError::Json { .. })
        ));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn derived_figures() {
        let run = QuotaRun {
            workload: "w".into(),
            client: "c".into(),
            requests: 1,
            completed: 1,
            rate_limited: 0,
            elapsed_s: 10.0,
            minimum_s: 9.0,
            last_admission_s: 9.5,
            estimate_ratio: None,
            notes: Vec::new(),
        };
        assert!((run.efficiency() - 0.9).abs() < 1e-12);
        let memory = MemoryReport {
            queued: 2,
            prompt_bytes: 0,
            rss_before_kib: 1,
            rss_queued_kib: 3,
            peak_kib: 3,
            rss_with_bare_tasks_kib: 4,
            all_queued: true,
        };
        assert_eq!(memory.bytes_per_request(), 1024.0);
        assert_eq!(memory.bytes_per_bare_task(), 512.0);
    }
}

/// One path of the gateway overhead bench at one concurrency.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GatewayOverheadLevel {
    /// Requests in flight at once.
    pub concurrency: u64,
    /// Requests measured per path.
    pub requests: u64,
    /// The client straight to the emulator.
    pub direct: Side,
    /// The client through the gateway to the emulator.
    pub gateway: Side,
    /// CPU time of the gateway's thread per request, in microseconds (0 where unknown).
    #[serde(default)]
    pub gateway_cpu_us: f64,
    /// CPU time of the emulator's thread per request on the direct path, in microseconds.
    #[serde(default)]
    pub mock_cpu_us: f64,
}

impl GatewayOverheadLevel {
    /// Median latency the gateway adds, in microseconds.
    pub fn added_p50_us(&self) -> f64 {
        self.gateway.p50_us - self.direct.p50_us
    }

    /// 99th-percentile latency the gateway adds, in microseconds.
    pub fn added_p99_us(&self) -> f64 {
        self.gateway.p99_us - self.direct.p99_us
    }

    /// Throughput through the gateway over direct throughput.
    pub fn throughput_ratio(&self) -> f64 {
        if self.direct.requests_per_s > 0.0 {
            self.gateway.requests_per_s / self.direct.requests_per_s
        } else {
            0.0
        }
    }
}

/// Several client processes pushing one workload through one gateway.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GatewayQuotaRun {
    /// Client processes.
    pub processes: u64,
    /// Requests sent, over all processes.
    pub requests: u64,
    /// Requests answered 200.
    pub completed: u64,
    /// 429s the emulator sent to the gateway.
    pub rate_limited_upstream: u64,
    /// 429s the clients received.
    pub rate_limited_clients: u64,
    /// From the start of the processes to the end of the last, in seconds.
    pub elapsed_s: f64,
    /// The theoretical minimum, in seconds.
    pub minimum_s: f64,
}

impl GatewayQuotaRun {
    /// `minimum / elapsed`.
    pub fn efficiency(&self) -> f64 {
        if self.elapsed_s > 0.0 {
            self.minimum_s / self.elapsed_s
        } else {
            0.0
        }
    }
}

/// The results of `benches/gateway.rs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewayReport {
    /// The setup, in words.
    pub setup: String,
    /// Overhead per concurrency.
    pub levels: Vec<GatewayOverheadLevel>,
    /// The several-process quota run.
    pub quota: GatewayQuotaRun,
}

/// Reserve + commit against a local Redis from one process (`benches/shared_quota.rs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedisLimiterFigures {
    /// The limits each reserve is charged to, in words.
    pub limits: String,
    /// Sequential reserve + commit pairs timed one by one.
    pub pairs: u64,
    /// Median time of a reserve + commit with both scripts applied in Redis, in microseconds.
    pub p50_us: f64,
    /// 99th percentile of the same, in microseconds.
    pub p99_us: f64,
    /// Median time until a reserve is answered, in microseconds.
    pub reserve_p50_us: f64,
    /// 99th percentile of the same, in microseconds.
    pub reserve_p99_us: f64,
    /// Reserve + commit pairs per second from one thread (commits pipelined).
    pub sequential_per_s: f64,
    /// Threads of the parallel measure.
    pub threads: u64,
    /// Reserve + commit pairs per second from `threads` threads of one process.
    pub parallel_per_s: f64,
    /// Redis's own time per script (`INFO commandstats`, EVALSHA), in microseconds.
    pub redis_us_per_script: Option<f64>,
}

/// The results of `benches/shared_quota.rs`: K processes sharing one quota through Redis, and
/// the limiter's own latency and throughput.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SharedQuotaReport {
    /// Why the bench did not run (no `redis-server`), if it did not.
    pub skipped: Option<String>,
    /// The K-process runs.
    pub quota: Option<QuotaReport>,
    /// Reserve + commit against the local Redis.
    pub limiter: Option<RedisLimiterFigures>,
    /// The machine's load average (1, 5 and 15 minutes) when the bench started.
    pub load_average: Option<String>,
}
