//! The native API's wire types, apart from the engine's (which has no wire format): requests
//! convert into an [`engine::Job`] with `TryFrom`, engine results convert into responses with
//! `From`. `tiderun run --json` prints [`RunResponse`], so the command line and
//! `POST /api/v1/run` answer with one shape.

use std::collections::BTreeMap;

use base64::Engine as _;
use engine::{
    Graded, Job, LimitRequest, Outcome, PhaseRequest, SourceFile, StageOutcome, TestCase, TestResult, Verdict,
};
use sandbox::Status;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// Most files of one request: the engine's limit.
pub const MAX_FILES: usize = engine::MAX_FILES;
/// Most test cases of one request: the engine's limit.
pub const MAX_TESTS: usize = engine::MAX_TESTS;
/// Most program arguments of one request: the engine's limit.
pub const MAX_ARGS: usize = engine::MAX_ARGS;

/// `POST /api/v1/run`: a program, its input and limits, and optionally test cases.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"language": "python", "code": "print(input()[::-1])", "stdin": "hello"}))]
pub struct RunRequest {
    /// Language name or alias (`python`, `py`, `c`, `c++`...); see `GET /api/v1/runtimes`.
    #[schema(example = "python")]
    pub language: String,
    /// Semver selector of the language version (`3.x`, `*`); any when absent.
    #[serde(default)]
    pub version: Option<String>,
    /// The program as one file (the runtime's default file name). Give `code` or `files`.
    #[serde(default)]
    pub code: Option<String>,
    /// The program as files; the first is the main one. Give `code` or `files`.
    #[serde(default)]
    #[schema(max_items = 256)]
    pub files: Option<Vec<FileRequest>>,
    /// Text given to the program's standard input (without `tests`).
    #[serde(default)]
    pub stdin: Option<String>,
    /// Arguments for the program (never interpreted by a shell).
    #[serde(default)]
    #[schema(max_items = 256)]
    pub args: Option<Vec<String>>,
    /// Limits of the run; each absent field takes the runtime's default, and none may exceed
    /// the runtime's maximum (see `GET /api/v1/runtimes`).
    #[serde(default)]
    pub limits: Option<LimitsRequest>,
    /// Test cases: compile once, run each in a fresh sandbox, a verdict per test and a score.
    #[serde(default)]
    #[schema(max_items = 64)]
    pub tests: Option<Vec<TestRequest>>,
}

/// One source file.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileRequest {
    /// Relative path in the work directory (`main.py`, `lib/util.py`); no `..`, not absolute.
    /// Absent: the runtime's default for the first file, `file<N>` for the others.
    #[serde(default)]
    #[schema(example = "main.py")]
    pub name: Option<String>,
    /// The file's content, as text or base64 (see `encoding`).
    pub content: String,
    /// How `content` is encoded: `utf8` (default) or `base64`.
    #[serde(default)]
    pub encoding: Option<Encoding>,
}

/// The encoding of a file's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
pub enum Encoding {
    #[serde(rename = "utf8", alias = "utf-8")]
    Utf8,
    #[serde(rename = "base64")]
    Base64,
}

/// Requested limits of the run.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsRequest {
    /// CPU time of the whole process tree, milliseconds.
    #[serde(default, deserialize_with = "limit")]
    #[schema(minimum = 0, value_type = Option<u64>)]
    pub cpu_ms: Option<u64>,
    /// Wall-clock time, milliseconds; at most the server's time for a whole request
    /// (`--request-wall-s`, 400 past it), within which all tests of a request end.
    #[serde(default, deserialize_with = "limit")]
    #[schema(minimum = 0, value_type = Option<u64>)]
    pub wall_ms: Option<u64>,
    /// Memory of the whole process tree, MiB.
    #[serde(default, deserialize_with = "limit")]
    #[schema(minimum = 0, value_type = Option<u64>)]
    pub memory_mb: Option<u64>,
    /// Bytes of stdout and stderr together; one more ends the run with `output_limit`. The
    /// request's output budget (all its tests together, counted as JSON text) may end it sooner.
    #[serde(default, deserialize_with = "limit")]
    #[schema(minimum = 0, value_type = Option<u64>)]
    pub max_output_bytes: Option<u64>,
    /// Processes and threads.
    #[serde(default, deserialize_with = "limit")]
    #[schema(minimum = 0, value_type = Option<u64>)]
    pub max_processes: Option<u64>,
    /// Interactive runs (`/api/v1/ws`): how long the program may wait for input that was not
    /// sent, in total, across all waits, milliseconds (default 300000, at most 2700000). Such
    /// waiting does not count against `wall_ms`, so a run lasts at most `wall_ms` plus this;
    /// past it the run ends `input_wait_limit`.
    #[serde(default, deserialize_with = "limit")]
    #[schema(minimum = 0, value_type = Option<u64>)]
    pub input_wait_ms: Option<u64>,
}

