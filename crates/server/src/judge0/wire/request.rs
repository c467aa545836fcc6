//! Judge0's request: the body of `POST /submissions` (every field any JSON value, as Rails
//! casts), its validation against Judge0's ranges with Judge0's field errors, the stored form
//! of a valid submission, and its engine job.

use std::collections::BTreeMap;

use engine::{
    Bound, Checked, EngineError, Executor, Job, Limit, LimitRequest, Phase, PhaseRequest, RequestLimits, SourceFile,
};
use runtimes::{Catalog, Runtime};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::defaults::Ranges;
use super::response::decimal;
use super::ruby_base64::{b64, b64_opt, decode_base64};
use crate::judge0::archive::{self, ArchiveFile};
use crate::judge0::callback;

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
/// The characters Judge0 deletes from `compiler_options` and `command_line_arguments` before
/// bash splits them (`gsub(/[$&;<>|`]/, "")`).
pub const STRIPPED_OPTION_CHARS: [char; 7] = ['$', '&', ';', '<', '>', '|', '`'];
/// A callback URL longer than this is refused (Judge0 stores it in a string column).
pub const MAX_CALLBACK_URL_BYTES: usize = 2048;
/// Judge0's MAX_SUBMISSION_BATCH_SIZE: submissions per batch create or batch show.
pub const MAX_BATCH_SIZE: usize = 20;
/// Judge0's page size of `GET /submissions`.
pub const DEFAULT_PER_PAGE: u32 = 20;

/// The body of `POST /submissions` and each item of a batch. Judge0 (Rails) casts loosely, so
/// every field is taken as any JSON value and checked here: numbers may come as strings,
/// integers as floats (the Python SDK sends `memory_limit` as a float), `null` means "not
/// given", unknown keys are ignored.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct SubmissionRequest {
    /// The program (base64 when `base64_encoded=true`). Required, unless `additional_files`
    /// holds the language's source file (`run` for 89, "Multi-file program").
    #[schema(value_type = Option<String>)]
    pub source_code: Option<Value>,
    /// A Judge0 language id (`GET /languages`). Required.
    #[schema(value_type = Option<u32>, example = 71)]
    pub language_id: Option<Value>,
    /// Extra compiler arguments; compiled languages only. Split as bash would split them
    /// (quotes, backslashes) once Judge0's `$&;<>|` and backquote are deleted, but never run by
    /// a shell: no expansion of any kind.
    #[schema(value_type = Option<String>)]
    pub compiler_options: Option<Value>,
    /// Program arguments, split like `compiler_options`: `a 'b c'` is `a` and `b c`.
    #[schema(value_type = Option<String>)]
    pub command_line_arguments: Option<Value>,
    /// base64 when `base64_encoded=true`.
    #[schema(value_type = Option<String>)]
    pub stdin: Option<Value>,
    /// base64 when `base64_encoded=true`; with it the status is 3 (Accepted) or 4 (Wrong Answer),
    /// trailing whitespace of lines and trailing blank lines ignored.
    #[schema(value_type = Option<String>)]
    pub expected_output: Option<Value>,
    /// Seconds, 0 to 15; 5 when not given (0: no CPU limit of its own, the runtime's maximum
    /// applies).
    #[schema(value_type = Option<f64>)]
    pub cpu_time_limit: Option<Value>,
    /// Seconds, 0 to 5. Accepted for compatibility; tiderun grants no extra time.
    #[schema(value_type = Option<f64>)]
    pub cpu_extra_time: Option<Value>,
    /// Seconds, 1 to 20; 10 when not given.
    #[schema(value_type = Option<f64>)]
    pub wall_time_limit: Option<Value>,
    /// KB, 2048 to 512000 (or the runtime's default, when higher); the runtime's default when
    /// not given.
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
    /// KB, 0 to 4096: the largest file the program may write; 1024 when not given.
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
    /// A zip archive, base64 (whatever `base64_encoded` says), unpacked into the work
    /// directory beside the program; with the source code it counts against the request's
    /// input limit. Symbolic links, devices, absolute paths and `..` are refused.
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
    /// The zip of `additional_files`, as sent (checked by [`archive::unpack`]).
    #[serde(default, with = "b64_opt", skip_serializing_if = "Option::is_none")]
    pub additional_files: Option<Vec<u8>>,
    /// This submission's part of its batch's output budget (`POST /submissions/batch`: the
    /// server's per-request budget shared by the batch's submissions); `None` for a single
    /// submission, which has the whole budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_share: Option<u64>,
}

