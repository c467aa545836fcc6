//! The hostile-suite harness: one sandbox per test process, helpers to build and run hostile
//! fixtures, and the "no harm done" checks every hostile test ends with.
//!
//! Hostile programs only ever run through [`hostile`], which first proves the sandbox has its
//! own pid namespace and enforces cgroup limits, and refuses to go on otherwise: a fork bomb or
//! `kill -9 -1` run bare as root would take the machine down, a memory bomb without a memory
//! cgroup the host's memory.
//!
//! The suite runs as root and as an ordinary user (`./x test` does both). Without root the
//! sandbox works in its unprivileged mode (every run is the server's own host uid, no warm
//! instances); a test whose protection is weaker there says which with [`differs_without_root`]
//! and asserts the weaker one, never skips. A test of what only root can do (warm pools, the
//! host's core_pattern, a host uevent) is marked `#[ignore = "needs root: ..."]` and starts
//! with `testkit::root_or_skip`, the rule every crate's tests share (`crates/testkit`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

pub use sandbox::{InputFile, Limits, RunIo, RunResult, RunSpec, Sandbox, SandboxOptions, Status, Stdin};

/// An environment variable of the test process (standing in for the server's secrets) that
/// no sandboxed program may ever read.
pub const SECRET_ENV: &str = "TIDERUN_TEST_SECRET";
pub const SECRET_VALUE: &str = "s3cret-value-the-sandbox-must-not-leak";

/// Directory of the fixture programs (`tests/hostile/`).
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("hostile")
}

/// The uid range of this process's sandboxes: per process, so parallel test processes can
/// check "nothing left running" without seeing each other.
pub fn uid_base() -> u32 {
    sandbox::DEFAULT_UID_BASE + (std::process::id() % 1_000_000) * 1100
}

/// Whether this test process runs without root, so its sandbox is in the unprivileged mode.
pub fn without_root() -> bool {
    !rustix::process::geteuid().is_root()
}

/// Without root: print which documented difference of the unprivileged mode a test asserts
/// instead of root's protection, and return true. As root: false (the full protection).
pub fn differs_without_root(difference: &str) -> bool {
    if without_root() {
        println!("WITHOUT ROOT: {difference}");
        true
    } else {
        false
    }
}

/// The host uid the suite runs as without root (`./x test` runs its second pass as it; tests
/// that start a stand-in server as an ordinary user use it too). Default: `nobody`.
pub fn unprivileged_uid() -> u32 {
    std::env::var(UNPRIVILEGED_UID_ENV)
        .ok()
        .map(|v| v.parse().expect("TIDERUN_TEST_UNPRIVILEGED_UID is a number"))
        .unwrap_or(DEFAULT_UNPRIVILEGED_UID)
}

/// Environment variable naming the uid (and gid) of the ordinary user.
pub const UNPRIVILEGED_UID_ENV: &str = "TIDERUN_TEST_UNPRIVILEGED_UID";
/// `nobody` on Debian.
pub const DEFAULT_UNPRIVILEGED_UID: u32 = 65534;

/// The shared sandbox of this test process.
pub fn sandbox() -> &'static Sandbox {
    static SB: OnceLock<Sandbox> = OnceLock::new();
    SB.get_or_init(|| {
        // Stands in for the server's secrets: set before any sandbox exists.
        std::env::set_var(SECRET_ENV, SECRET_VALUE);
        let opts = SandboxOptions {
            uid_base: uid_base(),
            slots: 1024,
            ..SandboxOptions::default()
        };
        Sandbox::new(opts).expect("sandbox starts")
    })
}

/// Uids of the second sandbox of this test process: above the shared one's slots and init,
/// still inside this process's range (see [`uid_base`]).
const NO_POOL_UID_OFFSET: u32 = 1040;
/// Slots of the second sandbox.
const NO_POOL_SLOTS: u32 = 32;

