//! One language runtime: its data, its detection, and the compile/run plan for a program.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use semver::Version;

use crate::detect::{self, Env, DETECT_TIMEOUT};
use crate::error::{MainFileProblem, PlanError};
use crate::hints::Hint;
use crate::limits::Limits;
use crate::precompiled::{first_line_include, Precompiled, DIR};
use crate::spec::{Example, Install, Warm};
use crate::template::{Context, Template};
use crate::version::{parse_version, to_semver};

/// The longest main file name accepted, in bytes: a few path components of normal length.
pub const MAX_MAIN_FILE_BYTES: usize = 1024;

/// PATH of every compile and run command. Compiler drivers need one: gcc's collect2 looks up
/// `ld` on it and rustc looks up `cc`. A runtime's `env` may replace it.
pub const BASE_PATH: &str = "/usr/local/bin:/usr/bin:/bin";
/// Locale of every compile and run command: UTF-8 text I/O in every interpreter (Python, the
/// JVM's file.encoding) without locale files; glibc has C.UTF-8 built in.
pub const BASE_LANG: &str = "C.UTF-8";

/// Why a runtime is not installed before [`crate::Catalog::detect`] ran.
const NOT_DETECTED: &str = "not detected yet";

/// A language runtime from the catalog, with defaults filled in.
///
/// The data fields are public and read-only in practice (the catalog hands out `&Runtime`);
/// `version`, `installed`, `missing` and `binds` are filled by [`crate::Catalog::detect`].
#[derive(Clone, Debug)]
pub struct Runtime {
    /// Piston language name, lower case (`python`, `c++`).
    pub name: String,
    /// Human name (`Python`, `JavaScript (Node.js)`).
    pub display_name: String,
    /// Other names a request may use (`py`, `python3`), lower case, without `name`.
    pub aliases: Vec<String>,
    /// Judge0 CE language ids this runtime answers to, in the order of its file: the first is
    /// the one Judge0's language list shows, the others are accepted by id.
    pub judge0_ids: Vec<u32>,
    /// The main file name of Judge0 submissions when it differs from `file` (Judge0 names
    /// Python's `script.py`); see [`Runtime::judge0_file`].
    pub judge0_file: Option<String>,
    /// The classroom page's editor mode for this language (`python`, `ruby`, `clike-csharp`):
    /// a key of the page's table of modes; None, or a mode the page lacks, is plain text.
    pub highlight: Option<String>,
    /// Default main file name (`main.py`, `Main.java`).
    pub file: String,
    /// Whether the sandbox keeps networking (default false).
    pub network: bool,
    /// Warm instances: how many, and whether they are zygotes.
    pub warm: Warm,
    /// Example programs.
    pub example: Example,
    /// Beginners' hints the classroom page matches against a failed run.
    pub hints: Vec<Hint>,
    /// How to install the toolchain.
    pub install: Install,
    /// The file this runtime came from (`<embedded>/python.toml` or a path in the override dir).
    pub source: PathBuf,
    /// The detected toolchain version as printed (`3.11.2`); None when not detected, or when the
    /// banner had no dotted number.
    pub version: Option<String>,
    /// True when detection found every program and bind and the detect command succeeded.
    pub installed: bool,
    /// Why the runtime is not installed (a missing path, a failed command); None when installed.
    pub missing: Option<String>,
    /// Extra host paths the sandbox must bind read-only, placeholders substituted.
    pub binds: Vec<PathBuf>,
    limits: Limits,
    compile: Option<Vec<Template>>,
    run: Vec<Template>,
    /// Patterns of the files `{sources}` passes besides the main file (`*.c`, or a name).
    sources: Vec<String>,
    detect: Vec<Template>,
    var_commands: BTreeMap<String, Vec<String>>,
    vars: BTreeMap<String, String>,
    env: Vec<(String, Template)>,
    bind_templates: Vec<Template>,
    precompiled: Option<Precompiled>,
    /// The `[support]` table: file name → text.
    support: BTreeMap<String, String>,
    /// Where the support files are bound (`{support}`); `None` without support files.
    support_dir: Option<PathBuf>,
    semver: Option<Version>,
}

