//! A stand-in for the engine behind the router: the real check (the built-in runtime files,
//! detected on this host, and the engine's request limits), the real Runner (admission,
//! sessions), and instead of sandboxes a tiny interpreter whose answers are fixed by the
//! program's text — so authentication, CORS, validation, error bodies and every dialect's
//! shapes are tested exactly, without root or a kernel feature.
//!
//! A program is its main file's lines. A line `# WORD` or `# WORD: VALUE` (also `// WORD...`)
//! is a directive; every other line is ignored, so `#include` or `print(1)` do nothing. The
//! run does the output directives in order:
//!
//! - `stdout: TEXT` / `stderr: TEXT`: the text and a newline on that stream;
//! - `bytes: HEX`: raw bytes on stdout (`ff fe`);
//! - `stdin`: stdin echoed to stdout (in a session, each chunk as it arrives, until EOF);
//! - `args`: the program's arguments, one line, as a list (`["a b", "c"]`);
//! - `main`: the main file's name; `files`: `NAME: CONTENT` (escaped) for every other file;
//! - `sleep: MS`: sleep that long (holds the run slot).
//!
//! A program without any directive echoes its stdin (as `stdin`). How it ends:
//! `exit: N` (`runtime_error` unless 0), `signal: N` (`signal`), `status: NAME` (any status:
//! `time_limit`, `wall_time_limit`, `memory_limit`, `output_limit` end killed by SIGKILL with a
//! message, as a limit does), `start_failure: KIND` (`internal_error`: the program could not be
//! started — `not_found`, `not_executable`, `exec_format`, `text_busy`, `other`, `setup`), else
//! `ok`. A compiled runtime's compile stage succeeds (its
//! stdout names the compiler arguments, if any) unless the program says `compile: error`.
//! Every stage takes [`CPU_MS`] of CPU (a run: `cpu: MS` says otherwise), [`WALL_MS`] (plus
//! its sleeps) and [`MEMORY_KB`], starts cold, and has its phase's memory limit.
//! Signals from a session's client are not seen: a session ends when its stdin closes.
#![allow(dead_code)]

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use engine::{
    Checked, EngineError, Executor, Graded, Interaction, Outcome, Prepared, RequestLimits, Runner, RunnerConfig,
    StageOutcome, Start, TestCase, TestResult,
};
use runtimes::Catalog;
use sandbox::{Output, StartFailure, StartFailureKind, Status, Stdin, StreamKind};
use server::ServerConfig;

use super::{Backend, TestServer};

/// CPU time of every fake stage.
pub const CPU_MS: u64 = 3;
/// Wall time of every fake stage, besides its sleeps.
pub const WALL_MS: u64 = 5;
/// Peak memory of every fake stage.
pub const MEMORY_KB: u64 = 2048;
/// The compile stage's stderr when the program says `compile: error`.
pub const COMPILE_ERROR: &str = "main: error: the program asked for a compile error\n";

/// The stand-in executor.
#[derive(Debug)]
pub struct FakeExecutor {
    catalog: Catalog,
    request_limits: RequestLimits,
}

impl FakeExecutor {
    /// Around the catalog every test server uses (detected once per test process), with the
    /// engine's default request limits.
    pub fn new() -> FakeExecutor {
        static CATALOG: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
        FakeExecutor::with_catalog(CATALOG.get_or_init(super::catalog).clone())
    }

    pub fn with_catalog(catalog: Catalog) -> FakeExecutor {
        FakeExecutor {
            catalog,
            request_limits: RequestLimits::default(),
        }
    }

    pub fn with_request_limits(mut self, limits: RequestLimits) -> FakeExecutor {
        self.request_limits = limits;
        self
    }

