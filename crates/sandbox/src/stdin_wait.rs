//! Whether an interactive run's program is waiting for input the caller has not sent: time
//! spent so is not the program's (it does not count against the wall limit), and has a budget
//! of its own, for all the run's waits together ([`crate::Limits::input_wait_ms`]).
//!
//! A thread of the run's cgroup is waiting for input when the kernel shows it asleep in a call
//! that waits for the very pipe the supervisor feeds (same device and inode: a program that put
//! its own pipe on fd 0 waits for itself, not for the student), on whatever descriptor the
//! program holds it (R reads a copy of fd 0). `/proc/<tid>/syscall` gives the call and its
//! arguments, only while the thread sleeps in it. The calls:
//! - `read`/`readv` of that pipe (C, Python, Java, Go and most others);
//! - `poll`/`ppoll` with the pipe in the array, for reading (Racket): the array is read from the
//!   thread's memory (`/proc/<tid>/mem`, a bounded number of entries);
//! - `select`/`pselect6` with the pipe in the read set (Haskell's runtime), read the same way;
//! - `epoll_wait`/`epoll_pwait`/`epoll_pwait2` on an epoll whose interest list has the pipe for
//!   reading (Node's libuv, Erlang's and Elixir's BEAM): the list is in
//!   `/proc/<tid>/fdinfo/<epfd>`, each entry with the watched file's device and inode.
//!
//! The supervisor adds that no input it holds is waiting to be written and that the cgroup's
//! CPU time did not move, so one thread reading while another computes is still running.
//!
//! Why not only "stdin empty and no CPU": `time.sleep(60)` looks the same and would escape the
//! wall limit. Why not `wchan`: its symbol names (`pipe_read`, `wait_woken`...) change between
//! kernels. A thread that waits for the pipe and for something else at once (a timer in the same
//! `epoll`, a sleeping second thread) counts as waiting: what that can gain is bounded by the
//! run's budget of waiting, as for any wait. Reading another process's `syscall`, `mem` and
//! `fdinfo` needs ptrace access (root, or the same uid), and the thread list needs the run's
//! cgroup.

use std::path::Path;

/// Device and inode of a descriptor: what identifies the stdin pipe.
pub(crate) type FileId = (u64, u64);

/// The most `poll` entries looked at (a program waiting for a student's answer watches a few).
const MAX_POLL_FDS: u64 = 256;
/// `select`'s largest set (`FD_SETSIZE`).
const MAX_SELECT_FDS: u64 = 1024;

pub(crate) fn file_id(fd: &impl std::os::fd::AsFd) -> Option<FileId> {
    rustix::fs::fstat(fd).ok().map(|st| id(&st))
}

#[allow(clippy::unnecessary_cast)] // `dev_t` and `ino_t` are not u64 on every target
fn id(st: &rustix::fs::Stat) -> FileId {
    (st.st_dev as u64, st.st_ino as u64)
}

/// What a thread asleep in a call waits for, read from its `/proc/<tid>/syscall`.
#[derive(Debug, PartialEq, Eq)]
enum Blocked {
    /// `read`/`readv` of this descriptor.
    Read { fd: u64 },
    /// `poll`/`ppoll`: the address of the `pollfd` array and its length.
    Poll { fds: u64, count: u64 },
    /// `select`/`pselect6`: the number of descriptors and the address of the read set.
    Select { nfds: u64, read_set: u64 },
    /// `epoll_wait` and its kin on this epoll descriptor.
    Epoll { epfd: u64 },
}

/// True when one of `tids` sleeps waiting for `stdin`.
pub(crate) fn reading_stdin(proc_root: &Path, tids: &[i32], stdin: FileId) -> bool {
    tids.iter().any(|tid| {
        let dir = proc_root.join(tid.to_string());
        std::fs::read_to_string(dir.join("syscall"))
            .ok()
            .and_then(|s| blocked(&s))
            .is_some_and(|b| waits_for(&dir, &b, stdin))
    })
}

