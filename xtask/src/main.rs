//! Developer tasks for the groqchat workspace.
//!
//! `cargo xtask ci` runs exactly the steps that `.ci/run` runs, in the same order, so a
//! green local run predicts a green CI run. `cargo xtask test` runs only the test command
//! that the README documents.
#![allow(clippy::print_stderr)]

use std::env;
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
        name: "docs",
        args: &["doc", "--workspace", "--no-deps", "--all-features"],
        env: &[("RUSTDOCFLAGS", "-D warnings")],
    },
    Step {
        name: "benchmarks build",
        args: &["bench", "--workspace", "--no-run"],
        env: &[],
    },
];

fn workspace_root() -> PathBuf {
    // xtask lives in <root>/xtask, so its manifest directory's parent is the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn run(step: &Step) -> Result<(), String> {
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

fn usage() -> ExitCode {
    eprintln!("usage: cargo xtask <ci|test>");
    eprintln!("  ci    run every check CI runs (fmt, clippy, tests, docs, bench build)");
    eprintln!("  test  run the workspace tests exactly as the README documents");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let task = env::args().nth(1);
    let steps: &[Step] = match task.as_deref() {
        Some("ci") => CI,
        Some("test") => std::slice::from_ref(&TEST),
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
