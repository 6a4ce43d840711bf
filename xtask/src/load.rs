//! Load tasks that drive the release `groqchat` binary against a separate `groqchat mock`
//! process and watch the batch process from outside (`/proc`): `cargo xtask scale` (batches of
//! growing size with no limits: throughput, failures, peak RSS) and `cargo xtask soak` (a long
//! batch and chats against a faulty emulator: RSS and file descriptors sampled every 10 s, every
//! request ending exactly once). Both write their section of `docs/benchmarks.md`.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{BENCH_REPORT, target_dir, workspace_root};

/// The model every load run uses.
const MODEL: &str = "llama-3.1-8b-instant";

/// A real-time stopwatch: these tasks measure wall time of child processes.
#[allow(clippy::disallowed_methods)]
fn now() -> std::time::Instant {
    std::time::Instant::now()
}

/// Builds the release binary and returns its path.
fn release_binary() -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("==> build: cargo build --release -p groqchat-cli");
    let mut command = Command::new(&cargo);
    // `cargo run` sets package variables for xtask; build scripts that watch the environment
    // would rebuild the dependencies for them, so the build sees none of them.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        let keep = name == "CARGO_HOME" || name == "CARGO_TARGET_DIR";
        if (name.starts_with("CARGO_") && !keep) || name == "OUT_DIR" {
            command.env_remove(&name);
        }
    }
    let status = command
        .args(["build", "--release", "-p", "groqchat-cli"])
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("could not start `{cargo}`: {e}"))?;
    if !status.success() {
        return Err(format!("the release build failed ({status})"));
    }
    Ok(target_dir().join("release").join("groqchat"))
}

/// A running `groqchat mock`, stopped when dropped.
struct Mock {
    child: Child,
    base_url: String,
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `groqchat mock` on a free port with no limits for [`MODEL`] and `extra` arguments.
fn start_mock(bin: &Path, dir: &Path, extra: &[&str]) -> Result<Mock, String> {
    let limits = dir.join("mock-limits.json");
    fs::write(&limits, format!("{{\"{MODEL}\": {{}}}}\n"))
        .map_err(|e| format!("cannot write {}: {e}", limits.display()))?;
    let mut child = Command::new(bin)
        .args(["mock", "--addr", "127.0.0.1:0", "--limits"])
        .arg(&limits)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {} mock: {e}", bin.display()))?;
    let stdout = child.stdout.take().ok_or("the mock has no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the mock's base URL: {e}"))?;
    let base_url = line.trim().to_owned();
    if !base_url.starts_with("http://") {
        let _ = child.kill();
        return Err(format!(
            "the mock printed {base_url:?} instead of its base URL"
        ));
    }
    Ok(Mock { child, base_url })
}

