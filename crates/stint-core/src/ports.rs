//! The ports: narrow traits for everything stint needs from the outside world. Adapters in
//! `stint-aws` and `stint-server` implement them; the use cases in this crate only call them.
//! SDK and SQL error types never cross these traits: adapters turn them into `PortError` with
//! context ("creating role stint-…") and keep the cause chain.

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::audit::ChainReport;
use crate::credentials::Credentials;
use crate::ids::{AccountId, Email, RoleName, TransactionId};
use crate::policy::PolicyDocument;
use crate::record::{Event, NewEvent, Status, StoredRecord};

/// A failed call to an outside system, with what stint was doing when it failed.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {message}")]
pub struct PortError {
    /// What stint was doing, e.g. "creating role stint-… in 222222222222".
    pub context: String,
    /// The outside system's own words (an AWS error code and message).
    pub message: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl PortError {
    pub fn new(context: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            context: context.into(),
            message: message.into(),
            source: None,
        }
    }
}

/// Reads the time. The only way anything in stint learns what time it is.
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// An Identity Center user found by email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    pub user_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    Member,
    NotMember,
    /// The group for that account and persona does not exist, so nobody is in it.
    NoSuchGroup,
}

/// The identity directory (IAM Identity Center's identity store).
#[async_trait]
pub trait Directory: Send + Sync {
    async fn user_by_email(&self, email: &Email) -> Result<Option<DirectoryUser>, PortError>;
    async fn membership(
        &self,
        user: &DirectoryUser,
        group_name: &str,
    ) -> Result<Membership, PortError>;
}

/// Everything needed to create a temporary role.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleSpec {
    pub account: AccountId,
    pub path: String,
    pub name: RoleName,
    pub description: String,
    pub trust_policy: PolicyDocument,
    pub tags: Vec<(String, String)>,
    pub permissions_boundary: Option<String>,
    pub max_session: Duration,
}

/// The permissions of a temporary role: managed policies and one inline policy.
#[derive(Debug, Clone, PartialEq)]
pub struct RolePermissions {
    pub managed_policies: Vec<String>,
    pub inline_policy_name: String,
    pub inline_policy: PolicyDocument,
}

/// What stint put on a temporary role: deleting it removes these without listing first, and
/// lists only when IAM says something else is still on it (`DeleteConflict`). Empty: list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleContents {
    pub managed_policies: Vec<String>,
    pub inline_policies: Vec<String>,
    /// The session-revoking deny `revoke_sessions` puts on the role is there too.
    pub sessions_revoked: bool,
}

impl RoleContents {
    pub fn is_empty(&self) -> bool {
        self.managed_policies.is_empty()
            && self.inline_policies.is_empty()
            && !self.sessions_revoked
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleDeletion {
    Deleted,
    AlreadyGone,
}

/// Creates and deletes temporary roles in member accounts.
#[async_trait]
pub trait RoleProvisioner: Send + Sync {
    /// Creates the role with its trust policy, tags and boundary; returns its ARN.
    async fn create_role(&self, spec: &RoleSpec) -> Result<String, PortError>;
    /// Attaches the managed policies and puts the inline policy.
    async fn grant(
        &self,
        account: &AccountId,
        role: &RoleName,
        permissions: &RolePermissions,
    ) -> Result<(), PortError>;
    /// Removes `contents`, then deletes the role; if IAM says the role still holds something
    /// (someone attached a policy by hand), detaches and deletes whatever a listing finds and
    /// deletes it again. A role that is already gone is success.
    async fn delete_role(
        &self,
        account: &AccountId,
        role: &RoleName,
        contents: &RoleContents,
    ) -> Result<RoleDeletion, PortError>;
    /// Whether the role exists (after a failed delete, whose effect may have landed anyway).
    async fn role_exists(&self, account: &AccountId, role: &RoleName) -> Result<bool, PortError>;
    /// The roles under `path` in `account` (stint's namespace), for the orphan sweep.
    async fn list_roles(
        &self,
        account: &AccountId,
        path: &str,
    ) -> Result<Vec<ListedRole>, PortError>;
    /// Cuts off every session of the role issued before `issued_before`, at once (an inline
    /// `Deny *` on `aws:TokenIssueTime`), ahead of deleting it.
    async fn revoke_sessions(
        &self,
        account: &AccountId,
        role: &RoleName,
        issued_before: OffsetDateTime,
    ) -> Result<(), PortError>;
}

/// A role as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedRole {
    /// Not parsed: a role under stint's path may have been made by someone else.
    pub name: String,
    pub arn: String,
    pub created_at: OffsetDateTime,
}

/// A session to open on a temporary role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRequest {
    pub role_arn: String,
    pub session_name: String,
    /// The verified requester; it stays on the session through role chaining.
    pub source_identity: String,
    pub duration: Duration,
}

