//! The resource half of the hostile suite: programs that try to exhaust CPU, memory, processes,
//! time, output, disk, inodes and descriptors, or to outlive their run. Each test asserts the
//! exact status the sandbox gives and that no harm was done: [`hostile`] checks that nothing of
//! the run is left running and no cgroup is left behind; the tests add their own checks (the
//! host can still start processes, the sandbox runs a normal program right after, output is
//! bounded by the cap).
//!
//! Fixtures are in `tests/hostile/limits_*`, one per attack.

use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::{Duration, Instant};

use sandbox::{Output, StreamKind};
use tiderun_tests::{
    c_spec, differs_without_root, hostile, script_spec, stand_in, stdout, tight_limits, unprivileged_uid, without_root,
    Limits, RunIo, RunResult, RunSpec, Status, Stdin,
};

/// A fast run: 1 s CPU, 3 s wall, 64 MiB, 16 tasks.
fn limits() -> Limits {
    tight_limits()
}

/// Wall limit of the tests that end on CPU time. Runs share the host's CPU per task (v1: no
/// cpu controller per run), so next to a fork bomb of a parallel test a run may get a small
/// share; a roomy wall limit keeps "ended by CPU time" deterministic. Such a test still lasts
/// about a second.
const CPU_TEST_WALL_MS: u64 = 10_000;

/// Memory limit of fork-bomb runs: far above what the churn of failing forks charges to a run
/// in a second (50-64 MiB here), so that a bomb ends on CPU time, deterministically.
const BOMB_MEMORY_BYTES: u64 = 256 << 20;

/// [`limits`] with room on the wall clock, for the tests that must end on CPU time.
fn cpu_limits() -> Limits {
    Limits {
        wall_ms: CPU_TEST_WALL_MS,
        ..limits()
    }
}

fn with_limits(mut spec: RunSpec, limits: Limits) -> RunSpec {
    spec.limits = limits;
    spec
}

fn run(spec: &RunSpec) -> RunResult {
    let r = hostile(spec, RunIo::default());
    summary(&r);
    r
}

/// One line per run on stderr (shown for failing tests): the status and measurements, without
/// megabytes of flood output.
fn summary(r: &RunResult) {
    let head = |b: &[u8]| String::from_utf8_lossy(&b[..b.len().min(200)]).into_owned();
    eprintln!(
        "run: {} exit {:?} signal {:?} cpu {} ms wall {} ms memory {} KiB stdout {} B {:?} stderr {} B {:?} message {:?}",
        r.status,
        r.exit_code,
        r.signal,
        r.cpu_time_ms,
        r.wall_time_ms,
        r.memory_kb,
        r.stdout.len(),
        head(&r.stdout),
        r.stderr.len(),
        head(&r.stderr),
        r.message
    );
}

/// The sandbox still runs an ordinary program, with the right output, right after an attack.
fn assert_sandbox_usable() {
    let mut spec = RunSpec::new(vec!["/bin/sh".into(), "-c".into(), "echo usable; ls -A /tmp".into()]);
    spec.limits = limits();
    let r = run(&spec);
    assert_eq!(r.status, Status::Ok, "a normal run after the attack: {r:?}");
    assert_eq!(stdout(&r), "usable\n", "a normal run sees an empty /tmp: {r:?}");
}

/// The host can still start a process, promptly.
fn assert_host_responsive() {
    let started = Instant::now();
    let status = std::process::Command::new("/bin/true")
        .status()
        .expect("the host can still fork");
    assert!(status.success());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the host took {:?} to run /bin/true",
        started.elapsed()
    );
}

/// Parse the number after `word ` in the program's output (`"threads 14 EAGAIN"` → 14).
fn number_after(out: &str, word: &str) -> u64 {
    out.split_whitespace()
        .skip_while(|w| *w != word)
        .nth(1)
        .and_then(|n| n.trim_end_matches(':').parse().ok())
        .unwrap_or_else(|| panic!("no number after {word:?} in {out:?}"))
}

// ---- processes and threads ----

#[test]
fn fork_bomb_ends_at_the_cpu_limit() {
    // Every failed fork() still allocates (and frees) kernel memory charged to the run: a
    // second of bombing peaks at 50-64 MiB on this host whatever the limit, so under a 64 MiB
    // limit the bomb sometimes ends as memory_limit (seen about once in 20 runs). This test is
    // about the pids limit and CPU time; BOMB_MEMORY_BYTES keeps the memory limit out of it.
    let l = Limits {
        memory_bytes: BOMB_MEMORY_BYTES,
        ..cpu_limits()
    };
    let r = run(&with_limits(c_spec("limits_fork_bomb.c", &[]), l));
    // The pids cgroup caps the tree at 16 tasks (init included); every further fork() fails
    // with EAGAIN and the bomb's loop goes on, so 15 processes burn CPU until the cgroup's CPU
    // time passes 1 s (on 2 idle cores, ~0.5 s of wall time). The supervisor kills the tree:
    // time_limit, reported with SIGKILL.
    assert_eq!(r.status, Status::TimeLimit, "{r:?}");
    assert_eq!(r.signal, Some(libc::SIGKILL), "{r:?}");
    assert_eq!(r.exit_code, None, "{r:?}");
    assert!(r.cpu_time_ms >= l.cpu_ms, "{r:?}");
    assert!(r.memory_kb * 1024 <= l.memory_bytes, "{r:?}");
    assert_host_responsive();
    assert_sandbox_usable();
}

