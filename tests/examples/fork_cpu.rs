//! CPU and latency of one hello world (Python's, or RUNTIME's, or the program in FILE, which
//! must print `Hello, world!`): cold sandbox against a fork server's child, run back to back
//! in this process (root only). CPU per run counts everything: this process (the supervisor),
//! its reaped children (a cold run's init and program), the runs' cgroups and the fork
//! server's own cgroup.
//!
//! `cargo run --release -p tiderun-tests --example fork_cpu -- [RUNS] [RUNTIME] [FILE]` (with
//! `FORK_ONLY=1`, the fork server's runs alone, to profile them)

use std::time::{Duration, Instant};

use sandbox::{InputFile, InstanceSpec, RunIo, RunSpec, Sandbox, SandboxOptions, ZygoteSpec};

fn rusage_ns(who: i32) -> u64 {
    // SAFETY: getrusage fills a plain struct on the stack.
    let u = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut u);
        u
    };
    let ns = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1000;
    ns(u.ru_utime) + ns(u.ru_stime)
}

fn percentile(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1000.0
}

fn main() {
    let runs: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    let name = std::env::args().nth(2).unwrap_or_else(|| "python".into());
    let catalog = runtimes::Catalog::embedded().expect("catalog");
    let runtime = catalog.get(&name).expect("a runtime of the catalog");
    let server_argv = runtime.warm.fork_server.clone().expect("the runtime has a fork server");
    let sb = Sandbox::new(SandboxOptions::default()).expect("sandbox");
    // The run as the engine makes it: the runtime file's argv and environment, its hello world.
    let plan = runtime.plan(&runtime.file, &[]).expect("a run plan");
    let mut spec = RunSpec::new(plan.run.argv);
    spec.env = plan.run.env;
    spec.files.push(InputFile {
        path: runtime.file.clone(),
        content: match std::env::args().nth(3) {
            Some(file) => std::fs::read(file).expect("the program file"),
            None => runtime.example.hello.as_bytes().to_vec(),
        },
        executable: false,
        read_only: false,
    });
    let mut server = sb
        .start_fork_server(&InstanceSpec {
            limits: spec.limits,
            binds: Vec::new(),
            network: false,
            zygote: Some(ZygoteSpec {
                argv: server_argv,
                env: spec.env.clone(),
            }),
        })
        .expect("fork server");
    // FORK_ONLY=1: the fork server's runs alone (to profile them).
    let kinds = if std::env::var_os("FORK_ONLY").is_some() {
        &["fork server"][..]
    } else {
        &["cold", "fork server"][..]
    };
    for &kind in kinds {
        let (self0, children0, server0) = (
            rusage_ns(libc::RUSAGE_SELF),
            rusage_ns(libc::RUSAGE_CHILDREN),
            server.cpu_usage_ns(),
        );
        let mut run_cpu_ms = 0u64;
        let mut lat = Vec::with_capacity(runs);
        // A forked run's request path before go: fork_run (the child's readiness, the cgroup
        // move, the files).
        let mut ready = Vec::with_capacity(runs);
        let begun = Instant::now();
        for _ in 0..runs {
            let t = Instant::now();
            let r = if kind == "cold" {
                sb.run(&spec, RunIo::default())
            } else {
                sb.fork_run(&mut server, &spec).and_then(|f| {
                    ready.push(t.elapsed());
                    sb.run_forked(f, &spec, RunIo::default())
                })
            }
            .expect("run");
            lat.push(t.elapsed());
            assert_eq!(r.stdout, b"Hello, world!\n", "{r:?}");
            if kind != "cold" {
                run_cpu_ms += r.cpu_time_ms;
            }
        }
        let elapsed = begun.elapsed();
        sb.wait_idle(Duration::from_secs(10));
        let cpu_ns = (rusage_ns(libc::RUSAGE_SELF) - self0)
            + (rusage_ns(libc::RUSAGE_CHILDREN) - children0)
            + (server.cpu_usage_ns() - server0)
            + run_cpu_ms * 1_000_000;
        let per_run = |ns: u64| ns as f64 / runs as f64 / 1e6;
        println!(
            "{kind}: {runs} runs back to back, {:.1} runs/s, p50 {:.2} ms, p99 {:.2} ms, CPU per run {:.2} ms \
             (supervisor {:.2}, reaped children {:.2}, fork server's cgroup {:.2}, runs' cgroups {:.2}){}",
            runs as f64 / elapsed.as_secs_f64(),
            percentile(&mut lat, 0.5),
            percentile(&mut lat, 0.99),
            per_run(cpu_ns),
            per_run(rusage_ns(libc::RUSAGE_SELF) - self0),
            per_run(rusage_ns(libc::RUSAGE_CHILDREN) - children0),
            per_run(server.cpu_usage_ns() - server0),
            per_run(run_cpu_ms * 1_000_000),
            if ready.is_empty() {
                String::new()
            } else {
                format!(
                    "; until go: p50 {:.2} ms, p99 {:.2} ms",
                    percentile(&mut ready, 0.5),
                    percentile(&mut ready, 0.99)
                )
            },
        );
    }
}
