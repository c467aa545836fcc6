//! Signal names as Piston speaks them (`"SIGKILL"`), and their numbers.
//!
//! The numbers are Linux's generic ones (x86, ARM, RISC-V, PowerPC, s390x); the unit test
//! checks them against libc on the build machine. Names Linux has no signal for (Piston's
//! list also carries `SIGEMT`, `SIGINFO`, `SIGLOST`) are not accepted.

/// Name and number; the first entry of a number is its canonical name.
const SIGNALS: &[(&str, i32)] = &[
    ("SIGHUP", 1),
    ("SIGINT", 2),
    ("SIGQUIT", 3),
    ("SIGILL", 4),
    ("SIGTRAP", 5),
    ("SIGABRT", 6),
    ("SIGIOT", 6),
    ("SIGBUS", 7),
    ("SIGFPE", 8),
    ("SIGKILL", 9),
    ("SIGUSR1", 10),
    ("SIGSEGV", 11),
    ("SIGUSR2", 12),
    ("SIGPIPE", 13),
    ("SIGALRM", 14),
    ("SIGTERM", 15),
    ("SIGSTKFLT", 16),
    ("SIGCHLD", 17),
    ("SIGCLD", 17),
    ("SIGCONT", 18),
    ("SIGSTOP", 19),
    ("SIGTSTP", 20),
    ("SIGTTIN", 21),
    ("SIGTTOU", 22),
    ("SIGURG", 23),
    ("SIGXCPU", 24),
    ("SIGXFSZ", 25),
    ("SIGVTALRM", 26),
    ("SIGPROF", 27),
    ("SIGWINCH", 28),
    ("SIGIO", 29),
    ("SIGPOLL", 29),
    ("SIGPWR", 30),
    ("SIGSYS", 31),
    ("SIGUNUSED", 31),
];

/// The number of `SIGTERM`-style `name`, if Linux has such a signal.
pub fn number(name: &str) -> Option<i32> {
    SIGNALS.iter().find(|(n, _)| *n == name).map(|&(_, s)| s)
}

/// The canonical name of signal `number` (`9` is `"SIGKILL"`); real-time and unknown numbers
/// are `"SIG<n>"`.
pub fn name(number: i32) -> String {
    match SIGNALS.iter().find(|&&(_, s)| s == number) {
        Some((n, _)) => (*n).to_string(),
        None => format!("SIG{number}"),
    }
}

/// `SIGKILL`, for the engine's "kill" requests.
pub const SIGKILL: i32 = 9;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_libc() {
        let expected = [
            ("SIGHUP", libc::SIGHUP),
            ("SIGINT", libc::SIGINT),
            ("SIGQUIT", libc::SIGQUIT),
            ("SIGILL", libc::SIGILL),
            ("SIGTRAP", libc::SIGTRAP),
            ("SIGABRT", libc::SIGABRT),
            ("SIGIOT", libc::SIGIOT),
            ("SIGBUS", libc::SIGBUS),
            ("SIGFPE", libc::SIGFPE),
            ("SIGKILL", libc::SIGKILL),
            ("SIGUSR1", libc::SIGUSR1),
            ("SIGSEGV", libc::SIGSEGV),
            ("SIGUSR2", libc::SIGUSR2),
            ("SIGPIPE", libc::SIGPIPE),
            ("SIGALRM", libc::SIGALRM),
            ("SIGTERM", libc::SIGTERM),
            ("SIGSTKFLT", libc::SIGSTKFLT),
            ("SIGCHLD", libc::SIGCHLD),
            ("SIGCONT", libc::SIGCONT),
            ("SIGSTOP", libc::SIGSTOP),
            ("SIGTSTP", libc::SIGTSTP),
            ("SIGTTIN", libc::SIGTTIN),
            ("SIGTTOU", libc::SIGTTOU),
            ("SIGURG", libc::SIGURG),
            ("SIGXCPU", libc::SIGXCPU),
            ("SIGXFSZ", libc::SIGXFSZ),
            ("SIGVTALRM", libc::SIGVTALRM),
            ("SIGPROF", libc::SIGPROF),
            ("SIGWINCH", libc::SIGWINCH),
            ("SIGIO", libc::SIGIO),
            ("SIGPOLL", libc::SIGPOLL),
            ("SIGPWR", libc::SIGPWR),
            ("SIGSYS", libc::SIGSYS),
        ];
        for (n, s) in expected {
            assert_eq!(number(n), Some(s), "{n}");
        }
        assert_eq!(SIGKILL, libc::SIGKILL);
        assert_eq!(name(libc::SIGKILL), "SIGKILL");
        assert_eq!(name(libc::SIGABRT), "SIGABRT");
        assert_eq!(name(libc::SIGCHLD), "SIGCHLD");
        assert_eq!(name(40), "SIG40");
        assert_eq!(number("SIGEMT"), None);
        assert_eq!(number("sigterm"), None);
        assert_eq!(number("15"), None);
        // Every name maps to a signal the sandbox's control channel carries.
        assert!(SIGNALS.iter().all(|&(_, n)| (1..=sandbox::MAX_SIGNAL).contains(&n)));
    }
}
