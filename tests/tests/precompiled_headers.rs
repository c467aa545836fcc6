//! Precompiled headers with the real engine, as root: a C++ program whose first line includes a
//! precompiled header compiles against it (proved: the header's text is replaced by an
//! `#error` in the directory the compiler searches first, and the compile still succeeds), one
//! whose includes do not allow it compiles the old way, a compile error reads the same with
//! and without, a header built for other compiler options is never used, and neither a compile
//! (through the compiler's own `-wrapper`) nor a program can change the headers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use engine::{Engine, Interaction, Job, Outcome, PoolConfig, PrecompiledConfig, PrecompiledStats, SourceFile};
use sandbox::{Sandbox, SandboxOptions, Status};
use tiderun_tests::{assert_nothing_left, fixtures, preflight, uid_base};

/// How long building the headers may take at start-up: `<bits/stdc++.h>` takes seconds of CPU
/// on a loaded machine, and every test process builds its own.
const BUILD_TIMEOUT: Duration = Duration::from_secs(300);
/// What the poisoned header text says, should a compile read it instead of the precompiled one.
const POISON: &str = "#error the precompiled header was not used\n";

/// A directory for the headers where the sandbox can bind it: not below /tmp or /work, which
/// it mounts itself. Made 0700 by tempfile, as systemd's state directory is.
fn headers_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("tiderun-test-precompiled-")
        .tempdir_in("/var/cache")
        .expect("a temp dir in /var/cache")
}

/// An engine without warm pools, with precompiled headers in `dir` (built before it returns),
/// or without any; `None` when C++ is not installed (the test is then skipped).
fn engine(dir: Option<&Path>) -> Option<Engine> {
    engine_with(None, dir)
}

/// [`engine`] with the runtime files of `runtimes_dir` over the embedded ones.
fn engine_with(runtimes_dir: Option<&Path>, dir: Option<&Path>) -> Option<Engine> {
    preflight();
    let mut catalog = runtimes::Catalog::load(runtimes_dir).expect("catalog");
    catalog.detect();
    if !catalog.get("c++").is_some_and(|r| r.installed) {
        testkit::skip("c++ (g++) is not installed");
        return None;
    }
    let sandbox = Sandbox::new(SandboxOptions {
        uid_base: uid_base(),
        ..SandboxOptions::default()
    })
    .expect("sandbox");
    let config = PrecompiledConfig {
        dir: dir.map(Path::to_path_buf),
    };
    let engine = Engine::start(catalog, sandbox, PoolConfig::disabled(), &config);
    assert!(engine.wait_precompiled(BUILD_TIMEOUT), "headers not built in time");
    Some(engine)
}

fn cpp(stats: &[PrecompiledStats]) -> PrecompiledStats {
    stats
        .iter()
        .find(|s| s.runtime == "c++")
        .cloned()
        .expect("c++ has precompiled headers")
}

fn job(name: Option<&str>, code: &str) -> Job {
    Job {
        language: "c++".into(),
        files: vec![SourceFile {
            name: name.map(str::to_owned),
            content: code.as_bytes().to_vec(),
        }],
        ..Job::default()
    }
}

