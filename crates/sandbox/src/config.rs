//! What a run asks for: the program, its files, its limits, its I/O.

use std::os::fd::OwnedFd;
use std::path::PathBuf;

/// The hard ceiling on any wall-clock limit: a run that could last longer would hold a slot
/// (and a uid) for too long.
pub const MAX_WALL_MS: u64 = 10 * 60 * 1000;
/// The smallest memory limit that still lets a dynamic linker and libc start.
pub const MIN_MEMORY_BYTES: u64 = 4 << 20;
/// A sandbox needs at least its init, the program and one more (a shell's child).
pub const MIN_PROCESSES: u64 = 3;
/// Open files below this break ordinary interpreters (Python opens ~10 at start-up).
pub const MIN_OPEN_FILES: u64 = 16;
/// Files written into the work dir before the program starts: beyond this, ask for an archive.
pub const MAX_INPUT_FILES: usize = 256;

/// Everything one run is allowed to use. All values are concrete; the catalog and the engine
/// decide defaults and maxima, the sandbox only enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// CPU time of the whole process tree (cgroup accounting; RLIMIT_CPU as backstop).
    pub cpu_ms: u64,
    /// Wall-clock time from start to the end of the program.
    pub wall_ms: u64,
    /// Memory of the whole tree, tmpfs pages included (cgroup).
    pub memory_bytes: u64,
    /// Processes plus threads (cgroup pids).
    pub max_processes: u64,
    /// stdout + stderr bytes kept; one byte more ends the run with `output_limit`.
    pub max_output_bytes: u64,
    /// Largest file the program may write (RLIMIT_FSIZE → SIGXFSZ).
    pub max_file_size_bytes: u64,
    /// RLIMIT_NOFILE.
    pub max_open_files: u64,
    /// Size of the writable tmpfs (work dir and /tmp together).
    pub tmpfs_bytes: u64,
    /// Inodes of the writable tmpfs.
    pub tmpfs_inodes: u64,
    /// RLIMIT_STACK.
    pub stack_bytes: u64,
    /// An interactive run (its stdin a [`Stdin::Pipe`]): how long the program may wait for
    /// input that has not been sent, in total, across all its waits. Such waiting does not
    /// count against `wall_ms` (see `stdin_wait.rs` for how it is recognised), so a run lasts
    /// at most `wall_ms + input_wait_ms`. `None`: waiting is wall time.
    pub input_wait_ms: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu_ms: 3_000,
            wall_ms: 5_000,
            memory_bytes: 256 << 20,
            max_processes: 32,
            max_output_bytes: 1 << 20,
            max_file_size_bytes: 16 << 20,
            max_open_files: 256,
            tmpfs_bytes: 64 << 20,
            tmpfs_inodes: 4096,
            stack_bytes: 64 << 20,
            input_wait_ms: None,
        }
    }
}

/// A file written into the work dir before the program starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    /// Relative path below the work dir, `/`-separated, no `..`, no empty components.
    pub path: String,
    pub content: Vec<u8>,
    pub executable: bool,
    /// The program may read (and run) the file but not change, chmod, delete or rename it:
    /// it belongs to the sandbox's root (mode 0444, 0555 if executable), and the work dir and
    /// every directory holding such a file become root's and sticky (01777, like /tmp), so
    /// the program can still create files of its own. For build outputs shared by many runs.
    /// With a single mapped id (unprivileged mode) the program owns every file: there this
    /// only sets the mode.
    pub read_only: bool,
}

/// A regular file found in the work dir after the run (see [`RunSpec::collect`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    pub path: String,
    /// Empty when the file was `skipped`.
    pub content: Vec<u8>,
    pub executable: bool,
    /// The file's size when it was looked at.
    pub size: u64,
    /// Why the file was listed without its content (see [`Collect::max_skipped`]).
    pub skipped: Option<SkipReason>,
}

/// Why a file that matched was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// [`Collect::max_files`] files were already read.
    TooManyFiles,
    /// It did not fit in what was left of [`Collect::max_total_bytes`].
    TooManyBytes,
}

