//! Exercises on a real socket: the shipped directory's exercises listed and opened (hidden
//! tests show only their name), solutions graded through the run path on the real engine (a
//! wrong one in a hidden case scores 2/3 and leaks nothing), and — against the router with the
//! stand-in executor (`common::fake`, no root) — bad submissions and a teacher's posted
//! exercises (SQLite and, under `./x test`, Postgres): the token rules, replace, conflicts with
//! the directory, delete, a submission graded against the posted tests; a teacher's key
//! changing only its own exercises, and a changed exercise used by the next submission on
//! another node.

extern crate tiderun_server as server;

mod common;

use std::sync::Arc;

use common::{backends, http, Backend, TestServer};
use serde_json::{json, Value};
use server::exercise_spec::ExerciseDir;
use server::ServerConfig;

const TOKEN: &str = "teacher-secret";

/// The exercises shipped in the repository.
fn shipped() -> Arc<ExerciseDir> {
    let mut catalog = runtimes::Catalog::load(None).expect("catalog");
    catalog.detect();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../exercises");
    Arc::new(ExerciseDir::load(&dir, &catalog).expect("the shipped exercises load"))
}

fn config(tokens: &[&str]) -> ServerConfig {
    ServerConfig {
        exercises: shipped(),
        auth_tokens: tokens.iter().map(|t| t.to_string()).collect(),
        ..ServerConfig::default()
    }
}

/// A server on the real engine (root only).
async fn start_real(backend: Backend, tokens: &[&str]) -> TestServer {
    common::start(config(tokens), backend).await
}

/// A server with the stand-in executor behind it.
async fn start(backend: Backend, tokens: &[&str]) -> TestServer {
    common::fake::start(config(tokens), backend).await
}

