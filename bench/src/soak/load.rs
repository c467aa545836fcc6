//! The soak's clients: each kind of load is a loop that sends its requests one after another
//! until the deadline, judging every answer against what the API promises and counting it.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use super::tally::{documented_5xx, Event, Tally};

/// A request that takes longer than this is counted as a timeout (a violation): the slowest
/// legitimate one is a compile plus a run, each bounded well below it.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a Judge0 submission may take to finish before the soak calls it lost.
const JUDGE0_FINISH_TIMEOUT: Duration = Duration::from_secs(120);
/// How often a Judge0 submission is polled.
const JUDGE0_POLL: Duration = Duration::from_millis(100);
/// Distinct C programs the compile load rotates through (each compiled once, then build cache
/// hits); every [`FRESH_COMPILE_EVERY`]th request is a program never seen, a real compile.
const COMPILE_ROTATION: u64 = 32;
const FRESH_COMPILE_EVERY: u64 = 4;
/// Every this many compile requests, one that does not compile.
const BROKEN_COMPILE_EVERY: u64 = 8;
/// A body past the server's default limit (2 MiB).
const OVERSIZED_BODY_BYTES: usize = 3 << 20;
/// JSON nested deeper than any parser should follow.
const DEEP_NESTING: usize = 100_000;
/// More headers than the server takes.
const HEADER_FLOOD: usize = 200;
/// Code above the snippet limit (64 KiB).
const OVERSIZED_SNIPPET_BYTES: usize = 70_000;
/// Between two malformed requests: they cost the server almost nothing, and without a pause
/// the one client thread would spend itself on them.
const MALFORMED_PAUSE: Duration = Duration::from_millis(20);
/// The largest output the runtimes allow a run (16 MiB): the flood that fills it.
const CEILING_OUTPUT_BYTES: u64 = 16 << 20;

/// What one HTTP exchange gave.
#[derive(Debug)]
pub struct Answer {
    pub status: Option<u16>,
    pub json: Value,
    pub wire_error: Option<String>,
    pub took: Duration,
}

impl Answer {
    /// The status as counted: the HTTP code, or what went wrong on the wire.
    pub fn key(&self) -> String {
        match (self.status, &self.wire_error) {
            (Some(s), _) => s.to_string(),
            (None, Some(e)) if e.contains("timed out") => "timeout".into(),
            (None, _) => "connection error".into(),
        }
    }

    fn error_text(&self) -> &str {
        self.json["error"].as_str().unwrap_or("")
    }

    /// A 5xx the API does not document, or no answer at all: always a violation.
    pub fn server_fault(&self) -> Option<String> {
        match self.status {
            Some(s) if s >= 500 && !documented_5xx(s, self.error_text()) => {
                Some(format!("HTTP {s}: {}", short(&self.json.to_string())))
            }
            Some(_) => None,
            None => Some(format!("no answer: {}", self.wire_error.as_deref().unwrap_or("?"))),
        }
    }

    /// A documented refusal for lack of capacity or store: 429, or a documented 5xx.
    pub fn refused(&self) -> bool {
        matches!(self.status, Some(429)) || self.status.is_some_and(|s| documented_5xx(s, self.error_text()))
    }
}

