//! stint's domain: naming rules, the catalog, who may ask for what, IAM policy documents,
//! the grant model and its state machine, the audit hash chain, and the use cases of each
//! flow, written against ports (traits) for everything outside. No I/O and no AWS SDK here:
//! this crate builds and tests in seconds.
//!
//! Layers, each using only those above it: `error`, `time_fmt`, `credentials` → `ids` →
//! `policy`, `subject`, `record` → `notice` → `catalog`, `audit`, `ports` → `grant` (shared
//! by every flow) → `outbox`, `pipeline`, `access` (one room per flow) → `wiring`;
//! `lint` (policy, trust-policy and account findings) reads only `catalog` and below.
//! `estate` (permission sets and member roles from the catalog: plan, apply) uses `catalog`,
//! `policy`, `ports` and `record`, and no grant or flow.

pub mod access;
pub mod audit;
pub mod catalog;
pub mod credentials;
pub mod error;
pub mod estate;
pub mod grant;
pub mod ids;
pub mod lint;
pub mod notice;
pub mod outbox;
pub mod pipeline;
pub mod policy;
pub mod ports;
pub mod record;
pub mod remediation;
pub mod subject;
pub mod time_fmt;
pub mod wiring;

pub use error::{BrokerError, ErrorClass, ErrorCode};
pub use wiring::UseCases;

#[cfg(test)]
mod people_tests;
#[cfg(test)]
mod saga_tests;
#[cfg(test)]
mod testkit;
