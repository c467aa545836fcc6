//! The kernel-surface half of the hostile suite: programs that reach for kernel interfaces a
//! student program never needs (rare socket families, device events, the LDT, the newest
//! syscalls), for more of the node than a run may take (real-time scheduling, rlimits,
//! root's inotify quota), or for a channel to another run through what runs share (locks and
//! change notification on the read-only toolchain and the device nodes). Each test runs
//! fixtures from `tests/hostile/` through [`hostile`] and checks what the program got and
//! that no harm was done on the host.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use sandbox::Output;
use tiderun_tests::*;

fn c(fixture: &str, args: &[&str]) -> RunSpec {
    let mut spec = c_spec(fixture, args);
    spec.limits = tight_limits();
    spec
}

/// The program ended normally and printed exactly `expected`, line by line.
fn assert_lines<S: AsRef<str>>(r: &RunResult, expected: &[S]) {
    assert_eq!(r.status, Status::Ok, "{}", describe(r));
    let out = stdout(r);
    let got: Vec<&str> = out.lines().collect();
    let expected: Vec<&str> = expected.iter().map(AsRef::as_ref).collect();
    assert_eq!(got, expected, "{}", describe(r));
}

/// The kernel modules loaded on the host (none listed when the kernel has no modules).
fn host_modules() -> Option<BTreeSet<String>> {
    let text = std::fs::read_to_string("/proc/modules").ok()?;
    Some(
        text.lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(String::from)
            .collect(),
    )
}

/// Lines of a streamed run, sent one by one to `tx` as they complete, and kept.
struct Lines {
    buf: Vec<u8>,
    tx: mpsc::Sender<String>,
    all: String,
}

impl Lines {
    fn new(tx: mpsc::Sender<String>) -> Lines {
        Lines {
            buf: Vec::new(),
            tx,
            all: String::new(),
        }
    }

    fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
        while let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            self.all.push_str(&line);
            self.all.push('\n');
            let _ = self.tx.send(line);
        }
    }
}

/// Wait for the line `want` from a streamed run (other lines are skipped).
fn expect_line(rx: &mpsc::Receiver<String>, want: &str, who: &str) {
    loop {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(line) if line == want => return,
            Ok(_) => {}
            Err(e) => panic!("{who} never said {want:?}: {e}"),
        }
    }
}

/// Run `spec` on a thread with a stdin pipe, streaming its lines to the returned receiver.
fn start_streamed(
    sb: &'static Sandbox,
    spec: RunSpec,
) -> (
    std::thread::JoinHandle<(RunResult, String)>,
    mpsc::Receiver<String>,
    std::os::fd::OwnedFd,
) {
    let (stdin_r, stdin_w) = sandbox::stdin_pipe().expect("stdin pipe");
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let mut lines = Lines::new(tx);
        let result = {
            let mut on_output = |kind, chunk: &[u8]| {
                if kind == sandbox::StreamKind::Stdout {
                    lines.push(chunk);
                }
            };
            let io = RunIo {
                stdin: Stdin::Pipe(stdin_r),
                output: Output::Stream(&mut on_output),
                control: None,
                waiting: None,
            };
            hostile_in(sb, &spec, io)
        };
        (result, lines.all)
    });
    (handle, rx, stdin_w)
}

fn write_line(fd: &std::os::fd::OwnedFd, line: &str) {
    rustix::io::write(fd, line.as_bytes()).expect("write to a run's stdin");
}

// ---------------------------------------------------------------------------------------
// Kernel interfaces no program needs

#[test]
fn rare_socket_families_are_denied() {
    let modules = host_modules();
    if modules.is_none() {
        println!("note: this kernel has no /proc/modules (no loadable modules): only the socket results are checked");
    }
    let r = hostile(&c("iso_socket_families.c", &[]), RunIo::default());
    // 60 families below 64 other than UNIX, INET, INET6 and NETLINK, 5 types each; no other
    // line: no family opened or failed otherwise, with or without high bits, as a pair or
    // as netlink with a protocol other than NETLINK_ROUTE.
    assert_lines(
        &r,
        &[
            "refused 300",
            "unix opens",
            "inet opens",
            "inet6 opens",
            "netlink-route opens",
            "unix-pair opens",
        ],
    );
    assert_eq!(
        host_modules(),
        modules,
        "the host's kernel loaded modules for a sandboxed program"
    );
}

#[test]
fn modify_ldt_is_denied() {
    let r = hostile(&c("iso_modify_ldt.c", &[]), RunIo::default());
    assert_lines(&r, &["modify_ldt-write EPERM", "modify_ldt-read EPERM"]);
}

