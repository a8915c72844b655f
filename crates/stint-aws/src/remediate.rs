//! Carrying out one change of a remediation plan (`stint_core::lint::Change`) in a member
//! account, and undoing it: each apply answers the state it replaced (a key's status, a trust
//! policy document, an attachment), which the caller journals, and which undo puts back.

use aws_sdk_iam::Client as IamClient;
use aws_sdk_iam::error::SdkError;
use aws_sdk_iam::types::StatusType;
use stint_core::lint::{Action, Change, Previous};
use stint_core::ports::PortError;

use crate::error::port_error;

/// Reads what `change` would replace, before it is made (so the journal holds it first).
/// Deleting a key that is still active is refused: the plan deactivates first.
pub async fn read_previous(iam: &IamClient, change: &Change) -> Result<Previous, PortError> {
    let context = context_of(change);
    match &change.action {
        Action::DeactivateKey { user, key_id } => {
            let status = key_status(iam, user, key_id, &context).await?;
            Ok(Previous::KeyStatus { status })
        }
        Action::DeleteKey { user, key_id, .. } => {
            let status = key_status(iam, user, key_id, &context).await?;
            if status != StatusType::Inactive.as_str() {
                return Err(PortError::new(
                    context,
                    format!(
                        "the key is {status}: deactivate it first and wait out the grace period"
                    ),
                ));
            }
            Ok(Previous::KeyDeleted)
        }
        Action::ReplaceTrust { role, .. } => Ok(Previous::TrustPolicy {
            document: trust_policy(iam, role, &context).await?,
        }),
        Action::DetachRolePolicy { policy_arn, .. } => Ok(Previous::Attached {
            policy_arn: policy_arn.clone(),
        }),
    }
}

/// Makes `change` with `iam` (a client in the change's account).
pub async fn apply(iam: &IamClient, change: &Change) -> Result<(), PortError> {
    let context = context_of(change);
    match &change.action {
        Action::DeactivateKey { user, key_id } => {
            set_key_status(iam, user, key_id, StatusType::Inactive, &context).await
        }
        // Already gone (a run that deleted it and crashed before journaling) is done.
        Action::DeleteKey { user, key_id, .. } => match iam
            .delete_access_key()
            .user_name(user)
            .access_key_id(key_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_no_such_entity_exception() => Ok(()),
            Err(e) => Err(port_error(&context, e)),
        },
        Action::ReplaceTrust { role, document } => {
            update_trust(iam, role, document, &context).await
        }
        Action::DetachRolePolicy { role, policy_arn } => iam
            .detach_role_policy()
            .role_name(role)
            .policy_arn(policy_arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| port_error(&context, e)),
    }
}

fn context_of(change: &Change) -> String {
    format!(
        "{} in {} ({})",
        change.action.describe(),
        change.account,
        change.id
    )
}

/// Puts back what `change` replaced.
pub async fn undo(iam: &IamClient, change: &Change, previous: &Previous) -> Result<(), PortError> {
    let context = format!("undoing {} ({})", change.action.describe(), change.id);
    match (&change.action, previous) {
        (Action::DeactivateKey { user, key_id }, Previous::KeyStatus { status }) => {
            set_key_status(
                iam,
                user,
                key_id,
                StatusType::from(status.as_str()),
                &context,
            )
            .await
        }
        (Action::ReplaceTrust { role, .. }, Previous::TrustPolicy { document }) => {
            update_trust(iam, role, document, &context).await
        }
        (Action::DetachRolePolicy { role, .. }, Previous::Attached { policy_arn }) => iam
            .attach_role_policy()
            .role_name(role)
            .policy_arn(policy_arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| port_error(&context, e)),
        (Action::DeleteKey { .. }, _) => Err(PortError::new(
            context,
            "a deleted access key cannot be restored; create a new one if it is needed",
        )),
        _ => Err(PortError::new(
            context,
            "the journal entry does not match the change",
        )),
    }
}

async fn key_status(
    iam: &IamClient,
    user: &str,
    key_id: &str,
    context: &str,
) -> Result<String, PortError> {
    let listed = iam
        .list_access_keys()
        .user_name(user)
        .send()
        .await
        .map_err(|e| port_error(context, e))?;
    listed
        .access_key_metadata()
        .iter()
        .find(|k| k.access_key_id() == Some(key_id))
        .and_then(|k| k.status())
        .map(|s| s.as_str().to_owned())
        .ok_or_else(|| PortError::new(context, "the user has no such access key"))
}

async fn set_key_status(
    iam: &IamClient,
    user: &str,
    key_id: &str,
    status: StatusType,
    context: &str,
) -> Result<(), PortError> {
    iam.update_access_key()
        .user_name(user)
        .access_key_id(key_id)
        .status(status)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| port_error(context, e))
}

/// The role's trust policy as JSON (GetRole answers it URL-encoded).
async fn trust_policy(iam: &IamClient, role: &str, context: &str) -> Result<String, PortError> {
    let out = iam
        .get_role()
        .role_name(role)
        .send()
        .await
        .map_err(|e| port_error(context, e))?;
    let encoded = out
        .role()
        .and_then(|r| r.assume_role_policy_document())
        .ok_or_else(|| PortError::new(context, "GetRole answered no trust policy"))?;
    Ok(percent_encoding::percent_decode_str(encoded)
        .decode_utf8_lossy()
        .into_owned())
}

async fn update_trust(
    iam: &IamClient,
    role: &str,
    document: &str,
    context: &str,
) -> Result<(), PortError> {
    iam.update_assume_role_policy()
        .role_name(role)
        .policy_document(document)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| port_error(context, e))
}
