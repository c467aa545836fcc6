//! The async face of the engine: admission (bounded concurrency, a bounded wait queue, a
//! bounded wait), jobs on blocking threads, and interactive sessions whose output streams as
//! it is produced and whose stdin reaches the program at once.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sandbox::{Output, Stdin, StreamKind};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use crate::{Engine, EngineError, Interaction, Job, Outcome, StageOutcome, TestCase, TestResult};

/// Events of an interactive session buffered towards a slow client before the program's
/// output waits (the output cap bounds the total anyway).
const SESSION_EVENT_BUFFER: usize = 64;

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
pub struct Admission(#[allow(dead_code)] OwnedSemaphorePermit);

/// Runs jobs on blocking threads under admission control.
#[derive(Debug)]
pub struct Runner {
    engine: Arc<Engine>,
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    config: RunnerConfig,
    closed: AtomicBool,
    /// Admitted jobs and the time they waited for it (metrics: the mean wait).
    admitted: AtomicU64,
    waited_us: AtomicU64,
}

impl Runner {
    pub fn new(engine: Engine, config: RunnerConfig) -> Arc<Runner> {
        Arc::new(Runner {
            engine: Arc::new(engine),
            slots: Arc::new(Semaphore::new(config.max_concurrent.max(1))),
            waiting: AtomicUsize::new(0),
            config,
            closed: AtomicBool::new(false),
            admitted: AtomicU64::new(0),
            waited_us: AtomicU64::new(0),
        })
    }

    /// Jobs admitted since start-up, and the seconds they waited for a slot together.
    pub fn admission_totals(&self) -> (u64, f64) {
        (
            self.admitted.load(Ordering::Relaxed),
            self.waited_us.load(Ordering::Relaxed) as f64 / 1e6,
        )
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
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
    pub async fn admit(&self) -> Result<Admission, EngineError> {
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
    pub async fn execute(&self, job: Job, stdin: Vec<u8>) -> Result<Outcome, EngineError> {
        let admission = self.admit().await?;
        self.blocking(admission, move |engine| {
            engine.execute(&job, Interaction::with_stdin(stdin))
        })
        .await
    }

    /// Compile once, then run `runs` times with the same stdin, each in a fresh sandbox
    /// (Judge0's `number_of_runs`). The outcome's `run` is the last run.
    pub async fn execute_runs(
        &self,
        job: Job,
        stdin: Vec<u8>,
        runs: usize,
    ) -> Result<(Outcome, Vec<StageOutcome>), EngineError> {
        if runs == 0 || runs > crate::MAX_RUNS {
            return Err(EngineError::LimitOutOfRange {
                name: "number_of_runs",
                value: runs as u64,
                max: crate::MAX_RUNS as u64,
            });
        }
        let admission = self.admit().await?;
        self.blocking(admission, move |engine| engine.execute_runs(&job, &stdin, runs))
            .await
    }

    /// Compile once and run every test case in a fresh sandbox. The outcome carries the
    /// compile stage (and `compile_error`); with a successful compile its status is `ok`.
    pub async fn execute_tests(
        &self,
        job: Job,
        tests: Vec<TestCase>,
    ) -> Result<(Outcome, Vec<TestResult>), EngineError> {
        if tests.is_empty() || tests.len() > crate::MAX_TESTS {
            return Err(EngineError::BadRequest(format!(
                "give between 1 and {} tests",
                crate::MAX_TESTS
            )));
        }
        let admission = self.admit().await?;
        self.blocking(admission, move |engine| engine.execute_tests(&job, tests))
            .await
    }

    /// Start an interactive run: output streams as events, stdin and signals reach the
    /// program while it runs. The slot is held until the session ends.
    pub async fn start_session(&self, job: Job) -> Result<Session, EngineError> {
        // Refuse an unknown language before taking a slot.
        let runtime = self.engine.catalog().resolve(&job.language, job.version.as_deref())?;
        let (language, version) = (runtime.name.clone(), runtime.version.clone().unwrap_or_default());
        let admission = self.admit().await?;
        let (stdin_read, stdin_write) = sandbox::stdin_pipe()?;
        let (controller, control_read) = sandbox::control_pipe()?;
        let stdin = tokio::net::unix::pipe::Sender::from_owned_fd(stdin_write)
            .map_err(|e| EngineError::Internal(format!("stdin pipe: {e}")))?;
        let (tx, events) = mpsc::channel(SESSION_EVENT_BUFFER);
        let engine = Arc::clone(&self.engine);
        tokio::task::spawn_blocking(move || {
            let _admission = admission;
            let send = |e: Event| tx.blocking_send(e).is_ok();
            let compiled = engine
                .catalog()
                .resolve(&job.language, job.version.as_deref())
                .is_ok_and(|r| r.compiled());
            if compiled {
                send(Event::Stage(Stage::Compile));
            }
            let prepared = match engine.prepare(&job) {
                Ok(p) => p,
                Err(e) => {
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
                    stage: Stage::Compile,
                    result: compile.clone(),
                });
            }
            if !prepared.runnable() {
                send(Event::Done(Box::new(prepared.outcome)));
                return;
            }
            send(Event::Stage(Stage::Run));
            let mut sink = |stream: StreamKind, chunk: &[u8]| {
                let _ = tx.blocking_send(Event::Data {
                    stream,
                    data: chunk.to_vec(),
                });
            };
            let io = Interaction {
                stdin: Stdin::Pipe(stdin_read),
                output: Output::Stream(&mut sink),
                control: Some(control_read),
            };
            match engine.run_prepared(&prepared, io) {
                Ok(run) => {
                    let mut outcome = prepared.outcome;
                    outcome.status = run.status;
                    outcome.run = Some(run.clone());
                    send(Event::Exit {
                        stage: Stage::Run,
                        result: run,
                    });
                    send(Event::Done(Box::new(outcome)));
                }
                Err(e) => {
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
        F: FnOnce(&Engine) -> Result<T, EngineError> + Send + 'static,
    {
        let engine = Arc::clone(&self.engine);
        tokio::task::spawn_blocking(move || {
            let _admission = admission;
            f(&engine)
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

/// A stage of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Compile,
    Run,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Compile => "compile",
            Stage::Run => "run",
        }
    }
}

/// What an interactive session reports, in order.
#[derive(Debug, Clone)]
pub enum Event {
    /// A stage starts.
    Stage(Stage),
    /// Output of the current stage.
    Data { stream: StreamKind, data: Vec<u8> },
    /// A stage ended (its output was already sent as `Data`).
    Exit { stage: Stage, result: StageOutcome },
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
    events: mpsc::Receiver<Event>,
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

    /// Deliver a signal to the program's process group; SIGKILL ends the whole sandbox.
    pub fn signal(&self, signal: i32) -> Result<(), EngineError> {
        Ok(self.controller.signal(signal)?)
    }

    /// The next event; `None` after the last one.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // The client went away: nothing keeps running on its behalf.
        let _ = self.controller.signal(libc_sigkill());
    }
}

/// SIGKILL without a libc dependency in this crate.
const fn libc_sigkill() -> i32 {
    9
}
