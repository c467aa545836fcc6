//! The in-process work queue: order, bounds, close, waking, and use behind the trait.

use std::sync::Arc;
use std::time::Duration;

use store::{Popped, PushError, Queue, WorkQueue};

/// Long enough for a woken task to run on a loaded machine; only ever waited on when the test
/// is about to fail.
const WAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn t(i: usize) -> String {
    format!("token-{i}")
}

#[tokio::test]
async fn fifo_and_bounded() {
    let q = WorkQueue::new(3);
    assert!(q.is_empty());
    for i in 0..3 {
        q.try_push(t(i)).unwrap();
    }
    assert_eq!(q.len(), 3);
    assert_eq!(q.try_push(t(3)), Err(PushError::Full { capacity: 3 }));
    assert_eq!(PushError::Full { capacity: 3 }.to_string(), "queue is full (3 waiting)");
    assert_eq!(q.pop().await.as_deref(), Some("token-0"));
    q.try_push(t(3)).unwrap();
    let mut rest = Vec::new();
    while !q.is_empty() {
        rest.push(q.pop().await.unwrap());
    }
    assert_eq!(rest, [t(1), t(2), t(3)]);

    let none = WorkQueue::new(0);
    assert_eq!(none.try_push(t(0)), Err(PushError::Full { capacity: 0 }));
}

#[tokio::test]
async fn close_drains_then_ends() {
    let q = WorkQueue::new(10);
    q.try_push(t(0)).unwrap();
    q.try_push(t(1)).unwrap();
    q.close();
    assert!(q.is_closed());
    assert_eq!(q.try_push(t(2)), Err(PushError::Closed));
    assert_eq!(q.pop().await, Some(t(0)));
    assert_eq!(q.pop().await, Some(t(1)));
    assert_eq!(q.pop().await, None);
    assert_eq!(q.pop().await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_wakes_every_waiting_worker() {
    let q = Arc::new(WorkQueue::new(10));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            tokio::spawn({
                let q = Arc::clone(&q);
                async move { q.pop().await }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    q.close();
    for w in workers {
        assert_eq!(
            tokio::time::timeout(WAKE_TIMEOUT, w).await.expect("woken").unwrap(),
            None
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_share_the_tokens() {
    const TOKENS: usize = 2_000;
    let q = Arc::new(WorkQueue::new(64));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let q = Arc::clone(&q);
            tokio::spawn(async move {
                let mut got = Vec::new();
                while let Some(token) = q.pop().await {
                    got.push(token);
                }
                got
            })
        })
        .collect();
    for i in 0..TOKENS {
        let mut token = t(i);
        loop {
            match q.try_push(token) {
                Ok(()) => break,
                Err(PushError::Full { .. }) => {
                    token = t(i);
                    tokio::task::yield_now().await;
                }
                Err(e) => panic!("{e}"),
            }
        }
    }
    q.close();
    let mut all = Vec::new();
    for w in workers {
        all.extend(
            tokio::time::timeout(WAKE_TIMEOUT, w)
                .await
                .expect("workers finish")
                .unwrap(),
        );
    }
    all.sort();
    let mut expected: Vec<String> = (0..TOKENS).map(t).collect();
    expected.sort();
    assert_eq!(all, expected, "every token exactly once");
}

#[tokio::test]
async fn a_cancelled_pop_takes_nothing() {
    let q = WorkQueue::new(2);
    assert!(tokio::time::timeout(Duration::from_millis(20), q.pop()).await.is_err());
    q.try_push(t(0)).unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q.pop().await, Some(t(0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_the_trait() {
    let q: Arc<dyn Queue> = Arc::new(WorkQueue::new(2));
    assert_eq!(q.kind(), "in-process");
    assert!(q.is_connected());
    let waiting = tokio::spawn({
        let q = Arc::clone(&q);
        async move { q.pop(WAKE_TIMEOUT).await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    q.push(t(7)).await.unwrap();
    let popped = tokio::time::timeout(WAKE_TIMEOUT, waiting)
        .await
        .expect("woken")
        .unwrap();
    let Popped::Delivery(d) = popped else {
        panic!("expected a delivery, got {popped:?}")
    };
    // Delivered once; nothing to acknowledge in-process.
    assert_eq!((d.token(), d.delivered()), ("token-7", 1));
    d.progress().await;
    d.ack().await;
    assert!(q.is_empty());
    // Nothing within the wait: empty, not closed.
    assert!(matches!(q.pop(Duration::from_millis(20)).await, Popped::Empty));
    q.push(t(8)).await.unwrap();
    q.close();
    assert!(q.is_closed());
    assert_eq!(q.push(t(9)).await, Err(PushError::Closed));
    // Closed: this node takes nothing more (what is queued stays in the store for others).
    assert!(matches!(q.pop(WAKE_TIMEOUT).await, Popped::Closed));
}
