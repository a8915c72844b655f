//! People's access requests: what a person sends to ask (`POST /v1/requests`) or to deny, and
//! how a request and the grant it started are shown. Times are RFC 3339 strings; states the
//! broker's snake_case names.

use serde::{Deserialize, Serialize};

use crate::EventView;

/// `POST /v1/requests`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessRequestInput {
    /// An account name or id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persona: Option<String>,
    /// `2h`, `90m`, `1h30m`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// Break-glass: self-activated at once without approval, where the persona allows it;
    /// every channel is told and the request is flagged for review.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub break_glass: Option<bool>,
}

/// `POST /v1/requests/{id}/deny`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenyInput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /v1/requests/{id}/approve`: the body may be absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveInput {
    /// For the requester and the audit trail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// One approver's yes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalView {
    pub approver: String,
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// A request for access as the ledger holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRequestView {
    pub id: String,
    /// `requested`, `approved`, `denied`, `withdrawn` or `expired`.
    pub state: String,
    pub requester: String,
    pub account_id: String,
    pub account_name: String,
    pub persona: String,
    pub duration_seconds: u64,
    pub reason: String,
    pub ticket: Option<String>,
    /// Self-activated without approval, to be reviewed after the fact.
    #[serde(default)]
    pub break_glass: bool,
    pub approvals: Vec<ApprovalView>,
    /// The grant an approval started.
    pub grant: Option<String>,
    pub created_at: String,
    /// An unanswered request expires then.
    pub answer_by: String,
}

/// A person's grant: an Identity Center assignment of a permission set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonGrantView {
    pub transaction_id: String,
    pub state: String,
    pub account_id: String,
    #[serde(default)]
    pub account_name: String,
    #[serde(default)]
    pub persona: String,
    /// The access request it was granted for.
    #[serde(default)]
    pub request_id: Option<String>,
    pub permission_set: String,
    pub expires_at: Option<String>,
    /// `created` (stint made the assignment), `shared` (another live grant of the person held
    /// it) or `standing` (Identity Center had it before stint; it stays).
    pub held: Option<String>,
    /// For a persona activated by group membership: the group the person is a member of
    /// for the grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_group: Option<String>,
}

/// The answer to asking, approving, denying and withdrawing, and to `GET /v1/requests/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessRequestResponse {
    pub request: AccessRequestView,
    pub grant: Option<PersonGrantView>,
    /// The request's audit trail, oldest first (`GET /v1/requests/{id}` only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventView>,
}

/// `GET /v1/requests`: the caller's own requests, and the open ones they may approve now;
/// newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRequestList {
    pub mine: Vec<AccessRequestView>,
    pub to_approve: Vec<AccessRequestView>,
}

/// `GET /v1/grants`: the caller's own grants, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantList {
    pub grants: Vec<PersonGrantView>,
}

/// `GET /v1/eligibility`: what the caller may ask for now, and where their CLI signs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Eligibility {
    /// The AWS access portal (`sso_start_url`), when the broker's catalog names it.
    pub portal_url: Option<String>,
    /// Identity Center's region (`sso_region`).
    pub sso_region: Option<String>,
    pub eligible: Vec<EligibleView>,
}

/// One account and persona the caller may ask for, with the rules there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EligibleView {
    pub account_id: String,
    pub account_name: String,
    /// `prod` or `nonprod`.
    pub environment: String,
    pub persona: String,
    /// The Identity Center permission set a grant assigns (the profile's `sso_role_name`).
    pub permission_set: String,
    pub max_duration_seconds: u64,
    pub approvals: u32,
    /// The longest break-glass grant, where allowed.
    pub break_glass_seconds: Option<u64>,
}
