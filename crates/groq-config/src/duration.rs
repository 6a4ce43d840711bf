//! Human-readable durations as written in configuration files: `"6s"`, `"500ms"`, `"1m30s"`.
//!
//! A duration is one or more `<number><unit>` terms, largest first or in any order, summed.
//! Units: `ns`, `us` (or `µs`), `ms`, `s`, `m`, `h`, `d`. A number may have a decimal fraction
//! (`"1.5s"`); fractions below one nanosecond are dropped. Formatting writes the canonical form
//! (`"1m30s"`, `"1d"`, `"2s500ms"`), which parses back to exactly the same duration.

use std::time::Duration;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// The units, longest spelling first within each prefix, with their length in nanoseconds.
const UNITS: [(&str, u128); 9] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("\u{3bc}s", 1_000),
    ("ms", 1_000_000),
    ("s", NANOS_PER_SEC),
    ("m", 60 * NANOS_PER_SEC),
    ("h", 3_600 * NANOS_PER_SEC),
    ("d", 86_400 * NANOS_PER_SEC),
];

/// Parses a duration string. The error says what is wrong with it, for the caller to wrap
/// with the place it was found. Fractions below one nanosecond are dropped.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let total = parse_nanos(text.trim(), false)?;
    let secs = u64::try_from(total / NANOS_PER_SEC).map_err(|_| "it is too long".to_owned())?;
    let nanos = u32::try_from(total % NANOS_PER_SEC).map_err(|_| "it is too long".to_owned())?;
    Ok(Duration::new(secs, nanos))
}

/// Parses a Go duration as servers write them (Groq's rate-limit headers and 429 texts):
/// `2m59.56s`, `7.66s`, `320ms`, `1h2m3s`, `1.5µs` (also `us` and `μs`), `0`, an optional
/// leading `+`, or a bare number, which means seconds. The same grammar as configuration
/// durations (`d` is accepted too), with fractions rounded **up** to the nanosecond, so a
/// wait is never shortened.
///
/// Negative, empty, malformed values and values beyond `u64::MAX` nanoseconds (584 years)
/// give `None`; it never panics.
///
/// ```
/// use groq_config::parse_go_duration;
/// use std::time::Duration;
///
/// assert_eq!(parse_go_duration("2m59.56s"), Some(Duration::from_millis(179_560)));
/// assert_eq!(parse_go_duration("1h2m3s"), Some(Duration::from_secs(3_723)));
/// assert_eq!(parse_go_duration("0.5ns"), Some(Duration::from_nanos(1)));
/// assert_eq!(parse_go_duration("12"), Some(Duration::from_secs(12)));
/// assert_eq!(parse_go_duration("soon"), None);
/// ```
pub fn parse_go_duration(value: &str) -> Option<Duration> {
    let value = value.trim();
    let value = value.strip_prefix('+').unwrap_or(value);
    if value.is_empty() {
        return None;
    }
    let nanos = if value.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        term_nanos(value, NANOS_PER_SEC, true).ok()?
    } else {
        parse_nanos(value, true).ok()?
    };
    u64::try_from(nanos).ok().map(Duration::from_nanos)
}

/// Parses a bare non-negative decimal number of `unit`s, as `retry-after` (seconds) and
/// `retry-after-ms` (milliseconds) write them: `2`, `1.5`, `.25`, surrounding whitespace
/// allowed. Fractions are rounded **up** to the nanosecond, as in [`parse_go_duration`],
/// whose number reader this is.
///
/// Units, signs, empty, malformed values and values beyond `u64::MAX` nanoseconds give `None`.
///
/// ```
/// use groq_config::parse_decimal_duration;
/// use std::time::Duration;
///
/// let ms = Duration::from_millis(1);
/// assert_eq!(parse_decimal_duration("1500", ms), Some(Duration::from_millis(1_500)));
/// assert_eq!(parse_decimal_duration(" 2.5 ", Duration::from_secs(1)), Some(Duration::from_millis(2_500)));
/// assert_eq!(parse_decimal_duration("0.0000001", ms), Some(Duration::from_nanos(1)));
/// assert_eq!(parse_decimal_duration("2s", ms), None);
/// assert_eq!(parse_decimal_duration("-1", ms), None);
/// ```
pub fn parse_decimal_duration(value: &str, unit: Duration) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let nanos = term_nanos(value, unit.as_nanos(), true).ok()?;
    u64::try_from(nanos).ok().map(Duration::from_nanos)
}

