//! The catalog: every runtime file, indexed by name, alias and Judge0 id.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::thread;

use crate::error::{CatalogError, ResolveError};
use crate::runtime::{Detection, Runtime};
use crate::spec::parse_runtime;
use crate::version::Selector;

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// Label of embedded files in errors and [`Runtime::source`].
const EMBEDDED_DIR: &str = "<embedded>";

/// The language catalog.
#[derive(Clone, Debug)]
pub struct Catalog {
    /// Sorted by name.
    runtimes: Vec<Runtime>,
    /// Lower-case name or alias -> index.
    by_name: HashMap<String, usize>,
    /// Judge0 id -> index.
    by_judge0: HashMap<u32, usize>,
}

impl Catalog {
    /// The runtime files compiled into the binary (`runtimes/*.toml` at build time).
    /// Nothing is detected yet: every runtime is "not installed" until [`Catalog::detect`].
    pub fn embedded() -> Result<Self, CatalogError> {
        Self::load(None)
    }

    /// The embedded runtime files plus `override_dir/*.toml`: a file whose `name` matches an
    /// embedded runtime replaces it, a new name is added. Other files in the directory are
    /// ignored; a broken `.toml` is an error naming the file.
    pub fn load(override_dir: Option<&Path>) -> Result<Self, CatalogError> {
        let embedded = EMBEDDED
            .iter()
            .map(|(name, text)| (Path::new(EMBEDDED_DIR).join(name), (*text).to_owned()));
        let embedded = parse_all(embedded)?;
        let overrides = match override_dir {
            Some(dir) => parse_all(read_dir(dir)?)?,
            None => Vec::new(),
        };
        Self::assemble(embedded, overrides)
    }

    /// Builds a catalog from in-memory files only (no embedded ones), e.g. for tests.
    pub fn from_files<I, P, S>(files: I) -> Result<Self, CatalogError>
    where
        I: IntoIterator<Item = (P, S)>,
        P: Into<PathBuf>,
        S: Into<String>,
    {
        let runtimes = parse_all(files.into_iter().map(|(p, s)| (p.into(), s.into())))?;
        Self::assemble(runtimes, Vec::new())
    }

    fn assemble(base: Vec<Runtime>, overrides: Vec<Runtime>) -> Result<Self, CatalogError> {
        let mut merged: BTreeMap<String, Runtime> = BTreeMap::new();
        for rt in base {
            merged.insert(rt.name.clone(), rt);
        }
        for rt in overrides {
            if let Some(old) = merged.get(&rt.name) {
                tracing::debug!(runtime = %rt.name, from = %rt.source.display(), replaces = %old.source.display(), "runtime overridden");
            }
            merged.insert(rt.name.clone(), rt);
        }
        let runtimes: Vec<Runtime> = merged.into_values().collect();

        let mut by_name: HashMap<String, usize> = HashMap::new();
        let mut by_judge0: HashMap<u32, usize> = HashMap::new();
        for (i, rt) in runtimes.iter().enumerate() {
            for key in std::iter::once(&rt.name).chain(&rt.aliases) {
                if let Some(&j) = by_name.get(key.as_str()) {
                    if j != i {
                        return Err(CatalogError::AliasConflict {
                            alias: key.clone(),
                            first: runtimes[j].name.clone(),
                            second: rt.name.clone(),
                        });
                    }
                }
                by_name.insert(key.clone(), i);
            }
            for &id in &rt.judge0_ids {
                if let Some(&j) = by_judge0.get(&id) {
                    return Err(CatalogError::Judge0IdConflict {
                        id,
                        first: runtimes[j].name.clone(),
                        second: rt.name.clone(),
                    });
                }
                by_judge0.insert(id, i);
            }
        }
        Ok(Self {
            runtimes,
            by_name,
            by_judge0,
        })
    }

    /// Detects every runtime's toolchain in parallel: evaluates `[vars]`, checks that the
    /// programs and binds exist, runs the detect command (each command at most
    /// [`crate::DETECT_TIMEOUT`]). Fills `version`, `installed` and `missing`; a missing
    /// toolchain marks its runtime not installed and never fails the catalog.
    pub fn detect(&mut self) {
        let results: Vec<Detection> = thread::scope(|s| {
            let started: Vec<_> = self
                .runtimes
                .iter()
                .map(|rt| {
                    let handle = thread::Builder::new()
                        .name(format!("detect-{}", rt.name))
                        .spawn_scoped(s, move || rt.detect_now());
                    (rt, handle)
                })
                .collect();
            started
                .into_iter()
                .map(|(rt, handle)| match handle {
                    Ok(h) => h
                        .join()
                        .unwrap_or_else(|_| Detection::failed(BTreeMap::new(), "detection panicked".to_owned())),
                    // No thread to spare: detect on this one.
                    Err(_) => rt.detect_now(),
                })
                .collect()
        });
        for (rt, detection) in self.runtimes.iter_mut().zip(results) {
            rt.apply(detection);
        }
    }

    /// The runtime with this name or alias (case-insensitive), installed or not.
    pub fn get(&self, language: &str) -> Option<&Runtime> {
        let key = language.trim().to_lowercase();
        self.by_name.get(&key).map(|&i| &self.runtimes[i])
    }

    /// The installed runtime for a request: `language` is a name or alias (case-insensitive),
    /// `version` a Piston-style semver selector (`*`, `3.x`, `3.11`, `3.11.2`, `^3`; None or
    /// empty means any) matched against the detected version.
    pub fn resolve(&self, language: &str, version: Option<&str>) -> Result<&Runtime, ResolveError> {
        let rt = self.get(language).ok_or_else(|| ResolveError::UnknownLanguage {
            language: language.to_owned(),
        })?;
        if !rt.installed {
            return Err(ResolveError::NotInstalled {
                language: rt.name.clone(),
            });
        }
        let selector_text = version.unwrap_or("*");
        let selector = Selector::parse(selector_text).map_err(|source| ResolveError::BadSelector {
            selector: selector_text.to_owned(),
            source,
        })?;
        if selector.matches(rt.semver()) {
            Ok(rt)
        } else {
            Err(ResolveError::VersionNotAvailable {
                language: rt.name.clone(),
                selector: selector_text.trim().to_owned(),
                installed: rt.version.clone().unwrap_or_else(|| "unknown version".to_owned()),
            })
        }
    }

