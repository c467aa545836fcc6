//! A `/dev` of each slot's own: a tiny read-only tmpfs with the five device nodes a program
//! may use, made by the host's root, never attached to the host's tree.
//!
//! Binding the host's `/dev/null` into every sandbox shares one inode between concurrent runs:
//! a POSIX lock one run holds on it is seen by another one's `F_SETLK` (a channel between a
//! hidden-test run and a visible one), and `touch /dev/null` changed the host's timestamps.
//! Device nodes cannot be made inside the sandbox (`mknod` of a device needs CAP_MKNOD in the
//! host's user namespace, and a tmpfs mounted in a user namespace ignores device nodes), so
//! the parent makes them: one detached tmpfs per slot (`fsopen` + `fsmount`, made when the
//! slot is first used), of which every run gets a clone (`open_tree(OPEN_TREE_CLONE)`, ~1.5 µs)
//! that its init attaches at `/dev` with `move_mount`. Two runs at the same time hold
//! different slots, so they never share a node; a slot's next run shares them with an earlier
//! one only after every process of that run is dead (its locks gone with it), and the mount
//! is read-only (no timestamp or mode can change). Needs root; without it `/dev` stays the
//! host's nodes bound read-only (see `layout.rs`).

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Mutex;

use rustix::fs::{FileType, Mode};
use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags, OpenTreeFlags};

use crate::error::SandboxError;

/// The nodes (char devices, major 1 on every Linux) and their mode.
pub(crate) const NODES: &[(&str, u32)] = &[("null", 3), ("zero", 5), ("full", 7), ("random", 8), ("urandom", 9)];
const NODE_MODE: u32 = 0o666;

/// The usual `/dev` symlinks; `/dev/shm` is the run's `/tmp`.
pub(crate) const LINKS: &[(&str, &str)] = &[
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("shm", "/tmp"),
];

/// Room for the nodes and links, nothing else (it is read-only anyway).
const DEV_TMPFS_SIZE: &str = "64k";
const DEV_TMPFS_INODES: &str = "16";

/// Each slot's detached `/dev`, made on first use. A slot that was used keeps one descriptor
/// and one tiny tmpfs (a few KiB of kernel memory) for the life of the sandbox: as many as the
/// most runs that were ever at the same time.
#[derive(Debug)]
pub(crate) struct Devices {
    per_slot: Mutex<Vec<Option<OwnedFd>>>,
}

impl Devices {
    /// Make the first slot's `/dev` at once: a host whose kernel (or container) refuses the
    /// mount API says so at start-up, not at every run.
    pub(crate) fn start(slots: u32) -> Result<Devices, SandboxError> {
        let mut per_slot: Vec<Option<OwnedFd>> = (0..slots).map(|_| None).collect();
        if let Some(first) = per_slot.first_mut() {
            *first = Some(make()?);
        }
        Ok(Devices {
            per_slot: Mutex::new(per_slot),
        })
    }

    /// A detached copy of `slot`'s `/dev` for one sandbox's init to attach.
    pub(crate) fn clone_for(&self, slot: u32) -> Result<OwnedFd, SandboxError> {
        let mut per_slot = self.per_slot.lock().unwrap_or_else(|p| p.into_inner());
        let entry = per_slot
            .get_mut(slot as usize)
            .ok_or_else(|| SandboxError::InvalidSpec(format!("slot {slot} out of range")))?;
        let master = match entry {
            Some(fd) => fd,
            None => entry.insert(make()?),
        };
        rustix::mount::open_tree(
            master,
            "",
            OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC | OpenTreeFlags::AT_EMPTY_PATH,
        )
        .map_err(SandboxError::os("clone the slot's /dev"))
    }
}

/// A new detached tmpfs holding the nodes and links, read-only, nosuid, noexec.
fn make() -> Result<OwnedFd, SandboxError> {
    let fs = rustix::mount::fsopen("tmpfs", FsOpenFlags::FSOPEN_CLOEXEC)
        .map_err(SandboxError::os("open a tmpfs for /dev"))?;
    for (key, value) in [
        ("size", DEV_TMPFS_SIZE),
        ("nr_inodes", DEV_TMPFS_INODES),
        ("mode", "755"),
    ] {
        rustix::mount::fsconfig_set_string(&fs, key, value).map_err(SandboxError::os("configure the /dev tmpfs"))?;
    }
    rustix::mount::fsconfig_create(&fs).map_err(SandboxError::os("create the /dev tmpfs"))?;
    let mnt = rustix::mount::fsmount(
        &fs,
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::MOUNT_ATTR_NOSUID | MountAttrFlags::MOUNT_ATTR_NOEXEC,
    )
    .map_err(SandboxError::os("mount the /dev tmpfs"))?;
    for &(name, minor) in NODES {
        let dev = rustix::fs::makedev(1, minor);
        rustix::fs::mknodat(
            &mnt,
            name,
            FileType::CharacterDevice,
            Mode::from_raw_mode(NODE_MODE),
            dev,
        )
        .map_err(SandboxError::os("make a device node"))?;
        // mknod honours the umask.
        rustix::fs::chmodat(&mnt, name, Mode::from_raw_mode(NODE_MODE), rustix::fs::AtFlags::empty())
            .map_err(SandboxError::os("chmod a device node"))?;
    }
    for &(name, target) in LINKS {
        rustix::fs::symlinkat(target, &mnt, name).map_err(SandboxError::os("make a /dev symlink"))?;
    }
    // SAFETY: mount_setattr on a mount descriptor we own.
    if !unsafe { crate::child::set_mount_attr_fd(mnt.as_raw_fd(), crate::child::MOUNT_ATTR_RDONLY) } {
        return Err(SandboxError::Os {
            what: "make the /dev tmpfs read-only",
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(mnt)
}
