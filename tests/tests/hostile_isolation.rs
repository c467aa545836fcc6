//! The isolation half of the hostile suite: programs that try to see, reach, change or keep
//! what is not theirs — the host's files and environment, the network, other runs, the
//! supervisor, the kernel's privileged interfaces. Each test runs one fixture from
//! `tests/hostile/iso_*` through [`hostile`] and checks both what the program saw (its
//! status and output) and that no harm was done: [`HostGuard`] proves the host files a
//! program could aim at are unchanged, `hostile` that nothing of the run is left alive.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use sandbox::{Collect, Output, SkipReason, ETC_PATHS};
use tiderun_tests::*;

/// Where host sentinel directories are made: not below /tmp or /work, which the sandbox
/// covers with its own tmpfs, so a sentinel directory can also be bound into a run. Root's is
/// /run; an ordinary user's is [`GUARD_DIR_ENV`] (`./x test` makes one), else its
/// `XDG_RUNTIME_DIR`.
fn guard_parent() -> PathBuf {
    if !without_root() {
        return PathBuf::from("/run");
    }
    std::env::var_os(GUARD_DIR_ENV)
        .or_else(|| std::env::var_os("XDG_RUNTIME_DIR"))
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("without root, set {GUARD_DIR_ENV} to a directory of this user outside /tmp"))
}

/// An ordinary user's directory for host sentinels (see [`guard_parent`]).
const GUARD_DIR_ENV: &str = "TIDERUN_TEST_HOST_DIR";

/// Host files no run may change, whatever it attacks.
const WATCHED_HOST_FILES: &[&str] = &[
    "/etc/passwd",
    "/etc/shadow",
    "/etc/group",
    "/etc/hosts",
    "/etc/hostname",
    "/proc/sys/kernel/core_pattern",
    "/proc/sys/kernel/modprobe",
];

/// What one host file looked like: content, mode, owner, modification time (not for /proc,
/// whose inodes may be made afresh at any lookup).
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileState {
    content: Vec<u8>,
    mode: u32,
    owner: (u32, u32),
    modified: Option<SystemTime>,
}

fn file_state(path: &Path) -> Option<FileState> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    let content = if meta.is_file() {
        std::fs::read(path).unwrap_or_default()
    } else {
        Vec::new()
    };
    Some(FileState {
        content,
        mode: meta.mode(),
        owner: (meta.uid(), meta.gid()),
        modified: meta.modified().ok().filter(|_| !path.starts_with("/proc")),
    })
}

/// A host directory with a sentinel file that hostile programs are pointed at, plus a
/// snapshot of the watched host files and the hostname. `assert_intact` proves all of them
/// unchanged after a run.
struct HostGuard {
    dir: tempfile::TempDir,
    snapshot: BTreeMap<PathBuf, Option<FileState>>,
    hostname: String,
    /// Held shared: the core-dump test changes the host's core_pattern (watched here) under
    /// the exclusive lock.
    _core_pattern: Option<std::fs::File>,
}

impl HostGuard {
    fn new() -> HostGuard {
        let dir = tempfile::Builder::new()
            .prefix("tiderun-iso-")
            .tempdir_in(guard_parent())
            .expect("create the host sentinel dir");
        // Traversable by the sandbox's uids, so that only the sandbox keeps them out.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod sentinel dir");
        let sentinel = dir.path().join("sentinel");
        std::fs::write(&sentinel, b"host sentinel: must survive every run\n").expect("write sentinel");
        std::fs::set_permissions(&sentinel, std::fs::Permissions::from_mode(0o644)).expect("chmod sentinel");
        // A world-writable corner: there only the read-only bind can stop a write.
        let open = dir.path().join("open");
        std::fs::create_dir(&open).expect("create open dir");
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).expect("chmod open dir");
        let open_file = open.join("file");
        std::fs::write(&open_file, b"world-writable host file\n").expect("write open file");
        std::fs::set_permissions(&open_file, std::fs::Permissions::from_mode(0o666)).expect("chmod open file");
        let mut guard = HostGuard {
            dir,
            snapshot: BTreeMap::new(),
            hostname: host_hostname(),
            _core_pattern: core_pattern_lock(false),
        };
        guard.refresh();
        guard
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A root-owned 0644 file in a 0755 directory.
    fn sentinel(&self) -> PathBuf {
        self.dir().join("sentinel")
    }

    /// A 0666 file in a 0777 directory.
    fn open_file(&self) -> PathBuf {
        self.dir().join("open/file")
    }

    /// Put a file into the guarded directory (before the run) and watch it too.
    fn plant(&mut self, name: &str, content: &[u8], owner: (u32, u32), mode: u32) -> PathBuf {
        let path = self.dir().join(name);
        std::fs::write(&path, content).expect("write planted file");
        // chown clears the set-id bits: change the owner first, the mode after.
        std::os::unix::fs::chown(&path, Some(owner.0), Some(owner.1)).expect("chown planted file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod planted file");
        self.refresh();
        path
    }

    fn paths(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = WATCHED_HOST_FILES.iter().map(PathBuf::from).collect();
        paths.push(self.dir().to_path_buf());
        for sub in [self.dir().to_path_buf(), self.dir().join("open")] {
            for entry in std::fs::read_dir(&sub).expect("list sentinel dir").flatten() {
                paths.push(entry.path());
            }
        }
        paths.sort();
        paths
    }

