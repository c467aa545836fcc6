//! The code that runs in the cloned child: the sandbox's init (pid 1 of the new pid namespace)
//! and, cloned vfork-style from it (sharing its memory until exec), the program.
//!
//! The child is a copy of a multi-threaded server, so until `execve` it may only make raw
//! system calls: no allocation, no locks, no Rust drop glue, no panics. Everything it needs is
//! prepared by the parent in a [`ChildPlan`] (C strings, pointer arrays, the seccomp program)
//! and only read here. Errors go back to the parent over the report pipe as a fixed-size
//! [`Report`], never as a log line.

use std::ffi::{c_char, c_int, CStr, CString};
use std::os::fd::RawFd;

use crate::error::SetupStep;
use crate::layout::{WorkDir, WorkFile};

/// The uid and gid the program runs as inside its user namespace.
pub(crate) const INSIDE_ID: u32 = 1000;

/// Most host paths one sandbox binds (system paths, /etc entries, devices, runtime binds).
pub(crate) const MAX_BIND_SOURCES: usize = 64;

pub(crate) const REPORT_SETUP_ERROR: u32 = 1;
pub(crate) const REPORT_EXITED: u32 = 2;
/// A prepared sandbox's init has built its root and waits for its program (or, for a zygote,
/// has started it: its interpreter has exec'ed): the parent may now write the run's files into
/// `/work`, and set a zygote's rlimits.
pub(crate) const REPORT_READY: u32 = 3;

/// Most rlimits set on a program (`launch::rlimits` sets up to 11).
pub(crate) const MAX_RLIMITS: usize = 12;
/// Signals the kernel knows (`_NSIG`), numbered from 1.
const KERNEL_SIGNALS: c_int = 64;
/// The descriptor a zygote reads its run's request from.
pub(crate) const REQUEST_FD: c_int = 3;

/// One rlimit of the program.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Rlimit {
    pub resource: u32,
    pub soft: u64,
    pub hard: u64,
}

/// What the program is started with. It lives in a shared mapping the parent fills (see
/// `launch.rs`): before the clone for a run started at once, after it for a prepared sandbox,
/// which reads it only once the parent's go byte has arrived. Every pointer points into the
/// same mapping, which has the same address in the parent and in the init.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct LaunchParams {
    /// NULL-terminated pointer arrays.
    pub argv: *const *const c_char,
    pub envp: *const *const c_char,
    /// Paths to try for `argv[0]`, in order; NULL-terminated.
    pub candidates: *const *const c_char,
    pub rlimits: [Rlimit; MAX_RLIMITS],
    pub nrlimits: usize,
}

/// The one message init sends to the parent. Fixed size and smaller than `PIPE_BUF`, so a
/// single `write` is atomic.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Report {
    pub kind: u32,
    pub step: u32,
    pub errno: i32,
    /// `waitpid` status of the program.
    pub wait_status: i32,
    /// Non-zero when the program could not be started: the errno of its `execve`, or of its
    /// setup just before (see `exec_step`).
    pub exec_errno: i32,
    /// With `exec_errno`: the [`SetupStep`] that failed (`ProgramSetup` or `Exec`).
    pub exec_step: u32,
    /// CPU time of every reaped process (fallback when there is no cgroup).
    pub cpu_us: u64,
    /// Largest RSS of any reaped process (fallback when there is no cgroup).
    pub maxrss_kb: u64,
}

/// One filesystem step of the new root, with every path already a C string.
#[derive(Debug)]
pub(crate) enum Step {
    Mkdir {
        path: CString,
        mode: u32,
    },
    /// An empty file to bind a file (or device node) onto.
    Touch {
        path: CString,
    },
    Symlink {
        target: CString,
        path: CString,
    },
    /// Bind a host path, opened (as the host's root, before the switch to the namespace's ids)
    /// into `ChildPlan::bind_sources[source]`: host directories such as a rustup toolchain under
    /// a 0700 home can be exposed without being traversable by the sandbox's ids.
    BindHost {
        source: usize,
        dst: CString,
    },
    Tmpfs {
        dst: CString,
        options: CString,
        flags: u64,
    },
    /// A fresh procfs; `options` hides the init from the program (`hidepid`).
    Proc {
        dst: CString,
        options: CString,
    },
    /// Give a directory to the program's user.
    Chown {
        path: CString,
    },
    /// Set a mode exactly (the root of a tmpfs).
    Chmod {
        path: CString,
        mode: u32,
    },
    /// `mount_setattr`: read-only, nosuid, nodev (recursively).
    ReadOnly {
        path: CString,
        recursive: bool,
    },
    /// Read-only and nosuid, recursively, but device nodes still usable: a `/dev` of binds of
    /// the host's nodes (without root).
    ReadOnlyDevices {
        path: CString,
    },
    /// Attach the slot's own `/dev` (`ChildPlan::devices`, see `devices.rs`) here.
    AttachDevices {
        dst: CString,
    },
    /// A small file with fixed content (`/etc/passwd`...).
    Write {
        path: CString,
        content: Vec<u8>,
        mode: u32,
    },
}

