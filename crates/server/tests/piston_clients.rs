//! Real Piston clients, unchanged, against a real server (real programs: root, the full
//! sandbox): aiopyston and ultra-piston from PyPI (pinned; installed into
//! `target/pyclients-piston` when missing and driven by `tests/clients/*_test.py` the way their
//! READMEs show), and the Piston CLI. The CLI (`cli/` of engineer-man/piston) is not in any
//! registry, so its requests are reproduced here exactly as its source makes them (axios 0.21's
//! headers, its body's fields and order, yargs' numbers in `args`, the extra files before the
//! main one, base64 for a file that is not UTF-8): `piston run` with `-f` files, arguments and
//! `-i` stdin, `piston run -t` (WebSocket), `ppman list` and `ppman install`.

extern crate tiderun_server as server;

mod common;

use common::TestServer;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use server::ServerConfig;
use tokio_tungstenite::tungstenite::Message;

/// Tests of one binary share a process, and servers of one process share sandbox uids and
/// cgroup names: one server at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The clients, pinned to the newest releases.
const PYTHON_CLIENTS: [&str; 2] = ["aiopyston==1.2.1", "ultra-piston==1.0.1"];
/// One client script, at most (ultra-piston waits up to 1 s between requests).
const CLIENT_TIMEOUT_S: u64 = 300;
/// What the Piston CLI's axios instance sends with every request (`cli/index.js`).
const CLI_HEADERS: [(&str, &str); 3] = [
    ("accept", "application/json, text/plain, */*"),
    ("content-type", "application/json"),
    ("user-agent", "axios/0.21.2"),
];