/// The first 200 characters of a text, for examples in the report.
pub fn short(s: &str) -> String {
    let mut out: String = s.chars().take(200).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// The server under load, as the clients see it.
#[derive(Debug, Clone)]
pub struct Target {
    pub http: reqwest::Client,
    pub base: String,
    pub has_javascript: bool,
    pub has_bash: bool,
}

impl Target {
    pub fn new(base: &str, has_javascript: bool, has_bash: bool) -> anyhow::Result<Target> {
        Ok(Target {
            http: client(true)?,
            base: base.to_owned(),
            has_javascript,
            has_bash,
        })
    }

    /// The same server through a client of its own: each kind of load keeps its own
    /// connections, so one kind's broken connection is not another's error.
    pub fn own(&self) -> anyhow::Result<Target> {
        Ok(Target {
            http: client(true)?,
            ..self.clone()
        })
    }

    /// A client that opens a connection per request: for requests the server refuses before
    /// it has read them (an oversized body, too many headers), after which the connection is
    /// closed.
    fn one_shot(&self) -> Target {
        Target {
            http: client(false).unwrap_or_else(|_| self.http.clone()),
            ..self.clone()
        }
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let started = Instant::now();
        let answer = match request.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                match r.bytes().await {
                    Ok(b) => Ok((status, b)),
                    Err(e) => Err(root_cause(&e)),
                }
            }
            Err(e) => Err(root_cause(&e)),
        };
        let took = started.elapsed();
        match answer {
            Ok((status, bytes)) => Answer {
                status: Some(status),
                json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                wire_error: None,
                took,
            },
            Err(e) => Answer {
                status: None,
                json: Value::Null,
                wire_error: Some(e),
                took,
            },
        }
    }

    pub async fn post_json(&self, path: &str, body: impl Into<reqwest::Body>) -> Answer {
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .header("content-type", "application/json")
                .body(body),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.http.get(format!("{}{path}", self.base))).await
    }
}

fn client(keep_alive: bool) -> anyhow::Result<reqwest::Client> {
    let b = reqwest::Client::builder().tcp_nodelay(true).timeout(REQUEST_TIMEOUT);
    let b = if keep_alive { b } else { b.pool_max_idle_per_host(0) };
    Ok(b.build()?)
}

/// The innermost cause of a request error (connection refused, reset, timed out...).
fn root_cause(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
        text = cause.to_string();
    }
    if e.is_timeout() {
        text = format!("timed out: {text}");
    }
    text
}

/// Count an answer: its status, an outcome, and a problem when the caller found one (a server
/// fault, or no answer at all, always is one).
fn count(tally: &Tally, kind: &'static str, a: &Answer, outcome: Option<String>, problem: Option<String>) {
    tally.add(
        kind,
        Event {
            status: a.key(),
            took: a.took,
            outcome,
            problem: a.server_fault().or(problem),
        },
    );
}

/// Hello worlds through the three APIs, in turn.
pub async fn hello(t: &Target, tally: &Tally, deadline: Instant, offset: u64) {
    let mut i = offset;
    while Instant::now() < deadline {
        i += 1;
        let variants: Vec<&str> = ["native python", "piston python", "judge0 wait=true python"]
            .into_iter()
            .chain(t.has_javascript.then_some("native javascript"))
            .chain(t.has_bash.then_some("native bash"))
            .collect();
        let variant = variants[(i as usize) % variants.len()];
        let (a, stdout, ok) = match variant {
            "piston python" => {
                let a = t
                    .post_json(
                        "/api/v2/execute",
                        json!({"language": "python", "version": "*", "files": [{"content": "print('soak')"}]})
                            .to_string(),
                    )
                    .await;
                let ok = a.status == Some(200) && a.json["run"]["code"] == 0;
                let out = a.json["run"]["stdout"].clone();
                (a, out, ok)
            }
            "judge0 wait=true python" => {
                let a = t
                    .post_json(
                        "/submissions?wait=true",
                        json!({"language_id": 71, "source_code": "print('soak')"}).to_string(),
                    )
                    .await;
                let ok = a.status == Some(201) && a.json["status"]["id"] == 3;
                let out = a.json["stdout"].clone();
                (a, out, ok)
            }
            _ => {
                let (language, code) = match variant {
                    "native javascript" => ("javascript", "console.log('soak')"),
                    "native bash" => ("bash", "echo soak"),
                    _ => ("python", "print('soak')"),
                };
                let a = t
                    .post_json("/api/v1/run", json!({"language": language, "code": code}).to_string())
                    .await;
                let ok = a.status == Some(200) && a.json["status"] == "ok";
                let out = a.json["run"]["stdout"].clone();
                (a, out, ok)
            }
        };
        let problem = if a.refused() || a.status.is_none() {
            None
        } else if !ok || stdout != "soak\n" {
            Some(format!("{variant}: {}", short(&a.json.to_string())))
        } else {
            None
        };
        count(tally, "hello", &a, Some(variant.to_owned()), problem);
    }
}

