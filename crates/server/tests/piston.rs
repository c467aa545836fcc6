//! The Piston v2 API: one real end-to-end run (Python with stdin, arguments and interleaved
//! output), the limits and the npm `piston-client` (whose programs are real) on the real engine;
//! shapes, statuses, files, version selectors, errors and the `piston_rs` client against the
//! router with the stand-in executor (`common::fake`, no root).

extern crate tiderun_server as server;

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Backend, TestServer};
use serde_json::{json, Value};
use server::ServerConfig;

/// Tests of one binary share a process, and servers of one process share sandbox uids and
/// cgroup names: one server at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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

/// Run `check` against a fresh server on every backend (or say SKIPPED without root: the
/// tests that call it are marked as needing root).
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

fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

async fn post(server: &TestServer, path: &str, body: Value) -> (u16, Value) {
    post_raw(server, path, body.to_string().into_bytes(), Some("application/json")).await
}

async fn post_raw(server: &TestServer, path: &str, body: Vec<u8>, content_type: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new().post(format!("{}{path}", server.base)).body(body);
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"));
    (status, value)
}

async fn get(server: &TestServer, path: &str) -> (u16, Value) {
    let response = reqwest::get(format!("{}{path}", server.base)).await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"));
    (status, value)
}

fn python(code: &str) -> Value {
    json!({"language": "python", "version": "*", "files": [{"content": code}]})
}

/// Execute and expect 200.
async fn execute(server: &TestServer, body: Value) -> Value {
    let (status, value) = post(server, "/api/v2/execute", body).await;
    assert_eq!(status, 200, "{value}");
    value
}

/// Execute and expect 400 with a message.
async fn refused(server: &TestServer, body: Value) -> String {
    let (status, value) = post(server, "/api/v2/execute", body).await;
    assert_eq!(status, 400, "{value}");
    value["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message: {value}"))
        .to_string()
}

const STAGE_FIELDS: [&str; 10] = [
    "stdout",
    "stderr",
    "output",
    "code",
    "signal",
    "message",
    "status",
    "cpu_time",
    "wall_time",
    "memory",
];

