//! Test cases: compile once, run each input in a fresh sandbox, compare with the expected
//! output, give a verdict per test and a score.
//!
//! Grading exists here once. Every API takes its verdicts, its score and its hidden-test rule
//! from this module and only renames them: the native run with tests and the exercises'
//! submit ([`Graded`]), and Judge0's `expected_output` ([`Verdict::judge`]).

use sandbox::Status;

use crate::{Outcome, StageOutcome};

/// Most test cases one job may carry.
pub const MAX_TESTS: usize = 64;

/// One test case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCase {
    pub name: Option<String>,
    pub stdin: Vec<u8>,
    pub expected_output: Vec<u8>,
    /// A hidden test's input, expected output and the program's output are never shown.
    pub hidden: bool,
    /// How its output is compared (the default: every API's rule).
    pub compare: Comparison,
}

/// How a test's output is compared with the expected output. The default is the rule of every
/// API (Judge0's): trailing whitespace of each line and trailing blank lines do not count. An
/// exercise may choose otherwise (its `[grading]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    /// False: every byte counts (exact text).
    pub ignore_trailing_whitespace: bool,
    /// Letters compare without case (ASCII and Unicode simple case folding).
    pub ignore_case: bool,
    /// Words that are numbers on both sides match when they differ by at most this much
    /// (absolute); the lines are then compared word by word, whatever the spaces between.
    pub numeric_tolerance: Option<f64>,
}

impl Default for Comparison {
    fn default() -> Self {
        Comparison {
            ignore_trailing_whitespace: true,
            ignore_case: false,
            numeric_tolerance: None,
        }
    }
}

// A tolerance is a finite number (an exercise's is checked when it is read), so equality is
// reflexive.
impl Eq for Comparison {}

impl Comparison {
    /// Whether `actual` is what was `expected`, under this rule.
    pub fn matches(&self, expected: &[u8], actual: &[u8]) -> bool {
        if !self.ignore_trailing_whitespace {
            return self.same_text(expected, actual);
        }
        let (expected, actual): (Vec<&[u8]>, Vec<&[u8]>) =
            (normalized(expected).collect(), normalized(actual).collect());
        expected.len() == actual.len()
            && expected.iter().zip(&actual).all(|(e, a)| match self.numeric_tolerance {
                Some(tolerance) => self.same_words(e, a, tolerance),
                None => self.same_text(e, a),
            })
    }

    fn same_text(&self, expected: &[u8], actual: &[u8]) -> bool {
        if !self.ignore_case {
            return expected == actual;
        }
        let fold = |b: &[u8]| String::from_utf8_lossy(b).to_lowercase();
        fold(expected) == fold(actual)
    }

    /// Word by word: numbers within `tolerance`, other words as text.
    fn same_words(&self, expected: &[u8], actual: &[u8], tolerance: f64) -> bool {
        let words = |b: &[u8]| {
            b.split(u8::is_ascii_whitespace)
                .filter(|w| !w.is_empty())
                .map(<[u8]>::to_vec)
                .collect::<Vec<_>>()
        };
        let number = |w: &[u8]| {
            std::str::from_utf8(w)
                .ok()
                .and_then(|t| t.parse::<f64>().ok())
                .filter(|n| n.is_finite())
        };
        let (expected, actual) = (words(expected), words(actual));
        expected.len() == actual.len()
            && expected.iter().zip(&actual).all(|(e, a)| match (number(e), number(a)) {
                (Some(e), Some(a)) => (e - a).abs() <= tolerance,
                _ => self.same_text(e, a),
            })
    }
}

/// The verdict of one test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    WrongAnswer,
    /// The run did not end normally (time_limit, runtime_error, ...), or — `compile_error` —
    /// there was nothing to run.
    Failed(Status),
}

impl Verdict {
    /// The verdict of a run that ended with `status` and printed `output`: how it ended, and
    /// for a run that ended ok, whether `output` is what was `expected` (trailing whitespace
    /// of each line and trailing blank lines do not count). With nothing expected (Judge0
    /// without `expected_output`), a run that ended ok is accepted.
    pub fn judge(status: Status, output: &[u8], expected: Option<&[u8]>) -> Verdict {
        match (status, expected) {
            (Status::Ok, Some(expected)) if !outputs_match(expected, output) => Verdict::WrongAnswer,
            (Status::Ok, _) => Verdict::Accepted,
            (other, _) => Verdict::Failed(other),
        }
    }

    /// The name of the verdict: `accepted`, `wrong_answer`, or the status's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Accepted => "accepted",
            Verdict::WrongAnswer => "wrong_answer",
            Verdict::Failed(status) => status.as_str(),
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of one test case. Made only here, so the hidden-test rule holds for every API:
/// a hidden test's run (its output, and with it anything of its input the program echoed) is
/// never in it, and neither its input nor its expected output ever is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestResult {
    name: Option<String>,
    hidden: bool,
    verdict: Verdict,
    run: Option<StageOutcome>,
}

