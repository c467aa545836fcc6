//! Interactive runs over WebSocket: Piston's `/api/v2/connect` and the native `/api/v1/ws`.
//! Real programs streaming on the real engine — prompts before input, signals that reach the
//! program, eof, stdin nobody reads, a client that leaves, images; the protocol against the
//! router with the stand-in executor (`common::fake`, no root) — each dialect's messages and
//! stages, and the close codes.

extern crate tiderun_server as server;

mod common;

use std::time::{Duration, Instant};

use common::TestServer;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use server::ServerConfig;
use tokio_tungstenite::tungstenite::Message;

/// One server at a time per test process (servers of one process share sandbox uids and
/// cgroup names).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// No single message should take this long; a hang fails the test instead of blocking it.
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(30);

/// `ws::MAX_STDIN_MESSAGE_BYTES` of the server.
const MAX_STDIN_MESSAGE_BYTES: usize = 64 << 10;

const PISTON: &str = "/api/v2/connect";
const NATIVE: &str = "/api/v1/ws";

/// Run `check` against a fresh server with the stand-in executor behind it, on every backend.
async fn each_backend_fake<F, Fut>(check: F)
where
    F: Fn(TestServer) -> Fut,
    Fut: std::future::Future<Output = TestServer>,
{
    for backend in common::backends() {
        let server = common::fake::start(ServerConfig::default(), backend).await;
        let server = check(server).await;
        server.stop().await;
    }
}

async fn each_backend<F, Fut>(test: &str, check: F)
where
    F: Fn(TestServer) -> Fut,
    Fut: std::future::Future<Output = TestServer>,
{
    if !testkit::root_or_skip(&format!("the full sandbox ({test})")) {
        return;
    }
    let _serial = SERIAL.lock().await;
    for backend in common::backends() {
        let server = common::start(ServerConfig::default(), backend).await;
        let server = check(server).await;
        server.stop().await;
    }
}

/// What the server sent.
#[derive(Debug, Clone, PartialEq)]
enum Got {
    Json(Value),
    Close(u16, String),
    /// The connection ended without a close frame.
    Ended,
}

struct Client {
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    /// Everything received so far, for failure messages.
    log: Vec<Got>,
    /// All stdout received, and how much of it `stdout_until` has consumed.
    stdout: String,
    consumed: usize,
}

impl Client {
    async fn connect(server: &TestServer, path: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(format!("{}{path}", server.ws_base()))
            .await
            .unwrap_or_else(|e| panic!("connect {path}: {e}"));
        Client {
            ws,
            log: Vec::new(),
            stdout: String::new(),
            consumed: 0,
        }
    }

    async fn send(&mut self, message: Value) {
        self.ws.send(Message::text(message.to_string())).await.expect("send");
    }

    async fn next(&mut self) -> Got {
        let got = loop {
            let message = tokio::time::timeout(MESSAGE_TIMEOUT, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("no message within {MESSAGE_TIMEOUT:?}; so far {:?}", self.log));
            match message {
                None | Some(Err(_)) => break Got::Ended,
                Some(Ok(Message::Text(text))) => {
                    break Got::Json(serde_json::from_str(text.as_str()).expect("server sends JSON"))
                }
                Some(Ok(Message::Close(frame))) => {
                    break match frame {
                        Some(f) => Got::Close(u16::from(f.code), f.reason.to_string()),
                        None => Got::Close(1005, String::new()),
                    }
                }
                Some(Ok(_)) => continue,
            }
        };
        self.log.push(got.clone());
        got
    }

    /// Messages until one of `type`; panics at a close first.
    async fn until(&mut self, kind: &str) -> Value {
        loop {
            match self.next().await {
                Got::Json(v) if v["type"] == kind => return v,
                Got::Json(_) => {}
                other => panic!("{other:?} before a {kind} message; so far {:?}", self.log),
            }
        }
    }

    /// Stdout since the last call, up to and including `text` (waiting for it).
    async fn stdout_until(&mut self, text: &str) -> String {
        loop {
            if let Some(at) = self.stdout[self.consumed..].find(text) {
                let end = self.consumed + at + text.len();
                let out = self.stdout[self.consumed..end].to_string();
                self.consumed = end;
                return out;
            }
            match self.next().await {
                Got::Json(v) if v["type"] == "data" && v["stream"] == "stdout" => {
                    self.stdout.push_str(v["data"].as_str().expect("data is a string"))
                }
                Got::Json(v) if v["type"] == "exit" || v["type"] == "error" => {
                    panic!("{v} before stdout had {text:?}; so far {:?}", self.log)
                }
                Got::Json(_) => {}
                other => panic!("{other:?} before stdout had {text:?}; so far {:?}", self.log),
            }
        }
    }

