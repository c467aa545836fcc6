//! Every language's interactive example, run as the classroom page runs it, is seen waiting for
//! the student's answer: the console says so, and the wait is not wall time (it has a budget of
//! its own). A language whose reads are not recognised would show no prompt state and end at
//! the wall limit while the student types.

use std::sync::Arc;
use std::time::Duration;

use engine::{Engine, Event, Job, RunnerConfig};
use sandbox::{Sandbox, SandboxOptions, Status, StreamKind};
use tiderun_tests::uid_base;

/// The wall limit of each run: the classroom page's, roomy for a JVM's start on a loaded
/// machine, and what a program never seen waiting ends at.
const WALL_MS: u64 = 60_000;
/// How many languages run at once (most of a run is the wait for its answer).
const AT_ONCE: usize = 4;

/// The classroom page's job: its wall limit, and a roomy budget of waiting.
fn job(language: &str, code: &str) -> Job {
    let mut job = tiderun_tests::job(language, code);
    job.limits.run.wall_ms = Some(WALL_MS);
    job.limits.input_wait_ms = Some(60_000);
    job
}

/// Runs `code` as a session, answering "Ada" only once the program is seen waiting. `Err`
/// says what went wrong.
async fn answered_when_waiting(r: &engine::Runner, language: &str, code: &str) -> Result<(), String> {
    let checked = r
        .engine()
        .check(job(language, code))
        .map_err(|e| format!("check: {e}"))?;
    let mut session = r
        .start_session("test", checked)
        .await
        .map_err(|e| format!("start: {e}"))?;
    let (mut stdout, mut answered) = (String::new(), false);
    loop {
        let event = tokio::time::timeout(Duration::from_millis(WALL_MS * 3), session.next_event())
            .await
            .map_err(|_| "no end".to_string())?
            .ok_or("no outcome")?;
        match event {
            Event::Waiting { waiting: true, .. } if !answered => {
                session.write_stdin(b"Ada\n").await.map_err(|e| format!("stdin: {e}"))?;
                session.close_stdin();
                answered = true;
            }
            Event::Data {
                stream: StreamKind::Stdout,
                data,
            } => stdout.push_str(&String::from_utf8_lossy(&data)),
            Event::Done(outcome) => {
                let status = outcome.run.as_ref().map(|r| r.status);
                return if !answered {
                    Err(format!("never seen waiting; ended {status:?} with {stdout:?}"))
                } else if status != Some(Status::Ok) || !stdout.contains("Ada") {
                    Err(format!("ended {status:?} with {stdout:?}: {:?}", outcome.run))
                } else {
                    Ok(())
                };
            }
            Event::Error(e) => return Err(format!("session: {e}")),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: waits for input are recognised through the run's threads in /proc"]
async fn every_languages_interactive_example_is_seen_waiting_for_input() {
    if !testkit::root_or_skip("reading the /proc syscall of the run's threads") {
        return;
    }
    tiderun_tests::preflight();
    let mut catalog = runtimes::Catalog::load(None).expect("catalog");
    catalog.detect();
    let examples: Vec<(String, String)> = catalog
        .iter()
        .filter(|rt| rt.installed)
        .filter_map(|rt| Some((rt.name.clone(), rt.example.interactive.clone()?)))
        .collect();
    for rt in catalog.iter().filter(|rt| !rt.installed) {
        testkit::skip_part(format_args!("{}: toolchain absent on this machine", rt.name));
    }
    let sandbox = Sandbox::new(SandboxOptions {
        uid_base: uid_base(),
        ..SandboxOptions::default()
    })
    .expect("sandbox");
    // Each pass of the suite: cold, or warm instances and fork servers as a node runs them.
    let engine = if tiderun_tests::warm() || tiderun_tests::fork() {
        Arc::new(Engine::with_pools(catalog, sandbox, engine::PoolConfig::default()))
    } else {
        Arc::new(Engine::new(catalog, sandbox))
    };
    let r = engine::Runner::with_executor(
        engine as Arc<dyn engine::Executor>,
        RunnerConfig {
            max_concurrent: AT_ONCE,
            ..RunnerConfig::default()
        },
    );
    let gate = Arc::new(tokio::sync::Semaphore::new(AT_ONCE));
    let mut runs = tokio::task::JoinSet::new();
    for (language, code) in examples.clone() {
        let (r, gate) = (Arc::clone(&r), Arc::clone(&gate));
        runs.spawn(async move {
            let _turn = gate.acquire_owned().await.expect("gate");
            let got = answered_when_waiting(&r, &language, &code).await;
            println!("{language:<12} {got:?}");
            (language, got)
        });
    }
    let mut failed = Vec::new();
    while let Some(done) = runs.join_next().await {
        let (language, got) = done.expect("the run's task");
        if let Err(e) = got {
            failed.push(format!("{language}: {e}"));
        }
    }
    failed.sort();
    assert!(examples.len() >= 2, "too few languages here: {examples:?}");
    assert!(failed.is_empty(), "not seen waiting for input:\n{}", failed.join("\n"));
}
