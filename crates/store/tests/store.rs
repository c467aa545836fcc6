//! The store through its public API, on SQLite (a temp file) and — when
//! `TIDERUN_TEST_POSTGRES_URL` names a server (`scripts/test-postgres` starts one) — on
//! Postgres, each test in a database of its own so tests run in parallel.

use std::time::Duration;

use chrono::Utc;
use sqlx::{Connection, Executor};
use store::{
    ApiKey, Claim, DeleteOutcome, KeyState, NewKey, NewSubmission, PutOutcome, Quotas, RevokeOutcome, Role, RunRecord,
    RunsQuery, Store, StoreError, UsageQuery, Writer, KEY_LEN, MAX_CPU_S_PER_DAY, MAX_EXERCISE_BYTES,
    MAX_EXERCISE_ID_BYTES, MAX_EXERCISE_SUMMARY_BYTES, MAX_KEY_EXPIRY_DAYS, MAX_PER_PAGE, MAX_RUNS_PER_MINUTE,
    MAX_RUNS_PER_PAGE, MAX_SNIPPET_BYTES, MAX_SNIPPET_LANGUAGE_BYTES, MAX_STORED_EXERCISES, SNIPPET_ID_LEN,
};

const POSTGRES_ENV: &str = "TIDERUN_TEST_POSTGRES_URL";

/// A database for one test, removed afterwards.
struct TestDb {
    url: String,
    _dir: Option<tempfile::TempDir>,
    /// Postgres: the admin URL and the database to drop.
    postgres: Option<(String, String)>,
}

impl TestDb {
    /// A SQLite file in a directory that does not exist yet (connect creates it).
    fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/not/yet/there/tiderun.db", dir.path().display());
        TestDb {
            url,
            _dir: Some(dir),
            postgres: None,
        }
    }

    /// A new database on the test server, or `None` (the test is skipped) when there is none.
    async fn postgres() -> Option<TestDb> {
        let Ok(admin) = std::env::var(POSTGRES_ENV) else {
            testkit::skip(format_args!(
                "{POSTGRES_ENV} is not set (scripts/test-postgres starts a server)"
            ));
            return None;
        };
        let name = format!("tiderun_test_{}", Store::new_token().replace('-', ""));
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .expect("connect to the admin url");
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create database");
        conn.close().await.expect("close");
        let mut url = url::Url::parse(&admin).expect("admin url");
        url.set_path(&name);
        Some(TestDb {
            url: url.to_string(),
            _dir: None,
            postgres: Some((admin, name)),
        })
    }

    async fn drop_database(self) {
        if let Some((admin, name)) = &self.postgres {
            let mut conn = sqlx::PgConnection::connect(admin)
                .await
                .expect("connect to the admin url");
            conn.execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str())
                .await
                .expect("drop database");
        }
    }
}

/// Each name becomes `sqlite::NAME` and `postgres::NAME`, running the function `NAME(url)`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = super::TestDb::sqlite();
                    super::$name(db.url.clone()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(db) = super::TestDb::postgres().await else { return };
                    super::$name(db.url.clone()).await;
                    db.drop_database().await;
                }
            )*
        }
    };
}

on_both_backends!(
    insert_and_get,
    batch_keeps_order_and_is_atomic,
    claim_race_has_one_winner,
    finish_stores_the_result,
    list_pages_newest_first,
    reads_are_bounded_before_loading,
    delete_rules,
    restart_recovery,
    count_by_status,
    payloads_are_kept_verbatim,
    snippet_round_trip_and_limits,
    exercise_put_get_list_delete,
    exercise_limits,
    exercise_owners,
    a_lease_fences_the_result_and_runs_out,
    claim_next_takes_what_no_queue_holds,
    concurrent_claimers_take_different_rows,
    requeue_expired_hands_each_row_to_one_node,
    give_back_and_refused_submissions,
    usage_adds_up_across_batches_and_nodes,
    usage_reads_are_checked,
    recent_runs_page_filter_and_prune,
    keys_create_find_list_revoke,
    key_limits_and_names_for_ever,
    shared_secret_is_made_once,
    submissions_listed_by_owner,
    classes_roster_and_codes,
    class_submissions_are_late_by_the_kindest_deadline_and_bounded,
    school_accounts_link_once_and_go_with_the_student,
    pending_signins_are_taken_once_bounded_and_expire,
);

async fn connect(url: &str) -> Store {
    Store::connect(url).await.expect("connect")
}

/// A lease far longer than any test.
const LONG_LEASE: Duration = Duration::from_secs(300);

/// Claim for "node-a" with a long lease.
async fn claim(store: &Store, token: &str) -> Option<Claim> {
    claim_as(store, token, "node-a").await
}

async fn claim_as(store: &Store, token: &str, node: &str) -> Option<Claim> {
    store.claim_submission(token, node, LONG_LEASE).await.unwrap()
}

fn new(request: &str) -> NewSubmission {
    NewSubmission {
        token: Store::new_token(),
        request: request.to_owned(),
        owner: None,
    }
}

