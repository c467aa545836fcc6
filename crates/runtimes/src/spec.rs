//! The shape of a runtime file (`runtimes/*.toml`) and its validation into a [`Runtime`].
//!
//! Every field is documented for authors in `runtimes/README.md`; keep the two in step.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{CatalogError, SpecError};
use crate::hints::Hint;
use crate::limits::LimitsSpec;
use crate::precompiled::PrecompiledFile;
use crate::runtime::{check_main_file, Runtime};
use crate::template::{Scope, Template, FILE, SOURCES, STEM};

/// Judge0 CE 1.13.1's language ids (43 "Plain Text" to 89 "Multi-file program"; 1–42 are
/// its archived ones). A runtime answers to these where Judge0 CE has its language.
pub const JUDGE0_CE_IDS: RangeInclusive<u32> = 43..=89;

/// Judge0 ids of tiderun's own, for languages Judge0 CE 1.13.1 does not have (Nim, Racket,
/// Tcl), so that Judge0's `/languages` lists every runtime. Judge0 CE numbers its languages
/// from 1 (later releases went on from 90, past 100), Judge0 Extra CE from 1 as well, both
/// far below 1000: ids from 1000 collide with neither, nor with their next releases.
pub const OWN_JUDGE0_IDS: RangeInclusive<u32> = 1000..=1999;

/// The longest language name or alias.
const MAX_NAME_CHARS: usize = 64;

/// A runtime file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuntimeFile {
    name: String,
    display_name: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    judge0_ids: Vec<u32>,
    #[serde(default)]
    judge0_file: Option<String>,
    /// The classroom page's editor mode (`python`, `ruby`); none is plain text.
    #[serde(default)]
    highlight: Option<String>,
    file: String,
    #[serde(default)]
    compile: Option<Vec<String>>,
    run: Vec<String>,
    /// Which of a program's files `{sources}` passes besides the main file: `*.c` (every
    /// name ending in `.c`) or an exact name.
    #[serde(default)]
    sources: Vec<String>,
    detect: Vec<String>,
    #[serde(default)]
    vars: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    binds: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    network: bool,
    #[serde(default)]
    warm: Warm,
    #[serde(default)]
    precompiled: Option<PrecompiledFile>,
    /// Support files (name → text) written once by the engine into a read-only directory
    /// bound into every sandbox of the runtime; `{support}` names it in `env` and `run`.
    #[serde(default)]
    support: BTreeMap<String, String>,
    #[serde(default)]
    limits: LimitsSpec,
    example: Example,
    /// Beginners' hints: a short explanation the page shows beside a matching error.
    #[serde(default)]
    hints: Vec<Hint>,
    #[serde(default)]
    install: Install,
}

/// Most warm instances a runtime file may ask for.
pub const MAX_WARM_INSTANCES: usize = 256;
/// Warm instances of a runtime when its file does not say.
pub const DEFAULT_MAX_WARM_INSTANCES: usize = 16;

fn default_max_warm() -> usize {
    DEFAULT_MAX_WARM_INSTANCES
}

/// The `[warm]` table: how many sandboxes the engine keeps ready for this runtime, and
/// whether they hold an interpreter already started (a zygote).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Warm {
    /// Instances kept ready even when the server is idle (provisioned).
    #[serde(default)]
    pub min_instances: usize,
    /// Most instances kept ready, whatever the arrival rate.
    #[serde(default = "default_max_warm")]
    pub max_instances: usize,
    /// The interpreter started ahead of the run, inside its sandbox; it reads the run's argv
    /// from descriptor 3 (NUL-terminated, up to EOF) and then behaves as that argv run cold.
    #[serde(default)]
    pub zygote: Option<Vec<String>>,
    /// A fork server: an interpreter started once in a sandbox of its own that forks a child
    /// per run, which enters fresh namespaces, its run's cgroup and drops every privilege
    /// before the run's code (the protocol is `sandbox`'s, `forkserver.rs`). Single-threaded
    /// interpreters only. Used when the server is started with fork servers on.
    #[serde(default)]
    pub fork_server: Option<Vec<String>>,
}

impl Default for Warm {
    fn default() -> Self {
        Warm {
            min_instances: 0,
            max_instances: DEFAULT_MAX_WARM_INSTANCES,
            zygote: None,
            fork_server: None,
        }
    }
}

