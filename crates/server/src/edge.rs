//! The service's edge: which proxies may say who the client is, and how long and how many
//! connections may stay open (slowloris: clients that trickle a request's header, or hold
//! idle connections, to use up the server's connections and descriptors).
//!
//! `axum::serve` takes no settings (hyper's header timeout needs a timer it is not given), and
//! hyper's header timer also runs while a keep-alive connection waits for its next request, so
//! it cannot be told apart from an idle timeout. So the connections `serve` accepts are wrapped
//! here. [`EdgeListener`] waits for a free connection slot before it accepts (past the cap, new
//! connections wait in the kernel's backlog while the open ones are served), and each
//! connection's reads carry a deadline that depends on what the connection is doing, which
//! [`track`] tells it (the service speaks HTTP/1.1 — axum is built without `http2` — so an
//! upgrade is a `101 Switching Protocols`):
//!
//! - nothing received yet on a new connection: the header read timeout (from the accept);
//! - part of a request received: the header read timeout (from its first byte);
//! - waiting for the next request on a keep-alive connection: the idle timeout;
//! - a request being served, or upgraded to a WebSocket: none (bodies have their own idle
//!   timeout, `BODY_IDLE_TIMEOUT`; WebSockets have their own limits).
//!
//! A read past its deadline fails with `TimedOut`, and hyper closes the connection.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::body::Body;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use axum::serve::IncomingStream;
use ipnet::IpNet;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// Time a client has to send a request's header, from its first byte (on a new connection:
/// from the accept). A classroom's browsers send theirs in one packet; 10 s covers a poor
/// mobile link and still frees a slowloris connection soon.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest `--header-read-timeout-s`.
pub const MAX_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(120);
/// Time a keep-alive connection may wait for its next request. Long enough for a student's
/// next click to reuse the connection, short enough that idle browsers do not hold the
/// connection slots (Firefox keeps idle connections 115 s, Chrome 300 s; they reconnect).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest `--idle-timeout-s`.
pub const MAX_IDLE_TIMEOUT: Duration = Duration::from_secs(3600);
/// Connections open at once (WebSockets included); past it new ones wait until one closes.
/// Each holds one file descriptor and hyper's buffers (a few KiB idle, up to ~400 KiB while a
/// large header is read); 1024 is a school's worth of browsers, fewer behind a proxy.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// The largest `--max-connections`.
pub const MAX_MAX_CONNECTIONS: usize = 65_536;

