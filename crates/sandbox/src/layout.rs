//! The new root, as a list of steps the child executes: read-only binds of the toolchain, a
//! generated `/etc`, a minimal `/dev`, a fresh `/proc` (the [`RootTemplate`], the same for
//! every run), then the run's own binds and two size- and inode-limited tmpfs, `/work` and
//! `/tmp` ([`run_steps`]).

use std::collections::BTreeSet;
use std::ffi::CString;
use std::path::{Component, Path, PathBuf};

use crate::child::{Step, INSIDE_ID, MAX_BIND_SOURCES};
use crate::config::{InputFile, Limits, MAX_INPUT_FILES};
use crate::error::SandboxError;

/// Host directories every sandbox sees read-only (symlinks, as on merged-/usr systems, are
/// recreated as symlinks).
pub const SYSTEM_PATHS: &[&str] = &["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];

/// The few `/etc` entries toolchains need: Debian's alternatives (`/usr/bin/java` points
/// through them), the dynamic linker cache, the time zone. Nothing else of the
/// host's `/etc` (no shadow, no server config) is visible.
pub const ETC_PATHS: &[&str] = &["/etc/alternatives", "/etc/ld.so.cache", "/etc/localtime"];

/// Size of the root tmpfs: it only holds mount points, symlinks and the generated /etc files.
pub(crate) const ROOT_TMPFS_OPTIONS: &str = "size=1m,nr_inodes=1024,mode=755";
const DEV_TMPFS_OPTIONS: &str = "size=64k,nr_inodes=64,mode=755";
/// Options of the sandbox's `/proc` (see [`root_template`]).
const PROC_OPTIONS: &str = "hidepid=invisible";

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nrunner:x:1000:1000:runner:/work:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
const GROUP: &str = "root:x:0:\nrunner:x:1000:\nnogroup:x:65534:\n";
const HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.1.1\ttiderun\n";

/// The steps that assemble (part of) a root, and the host paths they bind.
#[derive(Debug)]
pub(crate) struct Layout {
    pub steps: Vec<Step>,
    pub sources: Vec<CString>,
}

/// Paths the sandbox itself mounts over: a bind below them would be hidden or would expose
/// the host's version of a sandbox-private directory.
const RESERVED_PATHS: &[&str] = &[
    "/tmp",
    "/work",
    "/proc",
    "/dev",
    "/var/tmp",
    "/etc/passwd",
    "/etc/group",
    "/etc/hosts",
];

/// The part of every root that does not depend on the run, worked out once per
/// [`Sandbox`](crate::Sandbox): the toolchain binds, the generated `/etc`, `/dev`, `/proc` and
/// the mount points of `/work` and `/tmp`. Only the list of steps is shared: every run's
/// child executes all of them again, on its own fresh tmpfs. (Building the list took ~40 C
/// strings and an lstat per host path on every run, and freeing it after the clone cost
/// copy-on-write faults.)
///
/// Which host paths exist (and where the merged-/usr symlinks point) is read at start-up,
/// like the toolchains a runtime detects: a system path that appears later is seen after a
/// restart.
#[derive(Debug)]
pub(crate) struct RootTemplate {
    root: PathBuf,
    layout: Layout,
    /// Directories the template creates, and directories it binds (for extra binds).
    made: BTreeSet<PathBuf>,
    bound: Vec<PathBuf>,
}

impl RootTemplate {
    /// The template's steps, run before a run's own (see [`run_steps`]).
    pub(crate) fn steps(&self) -> &[Step] {
        &self.layout.steps
    }

    /// The host paths the template's steps bind, by index.
    pub(crate) fn sources(&self) -> &[CString] {
        &self.layout.sources
    }
}

/// Build the run-independent steps of roots assembled at `root`. `own_devices`: `/dev` is
/// the slot's own (see `devices.rs`), attached from the descriptor in the child's plan.
pub(crate) fn root_template(root: &Path, own_devices: bool) -> Result<RootTemplate, SandboxError> {
    let mut b = Builder {
        root,
        steps: Vec::new(),
        sources: Vec::new(),
        first_source: 0,
        made: BTreeSet::new(),
        bound: Vec::new(),
    };
    for p in SYSTEM_PATHS {
        b.expose(Path::new(p))?;
    }
    b.mkdir(Path::new("/etc"), 0o755)?;
    for (name, content) in [("passwd", PASSWD), ("group", GROUP), ("hosts", HOSTS)] {
        b.steps.push(Step::Write {
            path: b.inside(&Path::new("/etc").join(name))?,
            content: content.as_bytes().to_vec(),
            mode: 0o644,
        });
    }
    for p in ETC_PATHS {
        b.expose(Path::new(p))?;
    }

    b.mkdir(Path::new("/dev"), 0o755)?;
    if own_devices {
        // The slot's own nodes (see devices.rs), attached whole.
        b.steps.push(Step::AttachDevices {
            dst: b.inside(Path::new("/dev"))?,
        });
    } else {
        // Without root: binds of the host's nodes on a tiny tmpfs, all read-only (a read-only
        // bind of a device still reads and writes; only its inode's timestamps and mode are
        // kept from changing). These inodes are the host's and every run's.
        b.steps.push(Step::Tmpfs {
            dst: b.inside(Path::new("/dev"))?,
            options: cstring(DEV_TMPFS_OPTIONS)?,
            flags: libc::MS_NOSUID | libc::MS_NOEXEC,
        });
        for (dev, _) in crate::devices::NODES {
            let path = Path::new("/dev").join(dev);
            b.steps.push(Step::Touch { path: b.inside(&path)? });
            let source = b.source(&path)?;
            b.steps.push(Step::BindHost {
                source,
                dst: b.inside(&path)?,
            });
        }
        for (name, target) in crate::devices::LINKS {
            b.steps.push(Step::Symlink {
                target: cstring(target)?,
                path: b.inside(&Path::new("/dev").join(name))?,
            });
        }
        b.steps.push(Step::ReadOnlyDevices {
            path: b.inside(Path::new("/dev"))?,
        });
    }

    b.mkdir(Path::new("/proc"), 0o555)?;
    // hidepid: the program sees only the processes it could ptrace, so not the init, which
    // holds a copy of the server's memory and command line (`/proc/1/cmdline` needs no other
    // permission). The kernel's check is ptrace's, not the uid's: as root the init is another
    // uid, and in both modes it is not dumpable, which alone hides it without root, where the
    // init and the program share the one mapped uid.
    b.steps.push(Step::Proc {
        dst: b.inside(Path::new("/proc"))?,
        options: cstring(PROC_OPTIONS)?,
    });

    // Mount points of /work and /tmp; their tmpfs (sized per run) are the run's steps.
    b.mkdir(Path::new("/work"), 0o755)?;
    b.mkdir(Path::new("/tmp"), 0o755)?;
    b.mkdir(Path::new("/var"), 0o755)?;
    b.steps.push(Step::Symlink {
        target: cstring("/tmp")?,
        path: b.inside(Path::new("/var/tmp"))?,
    });
    b.mkdir(Path::new("/home"), 0o755)?;
    Ok(RootTemplate {
        root: root.to_path_buf(),
        layout: Layout {
            steps: b.steps,
            sources: b.sources,
        },
        made: b.made,
        bound: b.bound,
    })
}

/// The steps of one run's root, executed after the template's: the runtime's own binds, and
/// `/work` and `/tmp`, each a fresh tmpfs with the run's size and inode limits. Their
/// `BindHost` source indices continue the template's.
pub(crate) fn run_steps(t: &RootTemplate, extra_binds: &[PathBuf], limits: &Limits) -> Result<Layout, SandboxError> {
    let mut b = Builder {
        root: &t.root,
        steps: Vec::new(),
        sources: Vec::new(),
        first_source: t.layout.sources.len(),
        // Only binds need to know what exists already.
        made: if extra_binds.is_empty() {
            BTreeSet::new()
        } else {
            t.made.clone()
        },
        bound: if extra_binds.is_empty() {
            Vec::new()
        } else {
            t.bound.clone()
        },
    };
    for p in extra_binds {
        check_bind(p)?;
        b.expose(p)?;
    }

    // /work and /tmp: each its own tmpfs with the size and inode limits. Their pages are
    // charged to the run's memory cgroup, which bounds both together. (One tmpfs shared
    // through binds would need an unmount, and every unmount waits for an RCU grace period.)
    let options = cstring(tmpfs_options(limits))?;
    for (dir, mode) in [("/work", 0o755), ("/tmp", 0o1777)] {
        let path = b.inside(Path::new(dir))?;
        b.steps.push(Step::Tmpfs {
            dst: path.clone(),
            options: options.clone(),
            flags: libc::MS_NOSUID | libc::MS_NODEV,
        });
        b.steps.push(Step::Chmod { path, mode });
    }
    b.steps.push(Step::Chown {
        path: b.inside(Path::new("/work"))?,
    });
    Ok(Layout {
        steps: b.steps,
        sources: b.sources,
    })
}

/// Whether a sandbox can bind the host path `p` (at the same path, read-only; see
/// [`crate::RunSpec::binds`]): a clean absolute path, not `/` and not below a path the sandbox
/// mounts itself (`/tmp`, `/work`, `/proc`, `/dev`...). Whether it exists is seen at the run.
pub fn check_bind(p: &Path) -> Result<(), SandboxError> {
    if !p.is_absolute() || p.components().any(|c| c == Component::ParentDir) {
        return Err(SandboxError::InvalidSpec(format!(
            "bind path {} is not a clean absolute path",
            p.display()
        )));
    }
    if p == Path::new("/") || RESERVED_PATHS.iter().any(|r| p.starts_with(r)) {
        return Err(SandboxError::InvalidSpec(format!(
            "bind path {} is reserved by the sandbox",
            p.display()
        )));
    }
    Ok(())
}

/// The mount options of a run's `/work` and `/tmp` (each its own tmpfs).
pub(crate) fn tmpfs_options(limits: &Limits) -> String {
    format!("size={},nr_inodes={},mode=755", limits.tmpfs_bytes, limits.tmpfs_inodes)
}

struct Builder<'a> {
    root: &'a Path,
    steps: Vec<Step>,
    sources: Vec<CString>,
    /// Index of `sources[0]` among all the root's sources (a run's come after the template's).
    first_source: usize,
    made: BTreeSet<PathBuf>,
    /// Directories already bound: anything below them is visible already.
    bound: Vec<PathBuf>,
}