#[test]
fn thread_bomb_is_capped_by_the_pids_limit() {
    let l = limits();
    let r = run(&with_limits(c_spec("limits_thread_bomb.c", &[]), l));
    // pthread_create fails with EAGAIN at the pids limit, the program says how far it got and
    // exits 0; its parked threads die with it.
    assert_eq!(r.status, Status::Ok, "{r:?}");
    let out = stdout(&r);
    assert!(out.ends_with("EAGAIN\n"), "{out:?}");
    let threads = number_after(&out, "threads");
    assert!(threads <= l.max_processes, "{out:?}");
    // Exactly the pids limit stopped it: the init and the main thread fill the other 2 tasks.
    assert_eq!(threads, l.max_processes - 2, "{out:?}");
    assert_sandbox_usable();
}

#[test]
fn zombie_pile_up_is_bounded_and_reaped() {
    let l = limits();
    let r = run(&with_limits(c_spec("limits_zombies.c", &[]), l));
    // Zombies keep their pid, so they count against pids.max: fork fails with EAGAIN. The
    // program exits 0 without reaping; the init reaps them (hostile() checks none is left).
    assert_eq!(r.status, Status::Ok, "{r:?}");
    let out = stdout(&r);
    assert!(out.ends_with("EAGAIN\n"), "{out:?}");
    let zombies = number_after(&out, "zombies");
    assert!(zombies <= l.max_processes, "{out:?}");
    // Exactly the pids limit stopped it: the init and the program fill the other 2 tasks.
    assert_eq!(zombies, l.max_processes - 2, "{out:?}");
    assert_sandbox_usable();
}

// ---- memory ----

#[test]
fn memory_bomb_is_a_memory_limit() {
    let l = limits();
    let r = run(&with_limits(c_spec("limits_memory_bomb.c", &[]), l));
    // The memory cgroup's OOM killer ends the program (SIGKILL) and counts an OOM kill.
    assert_eq!(r.status, Status::MemoryLimit, "{r:?}");
    assert_eq!(r.signal, Some(libc::SIGKILL), "{r:?}");
    assert!(r.memory_kb * 1024 <= l.memory_bytes, "peak above the limit: {r:?}");
    assert!(
        r.memory_kb * 1024 >= l.memory_bytes / 2,
        "the bomb reached the limit: {r:?}"
    );
    assert_host_responsive();
}

#[test]
fn memory_bomb_next_to_a_big_server_reports_sigkill() {
    // A real server maps far more memory than one run may use. The sandbox's init is a clone
    // of it: its RSS counts the server's pages, so the memory cgroup's OOM killer picks the
    // init instead of the bomb (an oom_score_adj of 1000 on the program only adds one memory
    // limit's worth to its score). The init's death ends the whole pid namespace without an
    // exit report; the result must still say memory_limit and SIGKILL. The ballast makes this
    // process a "big server" for the duration of the run (nextest runs each test in its own
    // process; under `cargo test`, runs of other tests meanwhile see the same big init).
    let ballast = vec![1u8; 256 << 20];
    std::hint::black_box(&ballast);
    let l = limits();
    let r = run(&with_limits(c_spec("limits_memory_bomb.c", &[]), l));
    drop(ballast);
    assert_eq!(r.status, Status::MemoryLimit, "{r:?}");
    assert!(r.memory_kb * 1024 <= l.memory_bytes, "{r:?}");
    assert_eq!(r.signal, Some(libc::SIGKILL), "the program was killed: {r:?}");
    assert_eq!(r.exit_code, None, "{r:?}");
}

#[test]
fn run_after_a_memory_bomb_is_normal() {
    let l = limits();
    let r = run(&with_limits(c_spec("limits_memory_bomb.c", &[]), l));
    assert_eq!(r.status, Status::MemoryLimit, "{r:?}");
    // The same program, asked to stop at half the limit: a fresh cgroup, nothing of the bomb's
    // memory or OOM count carried over.
    let r = run(&with_limits(c_spec("limits_memory_bomb.c", &["32"]), l));
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(stdout(&r), "allocated 32 MiB\n");
    assert!(r.memory_kb >= 32 << 10, "the cgroup measured the 32 MiB: {r:?}");
    assert!(r.message.is_none(), "{r:?}");
    assert_sandbox_usable();
}

#[test]
fn huge_mmap_touched_is_a_memory_limit() {
    let l = limits();
    let r = run(&with_limits(c_spec("limits_mmap_huge.c", &[]), l));
    // The 8 GiB MAP_NORESERVE reservation succeeds (no RLIMIT_AS, by design); touching the
    // pages charges them to the memory cgroup, whose OOM killer ends the program.
    assert_eq!(stdout(&r), "mapped 8 GiB\n", "{r:?}");
    assert_eq!(r.status, Status::MemoryLimit, "{r:?}");
    assert_eq!(r.signal, Some(libc::SIGKILL), "{r:?}");
    assert!(r.memory_kb * 1024 <= l.memory_bytes, "{r:?}");
    assert_host_responsive();
}