/// C programs: mostly resubmissions (build cache hits), some never seen (a real compile), some
/// that do not compile.
pub async fn compile(t: &Target, tally: &Tally, deadline: Instant, salt: u64) {
    let mut i = 0u64;
    while Instant::now() < deadline {
        i += 1;
        let broken = i.is_multiple_of(BROKEN_COMPILE_EVERY);
        let n = if i.is_multiple_of(FRESH_COMPILE_EVERY) {
            salt * 1_000_000_000 + 1000 + i
        } else {
            i % COMPILE_ROTATION
        };
        let code = if broken {
            format!("int main(void) {{ return {n} }}\n")
        } else {
            format!("#include <stdio.h>\nint main(void) {{ printf(\"%llu\\n\", {n}ULL); return 0; }}\n")
        };
        let a = t
            .post_json("/api/v1/run", json!({"language": "c", "code": code}).to_string())
            .await;
        let status = a.json["status"].as_str().unwrap_or("?").to_owned();
        let problem = if a.refused() || a.status.is_none() {
            None
        } else if a.status != Some(200) {
            Some(format!("HTTP {:?}: {}", a.status, short(&a.json.to_string())))
        } else if broken && status != "compile_error" {
            Some(format!("a broken program: status {status}"))
        } else if !broken && (status != "ok" || a.json["run"]["stdout"] != format!("{n}\n")) {
            Some(format!("program {n}: {}", short(&a.json.to_string())))
        } else {
            None
        };
        let outcome = if a.json["compile"]["cached"] == true {
            format!("{status} (build cache hit)")
        } else {
            status
        };
        count(tally, "compile", &a, Some(outcome), problem);
    }
}

/// How one WebSocket session ended.
struct Session {
    stdout: String,
    exit: Option<Value>,
    end: &'static str,
}

/// One interactive session on `/api/v1/ws`: init, a line of stdin, the program's answer,
/// its exit.
async fn session(ws_url: &str, language: &str, code: &str, stdin: &str) -> Result<Session, String> {
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let init = json!({"type": "init", "language": language, "code": code});
    ws.send(Message::text(init.to_string()))
        .await
        .map_err(|e| format!("send init: {e}"))?;
    let data = json!({"type": "data", "stream": "stdin", "data": stdin});
    ws.send(Message::text(data.to_string()))
        .await
        .map_err(|e| format!("send stdin: {e}"))?;
    let mut s = Session {
        stdout: String::new(),
        exit: None,
        end: "ended without a close frame",
    };
    while let Some(m) = ws.next().await {
        match m {
            Ok(Message::Text(text)) => {
                let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                match v["type"].as_str() {
                    Some("data") if v["stream"] == "stdout" => s.stdout.push_str(v["data"].as_str().unwrap_or("")),
                    Some("exit") if v["stage"] == "run" => s.exit = Some(v),
                    Some("exit") if v["exit_code"] != 0 => s.exit = Some(v),
                    Some("error") => return Err(format!("error message: {v}")),
                    _ => {}
                }
            }
            Ok(Message::Close(frame)) => {
                s.end = match frame.map(|f| u16::from(f.code)) {
                    Some(4999) => "job completed",
                    Some(_) => "closed with another code",
                    None => "closed without a code",
                };
                break;
            }
            Ok(_) => {}
            Err(e) => return Err(format!("receive: {e}")),
        }
    }
    Ok(s)
}

