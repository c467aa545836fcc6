//! `tiderun bench languages`: every runtime's own hello world end to end through
//! `POST /api/v1/run`, beside the bare toolchain — one table for the whole shelf.
//!
//! One server (this binary as `tiderun serve`, started as `bench e2e` starts it). For each
//! installed runtime of the catalog (or each `--language`), after one unrecorded warm-up
//! round, rounds of four, interleaved (bare first on even rounds, tiderun first on odd ones):
//! - tiderun first: the runtime's `[example] hello` with an unused extra file whose text is
//!   new each round ([`program`]): the build cache's key covers every file, so a compiled
//!   language compiles every round; an interpreted one just runs;
//! - tiderun again: the same request again (a build cache hit for a compiled language);
//! - bare first: the runtime's own compile and run commands from the catalog, in a fresh
//!   directory (`languages/bare.rs`): compile + run;
//! - bare again: the run command again in that directory (the build reused).
//!
//! `--runs` rounds (default [`DEFAULT_RUNS_COMPILED`] or [`DEFAULT_RUNS_INTERPRETED`]), fewer
//! when a language's rounds pass `--budget-s`. A tiderun answer that is not HTTP 200 with
//! status `ok` and `Hello, world!` on stdout, or a bare command that fails or prints anything
//! else, is an error: counted, its first words shown, its time left out.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::e2e::client::{Client, Reply};
use crate::e2e::scenarios::Errors;
use crate::e2e::server::Server;
use crate::machine::Machine;
use crate::stats::{ms, Summary};

mod bare;

pub use bare::BARE_TIMEOUT;
use bare::{Bare, Ran};

/// Recorded rounds of a compiled language when `--runs` is not given (a JVM compile is
/// seconds).
pub const DEFAULT_RUNS_COMPILED: usize = 5;
/// Recorded rounds of an interpreted language when `--runs` is not given.
pub const DEFAULT_RUNS_INTERPRETED: usize = 10;
/// The most `--runs` may ask for.
pub const MAX_RUNS: usize = 10_000;
/// Seconds one language's recorded rounds may take; the round that passes it is the last
/// (at least one round is always recorded).
pub const DEFAULT_BUDGET_S: f64 = 60.0;
/// The most `--budget-s` may ask for.
pub const MAX_BUDGET_S: f64 = 3600.0;
/// Unrecorded rounds before a language's measurement: the server's pools for it fill, the
/// toolchain's files reach the page cache.
pub const WARM_UP_ROUNDS: usize = 1;
/// The unused file that makes each first submission new. Its name matches no runtime's
/// `sources` patterns, so no compile or run command changes (a test checks every runtime).
pub const NONCE_FILE: &str = "bench-nonce.txt";
/// What every runtime's hello world prints (its `[example] hello`, checked by the catalog's
/// tests), whitespace around it aside.
pub const EXPECTED: &str = "Hello, world!";

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `tiderun` binary to start as `tiderun serve`.
    pub server_exe: PathBuf,
    /// More `serve` arguments; they win over the harness's own.
    pub server_args: Vec<String>,
    /// Runtimes by name or alias; empty: every installed runtime of the catalog.
    pub languages: Vec<String>,
    /// Recorded rounds per language; `None`: [`DEFAULT_RUNS_COMPILED`] or
    /// [`DEFAULT_RUNS_INTERPRETED`].
    pub runs: Option<usize>,
    /// Time of one language's recorded rounds.
    pub budget: Duration,
    /// The command line, for the report.
    pub command: String,
}

impl Options {
    /// Check the numbers against their bounds and the names against the catalog.
    pub fn check(&self, catalog: &runtimes::Catalog) -> anyhow::Result<()> {
        if let Some(runs) = self.runs {
            anyhow::ensure!((1..=MAX_RUNS).contains(&runs), "--runs must be 1 to {MAX_RUNS}");
        }
        let secs = self.budget.as_secs_f64();
        anyhow::ensure!(
            secs > 0.0 && secs <= MAX_BUDGET_S,
            "--budget-s must be above 0 and at most {MAX_BUDGET_S}"
        );
        for name in &self.languages {
            anyhow::ensure!(
                catalog.get(name).is_some(),
                "--language {name:?}: no such runtime (`tiderun runtimes` lists them)"
            );
        }
        Ok(())
    }

