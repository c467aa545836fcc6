//! `tiderun serve` against one costly request, tried as a client would: runs that print control
//! characters (six bytes of JSON each, `\u0001`) in many tests, in a Judge0 batch and in
//! Judge0's `number_of_runs`, and tests that together take longer than a request may. The
//! answer stays within the request's output budget, the server's resident memory stays
//! bounded (measured from /proc), and the slow request ends at its wall time.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The server's default output budget per request (`--request-output-mb`).
const BUDGET_BYTES: u64 = 32 << 20;
/// Room for an answer's other fields beside its output.
const ANSWER_SLACK_BYTES: u64 = 256 << 10;
/// The most the server's resident memory may grow for one such request: generous (the output
/// budget, the engine's copies and the rendered answer), far below the 477 MB one request
/// took before the budget.
const MAX_GROWTH_KIB: u64 = 150 << 10;
/// A loaded machine detects toolchains and starts slowly.
const START_TIMEOUT: Duration = Duration::from_secs(60);

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/hostile")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A `tiderun serve` child on a free loopback port, killed when dropped.
struct Server {
    child: Child,
    base: String,
    http: reqwest::Client,
    /// The data dir and the log; removed when dropped.
    dir: tempfile::TempDir,
}

impl Server {
    async fn start(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_tiderun"))
            .arg("serve")
            .arg("--addr=127.0.0.1:0")
            .arg(format!("--data-dir={}", dir.path().join("data").display()))
            .args(["--rate-limit=0", "--no-warm-pools"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.path().join("server.log")).unwrap())
            .spawn()
            .expect("tiderun serve starts");
        let stdout = child.stdout.take().unwrap();
        let (base, _) = tokio::task::spawn_blocking(move || testkit::serve_banner(stdout, START_TIMEOUT))
            .await
            .unwrap();
        let mut server = Server {
            child,
            base,
            http: reqwest::Client::new(),
            dir,
        };
        let started = Instant::now();
        loop {
            if let Ok(r) = server.http.get(format!("{}/healthz", server.base)).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                let log = std::fs::read_to_string(server.dir.path().join("server.log")).unwrap_or_default();
                panic!("the server exited at start-up ({status}): {log}");
            }
            assert!(started.elapsed() < START_TIMEOUT, "the server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server.preflight().await;
        server
    }

    /// Refuse to send hostile programs unless the server's sandbox shows its own pid
    /// namespace (the check of the hostile suite's harness, through the API).
    async fn preflight(&self) {
        let (status, body) = self
            .post(
                "/api/v1/run",
                &json!({"language": "bash", "code": "echo $$; readlink /proc/self/ns/pid"}),
            )
            .await;
        assert_eq!(status, 200);
        let v: Value = serde_json::from_slice(&body).unwrap();
        let out = v["run"]["stdout"].as_str().unwrap_or_default().to_owned();
        let mut lines = out.lines();
        let pid: u32 = lines.next().and_then(|l| l.trim().parse().ok()).unwrap_or(u32::MAX);
        let ns = lines.next().unwrap_or_default();
        let host = std::fs::read_link("/proc/self/ns/pid").unwrap();
        assert!(
            pid < 10 && !ns.is_empty() && host != std::path::Path::new(ns),
            "REFUSING to send hostile programs: the server's sandbox shows no pid namespace of its own ({out:?})"
        );
    }

    async fn post(&self, path: &str, body: &Value) -> (u16, Vec<u8>) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .expect("an answer");
        (r.status().as_u16(), r.bytes().await.expect("a body").to_vec())
    }