    fn refresh(&mut self) {
        self.snapshot = self.paths().into_iter().map(|p| (p.clone(), file_state(&p))).collect();
    }

    fn assert_intact(&self) {
        let now: BTreeMap<PathBuf, Option<FileState>> =
            self.paths().into_iter().map(|p| (p.clone(), file_state(&p))).collect();
        let before: Vec<&PathBuf> = self.snapshot.keys().collect();
        let after: Vec<&PathBuf> = now.keys().collect();
        assert_eq!(
            before, after,
            "files appeared in or vanished from the guarded host paths"
        );
        for (path, state) in &self.snapshot {
            assert!(
                now[path] == *state,
                "host file {} was changed by a sandboxed program",
                path.display()
            );
        }
        assert_eq!(host_hostname(), self.hostname, "the host's hostname changed");
    }

    /// Run a hostile program, then check the host.
    fn run(&self, spec: &RunSpec) -> RunResult {
        self.run_io(spec, RunIo::default())
    }

    fn run_io(&self, spec: &RunSpec, io: RunIo<'_>) -> RunResult {
        let r = hostile(spec, io);
        self.assert_intact();
        r
    }
}

fn host_hostname() -> String {
    rustix::system::uname().nodename().to_string_lossy().into_owned()
}

fn c(fixture: &str, args: &[&str]) -> RunSpec {
    let mut spec = c_spec(fixture, args);
    spec.limits = tight_limits();
    spec
}

fn py(fixture: &str, args: &[&str]) -> RunSpec {
    let mut spec = script_spec("/usr/bin/python3", fixture, args);
    spec.limits = tight_limits();
    spec
}

fn sh(fixture: &str, args: &[&str]) -> RunSpec {
    let mut spec = script_spec("/bin/sh", fixture, args);
    spec.limits = tight_limits();
    spec
}

fn assert_ok(r: &RunResult) {
    assert_eq!(r.status, Status::Ok, "{}", describe(r));
}

/// The program ended normally and printed exactly `expected`, line by line.
fn assert_lines<S: AsRef<str>>(r: &RunResult, expected: &[S]) {
    assert_ok(r);
    let out = stdout(r);
    let got: Vec<&str> = out.lines().collect();
    let expected: Vec<&str> = expected.iter().map(AsRef::as_ref).collect();
    assert_eq!(got, expected, "{}", describe(r));
}

/// The value after `key ` on the line starting with `key`.
fn field<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no line {key:?} in output:\n{out}"))
}

// ---------------------------------------------------------------------------------------
// Nothing persists, nothing is shared

#[test]
fn files_do_not_persist_between_runs() {
    let guard = HostGuard::new();
    let token = format!("tiderun-iso-persist-{}", std::process::id());
    // The fixture tries $HOME too, which is the work dir.
    let dirs = ["/tmp", "/dev/shm", "/var/tmp", "/work", "/work"];
    let planted = guard.run(&sh("iso_persist.sh", &["plant", &token]));
    let expected: Vec<String> = dirs.iter().map(|d| format!("planted {d}")).collect();
    assert_lines(&planted, &expected);

    let looked = guard.run(&sh("iso_persist.sh", &["look", &token]));
    let expected: Vec<String> = dirs.iter().map(|d| format!("absent {d}")).collect();
    assert_lines(&looked, &expected);

    // The writes landed in the run's own tmpfs, not on the host.
    for dir in ["/tmp", "/dev/shm", "/var/tmp"] {
        for name in [token.clone(), format!(".{token}")] {
            let host = Path::new(dir).join(name);
            assert!(!host.exists(), "{} appeared on the host", host.display());
        }
    }
}

#[test]
fn concurrent_runs_cannot_see_or_reach_each_other() {
    let guard = HostGuard::new();
    let token = format!("tiderun-iso-neighbour-{}", std::process::id());
    let plant = py("iso_neighbour.py", &["plant", &token]);
    let (stdin_r, stdin_w) = sandbox::stdin_pipe().expect("stdin pipe");
    let (port_tx, port_rx) = mpsc::channel();

    // The neighbour: plants files, listens, and waits (on stdin) until the other run is done.
    let neighbour = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let result = {
            let mut on_output = |_kind, chunk: &[u8]| {
                seen.extend_from_slice(chunk);
                // The first complete line is "planted PORT".
                let text = String::from_utf8_lossy(&seen);
                if let Some(port) = text
                    .split_once('\n')
                    .and_then(|(line, _)| line.strip_prefix("planted "))
                {
                    let _ = port_tx.send(port.to_string());
                }
            };
            let io = RunIo {
                stdin: Stdin::Pipe(stdin_r),
                output: Output::Stream(&mut on_output),
                control: None,
                waiting: None,
            };
            hostile(&plant, io)
        };
        (result, String::from_utf8_lossy(&seen).into_owned())
    });
    let port = port_rx
        .recv_timeout(Duration::from_secs(3))
        .expect("the neighbour run planted its files and listens");

    let r = guard.run(&py("iso_neighbour.py", &["look", &token, &port]));
    drop(stdin_w);
    let (neighbour, out) = neighbour.join().expect("neighbour thread");
    assert_lines(
        &r,
        &[
            "neighbour processes none",
            "/work absent",
            "/tmp absent",
            "neighbour-tcp ECONNREFUSED",
            "neighbour-unix ECONNREFUSED",
            "visible 2",
        ],
    );
    assert_eq!(
        neighbour.status,
        Status::Ok,
        "neighbour: {}\n{out}",
        describe(&neighbour)
    );
    assert_eq!(
        out,
        format!("planted {port}\nreached by nobody\n"),
        "the neighbour ran undisturbed"
    );
    guard.assert_intact();
}

