//! Units people type on the command line and in workload files: durations ("500ms", "30s",
//! "5min", "365d"). Kept apart from `cli` because library code (workload files of `bench`)
//! reads the same notation.

use std::time::Duration;

/// "250ms", "30s", "5m", "5min", "2h", "1d", or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration \"{s}\" (examples: 500ms, 30s, 5min, 2h, 365d)"))?;
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
        return Err(format!("invalid duration \"{s}\""));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

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
}
