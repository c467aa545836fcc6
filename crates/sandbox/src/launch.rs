//! What the program is started with — its argv, its environment (a fixed PATH, HOME, TMPDIR,
//! LANG, USER, then the run's), the paths its `argv[0]` is looked up at, its rlimits — and the
//! shared mapping that carries it to the init.
//!
//! The init may not allocate, and a prepared sandbox learns its program only after it was
//! cloned. So the parameters go into an anonymous `MAP_SHARED` mapping made before the clone:
//! the init sees it at the same address, and the parent can fill it before the clone (a run
//! started at once) or later (a prepared sandbox, before its go byte). Every pointer written
//! into it points into it.

use std::ffi::{c_char, CString};

use crate::child::{LaunchParams, Rlimit, MAX_RLIMITS};
use crate::config::Limits;
use crate::error::SandboxError;
use crate::layout::cstring;

/// Size of the mapping: argv and environment together (Linux's own limit for exec is about
/// a quarter of the stack limit, 2 MiB by default). Only the pages written are ever backed.
pub const MAX_LAUNCH_BYTES: usize = 4 << 20;

/// An anonymous shared mapping holding one [`LaunchParams`] and what it points to.
#[derive(Debug)]
pub(crate) struct LaunchArea {
    base: *mut u8,
}

// SAFETY: the mapping is owned by this value alone in this process; it is written only
// through `&mut self` and read by the child process after its go signal.
unsafe impl Send for LaunchArea {}

impl LaunchArea {
    pub(crate) fn new() -> Result<LaunchArea, SandboxError> {
        // SAFETY: a fresh anonymous mapping; no existing memory is touched.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                MAX_LAUNCH_BYTES,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(SandboxError::Os {
                what: "map the launch parameters",
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(LaunchArea { base: base.cast() })
    }

    /// Where the init finds the parameters.
    pub(crate) fn params(&self) -> *const LaunchParams {
        self.base.cast()
    }

    /// Write the parameters (replacing anything written before).
    pub(crate) fn fill(
        &mut self,
        argv: &[CString],
        env: &[CString],
        candidates: &[CString],
        rlimits: &[(u32, u64, u64)],
    ) -> Result<(), SandboxError> {
        if rlimits.len() > MAX_RLIMITS {
            return Err(SandboxError::InvalidSpec("too many rlimits".into()));
        }
        let mut w = Writer {
            base: self.base,
            pos: std::mem::size_of::<LaunchParams>(),
        };
        let argv = w.strings(argv)?;
        let envp = w.strings(env)?;
        let candidates = w.strings(candidates)?;
        let mut params = LaunchParams {
            argv,
            envp,
            candidates,
            rlimits: [Rlimit::default(); MAX_RLIMITS],
            nrlimits: rlimits.len(),
        };
        for (slot, &(resource, soft, hard)) in params.rlimits.iter_mut().zip(rlimits) {
            *slot = Rlimit { resource, soft, hard };
        }
        // SAFETY: the header fits at the start of the mapping, which is page-aligned.
        unsafe { self.base.cast::<LaunchParams>().write(params) };
        Ok(())
    }
}

impl Drop for LaunchArea {
    fn drop(&mut self) {
        // SAFETY: our own mapping, of this size; nothing in this process points into it after
        // this value is gone.
        unsafe { libc::munmap(self.base.cast(), MAX_LAUNCH_BYTES) };
    }
}

/// A bump writer into the mapping.
struct Writer {
    base: *mut u8,
    pos: usize,
}

impl Writer {
    fn reserve(&mut self, len: usize, align: usize) -> Result<*mut u8, SandboxError> {
        let start = self.pos.next_multiple_of(align);
        let end = start
            .checked_add(len)
            .filter(|&end| end <= MAX_LAUNCH_BYTES)
            .ok_or_else(|| {
                SandboxError::InvalidSpec(format!(
                    "arguments and environment exceed {} MiB",
                    MAX_LAUNCH_BYTES >> 20
                ))
            })?;
        self.pos = end;
        // SAFETY: start < end <= MAX_LAUNCH_BYTES: inside the mapping.
        Ok(unsafe { self.base.add(start) })
    }