async fn insert_and_get(url: String) {
    let store = connect(&url).await;
    assert_eq!(
        store.backend(),
        if url.starts_with("sqlite") {
            "sqlite"
        } else {
            "postgres"
        }
    );
    let before = Utc::now();
    let a = NewSubmission {
        owner: Some("api-token-1".into()),
        ..new(r#"{"language_id":71}"#)
    };
    store.insert_submission(&a).await.unwrap();
    let got = store.get_submission(&a.token).await.unwrap().expect("stored");
    assert_eq!(got.token, a.token);
    assert_eq!(got.request, a.request);
    assert_eq!(got.owner.as_deref(), Some("api-token-1"));
    assert_eq!(got.status, store::STATUS_QUEUED);
    assert_eq!(got.result, None);
    assert_eq!(got.finished_at, None);
    assert!(!got.is_finished());
    let slack = chrono::Duration::seconds(5);
    assert!(
        got.created_at >= before - slack && got.created_at <= Utc::now() + slack,
        "{}",
        got.created_at
    );

    let b = new("{}");
    store.insert_submission(&b).await.unwrap();
    assert_eq!(store.get_submission(&b.token).await.unwrap().unwrap().owner, None);
    assert_eq!(store.get_submission("no-such-token").await.unwrap(), None);
    // Strings no token can be (Postgres text cannot hold NUL) are unknown, never an error.
    for odd in ["a\0b", "", &"x".repeat(100_000)] {
        assert_eq!(store.get_submission(odd).await.unwrap(), None);
        assert!(matches!(
            store.delete_submission(odd).await.unwrap(),
            DeleteOutcome::NotFound
        ));
    }
    let both = store
        .get_submissions(&[b.token.clone(), "a\0b".to_string()], u64::MAX)
        .await
        .unwrap();
    assert!(both[0].is_some() && both[1].is_none());

    let err = store.insert_submission(&a).await.unwrap_err();
    assert!(
        matches!(err, StoreError::DuplicateToken { ref token } if *token == a.token),
        "{err:?}"
    );
    let err = store.insert_submission(&new("{\"stdin\":\"a\0b\"}")).await.unwrap_err();
    assert!(matches!(err, StoreError::NulCharacter { field: "request" }), "{err:?}");
    assert!(err.is_caller_mistake());
}

async fn batch_keeps_order_and_is_atomic(url: String) {
    let store = connect(&url).await;
    let batch: Vec<NewSubmission> = (0..5).map(|i| new(&format!("{{\"n\":{i}}}"))).collect();
    store.insert_submissions(&batch).await.unwrap();
    store.insert_submissions(&[]).await.unwrap();
    let tokens: Vec<String> = batch.iter().map(|s| s.token.clone()).collect();

    let asked = vec![
        tokens[3].clone(),
        "unknown".to_owned(),
        tokens[0].clone(),
        tokens[3].clone(),
    ];
    let got = store.get_submissions(&asked, u64::MAX).await.unwrap();
    let got: Vec<Option<&str>> = got.iter().map(|s| s.as_ref().map(|s| s.request.as_str())).collect();
    assert_eq!(got, [Some("{\"n\":3}"), None, Some("{\"n\":0}"), Some("{\"n\":3}")]);
    assert!(store.get_submissions(&[], u64::MAX).await.unwrap().is_empty());

    // Creation times follow the batch's order, even within one clock tick.
    let all = store.get_submissions(&tokens, u64::MAX).await.unwrap();
    let times: Vec<_> = all.iter().map(|s| s.as_ref().unwrap().created_at).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    assert_eq!(store.unfinished_submissions().await.unwrap(), tokens);

    // More tokens than one IN (…) query takes.
    let many: Vec<NewSubmission> = (0..1_200).map(|_| new("{}")).collect();
    store.insert_submissions(&many).await.unwrap();
    let mut asked: Vec<String> = many.iter().rev().map(|s| s.token.clone()).collect();
    asked.insert(600, "unknown".into());
    let got = store.get_submissions(&asked, u64::MAX).await.unwrap();
    assert_eq!(got.len(), asked.len());
    for (t, s) in asked.iter().zip(&got) {
        assert_eq!(s.as_ref().map(|s| &s.token), (t != "unknown").then_some(t));
    }

    // A duplicate inside a batch stores none of it.
    let mut bad: Vec<NewSubmission> = (0..3).map(|_| new("{}")).collect();
    bad[2].token = bad[0].token.clone();
    let err = store.insert_submissions(&bad).await.unwrap_err();
    assert!(matches!(err, StoreError::DuplicateToken { .. }), "{err:?}");
    assert_eq!(store.get_submission(&bad[1].token).await.unwrap(), None);
    assert_eq!(store.list_submissions(1, 1, u64::MAX).await.unwrap().total_count, 1_205);
}

async fn claim_race_has_one_winner(url: String) {
    let store = connect(&url).await;
    for _ in 0..20 {
        let s = new("{}");
        store.insert_submission(&s).await.unwrap();
        let (a, b) = (store.clone(), store.clone());
        let (ta, tb) = (s.token.clone(), s.token.clone());
        let first = tokio::spawn(async move { claim_as(&a, &ta, "node-a").await.is_some() });
        let second = tokio::spawn(async move { claim_as(&b, &tb, "node-b").await.is_some() });
        let (first, second) = (first.await.unwrap(), second.await.unwrap());
        assert!(first ^ second, "exactly one claim wins: {first} {second}");
        assert_eq!(
            store.get_submission(&s.token).await.unwrap().unwrap().status,
            store::STATUS_PROCESSING
        );
    }
    assert!(claim(&store, "unknown").await.is_none());
    let s = new("{}");
    store.insert_submission(&s).await.unwrap();
    assert!(claim(&store, &s.token).await.is_some());
    store.finish_submission(&s.token, 3, "{}").await.unwrap();
    assert!(
        claim(&store, &s.token).await.is_none(),
        "a finished submission is not claimable"
    );
}

async fn finish_stores_the_result(url: String) {
    let store = connect(&url).await;
    let s = new("{}");
    store.insert_submission(&s).await.unwrap();
    assert!(claim(&store, &s.token).await.is_some());
    store
        .finish_submission(&s.token, 6, r#"{"stdout":"hi\n","status":"compile_error"}"#)
        .await
        .unwrap();
    let got = store.get_submission(&s.token).await.unwrap().unwrap();
    assert_eq!(got.status, 6);
    assert!(got.is_finished());
    assert_eq!(
        got.result.as_deref(),
        Some(r#"{"stdout":"hi\n","status":"compile_error"}"#)
    );
    let finished = got.finished_at.expect("finish time");
    assert!(finished >= got.created_at, "{finished} < {}", got.created_at);

    let err = store.finish_submission(&s.token, 2, "{}").await.unwrap_err();
    assert!(matches!(err, StoreError::NotAFinishedStatus { status: 2 }), "{err:?}");
    let err = store.finish_submission("unknown", 3, "{}").await.unwrap_err();
    assert!(matches!(err, StoreError::UnknownSubmission { .. }), "{err:?}");
    assert_eq!(err.to_string(), "no submission with token unknown");
}

async fn list_pages_newest_first(url: String) {
    let store = connect(&url).await;
    let empty = store.list_submissions(1, 20, u64::MAX).await.unwrap();
    assert_eq!((empty.items.len(), empty.total_count, empty.total_pages()), (0, 0, 0));

    let mut tokens = Vec::new();
    for i in 0..7 {
        let s = new(&format!("{{\"n\":{i}}}"));
        store.insert_submission(&s).await.unwrap();
        tokens.push(s.token);
    }
    tokens.reverse();
    let mut seen = Vec::new();
    for (page, size) in [(1, 3), (2, 3), (3, 1), (4, 0)] {
        let p = store.list_submissions(page, 3, u64::MAX).await.unwrap();
        assert_eq!((p.page, p.per_page, p.total_count, p.total_pages()), (page, 3, 7, 3));
        assert_eq!(p.items.len(), size, "page {page}");
        seen.extend(p.items.into_iter().map(|s| s.token));
    }
    assert_eq!(seen, tokens, "newest first, each once");
    assert_eq!(
        store
            .list_submissions(1, MAX_PER_PAGE, u64::MAX)
            .await
            .unwrap()
            .items
            .len(),
        7
    );

    for (page, per_page) in [(0, 3), (1, 0), (1, MAX_PER_PAGE + 1)] {
        let err = store.list_submissions(page, per_page, u64::MAX).await.unwrap_err();
        assert!(matches!(err, StoreError::InvalidPage { .. }), "{err:?}");
        assert!(err.is_caller_mistake());
    }
    let far = store.list_submissions(u32::MAX, MAX_PER_PAGE, u64::MAX).await.unwrap();
    assert!(far.items.is_empty());
}

/// A page or a batch whose stored text is past the caller's bound is refused, named, before it
/// is loaded; at the bound it is answered.
async fn reads_are_bounded_before_loading(url: String) {
    let store = connect(&url).await;
    let (a, b) = (new(&format!("{{\"s\":\"{}\"}}", "a".repeat(1000))), new("{}"));
    for s in [&a, &b] {
        store.insert_submission(s).await.unwrap();
    }
    claim(&store, &a.token).await.unwrap();
    store
        .finish_submission(&a.token, 3, &format!("{{\"o\":\"{}\"}}", "b".repeat(500)))
        .await
        .unwrap();
    // 1008 + 508 characters of a, 2 of b.
    let total = 1008 + 508 + 2;
    assert_eq!(store.list_submissions(1, 10, total).await.unwrap().items.len(), 2);
    let err = store.list_submissions(1, 10, total - 1).await.unwrap_err();
    assert!(
        matches!(err, StoreError::AnswerTooLarge { chars, max } if chars == total && max == total - 1),
        "{err:?}"
    );
    assert!(err.is_caller_mistake());
    // The newest page holds only b.
    assert_eq!(store.list_submissions(1, 1, 2).await.unwrap().items[0].token, b.token);

    let asked = [a.token.clone(), a.token.clone(), b.token.clone(), "unknown".into()];
    let twice = 2 * (1008 + 508) + 2;
    assert_eq!(store.get_submissions(&asked, twice).await.unwrap().len(), 4);
    let err = store.get_submissions(&asked, twice - 1).await.unwrap_err();
    assert!(
        matches!(err, StoreError::AnswerTooLarge { chars, .. } if chars == twice),
        "{err:?}"
    );
}

async fn delete_rules(url: String) {
    let store = connect(&url).await;
    let (queued, processing, finished) = (new("{}"), new("{}"), new("{\"x\":1}"));
    for s in [&queued, &processing, &finished] {
        store.insert_submission(s).await.unwrap();
    }
    assert!(claim(&store, &processing.token).await.is_some());
    assert!(claim(&store, &finished.token).await.is_some());
    store
        .finish_submission(&finished.token, 3, "{\"ok\":true}")
        .await
        .unwrap();

    assert_eq!(
        store.delete_submission(&queued.token).await.unwrap(),
        DeleteOutcome::NotFinished { status: 1 }
    );
    assert_eq!(
        store.delete_submission(&processing.token).await.unwrap(),
        DeleteOutcome::NotFinished { status: 2 }
    );
    match store.delete_submission(&finished.token).await.unwrap() {
        DeleteOutcome::Deleted(s) => {
            assert_eq!(s.token, finished.token);
            assert_eq!(s.request, "{\"x\":1}");
            assert_eq!(s.result.as_deref(), Some("{\"ok\":true}"));
        }
        other => panic!("expected Deleted, got {other:?}"),
    }
    assert_eq!(
        store.delete_submission(&finished.token).await.unwrap(),
        DeleteOutcome::NotFound
    );
    assert_eq!(store.get_submission(&finished.token).await.unwrap(), None);
    assert_eq!(
        store.delete_submission("unknown").await.unwrap(),
        DeleteOutcome::NotFound
    );
    assert!(store.get_submission(&queued.token).await.unwrap().is_some());
}

async fn restart_recovery(url: String) {
    let (a, b, c, d) = (new("{}"), new("{}"), new("{}"), new("{}"));
    {
        let store = connect(&url).await;
        store
            .insert_submissions(&[a.clone(), b.clone(), c.clone()])
            .await
            .unwrap();
        store.insert_submission(&d).await.unwrap();
        assert!(claim(&store, &b.token).await.is_some());
        assert!(claim(&store, &c.token).await.is_some());
        store.finish_submission(&c.token, 4, "{}").await.unwrap();
        // b was being run when the process "died".
        store.close().await;
    }
    let store = connect(&url).await;
    assert_eq!(
        store.unfinished_submissions().await.unwrap(),
        [a.token.clone(), b.token.clone(), d.token.clone()]
    );
    // Only the process that holds the SQLite file's node lock may put every processing
    // submission back at once; on Postgres nodes wait for the lease.
    match store.lock_single_node().unwrap() {
        Some(lock) => {
            assert_eq!(store.requeue_processing(&lock).await.unwrap(), 1);
            assert_eq!(store.get_submission(&b.token).await.unwrap().unwrap().status, 1);
            assert_eq!(store.requeue_processing(&lock).await.unwrap(), 0);
            let again = claim(&store, &b.token).await.expect("claimable again");
            assert_eq!(again.attempt, 2, "the cut-short run counts");
        }
        None => assert_eq!(store.backend(), "postgres"),
    }
    assert_eq!(store.get_submission(&c.token).await.unwrap().unwrap().status, 4);
}

async fn count_by_status(url: String) {
    let store = connect(&url).await;
    assert!(store.count_by_status().await.unwrap().is_empty());
    let subs: Vec<NewSubmission> = (0..6).map(|_| new("{}")).collect();
    store.insert_submissions(&subs).await.unwrap();
    for (s, status) in subs[..3].iter().zip([3, 3, 11]) {
        assert!(claim(&store, &s.token).await.is_some());
        store.finish_submission(&s.token, status, "{}").await.unwrap();
    }
    assert!(claim(&store, &subs[3].token).await.is_some());
    let counts = store.count_by_status().await.unwrap();
    assert_eq!(
        counts.into_iter().collect::<Vec<_>>(),
        [(1, 2), (2, 1), (3, 2), (11, 1)]
    );
}

async fn payloads_are_kept_verbatim(url: String) {
    let store = connect(&url).await;
    // Not normalised JSON, non-ASCII, quotes, a megabyte: the store keeps the exact text.
    let big = format!(
        "{{ \"source_code\" : \"{}\",\n\"x\":\"é ✓ 😀 \\u0000 '\\\"\" }}",
        "a".repeat(1 << 20)
    );
    let s = new(&big);
    store.insert_submission(&s).await.unwrap();
    assert_eq!(store.get_submission(&s.token).await.unwrap().unwrap().request, big);
    store.finish_submission(&s.token, 3, &big).await.unwrap();
    assert_eq!(
        store.get_submission(&s.token).await.unwrap().unwrap().result.as_deref(),
        Some(big.as_str())
    );
}

async fn snippet_round_trip_and_limits(url: String) {
    let store = connect(&url).await;
    let code = "print(\"héllo ✓\")\n# 'quotes' \"and\" \\backslashes\\\n";
    let id = store.insert_snippet("python", code).await.unwrap();
    assert_eq!(id.len(), SNIPPET_ID_LEN);
    assert!(
        id.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
        "{id}"
    );
    let got = store.get_snippet(&id).await.unwrap().expect("stored");
    assert_eq!(
        (got.id.as_str(), got.language.as_str(), got.code.as_str()),
        (id.as_str(), "python", code)
    );
    assert!((Utc::now() - got.created_at).abs() < chrono::Duration::seconds(5));
    assert_eq!(store.get_snippet("AAAAAAAA").await.unwrap(), None);
    assert_ne!(
        store.insert_snippet("python", code).await.unwrap(),
        id,
        "a new id each time"
    );

    let largest = "x".repeat(MAX_SNIPPET_BYTES);
    let id = store.insert_snippet("c", &largest).await.unwrap();
    assert_eq!(
        store.get_snippet(&id).await.unwrap().unwrap().code.len(),
        MAX_SNIPPET_BYTES
    );
    let err = store.insert_snippet("c", &format!("{largest}x")).await.unwrap_err();
    assert!(
        matches!(err, StoreError::SnippetTooLarge { size } if size == MAX_SNIPPET_BYTES + 1),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "snippet is 65537 bytes, more than the limit of 65536 bytes"
    );
    assert!(err.is_caller_mistake());
    let err = store
        .insert_snippet(&"l".repeat(MAX_SNIPPET_LANGUAGE_BYTES + 1), "x")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LanguageTooLong { .. }), "{err:?}");
    let err = store
        .insert_snippet("c", "int main() { return '\0'; }")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NulCharacter { field: "code" }), "{err:?}");
}

