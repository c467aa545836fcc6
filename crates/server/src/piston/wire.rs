//! Piston v2's request and response shapes, and their translation to and from the engine's.
//!
//! Rules from Piston (engineer-man/piston `api/src/api/v2.js` and `job.js`) kept here:
//! required `language`, `version` and `files[].content` with Piston's messages; files named
//! `file{i}.code` when unnamed (the main file takes the runtime's own name instead, so a C
//! file is `main.c`, not something gcc refuses); the main file is the first utf8 file;
//! limits that are missing, `null` or `0` take the runtime's default; memory limits `<= 0`
//! mean "not set" (clients send `-1`); a trailing newline is added to stdin.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use engine::{Job, Outcome, SourceFile, StageOutcome};
use sandbox::Status;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::signal;
use crate::ApiError;

/// One MiB: Piston's memory limits are bytes, the engine's are MiB.
const MIB: f64 = (1u64 << 20) as f64;

/// `POST /api/v2/execute`, and the WebSocket `init` message.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ExecuteRequest {
    /// Language name or alias (`python`, `py`). Required.
    #[schema(example = "python")]
    pub language: Option<String>,
    /// Semver selector matched against the installed version: `*`, `3.x`, `3.11.2`. Required.
    #[schema(example = "*")]
    pub version: Option<String>,
    /// Source files; the first utf8 file is the main one. Required.
    pub files: Option<Vec<PistonFile>>,
    /// Standard input; a trailing newline is added when missing (as Piston does). Ignored on
    /// the WebSocket, where stdin is sent with `data` messages.
    pub stdin: Option<String>,
    /// Arguments for the program. A number or a boolean is taken as its text (`1` is `"1"`):
    /// Piston passes them on as strings, and its CLI sends numeric arguments as numbers.
    #[serde(default, deserialize_with = "arguments")]
    pub args: Option<Vec<String>>,
    /// Wall-clock limit of the compile stage, ms.
    #[serde(default, deserialize_with = "limit")]
    #[schema(value_type = Option<f64>)]
    pub compile_timeout: Option<f64>,
    /// Wall-clock limit of the run stage, ms.
    #[serde(default, deserialize_with = "limit")]
    #[schema(value_type = Option<f64>)]
    pub run_timeout: Option<f64>,
    /// CPU-time limit of the compile stage, ms.
    #[serde(default, deserialize_with = "limit")]
    #[schema(value_type = Option<f64>)]
    pub compile_cpu_time: Option<f64>,
    /// CPU-time limit of the run stage, ms.
    #[serde(default, deserialize_with = "limit")]
    #[schema(value_type = Option<f64>)]
    pub run_cpu_time: Option<f64>,
    /// Memory limit of the compile stage, bytes; `-1` (or any value `<= 0`) is "not set".
    #[serde(default, deserialize_with = "limit")]
    #[schema(value_type = Option<f64>)]
    pub compile_memory_limit: Option<f64>,
    /// Memory limit of the run stage, bytes; `-1` (or any value `<= 0`) is "not set".
    #[serde(default, deserialize_with = "limit")]
    #[schema(value_type = Option<f64>)]
    pub run_memory_limit: Option<f64>,
}

/// A source file of a request.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct PistonFile {
    /// Relative path in the work dir; default `file{i}.code` (the main file: the runtime's
    /// usual name, `main.py`).
    pub name: Option<String>,
    /// The content, encoded as `encoding` says. Required.
    pub content: Option<String>,
    /// `utf8` (default), `base64` or `hex`.
    pub encoding: Option<String>,
}

/// A limit field: a number, or `null` / `false` / `""` for "not given" (Piston skips every
/// falsy value); anything else is refused.
fn limit<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    use serde::de::Error;
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null | serde_json::Value::Bool(false) => Ok(None),
        serde_json::Value::String(s) if s.is_empty() => Ok(None),
        serde_json::Value::Number(n) => Ok(n.as_f64()),
        other => Err(D::Error::custom(format_args!(
            "if specified, it must be a number, not {}",
            json_kind(&other)
        ))),
    }
}

