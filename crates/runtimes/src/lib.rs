//! The tiderun language catalog.
//!
//! **Owns:** the runtime files (`runtimes/*.toml`, embedded at build time and overridable by a
//! directory), their validation, detection of the installed toolchains (versions, missing
//! programs), resolution of a request's language name/alias/Judge0 id and semver selector, the
//! resolved per-phase limits, and the compile/run [`Plan`] (argv arrays and environment) for a
//! program.
//!
//! **Never:** knows about sandboxes, HTTP or the engine; does I/O beyond reading runtime files
//! and running a toolchain's own commands at detection; holds per-language Rust code — adding a
//! language is a new TOML file; builds shell strings (every command is an argv array, request
//! arguments are appended verbatim).
//!
//! ```no_run
//! let mut catalog = runtimes::Catalog::load(None)?;
//! catalog.detect();
//! let python = catalog.resolve("py", Some("3.x"))?;
//! let plan = python.plan(&python.file, &["arg1".to_owned()])?;
//! assert!(plan.compile.is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod catalog;
mod detect;
mod error;
mod hints;
mod limits;
mod precompiled;
mod runtime;
mod spec;
mod support;
mod template;
mod version;

pub use catalog::Catalog;
pub use detect::DETECT_TIMEOUT;
pub use error::{CatalogError, MainFileProblem, PlanError, ResolveError, SpecError, TemplateError};
pub use hints::{
    Hint, HintWhen, MAX_HINTS, MAX_HINT_ID_CHARS, MAX_HINT_PATTERN_BYTES, MAX_HINT_TEXT_BYTES, PAGE_LOCALES,
};
pub use limits::*;
pub use precompiled::{MAX_HEADER_NAME_BYTES, MAX_PRECOMPILED_HEADERS};
pub use runtime::{Command, Plan, Precompile, Runtime, BASE_LANG, BASE_PATH, MAX_MAIN_FILE_BYTES};
pub use spec::{
    Example, Install, LocalizedExample, Program, Warm, DEFAULT_MAX_WARM_INSTANCES, JUDGE0_CE_IDS, MAX_EXAMPLE_FILES,
    MAX_HIGHLIGHT_CHARS, MAX_PACKAGES, MAX_PACKAGE_NAME_CHARS, MAX_WARM_INSTANCES, OWN_JUDGE0_IDS,
};
pub use support::{
    digest as support_digest, MAX_SUPPORT_BYTES, MAX_SUPPORT_FILES, MAX_SUPPORT_NAME_CHARS, SUPPORT_ROOT,
};
pub use version::parse_version;
