//! The JetStream queue against a real `nats-server -js` (Debian's 2.9 here):
//! `TIDERUN_TEST_NATS_URL` names a shared one (`scripts/test-nats` starts it) on which each
//! test uses a stream, subject and consumer of its own; the restart test starts a server of its
//! own (`nats-server` on PATH, or Debian's /usr/sbin/nats-server). Without them each test says
//! SKIPPED (a failure under TIDERUN_REQUIRE_ALL=1).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use store::{JetStreamNames, JetStreamOptions, JetStreamQueue, Popped, PushError, Queue};

const NATS_ENV: &str = "TIDERUN_TEST_NATS_URL";
/// Long enough for the server to answer on a loaded machine; only waited out when a test is
/// about to fail.
const ANSWER: Duration = Duration::from_secs(10);

fn shared_url() -> Option<String> {
    match std::env::var(NATS_ENV) {
        Ok(url) => Some(url),
        Err(_) => {
            testkit::skip(format_args!(
                "{NATS_ENV} is not set (scripts/test-nats starts a server)"
            ));
            None
        }
    }
}

/// Names no other test uses.
fn names() -> JetStreamNames {
    let id = store::Store::new_token().replace('-', "");
    JetStreamNames {
        stream: format!("TEST_{id}"),
        subject: format!("test.{id}"),
        consumer: format!("workers-{id}"),
    }
}

fn options(names: &JetStreamNames, capacity: usize, ack_wait: Duration) -> JetStreamOptions {
    JetStreamOptions {
        names: names.clone(),
        capacity,
        ack_wait,
        max_deliver: 5,
        client_name: "test".into(),
    }
}

async fn connect(url: &str, names: &JetStreamNames, capacity: usize, ack_wait: Duration) -> JetStreamQueue {
    JetStreamQueue::connect(url, options(names, capacity, ack_wait))
        .await
        .expect("connect to the test NATS server")
}

/// The next delivery, within [`ANSWER`].
async fn next(q: &JetStreamQueue) -> store::Delivery {
    let deadline = Instant::now() + ANSWER;
    loop {
        match q.pop(Duration::from_secs(1)).await {
            Popped::Delivery(d) => return d,
            Popped::Closed => panic!("closed"),
            Popped::Empty => assert!(Instant::now() < deadline, "nothing delivered"),
        }
    }
}

/// Nothing is delivered for `wait`.
async fn nothing_for(q: &JetStreamQueue, wait: Duration) {
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        if let Popped::Delivery(d) = q.pop(Duration::from_secs(1)).await {
            panic!("unexpected delivery of {} ({} times)", d.token(), d.delivered());
        }
    }
}

#[tokio::test]
async fn push_pop_ack_in_order_and_acked_means_gone() {
    let Some(url) = shared_url() else { return };
    let n = names();
    let q = connect(&url, &n, 100, Duration::from_secs(30)).await;
    assert_eq!(q.kind(), "jetstream");
    assert!(q.is_connected());
    for i in 0..3 {
        q.push(format!("t{i}")).await.unwrap();
    }
    for i in 0..3 {
        let d = next(&q).await;
        assert_eq!((d.token(), d.delivered()), (format!("t{i}").as_str(), 1));
        d.ack().await;
    }
    nothing_for(&q, Duration::from_secs(2)).await;
}

#[tokio::test]
async fn a_full_stream_refuses_with_full() {
    let Some(url) = shared_url() else { return };
    let n = names();
    let q = connect(&url, &n, 2, Duration::from_secs(30)).await;
    q.push("a".into()).await.unwrap();
    q.push("b".into()).await.unwrap();
    assert_eq!(q.push("c".into()).await, Err(PushError::Full { capacity: 2 }));
    // A message being run still counts (it is not acked); once acked there is room.
    let d = next(&q).await;
    assert_eq!(q.push("c".into()).await, Err(PushError::Full { capacity: 2 }));
    d.ack().await;
    q.push("c".into()).await.unwrap();
}

