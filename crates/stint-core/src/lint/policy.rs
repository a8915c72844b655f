//! The checks of a permissions policy (identity policies, permission sets' inline policies,
//! catalog personas' statements): wildcards, write actions on any resource, `NotAction` and
//! `NotResource` with Allow, escalation paths, unknown services and actions, conditions that
//! cannot match.

use super::conditions::never_matches;
use super::document::{Statement, parse_document};
use super::escalation::open_paths;
use super::glob::{has_wildcard, matches};
use super::reference::ServiceReference;
use super::rules::{
    ALLOW_NOT_ACTION, ALLOW_NOT_RESOURCE, ASSUME_ANY_ROLE, CONDITION_NEVER_MATCHES, ESCALATION,
    FULL_WILDCARD, INVALID, SERVICE_WILDCARD, UNKNOWN_ACTION, UNKNOWN_SERVICE,
    WRITE_ON_ANY_RESOURCE,
};
use super::{Finding, Severity};

/// Services whose every action amounts to administering the account.
const ADMIN_SERVICES: &[&str] = &["iam", "sts", "organizations", "sso", "kms"];
/// How many action names a finding's evidence lists before it says "and N more".
const EVIDENCE_NAMES: usize = 5;

/// Every finding of the policy document `text` (JSON), naming it `resource`.
pub fn lint_policy(resource: &str, text: &str) -> Vec<Finding> {
    match parse_document(text) {
        Ok(statements) => lint_statements(resource, &statements),
        Err(error) => vec![Finding::new(&INVALID, resource, error)],
    }
}

/// As `lint_policy`, for statements already read.
pub fn lint_statements(resource: &str, statements: &[Statement]) -> Vec<Finding> {
    let mut found = Vec::new();
    for statement in statements {
        let at = format!("{resource}#{}", statement.label);
        for condition in &statement.conditions {
            if let Some(why) = never_matches(condition) {
                found.push(Finding::new(&CONDITION_NEVER_MATCHES, &at, why));
            }
        }
        for list in [&statement.actions, &statement.not_actions]
            .into_iter()
            .flatten()
        {
            found.extend(list.iter().filter_map(|a| unknown_action(&at, a)));
        }
        if statement.allow {
            found.extend(allow_checks(&at, statement));
        }
    }
    if !statements.iter().any(grants_everything) {
        found.extend(escalation(resource, statements));
    }
    found
}

fn grants_everything(s: &Statement) -> bool {
    s.allow
        && s.actions
            .as_ref()
            .is_some_and(|a| a.iter().any(|a| a == "*"))
}

fn any_resource(s: &Statement) -> bool {
    s.resources
        .as_ref()
        .is_some_and(|r| r.iter().any(|r| r == "*"))
}

/// P007/P008 for one action pattern.
fn unknown_action(at: &str, action: &str) -> Option<Finding> {
    if action == "*" {
        return None;
    }
    let reference = ServiceReference::shipped();
    let Some((prefix, _)) = action.split_once(':') else {
        let why = format!("{action:?} is not service:action");
        return Some(Finding::new(&UNKNOWN_ACTION, at, why));
    };
    if has_wildcard(prefix) {
        return None;
    }
    if !reference.has_service(prefix) {
        let why = format!("{action:?}: no service has the prefix {prefix:?}");
        return Some(Finding::new(&UNKNOWN_SERVICE, at, why));
    }
    if reference.expand(action).is_empty() {
        let why = format!("{action:?} names no action of {prefix}");
        return Some(Finding::new(&UNKNOWN_ACTION, at, why));
    }
    None
}

fn allow_checks(at: &str, s: &Statement) -> Vec<Finding> {
    let mut found = Vec::new();
    let actions = s.actions.clone().unwrap_or_default();
    if grants_everything(s) {
        let severity = if any_resource(s) {
            Severity::Critical
        } else {
            Severity::High
        };
        let why = format!("Allow of \"*\" on {}", list(s.resources.as_deref()));
        found.push(Finding::new(&FULL_WILDCARD, at, why).with_severity(severity));
    }
    for action in &actions {
        if let Some((prefix, "*")) = action.split_once(':') {
            let severity = if ADMIN_SERVICES.contains(&prefix.to_ascii_lowercase().as_str()) {
                Severity::High
            } else {
                Severity::Medium
            };
            let why = format!("Allow of {action:?}");
            found.push(Finding::new(&SERVICE_WILDCARD, at, why).with_severity(severity));
        }
    }
    if let Some(not) = &s.not_actions {
        let why = format!("Allow of every action except {}", list(Some(not)));
        found.push(Finding::new(&ALLOW_NOT_ACTION, at, why));
    }
    if let Some(not) = &s.not_resources {
        let why = format!("Allow on every resource except {}", list(Some(not)));
        found.push(Finding::new(&ALLOW_NOT_RESOURCE, at, why));
    }
    if any_resource(s) && !grants_everything(s) {
        found.extend(write_on_any_resource(at, &actions));
        if actions.iter().any(|a| matches(a, "sts:AssumeRole")) {
            let why = "sts:AssumeRole allowed on Resource \"*\"".to_owned();
            found.push(Finding::new(&ASSUME_ANY_ROLE, at, why));
        }
    }
    found
}

/// P003: the write actions (that can be scoped to resources) a `Resource: *` statement allows.
fn write_on_any_resource(at: &str, actions: &[String]) -> Option<Finding> {
    let reference = ServiceReference::shipped();
    let mut writes: Vec<&str> = actions
        .iter()
        .flat_map(|a| reference.expand(a))
        .filter(|a| a.level.writes() && a.scoped)
        .map(|a| a.name.as_str())
        .collect();
    writes.sort_unstable();
    writes.dedup();
    if writes.is_empty() {
        return None;
    }
    let why = format!(
        "Resource \"*\" with {} write action(s): {}",
        writes.len(),
        names(&writes)
    );
    Some(Finding::new(&WRITE_ON_ANY_RESOURCE, at, why))
}

/// P006: the escalation paths the policy's Allow statements open, minus what a Deny on every
/// resource without conditions takes away.
fn escalation(resource: &str, statements: &[Statement]) -> Option<Finding> {
    let allowed = |action: &str| {
        let allowed = statements
            .iter()
            .filter(|s| s.allow)
            .any(|s| covers(s, action));
        let denied = statements
            .iter()
            .filter(|s| !s.allow && any_resource(s) && s.conditions.is_empty())
            .any(|s| covers(s, action));
        allowed && !denied
    };
    let paths = open_paths(allowed);
    if paths.is_empty() {
        return None;
    }
    let described: Vec<String> = paths
        .iter()
        .map(|p| format!("{} ({})", p.name, p.actions.join(" + ")))
        .collect();
    let why = format!("allows {}", described.join("; "));
    Some(Finding::new(&ESCALATION, resource, why))
}

/// Whether statement `s`'s action element covers `action`.
fn covers(s: &Statement, action: &str) -> bool {
    if let Some(actions) = &s.actions {
        return actions.iter().any(|a| matches(a, action));
    }
    s.not_actions
        .as_ref()
        .is_some_and(|not| !not.iter().any(|a| matches(a, action)))
}

fn list(items: Option<&[String]>) -> String {
    match items {
        Some(items) => {
            let names: Vec<&str> = items.iter().map(String::as_str).collect();
            names_quoted(&names)
        }
        None => "nothing named".to_owned(),
    }
}

fn names_quoted(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
    quoted.join(", ")
}

fn names(items: &[&str]) -> String {
    let shown = items
        .iter()
        .take(EVIDENCE_NAMES)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    match items.len().saturating_sub(EVIDENCE_NAMES) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}