#[test]
fn stack_overflow_is_sigsegv() {
    // The stack limit must be below the memory limit, or the recursion is charged to the
    // memory cgroup first and ends as memory_limit (64 MiB of stack in 64 MiB of memory).
    let l = Limits {
        stack_bytes: 8 << 20,
        ..limits()
    };
    let r = run(&with_limits(c_spec("limits_stack_overflow.c", &[]), l));
    assert_eq!(r.status, Status::Signal, "{r:?}");
    assert_eq!(r.signal, Some(libc::SIGSEGV), "{r:?}");
    assert_eq!(r.exit_code, None, "{r:?}");
    assert_sandbox_usable();
}

#[test]
fn sysv_shm_touched_is_a_memory_limit() {
    let l = limits();
    let r = run(&with_limits(c_spec("limits_sysv_shm.c", &[]), l));
    // shmget of 1 GiB succeeds in the run's fresh IPC namespace; its pages are shmem, charged
    // to the run's memory cgroup as they are touched. The program maps them (shmem RSS), so the
    // OOM killer picks it. The segment itself dies with the IPC namespace.
    assert_eq!(stdout(&r), "attached 1 GiB\n", "{r:?}");
    assert_eq!(r.status, Status::MemoryLimit, "{r:?}");
    assert_eq!(r.signal, Some(libc::SIGKILL), "{r:?}");
    assert!(r.memory_kb * 1024 <= l.memory_bytes, "{r:?}");
    assert_sandbox_usable();
}

#[test]
fn kernel_memory_in_pipes_is_a_memory_limit() {
    let l = limits();
    let r = run(&with_limits(c_spec("limits_pipe_buffers.c", &[]), l));
    // Pipe buffers are kernel memory charged to the run's cgroup (__GFP_ACCOUNT): the parked
    // data cannot exceed the limit, and the OOM killer ends the run. None of that memory is in
    // the program's RSS, so the victim may be the program or the init (whose RSS counts the
    // server's pages); either way the whole tree dies and the result is the same.
    assert_eq!(r.status, Status::MemoryLimit, "{r:?}");
    assert_eq!(r.signal, Some(libc::SIGKILL), "{r:?}");
    assert_eq!(r.exit_code, None, "{r:?}");
    assert!(r.memory_kb * 1024 <= l.memory_bytes, "{r:?}");
    assert_host_responsive();
    assert_sandbox_usable();
}

#[test]
fn kernel_memory_in_socket_buffers_is_a_memory_limit() {
    // 14 socket pairs fit in 32 descriptors; with this host's wmem_max (4 MiB, doubled by the
    // kernel) they could queue ~110 MiB, well past the 64 MiB limit if socket memory escaped
    // the cgroup. It is charged: the OOM killer ends the run, as with pipe buffers.
    let l = Limits {
        max_open_files: 32,
        ..limits()
    };
    let r = run(&with_limits(c_spec("limits_socket_buffers.c", &[]), l));
    assert_eq!(r.status, Status::MemoryLimit, "{r:?}");
    assert_eq!(r.signal, Some(libc::SIGKILL), "{r:?}");
    assert_eq!(r.exit_code, None, "{r:?}");
    assert!(r.memory_kb * 1024 <= l.memory_bytes, "{r:?}");
    assert_host_responsive();
    assert_sandbox_usable();
}

#[test]
fn disk_fill_beyond_the_memory_limit_is_a_memory_limit() {
    // A tmpfs larger than the memory limit: tmpfs pages are charged to the run's memory cgroup
    // ("memory of the whole tree, tmpfs pages included"), so filling it ends as a memory limit
    // before ENOSPC. Killing a process frees none of it (the files are in no process's RSS);
    // whichever process the OOM killer picks, the run ends with the tree killed.
    let l = Limits {
        tmpfs_bytes: 128 << 20,
        ..limits()
    };
    let r = run(&with_limits(c_spec("limits_disk_fill.c", &[]), l));
    assert_eq!(r.status, Status::MemoryLimit, "{r:?}");
    assert_eq!(r.signal, Some(libc::SIGKILL), "{r:?}");
    assert_eq!(r.exit_code, None, "{r:?}");
    assert!(r.memory_kb * 1024 <= l.memory_bytes, "{r:?}");
    assert!(stdout(&r).is_empty(), "the program never got to report: {r:?}");
    assert_sandbox_usable();
}

// ---- CPU and time ----

#[test]
fn cpu_loop_is_a_time_limit() {
    let l = cpu_limits();
    let r = run(&with_limits(c_spec("limits_cpu_loop.c", &[]), l));
    assert_eq!(r.status, Status::TimeLimit, "{r:?}");
    assert_eq!(r.signal, Some(libc::SIGKILL), "{r:?}");
    // The supervisor polls the cgroup at most 100 ms apart: the run is stopped just past the
    // limit. Generous upper bound: this is not a timing benchmark.
    assert!(r.cpu_time_ms >= l.cpu_ms && r.cpu_time_ms < l.cpu_ms + 1_000, "{r:?}");
}

#[test]
fn cpu_in_waited_children_counts() {
    let l = cpu_limits();
    let r = run(&with_limits(c_spec("limits_cpu_children.c", &[]), l));
    // The parent itself uses no CPU; the cgroup counts its four spinning children.
    assert_eq!(r.status, Status::TimeLimit, "{r:?}");
    assert!(r.cpu_time_ms >= l.cpu_ms, "cpu counted from the cgroup: {r:?}");
}

