//! A `Clock` for tests and the benchmark: the wall clock plus an offset the caller moves
//! forward, so expiry is exercised without waiting while the emulator's own timestamps (role
//! creation) stay comparable.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use time::OffsetDateTime;

#[derive(Debug, Default)]
pub struct ShiftedClock {
    offset_seconds: AtomicI64,
}

impl ShiftedClock {
    /// Moves the clock forward by `by` (whole seconds).
    pub fn advance(&self, by: Duration) {
        let secs = i64::try_from(by.as_secs()).unwrap_or(i64::MAX);
        self.offset_seconds.fetch_add(secs, Ordering::SeqCst);
    }
}

impl stint_core::ports::Clock for ShiftedClock {
    // This is a Clock adapter: reading the wall clock is its job.
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
            + time::Duration::seconds(self.offset_seconds.load(Ordering::SeqCst))
    }
}