/// Opens sessions on temporary roles (STS AssumeRole).
#[async_trait]
pub trait CredentialIssuer: Send + Sync {
    async fn issue(&self, request: &SessionRequest) -> Result<Credentials, PortError>;
}

/// An Identity Center account assignment: a permission set, for one user, on one account.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Assignment {
    pub account: AccountId,
    pub permission_set_arn: String,
    /// The identity store's user id.
    pub user_id: String,
}

/// Where an asynchronous assignment change (creation or deletion) stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssignmentStatus {
    Succeeded,
    /// AWS's reason, as its status answer gave it.
    Failed {
        reason: String,
    },
    /// Still in progress when the adapter stopped waiting: look again later.
    InProgress,
}

/// IAM Identity Center account assignments (sso-admin), for people's grants. Creating and
/// deleting an assignment are asynchronous in AWS: `assign` and `unassign` poll the request's
/// status with backoff until it succeeds or fails, up to a bound, and answer `InProgress` past
/// it. Nothing here decides whether an assignment should exist: that is the grant's.
#[async_trait]
pub trait AccountAssigner: Send + Sync {
    /// The ARN of the permission set named `name` in the Identity Center instance, if any.
    async fn permission_set_arn(&self, name: &str) -> Result<Option<String>, PortError>;
    /// Creates the assignment and waits for its outcome.
    async fn assign(&self, assignment: &Assignment) -> Result<AssignmentStatus, PortError>;
    /// Deletes the assignment and waits for its outcome; one already gone is `Succeeded`.
    async fn unassign(&self, assignment: &Assignment) -> Result<AssignmentStatus, PortError>;
    /// Whether the user holds the permission set on the account now.
    async fn is_assigned(&self, assignment: &Assignment) -> Result<bool, PortError>;
    /// Cuts off the user's sessions of the assignment's permission set in its account issued
    /// before `before` (Identity Center sessions outlive the assignment): a deny on the
    /// permission set for that user in that account, provisioned there.
    async fn cut_sessions(
        &self,
        assignment: &Assignment,
        before: OffsetDateTime,
    ) -> Result<(), PortError>;
    /// Lifts the session denies on the permission set for sessions issued before
    /// `older_than` (none can still be alive), provisioning the set again where they were;
    /// answers how many it lifted.
    async fn lift_session_denies(
        &self,
        permission_set_arn: &str,
        older_than: OffsetDateTime,
    ) -> Result<u64, PortError>;
    /// Every user assignment of the permission set on the account (for the reaper's sweep).
    async fn assignments(
        &self,
        account: &AccountId,
        permission_set_arn: &str,
    ) -> Result<Vec<Assignment>, PortError>;
}

/// A person's membership of an Identity Center group that carries a standing assignment of
/// a permission set on one account (the PIM-for-groups model): the account and permission set
/// are what the group gives, kept so that an early revoke can cut that user's sessions.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct GroupMembership {
    pub group_id: String,
    /// The group's display name, for people reading the ledger.
    pub group: String,
    /// The identity store's user id.
    pub user_id: String,
    pub account: AccountId,
    pub permission_set_arn: String,
}

/// An Identity Center group as the identity store describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryGroup {
    pub group_id: String,
    /// An external identity provider provisions the group (SCIM: it has `ExternalIds`); its
    /// next sync would undo or fight memberships stint makes.
    pub externally_provisioned: bool,
}

/// Group memberships in the identity store, for people's grants activated by membership.
/// Unlike account assignments, membership changes are synchronous.
#[async_trait]
pub trait GroupMembers: Send + Sync {
    /// The group named `name`, if it exists.
    async fn group(&self, name: &str) -> Result<Option<DirectoryGroup>, PortError>;
    /// Adds the user to the group; already a member is success.
    async fn add(&self, membership: &GroupMembership) -> Result<(), PortError>;
    /// Removes the user from the group; not a member is success.
    async fn remove(&self, membership: &GroupMembership) -> Result<(), PortError>;
    /// Whether the user is a member of the group now (never cached).
    async fn is_member(&self, membership: &GroupMembership) -> Result<bool, PortError>;
}

