//! Notices: what people are told (a request waits for approvers, it was approved or denied, a
//! grant started or ended), kept in the ledger's outbox. A notice is written in the same
//! ledger write as the change it tells of, so it is never lost and never sent for a change
//! that did not happen; the outbox delivers it later (`outbox.rs`), so a slow or broken chat
//! channel never blocks or fails the request itself.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::TransactionId;
use crate::record::{Body, NoticeState, StoredRecord, Versioned};
use crate::time_fmt::serde_rfc3339;

/// The schema of a stored notice body.
pub const SCHEMA: u64 = 1;

/// What a notice tells of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// A request waits for approvers (sent to them).
    RequestCreated,
    RequestApproved,
    RequestDenied,
    /// Nobody answered in time.
    RequestExpired,
    /// The grant is live: the access exists in AWS.
    GrantStarted,
    /// The grant ended (expiry or revoke): the access is gone.
    GrantEnded,
    /// Someone self-activated access without approval: to everyone, for review.
    BreakGlassUsed,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RequestCreated => "request_created",
            Self::RequestApproved => "request_approved",
            Self::RequestDenied => "request_denied",
            Self::RequestExpired => "request_expired",
            Self::GrantStarted => "grant_started",
            Self::GrantEnded => "grant_ended",
            Self::BreakGlassUsed => "break_glass_used",
        }
    }
}

/// What a notice is about, as people read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeAbout {
    /// Who asked (their email).
    pub requester: String,
    pub account_id: String,
    pub account_name: String,
    pub persona: String,
    pub request_id: Option<TransactionId>,
    pub grant_id: Option<TransactionId>,
    /// Who is asked to act (approver groups), for a request waiting for approval.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approver_groups: Vec<String>,
}

/// One notice in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub id: TransactionId,
    pub state: NoticeState,
    pub version: u64,
    pub kind: NoticeKind,
    /// One sentence saying what happened.
    pub text: String,
    pub about: NoticeAbout,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// Not tried again before this.
    #[serde(with = "serde_rfc3339")]
    pub next_attempt_at: OffsetDateTime,
    pub last_error: Option<String>,
    #[serde(with = "serde_rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "serde_rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, thiserror::Error)]
#[error("record {id} is not a readable notice: {message}")]
pub struct UnreadableNotice {
    pub id: String,
    pub message: String,
}

impl Notice {
    /// A new notice, queued at `at`, at version 1 (written with its first event).
    pub fn new(
        id: TransactionId,
        kind: NoticeKind,
        text: impl Into<String>,
        about: NoticeAbout,
        at: OffsetDateTime,
    ) -> Self {
        Self {
            id,
            state: NoticeState::Queued,
            version: 1,
            kind,
            text: text.into(),
            about,
            attempts: 0,
            next_attempt_at: at,
            last_error: None,
            created_at: at,
            updated_at: at,
        }
    }

    pub fn encode(&self) -> StoredRecord {
        StoredRecord {
            id: self.id.clone(),
            kind: "notice",
            status: self.state.into(),
            version: self.version,
            expires_at: None,
            updated_at: self.updated_at,
            body: Body::json(SCHEMA, self),
        }
    }

    pub fn decode(record: &StoredRecord) -> Result<Self, UnreadableNotice> {
        let unreadable = |message: String| UnreadableNotice {
            id: record.id.to_string(),
            message,
        };
        if record.kind != "notice" {
            return Err(unreadable(format!("a {} is not a notice", record.kind)));
        }
        Body::<Notice>::read(&record.body).map_err(unreadable)
    }
}

impl Versioned for Notice {
    type State = NoticeState;
    fn state(&self) -> NoticeState {
        self.state
    }
    /// A queued notice is delivered, given up on, or stays queued for another attempt.
    fn allows(from: NoticeState, _: NoticeState) -> bool {
        from == NoticeState::Queued
    }
    fn stamp(&mut self, to: NoticeState, at: OffsetDateTime) {
        (self.state, self.version, self.updated_at) = (to, self.version + 1, at);
    }
}