    async fn get(&self, path: &str) -> (u16, Vec<u8>) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("an answer");
        (r.status().as_u16(), r.bytes().await.expect("a body").to_vec())
    }

    fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc/<pid>/status"))
    }

    /// Start a memory measurement: the peak is reset to the resident memory now (where the
    /// kernel allows it; otherwise the start-up peak counts too, which only makes the check
    /// stricter). Returns the resident memory now.
    fn measure_from_here(&self) -> u64 {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5");
        self.status_kib("VmRSS:")
    }

    /// The peak resident memory since `from` (KiB).
    fn growth_kib(&self, from: u64) -> u64 {
        self.status_kib("VmHWM:").saturating_sub(from)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn amplifier(extra: Value) -> Value {
    let mut body = json!({"language": "python", "code": fixture("limits_output_amplification.py")});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    body
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: the full sandbox"]
async fn many_tests_of_control_characters_make_a_bounded_answer() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let server = Server::start(&[]).await;
    let from = server.measure_from_here();
    // Four tests printing 16 MiB of \x01 each: a 403 MB answer before the budget.
    let request = amplifier(json!({
        "limits": {"max_output_bytes": 16 << 20},
        "tests": vec![json!({"expected_output": ""}); 4],
    }));
    let (status, body) = server.post("/api/v1/run", &request).await;
    let growth = server.growth_kib(from);
    println!("answer {} bytes, server memory grew {growth} KiB", body.len());
    assert_eq!(status, 200);
    assert!(
        body.len() as u64 <= BUDGET_BYTES + ANSWER_SLACK_BYTES,
        "an answer of {} bytes",
        body.len()
    );
    assert!(
        growth < MAX_GROWTH_KIB,
        "the server grew by {growth} KiB for one request"
    );
    let v: Value = serde_json::from_slice(&body).unwrap();
    let tests = v["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 4);
    assert!(tests.iter().all(|t| t["verdict"] == "output_limit"), "{}", v["tests"]);
    let message = |i: usize| tests[i]["run"]["message"].as_str().unwrap_or_default().to_owned();
    assert!(message(0).contains("this request's budget"), "{}", message(0));
    assert!((1..4).all(|i| message(i).starts_with("not run:")));

    // One run alone: 96 MiB of JSON before the budget.
    let from = server.measure_from_here();
    let (status, body) = server
        .post(
            "/api/v1/run",
            &amplifier(json!({"limits": {"max_output_bytes": 16 << 20}})),
        )
        .await;
    let growth = server.growth_kib(from);
    assert_eq!(status, 200);
    assert!(
        body.len() as u64 <= BUDGET_BYTES + ANSWER_SLACK_BYTES,
        "{} bytes",
        body.len()
    );
    assert!(growth < MAX_GROWTH_KIB, "{growth} KiB");
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["status"], "output_limit");
}

/// Judge0's submission fields for the amplifier printing `bytes` bytes.
fn judge0_amplifier(bytes: u64, extra: Value) -> Value {
    let mut body = json!({
        "language_id": 71,
        "source_code": fixture("limits_output_amplification.py"),
        "stdin": bytes.to_string(),
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    body
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: the full sandbox"]
async fn a_judge0_batch_shares_one_output_budget() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let server = Server::start(&[]).await;
    let from = server.measure_from_here();
    // Twenty submissions, each printing its whole output cap (1 MiB) of \x01: 6 MiB of JSON
    // each, a 120 MiB batch answer before the budget.
    let batch = json!({"submissions": vec![judge0_amplifier(1 << 20, json!({})); 20]});
    let (status, body) = server.post("/submissions/batch", &batch).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let created: Value = serde_json::from_slice(&body).unwrap();
    let tokens: Vec<&str> = created
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["token"].as_str().expect("a token"))
        .collect();
    let query = tokens.join(",");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, body) = server
            .get(&format!("/submissions/batch?tokens={query}&fields=status_id"))
            .await;
        let v: Value = serde_json::from_slice(&body).unwrap();
        let done = v["submissions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status_id"].as_i64().is_some_and(|id| id >= 3));
        if done {
            break;
        }
        assert!(Instant::now() < deadline, "the batch did not finish");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, body) = server.get(&format!("/submissions/batch?tokens={query}")).await;
    let growth = server.growth_kib(from);
    println!("batch answer {} bytes, server memory grew {growth} KiB", body.len());
    assert_eq!(status, 200);
    assert!(
        body.len() as u64 <= BUDGET_BYTES + ANSWER_SLACK_BYTES,
        "a batch answer of {} bytes",
        body.len()
    );
    assert!(growth < MAX_GROWTH_KIB, "the server grew by {growth} KiB for one batch");
    let v: Value = serde_json::from_slice(&body).unwrap();
    for s in v["submissions"].as_array().unwrap() {
        assert_eq!(
            s["status"]["id"], 8,
            "output past its part of the budget: {}",
            s["message"]
        );
        assert!(s["message"]
            .as_str()
            .unwrap_or_default()
            .contains("this request's budget"));
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: the full sandbox"]
async fn judge0_number_of_runs_share_one_output_budget() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let server = Server::start(&[]).await;
    let from = server.measure_from_here();
    // Twenty runs of 1 MiB of \x01: 120 MiB of JSON held for one submission before the budget.
    let submission = judge0_amplifier(1 << 20, json!({"number_of_runs": 20}));
    let (status, body) = server.post("/submissions?wait=true", &submission).await;
    let growth = server.growth_kib(from);
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    assert!(growth < MAX_GROWTH_KIB, "{growth} KiB");
    let v: Value = serde_json::from_slice(&body).unwrap();
    // The first run that is not accepted is the one reported: the one cut by the budget.
    assert_eq!(v["status"]["id"], 8, "{}", v["message"]);
    assert!(v["message"]
        .as_str()
        .unwrap_or_default()
        .contains("this request's budget"));
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: the full sandbox"]
async fn a_request_ends_at_its_wall_time() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let server = Server::start(&["--request-wall-s=2"]).await;
    let slow = json!({
        "language": "python",
        "code": fixture("limits_slow_tests.py"),
        "tests": vec![json!({"stdin": "1", "expected_output": "done"}); 5],
    });
    let started = Instant::now();
    let (status, body) = server.post("/api/v1/run", &slow).await;
    let took = started.elapsed();
    assert_eq!(status, 200);
    assert!(took < Duration::from_secs(5), "the request took {took:?}");
    let v: Value = serde_json::from_slice(&body).unwrap();
    let tests = v["tests"].as_array().unwrap();
    assert_eq!(tests[0]["verdict"], "accepted", "{}", tests[0]);
    let last = &tests[4]["run"];
    assert_eq!(last["status"], "wall_time_limit");
    assert!(
        last["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("not run: this request used up its wall time of 2000 ms"),
        "{last}"
    );
    // A run that asks for more than a whole request may take: 400, before anything runs.
    let mut long = slow;
    long["limits"] = json!({"wall_ms": 3000});
    let (status, body) = server.post("/api/v1/run", &long).await;
    assert_eq!(status, 400);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert!(v["error"].as_str().unwrap_or_default().contains("2000 ms"), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: the full sandbox"]
async fn an_answer_not_yet_sent_keeps_its_output_counted() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    // Room for one run (256 MiB, Python's default) and what one request's output may hold
    // (its 32 MiB budget, 128 MiB of server memory), not for a second request's output.
    let server = Server::start(&["--memory-budget-mb=448"]).await;
    let flood = amplifier(json!({"limits": {"max_output_bytes": 16 << 20}}));
    // A client that reads the head of its 32 MiB answer and then stops reading.
    let addr = server.base.trim_start_matches("http://").to_owned();
    let body = serde_json::to_vec(&flood).unwrap();
    let mut slow = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        slow,
        "POST /api/v1/run HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    slow.write_all(&body).unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = slow.read(&mut buf).unwrap();
        assert!(n > 0, "the connection closed before the answer's head");
        head.extend_from_slice(&buf[..n]);
    }
    assert!(head.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&head));
    // Its answer is not sent: a second such request finds no room.
    let (status, second) = server.post("/api/v1/run", &flood).await;
    assert_eq!(
        status,
        429,
        "{}",
        String::from_utf8_lossy(&second[..second.len().min(300)])
    );
    // Once the first answer has been read, there is room again.
    let mut rest = Vec::new();
    slow.read_to_end(&mut rest).unwrap();
    assert!(rest.len() > 16 << 20, "the first answer came whole");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = server.post("/api/v1/run", &flood).await;
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no room after the first answer was sent: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
