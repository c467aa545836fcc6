//! Judge0's wire formats: the request body and its validation (Judge0's ranges and messages),
//! the stored forms of a submission (request and result: JSON text the store never reads), and
//! the response with `fields` selection and Ruby-style base64.

use std::collections::BTreeMap;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use engine::{Bound, Checked, EngineError, Executor, Job, Limit, LimitRequest, Phase, PhaseRequest, SourceFile};
use runtimes::{Catalog, Runtime};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::callback;
use super::result::status_description;

/// Judge0's documented ranges (the v1.13.1 defaults of its `MAX_*` settings); a request
/// outside them gets a 422 naming the field. The runtime's own maxima are checked as well
/// (by the engine's limit resolution), whichever is lower wins.
pub const MAX_CPU_TIME_LIMIT_S: f64 = 15.0;
pub const MAX_CPU_EXTRA_TIME_S: f64 = 5.0;
pub const MIN_WALL_TIME_LIMIT_S: f64 = 1.0;
pub const MAX_WALL_TIME_LIMIT_S: f64 = 20.0;
pub const MIN_MEMORY_LIMIT_KB: i64 = 2048;
pub const MAX_MEMORY_LIMIT_KB: i64 = 512_000;
pub const MAX_STACK_LIMIT_KB: i64 = 128_000;
pub const MAX_MAX_PROCESSES_AND_OR_THREADS: i64 = 120;
pub const MAX_MAX_FILE_SIZE_KB: i64 = 4096;
/// Judge0's MAX_NUMBER_OF_RUNS, which is also the engine's.
pub const MAX_NUMBER_OF_RUNS: i64 = engine::MAX_RUNS as i64;
/// Judge0's limit on `compiler_options` and `command_line_arguments`.
pub const MAX_OPTIONS_CHARS: usize = 512;
/// A callback URL longer than this is refused (Judge0 stores it in a string column).
pub const MAX_CALLBACK_URL_BYTES: usize = 2048;
/// Judge0's MAX_SUBMISSION_BATCH_SIZE: submissions per batch create or batch show.
pub const MAX_BATCH_SIZE: usize = 20;
/// Judge0's page size of `GET /submissions`.
pub const DEFAULT_PER_PAGE: u32 = 20;

/// Base64 as Ruby's `decode64` reads it: padding optional; whitespace (the newlines of
/// `encode64`) is removed before decoding.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
/// Ruby's `encode64` breaks its output into lines of this many characters.
const BASE64_LINE_CHARS: usize = 60;

/// The body of `POST /submissions` and each item of a batch. Judge0 (Rails) casts loosely, so
/// every field is taken as any JSON value and checked here: numbers may come as strings,
/// integers as floats (the Python SDK sends `memory_limit` as a float), `null` means "not
/// given", unknown keys are ignored.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct SubmissionRequest {
    /// The program (base64 when `base64_encoded=true`). Required.
    #[schema(value_type = Option<String>)]
    pub source_code: Option<Value>,
    /// A Judge0 language id (`GET /languages`). Required.
    #[schema(value_type = Option<u32>, example = 71)]
    pub language_id: Option<Value>,
    /// Extra compiler arguments, split on whitespace (never a shell); compiled languages only.
    #[schema(value_type = Option<String>)]
    pub compiler_options: Option<Value>,
    /// Program arguments, split on whitespace (never a shell).
    #[schema(value_type = Option<String>)]
    pub command_line_arguments: Option<Value>,
    /// base64 when `base64_encoded=true`.
    #[schema(value_type = Option<String>)]
    pub stdin: Option<Value>,
    /// base64 when `base64_encoded=true`; with it the status is 3 (Accepted) or 4 (Wrong Answer),
    /// trailing whitespace of lines and trailing blank lines ignored.
    #[schema(value_type = Option<String>)]
    pub expected_output: Option<Value>,
    /// Seconds, 0 to 15 (0: no CPU limit of its own, the runtime's maximum applies).
    #[schema(value_type = Option<f64>)]
    pub cpu_time_limit: Option<Value>,
    /// Seconds, 0 to 5. Accepted for compatibility; tiderun grants no extra time.
    #[schema(value_type = Option<f64>)]
    pub cpu_extra_time: Option<Value>,
    /// Seconds, 1 to 20.
    #[schema(value_type = Option<f64>)]
    pub wall_time_limit: Option<Value>,
    /// KB, 2048 to 512000.
    #[schema(value_type = Option<u64>)]
    pub memory_limit: Option<Value>,
    /// KB, 0 to 128000 (0: the default).
    #[schema(value_type = Option<u64>)]
    pub stack_limit: Option<Value>,
    /// 1 to 120.
    #[schema(value_type = Option<u64>)]
    pub max_processes_and_or_threads: Option<Value>,
    /// Must be false: limits always apply to the whole process tree.
    #[schema(value_type = Option<bool>)]
    pub enable_per_process_and_thread_time_limit: Option<Value>,
    /// Must be false: limits always apply to the whole process tree.
    #[schema(value_type = Option<bool>)]
    pub enable_per_process_and_thread_memory_limit: Option<Value>,
    /// KB, 0 to 4096: the largest file the program may write.
    #[schema(value_type = Option<u64>)]
    pub max_file_size: Option<Value>,
    /// stdout and stderr interleaved as `stdout`.
    #[schema(value_type = Option<bool>)]
    pub redirect_stderr_to_stdout: Option<Value>,
    /// Must be false: programs never get a network.
    #[schema(value_type = Option<bool>)]
    pub enable_network: Option<Value>,
    /// 1 to 20: compile once, run this many times; time and memory are averaged.
    #[schema(value_type = Option<u32>)]
    pub number_of_runs: Option<Value>,
    /// The result is PUT here when the submission finishes (3 tries, 5 s timeout each).
    #[schema(value_type = Option<String>)]
    pub callback_url: Option<Value>,
    /// Not supported (Judge0's "setting additional files is not allowed").
    #[schema(value_type = Option<String>)]
    pub additional_files: Option<Value>,
}

