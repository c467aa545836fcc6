//! Running a class, against the router with the stand-in executor (`common::fake`, no root),
//! on SQLite and (under `./x test`) Postgres: a teacher key makes a class and assignments, two
//! students join by code (no key, on a server that requires keys), submit (one late, one
//! failing then passing), and the gradebook's JSON, CSV, cells and common failures say so; a
//! student sees only their own work; another teacher sees nothing of the class; sign-in again
//! by login code, a rotated join code, a removed student; bad input gets a 4xx that says why.

extern crate tiderun_server as server;

mod common;

use common::http::{call, call_text, create_key};
use common::{backends, TestServer};
use serde_json::{json, Value};
use server::ServerConfig;

const ADMIN_TOKEN: &str = "admin-secret";

/// A program of the stand-in that echoes its stdin: it passes every echo test.
const PASSING: &str = "print(input())";
/// A program of the stand-in that prints `wrong`.
const FAILING: &str = "# stdout: wrong";

/// An exercise whose tests the echoing program passes.
async fn post_echo_exercise(server: &TestServer, id: &str) {
    let exercise = json!({
        "id": id, "title": id, "statement": "Print what you read.",
        "tests": [
            {"name": "first", "stdin": "a\n", "expected_output": "a\n"},
            {"name": "second", "stdin": "b\n", "expected_output": "b\n"},
            {"name": "secret", "stdin": "c\n", "expected_output": "c\n", "hidden": true}
        ]
    });
    let (status, body) = call(server, "POST", "/api/v1/exercises", Some(ADMIN_TOKEN), Some(exercise)).await;
    assert_eq!(status, 201, "{body}");
}

