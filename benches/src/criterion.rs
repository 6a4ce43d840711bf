//! Reading criterion's results: `<criterion dir>/<group>/<bench>[/<value>]/new/`, where
//! `benchmark.json` names the benchmark and its throughput and `estimates.json` holds the
//! statistics of one iteration's time, in nanoseconds.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Deserialize;

use crate::results::ResultsError;

/// How much work one iteration does, as the benchmark declared it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Throughput {
    /// Bytes per iteration.
    Bytes(u64),
    /// Bytes per iteration, reported in decimal units.
    BytesDecimal(u64),
    /// Elements per iteration.
    Elements(u64),
    /// Bits per iteration.
    Bits(u64),
    /// Elements and bytes per iteration.
    ElementsAndBytes {
        /// Elements per iteration.
        elements: u64,
        /// Bytes per iteration.
        bytes: u64,
    },
}

#[derive(Debug, Deserialize)]
struct BenchmarkFile {
    group_id: String,
    function_id: Option<String>,
    value_str: Option<String>,
    throughput: Option<Throughput>,
}

#[derive(Debug, Deserialize)]
struct Estimate {
    point_estimate: f64,
}

#[derive(Debug, Deserialize)]
struct EstimatesFile {
    mean: Estimate,
    median: Estimate,
}

/// One benchmark's latest result.
#[derive(Debug, Clone, PartialEq)]
pub struct Bench {
    /// The group (`c.benchmark_group(...)`).
    pub group: String,
    /// The benchmark within its group: function and value joined by `/`.
    pub name: String,
    /// The declared work per iteration.
    pub throughput: Option<Throughput>,
    /// Median time per iteration, in nanoseconds.
    pub median_ns: f64,
    /// Mean time per iteration, in nanoseconds.
    pub mean_ns: f64,
}

impl Bench {
    /// `group/name`, as criterion prints it.
    pub fn id(&self) -> String {
        format!("{}/{}", self.group, self.name)
    }

    /// Bytes per second at the median time, when the benchmark declared bytes.
    pub fn bytes_per_s(&self) -> Option<f64> {
        let bytes = match self.throughput? {
            Throughput::Bytes(b) | Throughput::BytesDecimal(b) => b,
            Throughput::Bits(bits) => bits / 8,
            Throughput::ElementsAndBytes { bytes, .. } => bytes,
            Throughput::Elements(_) => return None,
        };
        per_second(bytes, self.median_ns)
    }

    /// Elements per second at the median time, when the benchmark declared elements.
    pub fn elements_per_s(&self) -> Option<f64> {
        let elements = match self.throughput? {
            Throughput::Elements(e) | Throughput::ElementsAndBytes { elements: e, .. } => e,
            _ => return None,
        };
        per_second(elements, self.median_ns)
    }
}

fn per_second(units: u64, ns: f64) -> Option<f64> {
    (ns > 0.0).then(|| units as f64 * 1e9 / ns)
}

/// Every benchmark under `dir` whose `new/estimates.json` is no older than `since` (all of
/// them without `since`), sorted by group and name. A missing directory has none.
pub fn collect(dir: &Path, since: Option<SystemTime>) -> Result<Vec<Bench>, ResultsError> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries = match fs::read_dir(&current) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(ResultsError::Io {
                    path: current,
                    source,
                });
            }
        };
        for entry in entries {
            let entry = entry.map_err(|source| ResultsError::Io {
                path: current.clone(),
                source,
            })?;
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            if path.file_name().is_some_and(|name| name == "new") {
                if let Some(bench) = read_one(&path, since)? {
                    found.push(bench);
                }
            } else if path.file_name().is_none_or(|name| name != "report") {
                pending.push(path);
            }
        }
    }
    found.sort_by(|a, b| (&a.group, &a.name).cmp(&(&b.group, &b.name)));
    Ok(found)
}