#[test]
fn newest_syscalls_get_enosys_and_those_runtimes_use_still_work() {
    let r = hostile(&c("iso_new_syscalls.c", &[]), RunIo::default());
    let denied = [
        "memfd_secret",
        "process_mrelease",
        "set_mempolicy_home_node",
        "cachestat",
        "fchmodat2",
        "map_shadow_stack",
        "statmount",
        "listmount",
        "lsm_get_self_attr",
        "lsm_set_self_attr",
        "lsm_list_modules",
        "mseal",
        "setxattrat",
        "getxattrat",
        "listxattrat",
        "removexattrat",
        "open_tree_attr",
        "file_getattr",
        "file_setattr",
        "future-470",
        "future-1000",
    ];
    let allowed = [
        "close_range",
        "openat2",
        "faccessat2",
        "epoll_pwait2",
        "futex_waitv",
        "rseq",
    ];
    let expected: Vec<String> = denied
        .iter()
        .map(|n| format!("new {n} ENOSYS"))
        .chain(allowed.iter().map(|n| format!("allowed {n} ok")))
        .collect();
    assert_lines(&r, &expected);
}

// ---------------------------------------------------------------------------------------
// More of the node than a run may take

/// Limits a server might have been started with (a unit's `LimitRTPRIO=`, a container's
/// defaults): generous, so that only the sandbox's own limits can stop the program. Raising a
/// hard limit needs CAP_SYS_RESOURCE, which a root without it (a container) lacks: then the
/// test runs with what this process has, and says so.
fn give_this_process_generous_limits() {
    use rustix::process::{Resource, Rlimit};
    for (name, resource, value) in [
        ("RTPRIO", Resource::Rtprio, Some(99)),
        ("NICE", Resource::Nice, Some(40)),
        ("MEMLOCK", Resource::Memlock, None),
        ("SIGPENDING", Resource::Sigpending, Some(1 << 20)),
        ("MSGQUEUE", Resource::Msgqueue, Some(1 << 24)),
    ] {
        let limit = Rlimit {
            current: value,
            maximum: value,
        };
        if let Err(e) = rustix::process::setrlimit(resource, limit) {
            let now = rustix::process::getrlimit(resource);
            println!("note: cannot raise this process's RLIMIT_{name} ({e}); it stays {now:?}");
        }
    }
}

#[test]
fn scheduling_and_resource_limits_cannot_be_raised() {
    // This test process is the server here: whatever it was given, a run gets the sandbox's.
    give_this_process_generous_limits();
    let r = hostile(&c("iso_rlimits.c", &[]), RunIo::default());
    assert_lines(
        &r,
        &[
            "rtprio 0 0",
            "raise-hard rtprio EPERM",
            "raise-soft rtprio EINVAL",
            "nice 0 0",
            "raise-hard nice EPERM",
            "raise-soft nice EINVAL",
            "memlock 65536 65536",
            "raise-hard memlock EPERM",
            "raise-soft memlock EINVAL",
            "sigpending 256 256",
            "raise-hard sigpending EPERM",
            "raise-soft sigpending EINVAL",
            "msgqueue 0 0",
            "raise-hard msgqueue EPERM",
            "raise-soft msgqueue EINVAL",
            "sched-fifo EPERM",
            "sched-rr EPERM",
            // SCHED_OTHER
            "policy 0",
            "nice-down EACCES",
            "mlock-1mib ENOMEM",
        ],
    );
}

#[test]
fn inotify_instances_do_not_come_out_of_roots_quota() {
    let (run, lines, stdin) = start_streamed(sandbox(), c("iso_inotify_quota.c", &[]));
    expect_line(&lines, "holding", "the inotify program");
    // While the program holds all it could get, this process (the server's user: root, or
    // the ordinary user of the unprivileged mode) still makes one.
    let ours = rustix::fs::inotify::init(rustix::fs::inotify::CreateFlags::CLOEXEC);
    drop(stdin);
    let (r, out) = run.join().expect("run thread");
    assert_eq!(r.status, Status::Ok, "{}\n{out}", describe(&r));
    assert!(
        ours.is_ok(),
        "the server's user could not make an inotify instance while a run held its own: {ours:?}\n{out}"
    );
    assert_eq!(out, "inotify 0 ENOSYS\nholding\n", "{}", describe(&r));
}

// ---------------------------------------------------------------------------------------
// Device events

