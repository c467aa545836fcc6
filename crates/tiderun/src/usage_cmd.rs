//! `tiderun usage`: the usage per UTC day, key and runtime, read from the store (what
//! `GET /api/v1/usage` answers), as a table or JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use server::native::usage::{read_usage, UsageParams, UsageResponse};

#[derive(Debug, Args)]
pub struct UsageArgs {
    /// First UTC day, inclusive (YYYY-MM-DD); default: 6 days before --to.
    #[arg(long)]
    from: Option<String>,
    /// Last UTC day, inclusive (YYYY-MM-DD); default: today. At most 366 days.
    #[arg(long)]
    to: Option<String>,
    /// Only this key (its name).
    #[arg(long)]
    key: Option<String>,
    /// Only this runtime.
    #[arg(long)]
    runtime: Option<String>,
    /// Print the JSON of GET /api/v1/usage instead of a table.
    #[arg(long)]
    json: bool,
    /// Where the SQLite database lives (when no --database-url is given).
    #[arg(long, env = "TIDERUN_DATA_DIR", default_value = "tiderun-data")]
    data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://USER@HOST:PORT/DB`.
    #[arg(long, env = "TIDERUN_DATABASE_URL")]
    database_url: Option<String>,
}

pub fn main(a: UsageArgs) -> anyhow::Result<ExitCode> {
    let url = match &a.database_url {
        Some(url) => url.clone(),
        None => store::default_sqlite_url(&a.data_dir),
    };
    let params = UsageParams {
        from: a.from,
        to: a.to,
        key: a.key,
        runtime: a.runtime,
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let usage = rt.block_on(async {
        let store = store::Store::connect(&url).await.context("cannot open the store")?;
        let usage = read_usage(&store, params)
            .await
            .map_err(|e| anyhow::anyhow!(e.message()));
        store.close().await;
        usage
    })?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&usage)?);
    } else {
        print!("{}", table(&usage));
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per row and a total, in aligned columns.
fn table(usage: &UsageResponse) -> String {
    let header = [
        "day", "key", "runtime", "runs", "errors", "limits", "cpu_s", "wall_s", "gb_s",
    ];
    let mut lines: Vec<[String; 9]> = vec![header.map(str::to_owned)];
    let numbers = |t: &server::native::usage::UsageTotalsJson| {
        [
            t.runs.to_string(),
            t.errors.to_string(),
            t.limits_hit.to_string(),
            format!("{:.3}", t.cpu_s),
            format!("{:.3}", t.wall_s),
            format!("{:.3}", t.gb_s),
        ]
    };
    for r in &usage.rows {
        let [a, b, c, d, e, f] = numbers(&r.totals);
        lines.push([
            r.day.clone(),
            r.key.clone().unwrap_or_else(|| "-".into()),
            r.runtime.clone(),
            a,
            b,
            c,
            d,
            e,
            f,
        ]);
    }
    let [a, b, c, d, e, f] = numbers(&usage.totals);
    lines.push([
        format!("{}..{}", usage.from, usage.to),
        "total".into(),
        String::new(),
        a,
        b,
        c,
        d,
        e,
        f,
    ]);
    let widths: Vec<usize> = (0..9)
        .map(|i| lines.iter().map(|l| l[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for line in &lines {
        let cells: Vec<String> = line
            .iter()
            .enumerate()
            // Text left, numbers right.
            .map(|(i, cell)| {
                if i < 3 {
                    format!("{cell:<w$}", w = widths[i])
                } else {
                    format!("{cell:>w$}", w = widths[i])
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
