//! Developer tasks for the groqchat workspace.
//!
//! `cargo xtask ci` runs exactly the steps that `.ci/run` runs, in the same order, so a
//! green local run predicts a green CI run. `cargo xtask test` runs only the test command
//! that the README documents. `cargo xtask bench` runs every benchmark in release mode and
//! regenerates `docs/benchmarks.md` from the figures of that run. `cargo xtask man` writes
//! the `groqchat` manual pages (groqchat.1 and one per command) into `target/man`.
#![allow(clippy::print_stderr)]

mod load;

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// One step of a task: a human name, the program and its arguments, and extra environment.
struct Step {
    name: &'static str,
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
}

/// The test command the README gives. Kept in one place so CI and the README agree.
const TEST: Step = Step {
    name: "tests",
    args: &["test", "--workspace", "--all-features"],
    env: &[],
};

/// Everything CI checks, in order: cheapest failures first.
const CI: &[Step] = &[
    Step {
        name: "format",
        args: &["fmt", "--all", "--check"],
        env: &[],
    },
    Step {
        name: "clippy",
        args: &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ],
        env: &[],
    },
    TEST,
    Step {
        name: "docs (default features)",
        args: &["doc", "--workspace", "--no-deps"],
        env: &[("RUSTDOCFLAGS", "-D warnings")],
    },
    Step {
        name: "docs (all features)",
        args: &["doc", "--workspace", "--no-deps", "--all-features"],
        env: &[("RUSTDOCFLAGS", "-D warnings")],
    },
    Step {
        name: "benchmarks build",
        args: &["bench", "--workspace", "--no-run"],
        env: &[],
    },
];

/// The benchmarks `cargo xtask bench` runs, in order: the crates' criterion benches, then the
/// `groqchat-benches` package (criterion and end-to-end). Each writes its figures under the
/// target directory; the report reads them afterwards.
const BENCH: &[Step] = &[
    Step {
        name: "token counting (groq-tokens)",
        args: &["bench", "-p", "groq-tokens", "--bench", "tokens"],
        env: &[],
    },
    Step {
        name: "limiter against governor (groq-ratelimit)",
        args: &["bench", "-p", "groq-ratelimit", "--bench", "limiter"],
        env: &[],
    },
    Step {
        name: "queue push/pop (groq-queue)",
        args: &["bench", "-p", "groq-queue", "--bench", "queue"],
        env: &[],
    },
    Step {
        name: "SSE decoding (groq-transport)",
        args: &["bench", "-p", "groq-transport", "--bench", "sse"],
        env: &[],
    },
    Step {
        name: "end to end: quota, peer, overhead, memory, token counting by size",
        args: &["bench", "-p", "groqchat-benches"],
        env: &[],
    },
    // The Redis-backed limiter: the K-process runs and its own latency and throughput come
    // from `shared_quota` in the step above; this is its criterion bench. Both start their own
    // redis-server (installed by `.ci/test-services` first) and skip with the reason when it
    // is missing.
    Step {
        name: "Redis limiter reserve + commit (groq-ratelimit-redis)",
        args: &[
            "bench",
            "-p",
            "groq-ratelimit-redis",
            "--bench",
            "redis_limiter",
        ],
        env: &[],
    },
];

/// Where the report goes, relative to the workspace root.
const BENCH_REPORT: &str = "docs/benchmarks.md";

fn workspace_root() -> PathBuf {
    // xtask lives in <root>/xtask, so its manifest directory's parent is the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Installs what the tests need and do not start themselves (`.ci/test-services`: the
/// `redis-server` and `redis-cli` the shared limiter's tests run), when it is missing.
fn test_services() -> Result<(), String> {
    let script = workspace_root().join(".ci").join("test-services");
    eprintln!("==> test services: bash {}", script.display());
    let status = Command::new("bash")
        .arg(&script)
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("could not run {}: {e}", script.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed ({status}): the tests need redis-server and redis-cli",
            script.display()
        ))
    }
}

