//! The exercise as a teacher specifies it: a statement, starter code per language and test
//! cases (some hidden), as one TOML file per exercise in a directory (`DIR/<id>.toml`, read at
//! start-up) or posted as JSON through `POST /api/v1/exercises` (kept in the store).
//!
//! Both forms are the same [`Exercise`], checked once by [`Exercise::check`]: sizes within
//! named limits, starter languages known to the catalog (aliases become names), at least one
//! test. Neither HTTP (`native/exercise_routes.rs`) nor storage (the store's `exercises.rs`) is
//! here, and neither is grading: a submission becomes an ordinary run with tests (`native.rs`),
//! compared by the exercise's [`Grading`] rule (the engine's `Comparison`), its tests weighted
//! by their `weight`, run within the exercise's `[limits]`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use runtimes::Catalog;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Longest exercise id; ids are lower-case letters, digits, `-` and `_` (they appear in URLs
/// and file names).
pub const MAX_ID_BYTES: usize = store::MAX_EXERCISE_ID_BYTES;
/// Longest title (either language).
pub const MAX_TITLE_BYTES: usize = 200;
/// Longest statement (either language): a few pages of text.
pub const MAX_STATEMENT_BYTES: usize = 64 << 10;
/// Longest starter program: the same bound as a shared snippet.
pub const MAX_STARTER_BYTES: usize = store::MAX_SNIPPET_BYTES;
/// Longest test name.
pub const MAX_TEST_NAME_BYTES: usize = 100;
/// Most test cases: what one run with tests may carry.
pub const MAX_TESTS: usize = engine::MAX_TESTS;
/// Largest exercise as a whole (its JSON form, or its TOML file): what the store keeps.
pub const MAX_EXERCISE_BYTES: usize = store::MAX_EXERCISE_BYTES;
/// The largest weight of one test (points are whole numbers: a test worth more than a
/// thousand others is a mistake).
pub const MAX_TEST_WEIGHT: u32 = 1000;
/// The largest numeric tolerance: past it any two numbers of an answer are "equal".
pub const MAX_NUMERIC_TOLERANCE: f64 = 1e6;
/// Exercise files read from a directory: as many as the store may hold.
pub const MAX_DIR_EXERCISES: usize = store::MAX_STORED_EXERCISES as usize;

/// One exercise, as a teacher writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "id": "sum-two", "title": "Sum of two numbers", "title_zh": "两数之和",
    "statement": "Read two integers on one line and print their sum.",
    "starter": {"python": "a, b = map(int, input().split())\n"},
    "tests": [{"name": "small", "stdin": "1 2\n", "expected_output": "3\n"},
              {"stdin": "-5 3\n", "expected_output": "-2\n", "hidden": true}]
}))]
pub struct Exercise {
    /// 1 to 64 of `a-z 0-9 - _`, starting with a letter or digit. A file's id is its name
    /// without `.toml` (an `id` in the file must match it); required when posting.
    #[serde(default)]
    pub id: String,
    pub title: String,
    /// The title in Chinese, for the page's Chinese interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title_zh: Option<String>,
    /// Plain text or simple markdown.
    pub statement: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement_zh: Option<String>,
    /// Where the exercise comes in the list: lower first; exercises without one come after,
    /// then by title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<i64>,
    /// The languages a solution may be written in (names or aliases); absent or empty: every
    /// installed language.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub languages: Vec<String>,
    /// Starter code by language name or alias (`python`, `c`, `java`...).
    #[serde(default)]
    pub starter: BTreeMap<String, String>,
    /// Starter code for the page's Chinese interface (its comments translated), by language.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub starter_zh: BTreeMap<String, String>,
    /// At least one; the score is the fraction passed.
    #[schema(min_items = 1, max_items = 64)]
    pub tests: Vec<ExerciseTest>,
    /// How outputs are compared (`[grading]`); today's rule when absent.
    #[serde(default, skip_serializing_if = "Grading::is_default")]
    pub grading: Grading,
    /// Limits of each test's run (`[limits]`), within every accepted language's maxima (a
    /// value past one is refused); the language's defaults when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<ExerciseLimits>,
}

