//! The queue of submission tokens waiting for a worker.
//!
//! The queue carries tokens only; the submission itself is in the [`Store`](crate::Store). A
//! worker pops a token, claims it ([`Store::claim_submission`](crate::Store::claim_submission),
//! which makes a token delivered twice run once), runs it, stores the result, then acks.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use tokio::sync::Notify;

/// Why a token was not queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// The queue holds `capacity` tokens already (Judge0 answers 503 "queue is full").
    #[error("queue is full ({capacity} waiting)")]
    Full { capacity: usize },
    /// The queue was closed (the server is shutting down); the submission stays stored and is
    /// queued again at the next start.
    #[error("queue is closed")]
    Closed,
}

/// A queue of submission tokens, in-process ([`WorkQueue`]) or, later, NATS JetStream.
///
/// The contract, which a JetStream implementation keeps as follows:
/// - [`push`](Queue::push) publishes to a work-queue stream (one subject, `WorkQueue`
///   retention, `max_msgs` as the capacity with `discard new`, so a full stream refuses the
///   publish → [`PushError::Full`]).
/// - [`pop`](Queue::pop) fetches from a durable pull consumer shared by every node, with
///   explicit acks; the message stays pending, keyed by its token, until
///   [`ack`](Queue::ack).
/// - [`ack`](Queue::ack) is called *after* the result is stored. A node that dies before
///   acking never acks: JetStream redelivers the token after `ack_wait` to another node, whose
///   claim fails if the submission did finish (so nothing runs twice to completion), or
///   succeeds if the first node died mid-run and the row was put back to queued. Runs longer
///   than `ack_wait` send progress acks (`+WPI`) meanwhile; deliveries are capped by
///   `max_deliver`.
/// - [`close`](Queue::close) stops fetching; what is pending stays in the stream.
///
/// The in-process queue has nothing to redeliver after a crash: the store is its memory
/// ([`Store::requeue_processing`](crate::Store::requeue_processing) then
/// [`Store::unfinished_submissions`](crate::Store::unfinished_submissions) at start-up), and
/// its `ack` does nothing.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Queue a token for some worker.
    async fn push(&self, token: String) -> Result<(), PushError>;
    /// The next token, waiting while the queue is empty; `None` once it is closed and empty.
    async fn pop(&self) -> Option<String>;
    /// The token's result is stored: it must not be delivered again.
    async fn ack(&self, token: &str);
    /// Tokens waiting (not the ones being run).
    fn len(&self) -> usize;
    /// True when no token is waiting.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Refuse new tokens; [`pop`](Queue::pop) still hands out those already queued, then
    /// answers `None`.
    fn close(&self);
}

/// A bounded in-process FIFO of tokens, shared by every worker of this node.
#[derive(Debug)]
pub struct WorkQueue {
    state: Mutex<State>,
    /// Wakes poppers on push (one) and on close (all).
    ready: Notify,
    capacity: usize,
}

#[derive(Debug, Default)]
struct State {
    tokens: VecDeque<String>,
    closed: bool,
}

impl WorkQueue {
    /// A queue of at most `capacity` waiting tokens (0 refuses every push).
    pub fn new(capacity: usize) -> WorkQueue {
        WorkQueue {
            state: Mutex::new(State::default()),
            ready: Notify::new(),
            capacity,
        }
    }

    /// The most tokens it holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Queue a token now, or say why not.
    pub fn try_push(&self, token: String) -> Result<(), PushError> {
        {
            let mut state = self.lock();
            if state.closed {
                return Err(PushError::Closed);
            }
            if state.tokens.len() >= self.capacity {
                return Err(PushError::Full {
                    capacity: self.capacity,
                });
            }
            state.tokens.push_back(token);
        }
        self.ready.notify_one();
        Ok(())
    }

    /// The oldest token, waiting while the queue is empty; `None` once it is closed and empty.
    /// Cancel-safe: a pop dropped while waiting takes nothing.
    pub async fn pop(&self) -> Option<String> {
        loop {
            // Register interest before looking, so a push between the look and the wait is
            // not missed.
            let notified = self.ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut state = self.lock();
                if let Some(token) = state.tokens.pop_front() {
                    let more = !state.tokens.is_empty();
                    drop(state);
                    if more {
                        // A push's single wake-up may have gone to this popper while another
                        // was waiting too: pass it on.
                        self.ready.notify_one();
                    }
                    return Some(token);
                }
                if state.closed {
                    return None;
                }
            }
            notified.await;
        }
    }

    /// Tokens waiting.
    pub fn len(&self) -> usize {
        self.lock().tokens.len()
    }

    /// True when no token is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Refuse new tokens; waiting poppers get what is queued, then `None`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_waiters();
    }

    /// True once [`close`](WorkQueue::close) was called.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// The state; a panic elsewhere while holding the lock cannot leave it inconsistent (every
    /// critical section is a single push, pop or flag), so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl Queue for WorkQueue {
    async fn push(&self, token: String) -> Result<(), PushError> {
        self.try_push(token)
    }

    async fn pop(&self) -> Option<String> {
        WorkQueue::pop(self).await
    }

    async fn ack(&self, _token: &str) {}

    fn len(&self) -> usize {
        WorkQueue::len(self)
    }

    fn close(&self) {
        WorkQueue::close(self)
    }
}