/// Everything the child needs, prepared by the parent before `clone3`.
#[derive(Debug)]
pub(crate) struct ChildPlan<'a> {
    /// Parent → child: one byte when uid maps and cgroups are in place, and (with
    /// `wait_go`) a second one when the program may start.
    pub sync_read: RawFd,
    /// Child → parent: the [`Report`].
    pub report_write: RawFd,
    /// Parent closes its end when it has read what it needed; init then exits.
    pub release_read: RawFd,
    /// Parent → init: signal numbers to forward to the program.
    pub control_read: RawFd,
    /// The program's stdin, stdout, stderr.
    pub stdio: [RawFd; 3],
    /// v1 hosts: the child enters its cgroups after clone, so it unshares the cgroup namespace
    /// only then (its root becomes the run's cgroup).
    pub unshare_cgroup: bool,
    /// Privileged hosts map a second id, so init stays root of the namespace (a different
    /// uid from the program, which `hidepid` then hides it from) and drops supplementary
    /// groups; otherwise init and program share the one mapped id.
    pub init_is_root: bool,
    pub bring_up_loopback: bool,
    /// Where the new root is assembled (an empty host directory; private to this mount ns).
    pub root: &'a CStr,
    pub root_options: &'a CStr,
    /// Steps before `pivot_root`, paths under `root`: the sandbox's template, then the
    /// run's own.
    pub steps: [&'a [Step]; 2],
    /// Host paths bound into the root, at most [`MAX_BIND_SOURCES`]: the template's, then the
    /// run's (a `BindHost` index counts across both).
    pub bind_sources: [&'a [CString]; 2],
    /// Input files, written below `/work` after `pivot_root`: directories first, then files.
    pub work_dirs: &'a [WorkDir],
    pub work_files: &'a [WorkFile<'a>],
    pub hostname: &'a CStr,
    pub seccomp: &'a [libc::sock_filter],
    /// The program's argv, env and rlimits (read only when the program starts).
    pub launch: *const LaunchParams,
    /// Prepared sandboxes: report [`REPORT_READY`] once the root is built (a zygote: once its
    /// interpreter has exec'ed).
    pub announce_ready: bool,
    /// Prepared sandboxes without a zygote: wait for the go byte before starting the program.
    pub wait_go: bool,
    /// Zygotes: the read end of the request pipe, given to the program as [`REQUEST_FD`].
    pub request_fd: RawFd,
    /// A detached mount of the slot's `/dev` for [`Step::AttachDevices`], or -1.
    pub devices: RawFd,
    /// The program is a fork server (`forkserver.rs`): it keeps the namespace's root (see
    /// `program_main`).
    pub fork_server: bool,
}

