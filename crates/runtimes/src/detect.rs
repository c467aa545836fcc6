//! Running a toolchain's own commands at detection: `[vars]` and `detect`, with a timeout.
//!
//! This is the only place the crate starts processes. Toolchains are trusted host programs, but
//! a hung one must not stall start-up: every command gets [`DETECT_TIMEOUT`] and is killed after.

use std::env;
use std::fmt::Write as _;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How long one detection command may take: a cold JVM or a rustup proxy start in well under a
/// second, 10 s covers a loaded machine without hanging start-up on a broken toolchain.
pub const DETECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Output kept from a detection command, per stream: banners are a line or two.
const DETECT_OUTPUT_CAP_BYTES: u64 = 64 * 1024;
/// How often a running detection command is polled for exit.
const POLL_INTERVAL: Duration = Duration::from_millis(2);
/// How long to wait for the pipes to close after the command exited (a daemon it left behind
/// may hold them open).
const PIPE_GRACE: Duration = Duration::from_secs(1);

/// Where the environment of a detection command comes from.
pub(crate) enum Env<'a> {
    /// The host's environment (for `[vars]`: a rustup proxy needs HOME and RUSTUP_HOME).
    Host,
    /// Exactly these variables, as a sandboxed command would see (for `detect`).
    Exactly(&'a [(String, String)]),
}

/// Output of a finished command.
pub(crate) struct Captured {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs `argv` with stdin from /dev/null in `/`, capturing capped stdout and stderr.
/// Returns a human-readable reason on failure.
pub(crate) fn run_captured(argv: &[String], env: Env<'_>, timeout: Duration) -> Result<Captured, String> {
    let Some((program, args)) = argv.split_first() else {
        return Err("empty command".to_owned());
    };
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Env::Exactly(vars) = env {
        command.env_clear();
        command.envs(vars.iter().map(|(k, v)| (k, v)));
    }
    let shown = display_argv(argv);
    let mut child = command.spawn().map_err(|e| format!("cannot start `{shown}`: {e}"))?;
    let stdout = child.stdout.take().map(spawn_reader);
    let stderr = child.stderr.take().map(spawn_reader);

    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                // Best effort: the child may have exited between try_wait and kill.
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("`{shown}` did not finish within {} s", timeout.as_secs()));
            }
            Ok(None) => thread::sleep(POLL_INTERVAL),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("cannot wait for `{shown}`: {e}"));
            }
        }
    };
    let collect = |rx: Option<mpsc::Receiver<Vec<u8>>>| -> Result<String, String> {
        match rx {
            None => Ok(String::new()),
            Some(rx) => rx
                .recv_timeout(PIPE_GRACE)
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .map_err(|_| format!("`{shown}` exited but left its output open")),
        }
    };
    Ok(Captured {
        status,
        stdout: collect(stdout)?,
        stderr: collect(stderr)?,
    })
}

/// Reads up to [`DETECT_OUTPUT_CAP_BYTES`] on a detached thread and drains the rest, so a
/// chatty program never blocks on a full pipe. Detached (not scoped) so that a grandchild
/// holding the pipe cannot stall detection: the caller stops waiting after [`PIPE_GRACE`].
fn spawn_reader<R: Read + Send + 'static>(mut reader: R) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    let work = move || {
        let mut buf = Vec::new();
        let _ = (&mut reader).take(DETECT_OUTPUT_CAP_BYTES).read_to_end(&mut buf);
        let _ = io::copy(&mut reader, &mut io::sink());
        let _ = tx.send(buf);
    };
    // If no thread can be started the receiver sees a closed channel and reports the output
    // as left open, which marks the runtime missing with a reason instead of panicking.
    let _ = thread::Builder::new().name("detect-reader".to_owned()).spawn(work);
    rx
}

/// Finds a bare program name on the host PATH, then in `~/.cargo/bin` (rustup's proxies).
pub(crate) fn find_program(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = env::var_os("PATH")
        .map(|p| env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".cargo").join("bin"));
    }
    dirs.into_iter()
        .filter(|d| d.is_absolute())
        .map(|d| d.join(name))
        .find(|p| check_executable(p).is_ok())
}

