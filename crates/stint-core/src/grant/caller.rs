//! Who is calling, and what they may do to an existing grant. A pipeline proves itself with
//! a verified GitHub Actions OIDC token (checked at the edge); an operator is trusted on the
//! broker's own machine. A pipeline may read and end only what its own repository asked
//! for, and that is checked before anything else about the grant is compared or revealed.

use crate::error::{BrokerError, ErrorCode};
use crate::subject::{Actor, PipelineClaims};

use super::model::Grant;

/// The caller of a broker operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// An operator on the broker's own machine (the CLI, or the API before authentication is
    /// configured): trusted to name the requester.
    Operator(Actor),
    /// A pipeline with a verified token.
    Pipeline(Box<PipelineClaims>),
}

impl Caller {
    pub fn operator(name: &str) -> Self {
        Self::Operator(Actor(name.to_owned()))
    }

    /// The actor recorded on events.
    pub fn actor(&self) -> Actor {
        match self {
            Self::Operator(actor) => actor.clone(),
            Self::Pipeline(claims) => Actor(format!(
                "github:{}#{}@{}#{}",
                claims.actor, claims.actor_id, claims.repository, claims.repository_id
            )),
        }
    }

    pub fn claims(&self) -> Option<&PipelineClaims> {
        match self {
            Self::Operator(_) => None,
            Self::Pipeline(claims) => Some(claims),
        }
    }

    /// A pipeline may read and end only what its own repository asked for; operators, anything.
    pub fn check_owner(&self, grant: &Grant) -> Result<(), BrokerError> {
        let Some(claims) = self.claims() else {
            return Ok(());
        };
        let owner = grant
            .terms
            .subject
            .pipeline()
            .map(|c| c.repository_id.as_str());
        if owner == Some(claims.repository_id.as_str()) {
            return Ok(());
        }
        Err(BrokerError::new(
            ErrorCode::NotOwner,
            format!(
                "transaction {} was not requested by repository {}",
                grant.id, claims.repository
            ),
        ))
    }
}
