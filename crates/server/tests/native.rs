//! The native API (`/api/v1`): one real end-to-end run (Python and C from the runtime
//! examples), the limits, test cases and the build cache on the real engine; and against the
//! router with the stand-in executor (`common::fake`, no root): stdin, arguments and files, compile
//! errors, graded tests with hidden ones, the runtime list, the OpenAPI document, and a 4xx that
//! says what is wrong for every kind of bad request.

extern crate tiderun_server as server;

mod common;

use common::{backends, fake, Backend, TestServer};
use serde_json::{json, Value};
use server::ServerConfig;

/// Test servers of one process share a uid range and run names: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn start(backend: Backend) -> TestServer {
    common::start(ServerConfig::default(), backend).await
}

/// A server with the stand-in executor behind it (no sandbox: runs without root).
async fn start_fake(backend: Backend) -> TestServer {
    fake::start(ServerConfig::default(), backend).await
}

async fn stop(server: TestServer) {
    let sandbox_idle = server.state.clone();
    server.stop().await;
    sandbox_idle
        .runner()
        .engine()
        .wait_idle(std::time::Duration::from_secs(10));
}

/// POST a JSON value to `/api/v1/run`: (status, body).
async fn run(server: &TestServer, body: Value) -> (u16, Value) {
    post_raw(server, body.to_string().into_bytes(), Some("application/json")).await
}

async fn post_raw(server: &TestServer, body: Vec<u8>, content_type: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}/api/v1/run", server.base))
        .body(body);
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, value)
}

async fn get(server: &TestServer, path: &str) -> (u16, Value) {
    let response = reqwest::get(format!("{}{path}", server.base)).await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn ok_run(status: u16, body: &Value) -> &Value {
    assert_eq!(status, 200, "{body}");
    &body["run"]
}

#[tokio::test]
#[ignore = "needs root: the full sandbox"]
async fn hello_world_in_python_and_c_from_the_runtime_examples() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let _serial = SERIAL.lock().await;
    for backend in backends() {
        let server = start(backend).await;
        let (status, runtimes) = get(&server, "/api/v1/runtimes").await;
        assert_eq!(status, 200);
        for language in ["python", "c"] {
            let rt = runtimes
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["language"] == language)
                .unwrap();
            let hello = rt["example"]["hello"].as_str().unwrap();
            let (status, body) = run(&server, json!({"language": language, "code": hello})).await;
            let r = ok_run(status, &body);
            assert_eq!(body["status"], "ok", "{body}");
            assert_eq!(body["language"], language);
            assert_eq!(body["version"], rt["version"]);
            assert_eq!(r["stdout"], "Hello, world!\n", "{body}");
            assert_eq!(r["exit_code"], 0);
            assert_eq!(body["compile"].is_null(), language == "python", "{body}");
            for key in [
                "stderr",
                "signal",
                "cpu_time_ms",
                "wall_time_ms",
                "memory_kb",
                "message",
            ] {
                assert!(r.get(key).is_some(), "run.{key} missing: {body}");
            }
        }
        // An alias and a version selector; no Content-Type at all.
        let body = json!({"language": "py", "version": "3.x", "code": "print(6 * 7)"});
        let (status, body) = post_raw(&server, body.to_string().into_bytes(), None).await;
        assert_eq!(ok_run(status, &body)["stdout"], "42\n", "{body}");
        assert_eq!(body["language"], "python");
        stop(server).await;
    }
}

#[tokio::test]
#[ignore = "needs root: the full sandbox"]
async fn every_source_file_is_compiled_and_linked() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let _serial = SERIAL.lock().await;
    let server = start(Backend::Sqlite).await;
    // main.c, a header and two more sources, one in a directory and one named like an
    // option: all sources compiled and linked, the header only written.
    let (status, body) = run(
        &server,
        json!({"language": "c", "files": [
            {"name": "main.c", "content": "#include <stdio.h>\n#include \"calc.h\"\nint main(void) { printf(\"%d %d\\n\", add(2, 3), neg(4)); return 0; }\n"},
            {"name": "calc.h", "content": "int add(int a, int b);\nint neg(int a);\n"},
            {"name": "lib/add.c", "content": "int add(int a, int b) { return a + b; }\n"},
            {"name": "-neg.c", "content": "int neg(int a) { return -a; }\n"},
        ]}),
    )
    .await;
    assert_eq!(ok_run(status, &body)["stdout"], "5 -4\n", "{body}");
    assert_eq!(body["compile"]["status"], "ok", "{body}");
    // A C++ program of two sources.
    let (status, body) = run(
        &server,
        json!({"language": "cpp", "files": [
            {"name": "main.cpp", "content": "#include <iostream>\nint twice(int);\nint main() { std::cout << twice(21) << std::endl; }\n"},
            {"name": "twice.cc", "content": "int twice(int x) { return 2 * x; }\n"},
        ]}),
    )
    .await;
    assert_eq!(ok_run(status, &body)["stdout"], "42\n", "{body}");
    stop(server).await;
}