/// What [`validate`] checks a request against besides the request itself.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    pub catalog: &'a Catalog,
    /// The server's limits on one request (the wall time bounds `wall_time_limit`).
    pub request: RequestLimits,
    /// Callback URLs may point at private addresses.
    pub allow_private_callbacks: bool,
    /// The most the program and its `additional_files` may hold together, in bytes: the
    /// request's input limit (the server's body limit), which a plain source file is held to.
    pub max_input_bytes: u64,
}

/// Check a request the way Judge0 does (its own ranges) and fill in the defaults
/// ([`Ranges::of`]: Judge0's for time and file size, the runtime's for memory and processes).
/// `base64` decodes `source_code`, `stdin` and `expected_output`. What the engine refuses (the
/// runtime's maxima, the sandbox's minima, the request's wall time) is
/// [`StoredRequest::check`]'s.
pub fn validate(req: &SubmissionRequest, base64: bool, ctx: &Context<'_>) -> Result<StoredRequest, FieldErrors> {
    let mut c = Checker::default();

    let source_code = c.bytes("source_code", &req.source_code, base64);
    let runtime = match c.integer("language_id", &req.language_id) {
        None if !c.has("language_id") => {
            c.add("language_id", "can't be blank");
            None
        }
        None => None,
        Some(id) => match u32::try_from(id).ok().and_then(|id| ctx.catalog.by_judge0_id(id)) {
            None => {
                c.add("language_id", format!("language with id {id} doesn't exist"));
                None
            }
            // Judge0's words for an archived language (its `/languages` lists this one so),
            // then the one wording of every API, which says how an operator installs it.
            Some(rt) if !rt.installed => {
                c.add(
                    "language_id",
                    format!(
                        "language with id {id} is archived and cannot be used anymore: {}",
                        runtimes::ResolveError::NotInstalled {
                            language: rt.name.clone()
                        }
                    ),
                );
                None
            }
            Some(rt) => Some((id as u32, rt)),
        },
    };
    let stdin = c.bytes("stdin", &req.stdin, base64);
    let expected_output = c.bytes("expected_output", &req.expected_output, base64);

    // Always base64, as in Judge0; unpacked here to refuse a bad archive before it is stored.
    let additional_files = c
        .bytes("additional_files", &req.additional_files, true)
        .filter(|zip| !zip.is_empty());
    let source_len = source_code.as_ref().map_or(0, Vec::len) as u64;
    let unpacked = additional_files.as_ref().and_then(|zip| {
        match archive::unpack(zip, ctx.max_input_bytes.saturating_sub(source_len)) {
            Ok(files) => Some(files),
            Err(e) => {
                c.add("additional_files", e.to_string());
                None
            }
        }
    });
    let blank = source_code
        .as_ref()
        .is_none_or(|s| s.iter().all(u8::is_ascii_whitespace));
    if blank && !c.has("source_code") {
        // Without source code the program is the archive's file of the language's name (the
        // `run` script of a multi-file program).
        match (&runtime, &unpacked) {
            (Some((_, rt)), Some(files)) if !files.iter().any(|f| f.path == rt.judge0_file()) => c.add(
                "additional_files",
                format!(
                    "has no {:?} and source_code is blank: one of them must be the program",
                    rt.judge0_file()
                ),
            ),
            (_, Some(_)) => {}
            _ if c.has("additional_files") => {}
            _ => c.add("source_code", "can't be blank"),
        }
    }

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

    // The runtime's defaults and maxima; an unknown language is checked against Judge0's.
    let ranges = match &runtime {
        Some((_, rt)) => Ranges::of(rt, ctx.request),
        None => Ranges::common(ctx.catalog, ctx.request),
    };
    let memory_max = (MAX_MEMORY_LIMIT_KB as u64).max(ranges.memory_limit.default) as i64;
    let processes_max =
        (MAX_MAX_PROCESSES_AND_OR_THREADS as u64).max(ranges.max_processes_and_or_threads.default) as i64;

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
    c.range_i("memory_limit", memory_limit, MIN_MEMORY_LIMIT_KB, memory_max);
    let stack_limit = c.integer("stack_limit", &req.stack_limit);
    c.range_i("stack_limit", stack_limit, 0, MAX_STACK_LIMIT_KB);
    let max_processes = c.integer("max_processes_and_or_threads", &req.max_processes_and_or_threads);
    c.positive("max_processes_and_or_threads", max_processes, processes_max);
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
    let callback_url = c
        .text("callback_url", &req.callback_url)
        .filter(|s| !s.trim().is_empty());
    if let Some(url) = &callback_url {
        if let Err(problem) = callback::check_url(url, ctx.allow_private_callbacks) {
            c.add("callback_url", problem);
        }
    }

    let (Some((language_id, _)), true) = (runtime, c.errors.is_empty()) else {
        return Err(c.errors);
    };
    let memory_limit = memory_limit.map_or(ranges.memory_limit.default, |kb| kb as u64);
    let stored = StoredRequest {
        language_id,
        source_code: source_code.unwrap_or_default(),
        stdin,
        expected_output,
        compiler_options,
        command_line_arguments,
        number_of_runs: number_of_runs.map_or(1, |n| n as u32),
        cpu_time_limit: cpu_time_limit.unwrap_or(ranges.cpu_time_limit.default),
        cpu_extra_time: cpu_extra_time.unwrap_or(0.0),
        wall_time_limit: wall_time_limit.unwrap_or(ranges.wall_time_limit.default),
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
        max_processes_and_or_threads: max_processes.map_or(ranges.max_processes_and_or_threads.default, |n| n as u64),
        max_file_size: max_file_size.map_or(ranges.max_file_size.default, |kb| kb as u64),
        redirect_stderr_to_stdout: redirect_stderr_to_stdout.unwrap_or(false),
        callback_url,
        additional_files,
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
        engine.check(self.job(runtime)?)
    }

    /// The engine job of this submission: the program under the language's Judge0 file name
    /// (`script.py`), then the files of `additional_files` (one with the program's name is
    /// left out, as Judge0's `unzip -n` leaves it; without source code it is the program).
    pub fn job(&self, runtime: &Runtime) -> Result<Job, EngineError> {
        let main = runtime.judge0_file();
        let mut extra: Vec<ArchiveFile> = match &self.additional_files {
            // Checked when it was stored; unpacked again with room for anything it holds.
            Some(zip) => {
                archive::unpack(zip, u64::MAX).map_err(|e| EngineError::BadRequest(format!("additional_files {e}")))?
            }
            None => Vec::new(),
        };
        let from_archive = extra.iter().position(|f| f.path == main);
        let blank = self.source_code.iter().all(u8::is_ascii_whitespace);
        let program = match from_archive {
            Some(i) if blank => extra.remove(i).content,
            Some(i) => {
                extra.remove(i);
                self.source_code.clone()
            }
            None => self.source_code.clone(),
        };
        let mut files = vec![SourceFile {
            name: Some(main.to_owned()),
            content: program,
        }];
        files.extend(extra.into_iter().map(|f| SourceFile {
            name: Some(f.path),
            content: f.content,
        }));
        Ok(Job {
            language: runtime.name.clone(),
            version: None,
            files,
            args: split_options(self.command_line_arguments.as_deref()),
            compile_args: split_options(self.compiler_options.as_deref()),
            limits: self.limits(runtime),
            images: false,
            output_share: self.output_share,
        })
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
            input_wait_ms: None,
        }
    }
}

