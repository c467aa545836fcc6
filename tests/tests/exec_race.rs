//! The fork/exec race of warm instances: a compiled program written into a prepared sandbox by
//! one thread must never be held open for writing by a sandbox another thread clones at that
//! moment (its `execve` would fail with ETXTBSY, "Text file busy" — seen once in CI).
//!
//! Many compiled programs run through warm instances while other threads make instances as
//! fast as they can, in the background at nice 19 as the engine's pools do (a low-priority
//! clone is the one that keeps its copied descriptors longest). Every run must succeed.

use std::sync::atomic::{AtomicBool, Ordering};

use sandbox::{InputFile, InstanceSpec, Limits, RunIo, RunSpec, Status};
use tiderun_tests::{compile_c, preflight, sandbox, stdout};

/// Runs per runner thread, and runner threads.
const RUNS: usize = 40;
const RUNNERS: usize = 3;
/// Threads making (and dropping) instances meanwhile.
const MAKERS: usize = 3;
/// Zeros after the program (an ELF file may carry them): a longer write, a wider window.
const PADDING: usize = 4 << 20;

fn instance_spec(limits: Limits) -> InstanceSpec {
    InstanceSpec {
        limits,
        binds: Vec::new(),
        network: false,
        zygote: None,
    }
}

#[test]
#[ignore = "needs root: warm instances are root's"]
fn compiled_programs_in_warm_instances_never_hit_text_file_busy() {
    if !testkit::root_or_skip("warm instances are root's") {
        return;
    }
    preflight();
    let mut program = compile_c("exec_race_hello.c");
    program.resize(program.len() + PADDING, 0);
    let limits = Limits {
        wall_ms: 30_000,
        ..Limits::default()
    };
    let stop = AtomicBool::new(false);
    let failures = std::thread::scope(|s| {
        // The makers stop however the runners end (a panic too).
        let _stop = StopOnDrop(&stop);
        for _ in 0..MAKERS {
            s.spawn(|| {
                sandbox().make_instances_in_background();
                while !stop.load(Ordering::Relaxed) {
                    let made = sandbox().prepare(&instance_spec(limits));
                    drop(made.expect("an instance is made"));
                }
            });
        }
        let runners: Vec<_> = (0..RUNNERS)
            .map(|t| {
                let program = &program;
                s.spawn(move || {
                    let mut failures = Vec::new();
                    for i in 0..RUNS {
                        let mut spec = RunSpec::new(vec!["./prog".into(), format!("{t}-{i}")]);
                        spec.limits = limits;
                        // As the engine hands a build output to its run: read-only, executable.
                        spec.files.push(InputFile {
                            path: "prog".into(),
                            content: program.clone(),
                            executable: true,
                            read_only: true,
                        });
                        let instance = sandbox().prepare(&instance_spec(limits)).expect("an instance is made");
                        let r = sandbox()
                            .run_prepared(instance, &spec, RunIo::default())
                            .expect("the run completes");
                        if r.status != Status::Ok || stdout(&r) != format!("hello {t}-{i}\n") {
                            failures.push(format!("run {t}-{i}: {:?} {:?} {:?}", r.status, r.message, stdout(&r)));
                        }
                    }
                    failures
                })
            })
            .collect();
        runners
            .into_iter()
            .flat_map(|h| h.join().expect("runner"))
            .collect::<Vec<String>>()
    });
    assert!(
        failures.is_empty(),
        "{} of {} runs failed:\n{}",
        failures.len(),
        RUNS * RUNNERS,
        failures.join("\n")
    );
    assert!(
        sandbox().wait_idle(std::time::Duration::from_secs(10)),
        "teardown finished"
    );
}

/// Sets its flag when dropped.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
