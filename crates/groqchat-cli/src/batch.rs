//! `groqchat batch`: the main job. Reads a batch file, pushes every request through the
//! limits in the least time, writes batch-format results as they finish, and resumes.
//!
//! The input is read twice, as it goes, and never held whole: a first pass counts and
//! estimates every request for the plan (keeping no body), a second pass feeds the requests to
//! the client through a bounded window (`--window`, default [`DEFAULT_WINDOW`]). Memory does
//! not grow with the file: the per-line state is the set of custom ids already finished (for
//! resume) and, during the first pass only, a 64-bit hash per custom id (for duplicates).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use groq_client::{
    ChatCompletion, Error as ClientError, ErrorKind, Event, GroqClient, ShutdownMode,
};
use groq_config::Config;
use groq_ratelimit::Dimension;
use groq_tokens::{CalibratedCounter, TiktokenCounter, TokenCounter};
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast, mpsc, watch};
use tokio::time::Instant;

use crate::connect::{self, ConnectArgs};
use crate::error::{CliError, EXIT_FAILED, EXIT_OK};
use crate::input::{
    BatchRequest, DEFAULT_MAX_LINE_BYTES, InputLines, LineProblem, ProblemKind, RawLine,
    parse_raw_line, too_long,
};
use crate::model_check::{Known, ModelCheckArgs, Unknown};
use crate::output::{
    FinishedIds, IdGenerator, Prehashed, ResponsePart, ResultLine, ResultWriter, read_resume,
};
use crate::plan::{PlanBuilder, estimate, format_duration, minimum_time, never_fits, quota_of};
use crate::progress::{Progress, ProgressMode, Status};
use crate::signals::{Interrupts, Stop};
use crate::stdio::{is_dash, report};
use crate::summary::Summary;

/// The default number of requests held in memory at once (in flight, queued in the client,
/// or waiting for their turn with `--ordered`): enough to keep every lane of a paid plan busy
/// (the transport sends at most 256 at once to one host), small enough that a request's few
/// KiB times the window stay in the tens of MiB.
pub(crate) const DEFAULT_WINDOW: usize = 2_048;

/// The largest `--window` accepted.
const MAX_WINDOW: usize = 1 << 20;

/// Arguments of `groqchat batch`.
#[derive(Debug, clap::Args)]
pub(crate) struct BatchArgs {
    /// JSON Lines input: batch-format lines ({"custom_id", "method", "url", "body"}) or bare chat
    /// request bodies (custom_id = line number), each with an optional "priority"
    /// ("high", "normal", "low"). Read twice (plan, then send): `-` reads stdin once into a
    /// temporary file.
    #[arg(value_name = "INPUT")]
    pub(crate) input: PathBuf,
    /// Where results go, one batch-format line per request. If it exists, the run resumes:
    /// requests with a result there are not sent again. `-` writes to stdout (no resume; the
    /// plan and the summary then go to stderr).
    #[arg(short, long, value_name = "OUTPUT")]
    pub(crate) output: PathBuf,
    /// Write results in input order instead of as they finish (finished results wait in
    /// memory for earlier ones, at most --window of them).
    #[arg(long)]
    pub(crate) ordered: bool,
    /// When resuming, send the requests that failed in earlier runs again (their failure lines
    /// are replaced).
    #[arg(long)]
    pub(crate) retry_failed: bool,
    /// Also write the summary as JSON to this file.
    #[arg(long, value_name = "PATH")]
    pub(crate) summary_json: Option<PathBuf>,
    /// Print the plan and stop without sending anything (resume is honoured: requests with a
    /// result in the output are not planned).
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// The model check before the run.
    #[command(flatten)]
    pub(crate) models: ModelCheckArgs,
    /// Submit the input to Groq's Batch API instead of running it locally (half the price,
    /// its own quota, hours instead of minutes); an interrupted run resumes the same batch.
    #[arg(long)]
    pub(crate) remote: bool,
    /// The Batch API's completion window (24h up to 7d): used by --remote, and compared with
    /// the local run's least time in the plan.
    #[arg(long, value_name = "WINDOW", default_value = "24h")]
    pub(crate) completion_window: String,
    /// How progress is shown on stderr.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub(crate) progress: ProgressMode,
    /// Seconds between plain progress lines (0.1 to 86400).
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    pub(crate) progress_interval: f64,
    /// How many requests are held in memory at once (1 to 1048576).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_WINDOW)]
    pub(crate) window: usize,
    /// Input lines longer than this many bytes are reported and skipped, never read whole.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_LINE_BYTES)]
    pub(crate) max_line_bytes: usize,
    /// Connection.
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
}

/// What the event listener learns, shared with the main loop.
#[derive(Debug, Default)]
struct Observed {
    rate_limited: AtomicU64,
    retries: AtomicU64,
    /// 429s per model and limit the server named.
    rejected: Mutex<BTreeMap<(String, Option<Dimension>), u64>>,
    /// Per model: until when its lane waits, and for which limit. An entry is kept until
    /// its instant passes: a lane's next wait is reported before the previous head's
    /// dispatch, so dispatches cannot clear it.
    waiting: Mutex<BTreeMap<String, (Instant, Option<Dimension>)>>,
    /// Notified when a request goes on the wire: the limiter's state is then saved soon, so
    /// that a run killed right after sending does not forget what it sent.
    dispatched: tokio::sync::Notify,
}