/// Entry point of the cloned child. Never returns.
///
/// # Safety
/// Must be called only in the child of `clone3`, with `plan` prepared by the parent.
pub(crate) unsafe fn init_main(plan: &ChildPlan) -> ! {
    // SAFETY: we are the single-threaded child; every call below is a raw syscall on memory
    // the plan keeps alive (the parent's copy, mapped copy-on-write).
    unsafe {
        close_all_except(&[
            plan.sync_read,
            plan.report_write,
            plan.release_read,
            plan.control_read,
            plan.stdio[0],
            plan.stdio[1],
            plan.stdio[2],
            plan.request_fd,
            plan.devices,
        ]);
        if !plan.init_is_root {
            // Without root the program is the init's uid and may signal it. The kernel drops a
            // signal sent to a namespace's init from inside unless the init handles it; the
            // handlers this copy of the server inherited (its shutdown on SIGTERM...) must not
            // run at the program's command, so none is left. A raw rt_sigaction: glibc's
            // wrappers refuse its own two (32, 33). A zeroed kernel `struct sigaction` is
            // SIG_DFL with no flags and an empty mask, whichever its layout.
            let default_action = [0u64; 4];
            for sig in 1..=KERNEL_SIGNALS {
                if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                    libc::syscall(
                        libc::SYS_rt_sigaction,
                        sig,
                        default_action.as_ptr(),
                        std::ptr::null_mut::<u64>(),
                        std::mem::size_of::<u64>(),
                    );
                }
            }
        }
        let mut go = 0u8;
        if libc::read(plan.sync_read, (&mut go as *mut u8).cast(), 1) != 1 {
            // The parent gave up on this run; nothing to report to.
            libc::_exit(1);
        }
        if !plan.wait_go {
            libc::close(plan.sync_read);
        }
        let fail = |step: SetupStep| -> ! { report_failure(plan.report_write, step, errno()) };

        let mut sources = [-1 as c_int; MAX_BIND_SOURCES];
        for (slot, path) in sources.iter_mut().zip(plan.bind_sources.iter().copied().flatten()) {
            *slot = libc::open(path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC);
            if *slot < 0 {
                fail(SetupStep::Bind);
            }
        }
        if plan.init_is_root {
            // Become root of the new user namespace (host: an unprivileged id): full
            // capabilities here, none outside. The program switches to uid 1000 before exec.
            if set_ids(0, true) != 0 {
                fail(SetupStep::WaitParent);
            }
        } else {
            // Only one id is mapped: become it, keeping this namespace's capabilities until
            // the program's exec.
            libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0);
            if set_ids(INSIDE_ID, false) != 0 {
                fail(SetupStep::WaitParent);
            }
            if !raise_permitted_caps() {
                fail(SetupStep::WaitParent);
            }
        }
        if plan.unshare_cgroup && libc::unshare(libc::CLONE_NEWCGROUP) != 0 {
            fail(SetupStep::CgroupNamespace);
        }
        if libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            fail(SetupStep::MountPrivate);
        }
        if libc::mount(
            c"tmpfs".as_ptr(),
            plan.root.as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            plan.root_options.as_ptr().cast(),
        ) != 0
        {
            fail(SetupStep::MountRoot);
        }
        for step in plan.steps.iter().copied().flatten() {
            if let Err(failed) = run_step(step, &sources, plan.devices) {
                fail(failed);
            }
        }
        if plan.devices >= 0 {
            libc::close(plan.devices);
        }
        for fd in sources {
            if fd >= 0 {
                libc::close(fd);
            }
        }
        if libc::chdir(plan.root.as_ptr()) != 0
            || libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) != 0
            || libc::umount2(c".".as_ptr(), libc::MNT_DETACH) != 0
            || libc::chdir(c"/".as_ptr()) != 0
        {
            fail(SetupStep::PivotRoot);
        }
        if !set_mount_attr(c"/", false, READ_ONLY_ATTRS) {
            fail(SetupStep::Remount);
        }
        if libc::chdir(c"/work".as_ptr()) != 0 {
            fail(SetupStep::WriteFile);
        }
        // Read-only files (build outputs) stay the init's (the namespace's root), so the
        // program can neither write nor chmod them; their directories, /work included, become
        // the init's and sticky like /tmp, so it cannot unlink or rename them either, and can
        // still create files of its own.
        if plan.work_files.iter().any(|f| f.read_only)
            && (libc::chown(c"/work".as_ptr(), libc::geteuid(), libc::getegid()) != 0
                || libc::chmod(c"/work".as_ptr(), 0o1777) != 0)
        {
            fail(SetupStep::WriteFile);
        }
        for dir in plan.work_dirs {
            let path = dir.path.as_ptr();
            if (libc::mkdir(path, 0o755) != 0 && errno() != libc::EEXIST)
                || (dir.protected && libc::chmod(path, 0o1777) != 0)
                || (!dir.protected && libc::chown(path, INSIDE_ID, INSIDE_ID) != 0)
            {
                fail(SetupStep::WriteFile);
            }
        }
        for f in plan.work_files {
            if !write_file(&f.path, f.content, f.mode, !f.read_only) {
                fail(SetupStep::WriteFile);
            }
        }
        if libc::sethostname(plan.hostname.as_ptr(), plan.hostname.to_bytes().len()) != 0 {
            fail(SetupStep::Hostname);
        }
        if plan.bring_up_loopback && !loopback_up() {
            fail(SetupStep::Loopback);
        }
        // The init holds a copy of the server's memory: keep it out of reach of the program
        // (same uid), which could otherwise read /proc/1/mem or /proc/1/environ.
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);

        let mut mask: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut mask);
        libc::sigaddset(&mut mask, libc::SIGCHLD);
        if libc::sigprocmask(libc::SIG_BLOCK, &mask, std::ptr::null_mut()) != 0 {
            fail(SetupStep::Signals);
        }
        let sigfd = libc::signalfd(-1, &mask, libc::SFD_CLOEXEC);
        if sigfd < 0 {
            fail(SetupStep::Signals);
        }
        let mut exec_pipe = [0 as c_int; 2];
        if libc::pipe2(exec_pipe.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            fail(SetupStep::Fork);
        }
        // The init closed 0-2, so the pipe may have landed there, where the program's stdio
        // goes: an exec failure would then be written into the program's own output.
        for fd in exec_pipe.iter_mut() {
            if *fd <= 2 {
                let moved = libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 3);
                if moved < 0 {
                    fail(SetupStep::Fork);
                }
                libc::close(*fd);
                *fd = moved;
            }
        }
        // The program is spawned vfork-style: it shares this process's memory (no page tables
        // copied, none to tear down at its exec) and runs on its own stack while this process
        // waits (CLONE_VFORK) until it has exec'ed or died. glibc's clone() is a thin
        // trampoline; fork(3) is not usable here (its handlers take locks that other threads of
        // the server may have held when it cloned us). Every signal is blocked across the
        // clone so that no handler inherited from the server runs in the shared memory before
        // the program has reset them.
        let ready = Report {
            kind: REPORT_READY,
            ..Report::default()
        };
        if plan.announce_ready && plan.wait_go {
            write_report(plan.report_write, &ready);
        }
        if plan.wait_go {
            // A prepared sandbox: the parent writes the run's files and launch parameters,
            // then sends the byte (or closes the pipe when the sandbox is discarded).
            if libc::read(plan.sync_read, (&mut go as *mut u8).cast(), 1) != 1 {
                libc::_exit(1);
            }
            libc::close(plan.sync_read);
        }
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        let mut saved: libc::sigset_t = std::mem::zeroed();
        if libc::sigprocmask(libc::SIG_SETMASK, &all, &mut saved) != 0 {
            fail(SetupStep::Signals);
        }
        let args = ProgramArgs {
            plan,
            exec_err: exec_pipe[1],
        };
        let pid = libc::clone(
            program_entry,
            program_stack_top(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (&args as *const ProgramArgs).cast_mut().cast(),
        );
        if pid < 0 {
            fail(SetupStep::Fork);
        }
        if libc::sigprocmask(libc::SIG_SETMASK, &saved, std::ptr::null_mut()) != 0 {
            fail(SetupStep::Signals);
        }
        if plan.announce_ready && !plan.wait_go {
            // A zygote is ready once its interpreter has exec'ed (the clone returns only then,
            // or when it died first): its rlimits are set and nothing here touches them again,
            // so the parent may now set the run's (see `instance::fit`).
            write_report(plan.report_write, &ready);
        }
        let program = pid as libc::pid_t;
        libc::close(exec_pipe[1]);
        for fd in plan.stdio {
            libc::close(fd);
        }
        if plan.request_fd >= 0 {
            libc::close(plan.request_fd);
        }
        let status = supervise_program(program, sigfd, plan.control_read);

        // The program is gone: nothing else may outlive it.
        libc::kill(-1, libc::SIGKILL);
        loop {
            let r = libc::waitpid(-1, std::ptr::null_mut(), 0);
            if r < 0 && errno() != libc::EINTR {
                break;
            }
        }
        if !plan.init_is_root {
            // Without root the parent may read our root (build outputs) only while we are
            // dumpable; every process of the program is dead now, so nothing in the sandbox
            // is left to read our memory.
            libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0);
        }
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        // The program's failed step and errno, when it did not get as far as its exec.
        let mut failed = [0i32; 2];
        let n = libc::read(exec_pipe[0], failed.as_mut_ptr().cast(), 8);
        if n != 8 {
            failed = [0, 0];
        }
        let [exec_step, exec_errno] = failed;
        let tv_us = |tv: libc::timeval| tv.tv_sec as u64 * 1_000_000 + tv.tv_usec as u64;
        let report = Report {
            kind: REPORT_EXITED,
            wait_status: status,
            exec_errno,
            exec_step: exec_step as u32,
            cpu_us: tv_us(usage.ru_utime) + tv_us(usage.ru_stime),
            maxrss_kb: usage.ru_maxrss as u64,
            ..Report::default()
        };
        write_report(plan.report_write, &report);
        // Stay alive (keeping the namespace and its files) until the parent has collected
        // what it wants from our root.
        let mut byte = 0u8;
        while libc::read(plan.release_read, (&mut byte as *mut u8).cast(), 1) > 0 {}
        libc::_exit(0)
    }
}

