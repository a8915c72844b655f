//! Conditions that can never be true as written: an operator IAM does not have, no values,
//! or values of the wrong type for the operator (a number for `Bool`, text for a date, a
//! malformed CIDR, an ARN operator with something that is not an ARN).

use serde_json::Value;

use super::document::Condition;

const STRING_OPS: &[&str] = &[
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "BinaryEquals",
];
const NUMERIC_OPS: &[&str] = &[
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
];
const DATE_OPS: &[&str] = &[
    "DateEquals",
    "DateNotEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
];
const ARN_OPS: &[&str] = &["ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike"];
const IP_OPS: &[&str] = &["IpAddress", "NotIpAddress"];

/// Why `condition` can never match, or `None` when it can.
pub fn never_matches(condition: &Condition) -> Option<String> {
    let op = condition.base_operator();
    let full = &condition.operator;
    if condition.values.is_empty() {
        return Some(format!("{full} on {} has no values", condition.key));
    }
    let texts = condition.texts();
    let bad = |what: &str| {
        texts
            .iter()
            .find(|t| !check(what, t))
            .map(|t| format!("{full} on {}: {t:?} is not {what}", condition.key))
    };
    if STRING_OPS.contains(&op) {
        return condition
            .values
            .iter()
            .any(|v| v.is_object() || v.is_array() || v.is_null())
            .then(|| format!("{full} on {}: a value is not text", condition.key));
    }
    if NUMERIC_OPS.contains(&op) {
        return bad("a number");
    }
    if DATE_OPS.contains(&op) {
        return bad("a date");
    }
    if ARN_OPS.contains(&op) {
        return bad("an ARN");
    }
    if IP_OPS.contains(&op) {
        return bad("an IP address or CIDR block");
    }
    if op == "Bool" || op == "Null" {
        return bad("true or false");
    }
    Some(format!("{full} is not an IAM condition operator"))
}

fn check(what: &str, text: &str) -> bool {
    match what {
        "a number" => text.parse::<f64>().is_ok(),
        "a date" => is_date(text),
        "an ARN" => text.starts_with("arn:") || text == "*" || text.starts_with("${"),
        "an IP address or CIDR block" => is_cidr(text),
        _ => text.eq_ignore_ascii_case("true") || text.eq_ignore_ascii_case("false"),
    }
}

/// ISO 8601 (a date, or a date and time) or epoch seconds, as IAM accepts.
fn is_date(text: &str) -> bool {
    if text.chars().all(|c| c.is_ascii_digit()) && !text.is_empty() {
        return true;
    }
    let date = text.get(..10).unwrap_or_default();
    let parts: Vec<&str> = date.split('-').collect();
    parts.len() == 3
        && parts[0].len() == 4
        && parts[1].len() == 2
        && parts[2].len() == 2
        && parts.iter().all(|p| p.chars().all(|c| c.is_ascii_digit()))
        && (text.len() == 10 || text[10..].starts_with('T'))
}

fn is_cidr(text: &str) -> bool {
    let (addr, bits) = match text.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (text, None),
    };
    let Ok(ip) = addr.parse::<std::net::IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    bits.is_none_or(|b| b.parse::<u8>().is_ok_and(|n| n <= max))
}

/// Whether a condition requires the key to be present and equal to (or like) its values:
/// a positive string or ARN operator, not `IfExists` (a missing key passes) and not
/// `ForAllValues:` (true for an empty set).
pub fn positive(condition: &Condition) -> bool {
    let op = condition.base_operator();
    matches!(
        op,
        "StringEquals" | "StringEqualsIgnoreCase" | "StringLike" | "ArnEquals" | "ArnLike"
    ) && !condition.operator.starts_with("ForAllValues:")
        && !condition.operator.ends_with("IfExists")
        && !condition.values.is_empty()
}

/// Whether a condition pins something to exact values (positive, and no value a bare `*`).
pub fn pins(condition: &Condition) -> bool {
    positive(condition)
        && condition
            .values
            .iter()
            .all(|v| matches!(v, Value::String(s) if s != "*" && !s.is_empty()))
}