#[test]
fn cpu_in_unwaited_orphans_counts() {
    let l = cpu_limits();
    let r = run(&with_limits(c_spec("limits_cpu_orphans.c", &["stay"]), l));
    // The program sleeps; four double-forked orphans spin. The cgroup counts them although
    // nobody waits for them.
    assert_eq!(r.status, Status::TimeLimit, "{r:?}");
    assert!(r.cpu_time_ms >= l.cpu_ms, "{r:?}");
}

#[test]
fn orphans_do_not_outlive_a_program_that_exits() {
    let l = limits();
    let r = run(&with_limits(c_spec("limits_cpu_orphans.c", &["exit"]), l));
    // The program exits 0 at once. The init then SIGKILLs everything left in the pid
    // namespace: the run ends right away as ok (the spinners had no time to use 1 s of CPU),
    // and hostile() checks no spinner survived.
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.exit_code, Some(0), "{r:?}");
    assert!(
        r.wall_time_ms < l.wall_ms / 2,
        "the run did not wait for the orphans: {r:?}"
    );
    assert!(r.cpu_time_ms < l.cpu_ms, "{r:?}");
    assert_sandbox_usable();
}

#[test]
fn daemon_does_not_outlive_the_run() {
    let l = limits();
    let r = run(&with_limits(c_spec("limits_daemon.c", &[]), l));
    // The daemon holds stdout/stderr open and loops; the program exits 0. The init's kill of
    // the namespace closes the pipes, so the run ends at once as ok, not at the wall limit.
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(stdout(&r), "daemon started\n");
    assert!(
        r.wall_time_ms < l.wall_ms / 2,
        "the run did not wait for the daemon: {r:?}"
    );
    // A following run sees no marker (neither in /tmp nor in /work) and no process but its own.
    let mut spec = RunSpec::new(vec![
        "/bin/sh".into(),
        "-c".into(),
        // Builtins only, so the shell is the one process of its own.
        "sleep 0.2; ls -A /tmp /work; for p in /proc/[0-9]*; do read c < $p/comm && echo \"proc $c\"; done".into(),
    ]);
    spec.limits = l;
    let next = run(&spec);
    assert_eq!(next.status, Status::Ok, "{next:?}");
    // Empty /tmp and /work, and one process: the shell (hidepid hides the init).
    assert_eq!(stdout(&next), "/tmp:\n\n/work:\nproc sh\n", "{next:?}");
}

#[test]
fn sleep_forever_is_a_wall_time_limit() {
    let l = Limits {
        wall_ms: 1_500,
        ..limits()
    };
    let r = run(&with_limits(c_spec("limits_sleep_forever.c", &[]), l));
    assert_eq!(r.status, Status::WallTimeLimit, "{r:?}");
    assert_eq!(r.signal, Some(libc::SIGKILL), "{r:?}");
    assert!(
        r.wall_time_ms >= l.wall_ms && r.wall_time_ms < l.wall_ms + 2_000,
        "{r:?}"
    );
    assert!(r.cpu_time_ms < 200, "sleeping uses no CPU: {r:?}");
}

#[test]
fn blocking_on_an_open_stdin_is_a_wall_time_limit() {
    let l = Limits {
        wall_ms: 1_500,
        ..limits()
    };
    let (read, write): (OwnedFd, OwnedFd) = sandbox::stdin_pipe().expect("stdin pipe");
    rustix::io::write(&write, b"hello\n").expect("write to the program's stdin");
    let io = RunIo {
        stdin: Stdin::Pipe(read),
        ..RunIo::default()
    };
    // The write end stays open for the whole run: the program never sees EOF.
    let r = hostile(&with_limits(c_spec("limits_stdin_block.c", &[]), l), io);
    summary(&r);
    assert_eq!(r.status, Status::WallTimeLimit, "{r:?}");
    assert_eq!(stdout(&r), "got: hello\n", "{r:?}");
    assert!(r.wall_time_ms >= l.wall_ms, "{r:?}");
    drop(write);
    assert_sandbox_usable();
}

