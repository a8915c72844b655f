//! A provisioning sent again under a request key that already files a grant (a retry after a
//! lost answer, a broker that died after `provisioned`): the caller gets that grant back, never
//! a second one. A live grant comes back with a fresh session on the same role (credentials
//! are never stored, so they cannot be replayed); one still being made, one refused and one
//! already ended answer what the ledger holds.

use std::time::Duration;

use serde_json::json;

use crate::error::{BrokerError, ErrorCode};
use crate::grant::{Caller, Grant, Step};
use crate::ids::TransactionId;
use crate::record::{Action, State};

use super::provision::{Provision, Provisioned};
use super::request::ProvisionRequest;

/// The grant a request key already files, as the ledger's `KeyTaken` names it.
pub(super) struct Taken {
    pub transaction_id: TransactionId,
    pub fingerprint: String,
}

impl Provision {
    /// Answers `taken` for a request with `fingerprint`, which the caller was authorized for
    /// just now (membership is checked again on every retry).
    pub(super) async fn replay(
        &self,
        taken: Taken,
        fingerprint: &str,
        request: &ProvisionRequest,
        caller: &Caller,
    ) -> Result<Provisioned, BrokerError> {
        let id = &taken.transaction_id;
        if taken.fingerprint != fingerprint {
            return Err(BrokerError::new(
                ErrorCode::IdempotencyKeyReused,
                format!(
                    "this idempotency key already made transaction {id} for a different request; send a new key with a new request"
                ),
            ));
        }
        let grant = self.journal.load(id).await?;
        caller.check_owner(&grant)?;
        let answer = match grant.state {
            State::Provisioned => self.reissue(grant, request, caller).await,
            State::Processing => Err(BrokerError::new(
                ErrorCode::InProgress,
                format!(
                    "transaction {id} for this request is still being provisioned; try again shortly"
                ),
            )),
            State::Rejected | State::Failed => Err(recorded_failure(&grant)),
            State::Deprovisioning | State::Deprovisioned => Err(BrokerError::new(
                ErrorCode::NotProvisioned,
                format!(
                    "transaction {id} made for this request has already ended; a new grant needs a new run attempt or idempotency key"
                ),
            )),
        };
        answer.map_err(|e| e.in_transaction(id))
    }

    /// The live grant again, with a new session on its role for `broker` delivery (recorded,
    /// so the audit trail shows every session stint opened).
    async fn reissue(
        &self,
        grant: Grant,
        request: &ProvisionRequest,
        caller: &Caller,
    ) -> Result<Provisioned, BrokerError> {
        let (Some(role_arn), Some(expires_at)) = (grant.role_arn(), grant.expires_at) else {
            return Err(BrokerError::new(
                ErrorCode::LedgerError,
                format!("transaction {} is provisioned without a role", grant.id),
            ));
        };
        if expires_at <= self.journal.now() {
            return Err(BrokerError::new(
                ErrorCode::NotProvisioned,
                format!("transaction {} made for this request has expired", grant.id),
            ));
        }
        let role_arn = role_arn.to_owned();
        let credentials = self.issue(&grant, request, &role_arn, expires_at).await?;
        if let Some(credentials) = &credentials {
            let data = json!({ "access_key_id": credentials.access_key_id });
            let step = Step::new(
                &caller.actor(),
                Action::CredentialsReissued,
                "a retried provisioning got a new session",
            )
            .data(data);
            self.journal
                .transition(&grant, State::Provisioned, step)
                .await?;
        }
        Ok(Provisioned {
            transaction_id: grant.id.clone(),
            role_arn,
            role_name: grant.role()?.clone(),
            ttl: Duration::from_secs(grant.terms.ttl_seconds),
            expires_at,
            delivery: request.account.delivery,
            credentials,
        })
    }
}

/// The refusal or failure the first attempt ended with, as it answered it.
fn recorded_failure(grant: &Grant) -> BrokerError {
    match &grant.failure {
        Some(failure) => BrokerError::new(
            ErrorCode::parse(&failure.code).unwrap_or(ErrorCode::NotProvisioned),
            failure.message.clone(),
        ),
        None => BrokerError::new(
            ErrorCode::NotProvisioned,
            format!("transaction {} ended {}", grant.id, grant.state),
        ),
    }
}
