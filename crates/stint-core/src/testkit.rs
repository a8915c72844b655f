//! In-memory ports for deterministic fault-injection tests of the provisioning and
//! deprovisioning sagas, and of the reaper. Every port call (ledger writes included) is one
//! numbered step; a `Fault` makes step N fail, or "crash" there (the call never returns and the
//! test drops the saga, as a killed process would), before or after its effect lands.
//! Not a stand-in for the real adapters, which are tested against SQLite and the AWS emulator.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;
use time::macros::datetime;

use crate::audit::{self, ChainReport, ChainVerifier};
use crate::catalog::Catalog;
use crate::credentials::{Credentials, Secret};
use crate::error::BrokerError;
use crate::grant::{Caller, Deprovisioned, Grant, ReapReport, ReapSettings, stored};
use crate::ids::{AccountId, Email, RoleName, TransactionId};
use crate::pipeline::{DeprovisionAsk, JobContext, ProvisionAsk, Provisioned};
use crate::ports::*;
use crate::record::{Event, State, Status, StoredRecord};
use crate::wiring::{Ports, UseCases};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The call fails and changes nothing.
    Fail,
    /// The call's effect lands, but the call reports a failure (a timeout after the fact).
    FailAfter,
    /// The process dies before the call's effect lands.
    CrashBefore,
    /// The call's effect lands, then the process dies (a lost response).
    CrashAfter,
}

/// The shared step counter and the planned fault.
#[derive(Default)]
pub struct Plan {
    steps: Mutex<(usize, Option<(usize, Fault)>)>,
}

/// What a step should do.
enum Go {
    Run,
    Fail { apply: bool },
    Hang { apply: bool },
}

impl Plan {
    pub fn arm(&self, step: usize, fault: Fault) {
        if let Ok(mut s) = self.steps.lock() {
            *s = (0, Some((step, fault)));
        }
    }

    pub fn disarm(&self) {
        if let Ok(mut s) = self.steps.lock() {
            *s = (0, None);
        }
    }

    pub fn steps_taken(&self) -> usize {
        self.steps.lock().map(|s| s.0).unwrap_or(0)
    }

    fn next(&self) -> Go {
        let Ok(mut s) = self.steps.lock() else {
            return Go::Run;
        };
        let step = s.0;
        s.0 += 1;
        match s.1 {
            Some((at, fault)) if at == step => match fault {
                Fault::Fail => Go::Fail { apply: false },
                Fault::FailAfter => Go::Fail { apply: true },
                Fault::CrashBefore => Go::Hang { apply: false },
                Fault::CrashAfter => Go::Hang { apply: true },
            },
            _ => Go::Run,
        }
    }

    /// Runs `effect` as one step under the plan.
    async fn step<T>(
        &self,
        what: &str,
        effect: impl FnOnce() -> Result<T, PortError>,
    ) -> Result<T, PortError> {
        match self.next() {
            Go::Run => effect(),
            Go::Fail { apply } => {
                if apply {
                    let _ = effect();
                }
                Err(PortError::new(what, "injected failure"))
            }
            Go::Hang { apply } => {
                if apply {
                    let _ = effect();
                }
                std::future::pending().await
            }
        }
    }
}

pub struct TestClock(pub Mutex<OffsetDateTime>);

impl TestClock {
    pub fn advance(&self, by: Duration) {
        if let Ok(mut now) = self.0.lock() {
            *now += by;
        }
    }
}

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        self.0
            .lock()
            .map(|n| *n)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

#[derive(Default)]
struct LedgerState {
    transactions: HashMap<TransactionId, StoredRecord>,
    events: Vec<Event>,
    tokens: HashMap<String, OffsetDateTime>,
    /// Request key -> (transaction id, fingerprint).
    request_keys: HashMap<String, (TransactionId, String)>,
    /// Run -> transaction ids, oldest first.
    runs: HashMap<String, Vec<TransactionId>>,
    /// Writes that landed, for the cost tests.
    writes: usize,
}

