//! Warm pools end to end: runs taken from a pool (zygotes for Python and Node, prepared
//! sandboxes for C) behave as cold runs, and a run cannot see or influence the next run from
//! the same pool — files, memory, environment, randomness, processes.

use std::time::{Duration, Instant};

use engine::{Engine, Interaction, Job, Phase, PoolConfig, SourceFile};
use sandbox::{Sandbox, SandboxOptions, Status};
use tiderun_tests::uid_base;

fn engine() -> Engine {
    let mut catalog = runtimes::Catalog::load(None).expect("catalog");
    catalog.detect();
    let sandbox = Sandbox::new(SandboxOptions {
        uid_base: uid_base(),
        ..SandboxOptions::default()
    })
    .expect("sandbox");
    Engine::with_pools(catalog, sandbox, PoolConfig::default())
}

fn job(language: &str, code: &str, stdin: &str) -> (Job, Vec<u8>) {
    (
        Job {
            language: language.into(),
            files: vec![SourceFile {
                name: None,
                content: code.as_bytes().to_vec(),
            }],
            args: vec!["first arg".into()],
            ..Job::default()
        },
        stdin.as_bytes().to_vec(),
    )
}

fn run(engine: &Engine, language: &str, code: &str, stdin: &str) -> (Status, String, String) {
    let (job, stdin) = job(language, code, stdin);
    let job = engine.check(job).expect("the job passes the check");
    let outcome = engine
        .execute(
            &job,
            Interaction {
                stdin: sandbox::Stdin::Bytes(stdin),
                ..Interaction::default()
            },
        )
        .expect("the engine runs the job");
    let run = outcome.run.expect("a run stage");
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    (run.status, text(run.stdout), text(run.stderr))
}

fn warm_starts(engine: &Engine, runtime: &str) -> u64 {
    engine
        .pool_stats()
        .iter()
        .filter(|p| p.runtime == runtime && p.phase == Phase::Run)
        .map(|p| p.warm_starts)
        .sum()
}