impl Builder<'_> {
    fn inside(&self, path: &Path) -> Result<CString, SandboxError> {
        let rel = path.strip_prefix("/").unwrap_or(path);
        cstring(self.root.join(rel).as_os_str())
    }

    /// Register a host path to be opened before the child drops to the namespace's ids.
    fn source(&mut self, path: &Path) -> Result<usize, SandboxError> {
        let index = self.first_source + self.sources.len();
        if index >= MAX_BIND_SOURCES {
            return Err(SandboxError::InvalidSpec(format!(
                "more than {MAX_BIND_SOURCES} bind paths"
            )));
        }
        self.sources.push(cstring(path.as_os_str())?);
        Ok(index)
    }

    /// mkdir -p below the root.
    fn mkdir(&mut self, path: &Path, mode: u32) -> Result<(), SandboxError> {
        let mut cur = PathBuf::from("/");
        for comp in path.components().skip(1) {
            cur.push(comp);
            if self.made.insert(cur.clone()) {
                let mode = if cur == path { mode } else { 0o755 };
                self.steps.push(Step::Mkdir {
                    path: self.inside(&cur)?,
                    mode,
                });
            }
        }
        Ok(())
    }

    /// Make a host path visible at the same place: a symlink is copied, a directory or file is
    /// bound read-only. Missing paths are skipped (not every host has /lib32).
    fn expose(&mut self, path: &Path) -> Result<(), SandboxError> {
        if self.bound.iter().any(|b| path.starts_with(b)) {
            return Ok(());
        }
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return Ok(());
        };
        if let Some(parent) = path.parent() {
            self.mkdir(parent, 0o755)?;
        }
        let dst = self.inside(path)?;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(path).map_err(|e| SandboxError::Os {
                what: "read toolchain symlink",
                source: e,
            })?;
            self.steps.push(Step::Symlink {
                target: cstring(target.as_os_str())?,
                path: dst,
            });
            return Ok(());
        }
        if meta.is_dir() {
            self.mkdir(path, 0o755)?;
            self.bound.push(path.to_path_buf());
        } else {
            self.steps.push(Step::Touch { path: dst.clone() });
        }
        let source = self.source(path)?;
        self.steps.push(Step::BindHost {
            source,
            dst: dst.clone(),
        });
        self.steps.push(Step::ReadOnly {
            path: dst,
            recursive: true,
        });
        Ok(())
    }
}