/// Bounds on the files read back after a run, and which files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Collect {
    pub max_files: usize,
    pub max_total_bytes: u64,
    /// Only files whose name ends with one of these (ASCII case-insensitive, e.g. `.png`);
    /// empty: every regular file.
    pub suffixes: &'static [&'static str],
    /// Files that match but do not fit the bounds are listed (name, size, reason, no content),
    /// up to this many, so a caller can say what was left out; 0 lists none.
    pub max_skipped: usize,
}

impl Collect {
    /// Every regular file, within the bounds; those that do not fit are left out silently
    /// (build outputs).
    pub fn all(max_files: usize, max_total_bytes: u64) -> Collect {
        Collect {
            max_files,
            max_total_bytes,
            suffixes: &[],
            max_skipped: 0,
        }
    }

    /// Whether a file name is one this collection wants.
    pub fn wants(&self, name: &[u8]) -> bool {
        self.suffixes.is_empty()
            || self.suffixes.iter().any(|suffix| {
                let suffix = suffix.as_bytes();
                name.len() > suffix.len() && name[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
            })
    }
}

/// One program to run.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// `argv[0]` is an absolute path, a path relative to the work dir (`./main`), or a bare
    /// name looked up in the sandbox's PATH.
    pub argv: Vec<String>,
    /// The program's whole environment (nothing is inherited from the server), on top of
    /// PATH, HOME, TMPDIR and LANG defaults.
    pub env: Vec<(String, String)>,
    pub files: Vec<InputFile>,
    pub limits: Limits,
    /// Extra host directories bound read-only at the same path (toolchains outside /usr).
    pub binds: Vec<PathBuf>,
    /// Keep the empty network namespace (false) or share the host's (true; runtime opt-in).
    pub network: bool,
    /// Read the work dir's regular files back after the program ended (build outputs).
    pub collect: Option<Collect>,
}

impl RunSpec {
    pub fn new(argv: Vec<String>) -> Self {
        RunSpec {
            argv,
            env: Vec::new(),
            files: Vec::new(),
            limits: Limits::default(),
            binds: Vec::new(),
            network: false,
            collect: None,
        }
    }
}

/// Where the program's stdin comes from.
#[derive(Debug, Default)]
pub enum Stdin {
    /// `/dev/null`-like: immediate EOF.
    #[default]
    Empty,
    /// These bytes, then EOF.
    Bytes(Vec<u8>),
    /// The read end of a pipe the caller writes to while the program runs (interactive).
    Pipe(OwnedFd),
}

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Stdout,
    Stderr,
}

/// How the supervisor hands back output: buffered in the result, or chunk by chunk.
#[derive(Default)]
pub enum Output<'a> {
    #[default]
    Capture,
    /// Called with each chunk as it is read; the result's stdout/stderr stay empty.
    Stream(&'a mut dyn FnMut(StreamKind, &[u8])),
}

impl std::fmt::Debug for Output<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Output::Capture => f.write_str("Capture"),
            Output::Stream(_) => f.write_str("Stream"),
        }
    }
}

/// The I/O side of a run.
pub struct RunIo<'a> {
    pub stdin: Stdin,
    pub output: Output<'a>,
    /// Signals for the program, from [`crate::control_channel`]. `SIGKILL` ends the whole tree.
    pub control: Option<crate::ControlReceiver>,
    /// Told `true` when the program starts waiting for input (see [`Limits::input_wait_ms`]),
    /// `false` when it goes on, with what is left of the run's budget of waiting.
    pub waiting: Option<&'a mut dyn FnMut(bool, std::time::Duration)>,
}

impl std::fmt::Debug for RunIo<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunIo")
            .field("stdin", &self.stdin)
            .field("output", &self.output)
            .field("control", &self.control)
            .field("waiting", &self.waiting.is_some())
            .finish()
    }
}

impl Default for RunIo<'_> {
    fn default() -> Self {
        RunIo {
            stdin: Stdin::Empty,
            output: Output::Capture,
            control: None,
            waiting: None,
        }
    }
}