/// Wait until the pool of `runtime` has an instance ready (the autoscaler saw an arrival).
fn wait_ready(engine: &Engine, runtime: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready: usize = engine
            .pool_stats()
            .iter()
            .filter(|p| p.runtime == runtime && p.phase == Phase::Run)
            .map(|p| p.ready)
            .sum();
        if ready > 0 {
            // Let a zygote's interpreter come up, as it would between two students' runs.
            std::thread::sleep(Duration::from_millis(200));
            return;
        }
        assert!(Instant::now() < deadline, "no warm {runtime} instance within 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Run `code` warm: wait for an instance, run, and prove the run took it.
fn run_warm(engine: &Engine, language: &str, code: &str, stdin: &str) -> (Status, String, String) {
    wait_ready(engine, language);
    let before = warm_starts(engine, language);
    let r = run(engine, language, code, stdin);
    assert_eq!(
        warm_starts(engine, language),
        before + 1,
        "the run used a warm instance"
    );
    r
}

const PY_BEHAVES_AS_COLD: &str = r#"
import sys, os
print(__name__, __file__, sys.argv, sys.path[0], os.getcwd())
print(input())
print(sys.orig_argv)
print("nice", os.nice(0))
"#;

#[test]
#[ignore = "needs root: warm pools are root's"]
fn python_zygote_runs_like_a_cold_python() {
    if !testkit::root_or_skip("warm pools are root's") {
        return;
    }
    let engine = engine();
    let cold = run(&engine, "python", PY_BEHAVES_AS_COLD, "你好\n");
    let warm = run_warm(&engine, "python", PY_BEHAVES_AS_COLD, "你好\n");
    assert_eq!(cold.0, Status::Ok, "{cold:?}");
    assert_eq!(warm, cold, "a zygote run must look exactly like a cold one");
    assert!(warm
        .1
        .starts_with("__main__ /work/main.py ['main.py', 'first arg'] /work /work\n你好\n"));

    // Tracebacks name the file, not the zygote; exit codes are the program's.
    let crash = "def f():\n    return 1 / 0\nf()\n";
    let cold = run(&engine, "python", crash, "");
    let warm = run_warm(&engine, "python", crash, "");
    assert_eq!(warm, cold);
    assert_eq!(warm.0, Status::RuntimeError);
    assert!(warm
        .2
        .starts_with("Traceback (most recent call last):\n  File \"/work/main.py\", line 3"));
    let syntax = "x = (\n";
    assert_eq!(
        run_warm(&engine, "python", syntax, ""),
        run(&engine, "python", syntax, "")
    );
    let exit = "import sys\nsys.exit(7)\n";
    let warm = run_warm(&engine, "python", exit, "");
    assert_eq!(warm, run(&engine, "python", exit, ""));
}

#[test]
#[ignore = "needs root: warm pools are root's"]
fn node_zygote_runs_like_a_cold_node() {
    if !testkit::root_or_skip("warm pools are root's") {
        return;
    }
    let engine = engine();
    let code = "const rl = require('readline').createInterface({input: process.stdin});\n\
                rl.on('line', (l) => { console.log(require.main === module, process.argv.slice(1), l); rl.close(); });\n";
    let cold = run(&engine, "javascript", code, "你好\n");
    let warm = run_warm(&engine, "javascript", code, "你好\n");
    assert_eq!(cold.0, Status::Ok, "{cold:?}");
    assert_eq!(warm, cold);
    let crash = "function f() { throw new Error('boom'); }\nf();\n";
    let cold = run(&engine, "javascript", crash, "");
    let warm = run_warm(&engine, "javascript", crash, "");
    assert_eq!(warm.0, cold.0);
    // The first lines (file, line, source, message) match; only node's last internal frames
    // differ.
    let head = |s: &str| s.lines().take(6).collect::<Vec<_>>().join("\n");
    assert_eq!(head(&warm.2), head(&cold.2));
    assert!(warm.2.starts_with("/work/main.js:1\n"), "{}", warm.2);
}

/// The first run leaves everything it can behind; the next run from the same pool looks for it.
const PY_LEAVE_TRACES: &str = r#"
import os, random, subprocess
open("/work/left.txt", "w").write("secret")
open("/tmp/left.txt", "w").write("secret")
os.makedirs("/dev/shm", exist_ok=True) if os.access("/dev", os.W_OK) else None
subprocess.Popen(["/bin/sleep", "30"], start_new_session=True)
os.environ["LEFT"] = "secret"
blob = bytearray(b"MEMORY-MARKER-1234" * 100000)
print(random.random(), hash("tiderun"), id(blob))
"#;

const PY_LOOK_FOR_TRACES: &str = r#"
import os, random
found = []
for p in ["/work/left.txt", "/tmp/left.txt"]:
    if os.path.exists(p):
        found.append(p)
if "LEFT" in os.environ:
    found.append("env")
procs = [p for p in os.listdir("/proc") if p.isdigit()]
for p in procs:
    try:
        cmd = open(f"/proc/{p}/cmdline", "rb").read()
    except OSError:
        continue
    if b"sleep" in cmd:
        found.append("process " + p)
print(sorted(os.listdir("/work")), sorted(os.listdir("/tmp")), found)
print(random.random(), hash("tiderun"))
"#;

#[test]
#[ignore = "needs root: warm pools are root's"]
fn a_run_cannot_see_or_influence_the_next_one_from_the_same_pool() {
    if !testkit::root_or_skip("warm pools are root's") {
        return;
    }
    let engine = engine();
    // A first arrival makes the autoscaler fill the pool.
    run(&engine, "python", "print(0)", "");
    let mut seen = std::collections::HashSet::new();
    for _ in 0..3 {
        let first = run_warm(&engine, "python", PY_LEAVE_TRACES, "");
        assert_eq!(first.0, Status::Ok, "{first:?}");
        let second = run_warm(&engine, "python", PY_LOOK_FOR_TRACES, "");
        assert_eq!(second.0, Status::Ok, "{second:?}");
        let mut lines = second.1.lines();
        assert_eq!(lines.next(), Some("['main.py'] [] []"), "{second:?}");
        // Fresh randomness and a fresh hash seed in every run.
        let rest = lines.next().unwrap().to_string();
        assert!(seen.insert(rest.clone()), "random state repeated: {rest}");
        let first_values = first.1.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        assert!(seen.insert(first_values));
    }
}

#[test]
#[ignore = "needs root: warm pools are root's"]
fn compiled_runs_use_prepared_sandboxes() {
    if !testkit::root_or_skip("warm pools are root's") {
        return;
    }
    let engine = engine();
    let code = "#include <stdio.h>\n#include <unistd.h>\nint main(){char b[64]; if(!fgets(b,64,stdin)) return 3;\n\
                FILE*f=fopen(\"/tmp/x\",\"r\"); printf(\"%s%s uid=%d\\n\", b, f?\"LEFT\":\"clean\", getuid());\n\
                f=fopen(\"/tmp/x\",\"w\"); fputs(\"x\",f); return 0;}\n";
    let cold = run(&engine, "c", code, "hello\n");
    assert_eq!(cold.1, "hello\nclean uid=1000\n", "{cold:?}");
    let warm = run_warm(&engine, "c", code, "hello\n");
    assert_eq!(warm, cold);
    let warm = run_warm(&engine, "c", code, "hello\n");
    assert_eq!(warm, cold, "the second run sees nothing of the first");
    // The compile phase has a pool of its own (a resubmitted source is a build cache hit, so
    // a different one is compiled).
    let compile_pool = |engine: &Engine| {
        engine
            .pool_stats()
            .into_iter()
            .find(|p| p.runtime == "c" && p.phase == Phase::Compile)
            .expect("a compile pool")
    };
    assert_eq!(compile_pool(&engine).kind, "prepared");
    let deadline = Instant::now() + Duration::from_secs(30);
    while compile_pool(&engine).ready == 0 {
        assert!(Instant::now() < deadline, "no prepared compile sandbox");
        std::thread::sleep(Duration::from_millis(20));
    }
    let other = format!("{code}/* another source */\n");
    assert_eq!(run(&engine, "c", &other, "hello\n"), cold);
    assert!(compile_pool(&engine).warm_starts >= 1, "{:?}", compile_pool(&engine));
}

#[test]
#[ignore = "needs root: warm pools are root's"]
fn pools_drain_to_zero_when_idle() {
    if !testkit::root_or_skip("warm pools are root's") {
        return;
    }
    let mut catalog = runtimes::Catalog::load(None).expect("catalog");
    catalog.detect();
    let sandbox = Sandbox::new(SandboxOptions {
        uid_base: uid_base(),
        ..SandboxOptions::default()
    })
    .expect("sandbox");
    let engine = Engine::with_pools(
        catalog,
        sandbox,
        PoolConfig {
            idle_after: Duration::from_secs(1),
            ..PoolConfig::default()
        },
    );
    // Arrivals until the autoscaler has made an instance (it works at the lowest priority, so
    // on a loaded machine that can take a while), then silence.
    let deadline = Instant::now() + Duration::from_secs(30);
    while engine.instances_made() == 0 {
        assert!(Instant::now() < deadline, "no warm instance made within 30 s");
        run(&engine, "python", "print(1)", "");
        std::thread::sleep(Duration::from_millis(200));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while engine.pool_stats().iter().any(|p| p.ready > 0 || p.target > 0) {
        assert!(
            Instant::now() < deadline,
            "pools did not drain: {:?}",
            engine.pool_stats()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(engine.sandbox().wait_idle(Duration::from_secs(5)));
    tiderun_tests::assert_nothing_left();
}