/// The validated parts of a runtime file, handed from `spec` to [`Runtime::new`].
pub(crate) struct Parts {
    pub(crate) name: String,
    pub(crate) display_name: String,
    pub(crate) aliases: Vec<String>,
    pub(crate) judge0_ids: Vec<u32>,
    pub(crate) judge0_file: Option<String>,
    pub(crate) highlight: Option<String>,
    pub(crate) file: String,
    pub(crate) network: bool,
    pub(crate) warm: Warm,
    pub(crate) example: Example,
    pub(crate) hints: Vec<Hint>,
    pub(crate) install: Install,
    pub(crate) source: PathBuf,
    pub(crate) limits: Limits,
    pub(crate) compile: Option<Vec<Template>>,
    pub(crate) run: Vec<Template>,
    pub(crate) sources: Vec<String>,
    pub(crate) detect: Vec<Template>,
    pub(crate) var_commands: BTreeMap<String, Vec<String>>,
    pub(crate) env: Vec<(String, Template)>,
    pub(crate) bind_templates: Vec<Template>,
    pub(crate) precompiled: Option<Precompiled>,
    pub(crate) support: BTreeMap<String, String>,
}

/// A program to execute: the complete argv and the complete environment.
///
/// `argv[0]` is an absolute host path, or `./name` for a build product in the work dir
/// (relative to the working directory of the command). Never a shell string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// The whole environment (sorted by name); the sandbox adds only what it owns (HOME, TMPDIR).
    pub env: Vec<(String, String)>,
}

/// What to execute for one program: an optional compile step, then the run step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Present for compiled languages.
    pub compile: Option<Command>,
    /// The run step; request arguments are already appended.
    pub run: Command,
}

/// How to precompile one header of a runtime's `[precompiled]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Precompile {
    /// The build command, run in a work dir holding only `file`; it leaves one `*.gch` file.
    pub command: Command,
    /// The file it compiles: named as the runtime's main file, so that a diagnostic pointing
    /// into the header says "included from" the same file as a compile without it.
    pub file: String,
    /// `#include <NAME>` on the first line, nothing else.
    pub content: Vec<u8>,
}

/// Result of detecting one runtime, applied with [`Runtime::apply`].
pub(crate) struct Detection {
    vars: BTreeMap<String, String>,
    binds: Vec<PathBuf>,
    version: Option<String>,
    missing: Option<String>,
}

impl Detection {
    pub(crate) fn failed(vars: BTreeMap<String, String>, reason: String) -> Self {
        Self {
            vars,
            binds: Vec::new(),
            version: None,
            missing: Some(reason),
        }
    }
}

impl Runtime {
    pub(crate) fn new(p: Parts) -> Self {
        let support_dir = (!p.support.is_empty()).then(|| crate::support::default_dir(&p.name, &p.support));
        Self {
            name: p.name,
            display_name: p.display_name,
            aliases: p.aliases,
            judge0_ids: p.judge0_ids,
            judge0_file: p.judge0_file,
            highlight: p.highlight,
            file: p.file,
            network: p.network,
            warm: p.warm,
            example: p.example,
            hints: p.hints,
            install: p.install,
            source: p.source,
            version: None,
            installed: false,
            missing: Some(NOT_DETECTED.to_owned()),
            binds: Vec::new(),
            limits: p.limits,
            compile: p.compile,
            run: p.run,
            sources: p.sources,
            detect: p.detect,
            var_commands: p.var_commands,
            vars: BTreeMap::new(),
            env: p.env,
            bind_templates: p.bind_templates,
            precompiled: p.precompiled,
            support_dir,
            support: p.support,
            semver: None,
        }
    }

    /// Resolved limits of both phases.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The main file name Judge0 gives a submission's source (`script.py`): `judge0_file`, or
    /// `file` when the runtime file does not set it.
    pub fn judge0_file(&self) -> &str {
        self.judge0_file.as_deref().unwrap_or(&self.file)
    }