    /// A run of `prepared` with `io`.
    fn run(&self, prepared: &Prepared, io: Interaction<'_>) -> StageOutcome {
        let files = prepared.files();
        let program = Program::parse(&files[0].content);
        // The run's arguments are what follows the runtime's own command.
        let own = prepared
            .runtime()
            .plan(&files[0].path, &[])
            .map_or(prepared.argv().len(), |plan| plan.run.argv.len());
        let args = &prepared.argv()[own.min(prepared.argv().len())..];
        let Interaction { stdin, output, .. } = io;
        let mut out = Sink::new(output);
        let mut slept = Duration::ZERO;
        let mut stdin = Some(stdin);
        for step in &program.steps {
            match step {
                Step::Out(kind, bytes) => out.write(*kind, bytes),
                Step::Stdin => match stdin.take().unwrap_or_default() {
                    Stdin::Empty => {}
                    Stdin::Bytes(bytes) => out.write(StreamKind::Stdout, &bytes),
                    Stdin::Pipe(fd) => {
                        let mut pipe = std::fs::File::from(fd);
                        let mut buf = [0u8; 4096];
                        while let Ok(n @ 1..) = pipe.read(&mut buf) {
                            out.write(StreamKind::Stdout, &buf[..n]);
                        }
                    }
                },
                Step::Args => out.write(StreamKind::Stdout, format!("{args:?}\n").as_bytes()),
                Step::Main => out.write(StreamKind::Stdout, format!("{}\n", files[0].path).as_bytes()),
                Step::Files => {
                    for file in &files[1..] {
                        let line = format!("{}: {}\n", file.path, file.content.escape_ascii());
                        out.write(StreamKind::Stdout, line.as_bytes());
                    }
                }
                Step::Sleep(d) => {
                    std::thread::sleep(*d);
                    slept += *d;
                }
            }
        }
        let mut stage = program.end.stage();
        stage.wall_time_ms += slept.as_millis() as u64;
        stage.memory_limit_mb = prepared.limits().memory_mib;
        if let Some(cpu_ms) = program.cpu_ms {
            stage.cpu_time_ms = cpu_ms;
        }
        out.into_stage(stage)
    }

    /// The compile stage of a compiled runtime's job.
    fn compile(job: &Checked) -> StageOutcome {
        let program = Program::parse(&job.files()[0].content);
        let mut stage = End::Exit(0).stage();
        if !job.compile_args().is_empty() {
            stage.stdout = format!("compiler arguments: {}\n", job.compile_args().join(" ")).into_bytes();
        }
        if program.compile_error {
            stage = End::Exit(1).stage();
            stage.stderr = COMPILE_ERROR.as_bytes().to_vec();
        }
        stage.output = [stage.stdout.clone(), stage.stderr.clone()].concat();
        stage
    }
}

impl Default for FakeExecutor {
    fn default() -> Self {
        FakeExecutor::new()
    }
}

impl Executor for FakeExecutor {
    fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    fn request_limits(&self) -> RequestLimits {
        self.request_limits
    }

    fn execute(&self, job: &Checked, io: Interaction<'_>) -> Result<Outcome, EngineError> {
        let prepared = self.prepare(job)?;
        let mut outcome = prepared.outcome.clone();
        if prepared.runnable() {
            let run = self.run(&prepared, io);
            outcome.usage.add(&run);
            outcome.status = run.status;
            outcome.run = Some(run);
        }
        Ok(outcome)
    }

    fn execute_runs(
        &self,
        job: &Checked,
        stdin: &[u8],
        runs: usize,
    ) -> Result<(Outcome, Vec<StageOutcome>), EngineError> {
        let prepared = self.prepare(job)?;
        let mut outcome = prepared.outcome.clone();
        let mut all = Vec::new();
        if prepared.runnable() {
            for _ in 0..runs {
                all.push(self.run(&prepared, Interaction::with_stdin(stdin.to_vec())));
            }
        }
        for run in &all {
            outcome.usage.add(run);
        }
        if let Some(last) = all.last() {
            outcome.status = last.status;
            outcome.run = Some(last.clone());
        }
        Ok((outcome, all))
    }

    /// As the engine: graded by the engine's own rule ([`TestResult::judged`]), `ok` once
    /// compiled, every test `compile_error` otherwise.
    fn execute_tests(&self, job: &Checked, tests: Vec<TestCase>) -> Result<Graded, EngineError> {
        let prepared = self.prepare(job)?;
        let mut outcome = prepared.outcome.clone();
        if !prepared.runnable() {
            return Ok(Graded::not_compiled(outcome, tests));
        }
        let tests = tests
            .into_iter()
            .map(|mut test| {
                let stdin = std::mem::take(&mut test.stdin);
                let run = self.run(&prepared, Interaction::with_stdin(stdin));
                outcome.usage.add(&run);
                TestResult::judged(test, run)
            })
            .collect();
        outcome.status = Status::Ok;
        Ok(Graded { outcome, tests })
    }