/// How an exercise's outputs are compared with the expected ones. The default is the rule of
/// every API: trailing whitespace of each line and trailing blank lines do not count, the rest
/// is exact text.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Grading {
    /// `false`: exact text, every byte counts (also a trailing space or the last newline).
    pub ignore_trailing_whitespace: bool,
    /// Letters compare without case (`YES` = `yes`).
    pub ignore_case: bool,
    /// Numbers match when they differ by at most this much (0 to 1e6); lines are then
    /// compared word by word, whatever the spaces between words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numeric_tolerance: Option<f64>,
}

impl Default for Grading {
    fn default() -> Self {
        let rule = engine::Comparison::default();
        Grading {
            ignore_trailing_whitespace: rule.ignore_trailing_whitespace,
            ignore_case: rule.ignore_case,
            numeric_tolerance: rule.numeric_tolerance,
        }
    }
}

// A tolerance is checked to be a finite number (`Exercise::check`), so equality is reflexive.
impl Eq for Grading {}

impl Grading {
    fn is_default(&self) -> bool {
        *self == Grading::default()
    }

    /// The engine's comparison of this rule.
    pub fn comparison(&self) -> engine::Comparison {
        engine::Comparison {
            ignore_trailing_whitespace: self.ignore_trailing_whitespace,
            ignore_case: self.ignore_case,
            numeric_tolerance: self.numeric_tolerance,
        }
    }
}

/// An exercise's limits for each test's run (absent: the language's default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExerciseLimits {
    /// CPU time, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_ms: Option<u64>,
    /// Wall-clock time, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_ms: Option<u64>,
    /// Memory, MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
}

/// One test case of an exercise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExerciseTest {
    /// Shown with the verdict; `test N` when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// The program's standard input.
    #[serde(default)]
    pub stdin: String,
    /// Compared with the program's output; trailing whitespace of each line and trailing
    /// blank lines do not count.
    pub expected_output: String,
    /// A student sees only whether a hidden test passed: not its input, expected output or
    /// the program's output.
    #[serde(default)]
    pub hidden: bool,
    /// Points for passing it (1 to 1000; 1 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
}