async fn exercise_put_get_list_delete(url: String) {
    let store = connect(&url).await;
    assert_eq!(store.list_exercises().await.unwrap(), vec![]);
    let definition = r#"{"title":"两数之和","tests":[{"stdin":"1 2\n","expected_output":"3\n"}]}"#;
    assert_eq!(
        store
            .put_exercise("sum", definition, r#"{"t":"两数之和"}"#, Writer::Any)
            .await
            .unwrap(),
        PutOutcome::Created
    );
    assert_eq!(
        store.put_exercise("abc", "{}", "{}", Writer::Any).await.unwrap(),
        PutOutcome::Created
    );
    let got = store.get_exercise("sum").await.unwrap().expect("stored");
    assert_eq!((got.id.as_str(), got.definition.as_str()), ("sum", definition));
    assert_eq!(got.created_at, got.updated_at);
    assert_eq!(store.get_exercise("nope").await.unwrap(), None);

    // Put again: replaced, the creation time kept.
    tokio::time::sleep(Duration::from_millis(2)).await;
    assert_eq!(
        store.put_exercise("sum", "{\"v\":2}", "{}", Writer::Any).await.unwrap(),
        PutOutcome::Replaced
    );
    let again = store.get_exercise("sum").await.unwrap().unwrap();
    assert_eq!(again.definition, "{\"v\":2}");
    assert_eq!(again.created_at, got.created_at);
    assert!(again.updated_at > got.updated_at);

    let listed: Vec<(String, String)> = store
        .list_exercises()
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.id, e.summary))
        .collect();
    assert_eq!(
        listed,
        [
            ("abc".to_string(), "{}".to_string()),
            ("sum".to_string(), "{}".to_string())
        ],
        "by id"
    );
    assert!(store.delete_exercise("abc", Writer::Any).await.unwrap());
    assert!(!store.delete_exercise("abc", Writer::Any).await.unwrap());
    assert_eq!(store.list_exercises().await.unwrap().len(), 1);

    // Concurrent puts of one new id: one creates it, the others replace it.
    let puts = (0..8).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .put_exercise("race", &format!("{{\"n\":{i}}}"), "{}", Writer::Any)
                .await
        })
    });
    let mut created = 0;
    for put in puts {
        if put.await.unwrap().unwrap() == PutOutcome::Created {
            created += 1;
        }
    }
    assert_eq!(created, 1);
}

async fn exercise_limits(url: String) {
    let store = connect(&url).await;
    let largest = "x".repeat(MAX_EXERCISE_BYTES);
    assert_eq!(
        store.put_exercise("big", &largest, "{}", Writer::Any).await.unwrap(),
        PutOutcome::Created
    );
    let err = store
        .put_exercise("big", &format!("{largest}x"), "{}", Writer::Any)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::ExerciseTooLarge { .. }) && err.is_caller_mistake(),
        "{err:?}"
    );
    let err = store
        .put_exercise("s", "{}", &"x".repeat(MAX_EXERCISE_SUMMARY_BYTES + 1), Writer::Any)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ExerciseSummaryTooLarge { .. }), "{err:?}");
    for id in [String::new(), "i".repeat(MAX_EXERCISE_ID_BYTES + 1)] {
        let err = store.put_exercise(&id, "{}", "{}", Writer::Any).await.unwrap_err();
        assert!(matches!(err, StoreError::BadExerciseId { .. }), "{err:?}");
    }
    let err = store
        .put_exercise("nul", "{\"a\":\"\0\"}", "{}", Writer::Any)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NulCharacter { field: "definition" }),
        "{err:?}"
    );

    // The count limit: fill up to it, one more is refused, a replacement is not.
    for i in 1..MAX_STORED_EXERCISES {
        store
            .put_exercise(&format!("e{i:04}"), "{}", "{}", Writer::Any)
            .await
            .unwrap();
    }
    let err = store
        .put_exercise("one-more", "{}", "{}", Writer::Any)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::TooManyExercises) && err.is_caller_mistake(),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("{MAX_STORED_EXERCISES} exercises are stored already, the most there may be; delete one first")
    );
    assert_eq!(
        store
            .put_exercise("e0001", "{\"v\":2}", "{}", Writer::Any)
            .await
            .unwrap(),
        PutOutcome::Replaced
    );
    assert_eq!(store.list_exercises().await.unwrap().len() as i64, MAX_STORED_EXERCISES);
}

