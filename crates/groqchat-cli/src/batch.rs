//! `groqchat batch`: the main job. Reads a batch file, pushes every request through the
//! limits in the least time, writes batch-format results as they finish, and resumes.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use groq_client::{
    ChatCompletion, Error as ClientError, ErrorKind, Event, GroqClient, ShutdownMode,
};
use groq_config::Config;
use groq_ratelimit::Dimension;
use groq_tokens::{CalibratedCounter, TiktokenCounter};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::connect::{self, ConnectArgs};
use crate::error::{CliError, EXIT_FAILED, EXIT_OK};
use crate::input::{BatchRequest, parse_input};
use crate::output::{
    ErrorPart, IdGenerator, ResponsePart, ResultLine, ResultWriter, prepare_output,
};
use crate::plan::{Plan, estimate, format_duration, minimum_time, quota_of};
use crate::progress::{Progress, ProgressMode, Status};
use crate::signals::Interrupts;
use crate::summary::Summary;

/// Arguments of `groqchat batch`.
#[derive(Debug, clap::Args)]
pub(crate) struct BatchArgs {
    /// JSON Lines input: batch-format lines ({"custom_id", "method", "url", "body"}) or bare chat
    /// request bodies (custom_id = line number), each with an optional "priority"
    /// ("high", "normal", "low").
    #[arg(value_name = "INPUT")]
    pub(crate) input: PathBuf,
    /// Where results go, one batch-format line per request. If it exists, the run resumes:
    /// requests with a result there are not sent again.
    #[arg(short, long, value_name = "OUTPUT")]
    pub(crate) output: PathBuf,
    /// Write results in input order instead of as they finish (finished results wait in
    /// memory for earlier ones).
    #[arg(long)]
    pub(crate) ordered: bool,
    /// When resuming, send the requests that failed in earlier runs again (their failure lines
    /// are replaced).
    #[arg(long)]
    pub(crate) retry_failed: bool,
    /// Also write the summary as JSON to this file.
    #[arg(long, value_name = "PATH")]
    pub(crate) summary_json: Option<PathBuf>,
    /// Print the plan and stop without sending anything.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// How progress is shown on stderr.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub(crate) progress: ProgressMode,
    /// Seconds between plain progress lines.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    pub(crate) progress_interval: f64,
    /// Connection.
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
    /// Submit the input to Groq's Batch API instead of running it locally (half the price,
    /// its own quota, hours instead of minutes); an interrupted run resumes the same batch.
    #[arg(long)]
    pub(crate) remote: bool,
    /// The Batch API's completion window (24h up to 7d): used by --remote, and compared with
    /// the local run's least time in the plan.
    #[arg(long, value_name = "WINDOW", default_value = "24h")]
    pub(crate) window: String,
}

/// What the event listener learns, shared with the main loop.
#[derive(Debug, Default)]
struct Observed {
    rate_limited: AtomicU64,
    retries: AtomicU64,
    /// Per model: until when its lane waits, and for which limit. An entry is kept until
    /// its instant passes: a lane's next wait is reported before the previous head's
    /// dispatch, so dispatches cannot clear it.
    waiting: Mutex<BTreeMap<String, (Instant, Option<Dimension>)>>,
}