fn run(engine: &Engine, job: Job) -> Outcome {
    let job = engine.check(job).expect("the job passes the check");
    engine.execute(&job, Interaction::default()).expect("the job runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The program's stdout, after checking that it compiled without a word and ran.
fn ok_stdout(o: &Outcome) -> String {
    let compile = o.compile.as_ref().expect("a compile stage");
    assert_eq!(compile.status, Status::Ok, "compile: {}", text(&compile.stderr));
    assert!(
        compile.stderr.is_empty() && compile.stdout.is_empty(),
        "the compiler said something: {}",
        text(&compile.stderr)
    );
    assert_eq!(o.status, Status::Ok, "{o:?}");
    text(&o.run.as_ref().expect("a run stage").stdout)
}

fn no_harm_done(engine: &Engine) {
    assert!(
        engine.sandbox().wait_idle(Duration::from_secs(5)),
        "sandbox teardown did not finish"
    );
    assert_nothing_left();
}

/// Replace the files beside the precompiled headers (`#include_next <NAME>`), in the directory
/// the compiler searches first: a compile that falls back from a precompiled header to its text
/// stops on the `#error`. (A second include of the same header reads them too.)
fn poison(dir: &Path) {
    std::fs::write(dir.join("bits/stdc++.h"), POISON).expect("poison");
    std::fs::write(dir.join("iostream"), POISON).expect("poison");
}

#[test]
#[ignore = "needs root: the full sandbox"]
fn a_program_starting_with_a_precompiled_header_uses_it_and_others_compile_as_before() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let root = headers_dir();
    let Some(engine) = engine(Some(root.path())) else {
        return;
    };
    let s = cpp(&engine.precompiled_stats());
    assert_eq!(
        (s.headers, s.ready, s.building, s.builds, s.compiles),
        (2, 2, false, 1, 0),
        "{s:?}"
    );
    assert_eq!(s.dir, root.path().join("c++"));
    // Root's, not writable by anyone else.
    for (path, mode) in [
        (s.dir.clone(), 0o755),
        (s.dir.join("bits"), 0o755),
        (s.dir.join("bits/stdc++.h.gch"), 0o644),
        (s.dir.join("iostream.gch"), 0o644),
        (s.dir.join("bits/stdc++.h"), 0o644),
        (s.dir.join("iostream"), 0o644),
    ] {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            (m.uid(), m.gid(), m.mode() & 0o7777),
            (0, 0, mode),
            "{}",
            path.display()
        );
    }
    let uses = |engine: &Engine| cpp(&engine.precompiled_stats()).compiles;
    // A header included twice (and <iostream> after <bits/stdc++.h>) as without them.
    let twice = "#include <iostream>\n#include <iostream>\n#include <bits/stdc++.h>\nint main() { std::cout << 2 << std::endl; }\n";
    assert_eq!(ok_stdout(&run(&engine, job(None, twice))), "2\n");
    let twice = "#include <bits/stdc++.h>\n#include <bits/stdc++.h>\n#include <iostream>\nint main() { std::cout << 3 << std::endl; }\n";
    assert_eq!(ok_stdout(&run(&engine, job(None, twice))), "3\n");
    assert_eq!(uses(&engine), 2);

    poison(&s.dir);
    // <bits/stdc++.h> first: compiled against the precompiled header (the poisoned text was
    // not read), and it runs.
    let sorted = "#include <bits/stdc++.h>\nusing namespace std;\nint main() {\n    vector<int> v{3, 1, 2};\n    \
                  sort(v.begin(), v.end());\n    cout << v[0] << v[2] << endl;\n}\n";
    assert_eq!(ok_stdout(&run(&engine, job(None, sorted))), "13\n");
    assert_eq!(uses(&engine), 3);
    // The example hello world (<iostream>), edited.
    let hello = runtimes::Catalog::embedded()
        .expect("catalog")
        .get("c++")
        .expect("c++")
        .example
        .hello
        .clone();
    let edited = hello.replace("Hello, world!", "Hello, precompiled!");
    assert_eq!(ok_stdout(&run(&engine, job(None, &edited))), "Hello, precompiled!\n");
    assert_eq!(uses(&engine), 4);
    // Resubmitted: a build cache hit, no compile at all.
    let again = run(&engine, job(None, &edited));
    assert!(again.compile.as_ref().expect("compile").cached);
    assert_eq!(uses(&engine), 4);

    // Programs whose includes do not allow it compile as before (and never see the poison):
    // a comment first, another file name, the request's own compiler options, two sources,
    // a header that is not precompiled.
    let commented = format!("// Lab 1\n{sorted}");
    assert_eq!(ok_stdout(&run(&engine, job(None, &commented))), "13\n");
    assert_eq!(ok_stdout(&run(&engine, job(Some("solution.cpp"), sorted))), "13\n");
    let mut own_options = job(None, &sorted.replace("v[2]", "v[1]"));
    own_options.compile_args = vec!["-O1".into()];
    assert_eq!(ok_stdout(&run(&engine, own_options)), "12\n");
    let mut two = job(None, &edited.replace("precompiled", "two files"));
    two.files.push(SourceFile {
        name: Some("add.cpp".into()),
        content: b"int add(int a, int b) { return a + b; }\n".to_vec(),
    });
    assert_eq!(ok_stdout(&run(&engine, two)), "Hello, two files!\n");
    let vector =
        "#include <vector>\n#include <cstdio>\nint main() { std::vector<int> v(4); printf(\"%zu\\n\", v.size()); }\n";
    assert_eq!(ok_stdout(&run(&engine, job(None, vector))), "4\n");
    assert_eq!(uses(&engine), 4, "none of those used a precompiled header");

    // With precompiled headers off, the same program is the old compile.
    drop(engine);
    let Some(plain) = engine_without() else {
        return;
    };
    assert!(plain.precompiled_stats().is_empty());
    assert_eq!(ok_stdout(&run(&plain, job(None, sorted))), "13\n");
    no_harm_done(&plain);
}

