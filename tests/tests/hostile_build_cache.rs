//! The build cache against hostile programs and near-miss keys: a program cannot change the
//! cached build it runs from (for itself or for the next run), two different sources never
//! share a build, and a different compiler flag or a different file is a different build.
//! Programs are compiled by the engine (gcc in the compile sandbox) and run in the sandbox.

use engine::{Engine, Interaction, Job, Outcome, PhaseRequest, SourceFile};
use sandbox::{Sandbox, SandboxOptions, Status};
use tiderun_tests::{assert_nothing_left, differs_without_root, fixtures, preflight, uid_base};

fn engine() -> Engine {
    preflight();
    let mut catalog = runtimes::Catalog::load(None).expect("catalog");
    catalog.detect();
    let sandbox = Sandbox::new(SandboxOptions {
        uid_base: uid_base(),
        ..SandboxOptions::default()
    })
    .expect("sandbox");
    Engine::new(catalog, sandbox)
}

fn c_job(code: &str) -> Job {
    Job {
        language: "c".into(),
        files: vec![SourceFile {
            name: None,
            content: code.as_bytes().to_vec(),
        }],
        ..Job::default()
    }
}

fn run(engine: &Engine, job: &Job) -> Outcome {
    let job = engine.check(job.clone()).expect("the job passes the check");
    engine.execute(&job, Interaction::default()).expect("the job runs")
}

fn stdout(o: &Outcome) -> String {
    String::from_utf8_lossy(&o.run.as_ref().expect("a run stage").stdout).into_owned()
}

fn cached(o: &Outcome) -> bool {
    o.compile.as_ref().expect("a compile stage").cached
}

/// No process or cgroup of this test is left once the sandbox has torn everything down.
fn no_harm_done(engine: &Engine) {
    assert!(
        engine.sandbox().wait_idle(std::time::Duration::from_secs(5)),
        "sandbox teardown did not finish"
    );
    assert_nothing_left();
}

#[test]
fn a_program_cannot_change_its_cached_build() {
    let engine = engine();
    let code = std::fs::read_to_string(fixtures().join("iso_build_tamper.c")).expect("fixture");
    let job = c_job(&code);

    let first = run(&engine, &job);
    assert_eq!(first.status, Status::Ok, "{first:?}");
    assert!(!cached(&first));
    let out = stdout(&first);
    let lines: Vec<&str> = out.lines().collect();
    let result = |attempt: &str| {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(attempt).map(str::trim))
            .unwrap_or_else(|| panic!("no line for {attempt:?} in:\n{out}"))
    };
    if differs_without_root(
        "the program owns its copy of the build (one mapped uid): it may change that copy, never \
         the cache's",
    ) {
        // Its own copy: writing the running binary is still refused (mode 0555, ETXTBSY).
        assert_ne!(result("open main for writing"), "SUCCEEDED", "{out}");
        assert_ne!(result("open /proc/self/exe for writing"), "SUCCEEDED", "{out}");
        // The next run of the same source is a cache hit and gets the build untouched: it
        // does all the same things to the same pristine copy, so says exactly the same.
        let second = run(&engine, &job);
        assert!(cached(&second), "resubmitted source compiled again");
        assert_eq!(stdout(&second), out, "the second run saw a different build");
        let stats = engine.build_cache().stats();
        assert_eq!((stats.hits, stats.misses, stats.entries), (1, 1, 1), "{stats:?}");
        no_harm_done(&engine);
        return;
    }
    for attempt in [
        "open main for writing",
        "open main read-write",
        "open main to append",
        "open /proc/self/exe for writing",
        "truncate main",
        "chmod main",
        "chown main",
        "unlink main",
        "rename main away",
        "rename own file over main",
        "open main.c for writing",
        "unlink main.c",
        "chmod work dir",
        "rmdir work dir",
    ] {
        assert_ne!(result(attempt), "SUCCEEDED", "{attempt} succeeded:\n{out}");
    }
    // A hard link is only refused where fs.protected_hardlinks is on; either way it is the
    // same root-owned, read-only inode.
    let hardlinks = std::fs::read_to_string("/proc/sys/fs/protected_hardlinks").unwrap_or_default();
    if hardlinks.trim() == "1" {
        assert_eq!(result("hard link main"), "EPERM", "{out}");
    }
    // Its own files are still its own.
    for attempt in [
        "create a file of its own",
        "write a file of its own",
        "mkdir of its own",
    ] {
        assert_eq!(result(attempt), "SUCCEEDED", "{attempt} failed:\n{out}");
    }
    let before = result("build checksum before");
    assert_eq!(
        before,
        result("build checksum after"),
        "the binary changed under the program"
    );

    // The next run of the same source is a cache hit, and gets the build untouched.
    let second = run(&engine, &job);
    assert!(cached(&second), "resubmitted source compiled again");
    assert_eq!(stdout(&second), out, "the second run saw a different build");
    let stats = engine.build_cache().stats();
    assert_eq!((stats.hits, stats.misses, stats.entries), (1, 1, 1), "{stats:?}");
    no_harm_done(&engine);
}

