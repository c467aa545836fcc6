//! A job: what every API dialect describes, once translated.

use sandbox::{Output, Stdin};

use crate::LimitRequest;

/// One source file of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Relative path in the work dir; `None` means "the runtime's default" for the first file
    /// and `file<N>` for the others.
    pub name: Option<String>,
    pub content: Vec<u8>,
}

/// A program to compile (if its language needs it) and run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Job {
    /// Language name or alias (`py`).
    pub language: String,
    /// Semver selector (`3.x`, `*`); `None` is any.
    pub version: Option<String>,
    /// The first file is the main one.
    pub files: Vec<SourceFile>,
    /// Arguments for the program (never a shell string).
    pub args: Vec<String>,
    /// Extra compiler arguments (Judge0's `compiler_options`), compiled languages only.
    pub compile_args: Vec<String>,
    pub limits: LimitRequest,
    /// Hand back the images the run stage leaves in its work dir (a plot), within
    /// [`crate::MAX_IMAGE_FILES`] and [`crate::MAX_IMAGE_BYTES`]. Off for test cases and the
    /// Judge0/Piston dialects, which have nowhere to show them.
    pub images: bool,
    /// This job's part of a larger request's output budget (each submission of a Judge0
    /// batch): at most this many bytes of JSON text. `None`: the engine's whole per-request
    /// budget ([`crate::RequestLimits::output_bytes`]).
    pub output_share: Option<u64>,
}

/// Where the run stage's stdin comes from and where its output goes; the compile stage is
/// always captured.
#[derive(Default)]
pub struct Interaction<'a> {
    pub stdin: Stdin,
    pub output: Output<'a>,
    /// Signals for the running program (see [`sandbox::control_channel`]).
    pub control: Option<sandbox::ControlReceiver>,
    /// Told when an interactive run starts (`true`) and stops (`false`) waiting for input,
    /// with what is left of its budget of waiting (all waits together).
    pub waiting: Option<&'a mut dyn FnMut(bool, std::time::Duration)>,
}

impl std::fmt::Debug for Interaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interaction")
            .field("stdin", &self.stdin)
            .field("output", &self.output)
            .field("waiting", &self.waiting.is_some())
            .finish()
    }
}

impl Interaction<'_> {
    /// Fixed stdin, captured output.
    pub fn with_stdin(stdin: Vec<u8>) -> Self {
        Interaction {
            stdin: Stdin::Bytes(stdin),
            ..Interaction::default()
        }
    }
}
