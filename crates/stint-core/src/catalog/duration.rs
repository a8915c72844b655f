//! Durations as the catalog and the CLI write them (`24h`, `90m`, `1h30m`, `900s`), and a
//! grant's TTL, which must also lie within what STS and stint allow.

use std::time::Duration;

use super::limits::{MAX_TTL, MIN_TTL};

/// `24h`, `90m`, `1h30m`, `900s`; `None` if it is not such a duration.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut total = 0u64;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        let n: u64 = number.parse().ok()?;
        total = n.checked_mul(unit).and_then(|v| total.checked_add(v))?;
        number.clear();
    }
    (number.is_empty() && total > 0).then(|| Duration::from_secs(total))
}

/// A grant's TTL: a duration from 15m to 24h.
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let ttl = parse_duration(text)
        .ok_or_else(|| format!("{text:?} is not a duration such as 24h, 90m or 1h30m"))?;
    if ttl < MIN_TTL || ttl > MAX_TTL {
        return Err(format!(
            "{text} is outside 15m (AssumeRole's shortest session) to 24h"
        ));
    }
    Ok(ttl)
}

/// The inverse of `parse_ttl`, so an override without a TTL can be validated like one with it.
pub(super) fn format_ttl(ttl: Duration) -> String {
    format!("{}s", ttl.as_secs())
}

/// A duration as people read it: `2h`, `90m` → `1h30m`, `45s`.
pub fn format_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut text = String::new();
    for (n, unit) in [(h, 'h'), (m, 'm'), (s, 's')] {
        if n > 0 {
            text.push_str(&format!("{n}{unit}"));
        }
    }
    if text.is_empty() {
        "0s".to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_parsing() {
        assert_eq!(parse_ttl("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_ttl("900s"), Ok(Duration::from_secs(900)));
        for bad in ["", "h", "5", "899s", "24h1s", "1d", "-1h"] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
        for text in ["2h", "1h30m", "45s", "8h0m1s"] {
            let parsed = parse_duration(text).unwrap();
            assert_eq!(parse_duration(&format_duration(parsed)), Some(parsed));
        }
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
    }
}
