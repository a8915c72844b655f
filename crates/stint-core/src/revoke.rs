//! Early revoke: end a grant before its expiry, and cut off the credentials already handed out
//! at once rather than when they expire. The deny on `aws:TokenIssueTime` goes on the role
//! before the role is deleted, so no session outlives the revoke even while IAM propagates.

use std::time::Duration;

use serde_json::json;

use crate::broker::{Actor, Broker, ledger_error, unknown_transaction};
use crate::caller::Caller;
use crate::deprovision::{Deprovisioned, Ending};
use crate::error::{BrokerError, ErrorCode};
use crate::ids::TransactionId;
use crate::provision::illegal;
use crate::time_fmt::iam_time;
use crate::transaction::{Action, Kind, State, Transaction};

impl Broker {
    /// Revokes grant `id` now. Pipelines may revoke only their own repository's grants.
    pub async fn revoke(
        &self,
        id: &TransactionId,
        caller: &Caller,
    ) -> Result<Deprovisioned, BrokerError> {
        let original = self
            .ledger
            .get(id)
            .await
            .map_err(ledger_error)?
            .ok_or_else(|| unknown_transaction(id))?;
        if original.kind != Kind::Provision {
            return Err(BrokerError::new(
                ErrorCode::NotAProvisioning,
                format!("transaction {id} is not a grant; pass the provisioning transaction id"),
            ));
        }
        caller.check_owner(&original)?;
        let ending = Ending {
            why: "early revoke",
            action: Action::DeprovisionStarted,
            revoke_sessions: true,
        };
        self.end_in_any_state(original, &caller.actor(), ending)
            .await
    }

    /// Puts the session-revoking deny on a claimed grant's role and records it. If AWS refuses,
    /// the record says so and deprovisioning goes on: deleting the role ends the sessions too.
    pub(crate) async fn revoke_sessions(
        &self,
        claimed: Transaction,
        actor: &Actor,
    ) -> Result<Transaction, BrokerError> {
        // Whole seconds in the policy: a session issued within this second is cut off too.
        let cutoff = self.clock.now() + Duration::from_secs(1);
        let result = self
            .roles
            .revoke_sessions(&claimed.account_id, &claimed.role_name, cutoff)
            .await;
        let (reason, data) = match &result {
            Ok(()) => (
                format!("sessions issued before {} are denied", iam_time(cutoff)),
                json!({ "issued_before": iam_time(cutoff) }),
            ),
            Err(error) => (
                format!("could not deny existing sessions ({error}); deleting the role ends them"),
                json!({ "error": error.to_string() }),
            ),
        };
        let next = claimed
            .advance(State::Deprovisioning, self.clock.now())
            .map_err(illegal)?;
        self.record(
            &next,
            self.event(actor, Action::SessionsRevoked, reason, data),
        )
        .await?;
        Ok(next)
    }
}