fn engine_without() -> Option<Engine> {
    engine(None)
}

/// A compile error whose notes point into the standard headers ("In file included from
/// main.cpp:1"), and errors in the program's own lines.
const BROKEN: &str = "#include <bits/stdc++.h>\nusing namespace std;\n\nint main() {\n    vector<int> v;\n    \
                      v.push_back(\"x\");\n    int y = z;\n    cout << v.size() << endl\n}\n";

#[test]
#[ignore = "needs root: the full sandbox"]
fn compile_errors_read_the_same_with_and_without_precompiled_headers() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let root = headers_dir();
    let Some(with) = engine(Some(root.path())) else {
        return;
    };
    let Some(without) = engine_without() else {
        return;
    };
    let iostream = "#include <iostream>\n#include <string>\n\nint main() {\n    std::cout.write(42);\n    \
                    std::cout << std::endl;\n    return undefined;\n}\n";
    for (code, lines) in [
        (BROKEN, &["main.cpp:6:16:", "main.cpp:7:13:", "main.cpp:8:"][..]),
        (iostream, &["main.cpp:5:20:", "main.cpp:7:12:"]),
    ] {
        let before = cpp(&with.precompiled_stats()).compiles;
        let a = run(&with, job(None, code));
        assert_eq!(
            cpp(&with.precompiled_stats()).compiles,
            before + 1,
            "the header was used"
        );
        let b = run(&without, job(None, code));
        let (ca, cb) = (a.compile.expect("compile"), b.compile.expect("compile"));
        assert_eq!(a.status, Status::CompileError);
        assert_eq!(b.status, Status::CompileError);
        let stderr = text(&ca.stderr);
        for line in lines {
            assert!(stderr.contains(line), "{line} not in:\n{stderr}");
        }
        assert!(stderr.contains("from main.cpp:1:"), "the include chain:\n{stderr}");
        assert_eq!(stderr, text(&cb.stderr), "with and without precompiled headers");
        assert_eq!((ca.stdout, ca.exit_code), (cb.stdout, cb.exit_code));
    }
    assert!(without.sandbox().wait_idle(Duration::from_secs(5)));
    no_harm_done(&with);
}

/// Every file below `dir` with its content, sorted by path.
fn contents(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut all = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).expect("list") {
            let path = entry.expect("entry").path();
            let m = std::fs::symlink_metadata(&path).expect("stat");
            if m.is_dir() {
                todo.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("read");
                all.push((path, bytes));
            }
        }
    }
    all.sort();
    all
}