/// The program's arguments: strings, or numbers and booleans as their JSON text (Piston hands
/// every argument to the program as a string, and the Piston CLI, whose argument parser turns
/// `1` into a number, sends `"args":[1,"two"]`); `null` is no arguments.
fn arguments<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    use serde::de::Error;
    let Some(values) = Option::<Vec<serde_json::Value>>::deserialize(d)? else {
        return Ok(None);
    };
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| match v {
            serde_json::Value::String(s) => Ok(s),
            serde_json::Value::Number(n) => Ok(n.to_string()),
            serde_json::Value::Bool(b) => Ok(b.to_string()),
            other => Err(D::Error::custom(format_args!(
                "args[{i}] must be a string, not {}",
                json_kind(&other)
            ))),
        })
        .collect::<Result<Vec<String>, D::Error>>()
        .map(Some)
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// A request translated: the job, and the stdin of an HTTP execute.
#[derive(Debug)]
pub struct PistonJob {
    pub job: Job,
    pub stdin: Vec<u8>,
}

impl TryFrom<ExecuteRequest> for PistonJob {
    type Error = ApiError;

    fn try_from(req: ExecuteRequest) -> Result<Self, ApiError> {
        let bad = |m: String| ApiError::BadRequest(m);
        let language = req
            .language
            .filter(|l| !l.is_empty())
            .ok_or_else(|| bad("language is required as a string".into()))?;
        let version = req
            .version
            .filter(|v| !v.is_empty())
            .ok_or_else(|| bad("version is required as a string".into()))?;
        let files = req.files.ok_or_else(|| bad("files is required as an array".into()))?;

        let mut decoded = Vec::with_capacity(files.len());
        for (i, file) in files.into_iter().enumerate() {
            let content = file
                .content
                .ok_or_else(|| bad(format!("files[{i}].content is required as a string")))?;
            let encoding = Encoding::parse(file.encoding.as_deref())
                .ok_or_else(|| bad(format!("files[{i}].encoding must be utf8, base64 or hex")))?;
            let content = encoding
                .decode(&content)
                .map_err(|why| bad(format!("files[{i}].content is not valid {}: {why}", encoding.name())))?;
            let name = file.name.filter(|n| !n.is_empty());
            decoded.push((i, name, encoding, content));
        }
        // Piston runs the first utf8 file; the engine runs the first file.
        if !decoded.is_empty() {
            let main = decoded
                .iter()
                .position(|(_, _, e, _)| *e == Encoding::Utf8)
                .ok_or_else(|| bad("files must include at least one utf8 encoded file".into()))?;
            let first = decoded.remove(main);
            decoded.insert(0, first);
        }
        let files = decoded
            .into_iter()
            .enumerate()
            .map(|(position, (i, name, _, content))| SourceFile {
                // Unnamed: the main file gets the runtime's name, others Piston's `file{i}.code`.
                name: name.or_else(|| (position > 0).then(|| format!("file{i}.code"))),
                content,
            })
            .collect();

        let mut job = Job {
            language,
            version: Some(version),
            files,
            args: req.args.unwrap_or_default(),
            ..Job::default()
        };
        job.limits.run.wall_ms = millis("run_timeout", req.run_timeout)?;
        job.limits.compile.wall_ms = millis("compile_timeout", req.compile_timeout)?;
        job.limits.run.cpu_ms = millis("run_cpu_time", req.run_cpu_time)?;
        job.limits.compile.cpu_ms = millis("compile_cpu_time", req.compile_cpu_time)?;
        job.limits.run.memory_mib = mebibytes(req.run_memory_limit);
        job.limits.compile.memory_mib = mebibytes(req.compile_memory_limit);

        let mut stdin = req.stdin.unwrap_or_default().into_bytes();
        if stdin.last() != Some(&b'\n') {
            stdin.push(b'\n');
        }
        Ok(PistonJob { job, stdin })
    }
}

/// A time limit in ms: `0` is "not set", negative is refused, fractions round up.
fn millis(name: &str, value: Option<f64>) -> Result<Option<u64>, ApiError> {
    match value {
        None => Ok(None),
        Some(v) if v < 0.0 => Err(ApiError::BadRequest(format!("{name} must be non-negative"))),
        Some(0.0) => Ok(None),
        // `as` saturates: a huge value becomes u64::MAX and is refused by the maximum check.
        Some(v) => Ok(Some(v.ceil() as u64)),
    }
}

