//! Error types: loading the catalog, resolving a language, planning a run.

use std::fmt;
use std::path::PathBuf;

/// The catalog could not be built from its runtime files.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The override directory could not be listed.
    #[error("cannot read runtime directory {}", .path.display())]
    ReadDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A runtime file could not be read.
    #[error("cannot read runtime file {}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A runtime file is not valid TOML or does not have the runtime shape
    /// (missing or unknown field, wrong type).
    #[error("cannot parse runtime file {}", .path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
    /// A runtime file parses but says something impossible.
    #[error("invalid runtime file {}", .path.display())]
    Invalid {
        path: PathBuf,
        #[source]
        source: SpecError,
    },
    /// Two files of the same source (embedded, or the override directory) define one name.
    #[error("runtime {name} is defined twice: {} and {}", .first.display(), .second.display())]
    DuplicateName {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },
    /// A name or alias is claimed by two runtimes.
    #[error("alias {alias:?} of runtime {second} is already taken by runtime {first}")]
    AliasConflict {
        alias: String,
        first: String,
        second: String,
    },
    /// A Judge0 language id is claimed by two runtimes.
    #[error("judge0 id {id} is claimed by runtimes {first} and {second}")]
    Judge0IdConflict { id: u32, first: String, second: String },
}

/// What is wrong inside one runtime file; wrapped in [`CatalogError::Invalid`] with the path.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// A required string or array is empty.
    #[error("{field} must not be empty")]
    Empty { field: String },
    /// A value out of its allowed range or shape.
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    /// A language name or alias has characters outside the allowed set.
    #[error("{field} {value:?} must be lower-case ascii letters, digits or one of + # . _ - (at most 64)")]
    BadName { field: &'static str, value: String },
    /// A program (`argv[0]`) is neither absolute nor a placeholder.
    #[error("{field}: program {program:?} must be an absolute path or start with a {{var}}")]
    RelativeProgram { field: String, program: String },
    /// `run` starts with `./` (a build product) but the runtime has no `compile` step.
    #[error("run: program {program:?} is a build product but there is no compile step")]
    ProductWithoutCompile { program: String },
    /// A bind is neither absolute nor a placeholder.
    #[error("{field}: {value:?} must be an absolute path or start with a {{var}}")]
    RelativeBind { field: String, value: String },
    /// A value with a malformed or unknown placeholder.
    #[error("bad placeholder in {field}")]
    Template {
        field: String,
        #[source]
        source: TemplateError,
    },
    /// The default main file name is not a plain relative name.
    #[error("file {value:?} is not a plain relative file name: {problem}")]
    BadFile { value: String, problem: MainFileProblem },
    /// A `[vars]` name is not an identifier, or shadows `file`/`stem`.
    #[error("var name {name:?} must be lower-case ascii letters, digits or _, and not file or stem")]
    BadVarName { name: String },
    /// A `[vars]` program is a relative path with a slash.
    #[error("vars.{name}: program {program:?} must be absolute or a bare name looked up on PATH")]
    BadVarProgram { name: String, program: String },
    /// An `[env]` name is empty or holds `=` or NUL.
    #[error("env name {name:?} must be non-empty without = or NUL")]
    BadEnvName { name: String },
    /// A limit is zero.
    #[error("limits.{phase}.{limit} must be greater than zero")]
    ZeroLimit { phase: &'static str, limit: &'static str },
    /// A default limit is above the maximum a request may ask for.
    #[error("limits.{phase}.{limit} = {value} is above the maximum {max} (limits.{phase}_max.{limit})")]
    AboveMax {
        phase: &'static str,
        limit: &'static str,
        value: u64,
        max: u64,
    },
}

/// A malformed placeholder in a template string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{` without a closing `}`.
    #[error("unclosed {{ in {value:?} (write {{{{ for a literal brace)")]
    Unclosed { value: String },
    /// `}` without an opening `{`.
    #[error("unmatched }} in {value:?} (write }}}} for a literal brace)")]
    Unmatched { value: String },
    /// A `{name}` that is neither `file`, `stem` nor a declared var.
    #[error("unknown placeholder {{{name}}} in {value:?}")]
    Unknown { name: String, value: String },
    /// `{file}`, `{stem}` or `{sources}` where no file is known (detect, binds, env, vars).
    #[error("placeholder {{{name}}} is only allowed in compile and run, found in {value:?}")]
    NotAllowed { name: String, value: String },
    /// `{sources}` with other text in one argument: it expands to several arguments.
    #[error("{{sources}} must be a whole argument of its own (it expands to one per source file), found in {value:?}")]
    SourcesNotAlone { value: String },
}

/// Why a main file name is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MainFileProblem {
    /// The name is empty.
    Empty,
    /// The name is longer than [`crate::MAX_MAIN_FILE_BYTES`].
    TooLong,
    /// The name holds a NUL byte.
    Nul,
    /// The name holds a control character (newline, tab, escape…).
    ControlCharacter,
    /// The name starts with `/`.
    Absolute,
    /// The name starts with `-` and would be read as an option.
    LeadingDash,
    /// A path component is `..`.
    ParentDir,
    /// A path component is `.` or empty (`a//b`, trailing `/`).
    EmptyOrDotComponent,
    /// The name starts with `@`: compilers and the java launcher read `@FILE` as a file of
    /// options.
    LeadingAt,
}

impl fmt::Display for MainFileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Self::Empty => "it is empty",
            Self::TooLong => "it is too long",
            Self::Nul => "it contains a NUL byte",
            Self::ControlCharacter => "it contains a control character",
            Self::Absolute => "it must be relative",
            Self::LeadingDash => "it must not start with -",
            Self::ParentDir => "it must not contain ..",
            Self::EmptyOrDotComponent => "it must not contain empty or . components",
            Self::LeadingAt => "it must not start with @",
        };
        f.write_str(text)
    }
}

/// A request named a language or version the catalog cannot serve.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// No runtime has this name or alias.
    #[error("unknown language {language:?}")]
    UnknownLanguage { language: String },
    /// The runtime exists in the catalog but its toolchain is missing on this server. Its
    /// message is the one wording of every API (and of Piston's packages endpoint): it names
    /// the command that installs it.
    #[error("{language} is not installed on this server: an operator installs it with `tiderun runtimes install {language}`")]
    NotInstalled { language: String },
    /// The version selector is not a valid semver range.
    #[error("invalid version selector {selector:?}")]
    BadSelector {
        selector: String,
        #[source]
        source: semver::Error,
    },
    /// The installed version does not match the selector.
    #[error("{language} {selector} is not available; installed: {installed}")]
    VersionNotAvailable {
        language: String,
        selector: String,
        installed: String,
    },
}

/// A compile/run plan could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The main file name is not a plain relative file name.
    #[error("invalid main file name {file:?}: {problem}")]
    BadMainFile { file: String, problem: MainFileProblem },
    /// A run argument holds a NUL byte and cannot be passed to a program.
    #[error("run argument {index} contains a NUL byte")]
    NulInArgument { index: usize },
    /// A `{var}` has no value: the runtime was not detected, or detection failed.
    #[error("runtime {runtime} has no value for {{{name}}}; it was not detected")]
    Unresolved { runtime: String, name: String },
}
