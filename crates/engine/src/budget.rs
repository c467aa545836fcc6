//! What one request may cost the node beyond the limits of each of its runs: the output the
//! server holds for it, and the time it holds a run slot.
//!
//! Every run has its own caps (`max_output_bytes`, `wall_ms`), but a request with 64 tests or
//! 20 runs multiplies them: 64 tests printing 16 MiB of `\x01` each made a 6 GB answer (a
//! control character is six bytes of JSON, `\u0001`), and 64 tests of 60 s held a slot for an
//! hour. So a request has one output budget, counted as the JSON text its runs' stdout and
//! stderr become, and one wall time, counted from the moment it has a slot (its compile
//! included):
//!
//! - a run is started with its output cap and wall limit lowered to what the request has
//!   left (only when less is left: otherwise it keeps its own, and its warm instance); a
//!   compile keeps its own limits (they are part of its build's cache key), but its time and
//!   output count;
//! - a run whose output passes what is left is cut there and ends `output_limit`; a run cut
//!   short by the request's time ends `wall_time_limit`; the message names the request's limit;
//! - once the budget or the time is used up, the tests and runs not started yet are not run:
//!   each gets `output_limit` or `wall_time_limit` with a message that starts with `not run:`.
//!
//! The memory this costs the server is reserved in the node's memory budget (the one warm and
//! running instances share) for as long as the request's [`OutputHold`] lives: the engine's
//! copies of the output and the rendered answer until it is sent.

use std::sync::Arc;
use std::time::{Duration, Instant};

use runtimes::LimitSet;
use sandbox::Status;

use crate::{Bound, EngineError, Limit, LimitHit, Phase, StageOutcome};

/// Output one request may make the server hold, as JSON text. Twice the largest output a
/// single run may ask for (16 MiB), so such a run of plain text comes back whole; 64 tests of a
/// classroom exercise print a few KiB each.
pub const DEFAULT_REQUEST_OUTPUT_BYTES: u64 = 32 << 20;
/// The smallest budget an operator may set: one run at the default output cap (1 MiB).
pub const MIN_REQUEST_OUTPUT_BYTES: u64 = 1 << 20;
/// The largest: an answer of a GiB is no longer read by a browser or a grader, and four of
/// them would take the memory of a typical node.
pub const MAX_REQUEST_OUTPUT_BYTES: u64 = 1 << 30;
/// How long one request may hold a run slot, its compile included: one compile and one run,
/// each at the longest wall time a request may ask for (60 s each).
pub const DEFAULT_REQUEST_WALL: Duration =
    Duration::from_millis(runtimes::CEILING_COMPILE_WALL_MS + runtimes::CEILING_RUN_WALL_MS);
/// The shortest an operator may set.
pub const MIN_REQUEST_WALL: Duration = Duration::from_secs(1);
/// The longest: past an hour, one request is a batch job, not a classroom run.
pub const MAX_REQUEST_WALL: Duration = Duration::from_secs(3600);

/// Bytes of server memory reserved per byte of output budget. While the runs go, the engine
/// keeps each stream and the two interleaved (`output`, Piston's), at most twice the raw
/// bytes, and raw bytes never outnumber their JSON text. Rendering adds the text as a string
/// (invalid UTF-8 is replaced, at most the text's size) and the answer's buffer (grown by
/// doubling: up to twice the text). Those never all live at once; four covers the worst
/// moment with room for the answer's other fields.
pub(crate) const HELD_PER_BUDGET_BYTE: u64 = 4;
/// The most JSON text one raw byte becomes: a control character is `\u0001`.
const MAX_TEXT_PER_BYTE: u64 = 6;
/// JSON text of one byte that is not UTF-8: it is shown as U+FFFD, three bytes.
const REPLACEMENT_BYTES: u64 = 3;
/// Every message of a stage the request's limits ended (or did not start) says this.
const REQUEST_MARK: &str = "this request";

/// Per-request limits of an engine, set by the operator (`tiderun serve --request-output-mb`,
/// `--request-wall-s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    /// Output of all runs of one request together, as JSON text (stdout and stderr).
    pub output_bytes: u64,
    /// Compile and runs of one request together, from the moment it has a slot.
    pub wall: Duration,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            output_bytes: DEFAULT_REQUEST_OUTPUT_BYTES,
            wall: DEFAULT_REQUEST_WALL,
        }
    }
}