/// A second sandbox of this test process, without prepared network namespaces: each of its
/// runs makes its own at clone, inside its user namespace (the shared [`sandbox`] takes one
/// made ahead of time by the host's root).
pub fn sandbox_without_netns_pool() -> &'static Sandbox {
    static SB: OnceLock<Sandbox> = OnceLock::new();
    SB.get_or_init(|| {
        sandbox();
        let opts = SandboxOptions {
            uid_base: uid_base() + NO_POOL_UID_OFFSET,
            slots: NO_POOL_SLOTS,
            netns_pool: 0,
            ..SandboxOptions::default()
        };
        Sandbox::new(opts).expect("sandbox starts")
    })
}

/// Refuse to run hostile code unless the sandbox provably has its own pid namespace and
/// enforces memory and process limits with cgroups. Tests that run hostile code through the
/// engine (not [`hostile`]) call it first.
pub fn preflight() {
    preflight_pid_namespace();
    let caps = sandbox().capabilities();
    assert!(
        caps.cgroup_problem.is_none(),
        "REFUSING to run hostile programs: no usable cgroup, so memory and process limits would not hold \
         ({}). Without root, a cgroup must be delegated to this user (README: Running as an ordinary user).",
        caps.cgroup_problem.as_deref().unwrap_or_default()
    );
}

/// The part of [`preflight`] every sandboxed probe needs, even a harmless one run where no
/// cgroup is delegated: the sandbox shows its own pid namespace.
pub fn preflight_pid_namespace() {
    static OK: OnceLock<()> = OnceLock::new();
    OK.get_or_init(|| {
        let host_ns = std::fs::read_link("/proc/self/ns/pid").expect("host pid ns");
        let spec = RunSpec::new(vec![
            "/bin/sh".into(),
            "-c".into(),
            "echo $$; readlink /proc/self/ns/pid".into(),
        ]);
        let r = sandbox().run(&spec, RunIo::default()).expect("preflight run");
        let out = String::from_utf8_lossy(&r.stdout).to_string();
        let mut lines = out.lines();
        let pid: u32 = lines.next().and_then(|l| l.trim().parse().ok()).unwrap_or(u32::MAX);
        let ns = lines.next().unwrap_or_default();
        assert!(
            pid < 10 && !ns.is_empty() && Path::new(ns) != host_ns,
            "REFUSING to run hostile programs: the sandbox does not show its own pid namespace (pid {pid}, ns {ns:?})"
        );
    });
}

/// The lock of the host's `/proc/sys/kernel/core_pattern`: a test that changes it holds it
/// exclusively, a test that checks the pattern is unchanged holds it shared, across test
/// processes (the pattern is host-wide; each test runs in a process of its own). Without root
/// the lock file (root's, made by the root passes) is opened read-only, which `flock` accepts;
/// where there is none yet, no root test is running to change the pattern: None.
pub fn core_pattern_lock(exclusive: bool) -> Option<std::fs::File> {
    const LOCK: &str = "/run/tiderun-test-core-pattern.lock";
    let file = match std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(LOCK)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => match std::fs::File::open(LOCK) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => panic!("open the core_pattern lock read-only: {e}"),
        },
        Err(e) => panic!("open the core_pattern lock: {e}"),
    };
    let how = if exclusive {
        rustix::fs::FlockOperation::LockExclusive
    } else {
        rustix::fs::FlockOperation::LockShared
    };
    rustix::fs::flock(&file, how).expect("take the core_pattern lock");
    Some(file)
}

/// Runs in flight in this process (the leftover checks only make sense when it is zero).
static ACTIVE: Mutex<usize> = Mutex::new(0);

/// The count of runs in flight (a panicking check must not poison it for the other threads).
fn active_runs() -> std::sync::MutexGuard<'static, usize> {
    ACTIVE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Set (to anything) to run every hostile program in a prepared sandbox made just before it —
/// in a zygote when a runtime file has one for its interpreter — instead of a cold one.
pub const WARM_ENV: &str = "TIDERUN_TEST_WARM";