async fn exercise_owners(url: String) {
    let store = connect(&url).await;
    let li = Writer::Owner("teacher-li");
    let wang = Writer::Owner("teacher-wang");
    assert_eq!(
        store.put_exercise("li", "{}", "{}", li).await.unwrap(),
        PutOutcome::Created
    );
    assert_eq!(
        store.put_exercise("api", "{}", "{}", Writer::Any).await.unwrap(),
        PutOutcome::Created
    );
    let owners = |list: Vec<store::ExerciseSummary>| list.into_iter().map(|e| (e.id, e.owner)).collect::<Vec<_>>();
    assert_eq!(
        owners(store.list_exercises().await.unwrap()),
        [
            ("api".to_string(), None),
            ("li".to_string(), Some("teacher-li".to_string()))
        ]
    );
    assert_eq!(
        store.get_exercise("li").await.unwrap().unwrap().owner.as_deref(),
        Some("teacher-li")
    );
    // A teacher replaces their own only: another's, or one of no owner, is left as it was.
    assert_eq!(
        store.put_exercise("li", "{\"v\":2}", "{}", li).await.unwrap(),
        PutOutcome::Replaced
    );
    for id in ["li", "api"] {
        assert_eq!(
            store.put_exercise(id, "{\"w\":1}", "{}", wang).await.unwrap(),
            PutOutcome::NotYours
        );
        assert!(!store.delete_exercise(id, wang).await.unwrap());
    }
    assert_eq!(store.get_exercise("li").await.unwrap().unwrap().definition, "{\"v\":2}");
    assert_eq!(store.get_exercise("api").await.unwrap().unwrap().definition, "{}");
    // A caller or admin replaces any, and the owner stays.
    assert_eq!(
        store.put_exercise("li", "{\"v\":3}", "{}", Writer::Any).await.unwrap(),
        PutOutcome::Replaced
    );
    assert_eq!(
        store.get_exercise("li").await.unwrap().unwrap().owner.as_deref(),
        Some("teacher-li")
    );
    assert!(store.delete_exercise("li", li).await.unwrap());
    assert!(store.delete_exercise("api", Writer::Any).await.unwrap());
    assert_eq!(store.list_exercises().await.unwrap(), vec![]);
}

// Not per backend: the URL decides before any database is touched.

#[tokio::test]
async fn bad_urls_name_the_problem() {
    let err = Store::connect("mysql://root@localhost/db").await.unwrap_err();
    assert!(
        matches!(err, StoreError::UnsupportedScheme { ref scheme } if scheme == "mysql"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "unsupported database url scheme `mysql`: expected sqlite://PATH or postgres://…"
    );
    let err = Store::connect("tiderun.db").await.unwrap_err();
    assert!(matches!(err, StoreError::NoScheme), "{err:?}");
    let err = Store::connect("sqlite://").await.unwrap_err();
    assert!(matches!(err, StoreError::NoSqlitePath), "{err:?}");
    let err = Store::connect("sqlite://x.db?journal=yes").await.unwrap_err();
    assert!(
        matches!(err, StoreError::InvalidUrl { backend: "sqlite", .. }),
        "{err:?}"
    );

    // The password never shows in the error or its causes.
    let err = Store::connect("postgres://u:s3cret@127.0.0.1:notaport/db")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidUrl {
                backend: "postgres",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!chain(&err).contains("s3cret"), "{}", chain(&err));
}

#[tokio::test]
async fn unreachable_postgres_is_a_connect_error() {
    // Nothing listens on port 1; the password must not leak into the error.
    let started = std::time::Instant::now();
    let err = Store::connect("postgres://u:s3cret@127.0.0.1:1/db").await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Connect {
                backend: "postgres",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!chain(&err).contains("s3cret"), "{}", chain(&err));
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test]
async fn sqlite_directory_that_cannot_be_made() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let err = Store::connect(&format!("sqlite://{}/sub/tiderun.db", file.display()))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::CreateDir { .. }), "{err:?}");
    assert!(err.to_string().contains("a-file"), "{err}");
}

#[tokio::test]
async fn sqlite_in_memory_is_one_database() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let s = new("{}");
    store.insert_submission(&s).await.unwrap();
    for _ in 0..3 {
        assert!(store.get_submission(&s.token).await.unwrap().is_some());
    }
}

#[tokio::test]
async fn sqlite_default_url_and_wal() {
    let dir = tempfile::tempdir().unwrap();
    let url = store::default_sqlite_url(&dir.path().join("data"));
    let store = Store::connect(&url).await.unwrap();
    store.insert_submission(&new("{}")).await.unwrap();
    assert!(dir.path().join("data/tiderun.db").is_file());
    assert!(dir.path().join("data/tiderun.db-wal").exists(), "WAL journal");
}

#[tokio::test]
async fn sqlite_relative_path() {
    // `sqlite://../../…`: relative to the working directory, whose first component must not
    // be taken for a host name.
    let dir = tempfile::tempdir().unwrap();
    let up = "../".repeat(std::env::current_dir().unwrap().components().count() - 1);
    let relative = format!("{up}{}", dir.path().strip_prefix("/").unwrap().display());
    let store = Store::connect(&format!("sqlite://{relative}/Data/t.db")).await.unwrap();
    store.insert_submission(&new("{}")).await.unwrap();
    assert!(dir.path().join("Data/t.db").is_file());
}

fn chain(err: &dyn std::error::Error) -> String {
    let mut s = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        s.push_str(": ");
        s.push_str(&e.to_string());
        cur = e.source();
    }
    s
}

/// Short enough to wait out in a test; long enough that a loaded machine renews in time.
const SHORT_LEASE: Duration = Duration::from_millis(1500);

/// Until a lease of [`SHORT_LEASE`] taken now has surely run out (on the database's clock).
async fn past_short_lease() {
    tokio::time::sleep(SHORT_LEASE + Duration::from_millis(700)).await;
}

