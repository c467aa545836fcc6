//! Whether an interactive run's program is waiting for input the caller has not sent: time
//! spent so is not the program's (it does not count against the wall limit), and has a budget
//! of its own, for all the run's waits together ([`crate::Limits::input_wait_ms`]).
//!
//! A thread of the run's cgroup is waiting for input when the kernel shows it inside `read` or
//! `readv` on fd 0 (`/proc/<tid>/syscall`: the syscall number and its first argument, only
//! while it sleeps in it) and that fd 0 is the very pipe the supervisor feeds (same device and
//! inode: a program that put its own pipe on fd 0 waits for itself, not for the student). The
//! supervisor adds that no input it holds is waiting to be written and that the cgroup's CPU
//! time did not move, so one thread reading while another computes is still running.
//!
//! Why not only "stdin empty and no CPU": `time.sleep(60)` looks the same and would escape the
//! wall limit. Why not `wchan`: its symbol names (`pipe_read`, `wait_woken`...) change between
//! kernels. A program that waits with `poll`/`epoll` (Node's readline) is not recognised: it
//! keeps the wall limit, as before. Reading another process's `syscall` needs ptrace access
//! (root, or the same uid), and the thread list needs the run's cgroup.

use std::path::Path;

/// The syscalls that read fd 0 directly.
const READS: [i64; 2] = [libc::SYS_read, libc::SYS_readv];

/// Device and inode of a descriptor: what identifies the stdin pipe.
pub(crate) type FileId = (u64, u64);

pub(crate) fn file_id(fd: &impl std::os::fd::AsFd) -> Option<FileId> {
    rustix::fs::fstat(fd).ok().map(|st| id(&st))
}

#[allow(clippy::unnecessary_cast)] // `dev_t` and `ino_t` are not u64 on every target
fn id(st: &rustix::fs::Stat) -> FileId {
    (st.st_dev as u64, st.st_ino as u64)
}

/// True when one of `tids` sleeps in a read of fd 0, and its fd 0 is `stdin`.
pub(crate) fn reading_stdin(proc_root: &Path, tids: &[i32], stdin: FileId) -> bool {
    tids.iter().any(|tid| {
        let dir = proc_root.join(tid.to_string());
        let Ok(syscall) = std::fs::read_to_string(dir.join("syscall")) else {
            return false;
        };
        reads_fd0(&syscall) && rustix::fs::stat(dir.join("fd/0")).is_ok_and(|st| id(&st) == stdin)
    })
}

/// `/proc/<tid>/syscall` of a thread asleep in `read(0, …)`: `0 0x0 0x7f… 0x2000 …` on x86-64
/// (the number in decimal, the arguments in hex); `running` or `-1 …` when it is not in one.
fn reads_fd0(syscall: &str) -> bool {
    let mut words = syscall.split_ascii_whitespace();
    let number = words.next().and_then(|n| n.parse::<i64>().ok());
    let fd = words
        .next()
        .and_then(|a| u64::from_str_radix(a.trim_start_matches("0x"), 16).ok());
    matches!((number, fd), (Some(n), Some(0)) if READS.contains(&n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_read_of_fd_0_is_waiting_for_input() {
        let read = libc::SYS_read;
        assert!(reads_fd0(&format!(
            "{read} 0x0 0x5581 0x2000 0x0 0x0 0x0 0x7ffd 0x7f12\n"
        )));
        assert!(
            !reads_fd0(&format!("{read} 0x3 0x5581 0x2000 0x0 0x0 0x0 0x7ffd 0x7f12\n")),
            "another fd"
        );
        assert!(!reads_fd0("running\n"));
        assert!(!reads_fd0("-1 0x7ffd 0x7f12\n"));
        assert!(!reads_fd0(&format!(
            "{} 0x0 0x0 0x0 0x0 0x0 0x0 0x0 0x0",
            libc::SYS_nanosleep
        )));
        assert!(!reads_fd0(""));
    }

    #[test]
    fn a_thread_reading_another_pipe_is_not_waiting_for_stdin() {
        // A fake /proc: one thread in read(0) whose fd 0 is a pipe of ours, not the stdin.
        let dir = tempfile::tempdir().unwrap();
        let (theirs, _w) = rustix::pipe::pipe().unwrap();
        let (ours, _w2) = rustix::pipe::pipe().unwrap();
        let task = dir.path().join("42");
        std::fs::create_dir_all(task.join("fd")).unwrap();
        std::fs::write(task.join("syscall"), format!("{} 0x0 0x1 0x2", libc::SYS_read)).unwrap();
        let fd0 = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&theirs));
        std::os::unix::fs::symlink(&fd0, task.join("fd/0")).unwrap();
        assert!(reading_stdin(dir.path(), &[42], file_id(&theirs).unwrap()));
        assert!(!reading_stdin(dir.path(), &[42], file_id(&ours).unwrap()));
        assert!(
            !reading_stdin(dir.path(), &[43], file_id(&theirs).unwrap()),
            "no such thread"
        );
    }
}
