//! The grant: access one subject holds to one persona in one account, by one mechanism, for
//! a time, and the records that end it. Both flows (pipelines now, people next) produce
//! grants; the reaper and revoke end them through their mechanism without knowing which flow
//! made them. Every change is a new version; the ledger accepts only version N+1 over N.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{AccountId, AccountName, Branch, GroupType, RoleName, TransactionId};
use crate::notice::NoticeAbout;
use crate::ports::{Assignment, GroupMembership, RoleContents};
use crate::record::{State, Versioned, advanced};
use crate::subject::{Origin, Subject};
use crate::time_fmt::serde_rfc3339;

use super::INLINE_POLICY_NAME;
use super::assignment::Held;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A grant of access.
    Provision,
    /// The record of ending a grant, linked to it.
    Deprovision,
    /// A role found under stint's path with no live transaction, and removed.
    Orphan,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provision => "provision",
            Self::Deprovision => "deprovision",
            Self::Orphan => "orphan",
        }
    }
}

/// Where the access is: an account and the persona (group type) held in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub account_id: AccountId,
    pub account_name: AccountName,
    pub persona: GroupType,
}

/// How AWS carries the access. The mechanism decides how the grant is ended and who
/// enforces its expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Mechanism {
    /// A temporary IAM role in the target account, whose trust and inline policies carry the
    /// expiry (AWS enforces it). The name derives from the transaction id, so it is known
    /// before the role exists and a role can always be traced back to its grant.
    Role {
        name: RoleName,
        #[serde(default)]
        arn: Option<String>,
        /// The managed policies stint attaches, so that ending the grant detaches them
        /// without listing (empty on grants recorded before stint kept them: then it lists).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        managed_policies: Vec<String>,
    },
    /// An IAM Identity Center account assignment of a permission set to a person. AWS has no
    /// expiry on an assignment: only stint's reaper ends it. Grants of the same assignment
    /// share it through its holding record (`grant/holding.rs`).
    Assignment {
        permission_set: String,
        permission_set_arn: String,
        /// The identity store's user id.
        user_id: String,
    },
    /// A time-bound membership of an Identity Center group that holds a standing assignment
    /// of the permission set on the account. Only stint's reaper ends it; overlapping grants
    /// share it through its holding, like an assignment.
    Membership {
        permission_set: String,
        permission_set_arn: String,
        group: String,
        group_id: String,
        user_id: String,
    },
}

/// What a grant is: who, where, how, and for how long. Fixed when it is asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terms {
    pub subject: Subject,
    pub target: Target,
    pub mechanism: Mechanism,
    /// The branch a pipeline deploys from, when the request named one.
    #[serde(default)]
    pub branch: Option<Branch>,
    pub ttl_seconds: u64,
}

/// The records a grant is linked to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Links {
    /// On a deprovisioning record: the grant it ends.
    #[serde(default)]
    pub original: Option<TransactionId>,
    /// On a grant: the deprovisioning record that ended (or is ending) it.
    #[serde(default)]
    pub deprovisioning: Option<TransactionId>,
    /// On a grant: the access request it was granted for (people's flow).
    #[serde(default)]
    pub request: Option<TransactionId>,
}

/// Why a grant ended `rejected` or `failed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub code: String,
    pub message: String,
}

/// One grant (or a record ending one): the ledger's projection of its events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    pub id: TransactionId,
    pub kind: Kind,
    pub state: State,
    /// Bumped by every event.
    pub version: u64,
    pub terms: Terms,
    #[serde(with = "serde_rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "serde_rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Set once the access exists.
    #[serde(with = "serde_rfc3339::option", default)]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(default)]
    pub links: Links,
    #[serde(default)]
    pub failure: Option<Failure>,
}

/// A move the state machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("transaction {id} cannot go from {from} to {to}")]
pub struct IllegalTransition {
    pub id: TransactionId,
    pub from: State,
    pub to: State,
}

impl Grant {
    /// What a notice about this grant names.
    pub fn notice_about(&self) -> NoticeAbout {
        NoticeAbout {
            requester: self.terms.subject.requester.to_string(),
            account_id: self.terms.target.account_id.to_string(),
            account_name: self.terms.target.account_name.to_string(),
            persona: self.terms.target.persona.to_string(),
            request_id: self.links.request.clone(),
            grant_id: Some(self.id.clone()),
            approver_groups: Vec::new(),
        }
    }

    /// Whether people are told of this grant's changes (a person's grant).
    pub fn is_persons(&self) -> bool {
        matches!(self.terms.subject.origin, Origin::Person)
    }

