//! The async face of the engine: admission (bounded concurrency, a bounded wait queue, a
//! bounded wait), jobs on blocking threads, and interactive sessions whose output streams as
//! it is produced and whose stdin reaches the program at once.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sandbox::{Output, Stdin, StreamKind};
use tokio::io::AsyncWriteExt;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::observe::{Observers, Trigger, Watch};
use crate::{
    Checked, Engine, EngineError, Executor, Graded, Interaction, Observer, Outcome, Phase, StageOutcome, TestCase,
};

/// Output waiting for a session's client is merged into `Data` events of about this size (a
/// full pipe, as the supervisor reads it), so one event is one WebSocket message of bounded
/// size.
const SESSION_DATA_EVENT_BYTES: usize = 64 * 1024;
/// Events waiting for a slow client before a chunk of output may be merged past one chunk of
/// the other stream (stdout and stderr are two pipes: their interleaving is approximate
/// anyway). Keeps the number of waiting events bounded when a program alternates one-byte
/// writes to both.
const SESSION_QUEUED_EVENTS: usize = 256;

/// Capacity settings.
#[derive(Debug, Clone, Copy)]
pub struct RunnerConfig {
    /// Jobs running at once (each holds a sandbox slot and CPU).
    pub max_concurrent: usize,
    /// Jobs waiting for a slot; past this, new jobs are refused at once.
    pub max_waiting: usize,
    /// How long a job may wait for a slot before it is refused.
    pub max_wait: Duration,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        RunnerConfig {
            max_concurrent: cores * 4,
            max_waiting: 256,
            max_wait: Duration::from_secs(10),
        }
    }
}

