//! The control channel of an interactive run: signals from the caller for the running program.
//!
//! The sending side is called from async tasks, for a client's every message, at any time —
//! while the program compiles, before its run starts, after it ended. It must never block, and
//! a flood must cost nothing: a signal sets its bit in a shared mask and bumps an eventfd, both
//! non-blocking. The supervisor wakes on the eventfd and delivers each pending signal once. As
//! with the kernel's own pending set for standard signals, a signal sent many times before it
//! is delivered is delivered once.
//!
//! Our own code rather than a channel crate: the supervisor waits in poll(2) on the program's
//! pipes, so it needs a descriptor to wake on, and a coalescing mask is what makes the sender
//! both non-blocking and bounded.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rustix::event::EventfdFlags;
use rustix::io::Errno;

use crate::error::SandboxError;

/// The highest signal number on Linux (SIGRTMAX); one bit of the mask each.
pub const MAX_SIGNAL: i32 = 64;

#[derive(Debug)]
struct Shared {
    /// Bit `n - 1` set: signal `n` is waiting for the supervisor.
    pending: AtomicU64,
    /// Non-blocking eventfd, readable while signals may be pending.
    wake: OwnedFd,
}

/// The sending side of a control channel: signals for a running program.
#[derive(Debug, Clone)]
pub struct Controller(Arc<Shared>);

/// The receiving side: pass it as [`crate::RunIo::control`].
#[derive(Debug)]
pub struct ControlReceiver(Arc<Shared>);

/// A control channel: pass the receiver as [`crate::RunIo::control`], keep the [`Controller`].
pub fn control_channel() -> Result<(Controller, ControlReceiver), SandboxError> {
    let wake = rustix::event::eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)
        .map_err(SandboxError::os("create control eventfd"))?;
    let shared = Arc::new(Shared {
        pending: AtomicU64::new(0),
        wake,
    });
    Ok((Controller(Arc::clone(&shared)), ControlReceiver(shared)))
}

fn bit(signal: i32) -> Option<u64> {
    (1..=MAX_SIGNAL).contains(&signal).then(|| 1u64 << (signal - 1))
}

impl Controller {
    /// Deliver `signal` (1..=[`MAX_SIGNAL`]) to the program's process group once its run is
    /// watched; `SIGKILL` ends the whole sandbox. Never blocks. A signal sent again before it
    /// was delivered is delivered once; one sent after the run ended is dropped.
    pub fn signal(&self, signal: i32) -> Result<(), SandboxError> {
        let bit = bit(signal)
            .ok_or_else(|| SandboxError::InvalidSpec(format!("signal {signal} is outside 1..={MAX_SIGNAL}")))?;
        self.0.pending.fetch_or(bit, Ordering::AcqRel);
        match rustix::io::write(&self.0.wake, &1u64.to_ne_bytes()) {
            // EAGAIN: the counter is at its maximum, so the supervisor has a wake-up waiting.
            Ok(_) | Err(Errno::AGAIN) => Ok(()),
            Err(e) => Err(SandboxError::os("wake the run's supervisor")(e)),
        }
    }
}

impl ControlReceiver {
    /// The descriptor to poll for reading.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.0.wake.as_fd()
    }

    /// The signals asked for since the last call, as a mask (bit `n - 1` for signal `n`);
    /// clears the wake-up. The counter is read before the mask is taken, so a
    /// signal sent in between wakes the poll once more rather than being lost.
    pub(crate) fn take(&self) -> u64 {
        let mut counter = [0u8; 8];
        // EAGAIN: no wake-up to clear (a spurious poll, or one taken with an earlier mask).
        let _ = rustix::io::read(&self.0.wake, &mut counter);
        self.0.pending.swap(0, Ordering::AcqRel)
    }
}

/// The signal numbers of a mask from [`ControlReceiver::take`], lowest first.
pub(crate) fn signals(mask: u64) -> impl Iterator<Item = i32> {
    (1..=MAX_SIGNAL).filter(move |&s| bit(s).is_some_and(|b| mask & b != 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readable(receiver: &ControlReceiver) -> bool {
        let fd = receiver.fd();
        let mut fds = [rustix::event::PollFd::new(&fd, rustix::event::PollFlags::IN)];
        let zero = rustix::event::Timespec { tv_sec: 0, tv_nsec: 0 };
        rustix::event::poll(&mut fds, Some(&zero)).expect("poll") == 1
    }

    #[test]
    fn a_flood_is_coalesced_and_never_blocks() {
        let (controller, receiver) = control_channel().expect("channel");
        assert!(!readable(&receiver));
        // Far more than a pipe would hold (16384 four-byte numbers in 64 KiB).
        for _ in 0..100_000 {
            controller.signal(libc::SIGWINCH).expect("signal");
        }
        controller.signal(libc::SIGTERM).expect("signal");
        controller.clone().signal(libc::SIGUSR1).expect("signal from a clone");
        assert!(readable(&receiver));
        let taken: Vec<i32> = signals(receiver.take()).collect();
        assert_eq!(taken, [libc::SIGUSR1, libc::SIGTERM, libc::SIGWINCH]);
        assert!(!readable(&receiver), "the wake-up is cleared");
        assert_eq!(receiver.take(), 0);

        controller.signal(MAX_SIGNAL).expect("SIGRTMAX");
        assert_eq!(signals(receiver.take()).collect::<Vec<_>>(), [MAX_SIGNAL]);
        for bad in [0, -1, MAX_SIGNAL + 1] {
            assert!(controller.signal(bad).is_err(), "{bad}");
        }
        assert_eq!(receiver.take(), 0);
    }

    #[test]
    fn signals_after_the_receiver_is_gone_are_dropped() {
        let (controller, receiver) = control_channel().expect("channel");
        drop(receiver);
        controller
            .signal(libc::SIGKILL)
            .expect("no error, nothing to deliver to");
    }
}
