//! Integration tests: the real broker, the real SQLite ledger, and the AWS emulator, read back
//! through the SDK. One binary (every file under tests/ would be another link).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod audit;
mod catalog_sync;
mod cli;
mod crash;
mod deprovision;
mod envelopes;
mod expiry;
mod faults;
mod harness;
mod lambda;
mod ledger_contract;
mod migration;
mod notices;
mod people;
mod people_cli;
mod people_membership;
mod pipelines;
mod provision;
mod rejections;
mod replicas;
mod retries;
mod runner;
mod scan;
mod slack;
mod web;