    /// Copy the strings and a NULL-terminated array of pointers to the copies.
    fn strings(&mut self, strings: &[CString]) -> Result<*const *const c_char, SandboxError> {
        let array = self
            .reserve(
                (strings.len() + 1) * std::mem::size_of::<*const c_char>(),
                std::mem::align_of::<*const c_char>(),
            )?
            .cast::<*const c_char>();
        for (i, s) in strings.iter().enumerate() {
            let bytes = s.as_bytes_with_nul();
            let dst = self.reserve(bytes.len(), 1)?;
            // SAFETY: `dst` has room for `bytes` (reserved above); `array` has room for
            // `strings.len() + 1` pointers.
            unsafe {
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len());
                array.add(i).write(dst.cast_const().cast());
            }
        }
        // SAFETY: the last reserved slot of `array`.
        unsafe { array.add(strings.len()).write(std::ptr::null()) };
        Ok(array.cast_const())
    }
}

/// The PATH programs see, and where a bare `argv[0]` is looked up.
const INSIDE_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The paths to try for `argv[0]`, in order: itself when it names a path, else each directory of
/// [`INSIDE_PATH`].
pub(crate) fn exec_candidates(argv0: &str) -> Result<Vec<CString>, SandboxError> {
    if argv0.contains('/') {
        return Ok(vec![cstring(argv0)?]);
    }
    INSIDE_PATH
        .split(':')
        .map(|dir| cstring(format!("{dir}/{argv0}")))
        .collect()
}

