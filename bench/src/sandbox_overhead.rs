//! Per-run sandbox overhead: a prebuilt C hello world run through the sandbox vs spawned bare,
//! interleaved in one process so both see the same machine state.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use sandbox::{InputFile, RunIo, RunSpec, Sandbox, SandboxOptions, Status};

use crate::stats::{ms, Summary};

const HELLO_C: &str = "#include <stdio.h>\nint main(void) { puts(\"Hello, world!\"); return 0; }\n";

/// What one benchmark run measured.
#[derive(Debug)]
pub struct Report {
    pub bare: Summary,
    pub sandboxed: Summary,
    /// The same, sharing the host network namespace (shows what the fresh netns costs).
    pub sandboxed_host_net: Summary,
    pub cgroup_mode: &'static str,
}

impl Report {
    /// A markdown table.
    pub fn markdown(&self) -> String {
        let row = |name: &str, s: &Summary| {
            format!(
                "| {name} | {} | {} | {} | {} | {} |\n",
                s.n,
                ms(s.min),
                ms(s.p50),
                ms(s.p99),
                ms(s.mean)
            )
        };
        let overhead = self.sandboxed.p50.saturating_sub(self.bare.p50);
        let mut out = String::from("| path | runs | min ms | p50 ms | p99 ms | mean ms |\n|---|---|---|---|---|---|\n");
        out += &row("bare fork+exec of hello (std::process::Command)", &self.bare);
        out += &row(
            &format!("tiderun sandbox (cgroup {})", self.cgroup_mode),
            &self.sandboxed,
        );
        out += &row("tiderun sandbox, host network namespace", &self.sandboxed_host_net);
        out += &format!(
            "\n**Per-run sandbox overhead (p50 sandbox − p50 bare): {} ms**\n",
            ms(overhead)
        );
        out
    }
}

/// Compile hello world with the host's gcc and time `runs` runs of each path, interleaved.
pub fn run(runs: usize) -> anyhow::Result<Report> {
    let dir = tempfile::tempdir()?;
    let binary = compile_hello(dir.path())?;
    let content = std::fs::read(&binary)?;
    let sb = Sandbox::new(SandboxOptions::default()).context("cannot start the sandbox")?;
    let mut spec = RunSpec::new(vec!["./hello".into()]);
    spec.files.push(InputFile {
        path: "hello".into(),
        content,
        executable: true,
        read_only: false,
    });
    let mut host_net = spec.clone();
    host_net.network = true;

    let sandboxed_once = |spec: &RunSpec| -> anyhow::Result<Duration> {
        let started = Instant::now();
        let r = sb.run(spec, RunIo::default())?;
        let took = started.elapsed();
        if r.status != Status::Ok || r.stdout != b"Hello, world!\n" {
            bail!(
                "sandboxed hello world failed: {} {:?}",
                r.status,
                String::from_utf8_lossy(&r.stderr)
            );
        }
        Ok(took)
    };
    let bare_once = || -> anyhow::Result<Duration> {
        let started = Instant::now();
        let out = Command::new(&binary)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()?;
        let took = started.elapsed();
        if out.stdout != b"Hello, world!\n" {
            bail!("bare hello world failed");
        }
        Ok(took)
    };
    // Warm up caches (page cache, dentries, the cgroup tree) before measuring.
    for _ in 0..20 {
        bare_once()?;
        sandboxed_once(&spec)?;
    }
    let (mut bare, mut sandboxed, mut net) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        bare.push(bare_once()?);
        sandboxed.push(sandboxed_once(&spec)?);
        net.push(sandboxed_once(&host_net)?);
    }
    Ok(Report {
        bare: Summary::of(&bare),
        sandboxed: Summary::of(&sandboxed),
        sandboxed_host_net: Summary::of(&net),
        cgroup_mode: sb.capabilities().cgroup_mode,
    })
}

fn compile_hello(dir: &Path) -> anyhow::Result<std::path::PathBuf> {
    let src = dir.join("hello.c");
    std::fs::write(&src, HELLO_C)?;
    let out = dir.join("hello");
    let status = Command::new("/usr/bin/gcc")
        .args(["-O2", "-o"])
        .arg(&out)
        .arg(&src)
        .status()?;
    if !status.success() {
        bail!("gcc failed to build the hello world");
    }
    Ok(out)
}