impl RequestLimits {
    /// Limits within their bounds; the error names the one that is not.
    pub fn new(output_bytes: u64, wall: Duration) -> Result<RequestLimits, EngineError> {
        let ms = |d: Duration| d.as_millis() as u64;
        if output_bytes < MIN_REQUEST_OUTPUT_BYTES {
            return Err(EngineError::limit(
                Limit::RequestOutputBytes,
                output_bytes,
                Bound::Min(MIN_REQUEST_OUTPUT_BYTES),
            ));
        }
        if output_bytes > MAX_REQUEST_OUTPUT_BYTES {
            return Err(EngineError::limit(
                Limit::RequestOutputBytes,
                output_bytes,
                Bound::Max(MAX_REQUEST_OUTPUT_BYTES),
            ));
        }
        if wall < MIN_REQUEST_WALL {
            return Err(EngineError::limit(
                Limit::RequestWallMs,
                ms(wall),
                Bound::Min(ms(MIN_REQUEST_WALL)),
            ));
        }
        if wall > MAX_REQUEST_WALL {
            return Err(EngineError::limit(
                Limit::RequestWallMs,
                ms(wall),
                Bound::Max(ms(MAX_REQUEST_WALL)),
            ));
        }
        Ok(RequestLimits { output_bytes, wall })
    }

    pub(crate) fn wall_ms(&self) -> u64 {
        self.wall.as_millis() as u64
    }

    /// A run that asks for more wall time than a whole request has can never get it: refused
    /// before anything runs. (A runtime's default past it is not the caller's doing: such a
    /// run is cut at the request's end like any other.)
    pub(crate) fn check_run_wall(&self, asked_ms: Option<u64>) -> Result<(), EngineError> {
        if let Some(wall_ms) = asked_ms.filter(|&ms| ms > self.wall_ms()) {
            return Err(EngineError::limit(
                Limit::WallMs(Phase::Run),
                wall_ms,
                Bound::RequestWall(self.wall_ms()),
            ));
        }
        Ok(())
    }

    /// The output budget of a request whose compile (if any) and `runs` runs have these
    /// output caps: at most the operator's (or `share` of it), and never more than the runs
    /// could print, so a small request reserves little of the node's memory.
    pub(crate) fn output_budget(&self, share: Option<u64>, compile_cap: u64, run_cap: u64, runs: usize) -> u64 {
        let most = (runs as u64)
            .saturating_mul(run_cap)
            .saturating_add(compile_cap)
            .saturating_mul(MAX_TEXT_PER_BYTE);
        share.map_or(self.output_bytes, |s| s.min(self.output_bytes)).min(most)
    }
}

/// Node memory reserved for what the server holds of one request's output; released when the
/// last clone is dropped. An [`crate::Outcome`] carries it, so an API can keep it until its
/// answer has been sent.
#[derive(Clone, Default)]
pub struct OutputHold(Option<Arc<crate::pool::Flight>>);

impl OutputHold {
    pub(crate) fn new(flight: crate::pool::Flight) -> OutputHold {
        OutputHold(Some(Arc::new(flight)))
    }

    /// Bytes of the node's memory budget it holds.
    pub fn bytes(&self) -> u64 {
        self.0.as_ref().map_or(0, |f| f.bytes())
    }
}

impl std::fmt::Debug for OutputHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OutputHold({} bytes)", self.bytes())
    }
}

/// Holds are not part of what an outcome says.
impl PartialEq for OutputHold {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for OutputHold {}

impl StageOutcome {
    /// True when the request's output budget or wall time (not the run's own limits) ended
    /// this stage or kept it from starting; its message says which.
    pub fn ended_by_request(&self) -> bool {
        matches!(self.status, Status::OutputLimit | Status::WallTimeLimit)
            && self.message.as_deref().is_some_and(|m| m.contains(REQUEST_MARK))
    }
}

/// What one request has left while it runs.
#[derive(Debug)]
pub(crate) struct RequestBudget {
    output_bytes: u64,
    used: u64,
    /// A run was cut for the budget: nothing more runs.
    exhausted: bool,
    wall_ms: u64,
    deadline: Instant,
    hold: OutputHold,
}

/// Which of a run's limits the request lowered.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Lowered {
    output: bool,
    wall: bool,
}