    /// The close code, skipping messages before it.
    async fn close_code(&mut self) -> u16 {
        loop {
            match self.next().await {
                Got::Close(code, _) => return code,
                Got::Ended => panic!("ended without a close frame; so far {:?}", self.log),
                Got::Json(_) => {}
            }
        }
    }
}

/// `init` in the socket's vocabulary, with a wall time of 20 s.
fn init(path: &str, language: &str, code: &str) -> Value {
    match path {
        PISTON => {
            json!({"type": "init", "language": language, "version": "*", "files": [{"content": code}], "run_timeout": 20000})
        }
        _ => json!({"type": "init", "language": language, "code": code, "limits": {"wall_ms": 20000}}),
    }
}

/// An `exit` message's exit code and signal: Piston's `code` and signal name, the native
/// `exit_code` and signal number.
fn ended(path: &str, exit: &Value) -> (Value, Value) {
    match path {
        PISTON => (exit["code"].clone(), exit["signal"].clone()),
        _ => (
            exit["exit_code"].clone(),
            exit["signal"]
                .as_i64()
                .map_or(Value::Null, |n| json!(format!("signal {n}"))),
        ),
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: the full sandbox"]
async fn interactive_prompt_then_answer() {
    each_backend("interactive_prompt_then_answer", |server| async move {
        let code = "name = input('你叫什么名字? ')\nprint(f'你好, {name}!')\nage = input('age? ')\nprint(int(age) + 1)";
        for path in [PISTON, NATIVE] {
            let mut c = Client::connect(&server, path).await;
            c.send(init(path, "python", code)).await;
            let runtime = c.until("runtime").await;
            assert_eq!(runtime["language"], "python");
            assert!(runtime["version"].as_str().unwrap().starts_with("3."));
            assert_eq!(c.until("stage").await["stage"], "run");
            // Input only after the prompt has been seen.
            c.stdout_until("你叫什么名字? ").await;
            c.send(json!({"type": "data", "stream": "stdin", "data": "世界\n"}))
                .await;
            c.stdout_until("你好, 世界!\n").await;
            c.stdout_until("age? ").await;
            c.send(json!({"type": "data", "stream": "stdin", "data": "4"})).await;
            c.send(json!({"type": "data", "stream": "stdin", "data": "1\n"})).await;
            c.stdout_until("42\n").await;
            let exit = c.until("exit").await;
            assert_eq!(exit["stage"], "run", "{path}: {exit}");
            assert_eq!(ended(path, &exit), (json!(0), Value::Null), "{path}: {exit}");
            assert_eq!(c.close_code().await, 4999, "{path}");
        }
        server
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: the full sandbox"]
async fn output_cut_at_the_cap_ends_on_a_whole_character() {
    each_backend("output_cut_at_the_cap_ends_on_a_whole_character", |server| async move {
        // `第 NNNNN 行\n` is 14 bytes: the cap falls 2 bytes into `第`.
        let cap = 292 * 14 + 2;
        let code = "for i in range(100000):\n    print(f'第 {i:05} 行')";
        let mut c = Client::connect(&server, NATIVE).await;
        c.send(json!({"type": "init", "language": "python", "code": code, "limits": {"max_output_bytes": cap}}))
            .await;
        let exit = loop {
            match c.next().await {
                Got::Json(v) if v["type"] == "data" => c.stdout.push_str(v["data"].as_str().unwrap()),
                Got::Json(v) if v["type"] == "exit" => break v,
                Got::Json(_) => {}
                other => panic!("{other:?}; so far {:?}", c.log),
            }
        };
        assert_eq!(exit["status"], "output_limit", "{exit}");
        assert_eq!(exit["truncated"], true, "{exit}");
        assert!(!c.stdout.contains('\u{fffd}'), "{:?}", &c.stdout[c.stdout.len() - 30..]);
        assert!(
            c.stdout.ends_with("第 00291 行\n"),
            "{:?}",
            &c.stdout[c.stdout.len() - 30..]
        );
        server
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: the full sandbox"]
async fn waiting_for_input_is_not_wall_time_and_has_its_own_budget() {
    each_backend(
        "waiting_for_input_is_not_wall_time_and_has_its_own_budget",
        |server| async move {
            let code = "name = input('? ')\nprint('hi ' + name)";
            // Computing between the two questions sets the waits apart.
            let two = "name = input('? ')\nprint('hi ' + name)\nsum(range(3000000))\nage = input('age? ')\nprint(name + ' is ' + age)";
            // A wall time with room for Python's start on a busy machine: the wait begins within it.
            let limits = json!({"wall_ms": 2500, "input_wait_ms": 5000});
            let init = |code: &str| json!({"type": "init", "language": "python", "code": code, "limits": limits});

            // Answered after longer than the wall limit: the wait was the student's, not the
            // program's. It used most of the budget, which is for all waits together: the
            // second wait is told what is left.
            let mut c = Client::connect(&server, NATIVE).await;
            c.send(init(two)).await;
            c.stdout_until("? ").await;
            let waiting = c.until("waiting").await;
            assert_eq!(
                waiting,
                json!({"type": "waiting", "waiting": true, "input_wait_ms": 5000, "input_wait_left_ms": 5000})
            );
            tokio::time::sleep(Duration::from_millis(3500)).await;
            c.send(json!({"type": "data", "stream": "stdin", "data": "Ann\n"}))
                .await;
            let going_on = c.until("waiting").await;
            assert_eq!(going_on["waiting"], false, "{going_on}");
            let second = c.until("waiting").await;
            assert_eq!(second["waiting"], true, "{second}");
            assert_eq!(second["input_wait_ms"], 5000, "{second}");
            let left = second["input_wait_left_ms"].as_u64().expect("time left");
            // About 1.5 s: 5 s less the 3.5 s waited, give or take the 0.1 s between looks.
            assert!(left > 0 && left <= 2_000, "{second}");
            c.send(json!({"type": "data", "stream": "stdin", "data": "12\n"}))
                .await;
            let exit = c.until("exit").await;
            assert_eq!(exit["status"], "ok", "{exit}");
            // Output may come in pieces.
            let stdout: String = c
                .log
                .iter()
                .filter_map(|m| match m {
                    Got::Json(v) if v["type"] == "data" => v["data"].as_str(),
                    _ => None,
                })
                .collect();
            assert_eq!(stdout, "? hi Ann\nage? Ann is 12\n", "{:?}", c.log);

            // Never answered: it ends at the input wait, in its own words.
            let mut c = Client::connect(&server, NATIVE).await;
            c.send(init(code)).await;
            c.until("waiting").await;
            let began = Instant::now();
            let exit = c.until("exit").await;
            let waited = began.elapsed();
            assert_eq!(exit["status"], "input_wait_limit", "{exit}");
            assert_eq!(exit["limit"], json!({"name": "input_wait_ms", "value": 5000}), "{exit}");
            assert_eq!(exit["message"], "waited for input longer than 5000 ms in total", "{exit}");
            assert!(
                waited >= Duration::from_millis(4500) && waited < Duration::from_millis(8000),
                "{waited:?}"
            );

            // Sleeping is not waiting for input: the wall limit holds.
            let mut c = Client::connect(&server, NATIVE).await;
            c.send(init("import time\ntime.sleep(10)")).await;
            let exit = c.until("exit").await;
            assert_eq!(exit["status"], "wall_time_limit", "{exit}");
            assert_eq!(exit["limit"], json!({"name": "wall_ms", "value": 2500}), "{exit}");
            assert!(
                !c.log
                    .iter()
                    .any(|m| matches!(m, Got::Json(v) if v["type"] == "waiting")),
                "{:?}",
                c.log
            );
            server
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: the full sandbox"]
async fn compiled_language_has_both_stages() {
    each_backend("compiled_language_has_both_stages", |server| async move {
        let code = "#include <stdio.h>\nint main(void) { char s[64]; printf(\"? \"); fflush(stdout); if (scanf(\"%63s\", s) == 1) printf(\"[%s]\\n\", s); return 0; }";
        let mut c = Client::connect(&server, PISTON).await;
        c.send(init(PISTON, "c", code)).await;
        assert_eq!(c.until("stage").await["stage"], "compile");
        let exit = c.until("exit").await;
        assert_eq!((&exit["stage"], &exit["code"]), (&json!("compile"), &json!(0)));
        assert_eq!(c.until("stage").await["stage"], "run");
        c.stdout_until("? ").await;
        c.send(json!({"type": "data", "stream": "stdin", "data": "丁\n"})).await;
        c.stdout_until("[丁]\n").await;
        assert_eq!(c.until("exit").await["code"], 0);
        assert_eq!(c.close_code().await, 4999);

        // A compile error: the compile stage's exit, then the end.
        let mut c = Client::connect(&server, PISTON).await;
        c.send(init(PISTON, "c", "int main( {")).await;
        let exit = c.until("exit").await;
        assert_eq!(exit["stage"], "compile");
        assert_ne!(exit["code"], 0);
        assert_eq!(c.close_code().await, 4999);
        let stages: Vec<&Value> = c
            .log
            .iter()
            .filter_map(|g| match g {
                Got::Json(v) if v["type"] == "stage" => Some(&v["stage"]),
                _ => None,
            })
            .collect();
        assert_eq!(stages, [&json!("compile")], "no run stage after a failed compile");
        server
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: the full sandbox"]
async fn signals_reach_the_program() {
    each_backend("signals_reach_the_program", |server| async move {
        let handles_term = "import signal, sys, time\n\
            def bye(signum, frame):\n    print('got', signum, flush=True)\n    sys.exit(7)\n\
            signal.signal(signal.SIGTERM, bye)\nprint('ready', flush=True)\nwhile True:\n    time.sleep(0.05)";
        // Short sleeps: a signal that lands just before a long sleep's system call would wait
        // it out (CPython runs handlers between bytecodes; see engine_runner's signal test).
        for path in [PISTON, NATIVE] {
            let mut c = Client::connect(&server, path).await;
            c.send(init(path, "python", handles_term)).await;
            c.stdout_until("ready").await;
            let sent = Instant::now();
            c.send(json!({"type": "signal", "signal": "SIGTERM"})).await;
            c.stdout_until("got 15").await;
            let exit = c.until("exit").await;
            assert_eq!(ended(path, &exit), (json!(7), Value::Null), "{path}: {exit}");
            assert!(sent.elapsed() < Duration::from_secs(10));
            assert_eq!(c.close_code().await, 4999);
        }

        let spin = "print('spinning', flush=True)\nwhile True: pass";
        for (path, stop) in [
            (PISTON, json!({"type": "signal", "signal": "SIGKILL"})),
            (NATIVE, json!({"type": "signal", "signal": "SIGKILL"})),
            (NATIVE, json!({"type": "kill"})),
        ] {
            let mut c = Client::connect(&server, path).await;
            c.send(init(path, "python", spin)).await;
            c.stdout_until("spinning").await;
            let sent = Instant::now();
            c.send(stop.clone()).await;
            let exit = c.until("exit").await;
            let killed = if path == PISTON { "SIGKILL" } else { "signal 9" };
            assert_eq!(
                ended(path, &exit),
                (Value::Null, json!(killed)),
                "{path} {stop}: {exit}"
            );
            assert!(
                sent.elapsed() < Duration::from_secs(10),
                "killed at once, not at the time limit"
            );
            assert_eq!(c.close_code().await, 4999);
        }
        server
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: the full sandbox"]
async fn eof_ends_cat() {
    each_backend("eof_ends_cat", |server| async move {
        let mut c = Client::connect(&server, NATIVE).await;
        c.send(init(NATIVE, "bash", "cat; echo done")).await;
        c.until("stage").await;
        c.send(json!({"type": "data", "stream": "stdin", "data": "line one\n"}))
            .await;
        c.stdout_until("line one\n").await;
        c.send(json!({"type": "data", "stream": "stdin", "data": "tail without newline"}))
            .await;
        c.send(json!({"type": "eof"})).await;
        let out = c.stdout_until("done\n").await;
        assert!(out.contains("tail without newline"), "{out:?}");
        let exit = c.until("exit").await;
        assert_eq!(exit["exit_code"], 0);
        assert_eq!(exit["status"], "ok", "native statuses: {exit}");
        assert_eq!(c.close_code().await, 4999);

        // Data after eof is a mistake the client hears about.
        let mut c = Client::connect(&server, NATIVE).await;
        c.send(init(NATIVE, "bash", "echo ready; sleep 10")).await;
        c.stdout_until("ready").await;
        c.send(json!({"type": "eof"})).await;
        c.send(json!({"type": "data", "stream": "stdin", "data": "late"})).await;
        let m = c.until("error").await;
        assert!(m["message"].as_str().unwrap().contains("already closed"), "{m}");
        assert_eq!(c.close_code().await, 4002);

        // Big input passes through a program that reads it all (more than a pipe holds).
        let mut c = Client::connect(&server, NATIVE).await;
        c.send(init(NATIVE, "python", "import sys\nprint(len(sys.stdin.read()))"))
            .await;
        c.until("stage").await;
        let chunk = "x".repeat(60_000);
        for _ in 0..10 {
            c.send(json!({"type": "data", "stream": "stdin", "data": chunk})).await;
        }
        c.send(json!({"type": "eof"})).await;
        c.stdout_until("600000\n").await;
        assert_eq!(c.close_code().await, 4999);
        server
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: the full sandbox"]
async fn unread_stdin_neither_blocks_output_nor_grows_without_bound() {
    each_backend("unread_stdin", |server| async move {
        // More stdin than a pipe holds, to a program that never reads it: its output still
        // streams, and it still ends normally.
        let talks = "import time\nprint('start', flush=True)\ntime.sleep(0.3)\n\
            for i in range(300): print(i, flush=True)\nprint('end', flush=True)";
        let mut c = Client::connect(&server, NATIVE).await;
        c.send(init(NATIVE, "python", talks)).await;
        c.stdout_until("start").await;
        let chunk = "y".repeat(60_000);
        for _ in 0..4 {
            c.send(json!({"type": "data", "stream": "stdin", "data": chunk})).await;
        }
        c.stdout_until("299\nend\n").await;
        assert_eq!(c.until("exit").await["exit_code"], 0);
        assert_eq!(c.close_code().await, 4999);

        // Past the bound of waiting stdin: told, and closed.
        let mut c = Client::connect(&server, NATIVE).await;
        c.send(init(
            NATIVE,
            "python",
            "import time\nprint('deaf', flush=True)\ntime.sleep(15)",
        ))
        .await;
        c.stdout_until("deaf").await;
        for _ in 0..20 {
            c.send(json!({"type": "data", "stream": "stdin", "data": chunk})).await;
        }
        let m = c.until("error").await;
        assert!(m["message"].as_str().unwrap().contains("not reading its input"), "{m}");
        assert_eq!(c.close_code().await, 4002);
        server
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_and_stages_have_each_dialects_shape() {
    each_backend_fake(|server| async move {
        // Piston has no message that closes stdin: its program does not read any.
        for (path, compiled) in [
            (PISTON, "# stdout: ? \n# stderr: done"),
            (NATIVE, "# stdout: ? \n# stdin\n# stderr: done"),
        ] {
            let mut c = Client::connect(&server, path).await;
            c.send(init(path, "c", compiled)).await;
            let runtime = c.until("runtime").await;
            assert_eq!(runtime["language"], "c", "{path}: {runtime}");
            assert!(runtime["version"].is_string(), "{runtime}");
            assert_eq!(c.until("stage").await["stage"], "compile");
            let compile = c.until("exit").await;
            assert_eq!(compile["stage"], "compile", "{path}: {compile}");
            assert_eq!(ended(path, &compile), (json!(0), Value::Null), "{path}: {compile}");
            assert_eq!(c.until("stage").await["stage"], "run");
            c.stdout_until("? \n").await;
            if path == NATIVE {
                c.send(json!({"type": "data", "stream": "stdin", "data": "丁\n"})).await;
                c.stdout_until("丁\n").await;
                c.send(json!({"type": "eof"})).await;
            }
            let err = c.until("data").await;
            assert_eq!(
                (&err["stream"], &err["data"]),
                (&json!("stderr"), &json!("done\n")),
                "{path}"
            );
            let exit = c.until("exit").await;
            assert_eq!(exit["stage"], "run", "{path}: {exit}");
            assert_eq!(ended(path, &exit), (json!(0), Value::Null), "{path}: {exit}");
            // The native exit carries the run's numbers and status; Piston's keeps Piston's shape.
            for key in ["cpu_time_ms", "wall_time_ms", "memory_kb"] {
                assert_eq!(exit.get(key).is_some(), path == NATIVE, "{path}: {key} in {exit}");
            }
            if path == NATIVE {
                assert_eq!(
                    (&exit["status"], &exit["cpu_time_ms"], &exit["memory_kb"]),
                    (
                        &json!("ok"),
                        &json!(common::fake::CPU_MS),
                        &json!(common::fake::MEMORY_KB)
                    ),
                    "{exit}"
                );
                assert!(
                    compile["wall_time_ms"].is_u64() && compile.get("files").is_none(),
                    "{compile}"
                );
            }
            assert_eq!(c.close_code().await, 4999, "{path}");

            // A compile error: the compile stage's output and exit, then the end — no run stage.
            let mut c = Client::connect(&server, path).await;
            c.send(init(path, "c", "# compile: error")).await;
            let data = c.until("data").await;
            assert_eq!(
                (&data["stream"], &data["data"]),
                (&json!("stderr"), &json!(common::fake::COMPILE_ERROR))
            );
            let exit = c.until("exit").await;
            assert_eq!(exit["stage"], "compile", "{path}: {exit}");
            assert_eq!(ended(path, &exit).0, json!(1), "{path}: {exit}");
            assert_eq!(c.close_code().await, 4999);
            let stages: Vec<&Value> = c
                .log
                .iter()
                .filter_map(|g| match g {
                    Got::Json(v) if v["type"] == "stage" => Some(&v["stage"]),
                    _ => None,
                })
                .collect();
            assert_eq!(
                stages,
                [&json!("compile")],
                "{path}: no run stage after a failed compile"
            );
        }
        server
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn close_codes_follow_piston() {
    each_backend_fake(|server| async move {
        // No init within a second.
        let mut c = Client::connect(&server, PISTON).await;
        let started = Instant::now();
        assert_eq!(c.close_code().await, 4001);
        assert!(started.elapsed() >= Duration::from_millis(900));

        // A second init.
        let mut c = Client::connect(&server, PISTON).await;
        c.send(init(PISTON, "python", "# stdin")).await;
        c.until("runtime").await;
        c.send(init(PISTON, "python", "# stdin")).await;
        assert_eq!(c.close_code().await, 4000);

        // Data or a signal before init.
        let mut c = Client::connect(&server, PISTON).await;
        c.send(json!({"type": "data", "stream": "stdin", "data": "x"})).await;
        assert_eq!(c.close_code().await, 4003);
        let mut c = Client::connect(&server, NATIVE).await;
        c.send(json!({"type": "kill"})).await;
        assert_eq!(c.close_code().await, 4003);

        // Writing anywhere but stdin; an invalid signal.
        let mut c = Client::connect(&server, PISTON).await;
        c.send(init(PISTON, "python", "# stdin")).await;
        c.until("runtime").await;
        c.send(json!({"type": "data", "stream": "stdout", "data": "x"})).await;
        assert_eq!(c.close_code().await, 4004);
        let mut c = Client::connect(&server, PISTON).await;
        c.send(init(PISTON, "python", "# stdin")).await;
        c.until("runtime").await;
        c.send(json!({"type": "signal", "signal": "SIGBOGUS"})).await;
        assert_eq!(c.close_code().await, 4005);

        // Errors are notified, then 4002.
        let mut c = Client::connect(&server, PISTON).await;
        c.send(json!({"type": "init", "language": "no-such-language", "version": "*", "files": [{"content": "x"}]})).await;
        assert_eq!(c.until("error").await["message"], "no-such-language-* runtime is unknown");
        assert_eq!(c.close_code().await, 4002);
        let mut c = Client::connect(&server, PISTON).await;
        c.send(json!({"type": "init", "language": "python", "version": "*", "files": [{"content": "x"}], "run_timeout": 1e9})).await;
        let m = c.until("error").await;
        assert!(m["message"].as_str().unwrap().starts_with("run_timeout cannot exceed"), "{m}");
        assert_eq!(c.close_code().await, 4002);
        let mut c = Client::connect(&server, PISTON).await;
        c.ws.send(Message::text("{not json")).await.expect("send");
        assert!(c.until("error").await["message"].as_str().unwrap().contains("invalid message"));
        assert_eq!(c.close_code().await, 4002);
        let mut c = Client::connect(&server, NATIVE).await;
        c.send(json!({"type": "init", "language": "python", "files": [{"content": "# stdin"}]})).await;
        c.until("runtime").await;
        c.send(json!({"type": "data", "stream": "stdin", "data": "x".repeat(MAX_STDIN_MESSAGE_BYTES + 1)})).await;
        let m = c.until("error").await;
        assert!(m["message"].as_str().unwrap().contains("bytes per message"), "{m}");
        assert_eq!(c.close_code().await, 4002);
        let mut c = Client::connect(&server, NATIVE).await;
        c.send(json!({"type": "hello"})).await;
        assert!(c.until("error").await["message"].as_str().unwrap().contains("unknown message type"));
        assert_eq!(c.close_code().await, 4002);

        // Piston ignores unknown types; a plain GET is not an upgrade.
        let mut c = Client::connect(&server, PISTON).await;
        c.send(json!({"type": "hello"})).await;
        c.send(init(PISTON, "python", "# stdout: still fine")).await;
        c.stdout_until("still fine").await;
        assert_eq!(c.close_code().await, 4999);
        let response = reqwest::get(format!("{}{PISTON}", server.base)).await.expect("get");
        assert!(response.status().is_client_error());
        let body: Value = response.json().await.expect("json");
        assert!(body["message"].is_string(), "{body}");
        server
    })
    .await;
}

/// A client that closes its socket (the classroom page closes one it opened ahead of a run
/// and did not use) gets the close frame it waits for, so its close is clean, not 1006 —
/// before `init` and during a session alike.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_close_is_answered() {
    each_backend_fake(|server| async move {
        for (path, started) in [(NATIVE, false), (PISTON, false), (NATIVE, true)] {
            let mut c = Client::connect(&server, path).await;
            if started {
                c.send(init(NATIVE, "python", "# stdout: waiting\n# stdin")).await;
                c.stdout_until("waiting").await;
            }
            let normal = tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode::Normal,
                reason: "".into(),
            };
            c.ws.close(Some(normal)).await.expect("send a close frame");
            assert_eq!(c.close_code().await, 1000, "{path}, started: {started}");
        }
        server
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: the full sandbox"]
async fn a_client_that_leaves_takes_its_program() {
    each_backend("a_client_that_leaves_takes_its_program", |server| async move {
        let mut c = Client::connect(&server, NATIVE).await;
        c.send(init(NATIVE, "python", "print('busy', flush=True)\nwhile True: pass"))
            .await;
        c.stdout_until("busy").await;
        assert_eq!(server.state.runner().running(), 1);
        drop(c);
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.state.runner().running() > 0 {
            assert!(Instant::now() < deadline, "the program outlived its client");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: the full sandbox"]
async fn native_exit_has_time_memory_and_images() {
    each_backend("native_exit_has_time_memory_and_images", |server| async move {
        let code = "import struct, zlib\n\
            def chunk(k, d): return struct.pack('>I', len(d)) + k + d + struct.pack('>I', zlib.crc32(k + d))\n\
            rows = b''.join(b'\\x00' + bytes(range(16)) for _ in range(16))\n\
            png = b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 16, 16, 8, 0, 0, 0, 0)) \
            + chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b'')\n\
            open('plot.png', 'wb').write(png)\nprint(len(png))";
        let mut c = Client::connect(&server, NATIVE).await;
        c.send(init(NATIVE, "python", code)).await;
        let size = c.stdout_until("\n").await;
        let exit = c.until("exit").await;
        assert_eq!(
            (&exit["stage"], &exit["status"]),
            (&json!("run"), &json!("ok")),
            "{exit}"
        );
        for key in ["cpu_time_ms", "wall_time_ms", "memory_kb"] {
            assert!(exit[key].is_u64(), "{key}: {exit}");
        }
        assert!(exit["memory_kb"].as_u64().unwrap() > 0, "{exit}");
        let files = exit["files"].as_array().expect("files on the run stage's exit");
        assert_eq!(files.len(), 1, "{exit}");
        assert_eq!(
            (&files[0]["name"], &files[0]["mime"]),
            (&json!("plot.png"), &json!("image/png"))
        );
        assert_eq!(files[0]["size"].to_string(), size.trim());
        assert!(
            files[0]["content_base64"].as_str().unwrap().starts_with("iVBORw0KGgo"),
            "{exit}"
        );

        // A compiled language: its compile stage's exit has the numbers but no files.
        let mut c = Client::connect(&server, NATIVE).await;
        c.send(init(NATIVE, "c", "int main(void) { return 0; }")).await;
        let compile = c.until("exit").await;
        assert_eq!(compile["stage"], "compile");
        assert!(
            compile["wall_time_ms"].is_u64() && compile.get("files").is_none(),
            "{compile}"
        );
        let run = c.until("exit").await;
        assert_eq!(run["files"], json!([]), "{run}");

        // Piston's exit message keeps Piston's shape.
        let mut c = Client::connect(&server, PISTON).await;
        c.send(init(PISTON, "python", code)).await;
        let exit = c.until("exit").await;
        for key in ["cpu_time_ms", "wall_time_ms", "memory_kb", "files"] {
            assert!(exit.get(key).is_none(), "{key} in Piston's exit: {exit}");
        }
        server
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn each_socket_speaks_its_own_apis_vocabulary() {
    each_backend_fake(|server| async move {
        let http = reqwest::Client::new();
        let answer = |path: &'static str, body: Value| {
            let request = http.post(format!("{}{path}", server.base)).body(body.to_string());
            async move {
                let response = request.send().await.expect("request");
                let status = response.status().as_u16();
                (status, response.json::<Value>().await.expect("a JSON answer"))
            }
        };
        let refused = |path: &'static str, init: Value| {
            let server = &server;
            async move {
                let mut c = Client::connect(server, path).await;
                c.send(init).await;
                let m = c.until("error").await;
                assert_eq!(c.close_code().await, 4002, "{path}");
                m["message"].as_str().expect("a message").to_owned()
            }
        };

        // A limit past its maximum, and an unknown language: each socket words them as its
        // HTTP API does.
        let too_long = json!({"language": "python", "code": "print(1)", "limits": {"wall_ms": 999_999_999}});
        let (status, http_error) = answer("/api/v1/run", too_long.clone()).await;
        assert_eq!(status, 400, "{http_error}");
        let mut init = too_long;
        init["type"] = json!("init");
        assert_eq!(refused(NATIVE, init).await, http_error["error"].as_str().unwrap());
        let unknown = json!({"language": "no-such-language", "code": "x"});
        let (_, http_error) = answer("/api/v1/run", unknown.clone()).await;
        let mut init = unknown;
        init["type"] = json!("init");
        assert_eq!(refused(NATIVE, init).await, http_error["error"].as_str().unwrap());
        let piston =
            json!({"language": "python", "version": "*", "files": [{"content": "x"}], "run_timeout": 999_999_999});
        let (status, http_error) = answer("/api/v2/execute", piston.clone()).await;
        assert_eq!(status, 400, "{http_error}");
        let mut init = piston;
        init["type"] = json!("init");
        assert_eq!(refused(PISTON, init).await, http_error["message"].as_str().unwrap());

        // Piston's names are not the native socket's.
        let message = refused(
            NATIVE,
            json!({"type": "init", "language": "python", "code": "x", "run_timeout": 1000}),
        )
        .await;
        assert!(message.contains("unknown field `run_timeout`"), "{message}");
        let message = refused(
            NATIVE,
            json!({"type": "init", "language": "python", "code": "x", "limits": {"cpu_ms": -1}}),
        )
        .await;
        assert!(message.contains("limits.cpu_ms"), "{message}");

        // A run past its CPU limit: the native status and signal number, Piston's `TO` and name.
        let spin = "# status: time_limit";
        let mut c = Client::connect(&server, NATIVE).await;
        c.send(json!({"type": "init", "language": "python", "code": spin, "limits": {"cpu_ms": 300}}))
            .await;
        let exit = c.until("exit").await;
        assert_eq!(
            (&exit["status"], &exit["exit_code"], &exit["signal"]),
            (&json!("time_limit"), &Value::Null, &json!(9)),
            "{exit}"
        );
        assert_eq!(exit["cpu_time_ms"], json!(common::fake::CPU_MS), "{exit}");
        assert!(exit.get("code").is_none(), "{exit}");
        assert_eq!(c.close_code().await, 4999);
        let mut c = Client::connect(&server, PISTON).await;
        c.send(
            json!({"type": "init", "language": "python", "version": "*", "files": [{"content": spin}],
                      "run_cpu_time": 300}),
        )
        .await;
        let exit = c.until("exit").await;
        assert_eq!(
            (&exit["status"], &exit["code"], &exit["signal"]),
            (&json!("TO"), &Value::Null, &json!("SIGKILL")),
            "{exit}"
        );
        assert_eq!(c.close_code().await, 4999);
        server
    })
    .await;
}