/// Example programs, used by `tiderun doctor`, the classroom page and tests (the language
/// shelf's table-driven test runs every one of them through the Piston API).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Example {
    /// A program that prints exactly `Hello, world!` and a newline.
    pub hello: String,
    /// A program that copies all of stdin to stdout unchanged, byte for byte.
    pub echo: Program,
    /// A program that is accepted (it compiles) but fails when it runs: an uncaught
    /// exception or error, or a non-zero exit.
    pub runtime_error: Program,
    /// A program the compiler rejects. Required exactly when the runtime has `compile`.
    #[serde(default)]
    pub compile_error: Option<Program>,
    /// A program that reads a name from stdin and greets it (contains the name in its output).
    #[serde(default)]
    pub interactive: Option<String>,
    /// `hello` and `interactive` in another page language (`[example.localized.zh-CN]`):
    /// the same program with its comments, prompts and strings translated.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub localized: BTreeMap<String, LocalizedExample>,
}

/// The page's example programs in one more language; an absent one is the default's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LocalizedExample {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hello: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interactive: Option<String>,
}

/// `[example.localized.*]`: page locales other than `en` (the default programs are English),
/// and no empty program.
fn check_localized(localized: &BTreeMap<String, LocalizedExample>) -> Result<(), SpecError> {
    crate::hints::check_locales("example.localized", localized, false)?;
    for (locale, example) in localized {
        let field = |name: &str| format!("example.localized.{locale}.{name}");
        if locale == "en" {
            return Err(SpecError::Invalid {
                field: field("").trim_end_matches('.').to_owned(),
                reason: "the default programs are the English ones".to_owned(),
            });
        }
        for (name, text) in [("hello", &example.hello), ("interactive", &example.interactive)] {
            if text.as_ref().is_some_and(|t| t.trim().is_empty()) {
                return Err(SpecError::Empty { field: field(name) });
            }
        }
    }
    Ok(())
}

/// Most files of one example program.
pub const MAX_EXAMPLE_FILES: usize = 8;

/// One example program: the main file's text, or several files (a table of name → text, one
/// of them named as the runtime's main `file`) where one file cannot show it — Judge0's
/// multi-file program fails to compile only through a `compile` script beside its `run`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(
    untagged,
    expecting = "a program's text, or a table of its files (name = text; quote a name with a dot: \"util.c\")"
)]
pub enum Program {
    /// The text of the runtime's main file.
    Main(String),
    /// Files by name; the runtime's main file among them.
    Files(BTreeMap<String, String>),
}

impl Program {
    /// The files to send, the main file (`main`, the runtime's `file`) first, then the others
    /// in name order.
    pub fn files<'a>(&'a self, main: &'a str) -> Vec<(&'a str, &'a str)> {
        match self {
            Program::Main(text) => vec![(main, text.as_str())],
            Program::Files(files) => {
                let mut out: Vec<(&str, &str)> = files
                    .get_key_value(main)
                    .map(|(name, text)| (name.as_str(), text.as_str()))
                    .into_iter()
                    .collect();
                out.extend(
                    files
                        .iter()
                        .filter(|(name, _)| name.as_str() != main)
                        .map(|(name, text)| (name.as_str(), text.as_str())),
                );
                out
            }
        }
    }

    /// The main file's text.
    pub fn main_text<'a>(&'a self, main: &str) -> Option<&'a str> {
        match self {
            Program::Main(text) => Some(text),
            Program::Files(files) => files.get(main).map(String::as_str),
        }
    }
}

/// An example program's main file is not empty; a table of files has at most
/// [`MAX_EXAMPLE_FILES`] plain relative names, the runtime's main file among them.
fn check_program(field: &str, program: &Program, main: &str) -> Result<(), SpecError> {
    let invalid = |reason: String| SpecError::Invalid {
        field: field.to_owned(),
        reason,
    };
    if let Program::Files(files) = program {
        if files.len() > MAX_EXAMPLE_FILES {
            return Err(invalid(format!("more than {MAX_EXAMPLE_FILES} files")));
        }
        for name in files.keys() {
            check_main_file(name).map_err(|problem| invalid(format!("file {name:?}: {problem}")))?;
        }
        if !files.contains_key(main) {
            return Err(invalid(format!("the files must include the main file {main:?}")));
        }
    }
    if program.main_text(main).is_none_or(|text| text.trim().is_empty()) {
        return Err(SpecError::Empty {
            field: field.to_owned(),
        });
    }
    Ok(())
}

/// How an administrator installs the toolchain (shown by `tiderun doctor`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Install {
    /// Debian/Ubuntu packages.
    #[serde(default)]
    pub apt: Vec<String>,
    /// Global npm packages.
    #[serde(default)]
    pub npm: Vec<String>,
    /// Free-text instructions when no package list applies (e.g. rustup).
    #[serde(default)]
    pub note: Option<String>,
}