/// Interactive sessions, Python and C in turn.
pub async fn interactive(t: &Target, tally: &Tally, deadline: Instant) {
    let ws_url = format!("{}/api/v1/ws", t.base.replacen("http://", "ws://", 1));
    let mut i = 0u64;
    while Instant::now() < deadline {
        i += 1;
        let (language, code) = if i.is_multiple_of(3) {
            (
                "c",
                "#include <stdio.h>\nint main(void){char s[64];if(scanf(\"%63s\",s)==1)printf(\"hi %s\\n\",s);return 0;}\n",
            )
        } else {
            ("python", "name = input()\nprint('hi', name)\n")
        };
        let started = Instant::now();
        let got = tokio::time::timeout(REQUEST_TIMEOUT, session(&ws_url, language, code, "soak\n")).await;
        let took = started.elapsed();
        let (status, outcome, problem) = match got {
            Err(_) => (
                "timeout".to_owned(),
                None,
                Some(format!("{language}: no end within {REQUEST_TIMEOUT:?}")),
            ),
            Ok(Err(e)) => ("connection error".to_owned(), None, Some(format!("{language}: {e}"))),
            Ok(Ok(s)) => {
                let code = s.exit.as_ref().map(|e| e["exit_code"].clone()).unwrap_or(Value::Null);
                let fine = s.stdout == "hi soak\n" && code == 0 && s.end == "job completed";
                (
                    s.end.to_owned(),
                    Some(format!("{language} exit {code}")),
                    (!fine).then(|| format!("{language}: stdout {:?}, exit {:?}, {}", s.stdout, s.exit, s.end)),
                )
            }
        };
        tally.add(
            "interactive",
            Event {
                status,
                took,
                outcome,
                problem,
            },
        );
    }
}

/// Programs that attack the node, each with limits that end it quickly; every one must come
/// back 200 with a status that is neither `ok` nor `internal_error`.
pub async fn hostile(t: &Target, tally: &Tally, deadline: Instant) {
    let variants: [(&str, &str, &str, Value); 7] = [
        (
            "fork bomb (python)",
            "python",
            "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
            json!({"wall_ms": 2000}),
        ),
        (
            "fork bomb (c)",
            "c",
            "#include <unistd.h>\nint main(void) { for (;;) fork(); }\n",
            json!({"wall_ms": 2000}),
        ),
        (
            "memory bomb",
            "python",
            "a = []\nwhile True:\n    a.append(bytearray(1 << 20))\n",
            json!({"memory_mb": 64}),
        ),
        (
            "output flood",
            "python",
            "import sys\nb = 'x' * 65536\nwhile True:\n    sys.stdout.write(b)\n",
            json!({}),
        ),
        (
            "output flood to the 16 MiB ceiling",
            "python",
            "import sys\nb = 'x' * 65536\nwhile True:\n    sys.stdout.write(b)\n",
            json!({"max_output_bytes": CEILING_OUTPUT_BYTES}),
        ),
        (
            "spinning threads",
            "python",
            "import threading\ndef spin():\n    while True:\n        pass\nfor _ in range(4):\n    threading.Thread(target=spin).start()\nspin()\n",
            json!({"cpu_ms": 1000}),
        ),
        (
            "sleeper",
            "python",
            "import time\ntime.sleep(100)\n",
            json!({"wall_ms": 1000}),
        ),
    ];
    let mut i = 0usize;
    while Instant::now() < deadline {
        let (name, language, code, limits) = &variants[i % variants.len()];
        i += 1;
        let a = t
            .post_json(
                "/api/v1/run",
                json!({"language": language, "code": code, "limits": limits}).to_string(),
            )
            .await;
        let status = a.json["status"].as_str().unwrap_or("?").to_owned();
        let problem = if a.refused() || a.status.is_none() {
            None
        } else if a.status != Some(200) {
            Some(format!("{name}: HTTP {:?}: {}", a.status, short(&a.json.to_string())))
        } else if status == "ok" || status == "internal_error" {
            Some(format!("{name}: status {status}: {}", short(&a.json.to_string())))
        } else {
            None
        };
        count(tally, "hostile", &a, Some(format!("{name}: {status}")), problem);
    }
}

