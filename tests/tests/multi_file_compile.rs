//! Programs of several files through the engine, as Piston compiles them: every source file of
//! a C, C++ or Java program is compiled and linked (the runtime file's `{sources}`), headers
//! and data files are written but not passed, file names that look like options stay file
//! names, and the build cache tells builds apart by every file.

use engine::{Engine, Interaction, Job, Outcome, SourceFile};
use sandbox::{Sandbox, SandboxOptions, Status};
use tiderun_tests::{assert_nothing_left, preflight, uid_base};

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

fn job(language: &str, files: &[(&str, &str)]) -> Job {
    Job {
        language: language.into(),
        files: files
            .iter()
            .map(|(name, content)| SourceFile {
                name: Some((*name).into()),
                content: content.as_bytes().to_vec(),
            })
            .collect(),
        ..Job::default()
    }
}

fn run(engine: &Engine, job: &Job) -> Outcome {
    let job = engine.check(job.clone()).expect("the job passes the check");
    engine.execute(&job, Interaction::default()).expect("the job runs")
}

/// The run's stdout, after checking that the compile succeeded and the run ended well.
fn stdout(o: &Outcome) -> String {
    let compile = o.compile.as_ref().expect("a compile stage");
    assert_eq!(
        (o.status, compile.status),
        (Status::Ok, Status::Ok),
        "compile stderr:\n{}\nrun: {:?}",
        String::from_utf8_lossy(&compile.stderr),
        o.run
    );
    String::from_utf8_lossy(&o.run.as_ref().expect("a run stage").stdout).into_owned()
}

fn cached(o: &Outcome) -> bool {
    o.compile.as_ref().expect("a compile stage").cached
}

fn no_harm_done(engine: &Engine) {
    assert!(
        engine.sandbox().wait_idle(std::time::Duration::from_secs(5)),
        "sandbox teardown did not finish"
    );
    assert_nothing_left();
}

const MAIN_C: &str = r#"#include <stdio.h>
#include "add.h"
int main(void) {
    printf("%d %d %d\n", add(2, 3), dash(), at());
    return 0;
}
"#;
const ADD_H: &str = "int add(int a, int b);\nint dash(void);\nint at(void);\n";

/// `main.c`, `add.c` and `add.h`, and beside them sources named like gcc options (`-omain.c`
/// would be `-o main.c`, `@opts.c` a response file) and data files named `-o` and `@add.c`...
fn c_program(add: &str) -> Job {
    job(
        "c",
        &[
            ("main.c", MAIN_C),
            ("add.c", add),
            ("add.h", ADD_H),
            ("-omain.c", "int dash(void) { return 7; }\n"),
            ("@opts.c", "int at(void) { return 9; }\n"),
            ("-o", "not a source: a data file named like an option\n"),
            ("notes.txt", "-fplugin=/nonexistent.so\n"),
        ],
    )
}

#[test]
fn every_c_source_is_compiled_and_linked_and_none_is_an_option() {
    let engine = engine();
    let sum = c_program("#include \"add.h\"\nint add(int a, int b) { return a + b; }\n");
    let first = run(&engine, &sum);
    assert_eq!(stdout(&first), "5 7 9\n");
    assert!(!cached(&first));
    // The same files again: the same build. Another add.c (the main file unchanged): another.
    let again = run(&engine, &sum);
    assert!(cached(&again));
    assert_eq!(stdout(&again), "5 7 9\n");
    let product = c_program("#include \"add.h\"\nint add(int a, int b) { return a * b; }\n");
    let other = run(&engine, &product);
    assert!(!cached(&other), "a different second file shared the first build");
    assert_eq!(stdout(&other), "6 7 9\n");
    // Piston's CLI sends the extra files first (`piston run c main.c -f add.c`): the first
    // file is then the main one, and every source is still compiled.
    let cli_order = job(
        "c",
        &[
            ("add.c", "int add(int a, int b) { return a - b; }\n"),
            (
                "main.c",
                "#include <stdio.h>\nint add(int, int);\nint main(void) { printf(\"%d\\n\", add(2, 3)); return 0; }\n",
            ),
        ],
    );
    assert_eq!(stdout(&run(&engine, &cli_order)), "-1\n");
    // A main file named like a response file is refused before anything runs.
    let mut at_main = c_program("int add(int a, int b) { return a + b; }\n");
    at_main.files[0].name = Some("@main.c".into());
    let refused = engine.check(at_main).expect_err("refused");
    assert!(refused.is_caller_mistake(), "{refused}");
    assert!(refused.to_string().contains("must not start with @"), "{refused}");
    no_harm_done(&engine);
}

#[test]
fn every_cpp_source_is_compiled_and_linked() {
    let engine = engine();
    let o = run(
        &engine,
        &job(
            "c++",
            &[
                (
                    "main.cpp",
                    "#include <iostream>\n#include \"shapes.hpp\"\nint main() { std::cout << area(3, 4) << ' ' << twice(5) << std::endl; }\n",
                ),
                ("shapes.hpp", "int area(int w, int h);\nint twice(int x);\n"),
                ("shapes.cpp", "#include \"shapes.hpp\"\nint area(int w, int h) { return w * h; }\n"),
                ("more.cc", "int twice(int x) { return 2 * x; }\n"),
            ],
        ),
    );
    assert_eq!(stdout(&o), "12 10\n");
    no_harm_done(&engine);
}

#[test]
fn every_java_source_is_compiled() {
    let engine = engine();
    // `Greeter` lives in Util.java: javac would not find it by its name alone.
    let o = run(
        &engine,
        &job(
            "java",
            &[
                (
                    "Main.java",
                    "public class Main { public static void main(String[] a) { System.out.println(Greeter.greet(\"files\")); } }\n",
                ),
                ("Util.java", "class Greeter { static String greet(String who) { return \"hello, \" + who; } }\n"),
            ],
        ),
    );
    assert_eq!(stdout(&o), "hello, files\n");
    no_harm_done(&engine);
}
