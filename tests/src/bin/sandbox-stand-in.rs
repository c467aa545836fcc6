//! A stand-in for the server, for tests that need one started the way a careless operator
//! starts `tiderun serve`: with a secret in its command line (`--auth-token SECRET`) and
//! another in its environment, as root or as an ordinary user. It runs one fixture in a
//! sandbox (tight limits) and reports what came back.
//!
//! Usage: `sandbox-stand-in --auth-token SECRET INTERPRETER FIXTURE [ARGS...]`; INTERPRETER
//! `c` compiles a C fixture. Prints the program's stdout, and on stderr a last line
//! `status STATUS wall_ms N`.

use std::io::Write;

use tiderun_tests::{assert_nothing_left, c_spec, preflight_pid_namespace, sandbox, script_spec, tight_limits, RunIo};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (interpreter, fixture, fixture_args) = match args.as_slice() {
        [flag, _secret, interpreter, fixture, rest @ ..] if flag == "--auth-token" => (interpreter, fixture, rest),
        _ => {
            eprintln!("usage: sandbox-stand-in --auth-token SECRET INTERPRETER FIXTURE [ARGS...]");
            std::process::exit(2);
        }
    };
    let fixture_args: Vec<&str> = fixture_args.iter().map(String::as_str).collect();
    // The probes it runs are harmless (no bombs), so a host without a delegated cgroup will do;
    // the pid namespace is checked all the same.
    preflight_pid_namespace();
    let mut spec = if interpreter == "c" {
        c_spec(fixture, &fixture_args)
    } else {
        script_spec(interpreter, fixture, &fixture_args)
    };
    spec.limits = tight_limits();
    let r = sandbox()
        .run(&spec, RunIo::default())
        .expect("the sandbox ran the program");
    assert!(
        sandbox().wait_idle(std::time::Duration::from_secs(5)),
        "sandbox teardown did not finish"
    );
    assert_nothing_left();
    std::io::stdout().write_all(&r.stdout).expect("write stdout");
    eprintln!("status {} wall_ms {}", r.status, r.wall_time_ms);
}