/// A held run slot.
#[derive(Debug)]
struct Admission(#[allow(dead_code)] OwnedSemaphorePermit);

/// Runs jobs on blocking threads under admission control. It admits only [`Checked`] jobs: a
/// request the engine would refuse is refused before it takes a slot or waits for one, so it
/// gets the same answer under load as when the node is idle.
///
/// Every request it is given is reported once, when it ends, to its observers
/// ([`Runner::observe_with`], [`crate::Observer`]): `trigger` names the caller for them.
#[derive(Debug)]
pub struct Runner {
    /// What runs an admitted job: the engine, or a stand-in in tests.
    engine: Arc<dyn Executor>,
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    config: RunnerConfig,
    closed: AtomicBool,
    /// Admitted jobs and the time they waited for it (metrics: the mean wait).
    admitted: AtomicU64,
    waited_us: AtomicU64,
    observers: Arc<Observers>,
}

impl Runner {
    /// A runner whose jobs the engine runs.
    pub fn new(engine: Engine, config: RunnerConfig) -> Arc<Runner> {
        Runner::with_executor(Arc::new(engine), config)
    }

    /// A runner whose jobs `executor` runs: the engine (shared with its owner, who may keep a
    /// handle on its sandbox), or a stand-in that needs no sandbox.
    pub fn with_executor(executor: Arc<dyn Executor>, config: RunnerConfig) -> Arc<Runner> {
        Arc::new(Runner {
            engine: executor,
            slots: Arc::new(Semaphore::new(config.max_concurrent.max(1))),
            waiting: AtomicUsize::new(0),
            config,
            closed: AtomicBool::new(false),
            admitted: AtomicU64::new(0),
            waited_us: AtomicU64::new(0),
            observers: Arc::default(),
        })
    }

    /// Report every request from now on to `observer` too (metrics, a log line).
    pub fn observe_with(&self, observer: Arc<dyn Observer>) {
        self.observers.add(observer);
    }

    /// Start watching a request for the observers.
    fn watch(&self, trigger: impl Into<Trigger>, job: &Checked) -> Watch {
        self.observers.watch(trigger.into(), &job.runtime().name)
    }

    /// Jobs admitted since start-up, and the seconds they waited for a slot together.
    pub fn admission_totals(&self) -> (u64, f64) {
        (
            self.admitted.load(Ordering::Relaxed),
            self.waited_us.load(Ordering::Relaxed) as f64 / 1e6,
        )
    }

    /// What runs this runner's jobs, and checks them: `runner.engine().check(job)`.
    pub fn engine(&self) -> &dyn Executor {
        &*self.engine
    }

    pub fn config(&self) -> RunnerConfig {
        self.config
    }

    /// Jobs running now.
    pub fn running(&self) -> usize {
        self.config.max_concurrent.max(1) - self.slots.available_permits()
    }

    /// Jobs waiting for a slot now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Stop admitting new jobs (graceful shutdown); running ones finish.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// Wait until no job is running, up to `timeout`. True when idle.
    pub async fn drain(&self, timeout: Duration) -> bool {
        let all = self.config.max_concurrent.max(1) as u32;
        tokio::time::timeout(timeout, self.slots.acquire_many(all))
            .await
            .is_ok_and(|p| p.is_ok())
    }

    /// Take a run slot: at once if one is free, else wait in the bounded queue for a bounded
    /// time. Refusals carry a Retry-After hint.
    async fn admit(&self) -> Result<Admission, EngineError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(EngineError::ShuttingDown);
        }
        if let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() {
            self.admitted.fetch_add(1, Ordering::Relaxed);
            return Ok(Admission(permit));
        }
        let busy = EngineError::Busy {
            retry_after_s: self.config.max_wait.as_secs().clamp(1, 60),
        };
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.config.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(busy);
        }
        let start = std::time::Instant::now();
        let waited = tokio::time::timeout(self.config.max_wait, Arc::clone(&self.slots).acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match waited {
            Ok(Ok(permit)) => {
                self.admitted.fetch_add(1, Ordering::Relaxed);
                self.waited_us
                    .fetch_add(start.elapsed().as_micros() as u64, Ordering::Relaxed);
                Ok(Admission(permit))
            }
            Ok(Err(_)) => Err(EngineError::ShuttingDown),
            Err(_) => Err(busy),
        }
    }

    /// Compile (if needed) and run once with fixed stdin.
    pub async fn execute(
        &self,
        trigger: impl Into<Trigger>,
        job: Checked,
        stdin: Vec<u8>,
    ) -> Result<Outcome, EngineError> {
        let watch = self.watch(trigger, &job);
        let result = async {
            let admission = self.admit().await?;
            self.blocking(admission, move |engine| {
                engine.execute(&job, Interaction::with_stdin(stdin))
            })
            .await
        }
        .await;
        watch.done(result.as_ref());
        result
    }

    /// Compile once, then run `runs` times with the same stdin, each in a fresh sandbox
    /// (Judge0's `number_of_runs`). The outcome's `run` is the last run.
    pub async fn execute_runs(
        &self,
        trigger: impl Into<Trigger>,
        job: Checked,
        stdin: Vec<u8>,
        runs: usize,
    ) -> Result<(Outcome, Vec<StageOutcome>), EngineError> {
        let watch = self.watch(trigger, &job);
        let result = async {
            crate::check_runs(runs)?;
            let admission = self.admit().await?;
            self.blocking(admission, move |engine| engine.execute_runs(&job, &stdin, runs))
                .await
        }
        .await;
        watch.done(result.as_ref().map(|(outcome, _)| outcome));
        result
    }

    /// Compile once, run every test case in a fresh sandbox, and grade them ([`Graded`]: a
    /// verdict per test, after a compile error too, and the score; hidden tests' runs left
    /// out). The outcome carries the compile stage (and `compile_error`); with a successful
    /// compile its status is `ok`.
    pub async fn execute_tests(
        &self,
        trigger: impl Into<Trigger>,
        job: Checked,
        tests: Vec<TestCase>,
    ) -> Result<Graded, EngineError> {
        let watch = self.watch(trigger, &job);
        let result = async {
            crate::check_tests(&tests)?;
            let admission = self.admit().await?;
            self.blocking(admission, move |engine| engine.execute_tests(&job, tests))
                .await
        }
        .await;
        watch.done(result.as_ref().map(|graded| &graded.outcome));
        result
    }

    /// Start an interactive run: output streams as events, stdin and signals reach the
    /// program while it runs. The slot is held until the session ends; the observers hear of
    /// it when it ends, however it ends (a client that leaves kills the program).
    pub async fn start_session(&self, trigger: impl Into<Trigger>, job: Checked) -> Result<Session, EngineError> {
        let watch = self.watch(trigger, &job);
        let runtime = job.runtime();
        let (language, version) = (runtime.name.clone(), runtime.version.clone().unwrap_or_default());
        let compiled = runtime.compiled();
        let started = async {
            let admission = self.admit().await?;
            let (stdin_read, stdin_write) = sandbox::stdin_pipe()?;
            let (controller, control) = sandbox::control_channel()?;
            let stdin = tokio::net::unix::pipe::Sender::from_owned_fd(stdin_write)
                .map_err(|e| EngineError::Internal(format!("stdin pipe: {e}")))?;
            Ok((admission, stdin_read, stdin, controller, control))
        }
        .await;
        let (admission, stdin_read, stdin, controller, control) = match started {
            Ok(started) => started,
            Err(e) => {
                watch.done(Err(&e));
                return Err(e);
            }
        };
        let outbox = Arc::new(Outbox::default());
        let events = Arc::clone(&outbox);
        let engine = Arc::clone(&self.engine);
        tokio::task::spawn_blocking(move || {
            let _admission = admission;
            // However this ends (a panic too), the session's reader sees the end.
            let _closed = CloseOnDrop(&outbox);
            let send = |e: Event| outbox.push(e);
            if compiled {
                send(Event::Stage(Phase::Compile));
            }
            let prepared = match engine.prepare(&job) {
                Ok(p) => p,
                Err(e) => {
                    watch.done(Err(&e));
                    send(Event::Error(public_message(&e)));
                    return;
                }
            };
            if let Some(compile) = &prepared.outcome.compile {
                for (stream, data) in [
                    (StreamKind::Stdout, &compile.stdout),
                    (StreamKind::Stderr, &compile.stderr),
                ] {
                    if !data.is_empty() {
                        send(Event::Data {
                            stream,
                            data: data.clone(),
                        });
                    }
                }
                send(Event::Exit {
                    phase: Phase::Compile,
                    result: compile.clone(),
                });
            }
            if !prepared.runnable() {
                watch.done(Ok(&prepared.outcome));
                send(Event::Done(Box::new(prepared.outcome)));
                return;
            }
            send(Event::Stage(Phase::Run));
            // Never waits for the client: the supervisor goes on enforcing the run's limits
            // while output waits in the outbox (bounded by the output cap).
            let mut sink = |stream: StreamKind, chunk: &[u8]| outbox.push_data(stream, chunk);
            let input_wait_ms = prepared.input_wait_ms();
            let mut waiting = |waiting: bool, left: Duration| {
                outbox.push(Event::Waiting {
                    waiting,
                    input_wait_ms,
                    input_wait_left_ms: u64::try_from(left.as_millis()).unwrap_or(u64::MAX),
                })
            };
            let io = Interaction {
                stdin: Stdin::Pipe(stdin_read),
                output: Output::Stream(&mut sink),
                control: Some(control),
                waiting: Some(&mut waiting),
            };
            match engine.run_prepared(&prepared, io) {
                Ok(run) => {
                    let mut outcome = prepared.outcome;
                    outcome.usage.add(&run);
                    outcome.status = run.status;
                    outcome.run = Some(run.clone());
                    // Observed before the client hears of the end.
                    watch.done(Ok(&outcome));
                    send(Event::Exit {
                        phase: Phase::Run,
                        result: run,
                    });
                    send(Event::Done(Box::new(outcome)));
                }
                Err(e) => {
                    watch.done(Err(&e));
                    send(Event::Error(public_message(&e)));
                }
            }
        });
        Ok(Session {
            language,
            version,
            stdin: Some(stdin),
            controller,
            events,
        })
    }

    async fn blocking<T, F>(&self, admission: Admission, f: F) -> Result<T, EngineError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Executor) -> Result<T, EngineError> + Send + 'static,
    {
        let engine = Arc::clone(&self.engine);
        tokio::task::spawn_blocking(move || {
            let _admission = admission;
            f(&*engine)
        })
        .await
        .map_err(|e| EngineError::Internal(format!("run task failed: {e}")))?
    }
}