#[test]
fn sysv_ipc_of_the_host_is_invisible() {
    let guard = HostGuard::new();
    let segment = HostShm::create();
    let r = guard.run(&c("iso_sysv_ipc.c", &[&segment.key]));
    assert_lines(
        &r,
        &[
            "shmget host key ENOENT",
            "shm entries 0",
            "msg entries 0",
            "sem entries 0",
        ],
    );
    assert!(segment.still_there(), "the host's shared memory segment was removed");
}

/// A System V shared memory segment on the host, removed on drop.
struct HostShm {
    id: String,
    key: String,
}

impl HostShm {
    fn create() -> HostShm {
        let out = Command::new("ipcmk")
            .args(["-M", "4096", "-p", "0666"])
            .output()
            .expect("run ipcmk");
        assert!(
            out.status.success(),
            "ipcmk failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let id = text.rsplit(':').next().unwrap_or_default().trim().to_string();
        let key = Self::find(&id).expect("the new segment is listed in /proc/sysvipc/shm");
        HostShm { id, key }
    }

    /// The key (as 0x... hex) of segment `id`, from the host's /proc/sysvipc/shm.
    fn find(id: &str) -> Option<String> {
        let table = std::fs::read_to_string("/proc/sysvipc/shm").ok()?;
        table.lines().skip(1).find_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            (cols.get(1) == Some(&id)).then(|| format!("{:#x}", cols[0].parse::<i64>().unwrap_or(0) as u32))
        })
    }

    fn still_there(&self) -> bool {
        Self::find(&self.id).is_some()
    }
}

impl Drop for HostShm {
    fn drop(&mut self) {
        let _ = Command::new("ipcrm").args(["-m", &self.id]).status();
    }
}

// ---------------------------------------------------------------------------------------
// Network

#[test]
fn network_has_only_its_own_loopback() {
    let guard = HostGuard::new();
    let r = guard.run(&py("iso_net_interfaces.py", &[]));
    assert_lines(
        &r,
        &[
            "interfaces lo",
            "devices lo",
            "ipv4 routes 0",
            "ipv6 routes not via lo 0",
        ],
    );
}

#[test]
fn network_outside_is_unreachable() {
    let guard = HostGuard::new();
    let r = guard.run(&py("iso_net_outside.py", &[]));
    let out = stdout(&r);
    assert_ok(&r);
    for name in ["tcp4-public", "tcp4-metadata", "udp4-dns"] {
        assert_eq!(field(&out, name), "ENETUNREACH fast", "{name}: {}", describe(&r));
    }
    // With no IPv6 route (or IPv6 off in the namespace) the attempt ends at once as well.
    let v6 = field(&out, "tcp6-public");
    assert!(
        ["ENETUNREACH fast", "EADDRNOTAVAIL fast", "socket EAFNOSUPPORT"].contains(&v6),
        "tcp6-public: {}",
        describe(&r)
    );
    assert_eq!(field(&out, "dns"), "failed", "{}", describe(&r));
}

#[test]
fn host_loopback_services_are_unreachable() {
    use std::os::linux::net::SocketAddrExt;
    let guard = HostGuard::new();
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a host loopback listener");
    tcp.set_nonblocking(true).expect("nonblocking listener");
    let port = tcp.local_addr().expect("listener address").port().to_string();
    let abstract_name = format!("tiderun-iso-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(abstract_name.as_bytes()).expect("abstract name");
    let unix = std::os::unix::net::UnixListener::bind_addr(&addr).expect("bind an abstract unix socket");
    unix.set_nonblocking(true).expect("nonblocking unix listener");

    let r = guard.run(&py("iso_net_host_loopback.py", &[&port, &abstract_name]));
    assert_lines(
        &r,
        &[
            "host-tcp4 ECONNREFUSED",
            "host-tcp4-localhost ECONNREFUSED",
            "host-abstract-unix ECONNREFUSED",
            "own-loopback CONNECTED",
        ],
    );
    match tcp.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the host's loopback listener got a connection from the sandbox: {other:?}"),
    }
    match unix.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the host's abstract unix socket got a connection from the sandbox: {other:?}"),
    }
}

#[test]
fn vsock_and_packet_sockets_are_denied() {
    let guard = HostGuard::new();
    let r = guard.run(&c("iso_vsock.c", &[]));
    assert_lines(
        &r,
        &[
            "vsock-stream EAFNOSUPPORT",
            "vsock-dgram EAFNOSUPPORT",
            "vsock-seqpacket EAFNOSUPPORT",
            "packet-raw EAFNOSUPPORT",
            "packet-dgram EAFNOSUPPORT",
        ],
    );
}

#[test]
fn vsock_and_packet_sockets_are_denied_with_garbage_in_high_bits() {
    let guard = HostGuard::new();
    let r = guard.run(&c("iso_vsock_high_bits.c", &[]));
    assert_lines(
        &r,
        &[
            "vsock-stream-high-bits EAFNOSUPPORT",
            "vsock-dgram-high-bits EAFNOSUPPORT",
            "packet-raw-high-bits EAFNOSUPPORT",
        ],
    );
}

// ---------------------------------------------------------------------------------------
// Host files, the server's environment, the supervisor

