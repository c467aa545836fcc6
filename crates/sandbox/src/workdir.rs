//! Writing a run's files into a prepared sandbox's work dir from the parent.
//!
//! A prepared sandbox was built before its run was known, so its init cannot write the files
//! from its plan; the parent writes them through `/proc/<init>/root` once the init reported
//! ready. No program of this run has started yet (a zygote's interpreter is tiderun's own code),
//! but every step is still made relative to a directory descriptor, without following any
//! symlink, and files are created exclusively, as `collect.rs` reads them.
//!
//! The files are written by a thread of their own with a private descriptor table: a
//! descriptor open for writing in the process's shared table would be copied into any sandbox
//! another thread clones at that moment, and while that copy lives the run's `execve` of the
//! file fails with ETXTBSY (the classic fork/exec race, seen with compiled programs in warm
//! instances). A descriptor in a table no other thread clones from cannot be copied.

use std::os::fd::OwnedFd;

use rustix::fs::{openat2, Mode, OFlags, ResolveFlags};

use crate::error::SandboxError;
use crate::layout::{WorkDir, WorkFile};

fn resolve() -> ResolveFlags {
    ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS
}

/// Host ids files are created as (a privileged parent).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Owners {
    /// The program's host id (uid = gid).
    pub program: u32,
    /// The sandbox root's host id: owner of read-only files and protected directories.
    pub root: u32,
}

/// Write `dirs` (parents first) and `files` below `/work` of the sandbox whose init is
/// `init_pid`, by the same rules as the init itself (`child.rs`): files and directories are
/// the program's, except read-only files and the directories holding them (and then `/work`),
/// which are the namespace root's, directories sticky. `owners` is None for an unprivileged
/// parent, whose own ids are the program's (there, read-only only sets the mode).
pub(crate) fn write(
    init_pid: i32,
    dirs: &[WorkDir],
    files: &[WorkFile<'_>],
    owners: Option<Owners>,
) -> Result<(), SandboxError> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("tiderun-workdir".into())
            .spawn_scoped(scope, || {
                own_descriptor_table()?;
                write_here(init_pid, dirs, files, owners)
            })
            .map_err(|source| SandboxError::Os {
                what: "start the thread that writes the run's files",
                source,
            })?
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Give the calling thread a descriptor table of its own, holding nothing but 0-2: what it
/// opens from now on is in no table another thread can clone.
fn own_descriptor_table() -> Result<(), SandboxError> {
    // SAFETY: called first thing on a thread made for it, which never hands a descriptor it
    // opens to another thread (every one is closed before the thread ends).
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::FILES) }
        .map_err(SandboxError::os("unshare the descriptor table"))?;
    // The copy holds references to every descriptor of the process (other runs' pipes among
    // them, whose EOF it would delay): drop them from this table.
    // SAFETY: close_range on this thread's own, private table.
    if unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) } != 0 {
        return Err(SandboxError::Os {
            what: "close the copied descriptors",
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

/// [`write`], on the calling thread.
fn write_here(
    init_pid: i32,
    dirs: &[WorkDir],
    files: &[WorkFile<'_>],
    owners: Option<Owners>,
) -> Result<(), SandboxError> {
    let err = || SandboxError::os("write the run's files");
    let work = crate::collect::open_work_dir(init_pid)?;
    // The tmpfs belongs to the sandbox's user namespace, where the host's root has no id: a
    // file root created there would have no owner (EOVERFLOW). Create everything as the id
    // that must own it (fsuid/fsgid are per thread).
    let as_id = |protected: bool| owners.map(|o| FsIds::switch(if protected { o.root } else { o.program }));
    if files.iter().any(|f| f.read_only) {
        if let Some(o) = owners {
            rustix::fs::fchown(
                &work,
                Some(rustix::fs::Uid::from_raw(o.root)),
                Some(rustix::fs::Gid::from_raw(o.root)),
            )
            .map_err(err())?;
        }
        rustix::fs::fchmod(&work, Mode::from_raw_mode(0o1777)).map_err(err())?;
    }
    for dir in dirs {
        let path = dir.path.to_str().unwrap_or("");
        let (parent, name) = split(path);
        let parent_fd = open_dir(&work, parent).map_err(err())?;
        let _ids = as_id(dir.protected);
        match rustix::fs::mkdirat(&parent_fd, name, Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(err()(e)),
        }
        if dir.protected {
            let fd = openat2(
                &parent_fd,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
                Mode::empty(),
                resolve(),
            )
            .map_err(err())?;
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o1777)).map_err(err())?;
        }
    }
    for f in files {
        let _ids = as_id(f.read_only);
        let fd = openat2(
            &work,
            f.path.as_c_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::from_raw_mode(f.mode),
            resolve(),
        )
        .map_err(err())?;
        crate::supervise::write_all(&fd, f.content).map_err(err())?;
        // The umask may have cut the mode (executables need 0755).
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(f.mode)).map_err(err())?;
    }
    Ok(())
}

/// The calling thread's filesystem ids, switched for a while and restored on drop.
struct FsIds;

impl FsIds {
    /// Switch to `id` as both uid and gid.
    fn switch(id: u32) -> FsIds {
        let (uid, gid) = (id, id);
        // SAFETY: setfsuid/setfsgid change only this thread's filesystem ids (the raw
        // syscalls; glibc's wrappers are the same). Group first, while still root.
        unsafe {
            libc::syscall(libc::SYS_setfsgid, gid);
            libc::syscall(libc::SYS_setfsuid, uid);
        }
        FsIds
    }
}

impl Drop for FsIds {
    fn drop(&mut self) {
        // SAFETY: as above; back to root's ids (the thread's real and saved ids are 0, so
        // the kernel allows it).
        unsafe {
            libc::syscall(libc::SYS_setfsuid, 0);
            libc::syscall(libc::SYS_setfsgid, 0);
        }
    }
}

/// `a/b/c` → (`a/b`, `c`); `c` → (`.`, `c`).
fn split(s: &str) -> (&str, &str) {
    match s.rsplit_once('/') {
        Some((parent, name)) => (parent, name),
        None => (".", s),
    }
}

fn open_dir(work: &OwnedFd, path: &str) -> rustix::io::Result<OwnedFd> {
    openat2(
        work,
        path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
        resolve(),
    )
}