/// The message a client may see: the error itself for its own mistakes, a generic line for
/// tiderun's failures (the detail goes to the log).
pub fn public_message(e: &EngineError) -> String {
    if e.is_caller_mistake() {
        e.to_string()
    } else {
        tracing::error!(error = ?e, "run failed");
        "internal error".to_string()
    }
}

/// What an interactive session reports, in order.
#[derive(Debug, Clone)]
pub enum Event {
    /// A phase (Piston's and the page's "stage") starts.
    Stage(Phase),
    /// Output of the current stage.
    Data { stream: StreamKind, data: Vec<u8> },
    /// The program started (`waiting`) or stopped waiting for input that was not sent; it
    /// may wait `input_wait_ms` in total across all its waits (that time is not counted as
    /// its wall time), of which `input_wait_left_ms` is left.
    Waiting {
        waiting: bool,
        input_wait_ms: u64,
        input_wait_left_ms: u64,
    },
    /// A phase ended (its output was already sent as `Data`).
    Exit { phase: Phase, result: StageOutcome },
    /// The job is over.
    Done(Box<Outcome>),
    /// The job could not run; the message is safe to show.
    Error(String),
}

/// An interactive run in progress. Dropping it kills the program.
#[derive(Debug)]
pub struct Session {
    pub language: String,
    pub version: String,
    stdin: Option<tokio::net::unix::pipe::Sender>,
    controller: sandbox::Controller,
    events: Arc<Outbox>,
}