impl TestResult {
    /// A test that ran: its verdict, and its run unless it is hidden. Every
    /// [`crate::Executor`]'s `execute_tests` judges with it, so the rule is kept once.
    pub fn judged(test: TestCase, run: StageOutcome) -> TestResult {
        let verdict = match run.status {
            Status::Ok if !test.compare.matches(&test.expected_output, &run.stdout) => Verdict::WrongAnswer,
            Status::Ok => Verdict::Accepted,
            other => Verdict::Failed(other),
        };
        TestResult {
            name: test.name,
            hidden: test.hidden,
            verdict,
            run: (!test.hidden).then_some(run),
        }
    }

    /// A test of a program that did not compile: nothing ran.
    pub(crate) fn not_compiled(test: TestCase) -> TestResult {
        TestResult {
            name: test.name,
            hidden: test.hidden,
            verdict: Verdict::Failed(Status::CompileError),
            run: None,
        }
    }

    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub fn hidden(&self) -> bool {
        self.hidden
    }

    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// The run (output, time, memory); `None` for a hidden test and after a compile error.
    pub fn run(&self) -> Option<&StageOutcome> {
        self.run.as_ref()
    }

    /// The label, whether hidden, the verdict and the run, to be rendered by an API.
    pub fn into_parts(self) -> (Option<String>, bool, Verdict, Option<StageOutcome>) {
        (self.name, self.hidden, self.verdict, self.run)
    }
}

/// A job graded against its test cases.
#[derive(Debug, Clone, Default)]
pub struct Graded {
    /// The compile stage; the status is `ok` when the tests were judged (whatever their
    /// verdicts), `compile_error` when the program did not compile. No run stage.
    pub outcome: Outcome,
    /// One per test case, in the order given, after a compile error too (each `compile_error`).
    pub tests: Vec<TestResult>,
}

impl Graded {
    /// Grade a program that did not compile: every test `compile_error`.
    pub fn not_compiled(outcome: Outcome, tests: Vec<TestCase>) -> Graded {
        Graded {
            outcome,
            tests: tests.into_iter().map(TestResult::not_compiled).collect(),
        }
    }

    /// Tests accepted.
    pub fn passed(&self) -> usize {
        self.tests.iter().filter(|t| t.verdict == Verdict::Accepted).count()
    }

    /// Tests given.
    pub fn total(&self) -> usize {
        self.tests.len()
    }

    /// `passed / total`, a fraction from 0 to 1 (0 without tests).
    pub fn score(&self) -> f64 {
        match self.total() {
            0 => 0.0,
            total => self.passed() as f64 / total as f64,
        }
    }
}

/// Compare outputs the way Judge0 does: trailing whitespace of each line and trailing blank
/// lines do not count. Only [`Verdict::judge`] compares.
fn outputs_match(expected: &[u8], actual: &[u8]) -> bool {
    Comparison::default().matches(expected, actual)
}

