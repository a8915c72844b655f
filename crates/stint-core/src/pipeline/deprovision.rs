//! Deprovisioning by the one who asked: the caller's ownership is checked first (a stranger
//! learns nothing about the grant), then the request is matched against the grant (account,
//! role), then `GrantEnder` ends it with a linked record.

use crate::error::{BrokerError, ErrorCode};
use crate::grant::{Caller, Deprovisioned, Ending, Grant, GrantEnder, load_for};

use super::request::{DeprovisionAsk, DeprovisionRequest};

pub async fn deprovision(
    ender: &GrantEnder,
    input: &DeprovisionAsk<'_>,
    caller: &Caller,
) -> Result<Deprovisioned, BrokerError> {
    let request = DeprovisionRequest::parse(input)?;
    let grant = load_for(&ender.journal, &request.transaction_id, caller).await?;
    check_matches(&request, &grant)?;
    ender
        .end_in_any_state(grant, &caller.actor(), Ending::REQUESTED)
        .await
}

fn check_matches(request: &DeprovisionRequest, grant: &Grant) -> Result<(), BrokerError> {
    let target = &grant.terms.target;
    if !grant.is_grant() {
        return Err(BrokerError::new(
            ErrorCode::NotAProvisioning,
            format!(
                "transaction {} is a deprovisioning record; pass the provisioning transaction id",
                grant.id
            ),
        ));
    }
    if !request.names_account(&target.account_name, &target.account_id) {
        return Err(BrokerError::new(
            ErrorCode::AccountMismatch,
            format!(
                "transaction {} is for account {} ({}), not {}",
                grant.id, target.account_name, target.account_id, request.target_aws_account
            ),
        ));
    }
    let held = match grant.role_arn() {
        Some(role_arn) => role_arn == request.role_arn.to_string(),
        None => grant
            .role_name()
            .is_some_and(|name| request.role_arn.name == *name),
    };
    if !held {
        let role = grant
            .role_arn()
            .map(str::to_owned)
            .or_else(|| grant.role_name().map(ToString::to_string))
            .unwrap_or_else(|| "no role".to_owned());
        return Err(BrokerError::new(
            ErrorCode::RoleMismatch,
            format!(
                "transaction {} holds role {role}, not {}",
                grant.id, request.role_arn
            ),
        ));
    }
    Ok(())
}
