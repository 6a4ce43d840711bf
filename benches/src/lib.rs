//! groqchat's benchmarks, and the pieces they share.
//!
//! This package is not published. It holds the end-to-end benchmarks of the workspace and
//! the report that `cargo xtask bench` writes to `docs/benchmarks.md`:
//!
//! | target | what it measures |
//! |---|---|
//! | `benches/quota.rs` | quota efficiency: three workloads through `GroqClient` against `groq-mock` with a compressed minute; completed, 429s, elapsed, theoretical minimum ([`minimum`]) |
//! | `benches/peer.rs` | the same burst through `async-openai`, fired concurrently with its default retries |
//! | `benches/overhead.rs` | pipeline overhead: a raw hyper-util client against `GroqClient` with no limits, on a canned local server, at concurrency 1 and 64 |
//! | `benches/memory.rs` | resident memory per request queued in `GroqClient` (100,000 queued) |
//! | `benches/tokens_by_size.rs` | criterion: token counting throughput against text size |
//! | `benches/pipeline.rs` | criterion: the pipeline's own cost per `GroqClient::chat` against an in-memory transport, next to that transport alone |
//! | `src/bin/bench-report.rs` | reads the results above and criterion's estimates (these benches and the crates' own) and writes the report |
//!
//! Each end-to-end benchmark writes its figures as JSON ([`results`]) into the results
//! directory ([`results::results_dir`]); the report reads them back. Absolute times vary from
//! run to run on a shared machine, so every figure that can be is a ratio of two measurements
//! taken in the same run.
//!
//! # Example
//!
//! The theoretical minimum of a burst of 120 short requests against 30 requests per minute,
//! with a minute compressed to 3 s:
//!
//! ```
//! use groq_mock::MockLimits;
//! use groqchat_benches::minimum::{Job, minimum_time};
//! use std::time::Duration;
//!
//! let limits = MockLimits::unlimited().rpm(30).tpm(6_000);
//! let jobs = vec![Job::new(20, 64, 16); 120];
//! let minimum = minimum_time(&limits, Duration::from_secs(3), &jobs)?;
//! // 30 at once, then one every 100 ms.
//! assert!(minimum.abs_diff(Duration::from_secs(9)) < Duration::from_millis(1));
//! # Ok::<(), groqchat_benches::minimum::MinimumError>(())
//! ```
//!
//! # Features
//!
//! None.

pub mod criterion;
pub mod machine;
pub mod minimum;
pub mod report;
pub mod results;
pub mod stats;
pub mod workload;