/// Run `tests/clients/<script>` against a real server on every backend; it prints a line per
/// check and fails on any.
async fn python_client(script: &str) {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let markers = ["pyston/client.py", "ultra_piston/piston.py"];
    let Some((py, dir)) = common::clients::pip_installed("pyclients-piston", &PYTHON_CLIENTS, &markers).await else {
        return;
    };
    let _serial = SERIAL.lock().await;
    for backend in common::backends() {
        let server = common::start(ServerConfig::default(), backend).await;
        let label = format!("{backend:?}");
        common::clients::run_python_client(&py, &dir, script, &server.base, CLIENT_TIMEOUT_S, &label).await;
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: the full sandbox"]
async fn aiopyston() {
    python_client("aiopyston_test.py").await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: the full sandbox"]
async fn ultra_piston() {
    python_client("ultra_piston_test.py").await;
}

/// A file as the CLI sends it (`cli/commands/execute.js`): its base name, and its content as
/// UTF-8 unless decoding it as UTF-8 gives a replacement character, then base64.
fn cli_file(name: &str, bytes: &[u8]) -> Value {
    use base64::Engine as _;
    let text = String::from_utf8_lossy(bytes);
    if text.contains('\u{fffd}') {
        let content = base64::engine::general_purpose::STANDARD.encode(bytes);
        json!({"name": name, "content": content, "encoding": "base64"})
    } else {
        json!({"name": name, "content": text, "encoding": "utf8"})
    }
}

/// `JSON.stringify` of the CLI's request objects: its fields in its order.
fn stringify(fields: &[(&str, Value)]) -> String {
    let members: Vec<String> = fields.iter().map(|(k, v)| format!("{}:{v}", Value::from(*k))).collect();
    format!("{{{}}}", members.join(","))
}

const MAIN_C: &str = r#"#include <stdio.h>
#include "add.h"

int main(int argc, char **argv) {
    char line[64] = "";
    if (!fgets(line, sizeof line, stdin)) line[0] = 0;
    FILE *f = fopen("input.bin", "rb");
    long n = -1;
    if (f && fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    printf("%d %s %s %ld %s", add(2, 3), argc > 1 ? argv[1] : "-", argc > 2 ? argv[2] : "-", n, line);
    return 0;
}
"#;

/// `piston run c main.c -f add.c -f add.h -f input.bin 4 two`: the extra files first, the
/// main file last (so Piston's main file is add.c, and every .c file is compiled).
fn cli_files() -> Value {
    json!([
        cli_file(
            "add.c",
            b"#include \"add.h\"\nint add(int a, int b) { return a + b; }\n"
        ),
        cli_file("add.h", b"int add(int a, int b);\n"),
        cli_file("input.bin", &[0xff, 0x00, b'x']),
        cli_file("main.c", MAIN_C.as_bytes()),
    ])
}

async fn cli_request(server: &TestServer, method: reqwest::Method, path: &str, body: Option<String>) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", server.base));
    for (name, value) in CLI_HEADERS {
        request = request.header(name, value);
    }
    if let Some(body) = body {
        request = request.body(body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"));
    (status, value)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: the full sandbox"]
async fn piston_cli() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let _serial = SERIAL.lock().await;
    for backend in common::backends() {
        let server = common::start(ServerConfig::default(), backend).await;

        // `echo "from stdin" | piston run c main.c -f add.c -f add.h -f input.bin -i 4 two`:
        // yargs makes `4` a number; the timeouts are the CLI's defaults.
        let body = stringify(&[
            ("language", json!("c")),
            ("version", json!("*")),
            ("files", cli_files()),
            ("args", json!([4, "two"])),
            ("stdin", json!("from stdin\n")),
            ("compile_timeout", json!(10000)),
            ("run_timeout", json!(3000)),
        ]);
        let (status, r) = cli_request(&server, reqwest::Method::POST, "/api/v2/execute", Some(body)).await;
        assert_eq!(status, 200, "{r}");
        // What the CLI prints: compile and run's stdout, stderr, code (when not 0), signal.
        assert_eq!(r["compile"]["code"], 0, "{r}");
        assert_eq!(r["compile"]["stderr"], "", "{r}");
        assert_eq!(r["run"]["stdout"], "5 4 two 3 from stdin\n", "{r}");
        assert_eq!(
            (&r["run"]["code"], &r["run"]["signal"]),
            (&json!(0), &Value::Null),
            "{r}"
        );

        // Without `-i` the CLI sends `stdin: ""`, and no arguments: `args: []`.
        let body = stringify(&[
            ("language", json!("c")),
            ("version", json!("*")),
            ("files", cli_files()),
            ("args", json!([])),
            ("stdin", json!("")),
            ("compile_timeout", json!(10000)),
            ("run_timeout", json!(3000)),
        ]);
        let (status, r) = cli_request(&server, reqwest::Method::POST, "/api/v2/execute", Some(body)).await;
        assert_eq!(status, 200, "{r}");
        assert_eq!(
            r["compile"]["cached"],
            Value::Null,
            "Piston's shape has no `cached`: {r}"
        );
        assert_eq!(r["run"]["stdout"], "5 - - 3 \n", "{r}");

        // `piston ppman list`: one line per package, `• language language_version`, green
        // when installed.
        let (status, packages) = cli_request(&server, reqwest::Method::GET, "/api/v2/packages", None).await;
        assert_eq!(status, 200, "{packages}");
        let lines: Vec<String> = packages
            .as_array()
            .expect("an array")
            .iter()
            .map(|p| {
                let mark = if p["installed"].as_bool().expect("installed is a boolean") {
                    "+"
                } else {
                    "-"
                };
                let language = p["language"].as_str().expect("language");
                let version = p["language_version"].as_str().expect("language_version");
                format!("{mark} {language} {version}")
            })
            .collect();
        let c_version = server
            .state
            .runner()
            .engine()
            .catalog()
            .get("c")
            .and_then(|rt| rt.version.clone())
            .expect("c is installed");
        assert!(lines.contains(&format!("+ c {c_version}")), "{lines:?}");

        // `piston ppman install java`: the CLI prints the answer's `message`.
        let body = stringify(&[("language", json!("java")), ("version", json!("*"))]);
        let (status, r) = cli_request(&server, reqwest::Method::POST, "/api/v2/packages", Some(body)).await;
        assert_eq!(status, 403, "{r}");
        let message = r["message"].as_str().expect("the CLI prints message");
        assert!(
            message.contains("tiderun does not install runtimes over its API"),
            "{message}"
        );
        // `piston ppman uninstall c`.
        let body = stringify(&[("language", json!("c")), ("version", json!("*"))]);
        let (status, r) = cli_request(&server, reqwest::Method::DELETE, "/api/v2/packages", Some(body)).await;
        assert_eq!(status, 403, "{r}");
        assert!(
            r["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("c is removed by an operator")),
            "{r}"
        );

        interactive(&server).await;
        server.stop().await;
    }
}

/// `piston run c main.c -f add.c -f add.h -f input.bin -t 4 two`, then `typed` on its stdin:
/// the CLI's WebSocket `init` (no stdin field), its stdin chunk, and what it reads back.
async fn interactive(server: &TestServer) {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{}/api/v2/connect", server.ws_base()))
        .await
        .expect("connect");
    let init = stringify(&[
        ("type", json!("init")),
        ("language", json!("c")),
        ("version", json!("*")),
        ("files", cli_files()),
        ("args", json!([4, "two"])),
        ("compile_timeout", json!(10000)),
        ("run_timeout", json!(3000)),
    ]);
    ws.send(Message::text(init)).await.expect("send init");
    let stdin = stringify(&[
        ("type", json!("data")),
        ("stream", json!("stdin")),
        ("data", json!("typed\n")),
    ]);
    ws.send(Message::text(stdin)).await.expect("send stdin");
    let mut stages = Vec::new();
    let mut exits = Vec::new();
    let mut stdout = String::new();
    let close = loop {
        let message = tokio::time::timeout(std::time::Duration::from_secs(60), ws.next())
            .await
            .expect("the server answers within a minute");
        match message {
            Some(Ok(Message::Text(text))) => {
                let m: Value = serde_json::from_str(text.as_str()).expect("JSON");
                match m["type"].as_str() {
                    Some("runtime") => assert_eq!(m["language"], "c", "{m}"),
                    Some("stage") => stages.push(m["stage"].as_str().unwrap_or_default().to_owned()),
                    Some("data") if m["stream"] == "stdout" => stdout.push_str(m["data"].as_str().unwrap_or_default()),
                    Some("data") => {}
                    Some("exit") => exits.push((m["stage"].clone(), m["code"].clone(), m["signal"].clone())),
                    _ => panic!("the CLI logs this as an unknown message: {m}"),
                }
            }
            Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => {}
            other => panic!("the connection ended without a close frame: {other:?}"),
        }
    };
    assert_eq!(stages, ["compile", "run"]);
    assert_eq!(
        exits,
        [
            (json!("compile"), json!(0), Value::Null),
            (json!("run"), json!(0), Value::Null)
        ]
    );
    assert_eq!(stdout, "5 4 two 3 typed\n");
    assert_eq!(close, Some(4999), "a finished job closes with 4999");
}
