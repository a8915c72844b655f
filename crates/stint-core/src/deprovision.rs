//! Deprovisioning: match the request against its transaction, claim the grant with a
//! conditional write (so two callers cannot both deprovision it), delete the role, and write a
//! linked deprovisioning record that preserves the original's data.

use serde_json::json;

use crate::broker::{Actor, Broker, ledger_error, unknown_transaction};
use crate::caller::Caller;
use crate::error::{BrokerError, ErrorCode};
use crate::ids::TransactionId;
use crate::ports::RoleDeletion;
use crate::provision::{aws_error, illegal};
use crate::request::{DeprovisionInput, DeprovisionRequest};
use crate::transaction::{Action, Failure, Kind, State, Transaction};

/// Why and how a grant ends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ending<'a> {
    pub why: &'a str,
    pub action: Action,
    /// Cut off sessions already issued before deleting the role (an early revoke).
    pub revoke_sessions: bool,
}

impl Ending<'_> {
    pub const REQUESTED: Ending<'static> = Ending {
        why: "deprovisioning requested",
        action: Action::DeprovisionStarted,
        revoke_sessions: false,
    };
}

/// The articles' deprovisioning outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deprovisioned {
    pub deprovisioning_transaction_id: TransactionId,
    pub original_transaction_id: TransactionId,
    /// True when an earlier request had already deprovisioned this grant.
    pub already_deprovisioned: bool,
}

impl Broker {
    pub async fn deprovision(
        &self,
        input: &DeprovisionInput,
        caller: &Caller,
    ) -> Result<Deprovisioned, BrokerError> {
        let request = DeprovisionRequest::parse(input)?;
        let actor = &caller.actor();
        let original = self
            .ledger
            .get(&request.transaction_id)
            .await
            .map_err(ledger_error)?
            .ok_or_else(|| unknown_transaction(&request.transaction_id))?;
        check_matches(&request, &original)?;
        caller.check_owner(&original)?;
        self.end_in_any_state(original, actor, Ending::REQUESTED)
            .await
    }

    /// Ends the grant if it is live; says so if it already ended; refuses otherwise.
    pub(crate) async fn end_in_any_state(
        &self,
        original: Transaction,
        actor: &Actor,
        ending: Ending<'_>,
    ) -> Result<Deprovisioned, BrokerError> {
        match original.state {
            State::Provisioned => self.end_grant(original, actor, ending).await,
            State::Deprovisioned => Ok(Deprovisioned {
                deprovisioning_transaction_id: original
                    .deprovisioning_transaction_id
                    .clone()
                    .unwrap_or_else(|| original.id.clone()),
                original_transaction_id: original.id,
                already_deprovisioned: true,
            }),
            State::Processing | State::Deprovisioning => Err(BrokerError::new(
                ErrorCode::InProgress,
                format!(
                    "transaction {} is {}; try again when it settles",
                    original.id, original.state
                ),
            )),
            State::Rejected | State::Failed => Err(BrokerError::new(
                ErrorCode::NotProvisioned,
                format!(
                    "transaction {} ended {}; it holds no role",
                    original.id, original.state
                ),
            )),
        }
    }

    /// Claims a provisioned grant (`provisioned → deprovisioning`): if another caller got there,
    /// the conditional write conflicts and nothing else happens. When two claims collide and
    /// neither lands (a store that cancels both), it tries again from what is stored.
    async fn claim(
        &self,
        mut original: Transaction,
        actor: &Actor,
        ending: &Ending<'_>,
        record_id: &TransactionId,
    ) -> Result<(Transaction, Transaction), BrokerError> {
        let mut attempts = 0;
        loop {
            let mut claimed = original
                .advance(State::Deprovisioning, self.clock.now())
                .map_err(illegal)?;
            claimed.deprovisioning_transaction_id = Some(record_id.clone());
            let data = json!({ "deprovisioning_transaction_id": record_id });
            let Err(error) = self
                .record(&claimed, self.event(actor, ending.action, ending.why, data))
                .await
            else {
                return Ok((original, claimed));
            };
            match self.ledger.get(&original.id).await {
                Ok(Some(current)) if current.state != State::Provisioned => {
                    return Err(BrokerError::new(
                        ErrorCode::InProgress,
                        format!("transaction {} is already being deprovisioned", original.id),
                    ));
                }
                Ok(Some(current)) if attempts < 3 => {
                    attempts += 1;
                    original = current;
                }
                _ => return Err(error),
            }
        }
    }