/// Make the host's kernel send "change" uevents for /dev/null (an untagged device: the event
/// goes to every network namespace owned by the host's user namespace).
fn trigger_host_uevents() {
    for _ in 0..3 {
        std::fs::write("/sys/devices/virtual/mem/null/uevent", "change").expect("trigger a host uevent");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs the uevent listener in `sb`; the host sends uevents while it listens. Returns stdout.
fn listen_for_uevents(sb: &'static Sandbox) -> String {
    let mut spec = c("iso_uevent.c", &[]);
    spec.limits.wall_ms = 10_000;
    let (run, lines, stdin) = start_streamed(sb, spec);
    expect_line(&lines, "listening", "the uevent listener");
    trigger_host_uevents();
    drop(stdin);
    let (r, out) = run.join().expect("run thread");
    assert_eq!(r.status, Status::Ok, "{}\n{out}", describe(&r));
    out
}

#[test]
#[ignore = "needs root: triggering a host uevent (writing /sys)"]
fn host_uevents_reach_no_run_in_a_pooled_network_namespace() {
    if !testkit::root_or_skip("triggering a host uevent (writing /sys)") {
        return;
    }
    let out = listen_for_uevents(sandbox());
    // Made ahead of time by the host's root: owned by the host's user namespace.
    assert!(out.starts_with("netns owner outside\n"), "{out}");
    assert!(
        out.contains("uevent-socket EPROTONOSUPPORT\n") && out.ends_with("uevents 0\n"),
        "{out}"
    );
}

#[test]
#[ignore = "needs root: triggering a host uevent (writing /sys)"]
fn host_uevents_reach_no_run_in_its_own_network_namespace() {
    if !testkit::root_or_skip("triggering a host uevent (writing /sys)") {
        return;
    }
    let out = listen_for_uevents(sandbox_without_netns_pool());
    assert!(out.starts_with("netns owner own\n"), "{out}");
    assert!(
        out.contains("uevent-socket EPROTONOSUPPORT\n") && out.ends_with("uevents 0\n"),
        "{out}"
    );
}

// ---------------------------------------------------------------------------------------
// Channels between runs

fn mtime(path: &str) -> (SystemTime, i64) {
    let meta = std::fs::metadata(path).expect("stat");
    (meta.modified().expect("mtime"), meta.ctime())
}

#[test]
fn locks_and_notifications_carry_no_bit_between_concurrent_runs() {
    let host_null = mtime("/dev/null");
    let mut send_spec = c("iso_lock_channel.c", &["send"]);
    send_spec.limits.wall_ms = 20_000;
    let mut receive_spec = c("iso_lock_channel.c", &["receive"]);
    receive_spec.limits.wall_ms = 20_000;

    let (sender, sent, sender_in) = start_streamed(sandbox(), send_spec);
    expect_line(&sent, "holding", "the sender");
    let (receiver, received, receiver_in) = start_streamed(sandbox(), receive_spec);
    expect_line(&received, "watching", "the receiver");
    write_line(&sender_in, "touch\n");
    expect_line(&sent, "touched", "the sender");
    write_line(&receiver_in, "check\n");
    drop(receiver_in);
    let (r, out) = receiver.join().expect("receiver thread");
    drop(sender_in);
    let (s, sender_out) = sender.join().expect("sender thread");

    assert_eq!(s.status, Status::Ok, "sender: {}\n{sender_out}", describe(&s));
    assert_eq!(
        sender_out,
        "send-flock ENOLCK\nsend-posix ok\nsend-ofd ok\nsend-devnull ok\nholding\nsend-touch EROFS\ntouched\n",
        "sender: {}",
        describe(&s)
    );
    // Locks the sender holds on its own nodes are invisible (as root: without root the nodes
    // are the host's, a documented difference); the probes that could see something on the
    // shared toolchain are refused.
    assert_eq!(r.status, Status::Ok, "receiver: {}\n{out}", describe(&r));
    let devnull_lock = if differs_without_root(
        "the device nodes are read-only binds of the host's, so a POSIX lock one run holds on /dev/null is seen by a concurrent run",
    ) {
        "SEEN"
    } else {
        "clear"
    };
    assert_eq!(
        out,
        format!(
            "watching\nflock ENOLCK\ngetlk ENOLCK\nofd-getlk ENOLCK\ndevnull-lock {devnull_lock}\ninotify ENOSYS\ndnotify EINVAL\ndevnull-mtime clear\n"
        ),
        "receiver: {}",
        describe(&r)
    );
    assert_eq!(mtime("/dev/null"), host_null, "a run changed the host's /dev/null");
}
