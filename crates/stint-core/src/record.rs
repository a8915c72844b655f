//! The ledger's vocabulary, shared by every kind of record it holds (grants and access
//! requests): a record's status, the actions events name, events themselves, and the stored
//! form of a record (its indexed head plus a versioned JSON body). Adapters store and query
//! `StoredRecord`s without knowing what is inside the body; the domain encodes and decodes it.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use time::OffsetDateTime;

use crate::ids::TransactionId;
use crate::time_fmt::serde_rfc3339;

/// The state of a grant. A provisioning goes `processing → provisioned → deprovisioning →
/// deprovisioned`, or ends `rejected` (the caller may not have it) or `failed` (something
/// broke; whatever was created has been removed). A deprovisioning record goes `processing →
/// deprovisioned` or `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Processing,
    Provisioned,
    Deprovisioning,
    Deprovisioned,
    Rejected,
    Failed,
}

impl State {
    pub const ALL: [State; 6] = [
        Self::Processing,
        Self::Provisioned,
        Self::Deprovisioning,
        Self::Deprovisioned,
        Self::Rejected,
        Self::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Processing => "processing",
            Self::Provisioned => "provisioned",
            Self::Deprovisioning => "deprovisioning",
            Self::Deprovisioned => "deprovisioned",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Deprovisioned | Self::Rejected | Self::Failed)
    }

    /// The legal moves. Staying in a state is legal, even a terminal one: it records an event
    /// that changes nothing (`role_created`, or an orphaned role found after the end).
    pub fn allows(self, to: State) -> bool {
        use State::*;
        self == to
            || matches!(
                (self, to),
                (Processing, Provisioned | Deprovisioned | Rejected | Failed)
                    | (Provisioned, Deprovisioning)
                    // A failed deprovisioning hands the grant back, still provisioned.
                    | (Deprovisioning, Deprovisioned | Provisioned)
            )
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of an access request: asked for, then approved, denied, withdrawn by the
/// requester, or expired unanswered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    Requested,
    Approved,
    Denied,
    Withdrawn,
    Expired,
}

impl RequestState {
    pub const ALL: [RequestState; 5] = [
        Self::Requested,
        Self::Approved,
        Self::Denied,
        Self::Withdrawn,
        Self::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Withdrawn => "withdrawn",
            Self::Expired => "expired",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Requested)
    }

    /// A request is answered once: approved, denied, withdrawn or expired, never twice.
    /// Staying in `requested` records a partial approval (one of several needed).
    pub fn allows(self, to: RequestState) -> bool {
        matches!((self, to), (Self::Requested, _))
    }
}

impl fmt::Display for RequestState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of an Identity Center assignment's holding: who among stint's grants holds it.
/// `assigning` while the first holder's assignment is being made, `held` while any live grant
/// holds it, `releasing` while the last one's removal runs, `released` when none does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldingState {
    Assigning,
    Held,
    Releasing,
    Released,
}

impl HoldingState {
    pub const ALL: [HoldingState; 4] =
        [Self::Assigning, Self::Held, Self::Releasing, Self::Released];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Assigning => "assigning",
            Self::Held => "held",
            Self::Releasing => "releasing",
            Self::Released => "released",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

impl fmt::Display for HoldingState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of a notice in the outbox: queued until a channel took it, or given up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeState {
    Queued,
    Delivered,
    Undeliverable,
}

impl NoticeState {
    pub const ALL: [NoticeState; 3] = [Self::Queued, Self::Delivered, Self::Undeliverable];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Delivered => "delivered",
            Self::Undeliverable => "undeliverable",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

impl fmt::Display for NoticeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The status of any ledger record. Grant, request, holding and notice state names never
/// overlap, so the stored string alone says which it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Grant(State),
    Request(RequestState),
    Holding(HoldingState),
    Notice(NoticeState),
    /// The estate record `stint catalog apply` keeps (`estate/managed.rs`): one state, `kept`.
    /// A remediation plan's record (`remediation.rs`) is `kept` the same way.
    Estate,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grant(state) => state.as_str(),
            Self::Request(state) => state.as_str(),
            Self::Holding(state) => state.as_str(),
            Self::Notice(state) => state.as_str(),
            Self::Estate => "kept",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        State::parse(value)
            .map(Self::Grant)
            .or_else(|| RequestState::parse(value).map(Self::Request))
            .or_else(|| HoldingState::parse(value).map(Self::Holding))
            .or_else(|| NoticeState::parse(value).map(Self::Notice))
            .or_else(|| (value == "kept").then_some(Self::Estate))
    }