fn run(step: &Step) -> Result<(), String> {
    if step.name == TEST.name {
        test_services()?;
    }
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("==> {}: cargo {}", step.name, step.args.join(" "));
    let status = Command::new(&cargo)
        .args(step.args)
        .envs(step.env.iter().copied())
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("could not start `{cargo}` for step {}: {e}", step.name))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("step `{}` failed ({status})", step.name))
    }
}

/// The crates a trait-only build of groq-transport must not compile: the HTTP stack and TLS
/// behind its `hyper` feature.
fn is_http_stack_crate(name: &str) -> bool {
    name == "ring"
        || name.starts_with("hyper")
        || name.starts_with("rustls")
        || name.contains("webpki")
}

/// The names of the HTTP-stack crates in `cargo tree --prefix none` output, each once.
fn http_stack_crates(tree: &str) -> Vec<&str> {
    let mut found: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| is_http_stack_crate(name))
        .collect();
    found.sort_unstable();
    found.dedup();
    found
}

/// Checks that groq-transport without its default features (what a crate implementing only
/// the `Transport` trait depends on) compiles no hyper, rustls, ring or webpki.
fn trait_only_transport() -> Result<(), String> {
    const ARGS: &[&str] = &[
        "tree",
        "-p",
        "groq-transport",
        "--no-default-features",
        "-e",
        "normal",
        "--prefix",
        "none",
    ];
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("==> trait-only groq-transport: cargo {}", ARGS.join(" "));
    let output = Command::new(&cargo)
        .args(ARGS)
        .current_dir(workspace_root())
        .output()
        .map_err(|e| format!("could not start `{cargo}` for cargo tree: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo tree failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let tree = String::from_utf8_lossy(&output.stdout);
    let found = http_stack_crates(&tree);
    if found.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "groq-transport with --no-default-features depends on {}: the HTTP stack must stay \
             behind the `hyper` feature",
            found.join(", ")
        ))
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: cargo xtask <ci|test|bench|man|scale|soak>");
    eprintln!(
        "  ci     run every check CI runs (trait-only transport, fmt, clippy, tests, docs, bench build)"
    );
    eprintln!("  test   run the workspace tests exactly as the README documents");
    eprintln!("  bench  run every benchmark (release) and regenerate {BENCH_REPORT}");
    eprintln!("  man    write the groqchat manual pages into target/man");
    eprintln!(
        "  scale  batches of 10k, 100k, 1M against groq-mock [--sizes a,b,c], then 20k vs 200k: fails when the peak RSS grows more than 20%"
    );
    eprintln!("  soak   a faulty-emulator soak of N minutes [--minutes N] (not in CI)");
    ExitCode::from(2)
}

fn target_dir() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace_root().join("target"), PathBuf::from)
}