#[test]
#[ignore = "needs root: the full sandbox"]
fn no_compile_or_program_can_change_the_precompiled_headers() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let root = headers_dir();
    let Some(engine) = engine(Some(root.path())) else {
        return;
    };
    let dir = cpp(&engine.precompiled_stats()).dir;
    let before = contents(&dir);
    assert!(
        before.iter().any(|(p, _)| p.ends_with("iostream.gch")),
        "{:?}",
        before.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );

    // The compiler runs the attack itself (gcc's -wrapper), inside the compile sandbox.
    let script = std::fs::read_to_string(fixtures().join("iso_precompiled_tamper.sh")).expect("fixture");
    let mut tamper = job(None, "#include <iostream>\nint main() {}\n");
    tamper.files.push(SourceFile {
        name: Some("iso_precompiled_tamper.sh".into()),
        content: script.into_bytes(),
    });
    tamper.files.push(SourceFile {
        name: Some("precompiled_dir".into()),
        content: dir.display().to_string().into_bytes(),
    });
    tamper.compile_args = vec!["-wrapper".into(), "/bin/sh,iso_precompiled_tamper.sh".into()];
    let o = run(&engine, tamper);
    let compile = o.compile.expect("a compile stage");
    let out = text(&compile.stderr);
    assert!(
        out.contains("read the header: SUCCEEDED"),
        "the attack did not see the headers:\n{out}"
    );
    let attempts: Vec<&str> = out
        .lines()
        .filter(|l| (l.ends_with(": refused") || l.ends_with(": SUCCEEDED")) && !l.starts_with("read the header"))
        .collect();
    assert_eq!(attempts.len(), 12, "{out}");
    for line in attempts {
        assert!(line.ends_with(": refused"), "{line}\n{out}");
    }

    // A program (the run stage) does not even see them.
    let probe = "#include <iostream>\n#include <cstdio>\n#include <unistd.h>\nint main(int argc, char** argv) {\n    \
                 std::cout << (access(argv[1], F_OK) == 0 ? \"visible\" : \"absent\") << std::endl;\n    \
                 FILE* f = fopen(argv[1], \"w\");\n    std::cout << (f ? \"opened\" : \"refused\") << std::endl;\n}\n";
    let mut program = job(None, probe);
    program.args = vec![dir.join("iostream.gch").display().to_string()];
    assert_eq!(ok_stdout(&run(&engine, program)), "absent\nrefused\n");
    assert_eq!(
        cpp(&engine.precompiled_stats()).compiles,
        1,
        "that program used the header"
    );

    assert!(contents(&dir) == before, "the precompiled headers changed");
    no_harm_done(&engine);
}

#[test]
#[ignore = "needs root: the full sandbox"]
fn a_header_built_for_other_options_is_never_used() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    // C++ whose headers are built with -O0 while it compiles with -O2: each probe compile
    // warns (-Winvalid-pch: "not used because `__NO_INLINE__' not defined").
    let shipped = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtimes/c++.toml"))
        .expect("runtimes/c++.toml");
    let build = "\"-std=gnu++17\", \"-O2\", \"-pipe\", \"-Wall\", \"-x\", \"c++-header\"";
    assert!(shipped.contains(build), "the shipped build command changed: {shipped}");
    let other = shipped.replace(build, &build.replace("-O2", "-O0"));
    let runtimes = tempfile::tempdir().expect("temp dir");
    std::fs::write(runtimes.path().join("c++.toml"), other).expect("write");
    let root = headers_dir();
    let Some(engine) = engine_with(Some(runtimes.path()), Some(root.path())) else {
        return;
    };
    let s = cpp(&engine.precompiled_stats());
    assert_eq!((s.headers, s.ready, s.building, s.builds), (2, 0, false, 1), "{s:?}");
    for gone in ["iostream.gch", "bits/stdc++.h.gch"] {
        assert!(!s.dir.join(gone).exists(), "{gone} was left for a compiler to find");
    }
    // Programs compile as without them, and nothing warns.
    let hello = "#include <iostream>\nint main() { std::cout << \"no header\" << std::endl; }\n";
    assert_eq!(ok_stdout(&run(&engine, job(None, hello))), "no header\n");
    assert_eq!(cpp(&engine.precompiled_stats()).compiles, 0);
    no_harm_done(&engine);
}