#[test]
#[ignore = "needs root: waits for input are recognised through the run's threads in /proc"]
fn answering_each_wait_just_in_time_ends_at_the_input_wait_budget() {
    if !testkit::root_or_skip("reading the /proc syscall of the run's threads") {
        return;
    }
    // The client answers each wait a second after it is told of it, far below the budget,
    // and waiting is not wall time: only the waits' total ends the run. Without it, the run
    // lasts as long as the client answers. Answering when told (not by the clock) keeps each
    // wait long enough to count however late the supervisor's looks come on a busy machine.
    let l = Limits {
        input_wait_ms: Some(2_500),
        wall_ms: 20_000,
        ..limits()
    };
    const ANSWER_AFTER: Duration = Duration::from_secs(1);
    const ANSWERS: u32 = 30;
    let (read, write): (OwnedFd, OwnedFd) = sandbox::stdin_pipe().expect("stdin pipe");
    let (told, waits_told) = std::sync::mpsc::channel::<bool>();
    let feeder = std::thread::spawn(move || {
        for _ in 0..ANSWERS {
            // Until the run ends (the sender is dropped with it).
            loop {
                match waits_told.recv() {
                    Ok(true) => break,
                    Ok(false) => {}
                    Err(_) => return,
                }
            }
            std::thread::sleep(ANSWER_AFTER);
            if rustix::io::write(&write, b"x").is_err() {
                return; // the program is gone
            }
        }
    });
    let mut waits = Vec::new();
    let mut waiting = |w: bool, left: Duration| {
        waits.push((w, left));
        let _ = told.send(w);
    };
    let io = RunIo {
        stdin: Stdin::Pipe(read),
        waiting: Some(&mut waiting),
        ..RunIo::default()
    };
    let r = hostile(&with_limits(c_spec("limits_input_wait_bursts.c", &[]), l), io);
    // The feeder ends when no wait can be told any more.
    drop(told);
    feeder.join().expect("feeder");
    summary(&r);
    assert_eq!(r.status, Status::InputWaitLimit, "{r:?}");
    let out = stdout(&r);
    assert!(
        out.starts_with("read 0\n"),
        "more than one wait made up the budget: {out:?}"
    );
    assert!(!out.contains("stdin closed"), "ended before the answers did: {out:?}");
    // Its wall time and its waits together: never past both limits' sum (the margin is the
    // supervisor's look every 0.1 s and the tear-down on a busy machine).
    let budget = l.wall_ms + l.input_wait_ms.unwrap_or_default();
    assert!(r.wall_time_ms < budget + 1_000, "{r:?}");
    // Each wait was told what is left of the one budget, less each time.
    let lefts: Vec<Duration> = waits.iter().filter(|(w, _)| *w).map(|(_, left)| *left).collect();
    assert!(lefts.len() >= 2, "{waits:?}");
    assert!(
        lefts.windows(2).all(|p| p[1] <= p[0]) && lefts.last() < lefts.first(),
        "{waits:?}"
    );
    // The slot is free again: the next run starts and runs normally.
    assert_sandbox_usable();
}

#[test]
#[ignore = "needs root: waits for input are recognised through the run's threads in /proc"]
fn working_on_a_timer_while_looking_like_a_wait_for_input_ends_within_wall_and_budget() {
    if !testkit::root_or_skip("reading the /proc syscall of the run's threads") {
        return;
    }
    let l = Limits {
        input_wait_ms: Some(2_000),
        wall_ms: 1_500,
        ..limits()
    };
    // The stdin pipe stays open and is never written: the program's only wake-ups are its
    // timer's.
    let (read, write): (OwnedFd, OwnedFd) = sandbox::stdin_pipe().expect("stdin pipe");
    let io = RunIo {
        stdin: Stdin::Pipe(read),
        ..RunIo::default()
    };
    let spec = with_limits(c_spec("limits_input_wait_timer.c", &[]), l);
    let began = Instant::now();
    let r = hostile(&spec, io);
    let elapsed = began.elapsed();
    drop(write);
    summary(&r);
    assert_eq!(stdout(&r), "ticking\n", "{r:?}");
    // Seen waiting for a time or not, it ends on a limit, never later than both together.
    assert!(
        matches!(r.status, Status::InputWaitLimit | Status::WallTimeLimit),
        "{r:?}"
    );
    let bound = Duration::from_millis(l.wall_ms + l.input_wait_ms.unwrap_or_default());
    assert!(elapsed < bound + Duration::from_secs(2), "{elapsed:?} {r:?}");
    assert_sandbox_usable();
}

#[test]
fn stopped_program_is_a_wall_time_limit() {
    let l = Limits {
        wall_ms: 1_500,
        ..limits()
    };
    let r = run(&with_limits(c_spec("limits_self_stop.c", &[]), l));
    // A stopped program neither exits nor uses CPU: the wall clock ends it, and SIGKILL reaches
    // stopped tasks (hostile() checks the stopped child is gone too).
    assert_eq!(r.status, Status::WallTimeLimit, "{r:?}");
    assert_eq!(stdout(&r), "stopping\n", "{r:?}");
    assert!(r.wall_time_ms >= l.wall_ms, "{r:?}");
    assert_sandbox_usable();
}

// ---- signals from inside ----

#[test]
fn kill_minus_one_only_reaches_the_sandbox() {
    let r = run(&with_limits(
        script_spec("/bin/sh", "limits_kill_all.sh", &[]),
        limits(),
    ));
    // kill(-1) reaches every process of the sandbox but the caller itself (Linux spares the
    // caller) and the init (pid 1 of the namespace, another uid): the background sleep dies
    // (137 = 128 + SIGKILL), the shell goes on and exits 0.
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(stdout(&r), "after kill -1: alive\nbackground sleep: 137\n", "{r:?}");
    // This test process (and the rest of the host) is obviously still here.
    assert_host_responsive();
    assert_sandbox_usable();
}

