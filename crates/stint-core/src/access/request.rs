//! An access request and its state machine. Every change is a new version, appended with
//! an event like a grant's; the request is answered once (approved, denied, withdrawn or
//! expired), and an approval names the grant it produced.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::grant::Target;
use crate::ids::{Email, TransactionId};
use crate::record::{Body, RequestState, StoredRecord, Versioned, advanced};
use crate::time_fmt::serde_rfc3339;

/// The schema of a stored request body.
pub const SCHEMA: u64 = 1;

/// What is asked for, fixed when the request is made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestTerms {
    /// The person asking, as the directory knows them.
    pub requester: Email,
    pub target: Target,
    /// How long the access should last once granted.
    pub duration_seconds: u64,
    /// The requester's justification.
    pub reason: String,
    /// A ticket reference, where the persona asks for one.
    #[serde(default)]
    pub ticket: Option<String>,
    /// Self-activated without approval (break-glass): to be reviewed after the fact.
    #[serde(default)]
    pub break_glass: bool,
}

/// One approver's yes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub approver: String,
    /// The approver's identity store user id: one person counts once, whatever email.
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(with = "serde_rfc3339")]
    pub at: OffsetDateTime,
    /// What the approver said, for the requester and the audit trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessRequest {
    pub id: TransactionId,
    pub state: RequestState,
    pub version: u64,
    pub terms: RequestTerms,
    #[serde(default)]
    pub approvals: Vec<Approval>,
    /// The grant an approval produced.
    #[serde(default)]
    pub grant: Option<TransactionId>,
    #[serde(with = "serde_rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "serde_rfc3339")]
    pub updated_at: OffsetDateTime,
    /// An unanswered request expires at this time.
    #[serde(with = "serde_rfc3339")]
    pub answer_by: OffsetDateTime,
}

/// A move the request's state machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("request {id} cannot go from {from} to {to}")]
pub struct IllegalRequestMove {
    pub id: TransactionId,
    pub from: RequestState,
    pub to: RequestState,
}

#[derive(Debug, thiserror::Error)]
pub enum StoredRequestError {
    #[error("stored record {id} is a {kind}, not an access request")]
    NotARequest { id: String, kind: &'static str },
    #[error("stored request {id} is unreadable: {message}")]
    Unreadable { id: String, message: String },
}

impl AccessRequest {
    /// A new request, open until `answer_by`.
    pub fn new(
        id: TransactionId,
        terms: RequestTerms,
        at: OffsetDateTime,
        answer_by: OffsetDateTime,
    ) -> Self {
        Self {
            id,
            state: RequestState::Requested,
            version: 1,
            terms,
            approvals: Vec::new(),
            grant: None,
            created_at: at,
            updated_at: at,
            answer_by,
        }
    }

    /// The next version of this request in state `to`, stamped at `at`.
    pub fn advance(
        &self,
        to: RequestState,
        at: OffsetDateTime,
    ) -> Result<AccessRequest, IllegalRequestMove> {
        advanced(self, to, at).ok_or_else(|| IllegalRequestMove {
            id: self.id.clone(),
            from: self.state,
            to,
        })
    }

    /// Whether `approver` has approved already (each approver counts once).
    pub fn approved_by(&self, approver: &str) -> bool {
        self.approvals.iter().any(|a| a.approver == approver)
    }

    /// The stored form: kind `request`, the request state, and a versioned body.
    pub fn encode(&self) -> StoredRecord {
        StoredRecord {
            id: self.id.clone(),
            kind: "request",
            status: self.state.into(),
            version: self.version,
            expires_at: (self.state == RequestState::Requested).then_some(self.answer_by),
            updated_at: self.updated_at,
            body: Body::json(SCHEMA, self),
        }
    }

    pub fn decode(record: &StoredRecord) -> Result<Self, StoredRequestError> {
        if record.kind != "request" {
            return Err(StoredRequestError::NotARequest {
                id: record.id.to_string(),
                kind: record.kind,
            });
        }
        Body::<AccessRequest>::read(&record.body).map_err(|message| {
            StoredRequestError::Unreadable {
                id: record.id.to_string(),
                message,
            }
        })
    }
}

impl Versioned for AccessRequest {
    type State = RequestState;
    fn state(&self) -> RequestState {
        self.state
    }
    fn allows(from: RequestState, to: RequestState) -> bool {
        from.allows(to)
    }
    fn stamp(&mut self, to: RequestState, at: OffsetDateTime) {
        (self.state, self.version, self.updated_at) = (to, self.version + 1, at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AccountId, AccountName, GroupType};
    use time::macros::datetime;

    fn request() -> AccessRequest {
        let at = datetime!(2026-12-01 09:00:00 UTC);
        let terms = RequestTerms {
            requester: Email::parse("alice@example.com").unwrap(),
            target: Target {
                account_id: AccountId::parse("333333333333").unwrap(),
                account_name: AccountName::parse("prod").unwrap(),
                persona: GroupType::parse("Product-Deployers").unwrap(),
            },
            duration_seconds: 7200,
            reason: "INC-42: restart the payments service".into(),
            ticket: Some("INC-42".into()),
            break_glass: false,
        };
        AccessRequest::new(
            TransactionId::new_at(1_764_579_600, 0),
            terms,
            at,
            at + time::Duration::hours(1),
        )
    }

    #[test]
    fn a_request_is_answered_once() {
        let asked = request();
        let at = asked.created_at + time::Duration::minutes(5);
        let approved = asked.advance(RequestState::Approved, at).unwrap();
        assert_eq!((approved.version, approved.updated_at), (2, at));
        for to in RequestState::ALL {
            assert!(approved.advance(to, at).is_err(), "approved -> {to}");
        }
        // A partial approval stays requested and bumps the version.
        let partial = asked.advance(RequestState::Requested, at).unwrap();
        assert_eq!(partial.version, 2);
    }

    #[test]
    fn the_stored_form_round_trips_and_is_not_a_grant() {
        let mut asked = request();
        asked.approvals.push(Approval {
            approver: "bob@example.com".into(),
            user_id: Some("u-bob".into()),
            at: asked.created_at,
            comment: Some("looks right".into()),
        });
        let stored = asked.encode();
        assert_eq!(stored.kind, "request");
        assert_eq!(stored.status.as_str(), "requested");
        assert_eq!(stored.expires_at, Some(asked.answer_by));
        assert!(stored.body.starts_with("{\"schema\":1,"));
        assert_eq!(AccessRequest::decode(&stored).unwrap(), asked);
        assert!(asked.approved_by("bob@example.com"));
        assert!(crate::grant::stored::decode(&stored).is_err());
        let answered = asked
            .advance(RequestState::Denied, asked.created_at)
            .unwrap();
        assert_eq!(answered.encode().expires_at, None);
    }
}