/// One test case.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    /// A label shown back with the verdict.
    #[serde(default)]
    pub name: Option<String>,
    /// The test's standard input (empty when absent).
    #[serde(default)]
    pub stdin: String,
    /// The expected standard output; trailing whitespace of each line and trailing blank lines
    /// do not count.
    pub expected_output: String,
    /// A hidden test's input, expected output and the program's output are never shown: only
    /// its verdict.
    #[serde(default)]
    pub hidden: bool,
    /// How the output is compared: not part of the API (an exercise's `[grading]` sets it).
    #[serde(skip)]
    #[schema(ignore)]
    pub compare: engine::Comparison,
}

/// A limit value: a whole number from 0 up, with an error that says so otherwise.
fn limit<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    use serde::de::Error;
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    match (n.as_u64(), n.as_i64()) {
        (Some(v), _) => Ok(Some(v)),
        (None, Some(v)) => Err(D::Error::custom(format!("must not be negative, got {v}"))),
        (None, None) => Err(D::Error::custom(format!(
            "must be a whole number from 0 to {}, got {n}",
            u64::MAX
        ))),
    }
}

/// A request the engine cannot be given: what is wrong, in the caller's terms.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("give the program as `code` or as `files`, not both")]
    CodeAndFiles,
    #[error("no program: give `code` or `files`")]
    NoProgram,
    #[error("`code` is empty")]
    EmptyCode,
    #[error("`files` is empty: give at least the main file")]
    NoFiles,
    #[error("files[0] (the main file) is empty")]
    EmptyMainFile,
    #[error("{count} files is more than the limit of {max}")]
    TooManyFiles { count: usize, max: usize },
    #[error("files[{index}].name {name:?} is not allowed: {reason}")]
    BadFileName { index: usize, name: String, reason: String },
    #[error("files[{index}].name {name:?} names the same file as files[{first}]")]
    DuplicateFile { index: usize, first: usize, name: String },
    #[error("files[{index}].content is not valid base64")]
    BadBase64 { index: usize },
    #[error("{count} arguments is more than the limit of {max}")]
    TooManyArgs { count: usize, max: usize },
    #[error("`tests` is empty: give at least one test, or leave `tests` out")]
    NoTests,
    #[error("{count} tests is more than the limit of {max}")]
    TooManyTests { count: usize, max: usize },
    #[error("`stdin` does not apply with `tests`: give each test its own stdin")]
    StdinWithTests,
}

/// A request translated for the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeJob {
    pub job: Job,
    pub stdin: Vec<u8>,
    /// `Some` when the request carried test cases.
    pub tests: Option<Vec<TestCase>>,
}

impl TryFrom<RunRequest> for NativeJob {
    type Error = RequestError;

    fn try_from(r: RunRequest) -> Result<Self, Self::Error> {
        let files = match (r.code, r.files) {
            (Some(_), Some(_)) => return Err(RequestError::CodeAndFiles),
            (None, None) => return Err(RequestError::NoProgram),
            (Some(code), None) if code.trim().is_empty() => return Err(RequestError::EmptyCode),
            (Some(code), None) => vec![SourceFile {
                name: None,
                content: code.into_bytes(),
            }],
            (None, Some(files)) => source_files(files)?,
        };
        let args = r.args.unwrap_or_default();
        if args.len() > MAX_ARGS {
            return Err(RequestError::TooManyArgs {
                count: args.len(),
                max: MAX_ARGS,
            });
        }
        let tests = match r.tests {
            None => None,
            Some(_) if r.stdin.is_some() => return Err(RequestError::StdinWithTests),
            Some(tests) if tests.is_empty() => return Err(RequestError::NoTests),
            Some(tests) if tests.len() > MAX_TESTS => {
                return Err(RequestError::TooManyTests {
                    count: tests.len(),
                    max: MAX_TESTS,
                })
            }
            Some(tests) => Some(tests.into_iter().map(TestCase::from).collect()),
        };
        let job = Job {
            language: r.language,
            version: r.version,
            files,
            args,
            limits: r.limits.map(LimitRequest::from).unwrap_or_default(),
            // A plot is shown beside a run's output; a test's verdict has no place for one.
            images: tests.is_none(),
            ..Job::default()
        };
        Ok(NativeJob {
            job,
            stdin: r.stdin.map(String::into_bytes).unwrap_or_default(),
            tests,
        })
    }
}

