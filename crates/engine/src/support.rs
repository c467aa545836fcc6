//! Support files: each installed runtime's `[support]` files (Python's headless `turtle` and
//! matplotlib backend), written once, when the engine starts, into a directory of their own
//! named after their contents (`runtimes::SUPPORT_ROOT/<runtime>-<digest>`), which every
//! sandbox of the runtime — cold, prepared, zygote, fork server — binds read-only as one of the
//! runtime's `binds` (the same path as the precompiled headers' directory takes).
//!
//! Owns: the directories (this server's user's: the root's parent mode 0755, each runtime's
//! directory 0555 and its files 0444), written into a fresh directory beside and renamed into
//! place (a second server starting at the same time finds either nothing or the whole), and
//! checked when found (a directory that is not exactly the files is replaced).
//!
//! Must never: follow a symlink there, or let a sandbox write there (the bind is read-only, and
//! the program's uid owns nothing in it).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use runtimes::Catalog;

/// The directory for support files without root (`/run` is root's): under the user's
/// runtime directory, else their cache. Never under `/tmp`: the sandbox owns that path.
fn unprivileged_root() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("tiderun-support"))
}

/// Writes the support files of every installed runtime that has some, and points the
/// catalog at where they are (the engine does at start; a caller that makes run specs from a
/// catalog without an engine calls it after `detect`). A runtime whose files cannot be
/// written is logged; its runs then fail to start (the bind is missing), never run without.
pub fn install(catalog: &mut Catalog, privileged: bool) {
    let wanted: Vec<(String, PathBuf, BTreeMap<String, String>)> = catalog
        .iter()
        .filter(|r| r.installed)
        .filter_map(|r| {
            Some((
                r.name.clone(),
                r.support_dir()?.to_path_buf(),
                r.support_files().clone(),
            ))
        })
        .collect();
    for (name, default, files) in wanted {
        let dir = if privileged {
            default
        } else {
            match (unprivileged_root(), default.file_name()) {
                (Some(root), Some(leaf)) => root.join(leaf),
                _ => {
                    tracing::error!(runtime = %name, "no directory for the support files (no XDG_RUNTIME_DIR or HOME)");
                    continue;
                }
            }
        };
        match ensure(&dir, &files) {
            Ok(()) => {
                catalog.set_support_dir(&name, dir);
            }
            Err(e) => {
                tracing::error!(runtime = %name, dir = %dir.display(), error = %e, "cannot write the support files")
            }
        }
    }
}

/// Makes `dir` hold exactly `files` (mode 0555, files 0444), reusing it when it does.
pub(crate) fn ensure(dir: &Path, files: &BTreeMap<String, String>) -> Result<(), String> {
    let parent = dir.parent().ok_or_else(|| format!("{} has no parent", dir.display()))?;
    crate::precompiled::make_dir(parent)?;
    if std::fs::symlink_metadata(dir).is_ok() {
        if holds_exactly(dir, files) {
            return Ok(());
        }
        tracing::warn!(dir = %dir.display(), "support files changed on disk: written again");
        remove(dir)?;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp = parent.join(format!(".tmp-{}-{nanos}", std::process::id()));
    let written = write_all(&tmp, files).and_then(|()| {
        std::fs::rename(&tmp, dir).map_err(|e| format!("cannot rename {} to {}: {e}", tmp.display(), dir.display()))
    });
    match written {
        Ok(()) => Ok(()),
        // Another server (or test process) put the same files there first.
        Err(_) if holds_exactly(dir, files) => {
            let _ = remove(&tmp);
            Ok(())
        }
        Err(e) => {
            let _ = remove(&tmp);
            Err(e)
        }
    }
}

fn write_all(tmp: &Path, files: &BTreeMap<String, String>) -> Result<(), String> {
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(tmp)
        .map_err(|e| format!("cannot make {}: {e}", tmp.display()))?;
    for (name, text) in files {
        let path = tmp.join(name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o444)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    std::fs::set_permissions(tmp, std::fs::Permissions::from_mode(0o555))
        .map_err(|e| format!("cannot chmod {}: {e}", tmp.display()))
}

/// Whether `dir` is a real directory of this user, not writable by others, holding exactly
/// `files` as regular files of this user, not writable by anyone (no symlink followed).
fn holds_exactly(dir: &Path, files: &BTreeMap<String, String>) -> bool {
    let me = rustix::process::geteuid().as_raw();
    let ours = |m: &std::fs::Metadata, mode: u32| m.uid() == me && m.mode() & 0o7777 == mode;
    let Ok(m) = std::fs::symlink_metadata(dir) else {
        return false;
    };
    if !m.is_dir() || !ours(&m, 0o555) {
        return false;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    let mut seen = 0;
    for entry in entries {
        let Ok(entry) = entry else {
            return false;
        };
        let Some(text) = entry.file_name().to_str().and_then(|n| files.get(n)) else {
            return false;
        };
        let path = entry.path();
        let Ok(m) = std::fs::symlink_metadata(&path) else {
            return false;
        };
        if !m.is_file() || !ours(&m, 0o444) || m.len() != text.len() as u64 {
            return false;
        }
        match std::fs::read(&path) {
            Ok(bytes) if bytes == text.as_bytes() => seen += 1,
            _ => return false,
        }
    }
    seen == files.len()
}

/// Removes `dir` (made writable first: it is 0555).
fn remove(dir: &Path) -> Result<(), String> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => {
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
            std::fs::remove_dir_all(dir).map_err(|e| format!("cannot remove {}: {e}", dir.display()))
        }
        Ok(_) => std::fs::remove_file(dir).map_err(|e| format!("cannot remove {}: {e}", dir.display())),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("turtle.py".to_owned(), "def forward(n): pass\n".to_owned()),
            ("plot.py".to_owned(), "x = 1\n".to_owned()),
        ])
    }

    #[test]
    fn written_read_only_reused_and_replaced_when_changed() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("support").join("python-abc");
        ensure(&dir, &files()).expect("written");
        let mode = |p: &Path| std::fs::symlink_metadata(p).expect("stat").mode() & 0o7777;
        assert_eq!(mode(&dir), 0o555);
        assert_eq!(mode(&dir.join("turtle.py")), 0o444);
        assert_eq!(std::fs::read_to_string(dir.join("plot.py")).expect("read"), "x = 1\n");
        let inode = std::fs::metadata(&dir).expect("stat").ino();
        ensure(&dir, &files()).expect("reused");
        assert_eq!(
            std::fs::metadata(&dir).expect("stat").ino(),
            inode,
            "the same directory"
        );

        // Changed behind the server's back (a file's text, an extra file, a symlink): written again.
        for tamper in [
            |d: &Path| {
                std::fs::set_permissions(d.join("plot.py"), std::fs::Permissions::from_mode(0o644)).expect("chmod");
                std::fs::write(d.join("plot.py"), "x = 2\n").expect("write");
            },
            |d: &Path| std::fs::write(d.join("extra.py"), "").expect("write"),
            |d: &Path| {
                std::fs::remove_file(d.join("plot.py")).expect("rm");
                std::os::unix::fs::symlink("/etc/passwd", d.join("plot.py")).expect("symlink");
            },
        ] {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
            tamper(&dir);
            ensure(&dir, &files()).expect("rewritten");
            assert!(holds_exactly(&dir, &files()), "{}", dir.display());
            assert_eq!(std::fs::read_to_string(dir.join("plot.py")).expect("read"), "x = 1\n");
        }
        // Nothing left beside it.
        let left: Vec<_> = std::fs::read_dir(dir.parent().expect("parent"))
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("python-abc")]);
    }
}
