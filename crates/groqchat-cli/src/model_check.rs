//! The batch runner's model check: every model of the input is checked before anything is
//! sent, against the API's `GET /models` (and the configured models when the list cannot be
//! had). Unknown ones are reported with their lines and the closest known ids, and the run
//! refuses to start unless `--skip-unknown-models`.

use std::collections::{BTreeMap, BTreeSet};

use crate::connect::Connection;
use crate::error::CliError;

/// The flag of the check, flattened into `groqchat batch`.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub(crate) struct ModelCheckArgs {
    /// Skip the requests whose model the API does not list (they stay without a result,
    /// so a later run can send them) instead of refusing to start.
    #[arg(long)]
    pub(crate) skip_unknown_models: bool,
}

/// The models a run may use.
#[derive(Debug, Default)]
pub(crate) struct Known {
    /// The ids the check accepts.
    ids: BTreeSet<String>,
    /// Where they came from, for the message.
    source: &'static str,
}

impl Known {
    /// Whether `model` may be sent; everything may when nothing is known.
    pub(crate) fn accepts(&self, model: &str) -> bool {
        self.ids.is_empty() || self.ids.contains(model)
    }
}

/// The models the run may use: the API's list (`GET /models`), or the configured models
/// when the list cannot be had.
#[allow(clippy::print_stderr)]
pub(crate) async fn known_models(connection: &Connection) -> Known {
    match connection.client.models().await {
        Ok(list) => Known {
            ids: list.data.into_iter().map(|m| m.id).collect(),
            source: "the API",
        },
        Err(e) => {
            eprintln!(
                "groqchat: cannot list the API's models ({e}); checking the input against the \
                 configured models only"
            );
            Known {
                ids: connection.config.models.keys().cloned().collect(),
                source: "the configuration",
            }
        }
    }
}

/// The unknown models of an input, each with its lines in order, collected as the input is
/// read (only unknown models keep lines).
#[derive(Debug, Default)]
pub(crate) struct Unknown(BTreeMap<String, Vec<usize>>);

impl Unknown {
    /// Notes that line `line` asks for `model`, when `known` does not accept it.
    pub(crate) fn note(&mut self, known: &Known, model: &str, line: usize) {
        if !known.accepts(model) {
            self.0.entry(model.to_owned()).or_default().push(line);
        }
    }

    /// The verdict: `Ok` with the models to skip (empty when every model is known), or the
    /// usage error that stops the run before anything is sent.
    #[allow(clippy::print_stderr)]
    pub(crate) fn verdict(
        &self,
        args: ModelCheckArgs,
        known: &Known,
    ) -> Result<BTreeSet<String>, CliError> {
        if self.0.is_empty() {
            return Ok(BTreeSet::new());
        }
        let unknown: BTreeMap<&str, Vec<usize>> = self
            .0
            .iter()
            .map(|(model, lines)| (model.as_str(), lines.clone()))
            .collect();
        let report = describe(&unknown, known);
        if !args.skip_unknown_models {
            return Err(CliError::Usage(format!(
                "{report}\nnothing was sent; fix the model ids in the input, or pass \
                 --skip-unknown-models to run the other requests"
            )));
        }
        eprintln!("{report}");
        let skipped = self.skipped();
        eprintln!(
            "skipping those {skipped} request{} (--skip-unknown-models): they get no result line, \
             and the run exits 1",
            if skipped == 1 { "" } else { "s" }
        );
        Ok(self.0.keys().cloned().collect())
    }

    /// How many requests name an unknown model.
    pub(crate) fn skipped(&self) -> usize {
        self.0.values().map(Vec::len).sum()
    }
}

/// One paragraph per unknown model: lines, suggestions, where to look.
fn describe(unknown: &BTreeMap<&str, Vec<usize>>, known: &Known) -> String {
    let mut text = String::new();
    for (model, lines) in unknown {
        let count = lines.len();
        text.push_str(&format!(
            "unknown model `{model}` in {count} request{} (line{} {})",
            if count == 1 { "" } else { "s" },
            if count == 1 { "" } else { "s" },
            list_lines(lines)
        ));
        let close = suggestions(model, &known.ids);
        if !close.is_empty() {
            let names: Vec<String> = close.iter().map(|id| format!("`{id}`")).collect();
            text.push_str(&format!(": did you mean {}?", names.join(" or ")));
        }
        text.push('\n');
    }
    text.push_str(&format!(
        "{} does not list {}: ",
        known.source,
        if unknown.len() == 1 { "it" } else { "them" }
    ));
    text.push_str(
        "`groqchat models` lists the available ones; a model the API does not list cannot be \
         sent",
    );
    text
}

/// `1, 2, 5` or `1, 2, 3, ... and 70 more`.
fn list_lines(lines: &[usize]) -> String {
    const SHOWN: usize = 8;
    let shown: Vec<String> = lines.iter().take(SHOWN).map(ToString::to_string).collect();
    let mut text = shown.join(", ");
    if lines.len() > SHOWN {
        text.push_str(&format!(" and {} more", lines.len() - SHOWN));
    }
    text
}

/// The known ids closest to `model` by edit distance (at most three, within a third of its
/// length), best first.
fn suggestions<'a>(model: &str, known: &'a BTreeSet<String>) -> Vec<&'a str> {
    let limit = (model.chars().count() / 3).max(2);
    let lowered = model.to_lowercase();
    let mut scored: Vec<(usize, &str)> = known
        .iter()
        .map(|id| (edit_distance(&lowered, &id.to_lowercase()), id.as_str()))
        .filter(|(distance, _)| *distance <= limit)
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, id)| id).collect()
}

/// Levenshtein distance with adjacent transpositions counted as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn distances() {
        assert_eq!(edit_distance("instant", "instnat"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn a_misspelled_model_gets_the_right_suggestion() {
        let ids = known(&[
            "llama-3.1-8b-instant",
            "llama-3.3-70b-versatile",
            "qwen/qwen3-32b",
        ]);
        assert_eq!(
            suggestions("llama-3.1-8b-instnat", &ids),
            vec!["llama-3.1-8b-instant"]
        );
        assert_eq!(suggestions("Qwen/Qwen3-32B", &ids), vec!["qwen/qwen3-32b"]);
        assert!(suggestions("gpt-4o", &ids).is_empty());
    }

    #[test]
    fn the_report_names_lines_and_the_fix_in_cli_words() {
        let mut unknown = BTreeMap::new();
        unknown.insert("llama-3.1-8b-instnat", (1..=75).collect::<Vec<_>>());
        unknown.insert("mystery", vec![7]);
        let report = describe(
            &unknown,
            &Known {
                ids: known(&["llama-3.1-8b-instant"]),
                source: "the API",
            },
        );
        assert!(
            report.contains(
                "unknown model `llama-3.1-8b-instnat` in 75 requests (lines 1, 2, 3, 4, 5, 6, 7, 8 and 67 more): did you mean `llama-3.1-8b-instant`?"
            ),
            "{report}"
        );
        assert!(
            report.contains("unknown model `mystery` in 1 request (line 7)\n"),
            "{report}"
        );
        assert!(report.contains("`groqchat models` lists"), "{report}");
        assert!(!report.contains("GroqClient"), "{report}");
        assert!(!report.contains(".;"), "{report}");
    }
}
