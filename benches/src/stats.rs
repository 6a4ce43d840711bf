//! Small statistics over latency samples.

use std::time::Duration;

/// Latency figures of one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Median latency, in microseconds.
    pub p50_us: f64,
    /// 99th-percentile latency, in microseconds.
    pub p99_us: f64,
}

/// The `q`-quantile (`0.0..=1.0`) of `samples` by the nearest-rank method, or `None` when
/// there are none. Sorts `samples`.
pub fn quantile(samples: &mut [Duration], q: f64) -> Option<Duration> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let q = q.clamp(0.0, 1.0);
    // Nearest rank: the smallest sample with at least q of the samples at or below it.
    let rank = (q * samples.len() as f64).ceil() as usize;
    samples.get(rank.saturating_sub(1)).copied()
}

/// The median and 99th percentile of `samples` in microseconds (zeros when there are none).
pub fn summarize(samples: &mut [Duration]) -> Summary {
    let micros = |d: Option<Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1e6);
    Summary {
        p50_us: micros(quantile(samples, 0.50)),
        p99_us: micros(quantile(samples, 0.99)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|&v| Duration::from_millis(v)).collect()
    }

    #[test]
    fn nearest_rank_quantiles() {
        let mut samples = ms(&[5, 1, 4, 2, 3]);
        assert_eq!(quantile(&mut samples, 0.5), Some(Duration::from_millis(3)));
        assert_eq!(quantile(&mut samples, 0.0), Some(Duration::from_millis(1)));
        assert_eq!(quantile(&mut samples, 1.0), Some(Duration::from_millis(5)));
        assert_eq!(quantile(&mut samples, 0.99), Some(Duration::from_millis(5)));
        assert_eq!(quantile(&mut [], 0.5), None);

        let mut hundred: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(
            quantile(&mut hundred, 0.99),
            Some(Duration::from_millis(99))
        );
    }

    #[test]
    fn summary_in_microseconds() {
        let mut samples = ms(&[2, 1, 3]);
        let summary = summarize(&mut samples);
        assert_eq!(summary.p50_us, 2_000.0);
        assert_eq!(summary.p99_us, 3_000.0);
        assert_eq!(summarize(&mut []).p50_us, 0.0);
    }
}