/// How the service meets its clients (`ServerConfig::edge`).
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// Proxies whose `Forwarded` / `X-Forwarded-For` name the client (for rate limits).
    /// Empty: the connection's peer is the client, and those headers are ignored.
    pub trusted_proxies: Vec<IpNet>,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeConfig {
            trusted_proxies: Vec::new(),
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// A setting of [`EdgeConfig`] outside its range.
#[derive(Debug, thiserror::Error)]
#[error("{setting} must be from {min} to {max} (it is {value})")]
pub struct EdgeConfigError {
    pub setting: &'static str,
    pub value: String,
    pub min: String,
    pub max: String,
}

impl EdgeConfig {
    /// Each setting within its range.
    pub fn check(&self) -> Result<(), EdgeConfigError> {
        let secs = |d: Duration| format!("{}s", d.as_secs_f64());
        let out = |setting, value: String, min: String, max: String| {
            Err(EdgeConfigError {
                setting,
                value,
                min,
                max,
            })
        };
        let one_s = Duration::from_secs(1);
        if !(one_s..=MAX_HEADER_READ_TIMEOUT).contains(&self.header_read_timeout) {
            let (v, max) = (secs(self.header_read_timeout), secs(MAX_HEADER_READ_TIMEOUT));
            return out("the header read timeout", v, secs(one_s), max);
        }
        if !(one_s..=MAX_IDLE_TIMEOUT).contains(&self.idle_timeout) {
            let (v, max) = (secs(self.idle_timeout), secs(MAX_IDLE_TIMEOUT));
            return out("the idle timeout", v, secs(one_s), max);
        }
        if !(1..=MAX_MAX_CONNECTIONS).contains(&self.max_connections) {
            let (v, max) = (self.max_connections.to_string(), MAX_MAX_CONNECTIONS.to_string());
            return out("the connection limit", v, "1".into(), max);
        }
        Ok(())
    }
}

/// A TCP listener that accepts only while fewer than `max_connections` are open, and hands
/// out connections that time out as the module documentation says.
#[derive(Debug)]
pub struct EdgeListener {
    listener: TcpListener,
    slots: Arc<Semaphore>,
    timeouts: Timeouts,
}

#[derive(Debug, Clone, Copy)]
struct Timeouts {
    header: Duration,
    idle: Duration,
}

impl EdgeListener {
    pub fn new(listener: TcpListener, config: &EdgeConfig) -> EdgeListener {
        EdgeListener {
            listener,
            slots: Arc::new(Semaphore::new(config.max_connections.clamp(1, MAX_MAX_CONNECTIONS))),
            timeouts: Timeouts {
                header: config.header_read_timeout,
                idle: config.idle_timeout,
            },
        }
    }
}

impl axum::serve::Listener for EdgeListener {
    type Io = EdgeIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (EdgeIo, SocketAddr) {
        let slot = Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .expect("the connection semaphore is never closed");
        loop {
            match self.listener.accept().await {
                Ok((stream, addr)) => {
                    // Small writes go out at once: a WebSocket session sends its `runtime`,
                    // `stage`, output and `exit` as separate small messages, and with Nagle's
                    // algorithm each waited for the client's delayed ACK of the one before
                    // (40 ms on Linux) — most of the classroom page's click-to-output time.
                    // hyper writes a response's head and body together, so answers lose nothing.
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::debug!(error = %e, "TCP_NODELAY not set");
                    }
                    return (EdgeIo::new(stream, slot, self.timeouts), addr);
                }
                // The client gave up before the accept: nothing to do.
                Err(e) if is_connection_error(&e) => {}
                // Out of descriptors or memory: pause rather than spin (as axum::serve does).
                Err(e) => {
                    tracing::error!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// What a connection is doing, shared by its [`EdgeIo`] and the requests it carries.
#[derive(Debug)]
struct Activity {
    timeouts: Timeouts,
    state: Mutex<ActivityState>,
}

#[derive(Debug)]
struct ActivityState {
    /// Requests between their start and the end of their response body.
    in_flight: usize,
    /// A WebSocket (or other upgrade) owns the connection now.
    upgraded: bool,
    /// When the connection was accepted or its last response ended.
    idle_since: Instant,
    /// When the first byte after `idle_since` arrived (a request's header is coming in).
    head_started: Option<Instant>,
    /// No request has started yet: the connection's first header is due.
    fresh: bool,
    /// The connection's task (the last to read or write): woken when a request ends, for
    /// hyper does not read an idle keep-alive connection until it is woken, and its read must
    /// take up the idle deadline.
    task: Option<Waker>,
}

impl ActivityState {
    fn remember(&mut self, task: &Waker) {
        if !self.task.as_ref().is_some_and(|w| w.will_wake(task)) {
            self.task = Some(task.clone());
        }
    }
}

impl Activity {
    /// The connection's task wrote (a response, usually).
    fn writing(&self, task: &Waker) {
        self.lock().remember(task);
    }

    fn lock(&self) -> MutexGuard<'_, ActivityState> {
        // The state is a few plain fields written whole: a panic elsewhere cannot leave it
        // half-updated.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// When a read that is still waiting must give up.
    fn deadline(&self, task: &Waker) -> Option<Instant> {
        let mut s = self.lock();
        s.remember(task);
        if s.upgraded || s.in_flight > 0 {
            return None;
        }
        Some(match s.head_started {
            Some(t) => t + self.timeouts.header,
            None if s.fresh => s.idle_since + self.timeouts.header,
            None => s.idle_since + self.timeouts.idle,
        })
    }

    fn received(&self) {
        let mut s = self.lock();
        if s.in_flight == 0 && s.head_started.is_none() {
            // A new connection's first header is due from the accept.
            s.head_started = Some(if s.fresh { s.idle_since } else { Instant::now() });
        }
    }

    fn request_started(&self) {
        let mut s = self.lock();
        s.in_flight += 1;
        s.fresh = false;
        s.head_started = None;
    }

    /// The end of a response (or of a request whose response was never made). Bytes of a
    /// pipelined next request that hyper read meanwhile are not told apart: that request's
    /// header then has the idle timeout rather than the header timeout, bounded all the same.
    fn request_ended(&self) {
        let task = {
            let mut s = self.lock();
            s.in_flight = s.in_flight.saturating_sub(1);
            if s.in_flight > 0 {
                return;
            }
            s.idle_since = Instant::now();
            s.head_started = None;
            s.task.take()
        };
        if let Some(task) = task {
            task.wake();
        }
    }

    fn upgrade(&self) {
        self.lock().upgraded = true;
    }
}

/// An accepted connection: reads time out as the connection's [`Activity`] says; the
/// connection slot is given back when it is dropped (after an upgrade too).
#[derive(Debug)]
pub struct EdgeIo {
    stream: TcpStream,
    activity: Arc<Activity>,
    timer: Pin<Box<Sleep>>,
    _slot: OwnedSemaphorePermit,
}

impl EdgeIo {
    fn new(stream: TcpStream, slot: OwnedSemaphorePermit, timeouts: Timeouts) -> EdgeIo {
        let now = Instant::now();
        EdgeIo {
            stream,
            activity: Arc::new(Activity {
                timeouts,
                state: Mutex::new(ActivityState {
                    in_flight: 0,
                    upgraded: false,
                    idle_since: now,
                    head_started: None,
                    fresh: true,
                    task: None,
                }),
            }),
            timer: Box::pin(tokio::time::sleep_until(now + timeouts.header)),
            _slot: slot,
        }
    }
}

impl AsyncRead for EdgeIo {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.activity.received();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let Some(deadline) = this.activity.deadline(cx.waker()) else {
                    return Poll::Pending;
                };
                if this.timer.deadline() != deadline {
                    this.timer.as_mut().reset(deadline);
                }
                match this.timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client sent no complete request in time",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncWrite for EdgeIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.activity.writing(cx.waker());
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.activity.writing(cx.waker());
        Pin::new(&mut this.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// The connection a request came on (`ConnectInfo<Peer>`).
#[derive(Debug, Clone)]
pub struct Peer {
    pub addr: SocketAddr,
    activity: Arc<Activity>,
}

impl Connected<IncomingStream<'_, EdgeListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, EdgeListener>) -> Self {
        Peer {
            addr: *stream.remote_addr(),
            activity: Arc::clone(&stream.io().activity),
        }
    }
}

/// Middleware: tell the connection a request is being served until its response body is
/// done (or dropped), and when it was upgraded.
pub async fn track(request: Request, next: Next) -> Response {
    let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<Peer>>().cloned() else {
        return next.run(request).await;
    };
    peer.activity.request_started();
    let guard = RequestGuard(Arc::clone(&peer.activity));
    let response = next.run(request).await;
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        peer.activity.upgrade();
    }
    response.map(|body| Body::new(GuardedBody { body, _guard: guard }))
}

/// Ends its request when dropped.
struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.request_ended();
    }
}

/// A response body that ends its request when hyper drops it (written, or the client gone).
struct GuardedBody {
    body: Body,
    _guard: RequestGuard,
}

impl http_body::Body for GuardedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_connections_send_small_writes_at_once() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let mut edge = EdgeListener::new(listener, &EdgeConfig::default());
        let client = TcpStream::connect(addr);
        let ((io, _), client) = tokio::join!(axum::serve::Listener::accept(&mut edge), client);
        let _client = client.expect("connect");
        assert!(
            io.stream.nodelay().expect("read TCP_NODELAY"),
            "Nagle's algorithm is off"
        );
    }

    #[test]
    fn settings_are_checked() {
        assert!(EdgeConfig::default().check().is_ok());
        let bad = [
            EdgeConfig {
                header_read_timeout: Duration::ZERO,
                ..EdgeConfig::default()
            },
            EdgeConfig {
                header_read_timeout: MAX_HEADER_READ_TIMEOUT + Duration::from_secs(1),
                ..EdgeConfig::default()
            },
            EdgeConfig {
                idle_timeout: MAX_IDLE_TIMEOUT * 2,
                ..EdgeConfig::default()
            },
            EdgeConfig {
                max_connections: 0,
                ..EdgeConfig::default()
            },
            EdgeConfig {
                max_connections: MAX_MAX_CONNECTIONS + 1,
                ..EdgeConfig::default()
            },
        ];
        for config in bad {
            let e = config.check().unwrap_err().to_string();
            assert!(e.contains(" must be from "), "{e}");
        }
        let e = EdgeConfig {
            idle_timeout: Duration::from_secs(7200),
            ..EdgeConfig::default()
        }
        .check()
        .unwrap_err();
        assert_eq!(e.to_string(), "the idle timeout must be from 1s to 3600s (it is 7200s)");
    }
}
