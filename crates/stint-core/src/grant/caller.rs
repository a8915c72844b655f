//! Who is calling, and what they may do to an existing grant. A pipeline proves itself with
//! a verified GitHub Actions OIDC token (checked at the edge); an operator is trusted on the
//! broker's own machine. A pipeline may read and end only what its own repository asked
//! for, and that is checked before anything else about the grant is compared or revealed.

use crate::error::{BrokerError, ErrorCode};
use crate::subject::{Actor, PersonClaims, PipelineClaims};

use super::model::Grant;

/// The caller of a broker operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// An operator on the broker's own machine (the CLI, or the API before authentication is
    /// configured): trusted to name the requester.
    Operator(Actor),
    /// A pipeline with a verified token.
    Pipeline(Box<PipelineClaims>),
    /// A person with a verified ID token from the organisation's identity provider.
    Person(Box<PersonClaims>),
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
            Self::Person(person) => Actor(format!("person:{}", person.email)),
        }
    }

    pub fn claims(&self) -> Option<&PipelineClaims> {
        match self {
            Self::Pipeline(claims) => Some(claims),
            Self::Operator(_) | Self::Person(_) => None,
        }
    }

    pub fn person(&self) -> Option<&PersonClaims> {
        match self {
            Self::Person(person) => Some(person),
            Self::Operator(_) | Self::Pipeline(_) => None,
        }
    }

    /// A pipeline may read and end only what its own repository asked for; a person only their own
    /// grants; operators, anything.
    pub fn check_owner(&self, grant: &Grant) -> Result<(), BrokerError> {
        if let Some(person) = self.person() {
            return self.check_person(person, grant);
        }
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

    fn check_person(&self, person: &PersonClaims, grant: &Grant) -> Result<(), BrokerError> {
        if grant.terms.subject.requester == person.email {
            return Ok(());
        }
        Err(BrokerError::new(
            ErrorCode::NotOwner,
            format!("transaction {} is not {}'s", grant.id, person.email),
        ))
    }
}