fn assert_stage_shape(stage: &Value) {
    for field in STAGE_FIELDS {
        assert!(stage.get(field).is_some(), "{field} missing in {stage}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn runtimes_have_pistons_shape() {
    each_backend_fake(|server| async move {
        for path in ["/api/v2/runtimes", "/api/v2/piston/runtimes"] {
            let (status, list) = get(&server, path).await;
            assert_eq!(status, 200);
            let list = list.as_array().expect("an array").clone();
            assert!(!list.is_empty());
            for rt in &list {
                assert!(rt["language"].is_string() && rt["version"].is_string(), "{rt}");
                assert!(rt["aliases"].is_array(), "{rt}");
            }
            let py = list
                .iter()
                .find(|r| r["language"] == "python")
                .expect("python is installed");
            assert!(py["version"].as_str().unwrap().starts_with("3."), "{py}");
            assert!(py["aliases"].as_array().unwrap().iter().any(|a| a == "py"), "{py}");
        }
        let (status, banner) = get(&server, "/api/v2/").await;
        assert_eq!(status, 200);
        assert!(banner["message"].as_str().unwrap().starts_with("Piston v"), "{banner}");
        let (status, banner) = get(&server, "/api/v2/piston").await;
        assert_eq!(status, 200, "{banner}");
        let (status, missing) = get(&server, "/api/v2/nope").await;
        assert_eq!((status, missing), (404, json!({"message": "Not Found"})));
        let (status, missing) = get(&server, "/api/v2/piston/nope/deeper").await;
        assert_eq!((status, missing), (404, json!({"message": "Not Found"})));
        let (status, wrong) = get(&server, "/api/v2/execute").await;
        assert_eq!(status, 405, "{wrong}");
        assert!(wrong["message"].is_string());
        server
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: the full sandbox"]
async fn python_runs_with_stdin_args_and_interleaved_output() {
    each_backend("python_runs", |server| async move {
        // Pauses between the writes: two pipes read in one poll round have no order of their own.
        let code = "import sys, time\nname = input()\nprint('hello', name)\ntime.sleep(0.1)\nprint('err', file=sys.stderr, flush=True)\ntime.sleep(0.1)\nprint(sys.argv[1:], flush=True)";
        let mut body = python(code);
        body["stdin"] = json!("世界");
        body["args"] = json!(["a b", "c"]);
        let r = execute(&server, body).await;
        assert_eq!(r["language"], "python");
        assert!(r["version"].as_str().unwrap().starts_with("3."));
        assert!(r.get("compile").is_none(), "no compile stage for python: {r}");
        let run = &r["run"];
        assert_stage_shape(run);
        assert_eq!(run["stdout"], "hello 世界\n['a b', 'c']\n");
        assert_eq!(run["stderr"], "err\n");
        assert_eq!(run["output"], "hello 世界\nerr\n['a b', 'c']\n");
        assert_eq!(run["code"], 0);
        assert!(run["signal"].is_null() && run["status"].is_null() && run["message"].is_null(), "{run}");
        assert!(run["memory"].as_u64().unwrap() > 1024 * 1024, "memory is in bytes: {run}");
        assert!(run["wall_time"].as_u64().is_some() && run["cpu_time"].as_u64().is_some());

        // Through the alias path, with an exit code.
        let (status, r) = post(&server, "/api/v2/piston/execute", python("import sys; sys.exit(3)")).await;
        assert_eq!(status, 200, "{r}");
        assert_eq!((&r["run"]["code"], &r["run"]["status"]), (&json!(3), &json!("RE")));
        assert_eq!(r["run"]["message"], "Exited with error status 3");
        server
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stages_have_pistons_shape_and_statuses() {
    each_backend_fake(|server| async move {
        let mut body = python("# stdout: hello\n# stderr: err\n# args\n# stdin");
        body["stdin"] = json!("世界");
        body["args"] = json!(["a b", "c"]);
        let r = execute(&server, body).await;
        assert_eq!(r["language"], "python");
        assert!(r["version"].as_str().unwrap().starts_with("3."));
        assert!(r.get("compile").is_none(), "no compile stage for python: {r}");
        let run = &r["run"];
        assert_stage_shape(run);
        // Piston adds the newline stdin lacks.
        assert_eq!(run["stdout"], "hello\n[\"a b\", \"c\"]\n世界\n");
        assert_eq!(run["stderr"], "err\n");
        assert_eq!(
            run["output"], "hello\nerr\n[\"a b\", \"c\"]\n世界\n",
            "in the order written"
        );
        assert_eq!(run["code"], 0);
        assert!(
            run["signal"].is_null() && run["status"].is_null() && run["message"].is_null(),
            "{run}"
        );
        assert_eq!(
            run["memory"],
            common::fake::MEMORY_KB * 1024,
            "memory is in bytes: {run}"
        );
        assert_eq!(
            (&run["cpu_time"], &run["wall_time"]),
            (&json!(common::fake::CPU_MS), &json!(common::fake::WALL_MS))
        );

        // How a stage ended, in Piston's words, through the alias path too.
        for (code, status, signal, message) in [
            (
                "# exit: 3",
                json!("RE"),
                Value::Null,
                json!("Exited with error status 3"),
            ),
            (
                "# signal: 11",
                json!("SG"),
                json!("SIGSEGV"),
                json!("killed by signal 11"),
            ),
            (
                "# status: time_limit",
                json!("TO"),
                json!("SIGKILL"),
                json!("cpu time exceeded its limit"),
            ),
            (
                "# status: wall_time_limit",
                json!("TO"),
                json!("SIGKILL"),
                json!("wall time exceeded its limit"),
            ),
            (
                "# status: memory_limit",
                json!("SG"),
                json!("SIGKILL"),
                json!("memory exceeded its limit"),
            ),
            (
                "# stdout: x\n# status: output_limit",
                json!("OL"),
                json!("SIGKILL"),
                json!("output exceeded its limit"),
            ),
            (
                "# stderr: x\n# status: output_limit",
                json!("EL"),
                json!("SIGKILL"),
                json!("output exceeded its limit"),
            ),
        ] {
            let (status_code, r) = post(&server, "/api/v2/piston/execute", python(code)).await;
            assert_eq!(status_code, 200, "{r}");
            let run = &r["run"];
            assert_stage_shape(run);
            assert_eq!(
                (&run["status"], &run["signal"], &run["message"]),
                (&status, &signal, &message),
                "{code}: {r}"
            );
            assert_eq!(run["code"].is_null(), code != "# exit: 3", "{code}: {r}");
        }
        server
    })
    .await;
}

/// `GET`/`POST`/`DELETE` with a JSON body: (status, body).
async fn send(server: &TestServer, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", server.base));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"));
    (status, value)
}

#[tokio::test(flavor = "multi_thread")]
async fn packages_are_the_runtimes_and_installing_says_how() {
    each_backend_fake(|server| async move {
        let catalog = server.state.runner().engine().catalog().clone();
        for prefix in ["/api/v2", "/api/v2/piston"] {
            let (status, list) = get(&server, &format!("{prefix}/packages")).await;
            assert_eq!(status, 200, "{list}");
            let list = list.as_array().expect("an array");
            assert_eq!(list.len(), catalog.len(), "every runtime, installed or not: {list:?}");
            for (package, rt) in list.iter().zip(catalog.iter()) {
                let keys: Vec<&String> = package.as_object().expect("an object").keys().collect();
                assert_eq!(
                    keys,
                    ["installed", "language", "language_version"],
                    "Piston's shape: {package}"
                );
                assert_eq!(package["language"], rt.name.as_str());
                assert_eq!(package["installed"], rt.installed);
                let version = if rt.installed {
                    rt.version.clone().unwrap_or_default()
                } else {
                    String::new()
                };
                assert_eq!(package["language_version"], version.as_str(), "{package}");
            }
            assert!(list.iter().any(|p| p["language"] == "python" && p["installed"] == true));

            // Installing and removing are an operator's job: 403, Piston's shape, what to do.
            let python = json!({"language": "python", "version": "*"});
            let (status, r) = send(
                &server,
                reqwest::Method::POST,
                &format!("{prefix}/packages"),
                Some(python.clone()),
            )
            .await;
            assert_eq!(status, 403, "{r}");
            let message = r["message"].as_str().expect("a message");
            assert!(
                message.starts_with("python 3.") && message.contains("is installed already"),
                "{message}"
            );
            assert!(
                message.contains("tiderun does not install runtimes over its API: an operator installs"),
                "{message}"
            );
            let (status, r) = send(
                &server,
                reqwest::Method::DELETE,
                &format!("{prefix}/packages"),
                Some(python),
            )
            .await;
            assert_eq!(status, 403, "{r}");
            assert!(
                r["message"]
                    .as_str()
                    .unwrap()
                    .contains("tiderun does not remove runtimes over its API"),
                "{r}"
            );
            let unknown = json!({"language": "no-such-language", "version": "3.1.2"});
            let (status, r) = send(
                &server,
                reqwest::Method::POST,
                &format!("{prefix}/packages"),
                Some(unknown),
            )
            .await;
            assert_eq!(status, 403, "{r}");
            assert!(
                r["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("this server has no runtime no-such-language-3.1.2; "),
                "{r}"
            );
            // No body, or one that is not JSON: the same answer without the language's part.
            for body in [None, Some(json!("not an object"))] {
                let (status, r) = send(&server, reqwest::Method::POST, &format!("{prefix}/packages"), body).await;
                assert_eq!(status, 403, "{r}");
                assert!(
                    r["message"]
                        .as_str()
                        .unwrap()
                        .starts_with("tiderun does not install runtimes"),
                    "{r}"
                );
            }
            let (status, r) = send(&server, reqwest::Method::PUT, &format!("{prefix}/packages"), None).await;
            assert_eq!(status, 405, "{r}");
        }
        server
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn numeric_args_are_their_text_as_in_piston() {
    each_backend_fake(|server| async move {
        // The Piston CLI sends `piston run python a.py 1 two 3.5` with numbers in `args`.
        let body = json!({"language": "python", "version": "*", "files": [{"name": "a.py", "content": "# args"}],
            "args": [1, "two", 3.5]});
        let r = execute(&server, body).await;
        assert_eq!(r["run"]["stdout"], "[\"1\", \"two\", \"3.5\"]\n", "{r}");
        let bad = json!({"language": "python", "version": "*", "files": [{"content": "x"}], "args": [[1]]});
        assert!(refused(&server, bad)
            .await
            .contains("args[0] must be a string, not an array"));
        server
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn c_compiles_and_compile_errors_copy_into_run() {
    each_backend_fake(|server| async move {
        let ok = json!({"language": "c", "version": "*", "files": [{"name": "main.c", "content": "# stdin"}],
            "stdin": "abc"});
        let r = execute(&server, ok).await;
        assert_eq!(r["language"], "c");
        let compile = &r["compile"];
        assert_stage_shape(compile);
        assert_eq!(compile["code"], 0, "{r}");
        assert!(compile["status"].is_null());
        assert_eq!(r["run"]["stdout"], "abc\n", "Piston adds the newline stdin lacks");

        // Unnamed main file: the runtime's own name, so gcc sees a .c file.
        let unnamed = json!({"language": "gcc", "version": "*", "files": [{"content": "# main\n# exit: 4"}]});
        let r = execute(&server, unnamed).await;
        assert_eq!(r["compile"]["code"], 0, "{r}");
        assert_eq!(r["run"]["stdout"], "main.c\n", "{r}");
        assert_eq!((&r["run"]["code"], &r["run"]["status"]), (&json!(4), &json!("RE")));

        let broken = json!({"language": "c", "version": "*", "files": [{"content": "# compile: error"}]});
        let r = execute(&server, broken).await;
        let compile = &r["compile"];
        assert_eq!(compile["code"], 1, "{r}");
        assert_eq!(compile["status"], "RE");
        assert_eq!(compile["stderr"], common::fake::COMPILE_ERROR, "{r}");
        assert_eq!(r["run"], r["compile"], "run equals compile when compilation fails");
        server
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: the full sandbox"]
async fn limits_end_runs_with_pistons_statuses() {
    each_backend("limits_end_runs", |server| async move {
        // CPU spin past run_cpu_time.
        let mut spin = python("while True: pass");
        spin["run_cpu_time"] = json!(300);
        spin["run_timeout"] = json!(3000);
        let r = execute(&server, spin).await;
        assert_eq!(
            (&r["run"]["status"], &r["run"]["signal"]),
            (&json!("TO"), &json!("SIGKILL")),
            "{r}"
        );
        assert!(r["run"]["code"].is_null(), "{r}");

        // Sleeping past run_timeout (wall clock).
        let mut sleep = python("import time\nprint('start', flush=True)\ntime.sleep(30)");
        sleep["run_timeout"] = json!(400);
        let r = execute(&server, sleep).await;
        assert_eq!(
            (&r["run"]["status"], &r["run"]["signal"]),
            (&json!("TO"), &json!("SIGKILL")),
            "{r}"
        );
        assert_eq!(r["run"]["stdout"], "start\n");
        assert!(r["run"]["message"].is_string());

        // Output past the limit.
        let r = execute(&server, python("import sys\nwhile True: sys.stdout.write('x' * 4096)")).await;
        assert_eq!(
            (&r["run"]["status"], &r["run"]["signal"]),
            (&json!("OL"), &json!("SIGKILL")),
            "{r:.200}"
        );
        let r = execute(&server, python("import sys\nwhile True: sys.stderr.write('x' * 4096)")).await;
        assert_eq!(r["run"]["status"], "EL");

        // Memory limits -1 and 0 are "not set"; a real one is in bytes.
        for memory in [json!(-1), json!(0), json!(null), json!(256 * 1024 * 1024)] {
            let mut body = python("print('ok')");
            body["run_memory_limit"] = memory.clone();
            body["compile_memory_limit"] = memory.clone();
            let r = execute(&server, body).await;
            assert_eq!(r["run"]["stdout"], "ok\n", "memory {memory}: {r}");
        }
        let mut hog = python("x = bytearray(200 * 1024 * 1024)\nprint(len(x))");
        hog["run_memory_limit"] = json!(64 * 1024 * 1024);
        let r = execute(&server, hog).await;
        assert_eq!(
            (&r["run"]["status"], &r["run"]["signal"]),
            (&json!("SG"), &json!("SIGKILL")),
            "{r}"
        );
        server
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn files_in_three_encodings() {
    each_backend_fake(|server| async move {
        // The main file is the first utf8 one (unnamed: the runtime's name); other unnamed
        // files are numbered by their place.
        let body = json!({"language": "python", "version": "*", "files": [
            {"name": "data.bin", "content": "AAEC/w==", "encoding": "base64"},
            {"content": "# main\n# files"},
            {"content": "6869", "encoding": "hex"},
            {"name": "lib/helper.py", "content": "x = 1"},
        ]});
        let r = execute(&server, body).await;
        assert_eq!(
            r["run"]["stdout"], "main.py\ndata.bin: \\x00\\x01\\x02\\xff\nfile2.code: hi\nlib/helper.py: x = 1\n",
            "{r}"
        );

        let only_binary = json!({"language": "python", "version": "*",
            "files": [{"content": "cHJpbnQoMSk=", "encoding": "base64"}]});
        assert_eq!(
            refused(&server, only_binary).await,
            "files must include at least one utf8 encoded file"
        );
        let bad = json!({"language": "python", "version": "*",
            "files": [{"content": "print(1)"}, {"content": "xyz", "encoding": "hex"}]});
        assert!(refused(&server, bad)
            .await
            .starts_with("files[1].content is not valid hex"));
        let escape = json!({"language": "python", "version": "*",
            "files": [{"content": "print(1)"}, {"name": "../x", "content": ""}]});
        refused(&server, escape).await;
        server
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn any_content_type_is_json() {
    each_backend_fake(|server| async move {
        let body = python("# stdout: no header").to_string().into_bytes();
        for content_type in [
            None,
            Some("text/plain;charset=UTF-8"),
            Some("application/x-www-form-urlencoded"),
        ] {
            let (status, r) = post_raw(&server, "/api/v2/execute", body.clone(), content_type).await;
            assert_eq!(status, 200, "{content_type:?}: {r}");
            assert_eq!(r["run"]["stdout"], "no header\n");
        }
        server
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn version_selectors() {
    each_backend_fake(|server| async move {
        for version in ["*", "3.x", "3", ">=3.0.0"] {
            let mut body = python("# stdout: 1");
            body["version"] = json!(version);
            let r = execute(&server, body).await;
            assert_eq!(r["run"]["stdout"], "1\n", "{version}: {r}");
        }
        let mut body = python("print(1)");
        body["version"] = json!("2.x");
        assert_eq!(refused(&server, body).await, "python-2.x runtime is unknown");
        let mut body = python("print(1)");
        body["language"] = json!("html");
        body["version"] = json!("5.0.0");
        assert_eq!(refused(&server, body).await, "html-5.0.0 runtime is unknown");
        let mut body = python("print(1)");
        body["language"] = json!("py");
        body["version"] = json!("3.x");
        assert_eq!(execute(&server, body).await["language"], "python", "aliases resolve");
        server
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_a_message() {
    each_backend_fake(|server| async move {
        let mut body = python("print(1)");
        body["run_timeout"] = json!(100_000_000);
        let m = refused(&server, body).await;
        assert!(
            m.starts_with("run_timeout cannot exceed the configured limit of "),
            "{m}"
        );
        let mut body = python("print(1)");
        body["run_memory_limit"] = json!(1u64 << 40);
        let m = refused(&server, body).await;
        assert!(
            m.starts_with("run_memory_limit cannot exceed the configured limit of "),
            "{m}"
        );
        let mut body = python("print(1)");
        body["compile_cpu_time"] = json!(1e12);
        let m = refused(&server, body).await;
        assert!(
            m.starts_with("compile_cpu_time cannot exceed the configured limit of "),
            "{m}"
        );
        let mut body = python("print(1)");
        body["run_timeout"] = json!(-5);
        assert_eq!(refused(&server, body).await, "run_timeout must be non-negative");
        let mut body = python("print(1)");
        body["run_timeout"] = json!("3000");
        assert!(refused(&server, body).await.contains("run_timeout"));

        assert_eq!(
            refused(&server, json!({"version": "*", "files": []})).await,
            "language is required as a string"
        );
        assert_eq!(
            refused(&server, json!({"language": "python", "files": []})).await,
            "version is required as a string"
        );
        assert_eq!(
            refused(&server, json!({"language": "python", "version": "*"})).await,
            "files is required as an array"
        );
        assert_eq!(
            refused(&server, json!({"language": "python", "version": "*", "files": [{}]})).await,
            "files[0].content is required as a string"
        );
        let m = refused(&server, json!({"language": ["python"], "version": "*", "files": []})).await;
        assert!(m.contains("language"), "{m}");
        let m = refused(
            &server,
            json!({"language": "python", "version": "*", "files": "print(1)"}),
        )
        .await;
        assert!(m.contains("files"), "{m}");
        let m = refused(
            &server,
            json!({"language": "python", "version": "*", "files": [], "args": [{"a": 1}]}),
        )
        .await;
        assert!(m.contains("args[0]"), "{m}");
        refused(&server, json!({"language": "python", "version": "*", "files": []})).await;
        refused(&server, json!([1, 2])).await;

        for raw in [&b""[..], b"{", b"{\"language\": \"python\",", b"\xff\xfe", b"null"] {
            let (status, r) = post_raw(&server, "/api/v2/execute", raw.to_vec(), None).await;
            assert_eq!(status, 400, "{raw:?}: {r}");
            assert!(r["message"].as_str().is_some_and(|m| !m.is_empty()), "{r}");
        }
        server
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn piston_rs_client() {
    each_backend_fake(|server| async move {
        let client = piston_rs::Client::with_url(&format!("{}/api/v2", server.base));
        let runtimes = client.fetch_runtimes().await.expect("runtimes");
        assert!(runtimes
            .iter()
            .any(|r| r.language == "python" && r.aliases.iter().any(|a| a == "py")));
        assert!(runtimes.iter().any(|r| r.language == "c"));

        let python = piston_rs::Executor::new()
            .set_language("Python")
            .add_file(piston_rs::File::default().set_content("# stdin\n# args"))
            .set_stdin("from rust")
            .add_arg("x");
        let r = client.execute(&python).await.expect("execute python");
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.run.stdout, "from rust\n[\"x\"]\n");
        assert_eq!(r.run.output, r.run.stdout);
        assert_eq!(r.run.code, Some(0));
        assert!(r.compile.is_none() && r.run.is_ok());

        let c = piston_rs::Executor::new().set_language("c").add_file(
            piston_rs::File::default()
                .set_name("hello.c")
                .set_content("# stdout: hello from c"),
        );
        let r = client.execute(&c).await.expect("execute c");
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.compile.as_ref().and_then(|c| c.code), Some(0), "{r:?}");
        assert_eq!(r.run.stdout, "hello from c\n");

        let broken = piston_rs::Executor::new()
            .set_language("c")
            .add_file(piston_rs::File::default().set_content("# compile: error"));
        let r = client.execute(&broken).await.expect("execute broken c");
        assert_eq!(r.status, 200);
        assert!(
            r.run.is_err() && r.compile.as_ref().is_some_and(|c| c.is_err()),
            "{r:?}"
        );
        server
    })
    .await;
}

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/clients")
}

fn available(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: the full sandbox"]
async fn npm_piston_client() {
    if !available("node") || !available("npm") {
        testkit::skip("node and npm are not installed");
        return;
    }
    let dir = clients_dir();
    if !dir.join("node_modules/piston-client").exists() {
        let install = tokio::task::spawn_blocking({
            let dir = dir.clone();
            move || {
                Command::new("npm")
                    .args(["install", "--no-audit", "--no-fund", "--prefix"])
                    .arg(&dir)
                    .output()
            }
        })
        .await
        .expect("npm task")
        .expect("run npm");
        assert!(
            install.status.success(),
            "npm install failed: {}",
            String::from_utf8_lossy(&install.stderr)
        );
    }
    each_backend("npm_piston_client", |server| {
        let dir = dir.clone();
        async move {
            let base = server.base.clone();
            let out = tokio::task::spawn_blocking(move || {
                Command::new("node")
                    .arg(dir.join("piston_client_test.mjs"))
                    .arg(base)
                    .output()
            })
            .await
            .expect("node task")
            .expect("run node");
            let stdout = String::from_utf8_lossy(&out.stdout);
            println!("piston-client ({}):\n{stdout}", backend_name(server.backend));
            assert!(
                out.status.success(),
                "piston-client checks failed:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            server
        }
    })
    .await;
}