impl Observed {
    fn record(&self, event: &Event) {
        match event {
            Event::Dispatched { .. } => self.dispatched.notify_one(),
            Event::RateLimited {
                model, dimension, ..
            } => {
                self.rate_limited.fetch_add(1, Ordering::Relaxed);
                self.reject(model, *dimension);
            }
            Event::Retrying { .. } => {
                self.retries.fetch_add(1, Ordering::Relaxed);
            }
            Event::Waiting {
                model,
                until,
                dimension,
            } => {
                self.waiting_lock()
                    .insert(model.to_string(), (*until, *dimension));
            }
            _ => {}
        }
    }

    /// Counts a 429 for `model` on `dimension`.
    fn reject(&self, model: &str, dimension: Option<Dimension>) {
        *self
            .rejected
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((model.to_owned(), dimension))
            .or_default() += 1;
    }

    /// One sentence per model and limit the server enforced more strictly than configured.
    fn stricter(&self, config: &Config) -> Vec<String> {
        let rejected = self.rejected.lock().unwrap_or_else(PoisonError::into_inner);
        rejected
            .iter()
            .map(|((model, dimension), n)| {
                let requests = if *n == 1 { "request" } else { "requests" };
                let configured = dimension.and_then(|d| quota_of(config, model)?.rate(d));
                match (dimension, configured) {
                    (Some(d), Some(rate)) => format!(
                        "the server rejected {n} {requests} of {model} for {}: your configured \
                         limit of {rate} is above what the server allows; lower it in the \
                         configuration",
                        d.label()
                    ),
                    (Some(d), None) => format!(
                        "the server rejected {n} {requests} of {model} for {}, a limit the \
                         configuration does not set; add it",
                        d.label()
                    ),
                    (None, _) => format!(
                        "the server rejected {n} {requests} of {model} without naming a limit"
                    ),
                }
            })
            .collect()
    }

    /// The limits the server enforced, for the progress line: `RPM of m, TPM of n`.
    fn stricter_short(&self) -> Option<String> {
        let rejected = self.rejected.lock().unwrap_or_else(PoisonError::into_inner);
        let named: Vec<String> = rejected
            .keys()
            .map(|(model, dimension)| {
                format!("{} of {model}", dimension.map_or("a limit", |d| d.label()))
            })
            .collect();
        (!named.is_empty()).then(|| named.join(", "))
    }

    fn waiting_lock(
        &self,
    ) -> std::sync::MutexGuard<'_, BTreeMap<String, (Instant, Option<Dimension>)>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current waits, `model: RPM (2.1s)`, longest first.
    fn waiting_now(&self, now: Instant) -> Option<String> {
        let mut waits: Vec<(Duration, String)> = self
            .waiting_lock()
            .iter()
            .filter(|(_, (until, _))| *until > now)
            .map(|(model, (until, dimension))| {
                let left = until.saturating_duration_since(now);
                let limit =
                    dimension.map_or_else(|| "its limits".to_owned(), |d| d.label().to_owned());
                (
                    left,
                    format!("{model}: {limit} ({})", format_duration(left)),
                )
            })
            .collect();
        waits.sort_by_key(|w| std::cmp::Reverse(w.0));
        let shown: Vec<String> = waits.into_iter().take(2).map(|(_, text)| text).collect();
        (!shown.is_empty()).then(|| shown.join("; "))
    }
}

/// Checks every numeric argument before anything is read or sent.
fn check_args(args: &BatchArgs) -> Result<(), CliError> {
    let interval = args.progress_interval;
    if !(interval.is_finite() && (0.01..=86_400.0).contains(&interval)) {
        return Err(CliError::Usage(format!(
            "--progress-interval must be a number of seconds between 0.01 and 86400, got {interval}"
        )));
    }
    if !(1..=MAX_WINDOW).contains(&args.window) {
        return Err(CliError::Usage(format!(
            "--window must be between 1 and {MAX_WINDOW}, got {}",
            args.window
        )));
    }
    if args.max_line_bytes == 0 || args.max_line_bytes > 1 << 30 {
        return Err(CliError::Usage(format!(
            "--max-line-bytes must be between 1 and 1073741824, got {}",
            args.max_line_bytes
        )));
    }
    Ok(())
}