    fn prepare(&self, job: &Checked) -> Result<Prepared, EngineError> {
        let compile = job.runtime().compiled().then(|| FakeExecutor::compile(job));
        Ok(Prepared::new(job, job.files().to_vec(), compile))
    }

    fn run_prepared(&self, prepared: &Prepared, io: Interaction<'_>) -> Result<StageOutcome, EngineError> {
        Ok(self.run(prepared, io))
    }
}

/// What a fake program does.
#[derive(Debug, Default)]
struct Program {
    steps: Vec<Step>,
    end: End,
    compile_error: bool,
    /// `cpu: MS`: the CPU time of each run.
    cpu_ms: Option<u64>,
}

#[derive(Debug)]
enum Step {
    Out(StreamKind, Vec<u8>),
    Stdin,
    Args,
    Main,
    Files,
    Sleep(Duration),
}

#[derive(Debug, Clone, Copy)]
enum End {
    Exit(i32),
    Signal(i32),
    Status(Status),
    StartFailure(StartFailureKind),
}

impl Default for End {
    fn default() -> Self {
        End::Exit(0)
    }
}

impl End {
    /// A stage that ended so, with the fake's numbers and no output yet.
    fn stage(self) -> StageOutcome {
        if let End::StartFailure(kind) = self {
            // The errno the sandbox sorts into this kind (Setup and Other: any).
            let errno = match kind {
                StartFailureKind::NotFound => 2,
                StartFailureKind::NotExecutable => 13,
                StartFailureKind::ExecFormat => 8,
                StartFailureKind::TextBusy => 26,
                StartFailureKind::Other | StartFailureKind::Setup => 7,
            };
            return StageOutcome {
                status: Status::InternalError,
                message: Some(format!("cannot start the program: {kind:?} (os error {errno})")),
                start_failure: Some(StartFailure { kind, errno }),
                cpu_time_ms: CPU_MS,
                wall_time_ms: WALL_MS,
                memory_kb: MEMORY_KB,
                start: Some(Start::Cold),
                ..StageOutcome::default()
            };
        }
        let (status, exit_code, signal, message) = match self {
            End::Exit(0) => (Status::Ok, Some(0), None, None),
            End::Exit(code) => (Status::RuntimeError, Some(code), None, None),
            End::Signal(n) => (Status::Signal, None, Some(n), Some(format!("killed by signal {n}"))),
            End::Status(status) => match status {
                Status::Ok => (status, Some(0), None, None),
                Status::RuntimeError => (status, Some(1), None, None),
                Status::TimeLimit => (status, None, Some(9), Some("cpu time exceeded its limit".into())),
                Status::WallTimeLimit => (status, None, Some(9), Some("wall time exceeded its limit".into())),
                Status::InputWaitLimit => (status, None, Some(9), Some("waited for input too long".into())),
                Status::MemoryLimit => (status, None, Some(9), Some("memory exceeded its limit".into())),
                Status::OutputLimit => (status, None, Some(9), Some("output exceeded its limit".into())),
                Status::FileSizeLimit => (status, None, Some(25), Some("a file exceeded its limit".into())),
                Status::Signal => (status, None, Some(9), Some("killed by signal 9".into())),
                Status::CompileError | Status::InternalError => (
                    Status::InternalError,
                    None,
                    None,
                    Some("the fake executor failed".into()),
                ),
            },
            End::StartFailure(_) => unreachable!("answered above"),
        };
        StageOutcome {
            status,
            exit_code,
            signal,
            message,
            cpu_time_ms: CPU_MS,
            wall_time_ms: WALL_MS,
            memory_kb: MEMORY_KB,
            start: Some(Start::Cold),
            ..StageOutcome::default()
        }
    }
}

