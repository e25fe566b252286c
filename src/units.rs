//! Units people type on the command line and in workload files: durations ("500ms", "30s",
//! "5min", "365d") and sizes ("500MB", "2GB"), and sizes written back for people
//! ([`bytes`]). Kept apart from `cli` because library code (workload files of `bench`, the
//! rules' evidence) reads and writes the same notation.
//!
//! Why every parser has a ceiling: the values feed `Duration` and `Instant` arithmetic, byte
//! counts and PostgreSQL settings, all of which overflow (and `Duration::from_secs_f64`
//! panics) on a typo like `99999999999999999999s`. A value past the ceiling is a mistake, so
//! it is refused here with the limit in the message, and no caller needs its own check.

use std::time::Duration;

/// The longest duration dbopt accepts anywhere: 100 years (of 365 days).
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 86_400);

/// PostgreSQL's limit for `statement_timeout`, `lock_timeout` and the other timeout settings
/// (an `int` of milliseconds).
pub const PG_TIMEOUT_MAX_MS: u64 = 2_147_483_647;

/// The most clients, connections or steps dbopt accepts: far beyond any server's
/// max_connections, and small enough that no arithmetic on it overflows.
pub const MAX_COUNT: usize = 100_000;

/// The largest size dbopt accepts: what a PostgreSQL `bigint` of bytes holds.
pub const MAX_SIZE: u64 = i64::MAX as u64;

const DURATION_EXAMPLES: &str = "examples: 500ms, 30s, 5min, 2h, 365d";

/// "250ms", "30s", "5m", "5min", "2h", "1d", or a bare number of seconds; at most
/// [`MAX_DURATION`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = split_number(s);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration \"{s}\" ({DURATION_EXAMPLES})"))?;
    let secs = match unit.trim() {
        "" | "s" | "sec" | "secs" => n,
        "ms" => n / 1000.0,
        "m" | "min" | "mins" => n * 60.0,
        "h" | "hour" | "hours" => n * 3600.0,
        "d" | "day" | "days" => n * 86_400.0,
        other => {
            return Err(format!(
                "unknown duration unit \"{other}\" in \"{s}\" (use ms, s, min, h or d)"
            ))
        }
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("invalid duration \"{s}\" ({DURATION_EXAMPLES})"));
    }
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if d <= MAX_DURATION => Ok(d),
        _ => Err(format!(
            "duration too large: \"{s}\" is more than 100 years"
        )),
    }
}

/// A PostgreSQL timeout setting (`statement_timeout`, `lock_timeout`): a duration of at most
/// 2147483647 ms (about 24.8 days, the server's limit) and, unless 0 (no timeout), at least
/// 1 ms, because the server counts whole milliseconds and 0 would switch the timeout off.
pub fn parse_pg_timeout(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.as_millis() > u128::from(PG_TIMEOUT_MAX_MS) {
        return Err(format!(
            "timeout too large: \"{}\" is more than 2147483647ms (about 24 days), PostgreSQL's limit; use 0 for no timeout",
            s.trim()
        ));
    }
    if !d.is_zero() && d < Duration::from_millis(1) {
        return Err(format!(
            "timeout too small: \"{}\" is less than 1ms, PostgreSQL's unit; use 0 for no timeout",
            s.trim()
        ));
    }
    Ok(d)
}

/// Bytes from "500MB", "1.5GB", "800kB", "2TB" or a bare number of bytes (units of 1024, as
/// PostgreSQL's `pg_size_pretty`); at most [`MAX_SIZE`].
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, unit) = split_number(s);
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" | "k" => 1 << 10,
        "mb" | "m" => 1 << 20,
        "gb" | "g" => 1 << 30,
        "tb" | "t" => 1 << 40,
        other => {
            return Err(format!(
                "unknown size unit \"{other}\" in \"{s}\" (use kB, MB, GB or TB)"
            ))
        }
    };
    let bad = || format!("invalid size \"{s}\" (examples: 500MB, 2GB, 800kB)");
    let too_large = || format!("size too large: \"{s}\" is more than 8 EB");
    let bytes = if num.contains('.') {
        let v: f64 = num.parse().map_err(|_| bad())?;
        let b = (v * mult as f64).round();
        if !b.is_finite() {
            return Err(bad());
        }
        // f64 holds every u64 up to MAX_SIZE closely enough for a bound check.
        if b >= MAX_SIZE as f64 {
            return Err(too_large());
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let b = b as u64;
        b
    } else {
        let v: u64 = num
            .parse()
            .map_err(|e: std::num::ParseIntError| match e.kind() {
                std::num::IntErrorKind::PosOverflow => too_large(),
                _ => bad(),
            })?;
        v.checked_mul(mult).ok_or_else(too_large)?
    };
    if bytes > MAX_SIZE {
        return Err(too_large());
    }
    Ok(bytes)
}

