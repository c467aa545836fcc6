//! This node among several: its identity (`--node-id`), the lease on the submissions it runs,
//! and its drain on SIGTERM.
//!
//! Nodes share nothing but the store (Postgres) and, with `--queue-url`, the JetStream queue.
//! A node's workers claim a submission in the store with a lease they renew while it runs
//! (`store::Claim`); a node that stops stops renewing, and once the lease has run out another
//! node takes the submission. A node that drains (SIGTERM) answers `/readyz` with 503 first,
//! stops taking queued work, lets what runs finish within the drain timeout, then gives back
//! the claims it still holds — queued again at once, for the other nodes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use store::Claim;

/// How long a claim lasts without renewal: a node that stops is replaced this long after its
/// last renewal (every third of it). Long enough for a store that stalls a few seconds, short
/// enough that a dead node's work resumes within half a minute.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
/// The shortest lease: renewals every third of it must fit between a busy store's answers.
pub const MIN_LEASE: Duration = Duration::from_secs(2);
/// The longest lease: a dead node's submissions wait at most this.
pub const MAX_LEASE: Duration = Duration::from_secs(600);
/// How long in-flight runs may finish after SIGTERM (Kubernetes' default grace period is 30 s:
/// set `terminationGracePeriodSeconds` above the drain timeout).
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest drain: a rolling update waits for it on every node.
pub const MAX_DRAIN_TIMEOUT: Duration = Duration::from_secs(600);
/// A node id's length, at most (a Kubernetes pod name is a DNS subdomain: 253 characters).
pub const MAX_NODE_ID_BYTES: usize = 253;
/// The id when the host name cannot be read.
const FALLBACK_NODE_ID: &str = "tiderun";

/// The host name (a pod's name in Kubernetes), the default node id.
pub fn default_node_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| check_node_id(h).is_ok())
        .unwrap_or_else(|| FALLBACK_NODE_ID.to_owned())
}

/// A node id is 1 to [`MAX_NODE_ID_BYTES`] letters, digits, `.`, `-` or `_` (it is a
/// Prometheus label value and is stored with every claim); the error says what is wrong.
pub fn check_node_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_NODE_ID_BYTES {
        return Err(format!(
            "a node id is 1 to {MAX_NODE_ID_BYTES} characters, not {}",
            id.len()
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
    {
        return Err(format!(
            "a node id is letters, digits, '.', '-' and '_' only, not {c:?}"
        ));
    }
    Ok(())
}

/// What the node tracks about itself at run time.
#[derive(Debug, Default)]
pub(crate) struct NodeState {
    draining: AtomicBool,
    /// Claims held by this node's runs, by token: given back when the node drains.
    held: Mutex<HashMap<String, Claim>>,
}

impl NodeState {
    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    pub(crate) fn start_drain(&self) {
        self.draining.store(true, Ordering::Release);
    }

    pub(crate) fn hold(&self, claim: &Claim) {
        self.held_map().insert(claim.token.clone(), claim.clone());
    }

    pub(crate) fn unhold(&self, claim: &Claim) {
        let mut held = self.held_map();
        if held.get(&claim.token) == Some(claim) {
            held.remove(&claim.token);
        }
    }

    /// The claims still held, emptied.
    pub(crate) fn take_held(&self) -> Vec<Claim> {
        self.held_map().drain().map(|(_, c)| c).collect()
    }

    /// A panic while holding the lock cannot leave the map inconsistent (single inserts and
    /// removes), so poisoning is ignored.
    fn held_map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Claim>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids() {
        assert!(check_node_id("tiderun-7f9c5d-abcde").is_ok());
        assert!(check_node_id("web_1.example").is_ok());
        assert!(check_node_id(&"a".repeat(MAX_NODE_ID_BYTES)).is_ok());
        let long = check_node_id(&"a".repeat(MAX_NODE_ID_BYTES + 1)).unwrap_err();
        assert!(long.contains("1 to 253"), "{long}");
        assert!(check_node_id("").is_err());
        let quote = check_node_id("a\"b").unwrap_err();
        assert!(quote.contains("'\"'"), "{quote}");
        assert!(check_node_id("a b").is_err());
        assert!(check_node_id(&default_node_id()).is_ok());
    }

    #[test]
    fn held_claims_are_given_back_once() {
        let node = NodeState::default();
        let claim = |attempt| Claim {
            token: "t".into(),
            owner: "n".into(),
            attempt,
        };
        node.hold(&claim(1));
        // A stale claim's end does not drop the current one.
        node.hold(&claim(2));
        node.unhold(&claim(1));
        assert_eq!(node.take_held(), vec![claim(2)]);
        assert!(node.take_held().is_empty());
    }
}