fn source_files(files: Vec<FileRequest>) -> Result<Vec<SourceFile>, RequestError> {
    if files.is_empty() {
        return Err(RequestError::NoFiles);
    }
    if files.len() > MAX_FILES {
        return Err(RequestError::TooManyFiles {
            count: files.len(),
            max: MAX_FILES,
        });
    }
    let mut out = Vec::with_capacity(files.len());
    let mut seen = std::collections::HashMap::new();
    for (index, f) in files.into_iter().enumerate() {
        if let Some(name) = &f.name {
            // The engine checks again; checking here names the file by its index.
            let path = sandbox::validate_relative(name).map_err(|e| RequestError::BadFileName {
                index,
                name: name.clone(),
                reason: reason(e, name),
            })?;
            if let Some(&first) = seen.get(&path) {
                return Err(RequestError::DuplicateFile {
                    index,
                    first,
                    name: name.clone(),
                });
            }
            seen.insert(path, index);
        }
        let content = match f.encoding.unwrap_or(Encoding::Utf8) {
            Encoding::Utf8 => f.content.into_bytes(),
            Encoding::Base64 => base64::engine::general_purpose::STANDARD
                .decode(f.content.trim())
                .map_err(|_| RequestError::BadBase64 { index })?,
        };
        if index == 0 && content.trim_ascii().is_empty() {
            return Err(RequestError::EmptyMainFile);
        }
        out.push(SourceFile { name: f.name, content });
    }
    Ok(out)
}

/// The sandbox's message without its own `file name "…"` prefix (the index says which).
fn reason(e: sandbox::SandboxError, name: &str) -> String {
    let message = match e {
        sandbox::SandboxError::InvalidSpec(m) => m,
        other => other.to_string(),
    };
    let prefix = format!("file name {name:?} ");
    message.strip_prefix(&prefix).map(str::to_string).unwrap_or(message)
}

impl From<LimitsRequest> for LimitRequest {
    fn from(l: LimitsRequest) -> Self {
        LimitRequest {
            run: PhaseRequest {
                cpu_ms: l.cpu_ms,
                wall_ms: l.wall_ms,
                memory_mib: l.memory_mb,
                max_processes: l.max_processes,
                max_output_bytes: l.max_output_bytes,
                max_file_size_bytes: None,
            },
            input_wait_ms: l.input_wait_ms,
            ..LimitRequest::default()
        }
    }
}

impl From<TestRequest> for TestCase {
    fn from(t: TestRequest) -> Self {
        TestCase {
            name: t.name,
            stdin: t.stdin.into_bytes(),
            expected_output: t.expected_output.into_bytes(),
            hidden: t.hidden,
            compare: t.compare,
        }
    }
}

/// How a run or a stage ended. `output_limit` and `wall_time_limit` also end a run when the
/// request as a whole passes its output budget (the stdout and stderr of all its tests as JSON
/// text, `--request-output-mb`) or its wall time (`--request-wall-s`); a test the request had
/// nothing left for is not run and gets the same status, its `message` starting `not run:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Ok,
    RuntimeError,
    Signal,
    TimeLimit,
    WallTimeLimit,
    /// An interactive run (`/api/v1/ws`) waited for input longer than `limits.input_wait_ms`
    /// in total, across all its waits.
    InputWaitLimit,
    MemoryLimit,
    OutputLimit,
    FileSizeLimit,
    CompileError,
    InternalError,
}

impl From<Status> for RunStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Ok => RunStatus::Ok,
            Status::RuntimeError => RunStatus::RuntimeError,
            Status::Signal => RunStatus::Signal,
            Status::TimeLimit => RunStatus::TimeLimit,
            Status::WallTimeLimit => RunStatus::WallTimeLimit,
            Status::InputWaitLimit => RunStatus::InputWaitLimit,
            Status::MemoryLimit => RunStatus::MemoryLimit,
            Status::OutputLimit => RunStatus::OutputLimit,
            Status::FileSizeLimit => RunStatus::FileSizeLimit,
            Status::CompileError => RunStatus::CompileError,
            Status::InternalError => RunStatus::InternalError,
        }
    }
}

/// One stage (compile or run) of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct StageResponse {
    pub status: RunStatus,
    /// Standard output as UTF-8 (invalid sequences replaced).
    pub stdout: String,
    pub stderr: String,
    /// Exit code, when the program exited.
    #[schema(required = true)]
    pub exit_code: Option<i32>,
    /// The signal that ended the program, when one did.
    #[schema(required = true)]
    pub signal: Option<i32>,
    pub cpu_time_ms: u64,
    pub wall_time_ms: u64,
    /// Peak memory of the process tree, KiB.
    pub memory_kb: u64,
    /// Which limit ended the stage, or why it could not start: `not run: ...` for a test the
    /// request had no output budget or wall time left for.
    #[schema(required = true)]
    pub message: Option<String>,
    /// Present (and true) on a compile stage answered by the build cache: the same source,
    /// toolchain, compiler arguments and compile limits were built before, so nothing ran
    /// (times and memory are 0; output and status are the original compile's).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[schema(default = false)]
    pub cached: bool,
    /// Present when a limit ended the stage (or kept a test from running): its name as in
    /// `limits` (`cpu_ms`, `wall_ms`, `memory_mb`, `max_output_bytes`, `max_file_size_bytes`,
    /// `compile_…` for the compile stage, `request_output_bytes`/`request_wall_ms` for the
    /// request's own) and the value it had, in its unit. `message` says the same in English;
    /// a page words it in its language from this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<LimitReached>,
    /// Present (and true) when the output was cut at a limit (the run's `max_output_bytes`
    /// or the request's output budget; `status` is then `output_limit`): `stdout` and `stderr`
    /// end on a whole character, what came after was dropped.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[schema(default = false)]
    pub truncated: bool,
    /// Run stage of a run without tests: the images the program left in its work directory
    /// (`.png .jpg .jpeg .gif .svg .webp`, sorted by name), read only when it exited by itself.
    /// At most 8 images and 4 MiB together; those past a limit are listed with `skipped`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<ImageResponse>>,
}