#[test]
fn signals_to_the_init_fail() {
    // Whether the init catches any signal, looked at (from the host) while the program runs.
    let mut init_handlers = Vec::new();
    let mut out = Vec::new();
    let mut on_output = |_kind, chunk: &[u8]| {
        if out.is_empty() {
            init_handlers.extend(
                tiderun_tests::sandbox_inits()
                    .into_iter()
                    .map(tiderun_tests::caught_signals),
            );
        }
        out.extend_from_slice(chunk);
    };
    let io = RunIo {
        output: sandbox::Output::Stream(&mut on_output),
        ..RunIo::default()
    };
    let r = hostile(
        &with_limits(script_spec("/bin/sh", "limits_kill_init.sh", &[]), limits()),
        io,
    );
    summary(&r);
    assert_eq!(r.status, Status::Ok, "{r:?}");
    let out = String::from_utf8_lossy(&out);
    if differs_without_root(
        "the init is the program's uid, so kill(1) is allowed; the kernel drops it, as the init of \
         a pid namespace catches no signal",
    ) {
        assert_eq!(
            out, "kill -9 1: 0\nkill -TERM 1: 0\npid 1 invisible\nstill alive\n",
            "{r:?}"
        );
        assert!(!init_handlers.is_empty(), "the sandbox's init was not found");
        for caught in init_handlers {
            assert_eq!(
                caught,
                Some(0),
                "the init keeps handlers of the server a program may trigger"
            );
        }
    } else {
        // Pid 1 is the init, root of the user namespace (a different uid from the program), so
        // kill(1, ...) fails with EPERM (status 1), and hidepid keeps it out of /proc.
        assert_eq!(
            out, "kill -9 1: 1\nkill -TERM 1: 1\npid 1 invisible\nstill alive\n",
            "{r:?}"
        );
    }
    assert_sandbox_usable();
}

// ---- output ----

/// The program reopens its own stdio through /proc/self/fd the wrong way round — the read
/// ends of stdout and stderr, the write end of stdin — to steal its output from under the
/// supervisor (which, told by poll that bytes are there, would block in read() and enforce
/// no limit), then sleeps. As root the pipes belong to the host's root (EACCES); without root
/// the program's stdio are sockets, which /proc cannot open (ENXIO). Either way the wall limit
/// ends the run on time. As root, the test runs it through a stand-in server started as an
/// ordinary user as well.
#[test]
fn reopening_stdio_through_proc_cannot_stall_the_supervisor() {
    let l = limits();
    let expect = |who: &str, errno: &str, out: &str, status: &str, wall_ms: u64| {
        let lines: Vec<String> = ["stdout-read", "stderr-read", "stdin-write"]
            .iter()
            .map(|what| format!("{what} {errno}"))
            .collect();
        assert_eq!(out.lines().collect::<Vec<_>>(), lines, "{who}: the reopens");
        assert_eq!(status, Status::WallTimeLimit.to_string(), "{who}");
        assert!(
            wall_ms < l.wall_ms + 2_000,
            "{who}: the supervisor ended the run {wall_ms} ms after its start, past the {} ms wall limit",
            l.wall_ms
        );
    };
    let r = run(&with_limits(c_spec("limits_stdio_reopen.c", &[]), l));
    let errno = if differs_without_root("the program's stdio are sockets (ENXIO), not root's pipes (EACCES)") {
        "ENXIO"
    } else {
        "EACCES"
    };
    expect(
        "this process",
        errno,
        &stdout(&r),
        &r.status.to_string(),
        r.wall_time_ms,
    );
    if !without_root() {
        let s = stand_in(
            Path::new(env!("CARGO_BIN_EXE_sandbox-stand-in")),
            Some(unprivileged_uid()),
            "tiderun-stand-in-secret-argv",
            "tiderun-stand-in-secret-env",
            "c",
            "limits_stdio_reopen.c",
            &[],
        );
        expect("an ordinary user's server", "ENXIO", &s.stdout, s.status(), s.wall_ms());
    }
    assert_sandbox_usable();
}

#[test]
fn stdout_flood_is_cut_at_the_cap() {
    // Not a multiple of the 64 KiB read chunk, nor of "y\n".
    let l = Limits {
        max_output_bytes: 100_001,
        ..limits()
    };
    let r = run(&with_limits(script_spec("/bin/sh", "limits_stdout_flood.sh", &[]), l));
    assert_eq!(r.status, Status::OutputLimit, "{:?}", r.message);
    assert_eq!(
        r.stdout.len() as u64,
        l.max_output_bytes,
        "stdout kept exactly up to the cap"
    );
    assert!(r.stderr.is_empty());
    assert!(
        r.stdout.chunks(2).all(|c| c == b"y\n" || c == b"y"),
        "only the program's own bytes"
    );
    assert_sandbox_usable();
}

#[test]
fn streamed_stdout_flood_is_cut_at_the_cap() {
    let l = Limits {
        max_output_bytes: 100_001,
        ..limits()
    };
    let mut streamed = 0u64;
    let mut on_chunk = |kind: StreamKind, chunk: &[u8]| {
        assert_eq!(kind, StreamKind::Stdout);
        streamed += chunk.len() as u64;
    };
    let io = RunIo {
        output: Output::Stream(&mut on_chunk),
        ..RunIo::default()
    };
    let r = hostile(
        &with_limits(script_spec("/bin/sh", "limits_stdout_flood.sh", &[]), l),
        io,
    );
    summary(&r);
    assert_eq!(r.status, Status::OutputLimit, "{:?}", r.message);
    assert!(r.stdout.is_empty(), "streamed output is not also buffered");
    assert_eq!(streamed, l.max_output_bytes, "the stream stops exactly at the cap");
}