pub struct MemoryLedger {
    state: Mutex<LedgerState>,
    plan: Arc<Plan>,
}

fn poisoned() -> LedgerError {
    LedgerError::Storage("lock poisoned".into())
}

#[async_trait]
impl Ledger for MemoryLedger {
    async fn write(&self, writes: &[RecordWrite]) -> Result<Vec<Event>, LedgerError> {
        let result = self
            .plan
            .step("writing the ledger", || {
                let mut state = self
                    .state
                    .lock()
                    .map_err(|_| PortError::new("ledger", "poisoned"))?;
                for write in writes {
                    let txn = &write.record;
                    let found = state
                        .transactions
                        .get(&txn.id)
                        .map(|t| (t.version, t.status));
                    if found.map_or(0, |f| f.0) != write.expected_version()
                        || write.events.is_empty()
                    {
                        return Ok(Err(LedgerError::Conflict {
                            id: txn.id.clone(),
                            expected: write.expected_version(),
                            found,
                        }));
                    }
                    if let Some(key) = &write.filing.request_key
                        && let Some((id, fingerprint)) = state.request_keys.get(&key.key)
                    {
                        return Ok(Err(LedgerError::KeyTaken {
                            key: key.key.clone(),
                            transaction_id: id.clone(),
                            fingerprint: fingerprint.clone(),
                        }));
                    }
                }
                let mut sealed_events = Vec::new();
                for write in writes {
                    for (version, status, event) in write.versioned_events() {
                        let (seq, prev) = state
                            .events
                            .last()
                            .map_or((1, audit::GENESIS.to_owned()), |e| {
                                (e.seq + 1, e.hash.clone())
                            });
                        let sealed = audit::seal(
                            seq,
                            &prev,
                            &write.record.id,
                            version,
                            *status,
                            event.clone(),
                        );
                        state.events.push(sealed.clone());
                        sealed_events.push(sealed);
                    }
                    state
                        .transactions
                        .insert(write.record.id.clone(), write.record.clone());
                    let id = &write.record.id;
                    if let Some(key) = &write.filing.request_key {
                        let filed = (id.clone(), key.fingerprint.clone());
                        state.request_keys.insert(key.key.clone(), filed);
                    }
                    if let Some(run) = &write.filing.run {
                        state.runs.entry(run.clone()).or_default().push(id.clone());
                    }
                }
                state.writes += 1;
                Ok(Ok(sealed_events))
            })
            .await;
        result.map_err(|e| LedgerError::Storage(Box::new(e)))?
    }

    async fn get(&self, id: &TransactionId) -> Result<Option<StoredRecord>, LedgerError> {
        Ok(self
            .state
            .lock()
            .map_err(|_| poisoned())?
            .transactions
            .get(id)
            .cloned())
    }

    async fn count(&self, status: Status) -> Result<u64, LedgerError> {
        let s = self.state.lock().map_err(|_| poisoned())?;
        Ok(s.transactions
            .values()
            .filter(|t| t.status == status)
            .count() as u64)
    }

