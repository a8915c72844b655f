//! The plan: what `apply` would create, change and delete, resource by resource, as the diff
//! of the desired estate and the live one, over what stint manages only. A resource of the
//! same name that stint does not manage is a conflict (taken over only when asked to adopt);
//! any other resource is never read in detail nor touched.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{Value, json};

use super::desired::Desired;
use super::managed::Managed;
use super::{Live, PermissionSetState, RoleKey, RoleState};
use crate::ids::{AccountId, RoleName};

/// One field that differs: its value now and after apply (policies as normalised JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldDiff {
    pub field: String,
    pub before: Value,
    pub after: Value,
}

/// One change to one resource. Variants differ in size (a deletion names, an update carries
/// both states); a plan holds a few dozen, so they are not boxed.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Change {
    CreatePermissionSet {
        name: String,
        #[serde(skip)]
        desired: PermissionSetState,
        diffs: Vec<FieldDiff>,
        /// Provisioned to these once made.
        provision_to: Vec<AccountId>,
    },
    UpdatePermissionSet {
        name: String,
        arn: String,
        #[serde(skip)]
        live: PermissionSetState,
        #[serde(skip)]
        desired: PermissionSetState,
        diffs: Vec<FieldDiff>,
        /// Provisioned again to these (every account it is in, for a change of content).
        provision_to: Vec<AccountId>,
        /// Not yet stint's: taken over (`--adopt`).
        adopt: bool,
    },
    DeletePermissionSet {
        name: String,
        arn: String,
        #[serde(skip)]
        accounts: Vec<AccountId>,
    },
    CreateRole {
        account: AccountId,
        name: RoleName,
        #[serde(skip)]
        desired: RoleState,
        diffs: Vec<FieldDiff>,
    },
    UpdateRole {
        account: AccountId,
        name: RoleName,
        #[serde(skip)]
        live: RoleState,
        #[serde(skip)]
        desired: RoleState,
        diffs: Vec<FieldDiff>,
        adopt: bool,
    },
    DeleteRole {
        account: AccountId,
        name: RoleName,
    },
}

impl Change {
    /// The resource it changes, as the text plan and the ledger name it.
    pub fn resource(&self) -> String {
        match self {
            Self::CreatePermissionSet { name, .. }
            | Self::UpdatePermissionSet { name, .. }
            | Self::DeletePermissionSet { name, .. } => format!("permission set {name}"),
            Self::CreateRole { account, name, .. }
            | Self::UpdateRole { account, name, .. }
            | Self::DeleteRole { account, name } => format!("role {name} in {account}"),
        }
    }

    pub fn verb(&self) -> &'static str {
        match self {
            Self::CreatePermissionSet { .. } | Self::CreateRole { .. } => "create",
            Self::UpdatePermissionSet { .. } | Self::UpdateRole { .. } => "update",
            Self::DeletePermissionSet { .. } | Self::DeleteRole { .. } => "delete",
        }
    }

    fn diffs(&self) -> &[FieldDiff] {
        match self {
            Self::CreatePermissionSet { diffs, .. }
            | Self::UpdatePermissionSet { diffs, .. }
            | Self::CreateRole { diffs, .. }
            | Self::UpdateRole { diffs, .. } => diffs,
            Self::DeletePermissionSet { .. } | Self::DeleteRole { .. } => &[],
        }
    }
}

/// A resource the catalog names that exists but is not stint's: left alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    pub resource: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub changes: Vec<Change>,
    pub conflicts: Vec<Conflict>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.conflicts.is_empty()
    }
}

/// The permission set names and roles `plan` needs read: the catalog's and stint's.
pub fn to_read(desired: &Desired, managed: &Managed) -> (BTreeSet<String>, BTreeSet<RoleKey>) {
    let names = desired
        .permission_sets
        .keys()
        .chain(managed.permission_sets.keys())
        .cloned()
        .collect();
    let roles = desired
        .roles
        .keys()
        .chain(managed.roles.iter())
        .cloned()
        .collect();
    (names, roles)
}