/// Arguments from Judge0's option strings, as Judge0's bash would have them: its stripped
/// characters deleted, then split as a POSIX shell splits words (quotes, backslashes, a `#`
/// starting a word ends the line) — by `shlex`, never by a shell, so nothing is expanded.
/// `None` when a quote is not closed or a backslash ends the text.
pub fn shell_words(text: &str) -> Option<Vec<String>> {
    let kept: String = text.chars().filter(|c| !STRIPPED_OPTION_CHARS.contains(c)).collect();
    shlex::split(&kept)
}

/// The arguments of a stored option string; one stored before options were split as a
/// shell does (and so never checked) falls back to whitespace.
fn split_options(options: Option<&str>) -> Vec<String> {
    let Some(text) = options else {
        return Vec::new();
    };
    shell_words(text).unwrap_or_else(|| text.split_whitespace().map(str::to_owned).collect())
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
        | Limit::InputWaitMs
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

    /// `compiler_options` / `command_line_arguments`: at most 512 characters, splittable as a
    /// shell would split them ([`shell_words`]); blank is none.
    fn options(&mut self, field: &str, value: &Option<Value>) -> Option<String> {
        let text = self.text(field, value)?;
        if text.chars().count() > MAX_OPTIONS_CHARS {
            self.add(
                field,
                format!("is too long (maximum is {MAX_OPTIONS_CHARS} characters)"),
            );
            return None;
        }
        if shell_words(&text).is_none() {
            self.add(
                field,
                "cannot be split into arguments: a quote is not closed, or a backslash ends it",
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

    fn context(c: &Catalog) -> Context<'_> {
        Context {
            catalog: c,
            request: RequestLimits::default(),
            allow_private_callbacks: true,
            max_input_bytes: 2 << 20,
        }
    }

    fn check(c: &Catalog, body: serde_json::Value) -> Result<StoredRequest, FieldErrors> {
        validate(&request(body), false, &context(c))
    }

    #[test]
    fn validation_speaks_judge0() {
        let c = catalog();
        let errors = check(&c, serde_json::json!({})).unwrap_err();
        assert_eq!(errors["source_code"], vec!["can't be blank"]);
        assert_eq!(errors["language_id"], vec!["can't be blank"]);
        let errors = check(
            &c,
            serde_json::json!({
                "source_code": "x", "language_id": 9999, "cpu_time_limit": 16,
                "wall_time_limit": "0.5", "memory_limit": 1000, "number_of_runs": 0,
                "enable_network": true, "max_processes_and_or_threads": "abc",
                "enable_per_process_and_thread_time_limit": true,
            }),
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

    /// Judge0 deletes `$&;<>|` and the backquote, then bash splits the rest into words.
    #[test]
    fn options_split_as_bash_would_never_by_a_shell() {
        let words = |s: &str| shell_words(s).expect(s);
        assert_eq!(words("a 'b c'"), ["a", "b c"]);
        assert_eq!(
            words(r#" -O2  "-DNAME=a b" x\ y 'it''s'"#),
            ["-O2", "-DNAME=a b", "x y", "its"]
        );
        assert_eq!(
            words(r#""say \"hi\"" 'no $expansion' "#),
            [r#"say "hi""#, "no expansion"]
        );
        assert_eq!(
            words("-DX=1;rm -rf / && `id` $(id) | cat > out"),
            ["-DX=1rm", "-rf", "/", "id", "(id)", "cat", "out"]
        );
        assert_eq!(
            words("*.c ~ {a,b}"),
            ["*.c", "~", "{a,b}"],
            "no globbing, tilde or brace expansion"
        );
        assert_eq!(
            words("one\ntwo\tthree"),
            ["one", "two", "three"],
            "newlines and tabs separate words"
        );
        assert_eq!(words(r"a\\b"), [r"a\b"], "an escaped backslash");
        assert!(words("   ").is_empty());
        for unbalanced in ["'a", "a \"b", "a\\"] {
            assert_eq!(shell_words(unbalanced), None, "{unbalanced}");
        }
        assert_eq!(split_options(Some("a 'b c'")), ["a", "b c"]);
        assert_eq!(
            split_options(Some("stored 'before")),
            ["stored", "'before"],
            "legacy text"
        );
        assert!(split_options(None).is_empty());

        let c = catalog();
        let errors = check(
            &c,
            serde_json::json!({ "source_code": "x", "language_id": 71, "command_line_arguments": "a 'b" }),
        )
        .unwrap_err();
        assert_eq!(
            errors["command_line_arguments"],
            ["cannot be split into arguments: a quote is not closed, or a backslash ends it"]
        );
        let ok = check(
            &c,
            serde_json::json!({ "source_code": "x", "language_id": 71, "command_line_arguments": "a 'b c'" }),
        )
        .expect("valid");
        let job = ok.job(c.by_judge0_id(71).expect("python")).expect("job");
        assert_eq!(job.args, ["a", "b c"]);
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
