//! A runtime's own compile and run commands from the catalog (`Runtime::plan_files`: templates
//! and vars expanded as the engine expands them), executed directly — no sandbox, no server —
//! in a fresh directory with a sandbox-like environment: the plan's (PATH, LANG, the runtime's
//! `[env]`), HOME the work dir and TMPDIR as the sandbox sets them. These are the runtimes' own
//! hello worlds, not hostile programs.
//!
//! As in the sandbox, a compile gets a `/tmp` of its own (several runtime files name fixed
//! paths in it: GHC's `-outputdir /tmp/ghc`, Go's `GOCACHE=/tmp/go-build`, Nim's cache, NASM's
//! object file), so no compile finds what an earlier one left there: as root, the compile
//! starts in a private mount namespace with a fresh tmpfs on `/tmp`. Without root it shares
//! the host's `/tmp` ([`Bare::private_tmp`] says which, and the report too).

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// Most time one bare command (a compile or a run) may take before it is killed and counted
/// as an error: Kotlin's or Scala's compiler takes several seconds on a loaded machine.
pub const BARE_TIMEOUT: Duration = Duration::from_secs(120);
/// Bytes of a failed command's stderr quoted in the error.
const STDERR_QUOTED_BYTES: usize = 300;

/// One runtime's bare commands for one program's file names.
#[derive(Debug, Clone)]
pub struct Bare {
    compile: Option<runtimes::Command>,
    run: runtimes::Command,
    /// Compiles get a fresh `/tmp` of their own (needs root).
    pub private_tmp: bool,
}

/// A program written and (for a compiled language) built in a directory of its own, which
/// [`Bare::again`] runs again; removed when dropped.
#[derive(Debug)]
pub struct Built {
    root: tempfile::TempDir,
}

impl Built {
    fn work(&self) -> PathBuf {
        self.root.path().join("work")
    }
}

/// What one bare execution gave.
#[derive(Debug)]
pub struct Ran {
    pub took: Duration,
    pub stdout: String,
}

impl Bare {
    /// The plan of `runtime` for `files` (the main one first), with no arguments.
    pub fn new(runtime: &runtimes::Runtime, files: &[&str]) -> anyhow::Result<Bare> {
        let plan = runtime
            .plan_files(files, &[])
            .with_context(|| format!("{}: no plan for {files:?}", runtime.name))?;
        Ok(Bare {
            compile: plan.compile,
            run: plan.run,
            private_tmp: rustix::process::geteuid().is_root(),
        })
    }

    /// The commands, for the report: `compile argv && run argv`.
    pub fn command(&self) -> String {
        let run = shown(&self.run.argv);
        match &self.compile {
            Some(c) => format!("{} && {run}", shown(&c.argv)),
            None => run,
        }
    }