/// Judge0's validation errors: field name → messages (422).
pub type FieldErrors = BTreeMap<String, Vec<String>>;

/// A validated submission as stored (the store's opaque request JSON): every limit filled in,
/// in Judge0's units, and the byte fields as plain base64 so any bytes survive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRequest {
    pub language_id: u32,
    #[serde(with = "b64")]
    pub source_code: Vec<u8>,
    #[serde(with = "b64_opt")]
    pub stdin: Option<Vec<u8>>,
    #[serde(with = "b64_opt")]
    pub expected_output: Option<Vec<u8>>,
    pub compiler_options: Option<String>,
    pub command_line_arguments: Option<String>,
    pub number_of_runs: u32,
    pub cpu_time_limit: f64,
    pub cpu_extra_time: f64,
    pub wall_time_limit: f64,
    pub memory_limit: u64,
    pub stack_limit: u64,
    pub max_processes_and_or_threads: u64,
    pub max_file_size: u64,
    pub redirect_stderr_to_stdout: bool,
    pub callback_url: Option<String>,
    /// This submission's part of its batch's output budget (`POST /submissions/batch`: the
    /// server's per-request budget shared by the batch's submissions); `None` for a single
    /// submission, which has the whole budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_share: Option<u64>,
}

/// A finished submission's result as stored (the store's opaque result JSON); the status id is
/// the store's status column.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredResult {
    #[serde(with = "b64_opt")]
    pub stdout: Option<Vec<u8>>,
    #[serde(with = "b64_opt")]
    pub stderr: Option<Vec<u8>>,
    #[serde(with = "b64_opt")]
    pub compile_output: Option<Vec<u8>>,
    pub message: Option<String>,
    pub exit_code: Option<i32>,
    pub exit_signal: Option<i32>,
    /// CPU seconds as Judge0 prints them (`"0.012"`).
    pub time: Option<String>,
    pub wall_time: Option<String>,
    /// KB.
    pub memory: Option<u64>,
}