/// Parses and validates one runtime file. `path` is only used in errors and as
/// [`Runtime::source`].
pub(crate) fn parse_runtime(path: &Path, text: &str) -> Result<Runtime, CatalogError> {
    let file: RuntimeFile = toml::from_str(text).map_err(|e| CatalogError::Parse {
        path: path.to_owned(),
        source: Box::new(e),
    })?;
    build(path, file).map_err(|source| CatalogError::Invalid {
        path: path.to_owned(),
        source,
    })
}

fn build(path: &Path, f: RuntimeFile) -> Result<Runtime, SpecError> {
    check_name("name", &f.name)?;
    if f.display_name.trim().is_empty() {
        return Err(SpecError::Empty {
            field: "display_name".to_owned(),
        });
    }
    let mut aliases = Vec::new();
    for alias in f.aliases {
        check_name("alias", &alias)?;
        if alias != f.name && !aliases.contains(&alias) {
            aliases.push(alias);
        }
    }
    // In the order written: the first is the one Judge0's language list shows.
    let mut judge0_ids: Vec<u32> = Vec::with_capacity(f.judge0_ids.len());
    for id in f.judge0_ids {
        if !judge0_ids.contains(&id) {
            judge0_ids.push(id);
        }
    }
    check_main_file(&f.file).map_err(|problem| SpecError::BadFile {
        value: f.file.clone(),
        problem,
    })?;
    if let Some(judge0_file) = &f.judge0_file {
        check_main_file(judge0_file).map_err(|problem| SpecError::BadFile {
            value: judge0_file.clone(),
            problem,
        })?;
        if judge0_ids.is_empty() {
            return Err(SpecError::Invalid {
                field: "judge0_file".to_owned(),
                reason: "needs judge0_ids (it is the file name of Judge0 submissions)".to_owned(),
            });
        }
    }

    if let Some(mode) = &f.highlight {
        check_highlight(mode)?;
    }

    for (name, argv) in &f.vars {
        let valid = !name.is_empty()
            && name != FILE
            && name != STEM
            && name != SOURCES
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(SpecError::BadVarName { name: name.clone() });
        }
        let Some(program) = argv.first() else {
            return Err(SpecError::Empty {
                field: format!("vars.{name}"),
            });
        };
        if program.is_empty() || (!program.starts_with('/') && program.contains('/')) {
            return Err(SpecError::BadVarProgram {
                name: name.clone(),
                program: program.clone(),
            });
        }
    }

    crate::support::check(&f.support, &f.vars)?;
    // `{support}` is one more var where the file has support files: in `compile`, `run` and
    // `env` (not in `detect` or `binds`, which are checked before the directory is written).
    let mut with_support = f.vars.clone();
    if !f.support.is_empty() {
        with_support.insert(crate::support::SUPPORT.to_owned(), Vec::new());
    }
    let compile = match &f.compile {
        Some(argv) => Some(parse_argv("compile", argv, &with_support, Scope::VarsAndFile, false)?),
        None => None,
    };
    let run = parse_argv("run", &f.run, &with_support, Scope::VarsAndFile, compile.is_some())?;
    let detect = parse_argv("detect", &f.detect, &f.vars, Scope::Vars, false)?;
    check_sources(&f.sources, compile.iter().flatten().chain(&run))?;

    let mut binds = Vec::new();
    for (i, value) in f.binds.iter().enumerate() {
        let field = format!("binds[{i}]");
        let t = Template::parse(value, Scope::Vars, &f.vars).map_err(|source| SpecError::Template {
            field: field.clone(),
            source,
        })?;
        if !t.literal_prefix().starts_with('/') && !t.starts_with_placeholder() {
            return Err(SpecError::RelativeBind {
                field,
                value: value.clone(),
            });
        }
        binds.push(t);
    }

    let mut env = Vec::new();
    for (name, value) in &f.env {
        if name.is_empty() || name.contains(['=', '\0']) {
            return Err(SpecError::BadEnvName { name: name.clone() });
        }
        let t = Template::parse(value, Scope::Vars, &with_support).map_err(|source| SpecError::Template {
            field: format!("env.{name}"),
            source,
        })?;
        env.push((name.clone(), t));
    }

    if f.warm.max_instances > MAX_WARM_INSTANCES || f.warm.min_instances > f.warm.max_instances {
        return Err(SpecError::Invalid {
            field: "warm".to_owned(),
            reason: format!(
                "need min_instances <= max_instances <= {MAX_WARM_INSTANCES} (got {} and {})",
                f.warm.min_instances, f.warm.max_instances
            ),
        });
    }
    for (field, argv) in [
        ("warm.zygote", &f.warm.zygote),
        ("warm.fork_server", &f.warm.fork_server),
    ] {
        if argv
            .as_ref()
            .is_some_and(|argv| argv.first().is_none_or(|a| !a.starts_with('/')))
        {
            return Err(SpecError::Invalid {
                field: field.to_owned(),
                reason: "must start with an absolute program path".to_owned(),
            });
        }
    }
    if f.example.hello.trim().is_empty() {
        return Err(SpecError::Empty {
            field: "example.hello".to_owned(),
        });
    }
    check_program("example.echo", &f.example.echo, &f.file)?;
    check_localized(&f.example.localized)?;
    crate::hints::check(&f.hints)?;
    check_program("example.runtime_error", &f.example.runtime_error, &f.file)?;
    match (&f.example.compile_error, compile.is_some()) {
        (Some(program), true) => check_program("example.compile_error", program, &f.file)?,
        (None, false) => {}
        (None, true) => {
            return Err(SpecError::Invalid {
                field: "example.compile_error".to_owned(),
                reason: "required with compile: a program the compiler rejects".to_owned(),
            })
        }
        (Some(_), false) => {
            return Err(SpecError::Invalid {
                field: "example.compile_error".to_owned(),
                reason: "only for a runtime with compile (there is nothing to reject it)".to_owned(),
            })
        }
    }
    check_install(&f.install)?;
    let limits = f.limits.resolve()?;
    let precompiled = match f.precompiled {
        Some(table) => Some(table.validate(&f.vars, compile.is_some(), |field, argv, scope| {
            parse_argv(field, argv, &f.vars, scope, false)
        })?),
        None => None,
    };

    Ok(Runtime::new(crate::runtime::Parts {
        name: f.name,
        display_name: f.display_name,
        aliases,
        judge0_ids,
        judge0_file: f.judge0_file,
        highlight: f.highlight,
        file: f.file,
        network: f.network,
        warm: f.warm,
        example: f.example,
        hints: f.hints,
        install: f.install,
        source: path.to_owned(),
        limits,
        compile,
        run,
        sources: f.sources,
        detect,
        var_commands: f.vars,
        env,
        bind_templates: binds,
        precompiled,
        support: f.support,
    }))
}