impl Observed {
    fn record(&self, event: &Event) {
        match event {
            Event::RateLimited { .. } => {
                self.rate_limited.fetch_add(1, Ordering::Relaxed);
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

/// Runs `groqchat batch`.
#[allow(clippy::print_stdout, clippy::print_stderr)]
pub(crate) async fn run(args: BatchArgs) -> Result<ExitCode, CliError> {
    if args.remote && !args.dry_run {
        let window = args.window.clone();
        return crate::remote::run(args, &window).await;
    }
    let bytes = std::fs::read(&args.input).map_err(|e| CliError::file("read", &args.input, e))?;
    let parsed = parse_input(&bytes);
    for problem in &parsed.problems {
        eprintln!("{}: {problem}", args.input.display());
    }
    if !(args.progress_interval.is_finite() && args.progress_interval > 0.0) {
        return Err(CliError::Usage(format!(
            "--progress-interval must be a positive number of seconds, got {}",
            args.progress_interval
        )));
    }

    if args.dry_run {
        let config = dry_run_config(&args.connect)?;
        let counter = CalibratedCounter::new(TiktokenCounter::new());
        let plan = Plan::build(
            parsed.requests.iter().map(|r| {
                (
                    r.request.model.as_str(),
                    estimate(&r.request, &config, &counter),
                )
            }),
            &config,
        );
        print!("{}", plan.render());
        print!(
            "{}",
            crate::remote::comparison(plan.minimum(), &args.window)
        );
        return Ok(ExitCode::from(if parsed.problems.is_empty() {
            EXIT_OK
        } else {
            EXIT_FAILED
        }));
    }

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
    let connection = connect::connect(&args.connect).await?;
    let (file, resume, existing) = prepare_output(&args.output, args.retry_failed)?;
    if existing.torn_tail {
        eprintln!(
            "{}: dropped an incomplete last line left by an interrupted run",
            args.output.display()
        );
    }
    if !resume.keep.is_empty() || resume.retrying > 0 {
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
    let to_run: Vec<&BatchRequest> = parsed
        .requests
        .iter()
        .filter(|r| !resume.done.contains(&r.custom_id))
        .collect();
    let already_done = parsed.requests.len() - to_run.len();

    let counter = CalibratedCounter::new(TiktokenCounter::new());
    let estimates: Vec<u64> = to_run
        .iter()
        .map(|r| estimate(&r.request, &connection.config, &counter))
        .collect();
    let plan = Plan::build(
        to_run
            .iter()
            .zip(&estimates)
            .map(|(r, &tokens)| (r.request.model.as_str(), tokens)),
        &connection.config,
    );
    if to_run.is_empty() {
        println!("nothing to send: every request already has a result");
    } else {
        print!("{}", plan.render());
        print!(
            "{}",
            crate::remote::comparison(plan.minimum(), &args.window)
        );
    }

    let mut summary = Summary {
        input: args.input.display().to_string(),
        output: args.output.display().to_string(),
        malformed_lines: parsed.malformed(),
        duplicate_lines: parsed.duplicates(),
        already_done,
        failed_earlier: resume.failed_kept,
        requests: to_run.len(),
        mock: connection.mock.is_some(),
        ..Summary::default()
    };
    summary.set_minimum(plan.minimum());

    let writer = ResultWriter::new(file, args.output.clone(), args.ordered);
    let progress = Progress::new(
        args.progress,
        to_run.len() as u64,
        Duration::from_secs_f64(args.progress_interval),
    );
    let outcome = execute(
        &connection.client,
        &connection.config,
        &to_run,
        &estimates,
        writer,
        progress,
        &mut summary,
    )
    .await;
    if let Some(mock) = &connection.mock {
        summary.mock_server_429s = Some(mock.stats().rate_limited);
    }
    connection.close().await;
    outcome?;

    println!("{}", summary.render());
    if let Some(path) = &args.summary_json {
        let text = serde_json::to_string_pretty(&summary).unwrap_or_default();
        std::fs::write(path, text + "\n").map_err(|e| CliError::file("write", path, e))?;
    }
    Ok(ExitCode::from(if summary.is_complete_success() {
        EXIT_OK
    } else {
        EXIT_FAILED
    }))
}

/// The configuration for `--dry-run`: no key needed.
fn dry_run_config(args: &ConnectArgs) -> Result<Config, CliError> {
    let config = connect::load_config(args)?;
    if args.mock && args.mock_time_scale.is_finite() && args.mock_time_scale > 0.0 {
        Ok(connect::compress_time(config, 60.0 / args.mock_time_scale))
    } else {
        Ok(config)
    }
}

/// Sends every request, writes each result as it comes, shows progress and handles Ctrl-C.
async fn execute(
    client: &GroqClient,
    config: &Config,
    requests: &[&BatchRequest],
    estimates: &[u64],
    mut writer: ResultWriter,
    mut progress: Progress,
    summary: &mut Summary,
) -> Result<(), CliError> {
    let observed = Arc::new(Observed::default());
    let listener = tokio::spawn(listen(client.events(), Arc::clone(&observed)));
    let mut interrupts = Interrupts::new();
    let started = Instant::now();

    // Per model: requests and estimated tokens still to finish, for the ETA.
    let mut remaining: HashMap<&str, (u64, u64)> = HashMap::new();
    for (request, &tokens) in requests.iter().zip(estimates) {
        let entry = remaining.entry(request.request.model.as_str()).or_default();
        entry.0 += 1;
        entry.1 += tokens;
    }

    let (sender, mut results) =
        mpsc::unbounded_channel::<(usize, Result<ChatCompletion, ClientError>)>();
    let mut tasks = JoinSet::new();
    for (position, request) in requests.iter().enumerate() {
        let call = client
            .chat(request.request.clone())
            .priority(request.priority)
            .request_id(request.custom_id.clone());
        let sender = sender.clone();
        tasks.spawn(async move {
            let outcome = call.await;
            let _ = sender.send((position, outcome));
        });
    }
    drop(sender);

    let mut ids = IdGenerator::new();
    let mut status = Status {
        total: requests.len() as u64,
        ..Status::default()
    };
    let mut ticker = tokio::time::interval(Duration::from_millis(250));
    let mut stopping = false;
    let mut finished = 0usize;
    let mut failure: Option<CliError> = None;
    loop {
        tokio::select! {
            received = results.recv() => {
                let Some((position, outcome)) = received else { break };
                finished += 1;
                let request = requests[position];
                if let Some(entry) = remaining.get_mut(request.request.model.as_str()) {
                    entry.0 = entry.0.saturating_sub(1);
                    entry.1 = entry.1.saturating_sub(estimates[position]);
                }
                let written = match outcome {
                    Ok(completion) => {
                        summary.ok += 1;
                        status.ok += 1;
                        if let Some(usage) = &completion.usage {
                            summary.prompt_tokens += usage.prompt_tokens;
                            summary.completion_tokens += usage.completion_tokens;
                            status.tokens += usage.total_tokens;
                        }
                        writer.write(position, success_line(ids.next_id(), request, &completion))
                    }
                    Err(error) if stopping && matches!(error.kind(), ErrorKind::Cancelled | ErrorKind::Shutdown) => {
                        summary.not_run += 1;
                        writer.skip(position)
                    }
                    Err(error) => {
                        summary.failed += 1;
                        status.failed += 1;
                        *summary.failed_by_kind.entry(error.kind().as_str().to_owned()).or_default() += 1;
                        writer.write(position, failure_line(ids.next_id(), request, &error))
                    }
                };
                if let Err(e) = written {
                    failure = Some(CliError::file("write", writer.path(), e));
                    tasks.abort_all();
                    break;
                }
            }
            _ = ticker.tick() => {
                let now = Instant::now();
                status.rate_limited = observed.rate_limited.load(Ordering::Relaxed);
                status.waiting = observed.waiting_now(now);

                status.eta = Some(eta(client, config, &remaining));
                progress.update(&status);
            }
            () = interrupts.next() => {
                if stopping {
                    progress.println("second Ctrl-C: aborting the requests in flight; run the same command again to resume");
                    tasks.abort_all();
                    summary.interrupted = true;
                    break;
                }
                stopping = true;
                summary.interrupted = true;
                progress.println("Ctrl-C: no new requests are sent; waiting for the ones in flight (Ctrl-C again to abort)");
                let client = client.clone();
                tokio::spawn(async move { client.shutdown(ShutdownMode::Cancel).await });
            }
        }
    }
    summary.not_run += requests.len().saturating_sub(finished);
    progress.finish();
    while tasks.join_next().await.is_some() {}
    listener.abort();
    summary.rate_limited_429 = observed.rate_limited.load(Ordering::Relaxed);
    summary.retries = observed.retries.load(Ordering::Relaxed);
    summary.set_elapsed(started.elapsed());
    let finished_writing = writer.finish();
    if let Some(failure) = failure {
        return Err(failure);
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

/// The least time the limits allow for what is left, from the limiter's current state.
fn eta(client: &GroqClient, config: &Config, remaining: &HashMap<&str, (u64, u64)>) -> Duration {
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
            Some(minimum_time(&quota, requests, tokens, free).0)
        })
        .max()
        .unwrap_or_default()
}

/// The result line of a success.
fn success_line(id: String, request: &BatchRequest, completion: &ChatCompletion) -> ResultLine {
    ResultLine {
        id,
        custom_id: request.custom_id.clone(),
        response: Some(ResponsePart {
            status_code: 200,
            request_id: completion.x_groq.as_ref().and_then(|x| x.id.clone()),
            body: serde_json::to_value(completion).unwrap_or(Value::Null),
        }),
        error: None,
    }
}

/// The result line of a failure: the API's status and body when it answered, and the error.
fn failure_line(id: String, request: &BatchRequest, error: &ClientError) -> ResultLine {
    let response = match error {
        ClientError::Api { status, body, .. } => Some(ResponsePart {
            status_code: *status,
            request_id: None,
            body: serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.clone())),
        }),
        _ => None,
    };
    ResultLine {
        id,
        custom_id: request.custom_id.clone(),
        response,
        error: Some(ErrorPart {
            code: error
                .code()
                .map_or_else(|| error.kind().as_str().to_owned(), str::to_owned),
            message: error.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use groq_queue::Priority;
    use groq_types::ChatRequest;
    use std::sync::Arc as StdArc;

    fn request(id: &str) -> BatchRequest {
        BatchRequest {
            line: 1,
            custom_id: id.to_owned(),
            priority: Priority::Normal,
            request: ChatRequest::new("m").user("hi"),
        }
    }

    #[test]
    fn success_lines_carry_the_completion_and_request_id() {
        let completion: ChatCompletion = serde_json::from_value(serde_json::json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "7"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
            "x_groq": {"id": "req_abc"}
        }))
        .unwrap();
        let line = success_line("batch_req_1".into(), &request("q"), &completion);
        assert!(line.is_success());
        let response = line.response.unwrap();
        assert_eq!(response.request_id.as_deref(), Some("req_abc"));
        assert_eq!(response.body["choices"][0]["message"]["content"], "7");
    }

    #[test]
    fn failure_lines_name_the_error() {
        let line = failure_line("batch_req_2".into(), &request("q"), &ClientError::Cancelled);
        assert!(!line.is_success());
        assert!(line.response.is_none());
        assert_eq!(line.error.unwrap().code, "cancelled");
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