/// The client's configuration: the default one, with [`MODEL`]'s limits removed (a file
/// entry replaces the catalog's as a whole) and no `max_in_flight`.
fn client_config(dir: &Path) -> Result<PathBuf, String> {
    let path = dir.join("client-config.json");
    fs::write(&path, format!("{{\"models\": {{\"{MODEL}\": {{}}}}}}\n"))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

/// Writes `n` bare chat requests with distinct prompts.
fn write_input(path: &Path, n: usize) -> Result<(), String> {
    let file =
        fs::File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    for i in 0..n {
        writeln!(
            out,
            "{{\"model\":\"{MODEL}\",\"messages\":[{{\"role\":\"user\",\"content\":\"Question {i}: what is {i} squared?\"}}],\"max_completion_tokens\":16}}"
        )
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    out.flush()
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// One `/proc` sample of a process: resident and peak resident memory (KiB), open files.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    rss_kib: u64,
    hwm_kib: u64,
    fds: u64,
}

fn sample(pid: u32) -> Option<Sample> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    let fds = fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    Some(Sample {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
        fds,
    })
}

/// A number field of the summary JSON (`"ok": 123`), without a JSON parser.
fn json_number(text: &str, key: &str) -> Option<f64> {
    let at = text.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = text[at..].trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == 'e'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// What one batch process did.
#[derive(Debug, Default)]
struct BatchRun {
    ok: u64,
    failed: u64,
    not_run: u64,
    elapsed_secs: f64,
    peak_rss_kib: u64,
    /// `(seconds since start, sample)`, every `every`.
    samples: Vec<(f64, Sample)>,
    exit: Option<i32>,
}

/// Runs `groqchat batch` on `input` against `mock`, sampling it every `every`.
fn run_batch(
    bin: &Path,
    dir: &Path,
    mock: &Mock,
    input: &Path,
    every: Duration,
) -> Result<BatchRun, String> {
    let output = dir.join("out.jsonl");
    let summary = dir.join("summary.json");
    let _ = fs::remove_file(&output);
    let config = client_config(dir)?;
    let mut child = Command::new(bin)
        .env("GROQ_API_KEY", "gsk_load_test_key_0123456789")
        .env("GROQ_BASE_URL", &mock.base_url)
        .env_remove("GROQ_CONFIG")
        .arg("batch")
        .arg(input)
        .arg("-o")
        .arg(&output)
        .arg("--config")
        .arg(&config)
        .args(["--progress", "off", "--summary-json"])
        .arg(&summary)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {} batch: {e}", bin.display()))?;
    let pid = child.id();
    let started = now();
    let mut run = BatchRun::default();
    let mut next_sample = Duration::ZERO;
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| format!("cannot wait for the batch: {e}"))?
        {
            run.exit = status.code();
            break;
        }
        if let Some(s) = sample(pid) {
            run.peak_rss_kib = run.peak_rss_kib.max(s.hwm_kib);
            let elapsed = started.elapsed();
            if elapsed >= next_sample {
                run.samples.push((elapsed.as_secs_f64(), s));
                next_sample += every;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = fs::read_to_string(&summary)
        .map_err(|e| format!("the batch wrote no summary ({}): {e}", summary.display()))?;
    let number = |key: &str| json_number(&text, key).unwrap_or_default();
    run.ok = number("ok") as u64;
    run.failed = number("failed") as u64;
    run.not_run = number("not_run") as u64;
    run.elapsed_secs = number("elapsed_secs");
    Ok(run)
}

/// Checks that every custom id of the input has exactly one line in `output`.
fn each_once(output: &Path, n: usize) -> Result<(), String> {
    let file =
        fs::File::open(output).map_err(|e| format!("cannot read {}: {e}", output.display()))?;
    let mut seen = HashSet::with_capacity(n);
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|e| format!("cannot read {}: {e}", output.display()))?;
        let id = line
            .split("\"custom_id\":\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .ok_or_else(|| format!("a line without custom_id: {line}"))?
            .to_owned();
        if !seen.insert(id.clone()) {
            return Err(format!("custom_id {id} has two lines"));
        }
    }
    if seen.len() != n {
        return Err(format!("{} of {n} requests have a line", seen.len()));
    }
    Ok(())
}

/// Replaces (or appends) the section between `<!-- {name}:begin -->` and `<!-- {name}:end -->`
/// of the benchmark report.
fn write_section(name: &str, body: &str) -> Result<(), String> {
    let path = workspace_root().join(BENCH_REPORT);
    let text = fs::read_to_string(&path).unwrap_or_default();
    let begin = format!("<!-- {name}:begin -->");
    let end = format!("<!-- {name}:end -->");
    let section = format!("{begin}\n{body}{end}\n");
    let updated = match (text.find(&begin), text.find(&end)) {
        (Some(b), Some(e)) if e > b => {
            format!(
                "{}{section}{}",
                &text[..b],
                text[e + end.len()..].trim_start_matches('\n')
            )
        }
        _ => format!("{}\n{section}", text.trim_end()),
    };
    fs::write(&path, updated).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn scratch(name: &str) -> Result<PathBuf, String> {
    let dir = target_dir().join("groqchat-load").join(name);
    fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// `cargo xtask scale [--sizes 10000,100000,1000000]`.
pub(crate) fn scale(args: &[String]) -> Result<(), String> {
    let mut sizes = vec![10_000usize, 100_000, 1_000_000];
    if let Some(at) = args.iter().position(|a| a == "--sizes") {
        let list = args
            .get(at + 1)
            .ok_or("--sizes needs a list such as 10000,100000")?;
        sizes = list
            .split(',')
            .map(|s| {
                s.trim()
                    .parse::<usize>()
                    .map_err(|e| format!("--sizes {s:?}: {e}"))
            })
            .collect::<Result<_, _>>()?;
    }
    let bin = release_binary()?;
    let dir = scratch("scale")?;
    let mut rows = Vec::new();
    for &n in &sizes {
        let input = dir.join(format!("in-{n}.jsonl"));
        write_input(&input, n)?;
        let mock = start_mock(&bin, &dir, &[])?;
        eprintln!("==> scale: {n} requests");
        let run = run_batch(&bin, &dir, &mock, &input, Duration::from_secs(10))?;
        drop(mock);
        let _ = fs::remove_file(&input);
        let rate = if run.elapsed_secs > 0.0 {
            n as f64 / run.elapsed_secs
        } else {
            0.0
        };
        eprintln!(
            "    {n}: {rate:.0} req/s, {} failed, {} not run, peak RSS {} MiB",
            run.failed,
            run.not_run,
            run.peak_rss_kib / 1024
        );
        rows.push((n, run, rate));
    }
    // Memory as the input grows: ten times the lines may not grow the peak by more than
    // MAX_GROWTH (the set of finished custom ids is the only state kept per line).
    let mut flat = Vec::new();
    for n in [FLAT_SIZES.0, FLAT_SIZES.1] {
        let input = dir.join(format!("in-{n}.jsonl"));
        write_input(&input, n)?;
        let mock = start_mock(&bin, &dir, &[])?;
        eprintln!("==> scale (memory): {n} requests");
        let run = run_batch(&bin, &dir, &mock, &input, Duration::from_secs(10))?;
        drop(mock);
        let _ = fs::remove_file(&input);
        eprintln!("    {n}: peak RSS {} MiB", run.peak_rss_kib / 1024);
        flat.push((n, run));
    }
    let growth = flat[1].1.peak_rss_kib as f64 / flat[0].1.peak_rss_kib.max(1) as f64 - 1.0;
    let mut body = String::from(
        "## Scale: batches of any size\n\n\
         `cargo xtask scale` (also run by `cargo xtask bench`): the release `groqchat batch` with \
         the default configuration (no `max_in_flight`; the transport's default cap of 256 \
         requests in flight per host) against a separate `groqchat mock` process with no limits \
         for the model, one process each, on this machine. Requests of ~20 prompt tokens and a \
         16-token budget. Peak RSS is the batch process's `VmHWM`.\n\n\
         | requests | elapsed | requests/s | failed | not run | peak RSS | RSS per request |\n\
         |---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (n, run, rate) in &rows {
        let _ = writeln!(
            body,
            "| {n} | {:.1} s | {rate:.0} | {} | {} | {:.1} MiB | {:.0} B |",
            run.elapsed_secs,
            run.failed,
            run.not_run,
            run.peak_rss_kib as f64 / 1024.0,
            run.peak_rss_kib as f64 * 1024.0 / *n as f64,
        );
    }
    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        let _ = writeln!(
            body,
            "\nTargets: 0 failures at every size; peak RSS at 1M under 200 MB; throughput at the \
             largest size within 20% of the smallest's. Measured: {} failures in all; peak RSS at \
             {} requests {:.1} MiB; throughput ratio {:.2}.\n",
            rows.iter()
                .map(|(_, r, _)| r.failed + r.not_run)
                .sum::<u64>(),
            last.0,
            last.1.peak_rss_kib as f64 / 1024.0,
            if first.2 > 0.0 { last.2 / first.2 } else { 0.0 },
        );
    }
    if let [(n0, r0, _), (n1, r1, _), ..] = rows.as_slice() {
        let _ = writeln!(
            body,
            "Peak RSS from {n0} to {n1} requests: {:+.1}%.\n",
            (r1.peak_rss_kib as f64 / r0.peak_rss_kib.max(1) as f64 - 1.0) * 100.0
        );
    }
    let _ = writeln!(
        body,
        "Memory as the input grows (target: the peak RSS of {} lines within {:.0}% of that of \
         {} lines; `cargo xtask scale` fails otherwise): {:.1} MiB for {}, {:.1} MiB for {}, a \
         growth of {:.1}%. What a run keeps per line is the set of finished custom ids (for \
         resume) and, during the first pass, the set of custom ids seen (for duplicates), each \
         as 64-bit hashes; everything else is bounded by `--window`.\n",
        FLAT_SIZES.1,
        MAX_GROWTH * 100.0,
        FLAT_SIZES.0,
        flat[0].1.peak_rss_kib as f64 / 1024.0,
        FLAT_SIZES.0,
        flat[1].1.peak_rss_kib as f64 / 1024.0,
        FLAT_SIZES.1,
        growth * 100.0,
    );
    write_section("scale", &body)?;
    if growth > MAX_GROWTH {
        return Err(format!(
            "the peak RSS grew {:.1}% from {} to {} lines (target: at most {:.0}%)",
            growth * 100.0,
            FLAT_SIZES.0,
            FLAT_SIZES.1,
            MAX_GROWTH * 100.0
        ));
    }
    Ok(())
}

/// The two input sizes of the memory check: ten times the lines.
const FLAT_SIZES: (usize, usize) = (20_000, 200_000);

/// The most the peak RSS may grow from the smaller to the larger of [`FLAT_SIZES`].
const MAX_GROWTH: f64 = 0.20;

/// `cargo xtask soak --minutes N`.
pub(crate) fn soak(args: &[String]) -> Result<(), String> {
    let minutes: f64 = match args.iter().position(|a| a == "--minutes") {
        Some(at) => args
            .get(at + 1)
            .and_then(|m| m.parse().ok())
            .filter(|m: &f64| m.is_finite() && *m > 0.0 && *m <= 24.0 * 60.0)
            .ok_or("--minutes needs a number of minutes between 0 and 1440")?,
        None => 5.0,
    };
    let bin = release_binary()?;
    let dir = scratch("soak")?;
    // Faults: 10 % 5xx, 5 % dropped connections, 5 % broken streams, 5-50 ms latency.
    let mock = start_mock(
        &bin,
        &dir,
        &[
            "--fail-rate",
            "0.1",
            "--drop-rate",
            "0.05",
            "--stream-error-rate",
            "0.05",
            "--malformed-rate",
            "0.0",
            "--latency-ms",
            "5:50",
            "--seed",
            "7",
        ],
    )?;
    // Paced by a 50-requests-per-second limit on the client side, so that the run lasts
    // about `minutes`.
    let per_second = 50usize;
    let n = (minutes * 60.0) as usize * per_second;
    let input = dir.join("in.jsonl");
    write_input(&input, n)?;
    let config = dir.join("client-config.json");
    fs::write(
        &config,
        format!(
            "{{\"models\": {{\"{MODEL}\": {{\"req_per_minute\": {}}}}}}}\n",
            per_second * 60
        ),
    )
    .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
    let output = dir.join("out.jsonl");
    let summary = dir.join("summary.json");
    let _ = fs::remove_file(&output);
    eprintln!("==> soak: {n} requests over about {minutes} minutes, chats every 10 s");
    let mut child = Command::new(&bin)
        .env("GROQ_API_KEY", "gsk_load_test_key_0123456789")
        .env("GROQ_BASE_URL", &mock.base_url)
        .env_remove("GROQ_CONFIG")
        .arg("batch")
        .arg(&input)
        .arg("-o")
        .arg(&output)
        .arg("--config")
        .arg(&config)
        .args(["--progress", "off", "--summary-json"])
        .arg(&summary)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the batch: {e}"))?;
    let pid = child.id();
    let started = now();
    let mut samples: Vec<(f64, Sample)> = Vec::new();
    let mut chats = (0u64, 0u64);
    let mut next = Duration::ZERO;
    let exit = loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("wait: {e}"))? {
            break status.code();
        }
        if started.elapsed() >= next {
            if let Some(s) = sample(pid) {
                samples.push((started.elapsed().as_secs_f64(), s));
            }
            // A streamed chat through the same faulty emulator: it ends, one way or another.
            let chat = Command::new(&bin)
                .env("GROQ_API_KEY", "gsk_load_test_key_0123456789")
                .env("GROQ_BASE_URL", &mock.base_url)
                .env_remove("GROQ_CONFIG")
                .args(["chat", "Say hi."])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map_err(|e| format!("cannot start a chat: {e}"))?;
            chats.0 += 1;
            if status_ok(chat.code()) {
                chats.1 += 1;
            }
            next += Duration::from_secs(10);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(mock);
    let text = fs::read_to_string(&summary).map_err(|e| format!("no summary: {e}"))?;
    let number = |key: &str| json_number(&text, key).unwrap_or_default();
    let once = each_once(&output, n);
    let _ = fs::remove_file(&input);
    let steady: Vec<&(f64, Sample)> = samples.iter().filter(|(t, _)| *t >= 20.0).collect();
    let range = |f: fn(&Sample) -> u64| {
        let values: Vec<u64> = steady.iter().map(|(_, s)| f(s)).collect();
        (
            values.iter().copied().min().unwrap_or_default(),
            values.iter().copied().max().unwrap_or_default(),
        )
    };
    let (rss_min, rss_max) = range(|s| s.rss_kib);
    let (fd_min, fd_max) = range(|s| s.fds);
    let mut body = format!(
        "## Soak: a long batch and chats against a faulty emulator\n\n\
         `cargo xtask soak --minutes {minutes}` (not part of CI): the release `groqchat batch` \
         sends {n} requests paced at {per_second}/s (an RPM limit in its configuration) to a \
         `groqchat mock` process answering 10 % of requests 500/503, dropping 5 % of \
         connections, breaking 5 % of streams, with 5-50 ms latency; a streamed \
         `groqchat chat` runs every 10 s against the same emulator. The batch process is sampled \
         every 10 s from `/proc`.\n\n\
         Result: exit code {}; {} ok, {} failed (after their retries), {} not run; every \
         request ends exactly once: {}; {} of {} chats succeeded (the others met a fault and \
         ended with an error, none hung). After a 20 s warm-up, RSS stayed between {:.1} and \
         {:.1} MiB and open file descriptors between {fd_min} and {fd_max}.\n\n\
         | t (s) | RSS (MiB) | fds |\n|---:|---:|---:|\n",
        exit.map_or_else(|| "none (killed)".to_owned(), |c| c.to_string()),
        number("ok"),
        number("failed"),
        number("not_run"),
        match &once {
            Ok(()) => "yes".to_owned(),
            Err(e) => format!("no ({e})"),
        },
        chats.1,
        chats.0,
        rss_min as f64 / 1024.0,
        rss_max as f64 / 1024.0,
    );
    for (t, s) in &samples {
        let _ = writeln!(
            body,
            "| {t:.0} | {:.1} | {} |",
            s.rss_kib as f64 / 1024.0,
            s.fds
        );
    }
    body.push('\n');
    write_section("soak", &body)?;
    once
}

/// Whether a chat's exit code means it ended by itself (0: answered; 1: a reported error).
fn status_ok(code: Option<i32>) -> bool {
    code == Some(0)
}
