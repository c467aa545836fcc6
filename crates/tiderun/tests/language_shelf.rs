//! The language shelf: every runtime of the catalog, one table row each, through the Piston
//! API of a real `tiderun serve` (the full sandbox, as root). A runtime is its file and its
//! example programs (`runtimes/README.md`, "Example programs"); this one test runs them all:
//!
//! - `hello` prints exactly `Hello, world!\n`;
//! - `echo` gives back its stdin, Chinese text included, byte for byte;
//! - `runtime_error` compiles but fails when it runs: a non-zero exit (Piston `RE`) or a
//!   signal other than a limit's SIGKILL (`SG`);
//! - `compile_error` (a compiled language) fails to compile: a non-zero compile code, the
//!   compiler's message in `compile.stderr`, and no run (Piston's `run` is then a copy of
//!   `compile`);
//! - `tiderun runtimes --json` lists it installed.
//!
//! The embedded catalog, plus the runtime files of `TIDERUN_SHELF_RUNTIMES_DIR` when set
//! (the server and `tiderun runtimes` get it as `--runtimes-dir`), so a new file is checked
//! before it is built in. A runtime whose toolchain is not installed here is a skipped part
//! (`tiderun runtimes install NAME` installs it), a failure under `TIDERUN_REQUIRE_ALL=1`.
//! Runtimes run a few at a time; every failure is collected, one line per runtime, and the
//! test fails once at the end with all of them.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use runtimes::{Catalog, Program, Runtime};
use serde_json::{json, Value};

/// Where extra runtime files come from (a directory, as `--runtimes-dir`).
const RUNTIMES_DIR_ENV: &str = "TIDERUN_SHELF_RUNTIMES_DIR";
/// Runtimes tested at once: enough to overlap one's compile with another's run on two cores,
/// few enough that no run waits long for a slot.
const PARALLEL_RUNTIMES: usize = 4;
/// The most one request may take: a JVM language's compile within its own limits, queued
/// behind the others' runs.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// What `echo` is sent, and must give back.
const ECHO_INPUT: &str = "hello\n你好，世界\n";
/// How long the server may take to answer its health check after it starts.
const START_TIMEOUT: Duration = Duration::from_secs(60);

fn tiderun() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tiderun"))
}

fn runtimes_dir() -> Option<PathBuf> {
    std::env::var_os(RUNTIMES_DIR_ENV)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
}

