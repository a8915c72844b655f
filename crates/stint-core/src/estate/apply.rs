//! Reading the estate and applying a plan. Every AWS write is preceded by a ledger event on
//! the estate record naming the change (`estate_changing`, with the resource entered into the
//! record as stint's) and followed by one naming its outcome (`estate_changed`); the record's
//! version is a compare-and-set, so two applies racing cannot both proceed. The first failure
//! stops the apply: what was done is recorded, and the next plan shows what is left.

use std::sync::Arc;

use serde::Serialize;
use serde_json::json;

use super::desired::Desired;
use super::managed::Managed;
use super::plan::{Change, Plan, plan, to_read};
use super::{EstateStore, Live};
use crate::ports::{Clock, Ledger, LedgerError, PortError};
use crate::record::{Action, NewEvent};

#[derive(Debug, thiserror::Error)]
pub enum EstateError {
    #[error(transparent)]
    Aws(#[from] PortError),
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    #[error("the ledger's estate record {0}")]
    Unreadable(String),
}

impl EstateError {
    /// A stable code for scripts.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Aws(_) => "upstream_error",
            Self::Ledger(LedgerError::Conflict { .. }) => "write_conflict",
            Self::Ledger(_) => "ledger_error",
            Self::Unreadable(_) => "ledger_error",
        }
    }
}

/// What an apply did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ApplyReport {
    /// `create permission set X`, … in the order done.
    pub applied: Vec<String>,
    /// Resources left alone because they are not stint's.
    pub left_alone: Vec<String>,
}

/// The estate's use cases: read, plan, apply.
#[derive(Clone)]
pub struct Estate {
    pub store: Arc<dyn EstateStore>,
    pub ledger: Arc<dyn Ledger>,
    pub clock: Arc<dyn Clock>,
    /// The estate record's id (`Managed::id_for`).
    pub record_id: crate::ids::TransactionId,
    /// Who applies, as the ledger names them.
    pub actor: String,
}

impl Estate {
    /// What stint manages, as the ledger records it.
    pub async fn managed(&self) -> Result<Managed, EstateError> {
        match self.ledger.get(&self.record_id).await? {
            Some(record) => Managed::decode(&record).map_err(EstateError::Unreadable),
            None => Ok(Managed::empty(self.record_id.clone(), self.clock.now())),
        }
    }

    /// What AWS holds of the catalog's and stint's resources (nothing else is read).
    pub async fn live(&self, desired: &Desired, managed: &Managed) -> Result<Live, EstateError> {
        let (names, roles) = to_read(desired, managed);
        // Only where a boundary is wanted: the call is missing from the emulator, and a
        // boundary added by hand to a set that should have none is the one drift not seen.
        let with_boundary = desired
            .permission_sets
            .iter()
            .filter(|(_, s)| s.state.permissions_boundary.is_some())
            .map(|(n, _)| n.clone())
            .collect();
        let permission_sets = self.store.permission_sets(&names, &with_boundary).await?;
        let mut live = Live {
            permission_sets,
            roles: Default::default(),
        };
        for key in roles {
            if let Some(role) = self.store.role(&key).await? {
                live.roles.insert(key, role);
            }
        }
        Ok(live)
    }

    /// The plan for `desired`, with the record it was made against.
    pub async fn plan(
        &self,
        desired: &Desired,
        adopt: bool,
    ) -> Result<(Plan, Managed), EstateError> {
        let managed = self.managed().await?;
        let live = self.live(desired, &managed).await?;
        Ok((plan(desired, &live, &managed, adopt), managed))
    }

    /// Plans and applies: creates and updates first, then deletions (roles before permission
    /// sets). Conflicts are left alone and reported.
    pub async fn apply(&self, desired: &Desired, adopt: bool) -> Result<ApplyReport, EstateError> {
        let (plan, mut managed) = self.plan(desired, adopt).await?;
        let mut report = ApplyReport {
            left_alone: plan.conflicts.iter().map(|c| c.resource.clone()).collect(),
            ..ApplyReport::default()
        };
        let mut changes = plan.changes;
        changes.sort_by_key(|c| match c {
            Change::DeleteRole { .. } => 1,
            Change::DeletePermissionSet { .. } => 2,
            _ => 0,
        });
        for change in &changes {
            managed = self
                .record(&managed, Action::EstateChanging, change, None, |m| {
                    enter(m, change)
                })
                .await?;
            let arn = self.perform(change).await?;
            managed = self
                .record(
                    &managed,
                    Action::EstateChanged,
                    change,
                    arn.as_deref(),
                    |m| settle(m, change, arn.as_deref()),
                )
                .await?;
            report
                .applied
                .push(format!("{} {}", change.verb(), change.resource()));
        }
        Ok(report)
    }

