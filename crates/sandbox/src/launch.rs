//! The program's launch parameters (argv, env, exec candidates, rlimits) in a shared mapping.
//!
//! The init may not allocate, and a prepared sandbox learns its program only after it was
//! cloned. So the parameters go into an anonymous `MAP_SHARED` mapping made before the clone:
//! the init sees it at the same address, and the parent can fill it before the clone (a run
//! started at once) or later (a prepared sandbox, before its go byte). Every pointer written
//! into it points into it.

use std::ffi::{c_char, CString};

use crate::child::{LaunchParams, Rlimit, MAX_RLIMITS};
use crate::error::SandboxError;

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
    fn too_much_is_a_clear_error() {
        let mut area = LaunchArea::new().unwrap();
        let big = CString::new(vec![b'a'; MAX_LAUNCH_BYTES]).unwrap();
        let err = area.fill(&[big], &[], &[], &[]).unwrap_err();
        assert!(err.to_string().contains("exceed"), "{err}");
    }
}
