//! The use cases wired over one set of ports: what `stint serve`, the CLI, the Lambda
//! functions and the tests all build, so every door runs the same code.

use std::sync::Arc;

use crate::access::PeopleAccess;
use crate::catalog::Catalog;
use crate::error::BrokerError;
use crate::grant::{Assignments, GrantEnder, Journal, REAPER, ReapReport, ReapSettings, Reaper};
use crate::outbox::{Outbox, OutboxReport};
use crate::pipeline::Provision;
use crate::ports::{
    AccountAssigner, Clock, CredentialIssuer, Directory, GroupMembers, Ledger, Notifier,
    RoleProvisioner,
};
use crate::subject::Actor;

/// The adapters a broker runs on.
pub struct Ports {
    pub catalog: Arc<Catalog>,
    pub ledger: Arc<dyn Ledger>,
    pub directory: Arc<dyn Directory>,
    pub roles: Arc<dyn RoleProvisioner>,
    pub issuer: Arc<dyn CredentialIssuer>,
    pub clock: Arc<dyn Clock>,
    /// Identity Center assignments, for people's grants (`None` without `[people]`).
    pub assigner: Option<Arc<dyn AccountAssigner>>,
    /// Identity store group memberships, for personas activated by membership.
    pub members: Option<Arc<dyn GroupMembers>>,
    /// Delivers notices (`None` without `[notifications]`: none are queued).
    pub notifier: Option<Arc<dyn Notifier>>,
}

/// Every use case, each holding only the ports it needs.
#[derive(Clone)]
pub struct UseCases {
    pub catalog: Arc<Catalog>,
    pub journal: Journal,
    pub provision: Provision,
    /// Ends grants: deprovisioning, revoke.
    pub ender: GrantEnder,
    pub reaper: Reaper,
    /// People's access (with `[people]` in the catalog and an assigner).
    pub people: Option<PeopleAccess>,
    /// Delivers queued notices (with a notifier).
    pub outbox: Option<Outbox>,
}

impl UseCases {
    pub fn wire(ports: Ports) -> Self {
        let journal =
            Journal::new(ports.ledger, ports.clock).with_notices(ports.notifier.is_some());
        let outbox = ports.notifier.map(|notifier| Outbox {
            journal: journal.clone(),
            notifier,
        });
        let ender = GrantEnder {
            journal: journal.clone(),
            roles: ports.roles.clone(),
            assignments: ports.assigner.map(|assigner| Assignments {
                journal: journal.clone(),
                assigner,
                members: ports.members,
            }),
        };
        let people = match (&ender.assignments, ports.catalog.people()) {
            (Some(assignments), Some(_)) => Some(PeopleAccess {
                catalog: ports.catalog.clone(),
                journal: journal.clone(),
                directory: ports.directory.clone(),
                assignments: assignments.clone(),
            }),
            _ => None,
        };
        Self {
            outbox,
            people,
            provision: Provision {
                catalog: ports.catalog.clone(),
                journal: journal.clone(),
                directory: ports.directory,
                roles: ports.roles,
                issuer: ports.issuer,
            },
            reaper: Reaper {
                catalog: ports.catalog.clone(),
                ender: ender.clone(),
            },
            ender,
            journal,
            catalog: ports.catalog,
        }
    }

    /// One reaper pass over every flow: grants (expired, stuck, orphaned roles and
    /// assignments), then people's requests not answered in time.
    pub async fn reap(&self, settings: &ReapSettings) -> Result<ReapReport, BrokerError> {
        let mut report = self.reaper.reap(settings).await?;
        if let Some(people) = &self.people {
            let actor = Actor(REAPER.to_owned());
            report.requests_expired += people.expire_requests(settings.batch, &actor).await?;
        }
        Ok(report)
    }

    /// Delivers the notices that are due (nothing without a notifier).
    pub async fn deliver_notices(&self, limit: usize) -> Result<OutboxReport, BrokerError> {
        match &self.outbox {
            Some(outbox) => outbox.deliver_due(limit).await,
            None => Ok(OutboxReport::default()),
        }
    }

    /// The same use cases over another role provisioner (a test's witness around the real
    /// one, say), so every use case sees the same port.
    pub fn with_roles(&self, roles: Arc<dyn RoleProvisioner>) -> Self {
        let mut cases = self.clone();
        cases.provision.roles = roles.clone();
        cases.ender.roles = roles.clone();
        cases.reaper.ender.roles = roles;
        cases
    }
}