/// Wait for the program, forwarding control signals to its process group. Returns its wait
/// status.
///
/// # Safety
/// Child-only; raw syscalls on valid descriptors.
unsafe fn supervise_program(program: libc::pid_t, sigfd: c_int, control: RawFd) -> c_int {
    // SAFETY: raw syscalls on descriptors this process owns and on stack buffers.
    unsafe {
        let mut fds = [
            libc::pollfd {
                fd: sigfd,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: control,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let mut nfds = if control >= 0 { 2 } else { 1 };
        loop {
            let r = libc::poll(fds.as_mut_ptr(), nfds, -1);
            if r < 0 {
                if errno() == libc::EINTR {
                    continue;
                }
                // Should not happen; fall back to a blocking wait for the program.
                let mut st = 0;
                while libc::waitpid(program, &mut st, 0) < 0 && errno() == libc::EINTR {}
                return st;
            }
            if nfds == 2 && fds[1].revents != 0 {
                let mut sig: i32 = 0;
                let n = libc::read(control, (&mut sig as *mut i32).cast(), 4);
                if n == 4 && sig > 0 && sig < 65 {
                    if libc::kill(-program, sig) != 0 {
                        libc::kill(program, sig);
                    }
                } else if n == 0 {
                    // End of file: the supervisor holds the other end until the program has
                    // ended, so it is gone (the server was killed). Nothing may outlive it
                    // with no one enforcing the limits: kill every process of the namespace,
                    // then reap the program below as usual.
                    libc::kill(-1, libc::SIGKILL);
                    nfds = 1;
                } else if errno() != libc::EINTR {
                    nfds = 1;
                }
            }
            if fds[0].revents != 0 {
                let mut info = [0u8; 128];
                libc::read(sigfd, info.as_mut_ptr().cast(), info.len());
                loop {
                    let mut st = 0;
                    let r = libc::waitpid(-1, &mut st, libc::WNOHANG);
                    if r == program {
                        return st;
                    }
                    if r <= 0 {
                        break;
                    }
                }
            }
        }
    }
}

/// Size of the stack the program runs on between its clone and its exec: `program_main` and
/// the libc wrappers it calls need a few KiB.
const PROGRAM_STACK_BYTES: usize = 64 * 1024;

/// The program's stack until exec. A static rather than an allocation, because the init
/// (which alone uses it, single-threaded, once) may not allocate; in the server it is never
/// touched, so it costs no memory there.
#[repr(C, align(16))]
struct ProgramStack(std::cell::UnsafeCell<[u8; PROGRAM_STACK_BYTES]>);

// SAFETY: only a sandbox init's one program child ever writes to it (through a raw pointer
// handed to clone), each init being a separate process with its own copy; no Rust reference
// to its contents is ever made.
unsafe impl Sync for ProgramStack {}

static PROGRAM_STACK: ProgramStack = ProgramStack(std::cell::UnsafeCell::new([0; PROGRAM_STACK_BYTES]));

/// The top of [`PROGRAM_STACK`] (stacks grow down), 16-byte aligned.
fn program_stack_top() -> *mut libc::c_void {
    PROGRAM_STACK
        .0
        .get()
        .cast::<u8>()
        .wrapping_add(PROGRAM_STACK_BYTES)
        .cast()
}

/// What the init hands to its program child through `clone`'s argument.
struct ProgramArgs<'a, 'p> {
    plan: &'a ChildPlan<'p>,
    exec_err: RawFd,
}

/// Entry point of the program child, on [`PROGRAM_STACK`].
extern "C" fn program_entry(arg: *mut libc::c_void) -> c_int {
    // SAFETY: `arg` points at the init's `ProgramArgs`, which stays alive and unchanged: the
    // init is suspended (CLONE_VFORK) until this child has exec'ed or exited.
    unsafe {
        let args = &*arg.cast::<ProgramArgs>();
        program_main(args.plan, args.exec_err)
    }
}

/// Exec the program's first candidate path that exists; returns only when none could be.
///
/// # Safety
/// Only in the program child, with `launch` filled by the parent.
unsafe fn exec_program(launch: &LaunchParams) {
    // SAFETY: NULL-terminated arrays of C strings in the launch mapping.
    unsafe {
        let mut candidate = launch.candidates;
        while !(*candidate).is_null() {
            libc::execve(*candidate, launch.argv, launch.envp);
            if errno() != libc::ENOENT {
                break;
            }
            candidate = candidate.add(1);
        }
    }
}

/// The program: stdio, rlimits, no privileges, seccomp, exec.
///
/// It shares the init's memory until exec (see `init_main`): it writes nothing there but its
/// own stack and libc's errno (the init is suspended meanwhile), and whatever it changes in
/// the shared `mm` (the dumpable flag) it sets back before exec.
///
/// # Safety
/// Only in the init's vfork-style child, with the init suspended.
unsafe fn program_main(plan: &ChildPlan, exec_err: RawFd) -> ! {
    // SAFETY: raw syscalls on memory and descriptors of this process (its memory is the
    // init's, which is waiting for us).
    unsafe {
        let die = |step: SetupStep| -> ! {
            // One write of 8 bytes to a pipe: atomic.
            let failed = [step as i32, errno()];
            libc::write(exec_err, failed.as_ptr().cast(), 8);
            libc::_exit(127)
        };
        // Dispositions and the mask are inherited across exec; the server ignores SIGPIPE.
        // Handlers first, then the mask the init blocked everything with.
        for sig in 1..32 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        libc::setsid();
        for (target, &fd) in plan.stdio.iter().enumerate() {
            if libc::dup2(fd, target as c_int) < 0 {
                die(SetupStep::ProgramSetup);
            }
        }
        let mut keep_below = 3u32;
        if plan.request_fd >= 0 {
            // dup2 onto itself would keep close-on-exec: clear the flag instead.
            let ok = if plan.request_fd == REQUEST_FD {
                libc::fcntl(REQUEST_FD, libc::F_SETFD, 0) == 0
            } else {
                libc::dup2(plan.request_fd, REQUEST_FD) == REQUEST_FD
            };
            if !ok {
                die(SetupStep::ProgramSetup);
            }
            keep_below = REQUEST_FD as u32 + 1;
        }
        // Only 0-2 (and a zygote's request pipe) survive exec; the exec-error pipe is already
        // close-on-exec.
        if libc::syscall(libc::SYS_close_range, keep_below, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) != 0 {
            die(SetupStep::ProgramSetup);
        }
        let launch = &*plan.launch;
        // When the memory cgroup runs out, the OOM killer must pick the program, not the init
        // (whose RSS counts the pages it shares with the server). Raising one's own score is
        // always allowed.
        // The init made itself non-dumpable (so its /proc files belong to the host's root);
        // the program shares that flag (it lives in the shared mm) and must lift it to reach
        // its own oom_score_adj, then put it back at once: the init must never be dumpable
        // while a program runs. (A vfork child's oom_score_adj is its own: the kernel does not
        // copy it to the init, which shares the mm.) The exec gives the program a new mm with
        // its own flag.
        libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0);
        let adj = libc::open(c"/proc/self/oom_score_adj".as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if adj >= 0 {
            libc::write(adj, b"1000".as_ptr().cast(), 4);
            libc::close(adj);
        }
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
        for r in &launch.rlimits[..launch.nrlimits.min(MAX_RLIMITS)] {
            let lim = libc::rlimit {
                rlim_cur: r.soft,
                rlim_max: r.hard,
            };
            if libc::setrlimit(r.resource as _, &lim) != 0 {
                die(SetupStep::ProgramSetup);
            }
        }
        if plan.fork_server {
            // A fork server (`forkserver.rs`): trusted code that never runs a student's, and
            // needs the namespace's root to give each forked run namespaces and mounts of its
            // own. It keeps root of this (unprivileged) user namespace and no seccomp filter;
            // each run it forks drops to the program's id, no capabilities, `no_new_privs`
            // and the seccomp filter itself before any of the run's code.
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                die(SetupStep::ProgramSetup);
            }
            exec_program(launch);
            die(SetupStep::Exec)
        }
        drop_bounding_caps();
        if plan.init_is_root && set_ids(INSIDE_ID, false) != 0 {
            die(SetupStep::ProgramSetup);
        }
        // The uid switch set the shared mm's dumpable flag to the host's fs.suid_dumpable;
        // whatever that is, the init stays non-dumpable.
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            die(SetupStep::ProgramSetup);
        }
        drop_all_caps();
        let prog = libc::sock_fprog {
            len: plan.seccomp.len() as u16,
            filter: plan.seccomp.as_ptr() as *mut _,
        };
        if libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &prog as *const libc::sock_fprog,
            0,
            0,
        ) != 0
        {
            die(SetupStep::ProgramSetup);
        }
        exec_program(launch);
        die(SetupStep::Exec)
    }
}