    /// The runtimes measured, in catalog order, each once.
    fn selected<'c>(&self, catalog: &'c runtimes::Catalog) -> Vec<&'c runtimes::Runtime> {
        catalog
            .iter()
            .filter(|rt| {
                if self.languages.is_empty() {
                    rt.installed
                } else {
                    self.languages
                        .iter()
                        .any(|n| catalog.get(n).is_some_and(|c| c.name == rt.name))
                }
            })
            .collect()
    }

    fn rounds(&self, compiled: bool) -> usize {
        self.runs.unwrap_or(if compiled {
            DEFAULT_RUNS_COMPILED
        } else {
            DEFAULT_RUNS_INTERPRETED
        })
    }
}

/// The files of one submission: the hello world as the main file, then [`NONCE_FILE`] holding
/// `nonce`. A new nonce is a new build cache key (the key covers every file's name and bytes);
/// the same nonce again is the same program. No comment syntax is needed, so it works for
/// every language alike.
pub fn program(main: &str, hello: &str, nonce: &str) -> Vec<(String, String)> {
    vec![
        (main.to_string(), hello.to_string()),
        (NONCE_FILE.to_string(), format!("{nonce}\n")),
    ]
}

/// The `POST /api/v1/run` body of `files` in `language`.
pub fn run_body(language: &str, files: &[(String, String)]) -> String {
    let files: Vec<serde_json::Value> = files
        .iter()
        .map(|(name, content)| serde_json::json!({ "name": name, "content": content }))
        .collect();
    serde_json::json!({ "language": language, "files": files }).to_string()
}

/// One cell of the table: the recorded times and the errors.
#[derive(Debug, Clone, Default)]
pub struct Cell {
    pub times: Vec<Duration>,
    pub errors: Errors,
}

impl Cell {
    pub fn summary(&self) -> Summary {
        Summary::of(&self.times)
    }

    fn record(&mut self, outcome: Result<Duration, String>) {
        match outcome {
            Ok(took) => self.times.push(took),
            Err(e) => self.errors.add(e),
        }
    }
}

/// One language's row.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub language: String,
    pub version: Option<String>,
    pub compiled: bool,
    /// Rounds recorded (at most `--runs`; fewer when the budget ran out).
    pub rounds: usize,
    pub tiderun_first: Cell,
    pub tiderun_again: Cell,
    pub bare_first: Cell,
    pub bare_again: Cell,
    /// Compiled languages: first submissions the build cache answered (should be none) and
    /// resubmissions it did not (should be none).
    pub first_cached: usize,
    pub again_compiled: usize,
    /// The bare commands, for the report.
    pub bare_command: String,
}

impl Row {
    pub fn errors(&self) -> usize {
        [
            &self.tiderun_first,
            &self.tiderun_again,
            &self.bare_first,
            &self.bare_again,
        ]
        .iter()
        .map(|c| c.errors.count)
        .sum()
    }
}

/// The result of `tiderun bench languages`.
#[derive(Debug, Clone)]
pub struct Report {
    pub machine: Machine,
    pub command: String,
    pub server_args: Vec<String>,
    pub load_at_start: String,
    pub load_at_end: String,
    pub rows: Vec<Row>,
    /// Runtimes left out, with why.
    pub skipped: Vec<String>,
    /// Bare compiles had a `/tmp` of their own (root).
    pub private_tmp: bool,
}

/// Start the server, measure every selected runtime, stop the server.
pub fn run(opts: &Options, catalog: &runtimes::Catalog) -> anyhow::Result<Report> {
    opts.check(catalog)?;
    // One runtime on one thread: the client shares the cores with the server.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(measure(opts, catalog))
}