#[test]
fn output_exactly_at_the_cap_is_ok() {
    let l = Limits {
        max_output_bytes: 100_001,
        ..limits()
    };
    let r = run(&with_limits(c_spec("limits_output_just_over.c", &["100001"]), l));
    // The cap is what may be kept: exactly that much is a clean run.
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.stdout.len() as u64, l.max_output_bytes);
}

#[test]
fn output_past_the_cap_then_exit_is_an_output_limit() {
    let l = Limits {
        max_output_bytes: 100_001,
        ..limits()
    };
    // The program grows its stdout pipe to 1 MiB, writes past the cap and exits at once: the
    // excess is still in the pipe when the init reports the exit. One byte over must be an
    // output_limit however the reads and the report interleave.
    for over in [1u64, 65_536, 300_000] {
        for attempt in 0..3 {
            let n = (l.max_output_bytes + over).to_string();
            let r = run(&with_limits(c_spec("limits_output_just_over.c", &[&n]), l));
            assert_eq!(
                r.status,
                Status::OutputLimit,
                "{over} bytes over, attempt {attempt}: {:?}",
                r.message
            );
            assert_eq!(r.stdout.len() as u64, l.max_output_bytes);
        }
    }
}

#[test]
fn one_huge_line_is_cut_at_the_cap() {
    // Python needs ~100 MB to build and encode a 50 MB string: enough memory that the cap, not
    // the OOM killer, ends it.
    let l = Limits {
        memory_bytes: 256 << 20,
        max_output_bytes: 1 << 20,
        ..limits()
    };
    let r = run(&with_limits(
        script_spec("/usr/bin/python3", "limits_huge_line.py", &[]),
        l,
    ));
    assert_eq!(
        r.status,
        Status::OutputLimit,
        "{:?} {}",
        r.message,
        String::from_utf8_lossy(&r.stderr)
    );
    assert_eq!(r.stdout.len() as u64, l.max_output_bytes);
    assert!(r.stdout.iter().all(|&b| b == b'x'));
}

#[test]
fn stderr_flood_shares_the_cap_with_stdout() {
    let l = Limits {
        max_output_bytes: 100_001,
        ..limits()
    };
    let r = run(&with_limits(c_spec("limits_stderr_flood.c", &[]), l));
    assert_eq!(r.status, Status::OutputLimit, "{:?}", r.message);
    // One cap for both streams together: what was kept adds up to exactly the cap.
    assert_eq!(
        (r.stdout.len() + r.stderr.len()) as u64,
        l.max_output_bytes,
        "{} + {}",
        r.stdout.len(),
        r.stderr.len()
    );
    assert!(!r.stderr.is_empty() && r.stderr.iter().all(|&b| b == b'e'));
    assert!(r.stdout.iter().all(|&b| b == b'o'));
    assert_sandbox_usable();
}

// ---- disk, inodes, descriptors ----

#[test]
fn disk_fill_gets_enospc() {
    // A tmpfs smaller than the file size limit and the memory limit (tmpfs pages are charged
    // to the run's memory cgroup), so ENOSPC comes first.
    let l = Limits {
        tmpfs_bytes: 8 << 20,
        max_file_size_bytes: 16 << 20,
        ..limits()
    };
    let r = run(&with_limits(c_spec("limits_disk_fill.c", &[]), l));
    // The program sees ENOSPC, reports it and exits 0.
    assert_eq!(r.status, Status::Ok, "{r:?}");
    let out = stdout(&r);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out:?}");
    assert!(lines[0].ends_with("to /tmp: ENOSPC"), "{out:?}");
    // /work is its own tmpfs with the same limit (both count towards the memory limit).
    assert!(lines[1].ends_with("to /work: ENOSPC"), "{out:?}");
    for written in [number_after(&out, "wrote"), number_after(&out, "then")] {
        assert!(
            written <= l.tmpfs_bytes,
            "wrote {written} bytes into a {} byte tmpfs",
            l.tmpfs_bytes
        );
        assert!(written >= l.tmpfs_bytes / 2, "{out:?}");
    }
    assert_sandbox_usable();
}

#[test]
fn file_past_the_size_limit_is_a_file_size_limit() {
    let l = Limits {
        max_file_size_bytes: 1 << 20,
        ..limits()
    };
    let r = run(&with_limits(c_spec("limits_file_size.c", &[]), l));
    // The write past RLIMIT_FSIZE raises SIGXFSZ, whose default action ends the program.
    assert_eq!(r.status, Status::FileSizeLimit, "{r:?}");
    assert_eq!(r.signal, Some(libc::SIGXFSZ), "{r:?}");
    assert!(stdout(&r).is_empty(), "the program never saw the write fail: {r:?}");
    assert_sandbox_usable();
}

#[test]
fn fallocate_past_the_size_limit_is_a_file_size_limit() {
    let l = limits();
    let r = run(&with_limits(c_spec("limits_fallocate.c", &[]), l));
    // fallocate past RLIMIT_FSIZE raises SIGXFSZ like a write does (and would fail with EFBIG
    // if the signal were caught).
    assert_eq!(r.status, Status::FileSizeLimit, "{r:?}");
    assert_eq!(r.signal, Some(libc::SIGXFSZ), "{r:?}");
    assert!(stdout(&r).is_empty(), "{r:?}");
    assert_sandbox_usable();
}