/// Delivers notices to people's channels (chat webhooks, a signed JSON webhook). Delivery is
/// at least once: a notice carries its id, for a receiver that must not act twice.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Delivers `notice` to every channel; an error leaves it queued for a later attempt.
    async fn deliver(&self, notice: &crate::notice::Notice) -> Result<(), PortError>;
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The stored record is not at the version this write expected: someone else moved it.
    #[error("transaction {id} changed under us: expected version {expected}, found {found:?}")]
    Conflict {
        id: TransactionId,
        expected: u64,
        found: Option<(u64, Status)>,
    },
    /// The write's request key already files another record.
    #[error("request key {key} already files transaction {transaction_id}")]
    KeyTaken {
        key: String,
        transaction_id: TransactionId,
        fingerprint: String,
    },
    #[error("ledger storage: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A retry-safe request's key, filed with the first write of the record it produced. Unique:
/// a second record under the same key is refused with `KeyTaken`, which names the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestKey {
    pub key: String,
    /// What was asked under the key, so a key sent again with another request is told apart.
    pub fingerprint: String,
    /// The key may be forgotten after this.
    pub expires_at: OffsetDateTime,
}

/// What a record's first write files it under, besides its id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filing {
    pub request_key: Option<RequestKey>,
    /// The key it is filed under, for `by_run`: the pipeline job it was made for
    /// (`repository/run/attempt/job`), or the person it is for (`person:<email>`).
    pub run: Option<String>,
}

impl Filing {
    pub fn is_empty(&self) -> bool {
        self.request_key.is_none() && self.run.is_none()
    }
}

/// One record's part in a ledger write: the record as the write leaves it, and the events
/// that took it there, oldest first, each with the status it left the record in (the last
/// one's is `record.status`). The events take the versions up to `record.version`, one each.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordWrite {
    pub record: StoredRecord,
    pub events: Vec<(Status, NewEvent)>,
    /// Filed with the record's first version only (empty on later writes).
    pub filing: Filing,
}

impl RecordWrite {
    /// The version the stored record must be at for this write to land (0: absent).
    pub fn expected_version(&self) -> u64 {
        self.record.version.saturating_sub(self.events.len() as u64)
    }

    /// The versions the events take, with the events.
    pub fn versioned_events(&self) -> impl Iterator<Item = (u64, &Status, &NewEvent)> {
        let first = self.expected_version() + 1;
        (first..).zip(&self.events).map(|(v, (s, e))| (v, s, e))
    }
}

/// The append-only ledger of records (grants, access requests) and their events. Shaped for
/// a key-value store with conditional writes (DynamoDB): one item per record, one per event,
/// no joins. It stores `StoredRecord`s and never reads their bodies.
#[async_trait]
pub trait Ledger: Send + Sync {
    /// Stores every record in `writes` with its events and filing, all or nothing, if each
    /// stored record is at its write's `expected_version` (absent for 0) and no request key is
    /// taken. Otherwise nothing is written and the answer is `Conflict` (or `KeyTaken`). A
    /// saga step and its neighbours ride in one write this way.
    async fn write(&self, writes: &[RecordWrite]) -> Result<Vec<Event>, LedgerError>;
    /// Stores `record` and appends `event` for it: a `write` of one record and one event.
    async fn append(&self, record: &StoredRecord, event: NewEvent) -> Result<Event, LedgerError> {
        let write = RecordWrite {
            record: record.clone(),
            events: vec![(record.status, event)],
            filing: Filing::default(),
        };
        let mut events = self.write(std::slice::from_ref(&write)).await?;
        events.pop().ok_or_else(|| {
            LedgerError::Storage(format!("the write for {} stored no event", record.id).into())
        })
    }
    async fn get(&self, id: &TransactionId) -> Result<Option<StoredRecord>, LedgerError>;
    /// How many records are in `status` (for metrics).
    async fn count(&self, status: Status) -> Result<u64, LedgerError>;
    /// Provisioned grants whose expiry is at or before `now`, oldest expiry first.
    async fn expired(
        &self,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, LedgerError>;
    /// Records in `status` last changed at or before `before`, oldest first.
    async fn stale(
        &self,
        status: Status,
        before: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<StoredRecord>, LedgerError>;
    async fn events(&self, id: &TransactionId) -> Result<Vec<Event>, LedgerError>;
    /// Records that the token `jti` has been used, until `expires_at`. True on its first use,
    /// false if it was used before (a replay). Forgets tokens that expired before `now`.
    async fn use_token(
        &self,
        jti: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, LedgerError>;
    /// The records filed under `run` (a pipeline job, a person) by their first write, oldest
    /// first.
    async fn by_run(&self, run: &str) -> Result<Vec<StoredRecord>, LedgerError>;
    /// Checks the whole hash chain and reports the first break.
    async fn verify(&self) -> Result<ChainReport, LedgerError>;
}