/// Whether this test process runs hostile programs in warm instances.
pub fn warm() -> bool {
    std::env::var_os(WARM_ENV).is_some()
}

/// The zygote the catalog defines for this interpreter, if any.
fn zygote_for(argv0: &str) -> Option<Vec<String>> {
    static ZYGOTES: OnceLock<Vec<Vec<String>>> = OnceLock::new();
    ZYGOTES
        .get_or_init(|| {
            let catalog = runtimes::Catalog::embedded().expect("the embedded catalog loads");
            catalog.iter().filter_map(|r| r.warm.zygote.clone()).collect()
        })
        .iter()
        .find(|z| z[0] == argv0)
        .cloned()
}

/// Run in a warm instance made for exactly this spec (a zygote for Python and Node).
fn run_warm(spec: &RunSpec, io: RunIo<'_>) -> Result<RunResult, sandbox::SandboxError> {
    let instance = sandbox().prepare(&sandbox::InstanceSpec {
        limits: spec.limits,
        binds: spec.binds.clone(),
        network: spec.network,
        zygote: zygote_for(&spec.argv[0]).map(|argv| sandbox::ZygoteSpec {
            argv,
            env: spec.env.clone(),
        }),
    })?;
    sandbox().run_prepared(instance, spec, io)
}

/// Set (to anything) to run every Python program in a child of a fork server (the runtime
/// file's `warm.fork_server`) instead of a cold sandbox; the fork servers of this process are
/// kept between its runs, so a program follows others on the same one.
pub const FORK_ENV: &str = "TIDERUN_TEST_FORK";

/// Whether this test process runs Python programs in fork-server children.
pub fn fork() -> bool {
    std::env::var_os(FORK_ENV).is_some()
}

/// The fork server the catalog defines for this interpreter, if any.
pub fn fork_server_for(argv0: &str) -> Option<Vec<String>> {
    static SERVERS: OnceLock<Vec<Vec<String>>> = OnceLock::new();
    SERVERS
        .get_or_init(|| {
            let catalog = runtimes::Catalog::embedded().expect("the embedded catalog loads");
            catalog.iter().filter_map(|r| r.warm.fork_server.clone()).collect()
        })
        .iter()
        .find(|z| z[0] == argv0)
        .cloned()
}

/// The idle fork servers of this process (of [`sandbox`]).
static FORK_SERVERS: Mutex<Vec<sandbox::ForkServer>> = Mutex::new(Vec::new());

/// A fork server that serves `spec`: an idle one of this process, or a new one.
pub fn take_fork_server(sb: &Sandbox, spec: &RunSpec) -> sandbox::ForkServer {
    let argv = fork_server_for(&spec.argv[0]).expect("a fork server for this interpreter");
    let mut idle = FORK_SERVERS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(i) = idle.iter().position(|s| s.alive() && s.serves(spec)) {
        return idle.swap_remove(i);
    }
    drop(idle);
    sb.start_fork_server(&sandbox::InstanceSpec {
        limits: spec.limits,
        binds: spec.binds.clone(),
        network: false,
        zygote: Some(sandbox::ZygoteSpec {
            argv,
            env: spec.env.clone(),
        }),
    })
    .expect("a fork server starts")
}

/// Give a fork server back for the next run of this process.
pub fn put_fork_server(server: sandbox::ForkServer) {
    FORK_SERVERS.lock().unwrap_or_else(|p| p.into_inner()).push(server);
}

/// Run in a child of a fork server of this process.
fn run_forked(sb: &Sandbox, spec: &RunSpec, io: RunIo<'_>) -> Result<RunResult, sandbox::SandboxError> {
    let mut server = take_fork_server(sb, spec);
    let result = sb.fork_run(&mut server, spec).and_then(|f| sb.run_forked(f, spec, io));
    println!(
        "FORK SERVER: run {} of fork server {}",
        server.runs(),
        server.init_pid()
    );
    put_fork_server(server);
    result
}