#[test]
fn host_secrets_and_server_files_are_absent() {
    let guard = HostGuard::new();
    let exe = std::env::current_exe().expect("test executable path");
    let exe = exe.to_string_lossy();
    let cwd = std::env::current_dir().expect("test working dir");
    let cwd = cwd.to_string_lossy();
    let r = guard.run(&sh("iso_host_files.sh", &[&exe, &cwd]));
    let out = stdout(&r);
    assert_ok(&r);
    let present: Vec<&str> = out.lines().filter(|l| l.starts_with("PRESENT")).collect();
    assert!(
        present.is_empty(),
        "host paths visible in the sandbox: {present:?}\n{}",
        describe(&r)
    );
    for path in ["/etc/shadow", "/root", exe.as_ref(), cwd.as_ref()] {
        assert!(
            out.lines().any(|l| l == format!("absent {path}")),
            "{path} not checked\n{}",
            describe(&r)
        );
    }
    assert_eq!(field(&out, "home:"), "0 entries");
    // The generated files plus the toolchain entries the sandbox exposes (where the host has them).
    let mut etc: Vec<String> = ["group", "hosts", "passwd"].map(String::from).to_vec();
    for p in ETC_PATHS.iter().filter(|p| Path::new(p).symlink_metadata().is_ok()) {
        etc.push(p.trim_start_matches("/etc/").to_string());
    }
    etc.sort();
    assert_eq!(
        field(&out, "etc:").split_whitespace().collect::<Vec<_>>(),
        etc,
        "/etc holds more than the generated files and the toolchain's needs"
    );
    assert_eq!(
        field(&out, "passwd users:").split_whitespace().collect::<Vec<_>>(),
        ["root", "runner", "nobody"],
        "/etc/passwd is not the generated one"
    );
}

#[test]
fn server_environment_is_unreachable() {
    let guard = HostGuard::new();
    let r = guard.run(&py("iso_environ.py", &[]));
    assert_lines(
        &r,
        &[
            "/proc/1/environ ENOENT",
            "/proc/1/cmdline ENOENT",
            "/proc/1/mem ENOENT",
            "/proc/1/root ENOENT",
            "scanned some",
            "secret in /proc nowhere",
            "secret in os.environ no",
        ],
    );
}

/// The server's command line and environment, where a careless operator put secrets
/// (`serve --auth-token ...`), are out of the program's reach, whether the server runs as root
/// or as an ordinary user: a stand-in server started with a secret in each runs a probe that
/// looks through every pid and thread /proc shows. Without root the init (a fork of the server)
/// is the program's own uid; /proc hides it because it is not dumpable. As root, the test runs
/// the stand-in both as root and as an ordinary user.
#[test]
fn server_command_line_and_environment_stay_hidden_with_and_without_root() {
    let exe = Path::new(env!("CARGO_BIN_EXE_sandbox-stand-in"));
    let users = if without_root() {
        vec![None]
    } else {
        vec![None, Some(unprivileged_uid())]
    };
    for user in users {
        let tag = format!(
            "{}-{}",
            std::process::id(),
            user.map_or("self".to_string(), |u| u.to_string())
        );
        let s = stand_in(
            exe,
            user,
            &format!("tiderun-stand-in-secret-argv-{tag}"),
            &format!("tiderun-stand-in-secret-env-{tag}"),
            "/usr/bin/python3",
            "iso_server_secrets.py",
            &[],
        );
        let who = format!(
            "stand-in server as {}",
            user.map_or("this user".to_string(), |u| format!("uid {u}"))
        );
        assert_eq!(s.status(), "ok", "{who}: {s:?}");
        assert_eq!(
            s.stdout.lines().collect::<Vec<_>>(),
            [
                "/proc/1/cmdline ENOENT",
                "/proc/1/environ ENOENT",
                "/proc/1/status ENOENT",
                "visible 2",
                "secret in /proc nowhere",
                "secret in os.environ no",
            ],
            "{who}: {s:?}"
        );
        assert!(!s.stdout.contains(&tag), "{who}: a secret reached the program: {s:?}");
    }
}

#[test]
fn environment_is_clean() {
    let guard = HostGuard::new();
    let r = guard.run(&c("iso_env.c", &[]));
    assert_ok(&r);
    let expected = [
        "HOME=/work",
        "LANG=C.UTF-8",
        "PATH=/usr/local/bin:/usr/bin:/bin",
        "TMPDIR=/tmp",
        "USER=runner",
    ];
    let out = stdout(&r);
    for source in ["env", "proc"] {
        let mut vars: Vec<&str> = out
            .lines()
            .filter_map(|l| l.strip_prefix(source)?.strip_prefix(' '))
            .collect();
        vars.sort_unstable();
        assert_eq!(vars, expected, "{source}: {}", describe(&r));
    }
}

#[test]
fn proc_shows_only_the_programs_own_tree() {
    let guard = HostGuard::new();
    let r = guard.run(&py("iso_proc_pids.py", &[]));
    // The program is pid 2, child of the sandbox init (pid 1), which /proc hides.
    assert_lines(&r, &["self 2 parent 1", "visible 2", "/proc/1 exists False"]);
}

