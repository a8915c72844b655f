//! The catalog's personas linted like any policy: each persona's statements per environment
//! as one document, and each permission set's inline policy as `stint catalog apply` writes
//! it. A prod persona (or a permission set assigned in a prod account) with a finding at or
//! above the refusal threshold is refused (`STINT-C001`), so an over-broad grant cannot reach
//! production unnoticed.

use serde_json::json;

use super::policy::lint_policy;
use super::rules::PERSONA_REFUSED;
use super::{Finding, Severity, sort_findings};
use crate::catalog::{Catalog, Environment, inline_policy};

/// Every finding of every persona's statements, and the names of the prod personas refused
/// (a finding at or above `refuse_at` in their prod grant).
pub fn lint_catalog(catalog: &Catalog, refuse_at: Severity) -> (Vec<Finding>, Vec<String>) {
    let mut found = Vec::new();
    let mut refused = Vec::new();
    for persona in catalog.personas() {
        for (environment, label) in [
            (Environment::Prod, "prod"),
            (Environment::Nonprod, "nonprod"),
        ] {
            let grant = persona.grant(environment);
            if grant.statements.is_empty() {
                continue;
            }
            let document = json!({ "Version": "2012-10-17", "Statement": grant.statements });
            let resource = format!("personas.{}.{label}", persona.name);
            let findings = lint_policy(&resource, &document.to_string());
            let worst = findings.iter().map(|f| f.severity).max();
            if environment == Environment::Prod && worst.is_some_and(|w| w >= refuse_at) {
                let why = format!(
                    "worst finding {}; refused at {refuse_at}",
                    worst.map(Severity::as_str).unwrap_or_default()
                );
                found.push(Finding::new(&PERSONA_REFUSED, &resource, why));
                refused.push(persona.name.to_string());
            }
            found.extend(findings);
        }
    }
    for set in catalog.permission_sets().values() {
        let Some(document) = inline_policy(set, catalog.landing()) else {
            continue;
        };
        let resource = format!("permission_sets.{}", set.name);
        let text = serde_json::to_string(&document).unwrap_or_default();
        let findings = lint_policy(&resource, &text);
        let prod = set.accounts.iter().any(|a| {
            catalog
                .account_by_id(a)
                .is_some_and(|account| account.environment == Environment::Prod)
        });
        let worst = findings.iter().map(|f| f.severity).max();
        if prod && worst.is_some_and(|w| w >= refuse_at) {
            let why = format!(
                "assigned in a prod account; worst finding {}; refused at {refuse_at}",
                worst.map(Severity::as_str).unwrap_or_default()
            );
            found.push(Finding::new(&PERSONA_REFUSED, &resource, why));
            refused.push(format!("permission set {}", set.name));
        }
        found.extend(findings);
    }
    sort_findings(&mut found);
    (found, refused)
}