/// A memory limit in bytes as whole MiB (rounded up): `<= 0` is "not set".
fn mebibytes(value: Option<f64>) -> Option<u64> {
    value.filter(|&v| v > 0.0).map(|v| (v / MIB).ceil() as u64)
}

/// How a file's content is written in the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Utf8,
    Base64,
    Hex,
}

impl Encoding {
    /// Piston's three encodings (case-insensitive; `utf-8` too). Piston silently treats any
    /// other value as utf8; tiderun refuses it, so a typo does not run the encoded text.
    fn parse(value: Option<&str>) -> Option<Encoding> {
        match value.map(str::to_ascii_lowercase).as_deref() {
            None | Some("") | Some("utf8") | Some("utf-8") => Some(Encoding::Utf8),
            Some("base64") => Some(Encoding::Base64),
            Some("hex") => Some(Encoding::Hex),
            Some(_) => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf8",
            Encoding::Base64 => "base64",
            Encoding::Hex => "hex",
        }
    }

    fn decode(self, text: &str) -> Result<Vec<u8>, String> {
        match self {
            Encoding::Utf8 => Ok(text.as_bytes().to_vec()),
            Encoding::Base64 => {
                // Like Node's Buffer.from(s, "base64"): line breaks and missing padding are fine.
                let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
                const LENIENT: GeneralPurpose = GeneralPurpose::new(
                    &base64::alphabet::STANDARD,
                    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
                );
                LENIENT.decode(&compact).map_err(|e| e.to_string())
            }
            Encoding::Hex => {
                let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
                let pairs = compact.chunks_exact(2);
                if !pairs.remainder().is_empty() {
                    return Err("odd number of digits".into());
                }
                pairs
                    .enumerate()
                    .map(|(i, pair)| match (hex_digit(pair[0]), hex_digit(pair[1])) {
                        (Some(h), Some(l)) => Ok(h << 4 | l),
                        _ => Err(format!("not a hex digit at byte {}", i * 2)),
                    })
                    .collect()
            }
        }
    }
}

fn hex_digit(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// `GET /api/v2/runtimes`: one installed runtime.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RuntimeInfo {
    #[schema(example = "python")]
    pub language: String,
    /// The installed toolchain's version.
    #[schema(example = "3.11.2")]
    pub version: String,
    /// Other names a request may use.
    pub aliases: Vec<String>,
    /// Piston's name of the package providing the language (`node` for javascript); tiderun
    /// has no such packages and leaves it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
}

impl From<&runtimes::Runtime> for RuntimeInfo {
    fn from(rt: &runtimes::Runtime) -> Self {
        RuntimeInfo {
            language: rt.name.clone(),
            version: rt.version.clone().unwrap_or_default(),
            aliases: rt.aliases.clone(),
            runtime: None,
        }
    }
}

/// `GET /api/v2/packages`: one runtime of this server, in Piston's package shape.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PackageInfo {
    #[schema(example = "python")]
    pub language: String,
    /// The installed toolchain's version; empty when it is not installed (tiderun knows a
    /// version only by asking the toolchain).
    #[schema(example = "3.11.2")]
    pub language_version: String,
    /// Whether the toolchain is installed on this server (runs can use it).
    pub installed: bool,
}

impl From<&runtimes::Runtime> for PackageInfo {
    fn from(rt: &runtimes::Runtime) -> Self {
        PackageInfo {
            language: rt.name.clone(),
            language_version: rt.version.clone().filter(|_| rt.installed).unwrap_or_default(),
            installed: rt.installed,
        }
    }
}

/// The answer of `POST /api/v2/execute`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExecuteResponse {
    pub language: String,
    pub version: String,
    /// The run stage; when compilation failed, a copy of `compile` (clients rely on `run`).
    pub run: StageResult,
    /// Present for compiled languages only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compile: Option<StageResult>,
}

impl From<Outcome> for ExecuteResponse {
    fn from(outcome: Outcome) -> Self {
        let compile = outcome.compile.as_ref().map(StageResult::from);
        let run = match (&outcome.run, &compile) {
            (Some(run), _) => StageResult::from(run),
            (None, Some(compile)) => compile.clone(),
            (None, None) => StageResult::from(&StageOutcome::default()),
        };
        ExecuteResponse {
            language: outcome.language,
            version: outcome.version,
            run,
            compile,
        }
    }
}