#[test]
fn processes_outside_cannot_be_killed() {
    let guard = HostGuard::new();
    let mut bystander = Command::new("/bin/sleep")
        .arg("30")
        .spawn()
        .expect("start a host process");
    let me = std::process::id().to_string();
    let other = bystander.id().to_string();
    let r = guard.run(&c("iso_kill_outside.c", &[&me, &other]));
    let alive = bystander.try_wait().expect("poll the host process").is_none();
    let _ = bystander.kill();
    let _ = bystander.wait();
    assert!(alive, "a host process was killed from inside the sandbox");
    // pid 1 is the init: there, but another uid's (EPERM); 2 is the program itself.
    let init = if differs_without_root(
        "the init is the program's uid: signal 0 reaches it (a signal it would act on, none does: \
         signals_to_the_init_fail)",
    ) {
        "reachable 1"
    } else {
        "exists 1 EPERM"
    };
    assert_lines(
        &r,
        &[
            "kill host pid #1 ESRCH",
            "kill host pid #2 ESRCH",
            "self 2",
            init,
            "reachable 2",
        ],
    );
}

#[test]
fn leaked_file_descriptors_are_closed() {
    let guard = HostGuard::new();
    // Descriptors the test (standing in for the server) holds open while the run starts,
    // inheritable (no close-on-exec), as a careless server's would be.
    let db = std::fs::File::open("/etc/passwd").expect("open a host file");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    for fd in [db.as_fd(), listener.as_fd()] {
        rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty()).expect("clear close-on-exec");
    }
    let r = guard.run(&c("iso_leaked_fds.c", &[]));
    let kind = if differs_without_root("stdio are sockets, which /proc cannot reopen (root's are root's pipes)") {
        "socket"
    } else {
        "pipe"
    };
    assert_lines(&r, &[0, 1, 2].map(|fd| format!("{fd} {kind}")));
}

// ---------------------------------------------------------------------------------------
// Privileges

#[test]
fn identity_is_unprivileged() {
    let guard = HostGuard::new();
    let r = guard.run(&py("iso_identity.py", &[]));
    let out = stdout(&r);
    assert_ok(&r);
    let host = host_hostname();
    assert_eq!(field(&out, "hostname"), "tiderun");
    assert_ne!(field(&out, "hostname"), host, "the host's name leaks into the sandbox");
    let ids = field(&out, "uid");
    let groups = ids
        .strip_prefix("1000 1000 gid 1000 1000 groups ")
        .unwrap_or_else(|| panic!("ids: {ids}"));
    // No supplementary groups, or only the program's own.
    assert!(groups == "[]" || groups == "[1000]", "supplementary groups {groups}");
    for cap in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(field(&out, cap), "0000000000000000", "{cap}: {}", describe(&r));
    }
    assert_eq!(field(&out, "NoNewPrivs"), "1");
    assert_eq!(field(&out, "Seccomp"), "2");
    // Inside ids map to the sandbox's unprivileged host ids, never to host root.
    let map: Vec<u64> = field(&out, "uid_map")
        .split(' ')
        .map(|n| n.parse().expect("uid_map number"))
        .collect();
    if differs_without_root("the program's uid 1000 is the server's own host uid, the only one mapped") {
        let own = u64::from(rustix::process::getuid().as_raw());
        assert_eq!(map, [1000, own, 1], "{}", describe(&r));
        return;
    }
    for entry in map.chunks(3) {
        assert!(
            entry[1] >= u64::from(uid_base()) - 1,
            "uid {} maps to host uid {}: {}",
            entry[0],
            entry[1],
            describe(&r)
        );
    }
}

#[test]
fn setuid_toolchain_binaries_do_not_give_root() {
    let setuid = std::fs::metadata("/usr/bin/su")
        .map(|m| m.mode() & 0o4000 != 0)
        .unwrap_or(false);
    if !setuid {
        testkit::skip("/usr/bin/su is not setuid on this host");
        return;
    }
    let guard = HostGuard::new();
    let r = guard.run(&sh("iso_setuid_su.sh", &[]));
    let out = stdout(&r);
    assert_ok(&r);
    assert!(out.contains("/usr/bin/su setuid bit set"), "{}", describe(&r));
    assert!(
        field(&out, "newgrp-own:").contains("Operation not permitted"),
        "newgrp had the privileges of its setuid bit: {}",
        describe(&r)
    );
    for tool in ["su:", "newgrp-root:", "newgrp-own:", "passwd:"] {
        let said = field(&out, tool);
        assert!(
            !said.split_whitespace().any(|w| w == "0"),
            "{tool} reported uid/gid 0: {}",
            describe(&r)
        );
    }
    assert_eq!(field(&out, "uid"), "1000 euid 1000");
}

#[test]
fn setuid_binary_owned_by_sandbox_root_does_not_give_root() {
    let mut guard = HostGuard::new();
    // The host id the sandbox maps to root inside: a set-id binary it owns would make
    // its caller root of the user namespace (the init's privileges), were set-id honoured.
    // Without root nothing maps to root inside: the binary is the server's own (1000 inside).
    let (owner, shown, setuid) =
        if differs_without_root("no id maps to root inside (setuid(0): EINVAL); the set-id binary is the server's own")
        {
            let own = rustix::process::getuid().as_raw();
            let own = (own, rustix::process::getgid().as_raw());
            (own, "mode 6755 owner 1000:1000", "setuid(0) EINVAL")
        } else {
            let inside_root = uid_base() - 1;
            ((inside_root, inside_root), "mode 6755 owner 0:0", "setuid(0) EPERM")
        };
    let binary = compile_c("iso_setuid_planted.c");
    let path = guard.plant("setuid-whoami", &binary, owner, 0o6755);
    let mut spec = RunSpec::new(vec![path.to_string_lossy().into_owned()]);
    spec.limits = tight_limits();
    spec.binds = vec![guard.dir().to_path_buf()];
    let r = guard.run(&spec);
    assert_lines(&r, &[shown, "uid 1000 1000 1000", "gid 1000 1000 1000", setuid]);
}

