//! Progress of a batch run: an indicatif bar on a terminal, plain periodic lines otherwise.

use std::io::IsTerminal as _;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::time::Instant;

use crate::plan::{format_duration, thousands};

/// How progress is shown (`--progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ProgressMode {
    /// A bar when stderr is a terminal, plain lines otherwise.
    Auto,
    /// Always the bar (redrawn with carriage returns when stderr is not a terminal).
    Bar,
    /// Plain lines on stderr every `--progress-interval`.
    Plain,
    /// Nothing until the summary.
    Off,
}

/// What the progress display shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Status {
    /// Requests finished with success.
    pub(crate) ok: u64,
    /// Requests finished with a failure.
    pub(crate) failed: u64,
    /// Requests in the run.
    pub(crate) total: u64,
    /// Tokens the server counted so far.
    pub(crate) tokens: u64,
    /// 429s received so far.
    pub(crate) rate_limited: u64,
    /// Why the run is waiting now, if it is (`"llama-3.1-8b-instant: RPM"`).
    pub(crate) waiting: Option<String>,
    /// The least time the limits allow for what is left.
    pub(crate) eta: Option<Duration>,
    /// The limits the server enforced more strictly than configured (`"RPM of m"`).
    pub(crate) stricter: Option<String>,
}

impl Status {
    /// The status as one line.
    pub(crate) fn line(&self, elapsed: Duration) -> String {
        let mut line = format!(
            "[{}] {}/{} done, {} failed, {} tokens",
            format_duration(elapsed),
            thousands(self.ok + self.failed),
            thousands(self.total),
            thousands(self.failed),
            thousands(self.tokens)
        );
        if self.rate_limited > 0 {
            line.push_str(&format!(", {}", count_429s(self.rate_limited)));
        }
        if let Some(stricter) = &self.stricter {
            line.push_str(&format!(
                " (the server is stricter than the configuration on {stricter})"
            ));
        }
        if let Some(waiting) = &self.waiting {
            line.push_str(&format!("; waiting for {waiting}"));
        }
        if let Some(eta) = self.eta {
            line.push_str(&format!("; ETA {}", format_duration(eta)));
        }
        line
    }

    /// The bar's message: the line without the counts the bar shows itself.
    fn message(&self) -> String {
        let mut parts = vec![format!("{} failed", self.failed)];
        parts.push(format!("{} tokens", thousands(self.tokens)));
        if self.rate_limited > 0 {
            parts.push(count_429s(self.rate_limited));
        }
        if let Some(stricter) = &self.stricter {
            parts.push(format!("server stricter than configured on {stricter}"));
        }
        if let Some(waiting) = &self.waiting {
            parts.push(format!("waiting for {waiting}"));
        }
        if let Some(eta) = self.eta {
            parts.push(format!("ETA {}", format_duration(eta)));
        }
        parts.join(", ")
    }
}

/// The progress display of one run.
#[derive(Debug)]
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    plain: bool,
    interval: Duration,
    started: Instant,
    last_line: Option<Instant>,
}

impl Progress {
    /// A display for `total` requests.
    pub(crate) fn new(mode: ProgressMode, total: u64, interval: Duration) -> Self {
        let mode = match mode {
            ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Bar,
            ProgressMode::Auto => ProgressMode::Plain,
            other => other,
        };
        let bar = (mode == ProgressMode::Bar).then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total), crate::bar_target::stderr_target());
            if let Ok(style) =
                ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        Self {
            bar,
            plain: mode == ProgressMode::Plain,
            interval,
            started: Instant::now(),
            last_line: None,
        }
    }

    /// Shows `status`: updates the bar, or prints a line when the interval has passed.
    pub(crate) fn update(&mut self, status: &Status) {
        if let Some(bar) = &self.bar {
            bar.set_position(status.ok + status.failed);
            bar.set_message(status.message());
        } else if self.plain {
            let now = Instant::now();
            let due = self
                .last_line
                .is_none_or(|last| now.saturating_duration_since(last) >= self.interval);
            if due {
                self.last_line = Some(now);
                self.println(&status.line(now.saturating_duration_since(self.started)));
            }
        }
    }

    /// Prints a message above the bar (or on stderr).
    #[allow(clippy::print_stderr)]
    pub(crate) fn println(&self, message: &str) {
        match &self.bar {
            Some(bar) => bar.println(message),
            None => eprintln!("{message}"),
        }
    }

    /// Removes the bar.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// `1 429`, `2 429s`.
fn count_429s(n: u64) -> String {
    format!("{n} 429{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_names_counts_wait_and_eta() {
        let status = Status {
            ok: 38,
            failed: 2,
            total: 100,
            tokens: 12_345,
            rate_limited: 0,
            waiting: Some("llama-3.1-8b-instant: RPM".into()),
            eta: Some(Duration::from_secs(75)),
            stricter: None,
        };
        assert_eq!(
            status.line(Duration::from_secs(12)),
            "[12s] 40/100 done, 2 failed, 12,345 tokens; waiting for llama-3.1-8b-instant: RPM; ETA 1m15s"
        );
        let stricter = Status {
            total: 5,
            rate_limited: 28,
            stricter: Some("RPM of m".into()),
            ..Status::default()
        };
        assert!(
            stricter
                .line(Duration::ZERO)
                .contains("28 429s (the server is stricter than the configuration on RPM of m)")
        );
        let idle = Status {
            total: 5,
            rate_limited: 1,
            ..Status::default()
        };
        assert_eq!(
            idle.line(Duration::ZERO),
            "[0s] 0/5 done, 0 failed, 0 tokens, 1 429"
        );
        assert_eq!(
            status.message(),
            "2 failed, 12,345 tokens, waiting for llama-3.1-8b-instant: RPM, ETA 1m15s"
        );
    }
}