/// Why an exercise is refused: what is wrong, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Exercise {
    /// Check every limit and normalise: starter languages by their catalog names, every test
    /// named. The id must already be set.
    pub fn check(mut self, catalog: &Catalog) -> Result<Exercise, Invalid> {
        let bad = |m: String| Err(Invalid(m));
        check_id(&self.id)?;
        for (field, text, max) in [
            ("title", Some(&self.title), MAX_TITLE_BYTES),
            ("title_zh", self.title_zh.as_ref(), MAX_TITLE_BYTES),
            ("statement", Some(&self.statement), MAX_STATEMENT_BYTES),
            ("statement_zh", self.statement_zh.as_ref(), MAX_STATEMENT_BYTES),
        ] {
            match text {
                Some(t) if t.trim().is_empty() => return bad(format!("`{field}` is empty")),
                Some(t) if t.len() > max => {
                    return bad(format!("`{field}` is {} bytes, more than the limit of {max}", t.len()))
                }
                _ => {}
            }
        }
        let mut languages: Vec<String> = Vec::new();
        for language in std::mem::take(&mut self.languages) {
            let Some(runtime) = catalog.get(&language) else {
                return bad(format!("languages: unknown language {language:?}"));
            };
            if !languages.contains(&runtime.name) {
                languages.push(runtime.name.clone());
            }
        }
        self.languages = languages;
        let starter = std::mem::take(&mut self.starter);
        self.starter = self.check_starters("starter", starter, catalog)?;
        let starter_zh = std::mem::take(&mut self.starter_zh);
        self.starter_zh = self.check_starters("starter_zh", starter_zh, catalog)?;
        if self.tests.is_empty() {
            return bad("`tests` is empty: give at least one test".into());
        }
        if self.tests.len() > MAX_TESTS {
            return bad(format!(
                "{} tests is more than the limit of {MAX_TESTS}",
                self.tests.len()
            ));
        }
        for (i, test) in self.tests.iter_mut().enumerate() {
            match test.name.as_deref().map(str::trim) {
                None | Some("") => test.name = Some(format!("test {}", i + 1)),
                Some(name) if name.len() > MAX_TEST_NAME_BYTES => {
                    return bad(format!(
                        "tests[{i}].name is {} bytes, more than the limit of {MAX_TEST_NAME_BYTES}",
                        name.len()
                    ))
                }
                Some(_) => {}
            }
        }
        for (i, test) in self.tests.iter().enumerate() {
            if let Some(w) = test.weight {
                if w == 0 || w > MAX_TEST_WEIGHT {
                    return bad(format!("tests[{i}].weight is {w}: it must be 1 to {MAX_TEST_WEIGHT}"));
                }
            }
        }
        if let Some(t) = self.grading.numeric_tolerance {
            if !(0.0..=MAX_NUMERIC_TOLERANCE).contains(&t) {
                return bad(format!(
                    "grading.numeric_tolerance is {t}: it must be a number from 0 to {MAX_NUMERIC_TOLERANCE}"
                ));
            }
        }
        if let Some(limits) = self.limits {
            for (field, value) in [
                ("cpu_ms", limits.cpu_ms),
                ("wall_ms", limits.wall_ms),
                ("memory_mb", limits.memory_mb),
            ] {
                if value == Some(0) {
                    return bad(format!("limits.{field} is 0: leave it out for the language's default"));
                }
            }
            // Within the maxima of the languages it names, as a submission's run is checked: a
            // value past one would refuse every submission in that language. An exercise for
            // every language is refused only when no installed language could run it, so that
            // installing a language with lower maxima never stops a directory from loading
            // (a submission in that one is refused with the same message).
            let asked = engine::PhaseRequest {
                cpu_ms: limits.cpu_ms,
                wall_ms: limits.wall_ms,
                memory_mib: limits.memory_mb,
                ..Default::default()
            };
            let runtimes: Vec<_> = self
                .accepted_languages(catalog)
                .iter()
                .filter_map(|language| catalog.get(language))
                .collect();
            let refused: Vec<String> = runtimes
                .iter()
                .filter_map(|rt| {
                    let e = asked.resolve(&rt.limits().run, engine::Phase::Run).err()?;
                    Some(format!("limits: {e} for {}", rt.display_name))
                })
                .collect();
            let every_language = self.languages.is_empty();
            if let Some(first) = refused.first() {
                if !every_language || refused.len() == runtimes.len() {
                    return bad(first.clone());
                }
            }
        }
        let size = self.to_json().len();
        if size > MAX_EXERCISE_BYTES {
            return bad(format!(
                "the exercise is {size} bytes, more than the limit of {MAX_EXERCISE_BYTES}"
            ));
        }
        Ok(self)
    }

    /// The exercise as JSON text (how the store keeps it).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an exercise is plain data and always serializes")
    }

    /// Starter programs by catalog name, each within the limit, each for a language the
    /// exercise accepts.
    fn check_starters(
        &self,
        field: &str,
        starters: BTreeMap<String, String>,
        catalog: &Catalog,
    ) -> Result<BTreeMap<String, String>, Invalid> {
        let bad = |m: String| Err(Invalid(m));
        let mut out = BTreeMap::new();
        for (language, code) in starters {
            let Some(runtime) = catalog.get(&language) else {
                return bad(format!("{field}.{language}: unknown language {language:?}"));
            };
            if code.len() > MAX_STARTER_BYTES {
                return bad(format!(
                    "{field}.{language} is {} bytes, more than the limit of {MAX_STARTER_BYTES}",
                    code.len()
                ));
            }
            if !self.accepts(&runtime.name) {
                return bad(format!(
                    "{field}.{language}: {} is not one of the exercise's `languages`",
                    runtime.name
                ));
            }
            if out.insert(runtime.name.clone(), code).is_some() {
                return bad(format!("{field}.{language}: {} has two starters", runtime.name));
            }
        }
        Ok(out)
    }

    /// Whether a solution may be written in `language` (a catalog name).
    pub fn accepts(&self, language: &str) -> bool {
        self.languages.is_empty() || self.languages.iter().any(|l| l == language)
    }

    /// The languages a solution may be written in, by name: the exercise's `languages`, else
    /// every installed language of `catalog` (those with starter code first).
    pub fn accepted_languages(&self, catalog: &Catalog) -> Vec<String> {
        if !self.languages.is_empty() {
            return self.languages.clone();
        }
        let installed = catalog.iter().filter(|r| r.installed).map(|r| r.name.clone());
        let (mut with_starter, others): (Vec<String>, Vec<String>) =
            installed.partition(|name| self.starter.contains_key(name));
        with_starter.extend(others);
        with_starter
    }

    /// Points earned and the most there are, for the verdicts of its tests in order (accepted
    /// or not): each test is worth its weight.
    pub fn points(&self, accepted: impl IntoIterator<Item = bool>) -> (u32, u32) {
        let weights = self.tests.iter().map(|t| t.weight.unwrap_or(1));
        weights
            .zip(accepted)
            .fold((0, 0), |(got, max), (w, ok)| (got + if ok { w } else { 0 }, max + w))
    }
}