impl Program {
    fn parse(source: &[u8]) -> Program {
        let mut program = Program::default();
        let mut directives = 0;
        for line in String::from_utf8_lossy(source).lines() {
            // Trailing whitespace is the value's (`stdout: a  `).
            let line = line.trim_start();
            let Some(rest) = line.strip_prefix("//").or_else(|| line.strip_prefix('#')) else {
                continue;
            };
            let (word, value) = match rest.split_once(':') {
                Some((word, value)) => (word.trim(), value.strip_prefix(' ').unwrap_or(value)),
                None => (rest.trim(), ""),
            };
            let step = match word {
                "stdout" => Step::Out(StreamKind::Stdout, format!("{value}\n").into_bytes()),
                "stderr" => Step::Out(StreamKind::Stderr, format!("{value}\n").into_bytes()),
                "bytes" => Step::Out(
                    StreamKind::Stdout,
                    value
                        .split_whitespace()
                        .map(|b| u8::from_str_radix(b, 16).expect("bytes: hex"))
                        .collect(),
                ),
                "stdin" if value.is_empty() => Step::Stdin,
                "args" if value.is_empty() => Step::Args,
                "main" if value.is_empty() => Step::Main,
                "files" if value.is_empty() => Step::Files,
                "sleep" => Step::Sleep(Duration::from_millis(value.trim().parse().expect("sleep: ms"))),
                "exit" => {
                    program.end = End::Exit(value.trim().parse().expect("exit: a code"));
                    directives += 1;
                    continue;
                }
                "signal" => {
                    program.end = End::Signal(value.trim().parse().expect("signal: a number"));
                    directives += 1;
                    continue;
                }
                "status" => {
                    let status = serde_json::from_value(serde_json::json!(value.trim())).expect("status: a name");
                    program.end = End::Status(status);
                    directives += 1;
                    continue;
                }
                "start_failure" => {
                    let kind = match value.trim() {
                        "not_found" => StartFailureKind::NotFound,
                        "not_executable" => StartFailureKind::NotExecutable,
                        "exec_format" => StartFailureKind::ExecFormat,
                        "text_busy" => StartFailureKind::TextBusy,
                        "setup" => StartFailureKind::Setup,
                        _ => StartFailureKind::Other,
                    };
                    program.end = End::StartFailure(kind);
                    directives += 1;
                    continue;
                }
                "cpu" => {
                    program.cpu_ms = Some(value.trim().parse().expect("cpu: ms"));
                    directives += 1;
                    continue;
                }
                "compile" => {
                    program.compile_error = value.trim() == "error";
                    directives += 1;
                    continue;
                }
                _ => continue,
            };
            directives += 1;
            program.steps.push(step);
        }
        if directives == 0 {
            program.steps.push(Step::Stdin);
        }
        program
    }
}

/// Where a fake run's output goes: captured into the stage (and the interleaved `output`), or
/// streamed to the caller's sink.
struct Sink<'a> {
    output: Output<'a>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    combined: Vec<u8>,
}

impl<'a> Sink<'a> {
    fn new(output: Output<'a>) -> Sink<'a> {
        Sink {
            output,
            stdout: Vec::new(),
            stderr: Vec::new(),
            combined: Vec::new(),
        }
    }

    fn write(&mut self, kind: StreamKind, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        match &mut self.output {
            Output::Stream(sink) => sink(kind, bytes),
            Output::Capture => {
                match kind {
                    StreamKind::Stdout => self.stdout.extend_from_slice(bytes),
                    StreamKind::Stderr => self.stderr.extend_from_slice(bytes),
                }
                self.combined.extend_from_slice(bytes);
            }
        }
    }

    fn into_stage(self, mut stage: StageOutcome) -> StageOutcome {
        stage.stdout = self.stdout;
        stage.stderr = self.stderr;
        stage.output = self.combined;
        stage
    }
}

/// A runner around the stand-in.
pub fn runner(config: RunnerConfig) -> Arc<Runner> {
    Runner::with_executor(Arc::new(FakeExecutor::new()), config)
}

/// A server with the stand-in behind it, on `backend`.
pub async fn start(config: ServerConfig, backend: Backend) -> TestServer {
    start_with(config, RunnerConfig::default(), backend).await
}

pub async fn start_with(config: ServerConfig, runner_config: RunnerConfig, backend: Backend) -> TestServer {
    super::start_with_runner(config, runner(runner_config), backend).await
}

/// Another node with the stand-in, on the database of `first`.
pub async fn start_on(config: ServerConfig, first: &TestServer) -> TestServer {
    super::start_on_url(
        config,
        runner(RunnerConfig::default()),
        first.backend,
        first.url.clone(),
    )
    .await
}