async fn measure(opts: &Options, catalog: &runtimes::Catalog) -> anyhow::Result<Report> {
    let machine = Machine::detect();
    let load_at_start = crate::machine::load_average();
    let mut server = Server::start(&opts.server_exe, &opts.server_args)?;
    let client = Client::new(&server.base)?;
    server.wait_ready(client.http()).await?;
    let served = client.languages().await?;
    // Not under /tmp: a bare compile mounts a fresh /tmp over it.
    let work = tempfile::Builder::new()
        .prefix("tiderun-bench-languages-")
        .tempdir_in("/var/tmp")
        .context("a work directory in /var/tmp")?;
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    let mut private_tmp = false;
    for runtime in opts.selected(catalog) {
        let name = &runtime.name;
        if !runtime.installed {
            let why = runtime.missing.as_deref().unwrap_or("not installed");
            skipped.push(format!("{name}: not installed here ({why})"));
            continue;
        }
        if !served.iter().any(|l| &l.name == name && l.installed) {
            skipped.push(format!("{name}: the server does not list it as installed"));
            continue;
        }
        let bare = Bare::new(runtime, &[runtime.file.as_str(), NONCE_FILE])?;
        private_tmp |= bare.private_tmp;
        eprintln!("bench languages: {name}");
        let row = measure_language(&client, runtime, &bare, opts, work.path()).await;
        rows.push(row);
    }
    let server_args = server.args.clone();
    server.stop()?;
    Ok(Report {
        machine,
        command: opts.command.clone(),
        server_args,
        load_at_start,
        load_at_end: crate::machine::load_average(),
        rows,
        skipped,
        private_tmp,
    })
}

