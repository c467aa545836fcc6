//! Tearing a finished sandbox down: reap its init (whose exit unmounts the whole root and
//! ends the pid namespace) and remove its cgroup.
//!
//! By the time a result exists, every process of the program is already dead — the init
//! killed and reaped them all before reporting. What is left is only tiderun's own init and
//! the cgroup directory, and tearing those down costs a quarter of a millisecond (mount
//! namespace teardown waits for an RCU grace period). A reaper thread does it after the result
//! is handed back. [`crate::Sandbox::wait_idle`] waits for it (tests, graceful shutdown).

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cgroup::{Cgroup, CgroupManager};

/// Rounds of kill-then-remove (each retrying for the cgroup's retry window, ~0.1 s) before a
/// busy cgroup is reported as left behind.
const KILL_REMOVE_ROUNDS: usize = 20;

/// Everything a run leaves to tear down. Dropping it tears down inline.
#[derive(Debug, Default)]
pub(crate) struct Cleanup {
    pub init: Option<OwnedFd>,
    pub cgroup: Option<Cgroup>,
    /// The run's slot (its host uid) is free again only once everything above is gone.
    pub slot: Option<crate::SlotGuard>,
}

impl Cleanup {
    /// SIGKILL the init (and so the whole pid namespace).
    pub(crate) fn kill(&self) {
        if let Some(pidfd) = &self.init {
            // SAFETY: pidfd_send_signal on a descriptor we own; a dead process is fine.
            unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    pidfd.as_raw_fd(),
                    libc::SIGKILL,
                    std::ptr::null::<u8>(),
                    0,
                );
            }
        }
    }

    fn finish(&mut self) {
        if let Some(pidfd) = self.init.take() {
            wait(&pidfd);
        }
        if let Some(c) = self.cgroup.take() {
            if let Err(e) = c.remove() {
                tracing::warn!(error = %e, "cgroup still busy; killing and retrying");
                // On a loaded machine a killed tree can take longer than one retry window to
                // exit; this is the reaper's thread, so keep at it for a while.
                let mut last = Some(e);
                for _ in 0..KILL_REMOVE_ROUNDS {
                    let _ = c.kill();
                    match c.remove() {
                        Ok(()) => {
                            last = None;
                            break;
                        }
                        Err(e) => last = Some(e),
                    }
                }
                if let Some(e) = last {
                    tracing::error!(error = %e, "cannot remove a run's cgroup");
                }
            }
        }
        self.slot = None;
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if self.init.is_some() {
            // Still running on an error path: nothing may survive.
            self.kill();
        }
        self.finish();
    }
}

/// Wait for the init; its exit tears the pid and mount namespaces down.
fn wait(pidfd: &OwnedFd) {
    loop {
        // SAFETY: waitid on our own pidfd; siginfo is a plain struct on the stack.
        let r = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(libc::P_PIDFD, pidfd.as_raw_fd() as libc::id_t, &mut info, libc::WEXITED)
        };
        if r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
    }
}

/// The background reaper; clones are handles to the same thread (prepared sandboxes keep one
/// to be torn down there when they are discarded unused).
#[derive(Debug, Clone)]
pub(crate) struct Reaper {
    tx: Arc<Mutex<Option<Sender<Cleanup>>>>,
    pending: Arc<AtomicUsize>,
}

impl Reaper {
    pub(crate) fn start() -> Reaper {
        let (tx, rx) = channel::<Cleanup>();
        let pending = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&pending);
        let spawned = std::thread::Builder::new()
            .name("tiderun-reaper".into())
            .spawn(move || {
                for mut cleanup in rx {
                    cleanup.finish();
                    count.fetch_sub(1, Ordering::AcqRel);
                }
            });
        let tx = match spawned {
            Ok(_) => Some(tx),
            Err(e) => {
                tracing::warn!(error = %e, "no reaper thread; sandboxes are torn down inline");
                None
            }
        };
        Reaper {
            tx: Arc::new(Mutex::new(tx)),
            pending,
        }
    }

    /// Tear down in the background (inline if the reaper is gone). The init must already
    /// have been told to exit.
    pub(crate) fn defer(&self, cleanup: Cleanup) {
        let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = tx.as_ref() {
            self.pending.fetch_add(1, Ordering::AcqRel);
            if let Err(back) = tx.send(cleanup) {
                self.pending.fetch_sub(1, Ordering::AcqRel);
                drop(back.0);
            }
        }
    }

    /// Wait until every deferred teardown is done, up to `timeout`. True when idle.
    pub(crate) fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.pending.load(Ordering::Acquire) > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        true
    }
}