#[test]
fn sparse_file_past_the_size_limit_is_a_file_size_limit() {
    let l = limits();
    let r = run(&with_limits(c_spec("limits_sparse_file.c", &[]), l));
    // ftruncate to 1 TiB is past RLIMIT_FSIZE although no byte is written: SIGXFSZ.
    assert_eq!(r.status, Status::FileSizeLimit, "{r:?}");
    assert_eq!(r.signal, Some(libc::SIGXFSZ), "{r:?}");
    assert!(stdout(&r).is_empty(), "{r:?}");
}

#[test]
fn inode_exhaustion_gets_enospc() {
    let l = Limits {
        tmpfs_inodes: 256,
        ..limits()
    };
    let r = run(&with_limits(c_spec("limits_inode_fill.c", &[]), l));
    assert_eq!(r.status, Status::Ok, "{r:?}");
    let out = stdout(&r);
    assert!(out.ends_with("files: ENOSPC\n"), "{out:?}");
    let files = number_after(&out, "created");
    // The tmpfs root, /work, /tmp and the program itself use a few of the inodes.
    assert!(
        files <= l.tmpfs_inodes,
        "{files} files in a tmpfs of {} inodes",
        l.tmpfs_inodes
    );
    assert!(files >= l.tmpfs_inodes - 16, "{out:?}");
    assert_sandbox_usable();
}

#[test]
fn many_open_files_get_emfile() {
    let l = Limits {
        max_open_files: 64,
        ..limits()
    };
    let r = run(&with_limits(c_spec("limits_open_files.c", &[]), l));
    assert_eq!(r.status, Status::Ok, "{r:?}");
    let out = stdout(&r);
    assert!(out.ends_with("files: EMFILE\n"), "{out:?}");
    let opened = number_after(&out, "opened");
    assert!(opened <= l.max_open_files, "{out:?}");
    // Only 0-2 were open at the start: the program got every other descriptor below the limit.
    assert_eq!(opened, l.max_open_files - 3, "{out:?}");
}

#[test]
fn core_dump_is_refused() {
    let r = run(&with_limits(c_spec("limits_core_dump.c", &[]), limits()));
    // abort() → SIGABRT: a plain signal status, no core.
    assert_eq!(r.status, Status::Signal, "{r:?}");
    assert_eq!(r.signal, Some(libc::SIGABRT), "{r:?}");
    let out = stdout(&r);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out:?}");
    let core_limit: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        core_limit[..6],
        ["Max", "core", "file", "size", "1", "1"],
        "RLIMIT_CORE is 1 byte (no core file fits; a core_pattern pipe is refused): {out:?}"
    );
    assert_eq!(lines[1], "child signal 6, core dumped 0");
    assert_eq!(lines[2], "core files 0");
}

// ---- many runs at once ----

#[test]
fn parallel_runs_race_their_clean_up() {
    const RUNS: usize = 24;
    // Fork bombs get a long wall limit so that, sharing 2 cores with everything else, they
    // still end by CPU time, deterministically (and room for their kernel-memory churn).
    let bomb = Limits {
        cpu_ms: 500,
        wall_ms: 15_000,
        memory_bytes: BOMB_MEMORY_BYTES,
        ..limits()
    };
    // Next to six fork bombs on two cores, a short program can wait long for the CPU: the
    // runs that must not end on the clock get a roomy wall limit.
    let roomy = Limits {
        wall_ms: CPU_TEST_WALL_MS,
        ..limits()
    };
    let flood = Limits {
        max_output_bytes: 50_000,
        ..roomy
    };
    let sleep = Limits {
        wall_ms: 1_000,
        ..limits()
    };
    let started = Instant::now();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..RUNS)
            .map(|i| {
                s.spawn(move || match i % 4 {
                    0 => {
                        let r = run(&with_limits(c_spec("limits_fork_bomb.c", &[]), bomb));
                        assert_eq!(r.status, Status::TimeLimit, "run {i} (fork bomb): {r:?}");
                    }
                    1 => {
                        let r = run(&with_limits(
                            script_spec("/bin/sh", "limits_stdout_flood.sh", &[]),
                            flood,
                        ));
                        assert_eq!(r.status, Status::OutputLimit, "run {i} (flood): {:?}", r.message);
                        assert_eq!(r.stdout.len() as u64, flood.max_output_bytes, "run {i}");
                    }
                    2 => {
                        let r = run(&with_limits(c_spec("limits_sleep_forever.c", &[]), sleep));
                        assert_eq!(r.status, Status::WallTimeLimit, "run {i} (sleep): {r:?}");
                    }
                    _ => {
                        let argv = vec!["/bin/sh".into(), "-c".into(), format!("echo run {i}; ls -A /tmp /work")];
                        let r = run(&with_limits(RunSpec::new(argv), roomy));
                        assert_eq!(r.status, Status::Ok, "run {i}: {r:?}");
                        // Its own output, no other run's, and an empty work dir.
                        assert_eq!(stdout(&r), format!("run {i}\n/tmp:\n\n/work:\n"), "run {i}");
                    }
                })
            })
            .collect();
        for h in handles {
            if let Err(panic) = h.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
    // hostile() checked that nothing was left after the last of them.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    assert_host_responsive();
    assert_sandbox_usable();
}
