//! The report's shared shapes: PASS/MISS verdicts, the latency table (runs, errors, p50, p99,
//! mean, max) and the AWS calls table (cold and warm provisioning and deprovisioning, with the
//! ledger writes of each).

use std::time::Duration;

use crate::stats::{mean_ms, ms, percentile};

pub fn pass(ok: bool) -> &'static str {
    if ok { "PASS" } else { "MISS" }
}

pub fn print_latency_header() {
    let header = [
        "", "runs", "errors", "p50 ms", "p99 ms", "mean ms", "max ms",
    ];
    println!(
        "  {:<38} {:>5} {:>6} {:>8} {:>8} {:>8} {:>8}",
        header[0], header[1], header[2], header[3], header[4], header[5], header[6]
    );
}

/// One row of the latency table; `values` sorted.
pub fn print_latency_row(label: &str, values: &[Duration], errors: usize) {
    if values.is_empty() {
        println!(
            "  {label:<38} {:>5} {errors:>6} {:>8} {:>8} {:>8} {:>8}",
            0, "-", "-", "-", "-"
        );
        return;
    }
    let max = values.last().map_or(f64::NAN, |d| ms(*d));
    println!(
        "  {:<38} {:>5} {:>6} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
        label,
        values.len(),
        errors,
        percentile(values, 50.0),
        percentile(values, 99.0),
        mean_ms(values),
        max
    );
}

/// The header of the AWS calls table: one column per counted request.
pub fn print_calls_header() {
    print_calls_row(
        "service / operation",
        ["prov cold", "deprov 1st", "prov warm", "deprov warm"],
    );
}

/// One row of the AWS calls table: cold provision, first deprovision, warm provision, warm
/// deprovision.
pub fn print_calls_row(label: &str, cells: [impl std::fmt::Display; 4]) {
    let [a, b, c, d] = cells;
    println!("  {label:<40} {a:>11} {b:>11} {c:>11} {d:>11}");
}

/// A counter's cell in the AWS calls table: `-` when the server does not count it.
pub fn counted_cell(value: Option<u64>) -> String {
    value.map_or_else(|| "-".to_owned(), |n| n.to_string())
}