/// Whether [`hostile`] runs `spec` in a fork-server child.
fn forks(spec: &RunSpec) -> bool {
    fork() && !spec.network && spec.files.iter().all(|f| !f.read_only) && fork_server_for(&spec.argv[0]).is_some()
}

/// Run a hostile program and check that no harm was done afterwards.
pub fn hostile(spec: &RunSpec, io: RunIo<'_>) -> RunResult {
    hostile_in(sandbox(), spec, io)
}

/// [`hostile`] in another sandbox of this process (made with this process's [`uid_base`]
/// range, such as [`sandbox_without_netns_pool`]); always cold.
pub fn hostile_in(sb: &Sandbox, spec: &RunSpec, io: RunIo<'_>) -> RunResult {
    preflight();
    assert!(
        !((warm() || fork()) && without_root()),
        "{WARM_ENV} and {FORK_ENV} need root: prepared sandboxes and fork servers are root's (without root every run starts cold)"
    );
    *active_runs() += 1;
    let shared = std::ptr::eq(sb, sandbox());
    let result = if forks(spec) && shared {
        run_forked(sb, spec, io)
    } else if warm() && shared {
        run_warm(spec, io)
    } else {
        sb.run(spec, io)
    };
    let mut active = active_runs();
    *active -= 1;
    // The last run out keeps the count locked through its checks: a run that another thread
    // starts meanwhile waits, instead of being taken for a leftover (runs that end in a few
    // milliseconds made that race real in the parallel tests).
    let last = (*active == 0).then_some(active);
    let result = result.expect("the sandbox ran the program (a hostile program is not an internal error)");
    assert_no_secret_leak(&result);
    if let Some(_no_new_runs) = last {
        // The fork servers are this process's own, not a run's: end them first, then check
        // that each run left nothing, and neither did they.
        FORK_SERVERS.lock().unwrap_or_else(|p| p.into_inner()).clear();
        // Runs return before their init is reaped and their cgroup removed (a reaper thread
        // does that): wait for it, then check.
        assert!(
            sb.wait_idle(std::time::Duration::from_secs(5)) && sandbox().wait_idle(std::time::Duration::from_secs(5)),
            "sandbox teardown did not finish"
        );
        assert_nothing_left();
    }
    result
}

/// Run `f` while no run of [`hostile`] may end (and so run its leftover checks), with the
/// count of runs in flight: for a test of the checks themselves.
pub fn while_no_run_ends<T>(f: impl FnOnce(usize) -> T) -> T {
    let active = active_runs();
    f(*active)
}

/// The secret environment must never appear in what a program printed.
pub fn assert_no_secret_leak(r: &RunResult) {
    for (name, out) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
        assert!(
            !String::from_utf8_lossy(out).contains(SECRET_VALUE),
            "the server's environment leaked into {name}"
        );
    }
}

/// Nothing of this test process's sandboxes is alive — no process in a pid namespace below
/// ours that descends from this process (a sandbox's init is our child, and everything of its
/// run lives in its pid namespace; as root, also none with one of our sandbox uids) — and no
/// run cgroup of ours remains.
pub fn assert_nothing_left() {
    let me = std::process::id();
    let procs = processes();
    let own_depth = procs.get(&me).map_or(1, |p| p.ns_depth);
    let uids = (!without_root()).then(|| (uid_base() - 1)..(uid_base() + NO_POOL_UID_OFFSET + NO_POOL_SLOTS));
    let descends_from_me = |mut pid: u32| {
        // Bounded: a parent chain cannot be longer than the process count.
        for _ in 0..procs.len() {
            match procs.get(&pid) {
                Some(p) if p.ppid == me => return true,
                Some(p) if p.ppid > 1 => pid = p.ppid,
                _ => return false,
            }
        }
        false
    };
    let alive: Vec<String> = procs
        .iter()
        .filter(|(pid, p)| {
            **pid != me
                && (uids.as_ref().is_some_and(|r| r.contains(&p.uid))
                    || (p.ns_depth > own_depth && descends_from_me(**pid)))
        })
        .map(|(pid, p)| format!("{pid} (uid {}, parent {})", p.uid, p.ppid))
        .collect();
    assert!(
        alive.is_empty(),
        "sandbox processes still alive after the run: {alive:?}"
    );
    let prefix = format!("run-{}-", std::process::id());
    // v1 controllers, then the v2 root ("").
    for ctrl in ["memory", "pids", "cpuacct", "freezer", ""] {
        let dir = Path::new("/sys/fs/cgroup")
            .join(ctrl)
            .join(sandbox::default_cgroup_prefix());
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                assert!(
                    !name.starts_with(&prefix),
                    "cgroup {} left behind",
                    dir.join(name).display()
                );
            }
        }
    }
}