/// Close every descriptor not in `keep` (negative entries ignored).
///
/// # Safety
/// Child-only.
unsafe fn close_all_except(keep: &[RawFd]) {
    let mut sorted = [-1 as RawFd; 12];
    let mut n = 0;
    for &fd in keep {
        if fd >= 0 && n < sorted.len() {
            sorted[n] = fd;
            n += 1;
        }
    }
    sorted[..n].sort_unstable();
    let mut next: u32 = 0;
    for &fd in &sorted[..n] {
        let fd = fd as u32;
        if fd > next {
            // SAFETY: close_range on our own descriptor table.
            unsafe { libc::syscall(libc::SYS_close_range, next, fd - 1, 0u32) };
        }
        next = fd + 1;
    }
    // SAFETY: as above.
    unsafe { libc::syscall(libc::SYS_close_range, next, u32::MAX, 0u32) };
}

/// One step of the root assembly.
///
/// # Safety
/// Child-only.
unsafe fn run_step(step: &Step, sources: &[c_int], devices: c_int) -> Result<(), SetupStep> {
    // SAFETY: raw syscalls on NUL-terminated strings owned by the plan.
    unsafe {
        match step {
            Step::Mkdir { path, mode } => {
                if libc::mkdir(path.as_ptr(), *mode) != 0 {
                    // Already there (a symlink to /usr/lib, say): nothing to create.
                    if errno() == libc::EEXIST {
                        return Ok(());
                    }
                    return Err(SetupStep::MakeMountPoint);
                }
                // mkdir honours the umask; set the mode exactly (1777 for /tmp).
                if libc::chmod(path.as_ptr(), *mode) != 0 {
                    return Err(SetupStep::MakeMountPoint);
                }
            }
            Step::Touch { path } => {
                let fd = libc::open(
                    path.as_ptr(),
                    libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
                    0o644,
                );
                if fd < 0 {
                    return Err(SetupStep::MakeMountPoint);
                }
                libc::close(fd);
            }
            Step::Symlink { target, path } => {
                if libc::symlink(target.as_ptr(), path.as_ptr()) != 0 && errno() != libc::EEXIST {
                    return Err(SetupStep::MakeMountPoint);
                }
            }
            Step::BindHost { source, dst } => {
                let Some(&fd) = sources.get(*source) else {
                    return Err(SetupStep::Bind);
                };
                let mut path = [0u8; 32];
                let src = proc_fd_path(fd, &mut path);
                let flags = libc::MS_BIND | libc::MS_REC;
                if libc::mount(src, dst.as_ptr(), std::ptr::null(), flags, std::ptr::null()) != 0 {
                    return Err(SetupStep::Bind);
                }
            }
            Step::Tmpfs { dst, options, flags } => {
                if libc::mount(
                    c"tmpfs".as_ptr(),
                    dst.as_ptr(),
                    c"tmpfs".as_ptr(),
                    *flags,
                    options.as_ptr().cast(),
                ) != 0
                {
                    return Err(SetupStep::MountBox);
                }
            }
            Step::Proc { dst, options } => {
                let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
                if libc::mount(
                    c"proc".as_ptr(),
                    dst.as_ptr(),
                    c"proc".as_ptr(),
                    flags,
                    options.as_ptr().cast(),
                ) != 0
                {
                    return Err(SetupStep::MountProc);
                }
            }
            Step::Chmod { path, mode } => {
                if libc::chmod(path.as_ptr(), *mode) != 0 {
                    return Err(SetupStep::MountBox);
                }
            }
            Step::Chown { path } => {
                if libc::chown(path.as_ptr(), INSIDE_ID, INSIDE_ID) != 0 {
                    return Err(SetupStep::MakeMountPoint);
                }
            }
            Step::ReadOnly { path, recursive } => {
                if !set_mount_attr(path, *recursive, READ_ONLY_ATTRS) {
                    return Err(SetupStep::Remount);
                }
            }
            Step::ReadOnlyDevices { path } => {
                if !set_mount_attr(path, true, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID) {
                    return Err(SetupStep::Remount);
                }
            }
            Step::AttachDevices { dst } => {
                if devices < 0
                    || libc::syscall(
                        libc::SYS_move_mount,
                        devices,
                        c"".as_ptr(),
                        libc::AT_FDCWD,
                        dst.as_ptr(),
                        MOVE_MOUNT_F_EMPTY_PATH,
                    ) != 0
                {
                    return Err(SetupStep::MountDev);
                }
            }
            Step::Write { path, content, mode } => {
                if !write_file(path, content, *mode, false) {
                    return Err(SetupStep::WriteFile);
                }
            }
        }
    }
    Ok(())
}