#[tokio::test]
async fn unacked_is_redelivered_after_ack_wait_and_progress_holds_it() {
    let Some(url) = shared_url() else { return };
    let n = names();
    let ack_wait = Duration::from_secs(4);
    // Two nodes on one consumer.
    let a = connect(&url, &n, 10, ack_wait).await;
    let b = connect(&url, &n, 10, ack_wait).await;
    a.push("held".into()).await.unwrap();
    let held = std::sync::Arc::new(next(&a).await);
    let first = held.delivered();
    // a sends progress every 200 ms from a task of its own (as a worker's heartbeat does), so
    // b's pulls never delay it: on a loaded machine a gap still stays far below the ack wait.
    let heartbeat = {
        let held = held.clone();
        tokio::spawn(async move {
            loop {
                held.progress().await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    // Held for two ack waits: never delivered elsewhere.
    let until = Instant::now() + ack_wait * 2;
    while Instant::now() < until {
        if let Popped::Delivery(d) = b.pop(Duration::from_secs(1)).await {
            panic!(
                "delivered to b while a sends progress: {} ({} times)",
                d.token(),
                d.delivered()
            );
        }
    }
    // a "dies": no more progress and no ack. b gets it after the ack wait, delivered again. (A
    // loaded machine may lose a delivery in flight and so count one more: the count only grows.)
    heartbeat.abort();
    let _ = heartbeat.await;
    drop(held);
    let again = next(&b).await;
    assert_eq!(again.token(), "held");
    assert!(again.delivered() > first, "{} then {}", first, again.delivered());
    again.ack().await;
    nothing_for(&a, ack_wait + Duration::from_secs(1)).await;
}

#[tokio::test]
async fn release_hands_it_on_at_once_and_deliveries_are_capped() {
    let Some(url) = shared_url() else { return };
    let n = names();
    let q = connect(&url, &n, 10, Duration::from_secs(60)).await;
    q.push("t".into()).await.unwrap();
    for i in 1..=5 {
        let d = next(&q).await;
        assert_eq!(d.delivered(), i);
        d.release().await;
    }
    // max_deliver 5: no sixth delivery.
    nothing_for(&q, Duration::from_secs(2)).await;
}

#[tokio::test]
async fn close_stops_deliveries_to_this_node_only() {
    let Some(url) = shared_url() else { return };
    let n = names();
    let a = connect(&url, &n, 10, Duration::from_secs(30)).await;
    let b = connect(&url, &n, 10, Duration::from_secs(30)).await;
    a.close();
    assert!(matches!(a.pop(Duration::from_secs(1)).await, Popped::Closed));
    // A draining node still publishes: another takes it.
    a.push("t".into()).await.unwrap();
    let d = next(&b).await;
    assert_eq!(d.token(), "t");
    d.ack().await;
}

#[tokio::test]
async fn the_stream_and_consumer_follow_the_settings_of_the_last_node() {
    let Some(url) = shared_url() else { return };
    let n = names();
    let _first = connect(&url, &n, 5, Duration::from_secs(30)).await;
    let second = connect(&url, &n, 1, Duration::from_secs(20)).await;
    second.push("a".into()).await.unwrap();
    assert_eq!(second.push("b".into()).await, Err(PushError::Full { capacity: 1 }));
}

/// A `nats-server -js` of this test's own, on a free loopback port, killed on drop.
struct OwnServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    exe: PathBuf,
}

impl OwnServer {
    fn start() -> Option<OwnServer> {
        let exe = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .or_else(|| {
                std::env::var_os("PATH").and_then(|path| {
                    std::env::split_paths(&path)
                        .map(|d| d.join("nats-server"))
                        .find(|p| p.exists())
                })
            });
        let Some(exe) = exe else {
            testkit::skip("no nats-server (scripts/test-nats installs it)");
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut server = OwnServer {
            child: None,
            port,
            dir: tempfile::tempdir().unwrap(),
            exe,
        };
        server.spawn();
        Some(server)
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let child = Command::new(&self.exe)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        let deadline = Instant::now() + ANSWER;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stop it as an operator's restart does (SIGTERM: it writes out its file store first).
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            if let Some(pid) = rustix::process::Pid::from_raw(c.id() as i32) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
            let _ = c.wait();
        }
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test]
async fn a_restarted_server_is_found_again_and_keeps_what_was_queued() {
    let Some(mut server) = OwnServer::start() else { return };
    let n = names();
    // A short ack wait: see the end.
    let q = connect(&server.url(), &n, 100, Duration::from_secs(3)).await;
    q.push("before".into()).await.unwrap();
    // Stopped, not killed: nats-server acknowledges a publish before its file store has
    // flushed it, so a SIGKILL a few milliseconds later may lose it. tiderun does not depend on that message: the submission is in the store, and
    // an idle worker claims any queued submission no queue holds (`Store::claim_next`).
    server.stop();
    // While it is down a publish waits (the client buffers it) and fails after the timeout...
    let started = Instant::now();
    assert_eq!(q.push("lost".into()).await, Err(PushError::Unavailable));
    assert!(started.elapsed() >= Duration::from_secs(1), "{:?}", started.elapsed());
    assert!(!q.is_connected());
    assert!(matches!(q.pop(Duration::from_secs(1)).await, Popped::Empty));
    server.spawn();
    // ...and once it is back the same client publishes and pulls: the stream kept its message.
    let deadline = Instant::now() + ANSWER;
    while !q.is_connected() {
        assert!(Instant::now() < deadline, "did not reconnect");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    q.push("after".into()).await.unwrap();
    // "before" may come after "after": a pull asked for while the server was down is sent on
    // reconnecting, and the server may hand "before" to it after that pop gave up; it is
    // delivered again once its ack wait has passed (a node's: twice the lease).
    let mut seen = Vec::new();
    while !(seen.contains(&"after".to_owned()) && seen.contains(&"before".to_owned())) {
        let d = next(&q).await;
        seen.push(d.token().to_owned());
        d.ack().await;
    }
    assert!(!seen.contains(&"lost".to_owned()), "{seen:?}");
}

#[tokio::test]
async fn a_repeated_push_is_dropped_but_a_push_again_is_delivered() {
    let Some(url) = shared_url() else { return };
    let n = names();
    let q = connect(&url, &n, 10, Duration::from_secs(30)).await;
    q.push("t".into()).await.unwrap();
    next(&q).await.ack().await;
    // The client repeating a publish (within the stream's duplicate window): stored once.
    q.push("t".into()).await.unwrap();
    nothing_for(&q, Duration::from_secs(2)).await;
    // Queued again after its node stopped: delivered.
    q.push_again("t".into()).await.unwrap();
    let d = next(&q).await;
    assert_eq!((d.token(), d.delivered()), ("t", 1));
    d.ack().await;
}
