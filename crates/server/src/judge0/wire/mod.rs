//! Judge0's wire formats: the request body and its validation (Judge0's ranges and messages),
//! the stored forms of a submission (request and result: JSON text the store never reads), and
//! the response with `fields` selection and Ruby-style base64.
//!
//! - [`request`]: `SubmissionRequest`, `validate`, `StoredRequest` and its engine job;
//! - [`defaults`]: the limits a submission gets where it names none, and its maxima;
//! - [`response`]: `StoredResult`, `Fields`, `Record::render`, Rails' decimals and times;
//! - [`ruby_base64`]: Ruby's `encode64`/`decode64`, and plain base64 for the stored forms.

mod defaults;
mod request;
mod response;
mod ruby_base64;

pub use defaults::Ranges;
pub use request::{
    field_errors, validate, Context, FieldErrors, StoredRequest, SubmissionRequest, DEFAULT_PER_PAGE, MAX_BATCH_SIZE,
    MAX_CALLBACK_URL_BYTES, MAX_CPU_EXTRA_TIME_S, MAX_NUMBER_OF_RUNS,
};
pub use response::{
    decimal, language_name, timestamp, Fields, LanguageJson, Record, RenderError, StatusJson, StoredResult,
    SubmissionJson,
};
