//! The Lua scripts and the arguments they take.

use std::time::Duration;

use groq_ratelimit::Quota;
use redis::Script;

const COMMON: &str = include_str!("lua/common.lua");

/// The largest number the scripts keep exact: Lua's numbers are doubles.
const EXACT: u128 = 1 << 52;

/// Every script, loaded once per limiter (EVALSHA, with EVAL when the server lost them).
#[derive(Debug)]
pub(crate) struct Scripts {
    pub(crate) reserve: Script,
    pub(crate) settle: Script,
    pub(crate) penalize: Script,
    pub(crate) observe: Script,
    pub(crate) absorb: Script,
    pub(crate) snapshot: Script,
    pub(crate) renew: Script,
    pub(crate) time: Script,
    /// The sources, in the order of [`Scripts::BODIES`], for SCRIPT LOAD.
    pub(crate) sources: Vec<String>,
}

impl Scripts {
    /// Every script's own part, in the order of the fields.
    const BODIES: [&'static str; 8] = [
        include_str!("lua/reserve.lua"),
        include_str!("lua/settle.lua"),
        include_str!("lua/penalize.lua"),
        include_str!("lua/observe.lua"),
        include_str!("lua/absorb.lua"),
        include_str!("lua/snapshot.lua"),
        include_str!("lua/renew.lua"),
        include_str!("lua/time.lua"),
    ];

    pub(crate) fn new() -> Self {
        let sources: Vec<String> = Self::BODIES
            .iter()
            .map(|body| format!("{COMMON}\n{body}"))
            .collect();
        let script = |i: usize| Script::new(&sources[i]);
        Self {
            reserve: script(0),
            settle: script(1),
            penalize: script(2),
            observe: script(3),
            absorb: script(4),
            snapshot: script(5),
            renew: script(6),
            time: script(7),
            sources,
        }
    }
}

/// Whole microseconds in `d`, rounded up.
pub(crate) fn micros_ceil(d: Duration) -> u64 {
    u64::try_from(d.as_nanos().div_ceil(1_000)).unwrap_or(u64::MAX)
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// One bucket's arithmetic for the scripts: limit `L`, period `P` in microseconds, and the
/// scale: an instant `t` (µs) is `t * k` scaled units and one unit costs `e`.
///
/// When `L * P` (reduced by their common divisor) stays below 2^52 the scale is exact:
/// `k = L / g`, `e = P / g`. Otherwise the refill rate is rounded down (`e` rounded up) by a
/// relative error below `L / 2^52`: slower, never faster, than the quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scale {
    pub(crate) limit: u64,
    pub(crate) period_us: u64,
    pub(crate) k: u64,
    pub(crate) e: u64,
}

impl Scale {
    pub(crate) fn new(rate: groq_config::Rate, margin_us: u64) -> Self {
        let limit = u128::from(rate.limit()).clamp(1, EXACT / 4);
        let period = rate.period().as_nanos().div_ceil(1_000).clamp(1, EXACT / 4);
        let margin = u128::from(margin_us).min(EXACT / 4);
        let g = gcd(limit, period);
        let (k, e) = (limit / g, period / g);
        let (k, e) = if k * (period + margin) <= EXACT && limit * e <= EXACT {
            (k, e)
        } else {
            let k = (EXACT / (period + margin)).max(1);
            (k, (period * k).div_ceil(limit))
        };
        let narrow = |v: u128| u64::try_from(v).unwrap_or(u64::MAX);
        Self {
            limit: narrow(limit),
            period_us: narrow(period),
            k: narrow(k),
            e: narrow(e),
        }
    }
}

/// A quota as the scripts' arguments: one string of `L P k e` per dimension (`0 0 1 1` when
/// unlimited), and the in-flight cap (-1 when uncapped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QuotaArgs {
    pub(crate) quota: Quota,
    pub(crate) scales: [Option<Scale>; DIMS],
    pub(crate) cap: i64,
    /// The scales as the scripts take them: `L P k e` per dimension, space-separated.
    text: String,
}

impl QuotaArgs {
    pub(crate) fn new(quota: Quota, margin_us: u64) -> Self {
        let mut scales = [None; DIMS];
        // Every dimension is shared, in the order of `Dimension::ALL` (the scripts' order).
        for (dimension, rate) in quota.rates() {
            if let Some(scale) = scales.get_mut(dimension.index()) {
                *scale = Some(Scale::new(rate, margin_us));
            }
        }
        let text = scales
            .iter()
            .map(|scale| {
                let [l, p, k, e] = match scale {
                    Some(s) => [s.limit, s.period_us, s.k, s.e],
                    None => [0, 0, 1, 1],
                };
                format!("{l} {p} {k} {e}")
            })
            .collect::<Vec<_>>()
            .join(" ");
        Self {
            quota,
            scales,
            cap: quota.max_in_flight().map_or(-1, i64::from),
            text,
        }
    }

    /// Pushes the quota as the scripts take it: one string of `L P k e` per dimension, so
    /// that a script compares it with the quota it last applied in one step.
    pub(crate) fn push(&self, args: &mut Vec<String>) {
        args.push(self.text.clone());
    }
}

/// What a settle needs to undo one dimension's charge: the reserve script's mark.
pub(crate) type Mark = [i64; 6];

/// How many dimensions the scripts keep: every one of `Dimension::ALL`.
pub(crate) const DIMS: usize = groq_ratelimit::Dimension::ALL.len();

/// The five units of a cost as the scripts take them: requests, tokens, input tokens, output
/// tokens, audio seconds.
pub(crate) fn units(cost: &groq_ratelimit::Cost) -> [u64; 5] {
    [
        cost.requests,
        cost.tokens,
        cost.input_tokens,
        cost.output_tokens,
        cost.audio_seconds,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use groq_config::Rate;

    #[test]
    fn usual_rates_are_exact() {
        let s = Scale::new(Rate::per_minute(6_000), 100_000);
        assert_eq!(
            (s.limit, s.period_us, s.k, s.e),
            (6_000, 60_000_000, 1, 10_000)
        );
        let s = Scale::new(Rate::per_day(500_000), 100_000);
        assert_eq!((s.k, s.e), (1, 172_800));
        let s = Scale::new(Rate::per_minute(7), 100_000);
        assert_eq!((s.k, s.e), (7, 60_000_000));
    }

    #[test]
    fn huge_rates_round_towards_slower() {
        let rate = Rate::per_day(123_457);
        let s = Scale::new(rate, 100_000);
        // L * P does not fit 2^52: the rate is rounded down, never up.
        assert!(u128::from(s.k) * u128::from(s.period_us) <= u128::from(s.limit) * u128::from(s.e));
        assert!(u128::from(s.limit) * u128::from(s.e) <= EXACT + u128::from(s.limit));
        let exact = rate.limit() as f64 / s.period_us as f64;
        let ours = s.k as f64 / s.e as f64;
        assert!(ours <= exact && ours > exact * (1.0 - 1e-6));
    }
}
