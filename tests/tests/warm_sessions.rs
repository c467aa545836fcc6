//! Interactive sessions (the classroom page's runs, `/api/v1/ws`, `/api/v2/connect`) start
//! warm like any run: from a zygote, or forked from a fork server when the node has them, with
//! the program's stdin a live pipe that `input()` reads as the student types. The session is
//! the page's: its wall time raised for a student who reads and types, its images collected.

use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::{
    Engine, Event, ForkConfig, Job, LimitRequest, Outcome, Phase, PhaseRequest, PoolConfig, Runner, RunnerConfig,
    SourceFile, Start,
};
use sandbox::{Sandbox, SandboxOptions, Status, StreamKind};
use tiderun_tests::uid_base;

/// The classroom page's wall time for an interactive run (web/src/run.js).
const PAGE_WALL_MS: u64 = 60_000;
/// How long a warm instance may take to be ready on a loaded machine.
const READY_WITHIN: Duration = Duration::from_secs(30);
/// How long one session may take.
const SESSION_WITHIN: Duration = Duration::from_secs(30);

const GREETER: &str = "name = input('name? ')\nprint('hello', name)\n";

fn runner(forks: ForkConfig) -> (Arc<Engine>, Arc<Runner>) {
    let mut catalog = runtimes::Catalog::load(None).expect("catalog");
    catalog.detect();
    let sandbox = Sandbox::new(SandboxOptions {
        uid_base: uid_base(),
        ..SandboxOptions::default()
    })
    .expect("sandbox");
    let engine = Arc::new(Engine::with_pools(
        catalog,
        sandbox,
        PoolConfig {
            forks,
            ..PoolConfig::default()
        },
    ));
    let runner = Runner::with_executor(
        Arc::clone(&engine) as Arc<dyn engine::Executor>,
        RunnerConfig::default(),
    );
    (engine, runner)
}

/// The job the page sends for `code` (`{language, code, limits: {wall_ms}}`, images on).
fn page_job(code: &str) -> Job {
    Job {
        language: "python".into(),
        files: vec![SourceFile {
            name: None,
            content: code.as_bytes().to_vec(),
        }],
        limits: LimitRequest {
            run: PhaseRequest {
                wall_ms: Some(PAGE_WALL_MS),
                ..PhaseRequest::default()
            },
            ..LimitRequest::default()
        },
        images: true,
        ..Job::default()
    }
}

/// Python's run pool on the runner's engine: (ready, warm starts, cold starts), the figures
/// `/metrics` shows as `tiderun_pool_instances` and `tiderun_starts_total`.
fn python_pool(r: &Runner) -> (usize, u64, u64) {
    r.engine()
        .pool_stats()
        .iter()
        .filter(|p| p.runtime == "python" && p.phase == Phase::Run)
        .fold((0, 0, 0), |(ready, warm, cold), p| {
            (ready + p.ready, warm + p.warm_starts, cold + p.cold_starts)
        })
}

/// Wait until Python's runs have a warm instance (zygote or idle fork server) ready.
async fn wait_ready(r: &Runner) {
    let deadline = Instant::now() + READY_WITHIN;
    while python_pool(r).0 == 0 {
        assert!(
            Instant::now() < deadline,
            "nothing warm for python within {READY_WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A zygote's interpreter comes up after its sandbox: let it, as between two students.
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// Run the page's greeter as a session: answer its prompt once it is shown, and return the
/// output and the outcome.
async fn greet(r: &Runner, answer: &str) -> (String, Outcome) {
    let job = r
        .engine()
        .check(page_job(GREETER))
        .expect("the page's job passes the check");
    let mut session = r.start_session("test", job).await.expect("the session starts");
    let mut stdout = String::new();
    let mut answered = false;
    let deadline = tokio::time::Instant::now() + SESSION_WITHIN;
    loop {
        let event = tokio::time::timeout_at(deadline, session.next_event())
            .await
            .expect("the session ends in time")
            .expect("the session reports its end");
        match event {
            Event::Data {
                stream: StreamKind::Stdout,
                data,
            } => {
                stdout.push_str(&String::from_utf8_lossy(&data));
                // input() is answered live: only once the program has asked.
                if !answered && stdout.contains("name? ") {
                    session
                        .write_stdin(format!("{answer}\n").as_bytes())
                        .await
                        .expect("stdin reaches the program");
                    answered = true;
                }
            }
            Event::Done(outcome) => return (stdout, *outcome),
            Event::Error(e) => panic!("the session failed: {e}"),
            _ => {}
        }
    }
}

/// A session takes a warm instance, is counted warm in the pool's starts, and its program
/// reads the student's answer from the live pipe.
async fn sessions_start_warm(r: &Runner) {
    // A first run tells the pool Python is wanted (pools grow with arrivals); fork servers
    // are there from the start.
    let warm_up = r.engine().check(page_job("pass")).expect("checked");
    r.execute("test", warm_up, Vec::new()).await.expect("warm-up run");
    for answer in ["Ada", "小明"] {
        wait_ready(r).await;
        let (_, warm_before, cold_before) = python_pool(r);
        let (stdout, outcome) = greet(r, answer).await;
        let run = outcome.run.as_ref().expect("a run stage");
        assert_eq!(
            (run.status, stdout.as_str()),
            (Status::Ok, format!("name? hello {answer}\n").as_str()),
            "{run:?}"
        );
        assert_eq!(run.start, Some(Start::Warm), "the session started warm: {run:?}");
        assert!(run.files.is_some(), "the page's images were looked for: {run:?}");
        assert_eq!(
            (outcome.usage.warm_starts, outcome.usage.cold_starts),
            (1, 0),
            "counted warm for the observers (faas_coldstarts_total): {:?}",
            outcome.usage
        );
        let (_, warm, cold) = python_pool(r);
        assert_eq!(
            (warm, cold),
            (warm_before + 1, cold_before),
            "counted warm in the engine's starts (tiderun_starts_total)"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: the full sandbox"]
async fn a_python_session_starts_from_a_zygote_and_input_is_answered_live() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    tiderun_tests::preflight();
    let (_, r) = runner(ForkConfig::off());
    sessions_start_warm(&r).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: the full sandbox"]
async fn a_python_session_is_forked_from_a_fork_server_and_input_is_answered_live() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    tiderun_tests::preflight();
    let (engine, r) = runner(ForkConfig {
        servers: 1,
        ..ForkConfig::default()
    });
    sessions_start_warm(&r).await;
    let forked: u64 = engine
        .fork_server_stats()
        .iter()
        .filter(|(runtime, _, _)| runtime == "python")
        .map(|(_, runs, _)| runs)
        .sum();
    // The warm-up may have come before the first fork server was up.
    assert!(forked >= 2, "both sessions were forked: {forked}");
}
