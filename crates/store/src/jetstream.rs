//! The work queue on NATS JetStream, shared by every node: [`JetStreamQueue`].
//!
//! One work-queue stream ([`STREAM`], subject [`SUBJECT`]) holds the tokens; `max_msgs` is the
//! queue's capacity with `discard new`, so a full stream refuses a publish
//! ([`PushError::Full`]). One durable pull consumer ([`CONSUMER`]) is shared by every node:
//! each worker pulls one message at a time (nothing is prefetched, so nothing waits in a busy
//! node's buffer while another node idles), acks it explicitly once the result is stored,
//! sends progress acks while it runs, and a message it never acks (its node died) is delivered
//! again after `ack_wait`, at most [`MAX_DELIVER`] times.
//!
//! Pinned to `async-nats` 0.46 without its `server_2_10` and later features: the client then
//! sends only the fields and API subjects that nats-server 2.9 (Debian 12's) understands. The
//! tests run against a real `nats-server -js` of that version.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, context::PublishErrorKind, stream, AckKind};
use async_trait::async_trait;
use futures_util::StreamExt;
use tokio::task::JoinHandle;

use crate::queue::{Acker, Delivery, Popped, PushError, Queue};

/// The stream's name (what the deployment's monitoring and KEDA look at).
pub const STREAM: &str = "TIDERUN_SUBMISSIONS";
/// The subject tokens are published on.
pub const SUBJECT: &str = "tiderun.submissions";
/// The durable pull consumer shared by every node.
pub const CONSUMER: &str = "tiderun-workers";
/// Deliveries of one message before JetStream stops redelivering it. A message delivered this
/// many times without a stored result (its nodes kept stopping, or draining, mid-run) is given
/// up: the worker that gets the last delivery stores a final Internal Error status and acks.
pub const MAX_DELIVER: i64 = 5;
/// How long a publish waits for the stream's acknowledgement. It covers a NATS server that
/// restarts (the client buffers the publish and sends it once reconnected); past it the
/// caller is told the queue is unavailable.
pub const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the stream keeps a message that no node acked — the backstop for a message whose
/// last delivery went to a node that died (the submission itself is recovered from the
/// store by its lease): a day, far longer than any queue wait.
pub const MAX_MESSAGE_AGE: Duration = Duration::from_secs(24 * 3600);
/// How long start-up waits for the NATS server to answer.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the count of waiting messages (for `len`, the metrics and `/workers`) is read
/// from the server.
const LEN_REFRESH: Duration = Duration::from_secs(1);
/// The longest wait between two reconnection attempts: a restarted server is found again
/// within this.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(2);
/// How long an ack or a progress ack waits for the server's confirmation. A lost ack means at
/// worst one more delivery, which the store's claim turns away.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// A pause after a failed pull (the server is out of reach), so an idle worker does not spin.
const PULL_RETRY: Duration = Duration::from_millis(500);

