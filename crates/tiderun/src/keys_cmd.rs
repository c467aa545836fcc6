//! `tiderun keys create|list|revoke`: API keys in the store that `serve` uses (the same
//! `--database-url` / `--data-dir`). A new key is printed once, on stdout, and nowhere else.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use store::{NewKey, Quotas, RevokeOutcome, Role, Store};

#[derive(Debug, Args)]
pub struct KeysArgs {
    /// Where the SQLite database lives (when no --database-url is given), as for `serve`.
    #[arg(long, env = "TIDERUN_DATA_DIR", default_value = "tiderun-data", global = true)]
    data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://USER@HOST:PORT/DB`, as for `serve`.
    #[arg(long, env = "TIDERUN_DATABASE_URL", global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create a key and print it (once: only its hash is stored).
    Create {
        /// 1 to 64 of A-Z a-z 0-9 . _ - ; never used before (revoked keys keep their names).
        name: String,
        /// admin: everything; caller: every API but keys, usage, runs and the console;
        /// classroom: run code, exercises, snippets (the classroom page); teacher: what
        /// classroom may, and its own classes (students, assignments, gradebook).
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Runs the key may start per minute (1 to 1000000; none: no quota).
        #[arg(long)]
        runs_per_minute: Option<u32>,
        /// CPU-seconds the key's runs may use per UTC day (1 to 86400000; none: no quota).
        #[arg(long)]
        cpu_s_per_day: Option<u32>,
        /// Days until the key stops working (1 to 3650; none: never).
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// List the keys (their prefixes, never their secrets).
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key for good: every node refuses it within the key cache's TTL (10 s).
    Revoke { name: String },
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text)
        .filter(|r| r.for_keys())
        .ok_or_else(|| format!("{text:?} is not a key role: admin, caller, classroom or teacher"))
}

pub fn main(args: KeysArgs) -> anyhow::Result<ExitCode> {
    let url = match &args.database_url {
        Some(url) => url.clone(),
        None => store::default_sqlite_url(&args.data_dir),
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async move {
        let store = Store::connect(&url)
            .await
            .with_context(|| format!("cannot open the database {}", crate::serve::redact(&url)))?;
        let code = run(&store, args.command).await;
        store.close().await;
        code
    })
}

async fn run(store: &Store, command: KeysCommand) -> anyhow::Result<ExitCode> {
    match command {
        KeysCommand::Create {
            name,
            role,
            runs_per_minute,
            cpu_s_per_day,
            expires_in_days,
        } => {
            let created = store
                .create_key(&NewKey {
                    name,
                    role,
                    quotas: Quotas {
                        runs_per_minute,
                        cpu_s_per_day,
                    },
                    expires_in_days,
                })
                .await?;
            let k = &created.key;
            eprintln!(
                "created the {} key {:?}{}; it is shown this once:",
                k.role,
                k.name,
                k.expires_at
                    .map(|t| format!(", valid until {}", t.to_rfc3339()))
                    .unwrap_or_default()
            );
            println!("{}", created.secret.expose());
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::List { json } => {
            let keys = store.list_keys().await?;
            let now = chrono::Utc::now();
            if json {
                let list: Vec<serde_json::Value> = keys
                    .iter()
                    .map(|k| {
                        serde_json::json!({
                            "name": k.name,
                            "prefix": k.prefix,
                            "role": k.role.as_str(),
                            "state": k.state(now).as_str(),
                            "runs_per_minute": k.quotas.runs_per_minute,
                            "cpu_s_per_day": k.quotas.cpu_s_per_day,
                            "created_at": k.created_at.to_rfc3339(),
                            "expires_at": k.expires_at.map(|t| t.to_rfc3339()),
                            "revoked_at": k.revoked_at.map(|t| t.to_rfc3339()),
                        })
                    })
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "keys": list }))?
                );
                return Ok(ExitCode::SUCCESS);
            }
            let opt = |v: Option<u32>| v.map_or("-".to_owned(), |v| v.to_string());
            println!(
                "{:<24} {:<12} {:<10} {:<8} {:>8} {:>10}  {:<10}",
                "NAME", "PREFIX", "ROLE", "STATE", "RUNS/MIN", "CPU-S/DAY", "EXPIRES"
            );
            for k in &keys {
                println!(
                    "{:<24} {:<12} {:<10} {:<8} {:>8} {:>10}  {:<10}",
                    k.name,
                    k.prefix,
                    k.role.as_str(),
                    k.state(now).as_str(),
                    opt(k.quotas.runs_per_minute),
                    opt(k.quotas.cpu_s_per_day),
                    k.expires_at
                        .map_or("never".to_owned(), |t| t.format("%Y-%m-%d").to_string())
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Revoke { name } => match store.revoke_key(&name).await? {
            RevokeOutcome::Revoked(k) => {
                eprintln!("revoked the key {:?}", k.name);
                Ok(ExitCode::SUCCESS)
            }
            RevokeOutcome::AlreadyRevoked(k) => {
                eprintln!("the key {:?} was revoked already", k.name);
                Ok(ExitCode::SUCCESS)
            }
            RevokeOutcome::NotFound => {
                eprintln!("no key named {name:?}");
                Ok(ExitCode::FAILURE)
            }
        },
    }
}