    /// The Judge0 id its language list shows (the first of `judge0_ids`).
    pub fn judge0_listed_id(&self) -> Option<u32> {
        self.judge0_ids.first().copied()
    }

    /// True when the runtime has a compile step.
    pub fn compiled(&self) -> bool {
        self.compile.is_some()
    }

    /// The detected version as semver (`3.11` padded to 3.11.0), for matching and sorting.
    pub fn semver(&self) -> Option<&Version> {
        self.semver.as_ref()
    }

    /// The support files (name → text) of the runtime file's `[support]` table.
    pub fn support_files(&self) -> &BTreeMap<String, String> {
        &self.support
    }

    /// The directory `{support}` names and every sandbox of the runtime binds read-only:
    /// `SUPPORT_ROOT/<name>-<digest of the files>` unless the engine set another; `None`
    /// without support files.
    pub fn support_dir(&self) -> Option<&Path> {
        self.support_dir.as_deref()
    }

    /// Puts the support files at `dir` (where the engine wrote them): `{support}` and the
    /// bind follow. Nothing happens for a runtime without support files.
    pub fn set_support_dir(&mut self, dir: PathBuf) {
        let Some(old) = self.support_dir.replace(dir.clone()) else {
            self.support_dir = None;
            return;
        };
        // Detected already: the value and the bind of the old directory are replaced.
        if let Some(value) = self.vars.get_mut(crate::support::SUPPORT) {
            *value = dir.to_string_lossy().into_owned();
        }
        for bind in self.binds.iter_mut().filter(|b| **b == old) {
            bind.clone_from(&dir);
        }
    }

    /// Values of the `[vars]` evaluated at detection (empty before).
    pub fn vars(&self) -> &BTreeMap<String, String> {
        &self.vars
    }

    /// The detect command with vars substituted.
    pub fn detect_argv(&self) -> Result<Vec<String>, PlanError> {
        let ctx = Context {
            file: None,
            stem: None,
            sources: None,
            vars: &self.vars,
        };
        self.render_all(&self.detect, &ctx)
    }

    /// The compile and run commands for a program whose main file is `main_file` (a plain
    /// relative path, usually [`Runtime::file`]); `args` are appended to the run argv verbatim.
    /// `{sources}` is the main file alone: see [`Runtime::plan_files`].
    pub fn plan(&self, main_file: &str, args: &[String]) -> Result<Plan, PlanError> {
        self.plan_files(&[main_file], args)
    }

    /// The compile and run commands for a program of several files, `files[0]` the main one
    /// (the others are relative paths, checked by the caller: the sandbox writes them).
    /// `{sources}` expands to the main file, then every other file whose last path component
    /// matches the runtime's `sources` patterns, in the order given, each once; a name that
    /// does not start with a letter, a digit, `_` or `.` is passed as `./name`, so a file named
    /// `-o` or `@opts` can never be read as an option. The rest of the work dir (headers, data)
    /// is written but not passed.
    pub fn plan_files<S: AsRef<str>>(&self, files: &[S], args: &[String]) -> Result<Plan, PlanError> {
        let main_file = files.first().map_or("", AsRef::as_ref);
        check_main_file(main_file).map_err(|problem| PlanError::BadMainFile {
            file: main_file.to_owned(),
            problem,
        })?;
        if let Some(index) = args.iter().position(|a| a.contains('\0')) {
            return Err(PlanError::NulInArgument { index });
        }
        let stem = Path::new(main_file)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or(main_file);
        let sources = self.sources_of(files);
        let ctx = Context {
            file: Some(main_file),
            stem: Some(stem),
            sources: Some(&sources),
            vars: &self.vars,
        };
        let env = self.render_env(&ctx)?;
        let compile = match &self.compile {
            Some(argv) => Some(Command {
                argv: self.render_all(argv, &ctx)?,
                env: env.clone(),
            }),
            None => None,
        };
        let mut run = self.render_all(&self.run, &ctx)?;
        run.extend(args.iter().cloned());
        Ok(Plan {
            compile,
            run: Command { argv: run, env },
        })
    }