impl Session {
    /// Send bytes to the program's stdin (waits while the pipe is full).
    pub async fn write_stdin(&mut self, data: &[u8]) -> Result<(), EngineError> {
        match self.stdin.as_mut() {
            Some(pipe) => pipe
                .write_all(data)
                .await
                .map_err(|_| EngineError::BadRequest("the program's stdin is closed".into())),
            None => Err(EngineError::BadRequest("stdin was already closed".into())),
        }
    }

    /// Close the program's stdin (it reads end of file).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Deliver a signal to the program's process group; SIGKILL ends the whole sandbox. Never
    /// blocks: a signal sent before the run starts (during the compile) is delivered when it
    /// starts, and one sent again before it was delivered is delivered once.
    pub fn signal(&self, signal: i32) -> Result<(), EngineError> {
        Ok(self.controller.signal(signal)?)
    }

    /// The next event; `None` after the last one.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.next().await
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // The client went away: nothing keeps running on its behalf, and nothing is kept for it.
        self.events.abandon();
        let _ = self.controller.signal(libc_sigkill());
    }
}

/// A session's events on their way to its client. The run's side only appends and never
/// waits: a client that stops reading must not stop the supervisor from enforcing the run's
/// limits (the clock, the cgroup's CPU, the output cap), nor keep the run's slot after the
/// run. So output waits here instead, bounded by the stages' output caps — the same bytes a
/// run that captures its output holds — and runs of small chunks are merged, so the number
/// of waiting events stays bounded too.
///
/// Our own small queue rather than a channel: a bounded channel makes the supervisor wait,
/// and an unbounded one of raw chunks costs an event per one-byte write.
#[derive(Debug, Default)]
struct Outbox {
    queue: Mutex<Queue>,
    ready: Notify,
}

#[derive(Debug, Default)]
struct Queue {
    events: VecDeque<Event>,
    /// The run's side is done: after the waiting events, the end.
    closed: bool,
    /// The session is gone: nothing is read any more, nothing is kept.
    abandoned: bool,
}

impl Outbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, event: Event) {
        {
            let mut queue = self.lock();
            if queue.abandoned {
                return;
            }
            queue.events.push_back(event);
        }
        self.ready.notify_one();
    }

    /// Output of the current stage: appended to a waiting event of its stream when one has
    /// room, else a new event.
    fn push_data(&self, stream: StreamKind, chunk: &[u8]) {
        {
            let mut queue = self.lock();
            if queue.abandoned || chunk.is_empty() {
                return;
            }
            if !queue.merge(stream, chunk) {
                queue.events.push_back(Event::Data {
                    stream,
                    data: chunk.to_vec(),
                });
            }
        }
        self.ready.notify_one();
    }

    fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_one();
    }

    fn abandon(&self) {
        let mut queue = self.lock();
        queue.abandoned = true;
        queue.events = VecDeque::new();
    }

    async fn next(&self) -> Option<Event> {
        loop {
            {
                let mut queue = self.lock();
                if let Some(event) = queue.events.pop_front() {
                    return Some(event);
                }
                if queue.closed {
                    return None;
                }
            }
            // A push between the check and here left a permit: this returns at once.
            self.ready.notified().await;
        }
    }
}

