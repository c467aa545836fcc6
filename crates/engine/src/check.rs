//! The one check before admission: everything running a job would refuse for the caller's
//! reasons, refused before the job takes a run slot — by every API and the command line alike,
//! so a bad request gets the same answer whether the node is idle or full.
//!
//! A [`Checked`] job is the only kind the engine runs: the [`crate::Runner`] admits nothing
//! else, and the engine's own `prepare`/`execute*` take one. So a new entry point cannot forget
//! the check, and what it resolved (the runtime, the files, the commands, the limits) is used as
//! is, never worked out a second time.

use runtimes::{Catalog, LimitSet, Plan, Runtime};
use sandbox::InputFile;

use crate::{EngineError, Job, Phase, RequestLimits, SourceFile, MAX_ARGS, MAX_FILES};

/// A job the engine has checked: its runtime resolved (name, alias or Judge0's name; semver
/// selector), its files named, its commands planned, and its limits filled from the runtime's
/// defaults and checked against its maxima, the sandbox's minima and the request's wall time.
/// Made by [`crate::Engine::check`] (or [`Checked::new`], for a catalog without an engine).
#[derive(Debug, Clone)]
pub struct Checked {
    /// The language as the job named it (an alias, say), for metrics.
    language: String,
    pub(crate) runtime: Runtime,
    pub(crate) files: Vec<InputFile>,
    pub(crate) plan: Plan,
    pub(crate) compile_args: Vec<String>,
    pub(crate) run: LimitSet,
    pub(crate) compile: LimitSet,
    pub(crate) stack_bytes: u64,
    /// Applies when the run is interactive (its stdin a pipe).
    pub(crate) input_wait_ms: u64,
    pub(crate) images: bool,
    pub(crate) output_share: Option<u64>,
}

impl Checked {
    /// Check `job` against `catalog` and a request's limits `request`. Refuses, naming what is
    /// wrong: an unknown language or version; a limit past the runtime's maximum or below what
    /// can start (run and compile; the run's stack); a run wall time longer than a whole
    /// request may take; more than [`MAX_ARGS`] program or compiler arguments; compiler
    /// arguments for a language that is not compiled; no file, more than [`MAX_FILES`], or a
    /// file name that is not a plain relative path; an argument the program cannot be given.
    pub fn new(job: Job, catalog: &Catalog, request: RequestLimits) -> Result<Checked, EngineError> {
        let runtime = catalog.resolve(&job.language, job.version.as_deref())?;
        let limits = runtime.limits();
        let run = job.limits.run.resolve(&limits.run, Phase::Run)?;
        request.check_run_wall(job.limits.run.wall_ms)?;
        let compile = job.limits.compile.resolve(&limits.compile, Phase::Compile)?;
        let stack_bytes = job.limits.stack_bytes(run.memory_mib)?;
        let input_wait_ms = job.limits.input_wait_ms()?;
        if job.args.len() > MAX_ARGS || job.compile_args.len() > MAX_ARGS {
            return Err(EngineError::BadRequest(format!("more than {MAX_ARGS} arguments")));
        }
        if !job.compile_args.is_empty() && !runtime.compiled() {
            return Err(EngineError::BadRequest(format!(
                "{} is not compiled: compiler options do not apply",
                runtime.name
            )));
        }
        let files = input_files(runtime, job.files)?;
        let names: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        let plan = runtime.plan_files(&names, &job.args)?;
        Ok(Checked {
            language: job.language,
            runtime: runtime.clone(),
            files,
            plan,
            compile_args: job.compile_args,
            run,
            compile,
            stack_bytes,
            input_wait_ms,
            images: job.images,
            output_share: job.output_share,
        })
    }

    /// The language as the job named it (`py`), for metrics labels.
    pub fn language(&self) -> &str {
        &self.language
    }

    /// The runtime it resolved to.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Its files, named: the first is the main one.
    pub fn files(&self) -> &[InputFile] {
        &self.files
    }

    /// Its extra compiler arguments (Judge0's `compiler_options`).
    pub fn compile_args(&self) -> &[String] {
        &self.compile_args
    }
}