#[test]
fn different_sources_never_share_a_build() {
    let engine = engine();
    let program = |text: &str| {
        c_job(&format!(
            "#include <stdio.h>\nint main(void){{puts(\"{text}\");return 0;}}\n"
        ))
    };
    let (a, b) = (program("A"), program("B"));
    // The same main file plus a second (unused) file: another build.
    let mut a_plus = a.clone();
    a_plus.files.push(SourceFile {
        name: Some("notes.txt".into()),
        content: b"unused".to_vec(),
    });
    for round in 0..2 {
        for (job, want) in [(&a, "A\n"), (&b, "B\n"), (&a_plus, "A\n")] {
            let o = run(&engine, job);
            assert_eq!(stdout(&o), want, "round {round}");
            assert_eq!(cached(&o), round == 1, "round {round}, {want:?}");
        }
    }
    let stats = engine.build_cache().stats();
    assert_eq!((stats.hits, stats.misses, stats.entries), (3, 3, 3), "{stats:?}");
    assert!(stats.bytes > 0);
    no_harm_done(&engine);
}

#[test]
fn a_different_compiler_flag_is_a_different_build() {
    let engine = engine();
    let code = "#include <stdio.h>\nint main(void){printf(\"%d\\n\", X);return 0;}\n";
    let with = |flag: &str| Job {
        compile_args: vec![flag.to_string()],
        ..c_job(code)
    };
    let one = run(&engine, &with("-DX=1"));
    let two = run(&engine, &with("-DX=2"));
    assert_eq!((stdout(&one), stdout(&two)), ("1\n".into(), "2\n".into()));
    assert!(!cached(&one) && !cached(&two), "a different flag was a hit");
    let again = run(&engine, &with("-DX=1"));
    assert!(cached(&again));
    assert_eq!(stdout(&again), "1\n");
    // Without the flag the source does not compile, and that answer is cached too.
    let error = run(&engine, &c_job(code));
    assert_eq!(error.status, Status::CompileError);
    let error_again = run(&engine, &c_job(code));
    assert!(cached(&error_again));
    assert_eq!(error_again.status, Status::CompileError);
    let (e1, e2) = (error.compile.unwrap(), error_again.compile.unwrap());
    assert!(!e1.stderr.is_empty());
    assert_eq!((e1.stderr, e1.exit_code), (e2.stderr, e2.exit_code));
    assert_eq!((e2.cpu_time_ms, e2.wall_time_ms, e2.memory_kb), (0, 0, 0));
    no_harm_done(&engine);
}

#[test]
fn a_compile_that_hit_a_limit_is_not_kept() {
    let engine = engine();
    let mut job = c_job("int main(void){return 0;}\n");
    // gcc needs far more than a few milliseconds of wall time.
    job.limits.compile = PhaseRequest {
        wall_ms: Some(5),
        ..PhaseRequest::default()
    };
    for _ in 0..2 {
        let o = run(&engine, &job);
        let compile = o.compile.expect("a compile stage");
        assert_eq!(compile.status, Status::WallTimeLimit, "{compile:?}");
        assert!(!compile.cached);
    }
    let stats = engine.build_cache().stats();
    assert_eq!((stats.hits, stats.misses, stats.entries), (0, 2, 0), "{stats:?}");
    no_harm_done(&engine);
}

#[test]
fn a_read_only_file_in_a_subdirectory_stays_put() {
    if differs_without_root("a read-only input file is the program's own (one mapped uid): only its mode is set") {
        let mut spec = tiderun_tests::RunSpec::new(vec!["/bin/sh".into(), "-c".into(), "stat -c %a sub/data".into()]);
        spec.files.push(sandbox::InputFile {
            path: "sub/data".into(),
            content: b"original\n".to_vec(),
            executable: false,
            read_only: true,
        });
        let r = tiderun_tests::hostile(&spec, tiderun_tests::RunIo::default());
        assert_eq!(
            (r.status, tiderun_tests::stdout(&r).as_str()),
            (Status::Ok, "444\n"),
            "{r:?}"
        );
        return;
    }
    // Replacing the directory would replace the file: the directory is protected too.
    let script = r#"
for a in "mv sub sub2" "rm -f sub/data" "mv sub/data sub/x" "chmod 777 sub" "chmod 666 sub/data" "rmdir sub" "ln -sf /tmp sub/data"; do
    if $a 2>/dev/null; then echo "$a SUCCEEDED"; else echo "$a refused"; fi
done
(echo tampered > sub/data) 2>/dev/null && echo "write SUCCEEDED"
echo mine > sub/own && echo "own file ok"
echo mine > top && echo "own top file ok"
cat sub/data
"#;
    let mut spec = tiderun_tests::RunSpec::new(vec!["/bin/sh".into(), "-c".into(), script.into()]);
    spec.files.push(sandbox::InputFile {
        path: "sub/data".into(),
        content: b"original\n".to_vec(),
        executable: false,
        read_only: true,
    });
    let r = tiderun_tests::hostile(&spec, tiderun_tests::RunIo::default());
    let out = tiderun_tests::stdout(&r);
    assert_eq!(r.status, Status::Ok, "{out}");
    assert!(!out.contains("SUCCEEDED"), "{out}");
    assert_eq!(out.matches("refused").count(), 7, "{out}");
    assert!(out.contains("own file ok") && out.contains("own top file ok"), "{out}");
    assert!(out.ends_with("original\n"), "{out}");
}