#[tokio::test]
async fn stdin_args_and_files_reach_the_program() {
    let server = start_fake(Backend::Sqlite).await;
    let (status, body) = run(
        &server,
        json!({"language": "python", "code": "# stdin\n# args", "stdin": "ada\n", "args": ["-x", "two words", "$HOME"]}),
    )
    .await;
    assert_eq!(
        ok_run(status, &body)["stdout"],
        "ada\n[\"-x\", \"two words\", \"$HOME\"]\n",
        "{body}"
    );

    // Several files, one base64-encoded, one in a directory; the first is the main one.
    let (status, body) = run(
        &server,
        json!({"language": "python", "files": [
            {"name": "app.py", "content": "# main\n# files"},
            {"name": "lib/__init__.py", "content": ""},
            {"name": "lib/util.py", "content": "ZGVmIGdyZWV0KCk6IHJldHVybiAnZnJvbSBhIG1vZHVsZSc=", "encoding": "base64"},
        ]}),
    )
    .await;
    assert_eq!(
        ok_run(status, &body)["stdout"],
        "app.py\nlib/__init__.py: \nlib/util.py: def greet(): return \\'from a module\\'\n",
        "{body}"
    );

    // An unnamed main file takes the runtime's name; an unnamed other one `file1`.
    let (status, body) = run(
        &server,
        json!({"language": "c", "files": [
            {"content": "# main\n# files"},
            {"name": "answer.h", "content": "#define ANSWER 42\n"},
            {"content": "x"},
        ]}),
    )
    .await;
    assert_eq!(
        ok_run(status, &body)["stdout"],
        "main.c\nanswer.h: #define ANSWER 42\\n\nfile2: x\n",
        "{body}"
    );
    assert_eq!(body["compile"]["status"], "ok", "{body}");
    server.stop().await;
}

#[tokio::test]
#[ignore = "needs root: the full sandbox"]
async fn limits_end_runs_with_their_status() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let _serial = SERIAL.lock().await;
    let server = start(Backend::Sqlite).await;
    let cases = [
        ("while True: pass", json!({"cpu_ms": 300}), "time_limit"),
        (
            "import time\ntime.sleep(30)",
            json!({"wall_ms": 500}),
            "wall_time_limit",
        ),
        (
            "x = bytearray(512 * 1024 * 1024)\nprint(len(x))",
            json!({"memory_mb": 64}),
            "memory_limit",
        ),
        (
            "while True: print('x' * 1000)",
            json!({"max_output_bytes": 4096}),
            "output_limit",
        ),
        ("import sys\nsys.exit(3)", json!({}), "runtime_error"),
    ];
    for (code, limits, expected) in cases {
        let (status, body) = run(&server, json!({"language": "python", "code": code, "limits": limits})).await;
        let r = ok_run(status, &body);
        assert_eq!(body["status"], expected, "{code}: {body}");
        assert_eq!(r["status"], expected, "{code}: {body}");
        if expected == "output_limit" {
            assert!(r["stdout"].as_str().unwrap().len() <= 4096, "{body}");
        }
        if expected == "runtime_error" {
            assert_eq!(r["exit_code"], 3);
            assert!(r.get("limit").is_none(), "no limit ended it: {body}");
        } else {
            // The limit that ended it, by name and value, for a page to word in its language.
            let (name, value) = limits.as_object().unwrap().iter().next().unwrap();
            assert_eq!(r["limit"], json!({"name": name, "value": value}), "{code}: {body}");
        }
    }
    stop(server).await;
}

/// `第 NNNNN 行\n` is 14 bytes: a cap of 292 lines and 2 bytes falls inside `第`.
const CUT_LINE_BYTES: u64 = 14;
const CUT_CAP: u64 = 292 * CUT_LINE_BYTES + 2;
const CUT_PROGRAM: &str = "for i in range(100000):\n    print(f'第 {i:05} 行')";

