//! The people flow's records. A request for access is its own record in the same
//! hash-chained ledger as grants: asked for, then approved, denied, withdrawn or expired, and
//! linked both ways to the grant it produces. Its rules (who may approve, how many, when) are
//! built on this record; this module holds the record and its state machine.

mod people;
mod request;
pub mod rules;

pub use people::{AccessAsk, Decided, Eligible, LISTED, Mine, PeopleAccess};
pub use request::{AccessRequest, Approval, RequestTerms};