/// Name the job's files: the first is the main one (the runtime's default name unless the
/// job named it), unnamed others become `file1`, `file2`...
fn input_files(runtime: &Runtime, files: Vec<SourceFile>) -> Result<Vec<InputFile>, EngineError> {
    if files.is_empty() {
        return Err(EngineError::BadRequest("no source file given".into()));
    }
    if files.len() > MAX_FILES {
        return Err(EngineError::BadRequest(format!(
            "{} files is more than the limit of {MAX_FILES}",
            files.len()
        )));
    }
    files
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            let path = match (f.name, i) {
                (Some(name), _) => name,
                (None, 0) => runtime.file.clone(),
                (None, i) => format!("file{i}"),
            };
            sandbox::validate_relative(&path).map_err(|e| EngineError::BadRequest(e.to_string()))?;
            Ok(InputFile {
                path,
                content: f.content,
                executable: false,
                read_only: false,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Bound, Limit, LimitRequest, PhaseRequest};

    /// Two runtimes every Linux box has: one interpreted, one compiled.
    fn catalog() -> Catalog {
        let script = r#"
name = "script"
display_name = "Script"
aliases = ["sc"]
file = "main.sh"
run = ["/bin/sh", "{file}"]
detect = ["/bin/sh", "-c", "echo 'script 1.0.0'"]
[example]
hello = "echo hi"
echo = "cat"
runtime_error = "exit 1"
"#;
        let compiled = r#"
name = "compiled"
display_name = "Compiled"
file = "main.sh"
compile = ["/bin/sh", "-n", "{file}"]
run = ["/bin/sh", "{file}"]
detect = ["/bin/sh", "-c", "echo 'compiled 2.0.0'"]
[example]
hello = "echo hi"
echo = "cat"
runtime_error = "exit 1"
compile_error = "if"
"#;
        let sources = r#"
name = "sources"
display_name = "Several sources"
file = "main.sh"
compile = ["/bin/sh", "-n", "{sources}"]
sources = ["*.sh"]
run = ["/bin/sh", "{file}"]
detect = ["/bin/sh", "-c", "echo 'sources 3.0.0'"]
[example]
hello = "echo hi"
echo = "cat"
runtime_error = "exit 1"
compile_error = "if"
"#;
        let mut c = Catalog::from_files([
            ("script.toml", script),
            ("compiled.toml", compiled),
            ("sources.toml", sources),
        ])
        .expect("catalog");
        c.detect();
        c
    }

    fn job(language: &str) -> Job {
        Job {
            language: language.into(),
            files: vec![SourceFile {
                name: None,
                content: b"echo hi".to_vec(),
            }],
            ..Job::default()
        }
    }

    fn check(job: Job) -> Result<Checked, EngineError> {
        Checked::new(job, &catalog(), RequestLimits::default())
    }

    #[test]
    fn a_good_job_is_resolved_once_with_its_defaults() {
        let c = catalog();
        let checked = Checked::new(job("sc"), &c, RequestLimits::default()).expect("checked");
        let runtime = c.resolve("script", None).unwrap();
        assert_eq!(checked.language(), "sc", "as asked, for metrics");
        assert_eq!(checked.runtime().name, "script");
        assert_eq!(checked.run, runtime.limits().run.defaults);
        assert_eq!(checked.compile, runtime.limits().compile.defaults);
        assert_eq!(checked.files[0].path, "main.sh");
        assert!(checked.plan.compile.is_none());
        assert_eq!(checked.stack_bytes, crate::default_stack(checked.run.memory_mib));
    }

    #[test]
    fn every_limit_is_refused_by_name_and_bound() {
        let limited = |limits: LimitRequest| {
            let mut j = job("compiled");
            j.limits = limits;
            check(j).expect_err("refused")
        };
        let run = |run: PhaseRequest| {
            limited(LimitRequest {
                run,
                ..LimitRequest::default()
            })
        };
        let compile = |compile: PhaseRequest| {
            limited(LimitRequest {
                compile,
                ..LimitRequest::default()
            })
        };
        let cases = [
            (
                run(PhaseRequest {
                    memory_mib: Some(1 << 20),
                    ..PhaseRequest::default()
                }),
                Limit::MemoryMb(Phase::Run),
                false,
            ),
            (
                run(PhaseRequest {
                    cpu_ms: Some(0),
                    ..PhaseRequest::default()
                }),
                Limit::CpuMs(Phase::Run),
                true,
            ),
            (
                compile(PhaseRequest {
                    wall_ms: Some(1 << 40),
                    ..PhaseRequest::default()
                }),
                Limit::WallMs(Phase::Compile),
                false,
            ),
            (
                compile(PhaseRequest {
                    max_processes: Some(0),
                    ..PhaseRequest::default()
                }),
                Limit::MaxProcesses(Phase::Compile),
                true,
            ),
            (
                limited(LimitRequest {
                    stack_bytes: Some(1),
                    ..LimitRequest::default()
                }),
                Limit::StackBytes,
                true,
            ),
        ];
        for (e, want, min) in cases {
            match e {
                EngineError::Limit { limit, bound, .. } => {
                    assert_eq!((limit, bound.is_min()), (want, min), "{limit:?} {bound:?}");
                }
                other => panic!("{want:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_run_longer_than_a_request_is_refused() {
        let request =
            RequestLimits::new(crate::DEFAULT_REQUEST_OUTPUT_BYTES, std::time::Duration::from_secs(2)).expect("limits");
        let mut j = job("script");
        j.limits.run.wall_ms = Some(2500);
        let e = Checked::new(j.clone(), &catalog(), request).expect_err("refused");
        assert!(
            matches!(
                e,
                EngineError::Limit {
                    limit: Limit::WallMs(Phase::Run),
                    value: 2500,
                    bound: Bound::RequestWall(2000),
                }
            ),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "wall_ms = 2500 is more than this server lets one request run (2000 ms for its compile and runs together)"
        );
        j.limits.run.wall_ms = Some(2000);
        assert!(Checked::new(j, &catalog(), request).is_ok());
    }

    #[test]
    fn what_prepare_used_to_refuse_is_refused_before() {
        let unknown = check(job("no-such-language")).expect_err("unknown");
        assert!(matches!(unknown, EngineError::Resolve(_)), "{unknown:?}");
        let mut j = job("script");
        j.args = vec!["a".into(); MAX_ARGS + 1];
        assert!(check(j).unwrap_err().to_string().contains("arguments"));
        let mut j = job("compiled");
        j.compile_args = vec!["-x".into(); MAX_ARGS + 1];
        assert!(check(j).unwrap_err().to_string().contains("arguments"));
        let mut j = job("script");
        j.compile_args = vec!["-O2".into()];
        assert_eq!(
            check(j).unwrap_err().to_string(),
            "script is not compiled: compiler options do not apply"
        );
        let mut j = job("compiled");
        j.compile_args = vec!["-O2".into()];
        assert!(check(j).is_ok(), "a compiled language takes compiler options");
        let mut j = job("script");
        j.files.clear();
        assert_eq!(check(j).unwrap_err().to_string(), "no source file given");
        let mut j = job("script");
        j.files = vec![j.files[0].clone(); MAX_FILES + 1];
        assert!(check(j).unwrap_err().to_string().contains("more than the limit"));
        let mut j = job("script");
        j.files[0].name = Some("../escape.sh".into());
        assert!(matches!(check(j), Err(EngineError::BadRequest(_))));
        let mut j = job("script");
        j.args = vec!["nul\0".into()];
        assert!(matches!(check(j), Err(EngineError::Plan(_))));
    }

    #[test]
    fn every_source_file_is_compiled_and_none_is_an_option() {
        let mut j = job("sources");
        for name in ["lib.sh", "-o.sh", "@opts.sh", "-o", "util.h", "sub/more.sh"] {
            j.files.push(SourceFile {
                name: Some(name.into()),
                content: b"true".to_vec(),
            });
        }
        let checked = check(j).expect("checked");
        let compile = checked.plan.compile.as_ref().expect("compiled");
        assert_eq!(
            compile.argv,
            [
                "/bin/sh",
                "-n",
                "main.sh",
                "lib.sh",
                "./-o.sh",
                "./@opts.sh",
                "sub/more.sh"
            ]
        );
        assert_eq!(checked.plan.run.argv, ["/bin/sh", "main.sh"]);
        assert_eq!(checked.files.len(), 7, "every file is written, passed or not");
        // A main file that would be read as an option or a response file is refused.
        for main in ["-o.sh", "@opts.sh"] {
            let mut j = job("sources");
            j.files[0].name = Some(main.into());
            assert!(matches!(check(j), Err(EngineError::Plan(_))), "{main}");
        }
    }
}
