//! `tiderun runtimes`: the catalog as a table or JSON.

use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;

#[derive(Serialize)]
struct Row<'a> {
    language: &'a str,
    version: Option<&'a str>,
    aliases: &'a [String],
    judge0_ids: &'a [u32],
    installed: bool,
    missing: Option<&'a str>,
}

pub fn main(runtimes_dir: Option<&Path>, json: bool) -> anyhow::Result<ExitCode> {
    let catalog = crate::load_catalog(runtimes_dir)?;
    let rows: Vec<Row> = catalog
        .iter()
        .map(|r| Row {
            language: &r.name,
            version: r.version.as_deref(),
            aliases: &r.aliases,
            judge0_ids: &r.judge0_ids,
            installed: r.installed,
            missing: r.missing.as_deref(),
        })
        .collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:<12} {:<10} {:<24} INSTALLED", "LANGUAGE", "VERSION", "ALIASES");
    for r in &rows {
        let installed = if r.installed {
            "yes".to_string()
        } else {
            format!("no ({})", r.missing.unwrap_or("?"))
        };
        println!(
            "{:<12} {:<10} {:<24} {installed}",
            r.language,
            r.version.unwrap_or("-"),
            r.aliases.join(",")
        );
    }
    Ok(ExitCode::SUCCESS)
}