    /// The runtime answering to a Judge0 language id, installed or not.
    pub fn by_judge0_id(&self, id: u32) -> Option<&Runtime> {
        self.by_judge0.get(&id).map(|&i| &self.runtimes[i])
    }

    /// All runtimes, sorted by name.
    pub fn iter(&self) -> std::slice::Iter<'_, Runtime> {
        self.runtimes.iter()
    }

    /// Puts the support files of runtime `name` at `dir` (see [`Runtime::set_support_dir`]);
    /// false when there is no such runtime.
    pub fn set_support_dir(&mut self, name: &str, dir: PathBuf) -> bool {
        match self.runtimes.iter_mut().find(|r| r.name == name) {
            Some(runtime) => {
                runtime.set_support_dir(dir);
                true
            }
            None => false,
        }
    }

    /// Number of runtimes.
    pub fn len(&self) -> usize {
        self.runtimes.len()
    }

    /// True when the catalog has no runtime.
    pub fn is_empty(&self) -> bool {
        self.runtimes.is_empty()
    }
}

impl<'a> IntoIterator for &'a Catalog {
    type Item = &'a Runtime;
    type IntoIter = std::slice::Iter<'a, Runtime>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Parses files of one source; two files with the same `name` are an error.
fn parse_all(files: impl IntoIterator<Item = (PathBuf, String)>) -> Result<Vec<Runtime>, CatalogError> {
    let mut out: Vec<Runtime> = Vec::new();
    for (path, text) in files {
        let rt = parse_runtime(&path, &text)?;
        if let Some(first) = out.iter().find(|r| r.name == rt.name) {
            return Err(CatalogError::DuplicateName {
                name: rt.name.clone(),
                first: first.source.clone(),
                second: rt.source.clone(),
            });
        }
        out.push(rt);
    }
    Ok(out)
}

/// The `*.toml` files of `dir` (following symlinks), sorted by file name.
fn read_dir(dir: &Path) -> Result<Vec<(PathBuf, String)>, CatalogError> {
    let read_dir_err = |source| CatalogError::ReadDir {
        path: dir.to_owned(),
        source,
    };
    let mut paths = Vec::new();
    for entry in fs::read_dir(dir).map_err(read_dir_err)? {
        let path = entry.map_err(read_dir_err)?.path();
        if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    paths
        .into_iter()
        .map(|path| match fs::read_to_string(&path) {
            Ok(text) => Ok((path, text)),
            Err(source) => Err(CatalogError::Read { path, source }),
        })
        .collect()
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::error::{PlanError, SpecError};
    use crate::runtime::Command;

    const FAKE: &str = r#"
name = "no-such-language"
display_name = "No such language"
aliases = ["nsl", "nsl-85"]
judge0_ids = [999]
file = "main.nsl"
compile = ["/nonexistent/bin/nslc", "-x", "-o", "main", "{file}"]
run = ["./main"]
detect = ["/nonexistent/bin/nslc", "--version"]
[example]
hello = "DISPLAY 'Hello, world!'."
echo = "ACCEPT X."
runtime_error = "STOP RUN RETURNING 1."
compile_error = "DISPLAY"
"#;

    /// A runtime that exists on every Linux box: /bin/sh with a host-derived var.
    const SHELL: &str = r#"
name = "shell"
display_name = "POSIX shell"
aliases = ["posix", "dash"]
judge0_ids = [1001, 1002]
file = "main.sh"
run = ["{shell}", "-e", "{file}", "--stem={stem}", "{{literal}}"]
compile = ["{shell}", "-n", "{file}"]
detect = ["/bin/sh", "-c", "echo 'shell 0.4.2-fake'"]
binds = ["{tmp}"]
[vars]
shell = ["/bin/sh", "-c", "echo /bin/sh"]
tmp = ["/bin/sh", "-c", "echo /tmp"]
[env]
SHELL_HOME = "{tmp}/home"
PATH = "/bin"
[limits.run]
memory_mb = 64
[example]
hello = "echo 'Hello, world!'"
echo = "cat"
runtime_error = "exit 1"
compile_error = "if"
"#;

    #[test]
    fn support_files_name_their_directory_in_env_and_run_and_are_bound() {
        let text = SHELL
            .replace(
                "SHELL_HOME = \"{tmp}/home\"",
                "SHELL_HOME = \"{tmp}/home\"\nLIB = \"{support}\"",
            )
            .replace("\"{{literal}}\"]", "\"{{literal}}\", \"--lib={support}/lib.sh\"]")
            .replace(
                "[limits.run]",
                "[support]\n\"lib.sh\" = \"greet() { echo hi; }\"\n[limits.run]",
            );
        let mut catalog = Catalog::from_files([("s.toml", text)]).expect("valid");
        catalog.detect();
        let rt = catalog.get("shell").expect("shell");
        assert!(rt.installed, "{:?}", rt.missing);
        let dir = rt.support_dir().expect("a support dir").to_path_buf();
        assert!(dir.starts_with(crate::SUPPORT_ROOT), "{}", dir.display());
        assert_eq!(rt.support_files().len(), 1);
        assert!(rt.binds.contains(&dir), "bound: {:?}", rt.binds);
        let plan = rt.plan("main.sh", &[]).expect("plan");
        let lib = plan.run.env.iter().find(|(k, _)| k == "LIB").expect("LIB").1.clone();
        assert_eq!(lib, dir.to_string_lossy());
        assert!(
            plan.run.argv.contains(&format!("--lib={}/lib.sh", dir.display())),
            "{:?}",
            plan.run.argv
        );

        // The engine may put the files elsewhere: the value and the bind follow.
        let mut moved = rt.clone();
        moved.set_support_dir(PathBuf::from("/srv/support/x"));
        let plan = moved.plan("main.sh", &[]).expect("plan");
        assert!(plan.run.env.contains(&("LIB".to_owned(), "/srv/support/x".to_owned())));
        assert!(moved.binds.contains(&PathBuf::from("/srv/support/x")) && !moved.binds.contains(&dir));

        // Without a [support] table, {support} is an unknown placeholder; vars.support is refused.
        let without = SHELL.replace("PATH = \"/bin\"", "PATH = \"/bin\"\nLIB = \"{support}\"");
        let msg = chain(&Catalog::from_files([("bad.toml", without)]).expect_err("no table"));
        assert!(msg.contains("support"), "{msg}");
        let shadow = SHELL
            .replace("[vars]", "[vars]\nsupport = [\"/bin/sh\", \"-c\", \"echo /x\"]")
            .replace("[limits.run]", "[support]\n\"a.sh\" = \"x\"\n[limits.run]");
        let msg = chain(&Catalog::from_files([("bad.toml", shadow)]).expect_err("vars.support"));
        assert!(msg.contains("rename vars.support"), "{msg}");
        let bad = SHELL.replace("[limits.run]", "[support]\n\"../a.sh\" = \"x\"\n[limits.run]");
        let msg = chain(&Catalog::from_files([("bad.toml", bad)]).expect_err("bad name"));
        assert!(msg.contains("not a plain file name"), "{msg}");
    }

    fn chain(err: &dyn std::error::Error) -> String {
        let mut text = err.to_string();
        let mut source = err.source();
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        text
    }

    fn write(dir: &Path, name: &str, text: &str) {
        fs::write(dir.join(name), text).expect("temp dir is writable");
    }

    #[test]
    fn embedded_catalog_parses_with_every_language() {
        let catalog = Catalog::embedded().expect("embedded runtime files are valid");
        let names: Vec<&str> = catalog.iter().map(|r| r.name.as_str()).collect();
        // The language shelf: at least 30 runtimes, the issue's list (or its substitutes).
        assert!(catalog.len() >= 30, "{names:?}");
        for want in [
            "bash",
            "c",
            "c++",
            "clojure",
            "cobol",
            "csharp",
            "d",
            "elixir",
            "erlang",
            "fortran",
            "go",
            "groovy",
            "haskell",
            "java",
            "javascript",
            "kotlin",
            "lua",
            "multi-file",
            "nasm64",
            "nim",
            "ocaml",
            "octave",
            "pascal",
            "perl",
            "php",
            "prolog",
            "python",
            "racket",
            "rscript",
            "ruby",
            "rust",
            "scala",
            "sqlite3",
            "tcl",
            "typescript",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        for (id, name) in [
            (71, "python"),
            (63, "javascript"),
            (48, "c"),
            (75, "c"),
            (54, "c++"),
            (76, "c++"),
            (62, "java"),
            (73, "rust"),
            (46, "bash"),
            (85, "perl"),
            // Judge0 CE 1.13.1's ids of the languages added to the shelf.
            (45, "nasm64"),
            (51, "csharp"),
            (56, "d"),
            (57, "elixir"),
            (58, "erlang"),
            (59, "fortran"),
            (60, "go"),
            (61, "haskell"),
            (64, "lua"),
            (65, "ocaml"),
            (66, "octave"),
            (67, "pascal"),
            (68, "php"),
            (69, "prolog"),
            (72, "ruby"),
            (74, "typescript"),
            (77, "cobol"),
            (78, "kotlin"),
            (80, "rscript"),
            (81, "scala"),
            (82, "sqlite3"),
            (86, "clojure"),
            (88, "groovy"),
        ] {
            assert_eq!(
                catalog.by_judge0_id(id).map(|r| r.name.as_str()),
                Some(name),
                "judge0 id {id}"
            );
        }
        assert!(catalog.by_judge0_id(9999).is_none());
        // Every runtime has a Judge0 id, so Judge0's language list shows the whole shelf: Judge0
        // CE 1.13.1's where it has the language, else one of tiderun's own range.
        let mut own = Vec::new();
        for rt in catalog.iter() {
            assert!(!rt.judge0_ids.is_empty(), "{} has no Judge0 id", rt.name);
            for &id in &rt.judge0_ids {
                if crate::OWN_JUDGE0_IDS.contains(&id) {
                    own.push((id, rt.name.as_str()));
                } else {
                    assert!(
                        crate::JUDGE0_CE_IDS.contains(&id),
                        "{}: {id} is not a Judge0 CE 1.13.1 id",
                        rt.name
                    );
                }
            }
        }
        own.sort_unstable();
        assert_eq!(own, [(1000, "nim"), (1001, "racket"), (1002, "tcl")]);
        let ce = catalog.iter().filter(|rt| {
            rt.judge0_listed_id()
                .is_some_and(|id| crate::JUDGE0_CE_IDS.contains(&id))
        });
        assert_eq!(ce.count(), catalog.len() - 3, "the shelf's runtimes with Judge0 CE ids");
        let java = catalog.get("java").expect("java");
        assert_eq!(
            (
                java.limits().run.defaults.memory_mib,
                java.limits().run.defaults.max_processes
            ),
            (512, 64)
        );
        assert!(java.compiled() && catalog.get("rust").is_some_and(Runtime::compiled));
        assert!(!catalog.get("python").is_some_and(Runtime::compiled));
        // Nothing detected yet.
        assert!(catalog.iter().all(|r| !r.installed && r.missing.is_some()));
    }

    #[test]
    fn judge0_ids_keep_their_order_and_judge0_file_is_checked() {
        let catalog = Catalog::embedded().expect("embedded");
        // The first id is the one Judge0's list shows: the official SDK's aliases.
        let c = catalog.get("c").expect("c");
        assert_eq!(c.judge0_listed_id(), Some(50));
        assert!(c.judge0_ids.contains(&48) && c.judge0_ids.contains(&75));
        assert_eq!(catalog.get("c++").and_then(Runtime::judge0_listed_id), Some(52));
        // Judge0 1.13.1's source file names.
        for (language, file) in [
            ("python", "script.py"),
            ("javascript", "script.js"),
            ("bash", "script.sh"),
            ("perl", "script.pl"),
            ("c", "main.c"),
            ("c++", "main.cpp"),
            ("java", "Main.java"),
            ("rust", "main.rs"),
            ("multi-file", "run"),
        ] {
            assert_eq!(
                catalog.get(language).map(Runtime::judge0_file),
                Some(file),
                "{language}"
            );
        }
        assert_eq!(
            catalog.get("python").map(|r| r.file.as_str()),
            Some("main.py"),
            "other APIs keep file"
        );
        assert_eq!(catalog.by_judge0_id(89).map(|r| r.name.as_str()), Some("multi-file"));

        let dup = SHELL.replace("judge0_ids = [1001, 1002]", "judge0_ids = [1002, 1001, 1002]");
        let rt = Catalog::from_files([("s.toml", dup)]).expect("valid");
        assert_eq!(
            rt.get("shell").expect("shell").judge0_ids,
            vec![1002, 1001],
            "deduplicated, in order"
        );

        let cases = [
            (
                SHELL.replace("file = \"main.sh\"", "file = \"main.sh\"\njudge0_file = \"../x.sh\""),
                "must not contain ..",
            ),
            (
                SHELL
                    .replace("judge0_ids = [1001, 1002]", "")
                    .replace("file = \"main.sh\"", "file = \"main.sh\"\njudge0_file = \"script.sh\""),
                "judge0_file: needs judge0_ids",
            ),
        ];
        for (text, want) in cases {
            let err = Catalog::from_files([("bad.toml", text)]).expect_err(want);
            let msg = chain(&err);
            assert!(msg.contains(want), "{msg} should contain {want:?}");
        }
    }

    #[test]
    fn unknown_field_is_rejected_with_the_file_name() {
        let dir = tempfile::tempdir().expect("temp dir");
        write(dir.path(), "python.toml", &format!("colour = \"blue\"\n{SHELL}"));
        let err = Catalog::load(Some(dir.path())).expect_err("unknown field");
        let text = chain(&err);
        assert!(matches!(err, CatalogError::Parse { .. }), "{text}");
        assert!(
            err.to_string()
                .contains(&dir.path().join("python.toml").display().to_string()),
            "{text}"
        );
        assert!(text.contains("unknown field"), "{text}");
    }

    #[test]
    fn missing_override_dir_is_an_error_naming_it() {
        let err = Catalog::load(Some(Path::new("/nonexistent/runtimes.d"))).expect_err("no such dir");
        assert_eq!(err.to_string(), "cannot read runtime directory /nonexistent/runtimes.d");
    }

    #[test]
    fn broken_toml_names_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        write(dir.path(), "z-broken.toml", "name = \"x\n");
        let err = Catalog::load(Some(dir.path())).expect_err("broken");
        assert!(
            matches!(&err, CatalogError::Parse { path, .. } if path.ends_with("z-broken.toml")),
            "{err}"
        );
    }

    #[test]
    fn highlight_names_an_editor_mode_or_none() {
        let with = SHELL.replace(
            "file = \"main.sh\"",
            "file = \"main.sh\"\nhighlight = \"shell_posix-2\"",
        );
        let catalog = Catalog::from_files([("shell.toml", with.as_str())]).expect("valid");
        assert_eq!(
            catalog.get("shell").and_then(|r| r.highlight.as_deref()),
            Some("shell_posix-2")
        );
        let catalog = Catalog::from_files([("shell.toml", SHELL)]).expect("valid");
        assert_eq!(catalog.get("shell").and_then(|r| r.highlight.as_deref()), None);
        // The shelf: every runtime names its mode but the three the page has none for.
        let embedded = Catalog::embedded().expect("embedded");
        let plain: Vec<&str> = embedded
            .iter()
            .filter(|r| r.highlight.is_none())
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(plain, ["elixir", "nim", "prolog"]);
        assert_eq!(embedded.get("ruby").and_then(|r| r.highlight.as_deref()), Some("ruby"));
        assert_eq!(
            embedded.get("racket").and_then(|r| r.highlight.as_deref()),
            Some("scheme")
        );
    }

    #[test]
    fn invalid_values_name_the_file_and_the_field() {
        let cases = [
            (
                SHELL.replace("{file}\", \"--stem", "{fiel}\", \"--stem"),
                "unknown placeholder {fiel}",
            ),
            (
                SHELL.replace("detect = [\"/bin/sh\"", "detect = [\"sh\""),
                "program \"sh\" must be an absolute path",
            ),
            (SHELL.replace("name = \"shell\"", "name = \"Shell\""), "name \"Shell\""),
            (
                SHELL.replace("file = \"main.sh\"", "file = \"../main.sh\""),
                "must not contain ..",
            ),
            (
                SHELL.replace("memory_mb = 64", "memory_mb = 99999"),
                "above the maximum",
            ),
            (
                SHELL.replace("binds = [\"{tmp}\"]", "binds = [\"{file}\"]"),
                "only allowed in compile and run",
            ),
            (
                SHELL.replace("binds = [\"{tmp}\"]", "binds = [\"tmp\"]"),
                "must be an absolute path",
            ),
            (
                FAKE.replace("compile = [", "#"),
                "build product but there is no compile step",
            ),
            (
                SHELL.replace("file = \"main.sh\"", "file = \"main.sh\"\nhighlight = \"../lang-x\""),
                "highlight: \"../lang-x\" is not an editor mode name",
            ),
            (
                SHELL.replace("file = \"main.sh\"", "file = \"main.sh\"\nhighlight = \"Shell\""),
                "highlight: \"Shell\" is not an editor mode name",
            ),
            (
                SHELL.replace("file = \"main.sh\"", "file = \"main.sh\"\nhighlight = \"\""),
                "highlight: \"\" is not an editor mode name",
            ),
            (
                SHELL.replace(
                    "file = \"main.sh\"",
                    &format!("file = \"main.sh\"\nhighlight = \"{}\"", "x".repeat(33)),
                ),
                "at most 32",
            ),
        ];
        for (text, want) in cases {
            let err = Catalog::from_files([("bad.toml", text)]).expect_err(want);
            let msg = chain(&err);
            assert!(msg.starts_with("invalid runtime file bad.toml"), "{msg}");
            assert!(msg.contains(want), "{msg} should contain {want:?}");
        }
    }

    #[test]
    fn example_programs_are_checked_and_name_the_file() {
        // A missing required program is a parse error naming the file and the field.
        let no_echo = SHELL.replace("echo = \"cat\"\n", "");
        let err = Catalog::from_files([("shell.toml", no_echo)]).expect_err("no echo");
        let msg = chain(&err);
        assert!(
            matches!(&err, CatalogError::Parse { path, .. } if path.ends_with("shell.toml")),
            "{msg}"
        );
        assert!(msg.contains("missing field `echo`"), "{msg}");
        let no_error = SHELL.replace("runtime_error = \"exit 1\"\n", "");
        let msg = chain(&Catalog::from_files([("shell.toml", no_error)]).expect_err("no runtime_error"));
        assert!(msg.contains("missing field `runtime_error`"), "{msg}");

        let interpreted = SHELL.replace("compile = [\"{shell}\", \"-n\", \"{file}\"]\n", "");
        let cases = [
            // A compiled runtime must show a program its compiler rejects...
            (
                SHELL.replace("compile_error = \"if\"\n", ""),
                "example.compile_error: required with compile",
            ),
            // ...and an interpreted one has no compiler to reject anything.
            (
                interpreted.clone(),
                "example.compile_error: only for a runtime with compile",
            ),
            (
                SHELL.replace("echo = \"cat\"", "echo = \" \""),
                "example.echo must not be empty",
            ),
            (
                SHELL.replace("runtime_error = \"exit 1\"", "runtime_error = \"\""),
                "example.runtime_error must not be empty",
            ),
            (
                SHELL.replace("compile_error = \"if\"", "compile_error = { \"other.sh\" = \"if\" }"),
                "example.compile_error: the files must include the main file \"main.sh\"",
            ),
            (
                SHELL.replace(
                    "echo = \"cat\"",
                    "echo = { \"main.sh\" = \"cat\", \"../up.sh\" = \"x\" }",
                ),
                "example.echo: file \"../up.sh\"",
            ),
        ];
        for (text, want) in cases {
            let err = Catalog::from_files([("bad.toml", text)]).expect_err(want);
            let msg = chain(&err);
            assert!(msg.starts_with("invalid runtime file bad.toml"), "{msg}");
            assert!(msg.contains(want), "{msg} should contain {want:?}");
        }
        let fine = interpreted.replace("compile_error = \"if\"\n", "");
        let catalog = Catalog::from_files([("shell.toml", fine)]).expect("no compile, no compile_error");
        assert_eq!(catalog.get("shell").expect("shell").example.compile_error, None);
    }

    #[test]
    fn hints_load_with_the_catalog_and_a_bad_one_names_file_and_hint() {
        let with = |hints: &str| SHELL.to_owned() + hints;
        let good = with(
            "[[hints]]\nid = \"typo\"\nmatch = \"not found\"\nsource_match = \"ec[^h]\"\n\
             text.en = \"Check the spelling.\"\ntext.zh-CN = \"检查拼写。\"\n",
        );
        let catalog = Catalog::from_files([("shell.toml", good)]).expect("valid hints");
        let hints = &catalog.get("shell").expect("shell").hints;
        assert_eq!(hints.len(), 1);
        assert_eq!(hints[0].text["zh-CN"], "检查拼写。");
        assert!(hints[0].matches("sh: 1: ecko: not found", "ecko hi"));
        assert!(!hints[0].matches("sh: 1: ecko: not found", "echo hi"));

        let bad = with("[[hints]]\nid = \"typo\"\nmatch = \"not (found\"\ntext.en = \"x\"\n");
        let msg = chain(&Catalog::from_files([("bad.toml", bad)]).expect_err("a bad regex"));
        assert!(msg.starts_with("invalid runtime file bad.toml"), "{msg}");
        assert!(
            msg.contains("hints[0] (\"typo\"): match: not a valid regular expression"),
            "{msg}"
        );
        let unknown = with("[[hints]]\nid = \"x\"\nmatch = \"x\"\ntext.en = \"x\"\nlevel = 1\n");
        let msg = chain(&Catalog::from_files([("bad.toml", unknown)]).expect_err("an unknown field"));
        assert!(msg.contains("unknown field `level`"), "{msg}");
    }

    #[test]
    fn examples_may_be_localized_for_the_page() {
        let zh = SHELL.replace(
            "compile_error = \"if\"\n",
            "compile_error = \"if\"\n[example.localized.zh-CN]\nhello = \"echo '你好'\"\n",
        );
        let catalog = Catalog::from_files([("shell.toml", zh.clone())]).expect("valid");
        let example = &catalog.get("shell").expect("shell").example;
        assert_eq!(example.localized["zh-CN"].hello.as_deref(), Some("echo '你好'"));
        for (from, want) in [("zh-CN", "unknown locale \"fr\""), ("zh-CN", "example.localized.en")] {
            let locale = if want.contains("fr") { "fr" } else { "en" };
            let text = zh.replace(&format!("localized.{from}"), &format!("localized.{locale}"));
            let msg = chain(&Catalog::from_files([("bad.toml", text)]).expect_err(want));
            assert!(msg.contains(want), "{msg} should contain {want:?}");
        }
    }

    /// The shipped hints catch the messages the page's students meet (as Python 3.11, GCC
    /// and javac print them), and only those.
    #[test]
    fn shipped_hints_match_real_messages() {
        let catalog = Catalog::load(None).expect("embedded catalog");
        let first = |language: &str, stderr: &str, source: &str| {
            let rt = catalog.get(language).expect(language);
            rt.hints
                .iter()
                .find(|h| h.when == crate::HintWhen::Error && h.matches(stderr, source))
                .map(|h| h.id.clone())
        };
        let py = |stderr: &str| first("python", stderr, "");
        assert_eq!(
            py("SyntaxError: invalid character '（' (U+FF08)").as_deref(),
            Some("full-width-punctuation")
        );
        assert_eq!(
            py("SyntaxError: invalid character '“' (U+201C)").as_deref(),
            Some("full-width-punctuation")
        );
        assert_eq!(py("SyntaxError: expected ':'").as_deref(), Some("missing-colon"));
        assert_eq!(
            py("IndentationError: expected an indented block after 'if' statement on line 1").as_deref(),
            Some("indentation")
        );
        assert_eq!(
            py("NameError: name 'x' is not defined").as_deref(),
            Some("name-not-defined")
        );
        assert_eq!(py("ZeroDivisionError: division by zero"), None);
        assert_eq!(
            first("c", "main.c:2:2: error: expected ‘,’ or ‘;’ before ‘return’", "").as_deref(),
            Some("missing-semicolon")
        );
        assert_eq!(
            first("c++", "main.cpp:2:27: error: expected ‘;’ before ‘return’", "").as_deref(),
            Some("missing-semicolon")
        );
        assert_eq!(
            first("java", "Main.java:1: error: ';' expected", "").as_deref(),
            Some("missing-semicolon")
        );
        assert_eq!(
            first("java", "Main.java:1: error: illegal character: '\\uff08'", "").as_deref(),
            Some("full-width-punctuation")
        );
        // A JavaScript syntax error is about full-width punctuation only when the code has some.
        let js = "SyntaxError: Invalid or unexpected token";
        assert_eq!(
            first("javascript", js, "console.log（1）").as_deref(),
            Some("full-width-punctuation")
        );
        assert_eq!(first("javascript", js, "console.log('1)"), None);

        let prompt = catalog
            .get("python")
            .and_then(|rt| rt.hints.iter().find(|h| h.when == crate::HintWhen::AllTestsFailed))
            .expect("python's prompt hint");
        assert!(prompt.matches("", "name = input(\"请输入你的名字：\")"));
        assert!(!prompt.matches("", "name = input()"));
    }

    #[test]
    fn install_lists_only_package_names() {
        let with = |apt: &str, npm: &str| format!("{SHELL}[install]\napt = [{apt}]\nnpm = [{npm}]\n");
        let good = with(
            "\"g++\", \"libc6-dev\", \"openjdk-17-jdk-headless\", \"r-base-core\"",
            "\"typescript\", \"@types/node\", \"ts-node@10.9.2\", \"lodash.merge\"",
        );
        let catalog = Catalog::from_files([("shell.toml", good)]).expect("package names");
        assert_eq!(catalog.get("shell").expect("shell").install.npm.len(), 4);
        for (apt, npm, want) in [
            (
                "\"-o=APT::x\"",
                "",
                "install.apt: \"-o=APT::x\" is not a Debian package name",
            ),
            ("\"Python3\"", "", "install.apt: \"Python3\""),
            ("\"gcc=4:12.2.0-3\"", "", "install.apt"),
            ("\"./local.deb\"", "", "install.apt"),
            ("\"a\"", "", "install.apt"),
            ("\"gcc libc6-dev\"", "", "install.apt"),
            (
                "",
                "\"--prefix=/\"",
                "install.npm: \"--prefix=/\" is not an npm package name",
            ),
            ("", "\"-g\"", "install.npm"),
            ("", "\"TypeScript\"", "install.npm"),
            ("", "\"https://example.com/x.tgz\"", "install.npm"),
            ("", "\"github:user/repo\"", "install.npm"),
            ("", "\"@scope\"", "install.npm"),
            ("", "\"x@^1\"", "install.npm"),
            ("", "\"x@\"", "install.npm"),
            ("", "\"../x\"", "install.npm"),
        ] {
            let err = Catalog::from_files([("bad.toml", with(apt, npm))]).expect_err(want);
            let msg = chain(&err);
            assert!(msg.starts_with("invalid runtime file bad.toml"), "{msg}");
            assert!(msg.contains(want), "{msg} should contain {want:?}");
        }
        let many: Vec<String> = (0..=crate::MAX_PACKAGES).map(|i| format!("\"p{i}\"")).collect();
        let msg = chain(&Catalog::from_files([("bad.toml", with(&many.join(","), ""))]).expect_err("too many"));
        assert!(msg.contains("more than 64 packages"), "{msg}");
    }

    #[test]
    fn an_example_program_may_be_several_files_main_first() {
        let text = SHELL.replace(
            "compile_error = \"if\"",
            "[example.compile_error]\n\"b.sh\" = \"b\"\n\"main.sh\" = \"main\"\n\"a.sh\" = \"a\"",
        );
        let catalog = Catalog::from_files([("shell.toml", text)]).expect("valid");
        let example = &catalog.get("shell").expect("shell").example;
        let program = example.compile_error.as_ref().expect("compile_error");
        assert_eq!(
            program.files("main.sh"),
            [("main.sh", "main"), ("a.sh", "a"), ("b.sh", "b")]
        );
        assert_eq!(program.main_text("main.sh"), Some("main"));
        assert_eq!(example.echo.files("main.sh"), [("main.sh", "cat")]);
        // Judge0's multi-file program fails to compile through its `compile` script.
        let embedded = Catalog::embedded().expect("embedded");
        let multi = embedded.get("multi-file").expect("multi-file");
        let names: Vec<&str> = multi
            .example
            .compile_error
            .as_ref()
            .expect("compile_error")
            .files("run")
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(names, ["run", "compile"]);
        // Every shipped runtime shows its failures; compile_error exactly where it compiles.
        for rt in &embedded {
            assert_eq!(rt.example.compile_error.is_some(), rt.compiled(), "{}", rt.name);
        }
    }

    #[test]
    fn override_dir_replaces_and_adds() {
        let dir = tempfile::tempdir().expect("temp dir");
        let python = SHELL
            .replace("name = \"shell\"", "name = \"python\"")
            .replace("aliases = [\"posix\", \"dash\"]", "aliases = [\"py\"]")
            .replace("judge0_ids = [1001, 1002]", "judge0_ids = [71]")
            .replace("display_name = \"POSIX shell\"", "display_name = \"Python (site)\"");
        write(dir.path(), "python.toml", &python);
        write(dir.path(), "no-such-language.toml", FAKE);
        write(dir.path(), "README.md", "not a runtime");
        let catalog = Catalog::load(Some(dir.path())).expect("valid override dir");
        let embedded = Catalog::embedded().expect("embedded");
        assert_eq!(catalog.len(), embedded.len() + 1);
        let py = catalog.get("python").expect("python");
        assert_eq!(py.display_name, "Python (site)");
        assert_eq!(py.source, dir.path().join("python.toml"));
        assert!(
            catalog.get("python3").is_none(),
            "aliases come from the replacing file only"
        );
        assert_eq!(catalog.get("nsl").map(|r| r.name.as_str()), Some("no-such-language"));
        assert_eq!(
            catalog.by_judge0_id(71).map(|r| r.display_name.as_str()),
            Some("Python (site)")
        );
    }

    #[test]
    fn duplicate_names_and_alias_conflicts_are_errors() {
        let err = Catalog::from_files([("a.toml", FAKE), ("b.toml", FAKE)]).expect_err("duplicate");
        assert!(matches!(err, CatalogError::DuplicateName { .. }), "{err}");
        let other = FAKE
            .replace("name = \"no-such-language\"", "name = \"no-such-language-2\"")
            .replace("judge0_ids = [999]", "");
        let err = Catalog::from_files([("a.toml", FAKE), ("b.toml", other.as_str())]).expect_err("alias taken");
        assert_eq!(
            err.to_string(),
            "alias \"nsl\" of runtime no-such-language-2 is already taken by runtime no-such-language"
        );
        let other = FAKE
            .replace("name = \"no-such-language\"", "name = \"no-such-language-2\"")
            .replace("aliases = [\"nsl\", \"nsl-85\"]", "");
        let err = Catalog::from_files([("a.toml", FAKE), ("b.toml", other.as_str())]).expect_err("id taken");
        assert!(matches!(err, CatalogError::Judge0IdConflict { id: 999, .. }), "{err}");
    }

    #[test]
    fn upper_case_alias_in_a_file_is_rejected() {
        let upper = FAKE.replace("\"nsl-85\"", "\"NSL-85\"");
        let err = Catalog::from_files([("c.toml", upper)]).expect_err("NSL-85 is upper case");
        assert!(
            matches!(
                err,
                CatalogError::Invalid {
                    source: SpecError::BadName { .. },
                    ..
                }
            ),
            "{err}"
        );
    }

    fn shell_catalog() -> Catalog {
        let mut catalog = Catalog::from_files([("shell.toml", SHELL)]).expect("valid");
        catalog.detect();
        catalog
    }

    #[test]
    fn resolve_by_alias_case_insensitive_and_version() {
        let catalog = shell_catalog();
        let rt = catalog.get("shell").expect("shell");
        assert!(rt.installed, "{:?}", rt.missing);
        assert_eq!(rt.version.as_deref(), Some("0.4.2"));
        for language in ["shell", "SHELL", "Posix", " dash "] {
            assert_eq!(catalog.resolve(language, None).expect(language).name, "shell");
        }
        for selector in ["*", "0.x", "0.4", "0.4.2", "^0.4", "~0.4.1", ">=0.1 <1"] {
            assert!(catalog.resolve("shell", Some(selector)).is_ok(), "{selector}");
        }
        let err = catalog.resolve("shell", Some("2.x")).expect_err("no 2.x");
        assert_eq!(err.to_string(), "shell 2.x is not available; installed: 0.4.2");
        let err = catalog.resolve("no-such-language", None).expect_err("unknown");
        assert_eq!(err.to_string(), "unknown language \"no-such-language\"");
        assert!(matches!(
            catalog.resolve("shell", Some("latest")),
            Err(ResolveError::BadSelector { .. })
        ));
    }

    #[test]
    fn plan_substitutes_placeholders_and_appends_args() {
        let catalog = shell_catalog();
        let rt = catalog.get("shell").expect("shell");
        assert_eq!(rt.binds, vec![PathBuf::from("/tmp")]);
        let args = vec!["a b".to_owned(), "$HOME; rm -rf /".to_owned()];
        let plan = rt.plan("Prog.sh", &args).expect("plan");
        let env = vec![
            ("LANG".to_owned(), "C.UTF-8".to_owned()),
            ("PATH".to_owned(), "/bin".to_owned()),
            ("SHELL_HOME".to_owned(), "/tmp/home".to_owned()),
        ];
        assert_eq!(
            plan.compile,
            Some(Command {
                argv: vec!["/bin/sh".into(), "-n".into(), "Prog.sh".into()],
                env: env.clone()
            })
        );
        assert_eq!(
            plan.run,
            Command {
                argv: [
                    "/bin/sh",
                    "-e",
                    "Prog.sh",
                    "--stem=Prog",
                    "{literal}",
                    "a b",
                    "$HOME; rm -rf /"
                ]
                .map(String::from)
                .to_vec(),
                env,
            }
        );
        assert_eq!(rt.limits().run.defaults.memory_mib, 64);
    }

    #[test]
    fn plan_rejects_bad_main_files_and_args() {
        let catalog = shell_catalog();
        let rt = catalog.get("shell").expect("shell");
        for bad in ["", "/etc/passwd", "../x.sh", "a/../../x", "x\0y", "-e"] {
            assert!(
                matches!(rt.plan(bad, &[]), Err(PlanError::BadMainFile { .. })),
                "{bad:?}"
            );
        }
        let err = rt
            .plan("main.sh", &["ok".to_owned(), "a\0b".to_owned()])
            .expect_err("nul");
        assert!(matches!(err, PlanError::NulInArgument { index: 1 }), "{err}");
        assert_eq!(
            rt.plan("dir/main.sh", &[]).expect("subdir ok").run.argv[3],
            "--stem=main"
        );
    }

    #[test]
    fn compiled_languages_compile_every_source_file() {
        let catalog = Catalog::embedded().expect("embedded");
        let compile = |language: &str, files: &[&str]| {
            let rt = catalog.get(language).expect(language);
            rt.plan_files(files, &[]).expect("plan").compile.expect("compiled").argv
        };
        let c = compile("c", &["main.c", "add.h", "add.c", "-o", "input.txt"]);
        assert!(c.ends_with(&["main.c".into(), "add.c".into(), "-lm".into()]), "{c:?}");
        let cpp = compile("c++", &["main.cpp", "add.hpp", "add.cpp", "util.cc"]);
        assert!(
            cpp.ends_with(&["main.cpp".into(), "add.cpp".into(), "util.cc".into()]),
            "{cpp:?}"
        );
        let java = compile("java", &["Main.java", "Util.java", "data.txt"]);
        assert!(java.ends_with(&["Main.java".into(), "Util.java".into()]), "{java:?}");
    }

    /// A compiled runtime that passes every `*.c` and the file `extra.s` besides the main file.
    fn sources_runtime() -> Catalog {
        let text = SHELL
            .replace(
                "compile = [\"{shell}\", \"-n\", \"{file}\"]",
                "compile = [\"{shell}\", \"-o\", \"main\", \"{sources}\", \"-lm\"]\nsources = [\"*.c\", \"extra.s\"]",
            )
            .replace("file = \"main.sh\"", "file = \"main.c\"");
        let mut catalog = Catalog::from_files([("shell.toml", text)]).expect("valid");
        catalog.detect();
        catalog
    }

    #[test]
    fn sources_expand_to_the_main_file_then_every_matching_file() {
        let catalog = sources_runtime();
        let rt = catalog.get("shell").expect("shell");
        let compile = |files: &[&str]| rt.plan_files(files, &[]).expect("plan").compile.expect("compiled").argv;
        let tail = |argv: Vec<String>| argv[3..argv.len() - 1].to_vec();
        // The main file first even when it comes later in the order it matches; headers, data
        // and a second copy of a name are not passed; subdirectories are matched by file name.
        assert_eq!(
            tail(compile(&[
                "main.c",
                "add.h",
                "lib/add.c",
                "notes.txt",
                "extra.s",
                "z.c",
                "lib/add.c",
                "./z.c",
                "lib//add.c",
            ])),
            ["main.c", "lib/add.c", "extra.s", "z.c"]
        );
        assert_eq!(tail(compile(&["prog.c"])), ["prog.c"]);
        assert_eq!(
            rt.plan("main.c", &[]).expect("plan").compile.expect("compiled").argv,
            ["/bin/sh", "-o", "main", "main.c", "-lm"],
            "plan is the main file alone"
        );
        // A name from a request never becomes an option or a response file.
        assert_eq!(
            tail(compile(&[
                "main.c",
                "-o.c",
                "-fplugin=evil.c",
                "@opts.c",
                "+x.c",
                " a.c",
                "été.c",
                "_u.c",
                ".h.c"
            ])),
            [
                "main.c",
                "./-o.c",
                "./-fplugin=evil.c",
                "./@opts.c",
                "./+x.c",
                "./ a.c",
                "été.c",
                "_u.c",
                ".h.c"
            ]
        );
        // The main file itself may not look like one.
        for bad in ["-o.c", "@opts.c"] {
            assert!(
                matches!(rt.plan_files(&[bad, "main.c"], &[]), Err(PlanError::BadMainFile { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            rt.plan_files::<&str>(&[], &[]),
            Err(PlanError::BadMainFile { .. })
        ));
    }

    #[test]
    fn sources_and_its_placeholder_go_together() {
        let with_sources = |compile: &str, sources: &str| {
            let text = SHELL.replace(
                "compile = [\"{shell}\", \"-n\", \"{file}\"]",
                &format!("compile = {compile}\n{sources}"),
            );
            Catalog::from_files([("bad.toml", text)])
                .map(|_| ())
                .map_err(|e| chain(&e))
        };
        assert_eq!(
            with_sources(r#"["{shell}", "{sources}"]"#, r#"sources = ["*.c"]"#),
            Ok(())
        );
        let cases = [
            (r#"["{shell}", "{sources}"]"#, "", "list the names of source files"),
            (
                r#"["{shell}", "{file}"]"#,
                r#"sources = ["*.c"]"#,
                "neither compile nor run uses {sources}",
            ),
            (
                r#"["{shell}", "-I{sources}"]"#,
                r#"sources = ["*.c"]"#,
                "whole argument of its own",
            ),
            (
                r#"["{shell}", "{sources}"]"#,
                r#"sources = ["*.c*"]"#,
                "must be *SUFFIX",
            ),
            (
                r#"["{shell}", "{sources}"]"#,
                r#"sources = ["src/*.c"]"#,
                "must be *SUFFIX",
            ),
            (r#"["{shell}", "{sources}"]"#, r#"sources = ["*"]"#, "must be *SUFFIX"),
            (
                r#"["{shell}", "{sources}"]"#,
                r#"sources = ["a?.c"]"#,
                "must be *SUFFIX",
            ),
        ];
        for (compile, sources, want) in cases {
            let err = with_sources(compile, sources).expect_err(want);
            assert!(err.contains(want), "{err} should contain {want:?}");
        }
        let err = Catalog::from_files([(
            "bad.toml",
            SHELL.replace("binds = [\"{tmp}\"]", "binds = [\"{sources}\"]"),
        )])
        .expect_err("sources in binds");
        assert!(
            chain(&err).contains("only allowed in compile and run"),
            "{}",
            chain(&err)
        );
    }

    #[test]
    fn plan_before_detection_reports_the_unresolved_var() {
        let catalog = Catalog::from_files([("shell.toml", SHELL)]).expect("valid");
        let err = catalog
            .get("shell")
            .expect("shell")
            .plan("main.sh", &[])
            .expect_err("not detected");
        assert!(matches!(err, PlanError::Unresolved { .. }), "{err}");
    }

    #[test]
    fn missing_toolchain_is_not_installed_with_a_reason() {
        let dir = tempfile::tempdir().expect("temp dir");
        write(dir.path(), "no-such-language.toml", FAKE);
        let mut catalog = Catalog::load(Some(dir.path())).expect("valid");
        catalog.detect();
        let rt = catalog.get("NSL").expect("found by its alias");
        assert!(!rt.installed);
        assert_eq!(rt.version, None);
        assert_eq!(rt.missing.as_deref(), Some("/nonexistent/bin/nslc does not exist"));
        let err = catalog
            .resolve("no-such-language", Some("*"))
            .expect_err("not installed");
        assert_eq!(
            err.to_string(),
            "no-such-language is not installed on this server: an operator installs it with `tiderun runtimes install no-such-language`"
        );
    }

    #[test]
    fn failing_var_and_detect_commands_are_reasons() {
        let broken_var = SHELL.replace("tmp = [\"/bin/sh\", \"-c\", \"echo /tmp\"]", "tmp = [\"/bin/false\"]");
        let broken_detect = SHELL.replace("echo 'shell 0.4.2-fake'", "echo boom >&2; exit 3");
        let missing_bind = SHELL.replace("binds = [\"{tmp}\"]", "binds = [\"/nonexistent/share\"]");
        let cases = [
            (broken_var, "vars.tmp: `/bin/false` failed"),
            (broken_detect, "failed (exit status: 3): boom"),
            (missing_bind, "bind /nonexistent/share does not exist"),
        ];
        for (text, want) in cases {
            let mut catalog = Catalog::from_files([("shell.toml", text)]).expect("valid");
            catalog.detect();
            let rt = catalog.get("shell").expect("shell");
            assert!(!rt.installed);
            let reason = rt.missing.as_deref().unwrap_or_default();
            assert!(reason.contains(want), "{reason:?} should contain {want:?}");
        }
    }

    #[test]
    fn a_fork_server_must_name_an_absolute_program() {
        let with = |argv: &str| format!("{FAKE}[warm]\nfork_server = {argv}\n");
        let err = parse_runtime(
            Path::new("no-such-language.toml"),
            &with(r#"["python3", "-c", "pass"]"#),
        )
        .expect_err("a relative program is refused");
        assert!(chain(&err).contains("warm.fork_server"), "{}", chain(&err));
        let rt = parse_runtime(
            Path::new("no-such-language.toml"),
            &with(r#"["/usr/bin/python3", "-c", "pass"]"#),
        )
        .expect("an absolute program is taken");
        assert_eq!(
            rt.warm.fork_server.as_deref().map(|a| a[0].as_str()),
            Some("/usr/bin/python3")
        );
    }

    #[test]
    fn python_declares_a_fork_server() {
        let catalog = Catalog::embedded().expect("the embedded catalog loads");
        let python = catalog.iter().find(|r| r.name == "python").expect("python");
        assert!(python.warm.fork_server.is_some());
    }
}