/// setgroups (optional), setresgid, setresuid as raw syscalls. glibc's wrappers would try to
/// apply the change to every thread of the process; in a child cloned from a multi-threaded
/// server they wait forever for threads that do not exist here.
///
/// # Safety
/// Raw syscalls.
unsafe fn set_ids(id: u32, clear_groups: bool) -> libc::c_long {
    // SAFETY: plain integer arguments.
    unsafe {
        if clear_groups && libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()) != 0 {
            return -1;
        }
        if libc::syscall(libc::SYS_setresgid, id, id, id) != 0 {
            return -1;
        }
        libc::syscall(libc::SYS_setresuid, id, id, id)
    }
}

/// `/proc/self/fd/<fd>` as a C string in `buf`, without allocating.
fn proc_fd_path(fd: c_int, buf: &mut [u8; 32]) -> *const c_char {
    const PREFIX: &[u8] = b"/proc/self/fd/";
    buf[..PREFIX.len()].copy_from_slice(PREFIX);
    let mut digits = [0u8; 10];
    let mut n = fd.max(0) as u32;
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in 0..len {
        buf[PREFIX.len() + i] = digits[len - 1 - i];
    }
    buf[PREFIX.len() + len] = 0;
    buf.as_ptr().cast()
}

/// `struct mount_attr` of `mount_setattr(2)` (not in the libc crate).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}
pub(crate) const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;
const READ_ONLY_ATTRS: u64 = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
const AT_RECURSIVE: c_int = 0x8000;
const MOVE_MOUNT_F_EMPTY_PATH: c_int = 0x4;

