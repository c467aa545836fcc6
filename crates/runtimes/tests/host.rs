//! Detection and the example programs against this machine's real toolchains.
//!
//! A runtime whose toolchain is absent here is a skipped part of the test (`testkit`: printed,
//! or a failure where every test must run); a runtime whose detect program exists must be
//! detected as installed.
//! Run with `--nocapture` to see the table.

use std::io::Write;
use std::path::Path;
use std::process::{Command as Process, Stdio};
use std::time::Instant;

use runtimes::{Catalog, Command, Runtime};

fn detected() -> Catalog {
    let mut catalog = Catalog::load(None).expect("embedded runtime files are valid");
    catalog.detect();
    catalog
}

#[test]
fn detect_marks_present_toolchains_installed() {
    let started = Instant::now();
    let catalog = detected();
    let elapsed = started.elapsed();

    println!(
        "\n{:<11} {:<22} {:<10} {:<9} detail",
        "name", "display", "version", "installed"
    );
    for rt in &catalog {
        let detail = rt
            .missing
            .clone()
            .unwrap_or_else(|| rt.detect_argv().map(|a| a.join(" ")).unwrap_or_default());
        println!(
            "{:<11} {:<22} {:<10} {:<9} {}",
            rt.name,
            rt.display_name,
            rt.version.as_deref().unwrap_or("-"),
            rt.installed,
            detail
        );
    }
    println!("detected {} runtimes in {elapsed:?}", catalog.len());

    for rt in &catalog {
        match rt.detect_argv() {
            Ok(argv) if Path::new(&argv[0]).exists() => {
                assert!(rt.installed, "{}: {} exists but: {:?}", rt.name, argv[0], rt.missing);
                assert!(rt.version.is_some(), "{}: no version found", rt.name);
                assert!(rt.missing.is_none());
            }
            _ => {
                assert!(!rt.installed, "{} installed without its detect program", rt.name);
                assert!(rt.missing.is_some());
                testkit::skip_part(format_args!("{}: toolchain absent on this machine", rt.name));
            }
        }
    }
}

/// Runs one command outside any sandbox, in `dir`, with exactly the plan's environment.
fn exec(cmd: &Command, dir: &Path, stdin: &str) -> (bool, String, String) {
    let mut child = Process::new(&cmd.argv[0])
        .args(&cmd.argv[1..])
        .current_dir(dir)
        .env_clear()
        .envs(cmd.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.argv));
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn run_example(rt: &Runtime, source: &str, stdin: &str) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join(&rt.file), source).expect("write source");
    let plan = rt.plan(&rt.file, &[]).expect("plan");
    if let Some(compile) = &plan.compile {
        let (ok, out, err) = exec(compile, dir.path(), "");
        assert!(ok, "{}: compile failed: {out}{err}", rt.name);
    }
    let (ok, out, err) = exec(&plan.run, dir.path(), stdin);
    assert!(ok, "{}: run failed: {out}{err}", rt.name);
    out
}

#[test]
fn examples_run_on_installed_toolchains() {
    let catalog = detected();
    for rt in catalog.iter().filter(|r| r.installed) {
        let started = Instant::now();
        let out = run_example(rt, &rt.example.hello, "");
        assert_eq!(out, "Hello, world!\n", "{}: hello", rt.name);
        if let Some(interactive) = &rt.example.interactive {
            let out = run_example(rt, interactive, "Ada\n");
            assert!(out.contains("Hello, Ada!"), "{}: interactive printed {out:?}", rt.name);
        }
        println!("{:<11} examples ok in {:?}", rt.name, started.elapsed());
    }
    for rt in catalog.iter().filter(|r| !r.installed) {
        testkit::skip_part(format_args!(
            "{}: {}",
            rt.name,
            rt.missing.as_deref().unwrap_or_default()
        ));
    }
}
