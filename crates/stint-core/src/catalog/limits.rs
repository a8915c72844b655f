//! The AWS limits the catalog is checked against at load, so that a catalog IAM or STS would
//! refuse later is refused now, naming the key (numbers from shared/notes/aws-limits.md).

use std::time::Duration;

/// STS AssumeRole's shortest session (`DurationSeconds` at least 900 s): a grant shorter than
/// this could not issue credentials.
pub const MIN_TTL: Duration = Duration::from_secs(900);
/// Not an AWS limit but stint's own ceiling, the pipeline contract's default: a grant longer than a day
/// is standing access. (A role's lifetime is not bounded by IAM; each session is.)
pub const MAX_TTL: Duration = Duration::from_secs(24 * 3600);
/// IAM: a role's inline policies together take at most 10,240 characters, whitespace not
/// counted.
pub const INLINE_POLICY_MAX: usize = 10_240;
/// IAM: a role's trust policy takes at most 2,048 characters by default.
pub const TRUST_POLICY_MAX: usize = 2_048;
/// IAM: managed policies attached per role, the default quota.
pub const DEFAULT_MANAGED_POLICIES_PER_ROLE: usize = 10;
/// IAM: managed policies attached per role, the highest quota a catalog may claim it has
/// raised to.
pub const HARD_MANAGED_POLICIES_PER_ROLE: usize = 20;
/// IAM: a role name is at most 64 characters. stint's are `<prefix>-<uuid>`, 36 characters of
/// id and one dash, which leaves the prefix 27.
pub(super) const ROLE_PREFIX_MAX: usize = 64 - 37;