/// Ids appear in URLs and file names: a small alphabet, no case games.
pub fn check_id(id: &str) -> Result<(), Invalid> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_BYTES
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && id.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(Invalid(format!(
            "exercise id {id:?} is not allowed: use 1 to {MAX_ID_BYTES} of a-z, 0-9, - and _, starting with a letter or digit"
        )))
    }
}

/// The exercises of a teacher's directory, by id.
#[derive(Debug, Clone, Default)]
pub struct ExerciseDir {
    pub exercises: BTreeMap<String, Exercise>,
    /// Where they were read from, for messages.
    pub path: Option<PathBuf>,
}

/// A directory that cannot be used: start-up stops with this message.
#[derive(Debug, thiserror::Error)]
pub enum DirError {
    #[error("cannot read the exercises directory {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the exercises directory {path} has more than {MAX_DIR_EXERCISES} exercise files")]
    TooMany { path: PathBuf },
    #[error("exercise file {path} is {size} bytes, more than the limit of {MAX_EXERCISE_BYTES}")]
    TooLarge { path: PathBuf, size: u64 },
    #[error("exercise file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl ExerciseDir {
    /// Read every `*.toml` of `dir` (other files, such as a README, are left alone). Any bad
    /// file stops the load with a message naming it: a teacher hears about a typo at start-up,
    /// not from a student.
    pub fn load(dir: &Path, catalog: &Catalog) -> Result<ExerciseDir, DirError> {
        let read = |source| DirError::Read {
            path: dir.to_owned(),
            source,
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(read)? {
            let path = entry.map_err(read)?.path();
            if path.extension().is_some_and(|e| e == "toml") {
                if files.len() == MAX_DIR_EXERCISES {
                    return Err(DirError::TooMany { path: dir.to_owned() });
                }
                files.push(path);
            }
        }
        files.sort();
        let mut exercises = BTreeMap::new();
        for path in files {
            let exercise = load_file(&path, catalog)?;
            exercises.insert(exercise.id.clone(), exercise);
        }
        Ok(ExerciseDir {
            exercises,
            path: Some(dir.to_owned()),
        })
    }

    pub fn get(&self, id: &str) -> Option<&Exercise> {
        self.exercises.get(id)
    }
}

fn load_file(path: &Path, catalog: &Catalog) -> Result<Exercise, DirError> {
    let invalid = |message: String| DirError::Invalid {
        path: path.to_owned(),
        message,
    };
    let read = |source| DirError::Read {
        path: path.to_owned(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read)?.len();
    if size > MAX_EXERCISE_BYTES as u64 {
        return Err(DirError::TooLarge {
            path: path.to_owned(),
            size,
        });
    }
    let text = std::fs::read_to_string(path).map_err(read)?;
    let mut exercise: Exercise = toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        match line {
            Some(line) => invalid(format!("line {line}: {}", e.message())),
            None => invalid(e.message().to_string()),
        }
    })?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or_else(|| invalid("the file name is not UTF-8".into()))?;
    if !exercise.id.is_empty() && exercise.id != stem {
        return Err(invalid(format!(
            "id {:?} differs from the file name; leave `id` out or name the file {}.toml",
            exercise.id, exercise.id
        )));
    }
    exercise.id = stem.to_owned();
    exercise.check(catalog).map_err(|e| invalid(e.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::load(None).expect("embedded catalog")
    }

    fn exercise() -> Exercise {
        Exercise {
            id: "sum".into(),
            title: "Sum".into(),
            title_zh: Some("求和".into()),
            statement: "Add.".into(),
            statement_zh: None,
            order: None,
            languages: Vec::new(),
            starter: BTreeMap::from([("py".into(), "print()".into())]),
            starter_zh: BTreeMap::new(),
            tests: vec![
                ExerciseTest {
                    name: Some("small".into()),
                    stdin: "1 2".into(),
                    expected_output: "3".into(),
                    hidden: false,
                    weight: None,
                },
                ExerciseTest {
                    name: None,
                    stdin: String::new(),
                    expected_output: "0".into(),
                    hidden: true,
                    weight: None,
                },
            ],
            grading: Grading::default(),
            limits: None,
        }
    }

    #[test]
    fn grading_options_are_read_checked_and_passed_on() {
        let toml = r#"
            title = "Area"
            statement = "Print the area."
            [grading]
            ignore_case = true
            numeric_tolerance = 0.01
            [limits]
            cpu_ms = 500
            [[tests]]
            expected_output = "3.14"
            weight = 3
            [[tests]]
            expected_output = "1"
        "#;
        let e: Exercise = toml::from_str(toml).unwrap();
        let e = Exercise { id: "area".into(), ..e }.check(&catalog()).unwrap();
        let rule = e.grading.comparison();
        assert!(rule.ignore_case && rule.ignore_trailing_whitespace);
        assert_eq!(rule.numeric_tolerance, Some(0.01));
        assert_eq!(e.limits.and_then(|l| l.cpu_ms), Some(500));
        assert_eq!(e.points([true, false]), (3, 4));
        assert_eq!(e.points([false, true]), (1, 4));
        // Kept through the store's JSON; the default rule is not written out.
        let back: Exercise = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(back, e);
        assert!(!exercise().to_json().contains("grading"));
        assert_eq!(exercise().grading.comparison(), engine::Comparison::default());

        let strict: Grading = toml::from_str("ignore_trailing_whitespace = false").unwrap();
        assert!(!strict.comparison().ignore_trailing_whitespace);
        let bad = |edit: fn(&mut Exercise)| {
            let mut e = exercise();
            edit(&mut e);
            e.check(&catalog()).unwrap_err().0
        };
        assert!(bad(|e| e.tests[0].weight = Some(0)).contains("tests[0].weight is 0"));
        assert!(bad(|e| e.tests[1].weight = Some(MAX_TEST_WEIGHT + 1)).contains("must be 1 to 1000"));
        assert!(bad(|e| e.grading.numeric_tolerance = Some(-1.0)).contains("numeric_tolerance is -1"));
        assert!(bad(|e| e.grading.numeric_tolerance = Some(f64::NAN)).contains("numeric_tolerance"));
        assert!(bad(|e| e.limits = Some(ExerciseLimits {
            cpu_ms: Some(0),
            wall_ms: None,
            memory_mb: None
        }))
        .contains("limits.cpu_ms is 0"));
        let python_max = catalog().get("python").unwrap().limits().run.max;
        let past = |limits: ExerciseLimits| {
            let mut e = exercise();
            e.languages = vec!["python".into()];
            e.limits = Some(limits);
            e.check(&catalog()).map_err(|e| e.0)
        };
        let none = ExerciseLimits {
            cpu_ms: None,
            wall_ms: None,
            memory_mb: None,
        };
        assert_eq!(
            past(ExerciseLimits {
                memory_mb: Some(python_max.memory_mib + 1),
                ..none
            })
            .unwrap_err(),
            format!(
                "limits: memory_mb = {} is out of range (at most {}) for Python",
                python_max.memory_mib + 1,
                python_max.memory_mib
            )
        );
        assert!(past(ExerciseLimits {
            cpu_ms: Some(python_max.cpu_ms + 1),
            ..none
        })
        .unwrap_err()
        .contains("cpu_ms"));
        assert!(past(ExerciseLimits {
            wall_ms: Some(python_max.wall_ms + 1),
            ..none
        })
        .unwrap_err()
        .contains("wall_ms"));
        let at_max = ExerciseLimits {
            cpu_ms: Some(python_max.cpu_ms),
            wall_ms: Some(python_max.wall_ms),
            memory_mb: Some(python_max.memory_mib),
        };
        assert_eq!(past(at_max).unwrap().limits, Some(at_max));
        // Two installed languages, one with lower maxima: an exercise naming it is refused; one
        // for every language only when no language could run it.
        let runtime = |name: &str, run_max: &str| {
            format!(
                "name = \"{name}\"\ndisplay_name = \"{name}\"\nfile = \"x\"\nrun = [\"/bin/sh\", \"{{file}}\"]\n\
                 detect = [\"/bin/sh\", \"-c\", \"echo 1.0\"]\n{run_max}\n[example]\nhello = \"echo\"\necho = \"cat\"\nruntime_error = \"exit 1\"\n"
            )
        };
        let mut two = Catalog::from_files([
            ("small.toml", runtime("small", "[limits.run_max]\nmemory_mib = 512")),
            ("big.toml", runtime("big", "")),
        ])
        .expect("runtime files");
        two.detect();
        let with = |languages: &[&str], memory_mb: u64| {
            let mut e = exercise();
            e.starter.clear();
            e.starter_zh.clear();
            e.languages = languages.iter().map(|l| l.to_string()).collect();
            e.limits = Some(ExerciseLimits {
                memory_mb: Some(memory_mb),
                ..none
            });
            e.check(&two).map(|_| ()).map_err(|e| e.0)
        };
        assert_eq!(
            with(&["small"], 1024),
            Err("limits: memory_mb = 1024 is out of range (at most 512) for small".to_string())
        );
        assert_eq!(with(&["big"], 1024), Ok(()));
        assert_eq!(with(&[], 1024), Ok(()), "big can run it");
        assert!(with(&[], 4096).unwrap_err().contains("out of range"), "none can");
        assert!(
            toml::from_str::<Grading>("ignore_spaces = true").is_err(),
            "unknown options are refused"
        );
    }

    #[test]
    fn check_normalises_languages_and_test_names() {
        let e = exercise().check(&catalog()).unwrap();
        assert_eq!(e.starter.keys().collect::<Vec<_>>(), ["python"]);
        assert_eq!(e.tests[1].name.as_deref(), Some("test 2"));
    }

    #[test]
    fn languages_are_the_listed_ones_else_every_installed_one() {
        let mut c = catalog();
        c.detect();
        let any = exercise().check(&c).unwrap();
        let installed: Vec<String> = c.iter().filter(|r| r.installed).map(|r| r.name.clone()).collect();
        let accepted = any.accepted_languages(&c);
        assert_eq!(accepted.len(), installed.len(), "{accepted:?}");
        if installed.contains(&"python".to_owned()) {
            assert_eq!(accepted[0], "python", "the starter's language first");
        }
        assert!(any.accepts("java") && any.accepts("python"));

        let mut listed = exercise();
        listed.languages = vec!["py".into(), "c++".into(), "python3".into()];
        listed.starter_zh = BTreeMap::from([("cpp".into(), "// 你好".into())]);
        let listed = listed.check(&c).unwrap();
        assert_eq!(listed.languages, ["python", "c++"], "names, once each");
        assert_eq!(listed.accepted_languages(&c), ["python", "c++"]);
        assert!(listed.accepts("c++") && !listed.accepts("java"));
        assert_eq!(listed.starter_zh.keys().collect::<Vec<_>>(), ["c++"]);

        let err = |f: fn(&mut Exercise)| {
            let mut e = exercise();
            f(&mut e);
            e.check(&c).unwrap_err().0
        };
        assert_eq!(
            err(|e| e.languages = vec!["klingon".into()]),
            "languages: unknown language \"klingon\""
        );
        assert_eq!(
            err(|e| e.languages = vec!["c".into()]),
            "starter.py: python is not one of the exercise's `languages`"
        );
        assert!(err(|e| {
            e.starter_zh.insert("c".into(), "x".repeat(MAX_STARTER_BYTES + 1));
        })
        .starts_with("starter_zh.c is"));
    }

    #[test]
    fn check_names_what_is_wrong() {
        let c = catalog();
        let err = |f: fn(&mut Exercise)| {
            let mut e = exercise();
            f(&mut e);
            e.check(&c).unwrap_err().0
        };
        assert!(err(|e| e.id = "Sum".into()).contains("not allowed"));
        assert!(err(|e| e.id = "-x".into()).contains("not allowed"));
        assert!(err(|e| e.id = "a".repeat(MAX_ID_BYTES + 1)).contains("not allowed"));
        assert_eq!(err(|e| e.title = " ".into()), "`title` is empty");
        assert!(err(|e| e.title = "t".repeat(MAX_TITLE_BYTES + 1)).starts_with("`title` is 201 bytes"));
        assert!(err(|e| e.statement_zh = Some("x".repeat(MAX_STATEMENT_BYTES + 1))).starts_with("`statement_zh` is"));
        assert_eq!(
            err(|e| {
                e.starter.insert("no-such-language".into(), String::new());
            }),
            "starter.no-such-language: unknown language \"no-such-language\""
        );
        assert!(err(|e| {
            e.starter.insert("python".into(), String::new());
        })
        .contains("two starters"));
        assert!(err(|e| {
            e.starter.insert("c".into(), "x".repeat(MAX_STARTER_BYTES + 1));
        })
        .contains("more than the limit"));
        assert!(err(|e| e.tests.clear()).contains("at least one test"));
        assert!(err(|e| e.tests = vec![e.tests[0].clone(); MAX_TESTS + 1]).contains("more than the limit of 64"));
        assert!(err(|e| e.tests[0].name = Some("n".repeat(MAX_TEST_NAME_BYTES + 1))).starts_with("tests[0].name"));
        assert!(err(|e| e.tests[0].stdin = "1".repeat(MAX_EXERCISE_BYTES)).starts_with("the exercise is"));
        assert!(check_id("a").is_ok() && check_id("sum-two_2").is_ok() && check_id("").is_err());
    }

    #[test]
    fn a_directory_loads_its_toml_files_and_refuses_a_bad_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("README.md"), "not an exercise").unwrap();
        std::fs::write(
            dir.path().join("hello.toml"),
            "title = \"Hello\"\nstatement = \"Say hello.\"\n[starter]\npython = \"print()\"\n\
             [[tests]]\nexpected_output = \"hello\"\n",
        )
        .unwrap();
        let loaded = ExerciseDir::load(dir.path(), &catalog()).unwrap();
        assert_eq!(loaded.exercises.keys().collect::<Vec<_>>(), ["hello"]);
        assert_eq!(loaded.get("hello").unwrap().tests[0].name.as_deref(), Some("test 1"));