    /// The headers of the runtime's `[precompiled]` table (none without one).
    pub fn precompiled_headers(&self) -> &[String] {
        self.precompiled.as_ref().map_or(&[], |p| &p.headers)
    }

    /// How to precompile `header`, one of [`Runtime::precompiled_headers`]; `None` for any other.
    pub fn precompile(&self, header: &str) -> Result<Option<Precompile>, PlanError> {
        let Some(p) = &self.precompiled else {
            return Ok(None);
        };
        if !p.headers.iter().any(|h| h == header) {
            return Ok(None);
        }
        let ctx = Context {
            file: Some(&self.file),
            stem: Path::new(&self.file).file_stem().and_then(|s| s.to_str()),
            sources: None,
            vars: &self.vars,
        };
        Ok(Some(Precompile {
            command: Command {
                argv: self.render_all(&p.build, &ctx)?,
                env: self.render_env(&ctx)?,
            },
            file: self.file.clone(),
            content: format!("#include <{header}>\n").into_bytes(),
        }))
    }

    /// The arguments a compile gets, right after its program, to use the headers built into
    /// `dir` (the `precompiled.use` of the runtime file); empty without a `[precompiled]` table.
    pub fn precompiled_flags(&self, dir: &str) -> Result<Vec<String>, PlanError> {
        let Some(p) = &self.precompiled else {
            return Ok(Vec::new());
        };
        let mut vars = self.vars.clone();
        vars.insert(DIR.to_owned(), dir.to_owned());
        let ctx = Context {
            file: None,
            stem: None,
            sources: None,
            vars: &vars,
        };
        self.render_all(&p.use_flags, &ctx)
    }

    /// The precompiled header a program of `files` (`files[0]` the main one, as for
    /// [`Runtime::plan_files`]) whose main file holds `main` may use: the runtime has one for
    /// the `#include <NAME>` that is the whole first line of the main file, the main file is
    /// named as the runtime's (what the header was built as), and no other file is a source
    /// (another source's first include would take the header too, with a file name that is
    /// not the one it was built with). `None`: compile as without precompiled headers.
    pub fn precompiled_header_for<S: AsRef<str>>(&self, files: &[S], main: &[u8]) -> Option<&str> {
        let p = self.precompiled.as_ref()?;
        if files.first().map(AsRef::as_ref) != Some(self.file.as_str()) || self.sources_of(files).len() != 1 {
            return None;
        }
        let name = first_line_include(main)?;
        p.headers.iter().find(|h| *h == name).map(String::as_str)
    }

    /// What `{sources}` expands to for `files` (see [`Runtime::plan_files`]).
    fn sources_of<S: AsRef<str>>(&self, files: &[S]) -> Vec<String> {
        let mut names: Vec<&str> = Vec::with_capacity(files.len());
        let mut seen: Vec<Vec<&str>> = Vec::with_capacity(files.len());
        for (i, file) in files.iter().map(AsRef::as_ref).enumerate() {
            // `add.c`, `./add.c` and `.//add.c` are one file: passed once.
            let path: Vec<&str> = file.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
            let base = path.last().copied().unwrap_or(file);
            let source = i == 0 || self.sources.iter().any(|p| pattern_matches(p, base));
            if source && !seen.contains(&path) {
                names.push(file);
                seen.push(path);
            }
        }
        names.into_iter().map(not_an_option).collect()
    }

    /// Every argument of an argv (`{sources}` may stand for several).
    fn render_all(&self, templates: &[Template], ctx: &Context<'_>) -> Result<Vec<String>, PlanError> {
        let mut out = Vec::with_capacity(templates.len());
        for t in templates {
            out.extend(t.expand(ctx).map_err(|name| PlanError::Unresolved {
                runtime: self.name.clone(),
                name,
            })?);
        }
        Ok(out)
    }

