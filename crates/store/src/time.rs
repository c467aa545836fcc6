//! Timestamps as stored: microseconds since the Unix epoch, UTC.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};

use crate::StoreError;

/// The last creation time handed out by [`next_created_at`].
static LAST_CREATED_US: AtomicI64 = AtomicI64::new(0);

/// Now, in microseconds.
pub(crate) fn now_us() -> i64 {
    Utc::now().timestamp_micros()
}

/// A creation time strictly later than every one this process handed out before, so rows
/// created by one node (a batch in particular) sort in the order they were inserted even when
/// the clock does not move between them or steps back.
pub(crate) fn next_created_at() -> i64 {
    let now = now_us();
    let mut last = LAST_CREATED_US.load(Ordering::Relaxed);
    loop {
        let next = now.max(last.saturating_add(1));
        match LAST_CREATED_US.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

/// A stored time back as a `DateTime`.
pub(crate) fn from_us(us: i64, column: &'static str, key: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(us).ok_or_else(|| StoreError::Corrupt {
        column,
        key: key.to_owned(),
        value: us.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creation_times_strictly_increase() {
        let times: Vec<i64> = (0..10_000).map(|_| next_created_at()).collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]));
        let now = now_us();
        assert!(times[0] <= now + 10_000, "not far ahead of the clock");
    }

    #[test]
    fn round_trip_keeps_microseconds() {
        let us = 1_700_000_000_123_456;
        let t = from_us(us, "created_at", "k").unwrap();
        assert_eq!(t.timestamp_micros(), us);
        assert!(from_us(i64::MAX, "created_at", "k").is_err());
    }
}