    /// Whether the record is done with (a holding never is: it can be held again).
    pub fn is_terminal(self) -> bool {
        match self {
            Self::Grant(state) => state.is_terminal(),
            Self::Request(state) => state.is_terminal(),
            Self::Holding(_) => false,
            Self::Notice(state) => state != NoticeState::Queued,
            Self::Estate => false,
        }
    }

    /// The grant state, for a grant's record.
    pub fn grant(self) -> Option<State> {
        match self {
            Self::Grant(state) => Some(state),
            Self::Request(_) | Self::Holding(_) | Self::Notice(_) | Self::Estate => None,
        }
    }
}

impl From<State> for Status {
    fn from(state: State) -> Self {
        Self::Grant(state)
    }
}

impl From<HoldingState> for Status {
    fn from(state: HoldingState) -> Self {
        Self::Holding(state)
    }
}

impl From<NoticeState> for Status {
    fn from(state: NoticeState) -> Self {
        Self::Notice(state)
    }
}

impl From<RequestState> for Status {
    fn from(state: RequestState) -> Self {
        Self::Request(state)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Stored and hashed as its plain name (`"provisioned"`), as it always was.
impl Serialize for Status {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Status::parse(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown status {name:?}")))
    }
}

/// What happened, in the ledger's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Requested,
    Authorized,
    Rejected,
    RoleCreated,
    Provisioned,
    Failed,
    DeprovisionStarted,
    Deprovisioned,
    DeprovisionFailed,
    /// The reaper found the grant past its expiry (or a request past its timeout).
    Expired,
    /// The reaper found the transaction stuck mid-way and resolved it.
    Unstuck,
    /// The reaper removed a role with no live transaction.
    OrphanRemoved,
    /// An early revoke: sessions issued before now were cut off.
    SessionsRevoked,
    /// A retried provisioning got a new session on the grant it had already made.
    CredentialsReissued,
    /// A grant joined the holders of an Identity Center assignment (made, or already there).
    Joined,
    /// A grant left the holders of an assignment.
    Left,
    /// Identity Center made the assignment.
    Assigned,
    /// Identity Center removed the assignment.
    Unassigned,
    /// An approver said yes to an access request.
    Approved,
    /// An approver said no to an access request.
    Denied,
    /// The requester took an access request back.
    Withdrawn,
    /// A notice went into the outbox.
    Queued,
    /// A notice reached its channels.
    Notified,
    /// A notice's delivery failed (retried later, or given up on).
    NotifyFailed,
    /// `stint catalog apply` is about to change a resource (recorded before the AWS call).
    EstateChanging,
    /// `stint catalog apply` changed a resource.
    EstateChanged,
    /// `stint scan --apply` is about to make a remediation change (recorded before the AWS
    /// call, with what the change replaces).
    RemediationApplying,
    /// `stint scan --apply` made a remediation change, or it failed, or it waits for its time.
    RemediationApplied,
    RemediationFailed,
    RemediationWaiting,
    /// `stint scan --undo` put back what a remediation change replaced.
    RemediationUndone,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Authorized => "authorized",
            Self::Rejected => "rejected",
            Self::RoleCreated => "role_created",
            Self::Provisioned => "provisioned",
            Self::Failed => "failed",
            Self::DeprovisionStarted => "deprovision_started",
            Self::Deprovisioned => "deprovisioned",
            Self::DeprovisionFailed => "deprovision_failed",
            Self::Expired => "expired",
            Self::Unstuck => "unstuck",
            Self::OrphanRemoved => "orphan_removed",
            Self::SessionsRevoked => "sessions_revoked",
            Self::CredentialsReissued => "credentials_reissued",
            Self::Joined => "joined",
            Self::Left => "left",
            Self::Assigned => "assigned",
            Self::Unassigned => "unassigned",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Withdrawn => "withdrawn",
            Self::Queued => "queued",
            Self::Notified => "notified",
            Self::NotifyFailed => "notify_failed",
            Self::EstateChanging => "estate_changing",
            Self::EstateChanged => "estate_changed",
            Self::RemediationApplying => "remediation_applying",
            Self::RemediationApplied => "remediation_applied",
            Self::RemediationFailed => "remediation_failed",
            Self::RemediationWaiting => "remediation_waiting",
            Self::RemediationUndone => "remediation_undone",
        }
    }
}

/// An event about to be appended: time, actor, what, why, and details.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub at: OffsetDateTime,
    pub actor: String,
    pub action: Action,
    pub reason: String,
    pub data: Value,
}

