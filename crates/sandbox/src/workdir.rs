//! Writing a run's files into a prepared sandbox's work dir from the parent.
//!
//! A prepared sandbox was built before its run was known, so its init cannot write the files
//! from its plan; the parent writes them through `/proc/<init>/root` once the init reported
//! ready. No program of this run has started yet (a zygote's interpreter is tiderun's own code),
//! but every step is still made relative to a directory descriptor, without following any
//! symlink, and files are created exclusively, as `collect.rs` reads them.

use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{openat2, Mode, OFlags, ResolveFlags};

use crate::error::SandboxError;

fn resolve() -> ResolveFlags {
    ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS
}

/// Write `dirs` (parents first) and `files` below `/work` of the sandbox whose init is
/// `init_pid`, created as `owner` (host uid, gid) when given (a privileged parent; otherwise
/// the parent's own ids are the program's).
pub(crate) fn write(
    init_pid: i32,
    dirs: &[CString],
    files: &[(CString, &[u8], u32)],
    owner: Option<(u32, u32)>,
) -> Result<(), SandboxError> {
    let root = rustix::fs::open(
        format!("/proc/{init_pid}/root"),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(SandboxError::os("open the sandbox root"))?;
    let work = openat2(
        &root,
        "work",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )
    .map_err(SandboxError::os("open the sandbox work dir"))?;
    // The tmpfs belongs to the sandbox's user namespace, where the host's root has no id: a
    // file root created there would have no owner (EOVERFLOW). Create them as the program's
    // host id instead (per thread: fsuid/fsgid are thread attributes).
    let _ids = owner.map(|(uid, gid)| FsIds::switch(uid, gid));
    for dir in dirs {
        let (parent, name) = split(dir);
        let parent_fd = open_dir(&work, parent).map_err(SandboxError::os("write the run's files"))?;
        match rustix::fs::mkdirat(&parent_fd, name, Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(SandboxError::os("write the run's files")(e)),
        }
    }
    for (path, content, mode) in files {
        let fd = openat2(
            &work,
            path.as_c_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::from_raw_mode(*mode),
            resolve(),
        )
        .map_err(SandboxError::os("write the run's files"))?;
        write_all(&fd, content).map_err(SandboxError::os("write the run's files"))?;
        // The umask may have cut the mode (executables need 0755).
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(*mode)).map_err(SandboxError::os("write the run's files"))?;
    }
    Ok(())
}

/// The calling thread's filesystem ids, switched for a while and restored on drop.
struct FsIds;

impl FsIds {
    fn switch(uid: u32, gid: u32) -> FsIds {
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
fn split(path: &CString) -> (&str, &str) {
    let s = path.to_str().unwrap_or("");
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

fn write_all(fd: &impl AsFd, mut rest: &[u8]) -> rustix::io::Result<()> {
    while !rest.is_empty() {
        match rustix::io::write(fd, rest) {
            Ok(0) => return Err(rustix::io::Errno::IO),
            Ok(n) => rest = &rest[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
