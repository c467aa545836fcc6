//! Run one command in the sandbox and print what came back: `cargo run -p tiderun-sandbox
//! --example sandbox_try -- /bin/sh -c 'id; ls /'` (as root for the full sandbox).
use tiderun_sandbox::{RunIo, RunSpec, Sandbox, SandboxOptions, Stdin};

fn main() {
    let sb = match Sandbox::new(SandboxOptions::default()) {
        Ok(sb) => sb,
        Err(e) => return eprintln!("sandbox: {e}"),
    };
    let mut spec = RunSpec::new(std::env::args().skip(1).collect());
    spec.limits.wall_ms = 3000;
    let started = std::time::Instant::now();
    let result = sb.run(
        &spec,
        RunIo {
            stdin: Stdin::Bytes(b"some input\n".to_vec()),
            ..Default::default()
        },
    );
    println!("took {:?}", started.elapsed());
    match result {
        Ok(r) => {
            println!(
                "status={} exit={:?} signal={:?} cpu={}ms wall={}ms mem={}KiB {:?}",
                r.status, r.exit_code, r.signal, r.cpu_time_ms, r.wall_time_ms, r.memory_kb, r.message
            );
            println!(
                "--stdout--\n{}--stderr--\n{}",
                String::from_utf8_lossy(&r.stdout),
                String::from_utf8_lossy(&r.stderr)
            );
        }
        Err(e) => {
            let mut err: &dyn std::error::Error = &e;
            print!("error: {err}");
            while let Some(s) = err.source() {
                print!(": {s}");
                err = s;
            }
            println!();
        }
    }
}
