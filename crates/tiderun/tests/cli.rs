//! The `tiderun` command end to end: every language's hello world through the real sandbox,
//! and one-line errors (never a panic) for bad input.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn tiderun() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tiderun"))
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// One line on stderr, exit code 2, no panic message.
fn assert_one_line_error(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in {stderr:?}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "more than one line: {stderr:?}");
}

#[test]
#[ignore = "needs root: the full sandbox"]
fn hello_world_in_every_installed_language() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let out = tiderun().args(["runtimes", "--json"]).output().unwrap();
    let runtimes = json(&out);
    let dir = tempfile::tempdir().unwrap();
    let programs = [
        ("python", "hello.py", "print('Hello, world!')"),
        ("javascript", "hello.js", "console.log('Hello, world!')"),
        (
            "c",
            "hello.c",
            "#include <stdio.h>\nint main(void){puts(\"Hello, world!\");return 0;}",
        ),
        (
            "c++",
            "hello.cpp",
            "#include <iostream>\nint main(){std::cout<<\"Hello, world!\"<<std::endl;}",
        ),
        (
            "java",
            "Main.java",
            "public class Main{public static void main(String[] a){System.out.println(\"Hello, world!\");}}",
        ),
        ("rust", "main.rs", "fn main(){println!(\"Hello, world!\");}"),
        ("bash", "hello.sh", "echo 'Hello, world!'"),
        ("perl", "hello.pl", "print \"Hello, world!\\n\";"),
    ];
    for (language, file, source) in programs {
        let installed = runtimes
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["language"] == language && r["installed"] == true);
        if !installed {
            testkit::skip_part(format_args!("{language}: not installed here"));
            continue;
        }
        let path = write(dir.path(), file, source);
        let out = tiderun()
            .args(["run", "--json", "-l", language])
            .arg(&path)
            .output()
            .unwrap();
        let v = json(&out);
        assert_eq!(v["status"], "ok", "{language}: {v}");
        assert_eq!(v["run"]["stdout"], "Hello, world!\n", "{language}: {v}");
        assert!(
            v["run"]["memory_kb"].as_u64().unwrap() > 0,
            "{language}: memory measured"
        );
        assert_eq!(
            v["compile"].is_null(),
            !matches!(language, "c" | "c++" | "java" | "rust"),
            "{language}"
        );
    }
}

#[test]
#[ignore = "needs root: the full sandbox"]
fn program_output_and_exit_code_pass_through() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "p.py",
        "import sys\nprint(input().upper())\nprint('oops', file=sys.stderr)\nsys.exit(3)",
    );
    let out = tiderun()
        .args(["run", "-l", "py", "--stdin", "abc\n"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ABC\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "oops\n");
}

#[test]
#[ignore = "needs root: the full sandbox"]
fn live_stdin_reaches_the_program() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "ask.py", "name = input('name? ')\nprint('hi ' + name)");
    let mut child = tiderun()
        .args(["run", "-l", "python"])
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all("世界\n".as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "name? hi 世界\n");
}

#[test]
#[ignore = "needs root: the full sandbox"]
fn every_c_file_given_is_compiled_and_linked() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let main = write(
        dir.path(),
        "main.c",
        "#include <stdio.h>\n#include \"add.h\"\nint main(void) { printf(\"%d\\n\", add(40, 2)); return 0; }\n",
    );
    let header = write(dir.path(), "add.h", "int add(int a, int b);\n");
    let add = write(
        dir.path(),
        "add.c",
        "#include \"add.h\"\nint add(int a, int b) { return a + b; }\n",
    );
    let out = tiderun()
        .args(["run", "-l", "c"])
        .args([&main, &add, &header])
        .output()
        .unwrap();
    assert_eq!(
        (out.status.code(), String::from_utf8_lossy(&out.stdout).as_ref()),
        (Some(0), "42\n"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[ignore = "needs root: the full sandbox"]
fn compile_error_comes_back_with_the_compiler_message() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "bad.c", "int main(void) { return x; }\n");
    let out = tiderun()
        .args(["run", "--json", "-l", "c"])
        .arg(&path)
        .output()
        .unwrap();
    let v = json(&out);
    assert_eq!(v["status"], "compile_error");
    assert!(
        v["compile"]["stderr"].as_str().unwrap().contains("'x' undeclared")
            || v["compile"]["stderr"].as_str().unwrap().contains("‘x’ undeclared"),
        "{v}"
    );
    assert!(v["run"].is_null());
    assert_eq!(out.status.code(), Some(1));
}

#[test]
#[ignore = "needs root: the full sandbox"]
fn limits_from_the_command_line_are_enforced() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spin = write(dir.path(), "spin.py", "while True: pass");
    let v = json(
        &tiderun()
            .args(["run", "--json", "-l", "py", "--cpu-ms", "300"])
            .arg(&spin)
            .output()
            .unwrap(),
    );
    assert_eq!(v["status"], "time_limit", "{v}");
    let sleep = write(dir.path(), "sleep.py", "import time; time.sleep(60)");
    let v = json(
        &tiderun()
            .args(["run", "--json", "-l", "py", "--wall-ms", "300"])
            .arg(&sleep)
            .output()
            .unwrap(),
    );
    assert_eq!(v["status"], "wall_time_limit", "{v}");
    let hog = write(
        dir.path(),
        "hog.py",
        "x = bytearray(200 * 1024 * 1024)\nx[::4096] = b'a' * len(x[::4096])",
    );
    let v = json(
        &tiderun()
            .args(["run", "--json", "-l", "py", "--memory-mb", "64"])
            .arg(&hog)
            .output()
            .unwrap(),
    );
    assert_eq!(v["status"], "memory_limit", "{v}");
    let flood = write(dir.path(), "flood.py", "while True: print('x' * 1000)");
    let v = json(
        &tiderun()
            .args(["run", "--json", "-l", "py", "--max-output-bytes", "5000"])
            .arg(&flood)
            .output()
            .unwrap(),
    );
    assert_eq!(v["status"], "output_limit", "{v}");
    assert_eq!(v["run"]["stdout"].as_str().unwrap().len(), 5000);
}

