//! The run log line and `tiderun usage` through the real binary: `tiderun serve --log-format
//! json` writes one JSON line per run (target `tiderun::run`: run id, key, API, runtime,
//! status, CPU and wall ms, memory, warm or cold, node) and never the program's source, input
//! or output; after the node stops, `tiderun usage` prints the run from the same data dir.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// In the program's source, its stdin and its output: must never reach the log.
const MARKER: &str = "SECRET-MARKER-4b2e";
/// A loaded machine detects toolchains and starts slowly.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a stopping server may take (its drain and the ledger's last write).
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

fn tiderun() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tiderun"))
}

fn usage(data: &Path, extra: &[&str]) -> std::process::Output {
    tiderun()
        .arg("usage")
        .arg(format!("--data-dir={}", data.display()))
        .args(extra)
        .env_remove("TIDERUN_DATABASE_URL")
        .output()
        .expect("tiderun usage runs")
}

#[tokio::test]
#[ignore = "needs root: the full sandbox"]
async fn one_json_line_per_run_without_the_program_and_usage_prints_it() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log_path = dir.path().join("server.log");
    let mut child = tiderun()
        .arg("serve")
        .arg("--addr=127.0.0.1:0")
        .arg(format!("--data-dir={}", data.display()))
        .args(["--no-warm-pools", "--auth-token=T", "--log-format=json"])
        .env_remove("TIDERUN_LOG")
        .env_remove("TIDERUN_DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .expect("tiderun serve starts");
    let stdout = child.stdout.take().unwrap();
    let (base, _) = tokio::task::spawn_blocking(move || testkit::serve_banner(stdout, START_TIMEOUT))
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let started = Instant::now();
    while !http
        .get(format!("{base}/healthz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(child.try_wait().unwrap().is_none(), "the server exited at start-up");
        assert!(started.elapsed() < START_TIMEOUT, "the server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let code = format!("# {MARKER}\nimport sys\nprint(sys.stdin.read())\n");
    let answer: Value = http
        .post(format!("{base}/api/v1/run"))
        .bearer_auth("T")
        .json(&json!({"language": "python", "code": code, "stdin": MARKER}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["status"], "ok", "{answer}");
    assert!(answer["run"]["stdout"].as_str().unwrap().contains(MARKER), "{answer}");
    // SIGTERM: the node drains and the ledger writes its last rows.
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let stopping = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(stopping.elapsed() < STOP_TIMEOUT, "the server did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        !log.contains(MARKER),
        "the log holds the program's source, input or output:\n{log}"
    );
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .filter(|l: &Value| l["target"] == "tiderun::run")
        .collect();
    assert_eq!(lines.len(), 1, "one line per run:\n{log}");
    let line = &lines[0];
    assert_eq!(line["level"], "INFO");
    for (field, value) in [
        ("key", "auth-token"),
        ("api", "native"),
        ("runtime", "python"),
        ("status", "ok"),
        ("start", "cold"),
    ] {
        assert_eq!(line[field], value, "{field}: {line}");
    }
    assert_eq!(line["run_id"].as_str().map(str::len), Some(36), "{line}");
    assert!(line["node"].as_str().is_some_and(|n| !n.is_empty()), "{line}");
    for field in ["cpu_ms", "wall_ms", "memory_kb"] {
        assert!(line[field].is_u64(), "{field}: {line}");
    }
    assert!(line["wall_ms"].as_u64().unwrap() > 0, "{line}");

    let out = usage(&data, &["--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["rows"].as_array().map(Vec::len), Some(1), "{printed}");
    assert_eq!(printed["rows"][0]["key"], "auth-token");
    assert_eq!(printed["totals"]["runs"], 1);
    assert!(printed["totals"]["gb_s"].as_f64().unwrap() > 0.0, "{printed}");
    let table = usage(&data, &["--key=auth-token"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(table.status.success());
    assert!(text.starts_with("day"), "{text}");
    assert!(
        text.lines().any(|l| l.contains("auth-token") && l.contains("python")),
        "{text}"
    );
}

#[test]
fn usage_reads_an_empty_store_and_says_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = usage(&data, &["--json", "--from=2026-01-01", "--to=2026-01-31"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        printed,
        json!({"from": "2026-01-01", "to": "2026-01-31", "rows": [],
               "totals": {"runs": 0, "errors": 0, "limits_hit": 0, "cpu_s": 0.0, "wall_s": 0.0, "gb_s": 0.0}})
    );
    for (args, words) in [
        (&["--from=2026-02-30"][..], "from: expected a UTC day as YYYY-MM-DD"),
        (&["--from=2024-01-01", "--to=2026-01-01"][..], "at most 366"),
    ] {
        let out = usage(&data, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(words), "{stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }
    let out = tiderun().args(["--log-format=xml", "usage"]).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("text"),
        "names the choices"
    );
}
