//! WebSocket clients that try to stall the server or outlast a run's limits, on a real server:
//! a flood of `signal` messages while a program compiles, and a client that stops reading
//! while a program of spinning threads prints.

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
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(60);

/// What the issue asks of the server while it is attacked: answer within a second.
const ANSWER_WITHIN: Duration = Duration::from_secs(1);

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(server: &TestServer, path: &str) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(format!("{}{path}", server.ws_base()))
        .await
        .unwrap_or_else(|e| panic!("connect {path}: {e}"));
    ws
}

async fn send(ws: &mut Ws, message: Value) {
    ws.send(Message::text(message.to_string())).await.expect("send");
}

/// The next JSON message, `None` at a close or the end of the connection.
async fn next_json(ws: &mut Ws, within: Duration) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(within, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no message within {within:?}"));
        match message {
            Some(Ok(Message::Text(text))) => {
                return Some(serde_json::from_str(text.as_str()).expect("server sends JSON"))
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => {}
        }
    }
}

/// Messages until one of `kind` (which is returned); panics at the end of the connection.
async fn until(ws: &mut Ws, kind: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match next_json(ws, left).await {
            Some(v) if v["type"] == kind => return v,
            Some(v) => {
                if seen.len() < 20 {
                    seen.push(v)
                }
            }
            None => panic!("the connection ended before a {kind} message; first messages {seen:?}"),
        }
    }
}

/// A runtime of its own for the server, with `workers` threads, so a blocked worker stalls the
/// server and not the test's clients. Shut down without waiting when dropped (a failed test
/// may leave its threads blocked).
struct ServerRuntime(Option<tokio::runtime::Runtime>);

impl ServerRuntime {
    fn new(workers: usize) -> ServerRuntime {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("server")
            .enable_all()
            .build()
            .expect("server runtime");
        ServerRuntime(Some(runtime))
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        self.0.as_ref().expect("running").handle()
    }
}

