//! The queue of submission tokens waiting for a worker.
//!
//! The queue carries tokens only; the submission itself is in the [`Store`](crate::Store). A
//! worker pops a [`Delivery`], claims its token
//! ([`Store::claim_submission`](crate::Store::claim_submission), which makes a token delivered
//! twice run once), runs it, stores the result, then acks the delivery.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;

/// Why a token was not queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// The queue holds `capacity` tokens already (Judge0 answers 503 "queue is full").
    #[error("queue is full ({capacity} waiting)")]
    Full { capacity: usize },
    /// The queue was closed (the node is shutting down); the submission stays stored, and a
    /// worker looking for work no queue holds finds it.
    #[error("queue is closed")]
    Closed,
    /// The queue's server did not take the token in time (NATS is down or restarting).
    #[error("the queue is unavailable")]
    Unavailable,
}

/// What a worker does with a delivery it has claimed or given up on. Each queue supplies its
/// own; the in-process queue has nothing to acknowledge.
#[async_trait]
pub trait Acker: Send + Sync {
    /// The token needs no more work (its result is stored, or it is someone else's): it must
    /// not be delivered again.
    async fn ack(&self);
    /// Still working on it: do not deliver it elsewhere yet (JetStream's `+WPI`).
    async fn progress(&self);
    /// Deliver it to another worker now (a node that drains gives back what it has not
    /// started).
    async fn release(&self);
}

/// A token handed to one worker. Dropping it without [`ack`](Delivery::ack) or
/// [`release`](Delivery::release) leaves it pending: a queue that redelivers delivers it again
/// once its ack wait has passed.
pub struct Delivery {
    token: String,
    delivered: u64,
    acker: Option<Box<dyn Acker>>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("token", &self.token)
            .field("delivered", &self.delivered)
            .finish_non_exhaustive()
    }
}

impl Delivery {
    /// A delivery of `token`, the `delivered`-th of it, acknowledged through `acker` (`None`:
    /// nothing to acknowledge).
    pub fn new(token: String, delivered: u64, acker: Option<Box<dyn Acker>>) -> Delivery {
        Delivery {
            token,
            delivered,
            acker,
        }
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// How many times the token was delivered, this time included (1 the first time).
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Done with it: never deliver it again.
    pub async fn ack(self) {
        if let Some(a) = &self.acker {
            a.ack().await;
        }
    }

    /// Still working on it.
    pub async fn progress(&self) {
        if let Some(a) = &self.acker {
            a.progress().await;
        }
    }

    /// Hand it to another worker now.
    pub async fn release(self) {
        if let Some(a) = &self.acker {
            a.release().await;
        }
    }
}

/// What [`Queue::pop`] found.
#[derive(Debug)]
pub enum Popped {
    Delivery(Delivery),
    /// Nothing within the wait (or the queue's server is out of reach for now).
    Empty,
    /// Closed: no more deliveries to this node.
    Closed,
}

/// A queue of submission tokens: in-process ([`WorkQueue`]) or NATS JetStream
/// ([`JetStreamQueue`](crate::JetStreamQueue)).
///
/// The contract:
/// - [`push`](Queue::push) queues a token (the submission is stored first), or refuses when
///   the queue holds its capacity ([`PushError::Full`]).
/// - [`pop`](Queue::pop) hands a token to one worker. The worker claims it in the store, runs
///   it, stores the result, and only then acks the delivery. While it works it calls
///   [`Delivery::progress`] (at least every third of the ack wait); a claim that fails
///   (finished, or someone else's) is acked and dropped.
/// - A worker that dies never acks: a redelivering queue (JetStream) delivers the token again
///   after its ack wait, to any node, up to a capped number of deliveries. The store's lease
///   decides whether the half-run submission may be claimed again.
/// - [`close`](Queue::close) stops deliveries to this node; what is pending stays.
///
/// The in-process queue has nothing to redeliver after a crash: the store is its memory, and
/// idle workers look there for work no queue holds
/// ([`Store::claim_next`](crate::Store::claim_next)).
#[async_trait]
pub trait Queue: Send + Sync {
    /// Queue a token for some worker.
    async fn push(&self, token: String) -> Result<(), PushError>;
    /// Queue a token again: its submission went back to queued (its node stopped mid-run).
    /// Unlike a repeated [`push`](Queue::push), never taken for a duplicate of the first.
    async fn push_again(&self, token: String) -> Result<(), PushError> {
        self.push(token).await
    }
    /// The next delivery, waiting up to `wait` for one.
    async fn pop(&self, wait: Duration) -> Popped;
    /// Tokens waiting for a worker (not the ones being run); for a shared queue as last seen.
    fn len(&self) -> usize;
    /// True when no token is waiting.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Stop deliveries to this node (it drains); [`pop`](Queue::pop) answers
    /// [`Popped::Closed`] from then on.
    fn close(&self);
    /// True once [`close`](Queue::close) was called.
    fn is_closed(&self) -> bool;
    /// `"in-process"` or `"jetstream"`.
    fn kind(&self) -> &'static str;
    /// Whether the queue's server is reachable now (always true in-process).
    fn is_connected(&self) -> bool {
        true
    }
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

    /// Like [`WorkQueue::pop`], but waits at most `wait`; once closed, [`Popped::Closed`] (what
    /// is still queued stays in the store for the workers of this or another node).
    async fn pop(&self, wait: Duration) -> Popped {
        if self.is_closed() {
            return Popped::Closed;
        }
        match tokio::time::timeout(wait, WorkQueue::pop(self)).await {
            Ok(Some(token)) => Popped::Delivery(Delivery::new(token, 1, None)),
            Ok(None) => Popped::Closed,
            Err(_) => Popped::Empty,
        }
    }

    fn len(&self) -> usize {
        WorkQueue::len(self)
    }

    fn close(&self) {
        WorkQueue::close(self)
    }

    fn is_closed(&self) -> bool {
        WorkQueue::is_closed(self)
    }

    fn kind(&self) -> &'static str {
        "in-process"
    }
}
