//! The end-of-run summary of a batch, as text and as JSON (`--summary-json`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::plan::{format_duration, thousands};

/// What a batch run did. Serialized as the `--summary-json` file.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct Summary {
    /// The input file.
    pub(crate) input: String,
    /// The output file.
    pub(crate) output: String,
    /// Input lines skipped as malformed.
    pub(crate) malformed_lines: usize,
    /// Input lines skipped because their custom id repeats an earlier one.
    pub(crate) duplicate_lines: usize,
    /// Requests that succeeded in an earlier run, not sent again.
    pub(crate) already_done: usize,
    /// Requests whose failure from an earlier run stays in the output (not retried).
    pub(crate) failed_earlier: usize,
    /// Requests this run set out to send.
    pub(crate) requests: usize,
    /// Requests that succeeded in this run.
    pub(crate) ok: usize,
    /// Requests that failed in this run.
    pub(crate) failed: usize,
    /// The failures by kind (`api`, `rate_limited`, `transport`, ...).
    pub(crate) failed_by_kind: BTreeMap<String, usize>,
    /// Requests not finished because the run was interrupted (they run on the next resume).
    pub(crate) not_run: usize,
    /// 429 answers the client received (each one retried after the server's wait).
    pub(crate) rate_limited_429: u64,
    /// Attempts repeated after a retryable failure (5xx, transport).
    pub(crate) retries: u64,
    /// Prompt tokens the server counted.
    pub(crate) prompt_tokens: u64,
    /// Completion tokens the server counted.
    pub(crate) completion_tokens: u64,
    /// Wall time of the run in seconds.
    pub(crate) elapsed_secs: f64,
    /// The plan's lower bound for this run's requests, in seconds: the least time the limits
    /// allow when every reply hands its unused budget back at once.
    pub(crate) minimum_secs: f64,
    /// The plan's upper bound, in seconds: every reply uses its whole completion budget.
    pub(crate) upper_bound_secs: f64,
    /// Requests refused before sending because they can never succeed (see "will fail").
    pub(crate) never_fit: usize,
    /// Where the server was stricter than the configuration: one sentence per limit.
    pub(crate) server_stricter: Vec<String>,
    /// Whether Ctrl-C stopped the run early.
    pub(crate) interrupted: bool,
    /// Whether the embedded emulator served the run.
    pub(crate) mock: bool,
    /// With `--mock`: the 429s the emulator itself answered (`null` otherwise).
    pub(crate) mock_server_429s: Option<u64>,
}

impl Summary {
    /// Whether everything in the input has a successful result: nothing failed, was skipped or
    /// was left undone.
    pub(crate) fn is_complete_success(&self) -> bool {
        self.failed == 0
            && self.failed_earlier == 0
            && self.malformed_lines == 0
            && self.duplicate_lines == 0
            && self.not_run == 0
            && !self.interrupted
    }

    /// Sets the elapsed time.
    pub(crate) fn set_elapsed(&mut self, elapsed: Duration) {
        self.elapsed_secs = round_millis(elapsed);
    }

    /// Sets the plan's bounds.
    pub(crate) fn set_bounds(&mut self, lower: Duration, upper: Duration) {
        self.minimum_secs = round_millis(lower);
        self.upper_bound_secs = round_millis(upper);
    }