/// Requests that are wrong in every way the soak can think of; each must get a 4xx (a body
/// other than the JSON error shape is a finding).
pub async fn malformed(t: &Target, tally: &Tally, deadline: Instant) {
    let mut i = 0usize;
    const VARIANTS: usize = 16;
    let once = t.one_shot();
    while Instant::now() < deadline {
        let n = i % VARIANTS;
        i += 1;
        tokio::time::sleep(MALFORMED_PAUSE).await;
        let (name, a) = match n {
            0 => ("truncated JSON", t.post_json("/api/v1/run", r#"{"language": "python", "code": "#).await),
            1 => ("oversized body", {
                let code = "#".repeat(OVERSIZED_BODY_BYTES);
                once.post_json("/api/v1/run", json!({"language": "python", "code": code}).to_string())
                    .await
            }),
            2 => ("unknown language", t.post_json("/api/v1/run", r#"{"language": "no-such-language", "code": "x"}"#).await),
            3 => (
                "limits past the maxima",
                t.post_json(
                    "/api/v1/run",
                    r#"{"language": "python", "code": "print(1)", "limits": {"cpu_ms": 1000000000, "memory_mb": 1000000}}"#,
                )
                .await,
            ),
            4 => ("wrong types", t.post_json("/api/v1/run", r#"{"language": 5, "code": ["x"]}"#).await),
            5 => ("not UTF-8", t.post_json("/api/v1/run", vec![0xff, 0xfe, 0x7b, 0x80, 0x00]).await),
            6 => ("empty body", t.post_json("/api/v1/run", "").await),
            7 => ("deeply nested JSON", {
                let body = format!("{}{}", "[".repeat(DEEP_NESTING), "]".repeat(DEEP_NESTING));
                t.post_json("/api/v1/run", body).await
            }),
            8 => ("piston without files", t.post_json("/api/v2/execute", r#"{"language": "python", "version": "*"}"#).await),
            9 => (
                "judge0 unknown language",
                t.post_json("/submissions", r#"{"language_id": 999999, "source_code": "x"}"#).await,
            ),
            10 => (
                "judge0 bad base64",
                t.post_json(
                    "/submissions?base64_encoded=true&wait=true",
                    r#"{"language_id": 71, "source_code": "%%%not base64%%%"}"#,
                )
                .await,
            ),
            11 => ("unknown path", t.get("/api/v1/no/such/thing").await),
            12 => ("oversized snippet", {
                let code = "#".repeat(OVERSIZED_SNIPPET_BYTES);
                t.post_json("/api/v1/snippets", json!({"language": "python", "code": code}).to_string())
                    .await
            }),
            13 => ("wrong method", t.get("/api/v1/run").await),
            14 => ("header flood", {
                let mut r = once.http.post(format!("{}/api/v1/run", t.base));
                for h in 0..HEADER_FLOOD {
                    r = r.header(format!("x-soak-{h}"), "x".repeat(64));
                }
                once.send(r.body(r#"{"language": "python", "code": "print(1)"}"#)).await
            }),
            _ => (
                "tests that are not a list",
                t.post_json("/api/v1/run", r#"{"language": "python", "code": "print(1)", "tests": {"a": 1}}"#)
                    .await,
            ),
        };
        let problem = match a.status {
            Some(s) if (400..500).contains(&s) => None,
            Some(s) => Some(format!("{name}: HTTP {s}, not a 4xx: {}", short(&a.json.to_string()))),
            // An oversized body may be refused before it is all sent: the server answers 413
            // and closes while the client still writes, which it may see as a broken pipe.
            None if name == "oversized body" => None,
            None => Some(format!("{name}: no answer: {}", a.wire_error.as_deref().unwrap_or("?"))),
        };
        tally.add(
            "malformed",
            Event {
                status: a.key(),
                took: a.took,
                outcome: Some(format!("{name}: {}", a.key())),
                problem,
            },
        );
        // Each dialect has its error shape (`{"error"}`, Piston's `{"message"}`, Judge0's field
        // errors), all JSON objects. hyper answers a header flood itself, before any handler.
        if a.status.is_some_and(|s| (400..500).contains(&s) && s != 431) && !a.json.is_object() {
            tally.find("malformed", format!("{name}: HTTP {} without a JSON body", a.key()));
        }
    }
}

/// A store answer: fine when `want`, or a documented refusal; anything else is a problem.
fn store_problem(what: &str, a: &Answer, want: u16) -> Option<String> {
    if a.status == Some(want) || a.refused() || a.status.is_none() {
        None
    } else {
        Some(format!("{what}: HTTP {:?}: {}", a.status, short(&a.json.to_string())))
    }
}

/// Snippets saved and loaded, Judge0 submissions queued and polled until finished, listings.
pub async fn store(t: &Target, tally: &Tally, deadline: Instant) {
    let mut i = 0u64;
    while Instant::now() < deadline {
        i += 1;
        let code = format!("print('soak {i}')");
        let a = t
            .post_json(
                "/api/v1/snippets",
                json!({"language": "python", "code": code}).to_string(),
            )
            .await;
        count(
            tally,
            "store",
            &a,
            Some("save snippet".into()),
            store_problem("save snippet", &a, 201),
        );
        if let Some(id) = a.json["id"].as_str() {
            let b = t.get(&format!("/api/v1/snippets/{id}")).await;
            let wrong = (b.status == Some(200) && b.json["code"] != code.as_str())
                .then(|| format!("snippet {id} came back as {}", b.json));
            count(
                tally,
                "store",
                &b,
                Some("load snippet".into()),
                store_problem("load snippet", &b, 200).or(wrong),
            );
        }
        let a = t
            .post_json(
                "/submissions",
                json!({"language_id": 71, "source_code": code}).to_string(),
            )
            .await;
        count(
            tally,
            "store",
            &a,
            Some("judge0 submit".into()),
            store_problem("judge0 submit", &a, 201),
        );
        if let Some(token) = a.json["token"].as_str() {
            judge0_until_finished(t, tally, token, &format!("soak {i}\n")).await;
        }
        let path = if i.is_multiple_of(2) {
            "/api/v1/exercises"
        } else {
            "/submissions?per_page=5"
        };
        let a = t.get(path).await;
        count(
            tally,
            "store",
            &a,
            Some(format!("list {path}")),
            store_problem(path, &a, 200),
        );
    }
}

async fn judge0_until_finished(t: &Target, tally: &Tally, token: &str, stdout: &str) {
    let started = Instant::now();
    loop {
        let a = t.get(&format!("/submissions/{token}")).await;
        let status_id = a.json["status"]["id"].as_i64().unwrap_or(0);
        let done = a.status == Some(200) && status_id >= 3;
        let lost = !done && started.elapsed() > JUDGE0_FINISH_TIMEOUT;
        let problem = store_problem("judge0 poll", &a, 200)
            .or_else(|| {
                (done && (status_id != 3 || a.json["stdout"] != stdout)).then(|| format!("judge0 {token}: {}", a.json))
            })
            .or_else(|| lost.then(|| format!("judge0 {token} not finished after {JUDGE0_FINISH_TIMEOUT:?}")));
        count(tally, "store", &a, Some("judge0 poll".into()), problem);
        if done || lost || a.status.is_none() || a.refused() {
            return;
        }
        tokio::time::sleep(JUDGE0_POLL).await;
    }
}

/// Many snippets saved at once: the store's connection pool opens every connection it will
/// ever hold, so the soak's baseline of descriptors and threads includes them.
pub async fn store_burst(t: &Target, tally: &Tally, n: usize) {
    let saves = (0..n).map(|i| async move {
        let a = t
            .post_json(
                "/api/v1/snippets",
                json!({"language": "python", "code": format!("print('burst {i}')")}).to_string(),
            )
            .await;
        count(
            tally,
            "store",
            &a,
            Some("save snippet (burst)".into()),
            store_problem("save snippet", &a, 201),
        );
    });
    futures_util::future::join_all(saves).await;
}