async fn call(server: &TestServer, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", server.base));
    if !server.state.config().auth_tokens.is_empty() {
        request = request.header("x-auth-token", TOKEN);
    }
    if let Some(body) = body {
        request = request.body(body.to_string());
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn get(server: &TestServer, path: &str) -> (u16, Value) {
    call(server, reqwest::Method::GET, path, None).await
}

async fn submit(server: &TestServer, id: &str, language: &str, code: &str) -> (u16, Value) {
    let body = json!({"language": language, "code": code});
    call(
        server,
        reqwest::Method::POST,
        &format!("/api/v1/exercises/{id}/submit"),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn the_shipped_exercises_are_listed_and_hide_their_hidden_tests() {
    let server = start(Backend::Sqlite, &[]).await;
    let (status, list) = get(&server, "/api/v1/exercises").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["hello-name", "sum-two", "fizzbuzz"], "in the teacher's order");
    let sum = &list[1];
    assert_eq!(
        (&sum["title"], &sum["title_zh"], &sum["order"]),
        (&json!("Sum of two numbers"), &json!("两数之和"), &json!(2))
    );
    // Every installed language is accepted (it names none), those with starter code first.
    assert_eq!(sum["any_language"], true);
    let installed: Vec<String> = server
        .state
        .runner()
        .engine()
        .catalog()
        .iter()
        .filter(|r| r.installed)
        .map(|r| r.name.clone())
        .collect();
    let languages: Vec<String> = serde_json::from_value(sum["languages"].clone()).unwrap();
    assert_eq!(languages.len(), installed.len(), "{languages:?}");
    let starters = ["c", "c++", "java", "javascript", "python"];
    let first: Vec<&str> = languages
        .iter()
        .map(String::as_str)
        .filter(|l| starters.contains(l))
        .collect();
    assert_eq!(
        languages[..first.len()].iter().map(String::as_str).collect::<Vec<_>>(),
        first
    );

    let (status, exercise) = get(&server, "/api/v1/exercises/sum-two").await;
    assert_eq!(status, 200);
    assert!(exercise["statement_zh"].as_str().unwrap().contains("两个整数"));
    assert!(exercise["starter"]["python"].as_str().unwrap().contains("input()"));
    assert!(exercise["starter_zh"]["python"]
        .as_str()
        .unwrap()
        .contains("输出 a 与 b 的和"));
    assert_eq!(exercise["any_language"], true);
    let tests = exercise["tests"].as_array().unwrap();
    assert_eq!(
        tests[0],
        json!({"name": "small", "stdin": "1 2\n", "expected_output": "3\n", "hidden": false})
    );
    assert_eq!(
        tests[2],
        json!({"name": "negative", "hidden": true}),
        "only the name of a hidden test"
    );

    // The OpenAPI document names the languages, for generated clients.
    let (_, doc) = get(&server, "/api/v1/openapi.json").await;
    let languages = &doc["components"]["schemas"]["SubmitRequest"]["properties"]["language"]["enum"];
    assert!(languages.as_array().unwrap().contains(&json!("python")), "{languages}");

    for unknown in ["nope", "Sum-Two", "%00", "..%2Fsum-two"] {
        let (status, answer) = get(&server, &format!("/api/v1/exercises/{unknown}")).await;
        assert_eq!(status, 404, "{unknown}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains("no exercise"), "{answer}");
    }
    server.stop().await;
}

#[tokio::test]
#[ignore = "needs root: the full sandbox"]
async fn solutions_are_graded_and_hidden_tests_leak_nothing() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let server = start_real(Backend::Sqlite, &[]).await;
    let solutions = [
        ("sum-two", "python", "a, b = map(int, input().split())\nprint(a + b)"),
        ("hello-name", "python", "print(f'Hello, {input()}!')"),
        (
            "fizzbuzz",
            "python",
            "for i in range(1, int(input()) + 1):\n    print('Fizz' * (i % 3 == 0) + 'Buzz' * (i % 5 == 0) or i)",
        ),
        (
            "sum-two",
            "c",
            "#include <stdio.h>\nint main(void) { long a, b; scanf(\"%ld %ld\", &a, &b); printf(\"%ld\\n\", a + b); }",
        ),
    ];
    for (id, language, code) in solutions {
        let (status, graded) = submit(&server, id, language, code).await;
        assert_eq!(status, 200, "{graded}");
        assert_eq!(
            (&graded["passed"], &graded["total"], &graded["score"]),
            (&json!(3), &json!(3), &json!(1.0)),
            "{id} {language}: {graded}"
        );
    }

    // Wrong only where the numbers are negative: the hidden test.
    let (status, graded) = submit(
        &server,
        "sum-two",
        "python",
        "a, b = map(int, input().split())\nprint(abs(a + b))",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        (&graded["status"], &graded["passed"], &graded["total"]),
        (&json!("ok"), &json!(2), &json!(3)),
        "{graded}"
    );
    assert!((graded["score"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(graded["tests"][0]["run"]["stdout"], "3\n");
    assert_eq!(
        graded["tests"][2],
        json!({"name": "negative", "hidden": true, "verdict": "wrong_answer"})
    );
    let text = graded.to_string();
    assert!(
        !text.contains("-5 3") && !text.contains("\"2\\n\"") && !text.contains("-2"),
        "{text}"
    );

    // A compile error fails every test; a runtime error is that test's verdict.
    let (_, graded) = submit(&server, "sum-two", "c", "int main( {").await;
    assert_eq!(graded["status"], "compile_error");
    assert!(graded["tests"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["verdict"] == "compile_error"));
    assert_eq!(graded["score"], 0.0);
    assert!(graded["compile"]["stderr"].as_str().unwrap().contains("error"));
    let (_, graded) = submit(&server, "hello-name", "python", "raise SystemExit(3)").await;
    assert!(
        graded["tests"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["verdict"] == "runtime_error"),
        "{graded}"
    );

    server.stop().await;
}

#[tokio::test]
async fn bad_submissions_get_a_4xx_that_says_what_is_wrong() {
    let server = start(Backend::Sqlite, &[]).await;
    let cases = [
        ("nope", json!({"language": "python", "code": "1"}), 404, "no exercise"),
        (
            "sum-two",
            json!({"language": "no-such-language", "code": "1"}),
            400,
            "unknown language",
        ),
        (
            "sum-two",
            json!({"language": "python", "code": ""}),
            400,
            "`code` is empty",
        ),
        ("sum-two", json!({"language": "python"}), 400, "missing field `code`"),
        (
            "sum-two",
            json!({"language": "python", "code": "1", "tests": []}),
            400,
            "unknown field `tests`",
        ),
        ("sum-two", json!(["python"]), 400, "a JSON object"),
    ];
    for (id, body, expected, message) in cases {
        let (status, answer) = call(
            &server,
            reqwest::Method::POST,
            &format!("/api/v1/exercises/{id}/submit"),
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, expected, "{body}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains(message), "{body}: {answer}");
    }
    server.stop().await;
}

#[tokio::test]
async fn without_tokens_nobody_may_post_exercises() {
    let server = start(Backend::Sqlite, &[]).await;
    let body = json!({"id": "x", "title": "T", "statement": "S", "tests": [{"expected_output": ""}]});
    for (method, path, body) in [
        (reqwest::Method::POST, "/api/v1/exercises", Some(body)),
        (reqwest::Method::DELETE, "/api/v1/exercises/x", None),
    ] {
        let (status, answer) = call(&server, method, path, body).await;
        assert_eq!(status, 403);
        assert!(answer["error"].as_str().unwrap().contains("--auth-token"), "{answer}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_teacher_posts_replaces_and_deletes_exercises() {
    for backend in backends() {
        let server = start(backend, &[TOKEN]).await;
        // Without the token: 401, as for every API route of a server with tokens.
        let response = reqwest::Client::new()
            .post(format!("{}/api/v1/exercises", server.base))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401);

        let exercise = json!({
            "id": "double", "title": "Double it", "title_zh": "加倍", "statement": "Print 2n.",
            "order": 0, "languages": ["py"],
            "starter": {"py": "n = int(input())\n"},
            "tests": [{"stdin": "2\n", "expected_output": "4\n"}, {"stdin": "-1\n", "expected_output": "-2\n", "hidden": true}]
        });
        let post = |body: Value| call(&server, reqwest::Method::POST, "/api/v1/exercises", Some(body));
        let (status, stored) = post(exercise.clone()).await;
        assert_eq!(status, 201, "{stored}");
        assert_eq!(
            stored["starter"],
            json!({"python": "n = int(input())\n"}),
            "by the language's name"
        );
        assert_eq!(stored["tests"][0]["name"], "test 1");

        let (_, list) = get(&server, "/api/v1/exercises").await;
        let ids: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["double", "hello-name", "sum-two", "fizzbuzz"]);
        assert_eq!(
            list[0],
            json!({"id": "double", "title": "Double it", "title_zh": "加倍", "order": 0,
                   "languages": ["python"], "any_language": false, "source": "api", "editable": true})
        );
        // Only in the languages it names.
        let (status, answer) = submit(&server, "double", "c", "int main(void) { return 0; }").await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["error"], "exercise \"double\" is solved in python, not c");
        let (status, view) = get(&server, "/api/v1/exercises/double").await;
        assert_eq!(status, 200);
        assert_eq!(view["tests"][1], json!({"name": "test 2", "hidden": true}));
        // Graded against the posted tests: right for the first, wrong for the hidden one.
        let (status, graded) = submit(&server, "double", "python", "# stdout: 4").await;
        assert_eq!(status, 200, "{graded}");
        assert_eq!(
            (&graded["passed"], &graded["score"]),
            (&json!(1), &json!(0.5)),
            "{graded}"
        );
        assert_eq!(
            graded["tests"][1],
            json!({"name": "test 2", "hidden": true, "verdict": "wrong_answer"})
        );

        let mut changed = exercise.clone();
        changed["title"] = json!("Double");
        let (status, _) = post(changed).await;
        assert_eq!(status, 200, "replaced");
        assert_eq!(get(&server, "/api/v1/exercises/double").await.1["title"], "Double");

        let mut clash = exercise.clone();
        clash["id"] = json!("sum-two");
        let (status, answer) = post(clash).await;
        assert_eq!(status, 409, "{answer}");
        assert!(answer["error"].as_str().unwrap().contains("exercises directory"));
        assert_eq!(
            get(&server, "/api/v1/exercises/sum-two").await.1["title"],
            "Sum of two numbers"
        );

        let bad = |f: fn(&mut Value)| {
            let mut e = exercise.clone();
            f(&mut e);
            e
        };
        for (body, message) in [
            (
                bad(|e| e.as_object_mut().unwrap().remove("id").map(drop).unwrap_or(())),
                "`id` is required",
            ),
            (bad(|e| e["id"] = json!("Has Spaces")), "is not allowed"),
            (
                bad(|e| e["starter"] = json!({"no-such-language": "x"})),
                "starter.no-such-language: unknown language",
            ),
            (bad(|e| e["tests"] = json!([])), "at least one test"),
            (bad(|e| e["title"] = json!("")), "`title` is empty"),
            (bad(|e| e["tests"][0]["input"] = json!("x")), "unknown field `input`"),
            (
                bad(|e| e["statement"] = json!("x".repeat(server::exercise_spec::MAX_STATEMENT_BYTES + 1))),
                "`statement` is",
            ),
            (
                bad(|e| e["limits"] = json!({"cpu_ms": 10_000_000})),
                "limits: cpu_ms = 10000000 is out of range (at most",
            ),
        ] {
            let (status, answer) = post(body).await;
            assert_eq!(status, 400, "{message}: {answer}");
            assert!(
                answer["error"].as_str().unwrap().contains(message),
                "{answer} does not say {message:?}"
            );
        }
        let definition = "/api/v1/exercises/double/definition";
        let (status, kept) = call(&server, reqwest::Method::GET, definition, None).await;
        assert_eq!(status, 200, "{kept}");
        assert_eq!(
            (&kept["title"], &kept["limits"]),
            (&json!("Double"), &Value::Null),
            "nothing refused was saved"
        );

        for (id, expected) in [("sum-two", 409), ("double", 204), ("double", 404)] {
            let path = format!("/api/v1/exercises/{id}");
            let (status, answer) = call(&server, reqwest::Method::DELETE, &path, None).await;
            assert_eq!(status, expected, "DELETE {id}: {answer}");
        }
        assert_eq!(get(&server, "/api/v1/exercises/double").await.0, 404);
        server.stop().await;
    }
}

/// An exercise the stand-in's echoing program passes while `expected` is what it reads.
fn echo(id: &str, expected: &str) -> Value {
    json!({"id": id, "title": id, "statement": "Print what you read.",
           "tests": [{"stdin": "a\n", "expected_output": "a\n"},
                     {"stdin": "a\n", "expected_output": expected, "hidden": true}]})
}

fn error_of(body: &Value) -> &str {
    body["error"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_teacher_changes_only_their_own_exercises() {
    for backend in backends() {
        let server = start(backend, &[TOKEN]).await;
        let li = http::create_key(&server, TOKEN, "teacher-li", "teacher").await;
        let wang = http::create_key(&server, TOKEN, "teacher-wang", "teacher").await;
        let caller = http::create_key(&server, TOKEN, "ide", "caller").await;
        let post = |token: &str, body: Value| {
            let token = token.to_owned();
            let server = &server;
            async move { http::call(server, "POST", "/api/v1/exercises", Some(token.as_str()), Some(body)).await }
        };

        // A teacher adds one and replaces it; it is theirs.
        let (status, body) = post(&li, echo("li-echo", "a\n")).await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = post(&li, echo("li-echo", "a\n")).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = post(&caller, echo("caller-one", "a\n")).await;
        assert_eq!(status, 201, "{body}");

        // Another teacher's, a caller's and a directory exercise are not theirs to change.
        for (token, id, whose) in [
            (&wang, "li-echo", "belongs to the key \"teacher-li\""),
            (&li, "caller-one", "belongs to a caller or admin key"),
            (&li, "sum-two", "belongs to the exercises directory"),
        ] {
            let (status, body) = post(token, echo(id, "x\n")).await;
            assert_eq!(status, 403, "POST {id}: {body}");
            assert_eq!(
                error_of(&body),
                format!("the exercise {id:?} {whose}; choose another id"),
                "{body}"
            );
            let (status, body) =
                http::call(&server, "DELETE", &format!("/api/v1/exercises/{id}"), Some(token), None).await;
            assert_eq!(status, 403, "DELETE {id}: {body}");
            assert!(error_of(&body).contains(whose), "{body}");
        }
        assert_eq!(
            get(&server, "/api/v1/exercises/li-echo").await.1["tests"][1]["hidden"],
            true
        );
        assert_eq!(
            get(&server, "/api/v1/exercises/sum-two").await.1["title"],
            "Sum of two numbers"
        );
        // The owner reads it whole (hidden tests too) to edit it; another teacher may not.
        let (status, body) = http::call(
            &server,
            "GET",
            "/api/v1/exercises/li-echo/definition",
            Some(li.as_str()),
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["tests"][1]["expected_output"], "a\n", "{body}");
        assert_eq!(body["tests"][1]["hidden"], true, "{body}");
        let (status, body) = http::call(
            &server,
            "GET",
            "/api/v1/exercises/li-echo/definition",
            Some(wang.as_str()),
            None,
        )
        .await;
        assert_eq!(status, 403, "{body}");
        assert!(error_of(&body).contains("belongs to the key \"teacher-li\""), "{body}");
        let (status, _) = http::call(
            &server,
            "GET",
            "/api/v1/exercises/sum-two/definition",
            Some(li.as_str()),
            None,
        )
        .await;
        assert_eq!(status, 409);

        // The list says what each key may change.
        let editable = |list: &Value| -> Vec<(String, String, bool)> {
            list.as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    (
                        e["id"].as_str().unwrap().to_owned(),
                        e["source"].as_str().unwrap().to_owned(),
                        e["editable"].as_bool().unwrap(),
                    )
                })
                .filter(|(id, ..)| ["li-echo", "caller-one", "sum-two"].contains(&id.as_str()))
                .collect()
        };
        let row = |id: &str, source: &str, editable: bool| (id.to_owned(), source.to_owned(), editable);
        let (_, list) = http::call(&server, "GET", "/api/v1/exercises", Some(li.as_str()), None).await;
        assert_eq!(
            editable(&list),
            [
                row("sum-two", "directory", false),
                row("caller-one", "api", false),
                row("li-echo", "api", true)
            ]
        );
        let (_, list) = http::call(&server, "GET", "/api/v1/exercises", Some(wang.as_str()), None).await;
        assert!(editable(&list).iter().all(|(.., e)| !e), "{list}");
        let (_, list) = http::call(&server, "GET", "/api/v1/exercises", Some(caller.as_str()), None).await;
        assert_eq!(
            editable(&list),
            [
                row("sum-two", "directory", false),
                row("caller-one", "api", true),
                row("li-echo", "api", true)
            ]
        );

        // A caller key keeps its rights over a teacher's exercise, which stays the teacher's.
        let (status, body) = post(&caller, echo("li-echo", "a\n")).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = post(&li, echo("li-echo", "a\n")).await;
        assert_eq!(status, 200, "{body}");

        // The teacher deletes their own.
        let (status, body) = http::call(&server, "DELETE", "/api/v1/exercises/li-echo", Some(li.as_str()), None).await;
        assert_eq!(status, 204, "{body}");
        let (status, _) = http::call(&server, "DELETE", "/api/v1/exercises/li-echo", Some(li.as_str()), None).await;
        assert_eq!(status, 404);
        server.stop().await;
    }
}

/// Passed tests and the hidden test's verdict of the echoing program on `edited`.
async fn graded(server: &TestServer, token: &str) -> (u64, String) {
    let body = json!({"language": "python", "code": "print(input())"});
    let (status, graded) = http::call(
        server,
        "POST",
        "/api/v1/exercises/edited/submit",
        Some(token),
        Some(body),
    )
    .await;
    assert_eq!(status, 200, "{graded}");
    (
        graded["passed"].as_u64().unwrap(),
        graded["tests"][1]["verdict"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_changed_exercise_grades_the_next_submission_on_every_node() {
    for backend in backends() {
        let first = start(backend, &[TOKEN]).await;
        let second = common::fake::start_on(config(&[TOKEN]), &first).await;
        let li = http::create_key(&first, TOKEN, "teacher-li", "teacher").await;
        let (status, body) = http::call(
            &first,
            "POST",
            "/api/v1/exercises",
            Some(li.as_str()),
            Some(echo("edited", "a\n")),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(graded(&second, &li).await, (2, "accepted".to_owned()));
        // The teacher changes the hidden test's expected output on one node: the other grades by it.
        let (status, body) = http::call(
            &first,
            "POST",
            "/api/v1/exercises",
            Some(li.as_str()),
            Some(echo("edited", "b\n")),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(graded(&second, &li).await, (1, "wrong_answer".to_owned()));
        assert_eq!(graded(&first, &li).await, (1, "wrong_answer".to_owned()));
        second.stop().await;
        first.stop().await;
    }
}
