//! A program that cannot be started is tiderun's failure, said in words, and nothing of it
//! leaks into the program's output (the exec error travels on its own pipe, never on 0-2).

use tiderun_tests::{hostile, RunIo, RunSpec, Status};

#[test]
fn a_missing_program_is_an_internal_error_with_clean_output() {
    let r = hostile(&RunSpec::new(vec!["/usr/bin/no-such-program".into()]), RunIo::default());
    assert_eq!(r.status, Status::InternalError, "{r:?}");
    assert!(
        r.message.as_deref().unwrap_or("").contains("cannot start the program"),
        "{r:?}"
    );
    assert!(r.stdout.is_empty() && r.stderr.is_empty(), "{r:?}");
}
