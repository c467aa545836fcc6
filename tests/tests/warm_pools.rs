//! Warm pools end to end: runs taken from a pool (zygotes for Python and Node, prepared
//! sandboxes for C) behave as cold runs, and a run cannot see or influence the next run from
//! the same pool — files, memory, environment, randomness, processes.

use std::time::{Duration, Instant};

use engine::{
    Engine, Interaction, Job, LimitRequest, Phase, PhaseRequest, PoolConfig, SourceFile, StageOutcome, Start,
};
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
    // Zygotes: the fork servers (on by default) have tests of their own below.
    Engine::with_pools(
        catalog,
        sandbox,
        PoolConfig {
            forks: engine::ForkConfig::off(),
            ..PoolConfig::default()
        },
    )
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

fn cold_starts(engine: &Engine, runtime: &str) -> u64 {
    engine
        .pool_stats()
        .iter()
        .filter(|p| p.runtime == runtime && p.phase == Phase::Run)
        .map(|p| p.cold_starts)
        .sum()
}

/// Run `code` with the run limits `limits` (the rest the runtime's defaults) and `args`.
fn run_limited(engine: &Engine, language: &str, code: &str, args: &[&str], limits: PhaseRequest) -> StageOutcome {
    let job = Job {
        language: language.into(),
        files: vec![SourceFile {
            name: None,
            content: code.as_bytes().to_vec(),
        }],
        args: args.iter().map(|a| a.to_string()).collect(),
        limits: LimitRequest {
            run: limits,
            ..LimitRequest::default()
        },
        ..Job::default()
    };
    let job = engine.check(job).expect("the job passes the check");
    let outcome = engine
        .execute(&job, Interaction::default())
        .expect("the engine runs the job");
    outcome.run.expect("a run stage")
}

/// [`run_limited`] in a warm instance made for the runtime's default limits: waits for one,
/// and proves the run took it (the pool's counter and the stage's start).
fn run_warm_limited(engine: &Engine, language: &str, code: &str, args: &[&str], limits: PhaseRequest) -> StageOutcome {
    wait_ready(engine, language);
    let before = warm_starts(engine, language);
    let run = run_limited(engine, language, code, args, limits);
    assert_eq!(
        (run.start, warm_starts(engine, language)),
        (Some(Start::Warm), before + 1),
        "the run with limits {limits:?} used a warm instance: {run:?}"
    );
    run
}