#[test]
fn bad_input_gets_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let ok = write(dir.path(), "ok.py", "print(1)");
    let out = tiderun()
        .args(["run", "-l", "no-such-language"])
        .arg(&ok)
        .output()
        .unwrap();
    assert_one_line_error(&out, "unknown language \"no-such-language\"");
    let out = tiderun()
        .args(["run", "-l", "python", "/nonexistent/x.py"])
        .output()
        .unwrap();
    assert_one_line_error(&out, "cannot read /nonexistent/x.py");
    let out = tiderun()
        .args(["run", "-l", "python", "--memory-mb", "999999"])
        .arg(&ok)
        .output()
        .unwrap();
    assert_one_line_error(&out, "memory_mb = 999999 is out of range");
    let out = tiderun()
        .args(["run", "-l", "python", "--wall-ms", "0"])
        .arg(&ok)
        .output()
        .unwrap();
    assert_one_line_error(&out, "wall_ms must be at least 1");
    let out = tiderun()
        .args(["run", "-l", "python", "--cpu-ms", "-5"])
        .arg(&ok)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "negative numbers are refused by the parser");
    let out = tiderun()
        .args(["run", "-l", "python", "--version", "2.x"])
        .arg(&ok)
        .output()
        .unwrap();
    assert_one_line_error(&out, "is not available");
    let out = tiderun()
        .args(["run", "-l", "python"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_one_line_error(&out, "is not a file");
    let out = tiderun()
        .args(["run", "-l", "python", "--stdin-file", "/nonexistent"])
        .arg(&ok)
        .output()
        .unwrap();
    assert_one_line_error(&out, "cannot read /nonexistent");
    // Start-up settings are checked before anything starts.
    let out = tiderun()
        .args(["serve", "--addr", "127.0.0.1:0", "--build-cache-mb", "16385"])
        .output()
        .unwrap();
    assert_one_line_error(&out, "build_cache_mb = 16385 is out of range (at most 16384)");
    let out = tiderun().args(["serve", "--build-cache-mb", "-1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "negative sizes are refused by the parser");
    for (args, needle) in [
        (["--pool-idle-s", "86401"], "--pool-idle-s must be at most 86400"),
        (
            ["--pool-max-age-s", "0"],
            "--pool-max-age-s and --memory-budget-mb must be at least 1",
        ),
        (
            ["--memory-budget-mb", "0"],
            "--pool-max-age-s and --memory-budget-mb must be at least 1",
        ),
        (
            ["--request-output-mb", "0"],
            "--request-output-mb must be between 1 and 1024, not 0",
        ),
        (
            ["--request-wall-s", "3601"],
            "--request-wall-s must be between 1 and 3600, not 3601",
        ),
        (["--fork-servers", "65"], "--fork-servers must be at most 64"),
        (
            ["--fork-server-max-runs", "0"],
            "--fork-server-max-runs between 1 and 100000",
        ),
        (
            ["--fork-server-max-age-s", "3601"],
            "--fork-server-max-age-s between 1 and 3600",
        ),
    ] {
        let out = tiderun()
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(args)
            .output()
            .unwrap();
        assert_one_line_error(&out, needle);
    }
    for (args, needle) in [
        (["--burst", "0"], "--burst must be 1 to 1024"),
        (["--duration-s", "0"], "--duration-s must be above 0"),
        (["--concurrency", "1025"], "--concurrency must be a list of 1 to 1024"),
        (["--runs", "0"], "--runs must be 1 to 100000"),
    ] {
        let out = tiderun().args(["bench", "e2e"]).args(args).output().unwrap();
        assert_one_line_error(&out, needle);
    }
}

/// `tiderun run` checks a job with the engine's one check (the server's) before it sets up the
/// sandbox: a limit out of range is the same one line and exit code 2 as root and as an
/// ordinary user, whose sandbox enforces less (before, the user read the sandbox's warnings
/// about what this host does not enforce first, for a run that could never start).
#[test]
fn a_bad_limit_is_one_line_whoever_runs_it() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::os::unix::process::CommandExt;
    // A copy of the binary and a program an unprivileged user can read.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), PermissionsExt::from_mode(0o755)).unwrap();
    let bin = dir.path().join("tiderun");
    std::fs::copy(env!("CARGO_BIN_EXE_tiderun"), &bin).unwrap();
    let ok = write(dir.path(), "ok.py", "print(1)");
    std::fs::set_permissions(&ok, PermissionsExt::from_mode(0o644)).unwrap();
    // Root runs it as itself and as nobody; anybody else as itself.
    let root = std::fs::metadata("/proc/self").unwrap().uid() == 0;
    let users: &[Option<u32>] = if root { &[None, Some(65534)] } else { &[None] };
    let cases: [(&[&str], &str); 4] = [
        (
            &["--memory-mb", "999999"],
            "memory_mb = 999999 is out of range (at most 2048)",
        ),
        (&["--wall-ms", "0"], "wall_ms must be at least 1"),
        (&["--cpu-ms", "999999999"], "cpu_ms = 999999999 is out of range"),
        (&["--max-output-bytes", "0"], "max_output_bytes must be at least 1"),
    ];
    for (args, needle) in cases {
        let mut seen = Vec::new();
        for user in users {
            let mut command = Command::new(&bin);
            command.args(["run", "-l", "python"]).args(args).arg(&ok);
            if let Some(id) = *user {
                command.uid(id).gid(id);
            }
            let out = command.output().unwrap();
            assert_one_line_error(&out, needle);
            seen.push((out.status.code(), out.stderr));
        }
        assert!(seen.windows(2).all(|w| w[0] == w[1]), "{args:?}: {seen:?}");
    }
}

#[test]
fn runtimes_lists_every_language() {
    let out = tiderun().args(["runtimes", "--json"]).output().unwrap();
    assert!(out.status.success());
    let v = json(&out);
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["language"].as_str().unwrap())
        .collect();
    for want in ["python", "javascript", "c", "c++", "java", "rust", "bash", "perl"] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let table = tiderun().arg("runtimes").output().unwrap();
    assert!(String::from_utf8_lossy(&table.stdout).starts_with("LANGUAGE"));
}

#[test]
fn a_runtime_whose_toolchain_is_missing_is_listed_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "no-such-language.toml",
        "name = \"no-such-language\"\ndisplay_name = \"No such language\"\nfile = \"main.nsl\"\nrun = [\"/nonexistent/nslc\", \"{file}\"]\ndetect = [\"/nonexistent/nslc\", \"--version\"]\n[example]\nhello = 'x'\necho = 'x'\nruntime_error = 'x'\n",
    );
    let out = tiderun()
        .args(["runtimes", "--json", "--runtimes-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v = json(&out);
    let missing = v
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["language"] == "no-such-language")
        .expect("no-such-language listed");
    assert_eq!(missing["installed"], false);
    let prog = write(dir.path(), "x.nsl", "x");
    let out = tiderun()
        .args(["run", "-l", "no-such-language", "--runtimes-dir"])
        .arg(dir.path())
        .arg(&prog)
        .output()
        .unwrap();
    assert_one_line_error(&out, "no-such-language is not installed");
}

