//! The bare processes tiderun is compared with: the same hello world, started by the harness
//! with the host's toolchain (`/usr/bin/python3 hello.py`, `node hello.js`, a gcc-built
//! binary...), no sandbox, no server.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// The environment of a bare run besides HOME: what the sandbox gives a program.
const BARE_ENV: &[(&str, &str)] = &[("PATH", "/usr/local/bin:/usr/bin:/bin"), ("LANG", "C.UTF-8")];

/// How each compared language is run bare: the program, and the compiler that builds it first.
struct Recipe {
    language: &'static str,
    /// `{file}` is the source file, `{dir}` the directory it is in.
    compile: Option<&'static [&'static str]>,
    run: &'static [&'static str],
}

/// The languages of the sequential comparison, in report order.
const RECIPES: &[Recipe] = &[
    Recipe {
        language: "python",
        compile: None,
        run: &["/usr/bin/python3", "{file}"],
    },
    Recipe {
        language: "javascript",
        compile: None,
        run: &["/usr/bin/node", "{file}"],
    },
    Recipe {
        language: "c",
        compile: Some(&["/usr/bin/gcc", "-O2", "-o", "hello", "{file}"]),
        run: &["./hello"],
    },
    Recipe {
        language: "java",
        compile: Some(&["/usr/bin/javac", "{file}"]),
        run: &["/usr/bin/java", "-cp", "{dir}", "Main"],
    },
    Recipe {
        language: "bash",
        compile: None,
        run: &["/bin/bash", "{file}"],
    },
    Recipe {
        language: "perl",
        compile: None,
        run: &["/usr/bin/perl", "{file}"],
    },
];

/// The languages compared, in order.
pub fn languages() -> impl Iterator<Item = &'static str> {
    RECIPES.iter().map(|r| r.language)
}

/// A hello world ready to be started bare.
#[derive(Debug)]
pub struct Bare {
    argv: Vec<String>,
    dir: PathBuf,
    /// What it printed once, to compare tiderun's output with.
    pub expected: Vec<u8>,
}

impl Bare {
    /// Write `code` as `file` into `dir` (a directory of its own), build it if the language
    /// needs it. `None` when the host lacks the toolchain.
    pub fn prepare(language: &str, file: &str, code: &str, dir: &Path) -> anyhow::Result<Option<Bare>> {
        let Some(recipe) = RECIPES.iter().find(|r| r.language == language) else {
            return Ok(None);
        };
        let tools = recipe.compile.into_iter().flatten().chain(recipe.run).copied();
        if tools.filter(|t| t.starts_with('/')).any(|t| !Path::new(t).exists()) {
            return Ok(None);
        }
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join(file), code)?;
        let fill = |argv: &[&str]| -> Vec<String> {
            argv.iter()
                .map(|a| a.replace("{file}", file).replace("{dir}", &dir.display().to_string()))
                .collect()
        };
        if let Some(compile) = recipe.compile {
            let argv = fill(compile);
            let out = Command::new(&argv[0])
                .args(&argv[1..])
                .current_dir(dir)
                .output()
                .with_context(|| format!("cannot run {}", argv[0]))?;
            if !out.status.success() {
                bail!("{} failed: {}", argv.join(" "), String::from_utf8_lossy(&out.stderr));
            }
        }
        let mut bare = Bare {
            argv: fill(recipe.run),
            dir: dir.to_path_buf(),
            expected: Vec::new(),
        };
        bare.expected = bare.run_once()?.1;
        Ok(Some(bare))
    }

    /// Start it, wait for it: the time and what it printed. Its environment is as small as a
    /// sandboxed program's: the harness's own (`NODE_EXTRA_CA_CERTS` makes every Node start
    /// read the CA bundle, ~30 ms) would not be the bare interpreter's cost.
    pub fn run_once(&self) -> anyhow::Result<(Duration, Vec<u8>)> {
        let started = Instant::now();
        let out = Command::new(&self.argv[0])
            .args(&self.argv[1..])
            .env_clear()
            .envs(BARE_ENV.iter().copied())
            .env("HOME", &self.dir)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {}", self.argv[0]))?;
        let took = started.elapsed();
        if !out.status.success() {
            bail!("bare {} exited with {}", self.argv.join(" "), out.status);
        }
        Ok((took, out.stdout))
    }

    /// The command line, for the report.
    pub fn command(&self) -> String {
        self.argv
            .iter()
            .map(|a| a.replace(&self.dir.display().to_string(), "DIR"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}
