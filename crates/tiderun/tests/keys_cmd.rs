//! `tiderun keys create|list|revoke` on a store (SQLite under `--data-dir`, and Postgres by
//! `--database-url` when `TIDERUN_TEST_POSTGRES_URL` names a server): the key printed once,
//! listed by its prefix only, names never reused, bad flags refused in one line.

use std::process::{Command, Output};

fn tiderun(store: &[String], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tiderun"))
        .arg("keys")
        .args(args)
        .args(store)
        .env_remove("TIDERUN_DATABASE_URL")
        .env_remove("TIDERUN_DATA_DIR")
        .output()
        .expect("run tiderun")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn exercise(store: &[String]) {
    let out = tiderun(
        store,
        &[
            "create",
            "class-3b",
            "--role",
            "classroom",
            "--runs-per-minute",
            "30",
            "--expires-in-days",
            "90",
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let key = stdout.trim().to_owned();
    assert!(key.starts_with("tr_") && key.len() == store::KEY_LEN, "{stdout}");
    assert!(stderr.contains("shown this once"), "{stderr}");

    let out = tiderun(store, &["list", "--json"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let list: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(list["keys"][0]["name"], "class-3b");
    assert_eq!(list["keys"][0]["role"], "classroom");
    assert_eq!(list["keys"][0]["runs_per_minute"], 30);
    assert_eq!(list["keys"][0]["state"], "active");
    assert!(key.starts_with(list["keys"][0]["prefix"].as_str().unwrap()));
    assert!(!stdout.contains(&key[12..]), "the secret is never listed");
    let (table, _) = text(&tiderun(store, &["list"]));
    assert!(
        table.contains("class-3b") && table.contains("classroom") && !table.contains(&key[12..]),
        "{table}"
    );

    // Names are never reused; bad values are one-line errors.
    for (args, says) in [
        (vec!["create", "class-3b", "--role", "caller"], "never reused"),
        (vec!["create", "bad name", "--role", "caller"], "is not a key name"),
        (
            vec!["create", "k", "--role", "caller", "--expires-in-days", "0"],
            "expires_in_days is 0",
        ),
        (
            vec!["create", "k", "--role", "caller", "--cpu-s-per-day", "86400001"],
            "cpu_s_per_day is 86400001",
        ),
    ] {
        let out = tiderun(store, &args);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }
    for role in ["janitor", "student"] {
        let out = tiderun(store, &["create", "k", "--role", role]);
        assert!(!out.status.success());
        assert!(text(&out).1.contains("admin, caller, classroom or teacher"));
    }
    let out = tiderun(store, &["create", "teacher-li", "--role", "teacher"]);
    assert!(out.status.success(), "{}", text(&out).1);

    let out = tiderun(store, &["revoke", "class-3b"]);
    assert!(out.status.success(), "{}", text(&out).1);
    let (stdout, _) = text(&tiderun(store, &["list", "--json"]));
    assert!(stdout.contains("\"revoked\""), "{stdout}");
    let out = tiderun(store, &["revoke", "nobody"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("no key named"));
}

#[test]
fn keys_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    exercise(&["--data-dir".into(), dir.path().display().to_string()]);
}

#[tokio::test]
async fn keys_on_postgres() {
    use sqlx::{Connection, Executor};
    let Ok(admin) = std::env::var("TIDERUN_TEST_POSTGRES_URL") else {
        testkit::skip("TIDERUN_TEST_POSTGRES_URL is not set (./x test starts one)");
        return;
    };
    let name = format!("tiderun_keys_cli_{}", std::process::id());
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    conn.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
    let base = admin.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap();
    let url = format!("{base}/{name}");
    let store_args = vec!["--database-url".to_owned(), url];
    tokio::task::spawn_blocking(move || exercise(&store_args))
        .await
        .unwrap();
    conn.execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str())
        .await
        .unwrap();
}