/// A limit that ended a stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"name": "cpu_ms", "value": 3000}))]
pub struct LimitReached {
    /// The limit's name, as the field of `limits` that sets it.
    pub name: &'static str,
    /// Its value for this stage, in the limit's unit (ms, MiB, bytes).
    pub value: u64,
}

impl From<engine::LimitHit> for LimitReached {
    fn from(l: engine::LimitHit) -> Self {
        LimitReached {
            name: l.limit.name(),
            value: l.value,
        }
    }
}

/// An image a run left in its work directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ImageResponse {
    /// Path below the work directory.
    #[schema(example = "plot.png")]
    pub name: String,
    /// From the name's suffix; show SVG only as an image (`<img>`), never inline.
    #[schema(example = "image/png")]
    pub mime: String,
    /// Bytes.
    pub size: u64,
    /// The image's bytes, base64; absent when it was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_base64: Option<String>,
    /// Why the image was not returned (which limit); absent when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

impl From<engine::Image> for ImageResponse {
    fn from(i: engine::Image) -> Self {
        ImageResponse {
            name: i.name,
            mime: i.mime.to_string(),
            size: i.size,
            content_base64: i.content.map(|c| base64::engine::general_purpose::STANDARD.encode(c)),
            skipped: i.skipped,
        }
    }
}

impl From<StageOutcome> for StageResponse {
    fn from(s: StageOutcome) -> Self {
        StageResponse {
            status: s.status.into(),
            stdout: lossy(s.stdout),
            stderr: lossy(s.stderr),
            exit_code: s.exit_code,
            signal: s.signal,
            cpu_time_ms: s.cpu_time_ms,
            wall_time_ms: s.wall_time_ms,
            memory_kb: s.memory_kb,
            message: s.message,
            limit: s.limit.map(Into::into),
            cached: s.cached,
            truncated: s.truncated,
            files: s.files.map(|files| files.into_iter().map(Into::into).collect()),
        }
    }
}

fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// `init` on the native WebSocket (`/api/v1/ws`): a program, its arguments and limits, in the
/// names of `POST /api/v1/run` (`code` or `files`, `limits.wall_ms`...). No `stdin`: the
/// program's input is sent as `data` messages while it runs; no `tests`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    /// `init`.
    #[serde(rename = "type")]
    pub kind: String,
    pub language: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub files: Option<Vec<FileRequest>>,
    #[serde(default)]
    pub args: Option<Vec<String>>,
    #[serde(default)]
    pub limits: Option<LimitsRequest>,
}

impl TryFrom<SessionRequest> for Job {
    type Error = RequestError;

    /// The same translation as a run request's (and its images, shown beside the output).
    fn try_from(r: SessionRequest) -> Result<Self, Self::Error> {
        let run = RunRequest {
            language: r.language,
            version: r.version,
            code: r.code,
            files: r.files,
            stdin: None,
            args: r.args,
            limits: r.limits,
            tests: None,
        };
        Ok(NativeJob::try_from(run)?.job)
    }
}

/// `exit` on the native WebSocket: a stage ended. The fields of a stage of `POST /api/v1/run`
/// but its output, which was streamed as `data` messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageEnd {
    /// `compile` or `run`.
    pub stage: &'static str,
    pub status: RunStatus,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub cpu_time_ms: u64,
    pub wall_time_ms: u64,
    pub memory_kb: u64,
    pub message: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cached: bool,
    /// The limit that ended the stage (see [`StageResponse::limit`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<LimitReached>,
    /// The streamed output was cut at the run's output cap (see [`StageResponse::truncated`]).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<ImageResponse>>,
}

impl StageEnd {
    pub fn new(stage: &'static str, outcome: StageOutcome) -> StageEnd {
        let s = StageResponse::from(outcome);
        StageEnd {
            stage,
            status: s.status,
            exit_code: s.exit_code,
            signal: s.signal,
            cpu_time_ms: s.cpu_time_ms,
            wall_time_ms: s.wall_time_ms,
            memory_kb: s.memory_kb,
            message: s.message,
            limit: s.limit,
            cached: s.cached,
            truncated: s.truncated,
            files: s.files,
        }
    }
}