impl Queue {
    /// Append `chunk` to the last waiting event of `stream` if that keeps the stream's order
    /// and the event has room: the last event, or — with many events waiting — the one before
    /// it when the last is the other stream's output.
    fn merge(&mut self, stream: StreamKind, chunk: &[u8]) -> bool {
        let reach = if self.events.len() >= SESSION_QUEUED_EVENTS {
            2
        } else {
            1
        };
        for event in self.events.iter_mut().rev().take(reach) {
            match event {
                Event::Data { stream: s, data } if *s == stream => {
                    if data.len() >= SESSION_DATA_EVENT_BYTES {
                        return false;
                    }
                    data.extend_from_slice(chunk);
                    return true;
                }
                Event::Data { .. } => continue,
                _ => return false,
            }
        }
        false
    }
}

/// Closes an outbox when the run's side ends, however it ends.
struct CloseOnDrop<'a>(&'a Outbox);

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// SIGKILL without a libc dependency in this crate.
const fn libc_sigkill() -> i32 {
    9
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(event: &Event) -> (StreamKind, &[u8]) {
        match event {
            Event::Data { stream, data } => (*stream, data),
            other => panic!("not data: {other:?}"),
        }
    }

    #[tokio::test]
    async fn output_waits_merged_in_order_and_the_end_follows() {
        let outbox = Outbox::default();
        outbox.push(Event::Stage(Phase::Run));
        for byte in b"hello" {
            outbox.push_data(StreamKind::Stdout, &[*byte]);
        }
        outbox.push_data(StreamKind::Stderr, b"oops");
        outbox.push_data(StreamKind::Stdout, b"!");
        outbox.close();
        assert!(matches!(outbox.next().await, Some(Event::Stage(Phase::Run))));
        let first = outbox.next().await.expect("data");
        assert_eq!(data(&first), (StreamKind::Stdout, &b"hello"[..]));
        let second = outbox.next().await.expect("data");
        assert_eq!(data(&second), (StreamKind::Stderr, &b"oops"[..]));
        let third = outbox.next().await.expect("data");
        assert_eq!(data(&third), (StreamKind::Stdout, &b"!"[..]));
        assert!(outbox.next().await.is_none());
    }

    #[test]
    fn waiting_output_stays_in_few_bounded_events() {
        // A program that alternates one-byte writes to both streams, a client that reads
        // nothing: the events stay few, each stream's bytes keep their order, no event grows
        // far past the size of one message.
        let outbox = Outbox::default();
        let total = 4 * SESSION_DATA_EVENT_BYTES;
        for i in 0..total {
            let byte = [(i % 251) as u8];
            outbox.push_data(StreamKind::Stdout, &byte);
            outbox.push_data(StreamKind::Stderr, &byte);
        }
        let queue = outbox.lock();
        let most = SESSION_QUEUED_EVENTS + 2 * (2 * total / SESSION_DATA_EVENT_BYTES) + 2;
        assert!(queue.events.len() <= most, "{} events", queue.events.len());
        for stream in [StreamKind::Stdout, StreamKind::Stderr] {
            let bytes: Vec<u8> = queue
                .events
                .iter()
                .map(data)
                .filter(|(s, _)| *s == stream)
                .flat_map(|(_, d)| {
                    assert!(d.len() <= SESSION_DATA_EVENT_BYTES, "{}", d.len());
                    d.iter().copied()
                })
                .collect();
            let expected: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
            assert!(bytes == expected, "{stream:?} out of order");
        }
    }

    #[tokio::test]
    async fn a_reader_waits_for_the_next_push() {
        let outbox = Arc::new(Outbox::default());
        let reader = tokio::spawn({
            let outbox = Arc::clone(&outbox);
            async move { (outbox.next().await.is_some(), outbox.next().await.is_none()) }
        });
        tokio::task::yield_now().await;
        let writer = Arc::clone(&outbox);
        std::thread::spawn(move || {
            writer.push_data(StreamKind::Stdout, b"x");
            writer.close();
        });
        assert_eq!(reader.await.expect("reader"), (true, true));
    }

    #[test]
    fn an_abandoned_outbox_keeps_nothing() {
        let outbox = Outbox::default();
        outbox.push_data(StreamKind::Stdout, b"kept until the session goes");
        outbox.abandon();
        outbox.push_data(StreamKind::Stdout, b"dropped");
        outbox.push(Event::Stage(Phase::Run));
        assert!(outbox.lock().events.is_empty());
    }
}