    fn render(&self, t: &Template, ctx: &Context<'_>) -> Result<String, PlanError> {
        t.render(ctx).map_err(|name| PlanError::Unresolved {
            runtime: self.name.clone(),
            name,
        })
    }

    /// The base environment overlaid with the runtime's `env`, sorted by name.
    fn render_env(&self, ctx: &Context<'_>) -> Result<Vec<(String, String)>, PlanError> {
        let mut env = BTreeMap::from([
            ("LANG".to_owned(), BASE_LANG.to_owned()),
            ("PATH".to_owned(), BASE_PATH.to_owned()),
        ]);
        for (name, value) in &self.env {
            env.insert(name.clone(), self.render(value, ctx)?);
        }
        Ok(env.into_iter().collect())
    }

    /// Detects the toolchain: evaluates vars, checks programs and binds, runs `detect`.
    /// Never fails: a problem becomes the `missing` reason.
    pub(crate) fn detect_now(&self) -> Detection {
        let mut vars = BTreeMap::new();
        for (name, argv) in &self.var_commands {
            match detect::eval_var(name, argv) {
                Ok(value) => {
                    vars.insert(name.clone(), value);
                }
                Err(reason) => return Detection::failed(vars, reason),
            }
        }
        if let Some(dir) = &self.support_dir {
            vars.insert(crate::support::SUPPORT.to_owned(), dir.to_string_lossy().into_owned());
        }
        let ctx = Context {
            file: None,
            stem: None,
            sources: None,
            vars: &vars,
        };
        let rendered = |t: &Template| t.render(&ctx).map_err(|name| format!("{{{name}}} has no value"));

        let programs = [Some(&self.detect), self.compile.as_ref(), Some(&self.run)];
        for argv in programs.into_iter().flatten() {
            let Some(program) = argv.first() else {
                continue;
            };
            if program.literal_prefix().starts_with("./") {
                continue; // a build product, made by the compile step
            }
            let checked = rendered(program).and_then(|p| {
                if p.starts_with('/') {
                    detect::check_executable(Path::new(&p))
                } else {
                    Err(format!("program {p:?} is not an absolute path"))
                }
            });
            if let Err(reason) = checked {
                return Detection::failed(vars, reason);
            }
        }

        let mut binds = Vec::new();
        for t in &self.bind_templates {
            let bind = match rendered(t) {
                Ok(b) => PathBuf::from(b),
                Err(reason) => return Detection::failed(vars, reason),
            };
            if !bind.is_absolute() {
                return Detection::failed(vars, format!("bind {} is not an absolute path", bind.display()));
            }
            if !bind.exists() {
                return Detection::failed(vars, format!("bind {} does not exist", bind.display()));
            }
            binds.push(bind);
        }

        let argv = match self.detect.iter().map(&rendered).collect::<Result<Vec<_>, _>>() {
            Ok(argv) => argv,
            Err(reason) => return Detection::failed(vars, reason),
        };
        let env = match self.render_env(&Context {
            file: None,
            stem: None,
            sources: None,
            vars: &vars,
        }) {
            Ok(env) => env,
            Err(e) => return Detection::failed(vars, e.to_string()),
        };
        let out = match detect::run_captured(&argv, Env::Exactly(&env), DETECT_TIMEOUT) {
            Ok(out) => out,
            Err(reason) => return Detection::failed(vars, reason),
        };
        if !out.status.success() {
            let detail = detect::first_line(if out.stderr.trim().is_empty() {
                &out.stdout
            } else {
                &out.stderr
            });
            let reason = format!("`{}` failed ({}): {detail}", detect::display_argv(&argv), out.status);
            return Detection::failed(vars, reason);
        }
        let version = parse_version(&out.stdout)
            .or_else(|| parse_version(&out.stderr))
            .map(str::to_owned);
        if version.is_none() {
            tracing::warn!(runtime = %self.name, "no version number in the output of `{}`", detect::display_argv(&argv));
        }
        Detection {
            vars,
            binds,
            version,
            missing: None,
        }
    }

