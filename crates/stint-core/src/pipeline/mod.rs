//! The pipeline flow: a GitHub Actions job (or an operator at the broker) asks for a
//! persona in an account; stint checks the run against the catalog's allow-lists and the
//! requester's group membership in Identity Center, and grants a temporary IAM role.

mod authorize;
mod deprovision;
mod give_back;
mod job;
mod provision;
mod replay;
mod request;

pub use authorize::authorize_pipeline;
pub use deprovision::deprovision;
pub use give_back::{GivenBack, give_back};
pub use job::{IDEMPOTENCY_KEY_MAX, JOB_MAX, JobContext, REQUEST_KEY_WINDOW, run_key};
pub use provision::{
    AWS_STS_AUDIENCE, CHAINED_SESSION_MAX, Provision, Provisioned, SESSION_MIN,
    WEB_IDENTITY_SESSION_MAX,
};
pub use request::{DeprovisionAsk, DeprovisionRequest, ProvisionAsk, ProvisionRequest};