/// Check a request the way Judge0 does (its own ranges) and fill in the defaults (the
/// runtime's, in Judge0's units). `base64` decodes `source_code`, `stdin` and
/// `expected_output`. What the engine refuses (the runtime's maxima, the sandbox's minima, the
/// request's wall time) is [`StoredRequest::check`]'s.
pub fn validate(
    req: &SubmissionRequest,
    base64: bool,
    catalog: &Catalog,
    allow_private_callbacks: bool,
) -> Result<StoredRequest, FieldErrors> {
    let mut c = Checker::default();

    let source_code = c.bytes("source_code", &req.source_code, base64);
    let blank = source_code
        .as_ref()
        .is_none_or(|s| s.iter().all(u8::is_ascii_whitespace));
    if blank && !c.has("source_code") {
        c.add("source_code", "can't be blank");
    }
    let runtime = match c.integer("language_id", &req.language_id) {
        None if !c.has("language_id") => {
            c.add("language_id", "can't be blank");
            None
        }
        None => None,
        Some(id) => match u32::try_from(id).ok().and_then(|id| catalog.by_judge0_id(id)) {
            None => {
                c.add("language_id", format!("language with id {id} doesn't exist"));
                None
            }
            Some(rt) if !rt.installed => {
                c.add(
                    "language_id",
                    format!("language with id {id} is archived and cannot be used anymore"),
                );
                None
            }
            Some(rt) => Some((id as u32, rt)),
        },
    };
    let stdin = c.bytes("stdin", &req.stdin, base64);
    let expected_output = c.bytes("expected_output", &req.expected_output, base64);

    let compiler_options = c.options("compiler_options", &req.compiler_options);
    if let (Some(_), Some((_, rt))) = (&compiler_options, &runtime) {
        if !rt.compiled() {
            c.add(
                "compiler_options",
                "setting compiler options is only allowed for compiled languages",
            );
        }
    }
    let command_line_arguments = c.options("command_line_arguments", &req.command_line_arguments);

    let cpu_time_limit = c.number("cpu_time_limit", &req.cpu_time_limit);
    c.range_f("cpu_time_limit", cpu_time_limit, 0.0, "0", MAX_CPU_TIME_LIMIT_S, "15.0");
    let cpu_extra_time = c.number("cpu_extra_time", &req.cpu_extra_time);
    c.range_f("cpu_extra_time", cpu_extra_time, 0.0, "0", MAX_CPU_EXTRA_TIME_S, "5.0");
    let wall_time_limit = c.number("wall_time_limit", &req.wall_time_limit);
    c.range_f(
        "wall_time_limit",
        wall_time_limit,
        MIN_WALL_TIME_LIMIT_S,
        "1",
        MAX_WALL_TIME_LIMIT_S,
        "20.0",
    );
    let memory_limit = c.integer("memory_limit", &req.memory_limit);
    c.range_i("memory_limit", memory_limit, MIN_MEMORY_LIMIT_KB, MAX_MEMORY_LIMIT_KB);
    let stack_limit = c.integer("stack_limit", &req.stack_limit);
    c.range_i("stack_limit", stack_limit, 0, MAX_STACK_LIMIT_KB);
    let max_processes = c.integer("max_processes_and_or_threads", &req.max_processes_and_or_threads);
    c.positive(
        "max_processes_and_or_threads",
        max_processes,
        MAX_MAX_PROCESSES_AND_OR_THREADS,
    );
    let max_file_size = c.integer("max_file_size", &req.max_file_size);
    c.range_i("max_file_size", max_file_size, 0, MAX_MAX_FILE_SIZE_KB);
    let number_of_runs = c.integer("number_of_runs", &req.number_of_runs);
    c.positive("number_of_runs", number_of_runs, MAX_NUMBER_OF_RUNS);

    for (field, value) in [
        (
            "enable_per_process_and_thread_time_limit",
            &req.enable_per_process_and_thread_time_limit,
        ),
        (
            "enable_per_process_and_thread_memory_limit",
            &req.enable_per_process_and_thread_memory_limit,
        ),
    ] {
        if c.boolean(field, value) == Some(true) {
            c.add(field, "this option cannot be enabled");
        }
    }
    if c.boolean("enable_network", &req.enable_network) == Some(true) {
        c.add("enable_network", "enabling network is not allowed");
    }
    let redirect_stderr_to_stdout = c.boolean("redirect_stderr_to_stdout", &req.redirect_stderr_to_stdout);
    if c.text("additional_files", &req.additional_files)
        .is_some_and(|s| !s.trim().is_empty())
    {
        c.add("additional_files", "setting additional files is not allowed");
    }
    let callback_url = c
        .text("callback_url", &req.callback_url)
        .filter(|s| !s.trim().is_empty());
    if let Some(url) = &callback_url {
        if let Err(problem) = callback::check_url(url, allow_private_callbacks) {
            c.add("callback_url", problem);
        }
    }

    let (Some(source_code), Some((language_id, runtime)), true) = (source_code, runtime, c.errors.is_empty()) else {
        return Err(c.errors);
    };
    let defaults = &runtime.limits().run.defaults;
    let memory_limit = memory_limit.map_or(defaults.memory_mib * 1024, |kb| kb as u64);
    let stored = StoredRequest {
        language_id,
        source_code,
        stdin,
        expected_output,
        compiler_options,
        command_line_arguments,
        number_of_runs: number_of_runs.map_or(1, |n| n as u32),
        cpu_time_limit: cpu_time_limit.unwrap_or(defaults.cpu_ms as f64 / 1000.0),
        cpu_extra_time: cpu_extra_time.unwrap_or(0.0),
        wall_time_limit: wall_time_limit.unwrap_or(defaults.wall_ms as f64 / 1000.0),
        memory_limit,
        stack_limit: match stack_limit {
            Some(kb) => kb as u64,
            None => {
                LimitRequest::default()
                    .stack_bytes(memory_limit.div_ceil(1024))
                    .unwrap_or(0)
                    / 1024
            }
        },
        max_processes_and_or_threads: max_processes.map_or(defaults.max_processes, |n| n as u64),
        max_file_size: max_file_size.map_or(defaults.max_file_size_bytes / 1024, |kb| kb as u64),
        redirect_stderr_to_stdout: redirect_stderr_to_stdout.unwrap_or(false),
        callback_url,
        output_share: None,
    };
    Ok(stored)
}

impl StoredRequest {
    /// The engine's one check of this submission's job, the engine's refusal worded as
    /// Judge0's field errors (422): before it is stored or run, and again when a worker
    /// takes it (the runtime's limits may have changed since it was stored).
    pub fn check(&self, engine: &dyn Executor) -> Result<Checked, EngineError> {
        let runtime = engine
            .catalog()
            .by_judge0_id(self.language_id)
            .ok_or_else(|| EngineError::BadRequest(format!("language with id {} doesn't exist", self.language_id)))?;
        engine.check(self.job(runtime))
    }

