//! `tiderun runtimes`: the catalog as a table or JSON; `tiderun runtimes install`: the
//! packages runtime files list, installed with apt-get and npm.

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{bail, Context};
use runtimes::{Catalog, Runtime};
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
    print(&catalog, json)?;
    Ok(ExitCode::SUCCESS)
}

/// The table (or JSON) of every runtime: installed or not, and why not.
fn print(catalog: &Catalog, json: bool) -> anyhow::Result<()> {
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
        return Ok(());
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
    Ok(())
}

/// True when `program` is an executable file in a directory of `$PATH`.
fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        std::fs::metadata(dir.join(program)).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// `tiderun runtimes install`.
#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// The runtimes to install (names or aliases, as `tiderun runtimes` lists them).
    #[arg(value_name = "NAME", required_unless_present = "all", conflicts_with = "all")]
    names: Vec<String>,
    /// Every runtime of the catalog.
    #[arg(long)]
    all: bool,
    /// Print the commands without running them (no root needed).
    #[arg(long)]
    dry_run: bool,
}

/// apt-get's options: no question asked, and only what a package depends on (a toolchain's
/// recommended packages are documentation and GUIs, hundreds of MB on a server).
const APT_INSTALL: [&str; 4] = ["apt-get", "install", "-y", "--no-install-recommends"];

/// Installs what the chosen runtimes' files list under `[install]` — only names from runtime
/// files, which the catalog checked are package names (never an option, a path or a URL) —
/// then detects again and prints the table. Exit 2 for bad input (an unknown name, not root),
/// 1 when a command fails or a runtime is still not installed afterwards.
pub fn install(runtimes_dir: Option<&Path>, json: bool, args: InstallArgs) -> anyhow::Result<ExitCode> {
    let catalog = crate::load_catalog(runtimes_dir)?;
    let chosen = choose(&catalog, &args)?;
    let commands = commands(&chosen, on_path("npm"));
    let chosen: Vec<String> = chosen.iter().map(|rt| rt.name.clone()).collect();
    if args.dry_run {
        for argv in &commands {
            println!("{}", argv.join(" "));
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !rustix::process::geteuid().is_root() {
        bail!("installing runtimes needs root: run `tiderun runtimes install` as root (or with sudo)");
    }
    let started = Instant::now();
    for argv in &commands {
        eprintln!("+ {}", argv.join(" "));
        let status = Command::new(&argv[0])
            .args(&argv[1..])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .with_context(|| format!("cannot start {}", argv[0]))?;
        if !status.success() {
            eprintln!("tiderun: `{}` failed ({status})", argv.join(" "));
            return Ok(ExitCode::from(1));
        }
    }
    let took = started.elapsed();
    let catalog = crate::load_catalog(runtimes_dir)?;
    print(&catalog, json)?;
    eprintln!(
        "tiderun: installed the packages of {} runtime(s) in {:.1} s",
        chosen.len(),
        took.as_secs_f64()
    );
    let missing: Vec<String> = chosen
        .iter()
        .filter_map(|name| catalog.get(name))
        .filter(|rt| !rt.installed)
        .map(|rt| {
            let why = rt.missing.as_deref().unwrap_or("not detected");
            match &rt.install.note {
                Some(note) => format!("{} ({why}; {note})", rt.name),
                None => format!("{} ({why})", rt.name),
            }
        })
        .collect();
    if missing.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("tiderun: still not installed: {}", missing.join(", "));
        Ok(ExitCode::from(1))
    }
}

/// The runtimes, each once, in the catalog's order for `--all`, else as asked.
fn choose<'a>(catalog: &'a Catalog, args: &InstallArgs) -> anyhow::Result<Vec<&'a Runtime>> {
    if args.all {
        return Ok(catalog.iter().collect());
    }
    let mut chosen: Vec<&Runtime> = Vec::new();
    for name in &args.names {
        let Some(rt) = catalog.get(name) else {
            let known: Vec<&str> = catalog.iter().map(|rt| rt.name.as_str()).collect();
            bail!("unknown runtime {name:?}; the runtimes are: {}", known.join(", "));
        };
        if !chosen.iter().any(|c| c.name == rt.name) {
            chosen.push(rt);
        }
    }
    Ok(chosen)
}

/// The commands that install `chosen`: apt-get update and one apt-get install for every
/// Debian package, then one npm install for every npm package, each package once. npm itself
/// comes from Debian when the machine has none (`npm_found`): Debian's nodejs ships without
/// it, while NodeSource's nodejs includes it and conflicts with Debian's npm package.
fn commands(chosen: &[&Runtime], npm_found: bool) -> Vec<Vec<String>> {
    let mut apt: Vec<&str> = Vec::new();
    let mut npm: Vec<&str> = Vec::new();
    for rt in chosen {
        for (all, names) in [(&mut apt, &rt.install.apt), (&mut npm, &rt.install.npm)] {
            for name in names {
                if !all.contains(&name.as_str()) {
                    all.push(name);
                }
            }
        }
    }
    if !npm.is_empty() && !npm_found && !apt.contains(&"npm") {
        apt.push("npm");
    }
    let mut commands = Vec::new();
    if !apt.is_empty() {
        commands.push(vec!["apt-get".to_owned(), "update".to_owned()]);
        commands.push(APT_INSTALL.iter().chain(&apt).map(|s| (*s).to_owned()).collect());
    }
    if !npm.is_empty() {
        commands.push(
            ["npm", "install", "-g"]
                .iter()
                .chain(&npm)
                .map(|s| (*s).to_owned())
                .collect(),
        );
    }
    commands
}