/// Why the queue could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// No NATS server answered at the URL (the URL is not repeated: it may hold a password).
    #[error("cannot connect to the NATS server")]
    Connect {
        #[source]
        source: async_nats::ConnectError,
    },
    #[error("cannot create or read the JetStream stream {stream}")]
    Stream {
        stream: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The stream exists with another retention: a stream made for something else.
    #[error("the JetStream stream {stream} exists with {retention} retention; tiderun needs a work-queue stream (delete it or choose another server)")]
    WrongRetention { stream: String, retention: String },
    #[error("cannot create or read the JetStream consumer {consumer}")]
    Consumer {
        consumer: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The names of the stream, subject and consumer. The defaults are the deployment's contract;
/// tests on a shared server use their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JetStreamNames {
    pub stream: String,
    pub subject: String,
    pub consumer: String,
}

impl Default for JetStreamNames {
    fn default() -> Self {
        JetStreamNames {
            stream: STREAM.to_owned(),
            subject: SUBJECT.to_owned(),
            consumer: CONSUMER.to_owned(),
        }
    }
}

/// How the stream and consumer are made.
#[derive(Debug, Clone)]
pub struct JetStreamOptions {
    pub names: JetStreamNames,
    /// `max_msgs` of the stream: messages not yet acked, waiting or being run.
    pub capacity: usize,
    /// How long a delivered message may go without an ack or a progress ack before it is
    /// delivered again.
    pub ack_wait: Duration,
    /// Deliveries of one message, at most.
    pub max_deliver: i64,
    /// The client's name, as the server's monitoring shows it (the node id).
    pub client_name: String,
}

/// The queue on a NATS JetStream server. See the module documentation.
pub struct JetStreamQueue {
    client: async_nats::Client,
    js: jetstream::Context,
    consumer: consumer::PullConsumer,
    subject: String,
    capacity: usize,
    max_deliver: i64,
    /// Messages not yet delivered, as last read.
    waiting: Arc<AtomicUsize>,
    closed: AtomicBool,
    refresher: JoinHandle<()>,
}

impl std::fmt::Debug for JetStreamQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamQueue")
            .field("subject", &self.subject)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl Drop for JetStreamQueue {
    fn drop(&mut self) {
        self.refresher.abort();
    }
}

impl JetStreamQueue {
    /// Connect to `url` (`nats://HOST:PORT`, several comma-separated for a cluster) and make
    /// sure the stream and the consumer exist: created when missing; an existing stream's
    /// capacity is set to ours (the last node started wins: all nodes of a deployment share
    /// one setting). Fails when no server answers within [`CONNECT_TIMEOUT`]; once connected
    /// the client reconnects by itself, for as long as the node runs.
    pub async fn connect(url: &str, options: JetStreamOptions) -> Result<JetStreamQueue, QueueError> {
        let client = async_nats::ConnectOptions::new()
            .name(&options.client_name)
            .connection_timeout(CONNECT_TIMEOUT)
            .max_reconnects(None)
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis(100 * attempts.min(100) as u64).min(MAX_RECONNECT_DELAY)
            })
            .event_callback(|event| async move {
                match event {
                    async_nats::Event::Disconnected => tracing::warn!("queue: disconnected from NATS; reconnecting"),
                    async_nats::Event::Connected => tracing::info!("queue: connected to NATS"),
                    other => tracing::debug!(event = %other, "queue: NATS event"),
                }
            })
            .connect(url)
            .await
            .map_err(|source| QueueError::Connect { source })?;
        let mut js = jetstream::new(client.clone());
        js.set_timeout(PUBLISH_TIMEOUT);
        let names = &options.names;
        let stream_config = stream::Config {
            name: names.stream.clone(),
            subjects: vec![names.subject.clone()],
            retention: stream::RetentionPolicy::WorkQueue,
            max_messages: i64::try_from(options.capacity).unwrap_or(i64::MAX),
            discard: stream::DiscardPolicy::New,
            storage: stream::StorageType::File,
            max_age: MAX_MESSAGE_AGE,
            ..stream::Config::default()
        };
        let stream_error = |source: Box<dyn std::error::Error + Send + Sync>| QueueError::Stream {
            stream: names.stream.clone(),
            source,
        };
        let mut stream = js
            .get_or_create_stream(stream_config.clone())
            .await
            .map_err(|e| stream_error(Box::new(e)))?;
        let existing = stream
            .info()
            .await
            .map_err(|e| stream_error(Box::new(e)))?
            .config
            .clone();
        if existing.retention != stream::RetentionPolicy::WorkQueue {
            return Err(QueueError::WrongRetention {
                stream: names.stream.clone(),
                retention: format!("{:?}", existing.retention),
            });
        }
        if existing.max_messages != stream_config.max_messages || existing.discard != stream::DiscardPolicy::New {
            tracing::info!(
                from = existing.max_messages,
                to = stream_config.max_messages,
                "queue: setting the stream's capacity"
            );
            js.update_stream(stream::Config {
                max_messages: stream_config.max_messages,
                discard: stream::DiscardPolicy::New,
                ..existing
            })
            .await
            .map_err(|e| stream_error(Box::new(e)))?;
        }
        let consumer_config = consumer::pull::Config {
            durable_name: Some(names.consumer.clone()),
            description: Some("tiderun workers: every node pulls submissions from here".to_owned()),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: options.ack_wait,
            max_deliver: options.max_deliver,
            filter_subject: names.subject.clone(),
            ..consumer::pull::Config::default()
        };
        let consumer_error = |source: Box<dyn std::error::Error + Send + Sync>| QueueError::Consumer {
            consumer: names.consumer.clone(),
            source,
        };
        // Created, or — when it exists — given our ack wait and deliveries (nats-server 2.9
        // updates a durable consumer on a create with changed settings it allows).
        let consumer: consumer::PullConsumer = match stream.create_consumer(consumer_config).await {
            Ok(consumer) => consumer,
            Err(e) => {
                tracing::warn!(error = %e, "queue: the consumer exists with other settings; using it as it is");
                stream.get_consumer(&names.consumer).await.map_err(consumer_error)?
            }
        };
        let waiting = Arc::new(AtomicUsize::new(0));
        let refresher = tokio::spawn(refresh_waiting(consumer.clone(), Arc::clone(&waiting)));
        Ok(JetStreamQueue {
            client,
            js,
            consumer,
            subject: names.subject.clone(),
            capacity: options.capacity,
            max_deliver: options.max_deliver,
            waiting,
            closed: AtomicBool::new(false),
            refresher,
        })
    }

    /// Deliveries of one message, at most (the consumer's `max_deliver`).
    pub fn max_deliver(&self) -> i64 {
        self.max_deliver
    }
}