/// The longest package name `install.apt` or `install.npm` may hold (npm's own limit is 214
/// characters; Debian's names are shorter).
pub const MAX_PACKAGE_NAME_CHARS: usize = 214;
/// Most packages one `install.apt` or `install.npm` may list.
pub const MAX_PACKAGES: usize = 64;

/// `install.apt` and `install.npm` hold package names only, checked here so that
/// `tiderun runtimes install` passes nothing else to apt-get or npm (no option, no version
/// pin, no path or URL): Debian's rule for names, and npm's (a scope, then lower-case letters,
/// digits and `. _ ~ -`, not starting with `.`, `_` or `-`), with an optional exact
/// `@VERSION` of letters, digits and `. + -`.
fn check_install(install: &Install) -> Result<(), SpecError> {
    for (field, names, check) in [
        ("install.apt", &install.apt, debian_package as fn(&str) -> bool),
        ("install.npm", &install.npm, npm_package as fn(&str) -> bool),
    ] {
        if names.len() > MAX_PACKAGES {
            return Err(SpecError::Invalid {
                field: field.to_owned(),
                reason: format!("more than {MAX_PACKAGES} packages"),
            });
        }
        for name in names {
            if name.chars().count() > MAX_PACKAGE_NAME_CHARS || !check(name) {
                let rule = if field == "install.apt" {
                    "a Debian package name: [a-z0-9][a-z0-9+.-]+"
                } else {
                    "an npm package name: [@scope/]name[@version], lower-case letters, digits and . _ ~ -"
                };
                return Err(SpecError::Invalid {
                    field: field.to_owned(),
                    reason: format!("{name:?} is not {rule}"),
                });
            }
        }
    }
    Ok(())
}

/// Debian policy 5.6.1: at least two characters, lower-case letters, digits, `+ - .`, starting
/// with a letter or digit.
fn debian_package(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+.-".contains(c))
}

