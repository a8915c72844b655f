//! Who a grant is for and who acts on it: the subject (a requester and where the request
//! came from: an operator, a verified pipeline, or a signed-in person), the verified pipeline
//! claims stint decides on and records, and the actor named on ledger events.

use serde::{Deserialize, Serialize};

use crate::ids::Email;

/// The claims of a verified GitHub Actions OIDC token that stint decides on and records.
/// GitHub sends ids as strings; they are compared as such.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineClaims {
    pub sub: String,
    pub actor: String,
    pub actor_id: String,
    pub repository: String,
    pub repository_id: String,
    pub repository_owner: String,
    pub repository_owner_id: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    #[serde(default)]
    pub ref_protected: Option<String>,
    pub sha: String,
    pub event_name: String,
    #[serde(default)]
    pub environment: Option<String>,
    pub workflow: String,
    pub job_workflow_ref: String,
    pub run_id: String,
    pub run_attempt: String,
}

/// A person, as their verified ID token from the organisation's identity provider says: who
/// (the catalog's user claim, their email in the identity store) and how they signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonClaims {
    pub email: Email,
    /// The identity provider's `sub`.
    pub subject: String,
    /// How they signed in (`amr`: e.g. `pwd`, `mfa`, `hwk`).
    #[serde(default)]
    pub amr: Vec<String>,
    #[serde(default)]
    pub acr: Option<String>,
    /// When they signed in (`auth_time`), which a fresh-sign-in rule reads.
    #[serde(default, with = "crate::time_fmt::serde_rfc3339::option")]
    pub auth_time: Option<time::OffsetDateTime>,
}

/// Where a request for a grant came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Origin {
    /// An operator on the broker's machine (the CLI, or the API before authentication is
    /// configured), trusted to name the requester; also the reaper's own records.
    Operator,
    /// A pipeline with a verified token; the claims are kept for ownership and audit.
    Pipeline { claims: Box<PipelineClaims> },
    /// A person signed in through the organisation's identity provider.
    Person,
}

/// Who a grant is for, and how they asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// The directory user the grant is for (the SourceIdentity of its sessions).
    pub requester: Email,
    pub origin: Origin,
}

impl Subject {
    /// The verified pipeline that asked, when a pipeline asked.
    pub fn pipeline(&self) -> Option<&PipelineClaims> {
        match &self.origin {
            Origin::Pipeline { claims } => Some(claims),
            Origin::Operator | Origin::Person => None,
        }
    }
}

/// Who acted: recorded as the actor of the events an operation causes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(pub String);
