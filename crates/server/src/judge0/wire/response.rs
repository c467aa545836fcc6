//! Judge0's response: a stored submission's result, the `fields` selection, and a submission
//! rendered in Judge0's shape (times as Rails prints decimals, text fields as Ruby-style
//! base64 when asked for).

use chrono::{DateTime, Utc};
use runtimes::{Catalog, Runtime};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::request::StoredRequest;
use super::ruby_base64::{b64_opt, encode64};
use crate::judge0::result::status_description;

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
            // A multi-file program has none (its program came in `additional_files`).
            source_code: text("source_code", Some(&req.source_code).filter(|s| !s.is_empty()))?,
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
            // Always base64, as Judge0 renders this binary column.
            additional_files: req
                .additional_files
                .as_ref()
                .filter(|_| fields.contains("additional_files"))
                .map(|zip| encode64(zip)),
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
                additional_files: None,
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
}