async fn a_lease_fences_the_result_and_runs_out(url: String) {
    let store = connect(&url).await;
    let s = new("{}");
    store.insert_submission(&s).await.unwrap();
    let a = store
        .claim_submission(&s.token, "node-a", SHORT_LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((a.owner.as_str(), a.attempt), ("node-a", 1));
    // While node-a renews, nobody else may claim it.
    for _ in 0..3 {
        tokio::time::sleep(SHORT_LEASE / 3).await;
        assert!(store.renew_lease(&a, SHORT_LEASE).await.unwrap());
        assert_eq!(claim_as(&store, &s.token, "node-b").await, None);
    }
    // node-a stops renewing (it died, or stalled): once the lease ran out node-b takes it.
    past_short_lease().await;
    let b = claim_as(&store, &s.token, "node-b")
        .await
        .expect("claimable after the lease ran out");
    assert_eq!(b.attempt, 2);
    let row = store.get_submission(&s.token).await.unwrap().unwrap();
    assert_eq!(row.status, store::STATUS_PROCESSING);
    // node-a comes back: its claim is no longer current; it can neither renew nor store.
    assert!(!store.renew_lease(&a, SHORT_LEASE).await.unwrap());
    assert!(!store.finish_claimed(&a, 3, r#"{"by":"a"}"#).await.unwrap());
    assert!(!store.release_claim(&a).await.unwrap());
    assert!(store.finish_claimed(&b, 3, r#"{"by":"b"}"#).await.unwrap());
    // One result, node-b's; storing it twice is refused too.
    assert!(!store.finish_claimed(&b, 3, r#"{"by":"b2"}"#).await.unwrap());
    let row = store.get_submission(&s.token).await.unwrap().unwrap();
    assert_eq!((row.status, row.result.as_deref()), (3, Some(r#"{"by":"b"}"#)));
    assert_eq!(
        claim_as(&store, &s.token, "node-c").await,
        None,
        "finished: not claimable"
    );
    let err = store.finish_claimed(&b, 2, "{}").await.unwrap_err();
    assert!(matches!(err, StoreError::NotAFinishedStatus { status: 2 }), "{err:?}");
    // Stored already claimed (wait=true): nobody else takes it while the lease is live.
    let w = new("{}");
    let mine = store.insert_claimed(&w, "node-a", LONG_LEASE).await.unwrap();
    assert_eq!(mine.attempt, 1);
    assert_eq!(claim_as(&store, &w.token, "node-b").await, None);
    assert_eq!(
        store.claim_next("node-b", LONG_LEASE, Duration::ZERO).await.unwrap(),
        None
    );
    assert!(store.finish_claimed(&mine, 4, "{}").await.unwrap());
    let dup = store.insert_claimed(&w, "node-a", LONG_LEASE).await.unwrap_err();
    assert!(matches!(dup, StoreError::DuplicateToken { .. }), "{dup:?}");
}

async fn claim_next_takes_what_no_queue_holds(url: String) {
    let store = connect(&url).await;
    let grace = Duration::from_secs(60);
    assert_eq!(store.claim_next("n", LONG_LEASE, grace).await.unwrap(), None);
    let (old, young, live, dead) = (new("{}"), new("{}"), new("{}"), new("{}"));
    store
        .insert_submissions(&[old.clone(), live.clone(), dead.clone()])
        .await
        .unwrap();
    claim_as(&store, &live.token, "alive").await.unwrap();
    store
        .claim_submission(&dead.token, "dead", SHORT_LEASE)
        .await
        .unwrap()
        .unwrap();
    // Every row is younger than the grace: the queued ones are left to their queue; the dead
    // node's is not expired yet.
    assert_eq!(store.claim_next("n", LONG_LEASE, grace).await.unwrap(), None);
    past_short_lease().await;
    store.insert_submission(&young).await.unwrap();
    // The half-run row of the dead node: claimable, its second attempt.
    let first = store.claim_next("n", LONG_LEASE, grace).await.unwrap().unwrap();
    assert_eq!((first.token.as_str(), first.attempt), (dead.token.as_str(), 2));
    assert_eq!(store.claim_next("n", LONG_LEASE, grace).await.unwrap(), None);
    // Past the grace (0 here): the oldest queued first, then the next; never the live one.
    let next = store
        .claim_next("n", LONG_LEASE, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((next.token.as_str(), next.attempt), (old.token.as_str(), 1));
    let next = store
        .claim_next("n", LONG_LEASE, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.token, young.token);
    assert_eq!(store.claim_next("n", LONG_LEASE, Duration::ZERO).await.unwrap(), None);
}

async fn concurrent_claimers_take_different_rows(url: String) {
    let subs: Vec<NewSubmission> = (0..16).map(|_| new("{}")).collect();
    connect(&url).await.insert_submissions(&subs).await.unwrap();
    // Eight nodes, each with its own connections, claim until nothing is left.
    let mut nodes = Vec::new();
    for n in 0..8 {
        let store = connect(&url).await;
        nodes.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(c) = store
                .claim_next(&format!("node-{n}"), LONG_LEASE, Duration::ZERO)
                .await
                .unwrap()
            {
                mine.push(c.token);
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for n in nodes {
        all.extend(n.await.unwrap());
    }
    all.sort();
    let mut expected: Vec<String> = subs.iter().map(|s| s.token.clone()).collect();
    expected.sort();
    assert_eq!(all, expected, "each submission claimed exactly once");
}

async fn requeue_expired_hands_each_row_to_one_node(url: String) {
    let store = connect(&url).await;
    let subs: Vec<NewSubmission> = (0..6).map(|_| new("{}")).collect();
    store.insert_submissions(&subs).await.unwrap();
    for s in &subs[..4] {
        store
            .claim_submission(&s.token, "dead", SHORT_LEASE)
            .await
            .unwrap()
            .unwrap();
    }
    let live = claim_as(&store, &subs[4].token, "alive").await.unwrap();
    assert!(store.requeue_expired().await.unwrap().is_empty(), "nothing expired yet");
    past_short_lease().await;
    let (a, b) = (connect(&url).await, connect(&url).await);
    let (x, y) = tokio::join!(a.requeue_expired(), b.requeue_expired());
    let (x, y) = (x.unwrap(), y.unwrap());
    assert!(x.iter().all(|t| !y.contains(t)), "a row requeued twice: {x:?} {y:?}");
    let mut got: Vec<String> = x.into_iter().chain(y).collect();
    got.sort();
    let mut expected: Vec<String> = subs[..4].iter().map(|s| s.token.clone()).collect();
    expected.sort();
    assert_eq!(got, expected);
    for s in &subs[..4] {
        assert_eq!(store.get_submission(&s.token).await.unwrap().unwrap().status, 1);
    }
    assert!(
        store.renew_lease(&live, LONG_LEASE).await.unwrap(),
        "the live claim is untouched"
    );
}

async fn give_back_and_refused_submissions(url: String) {
    let store = connect(&url).await;
    let s = new("{}");
    store.insert_submission(&s).await.unwrap();
    let c = claim(&store, &s.token).await.unwrap();
    // A draining node gives it back: queued again at once, the attempt not counted.
    assert!(store.release_claim(&c).await.unwrap());
    assert!(!store.release_claim(&c).await.unwrap());
    assert_eq!(store.get_submission(&s.token).await.unwrap().unwrap().status, 1);
    let again = claim_as(&store, &s.token, "node-b").await.unwrap();
    assert_eq!(again.attempt, 1);
    // Refused by the queue: only a still-queued submission is deleted or finished.
    assert!(!store.delete_queued(&s.token).await.unwrap(), "claimed: it runs");
    assert!(!store.finish_queued(&s.token, 13, "{}").await.unwrap());
    let q = new("{}");
    store.insert_submission(&q).await.unwrap();
    assert!(store
        .finish_queued(&q.token, 13, r#"{"m":"queue is full"}"#)
        .await
        .unwrap());
    assert_eq!(store.get_submission(&q.token).await.unwrap().unwrap().status, 13);
    let r = new("{}");
    store.insert_submission(&r).await.unwrap();
    assert!(store.delete_queued(&r.token).await.unwrap());
    assert_eq!(store.get_submission(&r.token).await.unwrap(), None);
    assert!(!store.delete_queued("unknown").await.unwrap());
}

#[tokio::test]
async fn a_second_process_on_one_sqlite_file_is_refused() {
    let db = TestDb::sqlite();
    let store = connect(&db.url).await;
    let lock = store.lock_single_node().unwrap().expect("SQLite has a node lock");
    assert!(lock.path().to_string_lossy().ends_with("tiderun.db-node.lock"));
    // Another store on the same file (another process, as flock sees a second open file).
    let other = connect(&db.url).await;
    let err = other.lock_single_node().unwrap_err();
    assert!(
        matches!(&err, StoreError::NodeLocked { holder: Some(pid), .. } if *pid == std::process::id()),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("SQLite serves one node: use Postgres for several"),
        "{message}"
    );
    drop(lock);
    assert!(
        other.lock_single_node().unwrap().is_some(),
        "free once the holder is gone"
    );
    // In memory: nothing to share, no lock.
    let memory = connect("sqlite::memory:").await;
    assert!(memory.lock_single_node().unwrap().is_none());
}

fn run_record(id: &str, at: chrono::DateTime<Utc>, key: Option<&str>, runtime: &str, status: &str) -> RunRecord {
    RunRecord {
        id: id.to_owned(),
        at,
        node: "node-a".into(),
        key: key.map(str::to_owned),
        api: "native".into(),
        runtime: runtime.to_owned(),
        status: status.to_owned(),
        cpu_ms: 10,
        wall_ms: 20,
        memory_kb: 3000,
        memory_limit_mb: 256,
        start: "cold".into(),
        mb_ms: 256 * 20,
        error: status == "internal",
        limit_hit: status == "time_limit",
    }
}

async fn usage_adds_up_across_batches_and_nodes(url: String) {
    let a = connect(&url).await;
    // A second node on the same database (Postgres; on SQLite a second pool on the file).
    let b = connect(&url).await;
    let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
    let at = day.and_hms_opt(10, 0, 0).unwrap().and_utc();
    let next = at + chrono::Duration::days(1);
    a.record_runs(&[
        run_record("0001", at, Some("class-a"), "python", "ok"),
        run_record("0002", at, Some("class-a"), "python", "time_limit"),
        run_record("0003", at, None, "python", "ok"),
    ])
    .await
    .unwrap();
    b.record_runs(&[
        run_record("0004", at, Some("class-a"), "python", "internal"),
        run_record("0005", at, Some("class-a"), "c", "ok"),
        run_record("0006", next, Some("class-a"), "python", "ok"),
    ])
    .await
    .unwrap();
    let all = a
        .usage(&UsageQuery {
            from: day,
            to: day + chrono::Duration::days(1),
            key: None,
            runtime: None,
        })
        .await
        .unwrap();
    /// Day, key, runtime, runs, errors, limits hit, CPU ms.
    type Summary = (String, Option<String>, String, u64, u64, u64, u64);
    let summary: Vec<Summary> = all
        .iter()
        .map(|r| {
            (
                r.day.to_string(),
                r.key.clone(),
                r.runtime.clone(),
                r.totals.runs,
                r.totals.errors,
                r.totals.limits_hit,
                r.totals.cpu_ms,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("2026-12-04".into(), None, "python".into(), 1, 0, 0, 10),
            ("2026-12-04".into(), Some("class-a".into()), "c".into(), 1, 0, 0, 10),
            (
                "2026-12-04".into(),
                Some("class-a".into()),
                "python".into(),
                3,
                1,
                1,
                30
            ),
            (
                "2026-12-05".into(),
                Some("class-a".into()),
                "python".into(),
                1,
                0,
                0,
                10
            ),
        ]
    );
    assert_eq!(all[2].totals.wall_ms, 60);
    assert_eq!(all[2].totals.mb_ms, 3 * 256 * 20);
    let one = b
        .usage(&UsageQuery {
            from: day,
            to: day,
            key: Some("class-a".into()),
            runtime: Some("python".into()),
        })
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].totals.runs, 3);
    assert_eq!(a.key_cpu_ms("class-a", day).await.unwrap(), 40);
    assert_eq!(a.key_cpu_ms("nobody", day).await.unwrap(), 0);
}

async fn usage_reads_are_checked(url: String) {
    let store = connect(&url).await;
    let day = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let q = |from, to| UsageQuery {
        from,
        to,
        key: None,
        runtime: None,
    };
    assert!(store.usage(&q(day, day + chrono::Duration::days(365))).await.is_ok());
    for (from, to) in [
        (day, day + chrono::Duration::days(366)),
        (day, day - chrono::Duration::days(1)),
    ] {
        let e = store.usage(&q(from, to)).await.unwrap_err();
        assert!(e.is_caller_mistake(), "{e}");
        assert!(e.to_string().contains("366 days"), "{e}");
    }
    let runs = |limit| RunsQuery {
        limit,
        ..RunsQuery::default()
    };
    assert!(store.recent_runs(&runs(MAX_RUNS_PER_PAGE)).await.is_ok());
    assert!(store
        .recent_runs(&runs(MAX_RUNS_PER_PAGE + 1))
        .await
        .unwrap_err()
        .is_caller_mistake());
    assert!(store.recent_runs(&runs(0)).await.unwrap_err().is_caller_mistake());
}

async fn recent_runs_page_filter_and_prune(url: String) {
    let store = connect(&url).await;
    let now = Utc::now();
    let records: Vec<RunRecord> = (0..10)
        .map(|i| {
            let mut r = run_record(
                &format!("id-{i:02}"),
                now,
                (i % 2 == 0).then_some("even"),
                if i < 5 { "python" } else { "c" },
                "ok",
            );
            r.node = format!("node-{}", i % 3);
            r
        })
        .collect();
    store.record_runs(&records).await.unwrap();
    // Recorded twice (a retried batch): the log keeps one row per id.
    store.record_runs(&records[..2]).await.unwrap();
    let page = |q: RunsQuery| {
        let store = store.clone();
        async move {
            store
                .recent_runs(&q)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect::<Vec<_>>()
        }
    };
    let q = |limit| RunsQuery {
        limit,
        ..RunsQuery::default()
    };
    assert_eq!(page(q(3)).await, ["id-09", "id-08", "id-07"]);
    assert_eq!(
        page(RunsQuery {
            before: Some("id-07".into()),
            ..q(3)
        })
        .await,
        ["id-06", "id-05", "id-04"]
    );
    assert_eq!(
        page(RunsQuery {
            key: Some("even".into()),
            runtime: Some("python".into()),
            ..q(50)
        })
        .await,
        ["id-04", "id-02", "id-00"]
    );
    assert_eq!(
        page(RunsQuery {
            node: Some("node-0".into()),
            ..q(50)
        })
        .await,
        ["id-09", "id-06", "id-03", "id-00"]
    );
    let first = store.recent_runs(&q(1)).await.unwrap().remove(0);
    assert_eq!(first.key, None);
    assert_eq!(
        (first.cpu_ms, first.memory_limit_mb, first.start.as_str()),
        (10, 256, "cold")
    );
    assert_eq!(first.at.timestamp_micros(), now.timestamp_micros());
    // Pruned to a count, newest kept; then by age.
    assert_eq!(store.prune_runs(4, Duration::from_secs(3600)).await.unwrap(), 6);
    assert_eq!(page(q(50)).await, ["id-09", "id-08", "id-07", "id-06"]);
    let mut old = run_record("id-00", now - chrono::Duration::hours(2), None, "c", "ok");
    old.id = "id-05".into();
    store.record_runs(&[old]).await.unwrap();
    assert_eq!(store.prune_runs(100, Duration::from_secs(3600)).await.unwrap(), 1);
    assert_eq!(page(q(50)).await.len(), 4);
}

fn key(name: &str, role: Role) -> NewKey {
    NewKey {
        name: name.to_owned(),
        role,
        quotas: Quotas::default(),
        expires_in_days: None,
    }
}

async fn keys_create_find_list_revoke(url: String) {
    let store = connect(&url).await;
    assert!(store.list_keys().await.unwrap().is_empty());
    let created = store
        .create_key(&NewKey {
            quotas: Quotas {
                runs_per_minute: Some(30),
                cpu_s_per_day: Some(600),
            },
            expires_in_days: Some(30),
            ..key("class-3b", Role::Classroom)
        })
        .await
        .unwrap();
    let secret = created.secret.expose().to_owned();
    assert_eq!(secret.len(), KEY_LEN);
    assert!(secret.starts_with(&format!("{}_", created.key.prefix)), "{secret}");
    assert!(created.key.prefix.starts_with("tr_") && created.key.prefix.len() == 11);
    // The secret is not in the key's Debug, nor in the database.
    assert!(!format!("{created:?}").contains(&secret[12..]));
    let days = (created.key.expires_at.unwrap() - created.key.created_at).num_days();
    assert_eq!(days, 30);

    let found: ApiKey = store.find_key(&secret).await.unwrap().expect("found by its secret");
    assert_eq!(found, created.key);
    assert_eq!(found.role, Role::Classroom);
    assert_eq!(found.quotas.runs_per_minute, Some(30));
    assert_eq!(found.state(Utc::now()), KeyState::Active);
    assert_eq!(found.state(Utc::now() + chrono::Duration::days(31)), KeyState::Expired);
    // A wrong secret with the right prefix, or something else entirely, finds nothing.
    let mut wrong = secret.clone();
    wrong.replace_range(KEY_LEN - 1.., if secret.ends_with('0') { "1" } else { "0" });
    assert_eq!(store.find_key(&wrong).await.unwrap(), None);
    assert_eq!(store.find_key("tr_nope").await.unwrap(), None);
    assert_eq!(store.find_key("a\0b").await.unwrap(), None);

    let admin = store.create_key(&key("ops", Role::Admin)).await.unwrap();
    assert_ne!(admin.secret, created.secret);
    let listed = store.list_keys().await.unwrap();
    let names: Vec<&str> = listed.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["class-3b", "ops"]);
    assert_eq!(listed[1].expires_at, None);
    assert_eq!(store.get_key("ops").await.unwrap().unwrap().role, Role::Admin);
    assert_eq!(store.get_key("nobody").await.unwrap(), None);

    let RevokeOutcome::Revoked(revoked) = store.revoke_key("class-3b").await.unwrap() else {
        panic!("revoked")
    };
    assert_eq!(revoked.state(Utc::now()), KeyState::Revoked);
    assert!(matches!(
        store.revoke_key("class-3b").await.unwrap(),
        RevokeOutcome::AlreadyRevoked(_)
    ));
    assert_eq!(store.revoke_key("nobody").await.unwrap(), RevokeOutcome::NotFound);
    assert_eq!(store.revoke_key("bad name").await.unwrap(), RevokeOutcome::NotFound);
    // Found still (so the server can say "revoked"), listed still.
    let found = store.find_key(&secret).await.unwrap().unwrap();
    assert_eq!(found.state(Utc::now()), KeyState::Revoked);
    assert_eq!(store.list_keys().await.unwrap().len(), 2);
}

async fn key_limits_and_names_for_ever(url: String) {
    let store = connect(&url).await;
    for bad in ["", "a b", "é", &"x".repeat(65), "auth-token"] {
        let e = store.create_key(&key(bad, Role::Caller)).await.unwrap_err();
        assert!(
            matches!(e, StoreError::BadKeyName { .. }) && e.is_caller_mistake(),
            "{e:?}"
        );
    }
    let cases = [
        (Some(0), None, None, "runs_per_minute"),
        (Some(MAX_RUNS_PER_MINUTE + 1), None, None, "runs_per_minute"),
        (None, Some(0), None, "cpu_s_per_day"),
        (None, Some(MAX_CPU_S_PER_DAY + 1), None, "cpu_s_per_day"),
        (None, None, Some(0), "expires_in_days"),
        (None, None, Some(MAX_KEY_EXPIRY_DAYS + 1), "expires_in_days"),
    ];
    for (runs, cpu, days, field) in cases {
        let e = store
            .create_key(&NewKey {
                quotas: Quotas {
                    runs_per_minute: runs,
                    cpu_s_per_day: cpu,
                },
                expires_in_days: days,
                ..key("k", Role::Caller)
            })
            .await
            .unwrap_err();
        assert!(e.is_caller_mistake(), "{e:?}");
        assert!(e.to_string().starts_with(field), "{e}");
    }
    // At the maxima: fine.
    store
        .create_key(&NewKey {
            quotas: Quotas {
                runs_per_minute: Some(MAX_RUNS_PER_MINUTE),
                cpu_s_per_day: Some(MAX_CPU_S_PER_DAY),
            },
            expires_in_days: Some(MAX_KEY_EXPIRY_DAYS),
            ..key(&"x".repeat(64), Role::Caller)
        })
        .await
        .unwrap();
    store.create_key(&key("ide", Role::Caller)).await.unwrap();
    let e = store.create_key(&key("ide", Role::Admin)).await.unwrap_err();
    assert!(
        matches!(e, StoreError::DuplicateKeyName { .. }) && e.is_caller_mistake(),
        "{e:?}"
    );
    // A revoked key's name stays taken.
    store.revoke_key("ide").await.unwrap();
    let e = store.create_key(&key("ide", Role::Caller)).await.unwrap_err();
    assert!(matches!(e, StoreError::DuplicateKeyName { .. }), "{e:?}");
}

async fn shared_secret_is_made_once(url: String) {
    let store = connect(&url).await;
    let a = store.shared_secret("page-session").await.unwrap();
    // Another node on the same database gets the same one.
    let other = connect(&url).await;
    assert_eq!(other.shared_secret("page-session").await.unwrap(), a);
    assert_ne!(store.shared_secret("other").await.unwrap(), a);
    assert_ne!(a, [0u8; 32]);
}

async fn submissions_listed_by_owner(url: String) {
    let store = connect(&url).await;
    let mut mine = Vec::new();
    for i in 0..3 {
        let s = NewSubmission {
            owner: Some("ide".into()),
            ..new(&format!("{{\"n\":{i}}}"))
        };
        store.insert_submission(&s).await.unwrap();
        mine.push(s.token);
    }
    let theirs = NewSubmission {
        owner: Some("other".into()),
        ..new("{}")
    };
    store.insert_submission(&theirs).await.unwrap();
    let nobody = new("{}");
    store.insert_submission(&nobody).await.unwrap();

    let page = store.list_submissions_of(Some("ide"), 1, 2, u64::MAX).await.unwrap();
    assert_eq!(page.total_count, 3);
    let tokens: Vec<&str> = page.items.iter().map(|s| s.token.as_str()).collect();
    assert_eq!(tokens, [mine[2].as_str(), mine[1].as_str()]);
    assert!(page.items.iter().all(|s| s.owner.as_deref() == Some("ide")));
    let page = store.list_submissions_of(Some("ide"), 2, 2, u64::MAX).await.unwrap();
    assert_eq!(page.items.len(), 1);
    let page = store.list_submissions_of(None, 1, 10, u64::MAX).await.unwrap();
    assert_eq!(page.total_count, 1);
    assert_eq!(page.items[0].token, nobody.token);
    assert_eq!(
        store
            .list_submissions_of(Some("x"), 1, 10, u64::MAX)
            .await
            .unwrap()
            .total_count,
        0
    );
    assert_eq!(store.list_submissions(1, 10, u64::MAX).await.unwrap().total_count, 5);
    // The text bound holds for one owner's page too.
    assert!(matches!(
        store.list_submissions_of(Some("ide"), 1, 10, 3).await.unwrap_err(),
        StoreError::AnswerTooLarge { .. }
    ));
}

async fn join(store: &Store, code: &str, name: &str) -> store::Student {
    match store.join_class(code, name).await.expect("join") {
        store::JoinOutcome::Joined(s) => s,
        other => panic!("{other:?}"),
    }
}

async fn classes_roster_and_codes(url: String) {
    let store = connect(&url).await;
    let class = store.create_class("teacher-li", " Class 3B ").await.unwrap();
    assert_eq!(class.name, "Class 3B");
    assert_eq!(class.join_code.len(), store::JOIN_CODE_LEN);
    let other = store.create_class("teacher-wang", "Class 4A").await.unwrap();
    assert_eq!(
        store.list_classes(Some("teacher-li")).await.unwrap(),
        vec![class.clone()]
    );
    assert_eq!(store.list_classes(None).await.unwrap().len(), 2);
    assert!(matches!(
        store.create_class("teacher-li", "").await,
        Err(StoreError::BadClassText { field: "name", .. })
    ));

    // Codes as typed: any case, a dash between the halves.
    let typed = format!("{}-{}", &class.join_code[..4], &class.join_code[4..]).to_lowercase();
    let lei = join(&store, &typed, "李雷").await;
    assert_eq!(lei.class_id, class.id);
    assert_eq!(lei.login_code.len(), store::LOGIN_CODE_LEN);
    assert!(matches!(
        store.join_class(&class.join_code, " 李雷 ").await,
        Err(StoreError::NameTaken { .. })
    ));
    let _ = join(&store, &other.join_code, "李雷").await;
    assert_eq!(
        store.join_class("2345678", "x").await.unwrap(),
        store::JoinOutcome::UnknownCode
    );
    let han = join(&store, &class.join_code, "Han").await;
    assert!(matches!(
        store.rename_student(&class.id, &lei.id, "han").await,
        Err(StoreError::NameTaken { .. })
    ));
    assert_eq!(
        store
            .rename_student(&class.id, &lei.id, "Li Lei")
            .await
            .unwrap()
            .unwrap()
            .display_name,
        "Li Lei"
    );
    assert_eq!(
        store.rename_student(&other.id, &lei.id, "Li").await.unwrap(),
        None,
        "not of that class"
    );
    let found = store
        .find_student_by_login(&lei.login_code.to_lowercase())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, lei.id);

    // Removed: out of the roster, its login code and id stop working.
    assert!(store.remove_student(&class.id, &han.id).await.unwrap());
    assert!(!store.remove_student(&class.id, &han.id).await.unwrap());
    assert_eq!(store.find_student_by_login(&han.login_code).await.unwrap(), None);
    assert_eq!(store.get_student(&han.id).await.unwrap(), None);
    let roster: Vec<String> = store
        .list_students(&class.id)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.display_name)
        .collect();
    assert_eq!(roster, ["Li Lei"]);

    // A new join code: the old one stops working.
    let rotated = store.rotate_join_code(&class.id).await.unwrap().unwrap();
    assert_ne!(rotated.join_code, class.join_code);
    assert_eq!(
        store.join_class(&class.join_code, "Lucy").await.unwrap(),
        store::JoinOutcome::UnknownCode
    );

    // The bounds: classes per key, students per class (removed ones count).
    for i in 1..store::MAX_CLASSES_PER_OWNER {
        store.create_class("teacher-li", &format!("c{i}")).await.unwrap();
    }
    assert!(matches!(
        store.create_class("teacher-li", "one more").await,
        Err(StoreError::ClassLimit {
            max: store::MAX_CLASSES_PER_OWNER,
            ..
        })
    ));
    for i in 2..store::MAX_STUDENTS_PER_CLASS {
        join(&store, &rotated.join_code, &format!("s{i}")).await;
    }
    let e = store.join_class(&rotated.join_code, "one more").await.unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::ClassLimit {
                max: store::MAX_STUDENTS_PER_CLASS,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.is_caller_mistake());
}

fn graded(student: &str, exercise: &str, points: u32) -> store::NewClassSubmission {
    store::NewClassSubmission {
        student_id: student.into(),
        exercise_id: exercise.into(),
        language: "python".into(),
        code: "print(1)\n".into(),
        verdicts: "[]".into(),
        passed: points,
        total: 2,
        points,
        max_points: 2,
    }
}

async fn class_submissions_are_late_by_the_kindest_deadline_and_bounded(url: String) {
    let store = connect(&url).await;
    let class = store.create_class("teacher-li", "3B").await.unwrap();
    let lei = join(&store, &class.join_code, "Li Lei").await;
    let day = chrono::Duration::days(1);
    let now = Utc::now();
    let assignment =
        |title: &str, exercises: &[&str], publish: Option<chrono::DateTime<Utc>>, deadline| store::NewAssignment {
            title: title.into(),
            position: 0,
            exercises: exercises.iter().map(|e| e.to_string()).collect(),
            publish_at: publish,
            deadline,
        };
    let past = store
        .create_assignment(&class.id, &assignment("past", &["a", "b"], None, Some(now - day)))
        .await
        .unwrap();
    store
        .create_assignment(&class.id, &assignment("open", &["b"], None, None))
        .await
        .unwrap();
    // Not published yet: its deadline does not count.
    store
        .create_assignment(
            &class.id,
            &assignment("later", &["a"], Some(now + day), Some(now + day + day)),
        )
        .await
        .unwrap();
    let a = store.record_class_submission(&graded(&lei.id, "a", 1)).await.unwrap();
    assert!(a.late, "only the past deadline holds a");
    assert_eq!(a.assignment_id.as_deref(), Some(past.id.as_str()));
    let b = store.record_class_submission(&graded(&lei.id, "b", 2)).await.unwrap();
    assert!(!b.late, "an assignment without a deadline still takes b");
    let c = store.record_class_submission(&graded(&lei.id, "c", 0)).await.unwrap();
    assert_eq!(
        (c.late, c.assignment_id),
        (false, None),
        "in no assignment: stored all the same"
    );
    assert_eq!(b.score(), 1.0);

    let listed = store
        .list_class_submissions(&class.id, Some(&lei.id), Some("a"))
        .await
        .unwrap();
    assert_eq!(listed, vec![a.clone()]);
    let summaries = store.submission_summaries(&class.id).await.unwrap();
    assert_eq!(summaries.len(), 3);
    assert!(summaries.iter().all(|s| s.code.is_empty() && s.verdicts.is_empty()));
    assert_eq!(
        store.list_class_submissions(&class.id, None, None).await.unwrap().len(),
        3
    );
    let assignments: Vec<String> = store
        .list_assignments(&class.id)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.title)
        .collect();
    assert_eq!(assignments, ["past", "open", "later"]);

    // Bounds: the code kept, the exercises of an assignment, submissions per exercise.
    let mut big = graded(&lei.id, "a", 0);
    big.code = "x".repeat(store::MAX_STORED_CODE_BYTES + 1);
    assert!(matches!(
        store.record_class_submission(&big).await,
        Err(StoreError::StoredTooLarge { field: "code", .. })
    ));
    let many: Vec<String> = (0..=store::MAX_EXERCISES_PER_ASSIGNMENT)
        .map(|i| format!("e{i}"))
        .collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert!(matches!(
        store
            .create_assignment(&class.id, &assignment("many", &many, None, None))
            .await,
        Err(StoreError::ClassLimit { .. })
    ));
    for _ in 1..store::MAX_SUBMISSIONS_PER_EXERCISE {
        store.record_class_submission(&graded(&lei.id, "b", 1)).await.unwrap();
    }
    let e = store
        .record_class_submission(&graded(&lei.id, "b", 1))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::ClassLimit {
                max: store::MAX_SUBMISSIONS_PER_EXERCISE,
                ..
            }
        ),
        "{e}"
    );

    // A removed student submits nothing more.
    store.remove_student(&class.id, &lei.id).await.unwrap();
    assert!(matches!(
        store.record_class_submission(&graded(&lei.id, "a", 1)).await,
        Err(StoreError::UnknownStudent { .. })
    ));
    // Assignments are replaced and deleted; their submissions stay.
    let replaced = store
        .update_assignment(&class.id, &past.id, &assignment("past!", &["a"], None, None))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((replaced.title.as_str(), replaced.deadline), ("past!", None));
    assert!(store.delete_assignment(&class.id, &past.id).await.unwrap());
    assert!(!store.delete_assignment(&class.id, &past.id).await.unwrap());
    assert_eq!(
        store
            .list_class_submissions(&class.id, None, Some("a"))
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn school_accounts_link_once_and_go_with_the_student(url: String) {
    let store = connect(&url).await;
    let class = store.create_class("teacher", "3B").await.unwrap();
    let Ok(store::JoinOutcome::Joined(li)) = store.join_class_unique(&class.join_code, "Li Lei").await else {
        panic!("join")
    };
    assert_eq!(li.display_name, "Li Lei");
    // The same name from another account: numbered, not refused.
    let Ok(store::JoinOutcome::Joined(other)) = store.join_class_unique(&class.join_code, "li lei").await else {
        panic!("join")
    };
    assert_eq!(other.display_name, "li lei 2");
    assert_eq!(
        store.join_class_unique("2345678", "x").await.unwrap(),
        store::JoinOutcome::UnknownCode
    );

    let issuer = "https://id.school.example";
    assert!(store.student_by_identity(issuer, "s-1").await.unwrap().is_none());
    assert!(store.link_identity(issuer, "s-1", &li.id).await.unwrap());
    assert!(
        !store.link_identity(issuer, "s-1", &other.id).await.unwrap(),
        "one account, one student"
    );
    assert_eq!(
        store.student_by_identity(issuer, "s-1").await.unwrap().map(|s| s.id),
        Some(li.id.clone())
    );
    // The subject is the provider's: another issuer's "s-1" is another account.
    assert!(store
        .student_by_identity("https://other.example", "s-1")
        .await
        .unwrap()
        .is_none());

    assert!(store.remove_student(&class.id, &li.id).await.unwrap());
    assert!(store.student_by_identity(issuer, "s-1").await.unwrap().is_none());
    // Unlinked with the student: the account may join again.
    assert!(store.link_identity(issuer, "s-1", &other.id).await.unwrap());
}

async fn pending_signins_are_taken_once_bounded_and_expire(url: String) {
    let store = connect(&url).await;
    let later = chrono::Utc::now() + chrono::Duration::minutes(5);
    assert!(store
        .put_pending_signin(store::PendingKind::Login, "state-1", "{}", later, 2)
        .await
        .unwrap());
    // A login's key is not a hand-off's.
    assert_eq!(
        store
            .take_pending_signin(store::PendingKind::Handoff, "state-1")
            .await
            .unwrap(),
        None
    );
    assert!(store
        .put_pending_signin(store::PendingKind::Handoff, "code-1", "abc", later, 2)
        .await
        .unwrap());
    assert!(
        !store
            .put_pending_signin(store::PendingKind::Login, "state-2", "{}", later, 2)
            .await
            .unwrap(),
        "full"
    );
    assert_eq!(
        store
            .take_pending_signin(store::PendingKind::Login, "state-1")
            .await
            .unwrap()
            .as_deref(),
        Some("{}")
    );
    assert_eq!(
        store
            .take_pending_signin(store::PendingKind::Login, "state-1")
            .await
            .unwrap(),
        None,
        "taken once"
    );
    assert_eq!(
        store
            .take_pending_signin(store::PendingKind::Handoff, "code-1")
            .await
            .unwrap()
            .as_deref(),
        Some("abc")
    );

    // An expired one is not taken, and makes room for new ones.
    let past = chrono::Utc::now() - chrono::Duration::seconds(1);
    assert!(store
        .put_pending_signin(store::PendingKind::Login, "old-1", "{}", past, 2)
        .await
        .unwrap());
    assert!(store
        .put_pending_signin(store::PendingKind::Login, "old-2", "{}", past, 2)
        .await
        .unwrap());
    assert_eq!(
        store
            .take_pending_signin(store::PendingKind::Login, "old-1")
            .await
            .unwrap(),
        None
    );
    assert!(store
        .put_pending_signin(store::PendingKind::Login, "new-1", "{}", later, 2)
        .await
        .unwrap());
    assert!(store
        .put_pending_signin(store::PendingKind::Login, "new-2", "{}", later, 2)
        .await
        .unwrap());
    let long = "x".repeat(store::MAX_PENDING_ID_BYTES + 1);
    assert_eq!(
        store
            .take_pending_signin(store::PendingKind::Login, &long)
            .await
            .unwrap(),
        None
    );
}
