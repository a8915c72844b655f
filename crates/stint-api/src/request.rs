//! What a caller sends: the provisioning and deprovisioning inputs, field names exactly as the
//! pipeline contract has them. Unknown fields are refused, so a typo is an error rather than a
//! default; every field is optional here, and the broker says which are missing.

use serde::{Deserialize, Serialize};

/// `POST /v1/provision`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisionInput {
    /// Required of an operator; a pipeline's requester comes from its token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_aws_account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_aws_account_id: Option<String>,
    /// Defaults to the catalog's `default_group_type` (`Product-Deployers`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_type: Option<String>,
}

/// `POST /v1/deprovision`: the grant to end, named three ways so a mix-up is caught.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeprovisionInput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    /// An account name or id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_aws_account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_refused_and_absent_ones_are_not_sent() {
        let error = serde_json::from_str::<ProvisionInput>(r#"{"emial": "a@example.com"}"#)
            .expect_err("typo accepted");
        assert!(
            error.to_string().contains("unknown field `emial`"),
            "{error}"
        );
        assert!(serde_json::from_str::<DeprovisionInput>(r#"{"role": "x"}"#).is_err());

        let input = ProvisionInput {
            branch: Some("main".into()),
            ..ProvisionInput::default()
        };
        assert_eq!(
            serde_json::to_string(&input).unwrap(),
            r#"{"branch":"main"}"#
        );
        let null_is_absent: ProvisionInput =
            serde_json::from_str(r#"{"branch": "main", "group_type": null}"#).unwrap();
        assert_eq!(null_is_absent, input);
    }
}