    async fn expired(
        &self,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, LedgerError> {
        let state = self.state.lock().map_err(|_| poisoned())?;
        let provisioned = Status::Grant(State::Provisioned);
        Ok(state
            .transactions
            .values()
            .filter(|t| t.status == provisioned && t.expires_at.is_some_and(|at| at <= now))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn stale(
        &self,
        status: Status,
        before: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, LedgerError> {
        let s = self.state.lock().map_err(|_| poisoned())?;
        Ok(s.transactions
            .values()
            .filter(|t| t.status == status && t.updated_at <= before)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn events(&self, id: &TransactionId) -> Result<Vec<Event>, LedgerError> {
        let state = self.state.lock().map_err(|_| poisoned())?;
        Ok(state
            .events
            .iter()
            .filter(|e| &e.transaction_id == id)
            .cloned()
            .collect())
    }

    async fn use_token(
        &self,
        jti: &str,
        expires_at: OffsetDateTime,
        _now: OffsetDateTime,
    ) -> Result<bool, LedgerError> {
        let mut state = self.state.lock().map_err(|_| poisoned())?;
        Ok(state.tokens.insert(jti.to_owned(), expires_at).is_none())
    }

    async fn by_run(&self, run: &str) -> Result<Vec<StoredRecord>, LedgerError> {
        let state = self.state.lock().map_err(|_| poisoned())?;
        let ids = state.runs.get(run).map(Vec::as_slice).unwrap_or_default();
        Ok(ids
            .iter()
            .filter_map(|id| state.transactions.get(id).cloned())
            .collect())
    }

    async fn verify(&self) -> Result<ChainReport, LedgerError> {
        let state = self.state.lock().map_err(|_| poisoned())?;
        let mut verifier = ChainVerifier::default();
        for event in &state.events {
            verifier.push(event);
        }
        Ok(verifier.finish(None))
    }
}

/// Everyone is a member; there is one user.
/// Everyone is a user (id `u-<local part>`) and a member of every group, except groups given
/// a member list in `members`.
pub struct OpenDirectory {
    plan: Arc<Plan>,
    pub members: Mutex<HashMap<String, Vec<String>>>,
}

#[async_trait]
impl Directory for OpenDirectory {
    async fn user_by_email(&self, email: &Email) -> Result<Option<DirectoryUser>, PortError> {
        self.plan
            .step("looking up the user", || {
                Ok(Some(DirectoryUser {
                    user_id: format!("u-{}", email.as_str().split('@').next().unwrap_or("")),
                }))
            })
            .await
    }

    async fn membership(&self, user: &DirectoryUser, group: &str) -> Result<Membership, PortError> {
        self.plan
            .step("checking membership", || {
                let members = self
                    .members
                    .lock()
                    .map_err(|_| PortError::new("directory", "poisoned"))?;
                Ok(match members.get(group) {
                    Some(users) if !users.contains(&user.user_id) => Membership::NotMember,
                    _ => Membership::Member,
                })
            })
            .await
    }
}

/// A role as the fake IAM holds it.
/// Identity Center assignments in memory, answering as AWS does once its status settles. A
/// set `outcome` makes the next creations answer it instead (`Failed`, `InProgress`).
#[derive(Default)]
pub struct MemoryAssigner {
    pub assignments: Mutex<BTreeSet<Assignment>>,
    pub outcome: Mutex<Option<AssignmentStatus>>,
    /// Creations and deletions sent, in order.
    pub calls: Mutex<Vec<String>>,
    /// Session denies in force: the assignment and the time sessions before it are cut.
    pub session_denies: Mutex<Vec<(Assignment, OffsetDateTime)>>,
    plan: Arc<Plan>,
}

impl MemoryAssigner {
    pub fn held(&self) -> Vec<Assignment> {
        self.assignments
            .lock()
            .map(|a| a.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn poisoned() -> PortError {
        PortError::new("sso-admin", "poisoned")
    }
}

#[async_trait]
impl AccountAssigner for MemoryAssigner {
    async fn permission_set_arn(&self, name: &str) -> Result<Option<String>, PortError> {
        Ok(Some(format!(
            "arn:aws:sso:::permissionSet/ssoins-test/ps-{}",
            name.to_lowercase()
        )))
    }

    async fn assign(&self, assignment: &Assignment) -> Result<AssignmentStatus, PortError> {
        self.plan
            .step("creating the assignment", || {
                let outcome = self.outcome.lock().map_err(|_| Self::poisoned())?.clone();
                if let Ok(mut calls) = self.calls.lock() {
                    calls.push(format!("assign {}", assignment.user_id));
                }
                match outcome {
                    Some(AssignmentStatus::Failed { reason }) => {
                        Ok(AssignmentStatus::Failed { reason })
                    }
                    other => {
                        self.assignments
                            .lock()
                            .map_err(|_| Self::poisoned())?
                            .insert(assignment.clone());
                        Ok(other.unwrap_or(AssignmentStatus::Succeeded))
                    }
                }
            })
            .await
    }

    async fn unassign(&self, assignment: &Assignment) -> Result<AssignmentStatus, PortError> {
        self.plan
            .step("deleting the assignment", || {
                if let Ok(mut calls) = self.calls.lock() {
                    calls.push(format!("unassign {}", assignment.user_id));
                }
                self.assignments
                    .lock()
                    .map_err(|_| Self::poisoned())?
                    .remove(assignment);
                Ok(AssignmentStatus::Succeeded)
            })
            .await
    }

    async fn is_assigned(&self, assignment: &Assignment) -> Result<bool, PortError> {
        self.plan
            .step("listing assignments", || {
                Ok(self
                    .assignments
                    .lock()
                    .map_err(|_| Self::poisoned())?
                    .contains(assignment))
            })
            .await
    }

    async fn assignments(
        &self,
        account: &AccountId,
        permission_set_arn: &str,
    ) -> Result<Vec<Assignment>, PortError> {
        Ok(self
            .held()
            .into_iter()
            .filter(|a| &a.account == account && a.permission_set_arn == permission_set_arn)
            .collect())
    }

    async fn cut_sessions(
        &self,
        assignment: &Assignment,
        before: OffsetDateTime,
    ) -> Result<(), PortError> {
        let mut denies = self.session_denies.lock().map_err(|_| Self::poisoned())?;
        denies.retain(|(a, _)| a != assignment);
        denies.push((assignment.clone(), before));
        Ok(())
    }

    async fn lift_session_denies(
        &self,
        permission_set_arn: &str,
        older_than: OffsetDateTime,
    ) -> Result<u64, PortError> {
        let mut denies = self.session_denies.lock().map_err(|_| Self::poisoned())?;
        let before = denies.len();
        denies.retain(|(a, at)| a.permission_set_arn != permission_set_arn || *at >= older_than);
        Ok((before - denies.len()) as u64)
    }
}

/// Identity store groups in memory: `external` names groups an identity provider provisions.
#[derive(Default)]
pub struct MemoryMembers {
    pub members: Mutex<BTreeSet<(String, String)>>,
    pub external: Mutex<BTreeSet<String>>,
    plan: Arc<Plan>,
}

impl MemoryMembers {
    /// (group id, user id) of every membership now.
    pub fn held(&self) -> Vec<(String, String)> {
        self.members
            .lock()
            .map(|m| m.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn poisoned() -> PortError {
        PortError::new("identitystore", "poisoned")
    }
}

#[async_trait]
impl GroupMembers for MemoryMembers {
    async fn group(&self, name: &str) -> Result<Option<DirectoryGroup>, PortError> {
        let external = self.external.lock().map_err(|_| Self::poisoned())?;
        Ok(Some(DirectoryGroup {
            group_id: format!("g-{}", name.to_lowercase()),
            externally_provisioned: external.contains(name),
        }))
    }

    async fn add(&self, m: &GroupMembership) -> Result<(), PortError> {
        self.plan
            .step("adding the group member", || {
                let mut members = self.members.lock().map_err(|_| Self::poisoned())?;
                members.insert((m.group_id.clone(), m.user_id.clone()));
                Ok(())
            })
            .await
    }

    async fn remove(&self, m: &GroupMembership) -> Result<(), PortError> {
        self.plan
            .step("removing the group member", || {
                let mut members = self.members.lock().map_err(|_| Self::poisoned())?;
                members.remove(&(m.group_id.clone(), m.user_id.clone()));
                Ok(())
            })
            .await
    }

    async fn is_member(&self, m: &GroupMembership) -> Result<bool, PortError> {
        let members = self.members.lock().map_err(|_| Self::poisoned())?;
        Ok(members.contains(&(m.group_id.clone(), m.user_id.clone())))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FakeRole {
    pub created_at: OffsetDateTime,
    pub managed: Vec<String>,
    pub inline: BTreeMap<String, String>,
}

pub struct MemoryIam {
    pub roles: Mutex<HashMap<(AccountId, String), FakeRole>>,
    /// Every effect in order, e.g. "put stint-revoke on R", "delete R".
    pub journal: Mutex<Vec<String>>,
    plan: Arc<Plan>,
    clock: Arc<TestClock>,
}

impl MemoryIam {
    pub fn role_names(&self) -> Vec<(AccountId, String)> {
        self.roles
            .lock()
            .map(|r| r.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn note(&self, line: String) {
        if let Ok(mut j) = self.journal.lock() {
            j.push(line);
        }
    }
}

#[async_trait]
impl RoleProvisioner for MemoryIam {
    async fn create_role(&self, spec: &RoleSpec) -> Result<String, PortError> {
        self.plan
            .step("creating the role", || {
                let mut roles = self
                    .roles
                    .lock()
                    .map_err(|_| PortError::new("iam", "poisoned"))?;
                // Idempotent, as the real adapter: an existing role of the same name is adopted.
                roles
                    .entry((spec.account.clone(), spec.name.to_string()))
                    .or_insert(FakeRole {
                        created_at: self.clock.now(),
                        managed: Vec::new(),
                        inline: BTreeMap::new(),
                    });
                self.note(format!("create {}", spec.name));
                Ok(format!(
                    "arn:aws:iam::{}:role{}{}",
                    spec.account, spec.path, spec.name
                ))
            })
            .await
    }

    async fn grant(
        &self,
        account: &AccountId,
        role: &RoleName,
        permissions: &RolePermissions,
    ) -> Result<(), PortError> {
        self.plan
            .step("granting permissions", || {
                let mut roles = self
                    .roles
                    .lock()
                    .map_err(|_| PortError::new("iam", "poisoned"))?;
                let fake = roles
                    .get_mut(&(account.clone(), role.to_string()))
                    .ok_or_else(|| PortError::new("granting", "NoSuchEntity"))?;
                fake.managed.clone_from(&permissions.managed_policies);
                fake.inline.insert(
                    permissions.inline_policy_name.clone(),
                    permissions.inline_policy.to_json(),
                );
                Ok(())
            })
            .await
    }

    async fn delete_role(
        &self,
        account: &AccountId,
        role: &RoleName,
        _contents: &RoleContents,
    ) -> Result<RoleDeletion, PortError> {
        self.plan
            .step("deleting the role", || {
                let mut roles = self
                    .roles
                    .lock()
                    .map_err(|_| PortError::new("iam", "poisoned"))?;
                self.note(format!("delete {role}"));
                Ok(match roles.remove(&(account.clone(), role.to_string())) {
                    Some(_) => RoleDeletion::Deleted,
                    None => RoleDeletion::AlreadyGone,
                })
            })
            .await
    }

    async fn role_exists(&self, account: &AccountId, role: &RoleName) -> Result<bool, PortError> {
        self.plan
            .step("looking the role up", || {
                let roles = self
                    .roles
                    .lock()
                    .map_err(|_| PortError::new("iam", "poisoned"))?;
                Ok(roles.contains_key(&(account.clone(), role.to_string())))
            })
            .await
    }

    async fn list_roles(
        &self,
        account: &AccountId,
        _path: &str,
    ) -> Result<Vec<ListedRole>, PortError> {
        self.plan
            .step("listing roles", || {
                let roles = self
                    .roles
                    .lock()
                    .map_err(|_| PortError::new("iam", "poisoned"))?;
                Ok(roles
                    .iter()
                    .filter(|((a, _), _)| a == account)
                    .map(|((a, name), role)| ListedRole {
                        name: name.clone(),
                        arn: format!("arn:aws:iam::{a}:role/stint/{name}"),
                        created_at: role.created_at,
                    })
                    .collect())
            })
            .await
    }

    async fn revoke_sessions(
        &self,
        account: &AccountId,
        role: &RoleName,
        issued_before: OffsetDateTime,
    ) -> Result<(), PortError> {
        self.plan
            .step("revoking sessions", || {
                let mut roles = self
                    .roles
                    .lock()
                    .map_err(|_| PortError::new("iam", "poisoned"))?;
                if let Some(fake) = roles.get_mut(&(account.clone(), role.to_string())) {
                    let doc = crate::policy::revoke_sessions_policy(issued_before).to_json();
                    fake.inline.insert("stint-revoke".into(), doc);
                }
                self.note(format!("put stint-revoke on {role}"));
                Ok(())
            })
            .await
    }
}

pub struct FakeSts {
    plan: Arc<Plan>,
    clock: Arc<TestClock>,
}

#[async_trait]
impl CredentialIssuer for FakeSts {
    async fn issue(&self, request: &SessionRequest) -> Result<Credentials, PortError> {
        self.plan
            .step("issuing credentials", || {
                Ok(Credentials {
                    access_key_id: "ASIAFAKE".into(),
                    secret_access_key: Secret::new("secret"),
                    session_token: Secret::new("token"),
                    expiration: self.clock.now() + request.duration,
                })
            })
            .await
    }
}

pub const CATALOG: &str = r#"
company = "Acme"
org = "Platform"
identity_store_id = "d-1234567890"
provisioner_role_name = "stint-provisioner"
pipeline_principal_arn = "arn:aws:iam::123456789012:role/stint-broker"

[[accounts]]
name = "nonprod"
id = "222222222222"
environment = "nonprod"

[[accounts]]
name = "prod"
id = "333333333333"
environment = "prod"

[personas.Product-Deployers]
managed_policies = ["arn:aws:iam::aws:policy/PowerUserAccess"]
ttl = "1h"

[people]
issuer = "https://login.example.com"
client_id = "stint"

[people.personas.Operators]
permission_set = "Operators"
rules = { max_duration = "4h" }
prod = { max_duration = "2h", approvals = 2, approver_groups = ["Approvers"], justification = true, required_amr = ["mfa"], break_glass = "30m" }

[people.personas.Admins]
permission_set = "AdministratorAccess"
activation = "membership"
access_groups = { "222222222222" = "Acme-Nonprod-Admins" }
rules = { max_duration = "2h" }
"#;

/// A broker over the in-memory ports, with handles on them.
pub struct World {
    pub cases: UseCases,
    pub plan: Arc<Plan>,
    pub clock: Arc<TestClock>,
    pub iam: Arc<MemoryIam>,
    pub ledger: Arc<MemoryLedger>,
    pub assigner: Arc<MemoryAssigner>,
    pub members: Arc<MemoryMembers>,
    pub directory: Arc<OpenDirectory>,
    pub notifier: Arc<MemoryNotifier>,
}

/// Notices as a channel received them; `failing` makes every delivery fail.
#[derive(Default)]
pub struct MemoryNotifier {
    pub received: Mutex<Vec<crate::notice::Notice>>,
    pub failing: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl crate::ports::Notifier for MemoryNotifier {
    async fn deliver(&self, notice: &crate::notice::Notice) -> Result<(), PortError> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(PortError::new(
                "posting the notice",
                "503 Service Unavailable",
            ));
        }
        if let Ok(mut received) = self.received.lock() {
            received.push(notice.clone());
        }
        Ok(())
    }
}

impl MemoryNotifier {
    /// The kinds received, in order.
    pub fn kinds(&self) -> Vec<&'static str> {
        self.received
            .lock()
            .map(|r| r.iter().map(|n| n.kind.as_str()).collect())
            .unwrap_or_default()
    }
}

impl World {
    pub fn new() -> Self {
        let plan = Arc::new(Plan::default());
        let clock = Arc::new(TestClock(Mutex::new(datetime!(2026-11-22 10:00:00 UTC))));
        let iam = Arc::new(MemoryIam {
            roles: Mutex::default(),
            journal: Mutex::default(),
            plan: plan.clone(),
            clock: clock.clone(),
        });
        let ledger = Arc::new(MemoryLedger {
            state: Mutex::default(),
            plan: plan.clone(),
        });
        let directory = Arc::new(OpenDirectory {
            plan: plan.clone(),
            members: Mutex::default(),
        });
        let assigner = Arc::new(MemoryAssigner {
            plan: plan.clone(),
            ..MemoryAssigner::default()
        });
        let notifier = Arc::new(MemoryNotifier::default());
        let members = Arc::new(MemoryMembers {
            plan: plan.clone(),
            ..MemoryMembers::default()
        });
        let cases = UseCases::wire(Ports {
            members: Some(members.clone()),
            notifier: Some(notifier.clone()),
            assigner: Some(assigner.clone()),
            catalog: Arc::new(Catalog::from_toml(CATALOG).unwrap_or_else(|e| panic!("{e}"))),
            ledger: ledger.clone(),
            directory: directory.clone(),
            roles: iam.clone(),
            issuer: Arc::new(FakeSts {
                plan: plan.clone(),
                clock: clock.clone(),
            }),
            clock: clock.clone(),
        });
        Self {
            cases,
            plan,
            clock,
            iam,
            ledger,
            assigner,
            members,
            directory,
            notifier,
        }
    }

    /// Drops a transaction from the ledger, as a lost or restored ledger would.
    /// How many ledger writes have landed.
    pub fn ledger_writes(&self) -> usize {
        self.ledger.state.lock().map_or(0, |s| s.writes)
    }

    pub fn ledger_forget(&self, id: &TransactionId) {
        if let Ok(mut state) = self.ledger.state.lock() {
            state.transactions.remove(id);
        }
    }

    pub fn transactions(&self) -> Vec<Grant> {
        self.ledger
            .state
            .lock()
            .map(|s| {
                s.transactions
                    .values()
                    .filter_map(|record| stored::decode(record).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub async fn provision(
        &self,
        ask: &ProvisionAsk<'_>,
        caller: &Caller,
    ) -> Result<Provisioned, BrokerError> {
        self.provision_in(ask, caller, &JobContext::default()).await
    }

    /// Provisions as from the job `context` names (with its request key).
    pub async fn provision_in(
        &self,
        ask: &ProvisionAsk<'_>,
        caller: &Caller,
        context: &JobContext,
    ) -> Result<Provisioned, BrokerError> {
        self.cases.provision.run(ask, caller, context).await
    }

    pub async fn deprovision(
        &self,
        ask: &DeprovisionAsk<'_>,
        caller: &Caller,
    ) -> Result<Deprovisioned, BrokerError> {
        crate::pipeline::deprovision(&self.cases.ender, ask, caller).await
    }

    pub async fn revoke(
        &self,
        id: &TransactionId,
        caller: &Caller,
    ) -> Result<Deprovisioned, BrokerError> {
        crate::grant::revoke(&self.cases.ender, id, caller).await
    }

    pub async fn reap(&self, settings: &ReapSettings) -> Result<ReapReport, BrokerError> {
        self.cases.reap(settings).await
    }

    pub async fn verify_audit(&self) -> Result<ChainReport, LedgerError> {
        self.ledger.verify().await
    }

    /// The stored grant `id`; panics if there is none (a test's own premise).
    pub async fn grant(&self, id: &TransactionId) -> Grant {
        self.cases
            .journal
            .load(id)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }
}