impl JetStreamQueue {
    async fn publish(&self, token: String, message_id: String) -> Result<(), PushError> {
        let message = jetstream::message::PublishMessage::build()
            .payload(token.clone().into())
            .message_id(message_id);
        let sent = match self.js.send_publish(self.subject.clone(), message).await {
            Ok(ack) => ack.await,
            Err(e) => Err(e),
        };
        match sent {
            Ok(_) => Ok(()),
            Err(e) if is_full(&e) => Err(PushError::Full {
                capacity: self.capacity,
            }),
            Err(e) => {
                tracing::warn!(%token, error = %e, "queue: publish failed");
                Err(PushError::Unavailable)
            }
        }
    }
}

/// Keep `waiting` at the consumer's count of undelivered messages.
async fn refresh_waiting(consumer: consumer::PullConsumer, waiting: Arc<AtomicUsize>) {
    let mut tick = tokio::time::interval(LEN_REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Ok(info) = consumer.get_info().await {
            waiting.store(
                usize::try_from(info.num_pending).unwrap_or(usize::MAX),
                Ordering::Relaxed,
            );
        }
    }
}

/// Whether a publish error is the stream refusing a message past `max_msgs`.
fn is_full(e: &jetstream::context::PublishError) -> bool {
    use std::error::Error;
    e.kind() == PublishErrorKind::Other
        && e.source()
            .and_then(|s| s.downcast_ref::<jetstream::Error>())
            .is_some_and(|js| js.error_code() == jetstream::ErrorCode::STREAM_STORE_FAILED)
}

#[async_trait]
impl Queue for JetStreamQueue {
    /// Publish the token (its own message id, so a publish the client repeats after a
    /// reconnect is stored once). Pushing goes on while the node drains: another node takes it.
    async fn push(&self, token: String) -> Result<(), PushError> {
        let id = token.clone();
        self.publish(token, id).await
    }

    /// Publish the token under a new message id: the stream's duplicate window (two minutes)
    /// would drop it as a repeat of its first publish.
    async fn push_again(&self, token: String) -> Result<(), PushError> {
        let id = format!("{token}.{}", uuid::Uuid::new_v4());
        self.publish(token, id).await
    }

    /// Pull one message, waiting up to `wait` (at least a second: the server's shortest useful
    /// pull).
    async fn pop(&self, wait: Duration) -> Popped {
        if self.is_closed() {
            return Popped::Closed;
        }
        let pulled = self
            .consumer
            .batch()
            .max_messages(1)
            .expires(wait.max(Duration::from_secs(1)))
            .messages()
            .await;
        let mut messages = match pulled {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(error = %e, "queue: pull failed");
                tokio::time::sleep(PULL_RETRY).await;
                return Popped::Empty;
            }
        };
        match messages.next().await {
            Some(Ok(message)) => {
                let delivered = message.info().map_or(1, |i| u64::try_from(i.delivered).unwrap_or(1));
                let Ok(token) = std::str::from_utf8(&message.payload).map(str::to_owned) else {
                    // Not ours: nothing a worker could run. Drop it for good.
                    let _ = message.ack_with(AckKind::Term).await;
                    return Popped::Empty;
                };
                Popped::Delivery(Delivery::new(token, delivered, Some(Box::new(JetStreamAcker(message)))))
            }
            Some(Err(e)) => {
                tracing::debug!(error = %e, "queue: pull failed");
                tokio::time::sleep(PULL_RETRY).await;
                Popped::Empty
            }
            None => Popped::Empty,
        }
    }

    fn len(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn kind(&self) -> &'static str {
        "jetstream"
    }

    fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }
}

/// Acks one JetStream message.
struct JetStreamAcker(jetstream::Message);

#[async_trait]
impl Acker for JetStreamAcker {
    async fn ack(&self) {
        // Confirmed by the server: once this returns the message is gone from the stream.
        match tokio::time::timeout(ACK_TIMEOUT, self.0.double_ack()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "queue: ack not confirmed; the token may be delivered again"),
            Err(_) => tracing::warn!("queue: ack not confirmed in time; the token may be delivered again"),
        }
    }

    async fn progress(&self) {
        if let Err(e) = self.0.ack_with(AckKind::Progress).await {
            tracing::debug!(error = %e, "queue: progress ack failed");
        }
    }

    async fn release(&self) {
        if let Err(e) = self.0.ack_with(AckKind::Nak(None)).await {
            tracing::debug!(error = %e, "queue: nak failed");
        }
    }
}