    /// The engine job of this submission.
    pub fn job(&self, runtime: &Runtime) -> Job {
        Job {
            language: runtime.name.clone(),
            version: None,
            files: vec![SourceFile {
                name: None,
                content: self.source_code.clone(),
            }],
            args: split_options(self.command_line_arguments.as_deref()),
            compile_args: split_options(self.compiler_options.as_deref()),
            limits: self.limits(runtime),
            images: false,
            output_share: self.output_share,
        }
    }

    /// Judge0's limits in the engine's units. `cpu_time_limit = 0` is "no CPU limit" in Judge0
    /// (isolate); here it is the runtime's maximum, the wall clock still applies.
    fn limits(&self, runtime: &Runtime) -> LimitRequest {
        let cpu_ms = if self.cpu_time_limit <= 0.0 {
            runtime.limits().run.max.cpu_ms
        } else {
            seconds_to_ms(self.cpu_time_limit)
        };
        LimitRequest {
            run: PhaseRequest {
                cpu_ms: Some(cpu_ms),
                wall_ms: Some(seconds_to_ms(self.wall_time_limit)),
                memory_mib: Some(self.memory_limit.div_ceil(1024)),
                max_processes: Some(self.max_processes_and_or_threads),
                max_output_bytes: None,
                max_file_size_bytes: Some((self.max_file_size * 1024).max(1)),
            },
            compile: PhaseRequest::default(),
            stack_bytes: (self.stack_limit > 0).then_some(self.stack_limit * 1024),
        }
    }
}