/// The changes that make `live` what `desired` asks, touching only what `managed` names (or,
/// with `adopt`, what the catalog names).
pub fn plan(desired: &Desired, live: &Live, managed: &Managed, adopt: bool) -> Plan {
    let mut plan = Plan::default();
    plan_permission_sets(desired, live, managed, adopt, &mut plan);
    plan_roles(desired, live, managed, adopt, &mut plan);
    plan
}

fn plan_permission_sets(
    desired: &Desired,
    live: &Live,
    managed: &Managed,
    adopt: bool,
    plan: &mut Plan,
) {
    for (name, want) in &desired.permission_sets {
        let ours = managed.permission_sets.get(name);
        let accounts: Vec<AccountId> = want.accounts.iter().cloned().collect();
        let Some(found) = live.permission_sets.get(name) else {
            plan.changes.push(Change::CreatePermissionSet {
                name: name.clone(),
                diffs: set_diffs(None, &want.state),
                desired: want.state.clone(),
                provision_to: accounts,
            });
            continue;
        };
        if ours.is_none() && !adopt {
            plan.conflicts.push(Conflict {
                resource: format!("permission set {name}"),
                reason: format!(
                    "{} exists and is not stint's; left alone (apply --adopt takes it over)",
                    found.arn
                ),
            });
            continue;
        }
        let diffs = set_diffs(Some(&found.state), &want.state);
        let provisioned = ours.map(|m| &m.accounts);
        let provision_to: Vec<AccountId> = if diffs.is_empty() {
            // Same content: only the accounts it has not been provisioned to yet.
            accounts
                .into_iter()
                .filter(|a| !provisioned.is_some_and(|p| p.contains(a)))
                .collect()
        } else {
            accounts
        };
        if diffs.is_empty() && provision_to.is_empty() {
            continue;
        }
        plan.changes.push(Change::UpdatePermissionSet {
            name: name.clone(),
            arn: found.arn.clone(),
            live: found.state.clone(),
            desired: want.state.clone(),
            diffs,
            provision_to,
            adopt: ours.is_none(),
        });
    }
    for (name, ours) in &managed.permission_sets {
        if desired.permission_sets.contains_key(name) {
            continue;
        }
        if let Some(found) = live.permission_sets.get(name) {
            plan.changes.push(Change::DeletePermissionSet {
                name: name.clone(),
                arn: found.arn.clone(),
                accounts: ours.accounts.iter().cloned().collect(),
            });
        }
    }
}

fn plan_roles(desired: &Desired, live: &Live, managed: &Managed, adopt: bool, plan: &mut Plan) {
    for (key, want) in &desired.roles {
        let Some(found) = live.roles.get(key) else {
            plan.changes.push(Change::CreateRole {
                account: key.account.clone(),
                name: key.name.clone(),
                diffs: role_diffs(None, want),
                desired: want.clone(),
            });
            continue;
        };
        let ours = managed.roles.contains(key) || found.tagged;
        if !ours && !adopt {
            plan.conflicts.push(Conflict {
                resource: format!("role {} in {}", key.name, key.account),
                reason: "exists and is not stint's; left alone (apply --adopt takes it over)"
                    .to_owned(),
            });
            continue;
        }
        let diffs = role_diffs(Some(&found.state), want);
        if diffs.is_empty() && managed.roles.contains(key) {
            continue;
        }
        plan.changes.push(Change::UpdateRole {
            account: key.account.clone(),
            name: key.name.clone(),
            live: found.state.clone(),
            desired: want.clone(),
            diffs,
            adopt: !managed.roles.contains(key),
        });
    }
    for key in &managed.roles {
        if !desired.roles.contains_key(key) && live.roles.contains_key(key) {
            plan.changes.push(Change::DeleteRole {
                account: key.account.clone(),
                name: key.name.clone(),
            });
        }
    }
}