/// Refuses an output that exists and is not a regular file (`/dev/zero`, `/dev/full`, a
/// directory, a FIFO): resuming would read it without end, or writing would block or fail.
fn check_output(path: &Path) -> Result<(), CliError> {
    if is_dash(path) {
        return Ok(());
    }
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => Err(CliError::Usage(format!(
            "the output {} is not a regular file; choose a file path for -o",
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// The longest line accepted in an existing output: a result line holds one reply (at most
/// the transport's 32 MiB body cap) and its envelope.
const MAX_OUTPUT_LINE_BYTES: usize = 64 << 20;

/// Checks, reading it as it goes, that no line of an existing output is longer than
/// [`MAX_OUTPUT_LINE_BYTES`]: such a file is not a groqchat output, and resuming must not
/// load it whole.
fn check_existing_output(path: &Path) -> Result<(), CliError> {
    if is_dash(path) {
        return Ok(());
    }
    check_output_lines(path, MAX_OUTPUT_LINE_BYTES)
}

/// [`check_existing_output`] with a given cap.
fn check_output_lines(path: &Path, cap: usize) -> Result<(), CliError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(CliError::file("read", path, e)),
    };
    let mut lines = InputLines::new(BufReader::with_capacity(64 << 10, file), cap);
    while let Some(line) = lines
        .next_line()
        .map_err(|e| CliError::file("read", path, e))?
    {
        if let RawLine::TooLong { line, bytes } = line {
            return Err(CliError::Usage(format!(
                "the output {} has a line {line} of {bytes} bytes, longer than any result line \
                 ({cap} bytes); it is not a groqchat output, choose another -o",
                path.display()
            )));
        }
    }
    Ok(())
}

/// Opens the input for one pass, refusing anything but a regular file.
fn open_input(path: &Path, max_line_bytes: usize) -> Result<InputLines<BufReader<File>>, CliError> {
    let file = File::open(path).map_err(|e| CliError::file("read", path, e))?;
    let meta = file
        .metadata()
        .map_err(|e| CliError::file("read", path, e))?;
    if !meta.is_file() {
        return Err(CliError::Usage(format!(
            "the input {} is not a regular file; it is read twice (plan, then send), so save it \
             to a file first",
            path.display()
        )));
    }
    Ok(InputLines::new(
        BufReader::with_capacity(64 << 10, file),
        max_line_bytes,
    ))
}

/// A 64-bit hash of a custom id: the first pass keeps one per request to find duplicates.
fn id_hash(state: &std::hash::RandomState, id: &str) -> u64 {
    let mut hasher = state.build_hasher();
    hasher.write(id.as_bytes());
    hasher.finish()
}

/// The line that first used each repeated custom id (by its hash): one more read of the
/// input, done only when some ids repeat, keeping a line number per repeated id only.
fn first_lines(
    args: &BatchArgs,
    state: &std::hash::RandomState,
    repeats: &[(usize, String, u64)],
) -> Result<HashMap<u64, usize>, CliError> {
    let mut wanted: HashMap<u64, usize> = repeats.iter().map(|(_, _, hash)| (*hash, 0)).collect();
    let mut missing = wanted.len();
    let mut lines = open_input(&args.input, args.max_line_bytes)?;
    while missing > 0
        && let Some(raw) = lines
            .next_line()
            .map_err(|e| CliError::file("read", &args.input, e))?
    {
        let RawLine::Text { line, bytes } = raw else {
            continue;
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let Ok(request) = parse_raw_line(line, &bytes) else {
            continue;
        };
        if let Some(first) = wanted.get_mut(&id_hash(state, &request.custom_id))
            && *first == 0
        {
            *first = line;
            missing -= 1;
        }
    }
    Ok(wanted)
}

/// What the first pass learns: counts, the plan, and the lines the second pass skips.
#[derive(Debug, Default)]
struct Scan {
    /// Requests with a valid line and a first use of their custom id.
    requests: usize,
    /// Requests with a result from an earlier run.
    already_done: usize,
    /// Requests this run sends.
    to_run: usize,
    malformed: usize,
    /// Lines whose custom id repeats an earlier line's.
    duplicate_lines: HashSet<usize>,
    /// Requests that can never succeed (reported as "will fail").
    never_fit: usize,
    /// Requests naming a model the API does not list, by model, with their lines.
    unknown: Unknown,
    plan: PlanBuilder,
    /// Per model: requests and tokens to finish, for the ETA (never-fitting ones excluded).
    remaining: HashMap<String, (u64, u64)>,
}

/// The first pass: reads the input as it goes, reports every problem, and plans.
fn scan(
    args: &BatchArgs,
    config: &Config,
    counter: &dyn TokenCounter,
    done: &FinishedIds,
    known: Option<&Known>,
) -> Result<Scan, CliError> {
    let mut lines = open_input(&args.input, args.max_line_bytes)?;
    let state = std::hash::RandomState::new();
    // The custom ids seen, as keyed 64-bit hashes: 8 bytes per line (plus the table's
    // overhead), whatever the ids' length. The line that used a repeated id first is looked
    // up after the pass, for the repeated ids only.
    let mut seen: HashSet<u64, std::hash::BuildHasherDefault<Prehashed>> = HashSet::default();
    let mut repeats: Vec<(usize, String, u64)> = Vec::new();
    let mut scan = Scan::default();
    let report = |problem: LineProblem| {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("{}: {problem}", args.input.display());
        }
    };
    while let Some(raw) = lines
        .next_line()
        .map_err(|e| CliError::file("read", &args.input, e))?
    {
        let (line, parsed) = match raw {
            RawLine::Text { line, bytes } => {
                if bytes.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                (line, parse_raw_line(line, &bytes))
            }
            RawLine::TooLong { line, bytes } => (line, Err(too_long(bytes, args.max_line_bytes))),
        };
        let request = match parsed {
            Ok(request) => request,
            Err(why) => {
                scan.malformed += 1;
                report(LineProblem {
                    line,
                    kind: ProblemKind::Malformed(why),
                });
                continue;
            }
        };
        let hash = id_hash(&state, &request.custom_id);
        if !seen.insert(hash) {
            scan.duplicate_lines.insert(line);
            repeats.push((line, request.custom_id, hash));
            continue;
        }
        scan.requests += 1;
        if done.contains(&request.custom_id) {
            scan.already_done += 1;
            continue;
        }
        if let Some(known) = known
            && !known.accepts(request.request.model())
        {
            scan.unknown.note(known, request.request.model(), line);
            continue;
        }
        scan.to_run += 1;
        let estimate = estimate(&request.request, config, counter);
        if let Some(why) = never_fits(&request.request, &estimate, config) {
            scan.never_fit += 1;
            #[allow(clippy::print_stderr)]
            {
                eprintln!(
                    "{}: line {line}: will fail: {why}; it is not counted in the plan",
                    args.input.display()
                );
            }
            continue;
        }
        scan.plan.add(request.request.model(), &estimate);
        let entry = scan
            .remaining
            .entry(request.request.model().to_owned())
            .or_default();
        entry.0 += 1;
        entry.1 = entry.1.saturating_add(estimate.total);
    }
    drop(seen);
    if !repeats.is_empty() {
        let first_lines = first_lines(args, &state, &repeats)?;
        for (line, custom_id, hash) in repeats {
            report(LineProblem {
                line,
                kind: ProblemKind::Duplicate {
                    custom_id,
                    first_line: first_lines.get(&hash).copied().unwrap_or_default(),
                },
            });
        }
    }
    Ok(scan)
}

/// The custom ids an existing output already answers, read without changing the file (for
/// `--dry-run`).
fn done_in_existing(path: &Path, retry_failed: bool) -> Result<FinishedIds, CliError> {
    if is_dash(path) {
        return Ok(FinishedIds::default());
    }
    Ok(read_resume(path, retry_failed)?.done)
}

/// Runs `groqchat batch`.
#[allow(clippy::print_stdout, clippy::print_stderr)]
pub(crate) async fn run(mut args: BatchArgs) -> Result<ExitCode, CliError> {
    check_args(&args)?;
    if args.remote && !args.dry_run {
        let window = args.completion_window.clone();
        return crate::remote::run(args, &window).await;
    }
    check_output(&args.output)?;
    // The input is read twice (plan, then send): stdin is saved to a temporary file first,
    // removed when the run ends.
    let _stdin_copy = if is_dash(&args.input) {
        let copy = crate::stdio::spool_stdin()?;
        args.input = copy.path().to_owned();
        Some(copy)
    } else {
        None
    };
    if let (Ok(input), Ok(output)) = (
        std::fs::canonicalize(&args.input),
        std::fs::canonicalize(&args.output),
    ) && input == output
    {
        return Err(CliError::Usage(format!(
            "the output {} is the input file; choose another -o",
            args.output.display()
        )));
    }
    // Fail on an unreadable input before touching the output.
    drop(open_input(&args.input, args.max_line_bytes)?);

    if args.dry_run {
        let config = dry_run_config(&args.connect)?;
        check_existing_output(&args.output)?;
        let done = done_in_existing(&args.output, args.retry_failed)?;
        let counter = CalibratedCounter::new(TiktokenCounter::new());
        let scan = scan(&args, &config, &counter, &done, None)?;
        if scan.requests == 0 && scan.malformed + scan.duplicate_lines.len() == 0 {
            report(&args.output, "the input has no requests\n")?;
            return Ok(ExitCode::from(EXIT_OK));
        }
        if scan.already_done > 0 {
            report(
                &args.output,
                &format!(
                    "resuming {}: {} of {} requests already have a result and are not planned\n",
                    args.output.display(),
                    scan.already_done,
                    scan.requests
                ),
            )?;
        }
        let plan = scan.plan.build(&config);
        report(&args.output, &plan.render())?;
        report(
            &args.output,
            &crate::remote::comparison(plan.lower(), &args.completion_window),
        )?;
        let clean = scan.malformed + scan.duplicate_lines.len() + scan.never_fit == 0;
        return Ok(ExitCode::from(if clean { EXIT_OK } else { EXIT_FAILED }));
    }

    // Listen before anything slow, so that an early Ctrl-C or SIGTERM is a stop, not a kill.
    let interrupts = Interrupts::new();
    check_existing_output(&args.output)?;
    let connection = connect::connect(&args.connect).await?;
    let known = crate::model_check::known_models(&connection).await;
    // The first pass (plan and model check) reads the output without changing it: nothing is
    // written before the model check has passed.
    let counter: Arc<dyn TokenCounter> = Arc::new(CalibratedCounter::new(TiktokenCounter::new()));
    let done_before = done_in_existing(&args.output, args.retry_failed)?;
    let scanned = scan(
        &args,
        &connection.config,
        &*counter,
        &done_before,
        Some(&known),
    )?;
    drop(done_before);
    let skipped_models = match scanned.unknown.verdict(args.models, &known) {
        Ok(skipped) => skipped,
        Err(e) => {
            connection.close().await;
            return Err(e);
        }
    };
    let skipped = scanned.unknown.skipped();
    let (file, resume) = crate::stdio::open_output(&args.output, args.retry_failed)?;
    if resume.torn_tail {
        eprintln!(
            "{}: dropped an incomplete last line left by an interrupted run",
            args.output.display()
        );
    }
    if resume.kept > 0 || resume.retrying > 0 {
        eprintln!(
            "resuming {}: {} succeeded earlier, {} failed earlier{}",
            args.output.display(),
            resume.succeeded,
            resume.failed_kept + resume.retrying,
            if resume.retrying > 0 {
                format!(" ({} to retry)", resume.retrying)
            } else if resume.failed_kept > 0 {
                " (kept; --retry-failed sends them again)".to_owned()
            } else {
                String::new()
            }
        );
    }
    let failed_kept = resume.failed_kept;
    let done = resume.done;

    if scanned.requests == 0 && scanned.malformed + scanned.duplicate_lines.len() == 0 {
        report(&args.output, "the input has no requests\n")?;
        connection.close().await;
        return Ok(ExitCode::from(EXIT_OK));
    }
    let plan = scanned.plan.clone().build(&connection.config);
    if scanned.to_run == 0 {
        report(
            &args.output,
            "nothing to send: every request already has a result\n",
        )?;
    } else {
        report(&args.output, &plan.render())?;
        report(
            &args.output,
            &crate::remote::comparison(plan.lower(), &args.completion_window),
        )?;
    }

    let mut summary = Summary {
        input: args.input.display().to_string(),
        output: args.output.display().to_string(),
        malformed_lines: scanned.malformed,
        duplicate_lines: scanned.duplicate_lines.len(),
        // Successes only: the failures kept from earlier runs are counted apart.
        already_done: scanned.already_done.saturating_sub(failed_kept),
        failed_earlier: failed_kept,
        requests: scanned.to_run,
        never_fit: scanned.never_fit,
        mock: connection.mock.is_some(),
        ..Summary::default()
    };
    summary.set_bounds(plan.lower(), plan.upper());

    if let Some(state) = limits_path(&args.output)
        && restore_limits(&connection.client, &connection.config, &state) > 0
    {
        eprintln!(
            "resuming the rate limits saved in {}, aged by the time since",
            state.display()
        );
    }
    let writer = ResultWriter::new(file, args.output.clone(), false);
    let interval = Duration::try_from_secs_f64(args.progress_interval)
        .map_err(|e| CliError::Usage(format!("--progress-interval: {e}")))?;
    let progress = Progress::new(args.progress, scanned.to_run as u64, interval);
    let outcome = execute(
        &connection.client,
        &connection.config,
        &args,
        Sources {
            counter,
            done,
            duplicate_lines: &scanned.duplicate_lines,
            skipped_models: &skipped_models,
            remaining: scanned.remaining,
            to_run: scanned.to_run,
        },
        Ends {
            writer,
            progress,
            interrupts,
        },
        &mut summary,
    )
    .await;
    if let Some(mock) = &connection.mock {
        summary.mock_server_429s = Some(mock.stats().rate_limited);
    }
    connection.close().await;
    outcome?;

    report(&args.output, &format!("{}\n", summary.render()))?;
    if let Some(path) = &args.summary_json {
        let text = serde_json::to_string_pretty(&summary).unwrap_or_default();
        std::fs::write(path, text + "\n").map_err(|e| CliError::file("write", path, e))?;
    }
    Ok(ExitCode::from(
        if summary.is_complete_success() && skipped == 0 {
            EXIT_OK
        } else {
            EXIT_FAILED
        },
    ))
}

/// How long a killed run may have gone on after its last periodic save of the limits: two
/// progress ticks.
const UNSAVED_RUN: Duration = Duration::from_millis(500);

/// Where the limiter's state is saved: next to the output, `<output>.limits.json`; nowhere
/// when the results go to stdout.
fn limits_path(output: &Path) -> Option<PathBuf> {
    if is_dash(output) {
        return None;
    }
    let mut path = output.as_os_str().to_owned();
    path.push(".limits.json");
    Some(PathBuf::from(path))
}

/// Milliseconds since the Unix epoch: saved states are compared across processes, which
/// share no clock but the wall clock.
#[allow(clippy::disallowed_methods)]
fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Saves what the limiter knows of every configured model (units held per dimension, any
/// pause the server imposed) with the wall-clock time, so that a resumed run does not start
/// with full buckets while the server's are drained. Written to a temporary file and renamed,
/// so a crash never leaves half a file.
fn save_limits(
    client: &GroqClient,
    config: &Config,
    path: &Path,
    last: bool,
) -> std::io::Result<()> {
    let limiter = client.limiter();
    let now = Instant::now();
    let mut models = serde_json::Map::new();
    for model in config.models.keys() {
        let Some(snapshot) = limiter.snapshot(model) else {
            continue;
        };
        let mut used = serde_json::Map::new();
        for dimension in &snapshot.dimensions {
            if dimension.used > 0 {
                used.insert(
                    dimension.dimension.label().to_owned(),
                    dimension.used.into(),
                );
            }
        }
        let paused_ms = snapshot
            .penalized_until
            .map_or(0, |until| until.saturating_duration_since(now).as_millis());
        if used.is_empty() && paused_ms == 0 {
            continue;
        }
        models.insert(
            model.clone(),
            serde_json::json!({"used": used, "paused_ms": u64::try_from(paused_ms).unwrap_or(u64::MAX)}),
        );
    }
    let state = serde_json::json!({
        "saved_at_unix_ms": unix_millis(),
        "final": last,
        "models": models,
    });
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    let temp = PathBuf::from(temp);
    std::fs::write(&temp, state.to_string() + "\n")?;
    std::fs::rename(&temp, path)
}

/// Restores a state saved by [`save_limits`], aged by the time that passed: each bucket has
/// drained at its configured rate since. A missing or unreadable file restores nothing, and
/// so does one larger than any saved state (1 MiB), which is read no further.
fn restore_limits(client: &GroqClient, config: &Config, path: &Path) -> usize {
    const MAX_STATE_BYTES: u64 = 1 << 20;
    let mut text = String::new();
    let read = File::open(path).and_then(|file| {
        std::io::Read::read_to_string(
            &mut std::io::Read::take(file, MAX_STATE_BYTES + 1),
            &mut text,
        )
    });
    if read.is_err() || text.len() as u64 > MAX_STATE_BYTES {
        return 0;
    }
    let Ok(state) = serde_json::from_str::<Value>(&text) else {
        return 0;
    };
    let saved = state["saved_at_unix_ms"].as_u64().unwrap_or(0);
    let mut elapsed = Duration::from_millis(unix_millis().saturating_sub(saved));
    if state["final"] != Value::Bool(true) {
        // The run was killed after this save: it may have sent what its buckets admitted
        // until the next save was due, so the buckets are aged as if it had run that long.
        elapsed = elapsed.saturating_sub(UNSAVED_RUN);
    }
    let limiter = client.limiter();
    let now = Instant::now();
    let mut restored = 0;
    let Some(models) = state["models"].as_object() else {
        return 0;
    };
    for (model, entry) in models {
        let Some(quota) = quota_of(config, model) else {
            continue;
        };
        for (dimension, rate) in quota.rates() {
            let Some(used) = entry["used"][dimension.label()].as_u64() else {
                continue;
            };
            let drained = elapsed.as_nanos().saturating_mul(u128::from(rate.limit()))
                / rate.period().as_nanos().max(1);
            let left = u128::from(used).saturating_sub(drained);
            if left > 0 {
                limiter.restore(
                    model,
                    dimension,
                    u64::try_from(left).unwrap_or(u64::MAX),
                    now,
                );
                restored += 1;
            }
        }
        let paused = Duration::from_millis(entry["paused_ms"].as_u64().unwrap_or(0));
        if let Some(left) = paused.checked_sub(elapsed).filter(|d| !d.is_zero())
            && let Some(until) = now.checked_add(left)
        {
            limiter.penalize(model, None, until);
        }
    }
    restored
}

/// The configuration for `--dry-run`: no key needed.
fn dry_run_config(args: &ConnectArgs) -> Result<Config, CliError> {
    let factor = connect::time_factor(args)?;
    let config = connect::load_config(args)?;
    Ok(connect::compress_time(config, factor))
}

/// What the second pass needs from the first.
struct Sources<'a> {
    counter: Arc<dyn TokenCounter>,
    done: FinishedIds,
    duplicate_lines: &'a HashSet<usize>,
    skipped_models: &'a BTreeSet<String>,
    remaining: HashMap<String, (u64, u64)>,
    to_run: usize,
}

/// Where a run's results, progress and stops go.
struct Ends {
    writer: ResultWriter,
    progress: Progress,
    interrupts: Interrupts,
}

/// One finished request, with its window slot.
struct Finished {
    position: usize,
    /// The request's model.
    model: String,
    /// The request's custom id.
    custom_id: String,
    tokens: u64,
    outcome: Option<Result<Answered, ClientError>>,
    _slot: OwnedSemaphorePermit,
}

/// A successful reply, digested where it arrived: its result line (without its id, given
/// when it is written) and its usage. The reply itself is dropped at once, so that the
/// transport's read buffer it shares is freed while the result waits for the writer.
struct Answered {
    line: ResultLine,
    usage: Option<groq_types::Usage>,
}

impl Answered {
    fn new(client: &GroqClient, custom_id: String, completion: &ChatCompletion) -> Self {
        Self {
            line: redacted(
                client,
                ResultLine::success(String::new(), custom_id, completion),
            ),
            usage: completion.usage.clone(),
        }
    }
}

/// The second pass: reads the input again and sends each request to run, holding at most
/// `window` in memory; hands every result to `results`.
async fn feed(
    client: GroqClient,
    config: Config,
    skip: FeedSkip,
    window: Arc<Semaphore>,
    results: mpsc::UnboundedSender<Finished>,
    mut stop: watch::Receiver<u8>,
) -> Result<(), CliError> {
    let path = skip.path;
    let mut lines = open_input(&path, skip.max_line_bytes)?;
    let counter = skip.counter;
    let mut position = 0usize;
    loop {
        if *stop.borrow() > 0 {
            return Ok(());
        }
        let raw = lines
            .next_line()
            .map_err(|e| CliError::file("read", &path, e))?;
        let Some(RawLine::Text { line, bytes }) = raw else {
            if raw.is_none() {
                return Ok(());
            }
            continue;
        };
        if bytes.iter().all(u8::is_ascii_whitespace) || skip.duplicate_lines.contains(&line) {
            continue;
        }
        let Ok(request) = parse_raw_line(line, &bytes) else {
            continue;
        };
        drop(bytes);
        if skip.done.contains(&request.custom_id)
            || skip.skipped_models.contains(request.request.model())
        {
            continue;
        }
        let slot = tokio::select! {
            slot = Arc::clone(&window).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => return Ok(()),
            },
            _ = stop.changed() => return Ok(()),
        };
        let estimate = estimate(&request.request, &config, &*counter);
        let counted = never_fits(&request.request, &estimate, &config).is_none();
        let BatchRequest {
            custom_id,
            request,
            priority,
            ..
        } = request;
        let model = request.model().to_owned();
        let call = client
            .chat(request)
            .priority(priority)
            .request_id(custom_id.clone());
        let results = results.clone();
        let mut abort = stop.clone();
        let this = position;
        position += 1;
        let client = client.clone();
        tokio::spawn(async move {
            let outcome = tokio::select! {
                outcome = call => Some(outcome),
                // A second stop aborts the requests in flight.
                () = async { while abort.changed().await.is_ok() && *abort.borrow() < 2 {} } => None,
            };
            let outcome = outcome.map(|outcome| {
                outcome.map(|completion| Answered::new(&client, custom_id.clone(), &completion))
            });
            let _ = results.send(Finished {
                position: this,
                model,
                custom_id,
                tokens: if counted { estimate.total } else { 0 },
                outcome,
                _slot: slot,
            });
        });
    }
}

/// The input of the second pass, and the lines it skips.
struct FeedSkip {
    counter: Arc<dyn TokenCounter>,
    path: PathBuf,
    max_line_bytes: usize,
    done: Arc<FinishedIds>,
    duplicate_lines: Arc<HashSet<usize>>,
    /// Models the model check found unknown (`--skip-unknown-models`): not sent.
    skipped_models: Arc<BTreeSet<String>>,
}

/// Sends every request, writes each result as it comes, shows progress and handles Ctrl-C
/// and SIGTERM.
async fn execute(
    client: &GroqClient,
    config: &Config,
    args: &BatchArgs,
    sources: Sources<'_>,
    ends: Ends,
    summary: &mut Summary,
) -> Result<(), CliError> {
    let Ends {
        mut writer,
        mut progress,
        mut interrupts,
    } = ends;
    let observed = Arc::new(Observed::default());
    let listener = tokio::spawn(listen(client.events(), Arc::clone(&observed)));
    let started = Instant::now();
    let mut remaining = sources.remaining;

    let (sender, mut results) = mpsc::unbounded_channel::<Finished>();
    let (stop, stop_rx) = watch::channel(0u8);
    let window = Arc::new(Semaphore::new(args.window));
    let feeder = tokio::spawn(feed(
        client.clone(),
        config.clone(),
        FeedSkip {
            counter: Arc::clone(&sources.counter),
            path: args.input.clone(),
            max_line_bytes: args.max_line_bytes,
            done: Arc::new(sources.done),
            duplicate_lines: Arc::new(sources.duplicate_lines.clone()),
            skipped_models: Arc::new(sources.skipped_models.clone()),
        },
        window,
        sender,
        stop_rx,
    ));

    let mut ids = IdGenerator::new();
    let mut status = Status {
        total: sources.to_run as u64,
        ..Status::default()
    };
    // `--ordered`: results wait here for their predecessors, each holding its window slot,
    // so at most `--window` wait.
    let mut held: BTreeMap<usize, Option<ResultLine>> = BTreeMap::new();
    let mut slots: BTreeMap<usize, OwnedSemaphorePermit> = BTreeMap::new();
    let mut next_to_write = 0usize;
    let mut ticker = tokio::time::interval(Duration::from_millis(250));
    let mut stopping = false;
    let mut finished = 0usize;
    // The limiter's state is saved at most every SAVE_EVERY after a dispatch, and on every
    // tick: a run killed at any point leaves a state at most that old.
    const SAVE_EVERY: Duration = Duration::from_millis(20);
    let state_path = limits_path(&args.output);
    let mut last_save = Instant::now();
    let mut save_pending = false;
    let mut failure: Option<CliError> = None;
    loop {
        tokio::select! {
            received = results.recv() => {
                let Some(done) = received else { break };
                finished += 1;
                let Finished { position, model, custom_id, tokens, outcome, _slot: slot } = done;
                if tokens > 0
                    && let Some(entry) = remaining.get_mut(&model)
                {
                    entry.0 = entry.0.saturating_sub(1);
                    entry.1 = entry.1.saturating_sub(tokens);
                }
                let line = match outcome {
                    Some(Ok(Answered { mut line, usage })) => {
                        summary.ok += 1;
                        status.ok += 1;
                        if let Some(usage) = &usage {
                            summary.prompt_tokens += usage.prompt_tokens;
                            summary.completion_tokens += usage.completion_tokens;
                            status.tokens += usage.total_tokens;
                        }
                        line.id = ids.next_id();
                        Some(line)
                    }
                    None => {
                        summary.not_run += 1;
                        None
                    }
                    Some(Err(error)) if stopping && matches!(error.kind(), ErrorKind::Cancelled | ErrorKind::Shutdown) => {
                        summary.not_run += 1;
                        None
                    }
                    Some(Err(error)) => {
                        summary.failed += 1;
                        status.failed += 1;
                        if let ClientError::RateLimited { model, dimension, .. } = &error {
                            // The 429 that ends a request is received too.
                            summary.rate_limited_429 += 1;
                            observed.reject(model, *dimension);
                        }
                        *summary.failed_by_kind.entry(error.code().map_or_else(|| error.kind().as_str().to_owned(), str::to_owned)).or_default() += 1;
                        let line = ResultLine::failure(ids.next_id(), custom_id, &error);
                        Some(redacted(client, line))
                    }
                };
                let written = if args.ordered {
                    held.insert(position, line);
                    slots.insert(position, slot);
                    let mut result = Ok(());
                    while let Some(line) = held.remove(&next_to_write) {
                        slots.remove(&next_to_write);
                        next_to_write += 1;
                        if let Some(line) = line {
                            result = result.and_then(|()| writer.write(0, line));
                        }
                    }
                    result
                } else {
                    drop(slot);
                    match line {
                        Some(line) => writer.write(position, line),
                        None => writer.skip(position),
                    }
                };
                if let Err(e) = written {
                    failure = Some(CliError::file("write", writer.path(), e));
                    let _ = stop.send(2);
                    break;
                }
            }
            () = observed.dispatched.notified() => {
                save_pending = state_path.is_some();
            }
            () = tokio::time::sleep_until(last_save + SAVE_EVERY), if save_pending => {
                if let Some(path) = &state_path {
                    let _ = save_limits(client, config, path, false);
                }
                last_save = Instant::now();
                save_pending = false;
            }
            _ = ticker.tick() => {
                let now = Instant::now();
                // Saved on every tick, so that even a killed run leaves a recent state.
                if let Some(path) = &state_path {
                    let _ = save_limits(client, config, path, false);
                }
                last_save = now;
                status.rate_limited = observed.rate_limited.load(Ordering::Relaxed);
                status.waiting = observed.waiting_now(now);
                status.stricter = observed.stricter_short();
                status.eta = Some(eta(client, config, &remaining, now));
                progress.update(&status);
            }
            signal = interrupts.next() => {
                if stopping {
                    progress.println("second Ctrl-C or SIGTERM: aborting the requests in flight; run the same command again to resume");
                    let _ = stop.send(2);
                    summary.interrupted = true;
                    continue;
                }
                stopping = true;
                summary.interrupted = true;
                let _ = stop.send(1);
                progress.println(match signal {
                    Stop::Interrupt => "Ctrl-C: no new requests are sent; waiting for the ones in flight (Ctrl-C again to abort)",
                    Stop::Terminate => "SIGTERM: no new requests are sent; waiting for the ones in flight (signal again to abort)",
                });
                let client = client.clone();
                tokio::spawn(async move { client.shutdown(ShutdownMode::Cancel).await });
            }
        }
    }
    // Results held for `--ordered` whose predecessors never came (a stopped run).
    for line in std::mem::take(&mut held).into_values().flatten() {
        if let Err(e) = writer.write(0, line) {
            failure.get_or_insert(CliError::file("write", writer.path(), e));
        }
    }
    drop(slots);
    let fed = feeder.await;
    if let Some(Err(e)) =
        limits_path(&args.output).map(|path| save_limits(client, config, &path, true))
    {
        progress.println(&format!(
            "could not save the rate limits next to the output ({e}); a resumed run starts \
             with full buckets"
        ));
    }
    summary.not_run += sources.to_run.saturating_sub(finished);
    progress.finish();
    listener.abort();
    summary.rate_limited_429 += observed.rate_limited.load(Ordering::Relaxed);
    summary.retries = observed.retries.load(Ordering::Relaxed);
    summary.server_stricter = observed.stricter(config);
    summary.set_elapsed(started.elapsed());
    let finished_writing = writer.finish();
    if let Some(failure) = failure {
        return Err(failure);
    }
    match fed {
        Ok(Err(e)) => return Err(e),
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        _ => {}
    }
    finished_writing.map_err(|e| CliError::file("write", writer.path(), e))
}

/// Feeds the client's events to `observed` until the channel closes.
async fn listen(mut events: broadcast::Receiver<Event>, observed: Arc<Observed>) {
    loop {
        match events.recv().await {
            Ok(event) => observed.record(&event),
            Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
}

/// The least time the limits allow for what is left, from the limiter's current state,
/// including any pause the server imposed on a model.
fn eta(
    client: &GroqClient,
    config: &Config,
    remaining: &HashMap<String, (u64, u64)>,
    now: Instant,
) -> Duration {
    let limiter = client.limiter();
    remaining
        .iter()
        .filter(|(_, (requests, _))| *requests > 0)
        .filter_map(|(model, &(requests, tokens))| {
            let quota = quota_of(config, model)?;
            let snapshot = limiter.snapshot(model);
            // Units reserved by requests in flight still count as work left here, so they
            // count as free too.
            let free = |d: Dimension| {
                snapshot
                    .as_ref()
                    .and_then(|s| s.get(d))
                    .map(|s| s.remaining.saturating_add(s.pending))
            };
            let paused = snapshot
                .as_ref()
                .and_then(|s| s.penalized_until)
                .map_or(Duration::ZERO, |until| until.saturating_duration_since(now));
            Some(paused.saturating_add(minimum_time(&quota, requests, tokens, free).0))
        })
        .max()
        .unwrap_or_default()
}

/// `line` with the client's secrets scrubbed from the server's body it carries: the one
/// permitted change to the bytes the server sent (see the lossless rule in
/// docs/architecture.md).
fn redacted(client: &GroqClient, mut line: ResultLine) -> ResultLine {
    if let Some(response) = line.response.as_mut()
        && let std::borrow::Cow::Owned(scrubbed) =
            client.redact_bytes(response.body.get().as_bytes())
    {
        *response = ResponsePart::new(response.status_code, response.request_id.take(), &scrubbed);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc as StdArc;

    #[test]
    fn result_lines_are_scrubbed_of_the_key() {
        let client = GroqClient::builder()
            .api_key("gsk_batch_scrub_key_0123")
            .build()
            .unwrap();
        let completion = ChatCompletion::from_bytes(bytes::Bytes::from_static(
            br#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"key: gsk_batch_scrub_key_0123"},"logprobs":null,"finish_reason":"stop"}],"x_groq":{"id":"req_abc"}}"#,
        ))
        .unwrap();
        let line = redacted(
            &client,
            ResultLine::success("batch_req_1".into(), "q".into(), &completion),
        );
        assert!(line.is_success());
        let response = line.response.unwrap();
        assert_eq!(response.request_id.as_deref(), Some("req_abc"));
        assert_eq!(
            response.body.get(),
            r#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"key: [REDACTED]"},"logprobs":null,"finish_reason":"stop"}],"x_groq":{"id":"req_abc"}}"#
        );
    }

    #[test]
    fn an_output_with_an_endless_line_is_refused_without_loading_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        assert!(
            check_output_lines(&path, 100).is_ok(),
            "a missing output is fine"
        );
        std::fs::write(&path, format!("{{}}\n{}\n", "x".repeat(1_000))).unwrap();
        let error = check_output_lines(&path, 100).unwrap_err().to_string();
        assert!(error.contains("has a line 2 of 1000 bytes"), "{error}");
        std::fs::write(&path, "{}\n{}\n").unwrap();
        assert!(check_output_lines(&path, 100).is_ok());
    }

    #[test]
    fn secrets_are_scrubbed_from_bodies() {
        let client = GroqClient::builder()
            .api_key("gsk_batch_scrub_key_0123")
            .build()
            .unwrap();
        let mut body = serde_json::json!({"choices": [{"message": {"content": "key: gsk_batch_scrub_key_0123"}}], "n": 1});
        client.redact_json(&mut body);
        assert_eq!(body["choices"][0]["message"]["content"], "key: [REDACTED]");
        assert_eq!(body["n"], 1);
    }

    #[test]
    fn observed_events_feed_the_progress() {
        let observed = Observed::default();
        let now = Instant::now();
        let model: StdArc<str> = StdArc::from("llama-3.1-8b-instant");
        observed.record(&Event::Waiting {
            model: StdArc::clone(&model),
            until: now + Duration::from_secs(2),
            dimension: Some(Dimension::RequestsPerMinute),
        });
        assert_eq!(
            observed.waiting_now(now).as_deref(),
            Some("llama-3.1-8b-instant: RPM (2s)")
        );
        assert_eq!(
            observed
                .waiting_now(now + Duration::from_millis(1_750))
                .as_deref(),
            Some("llama-3.1-8b-instant: RPM (250ms)")
        );
        assert_eq!(observed.waiting_now(now + Duration::from_secs(3)), None);
    }
}