impl Drop for ServerRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Worker threads of the server in the flood test; one flooding session per worker (and one
/// more) blocked every one of them before the fix.
const SERVER_WORKERS: usize = 2;
/// Signals per flooding session: more than a 64 KiB pipe holds (16384 four-byte numbers).
const FLOOD_SIGNALS: usize = 20_000;

/// C++ whose compile takes seconds (constant evaluation), made unique so the build cache does
/// not skip it.
fn slow_compile(tag: usize) -> String {
    format!(
        "// flood {tag} {nanos}\n\
         #include <cstdio>\n\
         constexpr unsigned long long spin() {{\n\
             unsigned long long s = 0;\n\
             for (unsigned i = 0; i < 1200; ++i)\n\
                 for (unsigned j = 0; j < 1200; ++j) s += i ^ j;\n\
             return s;\n\
         }}\n\
         constexpr unsigned long long X = spin();\n\
         int main() {{ std::printf(\"ran %llu\\n\", X & 1); return 0; }}\n",
        nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root: the full sandbox"]
async fn a_signal_flood_during_a_compile_does_not_stall_the_server() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let _serial = SERIAL.lock().await;
    let runtime = ServerRuntime::new(SERVER_WORKERS);
    for backend in common::backends() {
        let server = runtime
            .handle()
            .spawn(common::start(ServerConfig::default(), backend))
            .await
            .expect("start the server");
        let http = reqwest::Client::new();

        // Sessions that compile for seconds while their clients send signal after signal,
        // through both vocabularies.
        let mut flooders = Vec::new();
        for tag in 0..=SERVER_WORKERS {
            let (path, init) = if tag % 2 == 0 {
                (
                    "/api/v2/connect",
                    json!({"type": "init", "language": "c++", "version": "*",
                           "files": [{"content": slow_compile(tag)}], "run_timeout": 10000}),
                )
            } else {
                (
                    "/api/v1/ws",
                    json!({"type": "init", "language": "c++", "code": slow_compile(tag), "limits": {"wall_ms": 10000}}),
                )
            };
            let mut ws = connect(&server, path).await;
            send(&mut ws, init).await;
            let stage = until(&mut ws, "stage", MESSAGE_TIMEOUT).await;
            assert_eq!(stage["stage"], "compile", "{stage}");
            flooders.push(tokio::spawn(async move {
                let signal = Message::text(json!({"type": "signal", "signal": "SIGWINCH"}).to_string());
                for _ in 0..FLOOD_SIGNALS {
                    ws.feed(signal.clone()).await.expect("feed a signal");
                }
                ws.flush().await.expect("flush the signals");
                ws
            }));
        }
        // Give the floods time to arrive (they are sent in a few hundred milliseconds).
        tokio::time::sleep(Duration::from_secs(1)).await;

        // The server still answers at once: a health check and a new session.
        let health = tokio::time::timeout(ANSWER_WITHIN, http.get(format!("{}/healthz", server.base)).send()).await;
        let health =
            health.unwrap_or_else(|_| panic!("/healthz did not answer within {ANSWER_WITHIN:?} during a signal flood"));
        assert!(health.expect("healthz").status().is_success());
        let mut probe = tokio::time::timeout(ANSWER_WITHIN, connect(&server, "/api/v1/ws"))
            .await
            .unwrap_or_else(|_| {
                panic!("a new WebSocket was not accepted within {ANSWER_WITHIN:?} during a signal flood")
            });
        send(
            &mut probe,
            json!({"type": "init", "language": "bash", "code": "echo alive"}),
        )
        .await;
        let runtime_message = tokio::time::timeout(ANSWER_WITHIN, until(&mut probe, "runtime", MESSAGE_TIMEOUT)).await;
        assert!(
            runtime_message.is_ok(),
            "a new session was not answered within {ANSWER_WITHIN:?} during a signal flood"
        );
        let mut stdout = String::new();
        let exit = loop {
            let v = next_json(&mut probe, MESSAGE_TIMEOUT)
                .await
                .expect("the probe session ends with exit");
            match v["type"].as_str() {
                Some("data") => stdout.push_str(v["data"].as_str().unwrap_or_default()),
                Some("exit") => break v,
                _ => {}
            }
        };
        assert_eq!((stdout.as_str(), &exit["status"]), ("alive\n", &json!("ok")), "{exit}");

        // The flooded sessions go on: their programs compile, run (the signals were
        // coalesced, not queued by the thousand) and end normally.
        for (tag, flooder) in flooders.into_iter().enumerate() {
            let mut ws = tokio::time::timeout(MESSAGE_TIMEOUT, flooder)
                .await
                .expect("a flood is sent")
                .expect("flood task");
            // Piston's exit code is `code`, the native one `exit_code`.
            let code = if tag % 2 == 0 { "code" } else { "exit_code" };
            let compiled = until(&mut ws, "exit", MESSAGE_TIMEOUT).await;
            assert_eq!(
                (&compiled["stage"], &compiled[code]),
                (&json!("compile"), &json!(0)),
                "{compiled}"
            );
            let ran = until(&mut ws, "exit", MESSAGE_TIMEOUT).await;
            assert_eq!((&ran["stage"], &ran[code]), (&json!("run"), &json!(0)), "{ran}");
        }
        runtime.handle().spawn(server.stop()).await.expect("stop the server");
    }
}

/// The slow reader's program: four threads that spin and a main thread that prints
/// [`SLOW_READER_PRINTS`] bytes (within the output cap, far more than socket buffers hold).
const SPIN_AND_PRINT: &str = r#"
#include <pthread.h>
#include <string.h>
#include <unistd.h>
static void *spin(void *arg) { volatile unsigned long n = 0; for (;;) n++; return arg; }
int main(void) {
    pthread_t t;
    for (int i = 0; i < 4; i++) pthread_create(&t, 0, spin, 0);
    static char block[4000];
    memset(block, 1, sizeof block);
    for (int i = 0; i < 3000; i++) write(1, block, sizeof block);
    for (;;) pause();
}
"#;
const SLOW_READER_PRINTS: usize = 12_000_000;
/// The slow reader's output cap: the largest a runtime may allow, so the output is many times
/// what the kernel's socket buffers hold (each `\x01` is six bytes of JSON).
const SLOW_READER_OUTPUT_CAP: u64 = 16 << 20;
/// The slow reader's run limits.
const SLOW_READER_CPU_MS: u64 = 2000;
const SLOW_READER_WALL_MS: u64 = 20_000;
/// How long the client stops reading: well past the CPU limit, below the server's send
/// timeout (10 s, after which a client counts as gone).
const SLOW_READER_PAUSE: Duration = Duration::from_secs(6);
/// CPU past the limit that the supervisor's polling may let through (it reads the cgroup every
/// 5-100 ms; a few threads on a few cores).
const CPU_EPSILON_MS: u64 = 300;

/// A runner whose C runs may print up to `cap` bytes (a runtime file that says so, as a
/// school's directory of runtime files would).
fn runner_with_c_output_cap(cap: u64) -> std::sync::Arc<engine::Runner> {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = format!(
        "{}\n[limits.run]\nmax_output_bytes = {cap}\n",
        include_str!("../../../runtimes/c.toml")
    );
    std::fs::write(dir.path().join("c.toml"), c).expect("write c.toml");
    let mut catalog = runtimes::Catalog::load(Some(dir.path())).expect("catalog");
    catalog.detect();
    common::runner_with_catalog(catalog, engine::RunnerConfig::default(), engine::PoolConfig::disabled())
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: the full sandbox"]
async fn a_client_that_stops_reading_does_not_stretch_the_cpu_limit() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let _serial = SERIAL.lock().await;
    for backend in common::backends() {
        let runner = runner_with_c_output_cap(SLOW_READER_OUTPUT_CAP);
        let server = common::start_with_runner(ServerConfig::default(), runner, backend).await;
        // A small receive buffer, so the server's sends back up soon.
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        let addr = server.base.trim_start_matches("http://").parse().expect("address");
        let stream = socket.connect(addr).await.expect("connect");
        let (mut ws, _) = tokio_tungstenite::client_async(
            format!("{}/api/v1/ws", server.ws_base()),
            tokio_tungstenite::MaybeTlsStream::Plain(stream),
        )
        .await
        .expect("upgrade");
        send(
            &mut ws,
            json!({"type": "init", "language": "c", "code": SPIN_AND_PRINT,
                   "limits": {"cpu_ms": SLOW_READER_CPU_MS, "wall_ms": SLOW_READER_WALL_MS}}),
        )
        .await;
        let compiled = until(&mut ws, "exit", MESSAGE_TIMEOUT).await;
        assert_eq!(compiled["exit_code"], 0, "{compiled}");
        until(&mut ws, "stage", MESSAGE_TIMEOUT).await; // run
                                                        // Stop reading while the program prints and spins.
        tokio::time::sleep(SLOW_READER_PAUSE).await;
        let mut printed = 0usize;
        let exit = loop {
            let v = next_json(&mut ws, MESSAGE_TIMEOUT)
                .await
                .expect("the run ends with exit");
            match v["type"].as_str() {
                Some("data") => printed += v["data"].as_str().map_or(0, str::len),
                Some("exit") => break v,
                _ => {}
            }
        };
        let cpu = exit["cpu_time_ms"].as_u64().expect("cpu_time_ms");
        println!("printed {printed} of {SLOW_READER_PRINTS} bytes; cpu_time_ms {cpu}");
        assert_eq!(exit["status"], "time_limit", "{exit}");
        assert!(
            cpu <= SLOW_READER_CPU_MS + CPU_EPSILON_MS,
            "cpu_time_ms {cpu} is past the limit of {SLOW_READER_CPU_MS} ms (+{CPU_EPSILON_MS}) while the client \
             did not read: {exit}"
        );
        assert!(printed > 0, "the output reached the client");
        server.stop().await;
    }
}