/// The host pids of this process's sandbox inits alive now: our children, each pid 1 of a
/// pid namespace just below ours.
pub fn sandbox_inits() -> Vec<u32> {
    let me = std::process::id();
    let procs = processes();
    let own_depth = procs.get(&me).map_or(1, |p| p.ns_depth);
    procs
        .iter()
        .filter(|(_, p)| p.ppid == me && p.ns_depth == own_depth + 1)
        .map(|(pid, _)| *pid)
        .collect()
}

/// The signals host process `pid` has a handler for (`SigCgt` of its status), as a mask.
pub fn caught_signals(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mask = status.lines().find_map(|l| l.strip_prefix("SigCgt:"))?;
    u64::from_str_radix(mask.trim(), 16).ok()
}

/// What [`assert_nothing_left`] needs of a host process (from `/proc/<pid>/status`, which
/// anyone may read).
struct ProcInfo {
    ppid: u32,
    uid: u32,
    /// Pid namespaces the process is in, counted from the host's (the `NSpid` fields).
    ns_depth: usize,
}

/// Every process of the host (those that exit while being read are left out).
fn processes() -> HashMap<u32, ProcInfo> {
    let mut out = HashMap::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let field = |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).unwrap_or_default();
        let first = |name: &str| field(name).split_whitespace().next().and_then(|v| v.parse().ok());
        let (Some(ppid), Some(uid)) = (first("PPid:"), first("Uid:")) else {
            continue;
        };
        let ns_depth = field("NSpid:").split_whitespace().count().max(1);
        out.insert(pid, ProcInfo { ppid, uid, ns_depth });
    }
    out
}

