//! `bench-report`: writes `docs/benchmarks.md` from one run's results.
//!
//! ```text
//! bench-report [--results DIR] [--criterion DIR] [--since FILE] [--run-seconds S] [--out FILE]
//! ```
//!
//! - `--results DIR`: the end-to-end benches' JSON files (default: the results directory,
//!   `target/groqchat-bench`);
//! - `--criterion DIR`: criterion's output (default `target/criterion` beside the results);
//! - `--since FILE`: only criterion results written after this file was (`cargo xtask bench`
//!   touches one when it starts), so stale results of other runs are left out;
//! - `--run-seconds S`: how long the run took, for the report;
//! - `--out FILE`: where to write (default: print to standard output).
//!
//! `cargo xtask bench` runs it after the benches.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use groqchat_benches::criterion;
use groqchat_benches::machine::Machine;
use groqchat_benches::report::{Inputs, render};
use groqchat_benches::results::{self, load};

#[derive(Debug, Default)]
struct Args {
    results: Option<PathBuf>,
    criterion: Option<PathBuf>,
    since: Option<PathBuf>,
    run_seconds: Option<f64>,
    out: Option<PathBuf>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args::default();
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--results" => parsed.results = Some(value()?.into()),
            "--criterion" => parsed.criterion = Some(value()?.into()),
            "--since" => parsed.since = Some(value()?.into()),
            "--out" => parsed.out = Some(value()?.into()),
            "--run-seconds" => {
                let text = value()?;
                parsed.run_seconds = Some(
                    text.parse()
                        .map_err(|_| format!("--run-seconds takes a number, not {text:?}"))?,
                );
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(parsed)
}

/// The first line a command prints, if it runs.
fn first_line(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    String::from_utf8(output.stdout)
        .ok()?
        .lines()
        .next()
        .map(|line| line.trim().to_owned())
}

fn run(args: Args) -> Result<(), String> {
    let results_dir = args.results.unwrap_or_else(results::results_dir);
    let criterion_dir = args.criterion.unwrap_or_else(|| {
        results_dir
            .parent()
            .map_or_else(|| PathBuf::from("criterion"), |p| p.join("criterion"))
    });
    let since = match &args.since {
        Some(path) => Some(
            std::fs::metadata(path)
                .and_then(|m| m.modified())
                .map_err(|e| format!("cannot read the time of {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let text = |e: results::ResultsError| e.to_string();
    let inputs = Inputs {
        machine: Machine::detect(),
        rustc: first_line("rustc", &["--version"]),
        commit: first_line("git", &["rev-parse", "--short", "HEAD"]),
        run_seconds: args.run_seconds,
        quota: load(&results_dir, "quota").map_err(text)?,
        peer: load(&results_dir, "peer").map_err(text)?,
        overhead: load(&results_dir, "overhead").map_err(text)?,
        memory: load(&results_dir, "memory").map_err(text)?,
        gateway: load(&results_dir, "gateway").map_err(text)?,
        shared_quota: load(&results_dir, "shared_quota").map_err(text)?,
        micro: criterion::collect(&criterion_dir, since).map_err(text)?,
    };
    let report = render(&inputs);
    match args.out {
        Some(path) => {
            std::fs::write(&path, report)
                .map_err(|e| format!("could not write {}: {e}", path.display()))?;
            println!("bench-report: wrote {}", path.display());
        }
        None => print!("{report}"),
    }
    Ok(())
}

fn main() -> ExitCode {
    match parse_args(std::env::args().skip(1)).and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            println!("bench-report: {message}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Args, String> {
        parse_args(list.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn parses_flags() {
        let parsed = args(&["--results", "r", "--run-seconds", "12.5", "--out", "o.md"]).unwrap();
        assert_eq!(parsed.results, Some(PathBuf::from("r")));
        assert_eq!(parsed.run_seconds, Some(12.5));
        assert_eq!(parsed.out, Some(PathBuf::from("o.md")));
        assert!(parsed.criterion.is_none() && parsed.since.is_none());
        assert_eq!(args(&["--out"]).unwrap_err(), "--out needs a value");
        assert!(args(&["--run-seconds", "soon"]).is_err());
        assert!(args(&["--verbose"]).is_err());
    }
}