        std::fs::write(dir.path().join("typo.toml"), "title = \"T\"\nstatment = \"x\"\n").unwrap();
        let e = ExerciseDir::load(dir.path(), &catalog()).unwrap_err().to_string();
        assert!(e.contains("typo.toml: line 2: unknown field `statment`"), "{e}");
        std::fs::remove_file(dir.path().join("typo.toml")).unwrap();

        std::fs::write(
            dir.path().join("other.toml"),
            "id = \"else\"\ntitle = \"T\"\nstatement = \"x\"\n[[tests]]\nexpected_output = \"\"\n",
        )
        .unwrap();
        let e = ExerciseDir::load(dir.path(), &catalog()).unwrap_err().to_string();
        assert!(e.contains("differs from the file name"), "{e}");
        std::fs::remove_file(dir.path().join("other.toml")).unwrap();

        std::fs::write(
            dir.path().join("Upper.toml"),
            "title = \"T\"\nstatement = \"x\"\n[[tests]]\nexpected_output = \"\"\n",
        )
        .unwrap();
        let e = ExerciseDir::load(dir.path(), &catalog()).unwrap_err().to_string();
        assert!(
            e.contains("Upper.toml") && e.contains("\"Upper\" is not allowed"),
            "{e}"
        );
        std::fs::remove_file(dir.path().join("Upper.toml")).unwrap();