/// Set mount attributes (read-only, nosuid, nodev...) without touching the mount's other
/// (possibly locked) flags, which a `MS_REMOUNT` in a user namespace would have to repeat
/// exactly.
///
/// # Safety
/// Raw syscall.
unsafe fn set_mount_attr(path: &CStr, recursive: bool, attr_set: u64) -> bool {
    let flags = if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: a valid path for the duration of the call.
    unsafe { mount_setattr(libc::AT_FDCWD, path, flags, attr_set) }
}

/// [`set_mount_attr`] on a mount descriptor (a detached mount).
///
/// # Safety
/// Raw syscall; `fd` must be a descriptor of this process.
pub(crate) unsafe fn set_mount_attr_fd(fd: c_int, attr_set: u64) -> bool {
    // SAFETY: an empty path with AT_EMPTY_PATH names `fd` itself.
    unsafe { mount_setattr(fd, c"", libc::AT_EMPTY_PATH, attr_set) }
}

/// # Safety
/// Raw syscall with a valid path.
unsafe fn mount_setattr(dirfd: c_int, path: &CStr, flags: c_int, attr_set: u64) -> bool {
    let attr = MountAttr {
        attr_set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: valid path and attr for the duration of the call.
    unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dirfd,
            path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        ) == 0
    }
}