/// Compile a C fixture on the host (trusted compiler, untrusted program), cached per process.
pub fn compile_c(fixture: &str) -> Vec<u8> {
    static CACHE: OnceLock<Mutex<HashMap<String, Vec<u8>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(bin) = cache.lock().unwrap().get(fixture) {
        return bin.clone();
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("prog");
    let src = fixtures().join(fixture);
    let status = Command::new("/usr/bin/gcc")
        .args(["-O1", "-pthread", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("run gcc");
    assert!(status.success(), "fixture {fixture} does not compile");
    let bin = std::fs::read(&out).expect("read compiled fixture");
    cache.lock().unwrap().insert(fixture.to_string(), bin.clone());
    bin
}

/// A spec running compiled C fixture `fixture` as `./prog args...`.
pub fn c_spec(fixture: &str, args: &[&str]) -> RunSpec {
    let mut spec = RunSpec::new(
        std::iter::once("./prog")
            .chain(args.iter().copied())
            .map(String::from)
            .collect(),
    );
    spec.files.push(InputFile {
        path: "prog".into(),
        content: compile_c(fixture),
        executable: true,
        read_only: false,
    });
    spec
}

/// A spec running a fixture script with an interpreter (`/usr/bin/python3`, `/bin/sh`).
pub fn script_spec(interpreter: &str, fixture: &str, args: &[&str]) -> RunSpec {
    let content = std::fs::read(fixtures().join(fixture)).expect("read fixture");
    let name = Path::new(fixture)
        .file_name()
        .expect("fixture name")
        .to_string_lossy()
        .into_owned();
    let mut argv = vec![interpreter.to_string(), name.clone()];
    argv.extend(args.iter().map(|a| a.to_string()));
    let mut spec = RunSpec::new(argv);
    spec.files.push(InputFile {
        path: name,
        content,
        executable: false,
        read_only: false,
    });
    spec
}

/// Small limits that make bombs end fast.
pub fn tight_limits() -> Limits {
    Limits {
        cpu_ms: 1_000,
        wall_ms: 3_000,
        memory_bytes: 64 << 20,
        max_processes: 16,
        ..Limits::default()
    }
}

/// A run's status and output, for assertion messages.
pub fn describe(r: &RunResult) -> String {
    format!(
        "status {:?} exit {:?} signal {:?} message {:?}\n--- stdout\n{}--- stderr\n{}",
        r.status,
        r.exit_code,
        r.signal,
        r.message,
        stdout(r),
        String::from_utf8_lossy(&r.stderr)
    )
}

/// stdout as text.
pub fn stdout(r: &RunResult) -> String {
    String::from_utf8_lossy(&r.stdout).into_owned()
}

/// What the stand-in server (`src/bin/sandbox-stand-in.rs`) got back from its run.
#[derive(Debug)]
pub struct StandInRun {
    pub stdout: String,
    /// Its last stderr line: `status STATUS wall_ms N`.
    pub status_line: String,
    pub stderr: String,
}

impl StandInRun {
    /// The run's status, as the stand-in printed it.
    pub fn status(&self) -> &str {
        self.status_line.split_whitespace().nth(1).unwrap_or_default()
    }

    /// The run's wall time in milliseconds.
    pub fn wall_ms(&self) -> u64 {
        self.status_line
            .split_whitespace()
            .nth(3)
            .and_then(|n| n.parse().ok())
            .unwrap_or(u64::MAX)
    }
}

/// Run `fixture` (`interpreter` `c` for a C one) through the stand-in server `exe` (a test's
/// `env!("CARGO_BIN_EXE_sandbox-stand-in")`), started with `argv_secret` in its command line
/// and `env_secret` as `TIDERUN_STAND_IN_SECRET` in its environment. `as_uid` starts it as that
/// host uid and gid (the caller must be root) through `setpriv`, with no supplementary groups.
pub fn stand_in(
    exe: &Path,
    as_uid: Option<u32>,
    argv_secret: &str,
    env_secret: &str,
    interpreter: &str,
    fixture: &str,
    args: &[&str],
) -> StandInRun {
    let mut cmd = match as_uid {
        Some(uid) => {
            let mut c = Command::new("setpriv");
            c.arg(format!("--reuid={uid}"))
                .arg(format!("--regid={uid}"))
                .arg("--clear-groups")
                .arg("--")
                .arg(exe);
            c
        }
        None => Command::new(exe),
    };
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("TIDERUN_STAND_IN_SECRET", env_secret)
        .args(["--auth-token", argv_secret, interpreter, fixture])
        .args(args)
        .current_dir("/");
    // Its sandboxes descend from this process: no run of this process may end (and look for
    // leftovers) while they live.
    let out = {
        let _no_run_ends = active_runs();
        cmd.output().expect("start the stand-in server")
    };
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "the stand-in server failed ({}):\n{stderr}",
        out.status
    );
    StandInRun {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        status_line: stderr.lines().last().unwrap_or_default().to_string(),
        stderr,
    }
}

/// A job of one source file in `language`, with the language's default limits.
pub fn job(language: &str, code: &str) -> engine::Job {
    engine::Job {
        language: language.into(),
        files: vec![engine::SourceFile {
            name: None,
            content: code.as_bytes().to_vec(),
        }],
        ..engine::Job::default()
    }
}
