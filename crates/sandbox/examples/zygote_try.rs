//! Time runs in prepared sandboxes and zygotes against cold ones: `cargo run --release -p
//! tiderun-sandbox --example zygote_try` (as root). A quick look, not the benchmark harness.
use std::time::{Duration, Instant};

use tiderun_sandbox::{InputFile, InstanceSpec, RunIo, RunSpec, Sandbox, SandboxOptions, ZygoteSpec};

fn main() {
    let sb = Sandbox::new(SandboxOptions::default()).expect("sandbox");
    let catalog_zygote = std::env::args().nth(1).unwrap_or_default();
    let zygote: Vec<String> = if catalog_zygote.is_empty() {
        vec![
            "/usr/bin/python3".into(),
            "-c".into(),
            std::fs::read_to_string("/tmp/zt/zyg.py").unwrap(),
        ]
    } else {
        vec![catalog_zygote]
    };
    let mut spec = RunSpec::new(vec!["/usr/bin/python3".into(), "main.py".into()]);
    spec.files = vec![InputFile {
        path: "main.py".into(),
        content: b"print('Hello, world!')\n".to_vec(),
        executable: false,
    }];
    let inst_spec = InstanceSpec {
        limits: spec.limits,
        binds: vec![],
        network: false,
        zygote: Some(ZygoteSpec {
            argv: zygote,
            env: vec![],
        }),
    };
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for _ in 0..30 {
        let t = Instant::now();
        let r = sb.run(&spec, RunIo::default()).unwrap();
        cold.push(t.elapsed());
        assert_eq!(r.stdout, b"Hello, world!\n");
        let inst = sb.prepare(&inst_spec).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let t = Instant::now();
        let r = sb.run_prepared(inst, &spec, RunIo::default()).unwrap();
        warm.push(t.elapsed());
        assert_eq!(r.stdout, b"Hello, world!\n", "{r:?}");
    }
    cold.sort();
    warm.sort();
    println!("cold p50 {:?}  zygote p50 {:?}", cold[15], warm[15]);
}