/// An appended event, with its place in the hash chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the chain, from 1 (ledger-wide in SQLite, per record in DynamoDB).
    pub seq: u64,
    pub transaction_id: TransactionId,
    /// The record's version this event produced.
    pub version: u64,
    #[serde(with = "serde_rfc3339")]
    pub at: OffsetDateTime,
    pub actor: String,
    pub action: Action,
    /// The record's status after this event.
    pub state: Status,
    pub reason: String,
    pub data: Value,
    pub prev_hash: String,
    pub hash: String,
}

/// A record as the ledger stores it: the fields its indexes and conditions need, and the
/// body, a versioned JSON document only the domain reads (`grant::stored`,
/// `access::stored`). The ledger accepts version N+1 only over version N.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    pub id: TransactionId,
    /// `provision`, `deprovision`, `orphan` (grants) or `request`.
    pub kind: &'static str,
    pub status: Status,
    pub version: u64,
    /// When a live grant ends (or an open request times out), for the reaper's queries.
    pub expires_at: Option<OffsetDateTime>,
    pub updated_at: OffsetDateTime,
    pub body: String,
}

/// A record with a state machine and a version: grants and access requests move the same
/// way, one version at a time.
pub trait Versioned: Clone {
    type State: Copy + fmt::Display;
    fn state(&self) -> Self::State;
    fn allows(from: Self::State, to: Self::State) -> bool;
    /// Sets the new state, bumps the version and stamps the time.
    fn stamp(&mut self, to: Self::State, at: OffsetDateTime);
}

/// The next version of `record` in state `to` at `at`, or `None` if the move is illegal.
pub fn advanced<R: Versioned>(record: &R, to: R::State, at: OffsetDateTime) -> Option<R> {
    if !R::allows(record.state(), to) {
        return None;
    }
    let mut next = record.clone();
    next.stamp(to, at);
    Some(next)
}

/// A stored body: the schema number that wrote it, then the record's own fields.
#[derive(Serialize, Deserialize)]
pub struct Body<T> {
    pub schema: u64,
    #[serde(flatten)]
    pub record: T,
}

impl<T: Serialize> Body<&T> {
    /// `record`'s stored body under `schema`, as JSON. Strings, numbers and times:
    /// serializing cannot fail.
    pub fn json(schema: u64, record: &T) -> String {
        serde_json::to_string(&Body { schema, record }).unwrap_or_default()
    }
}

impl<T: serde::de::DeserializeOwned> Body<T> {
    /// The record in a stored body, or why it cannot be read.
    pub fn read(body: &str) -> Result<T, String> {
        serde_json::from_str::<Body<T>>(body)
            .map(|b| b.record)
            .map_err(|e| e.to_string())
    }
}

/// The record kinds a body may hold, by their stored names.
pub const KINDS: [&str; 8] = [
    "provision",
    "deprovision",
    "orphan",
    "request",
    "holding",
    "notice",
    // What `stint catalog apply` manages (`estate/managed.rs`).
    "estate",
    // A `stint scan` remediation plan's changes (`remediation.rs`).
    "remediation",
];

/// The stored kind name `kind` as the `'static` name `StoredRecord` carries.
pub fn kind_name(kind: &str) -> Option<&'static str> {
    KINDS.into_iter().find(|k| *k == kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use State::*;

    #[test]
    fn terminal_states_admit_only_notes() {
        for from in [Deprovisioned, Rejected, Failed] {
            for to in State::ALL {
                assert_eq!(from.allows(to), from == to, "{from} -> {to}");
            }
        }
    }

    #[test]
    fn grants_cannot_skip_deprovisioning_or_come_back() {
        assert!(Processing.allows(Provisioned));
        assert!(Provisioned.allows(Deprovisioning));
        assert!(!Provisioned.allows(Deprovisioned));
        assert!(!Provisioned.allows(Processing));
        assert!(Deprovisioning.allows(Provisioned));
        assert!(!Processing.allows(Deprovisioning));
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn requests_are_answered_once() {
        for to in RequestState::ALL {
            assert!(RequestState::Requested.allows(to));
        }
        for from in RequestState::ALL.into_iter().filter(|s| s.is_terminal()) {
            for to in RequestState::ALL {
                assert!(!from.allows(to), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn statuses_keep_their_plain_names_and_never_overlap() {
        let mut seen = std::collections::HashSet::new();
        let all = State::ALL
            .into_iter()
            .map(Status::from)
            .chain(RequestState::ALL.into_iter().map(Status::from));
        for status in all {
            assert!(seen.insert(status.as_str()), "{status} twice");
            assert_eq!(Status::parse(status.as_str()), Some(status));
            let json = serde_json::to_string(&status).unwrap_or_default();
            assert_eq!(json, format!("\"{status}\""));
        }
    }
}