    /// Ends a provisioned grant: claim it, write the linked record, optionally cut off its
    /// sessions, delete the role, and mark both ended.
    pub(crate) async fn end_grant(
        &self,
        original: Transaction,
        actor: &Actor,
        ending: Ending<'_>,
    ) -> Result<Deprovisioned, BrokerError> {
        let now = self.clock.now();
        let record_id = self.new_transaction_id();
        let (original, claimed) = self.claim(original, actor, &ending, &record_id).await?;
        let record = original.deprovisioning_record(record_id.clone(), now);
        let reason = format!("deprovisioning {} for {}", original.id, original.requester);
        self.record(
            &record,
            self.event(
                actor,
                Action::Requested,
                reason,
                json!({ "original_transaction_id": original.id }),
            ),
        )
        .await?;

        let claimed = if ending.revoke_sessions {
            self.revoke_sessions(claimed, actor).await?
        } else {
            claimed
        };
        let deleted = match self
            .roles
            .delete_role(&original.account_id, &original.role_name)
            .await
        {
            Ok(deletion) => Ok(deletion),
            // A failed delete may have landed anyway (a timeout, a lost answer): look first.
            Err(port) => match self
                .roles
                .role_exists(&original.account_id, &original.role_name)
                .await
            {
                Ok(false) => Ok(RoleDeletion::Deleted),
                Ok(true) => Err(port),
                // Unknown: leave the grant `deprovisioning`; the reaper finishes it.
                Err(_) => return Err(aws_error(port).in_transaction(&record_id)),
            },
        };
        match deleted {
            Ok(deletion) => {
                let gone = deletion == RoleDeletion::AlreadyGone;
                let reason = if gone {
                    "role was already gone"
                } else {
                    "role deleted"
                };
                let data = json!({ "role_arn": original.role_arn, "already_gone": gone });
                let done = record
                    .advance(State::Deprovisioned, self.clock.now())
                    .map_err(illegal)?;
                self.record(
                    &done,
                    self.event(actor, Action::Deprovisioned, reason, data.clone()),
                )
                .await?;
                let ended = claimed
                    .advance(State::Deprovisioned, self.clock.now())
                    .map_err(illegal)?;
                self.record(
                    &ended,
                    self.event(actor, Action::Deprovisioned, reason, data),
                )
                .await?;
                Ok(Deprovisioned {
                    deprovisioning_transaction_id: record_id,
                    original_transaction_id: original.id,
                    already_deprovisioned: false,
                })
            }
            Err(port) => {
                let error = aws_error(port).in_transaction(&record_id);
                let failure = Failure {
                    code: error.code.as_str().to_owned(),
                    message: error.message.clone(),
                };
                let mut failed = record
                    .advance(State::Failed, self.clock.now())
                    .map_err(illegal)?;
                failed.failure = Some(failure);
                self.record(
                    &failed,
                    self.event(actor, Action::Failed, error.message.clone(), json!({})),
                )
                .await?;
                // Hand the grant back: it is still provisioned, and can be deprovisioned again.
                let mut back = claimed
                    .advance(State::Provisioned, self.clock.now())
                    .map_err(illegal)?;
                back.deprovisioning_transaction_id = None;
                self.record(
                    &back,
                    self.event(
                        actor,
                        Action::DeprovisionFailed,
                        error.message.clone(),
                        json!({ "deprovisioning_transaction_id": record_id }),
                    ),
                )
                .await?;
                Err(error)
            }
        }
    }
}

fn check_matches(request: &DeprovisionRequest, original: &Transaction) -> Result<(), BrokerError> {
    if original.kind != Kind::Provision {
        return Err(BrokerError::new(
            ErrorCode::NotAProvisioning,
            format!(
                "transaction {} is a deprovisioning record; pass the provisioning transaction id",
                original.id
            ),
        ));
    }
    if !request.names_account(&original.account_name, &original.account_id) {
        return Err(BrokerError::new(
            ErrorCode::AccountMismatch,
            format!(
                "transaction {} is for account {} ({}), not {}",
                original.id, original.account_name, original.account_id, request.target_aws_account
            ),
        ));
    }
    if let Some(role_arn) = &original.role_arn {
        if *role_arn != request.role_arn.to_string() {
            return Err(BrokerError::new(
                ErrorCode::RoleMismatch,
                format!(
                    "transaction {} holds role {role_arn}, not {}",
                    original.id, request.role_arn
                ),
            ));
        }
    } else if request.role_arn.name != original.role_name {
        return Err(BrokerError::new(
            ErrorCode::RoleMismatch,
            format!(
                "transaction {} holds role {}, not {}",
                original.id, original.role_name, request.role_arn
            ),
        ));
    }
    Ok(())
}
