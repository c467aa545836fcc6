//! One request against the node: output amplification (control characters are six bytes of
//! JSON each, multiplied by tests and runs) is bounded by the request's output budget and
//! counted in the node's memory budget; tests × wall limit is bounded by the request's wall
//! time. Through the engine's runner, as every API runs a request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::{
    Bound, Checked, Engine, EngineError, Job, Limit, Phase, PoolConfig, RequestLimits, Runner, RunnerConfig,
    SourceFile, StageOutcome, TestCase, Verdict, DEFAULT_REQUEST_OUTPUT_BYTES,
};
use sandbox::{Sandbox, SandboxOptions, Status};
use tiderun_tests::{assert_nothing_left, fixtures, preflight, uid_base};

/// The caller's name for the runner's observers.
const TRIGGER: &str = "test";

fn engine(pools: PoolConfig) -> Engine {
    preflight();
    let mut catalog = runtimes::Catalog::load(None).expect("catalog");
    catalog.detect();
    let sandbox = Sandbox::new(SandboxOptions {
        uid_base: uid_base(),
        ..SandboxOptions::default()
    })
    .expect("sandbox");
    Engine::with_pools(catalog, sandbox, pools)
}

fn runner(engine: Engine) -> Arc<Runner> {
    Runner::new(engine, RunnerConfig::default())
}

/// A job the engine has checked (what a runner admits).
fn checked(r: &Runner, job: Job) -> Checked {
    r.engine().check(job).expect("the job passes the check")
}

/// A Python fixture as a job.
fn fixture_job(fixture: &str) -> Job {
    Job {
        language: "python".into(),
        files: vec![SourceFile {
            name: None,
            content: std::fs::read(fixtures().join(fixture)).expect("fixture"),
        }],
        ..Job::default()
    }
}

/// The output amplifier with a run output cap of `cap` bytes.
fn amplifier(cap: u64) -> Job {
    let mut job = fixture_job("limits_output_amplification.py");
    job.limits.run.max_output_bytes = Some(cap);
    job
}

fn test(stdin: &str, hidden: bool) -> TestCase {
    TestCase {
        name: None,
        stdin: stdin.into(),
        expected_output: Vec::new(),
        hidden,
        compare: Default::default(),
    }
}

/// The JSON text an API makes of a run's stdout and stderr.
fn text_len(run: &StageOutcome) -> u64 {
    [&run.stdout, &run.stderr]
        .iter()
        .map(|b| {
            serde_json::to_string(&String::from_utf8_lossy(b))
                .expect("a string")
                .len() as u64
                - 2
        })
        .sum()
}

fn message(run: &StageOutcome) -> &str {
    run.message.as_deref().unwrap_or_default()
}