fn read_json<T: for<'de> Deserialize<'de>>(path: PathBuf) -> Result<Option<T>, ResultsError> {
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(ResultsError::Io { path, source }),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|source| ResultsError::Json { path, source })
}

fn read_one(new: &Path, since: Option<SystemTime>) -> Result<Option<Bench>, ResultsError> {
    let estimates_path = new.join("estimates.json");
    if let Some(since) = since {
        let modified = fs::metadata(&estimates_path).and_then(|m| m.modified());
        match modified {
            Ok(modified) if modified >= since => {}
            _ => return Ok(None),
        }
    }
    let (Some(benchmark), Some(estimates)) = (
        read_json::<BenchmarkFile>(new.join("benchmark.json"))?,
        read_json::<EstimatesFile>(estimates_path)?,
    ) else {
        return Ok(None);
    };
    let name = [benchmark.function_id, benchmark.value_str]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("/");
    Ok(Some(Bench {
        group: benchmark.group_id,
        name,
        throughput: benchmark.throughput,
        median_ns: estimates.median.point_estimate,
        mean_ns: estimates.mean.point_estimate,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, benchmark: &str, median: f64) {
        let new = dir.join(rel).join("new");
        fs::create_dir_all(&new).unwrap();
        fs::write(new.join("benchmark.json"), benchmark).unwrap();
        fs::write(
            new.join("estimates.json"),
            format!(
                r#"{{"mean":{{"confidence_interval":{{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":3.0}},"point_estimate":{},"standard_error":0.1}},"median":{{"confidence_interval":{{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":3.0}},"point_estimate":{median},"standard_error":0.1}},"median_abs_dev":{{"confidence_interval":{{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":3.0}},"point_estimate":0.5,"standard_error":0.1}},"slope":null,"std_dev":{{"confidence_interval":{{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":3.0}},"point_estimate":0.5,"standard_error":0.1}}}}"#,
                median * 1.1
            ),
        )
        .unwrap();
        // The baseline criterion keeps beside `new` is ignored.
        let base = dir.join(rel).join("base");
        fs::create_dir_all(&base).unwrap();
        fs::write(base.join("benchmark.json"), benchmark).unwrap();
    }

    #[test]
    fn reads_criterion_layout() {
        let dir = std::env::temp_dir().join(format!("groqchat-criterion-{}", std::process::id()));
        write(
            &dir,
            "sse_decode/groq_stream_1024B_reads",
            r#"{"group_id":"sse_decode","function_id":"groq_stream/1024B_reads","value_str":null,"throughput":{"Bytes":2000000},"full_id":"sse_decode/groq_stream/1024B_reads","directory_name":"sse_decode/groq_stream_1024B_reads","title":"sse_decode/groq_stream/1024B_reads"}"#,
            1_000_000.0,
        );
        write(
            &dir,
            "push_pop/1000000",
            r#"{"group_id":"push_pop","function_id":null,"value_str":"1000000","throughput":{"Elements":1},"full_id":"push_pop/1000000","directory_name":"push_pop/1000000","title":"push_pop/1000000"}"#,
            50.0,
        );
        fs::create_dir_all(dir.join("report")).unwrap();

        let benches = collect(&dir, None).unwrap();
        assert_eq!(benches.len(), 2);
        assert_eq!(benches[0].id(), "push_pop/1000000");
        assert_eq!(benches[0].elements_per_s(), Some(2e7));
        assert_eq!(benches[0].bytes_per_s(), None);
        assert_eq!(benches[1].id(), "sse_decode/groq_stream/1024B_reads");
        assert_eq!(benches[1].bytes_per_s(), Some(2e9));
        assert!((benches[1].mean_ns - 1_100_000.0).abs() < 1e-6);

        // Results older than the run are left out.
        let later = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1 << 40);
        assert!(collect(&dir, Some(later)).unwrap().is_empty());
        assert!(collect(&dir.join("absent"), None).unwrap().is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }
}
