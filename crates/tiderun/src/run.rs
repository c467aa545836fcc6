//! `tiderun run`: one program through the engine, output passed through or as JSON.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
use engine::{Checked, Engine, Interaction, Job, LimitRequest, PhaseRequest, RequestLimits, SourceFile};
use sandbox::{Output, Sandbox, Status, Stdin, StreamKind};

/// Largest source file read from disk.
const MAX_SOURCE_BYTES: u64 = 16 << 20;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Language name or alias (python, py, javascript, c, c++, java, rust, bash, perl, ...).
    #[arg(short, long)]
    language: String,
    /// Version selector (`3.x`, `*`).
    #[arg(long)]
    version: Option<String>,
    /// Text given to the program's stdin (default: this terminal's stdin, live).
    #[arg(long, conflicts_with = "stdin_file")]
    stdin: Option<String>,
    /// A file given to the program's stdin.
    #[arg(long)]
    stdin_file: Option<PathBuf>,
    /// Wall-clock limit in milliseconds.
    #[arg(long)]
    wall_ms: Option<u64>,
    /// CPU time limit in milliseconds.
    #[arg(long)]
    cpu_ms: Option<u64>,
    /// Memory limit in MiB.
    #[arg(long)]
    memory_mb: Option<u64>,
    /// Cap on stdout + stderr bytes.
    #[arg(long)]
    max_output_bytes: Option<u64>,
    /// Print one JSON object instead of the program's output: the answer `POST /api/v1/run`
    /// gives (status, language, version, compile, run).
    #[arg(long)]
    json: bool,
    /// Source files; the first is the main one.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Arguments for the program, after `--`.
    #[arg(last = true)]
    args: Vec<String>,
}

pub fn main(runtimes_dir: Option<&Path>, a: RunArgs) -> anyhow::Result<ExitCode> {
    let files = a
        .files
        .iter()
        .map(|p| read_source(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let stdin = match (&a.stdin, &a.stdin_file) {
        (Some(text), _) => Some(text.as_bytes().to_vec()),
        (None, Some(path)) => Some(std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?),
        (None, None) => None,
    };
    let job = Job {
        language: a.language.clone(),
        version: a.version.clone(),
        files,
        args: a.args.clone(),
        limits: LimitRequest {
            run: PhaseRequest {
                cpu_ms: a.cpu_ms,
                wall_ms: a.wall_ms,
                memory_mib: a.memory_mb,
                max_output_bytes: a.max_output_bytes,
                ..PhaseRequest::default()
            },
            ..LimitRequest::default()
        },
        // As `POST /api/v1/run`: the images a run leaves (a plot) come back in the JSON answer;
        // without `--json` there is nowhere to show them.
        images: a.json,
        ..Job::default()
    };
    let catalog = crate::load_catalog(runtimes_dir)?;
    // The engine's one check (the same as the server's), before paying for the sandbox
    // set-up: a bad language or limit gets the same one line whatever this host enforces.
    let job = Checked::new(job, &catalog, RequestLimits::default())?;
    let sandbox = Sandbox::new(crate::sandbox_options()).context("cannot start the sandbox")?;
    warn_unenforced(&sandbox);
    let engine = Engine::new(catalog, sandbox).with_request_limits(RequestLimits::default());

    if a.json {
        let outcome = engine.execute(&job, Interaction::with_stdin(stdin.unwrap_or_default()))?;
        let code = exit_code(outcome.status, outcome.run.as_ref().and_then(|r| r.exit_code));
        // The engine has no wire format: this is the native API's answer, as
        // `POST /api/v1/run` gives it.
        let answer = server::native::RunResponse::from(outcome);
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(code);
    }

    let stdin = match stdin {
        Some(bytes) => Stdin::Bytes(bytes),
        None => Stdin::Pipe(pump_own_stdin()?),
    };
    let mut sink = |kind: StreamKind, chunk: &[u8]| {
        let _ = match kind {
            StreamKind::Stdout => std::io::stdout()
                .write_all(chunk)
                .and_then(|_| std::io::stdout().flush()),
            StreamKind::Stderr => std::io::stderr().write_all(chunk),
        };
    };
    let io = Interaction {
        stdin,
        output: Output::Stream(&mut sink),
        control: None,
        waiting: None,
    };
    let outcome = engine.execute(&job, io)?;
    if let Some(compile) = outcome
        .compile
        .as_ref()
        .filter(|_| outcome.status == Status::CompileError)
    {
        std::io::stderr().write_all(&compile.stdout)?;
        std::io::stderr().write_all(&compile.stderr)?;
        eprintln!(
            "tiderun: compile_error{}",
            compile.message.as_ref().map(|m| format!(": {m}")).unwrap_or_default()
        );
    } else if let Some(run) = outcome
        .run
        .as_ref()
        .filter(|r| !matches!(r.status, Status::Ok | Status::RuntimeError))
    {
        eprintln!(
            "tiderun: {}{}",
            run.status,
            run.message.as_ref().map(|m| format!(": {m}")).unwrap_or_default()
        );
    }
    Ok(exit_code(
        outcome.status,
        outcome.run.as_ref().and_then(|r| r.exit_code),
    ))
}

fn read_source(path: &Path) -> anyhow::Result<SourceFile> {
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_file() {
        bail!("{} is not a file", path.display());
    }
    if meta.len() > MAX_SOURCE_BYTES {
        bail!("{} is larger than {MAX_SOURCE_BYTES} bytes", path.display());
    }
    let content = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    Ok(SourceFile { name, content })
}

/// The program reads a pipe fed from our stdin by a thread, never our stdin itself: a
/// terminal handed into the sandbox would be a way out (TIOCSTI, job control).
fn pump_own_stdin() -> anyhow::Result<std::os::fd::OwnedFd> {
    let (read, write) = sandbox::stdin_pipe()?;
    std::thread::spawn(move || {
        let mut out = std::fs::File::from(write);
        let mut buf = [0u8; 8192];
        let mut input = std::io::stdin().lock();
        loop {
            match input.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if out.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
    });
    Ok(read)
}

/// The program's own exit code, or a shell-like code for a limit.
fn exit_code(status: Status, code: Option<i32>) -> ExitCode {
    let code = match status {
        Status::Ok => 0,
        Status::RuntimeError => code.unwrap_or(1),
        Status::CompileError => 1,
        Status::InternalError => 2,
        // 128 + SIGKILL, as a shell reports a killed command.
        _ => 137,
    };
    ExitCode::from(code.clamp(0, 255) as u8)
}

fn warn_unenforced(sandbox: &Sandbox) {
    for what in sandbox.capabilities().unenforced() {
        eprintln!("tiderun: warning: not enforced on this host: {what}");
    }
}
