//! Time formats stint writes: IAM condition values and RFC 3339 for APIs and the ledger.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `2026-11-22T12:00:00Z`: whole seconds in UTC, the form IAM date conditions take.
pub fn iam_time(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// Drops sub-second precision, so a stored expiry equals the one written into policies.
pub fn whole_seconds(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_nanosecond(0).unwrap_or(at)
}

/// RFC 3339 for JSON and the ledger.
pub fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_else(|_| iam_time(at))
}

pub fn parse_rfc3339(value: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(value, &Rfc3339).ok()
}

/// serde helpers for `OffsetDateTime` as RFC 3339.
pub mod serde_rfc3339 {
    pub use time::serde::rfc3339::*;
    pub mod option {
        pub use time::serde::rfc3339::option::*;
    }
}
