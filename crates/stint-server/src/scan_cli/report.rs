//! Findings for people (a table), and as SARIF 2.1.0 for GitHub code scanning: one rule per
//! stint rule id with its fix as help, a `security-severity` GitHub sorts by, the resource
//! as a logical location and a stable fingerprint so a finding keeps its alert across runs.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use stint_core::lint::{Finding, RULES, Severity};

/// A fixed-width table, worst first (the order the findings come in).
pub fn table(findings: &[Finding]) -> String {
    if findings.is_empty() {
        return "no findings\n".to_owned();
    }
    let mut out = format!(
        "{:<9} {:<10} {:<12} {}\n",
        "SEVERITY", "RULE", "ACCOUNT", "RESOURCE / EVIDENCE / FIX"
    );
    for f in findings {
        out.push_str(&format!(
            "{:<9} {:<10} {:<12} {}\n{:33} {}\n{:33} fix: {}\n",
            f.severity.as_str(),
            f.rule.trim_start_matches("STINT-"),
            f.account.as_deref().unwrap_or("-"),
            f.resource,
            "",
            f.evidence,
            "",
            f.fix
        ));
    }
    out
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

/// GitHub's `security-severity` scale: critical above 9, high 7 to 8.9, medium 4 to 6.9.
fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
    }
}

/// Where a finding is shown: a path made of the account and the resource, since an IAM
/// resource has no file in the repository.
fn artifact(f: &Finding) -> String {
    let resource: String = f
        .resource
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_./".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "aws/{}/{}",
        f.account.as_deref().unwrap_or("catalog"),
        resource
    )
}

/// A rule's friendly name as SARIF wants it: one Pascal-case word from its title.
fn pascal(title: &str) -> String {
    title
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The SARIF 2.1.0 log of `findings`.
pub fn sarif(findings: &[Finding]) -> Value {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": pascal(r.title),
                "shortDescription": { "text": r.title },
                "fullDescription": { "text": r.title },
                "help": { "text": r.fix },
                "defaultConfiguration": { "level": level(r.severity) },
                "properties": {
                    "security-severity": security_severity(r.severity),
                    "tags": ["security", "iam"],
                },
            })
        })
        .collect();
    let results: Vec<Value> = findings.iter().map(result).collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "stint",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    })
}

fn result(f: &Finding) -> Value {
    let index = RULES
        .iter()
        .position(|r| r.id == f.rule)
        .unwrap_or_default();
    let fingerprint = Sha256::digest(format!(
        "{}|{}|{}",
        f.rule,
        f.account.as_deref().unwrap_or_default(),
        f.resource
    ));
    json!({
        "ruleId": f.rule,
        "ruleIndex": index,
        "level": level(f.severity),
        "message": { "text": format!("{}: {}. Fix: {}", f.resource, f.evidence, f.fix) },
        "locations": [{
            "physicalLocation": {
                "artifactLocation": { "uri": artifact(f) },
                "region": { "startLine": 1 },
            },
            "logicalLocations": [{ "fullyQualifiedName": f.resource, "kind": "resource" }],
        }],
        "partialFingerprints": { "stintFinding/v1": hex::encode(fingerprint) },
        "properties": {
            "security-severity": security_severity(f.severity),
            "severity": f.severity.as_str(),
            "account": f.account,
            "tool": f.tool,
        },
    })
}

/// Points every result at `uri` (the catalog file, for `stint lint catalog`).
pub fn point_at_file(doc: &mut Value, uri: &str) {
    let Some(results) = doc
        .pointer_mut("/runs/0/results")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for result in results {
        if let Some(location) =
            result.pointer_mut("/locations/0/physicalLocation/artifactLocation/uri")
        {
            *location = Value::String(uri.to_owned());
        }
    }
}