/// One input file as the child writes it.
#[derive(Debug)]
pub(crate) struct WorkFile<'a> {
    pub path: CString,
    pub content: &'a [u8],
    pub mode: u32,
    /// Owned by the sandbox's root instead of the program (see [`InputFile::read_only`]).
    pub read_only: bool,
}

/// A directory the input files need.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct WorkDir {
    pub path: CString,
    /// A read-only file lives below it: root's and sticky, not the program's.
    pub protected: bool,
}

/// The input files, plus the directories they need (parents first).
pub(crate) type WorkFiles<'a> = (Vec<WorkDir>, Vec<WorkFile<'a>>);

/// Check and convert the input files. Paths are relative, without `..`, and unique.
pub(crate) fn work_files(files: &[InputFile]) -> Result<WorkFiles<'_>, SandboxError> {
    if files.len() > MAX_INPUT_FILES {
        return Err(SandboxError::InvalidSpec(format!(
            "{} files is more than the limit of {MAX_INPUT_FILES}",
            files.len()
        )));
    }
    let mut dirs = BTreeSet::new();
    let mut protected = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let path = validate_relative(&f.path)?;
        if !seen.insert(path.clone()) || dirs.contains(&path) {
            return Err(SandboxError::InvalidSpec(format!("file {:?} is given twice", f.path)));
        }
        let mut parent = path.parent();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            if seen.contains(p) {
                return Err(SandboxError::InvalidSpec(format!(
                    "file {:?} is also used as a directory",
                    p.display().to_string()
                )));
            }
            dirs.insert(p.to_path_buf());
            if f.read_only {
                protected.insert(p.to_path_buf());
            }
            parent = p.parent();
        }
        let mode = match (f.executable, f.read_only) {
            (true, false) => 0o755,
            (false, false) => 0o644,
            (true, true) => 0o555,
            (false, true) => 0o444,
        };
        out.push(WorkFile {
            path: cstring(path.as_os_str())?,
            content: f.content.as_slice(),
            mode,
            read_only: f.read_only,
        });
    }
    // BTreeSet order puts "a" before "a/b": parents are created first.
    let dirs = dirs
        .iter()
        .map(|d| {
            Ok(WorkDir {
                path: cstring(d.as_os_str())?,
                protected: protected.contains(d),
            })
        })
        .collect::<Result<_, SandboxError>>()?;
    Ok((dirs, out))
}