impl RequestBudget {
    /// A request starting now.
    pub(crate) fn new(output_bytes: u64, wall_ms: u64, hold: OutputHold) -> RequestBudget {
        RequestBudget {
            output_bytes,
            used: 0,
            exhausted: false,
            wall_ms,
            deadline: Instant::now() + Duration::from_millis(wall_ms),
            hold,
        }
    }

    pub(crate) fn hold(&self) -> OutputHold {
        self.hold.clone()
    }

    fn room(&self) -> u64 {
        self.output_bytes.saturating_sub(self.used)
    }

    fn time_left_ms(&self) -> u64 {
        self.deadline.saturating_duration_since(Instant::now()).as_millis() as u64
    }

    /// The stage of a run the request has no room for, or `None` when it may start.
    pub(crate) fn not_run(&self) -> Option<StageOutcome> {
        let (status, message, limit) = if self.time_left_ms() == 0 {
            (
                Status::WallTimeLimit,
                format!(
                    "not run: this request used up its wall time of {} ms (compile and runs together)",
                    self.wall_ms
                ),
                self.wall_limit(),
            )
        } else if self.exhausted || self.room() == 0 {
            (
                Status::OutputLimit,
                format!(
                    "not run: this request's output reached its budget of {} bytes",
                    self.output_bytes
                ),
                self.output_limit(),
            )
        } else {
            return None;
        };
        Some(StageOutcome {
            status,
            message: Some(message),
            limit: Some(limit),
            ..StageOutcome::default()
        })
    }

    /// Lower a run's output cap and wall limit to what the request has left.
    pub(crate) fn fit(&self, limits: &mut LimitSet) -> Lowered {
        let mut lowered = Lowered::default();
        let room = self.room().max(1);
        if room < limits.max_output_bytes {
            limits.max_output_bytes = room;
            lowered.output = true;
        }
        let left = self.time_left_ms().max(1);
        if left < limits.wall_ms {
            limits.wall_ms = left;
            lowered.wall = true;
        }
        lowered
    }

    /// Count a stage's output against the budget; past it, the output is cut where the
    /// budget ends and the stage ends `output_limit`. Returns what the stage counts for (to
    /// give back with [`RequestBudget::give_back`] when its output is dropped).
    pub(crate) fn charge(&mut self, stage: &mut StageOutcome, lowered: Lowered) -> u64 {
        let room = self.room();
        let (out_len, out_cost) = fit_text(&stage.stdout, room);
        let (err_len, err_cost) = fit_text(&stage.stderr, room - out_cost);
        let cut = out_len < stage.stdout.len() || err_len < stage.stderr.len();
        let cut_by_cap = lowered.output && stage.status == Status::OutputLimit;
        if cut || cut_by_cap {
            stage.stdout.truncate(out_len);
            stage.stderr.truncate(err_len);
            stage.output.truncate(out_len + err_len);
            stage.status = Status::OutputLimit;
            stage.truncated = true;
            stage.limit = Some(self.output_limit());
            stage.message = Some(format!(
                "output exceeded this request's budget of {} bytes (stdout and stderr of all its runs, as JSON text)",
                self.output_bytes
            ));
            self.exhausted = true;
        } else if lowered.wall && stage.status == Status::WallTimeLimit {
            stage.limit = Some(self.wall_limit());
            stage.message = Some(format!(
                "wall time exceeded: this request may take {} ms (compile and runs together)",
                self.wall_ms
            ));
        }
        let cost = out_cost + err_cost;
        self.used += cost;
        cost
    }

    fn output_limit(&self) -> LimitHit {
        LimitHit {
            limit: Limit::RequestOutputBytes,
            value: self.output_bytes,
        }
    }

    fn wall_limit(&self) -> LimitHit {
        LimitHit {
            limit: Limit::RequestWallMs,
            value: self.wall_ms,
        }
    }

    /// A stage's output was dropped (a hidden test, once judged): the server no longer holds it.
    pub(crate) fn give_back(&mut self, cost: u64) {
        self.used = self.used.saturating_sub(cost);
    }
}

