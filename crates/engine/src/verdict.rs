//! Test cases: compile once, run each input in a fresh sandbox, compare with the expected
//! output, give a verdict per test and a score.

use sandbox::Status;
use serde::Serialize;

use crate::StageOutcome;

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
}

/// The verdict of one test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Accepted,
    WrongAnswer,
    /// The run did not end normally: its status (time_limit, runtime_error, ...).
    #[serde(untagged)]
    Failed(Status),
}

impl Verdict {
    /// Accepted when the run was ok and the output matches.
    pub fn of(run: &StageOutcome, expected: &[u8]) -> Verdict {
        match run.status {
            Status::Ok if outputs_match(expected, &run.stdout) => Verdict::Accepted,
            Status::Ok => Verdict::WrongAnswer,
            other => Verdict::Failed(other),
        }
    }
}

/// The result of one test case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TestResult {
    pub name: Option<String>,
    pub hidden: bool,
    pub verdict: Verdict,
    /// The run (stdout, time, memory); `None` for a hidden test.
    pub run: Option<StageOutcome>,
}

/// Compare outputs the way Judge0 does: trailing whitespace of each line and trailing blank
/// lines do not count.
pub fn outputs_match(expected: &[u8], actual: &[u8]) -> bool {
    normalized(expected).eq(normalized(actual))
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

    #[test]
    fn verdicts() {
        let run = |status, out: &str| StageOutcome {
            status,
            stdout: out.as_bytes().to_vec(),
            ..Default::default()
        };
        assert_eq!(Verdict::of(&run(Status::Ok, "3\n"), b"3"), Verdict::Accepted);
        assert_eq!(Verdict::of(&run(Status::Ok, "4\n"), b"3"), Verdict::WrongAnswer);
        assert_eq!(
            Verdict::of(&run(Status::TimeLimit, "3"), b"3"),
            Verdict::Failed(Status::TimeLimit)
        );
        assert_eq!(
            serde_json::to_string(&Verdict::Failed(Status::TimeLimit)).unwrap(),
            "\"time_limit\""
        );
        assert_eq!(
            serde_json::to_string(&Verdict::WrongAnswer).unwrap(),
            "\"wrong_answer\""
        );
    }
}
