//! Reading build outputs back out of a finished sandbox.
//!
//! The program is dead but its init still holds the mount namespace, so the files are reached
//! through `/proc/<init>/root`. Every step is relative to a directory descriptor, symlinks are
//! never followed, only regular files are read and only up to the byte budget: a program that
//! planted a symlink to `/etc/shadow` or a FIFO gets nothing for it (the lesson of Judge0's
//! CVE-2024-28185).

use std::os::fd::OwnedFd;

use rustix::fs::{openat, openat2, Mode, OFlags, ResolveFlags};

use crate::config::{Collect, OutputFile};
use crate::error::SandboxError;

/// Directory depth walked below /work.
const MAX_DEPTH: usize = 8;

pub(crate) fn collect(init_pid: i32, limits: Collect) -> Result<Vec<OutputFile>, SandboxError> {
    let root = rustix::fs::open(
        format!("/proc/{init_pid}/root"),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(SandboxError::os("open the sandbox root"))?;
    let work = openat2(
        &root,
        "work",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )
    .map_err(SandboxError::os("open the sandbox work dir"))?;
    let mut out = Vec::new();
    let mut budget = limits.max_total_bytes;
    walk(work, "", 0, limits.max_files, &mut budget, &mut out)?;
    Ok(out)
}

fn walk(
    dir: OwnedFd,
    prefix: &str,
    depth: usize,
    max_files: usize,
    budget: &mut u64,
    out: &mut Vec<OutputFile>,
) -> Result<(), SandboxError> {
    let entries = rustix::fs::Dir::read_from(&dir).map_err(SandboxError::os("read the sandbox work dir"))?;
    for entry in entries {
        let entry = entry.map_err(SandboxError::os("read the sandbox work dir"))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "." || name == ".." {
            continue;
        }
        if out.len() >= max_files {
            return Ok(());
        }
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
        // O_NOFOLLOW makes a symlink fail to open; anything else is checked with fstat below.
        let Ok(fd) = openat(&dir, entry.file_name(), flags, Mode::empty()) else {
            continue;
        };
        let stat = rustix::fs::fstat(&fd).map_err(SandboxError::os("stat a sandbox file"))?;
        let kind = rustix::fs::FileType::from_raw_mode(stat.st_mode);
        if kind == rustix::fs::FileType::Directory {
            if depth < MAX_DEPTH {
                walk(fd, &path, depth + 1, max_files, budget, out)?;
            }
        } else if kind == rustix::fs::FileType::RegularFile {
            let size = stat.st_size as u64;
            if size > *budget {
                continue;
            }
            let mut content = Vec::with_capacity(size as usize);
            let mut file = std::fs::File::from(fd);
            std::io::Read::read_to_end(&mut std::io::Read::take(&mut file, size), &mut content).map_err(|e| {
                SandboxError::Os {
                    what: "read a sandbox file",
                    source: e,
                }
            })?;
            *budget -= content.len() as u64;
            out.push(OutputFile {
                path,
                content,
                executable: stat.st_mode & 0o111 != 0,
            });
        }
    }
    Ok(())
}
