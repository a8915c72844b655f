//! Early revoke and reading a grant: the operations on an existing grant that any caller
//! may ask for, subject to ownership. A revoke ends the grant before its expiry and cuts off
//! the credentials already handed out at once: the deny on `aws:TokenIssueTime` goes on the
//! role before the role is deleted, so no session outlives the revoke while IAM propagates.

use crate::error::{BrokerError, ErrorCode};
use crate::ids::TransactionId;
use crate::record::Event;

use super::caller::Caller;
use super::end::{Deprovisioned, Ending, GrantEnder};
use super::journal::Journal;
use super::model::Grant;

/// Loads grant `id` for `caller`: `unknown_transaction` if there is none, `not_owner` if the
/// caller may not see it.
pub async fn load_for(
    journal: &Journal,
    id: &TransactionId,
    caller: &Caller,
) -> Result<Grant, BrokerError> {
    let grant = journal.load(id).await?;
    caller.check_owner(&grant)?;
    Ok(grant)
}

/// A grant and its events, oldest first.
pub async fn read(
    journal: &Journal,
    id: &TransactionId,
    caller: &Caller,
) -> Result<(Grant, Vec<Event>), BrokerError> {
    let grant = load_for(journal, id, caller).await?;
    let events = journal.events(id).await?;
    Ok((grant, events))
}

/// Revokes grant `id` now. Pipelines may revoke only their own repository's grants.
pub async fn revoke(
    ender: &GrantEnder,
    id: &TransactionId,
    caller: &Caller,
) -> Result<Deprovisioned, BrokerError> {
    let grant = load_for(&ender.journal, id, caller).await?;
    if !grant.is_grant() {
        return Err(BrokerError::new(
            ErrorCode::NotAProvisioning,
            format!("transaction {id} is not a grant; pass the provisioning transaction id"),
        ));
    }
    ender
        .end_in_any_state(grant, &caller.actor(), Ending::REVOKED)
        .await
}