    /// A first submission: `files` written into a fresh directory under `parent`, compiled
    /// when the runtime compiles, and run. The time is the compile's and the run's.
    pub fn first(&self, files: &[(String, String)], parent: &Path) -> anyhow::Result<(Ran, Built)> {
        let root = tempfile::Builder::new().prefix("round-").tempdir_in(parent)?;
        let built = Built { root };
        let work = built.work();
        std::fs::create_dir(&work)?;
        std::fs::create_dir(built.root.path().join("tmp"))?;
        for (name, text) in files {
            let path = work.join(name);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&path, text)?;
        }
        let mut took = Duration::ZERO;
        if let Some(compile) = &self.compile {
            let (t, status) = self.execute(compile, &built, self.private_tmp, "compile")?;
            took += t;
            if !status.success() {
                bail!(
                    "bare compile exited with {status}: {}",
                    tail(&built.root.path().join("compile.stderr"))
                );
            }
        }
        let ran = self.again(&built)?;
        Ok((
            Ran {
                took: took + ran.took,
                stdout: ran.stdout,
            },
            built,
        ))
    }

    /// A resubmission: the run command again in the directory of `built` (its build reused).
    pub fn again(&self, built: &Built) -> anyhow::Result<Ran> {
        let (took, status) = self.execute(&self.run, built, false, "run")?;
        if !status.success() {
            bail!(
                "bare run exited with {status}: {}",
                tail(&built.root.path().join("run.stderr"))
            );
        }
        let stdout = std::fs::read(built.root.path().join("run.stdout"))?;
        Ok(Ran {
            took,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
        })
    }

    /// Start `cmd` in the work dir of `built` with the sandbox-like environment, its stdout
    /// and stderr in files beside the work dir (`STEP.stdout`, `STEP.stderr`), and wait for it
    /// (at most [`BARE_TIMEOUT`]): the time from just before the start to its exit.
    fn execute(
        &self,
        cmd: &runtimes::Command,
        built: &Built,
        private_tmp: bool,
        step: &str,
    ) -> anyhow::Result<(Duration, ExitStatus)> {
        let root = built.root.path();
        let work = built.work();
        let tmpdir = if private_tmp {
            PathBuf::from("/tmp")
        } else {
            root.join("tmp")
        };
        let mut command = Command::new(&cmd.argv[0]);
        command
            .args(&cmd.argv[1..])
            .env_clear()
            .envs(cmd.env.iter().map(|(k, v)| (k, v)))
            .env("HOME", &work)
            .env("TMPDIR", &tmpdir)
            .current_dir(&work)
            .stdin(Stdio::null())
            .stdout(File::create(root.join(format!("{step}.stdout")))?)
            .stderr(File::create(root.join(format!("{step}.stderr")))?)
            // A group of its own, so a timeout kills the compiler's children too.
            .process_group(0);
        if private_tmp {
            // SAFETY: the closure runs in the forked child before exec and makes only raw
            // system calls through rustix (paths shorter than its stack buffer: no allocation).
            unsafe {
                command.pre_exec(|| {
                    rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS)?;
                    rustix::mount::mount_change(
                        "/",
                        rustix::mount::MountPropagationFlags::PRIVATE | rustix::mount::MountPropagationFlags::REC,
                    )?;
                    rustix::mount::mount(
                        "tmpfs",
                        "/tmp",
                        "tmpfs",
                        rustix::mount::MountFlags::NOSUID | rustix::mount::MountFlags::NODEV,
                        None,
                    )?;
                    Ok(())
                });
            }
        }
        let started = Instant::now();
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {}", cmd.argv[0]))?;
        let exited = wait_exit(&child, BARE_TIMEOUT);
        if !matches!(exited, Ok(true)) {
            if let Some(group) = rustix::process::Pid::from_raw(child.id() as i32) {
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            }
            let _ = child.wait();
            exited?;
            bail!(
                "bare {step} did not end within {BARE_TIMEOUT:?}: {}",
                cmd.argv.join(" ")
            );
        }
        let status = child.wait()?;
        Ok((started.elapsed(), status))
    }
}

/// Wait until `child` exits (true) or `timeout` passes (false), through a pidfd: no polling
/// interval adds to the measured time.
fn wait_exit(child: &std::process::Child, timeout: Duration) -> anyhow::Result<bool> {
    let pid = rustix::process::Pid::from_child(child);
    let pidfd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())?;
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let spec = rustix::event::Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        let mut fds = [rustix::event::PollFd::new(&pidfd, rustix::event::PollFlags::IN)];
        match rustix::event::poll(&mut fds, Some(&spec)) {
            Ok(0) => return Ok(false),
            Ok(_) => return Ok(true),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// An argv on one line: an argument with whitespace, quotes or a backslash in it quoted and
/// escaped (`"-ldflags=-s -w"`, a script's newlines as `\n`), the others as they are.
pub fn shown(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            let plain = !a.is_empty()
                && !a
                    .chars()
                    .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | '`'));
            if plain {
                a.clone()
            } else {
                format!("{a:?}")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The last bytes of a file (a failed command's stderr), on one line.
fn tail(path: &Path) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text[text.len().saturating_sub(STDERR_QUOTED_BYTES)..]).into_owned();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_argv_is_shown_on_one_line() {
        let argv: Vec<String> = ["/bin/sh", "-c", "a \"$1\"\nexec b", "-ldflags=-s -w", "", "main.c"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            shown(&argv),
            r#"/bin/sh -c "a \"$1\"\nexec b" "-ldflags=-s -w" "" main.c"#
        );
    }
}
