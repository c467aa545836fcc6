//! Empty network namespaces made ahead of time.
//!
//! Creating a network namespace is the most expensive part of a sandbox (~0.3 ms here), and
//! none of it depends on the run. A background thread keeps a few ready, each with its
//! loopback up, and every run takes a fresh one: no namespace is ever used twice, so runs
//! never share a loopback. When the pool is empty (a burst), the run creates its own inline.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Mutex;

use rustix::fs::{Mode, OFlags};

use crate::error::SandboxError;

/// The most namespaces kept ready (see `SandboxOptions::netns_pool`).
pub(crate) const MAX_POOL_SIZE: usize = 64;

#[derive(Debug)]
pub(crate) struct NetnsPool {
    /// The namespace the server runs in, to return to after borrowing another.
    host: OwnedFd,
    ready: Mutex<Receiver<OwnedFd>>,
}

impl NetnsPool {
    /// Start the producer thread. Needs root (CAP_SYS_ADMIN over the host's user namespace).
    pub(crate) fn start(size: usize) -> Result<NetnsPool, SandboxError> {
        let host = open_own_netns()?;
        let (tx, rx) = sync_channel(size);
        let producer_host = rustix::io::fcntl_dupfd_cloexec(&host, 3).map_err(SandboxError::os("dup netns fd"))?;
        std::thread::Builder::new()
            .name("tiderun-netns".into())
            .spawn(move || produce(producer_host, tx))
            .map_err(|e| SandboxError::Os {
                what: "start the netns thread",
                source: e,
            })?;
        Ok(NetnsPool {
            host,
            ready: Mutex::new(rx),
        })
    }

    /// A fresh namespace, if one is ready.
    pub(crate) fn take(&self) -> Option<OwnedFd> {
        self.ready.lock().unwrap_or_else(|p| p.into_inner()).try_recv().ok()
    }

    /// Move the calling thread into `ns` (its children are born there), returning a guard that
    /// moves it back.
    pub(crate) fn enter<'a>(&'a self, ns: &OwnedFd) -> Result<NetnsGuard<'a>, SandboxError> {
        setns(ns)?;
        Ok(NetnsGuard { host: &self.host })
    }
}

/// Returns the thread to the host network namespace.
pub(crate) struct NetnsGuard<'a> {
    host: &'a OwnedFd,
}

impl Drop for NetnsGuard<'_> {
    fn drop(&mut self) {
        if let Err(e) = setns(self.host) {
            // The thread would stay in a sandbox's empty namespace: unrecoverable for it.
            tracing::error!(error = %e, "cannot return to the host network namespace");
            std::process::abort();
        }
    }
}

fn produce(host: OwnedFd, tx: SyncSender<OwnedFd>) {
    loop {
        let ns = match make_one(&host) {
            Ok(ns) => ns,
            Err(e) => {
                tracing::warn!(error = %e, "cannot prepare a network namespace; runs will make their own");
                return;
            }
        };
        match tx.try_send(ns) {
            Ok(()) => {}
            Err(TrySendError::Full(ns)) => {
                // Block until a run takes one; exit when the sandbox is gone.
                if tx.send(ns).is_err() {
                    return;
                }
            }
            Err(TrySendError::Disconnected(_)) => return,
        }
    }
}

fn make_one(host: &OwnedFd) -> Result<OwnedFd, SandboxError> {
    // SAFETY: unshare of the net namespace affects only this thread.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(SandboxError::Os {
            what: "unshare a network namespace",
            source: std::io::Error::last_os_error(),
        });
    }
    let result = open_own_netns().and_then(|ns| {
        if crate::child::loopback_up_here() {
            Ok(ns)
        } else {
            Err(SandboxError::Os {
                what: "bring up loopback",
                source: std::io::Error::last_os_error(),
            })
        }
    });
    if let Err(e) = setns(host) {
        tracing::error!(error = %e, "netns thread cannot return to the host namespace");
        std::process::abort();
    }
    result
}

fn open_own_netns() -> Result<OwnedFd, SandboxError> {
    rustix::fs::open(
        "/proc/thread-self/ns/net",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(SandboxError::os("open the thread's network namespace"))
}

fn setns(ns: &OwnedFd) -> Result<(), SandboxError> {
    // SAFETY: setns on a namespace descriptor we own; affects only this thread.
    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(SandboxError::Os {
            what: "setns into a network namespace",
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}
