//! Real third-party Python clients for the compatibility tests: installed once with pip into
//! `target/<dir>` (kept between runs), then a script of `tests/clients/` run with them against a
//! server's base URL.

use std::path::{Path, PathBuf};

/// `target/` of the workspace.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

/// `tests/clients/`: the scripts that drive the clients.
pub fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/clients")
}

/// A Python with pip: `python3` on PATH (pyenv's, on these machines), else Debian's.
pub fn python_with_pip() -> Option<String> {
    ["python3", "/usr/bin/python3"]
        .into_iter()
        .map(str::to_owned)
        .find(|py| {
            std::process::Command::new(py)
                .args(["-m", "pip", "--version"])
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

/// The Python and the directory `requirements` are installed in (`target/<dir>`, installed
/// when one of `markers`, files they install, is missing); `None` after saying SKIPPED when
/// they cannot be installed.
pub async fn pip_installed(dir: &str, requirements: &[&str], markers: &[&str]) -> Option<(String, PathBuf)> {
    let Some(py) = python_with_pip() else {
        testkit::skip("no python3 with pip");
        return None;
    };
    let dir = target_dir().join(dir);
    if !markers.iter().all(|m| dir.join(m).exists()) {
        let (py, dir) = (py.clone(), dir.clone());
        let wanted: Vec<String> = requirements.iter().map(|r| (*r).to_owned()).collect();
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new(py)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--target",
                ])
                .arg(dir)
                .args(wanted)
                .output()
        })
        .await
        .expect("pip task")
        .expect("pip");
        if !out.status.success() {
            testkit::skip(format_args!(
                "cannot install {requirements:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
            return None;
        }
    }
    Some((py, dir))
}

/// Run `tests/clients/<script> BASE_URL` with `py` and the clients in `dir`, ended by coreutils
/// `timeout` after `timeout_s` (a hung client polls forever otherwise); the script prints a
/// line per check and exits non-zero on a failed one, which fails the test.
pub async fn run_python_client(py: &str, dir: &Path, script: &str, base: &str, timeout_s: u64, label: &str) {
    let (py, dir, script_path, base) = (
        py.to_owned(),
        dir.to_owned(),
        clients_dir().join(script),
        base.to_owned(),
    );
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("timeout")
            .arg(timeout_s.to_string())
            .arg(py)
            .arg(script_path)
            .arg(base)
            .env("PYTHONPATH", dir)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
    })
    .await
    .expect("client task")
    .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{script} ({label}):\n{stdout}{stderr}");
    assert!(out.status.success(), "{script} failed ({label}):\n{stdout}\n{stderr}");
}