/// The warm-up round, then the recorded rounds of one runtime.
async fn measure_language(
    client: &Client,
    runtime: &runtimes::Runtime,
    bare: &Bare,
    opts: &Options,
    work: &Path,
) -> Row {
    let mut row = Row {
        language: runtime.name.clone(),
        version: runtime.version.clone(),
        compiled: runtime.compiled(),
        bare_command: bare.command(),
        ..Row::default()
    };
    // Unique across servers and harness runs, so no cache anywhere has seen it.
    let stamp = format!(
        "tiderun bench languages {} {}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    );
    let mut warm_up = Row::default();
    for round in 0..WARM_UP_ROUNDS {
        let files = program(
            &runtime.file,
            &runtime.example.hello,
            &format!("{stamp} warm-up {round}"),
        );
        one_round(client, runtime, bare, &files, work, round, &mut warm_up).await;
    }
    let rounds = opts.rounds(runtime.compiled());
    let started = Instant::now();
    for round in 0..rounds {
        if round > 0 && started.elapsed() > opts.budget {
            break;
        }
        let files = program(&runtime.file, &runtime.example.hello, &format!("{stamp} {round}"));
        one_round(client, runtime, bare, &files, work, round, &mut row).await;
        row.rounds += 1;
    }
    row
}

/// The four measurements of one round, into `row`; bare first on even rounds, tiderun first
/// on odd ones, so neither always follows the other's teardown.
async fn one_round(
    client: &Client,
    runtime: &runtimes::Runtime,
    bare: &Bare,
    files: &[(String, String)],
    work: &Path,
    round: usize,
    row: &mut Row,
) {
    let body = run_body(&runtime.name, files);
    let compiled = runtime.compiled();
    let bare_round = |row: &mut Row| {
        let first = bare.first(files, work);
        let (outcome, built) = match first {
            Ok((ran, built)) => (checked_bare(ran), Some(built)),
            Err(e) => (Err(e.to_string()), None),
        };
        row.bare_first.record(outcome);
        row.bare_again.record(match &built {
            Some(b) => bare.again(b).map_err(|e| e.to_string()).and_then(checked_bare),
            None => Err("not run: its first submission failed".to_string()),
        });
    };
    let bare_leads = round.is_multiple_of(2);
    if bare_leads {
        bare_round(row);
    }
    let first = client.run(&body).await;
    row.first_cached += usize::from(compiled && first.cached);
    row.tiderun_first.record(checked_reply(&first));
    let again = client.run(&body).await;
    row.again_compiled += usize::from(compiled && !again.cached && again.error.is_none());
    row.tiderun_again.record(checked_reply(&again));
    if !bare_leads {
        bare_round(row);
    }
}

/// A tiderun answer's time, or why it is an error.
fn checked_reply(reply: &Reply) -> Result<Duration, String> {
    if let Some(e) = &reply.error {
        return Err(e.clone());
    }
    if reply.stdout.trim() != EXPECTED {
        return Err(format!("printed {:?}", reply.stdout));
    }
    Ok(reply.took)
}

/// A bare execution's time, or why it is an error.
fn checked_bare(ran: Ran) -> Result<Duration, String> {
    if ran.stdout.trim() != EXPECTED {
        return Err(format!("bare printed {:?}", ran.stdout));
    }
    Ok(ran.took)
}

/// `a / b` of two medians, two decimals; `—` when either has no sample.
fn ratio(a: &Summary, b: &Summary) -> String {
    if a.n == 0 || b.n == 0 {
        return "—".into();
    }
    format!("{:.2}", a.p50.as_secs_f64() / b.p50.as_secs_f64().max(1e-9))
}

/// `p50 / p99` in ms; `—` without samples.
fn p50_p99(s: &Summary) -> String {
    if s.n == 0 {
        return "—".into();
    }
    format!("{} / {}", ms(s.p50), ms(s.p99))
}

impl Report {
    /// The report as markdown: the machine, the command, one table, then the errors and the
    /// bare commands.
    pub fn markdown(&self) -> String {
        let mut o = String::new();
        let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
        let _ = writeln!(
            o,
            "## The shelf: each language's hello world end to end against its bare toolchain — {date}\n"
        );
        let _ = writeln!(o, "{}", self.machine.markdown());
        let _ = writeln!(
            o,
            "Load average (1 / 5 / 15 min): {} at the start, {} at the end.\n",
            self.load_at_start, self.load_at_end
        );
        let _ = writeln!(o, "Command, from the workspace root:\n\n```\n{}\n```\n", self.command);
        let _ = writeln!(
            o,
            "The harness started `tiderun {}` (a temporary data dir) and sent each runtime's own \
             `[example] hello` through `POST /api/v1/run` from one keep-alive HTTP/1.1 client. \
             *first*: a program the server has not seen (an unused extra file new each round), \
             so a compiled language compiles; *again*: the same request once more (a build \
             cache hit). *bare*: the runtime file's own compile and run commands run directly \
             in a fresh directory (HOME the work dir, the runtime's environment{}); *bare first* \
             is compile + run, *bare again* the run alone. Interleaved per round after {} \
             unrecorded warm-up round(s); times in ms, p50 / p99; ratios of p50s.\n",
            self.server_args.join(" "),
            if self.private_tmp {
                ", each compile with a fresh /tmp: a private mount namespace, whose set-up is part of its time"
            } else {
                "; compiles shared the host's /tmp (not root)"
            },
            WARM_UP_ROUNDS
        );
        let _ = writeln!(
            o,
            "| language | version | rounds | tiderun first | tiderun again | bare first | bare again | first ÷ bare | again ÷ bare | errors |"
        );
        let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|---|");
        for r in &self.rows {
            let (tf, ta, bf, ba) = (
                r.tiderun_first.summary(),
                r.tiderun_again.summary(),
                r.bare_first.summary(),
                r.bare_again.summary(),
            );
            let name = if r.compiled {
                format!("{} (compiled)", r.language)
            } else {
                r.language.clone()
            };
            let _ = writeln!(
                o,
                "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.version.as_deref().unwrap_or("?"),
                r.rounds,
                p50_p99(&tf),
                p50_p99(&ta),
                p50_p99(&bf),
                p50_p99(&ba),
                ratio(&tf, &bf),
                ratio(&ta, &ba),
                r.errors()
            );
        }
        let _ = writeln!(o);
        let mut notes = Vec::new();
        for r in &self.rows {
            let cells = [
                ("tiderun first", &r.tiderun_first),
                ("tiderun again", &r.tiderun_again),
                ("bare first", &r.bare_first),
                ("bare again", &r.bare_again),
            ];
            for (what, cell) in cells {
                if let Some(first) = &cell.errors.first {
                    notes.push(format!(
                        "{} {what}: {} error(s), the first: {first}",
                        r.language, cell.errors.count
                    ));
                }
            }
            if r.first_cached > 0 {
                notes.push(format!(
                    "{}: {} first submission(s) answered by the build cache",
                    r.language, r.first_cached
                ));
            }
            if r.again_compiled > 0 {
                notes.push(format!(
                    "{}: {} resubmission(s) compiled again (no build cache hit)",
                    r.language, r.again_compiled
                ));
            }
        }
        if !notes.is_empty() {
            let _ = writeln!(o, "Errors and anomalies:\n");
            for n in &notes {
                let _ = writeln!(o, "- {n}");
            }
            let _ = writeln!(o);
        }
        if !self.skipped.is_empty() {
            let _ = writeln!(o, "Left out:\n");
            for s in &self.skipped {
                let _ = writeln!(o, "- {s}");
            }
            let _ = writeln!(o);
        }
        let _ = writeln!(o, "<details><summary>The bare commands</summary>\n");
        for r in &self.rows {
            let _ = writeln!(o, "- {}: `{}`", r.language, r.bare_command);
        }
        let _ = writeln!(o, "\n</details>");
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> runtimes::Catalog {
        runtimes::Catalog::embedded().expect("the embedded catalog")
    }

    #[test]
    fn each_round_is_a_new_program_and_its_resubmission_the_same() {
        let a = program("main.c", "int main(){}", "x 1");
        let b = program("main.c", "int main(){}", "x 2");
        assert_ne!(a, b, "a new nonce must make a new program");
        assert_eq!(a, program("main.c", "int main(){}", "x 1"));
        assert_eq!(
            a[0],
            ("main.c".to_string(), "int main(){}".to_string()),
            "the main file first, unchanged"
        );
        assert_eq!(a[1].0, NONCE_FILE);
        let body: serde_json::Value = serde_json::from_str(&run_body("c", &a)).unwrap();
        assert_eq!(body["language"], "c");
        assert_eq!(body["files"][0]["name"], "main.c");
        assert_eq!(body["files"][0]["content"], "int main(){}");
        assert_eq!(body["files"][1]["name"], NONCE_FILE);
        assert_eq!(body["files"][1]["content"], "x 1\n");
    }

    /// The extra file is never passed to a compiler or interpreter: every runtime's commands
    /// are the same with it as without it.
    #[test]
    fn the_nonce_file_changes_no_runtimes_commands() {
        let catalog = catalog();
        assert!(catalog.len() >= 30, "the shelf: {} runtimes", catalog.len());
        for rt in catalog.iter() {
            let alone = rt.plan_files(&[rt.file.as_str()], &[]);
            let with = rt.plan_files(&[rt.file.as_str(), NONCE_FILE], &[]);
            match (alone, with) {
                (Ok(a), Ok(w)) => assert_eq!(a, w, "{}: the nonce file changed its commands", rt.name),
                // Not detected here: a var ({sysroot}) has no value; the same for both.
                (Err(a), Err(w)) => assert_eq!(a.to_string(), w.to_string(), "{}", rt.name),
                (a, w) => panic!("{}: {a:?} against {w:?}", rt.name),
            }
        }
    }

    #[test]
    fn options_are_checked() {
        let catalog = catalog();
        let ok = Options {
            server_exe: PathBuf::from("/bin/true"),
            server_args: Vec::new(),
            languages: vec!["py".into(), "c".into()],
            runs: None,
            budget: Duration::from_secs_f64(DEFAULT_BUDGET_S),
            command: String::new(),
        };
        ok.check(&catalog).expect("defaults and aliases are fine");
        let names: Vec<&str> = ok.selected(&catalog).iter().map(|r| r.name.as_str()).collect();
        assert!(
            names.contains(&"python") && names.contains(&"c") && names.len() == 2,
            "{names:?}"
        );
        assert_eq!(ok.rounds(true), DEFAULT_RUNS_COMPILED);
        assert_eq!(ok.rounds(false), DEFAULT_RUNS_INTERPRETED);
        let err = |o: Options| o.check(&catalog).unwrap_err().to_string();
        assert!(err(Options {
            runs: Some(0),
            ..ok.clone()
        })
        .contains("--runs must be 1 to"));
        assert!(err(Options {
            runs: Some(MAX_RUNS + 1),
            ..ok.clone()
        })
        .contains("--runs"));
        assert!(err(Options {
            budget: Duration::ZERO,
            ..ok.clone()
        })
        .contains("--budget-s"));
        assert!(err(Options {
            budget: Duration::from_secs_f64(MAX_BUDGET_S + 1.0),
            ..ok.clone()
        })
        .contains("--budget-s"));
        let unknown = err(Options {
            languages: vec!["brainfuck".into()],
            ..ok.clone()
        });
        assert!(unknown.contains("\"brainfuck\": no such runtime"), "{unknown}");
        assert_eq!(Options { runs: Some(3), ..ok }.rounds(true), 3);
    }

    fn cell(ms: &[u64], errors: &[&str]) -> Cell {
        let mut c = Cell::default();
        for m in ms {
            c.record(Ok(Duration::from_millis(*m)));
        }
        for e in errors {
            c.record(Err(e.to_string()));
        }
        c
    }

    #[test]
    fn the_table_has_one_row_per_language_with_ratios_and_errors() {
        let report = Report {
            machine: Machine {
                cores: 2,
                cpu_model: "test".into(),
                memory_mib: 1024,
                kernel: "6.1".into(),
                cgroup_mode: "v1".into(),
            },
            command: "tiderun bench languages --runs 2".into(),
            server_args: vec!["serve".into()],
            load_at_start: "1.0".into(),
            load_at_end: "2.0".into(),
            rows: vec![
                Row {
                    language: "c".into(),
                    version: Some("12.2.0".into()),
                    compiled: true,
                    rounds: 2,
                    tiderun_first: cell(&[100, 120], &[]),
                    tiderun_again: cell(&[4, 6], &[]),
                    bare_first: cell(&[50, 60], &[]),
                    bare_again: cell(&[1, 2], &[]),
                    again_compiled: 1,
                    bare_command: "/usr/bin/gcc main.c && ./main".into(),
                    ..Row::default()
                },
                Row {
                    language: "ruby".into(),
                    version: None,
                    rounds: 2,
                    tiderun_first: cell(&[80], &["status runtime_error"]),
                    tiderun_again: cell(&[80, 80], &[]),
                    bare_first: cell(&[], &["bare printed \"\"", "x"]),
                    bare_again: cell(&[], &["not run: its first submission failed"]),
                    bare_command: "/usr/bin/ruby main.rb".into(),
                    ..Row::default()
                },
            ],
            skipped: vec!["cobol: not installed here (no /usr/bin/cobc)".into()],
            private_tmp: true,
        };
        let md = report.markdown();
        let table: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(table.len(), 4, "one header, one rule, one row per language:\n{md}");
        assert_eq!(
            table[2],
            "| c (compiled) | 12.2.0 | 2 | 120.00 / 120.00 | 6.00 / 6.00 | 60.00 / 60.00 | 2.00 / 2.00 | 2.00 | 3.00 | 0 |"
        );
        assert_eq!(
            table[3],
            "| ruby | ? | 2 | 80.00 / 80.00 | 80.00 / 80.00 | — | — | — | — | 4 |"
        );
        assert!(
            md.contains("- ruby tiderun first: 1 error(s), the first: status runtime_error"),
            "{md}"
        );
        assert!(
            md.contains("- ruby bare first: 2 error(s), the first: bare printed \"\""),
            "{md}"
        );
        assert!(md.contains("- c: 1 resubmission(s) compiled again"), "{md}");
        assert!(md.contains("- cobol: not installed here"), "{md}");
        assert!(md.contains("- c: `/usr/bin/gcc main.c && ./main`"), "{md}");
        assert!(md.contains("```\ntiderun bench languages --runs 2\n```"), "{md}");
        assert!(md.contains("each compile with a fresh /tmp"), "{md}");
    }
}