#[test]
fn namespaces_cannot_be_created_or_joined() {
    let guard = HostGuard::new();
    let r = guard.run(&c("iso_unshare.c", &[]));
    let mut expected: Vec<String> = ["user", "mnt", "net", "pid", "uts", "ipc", "cgroup", "time"]
        .iter()
        .map(|ns| format!("unshare-{ns} EPERM"))
        .collect();
    expected.extend(
        [
            "clone-newuser EPERM",
            "clone-newns EPERM",
            "clone-newuser-high-bits EPERM",
        ]
        .map(String::from),
    );
    expected.push("clone3-newuser ENOSYS".into());
    expected.extend(
        ["user", "mnt", "net", "pid", "uts", "ipc", "cgroup"]
            .iter()
            .map(|ns| format!("setns-{ns} EPERM")),
    );
    assert_lines(&r, &expected);
}

#[test]
fn unshare_mount_and_nsenter_tools_fail() {
    let guard = HostGuard::new();
    let r = guard.run(&sh("iso_unshare_cli.sh", &[]));
    let out = stdout(&r);
    assert_ok(&r);
    // The kernel refuses each of these (seccomp: EPERM).
    for tool in ["unshare-r", "unshare-m", "unshare-U", "nsenter", "chroot"] {
        let line = field(&out, tool);
        assert!(
            !line.starts_with("exit=0") && line.contains("Operation not permitted"),
            "{tool}: {}",
            describe(&r)
        );
    }
    // mount(8) gives up before the kernel is asked, as it is not setuid here.
    assert!(!field(&out, "mount-tmpfs").starts_with("exit=0"), "{}", describe(&r));
    assert_eq!(field(&out, "uid"), "1000");
}

#[test]
fn mount_family_is_denied() {
    let guard = HostGuard::new();
    let r = guard.run(&c("iso_mount.c", &[]));
    let calls = [
        "mount-tmpfs",
        "mount-bind",
        "mount-remount-rw",
        "umount-proc",
        "pivot_root",
        "chroot",
        "fsopen",
        "fspick",
        "open_tree",
        "move_mount",
        "mount_setattr",
        "name_to_handle_at",
        "open_by_handle_at",
    ];
    let expected: Vec<String> = calls.iter().map(|c| format!("{c} EPERM")).collect();
    assert_lines(&r, &expected);
}

#[test]
fn ptrace_and_process_vm_are_denied() {
    let guard = HostGuard::new();
    let r = guard.run(&c("iso_ptrace.c", &[]));
    assert_lines(
        &r,
        &[
            "traceme EPERM",
            "attach EPERM",
            "seize EPERM",
            "attach-init EPERM",
            "vm_readv EPERM",
            "vm_writev EPERM",
            "pidfd_open ok",
            "pidfd_getfd EPERM",
            "kcmp EPERM",
        ],
    );
}

// ---------------------------------------------------------------------------------------
// Kernel interfaces

#[test]
fn io_uring_is_denied() {
    let guard = HostGuard::new();
    let r = guard.run(&c("iso_io_uring.c", &[]));
    assert_lines(
        &r,
        &[
            "io_uring_setup EPERM",
            "io_uring_enter EPERM",
            "io_uring_register EPERM",
        ],
    );
}

#[test]
fn keyrings_are_denied() {
    let guard = HostGuard::new();
    let r = guard.run(&c("iso_keyctl.c", &[]));
    assert_lines(
        &r,
        &[
            "add_key EPERM",
            "request_key EPERM",
            "keyctl-get EPERM",
            "keyctl-join EPERM",
        ],
    );
}

#[test]
fn bpf_perf_and_userfaultfd_are_denied() {
    let guard = HostGuard::new();
    let r = guard.run(&c("iso_bpf_perf.c", &[]));
    assert_lines(
        &r,
        &[
            "bpf-map-create EPERM",
            "bpf-prog-load EPERM",
            "perf_event_open EPERM",
            "userfaultfd EPERM",
        ],
    );
}

#[test]
fn kernel_administration_is_denied() {
    let guard = HostGuard::new();
    let r = guard.run(&c("iso_kernel_admin.c", &[]));
    let calls = [
        "init_module",
        "finit_module",
        "delete_module",
        "kexec_load",
        "kexec_file_load",
        "reboot",
        "syslog",
        "clock_settime",
        "settimeofday",
        "acct",
        "swapon",
        "iopl",
        "ioperm",
        "personality",
        "sethostname",
    ];
    let expected: Vec<String> = calls.iter().map(|c| format!("{c} EPERM")).collect();
    assert_lines(&r, &expected);
}

#[test]
fn tiocsti_is_denied() {
    let guard = HostGuard::new();
    let r = guard.run(&c("iso_tiocsti.c", &[]));
    assert_lines(
        &r,
        &[
            "tiocsti-0 EPERM",
            "tiocsti-1 EPERM",
            "tiocsti-2 EPERM",
            "tiocsti-high-bits EPERM",
            "open-dev-tty ENOENT",
        ],
    );
}