/// `tiderun runtimes install ...` with a runtimes dir, as the caller is.
fn install(dir: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = tiderun();
    cmd.args(["runtimes", "install"]).args(args);
    if let Some(dir) = dir {
        cmd.arg("--runtimes-dir").arg(dir);
    }
    cmd.output().unwrap()
}

#[test]
fn runtimes_install_dry_run_prints_the_commands_of_the_runtime_files() {
    // Names or aliases, each runtime once, each package once, in the order asked.
    let out = install(None, &["--dry-run", "bash", "py", "c", "gcc", "sh"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "apt-get update\napt-get install -y --no-install-recommends bash python3 python3-numpy python3-matplotlib python3-pandas gcc libc6-dev\n"
    );
    // --all: every runtime file's packages.
    let out = install(None, &["--all", "--dry-run"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    for package in [
        "bash",
        "gcc",
        "g++",
        "openjdk-17-jdk-headless",
        "nodejs",
        "perl",
        "python3",
    ] {
        assert!(lines[1].split(' ').any(|p| p == package), "{package} not in {text}");
    }
    assert!(lines[2].starts_with("npm install -g "), "{text}");
    assert!(lines[2].split(' ').any(|p| p == "typescript"), "{text}");
    // npm packages after the apt packages (npm itself may be one of those); a runtime with
    // nothing to install adds no command.
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "tsx.toml",
        "name = \"tsx\"\ndisplay_name = \"TSX\"\nfile = \"main.ts\"\nrun = [\"/nonexistent/tsx\", \"{file}\"]\n\
         detect = [\"/nonexistent/tsx\", \"--version\"]\n[example]\nhello = 'x'\necho = 'x'\nruntime_error = 'x'\n\
         [install]\napt = [\"nodejs\", \"npm\"]\nnpm = [\"typescript\", \"@types/node\", \"tsx@4.19.2\"]\n",
    );
    write(
        dir.path(),
        "bare.toml",
        "name = \"bare\"\ndisplay_name = \"Bare\"\nfile = \"main.b\"\nrun = [\"/nonexistent/b\", \"{file}\"]\n\
         detect = [\"/nonexistent/b\"]\n[example]\nhello = 'x'\necho = 'x'\nruntime_error = 'x'\n\
         [install]\nnote = \"build it from source\"\n",
    );
    let out = install(Some(dir.path()), &["--dry-run", "bare", "tsx", "javascript"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "apt-get update\napt-get install -y --no-install-recommends nodejs npm\n\
         npm install -g typescript @types/node tsx@4.19.2\n"
    );
    assert!(install(Some(dir.path()), &["--dry-run", "bare"]).stdout.is_empty());
    // A machine without npm (Debian's nodejs has none) gets Debian's npm first; one that has
    // it (NodeSource's nodejs, whose package conflicts with Debian's npm) does not.
    let bin = tempfile::tempdir().unwrap();
    let dry_run_with_path = |path: &Path| {
        let mut cmd = tiderun();
        cmd.args(["runtimes", "install", "--dry-run", "typescript"])
            .env("PATH", path);
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let npm = "npm install -g typescript @types/node\n";
    assert_eq!(
        dry_run_with_path(bin.path()),
        format!("apt-get update\napt-get install -y --no-install-recommends nodejs npm\n{npm}")
    );
    let fake = write(bin.path(), "npm", "#!/bin/sh\n");
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    assert_eq!(
        dry_run_with_path(bin.path()),
        format!("apt-get update\napt-get install -y --no-install-recommends nodejs\n{npm}")
    );
}

#[test]
fn runtimes_install_refuses_bad_input_with_one_line_and_exit_2() {
    let out = install(None, &["--dry-run", "bash", "no-such-language"]);
    assert_one_line_error(
        &out,
        "unknown runtime \"no-such-language\"; the runtimes are: bash, c, c++, clojure",
    );
    // Nothing asked, or both ways of asking.
    for args in [&["--dry-run"][..], &["--all", "bash"]] {
        let out = install(None, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    }
    // Only package names come from runtime files: anything else is the file's error.
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "evil.toml",
        "name = \"evil\"\ndisplay_name = \"Evil\"\nfile = \"main.e\"\nrun = [\"/nonexistent/e\", \"{file}\"]\n\
         detect = [\"/nonexistent/e\"]\n[example]\nhello = 'x'\necho = 'x'\nruntime_error = 'x'\n\
         [install]\napt = [\"-o=Dpkg::Pre-Invoke::=touch /tmp/pwned\"]\n",
    );
    let out = install(Some(dir.path()), &["--dry-run", "bash"]);
    assert_one_line_error(&out, &format!("invalid runtime file {}", bad.display()));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a Debian package name"));
    assert!(out.stdout.is_empty());
}

#[test]
fn runtimes_install_needs_root() {
    // As root, the check is made as an ordinary user (nobody); the binary is readable by all.
    let mut cmd = tiderun();
    if testkit::is_root() {
        std::os::unix::process::CommandExt::uid(&mut cmd, 65534);
        std::os::unix::process::CommandExt::gid(&mut cmd, 65534);
    }
    let out = cmd
        .current_dir("/")
        .args(["runtimes", "install", "bash"])
        .output()
        .unwrap();
    assert_one_line_error(
        &out,
        "installing runtimes needs root: run `tiderun runtimes install` as root (or with sudo)",
    );
    assert!(
        out.stdout.is_empty(),
        "nothing ran: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn doctor_reports_the_host() {
    let out = tiderun().arg("doctor").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("pid namespace"), "{text}");
    assert!(text.contains("cgroups"), "{text}");
    assert!(text.contains(" core_pattern: "), "{text}");
    if testkit::root_or_skip_part("the healthy host part", "the full sandbox") {
        assert!(out.status.success(), "{text}");
    }
}

#[test]
#[ignore = "needs root: the full sandbox"]
fn an_ordinary_user_gets_isolation_and_is_told_what_is_not_enforced() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    if Command::new("setpriv").arg("--version").output().is_err() {
        testkit::skip("setpriv (util-linux) is not installed");
        return;
    }
    // A copy of the binary an unprivileged user can execute.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let bin = dir.path().join("tiderun");
    std::fs::copy(env!("CARGO_BIN_EXE_tiderun"), &bin).unwrap();
    let prog = write(
        dir.path(),
        "who.py",
        "import os\nprint(os.getuid(), open('/proc/self/status').read().count('CapEff:\\t0000000000000000'))",
    );
    std::fs::set_permissions(&prog, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let as_nobody = |args: &[&str]| {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(&bin)
            .args(args)
            .output()
            .unwrap()
    };
    let out = as_nobody(&["run", "-l", "python", prog.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // uid 1000 inside, no capabilities, even though the server is uid 65534 outside.
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1000 1\n");
    assert!(stderr.contains("not enforced on this host"), "{stderr}");
    // A compiled language: the build outputs are read back from the compile sandbox.
    let c = write(
        dir.path(),
        "hello.c",
        "#include <stdio.h>\nint main(void){ puts(\"built\"); return 0; }\n",
    );
    std::fs::set_permissions(&c, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let out = as_nobody(&["run", "-l", "c", c.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "built\n");
    let doctor = as_nobody(&["doctor"]);
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(text.contains("running as root: false"), "{text}");
    assert!(text.contains("not enforced"), "{text}");
}

/// The cells of column `name` in every markdown table of `text` that has one.
fn column<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    let mut cells = Vec::new();
    let mut index = None;
    for line in text.lines() {
        let Some(row) = line.strip_prefix('|') else {
            index = None;
            continue;
        };
        let row: Vec<&str> = row.split('|').map(str::trim).collect();
        match index {
            None => index = row.iter().position(|c| *c == name),
            Some(_) if row[0].starts_with("---") => {}
            Some(i) => cells.push(row[i]),
        }
    }
    cells
}

#[test]
#[ignore = "needs root: the full sandbox"]
fn bench_e2e_measures_every_scenario_without_errors() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("RESULTS.md");
    let out = tiderun()
        .args([
            "bench",
            "e2e",
            "--runs",
            "3",
            "--duration-s",
            "0.5",
            "--concurrency",
            "1,4",
            "--burst",
            "8",
        ])
        .arg("--out")
        .arg(&out_file)
        .arg("--server-arg=--max-concurrent=4")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&out_file).unwrap().trim(), stdout.trim());
    for heading in [
        "### 1.",
        "### 1b.",
        "### 2.",
        "### 3.",
        "### 4.",
        "Machine: ",
        "--max-concurrent=4",
    ] {
        assert!(stdout.contains(heading), "{heading} missing:\n{stdout}");
    }
    let languages = column(&stdout, "language");
    for want in [
        "python",
        "c (first submission: compile and run)",
        "c (resubmitted: build cache hit)",
    ] {
        assert!(languages.contains(&want), "no {want} row:\n{stdout}");
    }
    assert_eq!(column(&stdout, "clients"), ["1", "4"], "{stdout}");
    assert_eq!(column(&stdout, "runs released at once"), ["8"], "{stdout}");
    let errors = column(&stdout, "errors");
    // The languages, Judge0's row, two levels, the burst.
    assert_eq!(errors.len(), languages.len() + 1 + 2 + 1, "{stdout}");
    assert_eq!(column(&stdout, "warm starts").len(), 1, "{stdout}");
    assert!(errors.iter().all(|e| *e == "0"), "errors in:\n{stdout}");
    assert!(
        stdout.contains("Build cache: 3 of 3 resubmissions of c were hits"),
        "{stdout}"
    );
    let rss = column(&stdout, "VmRSS idle after scale-to-zero MB");
    assert!(
        rss.len() == 1 && rss[0].parse::<f64>().is_ok_and(|mb| mb > 1.0),
        "{stdout}"
    );
}

#[test]
fn serve_checks_the_edge_settings() {
    for (args, needle) in [
        (
            ["--idle-timeout-s", "0"],
            "the idle timeout must be from 1s to 3600s (it is 0s)",
        ),
        (
            ["--idle-timeout-s", "3601"],
            "the idle timeout must be from 1s to 3600s",
        ),
        (
            ["--header-read-timeout-s", "121"],
            "the header read timeout must be from 1s to 120s",
        ),
        (
            ["--max-connections", "0"],
            "the connection limit must be from 1 to 65536 (it is 0)",
        ),
        (
            ["--max-connections", "65537"],
            "the connection limit must be from 1 to 65536",
        ),
    ] {
        let out = tiderun()
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(args)
            .output()
            .unwrap();
        assert_one_line_error(&out, needle);
    }
    for value in ["nonsense", "10.0.0.0/33", ""] {
        let out = tiderun()
            .args(["serve", "--addr", "127.0.0.1:0", "--trusted-proxy", value])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("is not an address or a CIDR such as 10.0.0.0/8"),
            "{stderr}"
        );
    }
    let out = tiderun()
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env("TIDERUN_TRUSTED_PROXIES", "10.0.0.0/8,fd00::/8,bad")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"bad\" is not an address"));
}

#[test]
fn serve_checks_the_school_sign_in_settings() {
    let serve = |args: &[&str]| {
        tiderun()
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(args)
            .env_remove("TIDERUN_OIDC_CLIENT_SECRET")
            .output()
            .unwrap()
    };
    let issuer = [
        "--oidc-issuer",
        "https://id.school.example",
        "--oidc-client-id",
        "tiderun",
    ];
    let public = ["--public-url", "https://class.example"];
    // Without the client id or the public address there is no redirect to register.
    let out = serve(&issuer[..2]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--oidc-client-id") && stderr.contains("--public-url"),
        "{stderr}"
    );
    // The secret is never an argument (it would show in `ps`).
    let out = serve(&[&issuer[..], &public[..], &["--oidc-client-secret", "s3cret"]].concat());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unexpected argument"));
    for (args, needle) in [
        (
            &["--oidc-max-pending", "0"][..],
            "--oidc-max-pending must be 1 to 100000",
        ),
        (
            &["--oidc-max-pending", "100001"],
            "--oidc-max-pending must be 1 to 100000",
        ),
        (
            &["--oidc-login-lifetime-s", "3601"],
            "--oidc-login-lifetime must be 1 to 3600 seconds",
        ),
        (
            &["--oidc-client-secret-file", "/nonexistent/secret"],
            "--oidc-client-secret-file /nonexistent/secret",
        ),
    ] {
        assert_one_line_error(&serve(&[&issuer[..], &public[..], args].concat()), needle);
    }
    let out = serve(&[&issuer[..], &["--public-url", "class.example"]].concat());
    assert_one_line_error(&out, "--public-url \"class.example\"");
}

#[test]
fn serve_refuses_a_precompiled_headers_dir_no_sandbox_can_bind() {
    for dir in ["/tmp/tiderun-precompiled", "/proc/x", "/"] {
        let out = serve_refused(&["--precompiled-headers-dir", dir], &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains(&format!("--precompiled-headers-dir {dir}")), "{stderr}");
        assert!(stderr.contains("reserved by the sandbox"), "{stderr}");
    }
    assert!(
        !std::path::Path::new("/tmp/tiderun-precompiled").exists(),
        "nothing was made"
    );
    let out = serve_refused(&["--precompiled-headers", "maybe"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let help = tiderun().args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--precompiled-headers <PRECOMPILED_HEADERS>"), "{help}");
    assert!(help.contains("[default: true]"), "{help}");
    assert!(help.contains("TIDERUN_PRECOMPILED_HEADERS_DIR"), "{help}");
}

/// `tiderun serve ARGS` on a free port: the output of a start that stops by itself (a bad
/// setting), or a failure if it is still serving after a while.
fn serve_refused(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut child = tiderun()
        .args(["serve", "--addr", "127.0.0.1:0", "--no-warm-pools"])
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "tiderun serve {args:?} {env:?} started: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn serve_allows_any_origin_by_default_and_checks_cors_origins() {
    let help = tiderun().args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    let cors = help
        .split("--cors-origin")
        .nth(1)
        .unwrap_or_else(|| panic!("no --cors-origin in {help}"));
    let cors = &cors[..cors.find("\n      --").unwrap_or(cors.len())];
    for needle in [
        "[default: *]",
        "`none`",
        "Never with credentials",
        "TIDERUN_CORS_ORIGINS",
    ] {
        assert!(
            cors.contains(needle),
            "{needle:?} not in the help of --cors-origin: {cors}"
        );
    }
    for (args, env, needle) in [
        (
            &["--cors-origin", "https://class.example/ide"][..],
            &[][..],
            "\"https://class.example/ide\" is not an origin such as https://class.example",
        ),
        (
            &["--cors-origin", "*,https://a.example"],
            &[],
            "`*` cannot be combined with other origins",
        ),
        (
            &["--cors-origin", "null"],
            &[],
            "`null` is the origin of every sandboxed page",
        ),
        (
            &[],
            &[("TIDERUN_CORS_ORIGINS", "https://a.example,none")],
            "`none` cannot be combined",
        ),
    ] {
        let out = serve_refused(args, env);
        assert_one_line_error(&out, needle);
        assert!(String::from_utf8_lossy(&out.stderr).contains("--cors-origin"));
    }
}

/// Every field path of a JSON value (`run.stdout`, `compile.cached`...), objects recursed into.
fn field_paths(value: &serde_json::Value, prefix: &str, paths: &mut std::collections::BTreeSet<String>) {
    if let serde_json::Value::Object(fields) = value {
        for (name, inner) in fields {
            let path = format!("{prefix}{name}");
            field_paths(inner, &format!("{path}."), paths);
            paths.insert(path);
        }
    }
}

/// The value without what is measured (times and memory differ from run to run).
fn unmeasured(mut value: serde_json::Value) -> serde_json::Value {
    for stage in ["compile", "run"] {
        if let Some(fields) = value[stage].as_object_mut() {
            for measured in ["cpu_time_ms", "wall_time_ms", "memory_kb"] {
                fields.remove(measured);
            }
        }
    }
    value
}

/// A `tiderun serve` child on a loopback port it picked, killed when dropped.
struct Serve {
    child: std::process::Child,
    base: String,
    /// What it printed at start.
    banner: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn serve() -> Serve {
    serve_with(&[]).await
}

/// `tiderun serve` on a port it picks: the address comes from the lines it prints at start
/// (kept in `banner`), so no port picked here can be taken by another test in between.
async fn serve_with(args: &[&str]) -> Serve {
    let dir = tempfile::tempdir().unwrap();
    let mut child = tiderun()
        .arg("serve")
        .arg("--addr=127.0.0.1:0")
        .arg(format!("--data-dir={}", dir.path().join("data").display()))
        .args(["--rate-limit=0", "--no-warm-pools"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tiderun serve starts");
    let stdout = child.stdout.take().unwrap();
    let (base, banner) =
        tokio::task::spawn_blocking(move || testkit::serve_banner(stdout, std::time::Duration::from_secs(60)))
            .await
            .unwrap();
    let server = Serve {
        child,
        base,
        banner,
        _dir: dir,
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Ok(r) = reqwest::get(format!("{}/healthz", server.base)).await {
            if r.status().is_success() {
                return server;
            }
        }
        assert!(std::time::Instant::now() < deadline, "the server did not start");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// At start `serve` prints where it listens (the port it picked for port 0) and what it
/// serves; an exercises directory that is named but missing is said, not an empty silence.
#[tokio::test(flavor = "multi_thread")]
async fn serve_says_where_it_listens_and_what_it_serves() {
    let server = serve_with(&["--exercises-dir", "/nonexistent/exercises"]).await;
    let banner = server.banner.join("\n");
    assert!(!server.base.ends_with(":0"), "{banner}");
    assert!(banner.contains("store:     SQLite in "), "{banner}");
    assert!(banner.contains("queue:     in-process"), "{banner}");
    assert!(
        banner.contains("exercises: none: /nonexistent/exercises does not exist"),
        "{banner}"
    );
    let runtimes = server
        .banner
        .iter()
        .find_map(|l| l.trim_start().strip_prefix("runtimes:  "));
    let (counts, names) = runtimes.and_then(|r| r.split_once(" installed: ")).expect(&banner);
    let (installed, of) = counts.split_once(" of ").expect(&banner);
    assert!(
        installed.parse::<usize>().unwrap() >= 1 && of.parse::<usize>().unwrap() >= 30,
        "{banner}"
    );
    assert!(names.split(", ").any(|n| n == "bash"), "{banner}");
    assert!(banner.contains("pools:     off (--no-warm-pools)"), "{banner}");
}

/// The exercises directory is read again when it changes: an exercise added, edited or removed
/// shows at the next request without a restart; a broken file keeps what was there.
#[tokio::test(flavor = "multi_thread")]
async fn exercises_added_changed_and_removed_take_effect_without_a_restart() {
    let exercises = tempfile::tempdir().unwrap();
    let exercise = |title: &str| {
        format!("title = \"{title}\"\nstatement = \"Print hi.\"\n[[tests]]\nexpected_output = \"hi\\n\"\n")
    };
    std::fs::write(exercises.path().join("one.toml"), exercise("One")).unwrap();
    let server = serve_with(&["--exercises-dir", exercises.path().to_str().unwrap()]).await;
    assert!(
        server.banner.iter().any(|l| l.contains("exercises: 1 from ")),
        "{:?}",
        server.banner
    );
    let titles = || async {
        let list: serde_json::Value = reqwest::get(format!("{}/api/v1/exercises", server.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut titles: Vec<String> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|e| format!("{}={}", e["id"].as_str().unwrap(), e["title"].as_str().unwrap()))
            .collect();
        titles.sort();
        titles
    };
    // Within a few polls (2 s each) of the change.
    let becomes = |want: &'static [&'static str]| {
        let titles = &titles;
        async move {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            loop {
                let now = titles().await;
                if now == want {
                    return;
                }
                assert!(std::time::Instant::now() < deadline, "still {now:?}, not {want:?}");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    };
    becomes(&["one=One"]).await;
    std::fs::write(exercises.path().join("two.toml"), exercise("Two")).unwrap();
    becomes(&["one=One", "two=Two"]).await;
    std::fs::write(exercises.path().join("one.toml"), exercise("One, edited")).unwrap();
    becomes(&["one=One, edited", "two=Two"]).await;
    std::fs::remove_file(exercises.path().join("two.toml")).unwrap();
    becomes(&["one=One, edited"]).await;
    // A mistake while serving: what was loaded stays; fixing it is read again.
    std::fs::write(exercises.path().join("one.toml"), "title = ").unwrap();
    std::fs::write(exercises.path().join("three.toml"), exercise("Three")).unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    assert_eq!(titles().await, ["one=One, edited"]);
    std::fs::write(exercises.path().join("one.toml"), exercise("One again")).unwrap();
    becomes(&["one=One again", "three=Three"]).await;
}

/// `--fork-servers 0` turns fork servers off on its own (the idle minimum follows it down); a
/// minimum above the maximum, given, is refused.
#[tokio::test(flavor = "multi_thread")]
async fn fork_servers_off_needs_no_other_flag() {
    let server = serve_with(&["--fork-servers", "0"]).await;
    drop(server);
    let out = serve_refused(&["--fork-servers", "2", "--fork-servers-min", "3"], &[]);
    assert_one_line_error(
        &out,
        "--fork-servers must be at most 64 and at least --fork-servers-min",
    );
    let out = serve_refused(&["--fork-servers", "0", "--fork-servers-min", "1"], &[]);
    assert_one_line_error(&out, "at least --fork-servers-min");
}

/// `tiderun run --json` prints the native API's answer: the same fields at every level as
/// `POST /api/v1/run` gives for the same program, and the same values but for the measurements.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs root: the full sandbox"]
async fn run_json_is_the_answer_of_the_native_api() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let source = "#include <stdio.h>\nint main(void){puts(\"out\");fputs(\"err\\n\", stderr);return 3;}";
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "main.c", source);
    let out = tiderun()
        .args(["run", "--json", "-l", "c"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let cli = json(&out);

    let server = serve().await;
    let api: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/api/v1/run", server.base))
        .body(serde_json::json!({"language": "c", "code": source}).to_string())
        .send()
        .await
        .expect("POST /api/v1/run")
        .json()
        .await
        .expect("a JSON answer");

    let (mut cli_fields, mut api_fields) = (Default::default(), Default::default());
    field_paths(&cli, "", &mut cli_fields);
    field_paths(&api, "", &mut api_fields);
    assert_eq!(cli_fields, api_fields, "cli: {cli}\napi: {api}");
    for field in ["status", "run.exit_code", "run.stdout", "run.stderr", "compile.status"] {
        assert!(cli_fields.contains(field), "{field}: {cli}");
    }
    assert_eq!(unmeasured(cli), unmeasured(api));
}

#[test]
fn the_sandbox_uid_base_is_checked() {
    let max = u32::MAX - sandbox::DEFAULT_SLOTS - 1;
    for value in ["0".to_string(), (u64::from(max) + 1).to_string(), "x".to_string()] {
        for via_env in [false, true] {
            let mut cmd = tiderun();
            if via_env {
                cmd.env("TIDERUN_SANDBOX_UID_BASE", &value);
            } else {
                cmd.args(["--sandbox-uid-base", &value]);
            }
            let out = cmd.arg("runtimes").output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{value}: {stderr}");
            assert!(
                stderr.contains(&format!("invalid value '{value}' for '--sandbox-uid-base")),
                "{stderr}"
            );
            assert!(!stderr.contains("panicked"), "{stderr}");
        }
    }
}

/// The uid map a program sees (`inside outside count`, `outside` in the host's user namespace)
/// follows `--sandbox-uid-base` and `TIDERUN_SANDBOX_UID_BASE`.
#[test]
#[ignore = "needs root: the full sandbox"]
fn runs_take_their_host_uids_from_the_sandbox_uid_base() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let program = write(dir.path(), "map.sh", "cat /proc/self/uid_map");
    for (base, via_env) in [(60_000u32, false), (123_456, true), (2_000_000_000, false)] {
        let mut cmd = tiderun();
        if via_env {
            cmd.env("TIDERUN_SANDBOX_UID_BASE", base.to_string());
        } else if base != 2_000_000_000 {
            cmd.args(["--sandbox-uid-base", &base.to_string()]);
        }
        let out = cmd.args(["run", "-l", "bash"]).arg(&program).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
        // `0 <init's id> 1` (the run's init, root inside) and `1000 <slot's id> 1` (the program).
        let lines: Vec<Vec<u64>> = stdout
            .lines()
            .map(|l| l.split_whitespace().map(|f| f.parse().unwrap()).collect())
            .collect();
        assert_eq!(lines.len(), 2, "{stdout}");
        assert_eq!(lines[0], [0, u64::from(base) - 1, 1], "base {base}: {stdout}");
        let slots = u64::from(sandbox::DEFAULT_SLOTS);
        assert_eq!((lines[1][0], lines[1][2]), (1000, 1), "{stdout}");
        assert!(
            (u64::from(base)..u64::from(base) + slots).contains(&lines[1][1]),
            "base {base}: {stdout}"
        );
    }
}

#[test]
fn serve_checks_the_node_settings() {
    for (args, needle) in [
        (vec!["--lease-s", "1"], "--lease-s must be between 2 and 600, not 1"),
        (vec!["--lease-s", "601"], "--lease-s must be between 2 and 600, not 601"),
        (
            vec!["--drain-timeout-s", "601"],
            "--drain-timeout-s must be at most 600, not 601",
        ),
        (
            vec!["--node-id", "a b"],
            "--node-id: a node id is letters, digits, '.', '-' and '_' only, not ' '",
        ),
        (
            vec!["--node-id", ""],
            "--node-id: a node id is 1 to 253 characters, not 0",
        ),
    ] {
        let out = tiderun()
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(args)
            .output()
            .unwrap();
        assert_one_line_error(&out, needle);
    }
    for (args, needle) in [
        (
            vec!["--workers", "4"],
            "--workers must be a multiple of 3 from 3 to 256",
        ),
        (vec!["--submissions", "0"], "--submissions must be 1 to 100000"),
        (vec!["--clients", "0"], "--clients must be 1 to 1024"),
    ] {
        let out = tiderun()
            .args(["bench", "nodes", "--database-url", "postgres://nobody@127.0.0.1:1/x"])
            .args(args)
            .output()
            .unwrap();
        assert_one_line_error(&out, needle);
    }
    let out = tiderun()
        .args(["bench", "nodes", "--database-url", "sqlite://x.db"])
        .output()
        .unwrap();
    assert_one_line_error(
        &out,
        "--database-url must be a postgres:// URL (several nodes share it)",
    );
}

/// Exit code 2 and the error on the last line of stderr, no panic (a server that got as far
/// as its sandbox may have warned before).
fn assert_fails_with(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let last = stderr.trim_end().lines().last().unwrap_or_default();
    assert!(last.contains(needle), "{needle:?} not in the last line {last:?}");
}

/// A `tiderun serve` child, killed when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_second_node_on_one_sqlite_file_and_an_unreachable_queue_stop_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut first = Child(
        tiderun()
            .args(["serve", "--no-warm-pools", "--addr"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(first.0.try_wait().unwrap().is_none(), "the first node exited");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the first node did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = tiderun()
        .args(["serve", "--no-warm-pools", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert_fails_with(
        &out,
        &format!(
            "another tiderun process (pid {}) serves this SQLite database",
            first.0.id()
        ),
    );
    assert_fails_with(&out, "SQLite serves one node: use Postgres for several");
    drop(first);
    // Nobody listens on port 1: the queue is refused at start-up, named without its password.
    let out = tiderun()
        .args(["serve", "--no-warm-pools", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .args(["--queue-url", "nats://user:secret@127.0.0.1:1"])
        .output()
        .unwrap();
    assert_fails_with(
        &out,
        "cannot set up the queue at nats://user:***@127.0.0.1:1: cannot connect to the NATS server",
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("secret"));
}

#[test]
#[ignore = "needs root: the full sandbox"]
fn bench_nodes_measures_every_scenario_without_errors() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let Ok(admin) = std::env::var("TIDERUN_TEST_POSTGRES_URL") else {
        testkit::skip("TIDERUN_TEST_POSTGRES_URL is not set (scripts/test-postgres starts a server)");
        return;
    };
    if !["/usr/sbin/nats-server", "/usr/bin/nats-server"]
        .iter()
        .any(|p| Path::new(p).exists())
    {
        testkit::skip("no nats-server (scripts/test-nats installs it)");
        return;
    }
    // A database of its own: the other tests' servers share the Postgres server.
    let name = format!("tiderun_bench_nodes_{}", std::process::id());
    let postgres = |sql: String| {
        use sqlx::{Connection, Executor};
        let admin = admin.clone();
        tokio::runtime::Runtime::new().unwrap().block_on(async move {
            let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
            conn.execute(sql.as_str()).await.unwrap();
        });
    };
    postgres(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    postgres(format!("CREATE DATABASE {name}"));
    let database = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    let out = tiderun()
        .args([
            "bench",
            "nodes",
            "--submissions",
            "6",
            "--clients",
            "2",
            "--workers",
            "3",
        ])
        .args(["--database-url", &database])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        column(&stdout, "scenario"),
        ["1 node, in-process queue", "1 node, JetStream", "3 nodes, JetStream"],
        "{stdout}"
    );
    assert_eq!(
        column(&stdout, "nodes × workers"),
        ["1 × 3", "1 × 3", "3 × 1"],
        "{stdout}"
    );
    assert_eq!(column(&stdout, "errors"), ["0", "0", "0"], "{stdout}");
    assert!(stdout.contains("nats-server: v"), "{stdout}");
    postgres(format!("DROP DATABASE {name} WITH (FORCE)"));
}