/// npm's package names (validate-npm-package-name for new packages), scoped or not, with an
/// optional exact version after `@`.
fn npm_package(spec: &str) -> bool {
    let part = |s: &str| {
        let mut chars = s.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '~')
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._~-".contains(c))
    };
    let (scope, rest) = match spec.strip_prefix('@') {
        Some(scoped) => match scoped.split_once('/') {
            Some((scope, rest)) => (Some(scope), rest),
            None => return false,
        },
        None => (None, spec),
    };
    let (name, version) = match rest.split_once('@') {
        Some((name, version)) => (name, Some(version)),
        None => (rest, None),
    };
    scope.is_none_or(part)
        && part(name)
        && version.is_none_or(|v| {
            !v.is_empty()
                && v.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
                && v.chars().all(|c| c.is_ascii_alphanumeric() || ".+-".contains(c))
        })
}

/// Most patterns in `sources`.
const MAX_SOURCE_PATTERNS: usize = 16;

/// `sources` and `{sources}` go together, and each pattern is `*SUFFIX` or an exact file name
/// (no other wildcard, no `/`: it is matched against a file's last path component).
fn check_sources<'a>(patterns: &[String], argv: impl Iterator<Item = &'a Template>) -> Result<(), SpecError> {
    let invalid = |reason: String| SpecError::Invalid {
        field: "sources".to_owned(),
        reason,
    };
    let used = argv.into_iter().any(Template::is_sources);
    match (used, patterns.is_empty()) {
        (true, true) => {
            return Err(invalid(
                "compile or run uses {sources}: list the names of source files, e.g. [\"*.c\"]".to_owned(),
            ))
        }
        (false, false) => return Err(invalid("neither compile nor run uses {sources}".to_owned())),
        _ => {}
    }
    if patterns.len() > MAX_SOURCE_PATTERNS {
        return Err(invalid(format!("more than {MAX_SOURCE_PATTERNS} patterns")));
    }
    for pattern in patterns {
        let rest = pattern.strip_prefix('*').unwrap_or(pattern);
        if rest.is_empty() || rest.contains(['*', '?', '[', '/', '\0']) {
            return Err(invalid(format!(
                "{pattern:?} must be *SUFFIX (\"*.c\") or a file name, without other wildcards or /"
            )));
        }
    }
    Ok(())
}

/// The longest editor mode name (`highlight`).
pub const MAX_HIGHLIGHT_CHARS: usize = 32;

/// `highlight` is a plain identifier (a lower-case letter, then lower-case letters, digits,
/// `_` or `-`): a key of the page's table of modes, never a path or a module specifier.
fn check_highlight(mode: &str) -> Result<(), SpecError> {
    let mut chars = mode.chars();
    let valid = mode.len() <= MAX_HIGHLIGHT_CHARS
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(SpecError::Invalid {
            field: "highlight".to_owned(),
            reason: format!(
                "{mode:?} is not an editor mode name: a lower-case letter, then lower-case letters, digits, _ or - (at most {MAX_HIGHLIGHT_CHARS})"
            ),
        })
    }
}

fn check_name(field: &'static str, value: &str) -> Result<(), SpecError> {
    let valid = !value.is_empty()
        && value.chars().count() <= MAX_NAME_CHARS
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+#._-".contains(c));
    if valid {
        Ok(())
    } else {
        Err(SpecError::BadName {
            field,
            value: value.to_owned(),
        })
    }
}

/// Parses an argv array. `argv[0]` must be absolute, start with a var, or — for `run` of a
/// compiled language — be a build product `./name` in the work dir.
/// `args_scope` says whether the arguments may use `{file}` and `{stem}`; an absolute program
/// path never may (it names a host toolchain, checked at detection).
fn parse_argv(
    field: &str,
    argv: &[String],
    vars: &BTreeMap<String, Vec<String>>,
    args_scope: Scope,
    has_compile: bool,
) -> Result<Vec<Template>, SpecError> {
    let Some(program) = argv.first() else {
        return Err(SpecError::Empty {
            field: field.to_owned(),
        });
    };
    let mut out = Vec::with_capacity(argv.len());
    for (i, value) in argv.iter().enumerate() {
        let scope = if i == 0 && !program.starts_with("./") {
            Scope::Vars
        } else {
            args_scope
        };
        let t = Template::parse(value, scope, vars).map_err(|source| SpecError::Template {
            field: format!("{field}[{i}]"),
            source,
        })?;
        out.push(t);
    }
    if program.starts_with("./") {
        if field != "run" {
            return Err(SpecError::RelativeProgram {
                field: field.to_owned(),
                program: program.clone(),
            });
        }
        if !has_compile {
            return Err(SpecError::ProductWithoutCompile {
                program: program.clone(),
            });
        }
    } else if !program.starts_with('/') && !out[0].starts_with_placeholder() {
        return Err(SpecError::RelativeProgram {
            field: field.to_owned(),
            program: program.clone(),
        });
    }
    Ok(out)
}
