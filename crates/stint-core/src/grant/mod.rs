//! The grant room, shared by every flow: the grant model and its state machine, its stored
//! form, the journal every change goes through, who may act on a grant, and the use cases
//! that end grants whatever made them (deprovisioning, revoke, the reaper).

mod assignment;
mod caller;
mod end;
mod journal;
mod model;
mod reap;
mod revoke;
pub mod stored;

pub use assignment::{Assignments, Held, Holding, Joined, Leave};
pub use caller::Caller;
pub use end::{Deprovisioned, Ending, GrantEnder};
pub use journal::{
    Batch, Journal, Step, aws_error, illegal, ledger_error, unknown_transaction, unreadable,
};
pub use model::{Failure, Grant, IllegalTransition, Kind, Links, Mechanism, Target, Terms};
pub use reap::{REAPER, ReapReport, ReapSettings, Reaper};
pub use revoke::{load_for, read, revoke};

/// Temporary roles live under this path, so they can be listed and swept.
pub const ROLE_PATH: &str = "/stint/";
/// The inline policy stint puts on every temporary role.
pub const INLINE_POLICY_NAME: &str = "stint-grant";