#[tokio::test]
#[ignore = "needs root: the full sandbox"]
async fn output_cut_at_the_cap_ends_on_a_whole_character_and_says_so() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let _serial = SERIAL.lock().await;
    let server = start(Backend::Sqlite).await;
    let limits = json!({"max_output_bytes": CUT_CAP});
    let (status, body) = run(
        &server,
        json!({"language": "python", "code": CUT_PROGRAM, "limits": limits}),
    )
    .await;
    let r = ok_run(status, &body);
    assert_eq!(r["status"], "output_limit", "{body}");
    assert_eq!(r["truncated"], true, "{body}");
    let stdout = r["stdout"].as_str().unwrap();
    assert!(
        !stdout.contains('\u{fffd}'),
        "a cut character shown as U+FFFD: {:?}",
        &stdout[stdout.len() - 30..]
    );
    assert_eq!(stdout.len() as u64, CUT_CAP - 2, "the whole lines before the cut");
    assert!(stdout.ends_with("第 00291 行\n"), "{:?}", &stdout[stdout.len() - 30..]);
    // A run that was not cut does not say so.
    let (status, body) = run(&server, json!({"language": "python", "code": "print('第 1 行')"})).await;
    assert!(ok_run(status, &body).get("truncated").is_none(), "{body}");
    stop(server).await;
}

