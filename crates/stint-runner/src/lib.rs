//! stint's GitHub side, run inside a GitHub Actions job: `stint-pipeline provision` and
//! `stint-pipeline deprovision` (also `stint pipeline …`). It talks to the broker only through
//! `stint_api::Client`, and to AWS only for AssumeRoleWithWebIdentity, so a runner builds and
//! links none of the broker's server side (no axum, SQLite or Lambda runtime).

mod command;
pub mod pipeline;

pub use command::{BrokerArgs, PipelineCommand, run};
pub use pipeline::PipelineError;