/// The longest prefix of `bytes` whose JSON text (as the APIs render it: UTF-8 with invalid
/// sequences replaced, then escaped) fits in `room`, cut between characters; its length and
/// the size of its text.
pub(crate) fn fit_text(bytes: &[u8], room: u64) -> (usize, u64) {
    let (mut len, mut cost) = (0usize, 0u64);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            let n = text_len(c);
            if cost + n > room {
                return (len, cost);
            }
            cost += n;
            len += c.len_utf8();
        }
        let invalid = chunk.invalid();
        if !invalid.is_empty() {
            // `String::from_utf8_lossy` puts one U+FFFD for each invalid sequence.
            if cost + REPLACEMENT_BYTES > room {
                return (len, cost);
            }
            cost += REPLACEMENT_BYTES;
            len += invalid.len();
        }
    }
    (len, cost)
}

/// The JSON text of one character, as serde_json writes it.
fn text_len(c: char) -> u64 {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(bytes: &[u8]) -> u64 {
        let s = String::from_utf8_lossy(bytes);
        let json = serde_json::to_string(&s).unwrap();
        json.len() as u64 - 2
    }

    #[test]
    fn the_count_is_the_json_text() {
        let samples: [&[u8]; 8] = [
            b"hello, world\n",
            b"\x01\x02\x1f\x7f",
            b"quote \" backslash \\ tab \t cr \r bs \x08 ff \x0c",
            "héllo wörld, 你好, 🎉".as_bytes(),
            b"\xff\xfe bad \xc3 cut \xe2\x82 end",
            b"\xf0\x9f\x8e",
            b"",
            &[0u8; 100],
        ];
        for s in samples {
            assert_eq!(fit_text(s, u64::MAX), (s.len(), text_of(s)), "{s:?}");
        }
    }

    #[test]
    fn a_cut_falls_between_characters_within_the_room() {
        let s = "aé\x01你".as_bytes();
        assert_eq!(fit_text(s, 0), (0, 0));
        assert_eq!(fit_text(s, 2), (1, 1));
        assert_eq!(fit_text(s, 3), (3, 3));
        assert_eq!(fit_text(s, 8), (3, 3), "the control character needs 6");
        assert_eq!(fit_text(s, 9), (4, 9));
        assert_eq!(fit_text(s, 11), (4, 9));
        assert_eq!(fit_text(s, 12), (7, 12));
    }

    #[test]
    fn limits_have_bounds() {
        assert!(RequestLimits::new(DEFAULT_REQUEST_OUTPUT_BYTES, DEFAULT_REQUEST_WALL).is_ok());
        let e = RequestLimits::new(MAX_REQUEST_OUTPUT_BYTES + 1, DEFAULT_REQUEST_WALL).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "request_output_bytes = {} is out of range (at most {MAX_REQUEST_OUTPUT_BYTES})",
                MAX_REQUEST_OUTPUT_BYTES + 1
            )
        );
        assert!(RequestLimits::new(0, DEFAULT_REQUEST_WALL).is_err());
        assert!(RequestLimits::new(DEFAULT_REQUEST_OUTPUT_BYTES, Duration::ZERO).is_err());
        let e = RequestLimits::new(DEFAULT_REQUEST_OUTPUT_BYTES, MAX_REQUEST_WALL * 2).unwrap_err();
        assert!(e.to_string().starts_with("request_wall_ms"), "{e}");
    }

    #[test]
    fn a_small_request_gets_a_small_budget() {
        let l = RequestLimits::default();
        assert_eq!(l.output_budget(None, 0, 1 << 20, 1), 6 << 20);
        assert_eq!(
            l.output_budget(None, 1 << 20, 16 << 20, 64),
            DEFAULT_REQUEST_OUTPUT_BYTES
        );
        assert_eq!(l.output_budget(Some(1 << 20), 0, 16 << 20, 4), 1 << 20);
        assert_eq!(
            l.output_budget(Some(u64::MAX), 0, 16 << 20, 4),
            DEFAULT_REQUEST_OUTPUT_BYTES
        );
    }

    fn stage(stdout: &[u8], stderr: &[u8]) -> StageOutcome {
        StageOutcome {
            status: Status::Ok,
            stdout: stdout.to_vec(),
            stderr: stderr.to_vec(),
            output: [stdout, stderr].concat(),
            ..StageOutcome::default()
        }
    }

    #[test]
    fn output_past_the_budget_is_cut_and_stops_the_request() {
        let mut b = RequestBudget::new(20, 60_000, OutputHold::default());
        let mut first = stage(b"0123456789", b"");
        assert_eq!(b.charge(&mut first, Lowered::default()), 10);
        assert_eq!(first.status, Status::Ok);
        assert!(b.not_run().is_none());
        let mut second = stage(b"abcdef", b"\x01\x01");
        assert_eq!(b.charge(&mut second, Lowered::default()), 6);
        assert_eq!(second.status, Status::OutputLimit);
        assert_eq!(
            (second.stdout.as_slice(), second.stderr.as_slice()),
            (&b"abcdef"[..], &b""[..])
        );
        assert_eq!(second.output, b"abcdef");
        assert!(second.truncated && !first.truncated);
        assert_eq!(
            second.limit,
            Some(LimitHit {
                limit: Limit::RequestOutputBytes,
                value: 20
            })
        );
        assert!(second.message.unwrap().contains("budget of 20 bytes"));
        let skipped = b.not_run().expect("nothing more runs");
        assert_eq!(skipped.status, Status::OutputLimit);
        assert!(skipped.message.unwrap().starts_with("not run:"));
    }

    #[test]
    fn given_back_output_makes_room_again() {
        let mut b = RequestBudget::new(10, 60_000, OutputHold::default());
        let cost = b.charge(&mut stage(b"0123456789", b""), Lowered::default());
        assert_eq!(b.room(), 0);
        assert!(b.not_run().is_some());
        b.give_back(cost);
        assert!(b.not_run().is_none());
    }

    #[test]
    fn a_run_gets_what_is_left() {
        let b = RequestBudget::new(100, 50, OutputHold::default());
        let mut limits = runtimes::DEFAULT_RUN;
        let lowered = b.fit(&mut limits);
        assert!(lowered.output && lowered.wall);
        assert_eq!(limits.max_output_bytes, 100);
        assert!(limits.wall_ms <= 50 && limits.wall_ms >= 1);
        let roomy = RequestBudget::new(u64::MAX, 3_600_000, OutputHold::default());
        let mut limits = runtimes::DEFAULT_RUN;
        let lowered = roomy.fit(&mut limits);
        assert!(
            !lowered.output && !lowered.wall,
            "its own limits, so its warm instance fits"
        );
        assert_eq!(limits, runtimes::DEFAULT_RUN);
    }

    #[test]
    fn a_run_cut_by_the_lowered_cap_says_why() {
        let mut b = RequestBudget::new(100, 60_000, OutputHold::default());
        let mut s = stage(b"x", b"");
        s.status = Status::OutputLimit;
        s.message = Some("output exceeded 100 bytes".into());
        b.charge(
            &mut s,
            Lowered {
                output: true,
                wall: false,
            },
        );
        assert!(s.message.unwrap().contains("this request's budget"));
        assert!(b.not_run().is_some());
    }

    #[test]
    fn time_runs_out() {
        let b = RequestBudget::new(100, 0, OutputHold::default());
        let skipped = b.not_run().expect("no time left");
        assert_eq!(skipped.status, Status::WallTimeLimit);
        assert!(skipped.ended_by_request());
        assert!(skipped.message.unwrap().contains("wall time of 0 ms"));
    }

    #[test]
    fn every_request_message_is_recognised() {
        let mut b = RequestBudget::new(10, 60_000, OutputHold::default());
        let mut cut = stage(b"\x01\x01", b"");
        b.charge(&mut cut, Lowered::default());
        assert!(cut.ended_by_request());
        assert!(b.not_run().is_some_and(|s| s.ended_by_request()));
        let mut timed = stage(b"", b"");
        timed.status = Status::WallTimeLimit;
        timed.message = Some("wall time exceeded 5000 ms".into());
        assert!(!timed.ended_by_request(), "the run's own limit");
        RequestBudget::new(10, 60_000, OutputHold::default()).charge(
            &mut timed,
            Lowered {
                output: false,
                wall: true,
            },
        );
        assert!(timed.ended_by_request());
        assert!(!stage(b"x", b"").ended_by_request());
    }
}