/// A `tiderun serve` child (its defaults: warm pools, fork servers) on a free loopback port,
/// its log in its data dir; killed when dropped.
struct Serve {
    child: std::process::Child,
    base: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    async fn start(runtimes_dir: Option<&PathBuf>) -> Serve {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("serve.log");
        let mut cmd = tiderun();
        cmd.arg("serve")
            .arg("--addr=127.0.0.1:0")
            .arg(format!("--data-dir={}", dir.path().join("data").display()))
            .arg("--rate-limit=0");
        if let Some(runtimes) = runtimes_dir {
            cmd.arg("--runtimes-dir").arg(runtimes);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("tiderun serve starts");
        let stdout = child.stdout.take().expect("piped");
        let (base, _) = tokio::task::spawn_blocking(move || testkit::serve_banner(stdout, START_TIMEOUT))
            .await
            .expect("banner");
        let server = Serve {
            child,
            base,
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(r) = reqwest::get(format!("{}/healthz", server.base)).await {
                if r.status().is_success() {
                    return server;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the server did not start: {}",
                std::fs::read_to_string(&server.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// `POST /api/v2/execute` with `files` (main first) and `stdin`: the answer's body.
async fn execute(
    client: &reqwest::Client,
    base: &str,
    rt: &Runtime,
    files: &[(&str, &str)],
    stdin: &str,
) -> Result<Value, String> {
    let files: Vec<Value> = files
        .iter()
        .map(|(name, content)| json!({"name": name, "content": content}))
        .collect();
    let body = json!({"language": rt.name, "version": "*", "files": files, "stdin": stdin});
    let response = client
        .post(format!("{base}/api/v2/execute"))
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("no answer: {e}"))?;
    let status = response.status();
    let body: Value = response.json().await.map_err(|e| format!("{status}, not JSON: {e}"))?;
    if status != 200 {
        return Err(format!("{status}: {body}"));
    }
    Ok(body)
}

/// A stage's fields for a failure message.
fn stage(body: &Value, name: &str) -> String {
    let s = &body[name];
    format!(
        "{name}: code {} signal {} status {} stdout {:?} stderr {:?}",
        s["code"],
        s["signal"],
        s["status"],
        s["stdout"].as_str().unwrap_or_default(),
        truncate(s["stderr"].as_str().unwrap_or_default()),
    )
}

fn truncate(text: &str) -> String {
    const MAX_CHARS: usize = 400;
    if text.chars().count() <= MAX_CHARS {
        return text.to_owned();
    }
    let cut: String = text.chars().take(MAX_CHARS).collect();
    format!("{cut}...")
}

/// For a compiled runtime, the compile stage must have succeeded.
fn compiled_ok(rt: &Runtime, body: &Value) -> Result<(), String> {
    if rt.compiled() && body["compile"]["code"] != 0 {
        return Err(format!("did not compile: {}", stage(body, "compile")));
    }
    Ok(())
}

/// One runtime's row: every example program through the API; the first thing wrong.
async fn row(client: &reqwest::Client, base: &str, rt: &Runtime) -> Result<(), String> {
    let main = rt.file.as_str();

    let body = execute(client, base, rt, &[(main, &rt.example.hello)], "")
        .await
        .map_err(|e| format!("hello: {e}"))?;
    compiled_ok(rt, &body).map_err(|e| format!("hello: {e}"))?;
    if body["run"]["stdout"] != "Hello, world!\n" || body["run"]["code"] != 0 {
        return Err(format!("hello: {}", stage(&body, "run")));
    }

    let files = rt.example.echo.files(main);
    let body = execute(client, base, rt, &files, ECHO_INPUT)
        .await
        .map_err(|e| format!("echo: {e}"))?;
    compiled_ok(rt, &body).map_err(|e| format!("echo: {e}"))?;
    if body["run"]["stdout"] != ECHO_INPUT || body["run"]["code"] != 0 {
        return Err(format!("echo: {}", stage(&body, "run")));
    }

    let files = rt.example.runtime_error.files(main);
    let body = execute(client, base, rt, &files, "")
        .await
        .map_err(|e| format!("runtime_error: {e}"))?;
    compiled_ok(rt, &body).map_err(|e| format!("runtime_error: {e}"))?;
    let run = &body["run"];
    let exited = run["status"] == "RE" && run["code"].as_i64().is_some_and(|c| c != 0);
    let signalled = run["status"] == "SG" && run["signal"].is_string() && run["signal"] != "SIGKILL";
    if !(exited || signalled) {
        return Err(format!("runtime_error: {}", stage(&body, "run")));
    }

    match (&rt.example.compile_error, rt.compiled()) {
        (Some(program), true) => compile_error(client, base, rt, program).await?,
        (None, false) => {}
        // The catalog refuses either: a runtime file that got here is a catalog bug.
        _ => return Err("compile_error and compile do not go together".to_owned()),
    }
    Ok(())
}

async fn compile_error(client: &reqwest::Client, base: &str, rt: &Runtime, program: &Program) -> Result<(), String> {
    let files = program.files(&rt.file);
    let body = execute(client, base, rt, &files, "")
        .await
        .map_err(|e| format!("compile_error: {e}"))?;
    let compile = &body["compile"];
    if compile["code"].as_i64().is_none_or(|c| c == 0) || compile["status"] != "RE" {
        return Err(format!("compile_error: compiled: {}", stage(&body, "compile")));
    }
    if compile["stderr"].as_str().is_none_or(|s| s.trim().is_empty()) {
        return Err(format!(
            "compile_error: compile.stderr is empty (the compiler's message must be there): {}",
            stage(&body, "compile")
        ));
    }
    // No run: Piston's `run` repeats the compile stage.
    if body["run"] != body["compile"] {
        return Err(format!(
            "compile_error: a run after a failed compile: {}",
            stage(&body, "run")
        ));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: the full sandbox"]
async fn every_runtime_passes_its_row_through_the_piston_api() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let dir = runtimes_dir();
    let mut catalog = Catalog::load(dir.as_deref()).expect("the runtime files are valid");
    catalog.detect();

    // What `tiderun runtimes --json` lists as installed.
    let mut list = tiderun();
    list.args(["runtimes", "--json"]);
    if let Some(dir) = &dir {
        list.arg("--runtimes-dir").arg(dir);
    }
    let out = list.output().expect("tiderun runtimes");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let listed_installed = |name: &str| {
        listed
            .as_array()
            .is_some_and(|rows| rows.iter().any(|r| r["language"] == name && r["installed"] == true))
    };

    let server = Serve::start(dir.as_ref()).await;
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("client");
    let slots = Arc::new(tokio::sync::Semaphore::new(PARALLEL_RUNTIMES));
    let mut rows = tokio::task::JoinSet::new();
    let mut failures: Vec<String> = Vec::new();
    let mut absent: Vec<String> = Vec::new();
    let started = Instant::now();
    for rt in catalog.iter() {
        if !rt.installed {
            absent.push(format!(
                "{}: not installed here ({}; `tiderun runtimes install {}`)",
                rt.name,
                rt.missing.as_deref().unwrap_or("not detected"),
                rt.name
            ));
            continue;
        }
        if !listed_installed(&rt.name) {
            failures.push(format!(
                "{}: `tiderun runtimes --json` does not list it installed",
                rt.name
            ));
        }
        let (rt, client, base, slots) = (rt.clone(), client.clone(), server.base.clone(), Arc::clone(&slots));
        rows.spawn(async move {
            let _slot = slots.acquire_owned().await.expect("semaphore");
            let at = Instant::now();
            let result = row(&client, &base, &rt).await;
            println!(
                "{:<12} {:<10} {} in {:.1} s",
                rt.name,
                rt.version.as_deref().unwrap_or("-"),
                if result.is_ok() { "ok" } else { "FAILED" },
                at.elapsed().as_secs_f64()
            );
            (rt.name, result)
        });
    }
    let mut tested = 0;
    while let Some(joined) = rows.join_next().await {
        let (name, result) = joined.expect("a row's task");
        tested += 1;
        if let Err(why) = result {
            failures.push(format!("{name}: {why}"));
        }
    }
    println!(
        "{tested} runtimes through the Piston API in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if !failures.is_empty() {
        let log = std::fs::read_to_string(&server.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        println!(
            "the server's last log lines:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    // Not installed: a skipped part each, or (every test must run) a failure with the others.
    for why in absent {
        if testkit::require_all() {
            failures.push(why);
        } else {
            testkit::skip_part(why);
        }
    }
    failures.sort();
    assert!(
        failures.is_empty(),
        "{} of {} runtimes failed their row:\n{}",
        failures.len(),
        catalog.len(),
        failures.join("\n")
    );
}