/// Arguments from Judge0's option strings: split on whitespace, never a shell.
fn split_options(options: Option<&str>) -> Vec<String> {
    options
        .map(|s| s.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Seconds (Judge0) to milliseconds (engine); a positive limit is at least 1 ms.
fn seconds_to_ms(seconds: f64) -> u64 {
    ((seconds * 1000.0).round() as u64).max(1)
}

/// The Judge0 field errors for what the engine refused.
pub fn field_errors(e: &EngineError) -> FieldErrors {
    let (field, message) = limit_error(e);
    FieldErrors::from([(field.to_owned(), vec![message])])
}

/// The Judge0 field and message for what the engine refused: a limit by its Judge0 field, in
/// Judge0's units, with Rails' words; anything else on `base`, in the engine's words.
fn limit_error(e: &EngineError) -> (&'static str, String) {
    let EngineError::Limit { limit, bound, .. } = e else {
        return ("base", e.to_string());
    };
    let (relation, up) = match bound {
        Bound::Max(_) | Bound::RequestWall(_) => ("less than or equal to", false),
        Bound::Min(_) => ("greater than or equal to", true),
    };
    let bound = bound.value();
    let seconds = || decimal(bound as f64 / 1000.0, 3);
    use Phase::{Compile, Run};
    let (field, value) = match limit {
        Limit::CpuMs(Run) => ("cpu_time_limit", seconds()),
        Limit::WallMs(Run) => ("wall_time_limit", seconds()),
        Limit::MemoryMb(Run) => ("memory_limit", (bound * 1024).to_string()),
        Limit::MaxProcesses(Run) => ("max_processes_and_or_threads", bound.to_string()),
        Limit::MaxFileSizeBytes(Run) => ("max_file_size", kb(bound, up).to_string()),
        Limit::StackBytes => ("stack_limit", kb(bound, up).to_string()),
        Limit::Runs => ("number_of_runs", bound.to_string()),
        // Judge0 has no field for these: a submission cannot set them.
        Limit::MaxOutputBytes(Run)
        | Limit::CpuMs(Compile)
        | Limit::WallMs(Compile)
        | Limit::MemoryMb(Compile)
        | Limit::MaxProcesses(Compile)
        | Limit::MaxOutputBytes(Compile)
        | Limit::MaxFileSizeBytes(Compile)
        | Limit::RequestOutputBytes
        | Limit::RequestWallMs
        | Limit::BuildCacheMb => return ("base", e.to_string()),
    };
    (field, format!("must be {relation} {value}"))
}

/// Bytes to KB, rounded towards the allowed side.
fn kb(bytes: u64, up: bool) -> u64 {
    if up {
        bytes.div_ceil(1024)
    } else {
        bytes / 1024
    }
}

/// A decimal as Rails prints a BigDecimal: at most `places` decimals, trailing zeros dropped,
/// at least one decimal (`5.0`, `0.012`).
pub fn decimal(value: f64, places: usize) -> String {
    let s = format!("{value:.places$}");
    let trimmed = s.trim_end_matches('0');
    if trimmed.ends_with('.') {
        format!("{trimmed}0")
    } else {
        trimmed.to_owned()
    }
}

/// Collects Judge0-style field errors while reading loosely typed values.
#[derive(Default)]
struct Checker {
    errors: FieldErrors,
}

impl Checker {
    fn add(&mut self, field: &str, message: impl Into<String>) {
        self.errors.entry(field.to_owned()).or_default().push(message.into());
    }

    fn has(&self, field: &str) -> bool {
        self.errors.contains_key(field)
    }

    /// A string field (numbers are taken as their text, like Rails' string cast).
    fn text(&mut self, field: &str, value: &Option<Value>) -> Option<String> {
        match value {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(_) => {
                self.add(field, "must be a string");
                None
            }
        }
    }

    /// A byte field: the text, or the text base64-decoded.
    fn bytes(&mut self, field: &str, value: &Option<Value>, base64: bool) -> Option<Vec<u8>> {
        let text = self.text(field, value)?;
        if !base64 {
            return Some(text.into_bytes());
        }
        match decode_base64(&text) {
            Some(bytes) => Some(bytes),
            None => {
                self.add(field, "is not valid base64");
                None
            }
        }
    }

    /// `compiler_options` / `command_line_arguments`: at most 512 characters; blank is none.
    fn options(&mut self, field: &str, value: &Option<Value>) -> Option<String> {
        let text = self.text(field, value)?;
        if text.chars().count() > MAX_OPTIONS_CHARS {
            self.add(
                field,
                format!("is too long (maximum is {MAX_OPTIONS_CHARS} characters)"),
            );
            return None;
        }
        (!text.trim().is_empty()).then_some(text)
    }

    fn number(&mut self, field: &str, value: &Option<Value>) -> Option<f64> {
        let parsed = match value {
            None => return None,
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().parse::<f64>().ok().filter(|x| x.is_finite()),
            Some(_) => None,
        };
        if parsed.is_none() {
            self.add(field, "is not a number");
        }
        parsed
    }

    /// An integer field; a fraction is cut off, as Rails' integer cast does.
    fn integer(&mut self, field: &str, value: &Option<Value>) -> Option<i64> {
        self.number(field, value)
            .map(|x| x.trunc().clamp(i64::MIN as f64, i64::MAX as f64) as i64)
    }

    fn boolean(&mut self, field: &str, value: &Option<Value>) -> Option<bool> {
        let parsed = match value {
            None => return None,
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(0.0) => Some(false),
                Some(1.0) => Some(true),
                _ => None,
            },
            Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "t" | "1" | "on" => Some(true),
                "false" | "f" | "0" | "off" | "" => Some(false),
                _ => None,
            },
            Some(_) => None,
        };
        if parsed.is_none() {
            self.add(field, "is not a boolean");
        }
        parsed
    }

    fn range_f(&mut self, field: &str, value: Option<f64>, min: f64, min_text: &str, max: f64, max_text: &str) {
        match value {
            Some(x) if x < min => self.add(field, format!("must be greater than or equal to {min_text}")),
            Some(x) if x > max => self.add(field, format!("must be less than or equal to {max_text}")),
            _ => {}
        }
    }

    fn range_i(&mut self, field: &str, value: Option<i64>, min: i64, max: i64) {
        match value {
            Some(x) if x < min => self.add(field, format!("must be greater than or equal to {min}")),
            Some(x) if x > max => self.add(field, format!("must be less than or equal to {max}")),
            _ => {}
        }
    }

    /// `numericality: { greater_than: 0, less_than_or_equal_to: max }`.
    fn positive(&mut self, field: &str, value: Option<i64>, max: i64) {
        match value {
            Some(x) if x <= 0 => self.add(field, "must be greater than 0"),
            Some(x) if x > max => self.add(field, format!("must be less than or equal to {max}")),
            _ => {}
        }
    }
}

/// Judge0's base64 input: whitespace ignored, padding optional.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    LENIENT_BASE64.decode(compact).ok()
}

/// Ruby's `Base64.encode64`: a newline after every 60 characters and at the end.
pub fn encode64(bytes: &[u8]) -> String {
    let flat = STANDARD.encode(bytes);
    let mut out = String::with_capacity(flat.len() + flat.len() / BASE64_LINE_CHARS + 1);
    for chunk in flat.as_bytes().chunks(BASE64_LINE_CHARS) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out
}