/// The result of a run without tests; `tiderun run --json` prints it too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RunResponse {
    /// `compile_error` when the compile stage failed, otherwise the run stage's status.
    pub status: RunStatus,
    /// The runtime that ran it (its name, not the alias asked for).
    pub language: String,
    pub version: String,
    /// The compile stage, for compiled languages.
    #[schema(required = true)]
    pub compile: Option<StageResponse>,
    /// The run stage; absent after a compile error.
    #[schema(required = true)]
    pub run: Option<StageResponse>,
}

impl From<Outcome> for RunResponse {
    fn from(o: Outcome) -> Self {
        RunResponse {
            status: o.status.into(),
            language: o.language,
            version: o.version,
            compile: o.compile.map(Into::into),
            run: o.run.map(Into::into),
        }
    }
}

/// The verdict of one test: `accepted`, `wrong_answer`, or how the run ended otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TestVerdict {
    Accepted,
    WrongAnswer,
    RuntimeError,
    Signal,
    TimeLimit,
    WallTimeLimit,
    MemoryLimit,
    OutputLimit,
    FileSizeLimit,
    CompileError,
    InternalError,
}

impl From<Verdict> for TestVerdict {
    fn from(v: Verdict) -> Self {
        match v {
            Verdict::Accepted => TestVerdict::Accepted,
            Verdict::WrongAnswer => TestVerdict::WrongAnswer,
            // An ok run always gets accepted or wrong_answer; `ok` here would be a bug.
            Verdict::Failed(Status::Ok) | Verdict::Failed(Status::InternalError) => TestVerdict::InternalError,
            Verdict::Failed(Status::RuntimeError) => TestVerdict::RuntimeError,
            Verdict::Failed(Status::Signal) => TestVerdict::Signal,
            Verdict::Failed(Status::TimeLimit) => TestVerdict::TimeLimit,
            // A test's input is given up front: it never waits for more, but it would be time.
            Verdict::Failed(Status::WallTimeLimit | Status::InputWaitLimit) => TestVerdict::WallTimeLimit,
            Verdict::Failed(Status::MemoryLimit) => TestVerdict::MemoryLimit,
            Verdict::Failed(Status::OutputLimit) => TestVerdict::OutputLimit,
            Verdict::Failed(Status::FileSizeLimit) => TestVerdict::FileSizeLimit,
            Verdict::Failed(Status::CompileError) => TestVerdict::CompileError,
        }
    }
}

/// The result of one test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TestReport {
    /// The test's label, when it had one.
    #[schema(required = true)]
    pub name: Option<String>,
    pub hidden: bool,
    pub verdict: TestVerdict,
    /// The run (output, time, memory); never present for a hidden test, absent for every test
    /// after a compile error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<StageResponse>,
}

impl From<TestResult> for TestReport {
    fn from(t: TestResult) -> Self {
        // The engine made the result: a hidden test's run is not in it.
        let (name, hidden, verdict, run) = t.into_parts();
        TestReport {
            name,
            hidden,
            verdict: verdict.into(),
            run: run.map(Into::into),
        }
    }
}

/// The result of a run with tests.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TestsResponse {
    /// `ok` when the program compiled and every test was judged (whatever the verdicts; a test
    /// the request had nothing left for is `output_limit` or `wall_time_limit`, not run),
    /// `compile_error` when it did not compile.
    pub status: RunStatus,
    pub language: String,
    pub version: String,
    /// The compile stage, for compiled languages.
    #[schema(required = true)]
    pub compile: Option<StageResponse>,
    /// One entry per test, in the order given.
    pub tests: Vec<TestReport>,
    /// Tests with the verdict `accepted`.
    pub passed: usize,
    /// Tests given.
    pub total: usize,
    /// `passed / total`, a fraction from 0 to 1 (an exercise's submission: the weights of the
    /// tests passed over the weights of all).
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub score: f64,
    /// An exercise's submission by a signed-in student: it was stored for the teacher's
    /// gradebook (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored: Option<StoredSubmission>,
}

/// A graded submission stored for a class (see `GET /api/v1/classes/me/submissions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct StoredSubmission {
    pub id: String,
    /// When it was stored (RFC 3339).
    pub at: String,
    /// After the deadline of every published assignment holding the exercise: stored all the
    /// same, and marked late in the gradebook.
    pub late: bool,
    /// The assignment it counts for (absent: the exercise is in no published assignment).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignment_id: Option<String>,
}

impl From<Graded> for TestsResponse {
    /// Verdicts, score and the hidden tests' redaction are the engine's; this only renames.
    fn from(graded: Graded) -> Self {
        let (passed, total, score) = (graded.passed(), graded.total(), graded.score());
        let outcome = graded.outcome;
        TestsResponse {
            status: outcome.status.into(),
            language: outcome.language,
            version: outcome.version,
            compile: outcome.compile.map(Into::into),
            tests: graded.tests.into_iter().map(TestReport::from).collect(),
            passed,
            total,
            score,
            stored: None,
        }
    }
}

/// The answer of `POST /api/v1/run`: a run, or a run with tests.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum RunOrTestsResponse {
    Run(RunResponse),
    Tests(TestsResponse),
}