        let huge = format!("title = \"{}\"", "x".repeat(MAX_EXERCISE_BYTES));
        std::fs::write(dir.path().join("huge.toml"), huge).unwrap();
        let e = ExerciseDir::load(dir.path(), &catalog()).unwrap_err();
        assert!(matches!(e, DirError::TooLarge { .. }), "{e}");
        assert!(ExerciseDir::load(&dir.path().join("missing"), &catalog()).is_err());
    }

    #[test]
    fn a_directory_holds_a_bounded_number_of_exercises() {
        let dir = tempfile::tempdir().unwrap();
        let one = "title = \"T\"\nstatement = \"x\"\n[[tests]]\nexpected_output = \"\"\n";
        for i in 0..MAX_DIR_EXERCISES {
            std::fs::write(dir.path().join(format!("e{i}.toml")), one).unwrap();
        }
        assert_eq!(
            ExerciseDir::load(dir.path(), &catalog()).unwrap().exercises.len(),
            MAX_DIR_EXERCISES
        );
        std::fs::write(dir.path().join("one-more.toml"), one).unwrap();
        let e = ExerciseDir::load(dir.path(), &catalog()).unwrap_err();
        assert!(matches!(e, DirError::TooMany { .. }), "{e}");
    }

    #[test]
    fn the_shipped_exercises_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../exercises");
        let loaded = ExerciseDir::load(&dir, &catalog()).unwrap();
        assert!(loaded.exercises.len() >= 3, "{:?}", loaded.exercises.keys());
        for e in loaded.exercises.values() {
            assert!(
                e.title_zh.is_some() && e.statement_zh.is_some(),
                "{} is bilingual",
                e.id
            );
            assert!(e.tests.iter().any(|t| t.hidden), "{} has a hidden test", e.id);
            assert!(e.order.is_some(), "{} has its place in the list", e.id);
            for language in ["python", "c", "java", "javascript"] {
                assert!(e.starter.contains_key(language), "{} has a {language} starter", e.id);
            }
        }
    }
}