#[test]
fn x32_syscall_kills_the_process() {
    let guard = HostGuard::new();
    let r = guard.run(&c("iso_x32.c", &[]));
    assert_eq!(
        (r.status, r.signal),
        (Status::Signal, Some(libc::SIGSYS)),
        "{}",
        describe(&r)
    );
    assert_eq!(stdout(&r), "before\n", "{}", describe(&r));
}

#[test]
fn i386_int80_syscall_kills_the_process() {
    let guard = HostGuard::new();
    let r = guard.run(&c("iso_int80.c", &[]));
    assert_eq!(
        (r.status, r.signal),
        (Status::Signal, Some(libc::SIGSYS)),
        "{}",
        describe(&r)
    );
    assert_eq!(stdout(&r), "before\n", "{}", describe(&r));
}

#[test]
fn core_limit_cannot_be_raised() {
    let guard = HostGuard::new();
    let mut spec = c("iso_core_limit.c", &[]);
    spec.collect = Some(Collect::all(16, 1 << 20));
    let r = guard.run(&spec);
    assert_eq!(
        (r.status, r.signal),
        (Status::Signal, Some(libc::SIGABRT)),
        "{}",
        describe(&r)
    );
    assert_eq!(
        stdout(&r),
        "core limit 1 1\nraise hard EPERM\nraise soft EPERM\n",
        "{}",
        describe(&r)
    );
    let names: Vec<&str> = r.files.iter().map(|f| f.path.as_str()).collect();
    assert!(
        !names.iter().any(|n| n.starts_with("core")),
        "a core file was written: {names:?}"
    );
}

// ---------------------------------------------------------------------------------------
// The filesystem

#[test]
fn dev_is_minimal_and_mknod_fails() {
    let guard = HostGuard::new();
    let r = guard.run(&py("iso_dev.py", &[]));
    let mut expected = vec!["dev fd full null random shm stderr stdin stdout urandom zero".to_string()];
    for name in [
        "mem", "kmem", "port", "kmsg", "vda", "sda", "vsock", "tty", "console", "ptmx", "fuse", "net/tun",
    ] {
        expected.push(format!("/dev/{name} absent"));
    }
    expected.extend(
        [
            "mknod /work/mem EPERM",
            "mknod /tmp/kmsg EPERM",
            "mknod /work/disk EPERM",
            "mknod /dev/mem EROFS",
            "zero True",
            "urandom 16",
            "full ENOSPC",
        ]
        .map(String::from),
    );
    assert_lines(&r, &expected);
}

#[test]
fn read_only_binds_and_root_cannot_be_written() {
    let guard = HostGuard::new();
    let mut spec = py("iso_readonly.py", &[&guard.open_file().to_string_lossy()]);
    spec.binds = vec![guard.dir().to_path_buf()];
    let r = guard.run(&spec);
    // EROFS: the mount is read-only; EACCES: not even the permission check passes, for files
    // owned by root (host root, or root of the namespace for the generated /etc files).
    let generated = if differs_without_root(
        "the generated /etc files are the init's, which is the program's uid: only the read-only \
         root stops a write (EROFS)",
    ) {
        "append /etc/passwd EROFS"
    } else {
        "append /etc/passwd EACCES"
    };
    let expected = [
        "create /usr/bin/x EROFS",
        "append /usr/bin/python3 EACCES",
        "create /usr/lib/python3 pycache EROFS",
        generated,
        "create /etc/x EROFS",
        "append /etc/ld.so.cache EACCES",
        "create /x EROFS",
        "mkdir /x EROFS",
        "unlink /etc/passwd EROFS",
        "rename /etc/hosts EROFS",
        "chmod /etc/passwd EROFS",
        "symlink /usr/x EROFS",
        // World-writable on the host: only the read-only bind stands in the way.
        "append host file EROFS",
        "truncate host file EROFS",
        "unlink host file EROFS",
        "chmod host file EROFS",
        "create in host dir EROFS",
        "write /work SUCCEEDED",
        "write /tmp SUCCEEDED",
    ];
    assert_lines(&r, &expected);
}

#[test]
fn sys_and_cgroupfs_are_out_of_reach() {
    let guard = HostGuard::new();
    let r = guard.run(&sh("iso_sys_cgroup.sh", &[]));
    assert_lines(
        &r,
        &[
            "/sys absent",
            "mkdir /sys refused",
            "mount cgroup refused",
            "cgroup paths: / ",
        ],
    );
}

#[test]
fn proc_kernel_knobs_are_not_writable() {
    let guard = HostGuard::new();
    let r = guard.run(&sh("iso_proc_sys.sh", &[]));
    let out = stdout(&r);
    assert_ok(&r);
    for knob in [
        "/proc/sys/kernel/core_pattern",
        "/proc/sys/kernel/modprobe",
        "/proc/sys/kernel/hostname",
        "/proc/sys/vm/drop_caches",
        "/proc/sysrq-trigger",
    ] {
        assert_eq!(field(&out, knob), "refused", "{knob}: {}", describe(&r));
    }
    for line in ["oom_score_adj refused", "kcore refused", "kallsyms hidden"] {
        assert!(out.lines().any(|l| l == line), "expected {line:?}: {}", describe(&r));
    }
}