fn stdout(run: &StageOutcome) -> String {
    String::from_utf8_lossy(&run.stdout).into_owned()
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
            forks: engine::ForkConfig::off(),
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

/// The runtime files' run defaults the pools' instances are made with (`runtimes/README.md`):
/// 3 s of CPU, 16 MiB files, 256 MiB of memory. Each test below asks for less and for more.
const DEFAULT_CPU_MS: u64 = 3_000;
const DEFAULT_FILE_SIZE_BYTES: u64 = 16 << 20;

/// A Python program that writes one file until the write fails (Python ignores SIGXFSZ, so
/// the write past RLIMIT_FSIZE fails with EFBIG) and prints the errno and where it stopped.
const PY_FILL_FILE: &str = r#"
import os
fd = os.open("big", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
chunk = b"f" * 65536
try:
    while True:
        os.write(fd, chunk)
except OSError as e:
    print(e.errno, os.fstat(fd).st_size)
"#;

/// Spins until its own CPU time passes `argv[1]` seconds, then says so.
const PY_SPIN: &str = r#"
import sys, time
until = float(sys.argv[1])
while time.process_time() < until:
    pass
print("done", sys.argv[1])
"#;

/// Holds `argv[1]` MiB of touched memory.
const PY_HOLD: &str = r#"
import sys
blob = b"m" * (int(sys.argv[1]) << 20)
print("held", len(blob) >> 20)
"#;

fn cpu(cpu_ms: u64) -> PhaseRequest {
    PhaseRequest {
        cpu_ms: Some(cpu_ms),
        // Far enough that only the CPU limit can end the spin, on a busy machine too.
        wall_ms: Some(30_000),
        ..PhaseRequest::default()
    }
}

fn file_size(bytes: u64) -> PhaseRequest {
    PhaseRequest {
        max_file_size_bytes: Some(bytes),
        ..PhaseRequest::default()
    }
}

fn memory(mib: u64) -> PhaseRequest {
    PhaseRequest {
        memory_mib: Some(mib),
        ..PhaseRequest::default()
    }
}

/// Judge0's defaults for a submission that names no limits, and a teacher's per-exercise
/// limits: a zygote made for the runtime file's defaults serves them warm, and each limit is
/// the run's own — a tighter and a looser one than the zygote was made with.
#[test]
#[ignore = "needs root: warm pools are root's"]
fn python_zygote_serves_other_limits_warm_and_enforces_them() {
    if !testkit::root_or_skip("warm pools are root's") {
        return;
    }
    let engine = engine();
    run(&engine, "python", "print(0)", "");

    // CPU, tighter: killed at its own second, not at the zygote's three.
    let r = run_warm_limited(&engine, "python", PY_SPIN, &["100"], cpu(1_000));
    assert_eq!(r.status, Status::TimeLimit, "{r:?}");
    assert!(
        (1_000..DEFAULT_CPU_MS).contains(&r.cpu_time_ms),
        "killed at its own 1000 ms: {r:?}"
    );
    // CPU, looser: 4.5 s is past the zygote's cgroup limit (3 s) and its RLIMIT_CPU (4 s).
    let r = run_warm_limited(&engine, "python", PY_SPIN, &["4.5"], cpu(6_000));
    assert_eq!((r.status, stdout(&r)), (Status::Ok, "done 4.5\n".into()), "{r:?}");

    // File size, tighter and looser than the zygote's 16 MiB: the file stops at exactly the
    // run's limit (EFBIG = 27).
    for limit in [1_000_000, 40 << 20] {
        let r = run_warm_limited(&engine, "python", PY_FILL_FILE, &[], file_size(limit));
        assert_eq!((r.status, stdout(&r)), (Status::Ok, format!("27 {limit}\n")), "{r:?}");
        assert_ne!(limit, DEFAULT_FILE_SIZE_BYTES);
    }

    // Memory, tighter (100 MiB does not fit in 64) and looser (300 MiB fits in 512, not in
    // the zygote's 256).
    let r = run_warm_limited(&engine, "python", PY_HOLD, &["100"], memory(64));
    assert_eq!(r.status, Status::MemoryLimit, "{r:?}");
    let r = run_warm_limited(&engine, "python", PY_HOLD, &["300"], memory(512));
    assert_eq!((r.status, stdout(&r)), (Status::Ok, "held 300\n".into()), "{r:?}");

    // All of them at once, as a Judge0 submission without limits asks (5 s, 10 s, 1024 KB).
    let judge0 = PhaseRequest {
        cpu_ms: Some(5_000),
        wall_ms: Some(10_000),
        max_file_size_bytes: Some(1024 * 1024),
        ..PhaseRequest::default()
    };
    let r = run_warm_limited(&engine, "python", PY_FILL_FILE, &[], judge0);
    assert_eq!(
        (r.status, stdout(&r)),
        (Status::Ok, format!("27 {}\n", 1024 * 1024)),
        "{r:?}"
    );
}

/// A process limit below what a zygote's interpreter already holds (Node starts about seven
/// threads) cannot be given to it: the run starts cold (and is counted so), with exactly the
/// limit it asked for — as a run on a server without pools does. Nor can a larger stack than
/// the interpreter was started with.
#[test]
#[ignore = "needs root: warm pools are root's"]
fn runs_a_zygote_cannot_take_start_cold_and_are_counted() {
    if !testkit::root_or_skip("warm pools are root's") {
        return;
    }
    let engine = engine();
    run(&engine, "javascript", "console.log(0)", "");
    wait_ready(&engine, "javascript");
    let (warm, cold) = (warm_starts(&engine, "javascript"), cold_starts(&engine, "javascript"));
    let few = PhaseRequest {
        max_processes: Some(4),
        ..PhaseRequest::default()
    };
    let code = "console.log('started')";
    let r = run_limited(&engine, "javascript", code, &[], few);
    assert_eq!(r.start, Some(Start::Cold), "{r:?}");
    assert_eq!(
        (warm_starts(&engine, "javascript"), cold_starts(&engine, "javascript")),
        (warm, cold + 1),
        "counted as a cold start"
    );
    let mut catalog = runtimes::Catalog::load(None).expect("catalog");
    catalog.detect();
    // Above the pooled engine's slots, inside this test process's uid range.
    let sandbox = Sandbox::new(SandboxOptions {
        uid_base: uid_base() + 1040,
        slots: 32,
        ..SandboxOptions::default()
    })
    .expect("sandbox");
    let no_pools = Engine::new(catalog, sandbox);
    let alone = run_limited(&no_pools, "javascript", code, &[], few);
    assert_eq!((r.status, r.signal), (alone.status, alone.signal), "{r:?}\n{alone:?}");
    // Enough for it: warm again.
    let r = run_warm_limited(
        &engine,
        "javascript",
        code,
        &[],
        PhaseRequest {
            max_processes: Some(24),
            ..PhaseRequest::default()
        },
    );
    assert_eq!((r.status, stdout(&r)), (Status::Ok, "started\n".into()), "{r:?}");

    // The interpreter's memory mappings were placed below its (default, 64 MiB) stack.
    run(&engine, "python", "print(0)", "");
    wait_ready(&engine, "python");
    let (warm, cold) = (warm_starts(&engine, "python"), cold_starts(&engine, "python"));
    let job = Job {
        language: "python".into(),
        files: vec![SourceFile {
            name: None,
            content: b"import resource\nprint(resource.getrlimit(resource.RLIMIT_STACK))\n".to_vec(),
        }],
        limits: LimitRequest {
            run: memory(512),
            stack_bytes: Some(128 << 20),
            ..LimitRequest::default()
        },
        ..Job::default()
    };
    let job = engine.check(job).expect("the job passes the check");
    let r = engine
        .execute(&job, Interaction::default())
        .expect("runs")
        .run
        .expect("a run stage");
    assert_eq!(r.start, Some(Start::Cold), "{r:?}");
    assert_eq!(stdout(&r), format!("({0}, {0})\n", 128 << 20), "{r:?}");
    assert_eq!(
        (warm_starts(&engine, "python"), cold_starts(&engine, "python")),
        (warm, cold + 1),
        "counted as a cold start of python"
    );
}

/// What the C test runs (`spin MS`, `fill`, `fill-ignore`, `hold MIB`): each limit is met
/// the way a student's program meets it.
const C_LIMITS: &str = r#"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <errno.h>

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    long n = atol(argv[2]);
    if (!strcmp(argv[1], "spin")) {
        while ((double)clock() / CLOCKS_PER_SEC < (double)n / 1000) {}
        printf("done %ld\n", n);
    } else if (!strcmp(argv[1], "fill") || !strcmp(argv[1], "fill-ignore")) {
        if (!strcmp(argv[1], "fill-ignore")) signal(SIGXFSZ, SIG_IGN);
        static char chunk[65536];
        memset(chunk, 'f', sizeof chunk);
        int fd = open("big", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        while (write(fd, chunk, sizeof chunk) > 0) {}
        int err = errno;
        struct stat st;
        fstat(fd, &st);
        printf("%d %lld\n", err, (long long)st.st_size);
    } else if (!strcmp(argv[1], "hold")) {
        char *p = malloc((size_t)n << 20);
        if (!p) return 3;
        memset(p, 'm', (size_t)n << 20);
        printf("held %ld\n", n);
    }
    return 0;
}
"#;

/// A compiled program in a prepared sandbox made for the runtime's defaults: CPU, file size
/// (SIGXFSZ at its own size) and memory are the run's, tighter and looser.
#[test]
#[ignore = "needs root: warm pools are root's"]
fn prepared_sandbox_serves_other_limits_warm_and_enforces_them() {
    if !testkit::root_or_skip("warm pools are root's") {
        return;
    }
    let engine = engine();
    // The first run compiles (the next ones are build cache hits) and fills the pool.
    let first = run_limited(&engine, "c", C_LIMITS, &["spin", "0"], PhaseRequest::default());
    assert_eq!(
        (first.status, stdout(&first)),
        (Status::Ok, "done 0\n".into()),
        "{first:?}"
    );

    let r = run_warm_limited(&engine, "c", C_LIMITS, &["spin", "100000"], cpu(1_000));
    assert_eq!(r.status, Status::TimeLimit, "{r:?}");
    assert!(
        (1_000..DEFAULT_CPU_MS).contains(&r.cpu_time_ms),
        "killed at its own 1000 ms: {r:?}"
    );
    let r = run_warm_limited(&engine, "c", C_LIMITS, &["spin", "4500"], cpu(6_000));
    assert_eq!((r.status, stdout(&r)), (Status::Ok, "done 4500\n".into()), "{r:?}");

    for limit in [1_000_000, 40 << 20] {
        // SIGXFSZ at the run's own size...
        let r = run_warm_limited(&engine, "c", C_LIMITS, &["fill", "0"], file_size(limit));
        assert_eq!(r.status, Status::FileSizeLimit, "{r:?}");
        // ... which is exactly where the file stops (EFBIG = 27).
        let r = run_warm_limited(&engine, "c", C_LIMITS, &["fill-ignore", "0"], file_size(limit));
        assert_eq!((r.status, stdout(&r)), (Status::Ok, format!("27 {limit}\n")), "{r:?}");
    }

    let r = run_warm_limited(&engine, "c", C_LIMITS, &["hold", "100"], memory(64));
    assert_eq!(r.status, Status::MemoryLimit, "{r:?}");
    let r = run_warm_limited(&engine, "c", C_LIMITS, &["hold", "300"], memory(512));
    assert_eq!((r.status, stdout(&r)), (Status::Ok, "held 300\n".into()), "{r:?}");
}

/// A program in a warm instance made for looser limits than its run's cannot raise its
/// rlimits back to the instance's (or anything above its run's), on itself or on its parent,
/// and its file stops at the run's limit: a zygote, whose interpreter was started with the
/// runtime's defaults and given the run's from the host, and a prepared sandbox.
#[test]
#[ignore = "needs root: warm pools are root's"]
fn a_warm_program_cannot_raise_its_rlimits_above_its_runs() {
    if !testkit::root_or_skip("warm pools are root's") {
        return;
    }
    tiderun_tests::preflight();
    let engine = engine();
    let fixture = |name: &str| std::fs::read_to_string(tiderun_tests::fixtures().join(name)).expect("fixture");
    let tight = PhaseRequest {
        cpu_ms: Some(1_000),
        max_file_size_bytes: Some(1_000_000),
        ..PhaseRequest::default()
    };
    run(&engine, "python", "print(0)", "");
    let py = run_warm_limited(&engine, "python", &fixture("warm_raise_rlimits.py"), &[], tight);
    let c_code = fixture("warm_raise_rlimits.c");
    run_limited(&engine, "c", &c_code, &[], tight);
    let c = run_warm_limited(&engine, "c", &c_code, &[], tight);
    for (r, prlimit_self) in [(&py, true), (&c, false)] {
        assert_eq!(r.status, Status::Ok, "{r:?}");
        let out = stdout(r);
        let mut want = Vec::new();
        // RLIMIT_CPU is the backstop: one second past the run's limit, hard one more.
        for (name, soft, hard) in [("RLIMIT_FSIZE", 1_000_000, 1_000_000), ("RLIMIT_CPU", 2, 3)] {
            want.push(format!("{name} {soft} {hard}"));
            let refused = if prlimit_self { "ValueError" } else { "EPERM" };
            want.push(format!("raise-hard {name} {refused}"));
            want.push(format!(
                "raise-soft {name} {}",
                if prlimit_self { "ValueError" } else { "EINVAL" }
            ));
            want.push(format!("unlimited {name} {refused}"));
            if prlimit_self {
                want.push(format!("prlimit-self {name} PermissionError"));
            }
            want.push(format!(
                "prlimit-parent {name} {}",
                if prlimit_self { "PermissionError" } else { "EPERM" }
            ));
            want.push(format!("now {name} {soft} {hard}"));
        }
        want.push("write stopped 27 1000000".into());
        assert_eq!(out.lines().collect::<Vec<_>>(), want, "{r:?}");
    }
}

// Fork servers (the runtime file's `warm.fork_server`, `sandbox::ForkServer`): one interpreter
// start serves many runs, each in a child that enters its own namespaces and cgroup and drops
// every privilege before the run's code. These run the sandbox directly, on fork servers of
// this test process (`tiderun_tests::take_fork_server`), so every run below follows others on
// the same fork server. Each test runs for every runtime whose file declares a fork server,
// from the table of [`Probe`]s: the same attacks and checks, written in each language.

/// One language's programs for the fork-server tests. Each prints what the tests check in the
/// same words in every language (Python's list syntax), so the checks are written once.
struct Probe {
    runtime: &'static str,
    /// Compared with a cold run of the same program and stdin, one after another on the same
    /// fork server.
    as_cold: &'static [(&'static str, &'static str)],
    /// What the first of `as_cold` prints first: the run's own idea of itself.
    as_cold_starts: &'static str,
    /// A program that fails, and the start of its stderr.
    crash: (&'static str, &'static str),
    /// Leaves everything it can behind (files in /work and /tmp, two processes in sessions of
    /// their own, an environment variable, a variable of a module the fork server loaded,
    /// a SysV shared memory segment, a listening abstract socket, a module loaded); prints
    /// `shm true`, then a random number.
    leave_traces: &'static str,
    /// Looks for each of those: prints `[files in /work] [files in /tmp] [what it found]`,
    /// then a random number.
    look_for_traces: &'static str,
    /// Scans its own writable memory for `tiderun-leak-` and 32 hex digits whose SHA-256 is
    /// the line on stdin (the digits themselves are never in the program's memory); prints
    /// `found N`.
    scan_for_argv: &'static str,
    /// Prints its pid, the pids it sees, those it could SIGKILL, its descriptors, what
    /// PTRACE_ATTACH to pid 1 returned, which of pid 1's `mem`, `environ` and root it could
    /// open, its uid and euid; then its effective capabilities, seccomp mode and no_new_privs.
    reach_for_the_server: &'static str,
    /// Prints `hello`.
    hello: &'static str,
    /// Prints its parent's pid.
    parent: &'static str,
    /// Prints what it reads from stdin (one line).
    echo: &'static str,
    /// Ends on SIGABRT.
    abort: &'static str,
    /// Spins forever.
    spin: &'static str,
    /// Touches 1 GiB.
    hog: &'static str,
    /// Touches 40 MiB and prints how many bytes.
    hold_40_mib: &'static str,
    /// Forks until refused, then prints `refused after N`.
    fork_bomb: &'static str,
    /// SIGKILLs pid 1 (its init) and prints the errno, then `alive`.
    kill_init: &'static str,
    /// Writes one file until a write fails (SIGXFSZ ignored), then prints the errno and the
    /// file's size.
    fill_file: &'static str,
    /// Writes `plot.png` (`PNG`).
    draw: &'static str,
}

const PY_EXIT_HANDLERS: &str = r#"
import atexit, sys
atexit.register(lambda: print("exit handler", flush=False))
sys.stdout.write("no newline at the end")
"#;

/// What a run leaves in the memory it shares with its fork server, its namespaces and the
/// uid the fork server's runs share.
const PY_LEAVE_MORE_TRACES: &str = r#"
import ctypes, os, socket, subprocess, random
open("/work/left.txt", "w").write("secret")
open("/tmp/left.txt", "w").write("secret")
subprocess.Popen(["/bin/sleep", "30"], start_new_session=True)
if os.fork() == 0:
    os.setsid()
    os.execv("/bin/sleep", ["sleep", "31"])
os.environ["LEFT"] = "secret"
socket.LEFT = "secret"  # a module the fork server imported
libc = ctypes.CDLL(None, use_errno=True)
print("shm", str(libc.shmget(0x7469, 4096, 0o1000 | 0o666) >= 0).lower())  # IPC_CREAT
abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
abstract.bind(b"\0tiderun-left")
abstract.listen()
print(random.random())
"#;

const PY_LOOK_FOR_MORE_TRACES: &str = r#"
import ctypes, os, socket, sys, random
found = []
for p in ["/work/left.txt", "/tmp/left.txt"]:
    if os.path.exists(p):
        found.append(p)
if "LEFT" in os.environ:
    found.append("env")
if hasattr(socket, "LEFT"):
    found.append("memory")
if "subprocess" in sys.modules:
    found.append("modules")
for p in os.listdir("/proc"):
    if p.isdigit() and p != str(os.getpid()):
        found.append("process " + p)
libc = ctypes.CDLL(None, use_errno=True)
if libc.shmget(0x7469, 0, 0) >= 0:
    found.append("shm")
try:
    socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).connect(b"\0tiderun-left")
    found.append("socket")
except OSError:
    pass
print(sorted(os.listdir("/work")), sorted(os.listdir("/tmp")), found)
print(random.random())
"#;

const PY_SCAN_FOR_ARGV: &str = r#"
import hashlib, re, sys
want = sys.stdin.readline().strip()
found = 0
with open("/proc/self/maps") as maps, open("/proc/self/mem", "rb", 0) as mem:
    for line in maps:
        fields = line.split()
        if "w" not in fields[1]:
            continue
        lo, hi = (int(x, 16) for x in fields[0].split("-"))
        try:
            mem.seek(lo)
            data = mem.read(hi - lo)
        except OSError:
            continue
        for m in re.finditer(rb"tiderun-leak-([0-9a-f]{32})", data):
            if hashlib.sha256(m.group(1)).hexdigest() == want:
                found += 1
print("found", found)
"#;

/// From a run: every process it can see and signal, every descriptor it holds, and whether it
/// can trace or write to anything of its fork server.
const PY_REACH_FOR_THE_SERVER: &str = r#"
import ctypes, os, signal
me = os.getpid()
visible = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
signalled = []
for pid in range(1, 64):
    if pid == me:
        continue
    try:
        os.kill(pid, signal.SIGKILL)
        signalled.append(pid)
    except OSError:
        pass
def is_open(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False
fds = [fd for fd in range(4096) if is_open(fd)]
libc = ctypes.CDLL(None, use_errno=True)
traced = libc.ptrace(16, 1, 0, 0)  # PTRACE_ATTACH to the run's init
mem = []
for p in ["/proc/1/mem", "/proc/1/environ"]:
    try:
        open(p, "rb").close()
        mem.append(p)
    except OSError:
        pass
try:
    os.listdir("/proc/1/root/work")
    mem.append("/proc/1/root/work")
except OSError:
    pass
print(me, visible, signalled, fds, traced, mem, os.getuid(), os.geteuid())
status = open("/proc/self/status").read()
print(*(status.split(k + ":")[1].split()[0] for k in ["CapEff", "Seccomp", "NoNewPrivs"]))
"#;

const PYTHON: Probe = Probe {
    runtime: "python",
    as_cold: &[
        (PY_BEHAVES_AS_COLD, "你好\n"),
        ("def f():\n    return 1 / 0\nf()\n", ""),
        ("x = (\n", ""),
        ("import sys\nsys.exit(7)\n", ""),
        ("raise SystemExit('bye')\n", ""),
        (PY_EXIT_HANDLERS, ""),
        (
            "import subprocess\nprint(subprocess.run(['/bin/echo', 'child'], capture_output=True).stdout)\n",
            "",
        ),
        (
            "import threading\nt = threading.Thread(target=print, args=('thread',))\nt.start()\nt.join()\n",
            "",
        ),
        // A forked run ends without tearing the interpreter down, but as a cold one ends:
        // non-daemon threads joined, exit handlers, flushes, the exit status or signal.
        ("import threading, time\ndef late():\n    time.sleep(0.1)\n    print('late')\nthreading.Thread(target=late).start()\nprint('main done')\n", ""),
        ("raise KeyboardInterrupt\n", ""),
        ("import sys\nsys.exit(300)\n", ""),
        ("import sys\nprint('unflushed', end='')\nsys.stdout = open('/dev/null', 'w')\n", ""),
    ],
    as_cold_starts: "__main__ /work/main.py ['main.py', 'first arg'] /work /work\n你好\n",
    crash: (
        "def f():\n    return 1 / 0\nf()\n",
        "Traceback (most recent call last):\n  File \"/work/main.py\", line 3",
    ),
    leave_traces: PY_LEAVE_MORE_TRACES,
    look_for_traces: PY_LOOK_FOR_MORE_TRACES,
    reach_for_the_server: PY_REACH_FOR_THE_SERVER,
    scan_for_argv: PY_SCAN_FOR_ARGV,
    hello: "print('hello')",
    parent: "import os\nprint(os.getppid())\n",
    echo: "print(input())",
    abort: "import os\nos.abort()\n",
    spin: "while True:\n    pass\n",
    hog: "x = bytearray(1 << 30)\n",
    hold_40_mib: "x = bytearray(40 << 20)\nprint(len(x))\n",
    fork_bomb: "import os\nn = 0\nwhile True:\n    try:\n        os.fork()\n        n += 1\n    except OSError:\n        print('refused after', n, flush=True)\n        os._exit(0)\n",
    kill_init: "import os, signal\ntry:\n    os.kill(1, signal.SIGKILL)\nexcept OSError as e:\n    print(e.errno)\nprint('alive')\n",
    fill_file: PY_FILL_FILE,
    draw: "open('plot.png', 'wb').write(b'PNG')",
};

/// What a Perl run is told about itself: its name, arguments, file, caller, stdin, ids,
/// times, @INC and %INC, environment, signal handlers, what ps shows, the topic and context.
const PL_BEHAVES_AS_COLD: &str = r#"use strict;
use warnings;
my @c = caller;
print "$0 [@ARGV] ", __FILE__, ' ', __LINE__, ' ', __PACKAGE__, ' ', scalar(@c), "\n";
print scalar(<STDIN>);
print "$$ ", getppid(), " $< $> $( $) $^X ", (time - $^T < 5 ? 'now' : 'old'), " $^W\n";
print join(',', grep { ref } @INC), ' ', (exists $INC{'main.pl'} ? 'main.pl' : ''), "\n";
print "$_=$ENV{$_}\n" for sort keys %ENV;
print join(',', grep { defined $SIG{$_} } sort keys %SIG), "\n";
for my $f ('cmdline', 'comm', 'environ') {
    open(my $fh, '<', "/proc/self/$f") or die;
    local $/;
    (my $s = <$fh>) =~ s/\0/|/g;
    print "$f: $s\n";
}
print defined $_ ? 'topic' : 'no topic', ' ', scalar(@_), ' ', defined(wantarray) ? 'context' : 'no context', "\n";
print rand() < 1 ? "rand\n" : "no rand\n";
"#;

const PL_CARP: &str = r#"use Carp qw(confess croak cluck);
sub g { cluck "clucked" }
sub f { g(@_) }
f(1, "two");
sub h { croak "croaked" }
eval { h() }; print "caught: $@";
sub k { confess "confessed" }
k(3);
"#;

const PL_DESTROY: &str = r#"package Foo; sub new { bless {n => $_[1]}, $_[0] } sub DESTROY { print "destroyed $_[0]{n}\n" }
package main;
my $obj = Foo->new(1);
our $g = Foo->new(2);
END { print "end\n" }
print "body\n";
"#;

const PL_LEAVE_TRACES: &str = r#"use POSIX ();
use Socket;
open(my $f, '>', '/work/left.txt') or die; print $f 'secret'; close $f;
open($f, '>', '/tmp/left.txt') or die; print $f 'secret'; close $f;
for my $t (30, 31) {
    next if fork;
    POSIX::setsid();
    exec '/bin/sleep', $t;
    POSIX::_exit(1);
}
$ENV{LEFT} = 'secret';
$List::Util::LEFT = 'secret';    # a module the fork server loaded
print 'shm ', (defined shmget(0x7469, 4096, 01000 | 0666) ? 'true' : 'false'), "\n";    # IPC_CREAT
socket(my $s, AF_UNIX, SOCK_STREAM, 0) or die;
bind($s, pack_sockaddr_un("\0tiderun-left")) or die "bind: $!";
listen($s, 1) or die;
print rand(), "\n";
"#;

const PL_LOOK_FOR_TRACES: &str = r#"my @found;
-e $_ and push @found, $_ for '/work/left.txt', '/tmp/left.txt';
push @found, 'env' if exists $ENV{LEFT};
push @found, 'memory' if defined $List::Util::LEFT;
push @found, 'modules' if exists $INC{'Socket.pm'};
opendir(my $d, '/proc') or die;
push @found, map { "process $_" } grep { /^\d+$/ && $_ != $$ } readdir $d;
push @found, 'shm' if defined shmget(0x7469, 0, 0);
require Socket;
socket(my $s, Socket::AF_UNIX(), Socket::SOCK_STREAM(), 0) or die;
push @found, 'socket' if connect($s, Socket::pack_sockaddr_un("\0tiderun-left"));
sub names {
    opendir(my $h, $_[0]) or die;
    '[' . join(', ', map { "'$_'" } sort grep { !/^\.\.?$/ } readdir $h) . ']';
}
print names('/work'), ' ', names('/tmp'), ' [', join(', ', map { "'$_'" } @found), "]\n";
print rand(), "\n";
"#;

const PL_REACH_FOR_THE_SERVER: &str = r#"use Config;
my $me = $$;
opendir(my $d, '/proc') or die;
my @visible = sort { $a <=> $b } grep { /^\d+$/ } readdir $d;
closedir $d;
my @signalled = grep { $_ != $me && kill('KILL', $_) } 1 .. 63;
my @fds = grep { -l "/proc/self/fd/$_" } 0 .. 4095;
my $traced = syscall($Config{archname} =~ /^aarch64/ ? 117 : 101, 16, 1, 0, 0);    # PTRACE_ATTACH to the run's init
my @opened = grep { open(my $h, '<', $_) } '/proc/1/mem', '/proc/1/environ';
push @opened, '/proc/1/root/work' if opendir(my $w, '/proc/1/root/work');
print "$me [", join(', ', @visible), '] [', join(', ', @signalled), '] [', join(', ', @fds), "] $traced [",
    join(', ', map { "'$_'" } @opened), "] $< $>\n";
open(my $st, '<', '/proc/self/status') or die;
my %status = map { /^(\w+):\s*(\S+)/ ? ($1, $2) : () } <$st>;
print "@status{qw(CapEff Seccomp NoNewPrivs)}\n";
"#;

const PL_SCAN_FOR_ARGV: &str = r#"use Digest::SHA qw(sha256_hex);
my $want = <STDIN>;
chomp $want;
my $found = 0;
open(my $maps, '<', '/proc/self/maps') or die;
open(my $mem, '<:raw', '/proc/self/mem') or die;
while (my $line = <$maps>) {
    my ($range, $perms) = split ' ', $line;
    next unless $perms =~ /w/;
    my ($lo, $hi) = map { hex } split /-/, $range;
    sysseek($mem, $lo, 0) or next;
    my $data = '';
    sysread($mem, $data, $hi - $lo) or next;
    while ($data =~ /tiderun-leak-([0-9a-f]{32})/g) { $found++ if sha256_hex($1) eq $want }
}
print "found $found\n";
"#;

const PERL: Probe = Probe {
    runtime: "perl",
    as_cold: &[
        (PL_BEHAVES_AS_COLD, "你好\n"),
        // A die's message and status: 255, or the errno, or $? >> 8, as perl picks it.
        ("print \"before\\n\";\nsub f { die \"boom\" }\nf();\n", ""),
        ("open(my $f, '<', '/nope') or die \"cannot: $!\";\n", ""),
        ("$? = 3 << 8;\ndie \"with status\";\n", ""),
        ("$SIG{__DIE__} = sub { print \"handler: $_[0]\" };\ndie \"handled\\n\";\n", ""),
        ("package E; use overload '\"\"' => sub { \"E object\\n\" };\npackage main;\ndie bless {}, 'E';\n", ""),
        // exit, END blocks, output flushed at the end.
        ("END { print \"end block, status $?\\n\" }\nprint \"no newline\";\nexit 7;\n", ""),
        ("END { print \"end1\\n\" }\nEND { die \"in end\\n\" }\nprint \"main\\n\";\n", ""),
        ("eval { exit 4 }; print \"not reached\\n\";\n", ""),
        // stdin, and a die's "<STDIN> line 2".
        ("my $n = 0;\nwhile (my $l = <STDIN>) { chomp $l; $n++; print \"got [$l]\\n\" }\nprint \"lines $n, last $.\\n\";\ndie \"after reading\";\n", "one\ntwo\n"),
        // Compile errors, as perl reports them for the file it runs.
        ("print \"a\\n\";\nmy $x = ;\nmy $y = ;\n", ""),
        ("use strict;\nuse warnings;\n$x = 1;\n", ""),
        ("use NoSuchModuleHere;\n", ""),
        ("print \"abc;\n", ""),
        ("my $x = ;\nuse strict;\nBEGIN { print \"begin\\n\" }\n", ""),
        ("#!/usr/bin/perl -w\nmy $x; print \"v\" . $x . \"\\n\"; print \"W=$^W\\n\";\n", ""),
        // Other switches on the #! line, or another interpreter there: perl itself, exec'ed.
        ("#!/usr/bin/perl -l\nprint \"a\"; print \"b\";\n", ""),
        ("#!/usr/bin/perl -w -l\nprint \"W=$^W\";\n", ""),
        ("#!/bin/sh\necho shell \"$0\" \"$1\" $$\n", ""),
        ("  #!/usr/bin/perl -w\r\nmy $x; print \"v\" . $x . \"\\n\";\r\n", ""),
        ("use warnings;\nmy $u;\nprint \"x\" . $u, \"\\n\";\nwarn \"careful\";\nwarn \"with newline\\n\";\n", ""),
        // The file's text after __END__ and __DATA__.
        ("while (<DATA>) { print \"data: $_\" }\nprint tell(DATA) > 0 ? \"pos\\n\" : \"zero\\n\";\n__END__\none\ntwo\n", ""),
        ("package Foo;\nwhile (<DATA>) { print \"data: $_\" }\n__DATA__\nalpha\n", ""),
        ("use utf8;\nbinmode STDOUT, ':utf8';\nwhile (<DATA>) { print length($_), \"\\n\" }\n__END__\nné\n", ""),
        ("seek(DATA, 0, 0); my @l = <DATA>; print scalar(@l), \" lines, first: $l[0]\";\n__DATA__\nx\n", ""),
        // caller: the file has none; a backtrace ends at it.
        (PL_CARP, ""),
        ("package Main;\nsub run { print \"ran with @ARGV\\n\" }\nrun() unless caller;\n", ""),
        ("sub f { my @c = caller(0); print \"@c[0..3]\\n\"; my @d = caller(1); print scalar(@d), \"\\n\"; print scalar(caller), \"\\n\" }\nf();\nsub g { f() } g();\n", ""),
        (PL_DESTROY, ""),
        // How a program ends: a piped open's child waited for, an AUTOLOAD called for DESTROY
        // in global destruction, $? set by an END block, a handle never closed.
        ("open(P, '|-', '/bin/sh', '-c', 'sleep 0.2; cat') or die; print P \"piped\\n\"; print \"main\\n\";\n", ""),
        ("package Foo; our $AUTOLOAD; sub AUTOLOAD { print \"autoload $AUTOLOAD\\n\" }\npackage main; our $x = bless {}, 'Foo';\n", ""),
        ("END { $? = 3 }\nprint \"x\";\n", ""),
        ("our $fh; open($fh, '>', 'x.txt') or die; print $fh 'data'; print STDERR \"to stderr\";\n", ""),
        ("use v5.36;\nsay \"hi\";\nmy sub f ($x) { $x * 2 } say f(21);\n", ""),
        ("$| = 1;\nmy $pid = fork;\nif ($pid == 0) { print \"child\\n\"; exit 3 }\nwaitpid($pid, 0); print \"child status \", $? >> 8, \"\\n\";\nprint `echo from backticks`;\nsystem(\"echo\", \"from system\"); print \"sys $?\\n\";\n", ""),
        ("$| = 1; print \"x\\n\"; kill 'TERM', $$; sleep 1; print \"not reached\\n\";\n", ""),
        ("our ($name, $val) = (\"alpha\", 42);\nformat STDOUT =\n@<<<<<<<< @>>>>\n$name,    $val\n.\nwrite;\n", ""),
        ("use Test::More tests => 2;\nok(1, \"one\");\nis(2, 3, \"two\");\n", ""),
        ("open(my $o, '>', 'out.txt') or die; print $o \"hello\\n\"; close $o;\nopen(my $i, '<', 'out.txt') or die; my $l = <$i>; print \"read $l\";\ndie \"after read\";\n", ""),
        ("$0 = 'renamed';\nfor my $f ('cmdline', 'comm') { open(my $h, '<', \"/proc/self/$f\") or die; local $/; (my $s = <$h>) =~ s/\\0/|/g; print \"$f: $s\\n\" }\n", ""),
    ],
    as_cold_starts: "main.pl [first arg] main.pl 4 main 0\n你好\n2 1 1000 1000 ",
    crash: ("sub f { die 'boom' }\nf();\n", "boom at main.pl line 1.\n"),
    leave_traces: PL_LEAVE_TRACES,
    look_for_traces: PL_LOOK_FOR_TRACES,
    reach_for_the_server: PL_REACH_FOR_THE_SERVER,
    scan_for_argv: PL_SCAN_FOR_ARGV,
    hello: "print \"hello\\n\";",
    parent: "print getppid(), \"\\n\";",
    echo: "print scalar(<STDIN>);",
    abort: "use POSIX ();\nPOSIX::abort();\n",
    spin: "1 while 1;\n",
    hog: "my $x = 'x' x (1 << 30);\n",
    hold_40_mib: "vec(my $x, (40 << 20) - 1, 8) = 1;\nprint length($x), \"\\n\";\n",
    fork_bomb: "use POSIX ();\nmy $n = 0;\nwhile (1) {\n    if (defined fork) { $n++ } else { $| = 1; print \"refused after $n\\n\"; POSIX::_exit(0) }\n}\n",
    kill_init: "if (kill 'KILL', 1) { print \"killed\\n\" } else { print $! + 0, \"\\n\" }\nprint \"alive\\n\";\n",
    fill_file: "$SIG{XFSZ} = 'IGNORE';\nopen(my $f, '>', 'big') or die;\nmy $chunk = 'f' x 65536;\n1 while syswrite($f, $chunk);\nprint $! + 0, ' ', -s $f, \"\\n\";\n",
    draw: "open(my $f, '>', 'plot.png') or die; print $f 'PNG';\n",
};

/// The embedded catalog (the runtime files the tests' fork servers come from).
fn catalog() -> &'static runtimes::Catalog {
    static CATALOG: std::sync::OnceLock<runtimes::Catalog> = std::sync::OnceLock::new();
    CATALOG.get_or_init(|| {
        // Detected, with the support files written, as the engine has them: the runtime's
        // plans name them (`{support}`) and its sandboxes bind them.
        let mut catalog = runtimes::Catalog::embedded().expect("the embedded catalog loads");
        catalog.detect();
        engine::install_support_files(&mut catalog, rustix::process::geteuid().is_root());
        catalog
    })
}

/// The probes of the runtimes whose files declare a fork server, each installed here (else
/// counted as skipped). A runtime file that declares one without a probe in this table (or a
/// probe of a runtime that declares none) fails every test below.
fn probes() -> Vec<&'static Probe> {
    let table: [&'static Probe; 2] = [&PYTHON, &PERL];
    let mut declared: Vec<&str> = catalog()
        .iter()
        .filter(|r| r.warm.fork_server.is_some())
        .map(|r| r.name.as_str())
        .collect();
    let mut probed: Vec<&str> = table.iter().map(|p| p.runtime).collect();
    declared.sort_unstable();
    probed.sort_unstable();
    assert_eq!(
        declared, probed,
        "the runtimes that declare a fork server, and the probes of these tests"
    );
    table
        .into_iter()
        .filter(|p| {
            let argv = catalog().get(p.runtime).and_then(|r| r.warm.fork_server.clone());
            let installed = argv.is_some_and(|a| std::path::Path::new(&a[0]).exists());
            if !installed {
                testkit::skip(format!("{}'s fork server: its interpreter is not installed", p.runtime));
            }
            installed
        })
        .collect()
}

/// A run of `code` (as the runtime's main file, with one argument) of `probe`'s runtime, as
/// the engine makes it (the runtime file's argv and environment).
fn spec(probe: &Probe, code: &str, stdin: &str, limits: sandbox::Limits) -> (sandbox::RunSpec, Vec<u8>) {
    let runtime = catalog().get(probe.runtime).expect("the probe's runtime");
    let plan = runtime
        .plan(&runtime.file, &["first arg".to_string()])
        .expect("the runtime's run plan");
    let mut spec = sandbox::RunSpec::new(plan.run.argv);
    spec.env = plan.run.env;
    spec.files.push(sandbox::InputFile {
        path: runtime.file.clone(),
        content: code.as_bytes().to_vec(),
        executable: false,
        read_only: false,
    });
    spec.limits = limits;
    (spec, stdin.as_bytes().to_vec())
}

/// Run `spec` in a child of `server`.
fn forked(server: &mut sandbox::ForkServer, spec: &(sandbox::RunSpec, Vec<u8>)) -> sandbox::RunResult {
    let sb = tiderun_tests::sandbox();
    let runs = server.runs();
    let child = sb.fork_run(server, &spec.0).unwrap_or_else(|e| {
        panic!(
            "the {} fork server did not fork the run: {e:?}; its stderr: {}",
            spec.0.argv[0],
            String::from_utf8_lossy(&server.stderr(65536))
        )
    });
    assert_eq!(server.runs(), runs + 1);
    let io = sandbox::RunIo {
        stdin: sandbox::Stdin::Bytes(spec.1.clone()),
        ..sandbox::RunIo::default()
    };
    let r = sb.run_forked(child, &spec.0, io);
    r.unwrap_or_else(|e| {
        panic!(
            "the forked {} run failed: {e:?}; fork server's stderr: {}",
            spec.0.argv[0],
            String::from_utf8_lossy(&server.stderr(65536))
        )
    })
}

fn cold(spec: &(sandbox::RunSpec, Vec<u8>)) -> sandbox::RunResult {
    let io = sandbox::RunIo {
        stdin: sandbox::Stdin::Bytes(spec.1.clone()),
        ..sandbox::RunIo::default()
    };
    tiderun_tests::sandbox().run(&spec.0, io).expect("the cold run runs")
}

fn seen(r: &sandbox::RunResult) -> (Status, Option<i32>, String, String) {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (r.status, r.exit_code, text(&r.stdout), text(&r.stderr))
}

/// A fork server for `probe`'s runs with `limits`, after the harness's preflight.
fn fork_server(probe: &Probe, limits: sandbox::Limits) -> sandbox::ForkServer {
    tiderun_tests::preflight();
    tiderun_tests::take_fork_server(tiderun_tests::sandbox(), &spec(probe, "", "", limits).0)
}

#[test]
#[ignore = "needs root: fork servers are root's"]
fn a_fork_server_runs_a_program_like_a_cold_interpreter() {
    if !testkit::root_or_skip("fork servers are root's") {
        return;
    }
    for probe in probes() {
        let mut server = fork_server(probe, sandbox::Limits::default());
        for (code, stdin) in probe.as_cold {
            let spec = spec(probe, code, stdin, sandbox::Limits::default());
            let (cold, warm) = (cold(&spec), forked(&mut server, &spec));
            assert_eq!(
                seen(&warm),
                seen(&cold),
                "a forked {} run must look like a cold one: {code}",
                probe.runtime
            );
        }
        let first = spec(
            probe,
            probe.as_cold[0].0,
            probe.as_cold[0].1,
            sandbox::Limits::default(),
        );
        let out = seen(&forked(&mut server, &first)).2;
        assert!(out.starts_with(probe.as_cold_starts), "{}: {out}", probe.runtime);
        let r = forked(&mut server, &spec(probe, probe.crash.0, "", sandbox::Limits::default()));
        assert_eq!(r.status, Status::RuntimeError, "{}", tiderun_tests::describe(&r));
        assert!(
            String::from_utf8_lossy(&r.stderr).starts_with(probe.crash.1),
            "{}",
            tiderun_tests::describe(&r)
        );
        tiderun_tests::put_fork_server(server);
    }
}

#[test]
#[ignore = "needs root: fork servers are root's"]
fn a_run_cannot_see_or_change_the_next_one_from_the_same_fork_server() {
    if !testkit::root_or_skip("fork servers are root's") {
        return;
    }
    for probe in probes() {
        let mut server = fork_server(probe, sandbox::Limits::default());
        let mut randoms = std::collections::HashSet::new();
        let file = &catalog().get(probe.runtime).expect("runtime").file;
        for _ in 0..3 {
            let first = forked(
                &mut server,
                &spec(probe, probe.leave_traces, "", sandbox::Limits::default()),
            );
            let first = seen(&first);
            assert_eq!(first.0, Status::Ok, "{}: {first:?}", probe.runtime);
            assert!(first.2.starts_with("shm true\n"), "{}: {first:?}", probe.runtime);
            let second = forked(
                &mut server,
                &spec(probe, probe.look_for_traces, "", sandbox::Limits::default()),
            );
            let second = seen(&second);
            assert_eq!(second.0, Status::Ok, "{}: {second:?}", probe.runtime);
            let mut lines = second.2.lines();
            assert_eq!(
                lines.next(),
                Some(format!("['{file}'] [] []").as_str()),
                "{}: {second:?}",
                probe.runtime
            );
            // The random generator is seeded afresh in every run (the fork server's memory is
            // shared).
            for r in [
                first.2.lines().nth(1).unwrap_or_default(),
                lines.next().unwrap_or_default(),
            ] {
                assert!(
                    randoms.insert(r.to_string()),
                    "{}: random state repeated: {r}",
                    probe.runtime
                );
            }
        }
        tiderun_tests::put_fork_server(server);
    }
}

#[test]
#[ignore = "needs root: fork servers are root's"]
fn a_runs_arguments_are_not_in_the_memory_of_the_next_run_from_the_same_fork_server() {
    if !testkit::root_or_skip("fork servers are root's") {
        return;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    for probe in probes() {
        let mut server = fork_server(probe, sandbox::Limits::default());
        let secret = format!("{:032x}", nanos * 7919 + probe.runtime.len() as u128);
        let digest = {
            use sha2::Digest;
            let d = sha2::Sha256::digest(secret.as_bytes());
            d.iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        let scan = |server: &mut sandbox::ForkServer, with_secret: bool| {
            let mut run = spec(
                probe,
                probe.scan_for_argv,
                &format!("{digest}\n"),
                sandbox::Limits::default(),
            );
            if with_secret {
                run.0.argv.push(format!("tiderun-leak-{secret}"));
            }
            seen(&forked(server, &run))
        };
        // The scan itself works: it finds the secret in the run that was given it.
        let own = scan(&mut server, true);
        assert!(
            own.2.starts_with("found ") && own.2 != "found 0\n",
            "{}: {own:?}",
            probe.runtime
        );
        for _ in 0..2 {
            let next = scan(&mut server, false);
            assert_eq!(
                (next.0, next.2.as_str()),
                (Status::Ok, "found 0\n"),
                "{}: {next:?}",
                probe.runtime
            );
        }
        tiderun_tests::put_fork_server(server);
    }
}

#[test]
#[ignore = "needs root: fork servers are root's"]
fn a_run_cannot_signal_trace_or_write_to_its_fork_server() {
    if !testkit::root_or_skip("fork servers are root's") {
        return;
    }
    for probe in probes() {
        let mut server = fork_server(probe, sandbox::Limits::default());
        let init = server.init_pid();
        // The fork server is its sandbox's init's only child.
        let fork_server_pid = || -> u32 {
            let children = std::fs::read_to_string(format!("/proc/{init}/task/{init}/children")).expect("children");
            children
                .split_whitespace()
                .next()
                .expect("the fork server")
                .parse()
                .expect("a pid")
        };
        let before = fork_server_pid();
        let r = forked(
            &mut server,
            &spec(probe, probe.reach_for_the_server, "", sandbox::Limits::default()),
        );
        let out = seen(&r);
        assert_eq!(out.0, Status::Ok, "{}: {out:?}", probe.runtime);
        // Only itself in its pid namespace (its init is hidden), nothing signalled, only
        // stdio, no tracing, nothing of its init readable, uid 1000, no capability, a seccomp
        // filter (mode 2) and no_new_privs.
        assert_eq!(
            out.2, "2 [2] [] [0, 1, 2] -1 [] 1000 1000\n0000000000000000 2 1\n",
            "{}: {out:?}",
            probe.runtime
        );
        assert!(server.alive(), "the {} fork server survived the run", probe.runtime);
        assert_eq!(fork_server_pid(), before, "the same fork server");
        let status = std::fs::read_to_string(format!("/proc/{before}/status")).expect("status");
        assert!(status.contains("TracerPid:\t0\n"), "{status}");
        let hello = forked(&mut server, &spec(probe, probe.hello, "", sandbox::Limits::default()));
        assert_eq!(seen(&hello).2, "hello\n", "{}", probe.runtime);
        // Files a run leaves are read back as from a cold run (the classroom's images).
        let mut drew = spec(probe, probe.draw, "", sandbox::Limits::default());
        drew.0.collect = Some(sandbox::Collect::all(4, 1 << 20));
        let r = forked(&mut server, &drew);
        let files: Vec<(String, Vec<u8>)> = r.files.into_iter().map(|f| (f.path, f.content)).collect();
        assert!(
            files.contains(&("plot.png".into(), b"PNG".to_vec())),
            "{}: {files:?}",
            probe.runtime
        );
        tiderun_tests::put_fork_server(server);
    }
}

/// The host pids of `pid`'s children.
fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn link(path: String) -> String {
    std::fs::read_link(path).map_or_else(|_| String::new(), |l| l.to_string_lossy().into_owned())
}

/// x86-64 system call numbers: recvfrom and recvmsg; poll, select, pselect6 and ppoll.
const RECEIVE: &[u32] = &[45, 47];
const POLL: &[u32] = &[7, 23, 270, 271];

/// Whether `pid` is blocked in one of `calls` (per /proc/PID/syscall; root reads it).
fn waits_in(pid: u32, calls: &[u32]) -> bool {
    let now = std::fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
    now.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .is_some_and(|n| calls.contains(&n))
}

/// What `pid`'s open descriptors refer to (`pipe:[..]`, `socket:[..]`, paths).
fn descriptors_of(pid: u32) -> Vec<String> {
    let mut fds: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .map(|e| link(e.path().to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default();
    fds.sort();
    fds
}

#[test]
#[ignore = "needs root: fork servers are root's"]
fn the_next_runs_child_is_made_ahead_and_holds_nothing_of_any_run() {
    if !testkit::root_or_skip("fork servers are root's") {
        return;
    }
    for probe in probes() {
        let mut server = fork_server(probe, sandbox::Limits::default());
        let init = server.init_pid() as u32;
        let fork_server = children_of(init)[0];
        let ns = |pid: u32, kind: &str| link(format!("/proc/{pid}/ns/{kind}"));
        // The children of the fork server in namespaces of their own (made ahead, or a run's
        // init).
        let ahead = || -> Vec<u32> {
            children_of(fork_server)
                .into_iter()
                .filter(|&c| {
                    ["pid", "mnt", "net", "ipc", "uts"]
                        .iter()
                        .all(|k| !ns(c, k).is_empty() && ns(c, k) != ns(fork_server, k))
                })
                .collect()
        };
        let mut previous = 0;
        for _ in 0..3 {
            // Idle, the fork server has made the next run's child: one, not the last run's.
            let deadline = Instant::now() + Duration::from_secs(10);
            // Both settled: the child waits for its run, the fork server for a request.
            let child = loop {
                let now = ahead();
                if now.len() == 1 && now[0] != previous && waits_in(now[0], RECEIVE) && waits_in(fork_server, POLL) {
                    break now[0];
                }
                assert!(
                    Instant::now() < deadline,
                    "{}: no child made ahead of the next run: {now:?} (the last run's: {previous})",
                    probe.runtime
                );
                std::thread::sleep(Duration::from_millis(20));
            };
            // It holds what the fork server holds but its request socket, and a socket of its
            // own: nothing of any run. (A child cloned straight into its namespaces closes the
            // fork server's own sockets in its first instants: it is given those.)
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let (ours, its) = (descriptors_of(fork_server), descriptors_of(child));
                let new: Vec<&String> = its.iter().filter(|t| !ours.contains(t)).collect();
                if new.len() == 1 && new[0].starts_with("socket:") && its.len() < ours.len() {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{}: the child made ahead holds {its:?}; the fork server {ours:?}",
                    probe.runtime
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            let status = std::fs::read_to_string(format!("/proc/{child}/status")).unwrap_or_default();
            assert!(
                status.contains("NSpid:") && status.lines().any(|l| l.starts_with("NSpid:") && l.ends_with("\t1")),
                "{status}"
            );
            // The next run takes it: its pid 1 is that child.
            let r = forked(&mut server, &spec(probe, probe.parent, "", sandbox::Limits::default()));
            assert_eq!(
                seen(&r),
                (Status::Ok, Some(0), "1\n".into(), String::new()),
                "{}",
                probe.runtime
            );
            let deadline = Instant::now() + Duration::from_secs(10);
            while std::path::Path::new(&format!("/proc/{child}")).exists() {
                assert!(Instant::now() < deadline, "the run's init {child} outlived its run");
                std::thread::sleep(Duration::from_millis(20));
            }
            previous = child;
        }
        // A child made ahead that ends while it waits is replaced before a run needs it.
        let deadline = Instant::now() + Duration::from_secs(10);
        let child = loop {
            let now = ahead();
            if now.len() == 1 && now[0] != previous {
                break now[0];
            }
            assert!(Instant::now() < deadline, "no child made ahead: {now:?}");
            std::thread::sleep(Duration::from_millis(20));
        };
        // SAFETY: kill(2) on the host pid of the fork server's idle child.
        assert_eq!(unsafe { libc::kill(child as i32, libc::SIGKILL) }, 0);
        // Replaced once the fork server sees its socket close: only then may a run come (a
        // run sent to a child that dies first is answered by end of file, and the engine runs
        // it cold).
        loop {
            let now = ahead();
            if now.len() == 1 && now[0] != child {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the killed child {child} is not replaced: {now:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let hello = forked(&mut server, &spec(probe, probe.hello, "", sandbox::Limits::default()));
        assert_eq!(
            seen(&hello),
            (Status::Ok, Some(0), "hello\n".into(), String::new()),
            "{}",
            probe.runtime
        );
        assert!(server.alive());
        tiderun_tests::put_fork_server(server);
    }
}

#[test]
#[ignore = "needs root: fork servers are root's"]
fn crashed_killed_and_limited_runs_leave_the_fork_server_serving_and_are_measured() {
    if !testkit::root_or_skip("fork servers are root's") {
        return;
    }
    let limits = tiderun_tests::tight_limits();
    for probe in probes() {
        let mut server = fork_server(probe, limits);
        let run = |server: &mut sandbox::ForkServer, code: &str| forked(server, &spec(probe, code, "", limits));
        let abort = run(&mut server, probe.abort);
        assert_eq!(abort.status, Status::Signal, "{}", tiderun_tests::describe(&abort));
        // Wall time to spare: on a loaded machine a second of CPU may take more than three.
        let spin = spec(
            probe,
            probe.spin,
            "",
            sandbox::Limits {
                wall_ms: 60_000,
                ..limits
            },
        );
        let cpu = forked(&mut server, &spin);
        assert_eq!(cpu.status, Status::TimeLimit, "{}", tiderun_tests::describe(&cpu));
        assert!(cpu.cpu_time_ms >= limits.cpu_ms, "{}", tiderun_tests::describe(&cpu));
        let memory = run(&mut server, probe.hog);
        assert_eq!(
            memory.status,
            Status::MemoryLimit,
            "{}",
            tiderun_tests::describe(&memory)
        );
        // The memory a run touches is charged to its own cgroup and measured.
        let used = run(&mut server, probe.hold_40_mib);
        assert_eq!(used.status, Status::Ok, "{}", tiderun_tests::describe(&used));
        assert!(
            used.memory_kb >= 40 << 10 && used.memory_kb < limits.memory_bytes >> 10,
            "{}",
            tiderun_tests::describe(&used)
        );
        // At most max_processes tasks: the fork bomb stops there and is killed at the wall time.
        let bomb = run(&mut server, probe.fork_bomb);
        assert!(
            String::from_utf8_lossy(&bomb.stdout).contains("refused after"),
            "{}",
            tiderun_tests::describe(&bomb)
        );
        let init = run(&mut server, probe.kill_init);
        assert_eq!(seen(&init).2, "1\nalive\n", "{}", tiderun_tests::describe(&init));
        assert!(server.alive(), "the {} fork server serves on", probe.runtime);
        let hello = run(&mut server, probe.hello);
        assert_eq!(
            seen(&hello),
            (Status::Ok, Some(0), "hello\n".into(), String::new()),
            "{}",
            probe.runtime
        );
        tiderun_tests::put_fork_server(server);
    }
}

/// Runs forked so far from the fork servers of `runtime`, and how many are idle.
fn fork_stats(engine: &Engine, runtime: &str) -> (u64, usize) {
    engine
        .fork_server_stats()
        .into_iter()
        .find(|(r, _, _)| r == runtime)
        .map_or((0, 0), |(_, runs, idle)| (runs, idle))
}

#[test]
#[ignore = "needs root: fork servers are root's"]
fn the_engine_runs_each_fork_server_runtime_in_its_children_each_with_its_own_limits() {
    if !testkit::root_or_skip("fork servers are root's") {
        return;
    }
    tiderun_tests::preflight();
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
            forks: engine::ForkConfig {
                servers: 1,
                max_runs: 4,
                ..engine::ForkConfig::default()
            },
            ..PoolConfig::default()
        },
    );
    for probe in probes() {
        let runtime = probe.runtime;
        let wait_idle_server = || {
            let deadline = Instant::now() + Duration::from_secs(30);
            while fork_stats(&engine, runtime).1 == 0 {
                assert!(Instant::now() < deadline, "no {runtime} fork server within 30 s");
                std::thread::sleep(Duration::from_millis(20));
            }
        };
        wait_idle_server();
        let (status, out, err) = run(&engine, runtime, probe.echo, "hi\n");
        assert_eq!(
            (status, out.as_str(), err.as_str()),
            (Status::Ok, "hi\n", ""),
            "{runtime}"
        );
        assert_eq!(fork_stats(&engine, runtime).0, 1, "the {runtime} run was forked");
        // Limits other than the runtime's defaults are the run's own (its cgroup and rlimits).
        wait_idle_server();
        let spin = run_limited(&engine, runtime, probe.spin, &[], cpu(300));
        assert_eq!(
            (spin.status, spin.start),
            (Status::TimeLimit, Some(Start::Warm)),
            "{spin:?}"
        );
        assert!(spin.cpu_time_ms >= 300, "{spin:?}");
        wait_idle_server();
        let hog = run_limited(&engine, runtime, probe.hog, &[], memory(64));
        assert_eq!(
            (hog.status, hog.start),
            (Status::MemoryLimit, Some(Start::Warm)),
            "{hog:?}"
        );
        wait_idle_server();
        // The file stops at exactly the run's limit (EFBIG = 27), as in a cold run.
        let big = run_limited(&engine, runtime, probe.fill_file, &[], file_size(10000));
        assert_eq!((big.status, stdout(&big)), (Status::Ok, "27 10000\n".into()), "{big:?}");
        assert_eq!(fork_stats(&engine, runtime).0, 4);
        // Past its runs, the fork server is replaced, and the next run is served by the new one.
        wait_idle_server();
        let (status, out, _) = run(&engine, runtime, probe.hello, "");
        assert_eq!((status, out.as_str()), (Status::Ok, "hello\n"), "{runtime}");
        assert_eq!(fork_stats(&engine, runtime).0, 5);
    }
}
