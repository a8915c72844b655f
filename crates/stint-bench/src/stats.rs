//! The statistics every figure uses: nearest-rank percentiles and means of durations, in
//! milliseconds (or microseconds), and durations listed as a report shows them.

use std::time::Duration;

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The values in ascending order.
pub fn sorted(values: impl IntoIterator<Item = Duration>) -> Vec<Duration> {
    let mut values: Vec<Duration> = values.into_iter().collect();
    values.sort();
    values
}

/// Nearest-rank percentile of sorted durations, in milliseconds; NaN for none.
pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    ms(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// The smallest of sorted durations, in milliseconds; NaN for none.
pub fn min_ms(sorted: &[Duration]) -> f64 {
    sorted.first().map_or(f64::NAN, |d| ms(*d))
}

/// The mean in milliseconds (0 for none).
pub fn mean_ms(values: &[Duration]) -> f64 {
    values.iter().map(|d| ms(*d)).sum::<f64>() / values.len().max(1) as f64
}

/// The mean in microseconds (0 for none).
pub fn mean_us(values: &[Duration]) -> f64 {
    values.iter().map(|d| us(*d)).sum::<f64>() / values.len().max(1) as f64
}

/// `1.2, 3.4, 5.6`: each in milliseconds, in the order given.
pub fn listed(values: &[Duration]) -> String {
    values
        .iter()
        .map(|d| format!("{:.1}", ms(*d)))
        .collect::<Vec<_>>()
        .join(", ")
}