async fn submit(server: &TestServer, token: &str, exercise: &str, code: &str) -> Value {
    let (status, body) = call(
        server,
        "POST",
        &format!("/api/v1/exercises/{exercise}/submit"),
        Some(token),
        Some(json!({"language": "python", "code": code})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

fn error_of(body: &Value) -> &str {
    body["error"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_class_from_join_to_gradebook() {
    for backend in backends() {
        let config = ServerConfig {
            auth_tokens: vec![ADMIN_TOKEN.into()],
            require_keys: true,
            ..ServerConfig::default()
        };
        let server = common::fake::start(config, backend).await;
        let li = create_key(&server, ADMIN_TOKEN, "teacher-li", "teacher").await;
        let wang = create_key(&server, ADMIN_TOKEN, "teacher-wang", "teacher").await;
        let page = create_key(&server, ADMIN_TOKEN, "class-page", "classroom").await;
        post_echo_exercise(&server, "echo-two").await;
        post_echo_exercise(&server, "echo-one").await;

        // Only a teacher (or an admin) makes classes.
        let (status, body) = call(
            &server,
            "POST",
            "/api/v1/classes",
            Some(&page),
            Some(json!({"name": "3B"})),
        )
        .await;
        assert_eq!(status, 403, "{body}");
        assert!(error_of(&body).contains("--role teacher"), "{body}");
        let (status, body) = call(
            &server,
            "POST",
            "/api/v1/classes",
            Some(&li),
            Some(json!({"name": "  "})),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert!(error_of(&body).contains("name must be 1 to 100 characters"), "{body}");
        let (status, class) = call(
            &server,
            "POST",
            "/api/v1/classes",
            Some(&li),
            Some(json!({"name": "Class 3B"})),
        )
        .await;
        assert_eq!(status, 201, "{class}");
        let class_id = class["id"].as_str().unwrap().to_owned();
        let code = class["join_code"].as_str().unwrap().to_owned();
        assert_eq!(code.len(), 8);
        assert_eq!(class["join_link"], format!("/#join={code}"));
        let base = format!("/api/v1/classes/{class_id}");

        // Assignments: bad ones refused with a reason.
        let assignment = |body: Value| {
            let (li, base) = (li.clone(), base.clone());
            let server = &server;
            async move { call(server, "POST", &format!("{base}/assignments"), Some(&li), Some(body)).await }
        };
        for (body, status, says) in [
            (json!({"title": "W", "exercises": []}), 400, "`exercises` is empty"),
            (
                json!({"title": "W", "exercises": ["no-such"]}),
                404,
                "no exercise with id",
            ),
            (
                json!({"title": "W", "exercises": ["echo-one", "echo-one"]}),
                400,
                "listed twice",
            ),
            (
                json!({"title": "W", "exercises": ["echo-one"], "deadline": "friday"}),
                400,
                "RFC 3339",
            ),
            (
                json!({"title": "W", "exercises": ["echo-one"], "publish_at": "2030-01-02T00:00:00Z", "deadline": "2030-01-01T00:00:00Z"}),
                400,
                "after `publish_at`",
            ),
            (json!({"title": "", "exercises": ["echo-one"]}), 400, "title must be"),
            (
                json!({"title": "W", "exercises": ["echo-one"], "colour": 1}),
                400,
                "colour",
            ),
        ] {
            let (got, answer) = assignment(body.clone()).await;
            assert_eq!(got, status, "{body}: {answer}");
            assert!(error_of(&answer).contains(says), "{body}: {answer}");
        }
        let (status, week1) = assignment(json!({
            "title": "Week 1", "exercises": ["echo-two"], "position": 1, "deadline": "2099-01-01T00:00:00Z"
        }))
        .await;
        assert_eq!(status, 201, "{week1}");
        // A title a spreadsheet would run as a formula; a deadline already past.
        let (status, past) = assignment(json!({
            "title": "=Late week", "exercises": ["echo-one"], "position": 2,
            "publish_at": "2020-01-01T00:00:00Z", "deadline": "2020-01-08T00:00:00+08:00"
        }))
        .await;
        assert_eq!(status, 201, "{past}");
        let (status, hidden) = assignment(json!({
            "title": "Next term", "exercises": ["echo-one"], "position": 3, "publish_at": "2099-01-01T00:00:00Z"
        }))
        .await;
        assert_eq!(status, 201, "{hidden}");

        // Students join without a key (the join code is the credential), as typed.
        let typed = format!("{}-{}", &code[..4], &code[4..]).to_lowercase();
        let join = |code: String, name: &str| {
            let body = json!({"code": code, "display_name": name});
            let server = &server;
            async move { call(server, "POST", "/api/v1/classes/join", None, Some(body)).await }
        };
        let (status, lei) = join(typed.clone(), "李雷").await;
        assert_eq!(status, 201, "{lei}");
        assert_eq!(lei["role"], "student");
        assert_eq!(lei["class_name"], "Class 3B");
        let (status, han) = join(code.clone(), "=Han, \"Meimei\"").await;
        assert_eq!(status, 201, "{han}");
        let (status, body) = join(code.clone(), "李雷").await;
        assert_eq!(status, 409, "{body}");
        assert!(
            error_of(&body).contains("another student of this class is called"),
            "{body}"
        );
        let (status, body) = join("ZZZZZZZZ".into(), "Lucy").await;
        assert_eq!(status, 404, "{body}");
        let (status, body) = join(code.clone(), &"名".repeat(41)).await;
        assert_eq!(status, 400, "{body}");
        assert!(error_of(&body).contains("display_name must be 1 to 40"), "{body}");
        let lei_token = lei["token"].as_str().unwrap().to_owned();
        let han_token = han["token"].as_str().unwrap().to_owned();
        let lei_id = lei["student_id"].as_str().unwrap().to_owned();
        let han_id = han["student_id"].as_str().unwrap().to_owned();

        // Li Lei fails, then passes; Han Meimei fails echo-two and passes echo-one late.
        let graded = submit(&server, &lei_token, "echo-two", FAILING).await;
        assert_eq!(graded["passed"], 0);
        let graded = submit(&server, &lei_token, "echo-two", PASSING).await;
        assert_eq!(graded["passed"], 3);
        // The answer says it was stored, for which assignment, and whether late.
        assert_eq!(graded["stored"]["late"], false, "{graded}");
        assert_eq!(graded["stored"]["assignment_id"], week1["id"], "{graded}");
        assert!(graded["stored"]["id"].is_string(), "{graded}");
        submit(&server, &han_token, "echo-two", FAILING).await;
        let graded = submit(&server, &han_token, "echo-one", PASSING).await;
        assert_eq!(graded["stored"]["late"], true, "{graded}");
        // Past what a stored submission keeps: refused before it runs, with the limit.
        let big = format!("{PASSING}\n#{}", "x".repeat(store::MAX_STORED_CODE_BYTES));
        let (status, body) = call(
            &server,
            "POST",
            "/api/v1/exercises/echo-two/submit",
            Some(&lei_token),
            Some(json!({"language": "python", "code": big})),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert!(
            error_of(&body).contains(&format!("more than the {} bytes", store::MAX_STORED_CODE_BYTES)),
            "{body}"
        );
        // An exercise's grading rule and weights: case ignored, the first test worth 3 points.
        let shout = json!({
            "id": "shout", "title": "Shout", "statement": "Print it.",
            "grading": {"ignore_case": true},
            "tests": [
                {"stdin": "x\n", "expected_output": "A\n", "weight": 3},
                {"stdin": "y\n", "expected_output": "B\n"}
            ]
        });
        let (status, body) = call(&server, "POST", "/api/v1/exercises", Some(ADMIN_TOKEN), Some(shout)).await;
        assert_eq!(status, 201, "{body}");
        let graded = submit(&server, &lei_token, "shout", "# stdout: a").await;
        assert_eq!(
            (&graded["passed"], &graded["score"]),
            (&json!(1), &json!(0.75)),
            "{graded}"
        );
        let (_, own) = call(
            &server,
            "GET",
            "/api/v1/classes/me/submissions?exercise=shout",
            Some(&lei_token),
            None,
        )
        .await;
        assert_eq!(
            (&own[0]["points"], &own[0]["max_points"], &own[0]["score"]),
            (&json!(3), &json!(4), &json!(0.75)),
            "{own}"
        );
        // A submission with a classroom key is graded, not stored (no student).
        let graded = submit(&server, &page, "echo-two", PASSING).await;
        assert!(graded.get("stored").is_none(), "{graded}");

        // The student's own view: published assignments only, done or not.
        let (status, mine) = call(&server, "GET", "/api/v1/classes/me", Some(&lei_token), None).await;
        assert_eq!(status, 200, "{mine}");
        let titles: Vec<&str> = mine["assignments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["title"].as_str().unwrap())
            .collect();
        assert_eq!(titles, ["Week 1", "=Late week"], "not the unpublished one");
        assert_eq!(
            mine["assignments"][0]["exercises"][0],
            json!({"id": "echo-two", "done": true, "best_score": 1.0, "submissions": 2})
        );
        assert_eq!(
            mine["assignments"][1]["exercises"][0],
            json!({"id": "echo-one", "done": false, "submissions": 0})
        );
        // The exercise list says the same to the signed-in student, and nothing to others.
        let (status, list) = call(&server, "GET", "/api/v1/exercises", Some(&lei_token), None).await;
        assert_eq!(status, 200, "{list}");
        let done = |list: &Value, id: &str| {
            list.as_array()
                .unwrap()
                .iter()
                .find(|e| e["id"] == id)
                .map(|e| e["done"].clone())
        };
        assert_eq!(done(&list, "echo-two"), Some(json!(true)), "{list}");
        assert_eq!(done(&list, "echo-one"), Some(json!(false)), "{list}");
        let (_, list) = call(&server, "GET", "/api/v1/exercises", Some(ADMIN_TOKEN), None).await;
        assert_eq!(done(&list, "echo-two"), Some(Value::Null), "{list}");
        let (status, own) = call(
            &server,
            "GET",
            "/api/v1/classes/me/submissions?exercise=echo-two",
            Some(&lei_token),
            None,
        )
        .await;
        assert_eq!(status, 200, "{own}");
        let own = own.as_array().unwrap();
        assert_eq!(own.len(), 2);
        assert_eq!(own[0]["code"], FAILING);
        assert_eq!(
            own[0]["verdicts"][0],
            json!({"name": "first", "hidden": false, "verdict": "wrong_answer", "output": "wrong\n"})
        );
        assert_eq!(
            own[0]["verdicts"][2],
            json!({"name": "secret", "hidden": true, "verdict": "wrong_answer"}),
            "a hidden test's output is not kept"
        );
        assert_eq!(
            (
                &own[1]["score"],
                &own[1]["points"],
                &own[1]["max_points"],
                &own[1]["late"]
            ),
            (&json!(1.0), &json!(3), &json!(3), &json!(false))
        );

        // A student sees neither the gradebook nor another student's work.
        for path in [
            format!("{base}/gradebook"),
            format!("{base}/gradebook.csv"),
            format!("{base}/students"),
            format!("{base}/students/{han_id}/submissions"),
            format!("{base}/exercises/echo-two/failures"),
            "/api/v1/classes".to_owned(),
        ] {
            let (status, body) = call(&server, "GET", &path, Some(&lei_token), None).await;
            assert_eq!(status, 403, "{path}: {body}");
            assert!(
                error_of(&body).contains("a student may see only their own work"),
                "{body}"
            );
        }
        let (status, body) = call(&server, "POST", "/api/v1/session", Some(&lei_token), None).await;
        assert_eq!(status, 400, "a student trades nothing for a key's session: {body}");
        // Nor does another teacher; a teacher's key is no student.
        let (status, body) = call(&server, "GET", &format!("{base}/gradebook"), Some(&wang), None).await;
        assert_eq!(status, 403, "{body}");
        assert!(error_of(&body).contains("another teacher"), "{body}");
        let (status, list) = call(&server, "GET", "/api/v1/classes", Some(&wang), None).await;
        assert_eq!((status, list), (200, json!([])));
        let (status, body) = call(&server, "GET", "/api/v1/classes/me", Some(&li), None).await;
        assert_eq!(status, 403, "{body}");

        // The gradebook: best and latest per student and exercise.
        let (status, book) = call(&server, "GET", &format!("{base}/gradebook"), Some(&li), None).await;
        assert_eq!(status, 200, "{book}");
        let columns: Vec<&str> = book["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["exercise_id"].as_str().unwrap())
            .collect();
        assert_eq!(columns, ["echo-two", "echo-one", "echo-one"]);
        let rows = book["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["display_name"], "李雷");
        let cell = &rows[0]["cells"][0];
        assert_eq!(
            (&cell["best_score"], &cell["latest_score"], &cell["submissions"]),
            (&json!(1.0), &json!(1.0), &json!(2))
        );
        assert_eq!(rows[0]["cells"][1], Value::Null);
        let cell = &rows[1]["cells"][0];
        assert_eq!(
            (&cell["best_score"], &cell["latest_score"], &cell["submissions"]),
            (&json!(0.0), &json!(0.0), &json!(1))
        );
        let cell = &rows[1]["cells"][1];
        assert_eq!(
            (&cell["best_score"], &cell["latest_late"]),
            (&json!(1.0), &json!(true)),
            "late, and kept"
        );

        // The CSV says the same, quoted and safe from formulas.
        let (status, csv) = call_text(&server, "GET", &format!("{base}/gradebook.csv"), Some(&li), None).await;
        assert_eq!(status, 200, "{csv}");
        let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').split("\r\n").collect();
        assert_eq!(
            lines,
            [
                "student,Week 1 / echo-two,'=Late week / echo-one,Next term / echo-one,average",
                "李雷,1.00,,,0.33",
                "\"'=Han, \"\"Meimei\"\"\",0.00,1.00,1.00,0.67",
                "",
            ]
        );

        // A cell's submissions, with code and verdicts.
        let (status, cell) = call(
            &server,
            "GET",
            &format!("{base}/students/{lei_id}/submissions?exercise=echo-two"),
            Some(&li),
            None,
        )
        .await;
        assert_eq!(status, 200, "{cell}");
        assert_eq!(cell.as_array().unwrap().len(), 2);
        assert_eq!(cell[1]["code"], PASSING);
        // Common failures: both failing submissions printed `wrong`.
        let (status, failures) = call(
            &server,
            "GET",
            &format!("{base}/exercises/echo-two/failures"),
            Some(&li),
            None,
        )
        .await;
        assert_eq!(status, 200, "{failures}");
        assert_eq!(
            (&failures["submissions"], &failures["students"], &failures["solved_by"]),
            (&json!(3), &json!(2), &json!(1))
        );
        assert_eq!(failures["tests"][0]["failed"], 2);
        assert_eq!(
            failures["tests"][0]["wrong_outputs"],
            json!([{"output": "wrong\n", "count": 2}])
        );
        assert_eq!(failures["tests"][2]["wrong_outputs"], json!([]), "hidden");

        // The teacher's page holds a page session: a teacher key's stays a teacher's.
        let (status, page_session) = call(&server, "POST", "/api/v1/session", Some(&li), None).await;
        assert_eq!(
            (status, &page_session["role"]),
            (200, &json!("teacher")),
            "{page_session}"
        );
        let (status, _) = call(
            &server,
            "GET",
            &format!("{base}/gradebook"),
            page_session["token"].as_str(),
            None,
        )
        .await;
        assert_eq!(status, 200);
        let (_, classroom_session) = call(&server, "POST", "/api/v1/session", Some(&page), None).await;
        assert_eq!(classroom_session["role"], "classroom");
        let (status, _) = call(
            &server,
            "GET",
            "/api/v1/classes",
            classroom_session["token"].as_str(),
            None,
        )
        .await;
        assert_eq!(status, 403);
        // An admin sees every class.
        let (status, all) = call(&server, "GET", "/api/v1/classes", Some(ADMIN_TOKEN), None).await;
        assert_eq!((status, all.as_array().map(Vec::len)), (200, Some(1)));

        // The roster shows login codes; a student signs in again with one.
        let (status, roster) = call(&server, "GET", &format!("{base}/students"), Some(&li), None).await;
        assert_eq!(status, 200, "{roster}");
        assert_eq!(roster[0]["login_code"], lei["login_code"]);
        let login = lei["login_code"].as_str().unwrap().to_lowercase();
        let (status, again) = call(
            &server,
            "POST",
            "/api/v1/classes/signin",
            None,
            Some(json!({"login_code": login})),
        )
        .await;
        assert_eq!(status, 200, "{again}");
        let (status, _) = call(&server, "GET", "/api/v1/classes/me", again["token"].as_str(), None).await;
        assert_eq!(status, 200);
        let (status, body) = call(
            &server,
            "POST",
            "/api/v1/classes/signin",
            None,
            Some(json!({"login_code": "2222222222"})),
        )
        .await;
        assert_eq!(status, 401, "{body}");

        // Rename, rotate the join code, remove a student.
        let (status, renamed) = call(
            &server,
            "PATCH",
            &format!("{base}/students/{lei_id}"),
            Some(&li),
            Some(json!({"display_name": "Li Lei"})),
        )
        .await;
        assert_eq!((status, &renamed["display_name"]), (200, &json!("Li Lei")), "{renamed}");
        let (status, body) = call(
            &server,
            "PATCH",
            &format!("{base}/students/{lei_id}"),
            Some(&li),
            Some(json!({"display_name": "=han, \"meimei\""})),
        )
        .await;
        assert_eq!(status, 409, "{body}");
        let (status, rotated) = call(&server, "POST", &format!("{base}/join-code"), Some(&li), None).await;
        assert_eq!(status, 200);
        assert_ne!(rotated["join_code"], code);
        let (status, _) = join(code.clone(), "Lucy").await;
        assert_eq!(status, 404, "the old code is gone");
        let (status, _) = call(&server, "DELETE", &format!("{base}/students/{han_id}"), Some(&li), None).await;
        assert_eq!(status, 204);
        let (status, body) = call(&server, "GET", "/api/v1/classes/me", Some(&han_token), None).await;
        assert_eq!(status, 401, "{body}");
        let (status, _) = call(
            &server,
            "POST",
            "/api/v1/classes/signin",
            None,
            Some(json!({"login_code": han["login_code"]})),
        )
        .await;
        assert_eq!(status, 401);
        let (_, book) = call(&server, "GET", &format!("{base}/gradebook"), Some(&li), None).await;
        assert_eq!(book["rows"].as_array().unwrap().len(), 1);

        // Unknown ids: 404 that says which.
        let (status, body) = call(
            &server,
            "GET",
            "/api/v1/classes/0000000000000000/gradebook",
            Some(&li),
            None,
        )
        .await;
        assert_eq!(status, 404, "{body}");
        let (status, body) = call(&server, "DELETE", &format!("{base}/assignments/nope"), Some(&li), None).await;
        assert_eq!(status, 404, "{body}");
        // Documented in the OpenAPI document.
        let (_, doc) = call(&server, "GET", "/api/v1/openapi.json", Some(&li), None).await;
        for (path, method) in [
            ("/api/v1/classes", "post"),
            ("/api/v1/classes/join", "post"),
            ("/api/v1/classes/signin", "post"),
            ("/api/v1/classes/me", "get"),
            ("/api/v1/classes/{class}/assignments", "post"),
            ("/api/v1/classes/{class}/gradebook", "get"),
            ("/api/v1/classes/{class}/gradebook.csv", "get"),
            ("/api/v1/classes/{class}/exercises/{exercise}/failures", "get"),
        ] {
            assert!(doc["paths"][path][method].is_object(), "{method} {path}");
        }
        // The class owner's key revoked: its students' sessions stop too.
        let (status, _) = call(&server, "DELETE", "/api/v1/keys/teacher-li", Some(ADMIN_TOKEN), None).await;
        assert_eq!(status, 200);
        let (status, body) = call(&server, "GET", "/api/v1/classes/me", again["token"].as_str(), None).await;
        assert_eq!(status, 401, "{body}");
        assert!(error_of(&body).contains("teacher key no longer works"), "{body}");
        let _ = (week1, past, hidden);
        server.stop().await;
    }
}
