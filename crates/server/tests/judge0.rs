//! The Judge0 CE 1.13.1 dialect on a real socket (port 0), on SQLite and, when
//! `TIDERUN_TEST_POSTGRES_URL` is set, Postgres: fields, statuses, base64, run options,
//! batches, paging, the queue, callbacks and restarts against the router with the stand-in
//! executor (`common::fake`, no root); one real end-to-end run (synchronous and asynchronous)
//! and the official Python SDK (whose programs are real) on the real engine.

extern crate tiderun_server as server;

mod common;

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::{Backend, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};
use server::{AppState, ServerConfig};

/// How long a test waits for an asynchronous submission to finish.
const FINISH_TIMEOUT: Duration = Duration::from_secs(60);
/// Polling interval while waiting.
const POLL: Duration = Duration::from_millis(25);
/// The v1.13.1 response fields (`fields=*`), exactly.
const ALL_FIELDS: [&str; 35] = [
    "source_code",
    "language_id",
    "stdin",
    "expected_output",
    "stdout",
    "status_id",
    "created_at",
    "finished_at",
    "time",
    "memory",
    "stderr",
    "token",
    "number_of_runs",
    "cpu_time_limit",
    "cpu_extra_time",
    "wall_time_limit",
    "memory_limit",
    "stack_limit",
    "max_processes_and_or_threads",
    "enable_per_process_and_thread_time_limit",
    "enable_per_process_and_thread_memory_limit",
    "max_file_size",
    "compile_output",
    "exit_code",
    "exit_signal",
    "message",
    "wall_time",
    "compiler_options",
    "command_line_arguments",
    "redirect_stderr_to_stdout",
    "callback_url",
    "additional_files",
    "enable_network",
    "status",
    "language",
];
const PYTHON: u32 = 71;
const C: u32 = 50;

struct Api {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
}

impl Api {
    fn new(base: &str) -> Api {
        Api {
            base: base.to_owned(),
            http: reqwest::Client::new(),
            token: None,
        }
    }

    fn of(server: &TestServer) -> Api {
        Api::new(&server.base)
    }

    fn with_token(mut self, token: &str) -> Api {
        self.token = Some(token.to_owned());
        self
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let req = match &self.token {
            Some(t) => req.header("X-Auth-Token", t),
            None => req,
        };
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.http.get(format!("{}{path}", self.base))).await
    }

    async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.http.delete(format!("{}{path}", self.base))).await
    }

    async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    async fn post_raw(&self, path: &str, body: &'static str) -> (StatusCode, Value) {
        self.send(self.http.post(format!("{}{path}", self.base)).body(body))
            .await
    }

    /// POST /submissions?wait=true → 201 and the result.
    async fn run(&self, query: &str, body: Value) -> Value {
        let (status, result) = self.post(&format!("/submissions?wait=true&{query}"), &body).await;
        assert_eq!(status, StatusCode::CREATED, "{result}");
        result
    }

    /// POST /submissions (async) → the token.
    async fn submit(&self, body: Value) -> String {
        let (status, answer) = self.post("/submissions", &body).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        assert_eq!(answer.as_object().map(|o| o.len()), Some(1), "only the token: {answer}");
        answer["token"].as_str().expect("token").to_owned()
    }

    /// Poll until the submission is finished (status id ≥ 3); every field.
    async fn finished(&self, token: &str) -> Value {
        let deadline = tokio::time::Instant::now() + FINISH_TIMEOUT;
        loop {
            let (status, s) = self.get(&format!("/submissions/{token}?fields=*")).await;
            assert_eq!(status, StatusCode::OK, "{s}");
            if s["status"]["id"].as_i64().unwrap_or(0) >= 3 {
                return s;
            }
            assert!(tokio::time::Instant::now() < deadline, "{token} did not finish: {s}");
            tokio::time::sleep(POLL).await;
        }
    }
}

fn python(code: &str) -> Value {
    json!({ "source_code": code, "language_id": PYTHON })
}

fn status_id(s: &Value) -> i64 {
    s["status"]["id"].as_i64().unwrap_or(-1)
}

fn b64(text: &[u8]) -> String {
    STANDARD.encode(text)
}

fn unb64(v: &Value) -> Vec<u8> {
    let text: String = v
        .as_str()
        .expect("base64 text")
        .chars()
        .filter(|c| *c != '\n')
        .collect();
    STANDARD.decode(text).expect("valid base64")
}

/// A server with the stand-in executor behind it.
async fn start(config: ServerConfig, backend: Backend) -> TestServer {
    common::fake::start(config, backend).await
}