/// `/proc/<tid>/syscall` of a sleeping thread: `0 0x0 0x7f… 0x2000 …` on x86-64 (the number
/// in decimal, the arguments in hex); `running` or `-1 …` when it is not in a call.
fn blocked(syscall: &str) -> Option<Blocked> {
    let mut words = syscall.split_ascii_whitespace();
    let number = words.next()?.parse::<i64>().ok()?;
    let args: Vec<u64> = words
        .take(6)
        .map(|a| u64::from_str_radix(a.trim_start_matches("0x"), 16))
        .collect::<Result<_, _>>()
        .ok()?;
    let arg = |i: usize| args.get(i).copied();
    Some(match number {
        n if n == libc::SYS_read || n == libc::SYS_readv => Blocked::Read { fd: arg(0)? },
        n if n == libc::SYS_ppoll => Blocked::Poll {
            fds: arg(0)?,
            count: arg(1)?,
        },
        n if n == libc::SYS_pselect6 => Blocked::Select {
            nfds: arg(0)?,
            read_set: arg(1)?,
        },
        n if n == libc::SYS_epoll_pwait || n == libc::SYS_epoll_pwait2 => Blocked::Epoll { epfd: arg(0)? },
        #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
        n if n == libc::SYS_poll => Blocked::Poll {
            fds: arg(0)?,
            count: arg(1)?,
        },
        #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
        n if n == libc::SYS_select => Blocked::Select {
            nfds: arg(0)?,
            read_set: arg(1)?,
        },
        #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
        n if n == libc::SYS_epoll_wait => Blocked::Epoll { epfd: arg(0)? },
        _ => return None,
    })
}

/// Whether the thread whose `/proc` directory is `dir`, blocked so, waits for `stdin`.
fn waits_for(dir: &Path, blocked: &Blocked, stdin: FileId) -> bool {
    let is_stdin = |fd: u64| rustix::fs::stat(dir.join("fd").join(fd.to_string())).is_ok_and(|st| id(&st) == stdin);
    // In a poll or select set, the pipe itself or an epoll watching it (Racket polls its epoll).
    let watches_stdin = |fd: u64| is_stdin(fd) || epoll_fd_watches(dir, fd, stdin);
    match *blocked {
        Blocked::Read { fd } => is_stdin(fd),
        Blocked::Poll { fds, count } => {
            // struct pollfd { int fd; short events; short revents; }
            let Some(array) = memory(dir, fds, count.min(MAX_POLL_FDS) * 8) else {
                return false;
            };
            array.chunks_exact(8).any(|entry| {
                let fd = i32::from_ne_bytes([entry[0], entry[1], entry[2], entry[3]]);
                let events = i16::from_ne_bytes([entry[4], entry[5]]);
                let reading = events & (libc::POLLIN | libc::POLLRDNORM) != 0;
                reading && u64::try_from(fd).is_ok_and(watches_stdin)
            })
        }
        Blocked::Select { nfds, read_set } => {
            let nfds = nfds.min(MAX_SELECT_FDS);
            if read_set == 0 || nfds == 0 {
                return false;
            }
            let word = std::mem::size_of::<libc::c_ulong>() as u64;
            let Some(set) = memory(dir, read_set, nfds.div_ceil(word * 8) * word) else {
                return false;
            };
            (0..nfds).filter(|fd| in_fd_set(&set, *fd)).any(watches_stdin)
        }
        Blocked::Epoll { epfd } => epoll_fd_watches(dir, epfd, stdin),
    }
}

/// Whether descriptor `fd` of the thread is an epoll whose interest list has `file` for reading
/// (one level: an epoll inside that epoll is not looked into).
fn epoll_fd_watches(dir: &Path, fd: u64, file: FileId) -> bool {
    let is_epoll = std::fs::read_link(dir.join("fd").join(fd.to_string()))
        .is_ok_and(|target| target.as_os_str() == "anon_inode:[eventpoll]");
    is_epoll
        && std::fs::read_to_string(dir.join("fdinfo").join(fd.to_string())).is_ok_and(|info| epoll_watches(&info, file))
}

/// Whether descriptor `fd` is in `set`, a `select` set: an array of `unsigned long`, `fd` bit
/// `fd % bits` of word `fd / bits`.
fn in_fd_set(set: &[u8], fd: u64) -> bool {
    const WORD: usize = std::mem::size_of::<libc::c_ulong>();
    let (word, bit) = (fd as usize / (WORD * 8), fd as usize % (WORD * 8));
    set.get(word * WORD..(word + 1) * WORD)
        .and_then(|bytes| <[u8; WORD]>::try_from(bytes).ok())
        .is_some_and(|bytes| libc::c_ulong::from_ne_bytes(bytes) >> bit & 1 == 1)
}

