//! Every duration flag of the command line: decimal seconds (`5.263158`,
//! `0.0266503211`, `60`) or a humantime duration (`300ms`, `1m 30s`).
//! Decimal seconds take any number of decimals, rounded to the nanosecond,
//! so a service time computed elsewhere can be pasted as it is.

use std::time::Duration;

/// Parse a duration flag's value (see the module doc).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Some(duration) = parse_decimal_seconds(text) {
        return Ok(duration);
    }
    humantime::parse_duration(text).map_err(|error| {
        format!("`{text}` is neither decimal seconds (5.263158) nor a duration like 300ms: {error}")
    })
}

fn parse_decimal_seconds(text: &str) -> Option<Duration> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    let secs: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    // Nine digits are nanoseconds; the tenth rounds them (half up).
    let digits = fraction.as_bytes();
    let nanos: u64 = (0..9)
        .map(|i| digits.get(i).map_or(0, |d| u64::from(d - b'0')))
        .fold(0, |n, d| n * 10 + d);
    let round_up = digits.get(9).is_some_and(|&d| d >= b'5');
    Duration::new(secs, 0).checked_add(Duration::from_nanos(nanos + u64::from(round_up)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_seconds_are_exact() {
        assert_eq!(
            parse_duration("5.263158"),
            Ok(Duration::new(5, 263_158_000))
        );
        assert_eq!(
            parse_duration("0.0266503"),
            Ok(Duration::new(0, 26_650_300))
        );
        assert_eq!(parse_duration("60"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration(".5"), Ok(Duration::from_millis(500)));
    }

    #[test]
    fn any_number_of_decimals_rounds_to_the_nanosecond() {
        assert_eq!(
            parse_duration("0.0266503211"),
            Ok(Duration::new(0, 26_650_321))
        );
        assert_eq!(parse_duration("0.0000000015"), Ok(Duration::new(0, 2)));
        assert_eq!(parse_duration("1.9999999999"), Ok(Duration::from_secs(2)));
    }

    #[test]
    fn humantime_works_too() {
        assert_eq!(parse_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
    }

    #[test]
    fn nonsense_is_refused() {
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("1.2.3").is_err());
        assert!(parse_duration("-1").is_err());
    }
}
