//! Quotas per key ([`store::Quotas`], on every [`Caller`]): runs started per minute and
//! CPU-seconds per UTC day. One function, [`admit`], is called by every path that runs code
//! (the native run and exercise submissions, Piston's execute, Judge0's submissions and
//! batches with their `number_of_runs`, both WebSockets) once the request is checked and
//! before it is run, stored or queued; past a quota it answers 429 with a message naming the
//! quota, its limit and when it resets, and `Retry-After`.
//!
//! - Runs per minute: governor's GCRA, one keyed limiter per quota value (keys with the same
//!   quota share a table), so a key may start its quota at once and then one more every
//!   60 s / quota. Counted per node: with N nodes behind a load balancer a key may start up to
//!   N × its quota in a minute (the README says so).
//! - CPU-seconds per day: what the key used today over every node (the store's day total,
//!   cached for `ledger::CPU_USED_CACHE`, plus this node's unwritten runs). A run that starts
//!   under the quota may end past it; the next is refused until 00:00 UTC.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use chrono::{Duration as Days, Utc};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::{ApiError, AppState, Caller};

/// The quota names, as in messages and the `tiderun_quota_refusals_total{quota}` label.
pub const RUNS_PER_MINUTE: &str = "runs_per_minute";
pub const CPU_S_PER_DAY: &str = "cpu_s_per_day";
/// Keys a per-minute table holds before the keys whose quota has filled up again are forgotten
/// (they are no different from keys never seen).
const FORGET_AT_KEYS: usize = 10_000;

/// The per-minute limiters of a node, one per quota value.
#[derive(Default)]
pub struct RunLimiters(Mutex<HashMap<u32, Arc<DefaultKeyedRateLimiter<Arc<str>>>>>);

impl std::fmt::Debug for RunLimiters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RunLimiters")
    }
}

impl RunLimiters {
    /// Take `runs` runs of `key`'s quota of `per_minute`: Ok, or the refusal.
    fn take(&self, key: &Arc<str>, per_minute: NonZeroU32, runs: NonZeroU32) -> Result<(), ApiError> {
        let limiter = {
            let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(
                map.entry(per_minute.get())
                    .or_insert_with(|| Arc::new(governor::RateLimiter::keyed(Quota::per_minute(per_minute)))),
            )
        };
        if limiter.len() > FORGET_AT_KEYS {
            limiter.retain_recent();
        }
        match limiter.check_key_n(key, runs) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                Err(ApiError::QuotaExceeded {
                    message: format!(
                        "quota exceeded: the key {key:?} may start {per_minute} runs per minute ({RUNS_PER_MINUTE}); \
                         the next {} allowed in {} s",
                        if runs.get() == 1 {
                            "run is".to_owned()
                        } else {
                            format!("{runs} runs are")
                        },
                        secs.max(1)
                    ),
                    retry_after_s: secs.max(1),
                })
            }
            Err(_) => Err(ApiError::QuotaExceeded {
                message: format!(
                    "quota exceeded: this request asks for {runs} runs, more than the key {key:?} may start in a \
                     minute ({RUNS_PER_MINUTE} = {per_minute})"
                ),
                retry_after_s: 60,
            }),
        }
    }
}

/// Check `caller`'s quotas for a request of `runs` runs, and take them from its minute. Every
/// path that runs code calls this once, after the request is checked (a bad request gets its
/// 4xx, not a quota's 429) and before it runs or is stored.
pub async fn admit(state: &AppState, caller: &Caller, runs: u32) -> Result<(), ApiError> {
    let Some(key) = &caller.key else { return Ok(()) };
    let quotas = caller.quotas;
    if let Some(limit_s) = quotas.cpu_s_per_day {
        let used_ms = state.ledger().cpu_ms_today(state.store(), key).await;
        if used_ms >= u64::from(limit_s) * 1000 {
            state.metrics().quota_refused(CPU_S_PER_DAY);
            let now = Utc::now();
            let midnight = (now.date_naive() + Days::days(1))
                .and_hms_opt(0, 0, 0)
                .expect("midnight exists")
                .and_utc();
            let secs = (midnight - now).num_seconds().max(1) as u64;
            return Err(ApiError::QuotaExceeded {
                message: format!(
                    "quota exceeded: the key {key:?} used {:.1} of its {limit_s} CPU-seconds for {} (UTC) \
                     ({CPU_S_PER_DAY}); it resets at 00:00 UTC, in {secs} s",
                    used_ms as f64 / 1000.0,
                    now.date_naive()
                ),
                retry_after_s: secs,
            });
        }
    }
    if let (Some(per_minute), Some(runs)) = (quotas.runs_per_minute.and_then(NonZeroU32::new), NonZeroU32::new(runs)) {
        if let Err(e) = state.run_limiters().take(key, per_minute, runs) {
            state.metrics().quota_refused(RUNS_PER_MINUTE);
            return Err(e);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minute_quota_refuses_the_next_run_and_says_when() {
        let limiters = RunLimiters::default();
        let key: Arc<str> = Arc::from("k");
        let three = NonZeroU32::new(3).unwrap();
        let one = NonZeroU32::new(1).unwrap();
        for _ in 0..3 {
            limiters.take(&key, three, one).unwrap();
        }
        let e = limiters.take(&key, three, one).unwrap_err();
        let retry = e.retry_after().unwrap();
        assert!((19..=20).contains(&retry), "{retry}");
        assert!(
            e.message().contains("3 runs per minute (runs_per_minute)"),
            "{}",
            e.message()
        );
        // Another key has its own minute; a request past the whole quota is refused outright.
        limiters.take(&Arc::from("other"), three, one).unwrap();
        let e = limiters
            .take(&Arc::from("fresh"), three, NonZeroU32::new(4).unwrap())
            .unwrap_err();
        assert!(e.message().contains("asks for 4 runs"), "{}", e.message());
    }
}