#[tokio::test]
async fn compile_errors_are_results_not_errors() {
    let server = start_fake(Backend::Sqlite).await;
    let (status, body) = run(&server, json!({"language": "c", "code": "# compile: error"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "compile_error", "{body}");
    assert!(body["run"].is_null(), "{body}");
    assert_eq!(body["compile"]["stderr"], fake::COMPILE_ERROR, "{body}");
    assert_eq!(body["compile"]["status"], "runtime_error", "{body}");
    assert_eq!(body["compile"]["exit_code"], 1, "{body}");
    server.stop().await;
}

#[tokio::test]
async fn tests_are_graded_and_hidden_ones_stay_hidden() {
    let server = start_fake(Backend::Sqlite).await;
    // The program echoes its input: a test passes when its expected output is its input.
    let tests = json!([
        {"name": "small", "stdin": "3", "expected_output": "3"},
        {"name": "secret", "stdin": "999999", "expected_output": "1000001", "hidden": true},
        {"stdin": "4\n", "expected_output": "4\n\n", "hidden": true},
    ]);
    let (status, body) = run(&server, json!({"language": "c", "code": "# stdin", "tests": tests})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(body["compile"]["status"], "ok", "compiled once: {body}");
    assert_eq!(
        (body["passed"].as_u64(), body["total"].as_u64()),
        (Some(2), Some(3)),
        "{body}"
    );
    let score = body["score"].as_f64().unwrap();
    assert!((score - 2.0 / 3.0).abs() < 1e-9, "{body}");
    let t = body["tests"].as_array().unwrap();
    assert_eq!(t.len(), 3);
    assert_eq!(
        (&t[0]["name"], &t[0]["verdict"], &t[0]["hidden"]),
        (&json!("small"), &json!("accepted"), &json!(false))
    );
    assert_eq!(t[0]["run"]["stdout"], "3");
    for key in [
        "status",
        "stderr",
        "exit_code",
        "signal",
        "cpu_time_ms",
        "wall_time_ms",
        "memory_kb",
        "message",
    ] {
        assert!(t[0]["run"].get(key).is_some(), "run.{key} missing: {body}");
    }
    assert_eq!(
        (&t[1]["name"], &t[1]["verdict"], &t[1]["hidden"]),
        (&json!("secret"), &json!("wrong_answer"), &json!(true))
    );
    assert_eq!(t[2]["verdict"], "accepted");
    assert!(t[1].get("run").is_none() && t[2].get("run").is_none(), "{body}");
    // Neither the hidden input, nor its expected output, nor the program's output.
    let text = body.to_string();
    for secret in ["999999", "1000001", "\"4\\n"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }

    // A run that ends badly is the test's verdict, named by its status.
    for (code, verdict) in [
        ("# status: time_limit", "time_limit"),
        ("# exit: 3", "runtime_error"),
        ("# signal: 11", "signal"),
    ] {
        let tests = json!([{"stdin": "5", "expected_output": "5"}, {"stdin": "x", "expected_output": "x"}]);
        let (status, body) = run(&server, json!({"language": "python", "code": code, "tests": tests})).await;
        assert_eq!(status, 200, "{body}");
        let verdicts: Vec<&str> = body["tests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["verdict"].as_str().unwrap())
            .collect();
        assert_eq!(verdicts, [verdict, verdict], "{code}: {body}");
        assert_eq!((&body["status"], &body["passed"]), (&json!("ok"), &json!(0)), "{body}");
    }

    // A compile error grades every test as such.
    let (status, body) = run(
        &server,
        json!({"language": "c", "code": "# compile: error", "tests": [{"expected_output": "1"}, {"expected_output": "2", "hidden": true}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "compile_error");
    assert_eq!(
        (body["passed"].as_u64(), body["total"].as_u64(), body["score"].as_f64()),
        (Some(0), Some(2), Some(0.0))
    );
    assert!(
        body["tests"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["verdict"] == "compile_error"),
        "{body}"
    );
    server.stop().await;
}

#[tokio::test]
async fn every_bad_request_gets_a_4xx_that_says_what_is_wrong() {
    let server = start_fake(Backend::Sqlite).await;
    let many_files: Vec<Value> = (0..=engine::MAX_FILES)
        .map(|i| json!({"name": format!("f{i}.py"), "content": "1"}))
        .collect();
    let many_tests: Vec<Value> = (0..=engine::MAX_TESTS)
        .map(|_| json!({"expected_output": "1"}))
        .collect();
    let py = |extra: Value| {
        let mut body = json!({"language": "python", "code": "print(1)"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body.to_string().into_bytes()
    };
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("unknown language", br#"{"language":"no-such-language","code":"x"}"#.to_vec(), 400, "unknown language \"no-such-language\""),
        ("empty language", br#"{"language":"","code":"x"}"#.to_vec(), 400, "unknown language"),
        ("bad version", py(json!({"version": "not a version"})), 400, "invalid version selector"),
        ("absent version", py(json!({"version": "1.x"})), 400, "is not available"),
        ("invalid UTF-8", b"{\"language\":\"python\",\"code\":\"\xff\xfe\"}".to_vec(), 400, "UTF-8"),
        ("lone surrogate", br#"{"language":"python","code":"\ud800"}"#.to_vec(), 400, "invalid JSON"),
        ("malformed JSON", br#"{"language": "python", "code": "#.to_vec(), 400, "invalid JSON"),
        ("not an object", br#"["python", "print(1)"]"#.to_vec(), 400, "a JSON object"),
        ("a string", br#""print(1)""#.to_vec(), 400, "a JSON object"),
        ("empty body", Vec::new(), 400, "empty"),
        ("missing language", br#"{"code":"print(1)"}"#.to_vec(), 400, "missing field `language`"),
        ("unknown field", py(json!({"timeout": 3})), 400, "unknown field `timeout`"),
        ("wrong type", py(json!({"args": "a b"})), 400, "args"),
        ("negative limit", py(json!({"limits": {"cpu_ms": -1}})), 400, "limits.cpu_ms: must not be negative"),
        ("fractional limit", py(json!({"limits": {"memory_mb": 1.5}})), 400, "limits.memory_mb: must be a whole number"),
        ("huge limit", br#"{"language":"python","code":"1","limits":{"wall_ms":1e300}}"#.to_vec(), 400, "whole number"),
        ("oversized limit", py(json!({"limits": {"memory_mb": 1_000_000}})), 400, "memory_mb = 1000000 is out of range"),
        ("u64 max limit", py(json!({"limits": {"cpu_ms": u64::MAX}})), 400, "out of range"),
        ("zero limit", py(json!({"limits": {"wall_ms": 0}})), 400, "wall_ms must be at least"),
        ("unknown limit", py(json!({"limits": {"disk_mb": 1}})), 400, "unknown field `disk_mb`"),
        ("too many files", json!({"language": "python", "files": many_files}).to_string().into_bytes(), 400, "more than the limit of"),
        ("parent dir", json!({"language": "python", "files": [{"content": "1"}, {"name": "../x", "content": "1"}]}).to_string().into_bytes(), 400, "files[1].name \"../x\" is not allowed"),
        ("absolute path", json!({"language": "python", "files": [{"name": "/etc/passwd", "content": "1"}]}).to_string().into_bytes(), 400, "absolute"),
        ("dot dot inside", json!({"language": "python", "files": [{"name": "a/../../b.py", "content": "1"}]}).to_string().into_bytes(), 400, ".."),
        ("nul in name", json!({"language": "python", "files": [{"name": "a\u{0}b", "content": "1"}]}).to_string().into_bytes(), 400, "NUL"),
        ("file twice", json!({"language": "python", "files": [{"name": "a.py", "content": "1"}, {"name": "./a.py", "content": "2"}]}).to_string().into_bytes(), 400, "names the same file as files[0]"),
        ("bad base64", json!({"language": "python", "files": [{"content": "%%%", "encoding": "base64"}]}).to_string().into_bytes(), 400, "not valid base64"),
        ("bad encoding", json!({"language": "python", "files": [{"content": "1", "encoding": "latin1"}]}).to_string().into_bytes(), 400, "encoding"),
        ("empty code", br#"{"language":"python","code":""}"#.to_vec(), 400, "`code` is empty"),
        ("blank code", br#"{"language":"python","code":" \n\t"}"#.to_vec(), 400, "`code` is empty"),
        ("empty main file", json!({"language": "python", "files": [{"content": ""}]}).to_string().into_bytes(), 400, "empty"),
        ("no files", json!({"language": "python", "files": []}).to_string().into_bytes(), 400, "`files` is empty"),
        ("no program", br#"{"language":"python"}"#.to_vec(), 400, "give `code` or `files`"),
        ("code and files", py(json!({"files": [{"content": "1"}]})), 400, "not both"),
        ("too many tests", py(json!({"tests": many_tests})), 400, "tests is more than the limit of"),
        ("no tests", py(json!({"tests": []})), 400, "`tests` is empty"),
        ("stdin with tests", py(json!({"stdin": "1", "tests": [{"expected_output": "1"}]})), 400, "own stdin"),
        ("test without expected output", py(json!({"tests": [{"stdin": "1"}]})), 400, "expected_output"),
        ("too many args", py(json!({"args": vec!["a"; engine::MAX_ARGS + 1]})), 400, "arguments"),
        ("nul in args", py(json!({"args": ["a\u{0}b"]})), 400, "NUL"),
    ];
    for (what, body, expected_status, message) in cases {
        let (status, answer) = post_raw(&server, body, Some("application/json")).await;
        assert_eq!(status, expected_status, "{what}: {answer}");
        let error = answer["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: no error message: {answer}"));
        assert!(error.contains(message), "{what}: {error:?} does not say {message:?}");
    }
    // Wrong method, unknown path: 4xx as well.
    let response = reqwest::get(format!("{}/api/v1/run", server.base)).await.unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let (status, answer) = get(&server, "/api/v1/nothing").await;
    assert_eq!(status, 404);
    assert!(answer["error"].is_string());
    stop(server).await;
}

#[tokio::test]
async fn the_runtime_list_has_names_versions_and_limits() {
    let server = start_fake(Backend::Sqlite).await;
    let (status, list) = get(&server, "/api/v1/runtimes").await;
    assert_eq!(status, 200);
    let list = list.as_array().unwrap();
    let python = list.iter().find(|r| r["language"] == "python").expect("python");
    assert!(python["aliases"].as_array().unwrap().contains(&json!("py")));
    assert!(python["judge0_ids"].as_array().unwrap().contains(&json!(71)));
    assert_eq!(python["compiled"], false);
    assert_eq!(python["file"], "main.py");
    let c = list.iter().find(|r| r["language"] == "c").expect("c");
    assert_eq!(c["compiled"], true);
    // The page's editor mode, from the runtime file; null is plain text.
    assert_eq!(python["highlight"], "python");
    let mode = |name: &str| {
        list.iter()
            .find(|r| r["language"] == name)
            .map(|r| r["highlight"].clone())
    };
    assert_eq!(mode("racket"), Some(json!("scheme")));
    assert_eq!(mode("prolog"), Some(Value::Null));
    // Beginners' hints and localized examples, for the page (runtimes/python.toml).
    let hint = python["hints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["id"] == "missing-colon")
        .expect("python's missing-colon hint");
    assert_eq!(hint["match"], "SyntaxError: expected ':'");
    assert_eq!(hint["when"], "error");
    assert!(hint["text"]["en"].as_str().unwrap().contains("colon"), "{hint}");
    assert!(hint["text"]["zh-CN"].as_str().unwrap().contains("冒号"), "{hint}");
    assert!(python["example"]["localized"]["zh-CN"]["interactive"]
        .as_str()
        .unwrap()
        .contains("你好"));
    for rt in list {
        assert!(rt["hints"].is_array(), "{rt}");
        assert!(rt["highlight"].is_string() || rt["highlight"].is_null(), "{rt}");
        assert_eq!(rt["installed"].as_bool(), Some(rt["version"].is_string()), "{rt}");
        assert!(!rt["example"]["hello"].as_str().unwrap().is_empty());
        for limit in ["cpu_ms", "wall_ms", "memory_mb", "max_output_bytes", "max_processes"] {
            let (d, m) = (&rt["limits"]["defaults"][limit], &rt["limits"]["max"][limit]);
            assert!(d.as_u64().unwrap() <= m.as_u64().unwrap(), "{rt}");
        }
    }
    stop(server).await;
}

#[tokio::test]
async fn the_openapi_document_is_served_and_names_served_routes() {
    let server = start_fake(Backend::Sqlite).await;
    let (status, doc) = get(&server, "/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["paths"]["/api/v1/run"]["post"].is_object());
    // The operators' routes are documented too.
    for (path, method) in [
        ("/api/v1/keys", "get"),
        ("/api/v1/keys", "post"),
        ("/api/v1/keys/{name}", "delete"),
        ("/api/v1/session", "post"),
        ("/api/v1/usage", "get"),
        ("/api/v1/runs", "get"),
        ("/api/v1/console/live", "get"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is not documented"
        );
    }
    let client = reqwest::Client::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        // Path parameters filled with something plausible.
        let concrete: String = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "1" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().unwrap().keys() {
            let Ok(method) = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()) else {
                continue;
            };
            if !["GET", "POST", "PUT", "DELETE", "PATCH"].contains(&method.as_str()) {
                continue;
            }
            let mut request = client.request(method.clone(), format!("{}{concrete}", server.base));
            if method != reqwest::Method::GET && method != reqwest::Method::DELETE {
                request = request.body("{}");
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            // Every wrong method gets a JSON 405 (with Allow): on a documented one, not routed.
            assert_ne!(status, 405, "{method} {path}: documented but not routed: {body}");
            assert!(
                !body.contains("no such endpoint"),
                "{method} {path}: documented but not routed"
            );
            assert!(status < 500, "{method} {path}: {status} {body}");
        }
    }
    stop(server).await;
}

/// The value of an unlabelled metric in Prometheus text.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test]
#[ignore = "needs root: the full sandbox"]
async fn resubmitted_c_is_a_build_cache_hit_in_the_answer_and_the_metrics() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let _serial = SERIAL.lock().await;
    let server = start(Backend::Sqlite).await;
    let scrape = || async {
        reqwest::get(format!("{}/metrics", server.base))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    };
    let before = scrape().await;
    for name in [
        "tiderun_build_cache_hits_total",
        "tiderun_build_cache_misses_total",
        "tiderun_build_cache_bytes",
        "tiderun_build_cache_entries",
    ] {
        assert_eq!(metric(&before, name), Some(0.0), "{name} in:\n{before}");
    }
    let code = "#include <stdio.h>\nint main(void){puts(\"cached?\");return 0;}\n";
    let body = json!({"language": "c", "code": code});
    let (status, first) = run(&server, body.clone()).await;
    assert_eq!(ok_run(status, &first)["stdout"], "cached?\n");
    assert!(first["compile"].get("cached").is_none(), "a miss says nothing: {first}");
    let (status, second) = run(&server, body).await;
    assert_eq!(ok_run(status, &second)["stdout"], "cached?\n");
    assert_eq!(second["compile"]["cached"], true, "{second}");
    assert_eq!(second["compile"]["wall_time_ms"], 0);
    assert_eq!(second["compile"]["status"], "ok");
    // Another program is another build.
    let (status, other) = run(
        &server,
        json!({"language": "c", "code": code.replace("cached?", "other")}),
    )
    .await;
    assert_eq!(ok_run(status, &other)["stdout"], "other\n");

    let after = scrape().await;
    assert_eq!(metric(&after, "tiderun_build_cache_hits_total"), Some(1.0), "{after}");
    assert_eq!(metric(&after, "tiderun_build_cache_misses_total"), Some(2.0), "{after}");
    assert_eq!(metric(&after, "tiderun_build_cache_entries"), Some(2.0), "{after}");
    let bytes = metric(&after, "tiderun_build_cache_bytes").unwrap_or(0.0);
    assert!(bytes > 2.0 * 1024.0, "two C builds are more than 2 KiB: {bytes}");
    // Counters stay put across scrapes.
    assert_eq!(metric(&scrape().await, "tiderun_build_cache_hits_total"), Some(1.0));
    stop(server).await;
}