/// `len` bytes of the thread's memory at `address`, or `None` if they cannot be read.
fn memory(dir: &Path, address: u64, len: u64) -> Option<Vec<u8>> {
    let file = std::fs::File::open(dir.join("mem")).ok()?;
    let mut buf = vec![0; usize::try_from(len).ok()?];
    std::os::unix::fs::FileExt::read_exact_at(&file, &mut buf, address).ok()?;
    Some(buf)
}

/// Whether an epoll's `fdinfo` lists `file` watched for reading: lines such as
/// `tfd:        0 events:       19 data: 0  pos:0 ino:85eae4 sdev:f` (hex numbers; `sdev` is
/// the kernel's own encoding of the device, major in the bits above 20).
fn epoll_watches(fdinfo: &str, file: FileId) -> bool {
    fdinfo.lines().filter(|l| l.starts_with("tfd:")).any(|line| {
        let field = |name: &str| {
            let mut words = line.split_ascii_whitespace();
            words.find(|w| w.starts_with(name)).and_then(|w| {
                let value = w
                    .strip_prefix(name)
                    .filter(|v| !v.is_empty())
                    .or_else(|| words.next())?;
                u64::from_str_radix(value, 16).ok()
            })
        };
        let (Some(events), Some(ino), Some(sdev)) = (field("events:"), field("ino:"), field("sdev:")) else {
            return false;
        };
        #[allow(clippy::unnecessary_cast)] // `dev_t` is not u64 on every target
        let dev = libc::makedev((sdev >> 20) as u32, (sdev & 0xf_ffff) as u32) as u64;
        events & (libc::EPOLLIN as u64) != 0 && (dev, ino) == file
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsRawFd, RawFd};
    use std::time::{Duration, Instant};

    #[test]
    fn the_calls_that_wait_are_read_from_proc() {
        let line = |n: i64, args: &str| format!("{n} {args} 0x7ffd 0x7f12\n");
        let read = libc::SYS_read;
        assert_eq!(
            blocked(&line(read, "0x0 0x5581 0x2000 0x0 0x0 0x0")),
            Some(Blocked::Read { fd: 0 })
        );
        assert_eq!(
            blocked(&line(read, "0x4 0x5581 0x1000 0x0 0x0 0x0")),
            Some(Blocked::Read { fd: 4 }),
            "R reads a copy of fd 0"
        );
        assert_eq!(
            blocked(&line(libc::SYS_ppoll, "0x5578 0x2 0x0 0x0 0x8 0x0")),
            Some(Blocked::Poll { fds: 0x5578, count: 2 })
        );
        assert_eq!(
            blocked(&line(libc::SYS_pselect6, "0x1 0x7fff 0x7ffe 0x0 0x0 0x0")),
            Some(Blocked::Select {
                nfds: 1,
                read_set: 0x7fff
            })
        );
        assert_eq!(
            blocked(&line(libc::SYS_epoll_pwait2, "0xe 0x7ffd 0x400 0x0 0x0 0x8")),
            Some(Blocked::Epoll { epfd: 14 })
        );
        assert_eq!(blocked("running\n"), None);
        assert_eq!(blocked("-1 0x7ffd 0x7f12\n"), None);
        assert_eq!(blocked(&line(libc::SYS_nanosleep, "0x0 0x0 0x0 0x0 0x0 0x0")), None);
        assert_eq!(blocked(&line(read, "0xzz 0x0")), None, "not a number");
        assert_eq!(blocked(""), None);
    }

    #[test]
    fn an_epolls_watch_list_names_the_pipe_by_device_and_inode() {
        // Node waiting in readline: fd 0 (the pipe), its signal pipe and an eventfd.
        let info = "pos:\t0\nflags:\t02000002\nmnt_id:\t17\nino:\t1030\n\
            tfd:        0 events:       19 data:                0  pos:0 ino:85eae4 sdev:f\n\
            tfd:       15 events:       19 data:                f  pos:0 ino:85e688 sdev:f\n\
            tfd:       17 events: 40000019 data:               11  pos:0 ino:406 sdev:10\n";
        assert!(epoll_watches(info, (15, 0x85eae4)));
        assert!(epoll_watches(info, (16, 0x406)), "device 0:16");
        assert!(!epoll_watches(info, (15, 0x85eae5)), "another inode");
        assert!(!epoll_watches(info, (16, 0x85eae4)), "another device");
        let writing = "tfd:        0 events:        4 data:                0  pos:0 ino:85eae4 sdev:f\n";
        assert!(!epoll_watches(writing, (15, 0x85eae4)), "watched for writing only");
        assert!(!epoll_watches("", (15, 0x85eae4)));
        // The kernel's encoding of a device with a major number: 8:1 is 0x800001.
        let disk = "tfd:        3 events:       1 data: 0  pos:0 ino:2a sdev:800001\n";
        #[allow(clippy::unnecessary_cast)]
        let dev = libc::makedev(8, 1) as u64;
        assert!(epoll_watches(disk, (dev, 0x2a)));
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

    /// A thread of this process made to sleep in `wait` on a fresh pipe's read end: once it
    /// sleeps, whether it is seen waiting for that pipe, and for another pipe.
    fn seen_waiting(wait: fn(RawFd)) -> (bool, bool) {
        let (read, write) = rustix::pipe::pipe().unwrap();
        let (other, _other_write) = rustix::pipe::pipe().unwrap();
        let raw = read.as_raw_fd();
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            tid_tx.send(rustix::thread::gettid().as_raw_nonzero().get()).unwrap();
            wait(raw);
        });
        let tid = tid_rx.recv().unwrap();
        let dir = Path::new("/proc/self/task").join(tid.to_string());
        let deadline = Instant::now() + Duration::from_secs(10);
        let asleep = || std::fs::read_to_string(dir.join("syscall")).is_ok_and(|s| blocked(&s).is_some());
        while !asleep() {
            assert!(Instant::now() < deadline, "the thread never slept in its call");
            std::thread::sleep(Duration::from_millis(5));
        }
        let root = Path::new("/proc/self/task");
        let seen = (
            reading_stdin(root, &[tid], file_id(&read).unwrap()),
            reading_stdin(root, &[tid], file_id(&other).unwrap()),
        );
        rustix::io::write(&write, b"x").unwrap();
        thread.join().unwrap();
        seen
    }

    fn pollfds(fd: RawFd, events: i16) -> [libc::pollfd; 2] {
        // An ignored entry first (a negative fd), as a program's own array may have.
        [
            libc::pollfd {
                fd: -1,
                events: 0,
                revents: 0,
            },
            libc::pollfd { fd, events, revents: 0 },
        ]
    }

    fn read_set(fd: RawFd) -> libc::fd_set {
        // SAFETY: an all-zero fd_set is an empty set, and `fd` is below FD_SETSIZE here.
        unsafe {
            let mut set: libc::fd_set = std::mem::zeroed();
            libc::FD_SET(fd, &mut set);
            set
        }
    }

    fn epoll_on(fd: RawFd, events: u32) -> RawFd {
        // SAFETY: plain syscalls on descriptors this test owns.
        unsafe {
            let ep = libc::epoll_create1(0);
            let mut ev = libc::epoll_event { events, u64: 0 };
            assert_eq!(libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev), 0);
            ep
        }
    }

    // The waits: each sleeps in one call on the pipe's read end until the test writes to it.
    // SAFETY, for every unsafe block below: plain syscalls on descriptors this test owns, with
    // buffers and sets that live across the call.

    fn read_it(fd: RawFd) {
        // SAFETY: see above.
        unsafe { libc::read(fd, [0u8; 8].as_mut_ptr().cast(), 8) };
    }

    fn read_a_copy(fd: RawFd) {
        // SAFETY: see above.
        unsafe {
            let copy = libc::dup(fd);
            libc::read(copy, [0u8; 8].as_mut_ptr().cast(), 8);
            libc::close(copy);
        }
    }

    fn ppoll_for(fd: RawFd, events: i16, timeout: Option<libc::timespec>) {
        let mut fds = pollfds(fd, events);
        let time = timeout
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: see above.
        unsafe { libc::syscall(libc::SYS_ppoll, fds.as_mut_ptr(), 2, time, 0, 8) };
    }

    fn ppoll_it(fd: RawFd) {
        ppoll_for(fd, libc::POLLIN, None);
    }

    fn ppoll_an_epoll_of_it(fd: RawFd) {
        let ep = epoll_on(fd, libc::EPOLLIN as u32);
        ppoll_for(ep, libc::POLLIN, None);
        // SAFETY: see above.
        unsafe { libc::close(ep) };
    }

    fn pselect_for(fd: RawFd, reading: bool, timeout: Option<libc::timespec>) {
        let mut set = read_set(fd);
        let none: *mut libc::fd_set = std::ptr::null_mut();
        let (read, write) = if reading {
            (&mut set as *mut _, none)
        } else {
            (none, &mut set as *mut _)
        };
        let time = timeout
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        let no_mask: *const libc::c_void = std::ptr::null();
        // SAFETY: see above.
        unsafe { libc::syscall(libc::SYS_pselect6, fd + 1, read, write, none, time, no_mask) };
    }

    fn pselect_it(fd: RawFd) {
        pselect_for(fd, true, None);
    }

    fn epoll_pwait_for(fd: RawFd, events: u32, timeout_ms: i32) {
        let ep = epoll_on(fd, events);
        let mut ev = [libc::epoll_event { events: 0, u64: 0 }];
        // SAFETY: see above.
        unsafe {
            libc::syscall(libc::SYS_epoll_pwait, ep, ev.as_mut_ptr(), 1, timeout_ms, 0, 8);
            libc::close(ep);
        }
    }

    fn epoll_pwait_it(fd: RawFd) {
        epoll_pwait_for(fd, libc::EPOLLIN as u32, -1);
    }

    #[cfg(target_arch = "x86_64")]
    fn poll_it(fd: RawFd) {
        let mut fds = pollfds(fd, libc::POLLIN);
        // SAFETY: see above.
        unsafe { libc::syscall(libc::SYS_poll, fds.as_mut_ptr(), 2, -1) };
    }

    #[cfg(target_arch = "x86_64")]
    fn select_it(fd: RawFd) {
        let mut set = read_set(fd);
        let none: *const libc::c_void = std::ptr::null();
        // SAFETY: see above.
        unsafe { libc::syscall(libc::SYS_select, fd + 1, &mut set, none, none, none) };
    }

    #[cfg(target_arch = "x86_64")]
    fn epoll_wait_it(fd: RawFd) {
        let ep = epoll_on(fd, libc::EPOLLIN as u32);
        let mut ev = [libc::epoll_event { events: 0, u64: 0 }];
        // SAFETY: see above.
        unsafe {
            libc::syscall(libc::SYS_epoll_wait, ep, ev.as_mut_ptr(), 1, -1);
            libc::close(ep);
        }
    }

    type Wait = fn(RawFd);

    #[test]
    fn threads_asleep_in_each_waiting_call_are_seen_waiting_for_their_pipe_only() {
        let cases: &[(&str, Wait)] = &[
            ("read", read_it),
            ("read of a copy", read_a_copy),
            ("ppoll", ppoll_it),
            ("ppoll of an epoll (Racket)", ppoll_an_epoll_of_it),
            ("pselect6", pselect_it),
            ("epoll_pwait", epoll_pwait_it),
            #[cfg(target_arch = "x86_64")]
            ("poll", poll_it),
            #[cfg(target_arch = "x86_64")]
            ("select", select_it),
            #[cfg(target_arch = "x86_64")]
            ("epoll_wait", epoll_wait_it),
        ];
        for (name, wait) in cases {
            assert_eq!(seen_waiting(*wait), (true, false), "{name}");
        }
    }

    #[test]
    fn a_thread_waiting_to_write_is_not_waiting_for_input() {
        // The pipe's read end watched for writing only: never ready, never input.
        let cases: &[(&str, Wait)] = &[
            ("ppoll", |fd| {
                ppoll_for(fd, libc::POLLOUT, Some(libc::timespec { tv_sec: 1, tv_nsec: 0 }))
            }),
            ("epoll_pwait", |fd| epoll_pwait_for(fd, libc::EPOLLOUT as u32, 1_000)),
            ("pselect6", |fd| {
                pselect_for(fd, false, Some(libc::timespec { tv_sec: 1, tv_nsec: 0 }))
            }),
        ];
        for (name, wait) in cases {
            assert_eq!(seen_waiting(*wait), (false, false), "{name}");
        }
    }
}
