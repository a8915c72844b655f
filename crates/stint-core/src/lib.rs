//! stint's domain. Naming rules, the catalog, request validation, authorization decisions,
//! IAM policy documents, the transaction state machine, the audit hash chain, and the
//! provisioning and deprovisioning use cases, written against ports (traits) for everything
//! outside. No I/O and no AWS SDK here: this crate builds and tests in seconds.

pub mod audit;
pub mod broker;
pub mod caller;
pub mod catalog;
pub mod credentials;
pub mod deprovision;
pub mod error;
pub mod ids;
pub mod policy;
pub mod ports;
pub mod provision;
pub mod reap;
pub mod request;
pub mod revoke;
pub mod time_fmt;
pub mod transaction;

pub use broker::{Actor, Broker};
pub use error::{BrokerError, ErrorClass, ErrorCode};

#[cfg(test)]
mod saga_tests;
#[cfg(test)]
mod testkit;
