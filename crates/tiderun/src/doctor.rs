//! `tiderun doctor`: what the kernel offers, what is missing, and what that means.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use sandbox::{RunIo, RunSpec, Sandbox, Status};

pub fn main(runtimes_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let mut healthy = true;
    let mut line = |ok: bool, what: &str, detail: String| {
        healthy &= ok;
        println!("{} {what}: {detail}", if ok { "ok  " } else { "FAIL" });
    };
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    println!("kernel {}", release.trim());
    for ns in ["user", "pid", "mnt", "net", "ipc", "uts", "cgroup"] {
        let present = Path::new("/proc/self/ns").join(ns).exists();
        line(
            present,
            &format!("{ns} namespace"),
            if present { "available".into() } else { "missing".into() },
        );
    }
    let max_userns = read_trimmed("/proc/sys/user/max_user_namespaces");
    line(
        max_userns.as_deref() != Some("0"),
        "user namespaces allowed",
        max_userns.unwrap_or_else(|| "unknown".into()),
    );
    // Distribution switches that keep an ordinary user from making user namespaces (Debian's
    // older kernels, Ubuntu's AppArmor); they do not concern root. /proc/self belongs to the
    // effective uid.
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    for knob in USERNS_SWITCHES.map(|(knob, _)| knob) {
        if let Some(value) = read_trimmed(&format!("/proc/sys/{}", knob.replace('.', "/"))) {
            let (ok, detail) = userns_switch(knob, &value, root);
            line(ok, knob, detail);
        }
    }
    let seccomp = read_trimmed("/proc/sys/kernel/seccomp/actions_avail");
    line(
        seccomp
            .as_deref()
            .is_some_and(|a| a.contains("kill_process") && a.contains("errno")),
        "seccomp filters",
        seccomp.unwrap_or_else(|| "not available".into()),
    );

    let (ok, detail) = core_pattern_verdict(read_trimmed(CORE_PATTERN).as_deref());
    line(ok, "core_pattern", detail);

    match Sandbox::new(crate::sandbox_options()) {
        Ok(sb) => {
            let caps = sb.capabilities();
            line(true, "running as root", caps.privileged.to_string());
            line(
                caps.cgroup_problem.is_none(),
                "cgroups",
                match &caps.cgroup_problem {
                    None => format!("{} (memory, pids and CPU limits enforced)", caps.cgroup_mode),
                    Some(p) if caps.privileged => format!("none: {p}"),
                    Some(p) => format!(
                        "none: {p} (without root, limits need a cgroup delegated to this user: \
                         README, \"Running as an ordinary user\")"
                    ),
                },
            );
            line(
                true,
                "seccomp program",
                format!("{} instructions", caps.seccomp_instructions),
            );
            for what in caps.unenforced() {
                line(false, "not enforced", what.to_string());
            }
            let started = Instant::now();
            let spec = RunSpec::new(vec!["/bin/true".into()]);
            match sb.run(&spec, RunIo::default()) {
                Ok(r) if r.status == Status::Ok => line(
                    true,
                    "sandboxed /bin/true",
                    format!("{:.1} ms", started.elapsed().as_secs_f64() * 1e3),
                ),
                Ok(r) => line(false, "sandboxed /bin/true", format!("status {}", r.status)),
                Err(e) => line(false, "sandboxed /bin/true", error_chain(&e)),
            }
        }
        Err(e) => line(false, "sandbox", error_chain(&e)),
    }
    let catalog = crate::load_catalog(runtimes_dir)?;
    let installed = catalog.iter().filter(|r| r.installed).count();
    line(
        installed > 0,
        "runtimes installed",
        format!("{installed} of {}", catalog.len()),
    );
    Ok(if healthy { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Where the kernel sends core dumps, host-wide.
const CORE_PATTERN: &str = "/proc/sys/kernel/core_pattern";

/// What the host's `core_pattern` means for a sandboxed crash. Programs run with a core limit
/// of 1 byte they cannot change: no core file fits, and the kernel refuses to start a pipe
/// helper at exactly that limit. A socket (`@`, Linux 6.16+) is another matter: the kernel
/// connects to the host's coredump server and sends the dump whatever the limit.
fn core_pattern_verdict(pattern: Option<&str>) -> (bool, String) {
    match pattern {
        None => (true, "unreadable".into()),
        Some(p) if p.starts_with('|') => (
            true,
            format!("{p:?}: a pipe to a helper (the kernel starts none for a sandboxed crash: core limit 1 byte)"),
        ),
        Some(p) if p.starts_with('@') => (
            false,
            format!(
                "{p:?}: a socket; every sandboxed crash reaches the host's coredump server, whatever \
                 the core limit (set a pipe or a file pattern)"
            ),
        ),
        Some(p) => (
            true,
            format!("{p:?}: a file (none is written: a core does not fit in 1 byte)"),
        ),
    }
}

/// Sysctls some distributions add to keep ordinary users from making user namespaces, with
/// the value that does.
const USERNS_SWITCHES: [(&str, &str); 2] = [
    ("kernel.unprivileged_userns_clone", "0"),
    ("kernel.apparmor_restrict_unprivileged_userns", "1"),
];

/// Whether `knob` at `value` lets this user make the sandbox's user namespace, and what to say.
fn userns_switch(knob: &str, value: &str, root: bool) -> (bool, String) {
    let blocks = USERNS_SWITCHES.iter().any(|(k, v)| *k == knob && *v == value);
    if blocks && !root {
        (
            false,
            format!("{value} (an ordinary user cannot make the sandbox's user namespace)"),
        )
    } else if blocks {
        (
            true,
            format!("{value} (ordinary users could not run tiderun; root can)"),
        )
    } else {
        (true, value.to_string())
    }
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(&format!(": {c}"));
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::{core_pattern_verdict, userns_switch};

    #[test]
    fn core_pattern_kinds() {
        let (ok, detail) = core_pattern_verdict(Some("|/usr/share/apport/apport -p%p -s%s -c%c"));
        assert!(ok && detail.contains("a pipe"), "{detail}");
        let (ok, detail) = core_pattern_verdict(Some("core"));
        assert!(ok && detail.contains("a file"), "{detail}");
        let (ok, detail) = core_pattern_verdict(Some("@/run/systemd/coredump"));
        assert!(!ok && detail.contains("a socket"), "{detail}");
        let (ok, detail) = core_pattern_verdict(None);
        assert!(ok && detail == "unreadable", "{detail}");
    }

    #[test]
    fn user_namespace_switches_fail_only_an_ordinary_user() {
        let clone = "kernel.unprivileged_userns_clone";
        let apparmor = "kernel.apparmor_restrict_unprivileged_userns";
        assert!(!userns_switch(clone, "0", false).0);
        assert!(userns_switch(clone, "0", true).0);
        assert!(userns_switch(clone, "1", false).0);
        assert!(!userns_switch(apparmor, "1", false).0);
        assert!(userns_switch(apparmor, "0", false).0);
    }
}