    /// Stores a detection result.
    pub(crate) fn apply(&mut self, d: Detection) {
        self.semver = d.version.as_deref().and_then(to_semver);
        self.installed = d.missing.is_none();
        self.version = d.version;
        self.missing = d.missing;
        self.vars = d.vars;
        self.binds = d.binds;
        // The support files' directory: not checked at detection (the engine writes it).
        if let (Some(dir), None) = (&self.support_dir, &self.missing) {
            self.binds.push(dir.clone());
        }
        match (&self.missing, &self.version) {
            (Some(reason), _) => {
                tracing::info!(runtime = %self.name, %reason, "runtime not installed")
            }
            (None, Some(version)) => {
                tracing::debug!(runtime = %self.name, %version, "runtime detected")
            }
            (None, None) => {
                tracing::debug!(runtime = %self.name, "runtime detected, version unknown")
            }
        }
    }
}

/// A `sources` pattern against a file's last path component: `*SUFFIX` matches every name
/// that ends in SUFFIX, anything else the name itself. (Patterns are checked to have no other
/// wildcard when the runtime file loads; one suffix test needs no glob library.)
fn pattern_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_prefix('*') {
        Some(suffix) => name.ends_with(suffix),
        None => name == pattern,
    }
}

/// A file name as an argument that no program reads as an option (`-o`), a response file
/// (`@opts`) or anything else but a path: `./` before a name that does not start with a
/// letter, a digit, `_` or `.`.
fn not_an_option(name: &str) -> String {
    match name.chars().next() {
        Some(c) if c.is_alphanumeric() || c == '_' || c == '.' => name.to_owned(),
        _ => format!("./{name}"),
    }
}

/// Checks that `name` is a plain relative path: not empty, not absolute, no `..`, `.` or empty
/// components, no NUL or control characters, no leading `-` or `@` (an option or a compiler's
/// response file), at most [`MAX_MAIN_FILE_BYTES`].
pub(crate) fn check_main_file(name: &str) -> Result<(), MainFileProblem> {
    if name.is_empty() {
        return Err(MainFileProblem::Empty);
    }
    if name.len() > MAX_MAIN_FILE_BYTES {
        return Err(MainFileProblem::TooLong);
    }
    if name.contains('\0') {
        return Err(MainFileProblem::Nul);
    }
    if name.chars().any(char::is_control) {
        return Err(MainFileProblem::ControlCharacter);
    }
    if name.starts_with('/') {
        return Err(MainFileProblem::Absolute);
    }
    if name.starts_with('-') {
        return Err(MainFileProblem::LeadingDash);
    }
    if name.starts_with('@') {
        return Err(MainFileProblem::LeadingAt);
    }
    for component in name.split('/') {
        match component {
            ".." => return Err(MainFileProblem::ParentDir),
            "" | "." => return Err(MainFileProblem::EmptyOrDotComponent),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn main_file_rules() {
        for ok in ["main.py", "Main.java", "src/lib.rs", "a b.c", "été.py"] {
            assert_eq!(check_main_file(ok), Ok(()), "{ok}");
        }
        let bad = [
            ("", MainFileProblem::Empty),
            ("/etc/passwd", MainFileProblem::Absolute),
            ("../x.py", MainFileProblem::ParentDir),
            ("a/../../x", MainFileProblem::ParentDir),
            ("a\0b", MainFileProblem::Nul),
            ("a\nb", MainFileProblem::ControlCharacter),
            ("-c", MainFileProblem::LeadingDash),
            ("@opts.c", MainFileProblem::LeadingAt),
            ("./main.py", MainFileProblem::EmptyOrDotComponent),
            ("dir/", MainFileProblem::EmptyOrDotComponent),
            ("a//b", MainFileProblem::EmptyOrDotComponent),
        ];
        for (name, want) in bad {
            assert_eq!(check_main_file(name), Err(want), "{name:?}");
        }
        assert_eq!(
            check_main_file(&"a".repeat(MAX_MAIN_FILE_BYTES + 1)),
            Err(MainFileProblem::TooLong)
        );
    }
}