fn no_harm_done(runner: &Runner) {
    assert!(
        runner.engine().wait_idle(Duration::from_secs(5)),
        "sandbox teardown did not finish"
    );
    assert_nothing_left();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_output_of_many_tests_is_bounded_by_the_request_budget() {
    let r = runner(engine(PoolConfig::disabled()));
    // Each test prints 16 MiB of \x01: 96 MiB of JSON, 384 MiB for the four.
    let tests = vec![test("", false); 4];
    let graded = r
        .execute_tests(TRIGGER, checked(&r, amplifier(16 << 20)), tests)
        .await
        .expect("runs");
    assert_eq!(graded.outcome.status, Status::Ok);
    let results = &graded.tests;
    let runs: Vec<&StageOutcome> = results.iter().map(|t| t.run().expect("visible")).collect();
    let total: u64 = runs.iter().map(|r| text_len(r)).sum();
    assert!(
        total <= DEFAULT_REQUEST_OUTPUT_BYTES,
        "the runs' output is {total} bytes of JSON, past the budget of {DEFAULT_REQUEST_OUTPUT_BYTES}"
    );
    let verdicts: Vec<Verdict> = results.iter().map(|t| t.verdict()).collect();
    let answer = serde_json::to_vec(&server::native::TestsResponse::from(graded.clone()))
        .expect("serializable")
        .len() as u64;
    assert!(
        answer <= DEFAULT_REQUEST_OUTPUT_BYTES + (64 << 10),
        "an answer of {answer} bytes"
    );
    // The first is cut where the budget ends (a control character is six bytes of it)...
    assert_eq!(runs[0].status, Status::OutputLimit, "{:?}", runs[0].message);
    assert!(
        message(runs[0]).contains("this request's budget"),
        "{}",
        message(runs[0])
    );
    assert_eq!(runs[0].stdout.len() as u64, DEFAULT_REQUEST_OUTPUT_BYTES / 6);
    // ... and the others never start.
    for run in &runs[1..] {
        assert_eq!(run.status, Status::OutputLimit);
        assert!(message(run).starts_with("not run:"), "{}", message(run));
        assert_eq!((run.wall_time_ms, run.stdout.len()), (0, 0));
    }
    assert_eq!(verdicts, vec![Verdict::Failed(Status::OutputLimit); 4]);
    no_harm_done(&r);
}

#[tokio::test(flavor = "multi_thread")]
async fn hidden_tests_give_their_output_back_once_judged() {
    let r = runner(engine(PoolConfig::disabled()));
    // 1 MiB of \x01 is 6 MiB of JSON: eight would pass the budget if their output were kept,
    // but a hidden test's output is dropped once it is judged.
    let tests = vec![test(&(1 << 20).to_string(), true); 8];
    let graded = r
        .execute_tests(TRIGGER, checked(&r, amplifier(1 << 20)), tests)
        .await
        .expect("runs");
    let verdicts: Vec<Verdict> = graded.tests.iter().map(|t| t.verdict()).collect();
    assert_eq!(verdicts, vec![Verdict::WrongAnswer; 8]);
    assert!(graded.tests.iter().all(|t| t.run().is_none()));
    no_harm_done(&r);
}

#[tokio::test(flavor = "multi_thread")]
async fn repeated_runs_share_one_output_budget() {
    let r = runner(engine(PoolConfig::disabled()));
    // Judge0's number_of_runs = 20, each printing 1 MiB of \x01: 120 MiB of JSON together.
    let (_, runs) = r
        .execute_runs(
            TRIGGER,
            checked(&r, amplifier(1 << 20)),
            (1 << 20).to_string().into_bytes(),
            20,
        )
        .await
        .expect("runs");
    assert_eq!(runs.len(), 20);
    let total: u64 = runs.iter().map(text_len).sum();
    assert!(total <= DEFAULT_REQUEST_OUTPUT_BYTES, "{total} bytes of JSON held");
    let per_run = 6 << 20;
    let whole = (DEFAULT_REQUEST_OUTPUT_BYTES / per_run) as usize;
    assert!(runs[..whole].iter().all(|r| r.status == Status::Ok));
    assert_eq!(runs[whole].status, Status::OutputLimit);
    assert!(message(&runs[whole]).contains("this request's budget"));
    assert!(runs[whole + 1..]
        .iter()
        .all(|r| r.status == Status::OutputLimit && message(r).starts_with("not run:")));
    no_harm_done(&r);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_output_an_answer_holds_counts_in_the_node_memory_budget() {
    // Room for one run (256 MiB, Python's default memory limit) and one request's output
    // (a 32 MiB budget, 128 MiB of server memory), not for a second request beside them.
    let budget = (256 + 128 + 64) << 20;
    let r = runner(engine(PoolConfig {
        memory_budget_bytes: budget,
        ..PoolConfig::disabled()
    }));
    let job = checked(&r, fixture_job("limits_output_amplification.py"));
    let tests = || vec![test("1", false); 8];
    let first = r
        .execute_tests(TRIGGER, job.clone(), tests())
        .await
        .expect("the first fits");
    // Its answer is not sent yet: the memory it may hold is still counted.
    let second = r.execute_tests(TRIGGER, job.clone(), tests()).await;
    assert!(
        matches!(second, Err(EngineError::Busy { .. })),
        "a second request while the first's output is held: {second:?}"
    );
    drop(first);
    let third = r.execute_tests(TRIGGER, job, tests()).await.expect("room again");
    assert_eq!(third.outcome.status, Status::Ok);
    no_harm_done(&r);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_holds_its_slot_at_most_its_wall_time() {
    let wall = Duration::from_secs(3);
    let limits = RequestLimits::new(DEFAULT_REQUEST_OUTPUT_BYTES, wall).expect("valid limits");
    let r = runner(engine(PoolConfig::disabled()).with_request_limits(limits));
    // Six tests of 1 s each, every one well within its own wall limit (5 s).
    let job = fixture_job("limits_slow_tests.py");
    let tests: Vec<TestCase> = (0..6)
        .map(|_| TestCase {
            expected_output: b"done".to_vec(),
            ..test("1", false)
        })
        .collect();
    let started = Instant::now();
    let graded = r
        .execute_tests(TRIGGER, checked(&r, job.clone()), tests)
        .await
        .expect("runs");
    let results = &graded.tests;
    let took = started.elapsed();
    assert!(
        took < wall + Duration::from_secs(3),
        "the request held its slot for {took:?}"
    );
    let runs: Vec<&StageOutcome> = results.iter().map(|t| t.run().expect("visible")).collect();
    assert_eq!(results[0].verdict(), Verdict::Accepted, "{:?}", runs[0]);
    // Accepted ones, then at most one cut short, then the ones not run.
    let accepted = results.iter().take_while(|t| t.verdict() == Verdict::Accepted).count();
    let rest = &runs[accepted..];
    assert!(rest.iter().all(|r| r.status == Status::WallTimeLimit), "{rest:?}");
    let cut = rest.iter().take_while(|r| !message(r).starts_with("not run:")).count();
    assert!(cut <= 1, "{rest:?}");
    if cut == 1 {
        assert!(
            message(rest[0]).contains("this request may take 3000 ms"),
            "{}",
            message(rest[0])
        );
    }
    assert!(rest.len() > cut, "some tests were not run");
    assert!(rest[cut..]
        .iter()
        .all(|r| message(r).contains("used up its wall time of 3000 ms") && r.wall_time_ms == 0));
    // A run that asks for more than a whole request has is refused before anything runs.
    let mut long = job;
    long.limits.run.wall_ms = Some(4000);
    let refused = r.engine().check(long);
    assert!(
        matches!(
            &refused,
            Err(e @ EngineError::Limit {
                limit: Limit::WallMs(Phase::Run),
                value: 4000,
                bound: Bound::RequestWall(3000),
            }) if e.to_string().contains("3000 ms")
        ),
        "{refused:?}"
    );
    no_harm_done(&r);
}
