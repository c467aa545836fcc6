//! Reading files back out of a finished sandbox: build outputs, or the images a program drew.
//!
//! The program is dead but its init still holds the mount namespace, so the files are reached
//! through `/proc/<init>/root`. Every step is relative to a directory descriptor, symlinks are
//! never followed, only regular files are read and only up to the byte budget: a program that
//! planted a symlink to `/etc/shadow` or a FIFO gets nothing for it (the lesson of Judge0's
//! CVE-2024-28185). A name filter ([`Collect::suffixes`]) is applied before a file is opened.

use std::ffi::CString;
use std::os::fd::OwnedFd;

use rustix::fs::{openat, openat2, FileType, Mode, OFlags, ResolveFlags};

use crate::config::{Collect, OutputFile, SkipReason};
use crate::error::SandboxError;

/// Directory depth walked below /work.
const MAX_DEPTH: usize = 8;
/// Entries of one directory looked at: they are sorted (so what comes back does not depend on
/// the file system's order), which needs them in memory; the tmpfs inode limit bounds them
/// too, this bounds them whatever the tmpfs size.
const MAX_ENTRIES_PER_DIR: usize = 4096;

/// The sandbox's `/work`, reached through its init's root (`/proc/<init>/root`) without
/// following any symlink on the way: for reading build outputs back and, in a prepared
/// sandbox, for writing the run's files in.
pub(crate) fn open_work_dir(init_pid: i32) -> Result<OwnedFd, SandboxError> {
    let root = rustix::fs::open(
        format!("/proc/{init_pid}/root"),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(SandboxError::os("open the sandbox root"))?;
    openat2(
        &root,
        "work",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )
    .map_err(SandboxError::os("open the sandbox work dir"))
}

pub(crate) fn collect(init_pid: i32, limits: Collect) -> Result<Vec<OutputFile>, SandboxError> {
    let work = open_work_dir(init_pid)?;
    let mut walk = Walk {
        limits,
        budget: limits.max_total_bytes,
        read: 0,
        skipped: 0,
        out: Vec::new(),
    };
    walk.dir(work, "", 0)?;
    Ok(walk.out)
}

/// One collection in progress.
struct Walk {
    limits: Collect,
    /// Bytes that may still be read.
    budget: u64,
    /// Files read so far.
    read: usize,
    /// Files listed as skipped so far.
    skipped: usize,
    out: Vec<OutputFile>,
}

impl Walk {
    /// Nothing more could be read or listed.
    fn done(&self) -> bool {
        self.read >= self.limits.max_files && self.skipped >= self.limits.max_skipped
    }

    fn dir(&mut self, dir: OwnedFd, prefix: &str, depth: usize) -> Result<(), SandboxError> {
        let mut names: Vec<CString> = Vec::new();
        for entry in rustix::fs::Dir::read_from(&dir).map_err(SandboxError::os("read the sandbox work dir"))? {
            let entry = entry.map_err(SandboxError::os("read the sandbox work dir"))?;
            let name = entry.file_name();
            if name == c"." || name == c".." {
                continue;
            }
            if names.len() >= MAX_ENTRIES_PER_DIR {
                break;
            }
            // The type is a hint (the program is dead, but the hint is only used to skip
            // opening); what is read is decided by fstat on the opened descriptor.
            let maybe_dir = matches!(entry.file_type(), FileType::Directory | FileType::Unknown);
            if maybe_dir || self.limits.wants(name.to_bytes()) {
                names.push(name.to_owned());
            }
        }
        names.sort();
        for name in names {
            if self.done() {
                return Ok(());
            }
            let shown = name.to_string_lossy();
            let path = if prefix.is_empty() {
                shown.into_owned()
            } else {
                format!("{prefix}/{shown}")
            };
            let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
            // O_NOFOLLOW makes a symlink fail to open; anything else is checked with fstat below.
            let Ok(fd) = openat(&dir, name.as_c_str(), flags, Mode::empty()) else {
                continue;
            };
            let stat = rustix::fs::fstat(&fd).map_err(SandboxError::os("stat a sandbox file"))?;
            match FileType::from_raw_mode(stat.st_mode) {
                FileType::Directory if depth < MAX_DEPTH => self.dir(fd, &path, depth + 1)?,
                FileType::RegularFile if self.limits.wants(name.to_bytes()) => {
                    let size = u64::try_from(stat.st_size).unwrap_or(0);
                    self.file(fd, path, size, stat.st_mode & 0o111 != 0)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Read a regular file within the bounds, or list it as skipped.
    fn file(&mut self, fd: OwnedFd, path: String, size: u64, executable: bool) -> Result<(), SandboxError> {
        let skipped = if self.read >= self.limits.max_files {
            Some(SkipReason::TooManyFiles)
        } else if size > self.budget {
            Some(SkipReason::TooManyBytes)
        } else {
            None
        };
        if let Some(reason) = skipped {
            if self.skipped < self.limits.max_skipped {
                self.skipped += 1;
                self.out.push(OutputFile {
                    path,
                    content: Vec::new(),
                    executable,
                    size,
                    skipped: Some(reason),
                });
            }
            return Ok(());
        }
        let mut content = Vec::with_capacity(size as usize);
        let mut file = std::fs::File::from(fd);
        std::io::Read::read_to_end(&mut std::io::Read::take(&mut file, size), &mut content).map_err(|e| {
            SandboxError::Os {
                what: "read a sandbox file",
                source: e,
            }
        })?;
        self.budget -= content.len() as u64;
        self.read += 1;
        self.out.push(OutputFile {
            path,
            size: content.len() as u64,
            content,
            executable,
            skipped: None,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_filter_names_case_insensitively() {
        let images = Collect {
            max_files: 1,
            max_total_bytes: 1,
            suffixes: &[".png", ".svg"],
            max_skipped: 0,
        };
        assert!(images.wants(b"plot.png") && images.wants(b"PLOT.PNG") && images.wants(b"a.b.Svg"));
        assert!(!images.wants(b".png"), "a bare suffix is a hidden file, not an image");
        assert!(!images.wants(b"plot.png.txt") && !images.wants(b"png") && !images.wants(b"main"));
        assert!(Collect::all(1, 1).wants(b"main") && Collect::all(1, 1).wants(b"x.png"));
    }
}
