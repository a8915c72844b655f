//! The IAM service reference: every service prefix, its actions and their access levels,
//! compiled in from `iam_actions.txt` (made by `scripts/iam-reference` from the data the
//! parliament package ships) and parsed once on first use.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use super::glob;

static DATA: &str = include_str!("iam_actions.txt");

/// An action's access level in the service authorization reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessLevel {
    Read,
    List,
    Write,
    PermissionsManagement,
    Tagging,
}

impl AccessLevel {
    /// Whether the action changes something (what `Resource: *` should not be allowed for).
    pub fn writes(self) -> bool {
        matches!(
            self,
            AccessLevel::Write | AccessLevel::PermissionsManagement | AccessLevel::Tagging
        )
    }
}

/// One action of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionInfo {
    /// `service:Action` as AWS spells it.
    pub name: String,
    pub level: AccessLevel,
    /// Whether the action can be limited to resources; when not, `Resource: *` is required.
    pub scoped: bool,
}

/// Services by lower-case prefix, each with its actions.
pub struct ServiceReference {
    services: BTreeMap<String, Vec<ActionInfo>>,
}

impl ServiceReference {
    /// The reference compiled into stint.
    pub fn shipped() -> &'static ServiceReference {
        static PARSED: OnceLock<ServiceReference> = OnceLock::new();
        PARSED.get_or_init(|| ServiceReference::parse(DATA))
    }

    fn parse(text: &str) -> Self {
        let mut services: BTreeMap<String, Vec<ActionInfo>> = BTreeMap::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let mut words = line.split(' ');
            let Some(prefix) = words.next().filter(|p| !p.is_empty()) else {
                continue;
            };
            let actions = services.entry(prefix.to_ascii_lowercase()).or_default();
            for word in words {
                let Some((name, code)) = word.split_once(':') else {
                    continue;
                };
                let level = match code.to_ascii_uppercase().as_str() {
                    "R" => AccessLevel::Read,
                    "L" => AccessLevel::List,
                    "W" => AccessLevel::Write,
                    "P" => AccessLevel::PermissionsManagement,
                    "T" => AccessLevel::Tagging,
                    _ => continue,
                };
                actions.push(ActionInfo {
                    name: format!("{prefix}:{name}"),
                    level,
                    scoped: code.chars().all(|c| c.is_ascii_uppercase()),
                });
            }
        }
        Self { services }
    }

    pub fn has_service(&self, prefix: &str) -> bool {
        self.services.contains_key(&prefix.to_ascii_lowercase())
    }

    /// The actions `pattern` (`service:Name`, wildcards allowed) matches; empty when the
    /// service or the action is unknown. `*` alone matches every action.
    pub fn expand(&self, pattern: &str) -> Vec<&ActionInfo> {
        if pattern == "*" {
            return self.services.values().flatten().collect();
        }
        let Some((prefix, _)) = pattern.split_once(':') else {
            return Vec::new();
        };
        self.services
            .get(&prefix.to_ascii_lowercase())
            .map(|actions| {
                actions
                    .iter()
                    .filter(|a| glob::matches(pattern, &a.name))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The number of services and of actions (for the report's header).
    pub fn size(&self) -> (usize, usize) {
        (
            self.services.len(),
            self.services.values().map(Vec::len).sum(),
        )
    }
}