mod b64 {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

mod b64_opt {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(b) => s.serialize_some(&STANDARD.encode(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| STANDARD.decode(text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Every field a response may carry: the v1.13.1 submission columns plus `status` and
/// `language`, exactly (the Python SDK raises on a field it does not know, so nothing more).
pub const ALL_FIELDS: [&str; 35] = [
    "source_code",
    "language_id",
    "stdin",
    "expected_output",
    "stdout",
    "status_id",
    "created_at",
    "finished_at",
    "time",
    "memory",
    "stderr",
    "token",
    "number_of_runs",
    "cpu_time_limit",
    "cpu_extra_time",
    "wall_time_limit",
    "memory_limit",
    "stack_limit",
    "max_processes_and_or_threads",
    "enable_per_process_and_thread_time_limit",
    "enable_per_process_and_thread_memory_limit",
    "max_file_size",
    "compile_output",
    "exit_code",
    "exit_signal",
    "message",
    "wall_time",
    "compiler_options",
    "command_line_arguments",
    "redirect_stderr_to_stdout",
    "callback_url",
    "additional_files",
    "enable_network",
    "status",
    "language",
];

/// Judge0's default `fields`.
pub const DEFAULT_FIELDS: [&str; 8] = [
    "token",
    "time",
    "memory",
    "stdout",
    "stderr",
    "compile_output",
    "message",
    "status",
];

/// The `fields` query parameter: a comma-separated list, `*` for all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields(Vec<&'static str>);

impl Fields {
    /// Parse `fields`; unknown names are returned (Judge0 answers 400 `invalid fields: [x, y]`).
    pub fn parse(param: Option<&str>) -> Result<Fields, Vec<String>> {
        let names: Vec<&str> = param
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if names.is_empty() {
            return Ok(Fields::default());
        }
        if names.contains(&"*") {
            return Ok(Fields(ALL_FIELDS.to_vec()));
        }
        let mut picked = Vec::with_capacity(names.len());
        let mut invalid = Vec::new();
        for name in names {
            match ALL_FIELDS.iter().find(|f| **f == name) {
                Some(f) if !picked.contains(f) => picked.push(*f),
                Some(_) => {}
                None => invalid.push(name.to_owned()),
            }
        }
        if invalid.is_empty() {
            Ok(Fields(picked))
        } else {
            Err(invalid)
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains(&name)
    }
}

impl Default for Fields {
    fn default() -> Self {
        Fields(DEFAULT_FIELDS.to_vec())
    }
}

/// `status` of a response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatusJson {
    pub id: i32,
    pub description: String,
}

/// `language` of a response and an item of `GET /languages`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LanguageJson {
    pub id: u32,
    pub name: String,
}

/// A submission in Judge0's response shape: only the fields asked for (`fields`) are present;
/// the defaults are token, time, memory, stdout, stderr, compile_output, message, status.
/// Text fields are base64 (Ruby style, a newline every 60 characters) when
/// `base64_encoded=true`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Submission)]
pub struct SubmissionJson {
    pub source_code: Option<String>,
    pub language_id: u32,
    pub stdin: Option<String>,
    pub expected_output: Option<String>,
    pub stdout: Option<String>,
    pub status_id: i32,
    /// `%Y-%m-%dT%H:%M:%S.%3fZ`
    pub created_at: Option<String>,
    pub finished_at: Option<String>,
    /// CPU seconds, a decimal string (averaged over `number_of_runs`).
    pub time: Option<String>,
    /// Peak memory in KB.
    pub memory: Option<u64>,
    pub stderr: Option<String>,
    pub token: String,
    pub number_of_runs: u32,
    pub cpu_time_limit: String,
    pub cpu_extra_time: String,
    pub wall_time_limit: String,
    pub memory_limit: u64,
    pub stack_limit: u64,
    pub max_processes_and_or_threads: u64,
    pub enable_per_process_and_thread_time_limit: bool,
    pub enable_per_process_and_thread_memory_limit: bool,
    pub max_file_size: u64,
    pub compile_output: Option<String>,
    pub exit_code: Option<i32>,
    pub exit_signal: Option<i32>,
    pub message: Option<String>,
    pub wall_time: Option<String>,
    pub compiler_options: Option<String>,
    pub command_line_arguments: Option<String>,
    pub redirect_stderr_to_stdout: bool,
    pub callback_url: Option<String>,
    pub additional_files: Option<String>,
    pub enable_network: bool,
    pub status: StatusJson,
    pub language: LanguageJson,
}

/// A stored submission, decoded.
#[derive(Debug, Clone)]
pub struct Record {
    pub token: String,
    pub status_id: i32,
    pub request: StoredRequest,
    pub result: Option<StoredResult>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Why a record cannot be rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenderError {
    /// A requested text field is not UTF-8 and base64 was not asked for.
    NotUtf8,
}

impl Record {
    /// Decode a stored submission; `None` (logged) when its JSON is not what this module wrote.
    pub fn from_store(s: store::Submission) -> Option<Record> {
        let request = serde_json::from_str(&s.request)
            .map_err(|e| tracing::error!(token = %s.token, error = %e, "stored judge0 request unreadable"))
            .ok()?;
        let result = match &s.result {
            Some(text) => Some(
                serde_json::from_str(text)
                    .map_err(|e| tracing::error!(token = %s.token, error = %e, "stored judge0 result unreadable"))
                    .ok()?,
            ),
            None => None,
        };
        Some(Record {
            token: s.token,
            status_id: s.status,
            request,
            result,
            created_at: s.created_at,
            finished_at: s.finished_at,
        })
    }

    /// The response object with the requested fields.
    pub fn render(&self, fields: &Fields, base64: bool, catalog: &Catalog) -> Result<Value, RenderError> {
        let text = |name: &str, bytes: Option<&Vec<u8>>| -> Result<Option<String>, RenderError> {
            match bytes {
                Some(b) if fields.contains(name) => encode_text(b, base64).map(Some),
                _ => Ok(None),
            }
        };
        let result = self.result.clone().unwrap_or_default();
        let req = &self.request;
        let json = SubmissionJson {
            source_code: text("source_code", Some(&req.source_code))?,
            language_id: req.language_id,
            stdin: text("stdin", req.stdin.as_ref())?,
            expected_output: text("expected_output", req.expected_output.as_ref())?,
            stdout: text("stdout", result.stdout.as_ref())?,
            status_id: self.status_id,
            created_at: Some(timestamp(&self.created_at)),
            finished_at: self.finished_at.as_ref().map(timestamp),
            time: result.time,
            memory: result.memory,
            stderr: text("stderr", result.stderr.as_ref())?,
            token: self.token.clone(),
            number_of_runs: req.number_of_runs,
            cpu_time_limit: decimal(req.cpu_time_limit, 6),
            cpu_extra_time: decimal(req.cpu_extra_time, 6),
            wall_time_limit: decimal(req.wall_time_limit, 6),
            memory_limit: req.memory_limit,
            stack_limit: req.stack_limit,
            max_processes_and_or_threads: req.max_processes_and_or_threads,
            enable_per_process_and_thread_time_limit: false,
            enable_per_process_and_thread_memory_limit: false,
            max_file_size: req.max_file_size,
            compile_output: text("compile_output", result.compile_output.as_ref())?,
            exit_code: result.exit_code,
            exit_signal: result.exit_signal,
            // Judge0 1.13 encodes `message` too when asked for base64.
            message: match result.message {
                Some(m) if base64 => Some(encode64(m.as_bytes())),
                m => m,
            },
            wall_time: result.wall_time,
            compiler_options: req.compiler_options.clone(),
            command_line_arguments: req.command_line_arguments.clone(),
            redirect_stderr_to_stdout: req.redirect_stderr_to_stdout,
            callback_url: req.callback_url.clone(),
            additional_files: None,
            enable_network: false,
            status: StatusJson {
                id: self.status_id,
                description: status_description(self.status_id).to_owned(),
            },
            language: LanguageJson {
                id: req.language_id,
                name: catalog
                    .by_judge0_id(req.language_id)
                    .map_or_else(|| "Unknown".to_owned(), language_name),
            },
        };
        // A struct of strings, numbers and options always serializes to an object.
        let mut map = match serde_json::to_value(json) {
            Ok(Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        map.retain(|k, _| fields.contains(k));
        Ok(Value::Object(map))
    }
}

/// Text as the caller asked for it: base64 (Ruby style), or UTF-8 as is.
fn encode_text(bytes: &[u8], base64: bool) -> Result<String, RenderError> {
    if base64 {
        Ok(encode64(bytes))
    } else {
        String::from_utf8(bytes.to_vec()).map_err(|_| RenderError::NotUtf8)
    }
}

/// Judge0's time format (Rails, milliseconds, UTC).
pub fn timestamp(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A language's Judge0-style name: the version inside the display name's parentheses
/// (`C++ (GCC 12.2.0)`, `JavaScript (Node.js 18.19.0)`) or after it (`Python (3.11.2)`).
pub fn language_name(runtime: &Runtime) -> String {
    let name = runtime.display_name.as_str();
    match (&runtime.version, name.strip_suffix(')')) {
        (None, _) => name.to_owned(),
        (Some(v), Some(open)) if open.contains('(') => format!("{open} {v})"),
        (Some(v), _) => format!("{name} ({v})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        let mut c = Catalog::load(None).expect("embedded catalog");
        c.detect();
        c
    }

    fn request(body: serde_json::Value) -> SubmissionRequest {
        serde_json::from_value(body).expect("request")
    }

    #[test]
    fn ruby_base64_breaks_lines_at_60() {
        assert_eq!(encode64(b""), "");
        assert_eq!(encode64(b"a"), "YQ==\n");
        let long = encode64(&[b'x'; 100]);
        let lines: Vec<&str> = long.split_terminator('\n').collect();
        assert_eq!(lines[0].len(), 60);
        assert!(long.ends_with('\n'));
        assert_eq!(decode_base64(&long).unwrap(), vec![b'x'; 100]);
        assert_eq!(decode_base64("aGk").unwrap(), b"hi", "padding optional");
        assert!(decode_base64("!!").is_none());
    }

    #[test]
    fn decimals_print_like_rails() {
        assert_eq!(decimal(5.0, 6), "5.0");
        assert_eq!(decimal(0.012, 3), "0.012");
        assert_eq!(decimal(0.01, 3), "0.01");
        assert_eq!(decimal(2.5, 6), "2.5");
        assert_eq!(decimal(0.0, 3), "0.0");
    }

    #[test]
    fn fields_selection() {
        assert_eq!(Fields::parse(None).unwrap(), Fields::default());
        assert_eq!(Fields::parse(Some("*")).unwrap().0.len(), ALL_FIELDS.len());
        let f = Fields::parse(Some("stdout, status ,token")).unwrap();
        assert!(f.contains("stdout") && f.contains("status") && !f.contains("time"));
        assert_eq!(Fields::parse(Some("stdout,foo,bar")).unwrap_err(), vec!["foo", "bar"]);
        assert!(
            Fields::parse(Some("started_at")).is_err(),
            "master-only columns are unknown"
        );
    }

    #[test]
    fn all_fields_are_the_response_struct() {
        let record = Record {
            token: "t".into(),
            status_id: 1,
            request: StoredRequest {
                language_id: 71,
                source_code: b"print(1)".to_vec(),
                stdin: None,
                expected_output: None,
                compiler_options: None,
                command_line_arguments: None,
                number_of_runs: 1,
                cpu_time_limit: 5.0,
                cpu_extra_time: 0.0,
                wall_time_limit: 10.0,
                memory_limit: 128_000,
                stack_limit: 64_000,
                max_processes_and_or_threads: 60,
                max_file_size: 1024,
                redirect_stderr_to_stdout: false,
                callback_url: None,
                output_share: None,
            },
            result: None,
            created_at: Utc::now(),
            finished_at: None,
        };
        let all = Fields::parse(Some("*")).unwrap();
        let Value::Object(map) = record.render(&all, false, &catalog()).unwrap() else {
            panic!()
        };
        let mut keys: Vec<&str> = map.keys().map(String::as_str).collect();
        let mut expected = ALL_FIELDS.to_vec();
        keys.sort_unstable();
        expected.sort_unstable();
        assert_eq!(keys, expected);
        assert_eq!(map["cpu_time_limit"], "5.0");
        assert_eq!(map["status"]["description"], "In Queue");
    }

    #[test]
    fn validation_speaks_judge0() {
        let c = catalog();
        let errors = validate(&request(serde_json::json!({})), false, &c, true).unwrap_err();
        assert_eq!(errors["source_code"], vec!["can't be blank"]);
        assert_eq!(errors["language_id"], vec!["can't be blank"]);
        let errors = validate(
            &request(serde_json::json!({
                "source_code": "x", "language_id": 9999, "cpu_time_limit": 16,
                "wall_time_limit": "0.5", "memory_limit": 1000, "number_of_runs": 0,
                "enable_network": true, "max_processes_and_or_threads": "abc",
                "enable_per_process_and_thread_time_limit": true,
            })),
            false,
            &c,
            true,
        )
        .unwrap_err();
        assert_eq!(errors["language_id"], vec!["language with id 9999 doesn't exist"]);
        assert_eq!(errors["cpu_time_limit"], vec!["must be less than or equal to 15.0"]);
        assert_eq!(errors["wall_time_limit"], vec!["must be greater than or equal to 1"]);
        assert_eq!(errors["memory_limit"], vec!["must be greater than or equal to 2048"]);
        assert_eq!(errors["number_of_runs"], vec!["must be greater than 0"]);
        assert_eq!(errors["enable_network"], vec!["enabling network is not allowed"]);
        assert_eq!(errors["max_processes_and_or_threads"], vec!["is not a number"]);
        assert_eq!(
            errors["enable_per_process_and_thread_time_limit"],
            vec!["this option cannot be enabled"]
        );
    }

    #[test]
    fn options_split_on_whitespace_never_a_shell() {
        assert_eq!(split_options(Some(" -O2  -DX=1;rm ")), vec!["-O2", "-DX=1;rm"]);
        assert!(split_options(None).is_empty());
    }

    #[test]
    fn engine_limit_errors_use_judge0_names_and_units() {
        let limit = |limit, value, bound| limit_error(&EngineError::Limit { limit, value, bound });
        assert_eq!(
            limit(Limit::MemoryMb(Phase::Run), 9000, Bound::Max(2048)),
            ("memory_limit", "must be less than or equal to 2097152".to_owned())
        );
        assert_eq!(
            limit(Limit::StackBytes, 1, Bound::Min(65536)),
            ("stack_limit", "must be greater than or equal to 64".to_owned())
        );
        assert_eq!(
            limit(Limit::CpuMs(Phase::Run), 1, Bound::Max(12_500)).1,
            "must be less than or equal to 12.5"
        );
        assert_eq!(
            limit(Limit::WallMs(Phase::Run), 15_000, Bound::RequestWall(10_000)),
            ("wall_time_limit", "must be less than or equal to 10.0".to_owned()),
            "the request's wall time bounds the field like any maximum"
        );
        assert_eq!(
            limit(
                Limit::MaxFileSizeBytes(Phase::Run),
                1 << 30,
                Bound::Max((64 << 20) + 1000)
            ),
            ("max_file_size", "must be less than or equal to 65536".to_owned()),
            "KB rounded towards the allowed side"
        );
        assert_eq!(
            limit(Limit::CpuMs(Phase::Compile), 0, Bound::Min(1)),
            ("base", "compile_cpu_ms must be at least 1".to_owned()),
            "no Judge0 field: the engine's words on base"
        );
    }
}