/// A relative path of normal components only.
pub fn validate_relative(path: &str) -> Result<PathBuf, SandboxError> {
    let bad = |why: &str| SandboxError::InvalidSpec(format!("file name {path:?} {why}"));
    if path.is_empty() {
        return Err(bad("is empty"));
    }
    if path.len() > 255 {
        return Err(bad("is longer than 255 bytes"));
    }
    if path.contains('\0') {
        return Err(bad("contains a NUL byte"));
    }
    let p = Path::new(path);
    let mut clean = PathBuf::new();
    for comp in p.components() {
        match comp {
            Component::Normal(c) => clean.push(c),
            Component::CurDir => {}
            Component::ParentDir => return Err(bad("contains \"..\"")),
            Component::RootDir | Component::Prefix(_) => return Err(bad("is absolute")),
        }
    }
    if clean.as_os_str().is_empty() {
        return Err(bad("names no file"));
    }
    Ok(clean)
}

pub(crate) fn cstring(s: impl AsRef<std::ffi::OsStr>) -> Result<CString, SandboxError> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(s.as_ref().as_bytes())
        .map_err(|_| SandboxError::InvalidSpec(format!("{:?} contains a NUL byte", s.as_ref())))
}

/// The uid the program has inside (for tests and docs).
pub const PROGRAM_UID: u32 = INSIDE_ID;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_checked() {
        assert!(validate_relative("main.py").is_ok());
        assert_eq!(validate_relative("./src/a.c").unwrap(), PathBuf::from("src/a.c"));
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "a\0b", ".", "./"] {
            assert!(validate_relative(bad).is_err(), "{bad:?} accepted");
        }
        assert!(validate_relative(&"a".repeat(256)).is_err());
    }

    #[test]
    fn work_files_reject_duplicates_and_make_parents() {
        let f = |p: &str| InputFile {
            path: p.into(),
            content: vec![],
            executable: false,
            read_only: false,
        };
        assert!(work_files(&[f("a"), f("./a")]).is_err());
        assert!(work_files(&[f("a"), f("a/b")]).is_err());
        let input = [f("x/y/z.txt"), f("x/w")];
        let (dirs, files) = work_files(&input).unwrap();
        let dir = |p: &str, protected| WorkDir {
            path: CString::new(p).unwrap(),
            protected,
        };
        assert_eq!(dirs, vec![dir("x", false), dir("x/y", false)]);
        assert_eq!(files.len(), 2);
        // A read-only file protects its directories, not its siblings'.
        let build = InputFile {
            path: "x/y/main".into(),
            executable: true,
            read_only: true,
            ..f("")
        };
        let input = [build, f("x/w"), f("v/u")];
        let (dirs, files) = work_files(&input).unwrap();
        assert_eq!(dirs, vec![dir("v", false), dir("x", true), dir("x/y", true)]);
        assert_eq!(files.iter().map(|f| f.mode).collect::<Vec<_>>(), [0o555, 0o644, 0o644]);
        let many: Vec<_> = (0..=MAX_INPUT_FILES).map(|i| f(&format!("f{i}"))).collect();
        assert!(work_files(&many).is_err());
    }

    /// Template and run steps together, as the child executes them.
    fn all_steps(binds: &[PathBuf]) -> Result<(Vec<String>, Vec<CString>), SandboxError> {
        let t = root_template(Path::new("/r"), true)?;
        let run = run_steps(&t, binds, &Limits::default())?;
        let steps = t.steps().iter().chain(&run.steps).map(|s| format!("{s:?}")).collect();
        let sources = t.sources().iter().chain(&run.sources).cloned().collect();
        Ok((steps, sources))
    }

    #[test]
    fn binds_over_sandbox_paths_are_refused() {
        for bad in ["/tmp/toolchain", "/work", "/proc/1", "relative", "/usr/../etc", "/"] {
            assert!(all_steps(&[PathBuf::from(bad)]).is_err(), "{bad} accepted");
            assert!(check_bind(Path::new(bad)).is_err(), "{bad} accepted by check_bind");
        }
        assert!(all_steps(&[PathBuf::from("/opt/x")]).is_ok());
        assert!(check_bind(Path::new("/var/lib/tiderun/precompiled/c++")).is_ok());
    }

    #[test]
    fn root_hides_host_etc() {
        let (steps, _) = all_steps(&[]).unwrap();
        let text = steps.join("\n");
        assert!(!text.contains("shadow"));
        assert!(text.contains("\"/r/etc/passwd\""));
        assert!(text.contains("\"/r/work\""));
        // /proc hides the init whether or not the server is root.
        assert!(
            text.contains("Proc { dst: \"/r/proc\", options: \"hidepid=invisible\" }"),
            "{text}"
        );
    }

    #[test]
    fn run_binds_index_after_the_template_and_reuse_its_directories() {
        // Steps only, nothing is mounted: /etc exists on every host, and the template has
        // made its mount point already.
        let t = root_template(Path::new("/r"), true).unwrap();
        let run = run_steps(&t, &[PathBuf::from("/etc")], &Limits::default()).unwrap();
        assert_eq!(run.sources, vec![CString::new("/etc").unwrap()]);
        let text = format!("{:?}", run.steps);
        assert!(text.contains(&format!("source: {}", t.sources().len())), "{text}");
        assert!(!text.contains("Mkdir"), "mkdir /etc again: {text}");
        // Below a directory the template binds: visible already, nothing to do.
        let run = run_steps(&t, &[PathBuf::from("/usr/share")], &Limits::default()).unwrap();
        assert!(run.sources.is_empty());
        // Without binds, only the two tmpfs (mount, chmod each) and the chown.
        let run = run_steps(&t, &[], &Limits::default()).unwrap();
        assert_eq!(run.steps.len(), 5, "{:?}", run.steps);
    }
}