    /// The AWS calls of one change; a new permission set's ARN.
    async fn perform(&self, change: &Change) -> Result<Option<String>, EstateError> {
        let store = &self.store;
        match change {
            Change::CreatePermissionSet {
                desired,
                provision_to,
                ..
            } => {
                let arn = store.create_permission_set(desired).await?;
                store.provision(&arn, provision_to).await?;
                return Ok(Some(arn));
            }
            Change::UpdatePermissionSet {
                arn,
                live,
                desired,
                provision_to,
                ..
            } => {
                if live != desired {
                    store.update_permission_set(arn, live, desired).await?;
                }
                store.provision(arn, provision_to).await?;
            }
            Change::DeletePermissionSet { arn, accounts, .. } => {
                store.delete_permission_set(arn, accounts).await?;
            }
            Change::CreateRole {
                account,
                name,
                desired,
                ..
            } => {
                let key = super::RoleKey {
                    account: account.clone(),
                    name: name.clone(),
                };
                store.put_role(&key, None, desired).await?;
            }
            Change::UpdateRole {
                account,
                name,
                live,
                desired,
                ..
            } => {
                let key = super::RoleKey {
                    account: account.clone(),
                    name: name.clone(),
                };
                store.put_role(&key, Some(live), desired).await?;
            }
            Change::DeleteRole { account, name } => {
                let key = super::RoleKey {
                    account: account.clone(),
                    name: name.clone(),
                };
                store.delete_role(&key).await?;
            }
        }
        Ok(None)
    }

    /// Appends one event about `change` to the estate record, with the record as `edit`
    /// leaves it.
    async fn record(
        &self,
        managed: &Managed,
        action: Action,
        change: &Change,
        arn: Option<&str>,
        edit: impl FnOnce(&mut Managed),
    ) -> Result<Managed, EstateError> {
        let mut next = managed.next(self.clock.now());
        edit(&mut next);
        let event = NewEvent {
            at: next.updated_at,
            actor: self.actor.clone(),
            action,
            reason: format!("{} {}", change.verb(), change.resource()),
            data: json!({ "change": change, "arn": arn }),
        };
        self.ledger.append(&next.encode(), event).await?;
        Ok(next)
    }
}

/// Before the AWS call: a resource being made or adopted is stint's from now on.
fn enter(managed: &mut Managed, change: &Change) {
    match change {
        Change::CreatePermissionSet { name, .. } => {
            managed.permission_sets.entry(name.clone()).or_default();
        }
        Change::UpdatePermissionSet {
            name,
            arn,
            provision_to,
            ..
        } => {
            let set = managed.permission_sets.entry(name.clone()).or_default();
            set.arn = Some(arn.clone());
            // Not provisioned with the new content until the outcome says so: a failed
            // provisioning is planned again.
            set.accounts.retain(|a| !provision_to.contains(a));
        }
        Change::CreateRole { account, name, .. } | Change::UpdateRole { account, name, .. } => {
            managed.roles.insert(super::RoleKey {
                account: account.clone(),
                name: name.clone(),
            });
        }
        Change::DeletePermissionSet { .. } | Change::DeleteRole { .. } => {}
    }
}

/// After the AWS call: the ARN and accounts a set now has, or the resource gone.
fn settle(managed: &mut Managed, change: &Change, arn: Option<&str>) {
    match change {
        Change::CreatePermissionSet {
            name, provision_to, ..
        }
        | Change::UpdatePermissionSet {
            name, provision_to, ..
        } => {
            let set = managed.permission_sets.entry(name.clone()).or_default();
            if let Some(arn) = arn {
                set.arn = Some(arn.to_owned());
            }
            set.accounts.extend(provision_to.iter().cloned());
        }
        Change::DeletePermissionSet { name, .. } => {
            managed.permission_sets.remove(name);
        }
        Change::DeleteRole { account, name } => {
            managed.roles.remove(&super::RoleKey {
                account: account.clone(),
                name: name.clone(),
            });
        }
        Change::CreateRole { .. } | Change::UpdateRole { .. } => {}
    }
}