/// Runs the benchmarks, then `bench-report`, which writes [`BENCH_REPORT`].
fn bench() -> Result<(), String> {
    // A benchmark harness measures real time.
    #[allow(clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    let results = target_dir().join("groqchat-bench");
    // Start from an empty results directory, so a failed bench leaves no stale figures, and
    // mark the start: the report ignores criterion results older than the mark.
    match fs::remove_dir_all(&results) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("could not clear {}: {e}", results.display())),
    }
    fs::create_dir_all(&results)
        .map_err(|e| format!("could not create {}: {e}", results.display()))?;
    let mark = results.join("started");
    fs::write(&mark, "cargo xtask bench\n")
        .map_err(|e| format!("could not write {}: {e}", mark.display()))?;

    // The Redis benches need redis-server; without it they run nothing and say why.
    if let Err(e) = test_services() {
        eprintln!("==> the Redis benches will be skipped: {e}");
    }
    for step in BENCH {
        run(step)?;
    }

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let seconds = format!("{:.0}", started.elapsed().as_secs_f64());
    let results_arg = results.to_string_lossy().into_owned();
    let criterion_arg = target_dir()
        .join("criterion")
        .to_string_lossy()
        .into_owned();
    let mark_arg = mark.to_string_lossy().into_owned();
    let args = [
        "run",
        "--release",
        "--quiet",
        "-p",
        "groqchat-benches",
        "--bin",
        "bench-report",
        "--",
        "--results",
        &results_arg,
        "--criterion",
        &criterion_arg,
        "--since",
        &mark_arg,
        "--run-seconds",
        &seconds,
        "--out",
        BENCH_REPORT,
    ];
    eprintln!("==> report: cargo {}", args.join(" "));
    let status = Command::new(&cargo)
        .args(args)
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("could not start `{cargo}` for the report: {e}"))?;
    if !status.success() {
        return Err(format!("the report failed ({status})"));
    }
    // The report is regenerated from scratch: the scale section is added after it.
    load::scale(&[])?;
    eprintln!(
        "xtask: benchmarks done in {:.0} s; see {BENCH_REPORT}",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Writes the manual pages with the CLI's own generator (`groqchat man --dir`), so they
/// always match the command definitions.
fn man() -> Result<(), String> {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let dir = target_dir().join("man");
    let dir_arg = dir.to_string_lossy().into_owned();
    let args = [
        "run",
        "--quiet",
        "-p",
        "groqchat-cli",
        "--",
        "man",
        "--dir",
        dir_arg.as_str(),
    ];
    eprintln!("==> man: cargo {}", args.join(" "));
    let status = Command::new(&cargo)
        .args(args)
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("could not start `{cargo}`: {e}"))?;
    if !status.success() {
        return Err(format!("generating the manual pages failed ({status})"));
    }
    eprintln!(
        "xtask: manual pages in {}; read one with `man {}/groqchat.1`",
        dir.display(),
        dir.display()
    );
    Ok(())
}

fn main() -> ExitCode {
    let task = env::args().nth(1);
    let steps: &[Step] = match task.as_deref() {
        Some("ci") => {
            if let Err(message) = trait_only_transport() {
                eprintln!("xtask: {message}");
                return ExitCode::FAILURE;
            }
            CI
        }
        Some("test") => std::slice::from_ref(&TEST),
        Some("bench") => {
            return match bench() {
                Ok(()) => ExitCode::SUCCESS,
                Err(message) => {
                    eprintln!("xtask: {message}");
                    ExitCode::FAILURE
                }
            };
        }
        Some("man") => {
            return match man() {
                Ok(()) => ExitCode::SUCCESS,
                Err(message) => {
                    eprintln!("xtask: {message}");
                    ExitCode::FAILURE
                }
            };
        }
        Some(task @ ("scale" | "soak")) => {
            let rest: Vec<String> = env::args().skip(2).collect();
            let done = if task == "scale" {
                load::scale(&rest)
            } else {
                load::soak(&rest)
            };
            return match done {
                Ok(()) => ExitCode::SUCCESS,
                Err(message) => {
                    eprintln!("xtask: {message}");
                    ExitCode::FAILURE
                }
            };
        }
        _ => return usage(),
    };
    for step in steps {
        if let Err(message) = run(step) {
            eprintln!("xtask: {message}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_http_stack_is_found_in_a_tree() {
        let tree = "groq-transport v0.1.0 (/w/crates/groq-transport)\n\
                    bytes v1.12.2\n\
                    hyper-util v0.1.10\n\
                    rustls v0.23.1\n\
                    rustls-webpki v0.103.0\n\
                    ring v0.17.8\n\
                    ring v0.17.8 (*)\n\
                    webpki-roots v1.0.0\n\
                    tokio v1.54.1\n";
        assert_eq!(
            http_stack_crates(tree),
            [
                "hyper-util",
                "ring",
                "rustls",
                "rustls-webpki",
                "webpki-roots"
            ]
        );
    }

    #[test]
    fn a_trait_only_tree_passes() {
        let tree = "groq-transport v0.1.0 (/w)\nbytes v1.12.2\nhttp v1.5.0\nhttpdate v1.0.3\n\
                    tokio v1.54.1\nstring-interner v1.0.0\n";
        assert!(http_stack_crates(tree).is_empty());
    }
}