fn normalized(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').map(|l| l.trim_ascii_end()).collect();
    let keep = lines.iter().rposition(|l| !l.is_empty()).map_or(0, |i| i + 1);
    lines.into_iter().take(keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_whitespace_and_blank_lines_do_not_count() {
        assert!(outputs_match(b"hello\nworld", b"hello  \nworld\n\n\n"));
        assert!(outputs_match(b"a\r\nb\r\n", b"a\nb"));
        assert!(outputs_match(b"", b"\n \n"));
        assert!(!outputs_match(b"a\nb", b"a\n\nb"));
        assert!(!outputs_match(b" a", b"a"), "leading whitespace counts");
        assert!(!outputs_match(b"1", b"2"));
    }

    fn run(status: Status, out: &str) -> StageOutcome {
        StageOutcome {
            status,
            stdout: out.as_bytes().to_vec(),
            ..Default::default()
        }
    }

    fn case(name: &str, expected: &str, hidden: bool) -> TestCase {
        TestCase {
            name: Some(name.into()),
            stdin: b"secret input".to_vec(),
            expected_output: expected.as_bytes().to_vec(),
            hidden,
            compare: Comparison::default(),
        }
    }

    #[test]
    fn exact_text_counts_every_byte() {
        let exact = Comparison {
            ignore_trailing_whitespace: false,
            ..Comparison::default()
        };
        assert!(exact.matches(b"a\nb\n", b"a\nb\n"));
        assert!(!exact.matches(b"a\nb\n", b"a\nb"), "the last newline counts");
        assert!(!exact.matches(b"a\n", b"a \n"), "a trailing space counts");
        assert!(!exact.matches(b"a\n", b"A\n"));
    }

    #[test]
    fn ignore_case_folds_letters_only() {
        let rule = Comparison {
            ignore_case: true,
            ..Comparison::default()
        };
        assert!(rule.matches(b"Hello, World\n", b"hello, WORLD  \n"));
        assert!(rule.matches("ÄÖ\n".as_bytes(), "äö\n".as_bytes()));
        assert!(!rule.matches(b"Hello\n", b"Hallo\n"));
        assert!(
            !Comparison::default().matches(b"Hello\n", b"hello\n"),
            "case counts by default"
        );
    }

    #[test]
    fn numbers_match_within_the_tolerance() {
        let rule = Comparison {
            numeric_tolerance: Some(0.001),
            ..Comparison::default()
        };
        assert!(rule.matches(b"3.14159 2\n", b"3.1414   2.0\n"));
        assert!(rule.matches(b"area: 1e3\n", b"area: 1000.0005\n"));
        assert!(!rule.matches(b"3.14159\n", b"3.14\n"), "off by more than the tolerance");
        assert!(!rule.matches(b"1 2\n", b"1 2 3\n"), "word count");
        assert!(
            !rule.matches(b"x 1\n", b"y 1\n"),
            "words that are not numbers compare as text"
        );
        assert!(!rule.matches(b"1\n2\n", b"1 2\n"), "lines stay lines");
        assert!(!rule.matches(b"1\n", b"nan\n"));
        let both = Comparison {
            ignore_case: true,
            ..rule
        };
        assert!(both.matches(b"Sum 3.0\n", b"SUM 3\n"));
    }

    #[test]
    fn a_test_is_judged_by_its_own_rule() {
        let mut test = case("t", "YES\n", false);
        assert_eq!(
            TestResult::judged(test.clone(), run(Status::Ok, "yes\n")).verdict(),
            Verdict::WrongAnswer
        );
        test.compare.ignore_case = true;
        assert_eq!(
            TestResult::judged(test.clone(), run(Status::Ok, "yes\n")).verdict(),
            Verdict::Accepted
        );
        assert_eq!(
            TestResult::judged(test, run(Status::RuntimeError, "yes\n")).verdict(),
            Verdict::Failed(Status::RuntimeError)
        );
    }

    #[test]
    fn verdicts() {
        let judge = |status, out: &str, expected: Option<&str>| {
            Verdict::judge(status, out.as_bytes(), expected.map(str::as_bytes))
        };
        assert_eq!(judge(Status::Ok, "3\n", Some("3")), Verdict::Accepted);
        assert_eq!(judge(Status::Ok, "4\n", Some("3")), Verdict::WrongAnswer);
        assert_eq!(judge(Status::Ok, "4\n", None), Verdict::Accepted, "nothing expected");
        assert_eq!(
            judge(Status::TimeLimit, "3", Some("3")),
            Verdict::Failed(Status::TimeLimit)
        );
        assert_eq!(Verdict::Failed(Status::TimeLimit).as_str(), "time_limit");
        assert_eq!(Verdict::WrongAnswer.to_string(), "wrong_answer");
        assert_eq!(Verdict::Accepted.as_str(), "accepted");
    }

    #[test]
    fn a_hidden_test_keeps_only_its_name_and_verdict() {
        let shown = TestResult::judged(case("seen", "hi", false), run(Status::Ok, "hi\n"));
        assert_eq!(shown.verdict(), Verdict::Accepted);
        assert_eq!(shown.run().map(|r| r.stdout.as_slice()), Some(&b"hi\n"[..]));
        let hidden = TestResult::judged(
            case("kept", "secret expected", true),
            run(Status::Ok, "secret program output"),
        );
        assert_eq!(hidden.verdict(), Verdict::WrongAnswer);
        assert!(hidden.run().is_none());
        assert_eq!((hidden.name(), hidden.hidden()), (Some("kept"), true));
        let shown = format!("{hidden:?}");
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn the_score_counts_every_test_after_a_compile_error_too() {
        let graded = Graded {
            outcome: Outcome::default(),
            tests: vec![
                TestResult::judged(case("a", "1", false), run(Status::Ok, "1")),
                TestResult::judged(case("b", "1", true), run(Status::Ok, "2")),
                TestResult::judged(case("c", "1", false), run(Status::TimeLimit, "1")),
                TestResult::judged(case("d", "1", true), run(Status::Ok, "1\n\n")),
            ],
        };
        assert_eq!((graded.passed(), graded.total(), graded.score()), (2, 4, 0.5));
        let failed = Graded::not_compiled(Outcome::default(), vec![case("a", "1", false), case("b", "1", true)]);
        assert_eq!((failed.passed(), failed.total(), failed.score()), (0, 2, 0.0));
        assert!(failed
            .tests
            .iter()
            .all(|t| t.verdict() == Verdict::Failed(Status::CompileError) && t.run().is_none()));
        assert_eq!(failed.tests[1].name(), Some("b"));
        assert_eq!(Graded::default().score(), 0.0);
    }
}