/// A percentage "0".."100" (a trailing `%` is allowed), as a number of percent.
pub fn parse_percent(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let t = t.strip_suffix('%').unwrap_or(t).trim();
    match t.parse::<f64>() {
        Ok(v) if (0.0..=100.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "invalid percentage \"{}\": give a number from 0 to 100",
            s.trim()
        )),
    }
}

/// The leading number (digits and dots) of `s` and the rest. Splits at a char boundary: the
/// number part is ASCII.
fn split_number(s: &str) -> (&str, &str) {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    s.split_at(split)
}

/// Bytes for people: `1.2 GB`, `340 kB`.
pub fn bytes(n: i64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    #[allow(clippy::cast_precision_loss)]
    let mut v = n as f64;
    let mut u = 0;
    while v.abs() >= 1024.0 && u < units.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_human() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 kB");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024), "3.0 GB");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("5min").unwrap(), Duration::from_secs(300));
        assert_eq!(
            parse_duration("365d").unwrap(),
            Duration::from_secs(365 * 86_400)
        );
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert!(parse_duration("5 fortnights")
            .unwrap_err()
            .contains("unknown duration unit"));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn durations_past_100_years_are_refused_not_a_panic() {
        for s in [
            "99999999999999999999s",
            "99999999999999999999d",
            "99999999999d",
            "36501d",
        ] {
            let e = parse_duration(s).unwrap_err();
            assert!(
                e.contains("too large") || e.contains("invalid duration"),
                "{s}: {e}"
            );
        }
        assert!(parse_duration("99999999999d")
            .unwrap_err()
            .contains("100 years"));
        assert_eq!(parse_duration("36500d").unwrap(), MAX_DURATION);
        assert!(parse_duration(&"9".repeat(400)).is_err());
    }

    #[test]
    fn pg_timeouts_stay_within_the_servers_limit() {
        assert_eq!(
            parse_pg_timeout("2147483647ms").unwrap(),
            Duration::from_millis(2_147_483_647)
        );
        assert_eq!(parse_pg_timeout("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_pg_timeout("30s").unwrap(), Duration::from_secs(30));
        let e = parse_pg_timeout("2147483648ms").unwrap_err();
        assert!(e.contains("2147483647ms"), "{e}");
        assert!(parse_pg_timeout("25d").is_err());
        assert!(parse_pg_timeout("0.5ms")
            .unwrap_err()
            .contains("less than 1ms"));
        assert!(parse_pg_timeout("99999999999999999999s")
            .unwrap_err()
            .contains("too large"));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("500MB").unwrap(), 500 << 20);
        assert_eq!(parse_size("1.5GB").unwrap(), 3 << 29);
        assert_eq!(parse_size("800kB").unwrap(), 800 << 10);
        assert_eq!(parse_size("1048576").unwrap(), 1 << 20);
        assert_eq!(parse_size("8388607TB").unwrap(), 8_388_607 << 40);
        for s in [
            "8388608TB",
            "99999999999999999999",
            "99999999999999999999TB",
            "1e30GB",
        ] {
            assert!(parse_size(s).is_err(), "{s}");
        }
        assert!(parse_size("9999999999999999.5TB")
            .unwrap_err()
            .contains("too large"));
        assert!(parse_size("5XB").unwrap_err().contains("unknown size unit"));
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn percentages() {
        assert_eq!(parse_percent("10%").unwrap(), 10.0);
        assert_eq!(parse_percent("0").unwrap(), 0.0);
        assert_eq!(parse_percent("100").unwrap(), 100.0);
        for s in ["101", "-1", "NaN", "inf", "1e308", "x%"] {
            assert!(parse_percent(s).is_err(), "{s}");
        }
    }
}