/// A server on the real engine (root only).
async fn start_real(config: ServerConfig, backend: Backend) -> TestServer {
    common::start(config, backend).await
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: the full sandbox"]
async fn real_runs_synchronous_and_asynchronous() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    for backend in common::backends() {
        let server = start_real(ServerConfig::default(), backend).await;
        let api = Api::of(&server);
        let mut body = python("print(input().upper())");
        body["stdin"] = json!("judge0");
        let r = api.run("fields=*", body).await;
        assert_eq!(r["status"], json!({ "id": 3, "description": "Accepted" }), "{r}");
        assert_eq!((&r["stdout"], &r["exit_code"]), (&json!("JUDGE0\n"), &json!(0)), "{r}");
        let time: f64 = r["time"].as_str().expect("time is a decimal string").parse().unwrap();
        assert!((0.0..5.0).contains(&time), "{r}");
        assert!(r["memory"].as_u64().is_some_and(|kb| kb > 0), "{r}");

        // C with compiler options; a compile error.
        let r = api
            .run(
                "",
                json!({
                    "source_code": "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", X); return 0; }",
                    "language_id": C,
                    "compiler_options": "-DX=42",
                }),
            )
            .await;
        assert_eq!((status_id(&r), r["stdout"].clone()), (3, json!("42\n")), "{r}");
        let r = api
            .run(
                "",
                json!({ "source_code": "int main( { return 0; }", "language_id": C }),
            )
            .await;
        assert_eq!(status_id(&r), 6, "{r}");
        assert!(r["compile_output"].as_str().is_some_and(|o| o.contains("error")), "{r}");

        // Asynchronous: queued, run by a worker, looked up by its token.
        let token = api.submit(python("import sys\nsys.exit(3)")).await;
        let done = api.finished(&token).await;
        assert_eq!((status_id(&done), done["exit_code"].clone()), (11, json!(3)), "{done}");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_submission_fields_and_lookup() {
    for backend in common::backends() {
        let server = start(ServerConfig::default(), backend).await;
        let api = Api::of(&server);
        let mut body = python("# stdin");
        body["stdin"] = json!("JUDGE0\n");
        let r = api.run("", body).await;
        let mut keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "compile_output",
                "memory",
                "message",
                "status",
                "stderr",
                "stdout",
                "time",
                "token"
            ],
            "the default fields"
        );
        assert_eq!(r["stdout"], "JUDGE0\n");
        assert_eq!(r["status"], json!({ "id": 3, "description": "Accepted" }));
        assert!(r["stderr"].is_null() && r["compile_output"].is_null() && r["message"].is_null());
        assert_eq!(r["time"], "0.003", "seconds as a decimal string: {r}");
        assert_eq!(r["memory"], common::fake::MEMORY_KB, "{r}");

        // Stored: the token works afterwards, with every v1.13.1 field and nothing more.
        let token = r["token"].as_str().unwrap();
        let (status, all) = api.get(&format!("/submissions/{token}?fields=*")).await;
        assert_eq!(status, StatusCode::OK);
        let mut keys: Vec<&str> = all.as_object().unwrap().keys().map(String::as_str).collect();
        let mut expected = ALL_FIELDS.to_vec();
        keys.sort_unstable();
        expected.sort_unstable();
        assert_eq!(keys, expected);
        assert_eq!(all["language"]["id"], PYTHON);
        assert!(all["language"]["name"].as_str().unwrap().starts_with("Python"));
        assert_eq!(
            (all["status_id"].clone(), all["language_id"].clone()),
            (json!(3), json!(PYTHON))
        );
        assert_eq!(all["source_code"], "# stdin");
        assert_eq!(all["stdin"], "JUDGE0\n");
        assert_eq!(all["exit_code"], 0);
        assert!(all["exit_signal"].is_null());
        assert!(all["enable_network"] == false && all["additional_files"].is_null());
        assert_eq!(all["wall_time"], "0.005");
        for field in ["created_at", "finished_at"] {
            let t = all[field].as_str().expect("timestamp");
            assert!(
                chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.fZ").is_ok() && t.ends_with('Z'),
                "{field} = {t}"
            );
        }
        for field in ["cpu_time_limit", "wall_time_limit", "cpu_extra_time"] {
            assert!(all[field].as_str().is_some_and(|s| s.contains('.')), "{field}: {all}");
        }

        let (_, some) = api.get(&format!("/submissions/{token}?fields=stdout,status_id")).await;
        assert_eq!(some, json!({ "stdout": "JUDGE0\n", "status_id": 3 }));
        let (status, err) = api
            .get(&format!("/submissions/{token}?fields=stdout,foo,started_at"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(err, json!({ "error": "invalid fields: [foo, started_at]" }));
        let (status, err) = api.get("/submissions/no-such-token").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{err}");
        assert!(err["error"].is_string());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn async_lifecycle_goes_from_queue_to_processing_to_accepted() {
    for backend in common::backends() {
        // One worker: while it runs the first submission the second waits in the queue.
        let config = ServerConfig {
            workers: 1,
            ..ServerConfig::default()
        };
        let server = start(config, backend).await;
        let api = Api::of(&server);
        let first = api.submit(python("# sleep: 1000\n# stdout: first")).await;
        let second = api.submit(python("# sleep: 1000\n# stdout: second")).await;
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + FINISH_TIMEOUT;
        loop {
            let (_, s) = api.get(&format!("/submissions/{second}?fields=status,stdout")).await;
            let id = status_id(&s);
            if seen.last() != Some(&id) {
                seen.push(id);
            }
            if id >= 3 {
                assert_eq!(s["stdout"], "second\n");
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{seen:?}");
            tokio::time::sleep(POLL).await;
        }
        assert_eq!(seen, [1, 2, 3], "queued, processing, accepted");
        let done = api.finished(&first).await;
        assert_eq!((status_id(&done), done["stdout"].clone()), (3, json!("first\n")));
        assert!(done["finished_at"].is_string());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn base64_round_trip_and_non_utf8_output() {
    for backend in common::backends() {
        let server = start(ServerConfig::default(), backend).await;
        let api = Api::of(&server);
        let code = "# the input, then a byte that is not UTF-8\n# stdin\n# bytes: ff\n";
        // Ruby-style input: a newline inside the base64 text.
        let mut encoded = b64(code.as_bytes());
        encoded.insert(20, '\n');
        let body = json!({
            "source_code": encoded,
            "language_id": PYTHON,
            "stdin": b64(b"\x01\x02abc"),
            "expected_output": b64(b"\x01\x02abc\xff"),
        });
        let r = api.run("base64_encoded=true&fields=*", body).await;
        assert_eq!(status_id(&r), 3, "{r}");
        assert_eq!(unb64(&r["stdout"]), b"\x01\x02abc\xff");
        assert_eq!(unb64(&r["source_code"]), code.as_bytes());
        assert_eq!(unb64(&r["stdin"]), b"\x01\x02abc");
        let long = format!("# stdout: {}", "x".repeat(100));
        let r = api.run("base64_encoded=true", python(&b64(long.as_bytes()))).await;
        let text = r["stdout"].as_str().unwrap();
        assert_eq!(text.lines().next().unwrap().len(), 60, "lines of 60 as Ruby's encode64");
        assert!(text.ends_with('\n'));

        // The same output without base64: Judge0's error, and the token for a later look.
        let mut body = python("# bytes: ff fe");
        body["stdin"] = json!("");
        let (status, r) = api.post("/submissions?wait=true", &body).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(
            r["error"],
            "some attributes for this submission cannot be converted to UTF-8, use base64_encoded=true query parameter"
        );
        let token = r["token"].as_str().expect("token");
        let (status, err) = api.get(&format!("/submissions/{token}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
        let (status, ok) = api.get(&format!("/submissions/{token}?fields=status,time")).await;
        assert_eq!(status, StatusCode::OK, "fields without the bad text are fine: {ok}");
        let (_, r) = api.get(&format!("/submissions/{token}?base64_encoded=true")).await;
        assert_eq!(unb64(&r["stdout"]), b"\xff\xfe");

        let (status, err) = api
            .post("/submissions?base64_encoded=true", &python("%%%not base64"))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(err, json!({ "source_code": ["is not valid base64"] }));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn verdicts_and_run_options() {
    for backend in common::backends() {
        let server = start(ServerConfig::default(), backend).await;
        let api = Api::of(&server);
        let with = |code: &str, extra: Value| {
            let mut body = python(code);
            body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            body
        };

        let r = api
            .run("", with("# stdout: 41", json!({ "expected_output": "42" })))
            .await;
        assert_eq!(r["status"], json!({ "id": 4, "description": "Wrong Answer" }));
        // Judge0's rule: trailing whitespace of lines and trailing blank lines do not count.
        let r = api
            .run(
                "",
                with(
                    "# stdout: a  \n# stdout: b\n# stdout: ",
                    json!({ "expected_output": "a\nb" }),
                ),
            )
            .await;
        assert_eq!(status_id(&r), 3, "{r}");
        assert_eq!(r["stdout"], "a  \nb\n\n", "{r}");

        let r = api.run("fields=*", with("# exit: 3", json!({}))).await;
        assert_eq!(
            (status_id(&r), r["exit_code"].clone(), r["message"].clone()),
            (11, json!(3), json!("Exited with error status 3"))
        );
        let r = api.run("fields=*", with("# signal: 11", json!({}))).await;
        assert_eq!(
            (status_id(&r), r["exit_signal"].clone(), r["exit_code"].clone()),
            (7, json!(11), json!(0)),
            "SIGSEGV: {r}"
        );
        let r = api
            .run(
                "",
                with("# stderr: ZeroDivisionError: division by zero\n# exit: 1", json!({})),
            )
            .await;
        assert_eq!(status_id(&r), 11);
        assert_eq!(r["stderr"], "ZeroDivisionError: division by zero\n", "{r}");

        let r = api
            .run(
                "fields=*",
                with(
                    "# status: time_limit",
                    json!({ "cpu_time_limit": 1, "wall_time_limit": 5 }),
                ),
            )
            .await;
        assert_eq!(
            r["status"],
            json!({ "id": 5, "description": "Time Limit Exceeded" }),
            "{r}"
        );
        assert_eq!(
            (&r["cpu_time_limit"], &r["wall_time_limit"]),
            (&json!("1.0"), &json!("5.0"))
        );
        let r = api
            .run("", with("# status: wall_time_limit", json!({ "wall_time_limit": 1 })))
            .await;
        assert_eq!(status_id(&r), 5, "wall clock: {r}");
        for (status, id) in [("memory_limit", 12), ("output_limit", 8), ("internal_error", 13)] {
            let r = api.run("", with(&format!("# status: {status}"), json!({}))).await;
            assert_eq!(status_id(&r), id, "{status}: {r}");
        }
        // A program that could not be started: Exec Format Error (14) for what isolate's
        // execve reports so, with the sandbox's words; Internal Error (13) for the rest.
        for (kind, id, message) in [
            ("exec_format", 14, "cannot start the program: ExecFormat (os error 8)"),
            ("not_found", 14, "cannot start the program: NotFound (os error 2)"),
            (
                "not_executable",
                14,
                "cannot start the program: NotExecutable (os error 13)",
            ),
            ("text_busy", 13, "Internal Error"),
            ("setup", 13, "Internal Error"),
        ] {
            let r = api.run("", with(&format!("# start_failure: {kind}"), json!({}))).await;
            assert_eq!((status_id(&r), &r["message"]), (id, &json!(message)), "{kind}: {r}");
        }

        let r = api
            .run(
                "",
                with(
                    "# stdout: out\n# stderr: err",
                    json!({ "redirect_stderr_to_stdout": true }),
                ),
            )
            .await;
        assert_eq!(
            (r["stdout"].clone(), r["stderr"].clone()),
            (json!("out\nerr\n"), Value::Null)
        );
        let r = api
            .run("", with("# args", json!({ "command_line_arguments": " a  b;c $(x) " })))
            .await;
        assert_eq!(
            r["stdout"], "[\"a\", \"bc\", \"(x)\"]\n",
            "Judge0's characters deleted, split as a shell would, never run by one"
        );
        let r = api
            .run(
                "fields=*",
                with("# stdin", json!({ "stdin": "x", "number_of_runs": 3 })),
            )
            .await;
        assert_eq!(
            (status_id(&r), r["number_of_runs"].clone(), r["stdout"].clone()),
            (3, json!(3), json!("x"))
        );

        // C: a compile error, and compiler options.
        let r = api
            .run("", json!({ "source_code": "# compile: error", "language_id": C }))
            .await;
        assert_eq!(r["status"], json!({ "id": 6, "description": "Compilation Error" }));
        assert_eq!(r["compile_output"], common::fake::COMPILE_ERROR, "{r}");
        assert!(r["time"].is_null() && r["stdout"].is_null());
        let r = api
            .run(
                "",
                json!({
                    "source_code": "# stdout: 42",
                    "language_id": C,
                    "compiler_options": "-DX=42 -O2",
                }),
            )
            .await;
        assert_eq!((status_id(&r), r["stdout"].clone()), (3, json!("42\n")), "{r}");
        assert_eq!(r["compile_output"], "compiler arguments: -DX=42 -O2\n", "{r}");
    }
}

/// A compiled program that is not an executable (`-c` makes `main` an object file, without
/// the execute bit): the sandbox's typed start failure, carried through the engine, is
/// Judge0's status 14, with the sandbox's words as the message.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: the full sandbox"]
async fn a_compiled_file_that_is_not_a_program_is_an_exec_format_error() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let server = start_real(ServerConfig::default(), Backend::Sqlite).await;
    let r = Api::of(&server)
        .run(
            "fields=status,message,stdout,stderr,compile_output",
            json!({
                "source_code": "int main(void) { return 0; }",
                "language_id": C,
                "compiler_options": "-c",
            }),
        )
        .await;
    assert_eq!(
        r["status"],
        json!({ "id": 14, "description": "Exec Format Error" }),
        "{r}"
    );
    assert_eq!(
        r["message"], "cannot start the program: Permission denied (os error 13)",
        "{r}"
    );
    assert!(r["stdout"].is_null() && r["stderr"].is_null(), "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn batch_create_and_show() {
    for backend in common::backends() {
        let server = start(ServerConfig::default(), backend).await;
        let api = Api::of(&server);
        let body = json!({ "submissions": [
            { "source_code": b64(b"# stdout: 1"), "language_id": PYTHON },
            { "source_code": b64(b"# stdin"), "language_id": PYTHON, "stdin": b64(b"two") },
            { "language_id": PYTHON },
            { "source_code": b64(b"# exit: 0"), "language_id": C },
        ]});
        let (status, answer) = api.post("/submissions/batch?base64_encoded=true", &body).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        let items = answer.as_array().unwrap();
        assert_eq!(items.len(), 4);
        assert_eq!(items[2], json!({ "source_code": ["can't be blank"] }));
        let tokens: Vec<&str> = [0, 1, 3].iter().map(|&i| items[i]["token"].as_str().unwrap()).collect();
        for t in &tokens {
            api.finished(t).await;
        }
        let query = format!(
            "/submissions/batch?tokens={},nope,{}&fields=stdout,status_id",
            tokens.join(","),
            tokens[0]
        );
        let (status, shown) = api.get(&query).await;
        assert_eq!(status, StatusCode::OK, "{shown}");
        assert_eq!(
            shown["submissions"],
            json!([
                { "stdout": "1\n", "status_id": 3 },
                { "stdout": "two", "status_id": 3 },
                { "stdout": null, "status_id": 3 },
                null,
                { "stdout": "1\n", "status_id": 3 },
            ])
        );
        let (status, e) = api.get("/submissions/batch?tokens=").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
        let many = vec!["x"; 21].join(",");
        let (status, e) = api.get(&format!("/submissions/batch?tokens={many}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
        let (status, e) = api.post("/submissions/batch", &json!({ "submissions": [] })).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
        let too_many: Vec<Value> = (0..21).map(|_| python("print(1)")).collect();
        let (status, e) = api
            .post("/submissions/batch", &json!({ "submissions": too_many }))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            e["error"],
            "number of submissions in a batch should be less than or equal to 20"
        );
        let (status, e) = api
            .post("/submissions/batch", &json!({ "submissions": [{ "language_id": 1 }] }))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "all invalid: {e}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn paging_and_delete_rules() {
    for backend in common::backends() {
        // No workers: async submissions stay queued.
        let config = ServerConfig {
            workers: 0,
            enable_submission_delete: true,
            ..ServerConfig::default()
        };
        let server = start(config, backend).await;
        let api = Api::of(&server);
        let queued = api.submit(python("print('q')")).await;
        let done = api.run("", python("# stdout: done")).await;
        let done = done["token"].as_str().unwrap().to_owned();
        api.submit(python("print('q2')")).await;

        let (status, page) = api.get("/submissions?per_page=2&fields=token,status").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["submissions"].as_array().unwrap().len(), 2);
        assert_eq!(
            page["meta"],
            json!({ "current_page": 1, "next_page": 2, "prev_page": null, "total_pages": 2, "total_count": 3 })
        );
        let (_, page2) = api.get("/submissions?per_page=2&page=2").await;
        assert_eq!(page2["submissions"].as_array().unwrap().len(), 1);
        assert_eq!(page2["meta"]["prev_page"], 1);
        assert_eq!(page2["meta"]["next_page"], Value::Null);
        assert_eq!(page2["submissions"][0]["token"], queued, "newest first");
        let (_, all) = api.get("/submissions").await;
        assert_eq!(
            all["submissions"].as_array().unwrap().len(),
            3,
            "20 per page by default"
        );
        for bad in ["page=0", "per_page=0", "per_page=-1", "page=abc", "per_page=100000"] {
            let (status, e) = api.get(&format!("/submissions?{bad}")).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {e}");
            assert!(e["error"].as_str().unwrap().starts_with("invalid "), "{e}");
        }

        let (status, e) = api.delete(&format!("/submissions/{queued}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            e["error"],
            "submission cannot be deleted because its status is 1 (In Queue)"
        );
        let (status, deleted) = api.delete(&format!("/submissions/{done}?fields=stdout,status")).await;
        assert_eq!(status, StatusCode::OK, "{deleted}");
        assert_eq!(unb64(&deleted["stdout"]), b"done\n", "always base64");
        let (status, _) = api.get(&format!("/submissions/{done}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = api.delete(&format!("/submissions/{done}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    // Off by default.
    let server = start(ServerConfig::default(), Backend::Sqlite).await;
    let api = Api::of(&server);
    let r = api.run("", python("print(1)")).await;
    let (status, e) = api
        .delete(&format!("/submissions/{}", r["token"].as_str().unwrap()))
        .await;
    assert_eq!(
        (status, e),
        (StatusCode::BAD_REQUEST, json!({ "error": "delete not allowed" }))
    );
}

/// Reading back is bounded like running: a page or a batch whose stored text is more than one
/// request's output budget (32 MB by default) is a 400 that says so, before it is loaded.
/// (No program runs: the submissions are put into the store directly.)
#[tokio::test(flavor = "multi_thread")]
async fn listing_is_bounded_by_the_output_budget() {
    for backend in common::backends() {
        let config = ServerConfig {
            workers: 0,
            ..ServerConfig::default()
        };
        let server = start(config, backend).await;
        let api = Api::of(&server);
        // 12 MB of base64 source each: three are more than the budget, two are not.
        let source = b64(&vec![b'x'; 9 << 20]);
        let request = json!({
            "language_id": PYTHON, "source_code": source, "stdin": null, "expected_output": null,
            "compiler_options": null, "command_line_arguments": null, "number_of_runs": 1,
            "cpu_time_limit": 5.0, "cpu_extra_time": 1.0, "wall_time_limit": 10.0,
            "memory_limit": 128000, "stack_limit": 64000, "max_processes_and_or_threads": 60,
            "max_file_size": 1024, "redirect_stderr_to_stdout": false, "callback_url": null
        })
        .to_string();
        let mut tokens = Vec::new();
        for _ in 0..3 {
            let token = store::Store::new_token();
            let new = store::NewSubmission {
                token: token.clone(),
                request: request.clone(),
                owner: None,
            };
            server.state.store().insert_submission(&new).await.unwrap();
            tokens.push(token);
        }
        let (status, e) = api.get("/submissions?fields=token").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
        let error = e["error"].as_str().unwrap();
        assert!(error.contains("more than one answer may hold"), "{error}");
        let (status, page) = api.get("/submissions?per_page=2&fields=token").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["submissions"].as_array().unwrap().len(), 2, "{page}");
        assert_eq!(page["meta"]["total_count"], 3);

        let (status, e) = api
            .get(&format!("/submissions/batch?fields=token&tokens={}", tokens.join(",")))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
        let (status, batch) = api
            .get(&format!(
                "/submissions/batch?fields=token&tokens={}",
                tokens[..2].join(",")
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{batch}");
        assert_eq!(batch["submissions"][1]["token"], tokens[1]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn informational_endpoints() {
    let server = start(ServerConfig::default(), Backend::Sqlite).await;
    let api = Api::of(&server);
    let (status, languages) = api.get("/languages").await;
    assert_eq!(status, StatusCode::OK);
    let languages = languages.as_array().unwrap();
    let python = languages
        .iter()
        .find(|l| l["id"] == PYTHON)
        .expect("python (71) is listed");
    assert!(python["name"].as_str().unwrap().starts_with("Python ("), "{python}");
    assert!(
        languages.iter().all(|l| l.as_object().unwrap().len() == 2),
        "{{id, name}}"
    );
    let (_, all) = api.get("/languages/all").await;
    assert!(all.as_array().unwrap().len() >= languages.len());
    assert!(all[0]["is_archived"].is_boolean());
    let (status, one) = api.get("/languages/71").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (one["source_file"].clone(), one["is_archived"].clone()),
        (json!("script.py"), json!(false))
    );
    assert!(one["compile_cmd"].is_null() && one["run_cmd"].as_str().unwrap().contains("script.py"));
    let (_, c) = api.get("/languages/50").await;
    assert!(c["compile_cmd"].as_str().unwrap().contains("gcc"), "{c}");
    for missing in ["/languages/99999", "/languages/abc"] {
        assert_eq!(api.get(missing).await.0, StatusCode::NOT_FOUND);
    }

    let (_, statuses) = api.get("/statuses").await;
    let statuses = statuses.as_array().unwrap();
    assert_eq!(statuses.len(), 14);
    assert_eq!(statuses[0], json!({ "id": 1, "description": "In Queue" }));
    assert_eq!(statuses[13], json!({ "id": 14, "description": "Exec Format Error" }));

    // Every key of the SDK's Config model (judge0 0.0.8, base_types.py).
    let (_, config) = api.get("/config_info").await;
    for key in [
        "allow_enable_network",
        "allow_enable_per_process_and_thread_memory_limit",
        "allow_enable_per_process_and_thread_time_limit",
        "allowed_languages_for_compile_options",
        "callbacks_max_tries",
        "callbacks_timeout",
        "cpu_extra_time",
        "cpu_time_limit",
        "enable_additional_files",
        "enable_batched_submissions",
        "enable_callbacks",
        "enable_command_line_arguments",
        "enable_compiler_options",
        "enable_network",
        "enable_per_process_and_thread_memory_limit",
        "enable_per_process_and_thread_time_limit",
        "enable_submission_delete",
        "enable_wait_result",
        "maintenance_mode",
        "max_cpu_extra_time",
        "max_cpu_time_limit",
        "max_extract_size",
        "max_file_size",
        "max_max_file_size",
        "max_max_processes_and_or_threads",
        "max_memory_limit",
        "max_number_of_runs",
        "max_processes_and_or_threads",
        "max_queue_size",
        "max_stack_limit",
        "max_submission_batch_size",
        "max_wall_time_limit",
        "memory_limit",
        "number_of_runs",
        "redirect_stderr_to_stdout",
        "stack_limit",
        "submission_cache_duration",
        "use_docs_as_homepage",
        "wall_time_limit",
    ] {
        assert!(config.get(key).is_some_and(|v| !v.is_null()), "config_info lacks {key}");
    }
    assert_eq!(config["max_submission_batch_size"], 20);
    assert_eq!(config["allow_enable_network"], false);

    let (_, about) = api.get("/about").await;
    assert_eq!(about["version"], "1.13.1");
    assert_eq!(api.get("/version").await.1, json!("1.13.1"), "plain text");
    let (_, sys) = api.get("/system_info").await;
    assert!(sys["CPU(s)"].is_string() && sys["Architecture"].is_string());
    let (_, workers) = api.get("/workers").await;
    assert_eq!(workers[0]["available"], 2);
    let (status, stats) = api.get("/statistics").await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert!(stats["submissions"]["total"].is_u64());
}

#[tokio::test(flavor = "multi_thread")]
async fn caller_mistakes_get_judge0_errors() {
    let server = start(ServerConfig::default(), Backend::Sqlite).await;
    let api = Api::of(&server);
    let (status, e) = api.post("/submissions", &json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        e,
        json!({ "source_code": ["can't be blank"], "language_id": ["can't be blank"] })
    );
    let (status, e) = api
        .post(
            "/submissions?wait=true",
            &json!({ "source_code": "x", "language_id": "9999" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(e, json!({ "language_id": ["language with id 9999 doesn't exist"] }));
    let cases = [
        (
            json!({ "cpu_time_limit": 15.5 }),
            "cpu_time_limit",
            "must be less than or equal to 15.0",
        ),
        (
            json!({ "cpu_time_limit": -1 }),
            "cpu_time_limit",
            "must be greater than or equal to 0",
        ),
        (
            json!({ "wall_time_limit": 21 }),
            "wall_time_limit",
            "must be less than or equal to 20.0",
        ),
        (
            json!({ "memory_limit": 512001 }),
            "memory_limit",
            "must be less than or equal to 512000",
        ),
        (json!({ "memory_limit": "lots" }), "memory_limit", "is not a number"),
        (
            json!({ "stack_limit": 128001 }),
            "stack_limit",
            "must be less than or equal to 128000",
        ),
        (
            json!({ "max_processes_and_or_threads": 0 }),
            "max_processes_and_or_threads",
            "must be greater than 0",
        ),
        (
            json!({ "max_file_size": 4097 }),
            "max_file_size",
            "must be less than or equal to 4096",
        ),
        (
            json!({ "number_of_runs": 21 }),
            "number_of_runs",
            "must be less than or equal to 20",
        ),
        (
            json!({ "enable_network": true }),
            "enable_network",
            "enabling network is not allowed",
        ),
        (
            json!({ "additional_files": "UEsDBA==" }),
            "additional_files",
            "is not a valid zip archive",
        ),
        (
            json!({ "compiler_options": "-O2" }),
            "compiler_options",
            "setting compiler options is only allowed for compiled languages",
        ),
        (
            json!({ "command_line_arguments": "x".repeat(513) }),
            "command_line_arguments",
            "is too long (maximum is 512 characters)",
        ),
        (
            json!({ "callback_url": "ftp://x" }),
            "callback_url",
            "must be an http or https URL",
        ),
        // Within Judge0's range but below what the sandbox can start with.
        (
            json!({ "memory_limit": 2048 }),
            "memory_limit",
            "must be greater than or equal to 4096",
        ),
    ];
    for (extra, field, message) in cases {
        let mut body = python("print(1)");
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let (status, e) = api.post("/submissions", &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{extra}: {e}");
        assert_eq!(e, json!({ field: [message] }), "{extra}");
    }
    // Loosely typed, as Rails casts: numbers as strings, integers as floats (the Python SDK).
    let mut body = python("print(1)");
    body.as_object_mut().unwrap().extend(
        json!({ "language_id": "71", "memory_limit": 128000.0, "cpu_time_limit": "2.5", "redirect_stderr_to_stdout": "true" })
            .as_object()
            .unwrap()
            .clone(),
    );
    let r = api.run("fields=*", body).await;
    assert_eq!(
        (r["memory_limit"].clone(), r["cpu_time_limit"].clone()),
        (json!(128000), json!("2.5"))
    );

    for (raw, what) in [("{", "malformed"), ("[1]", "not an object"), ("", "empty")] {
        let (status, e) = api.post_raw("/submissions", raw).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {e}");
        assert!(e["error"].is_string(), "{what}: {e}");
    }
    let (status, e) = api.post("/submissions?fields=nope", &python("print(1)")).await;
    assert_eq!(
        (status, e),
        (StatusCode::BAD_REQUEST, json!({ "error": "invalid fields: [nope]" }))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_tokens_are_required_when_configured() {
    let config = ServerConfig {
        auth_tokens: vec!["s3cret".into()],
        ..ServerConfig::default()
    };
    let server = start(config, Backend::Sqlite).await;
    let anonymous = Api::of(&server);
    for path in ["/languages", "/config_info", "/submissions"] {
        assert_eq!(anonymous.get(path).await.0, StatusCode::UNAUTHORIZED, "{path}");
    }
    assert_eq!(
        anonymous.post("/submissions", &python("print(1)")).await.0,
        StatusCode::UNAUTHORIZED
    );
    let wrong = Api::of(&server).with_token("nope");
    assert_eq!(wrong.get("/languages").await.0, StatusCode::UNAUTHORIZED);
    let api = Api::of(&server).with_token("s3cret");
    assert_eq!(api.get("/languages").await.0, StatusCode::OK);
    assert_eq!(api.post_raw("/authenticate", "").await.0, StatusCode::OK);
    let r = api.run("", python("# stdout: authorized")).await;
    assert_eq!(r["stdout"], "authorized\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn queue_full_is_503() {
    for backend in common::backends() {
        let config = ServerConfig {
            workers: 0,
            max_queue_size: 1,
            ..ServerConfig::default()
        };
        let server = start(config, backend).await;
        let api = Api::of(&server);
        api.submit(python("print(1)")).await;
        let (status, e) = api.post("/submissions", &python("print(2)")).await;
        assert_eq!(
            (status, e),
            (StatusCode::SERVICE_UNAVAILABLE, json!({ "error": "queue is full" }))
        );
        let batch = json!({ "submissions": [python("print(3)")] });
        let (status, e) = api.post("/submissions/batch", &batch).await;
        assert_eq!(
            (status, e),
            (StatusCode::SERVICE_UNAVAILABLE, json!({ "error": "queue is full" }))
        );
        // A synchronous run takes no queue slot.
        let r = api.run("", python("# stdout: 4")).await;
        assert_eq!(r["stdout"], "4\n");
        let (_, listed) = api.get("/submissions").await;
        assert_eq!(listed["meta"]["total_count"], 2, "the refused ones are not stored");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn callback_gets_the_result_by_put() {
    use axum::routing::put;
    for backend in common::backends() {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<(String, Value)>(4);
        let hook = axum::Router::new().route(
            "/hook",
            put(move |headers: axum::http::HeaderMap, body: String| {
                let tx = tx.clone();
                async move {
                    let ct = headers
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    let _ = tx.send((ct, serde_json::from_str(&body).unwrap_or(Value::Null))).await;
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hook_url = format!("http://{}/hook", listener.local_addr().unwrap());
        let hook_task = tokio::spawn(async move { axum::serve(listener, hook).await });

        let config = ServerConfig {
            allow_callbacks: true,
            ..ServerConfig::default()
        };
        let server = start(config, backend).await;
        let api = Api::of(&server);
        let mut body = python("# stdout: called back");
        body["callback_url"] = json!(hook_url);
        let token = api.submit(body).await;
        let (content_type, got) = tokio::time::timeout(FINISH_TIMEOUT, rx.recv())
            .await
            .expect("a callback within the timeout")
            .expect("a callback");
        assert_eq!(content_type, "application/json");
        assert_eq!(got["token"], token);
        assert_eq!(got["status"]["id"], 3);
        assert_eq!(unb64(&got["stdout"]), b"called back\n", "base64, as Judge0 sends it");
        let mut keys: Vec<&str> = got.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "compile_output",
                "memory",
                "message",
                "status",
                "stderr",
                "stdout",
                "time",
                "token"
            ]
        );

        // wait=true calls back too.
        let mut body = python("# stdout: sync");
        body["callback_url"] = json!(hook_url);
        api.run("", body).await;
        let (_, got) = tokio::time::timeout(FINISH_TIMEOUT, rx.recv()).await.unwrap().unwrap();
        assert_eq!(unb64(&got["stdout"]), b"sync\n");
        hook_task.abort();
    }
    // Without allow_callbacks, internal addresses are refused up front.
    let config = ServerConfig {
        allow_callbacks: false,
        ..ServerConfig::default()
    };
    let server = start(config, Backend::Sqlite).await;
    let mut body = python("print(1)");
    body["callback_url"] = json!("http://127.0.0.1:9/hook");
    let (status, e) = Api::of(&server).post("/submissions", &body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert!(e["callback_url"][0].as_str().unwrap().contains("internal address"));
}

/// A server on a given database with the stand-in executor behind it, for restarts (the
/// common helper makes a fresh database each time).
struct Node {
    base: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Node {
    async fn start(url: &str, config: ServerConfig) -> Node {
        let store = store::Store::connect(url).await.expect("store");
        let state = AppState::new(common::fake::runner(engine::RunnerConfig::default()), store, config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server::serve_on(listener, state, async {
            let _ = rx.await;
        }));
        Node {
            base,
            shutdown: Some(tx),
            task,
        }
    }

    async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(40), self.task).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unfinished_submissions_survive_a_restart() {
    for backend in common::backends() {
        let dir = tempfile::tempdir().unwrap();
        let url = common::database_url(backend, dir.path()).await;
        // First life: no workers, so everything stays queued; one is left "processing" as
        // if the process had died in the middle of running it.
        let first = Node::start(
            &url,
            ServerConfig {
                workers: 0,
                ..ServerConfig::default()
            },
        )
        .await;
        let api = Api::new(&first.base);
        let queued = api.submit(python("# stdout: queued")).await;
        let mut body = python("# stdin");
        body["stdin"] = json!("interrupted\n");
        let interrupted = api.submit(body).await;
        let (status, batch) = api
            .post(
                "/submissions/batch",
                &json!({ "submissions": [python("# stdout: b1"), python("# stdout: b2")] }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        first.stop().await;
        let store = store::Store::connect(&url).await.unwrap();
        // Simulate a crash mid-run: claimed by a node that then stopped renewing its lease.
        assert!(
            store
                .claim_submission(&interrupted, "gone", Duration::from_secs(1))
                .await
                .unwrap()
                .is_some(),
            "claimed"
        );
        assert_eq!(store.get_submission(&interrupted).await.unwrap().unwrap().status, 2);
        store.close().await;

        // Second life on the same database: everything runs.
        let second = Node::start(&url, ServerConfig::default()).await;
        let api = Api::new(&second.base);
        let expected = [
            (queued.as_str(), "queued\n"),
            (interrupted.as_str(), "interrupted\n"),
            (batch[0]["token"].as_str().unwrap(), "b1\n"),
            (batch[1]["token"].as_str().unwrap(), "b2\n"),
        ];
        for (token, stdout) in expected {
            let s = api.finished(token).await;
            assert_eq!((status_id(&s), s["stdout"].clone()), (3, json!(stdout)), "{s}");
        }
        second.stop().await;
    }
}

/// The official SDK (PyPI `judge0`, the version the reference describes).
const SDK_REQUIREMENT: &str = "judge0==0.0.8";
/// judge0-client (PyPI), its newest version; it brings httpx2 and pydantic.
const JUDGE0_CLIENT_REQUIREMENT: &str = "judge0-client==0.4.0";
/// judge0api (PyPI), its newest version; it brings requests.
const JUDGE0API_REQUIREMENT: &str = "judge0api==0.1.20";
/// One client script, at most.
const CLIENT_TEST_TIMEOUT_S: u64 = 300;

/// A real Python client against a real server on each backend: `requirement` installed once
/// with pip into `target/<dir>` (kept; `marker` is a file it installs), then
/// `tests/clients/<script> BASE_URL` run with it on `PYTHONPATH`; the script prints its checks
/// and exits non-zero on a failed one.
async fn python_client(requirement: &str, dir: &str, marker: &str, script: &str) {
    let Some((py, dir)) = common::clients::pip_installed(dir, &[requirement], &[marker]).await else {
        return;
    };
    for backend in common::backends() {
        let server = start_real(ServerConfig::default(), backend).await;
        let label = format!("{requirement} on {backend:?}");
        common::clients::run_python_client(&py, &dir, script, &server.base, CLIENT_TEST_TIMEOUT_S, &label).await;
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: the full sandbox"]
async fn official_python_sdk() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    python_client(SDK_REQUIREMENT, "pyclients", "judge0/__init__.py", "judge0_sdk_test.py").await;
}

/// judge0-client: single-file and multi-file submissions (additional_files, language 89),
/// `/about`, `/workers`, `/isolate`, `/license`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: the full sandbox"]
async fn judge0_client() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    python_client(
        JUDGE0_CLIENT_REQUIREMENT,
        "pyclients-judge0-client",
        "judge0_client/__init__.py",
        "judge0_client_test.py",
    )
    .await;
}

/// judge0api: submit with wait and without, load, get (with trailing slashes).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: the full sandbox"]
async fn judge0api_client() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    python_client(
        JUDGE0API_REQUIREMENT,
        "pyclients-judge0api",
        "judge0api/__init__.py",
        "judge0api_test.py",
    )
    .await;
}

/// A zip of `(name, content)` files, deflated as judge0-client makes them.
fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write as _;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, content) in files {
        w.start_file(*name, options).expect("zip entry");
        w.write_all(content).expect("zip write");
    }
    w.finish().expect("zip").into_inner()
}

/// An entry's unix mode set in a one-entry zip (a device node, say: the zip crate writes
/// only files, directories and links).
fn with_unix_mode(mut zip: Vec<u8>, mode: u32) -> Vec<u8> {
    let central = zip.windows(4).position(|w| w == b"PK\x01\x02").expect("central header");
    zip[central + 5] = 3;
    zip[central + 38..central + 42].copy_from_slice(&(mode << 16).to_le_bytes());
    zip
}

#[tokio::test(flavor = "multi_thread")]
async fn about_isolate_and_license_answer_as_judge0() {
    let server = start(ServerConfig::default(), Backend::Sqlite).await;
    let api = Api::of(&server);
    let (status, about) = api.get("/about").await;
    assert_eq!(status, StatusCode::OK);
    // judge0-client's AboutResponse: four strings, none null.
    for key in ["version", "homepage", "source_code", "maintainer"] {
        assert!(about[key].as_str().is_some_and(|s| !s.is_empty()), "{key}: {about}");
    }
    let http = reqwest::Client::new();
    for (path, want) in [("/isolate", "does not use isolate"), ("/license", "Apache-2.0")] {
        let resp = http
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let content_type = resp.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(content_type.starts_with("text/plain"), "{path}: {content_type}");
        let text = resp.text().await.expect("body");
        assert!(text.contains(want), "{path}: {text}");
    }
}

/// Judge0 deletes `$&;<>|` and the backquote and lets bash split the rest: quotes group
/// words, a backslash escapes; nothing is run by a shell here.
#[tokio::test(flavor = "multi_thread")]
async fn command_line_arguments_split_as_a_shell_would() {
    let server = start(ServerConfig::default(), Backend::Sqlite).await;
    let api = Api::of(&server);
    let mut body = python("# args");
    body["command_line_arguments"] = json!(r#"a 'b c' "d e" f\ g $HOME;rm `id` *.py"#);
    let r = api.run("", body).await;
    assert_eq!(status_id(&r), 3, "{r}");
    assert_eq!(
        r["stdout"],
        "[\"a\", \"b c\", \"d e\", \"f g\", \"HOMErm\", \"id\", \"*.py\"]\n"
    );

    for bad in ["a 'b c", "say \"hi", "trailing\\"] {
        let mut body = python("# args");
        body["command_line_arguments"] = json!(bad);
        let (status, errors) = api.post("/submissions?wait=true", &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {errors}");
        assert_eq!(
            errors,
            json!({ "command_line_arguments": ["cannot be split into arguments: a quote is not closed, or a backslash ends it"] })
        );
    }
    let (status, errors) = api
        .post(
            "/submissions",
            &json!({ "source_code": "int main;", "language_id": C, "compiler_options": "-DX='1" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{errors}");
    assert!(errors["compiler_options"].is_array(), "{errors}");
}

/// Every default `/config_info` advertises is at most its maximum, and a submission that
/// sends every advertised default back — or every advertised maximum — is accepted, in every
/// listed language. A submission that sends none gets Judge0's 5 s CPU, 10 s wall and
/// 1024 KB file size.
#[tokio::test(flavor = "multi_thread")]
async fn every_advertised_default_and_maximum_is_accepted() {
    let server = start(ServerConfig::default(), Backend::Sqlite).await;
    let api = Api::of(&server);
    let (_, config) = api.get("/config_info").await;
    let pairs = [
        ("cpu_time_limit", "max_cpu_time_limit"),
        ("cpu_extra_time", "max_cpu_extra_time"),
        ("wall_time_limit", "max_wall_time_limit"),
        ("memory_limit", "max_memory_limit"),
        ("stack_limit", "max_stack_limit"),
        ("max_processes_and_or_threads", "max_max_processes_and_or_threads"),
        ("max_file_size", "max_max_file_size"),
        ("number_of_runs", "max_number_of_runs"),
    ];
    for (default, max) in pairs {
        let (d, m) = (config[default].as_f64(), config[max].as_f64());
        assert!(
            d.is_some() && m.is_some() && d <= m,
            "{default} {d:?} > {max} {m:?}: {config}"
        );
    }
    assert_eq!(
        (
            config["cpu_time_limit"].as_f64(),
            config["wall_time_limit"].as_f64(),
            config["max_file_size"].as_u64()
        ),
        (Some(5.0), Some(10.0), Some(1024)),
        "Judge0 1.13.1's defaults"
    );
    let flags = [
        "enable_per_process_and_thread_time_limit",
        "enable_per_process_and_thread_memory_limit",
        "redirect_stderr_to_stdout",
        "enable_network",
    ];
    let (_, languages) = api.get("/languages").await;
    let languages = languages.as_array().expect("list");
    assert!(languages.len() >= 8, "{languages:?}");
    for language in languages {
        let id = &language["id"];
        for column in [0, 1] {
            let mut body = json!({ "source_code": "# stdout: hi", "language_id": id });
            for pair in pairs {
                let key = [pair.0, pair.1][column];
                body[pair.0] = config[key].clone();
            }
            for flag in flags {
                body[flag] = config[flag].clone();
            }
            if id == 89 {
                body["additional_files"] = json!(b64(&zip_of(&[("run", b"# stdout: hi")])));
                body.as_object_mut().unwrap().remove("source_code");
            }
            let (status, answer) = api.post("/submissions", &body).await;
            let which = ["defaults", "maxima"][column];
            assert_eq!(
                status,
                StatusCode::CREATED,
                "{which} for {language}: {body} -> {answer}"
            );
        }
        let token = api.submit(json!({ "source_code": "# stdout: hi", "language_id": id, "additional_files": b64(&zip_of(&[("run", b"")])) })).await;
        let s = api.finished(&token).await;
        assert_eq!(
            (
                s["cpu_time_limit"].clone(),
                s["wall_time_limit"].clone(),
                s["max_file_size"].clone()
            ),
            (json!("5.0"), json!("10.0"), json!(1024)),
            "{language}: {s}"
        );
    }
}

/// One entry per toolchain, Judge0's names with the version installed here; the other ids of
/// a toolchain answer by id; the source file is Judge0's (`script.py`).
#[tokio::test(flavor = "multi_thread")]
async fn languages_have_distinct_names_and_judge0_file_names() {
    let server = start(ServerConfig::default(), Backend::Sqlite).await;
    let api = Api::of(&server);
    for path in ["/languages", "/languages/all"] {
        let (_, list) = api.get(path).await;
        let names: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["name"].as_str().unwrap())
            .collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{path}: {names:?}");
        let ids: Vec<i64> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["id"].as_i64().unwrap())
            .collect();
        for (id, listed) in [
            (50, true),
            (48, false),
            (49, false),
            (75, false),
            (52, true),
            (54, false),
            (89, true),
        ] {
            assert_eq!(ids.contains(&id), listed, "{path}: id {id} in {ids:?}");
        }
    }
    let (_, c50) = api.get("/languages/50").await;
    assert!(c50["name"].as_str().unwrap().starts_with("C (GCC "), "{c50}");
    for id in [48, 49, 75] {
        let (status, other) = api.get(&format!("/languages/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(other["name"], c50["name"], "{id} is the same toolchain");
        let r = api
            .run("", json!({ "source_code": "# stdout: ok", "language_id": id }))
            .await;
        assert_eq!(status_id(&r), 3, "id {id} still runs: {r}");
    }
    let (_, multi) = api.get("/languages/89").await;
    assert!(
        multi["name"].as_str().unwrap().starts_with("Multi-file program"),
        "{multi}"
    );
    for (id, file) in [
        (71, "script.py"),
        (63, "script.js"),
        (46, "script.sh"),
        (85, "script.pl"),
        (50, "main.c"),
        (54, "main.cpp"),
        (62, "Main.java"),
        (73, "main.rs"),
        (89, "run"),
    ] {
        let (_, language) = api.get(&format!("/languages/{id}")).await;
        assert_eq!(language["source_file"], file, "{language}");
        if id != 89 {
            let r = api.run("", json!({ "source_code": "# main", "language_id": id })).await;
            assert_eq!(r["stdout"], format!("{file}\n"), "the program is named {file}: {r}");
        }
    }
}

/// Judge0 clients see the whole shelf: `/languages` lists every installed runtime of the
/// catalog (`GET /api/v1/runtimes`) exactly once, under the first of its Judge0 ids — those
/// Judge0 CE lacks (Nim, Racket, Tcl) under an id of tiderun's own range —, and
/// `/languages/all` every runtime, archived where not installed.
#[tokio::test(flavor = "multi_thread")]
async fn languages_list_every_runtime_of_the_catalog_once() {
    let server = start(ServerConfig::default(), Backend::Sqlite).await;
    let api = Api::of(&server);
    let (status, catalog) = api.get("/api/v1/runtimes").await;
    assert_eq!(status, StatusCode::OK);
    let catalog = catalog.as_array().expect("runtimes");
    assert!(catalog.len() >= 30, "the shelf: {}", catalog.len());
    let (_, active) = api.get("/languages").await;
    let (_, all) = api.get("/languages/all").await;
    let (active, all) = (active.as_array().expect("list"), all.as_array().expect("list"));
    let count = |list: &[Value], id: &Value| list.iter().filter(|l| &l["id"] == id).count();
    for rt in catalog {
        let name = rt["language"].as_str().unwrap();
        let id = &rt["judge0_ids"][0];
        assert!(id.is_u64(), "{name} has no Judge0 id: {rt}");
        let installed = rt["installed"].as_bool().unwrap();
        assert_eq!(count(active, id), usize::from(installed), "{name} ({id}) in /languages");
        assert_eq!(count(all, id), 1, "{name} ({id}) in /languages/all");
        let entry = all.iter().find(|l| &l["id"] == id).unwrap();
        assert_eq!(entry["is_archived"], json!(!installed), "{entry}");
        let (status, one) = api.get(&format!("/languages/{id}")).await;
        assert_eq!((status, &one["name"]), (StatusCode::OK, &entry["name"]), "{one}");
    }
    let installed = catalog.iter().filter(|rt| rt["installed"] == true).count();
    assert_eq!(active.len(), installed, "nothing but the catalog's installed runtimes");
    assert_eq!(all.len(), catalog.len(), "nothing but the catalog's runtimes");
    for (id, name) in [(1000, "nim"), (1001, "racket"), (1002, "tcl")] {
        let rt = catalog.iter().find(|rt| rt["language"] == name).expect(name);
        assert_eq!(rt["judge0_ids"], json!([id]), "{rt}");
        let (_, one) = api.get(&format!("/languages/{id}")).await;
        assert!(
            one["name"]
                .as_str()
                .unwrap()
                .starts_with(rt["display_name"].as_str().unwrap()),
            "{one}"
        );
    }
}

/// `additional_files`: a base64 zip, unpacked beside the program; language 89 takes its
/// program (`run`) from it.
#[tokio::test(flavor = "multi_thread")]
async fn additional_files_are_unpacked_beside_the_program() {
    for backend in common::backends() {
        let server = start(ServerConfig::default(), backend).await;
        let api = Api::of(&server);
        let (_, config) = api.get("/config_info").await;
        assert_eq!(config["enable_additional_files"], true);
        assert_eq!(
            config["max_extract_size"],
            (server::DEFAULT_MAX_BODY_BYTES / 1024) as u64
        );

        let zip = zip_of(&[
            ("./data/in.txt", b"hello"),
            ("script.py", b"# stdout: the zip's copy"),
            ("lib/helper.py", b"x = 1\n"),
        ]);
        let mut body = python("# main\n# files");
        body["additional_files"] = json!(b64(&zip));
        let r = api.run("fields=*", body).await;
        assert_eq!(status_id(&r), 3, "{r}");
        assert_eq!(
            r["stdout"], "script.py\ndata/in.txt: hello\nlib/helper.py: x = 1\\n\n",
            "the source code wins over the zip's script.py, as Judge0's unzip -n: {r}"
        );
        assert_eq!(unb64(&r["additional_files"]), zip, "always base64, as in Judge0");

        // Language 89: no source code; `run` (and `compile`) come from the zip.
        let zip = zip_of(&[
            ("run", b"# stdout: multi\n# main\n# files"),
            ("compile", b"gcc *.c"),
            ("a.c", b"int a;"),
        ]);
        let token = api
            .submit(json!({ "language_id": 89, "additional_files": b64(&zip) }))
            .await;
        let s = api.finished(&token).await;
        assert_eq!(status_id(&s), 3, "{s}");
        assert_eq!(s["stdout"], "multi\nrun\ncompile: gcc *.c\na.c: int a;\n", "{s}");
        assert_eq!(s["source_code"], Value::Null, "{s}");
        assert_eq!(s["language"]["id"], 89);

        // Blank source code without the program in the zip.
        let (status, errors) = api
            .post(
                "/submissions",
                &json!({ "language_id": 89, "source_code": "", "additional_files": b64(&zip_of(&[("main.sh", b"")])) }),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            errors,
            json!({ "additional_files": ["has no \"run\" and source_code is blank: one of them must be the program"] })
        );
        let (status, errors) = api.post("/submissions", &json!({ "language_id": 89 })).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(errors, json!({ "source_code": ["can't be blank"] }));
    }
}

/// Hostile archives are the normal case: each is a 422 on `additional_files`, never a 5xx,
/// and nothing is stored or run.
#[tokio::test(flavor = "multi_thread")]
async fn hostile_archives_are_refused_with_a_field_error() {
    let config = ServerConfig {
        max_body_bytes: 256 << 10,
        ..ServerConfig::default()
    };
    let server = start(config, Backend::Sqlite).await;
    let api = Api::of(&server);
    let symlink = {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        w.add_symlink("passwd", "/etc/passwd", zip::write::SimpleFileOptions::default())
            .expect("symlink");
        w.finish().expect("zip").into_inner()
    };
    let many: Vec<String> = (0..=1024).map(|i| format!("f{i}")).collect();
    let many: Vec<(&str, &[u8])> = many.iter().map(|n| (n.as_str(), &b""[..])).collect();
    // Hex digits compress about 2:1: well within the ratio, but more than the input limit.
    let hex: Vec<u8> = (0..300_000u32)
        .map(|i| b"0123456789abcdef"[(i.wrapping_mul(2_654_435_761) >> 28) as usize])
        .collect();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "zip slip",
            b64(&zip_of(&[("../../etc/cron.d/x", b"x")])),
            "leaves the work directory",
        ),
        (
            "absolute path",
            b64(&zip_of(&[("/etc/passwd", b"x")])),
            "is an absolute path",
        ),
        ("symlink", b64(&symlink), "is a symbolic link"),
        (
            "device",
            b64(&with_unix_mode(zip_of(&[("null", b"")]), 0o020_666)),
            "is a device, fifo or socket",
        ),
        (
            "bomb",
            b64(&zip_of(&[("zeros", &vec![0u8; 8 << 20])])),
            "times its compressed size",
        ),
        (
            "huge entry count",
            b64(&zip_of(&many)),
            "entries, more than the limit of 1024",
        ),
        (
            "past the input limit",
            b64(&zip_of(&[("big.txt", &hex)])),
            "unpacks to more than",
        ),
        ("not a zip", b64(b"just text"), "is not a valid zip archive"),
        ("not base64", "%%%".to_owned(), "is not valid base64"),
    ];
    for (what, files, want) in cases {
        let mut body = python("# stdout: hi");
        body["additional_files"] = json!(files);
        let (status, errors) = api.post("/submissions", &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {errors}");
        let message = errors["additional_files"][0].as_str().unwrap_or_default();
        assert!(message.contains(want), "{what}: {errors}");
        assert_eq!(errors.as_object().map(|o| o.len()), Some(1), "{what}: {errors}");
    }
    let (status, page) = api.get("/submissions").await;
    assert!(status == StatusCode::OK || status == StatusCode::UNAUTHORIZED, "{page}");
    if status == StatusCode::OK {
        assert_eq!(page["meta"]["total_count"], 0, "nothing stored: {page}");
    }
}
