//! `tiderun serve` as a child process of the harness: a loopback port the server picks (port 0,
//! read back from the first line it prints; a build without that gets a free port picked here),
//! a temporary data dir, settings that keep the rate limit and the admission queue out of the measurement, and
//! a stop (SIGTERM, then SIGKILL) that also happens when the harness fails half-way.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// Runs waiting for a slot before the server refuses with 429: above the largest burst.
const MAX_WAITING: usize = 1024;
/// Seconds a run may wait for a slot: a burst of 200 drains well within this.
const MAX_WAIT_S: u64 = 120;
/// Idle seconds after which warm pools drain, when the server has pools.
pub const POOL_IDLE_S: u64 = 3;
/// How long the server may take to answer `/healthz` (it detects toolchains at start-up).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a graceful stop may take before the server is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(40);

/// A running `tiderun serve`.
#[derive(Debug)]
pub struct Server {
    child: Child,
    pub base: String,
    /// Its arguments, for the report.
    pub args: Vec<String>,
    /// `Some` when the server has warm pools that drain after this many idle seconds.
    pub pool_idle_s: Option<u64>,
    /// Where its stderr (the log) goes.
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Start `exe serve` with the harness's settings, then `extra` (the caller's, which win
    /// over the harness's for the flags they name).
    pub fn start(exe: &Path, extra: &[String]) -> anyhow::Result<Server> {
        let dir = tempfile::Builder::new().prefix("tiderun-bench-").tempdir()?;
        let help = help(exe)?;
        let has_pools = help.contains("--pool-idle-s");
        // A port picked here and released may be taken by another process before the server
        // binds it (tests run in parallel): a server that says where it listens picks its own.
        let prints_addr = help.contains("port 0");
        let port = if prints_addr { 0 } else { free_port()? };
        let mut args = vec!["serve".to_string()];
        let mut set = |flag: &str, value: String| {
            let named = extra.iter().any(|a| a == flag || a.starts_with(&format!("{flag}=")));
            if !named {
                args.push(format!("{flag}={value}"));
            }
        };
        set("--addr", format!("127.0.0.1:{port}"));
        set("--data-dir", dir.path().join("data").display().to_string());
        set("--rate-limit", "0".into());
        set("--max-waiting", MAX_WAITING.to_string());
        set("--max-wait-s", MAX_WAIT_S.to_string());
        if has_pools {
            set("--pool-idle-s", POOL_IDLE_S.to_string());
        }
        args.extend(extra.iter().cloned());
        let log = dir.path().join("server.log");
        let mut child = Command::new(exe)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .with_context(|| format!("cannot start {}", exe.display()))?;
        let banner = read_banner(child.stdout.take().expect("piped"));
        let base = if prints_addr {
            match banner.recv_timeout(START_TIMEOUT) {
                Ok(line) => match line.strip_prefix("tiderun serving on ") {
                    Some(url) => url.trim().to_owned(),
                    None => bail!("the server's first line does not say where it listens: {line}"),
                },
                Err(_) => {
                    let _ = child.kill();
                    let status = child.wait()?;
                    bail!("the server did not say where it listens ({status}): {}", tail(&log));
                }
            }
        } else {
            let named = args.iter().rev().find_map(|a| a.strip_prefix("--addr="));
            format!(
                "http://{}",
                named.map_or_else(|| format!("127.0.0.1:{port}"), str::to_owned)
            )
        };
        let pool_idle_s = has_pools.then(|| {
            extra
                .iter()
                .find_map(|a| a.strip_prefix("--pool-idle-s=")?.parse().ok())
                .unwrap_or(POOL_IDLE_S)
        });
        Ok(Server {
            child,
            base,
            args,
            pool_idle_s,
            log,
            _dir: dir,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait until `/healthz` answers; fail with the server's own words if it exited.
    pub async fn wait_ready(&mut self, http: &reqwest::Client) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("the server exited at start-up ({status}): {}", self.stderr_tail());
            }
            if let Ok(r) = http.get(format!("{}/healthz", self.base)).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            if started.elapsed() > START_TIMEOUT {
                bail!(
                    "the server did not answer within {START_TIMEOUT:?}: {}",
                    self.stderr_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The server's resident memory now (VmRSS), KiB.
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:")?.split_whitespace().next()?.parse().ok())
            .context("no VmRSS in /proc/<pid>/status")
    }

    /// The last lines the server wrote to stderr.
    pub fn stderr_tail(&self) -> String {
        tail(&self.log)
    }

    /// SIGTERM (graceful shutdown), then SIGKILL after [`STOP_TIMEOUT`].
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.terminate();
        let started = Instant::now();
        while started.elapsed() < STOP_TIMEOUT {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("the server stopped with {status}: {}", self.stderr_tail());
                }
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("the server did not stop within {STOP_TIMEOUT:?} of SIGTERM")
    }

    fn terminate(&self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.pid() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A harness that failed half-way leaves nothing running.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The last lines of a log.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}

/// The first line the server prints, sent once it comes; the rest of its stdout is read and
/// dropped so the server never blocks on a full pipe.
fn read_banner(stdout: std::process::ChildStdout) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = std::io::BufReader::new(stdout).lines();
        if let Some(Ok(first)) = lines.next() {
            let _ = tx.send(first);
        }
        for _ in lines {}
    });
    rx
}

/// `exe serve --help`, to see which flags this build of the server has.
fn help(exe: &Path) -> anyhow::Result<String> {
    let out = Command::new(exe)
        .args(["serve", "--help"])
        .output()
        .with_context(|| format!("cannot run {} serve --help", exe.display()))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A loopback port nobody listens on now (the kernel's pick, released for the server).
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