/// Create a file that must not exist yet and fill it.
///
/// # Safety
/// Raw syscalls.
unsafe fn write_file(path: &CStr, content: &[u8], mode: u32, for_program: bool) -> bool {
    // SAFETY: valid pointers for the duration of each call.
    unsafe {
        let flags = libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW;
        let fd = libc::open(path.as_ptr(), flags, mode);
        if fd < 0 {
            return false;
        }
        let mut rest = content;
        while !rest.is_empty() {
            let n = libc::write(fd, rest.as_ptr().cast(), rest.len());
            if n <= 0 {
                if n < 0 && errno() == libc::EINTR {
                    continue;
                }
                libc::close(fd);
                return false;
            }
            rest = &rest[n as usize..];
        }
        // The umask may have cut the mode (executables need 0755); the file is the program's.
        let ok = libc::fchmod(fd, mode) == 0 && (!for_program || libc::fchown(fd, INSIDE_ID, INSIDE_ID) == 0);
        libc::close(fd);
        ok
    }
}

/// `ip link set lo up` in the calling thread's network namespace (for the netns pool).
pub(crate) fn loopback_up_here() -> bool {
    // SAFETY: a socket and two ioctls on a stack struct.
    unsafe { loopback_up() }
}

/// `ip link set lo up` in the new network namespace.
///
/// # Safety
/// Raw syscalls.
unsafe fn loopback_up() -> bool {
    // SAFETY: ifreq is a plain C struct on our stack.
    unsafe {
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if sock < 0 {
            return false;
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo".iter().enumerate() {
            req.ifr_name[i] = *b as c_char;
        }
        let mut ok = libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req) == 0;
        if ok {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            ok = libc::ioctl(sock, libc::SIOCSIFFLAGS, &req) == 0;
        }
        libc::close(sock);
        ok
    }
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: c_int,
}
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}
const CAP_VERSION_3: u32 = 0x2008_0522;

/// After `setresuid`, the effective set may have been cleared; raise it back from permitted.
///
/// # Safety
/// Raw syscalls.
unsafe fn raise_permitted_caps() -> bool {
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and data are the layout capget/capset expect for version 3.
    unsafe {
        if libc::syscall(libc::SYS_capget, &mut header as *mut CapHeader, data.as_mut_ptr()) != 0 {
            return false;
        }
        for d in &mut data {
            d.effective = d.permitted;
        }
        libc::syscall(libc::SYS_capset, &mut header as *mut CapHeader, data.as_ptr()) == 0
    }
}

/// Empty the bounding set (needs CAP_SETPCAP, so before the switch to uid 1000).
///
/// # Safety
/// Raw syscalls.
unsafe fn drop_bounding_caps() {
    // SAFETY: prctl with valid arguments.
    unsafe {
        for cap in 0..64 {
            if libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno() == libc::EINVAL {
                break;
            }
        }
    }
}

/// Empty the ambient, effective, permitted and inheritable sets.
///
/// # Safety
/// Raw syscalls.
unsafe fn drop_all_caps() {
    // SAFETY: prctl/capset with valid arguments.
    unsafe {
        libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
        let mut header = CapHeader {
            version: CAP_VERSION_3,
            pid: 0,
        };
        let data = [CapData::default(); 2];
        libc::syscall(libc::SYS_capset, &mut header as *mut CapHeader, data.as_ptr());
    }
}

fn write_report(fd: RawFd, report: &Report) {
    // SAFETY: Report is plain old data; a write shorter than PIPE_BUF is atomic.
    unsafe {
        libc::write(fd, (report as *const Report).cast(), std::mem::size_of::<Report>());
    }
}

fn report_failure(fd: RawFd, step: SetupStep, errno: i32) -> ! {
    let report = Report {
        kind: REPORT_SETUP_ERROR,
        step: step as u32,
        errno,
        ..Report::default()
    };
    write_report(fd, &report);
    // SAFETY: _exit is always safe to call.
    unsafe { libc::_exit(1) }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn proc_fd_path_formats_without_allocating() {
        let mut buf = [0u8; 32];
        for (fd, want) in [
            (0, "/proc/self/fd/0"),
            (7, "/proc/self/fd/7"),
            (1234, "/proc/self/fd/1234"),
        ] {
            let p = super::proc_fd_path(fd, &mut buf);
            // SAFETY: proc_fd_path wrote a NUL-terminated string into buf.
            let got = unsafe { std::ffi::CStr::from_ptr(p) };
            assert_eq!(got.to_str().unwrap(), want);
        }
    }
}