/// Ok when `path` (following symlinks) is a regular file with an execute bit.
pub(crate) fn check_executable(path: &Path) -> Result<(), String> {
    match path.metadata() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(format!("{} does not exist", path.display())),
        Err(e) => Err(format!("cannot inspect {}: {e}", path.display())),
        Ok(m) if !m.is_file() => Err(format!("{} is not a file", path.display())),
        Ok(m) if m.permissions().mode() & 0o111 == 0 => Err(format!("{} is not executable", path.display())),
        Ok(_) => Ok(()),
    }
}

/// `argv` joined with spaces, elements holding spaces quoted, for messages.
pub(crate) fn display_argv(argv: &[String]) -> String {
    let mut out = String::new();
    for (i, a) in argv.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if a.is_empty() || a.contains(char::is_whitespace) {
            let _ = write!(out, "{a:?}");
        } else {
            out.push_str(a);
        }
    }
    out
}

/// The first non-empty line of `text`, at most 200 characters, for messages.
pub(crate) fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .chars()
        .take(200)
        .collect()
}

/// Evaluates one `[vars]` entry: the trimmed, single-line stdout of a host command.
pub(crate) fn eval_var(name: &str, argv: &[String]) -> Result<String, String> {
    let Some(program) = argv.first() else {
        return Err(format!("vars.{name} is empty"));
    };
    let mut argv = argv.to_vec();
    if !program.starts_with('/') {
        let found = find_program(program)
            .ok_or_else(|| format!("vars.{name}: {program} not found on PATH or in ~/.cargo/bin"))?;
        argv[0] = found.to_string_lossy().into_owned();
    }
    let out = run_captured(&argv, Env::Host, DETECT_TIMEOUT).map_err(|e| format!("vars.{name}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "vars.{name}: `{}` failed ({}): {}",
            display_argv(&argv),
            out.status,
            first_line(&out.stderr)
        ));
    }
    let value = out.stdout.trim();
    if value.is_empty() || value.contains(['\n', '\0']) {
        return Err(format!(
            "vars.{name}: `{}` must print exactly one line",
            display_argv(&argv)
        ));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn captures_both_streams_with_exact_env() {
        let env = [("GREETING".to_owned(), "hi".to_owned())];
        let out = run_captured(
            &argv(&["/bin/sh", "-c", "echo $GREETING; echo ${HOME:-nohome} >&2"]),
            Env::Exactly(&env),
            DETECT_TIMEOUT,
        )
        .expect("sh runs");
        assert!(out.status.success());
        assert_eq!(out.stdout, "hi\n");
        assert_eq!(out.stderr, "nohome\n");
    }

    #[test]
    fn kills_on_timeout() {
        let started = Instant::now();
        let err = run_captured(&argv(&["/bin/sleep", "5"]), Env::Host, Duration::from_millis(100))
            .err()
            .expect("times out");
        assert!(err.contains("did not finish"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn missing_program_is_a_reason_not_a_panic() {
        let err = run_captured(&argv(&["/nonexistent/bin/x"]), Env::Host, DETECT_TIMEOUT)
            .err()
            .expect("fails");
        assert!(err.contains("/nonexistent/bin/x"), "{err}");
        assert!(check_executable(Path::new("/nonexistent/bin/x")).is_err());
        let dir = tempfile::tempdir().expect("temp dir");
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "x").expect("write");
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(check_executable(&plain)
            .expect_err("not executable")
            .contains("is not executable"));
        assert!(check_executable(dir.path())
            .expect_err("a directory")
            .contains("is not a file"));
        assert!(check_executable(Path::new("/bin/sh")).is_ok());
    }

    #[test]
    fn var_is_one_trimmed_line() {
        assert_eq!(
            eval_var("x", &argv(&["echo", "  /opt/x  "])).expect("echo on PATH"),
            "/opt/x"
        );
        assert!(eval_var("x", &argv(&["/bin/sh", "-c", "printf 'a\\nb\\n'"])).is_err());
        assert!(eval_var("x", &argv(&["/bin/false"])).is_err());
        assert!(eval_var("x", &argv(&["no-such-program-tiderun"])).is_err());
    }
}
