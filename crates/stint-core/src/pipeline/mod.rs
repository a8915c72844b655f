//! The pipeline flow: a GitHub Actions job (or an operator at the broker) asks for a
//! persona in an account; stint checks the run against the catalog's allow-lists and the
//! requester's group membership in Identity Center, and grants a temporary IAM role.

mod authorize;
mod deprovision;
mod provision;
mod request;

pub use authorize::authorize_pipeline;
pub use deprovision::deprovision;
pub use provision::{
    AWS_STS_AUDIENCE, CHAINED_SESSION_MAX, Provision, Provisioned, SESSION_MIN,
    WEB_IDENTITY_SESSION_MAX,
};
pub use request::{DeprovisionAsk, DeprovisionRequest, ProvisionAsk, ProvisionRequest};
