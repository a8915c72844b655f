//! One module per section of `scripts/bench`, numbered as the script numbers its figures:
//!
//! - `load`: 1-4, latency one at a time and concurrently, AWS calls per provisioning, peak
//!   RSS, against a running `stint serve`; with `floor`, the bare SDK's same calls one after
//!   another and stint's p50 as a ratio to it; with `moto_probe`, moto's own latency per
//!   operation.
//! - `startup`: 5, spawn of `stint serve` to its first `/healthz` answer.
//! - `verify`: 6, token verifications per second on one core.
//! - `auth`: 7, the provision latency token authentication adds.
//! - `reap`: 8, one reaper pass over many expired grants.
//! - `faults`: 9, provision+deprovision at an injected AWS fault rate, then leaks.
//! - `lambda`: 10, `stint-lambda` cold start.
//! - `dynamo`: 11-12, DynamoDB calls per provisioning, and its latency against SQLite's.
//! - `people`: 13-16, people's access: request to active (auto-approved and approved), its
//!   bare-SDK floor, AWS calls and ledger writes per activation and expiry, many at once.
//! - `web`: 17, the web page: time to first byte of each page signed in, and its weight.

pub mod auth;
pub mod dynamo;
pub mod faults;
pub mod floor;
pub mod lambda;
pub mod load;
pub mod moto_probe;
pub mod people;
pub mod reap;
pub mod startup;
pub mod verify;
pub mod web;