#[test]
fn collect_never_follows_planted_links() {
    let guard = HostGuard::new();
    let mut spec = sh("iso_collect_plant.sh", &[&guard.sentinel().to_string_lossy()]);
    spec.collect = Some(Collect::all(64, 1 << 20));
    let started = Instant::now();
    let r = guard.run(&spec);
    let took = started.elapsed();
    assert_ok(&r);
    assert!(
        took < Duration::from_secs(3),
        "collecting took {took:?}: something blocked"
    );
    let out = stdout(&r);
    for target in ["/etc/passwd", "/etc/ld.so.cache", "/usr/bin/true"] {
        assert!(
            out.lines().any(|l| l == format!("hardlink {target} refused")),
            "hardlink to {target}: {}",
            describe(&r)
        );
    }
    let files: BTreeMap<&str, &[u8]> = r
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.content.as_slice()))
        .collect();
    let names: Vec<&str> = files.keys().copied().collect();
    assert_eq!(
        names,
        ["iso_collect_plant.sh", "out.txt", "sub/inner.txt"],
        "collected: {:?}",
        r.files
    );
    assert_eq!(files["out.txt"], b"built\n");
    assert_eq!(files["sub/inner.txt"], b"inner\n");
    let sentinel = std::fs::read(guard.sentinel()).expect("read sentinel");
    let host_secrets: Vec<Vec<u8>> = ["/etc/shadow", "/etc/passwd"]
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .chain([sentinel])
        .collect();
    for f in &r.files {
        assert!(
            !host_secrets.contains(&f.content),
            "{} holds a host file's content",
            f.path
        );
        assert!(
            !String::from_utf8_lossy(&f.content).contains(SECRET_VALUE),
            "{} holds the server's secret",
            f.path
        );
    }
}

/// Images a program drew are read back the same way, with a name filter and skipped files
/// listed: a planted symlink, FIFO or hardlink named like an image is never followed, opened
/// for long, or listed.
#[test]
fn collecting_images_never_follows_planted_links() {
    let guard = HostGuard::new();
    let mut spec = sh("iso_collect_images_plant.sh", &[&guard.sentinel().to_string_lossy()]);
    spec.collect = Some(Collect {
        max_files: 8,
        max_total_bytes: 1024,
        suffixes: &[".png", ".svg", ".gif", ".jpg"],
        max_skipped: 8,
    });
    let started = Instant::now();
    let r = guard.run(&spec);
    let took = started.elapsed();
    assert_ok(&r);
    assert!(
        took < Duration::from_secs(3),
        "collecting took {took:?}: something blocked"
    );
    let out = stdout(&r);
    for target in ["/etc/passwd", "/etc/ld.so.cache"] {
        assert!(
            out.lines().any(|l| l == format!("hardlink {target} refused")),
            "hardlink to {target}: {}",
            describe(&r)
        );
    }
    let listed: Vec<(&str, u64, Option<SkipReason>)> =
        r.files.iter().map(|f| (f.path.as_str(), f.size, f.skipped)).collect();
    assert_eq!(
        listed,
        [
            ("a.png", 5, None),
            ("big.png", 2000, Some(SkipReason::TooManyBytes)),
            ("sub/b.svg", 6, None),
            ("trap.png/inner.gif", 3, None),
        ],
        "collected: {:?}",
        r.files
    );
    assert_eq!(r.files[0].content, b"png-a");
    assert!(r.files[1].content.is_empty(), "a skipped file has no content");
    let sentinel = std::fs::read(guard.sentinel()).expect("read sentinel");
    for f in &r.files {
        assert!(
            f.content != sentinel && !String::from_utf8_lossy(&f.content).contains(SECRET_VALUE),
            "{} holds a host secret",
            f.path
        );
    }
}

// ---------------------------------------------------------------------------------------
// The checks themselves

/// The no-harm check would notice a changed sentinel, a new file beside it, a changed mode.
#[test]
fn host_guard_notices_changes() {
    let changes: [fn(&HostGuard); 3] = [
        |g| std::fs::write(g.sentinel(), b"changed").expect("write sentinel"),
        |g| std::fs::write(g.dir().join("open/new"), b"new").expect("write new file"),
        |g| std::fs::set_permissions(g.open_file(), std::fs::Permissions::from_mode(0o600)).expect("chmod"),
    ];
    for change in changes {
        let guard = HostGuard::new();
        guard.assert_intact();
        change(&guard);
        let noticed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| guard.assert_intact())).is_err();
        assert!(noticed, "HostGuard missed a change");
    }
}

/// The no-harm check would notice a process left in a pid namespace below ours that descends
/// from this test process, as root and without root.
#[test]
fn nothing_left_notices_a_process_in_a_pid_namespace_below() {
    while_no_run_ends(|in_flight| {
        if in_flight == 0 {
            assert_nothing_left();
        }
        let mut decoy = Command::new("unshare")
            .args(["--user", "--pid", "--fork", "--kill-child", "/bin/sleep", "30"])
            .spawn()
            .expect("start a process in a pid namespace of its own");
        // The forked sleep (pid 1 of the new namespace) shows up in a moment.
        let deadline = Instant::now() + Duration::from_secs(5);
        let noticed = loop {
            let check = std::panic::catch_unwind(assert_nothing_left);
            let found = match &check {
                Err(panic) => panic
                    .downcast_ref::<String>()
                    .is_some_and(|m| m.contains("still alive")),
                Ok(()) => false,
            };
            if found || Instant::now() > deadline {
                break found;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let _ = decoy.kill();
        let _ = decoy.wait();
        assert!(
            noticed,
            "assert_nothing_left missed a process in a pid namespace below ours"
        );
    });
}