fn diff(field: &str, before: Value, after: Value, out: &mut Vec<FieldDiff>) {
    let empty = |v: &Value| match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    };
    // A new resource's empty fields say nothing.
    if before.is_null() && empty(&after) {
        return;
    }
    if before != after {
        out.push(FieldDiff {
            field: field.to_owned(),
            before,
            after,
        });
    }
}

/// The permission set's fields that differ, in the order people read them.
fn set_diffs(live: Option<&PermissionSetState>, want: &PermissionSetState) -> Vec<FieldDiff> {
    const FIELDS: &[&str] = &[
        "description",
        "session_duration",
        "managed_policies",
        "customer_managed_policies",
        "inline_policy",
        "permissions_boundary",
    ];
    field_diffs(live, want, FIELDS)
}

fn role_diffs(live: Option<&RoleState>, want: &RoleState) -> Vec<FieldDiff> {
    const FIELDS: &[&str] = &[
        "description",
        "trust_policy",
        "managed_policies",
        "inline_policies",
    ];
    field_diffs(live, want, FIELDS)
}

/// `fields` of two states compared as their JSON (`live` absent: every field is new).
fn field_diffs<T: serde::Serialize>(live: Option<&T>, want: &T, fields: &[&str]) -> Vec<FieldDiff> {
    let (before, after) = (json!(live), json!(want));
    let field = |state: &Value, name: &str| state.get(name).cloned().unwrap_or(Value::Null);
    let mut out = Vec::new();
    for name in fields {
        diff(name, field(&before, name), field(&after, name), &mut out);
    }
    out
}

/// The plan as people read it: one line per change (`+` create, `~` update, `-` delete), then
/// each field that differs, as a line diff of its pretty JSON.
pub fn render(plan: &Plan) -> String {
    let mut out = String::new();
    if plan.is_empty() {
        out.push_str("No changes: AWS matches the catalog.\n");
        return out;
    }
    for change in &plan.changes {
        let sign = match change.verb() {
            "create" => '+',
            "delete" => '-',
            _ => '~',
        };
        let _ = writeln!(out, "{sign} {} {}", change.verb(), change.resource());
        if let Change::UpdatePermissionSet { adopt: true, .. }
        | Change::UpdateRole { adopt: true, .. } = change
        {
            out.push_str("    (adopted: stint manages it from now on)\n");
        }
        for field in change.diffs() {
            let _ = writeln!(out, "    {}:", field.field);
            for line in line_diff(&pretty(&field.before), &pretty(&field.after)) {
                let _ = writeln!(out, "      {line}");
            }
        }
        if let Change::CreatePermissionSet { provision_to, .. }
        | Change::UpdatePermissionSet { provision_to, .. } = change
            && !provision_to.is_empty()
        {
            let accounts: Vec<&str> = provision_to.iter().map(AccountId::as_str).collect();
            let _ = writeln!(out, "    provision to: {}", accounts.join(", "));
        }
    }
    for conflict in &plan.conflicts {
        let _ = writeln!(out, "! {}: {}", conflict.resource, conflict.reason);
    }
    let count = |verb: &str| plan.changes.iter().filter(|c| c.verb() == verb).count();
    let _ = writeln!(
        out,
        "Plan: {} to create, {} to update, {} to delete, {} left alone.",
        count("create"),
        count("update"),
        count("delete"),
        plan.conflicts.len()
    );
    out
}

fn pretty(value: &Value) -> Vec<String> {
    if value.is_null() {
        return Vec::new();
    }
    serde_json::to_string_pretty(value)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A line diff by longest common subsequence: `  ` kept, `- ` removed, `+ ` added. Policies
/// are a few hundred lines at most, so the quadratic table is small.
fn line_diff(before: &[String], after: &[String]) -> Vec<String> {
    let (n, m) = (before.len(), after.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if before[i] == after[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < n || j < m {
        if i < n && j < m && before[i] == after[j] {
            out.push(format!("  {}", before[i]));
            (i, j) = (i + 1, j + 1);
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(format!("- {}", before[i]));
            i += 1;
        } else {
            out.push(format!("+ {}", after[j]));
            j += 1;
        }
    }
    out
}
