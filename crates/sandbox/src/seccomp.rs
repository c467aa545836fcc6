//! The seccomp deny-list, compiled once to a classic BPF program with libseccomp and installed
//! in each program child with a raw `prctl` (no allocation after fork).

use libseccomp::{ScmpAction, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
use std::io::Read;

use crate::error::SandboxError;

/// Syscalls a student program never needs, answered with EPERM: debugging other processes,
/// mounting and namespaces (regaining privileges), kernel keyrings, eBPF, perf, userfaultfd,
/// io_uring (a large attack surface that also escapes seccomp's per-syscall view), modules,
/// kexec, clocks, swap, reboot, accounting, handles to host files.
const DENIED: &[&str] = &[
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "process_madvise",
    "pidfd_getfd",
    "kcmp",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "unshare",
    "setns",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "acct",
    "swapon",
    "swapoff",
    "reboot",
    "syslog",
    "quotactl",
    "quotactl_fd",
    "name_to_handle_at",
    "open_by_handle_at",
    "lookup_dcookie",
    "iopl",
    "ioperm",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "vhangup",
    "fanotify_init",
    "uselib",
    "ustat",
    "sysfs",
    "nfsservctl",
    "personality",
    "landlock_create_ruleset",
    "lsm_set_self_attr",
];

/// Namespace flags: a `clone` that asks for any of them is refused (new user namespaces are
/// how unprivileged code regains capabilities).
const CLONE_NAMESPACE_FLAGS: &[u64] = &[
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWCGROUP as u64,
    0x80, // CLONE_NEWTIME
];

/// AF_VSOCK talks to the hypervisor; AF_PACKET is not needed by student code and widens the
/// kernel surface. (AF_NETLINK stays: glibc's if_nameindex uses it, and an empty network
/// namespace has nothing to show.)
const DENIED_SOCKET_FAMILIES: &[u64] = &[libc::AF_VSOCK as u64, libc::AF_PACKET as u64];

/// libseccomp's `SCMP_FLTATR_CTL_OPTIMIZE` level 2: syscalls sorted into a binary tree.
const SECCOMP_OPTIMIZE_BINARY_TREE: u32 = 2;

/// Compile the filter to BPF instructions.
pub(crate) fn build() -> Result<Vec<libc::sock_filter>, SandboxError> {
    let err = |what: &'static str| {
        move |e: libseccomp::error::SeccompError| SandboxError::Seccomp {
            what,
            detail: e.to_string(),
        }
    };
    let mut ctx = ScmpFilterContext::new(ScmpAction::Allow).map_err(err("create context"))?;
    // Syscalls of another ABI (i386 int 0x80, x32) bypass a filter written for x86_64:
    // kill the process outright.
    ctx.set_act_badarch(ScmpAction::KillProcess)
        .map_err(err("set bad-arch action"))?;
    // no_new_privs is set by the child itself, before the filter is installed.
    ctx.set_ctl_nnp(false).map_err(err("clear nnp"))?;
    // A binary tree of syscall numbers instead of one comparison after another. Same verdicts;
    // what it saves is at install time: the kernel works out which syscalls the filter always
    // allows (its action cache) by running the filter for every syscall number with irqs off,
    // and over the linear list that took ~0.1 ms of every run (~0.035 ms as a tree). Only an
    // optimization: a libseccomp older than 2.5 keeps the list.
    if let Err(e) = ctx.set_ctl_optimize(SECCOMP_OPTIMIZE_BINARY_TREE) {
        tracing::debug!(error = %e, "libseccomp cannot build a binary tree; the filter stays a list");
    }
    let eperm = ScmpAction::Errno(libc::EPERM);
    for name in DENIED {
        // A syscall this libseccomp or arch does not know is simply not there to deny.
        if let Ok(sys) = ScmpSyscall::from_name(name) {
            ctx.add_rule(eperm, sys).map_err(err("add rule"))?;
        }
    }
    let clone = ScmpSyscall::from_name("clone").map_err(err("resolve clone"))?;
    for &flag in CLONE_NAMESPACE_FLAGS {
        let cmp = ScmpArgCompare::new(0, ScmpCompareOp::MaskedEqual(flag), flag);
        ctx.add_rule_conditional(eperm, clone, &[cmp])
            .map_err(err("add clone rule"))?;
    }
    // clone3 passes its flags in memory, out of seccomp's sight: ENOSYS makes libc fall back
    // to clone(2), whose flags are checked above.
    let clone3 = ScmpSyscall::from_name("clone3").map_err(err("resolve clone3"))?;
    ctx.add_rule(ScmpAction::Errno(libc::ENOSYS), clone3)
        .map_err(err("add clone3 rule"))?;
    let socket = ScmpSyscall::from_name("socket").map_err(err("resolve socket"))?;
    for &family in DENIED_SOCKET_FAMILIES {
        // The domain is an int: the kernel ignores the upper 32 bits of the register, so the
        // filter must too, or `socket(0x1_0000_0028, ...)` would pass as AF_VSOCK.
        let cmp = ScmpArgCompare::new(0, ScmpCompareOp::MaskedEqual(0xffff_ffff), family);
        ctx.add_rule_conditional(ScmpAction::Errno(libc::EAFNOSUPPORT), socket, &[cmp])
            .map_err(err("add socket rule"))?;
    }
    // TIOCSTI pushes characters into a terminal's input queue; there is no tty, but deny anyway.
    let ioctl = ScmpSyscall::from_name("ioctl").map_err(err("resolve ioctl"))?;
    let tiocsti = ScmpArgCompare::new(1, ScmpCompareOp::MaskedEqual(0xffff_ffff), libc::TIOCSTI);
    ctx.add_rule_conditional(eperm, ioctl, &[tiocsti])
        .map_err(err("add ioctl rule"))?;

    export(&ctx)
}

/// libseccomp 2.5 exports BPF only to a file descriptor: go through a pipe.
fn export(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>, SandboxError> {
    let (read, write) = rustix::pipe::pipe().map_err(|e| SandboxError::Os {
        what: "create pipe",
        source: e.into(),
    })?;
    let mut write = std::fs::File::from(write);
    // The program is a few hundred instructions of 8 bytes; a pipe holds 64 KiB.
    ctx.export_bpf(&mut write).map_err(|e| SandboxError::Seccomp {
        what: "export bpf",
        detail: e.to_string(),
    })?;
    drop(write);
    let mut bytes = Vec::new();
    std::fs::File::from(read)
        .read_to_end(&mut bytes)
        .map_err(|e| SandboxError::Os {
            what: "read bpf",
            source: e,
        })?;
    let size = std::mem::size_of::<libc::sock_filter>();
    if bytes.is_empty() || bytes.len() % size != 0 {
        return Err(SandboxError::Seccomp {
            what: "export bpf",
            detail: format!("{} bytes is not a bpf program", bytes.len()),
        });
    }
    Ok(bytes
        .chunks_exact(size)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn filter_compiles_to_bpf() {
        let prog = super::build().expect("filter builds");
        assert!(prog.len() > 50, "{} instructions", prog.len());
        assert!(prog.len() < 4096, "bpf programs are limited to 4096 instructions");
    }
}