/// One stage of an execution, as Piston reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct StageResult {
    pub stdout: String,
    pub stderr: String,
    /// stdout and stderr interleaved as they were written.
    pub output: String,
    /// Exit code; null when killed by a signal.
    pub code: Option<i32>,
    /// The signal that ended the stage (`"SIGKILL"`); always `SIGKILL` for `TO`, `OL`, `EL`.
    pub signal: Option<String>,
    /// Why the stage ended, when it did not exit normally.
    pub message: Option<String>,
    /// null when the stage exited with 0.
    pub status: Option<PistonStatus>,
    /// CPU time, ms.
    pub cpu_time: u64,
    /// Wall time, ms.
    pub wall_time: u64,
    /// Peak memory, bytes.
    pub memory: u64,
}

/// Piston's stage statuses (isolate's, plus its output limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum PistonStatus {
    /// Exited with a non-zero code.
    #[serde(rename = "RE")]
    RuntimeError,
    /// Killed by a signal (also the memory limit: the OOM killer's SIGKILL).
    #[serde(rename = "SG")]
    Signal,
    /// A CPU or wall-clock limit.
    #[serde(rename = "TO")]
    Timeout,
    /// Output past the limit, stdout the larger part.
    #[serde(rename = "OL")]
    StdoutLimit,
    /// Output past the limit, stderr the larger part.
    #[serde(rename = "EL")]
    StderrLimit,
    /// tiderun itself failed.
    #[serde(rename = "XX")]
    InternalError,
}

impl PistonStatus {
    /// The status of a stage; None for a clean exit.
    pub fn of(stage: &StageOutcome) -> Option<PistonStatus> {
        match stage.status {
            Status::Ok => None,
            Status::RuntimeError | Status::CompileError => Some(PistonStatus::RuntimeError),
            Status::Signal | Status::MemoryLimit | Status::FileSizeLimit => Some(PistonStatus::Signal),
            Status::TimeLimit | Status::WallTimeLimit | Status::InputWaitLimit => Some(PistonStatus::Timeout),
            // tiderun caps stdout and stderr together; name the stream that filled most of it.
            Status::OutputLimit if stage.stderr.len() > stage.stdout.len() => Some(PistonStatus::StderrLimit),
            Status::OutputLimit => Some(PistonStatus::StdoutLimit),
            Status::InternalError => Some(PistonStatus::InternalError),
        }
    }

    /// The wire name (`TO`).
    pub fn as_str(self) -> &'static str {
        match self {
            PistonStatus::RuntimeError => "RE",
            PistonStatus::Signal => "SG",
            PistonStatus::Timeout => "TO",
            PistonStatus::StdoutLimit => "OL",
            PistonStatus::StderrLimit => "EL",
            PistonStatus::InternalError => "XX",
        }
    }

    /// Piston reports SIGKILL for the limits it enforces by killing.
    pub fn killed(self) -> bool {
        matches!(
            self,
            PistonStatus::Timeout | PistonStatus::StdoutLimit | PistonStatus::StderrLimit
        )
    }
}

impl StageResult {
    /// The signal name and message Piston would show for a stage.
    pub fn signal_and_message(stage: &StageOutcome) -> (Option<String>, Option<String>) {
        let status = PistonStatus::of(stage);
        let signal = match status {
            Some(s) if s.killed() => Some(signal::name(signal::SIGKILL)),
            _ => stage.signal.map(signal::name),
        };
        let message = match (&stage.message, status, stage.exit_code) {
            (Some(m), _, _) => Some(m.clone()),
            (None, Some(PistonStatus::RuntimeError), Some(code)) => Some(format!("Exited with error status {code}")),
            _ => None,
        };
        (signal, message)
    }
}

impl From<&StageOutcome> for StageResult {
    fn from(stage: &StageOutcome) -> Self {
        let (signal, message) = StageResult::signal_and_message(stage);
        StageResult {
            stdout: String::from_utf8_lossy(&stage.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stage.stderr).into_owned(),
            output: String::from_utf8_lossy(&stage.output).into_owned(),
            code: stage.exit_code,
            signal,
            message,
            status: PistonStatus::of(stage),
            cpu_time: stage.cpu_time_ms,
            wall_time: stage.wall_time_ms,
            memory: stage.memory_kb.saturating_mul(1024),
        }
    }
}