/// The program's environment: the fixed variables, then the run's (which may replace them).
pub(crate) fn environment(extra: &[(String, String)]) -> Result<Vec<CString>, SandboxError> {
    let mut env: Vec<(String, String)> = [
        ("PATH", INSIDE_PATH),
        ("HOME", "/work"),
        ("TMPDIR", "/tmp"),
        ("LANG", "C.UTF-8"),
        ("USER", "runner"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        if k.is_empty() || k.contains('=') {
            return Err(SandboxError::InvalidSpec(format!(
                "environment name {k:?} is not valid"
            )));
        }
        env.retain(|(ek, _)| ek != k);
        env.push((k.clone(), v.clone()));
    }
    env.into_iter().map(|(k, v)| cstring(format!("{k}={v}"))).collect()
}

/// RLIMIT_CORE of a program, in bytes. Not 0: a `core_pattern` that pipes to a helper
/// (Ubuntu's apport, systemd-coredump) ignores a zero limit and starts that helper as the host's
/// root on every crash, outside the sandbox. At exactly 1 the kernel refuses to start it (the
/// value it gives its own helpers, to stop recursive dumps), and a core file needs at least a
/// page, so none is written either. seccomp keeps the program from changing it.
pub(crate) const CORE_LIMIT_BYTES: u64 = 1;
/// RLIMIT_MEMLOCK: what the kernel gave unprivileged users before 5.16; locked pages are
/// charged to the run's memory cgroup anyway, but none of the runtimes locks memory.
pub(crate) const MEMLOCK_LIMIT_BYTES: u64 = 64 << 10;
/// RLIMIT_SIGPENDING: queued signals of the program's uid. They are counted up the user
/// namespaces, so every run's also count against the host root's own limit (the namespaces
/// are made by root): each run gets a small share. Enough for programs that queue real-time
/// signals to themselves.
pub(crate) const SIGPENDING_LIMIT: u64 = 256;

/// The program's rlimits as `(resource, soft, hard)`.
pub(crate) fn rlimits(l: &Limits, cgroup_enforced: bool, privileged: bool) -> Vec<(u32, u64, u64)> {
    // RLIMIT_CPU counts per process in whole seconds: a backstop one second past the limit,
    // the cgroup is the exact check.
    let cpu_s = l.cpu_ms.div_ceil(1000) + 1;
    // Soft and hard alike: raising a hard limit needs CAP_SYS_RESOURCE in the host's user
    // namespace, which no program has, so these hold whatever the server inherited.
    let mut v = vec![
        (libc::RLIMIT_CORE, CORE_LIMIT_BYTES, CORE_LIMIT_BYTES),
        (libc::RLIMIT_FSIZE, l.max_file_size_bytes, l.max_file_size_bytes),
        (libc::RLIMIT_NOFILE, l.max_open_files, l.max_open_files),
        (libc::RLIMIT_STACK, l.stack_bytes, l.stack_bytes),
        (libc::RLIMIT_CPU, cpu_s, cpu_s + 1),
        // Message queues are per user namespace owner; a student needs none.
        (libc::RLIMIT_MSGQUEUE, 0, 0),
        // No real-time scheduling (SCHED_FIFO/SCHED_RR need a non-zero RLIMIT_RTPRIO without
        // CAP_SYS_NICE): one spinning real-time thread would starve the node.
        (libc::RLIMIT_RTPRIO, 0, 0),
        // No raising of its priority above the one it starts with (nice values below 20 - 0).
        (libc::RLIMIT_NICE, 0, 0),
        (libc::RLIMIT_MEMLOCK, MEMLOCK_LIMIT_BYTES, MEMLOCK_LIMIT_BYTES),
        (libc::RLIMIT_SIGPENDING, SIGPENDING_LIMIT, SIGPENDING_LIMIT),
    ];
    if !cgroup_enforced && privileged {
        // Without a pids cgroup, the slot's own uid makes RLIMIT_NPROC a per-run bound.
        v.push((libc::RLIMIT_NPROC, l.max_processes, l.max_processes));
    }
    // The resource type is u32 on glibc and i32 on musl.
    #[allow(clippy::unnecessary_cast)]
    v.into_iter().map(|(r, s, h)| (r as u32, s, h)).collect()
}

/// A zygote's rlimits from its start until a run takes it, when the run's own can be set then
/// (`instance::fit`, which finds the interpreter through its cgroup): the run's limits, but no
/// file size or CPU time limit, the two a run may ask for more of than the runtime's defaults.
/// The host can lower a hard rlimit of a sandbox's process (it owns the sandbox's user
/// namespace) but not raise one: that needs `CAP_SYS_RESOURCE` in the host's user namespace,
/// which a server under the systemd unit or in a container does not have. Until its run takes
/// it, the zygote runs only the runtime file's own code, idle in a read of its request.
pub(crate) fn zygote_rlimits(l: &Limits, cgroup_enforced: bool, privileged: bool) -> Vec<(u32, u64, u64)> {
    // The resource type is u32 on glibc and i32 on musl (as in `rlimits`).
    #[allow(clippy::unnecessary_cast)]
    let open = [libc::RLIMIT_FSIZE as u32, libc::RLIMIT_CPU as u32];
    rlimits(l, cgroup_enforced, privileged)
        .into_iter()
        .map(|(r, soft, hard)| {
            if open.contains(&r) {
                (r, libc::RLIM_INFINITY, libc::RLIM_INFINITY)
            } else {
                (r, soft, hard)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn read_array(mut p: *const *const c_char) -> Vec<String> {
        let mut v = Vec::new();
        // SAFETY: a NULL-terminated array of C strings written by `fill`.
        unsafe {
            while !(*p).is_null() {
                v.push(CStr::from_ptr(*p).to_string_lossy().into_owned());
                p = p.add(1);
            }
        }
        v
    }

    #[test]
    fn fill_round_trips_and_refills() {
        let mut area = LaunchArea::new().unwrap();
        let c = |s: &str| CString::new(s).unwrap();
        area.fill(
            &[c("python3"), c("main.py")],
            &[c("A=1")],
            &[c("/usr/bin/python3")],
            &[(1, 2, 3)],
        )
        .unwrap();
        area.fill(&[c("./main"), c("x")], &[], &[c("/work/main")], &[(7, 8, 9), (4, 5, 6)])
            .unwrap();
        // SAFETY: filled just above.
        let params = unsafe { &*area.params() };
        assert_eq!(read_array(params.argv), ["./main", "x"]);
        assert!(read_array(params.envp).is_empty());
        assert_eq!(read_array(params.candidates), ["/work/main"]);
        assert_eq!(params.nrlimits, 2);
        assert_eq!(params.rlimits[1].soft, 5);
    }

    #[test]
    fn a_zygote_waits_without_a_file_size_or_cpu_limit_only() {
        let l = Limits::default();
        let run = rlimits(&l, true, true);
        let zygote = zygote_rlimits(&l, true, true);
        assert_eq!(run.len(), zygote.len());
        for (r, z) in run.iter().zip(&zygote) {
            #[allow(clippy::unnecessary_cast)]
            let open = [libc::RLIMIT_FSIZE as u32, libc::RLIMIT_CPU as u32].contains(&r.0);
            if open {
                assert_eq!((z.1, z.2), (libc::RLIM_INFINITY, libc::RLIM_INFINITY), "{r:?}");
            } else {
                assert_eq!(r, z, "the rest are the run's");
            }
        }
    }

    #[test]
    fn too_much_is_a_clear_error() {
        let mut area = LaunchArea::new().unwrap();
        let big = CString::new(vec![b'a'; MAX_LAUNCH_BYTES]).unwrap();
        let err = area.fill(&[big], &[], &[], &[]).unwrap_err();
        assert!(err.to_string().contains("exceed"), "{err}");
    }
}