/// The nanoseconds of a non-empty sequence of `<number><unit>` terms.
fn parse_nanos(text: &str, round_up: bool) -> Result<u128, String> {
    if text.is_empty() {
        return Err("it is empty".to_owned());
    }
    let mut total: u128 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        if number.is_empty() {
            return Err(format!("expected a number before {after:?}"));
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        if unit.is_empty() {
            return Err(format!("the number {number} has no unit"));
        }
        let unit_nanos = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, nanos)| *nanos)
            .ok_or_else(|| format!("unknown unit {unit:?}"))?;
        let term = term_nanos(number, unit_nanos, round_up)?;
        total = total
            .checked_add(term)
            .ok_or_else(|| "it is too long".to_owned())?;
        rest = next;
    }
    Ok(total)
}

/// `number` (digits with an optional fraction) times `unit_nanos`, in whole nanoseconds:
/// exact, with the part below a nanosecond dropped or, with `round_up`, counted as one.
fn term_nanos(number: &str, unit_nanos: u128, round_up: bool) -> Result<u128, String> {
    const MAX_SCALE: u128 = 100_000_000_000_000_000_000;
    let (whole, fraction) = match number.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (number, ""),
    };
    if fraction.contains('.') || (whole.is_empty() && fraction.is_empty()) {
        return Err(format!("{number:?} is not a number"));
    }
    let too_long = || "it is too long".to_owned();
    let mut nanos: u128 = 0;
    for digit in whole.bytes() {
        nanos = nanos
            .checked_mul(10)
            .and_then(|n| n.checked_add(u128::from(digit - b'0')))
            .ok_or_else(too_long)?;
    }
    nanos = nanos.checked_mul(unit_nanos).ok_or_else(too_long)?;
    // Twenty digits of fraction are exact for every unit (a day is below 10^14 ns); any
    // further digit only decides the rounding.
    let (mut fraction_value, mut scale, mut beyond) = (0_u128, 1_u128, false);
    for digit in fraction.bytes() {
        if scale < MAX_SCALE {
            fraction_value = fraction_value * 10 + u128::from(digit - b'0');
            scale *= 10;
        } else if digit != b'0' {
            beyond = true;
        }
    }
    let product = fraction_value * unit_nanos;
    let part = if round_up {
        product.div_ceil(scale) + u128::from(beyond && product.is_multiple_of(scale))
    } else {
        product / scale
    };
    nanos.checked_add(part).ok_or_else(too_long)
}

/// Formats a duration in the canonical form that [`parse`] reads back exactly.
pub(crate) fn format(duration: Duration) -> String {
    let mut rest = duration.as_nanos();
    if rest == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (name, nanos) in UNITS
        .iter()
        .rev()
        .filter(|(name, _)| *name != "µs" && *name != "\u{3bc}s")
    {
        let count = rest / nanos;
        if count > 0 {
            out.push_str(&count.to_string());
            out.push_str(name);
            rest %= nanos;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_documented_form() {
        assert_eq!(parse("6s"), Ok(Duration::from_secs(6)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse("2h"), Ok(Duration::from_secs(7_200)));
        assert_eq!(parse("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1_500)));
        assert_eq!(parse("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse("250µs"), Ok(Duration::from_micros(250)));
        assert_eq!(parse("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse(" 2m59.56s "), Ok(Duration::from_millis(179_560)));
        assert_eq!(parse(".5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_malformed_strings_with_a_reason() {
        for bad in [
            "", "6", "s", "6x", "1.2.3s", "-1s", "1 s", "6sec", "ms", ".s", "1m30",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should not parse");
        }
        assert_eq!(parse("6x"), Err("unknown unit \"x\"".to_owned()));
        assert_eq!(parse("6"), Err("the number 6 has no unit".to_owned()));
    }

    #[test]
    fn rejects_overflow_without_panicking() {
        assert!(parse("99999999999999999999999999999999999999999d").is_err());
        assert!(parse("999999999999999999999d").is_err());
        assert!(parse("18446744073709551615s1s").is_err());
    }

    #[test]
    fn formats_canonically_and_round_trips() {
        assert_eq!(format(Duration::from_secs(60)), "1m");
        assert_eq!(format(Duration::from_secs(90)), "1m30s");
        assert_eq!(format(Duration::from_secs(86_400)), "1d");
        assert_eq!(format(Duration::from_millis(2_500)), "2s500ms");
        assert_eq!(format(Duration::ZERO), "0s");
        for d in [
            Duration::from_nanos(1),
            Duration::from_nanos(123_456_789_012),
            Duration::new(u64::MAX, 999_999_999),
        ] {
            assert_eq!(parse(&format(d)), Ok(d));
        }
    }
}