/// Every Piston error body: `{"message": "..."}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorMessage {
    #[schema(example = "html-5.0.0 runtime is unknown")]
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: serde_json::Value) -> Result<PistonJob, String> {
        let req: ExecuteRequest = crate::body::parse_json(json.to_string().as_bytes()).map_err(|e| e.to_string())?;
        PistonJob::try_from(req).map_err(|e| e.message())
    }

    #[test]
    fn required_fields_have_pistons_messages() {
        let e = request(serde_json::json!({"version": "*", "files": []})).unwrap_err();
        assert_eq!(e, "language is required as a string");
        let e = request(serde_json::json!({"language": "py", "files": []})).unwrap_err();
        assert_eq!(e, "version is required as a string");
        let e = request(serde_json::json!({"language": "py", "version": ""})).unwrap_err();
        assert_eq!(e, "version is required as a string");
        let e = request(serde_json::json!({"language": "py", "version": "*"})).unwrap_err();
        assert_eq!(e, "files is required as an array");
        let e = request(serde_json::json!({"language": "py", "version": "*", "files": [{"name": "a"}]})).unwrap_err();
        assert_eq!(e, "files[0].content is required as a string");
        let e = request(serde_json::json!({"language": 1, "version": "*", "files": []})).unwrap_err();
        assert!(e.contains("at language") && e.contains("expected a string"), "{e}");
        let e = request(serde_json::json!({"language": "py", "version": "*", "files": [], "run_timeout": "x"}))
            .unwrap_err();
        assert!(e.contains("run_timeout") && e.contains("must be a number"), "{e}");
        let e = request(serde_json::json!({"language": "py", "version": "*", "files": [], "args": ["a", {"b": 1}]}))
            .unwrap_err();
        assert!(e.contains("args[1] must be a string, not an object"), "{e}");
        let e = request(serde_json::json!({"language": "py", "version": "*", "files": [], "args": "a b"})).unwrap_err();
        assert!(e.contains("at args"), "{e}");
    }

    #[test]
    fn numbers_and_booleans_in_args_are_their_text() {
        // What the Piston CLI sends for `piston run python a.py 1 two 3.5`.
        let j = request(
            serde_json::json!({"language": "py", "version": "*", "files": [{"content": "x"}],
            "args": [1, "two", 3.5, -7, true]}),
        )
        .unwrap();
        assert_eq!(j.job.args, ["1", "two", "3.5", "-7", "true"]);
        let j =
            request(serde_json::json!({"language": "py", "version": "*", "files": [{"content": "x"}], "args": null}))
                .unwrap();
        assert!(j.job.args.is_empty());
    }

    #[test]
    fn limits_translate_with_pistons_rules() {
        let job = request(serde_json::json!({
            "language": "c", "version": "*", "files": [{"content": "x"}],
            "run_timeout": 2500, "compile_timeout": 0, "run_cpu_time": 1000.2, "compile_cpu_time": null,
            "run_memory_limit": -1, "compile_memory_limit": 100_000_000,
        }))
        .unwrap()
        .job;
        assert_eq!(job.limits.run.wall_ms, Some(2500));
        assert_eq!(job.limits.compile.wall_ms, None);
        assert_eq!(job.limits.run.cpu_ms, Some(1001));
        assert_eq!(job.limits.compile.cpu_ms, None);
        assert_eq!(job.limits.run.memory_mib, None);
        assert_eq!(job.limits.compile.memory_mib, Some(96));
        let job = request(serde_json::json!({
            "language": "c", "version": "*", "files": [{"content": "x"}], "run_memory_limit": 0,
            "run_timeout": false,
        }))
        .unwrap()
        .job;
        assert_eq!(job.limits.run.memory_mib, None);
        assert_eq!(job.limits.run.wall_ms, None);
        let e =
            request(serde_json::json!({"language": "c", "version": "*", "files": [], "run_timeout": -5})).unwrap_err();
        assert_eq!(e, "run_timeout must be non-negative");
    }

    #[test]
    fn files_stdin_and_args() {
        let j = request(serde_json::json!({
            "language": "python", "version": "3.x",
            "files": [
                {"name": "data.bin", "content": "aGk=", "encoding": "base64"},
                {"content": "print(1)"},
                {"content": "6869", "encoding": "hex"},
                {"name": "", "content": "aGk", "encoding": "base64"},
            ],
            "stdin": "5", "args": ["a", "b"],
        }))
        .unwrap();
        let names: Vec<Option<&str>> = j.job.files.iter().map(|f| f.name.as_deref()).collect();
        assert_eq!(names, [None, Some("data.bin"), Some("file2.code"), Some("file3.code")]);
        assert_eq!(j.job.files[0].content, b"print(1)");
        assert_eq!(j.job.files[1].content, b"hi");
        assert_eq!(j.job.files[2].content, b"hi");
        assert_eq!(j.job.files[3].content, b"hi");
        assert_eq!(j.stdin, b"5\n");
        assert_eq!(j.job.args, ["a", "b"]);
        assert_eq!(j.job.version.as_deref(), Some("3.x"));
        let j = request(serde_json::json!({"language": "py", "version": "*", "files": [{"content": ""}]})).unwrap();
        assert_eq!(j.stdin, b"\n");
        let j = request(serde_json::json!({"language": "py", "version": "*", "files": [], "stdin": "a\n"})).unwrap();
        assert_eq!(j.stdin, b"a\n");

        let e = request(serde_json::json!({"language": "py", "version": "*",
            "files": [{"content": "aGk=", "encoding": "base64"}]}))
        .unwrap_err();
        assert_eq!(e, "files must include at least one utf8 encoded file");
        let e = request(serde_json::json!({"language": "py", "version": "*",
            "files": [{"content": "x"}, {"content": "zz", "encoding": "hex"}]}))
        .unwrap_err();
        assert!(e.starts_with("files[1].content is not valid hex"), "{e}");
        let e = request(serde_json::json!({"language": "py", "version": "*",
            "files": [{"content": "x"}, {"content": "!!", "encoding": "base64"}]}))
        .unwrap_err();
        assert!(e.starts_with("files[1].content is not valid base64"), "{e}");
        let e = request(serde_json::json!({"language": "py", "version": "*",
            "files": [{"content": "x", "encoding": "rot13"}]}))
        .unwrap_err();
        assert_eq!(e, "files[0].encoding must be utf8, base64 or hex");
    }

    fn stage(status: Status) -> StageOutcome {
        StageOutcome {
            status,
            ..StageOutcome::default()
        }
    }

    #[test]
    fn stages_render_as_piston() {
        let mut s = stage(Status::RuntimeError);
        s.exit_code = Some(3);
        s.memory_kb = 2;
        let r = StageResult::from(&s);
        assert_eq!(r.status, Some(PistonStatus::RuntimeError));
        assert_eq!(r.message.as_deref(), Some("Exited with error status 3"));
        assert_eq!((r.code, r.signal, r.memory), (Some(3), None, 2048));

        let mut s = stage(Status::WallTimeLimit);
        s.signal = Some(9);
        s.message = Some("wall time exceeded 100 ms".into());
        let r = StageResult::from(&s);
        assert_eq!(r.status, Some(PistonStatus::Timeout));
        assert_eq!(r.signal.as_deref(), Some("SIGKILL"));
        assert_eq!(r.message.as_deref(), Some("wall time exceeded 100 ms"));

        let mut s = stage(Status::OutputLimit);
        s.stderr = b"xx".to_vec();
        assert_eq!(StageResult::from(&s).status, Some(PistonStatus::StderrLimit));
        s.stdout = b"xxx".to_vec();
        let r = StageResult::from(&s);
        assert_eq!(
            (r.status, r.signal.as_deref()),
            (Some(PistonStatus::StdoutLimit), Some("SIGKILL"))
        );

        let mut s = stage(Status::Signal);
        s.signal = Some(11);
        assert_eq!(StageResult::from(&s).signal.as_deref(), Some("SIGSEGV"));
        let r = StageResult::from(&stage(Status::Ok));
        assert_eq!((r.status, r.message), (None, None));
        let json = serde_json::to_value(StageResult::from(&stage(Status::TimeLimit))).unwrap();
        assert_eq!(json["status"], "TO");
        for s in [
            PistonStatus::RuntimeError,
            PistonStatus::Signal,
            PistonStatus::Timeout,
            PistonStatus::StdoutLimit,
            PistonStatus::StderrLimit,
            PistonStatus::InternalError,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }
}