/// Every error of the native API.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What is wrong, in words.
    #[schema(example = "unknown language \"no-such-language\"")]
    pub error: String,
}

/// Limit values of a runtime, in the request's names and units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct LimitValues {
    pub cpu_ms: u64,
    pub wall_ms: u64,
    pub memory_mb: u64,
    pub max_output_bytes: u64,
    pub max_processes: u64,
}

impl From<&runtimes::LimitSet> for LimitValues {
    fn from(l: &runtimes::LimitSet) -> Self {
        LimitValues {
            cpu_ms: l.cpu_ms,
            wall_ms: l.wall_ms,
            memory_mb: l.memory_mib,
            max_output_bytes: l.max_output_bytes,
            max_processes: l.max_processes,
        }
    }
}

/// What a request gets without `limits`, and the most it may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct RuntimeLimits {
    pub defaults: LimitValues,
    pub max: LimitValues,
}

/// Example programs of a runtime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RuntimeExample {
    /// Prints `Hello, world!`.
    pub hello: String,
    /// Asks for a name on stdin and greets it.
    #[schema(required = true)]
    pub interactive: Option<String>,
    /// The same programs in another page language, by locale (`zh-CN`): comments, prompts
    /// and strings translated. A missing one is the default's.
    #[schema(example = json!({"zh-CN": {"interactive": "name = input(\"你叫什么名字？\")\nprint(f\"你好，{name}！\")\n"}}))]
    pub localized: BTreeMap<String, RuntimeExampleText>,
}

/// `hello` and `interactive` in one more language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RuntimeExampleText {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hello: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interactive: Option<String>,
}

/// A beginner's hint of a runtime: the page shows `text` in the student's language beside a
/// failed run's message when the patterns match (JavaScript regular expressions, `u` flag;
/// with both, both must match; the first matching hint of the list is shown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RuntimeHint {
    #[schema(example = "missing-colon")]
    pub id: String,
    /// Tested against the compiler's or interpreter's message (the failed stage's stderr).
    #[serde(rename = "match", skip_serializing_if = "Option::is_none")]
    #[schema(example = "SyntaxError: expected ':'")]
    pub message_match: Option<String>,
    /// Tested against the program's text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_match: Option<String>,
    /// `error`: after a failed run or compile; `all_tests_failed`: after an exercise
    /// submission whose every test failed, where the text `source_match`'s first capturing
    /// group caught must also begin a failed test's output.
    #[schema(example = "error")]
    pub when: String,
    /// By locale: `en` always, `zh-CN` when the file has it.
    #[schema(example = json!({"en": "A colon : is missing at the end of the line.", "zh-CN": "这一行末尾少了英文冒号 : 。"}))]
    pub text: BTreeMap<String, String>,
}

impl From<&runtimes::Hint> for RuntimeHint {
    fn from(h: &runtimes::Hint) -> Self {
        RuntimeHint {
            id: h.id.clone(),
            message_match: h.message_match.clone(),
            source_match: h.source_match.clone(),
            when: match h.when {
                runtimes::HintWhen::Error => "error",
                runtimes::HintWhen::AllTestsFailed => "all_tests_failed",
            }
            .to_owned(),
            text: h.text.clone(),
        }
    }
}

/// One language of `GET /api/v1/runtimes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RuntimeInfo {
    /// The name to send as `language`.
    #[schema(example = "python")]
    pub language: String,
    #[schema(example = "Python")]
    pub display_name: String,
    /// The installed toolchain's version; null when it is not installed.
    #[schema(required = true)]
    pub version: Option<String>,
    /// Other names accepted as `language`.
    pub aliases: Vec<String>,
    /// False when this server lacks the toolchain: requests for it get 400.
    pub installed: bool,
    /// Whether a compile stage runs before the program.
    pub compiled: bool,
    /// Judge0 CE language ids served by this runtime.
    pub judge0_ids: Vec<u32>,
    /// The main file's default name.
    pub file: String,
    /// The classroom page's editor mode for the language (its runtime file's `highlight`);
    /// null, or a mode the page does not have, is plain text.
    #[schema(required = true, example = "python")]
    pub highlight: Option<String>,
    pub example: RuntimeExample,
    /// Beginners' hints, in the order they are tried (the runtime file's `[[hints]]`).
    pub hints: Vec<RuntimeHint>,
    /// Limits of the run stage.
    pub limits: RuntimeLimits,
}