    /// The one constructor: version 1 of record `id` in `state`, created at `at`.
    pub fn new(
        id: TransactionId,
        kind: Kind,
        state: State,
        terms: Terms,
        at: OffsetDateTime,
    ) -> Self {
        Self {
            id,
            kind,
            state,
            version: 1,
            terms,
            created_at: at,
            updated_at: at,
            expires_at: None,
            links: Links::default(),
            failure: None,
        }
    }

    /// The next version of this grant in state `to`, stamped at `at`.
    pub fn advance(&self, to: State, at: OffsetDateTime) -> Result<Grant, IllegalTransition> {
        advanced(self, to, at).ok_or_else(|| IllegalTransition {
            id: self.id.clone(),
            from: self.state,
            to,
        })
    }

    /// A deprovisioning record for this grant, with its terms and expiry, linked to it.
    pub fn deprovisioning_record(&self, id: TransactionId, at: OffsetDateTime) -> Grant {
        let mut record = Grant::new(
            id,
            Kind::Deprovision,
            State::Processing,
            self.terms.clone(),
            at,
        );
        record.expires_at = self.expires_at;
        record.links.original = Some(self.id.clone());
        record
    }

    pub fn account_id(&self) -> &AccountId {
        &self.terms.target.account_id
    }

    /// The temporary role's name, for a role grant.
    pub fn role_name(&self) -> Option<&RoleName> {
        match &self.terms.mechanism {
            Mechanism::Role { name, .. } => Some(name),
            Mechanism::Assignment { .. } | Mechanism::Membership { .. } => None,
        }
    }

    /// The temporary role's ARN, once the role exists.
    pub fn role_arn(&self) -> Option<&str> {
        match &self.terms.mechanism {
            Mechanism::Role { arn, .. } => arn.as_deref(),
            Mechanism::Assignment { .. } | Mechanism::Membership { .. } => None,
        }
    }

    /// What stint put on the role, for deleting it without listing first.
    pub fn role_contents(&self, sessions_revoked: bool) -> RoleContents {
        match &self.terms.mechanism {
            Mechanism::Role {
                managed_policies, ..
            } => RoleContents {
                managed_policies: managed_policies.clone(),
                inline_policies: vec![INLINE_POLICY_NAME.to_owned()],
                sessions_revoked,
            },
            Mechanism::Assignment { .. } | Mechanism::Membership { .. } => RoleContents::default(),
        }
    }

    pub fn set_role_arn(&mut self, role_arn: String) {
        if let Mechanism::Role { arn, .. } = &mut self.terms.mechanism {
            *arn = Some(role_arn);
        }
    }

    /// What the grant holds in Identity Center (shared with overlapping grants through its
    /// holding), for a person's grant.
    pub fn held(&self) -> Option<Held> {
        let account = self.account_id().clone();
        match &self.terms.mechanism {
            Mechanism::Assignment {
                permission_set_arn,
                user_id,
                ..
            } => Some(Held::Assignment(Assignment {
                account,
                permission_set_arn: permission_set_arn.clone(),
                user_id: user_id.clone(),
            })),
            Mechanism::Membership {
                permission_set_arn,
                group,
                group_id,
                user_id,
                ..
            } => Some(Held::Membership(GroupMembership {
                group_id: group_id.clone(),
                group: group.clone(),
                user_id: user_id.clone(),
                account,
                permission_set_arn: permission_set_arn.clone(),
            })),
            Mechanism::Role { .. } => None,
        }
    }

    /// The permission set the user reaches on the account through this grant, however it
    /// is carried (the scope of a session cut).
    pub fn assignment(&self) -> Option<Assignment> {
        self.held().map(|held| held.reach())
    }

    /// The role name, or an error for a grant of another mechanism (a role use case handed
    /// an assignment grant: a bug or a tampered record, never a silent no-op).
    pub fn role(&self) -> Result<&RoleName, crate::error::BrokerError> {
        self.role_name().ok_or_else(|| {
            crate::error::BrokerError::new(
                crate::error::ErrorCode::NotAProvisioning,
                format!("transaction {} holds no IAM role", self.id),
            )
        })
    }

    /// Whether this is a grant of access (not a record ending one).
    pub fn is_grant(&self) -> bool {
        self.kind == Kind::Provision
    }
}

impl Versioned for Grant {
    type State = State;
    fn state(&self) -> State {
        self.state
    }
    fn allows(from: State, to: State) -> bool {
        from.allows(to)
    }
    fn stamp(&mut self, to: State, at: OffsetDateTime) {
        (self.state, self.version, self.updated_at) = (to, self.version + 1, at);
    }
}