    /// The summary as text for the terminal.
    pub(crate) fn render(&self) -> String {
        let mut text = String::new();
        let _ = write!(
            text,
            "{} ok, {} failed",
            thousands(self.ok as u64),
            thousands(self.failed as u64)
        );
        if !self.failed_by_kind.is_empty() {
            let kinds: Vec<String> = self
                .failed_by_kind
                .iter()
                .map(|(kind, n)| format!("{kind}: {n}"))
                .collect();
            let _ = write!(text, " ({})", kinds.join(", "));
        }
        if self.not_run > 0 {
            let _ = write!(text, ", {} not run", thousands(self.not_run as u64));
        }
        if self.failed_earlier > 0 {
            let _ = write!(
                text,
                ", {} failed in an earlier run",
                thousands(self.failed_earlier as u64)
            );
        }
        if self.already_done > 0 {
            let _ = write!(
                text,
                ", {} already done",
                thousands(self.already_done as u64)
            );
        }
        let _ = writeln!(text);
        let _ = writeln!(
            text,
            "429s received: {}; retries: {}; tokens: {} prompt + {} completion",
            self.rate_limited_429,
            self.retries,
            thousands(self.prompt_tokens),
            thousands(self.completion_tokens)
        );
        let seconds = |secs: f64| {
            format_duration(Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(Duration::MAX))
        };
        let _ = writeln!(
            text,
            "elapsed {}; the plan's lower bound was {} (upper bound {})",
            seconds(self.elapsed_secs),
            seconds(self.minimum_secs),
            seconds(self.upper_bound_secs)
        );
        for line in &self.server_stricter {
            let _ = writeln!(text, "{line}");
        }
        if self.never_fit > 0 {
            let _ = writeln!(
                text,
                "{} {} could never succeed and failed without being sent (see \"will fail\" above)",
                thousands(self.never_fit as u64),
                if self.never_fit == 1 {
                    "request"
                } else {
                    "requests"
                }
            );
        }
        if self.malformed_lines + self.duplicate_lines > 0 {
            let _ = writeln!(
                text,
                "{} input {} skipped (see the messages above)",
                self.malformed_lines + self.duplicate_lines,
                if self.malformed_lines + self.duplicate_lines == 1 {
                    "line was"
                } else {
                    "lines were"
                }
            );
        }
        if self.interrupted || self.not_run > 0 {
            let _ = writeln!(
                text,
                "interrupted: run the same command again to resume where it stopped"
            );
        } else if self.failed + self.failed_earlier > 0 {
            let _ = writeln!(
                text,
                "to send the failed requests again: the same command with --retry-failed"
            );
        }
        let _ = write!(text, "results: {}", self.output);
        text
    }
}

fn round_millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_status_and_text() {
        let mut summary = Summary {
            output: "out.jsonl".into(),
            requests: 10,
            ok: 8,
            failed: 2,
            failed_by_kind: BTreeMap::from([("api".into(), 1), ("transport".into(), 1)]),
            rate_limited_429: 0,
            ..Summary::default()
        };
        summary.set_elapsed(Duration::from_millis(65_432));
        summary.set_bounds(Duration::from_secs(60), Duration::from_secs(90));
        assert!(!summary.is_complete_success());
        let text = summary.render();
        assert!(
            text.starts_with("8 ok, 2 failed (api: 1, transport: 1)"),
            "{text}"
        );
        assert!(
            text.contains("elapsed 1m05s; the plan's lower bound was 1m00s (upper bound 1m30s)")
        );
        assert!(text.contains("--retry-failed"));
        assert_eq!(summary.elapsed_secs, 65.432);

        let clean = Summary {
            ok: 3,
            requests: 3,
            ..Summary::default()
        };
        assert!(clean.is_complete_success());
        let skipped = Summary {
            malformed_lines: 1,
            ..clean.clone()
        };
        assert!(!skipped.is_complete_success());
        assert!(skipped.render().contains("1 input line was skipped"));
        let stopped = Summary {
            interrupted: true,
            not_run: 2,
            ..clean
        };
        assert!(!stopped.is_complete_success());
        assert!(stopped.render().contains("to resume"));
    }

    #[test]
    fn json_field_names() {
        let value = serde_json::to_value(Summary::default()).unwrap();
        for key in [
            "ok",
            "failed",
            "failed_by_kind",
            "rate_limited_429",
            "elapsed_secs",
            "minimum_secs",
            "not_run",
            "already_done",
        ] {
            assert!(value.get(key).is_some(), "{key}");
        }
    }
}
