//! stint's v1 API as data: the JSON every door of the broker speaks (HTTP, the Lambda
//! functions, the `stint` CLI) and a typed [`Client`] for it. The broker builds these types from
//! its domain and serializes them; the GitHub-side runner, the tests and the benchmark read them,
//! so a client and the broker cannot drift apart.
//!
//! The shapes are the pipeline contract's field names exactly, plus `expires_at`, `delivery`
//! and `credentials`. Times are RFC 3339 strings as the broker wrote them, and states, kinds and
//! actions their snake_case names: a client must still be able to read an answer (and give a
//! grant back) when a newer broker says something it does not know. This crate depends on
//! nothing of the broker, so a runner builds none of it.

mod access;
mod client;
mod error;
mod request;
mod response;
mod secret;
mod transaction;

pub use access::{
    AccessRequestInput, AccessRequestList, AccessRequestResponse, AccessRequestView, ApprovalView,
    ApproveInput, DenyInput, Eligibility, EligibleView, GrantList, PersonGrantView,
};
pub use client::{Client, ClientError, IDEMPOTENCY_KEY_HEADER, JOB_HEADER};
pub use error::{ErrorBody, ErrorDetail};
pub use request::{DeprovisionInput, ProvisionInput};
pub use response::{
    CredentialsBody, Delivery, DeprovisionResponse, Health, JobDeprovisionResponse,
    ProvisionResponse,
};
pub use secret::Secret;
pub use transaction::{CallerView, EventView, FailureView, TransactionResponse, TransactionView};