impl From<&runtimes::Runtime> for RuntimeInfo {
    fn from(r: &runtimes::Runtime) -> Self {
        let run = &r.limits().run;
        RuntimeInfo {
            language: r.name.clone(),
            display_name: r.display_name.clone(),
            version: r.version.clone().filter(|_| r.installed),
            aliases: r.aliases.clone(),
            installed: r.installed,
            compiled: r.compiled(),
            judge0_ids: r.judge0_ids.clone(),
            file: r.file.clone(),
            highlight: r.highlight.clone(),
            example: RuntimeExample {
                hello: r.example.hello.clone(),
                interactive: r.example.interactive.clone(),
                localized: r
                    .example
                    .localized
                    .iter()
                    .map(|(locale, e)| {
                        let text = RuntimeExampleText {
                            hello: e.hello.clone(),
                            interactive: e.interactive.clone(),
                        };
                        (locale.clone(), text)
                    })
                    .collect(),
            },
            hints: r.hints.iter().map(RuntimeHint::from).collect(),
            limits: RuntimeLimits {
                defaults: (&run.defaults).into(),
                max: (&run.max).into(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn parse(json: &str) -> Result<NativeJob, String> {
        let r: RunRequest = crate::body::parse_json(json.as_bytes()).map_err(|e| e.to_string())?;
        NativeJob::try_from(r).map_err(|e| e.to_string())
    }

    #[test]
    fn code_becomes_the_main_file() {
        let j = parse(r#"{"language":"py","code":"print(1)","stdin":"x","args":["a"]}"#).unwrap();
        assert_eq!(j.job.language, "py");
        assert_eq!(
            j.job.files,
            vec![SourceFile {
                name: None,
                content: b"print(1)".to_vec()
            }]
        );
        assert_eq!(j.stdin, b"x");
        assert_eq!(j.job.args, vec!["a".to_string()]);
        assert!(j.tests.is_none());
    }

    #[test]
    fn files_decode_base64_and_keep_names() {
        let j = parse(
            r#"{"language":"c","files":[{"name":"main.c","content":"aW50IG1haW4oKXt9","encoding":"base64"},
                {"name":"lib/a.h","content":""}]}"#,
        )
        .unwrap();
        assert_eq!(j.job.files[0].content, b"int main(){}");
        assert_eq!(j.job.files[1].name.as_deref(), Some("lib/a.h"));
        let e = parse(r#"{"language":"c","files":[{"content":"@@@","encoding":"base64"}]}"#).unwrap_err();
        assert_eq!(e, "files[0].content is not valid base64");
        let e = parse(r#"{"language":"c","files":[{"content":"x","encoding":"rot13"}]}"#).unwrap_err();
        assert!(e.contains("files[0].encoding") && e.contains("rot13"), "{e}");
    }

    #[test]
    fn bad_programs_say_what_is_wrong() {
        let e = |json: &str| parse(json).unwrap_err();
        assert_eq!(
            e(r#"{"language":"py","code":"1","files":[{"content":"1"}]}"#),
            RequestError::CodeAndFiles.to_string()
        );
        assert_eq!(e(r#"{"language":"py"}"#), RequestError::NoProgram.to_string());
        assert_eq!(
            e(r#"{"language":"py","code":"  \n"}"#),
            RequestError::EmptyCode.to_string()
        );
        assert_eq!(e(r#"{"language":"py","files":[]}"#), RequestError::NoFiles.to_string());
        assert_eq!(
            e(r#"{"language":"py","files":[{"content":""}]}"#),
            RequestError::EmptyMainFile.to_string()
        );
        let msg = e(r#"{"language":"py","files":[{"content":"1"},{"name":"../x","content":"1"}]}"#);
        assert!(
            msg.starts_with("files[1].name \"../x\" is not allowed") && msg.contains(".."),
            "{msg}"
        );
        let msg = e(r#"{"language":"py","files":[{"name":"/etc/passwd","content":"1"}]}"#);
        assert!(msg.contains("absolute"), "{msg}");
        let many = (0..=MAX_FILES)
            .map(|i| format!(r#"{{"name":"f{i}","content":"1"}}"#))
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(
            e(&format!(r#"{{"language":"py","files":[{many}]}}"#)),
            format!("{} files is more than the limit of {MAX_FILES}", MAX_FILES + 1)
        );
        let msg = e(r#"{"language":"py","code":"1","color":"red"}"#);
        assert!(msg.contains("unknown field `color`"), "{msg}");
        let msg = e(r#"{"code":"1"}"#);
        assert!(msg.contains("missing field `language`"), "{msg}");
    }

    #[test]
    fn limits_are_whole_numbers_from_zero() {
        let j = parse(r#"{"language":"py","code":"1","limits":{"cpu_ms":100,"memory_mb":64,"wall_ms":null}}"#).unwrap();
        assert_eq!(j.job.limits.run.cpu_ms, Some(100));
        assert_eq!(j.job.limits.run.memory_mib, Some(64));
        assert_eq!(j.job.limits.run.wall_ms, None);
        let e = parse(r#"{"language":"py","code":"1","limits":{"cpu_ms":-5}}"#).unwrap_err();
        assert!(
            e.starts_with("invalid JSON body at limits.cpu_ms: must not be negative, got -5"),
            "{e}"
        );
        let e = parse(r#"{"language":"py","code":"1","limits":{"wall_ms":1e30}}"#).unwrap_err();
        assert!(e.contains("limits.wall_ms") && e.contains("whole number"), "{e}");
        let e = parse(r#"{"language":"py","code":"1","limits":{"wall_ms":1.5}}"#).unwrap_err();
        assert!(e.contains("whole number"), "{e}");
        let e = parse(r#"{"language":"py","code":"1","limits":{"disk_mb":1}}"#).unwrap_err();
        assert!(e.contains("unknown field `disk_mb`"), "{e}");
    }

    #[test]
    fn tests_are_bounded_and_exclusive_with_stdin() {
        let j = parse(r#"{"language":"py","code":"1","tests":[{"stdin":"1","expected_output":"1","hidden":true}]}"#)
            .unwrap();
        let tests = j.tests.unwrap();
        assert!(tests[0].hidden && tests[0].stdin == b"1");
        assert_eq!(
            parse(r#"{"language":"py","code":"1","tests":[]}"#).unwrap_err(),
            RequestError::NoTests.to_string()
        );
        assert_eq!(
            parse(r#"{"language":"py","code":"1","stdin":"","tests":[{"expected_output":""}]}"#).unwrap_err(),
            RequestError::StdinWithTests.to_string()
        );
        let many = vec![r#"{"expected_output":"1"}"#; MAX_TESTS + 1].join(",");
        assert_eq!(
            parse(&format!(r#"{{"language":"py","code":"1","tests":[{many}]}}"#)).unwrap_err(),
            format!("{} tests is more than the limit of {MAX_TESTS}", MAX_TESTS + 1)
        );
        let args = vec![r#""a""#; MAX_ARGS + 1].join(",");
        assert!(parse(&format!(r#"{{"language":"py","code":"1","args":[{args}]}}"#))
            .unwrap_err()
            .contains("arguments"));
    }

    fn stage(status: Status, out: &str) -> StageOutcome {
        StageOutcome {
            status,
            stdout: out.as_bytes().to_vec(),
            stderr: vec![0xff, b'e'],
            output: b"ignored".to_vec(),
            exit_code: Some(0),
            signal: None,
            cpu_time_ms: 3,
            wall_time_ms: 4,
            memory_kb: 5,
            memory_limit_mb: 256,
            message: None,
            limit: None,
            start_failure: None,
            cached: false,
            truncated: false,
            files: None,
            start: None,
        }
    }

    fn outcome(status: Status) -> Outcome {
        Outcome {
            status,
            language: "c".into(),
            version: "12.2.0".into(),
            compile: Some(stage(Status::Ok, "")),
            run: Some(stage(status, "hi\n")),
            ..Outcome::default()
        }
    }

    #[test]
    fn a_run_response_renames_the_outcome() {
        let mut o = outcome(Status::TimeLimit);
        if let Some(compile) = o.compile.as_mut() {
            compile.cached = true;
        }
        if let Some(run) = o.run.as_mut() {
            run.message = Some("cpu time exceeded 100 ms".into());
            run.files = Some(vec![engine::Image {
                name: "plot.png".into(),
                mime: "image/png",
                size: 3,
                content: Some(b"png".to_vec()),
                skipped: None,
            }]);
        }
        let stage = |status: &str| {
            json!({"status": status, "stdout": "", "stderr": "\u{fffd}e", "exit_code": 0, "signal": null,
                   "cpu_time_ms": 3, "wall_time_ms": 4, "memory_kb": 5, "message": null})
        };
        let mut compile = stage("ok");
        compile["cached"] = json!(true);
        let mut run = stage("time_limit");
        run["stdout"] = json!("hi\n");
        run["message"] = json!("cpu time exceeded 100 ms");
        run["files"] = json!([{"name": "plot.png", "mime": "image/png", "size": 3, "content_base64": "cG5n"}]);
        assert_eq!(
            serde_json::to_value(RunResponse::from(o)).unwrap(),
            json!({"status": "time_limit", "language": "c", "version": "12.2.0", "compile": compile, "run": run})
        );
        let mut failed = outcome(Status::CompileError);
        failed.run = None;
        let failed = serde_json::to_value(RunResponse::from(failed)).unwrap();
        assert_eq!(
            (&failed["status"], &failed["run"]),
            (&json!("compile_error"), &Value::Null)
        );
    }

    #[test]
    fn verdicts_keep_the_engines_names() {
        let statuses = [
            Status::Ok,
            Status::RuntimeError,
            Status::Signal,
            Status::TimeLimit,
            Status::WallTimeLimit,
            Status::MemoryLimit,
            Status::OutputLimit,
            Status::FileSizeLimit,
            Status::CompileError,
            Status::InternalError,
        ];
        for v in [Verdict::Accepted, Verdict::WrongAnswer]
            .into_iter()
            .chain(statuses.into_iter().filter(|s| *s != Status::Ok).map(Verdict::Failed))
        {
            assert_eq!(serde_json::to_value(TestVerdict::from(v)).unwrap(), v.as_str());
        }
    }
}
