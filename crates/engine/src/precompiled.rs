//! Precompiled headers: for each installed runtime whose file has a `[precompiled]` table
//! (C++), its headers are built once per toolchain identity into a directory of its own,
//! `<dir>/<runtime>`, which every compile of that runtime gets bound read-only; a compile whose
//! program allows it (`Runtime::precompiled_header_for`: one source file, the runtime's main
//! file, whose first line includes a built header) gets the table's `use` flags after the
//! compiler's name. Everything else compiles as without it.
//!
//! Owns: the directories (root's, mode 0755, files 0644, written by the server only: a
//! sandbox binds them read-only and the compiler runs as an unprivileged uid) and GCC's layout
//! in them (`NAME.gch`, and beside it `NAME`, which a second `#include <NAME>` reads: see
//! [`next_of`]), the identity of
//! what is in them (the runtime's name, version, binds, compile command and environment, the
//! build and use commands, and the compiler executables' device, inode, size and modification
//! time) and the stamp that records it, the build of each header in a sandbox of its own (the
//! compiler is third-party code reading the machine: it sees what a compile sees) and a probe
//! compile of each with the runtime's own command and flags, which must say nothing (the
//! table's `-Winvalid-pch` makes a header built for other options a warning), the worker thread
//! that builds at start-up and again when the identity changes, and the counts for metrics.
//!
//! Must never: give a compile the flags for a header that is not built and probed for the
//! identity the toolchain has now (it is checked at each compile: a stat of the compiler; a
//! change starts a rebuild, and compiles go without until it is done), or when the request
//! brings its own compiler arguments (a header is only valid for the options it was built
//! with); let a sandbox write the directory; follow a symlink in it.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use runtimes::Runtime;
use sandbox::{Collect, InputFile, RunIo, RunSpec, Sandbox, Status};
use sha2::{Digest, Sha256};

/// CPU time of one header's build: `<bits/stdc++.h>` took 3.3 s here; ten times that covers a
/// loaded node, and a build that takes longer is not worth having.
const BUILD_CPU_MS: u64 = 60_000;
/// Wall time of one header's build (twice its CPU time: a loaded node at start-up).
const BUILD_WALL_MS: u64 = 120_000;
/// Memory of one header's build: cc1plus peaked at 323 MB for `<bits/stdc++.h>`, and the
/// output in the sandbox's tmpfs is charged to it as well.
const BUILD_MEMORY_MIB: u64 = 2048;
/// The largest precompiled header kept (its file, the build's tmpfs, what is read back):
/// `<bits/stdc++.h>` is ~100 MB with GCC 12.
pub const MAX_PRECOMPILED_BYTES: u64 = 512 << 20;
/// Processes and threads of a build: the driver, cc1plus, as.
const BUILD_MAX_PROCESSES: u64 = 64;
/// Open files of a build.
const BUILD_MAX_OPEN_FILES: u64 = 256;
/// Inodes of a build's tmpfs: the header's file and its output.
const BUILD_TMPFS_INODES: u64 = 256;
/// The file in a runtime's directory that says for which identity its headers were built.
const STAMP: &str = ".tiderun-precompiled";
/// Version of the identity; bump it when its fields change.
const IDENTITY_DOMAIN: &[u8] = b"tiderun-precompiled-v1";

/// A digest naming what a runtime's headers were built for.
type Identity = [u8; 32];

/// Where precompiled headers live; `None`: none are built or used.
#[derive(Debug, Clone, Default)]
pub struct PrecompiledConfig {
    /// An absolute directory the sandbox can bind (see `sandbox::check_bind`), made when it
    /// does not exist; each runtime's headers go into `<dir>/<runtime>`.
    pub dir: Option<PathBuf>,
}

/// One runtime's precompiled headers, for metrics and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrecompiledStats {
    pub runtime: String,
    /// Headers its file lists.
    pub headers: usize,
    /// Headers built, probed and used now.
    pub ready: usize,
    /// A build is waiting or running (at start-up, or after the toolchain changed).
    pub building: bool,
    /// Builds done (a build reusing what a previous start left counts too).
    pub builds: u64,
    /// Compiles that used one of its headers.
    pub compiles: u64,
    /// The directory bound into its compiles.
    pub dir: PathBuf,
}

/// The precompiled headers of an engine: one [`Entry`] per runtime that has them, and the
/// worker that builds them.
#[derive(Debug, Default)]
pub(crate) struct Precompiled {
    entries: HashMap<String, Arc<Entry>>,
    /// Rebuild requests for the worker; `None` without a worker. Dropped with the engine,
    /// which ends the worker after its current build.
    rebuild: Option<Mutex<mpsc::Sender<Arc<Entry>>>>,
}

impl Precompiled {
    /// Set up the directories of every installed runtime with a `[precompiled]` table and
    /// start the worker that builds what is not built for the toolchain yet. Without root
    /// nothing is set up: the directories could not be root's, and the program's uid would
    /// be the one that owns them.
    pub(crate) fn start<'a>(
        config: &PrecompiledConfig,
        runtimes: impl Iterator<Item = &'a Runtime>,
        sandbox: &Arc<Sandbox>,
    ) -> Precompiled {
        let Some(root) = &config.dir else {
            return Precompiled::default();
        };
        if !sandbox.capabilities().privileged {
            tracing::info!("precompiled headers need root; compiles parse every header");
            return Precompiled::default();
        }
        if let Err(e) = make_dir(root) {
            tracing::warn!(dir = %root.display(), error = %e, "no precompiled headers");
            return Precompiled::default();
        }
        let mut entries = HashMap::new();
        for runtime in runtimes.filter(|r| r.installed && !r.precompiled_headers().is_empty()) {
            match Entry::new(runtime, root) {
                Ok(entry) => {
                    entries.insert(runtime.name.clone(), Arc::new(entry));
                }
                Err(e) => tracing::warn!(runtime = %runtime.name, error = %e, "no precompiled headers"),
            }
        }
        if entries.is_empty() {
            return Precompiled::default();
        }
        let (tx, rx) = mpsc::channel::<Arc<Entry>>();
        let worker_sandbox = Arc::clone(sandbox);
        let spawned = std::thread::Builder::new()
            .name("precompile".to_owned())
            .spawn(move || {
                for entry in rx {
                    entry.refresh(
                        |header| build(&worker_sandbox, &entry, header),
                        |header| probe(&worker_sandbox, &entry, header),
                    );
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no precompiled headers: cannot start their worker");
            return Precompiled::default();
        }
        for entry in entries.values() {
            entry.set_building();
            let _ = tx.send(Arc::clone(entry));
        }
        Precompiled {
            entries,
            rebuild: Some(Mutex::new(tx)),
        }
    }

    /// The directory every compile of `runtime` binds (whether it uses a header or not, so
    /// one warm compile sandbox serves both).
    pub(crate) fn bind(&self, runtime: &str) -> Option<&Path> {
        self.entries.get(runtime).map(|e| e.dir.as_path())
    }

    /// The flags a compile of `files` gets, after the compiler's name, and the entry to count
    /// its use on; `None`: compile without. `compile_args` are the request's own compiler
    /// arguments: with any, a header built for the runtime's options may not be valid.
    pub(crate) fn flags_for(
        &self,
        runtime: &Runtime,
        files: &[InputFile],
        compile_args: &[String],
    ) -> Option<(&Arc<Entry>, &[String])> {
        let entry = self.entries.get(&runtime.name)?;
        if !compile_args.is_empty() {
            return None;
        }
        let main = files.first()?;
        let names: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        let header = runtime.precompiled_header_for(&names, &main.content)?;
        match entry.usable(header) {
            Usable::Yes => Some((entry, &entry.flags)),
            Usable::No => None,
            Usable::Stale => {
                tracing::warn!(runtime = %runtime.name, "the toolchain changed: precompiled headers are built again");
                if let Some(tx) = &self.rebuild {
                    let _ = tx.lock().unwrap_or_else(|p| p.into_inner()).send(Arc::clone(entry));
                }
                None
            }
        }
    }

    pub(crate) fn stats(&self) -> Vec<PrecompiledStats> {
        let mut all: Vec<PrecompiledStats> = self.entries.values().map(|e| e.stats()).collect();
        all.sort_by(|a, b| a.runtime.cmp(&b.runtime));
        all
    }

    /// Wait until no build is waiting or running, at most `timeout`; true when none is.
    pub(crate) fn wait_built(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        self.entries.values().all(|e| e.wait_built(deadline))
    }
}

/// Whether a compile may use a header now.
#[derive(Debug, PartialEq, Eq)]
enum Usable {
    Yes,
    /// Not built (yet), not probed, or being rebuilt.
    No,
    /// Built for another identity than the toolchain has now: marked for a rebuild.
    Stale,
}

/// One runtime's headers.
#[derive(Debug)]
pub(crate) struct Entry {
    runtime: Runtime,
    dir: PathBuf,
    /// The `use` flags, rendered for `dir`.
    flags: Vec<String>,
    identity: Fingerprint,
    state: Mutex<State>,
    built: Condvar,
    builds: AtomicU64,
    compiles: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    /// What the ready headers were built for.
    identity: Option<Identity>,
    ready: Vec<String>,
    building: bool,
}

impl Entry {
    /// `<root>/<runtime>`, made (root's, 0755) if needed, a path a sandbox can bind.
    fn new(runtime: &Runtime, root: &Path) -> Result<Entry, String> {
        if runtime.name.starts_with('.') {
            return Err(format!(
                "a runtime named {:?} has no directory of its own",
                runtime.name
            ));
        }
        let dir = root.join(&runtime.name);
        sandbox::check_bind(&dir).map_err(|e| e.to_string())?;
        make_dir(&dir)?;
        let dir_text = dir.to_str().ok_or("the directory is not UTF-8")?;
        let flags = runtime.precompiled_flags(dir_text).map_err(|e| e.to_string())?;
        let identity = Fingerprint::new(runtime, &flags).map_err(|e| e.to_string())?;
        Ok(Entry::with(runtime.clone(), dir, flags, identity))
    }

    fn with(runtime: Runtime, dir: PathBuf, flags: Vec<String>, identity: Fingerprint) -> Entry {
        Entry {
            runtime,
            dir,
            flags,
            identity,
            state: Mutex::new(State::default()),
            built: Condvar::new(),
            builds: AtomicU64::new(0),
            compiles: AtomicU64::new(0),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_building(&self) {
        self.state().building = true;
    }

    /// A compile used one of the headers.
    pub(crate) fn count_compile(&self) {
        self.compiles.fetch_add(1, Ordering::Relaxed);
    }

    fn usable(&self, header: &str) -> Usable {
        let built_for = {
            let state = self.state();
            if state.building || !state.ready.iter().any(|h| h == header) {
                return Usable::No;
            }
            state.identity
        };
        if self.identity.now() == built_for {
            return Usable::Yes;
        }
        let mut state = self.state();
        if state.building {
            return Usable::No;
        }
        state.building = true;
        state.ready.clear();
        Usable::Stale
    }

    /// Make the headers what the toolchain needs now: what a previous build left, when its
    /// stamp names this identity and its files are all there; else build each header with
    /// `build` (its bytes, or why not) and keep those `probe` passes. No compile uses any of
    /// them meanwhile.
    fn refresh(
        &self,
        mut build: impl FnMut(&str) -> Result<Vec<u8>, String>,
        mut probe: impl FnMut(&str) -> Result<(), String>,
    ) {
        let started = Instant::now();
        {
            let mut state = self.state();
            state.building = true;
            state.ready.clear();
        }
        let runtime = &self.runtime.name;
        let done = |identity: Option<Identity>, ready: Vec<String>| {
            let mut state = self.state();
            state.identity = identity;
            state.ready = ready;
            state.building = false;
            self.builds.fetch_add(1, Ordering::Relaxed);
            self.built.notify_all();
        };
        let Some(identity) = self.identity.now() else {
            tracing::warn!(%runtime, "no precompiled headers: the compiler cannot be found");
            return done(None, Vec::new());
        };
        if let Some(ready) = read_stamp(&self.dir, &identity) {
            tracing::info!(%runtime, headers = ?ready, "precompiled headers: the built ones are kept");
            return done(Some(identity), ready);
        }
        if let Err(e) = clear_dir(&self.dir) {
            tracing::warn!(%runtime, dir = %self.dir.display(), error = %e, "no precompiled headers");
            return done(None, Vec::new());
        }
        let mut written = Vec::new();
        for header in self.runtime.precompiled_headers() {
            let made = build(header)
                .and_then(|bytes| write_file(&self.dir, &format!("{header}.gch"), &bytes))
                .and_then(|size| write_file(&self.dir, header, next_of(header).as_bytes()).map(|_| size));
            match made {
                Ok(size) => written.push((header.clone(), size)),
                Err(e) => tracing::warn!(%runtime, %header, error = %e, "header not precompiled"),
            }
        }
        let mut ready = Vec::new();
        for (header, size) in written {
            match probe(&header) {
                Ok(()) => ready.push((header, size)),
                Err(e) => {
                    tracing::warn!(%runtime, %header, error = %e, "precompiled header not used: its probe compile failed");
                    let _ = std::fs::remove_file(self.dir.join(format!("{header}.gch")));
                    let _ = std::fs::remove_file(self.dir.join(&header));
                }
            }
        }
        if let Err(e) = write_stamp(&self.dir, &identity, &ready) {
            tracing::warn!(%runtime, error = %e, "precompiled headers will be built again at the next start");
        }
        let names: Vec<String> = ready.into_iter().map(|(h, _)| h).collect();
        tracing::info!(%runtime, headers = ?names, took_ms = started.elapsed().as_millis() as u64, "precompiled headers built");
        done(Some(identity), names)
    }

    fn stats(&self) -> PrecompiledStats {
        let state = self.state();
        PrecompiledStats {
            runtime: self.runtime.name.clone(),
            headers: self.runtime.precompiled_headers().len(),
            ready: state.ready.len(),
            building: state.building,
            builds: self.builds.load(Ordering::Relaxed),
            compiles: self.compiles.load(Ordering::Relaxed),
            dir: self.dir.clone(),
        }
    }

    fn wait_built(&self, deadline: Instant) -> bool {
        let mut state = self.state();
        while state.building {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self
                .built
                .wait_timeout(state, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }
}

/// The text of `<dir>/NAME`, beside `NAME.gch`. GCC takes a precompiled header for the first
/// `#include <NAME>` as if it were the file `<dir>/NAME`; a second `#include <NAME>` finds that
/// file again and reads it ("No such file or directory" without one). This one includes the
/// header found after `<dir>` on the include path, the real one, whose include guard makes it
/// nothing, as a second include is without precompiled headers (`<bits/stdc++.h>`, which has
/// no guard, is read again either way: every header it includes has one).
fn next_of(header: &str) -> String {
    format!("#include_next <{header}>\n")
}

/// Build one header in a sandbox of its own: the runtime's binds, no network, the build
/// limits above, the header's file in its work dir; its bytes are the one `.gch` it leaves.
fn build(sandbox: &Sandbox, entry: &Entry, header: &str) -> Result<Vec<u8>, String> {
    let runtime = &entry.runtime;
    let plan = runtime
        .precompile(header)
        .map_err(|e| e.to_string())?
        .ok_or("not in the runtime's table")?;
    let mut spec = RunSpec::new(plan.command.argv);
    spec.env = plan.command.env;
    spec.binds = runtime.binds.clone();
    spec.network = false;
    spec.files = vec![InputFile {
        path: plan.file,
        content: plan.content,
        executable: false,
        read_only: false,
    }];
    spec.limits = sandbox::Limits {
        cpu_ms: BUILD_CPU_MS,
        wall_ms: BUILD_WALL_MS,
        memory_bytes: BUILD_MEMORY_MIB << 20,
        max_processes: BUILD_MAX_PROCESSES,
        max_output_bytes: runtime.limits().compile.defaults.max_output_bytes,
        max_file_size_bytes: MAX_PRECOMPILED_BYTES,
        max_open_files: BUILD_MAX_OPEN_FILES,
        tmpfs_bytes: MAX_PRECOMPILED_BYTES,
        tmpfs_inodes: BUILD_TMPFS_INODES,
        stack_bytes: crate::default_stack(BUILD_MEMORY_MIB),
        input_wait_ms: None,
    };
    spec.collect = Some(Collect {
        max_files: 1,
        max_total_bytes: MAX_PRECOMPILED_BYTES,
        suffixes: &[".gch"],
        max_skipped: 1,
    });
    let result = sandbox.run(&spec, RunIo::default()).map_err(|e| e.to_string())?;
    if result.status != Status::Ok {
        return Err(format!(
            "the build ended {}: {}",
            result.status.as_str(),
            first_line(&result.stderr).or(result.message.as_deref()).unwrap_or("")
        ));
    }
    match result.files.into_iter().next() {
        Some(f) if f.skipped.is_none() => Ok(f.content),
        Some(f) => Err(format!(
            "its output is {} bytes, more than {MAX_PRECOMPILED_BYTES}",
            f.size
        )),
        None => Err("the build left no .gch file in its work dir".to_owned()),
    }
}

/// Compile `#include <HEADER>` and the runtime's hello world with the runtime's own compile
/// command, its default limits and the header's flags, as a program would: it must succeed and
/// say nothing (a header that does not fit the compile's options is a `-Winvalid-pch` warning).
fn probe(sandbox: &Sandbox, entry: &Entry, header: &str) -> Result<(), String> {
    let runtime = &entry.runtime;
    let plan = runtime.plan(&runtime.file, &[]).map_err(|e| e.to_string())?;
    let compile = plan.compile.ok_or("the runtime has no compile step")?;
    let source = format!("#include <{header}>\n{}", runtime.example.hello);
    let names = [runtime.file.as_str()];
    if runtime.precompiled_header_for(&names, source.as_bytes()) != Some(header) {
        return Err("the probe would not use it".to_owned());
    }
    let mut argv = compile.argv;
    argv.splice(1..1, entry.flags.iter().cloned());
    let limits = runtime.limits().compile.defaults;
    let mut spec = crate::spec_for(
        runtime,
        &argv,
        &compile.env,
        &limits,
        crate::default_stack(limits.memory_mib),
    );
    spec.binds.push(entry.dir.clone());
    spec.files = vec![InputFile {
        path: runtime.file.clone(),
        content: source.into_bytes(),
        executable: false,
        read_only: false,
    }];
    let result = sandbox.run(&spec, RunIo::default()).map_err(|e| e.to_string())?;
    if result.status != Status::Ok || !result.stdout.is_empty() || !result.stderr.is_empty() {
        return Err(format!(
            "{}: {}",
            result.status.as_str(),
            first_line(&result.stderr).or(result.message.as_deref()).unwrap_or("")
        ));
    }
    Ok(())
}

fn first_line(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes)
        .ok()?
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
}

/// What a runtime's headers depend on: a digest of its data, taken once, and the compiler
/// executables, looked at again each time.
#[derive(Debug, Clone)]
struct Fingerprint {
    data: Identity,
    programs: Vec<PathBuf>,
}

impl Fingerprint {
    fn new(runtime: &Runtime, flags: &[String]) -> Result<Fingerprint, runtimes::PlanError> {
        let mut h = Sha256::new();
        let mut field = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        field(IDENTITY_DOMAIN);
        field(runtime.name.as_bytes());
        field(runtime.version.as_deref().unwrap_or("").as_bytes());
        for bind in &runtime.binds {
            field(bind.as_os_str().as_encoded_bytes());
        }
        let mut programs = Vec::new();
        let plan = runtime.plan(&runtime.file, &[])?;
        let mut commands = Vec::new();
        if let Some(compile) = plan.compile {
            commands.push(compile);
        }
        for header in runtime.precompiled_headers() {
            field(header.as_bytes());
            if let Some(p) = runtime.precompile(header)? {
                field(&p.content);
                commands.push(p.command);
            }
        }
        for command in commands {
            field(b"command");
            for arg in &command.argv {
                field(arg.as_bytes());
            }
            for (name, value) in &command.env {
                field(name.as_bytes());
                field(value.as_bytes());
            }
            let program = PathBuf::from(&command.argv[0]);
            if !programs.contains(&program) {
                programs.push(program);
            }
        }
        field(b"use");
        for flag in flags {
            field(flag.as_bytes());
        }
        Ok(Fingerprint {
            data: h.finalize().into(),
            programs,
        })
    }

    /// The identity now: the data and each compiler's device, inode, size and modification
    /// time (an upgrade replaces the file). `None` when a compiler cannot be looked at.
    fn now(&self) -> Option<Identity> {
        let mut h = Sha256::new();
        h.update(self.data);
        for program in &self.programs {
            let m = std::fs::metadata(program).ok()?;
            for n in [m.dev(), m.ino(), m.size(), m.mtime() as u64, m.mtime_nsec() as u64] {
                h.update(n.to_le_bytes());
            }
        }
        Some(h.finalize().into())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The headers a stamp in `dir` lists as built for `identity`, when each is there with the
/// size the stamp says; `None` when there is no stamp, it names another identity, or a file
/// is missing or changed size.
fn read_stamp(dir: &Path, identity: &Identity) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(dir.join(STAMP)).ok()?;
    let mut lines = text.lines();
    if lines.next()? != format!("identity {}", hex(identity)) {
        return None;
    }
    let mut ready = Vec::new();
    for line in lines {
        let (header, size) = line.strip_prefix("header ")?.rsplit_once(' ')?;
        let size: u64 = size.parse().ok()?;
        let m = std::fs::symlink_metadata(dir.join(format!("{header}.gch"))).ok()?;
        if !m.is_file() || m.len() != size {
            return None;
        }
        let next = std::fs::symlink_metadata(dir.join(header)).ok()?;
        if !next.is_file() || std::fs::read(dir.join(header)).ok()? != next_of(header).as_bytes() {
            return None;
        }
        ready.push(header.to_owned());
    }
    Some(ready)
}

fn write_stamp(dir: &Path, identity: &Identity, ready: &[(String, u64)]) -> Result<u64, String> {
    let mut text = format!("identity {}\n", hex(identity));
    for (header, size) in ready {
        let _ = writeln!(text, "header {header} {size}");
    }
    write_file(dir, STAMP, text.as_bytes())
}

/// Write `dir/name` (making its parent directories, 0755) as a new file of mode 0644 renamed
/// into place, so a compile never sees half of it (`create_new`: never through a symlink).
/// Returns its size.
fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<u64, String> {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        make_dir(parent)?;
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&tmp)
        .and_then(|mut f| f.write_all(bytes))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("cannot write {}: {e}", path.display()));
    }
    Ok(bytes.len() as u64)
}

/// Make `dir` and its missing parents; `dir` itself must be a directory (not a symlink) of
/// this process's user, and is made mode 0755 (nobody else may write it).
pub(crate) fn make_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
    let m = std::fs::symlink_metadata(dir).map_err(|e| format!("cannot look at {}: {e}", dir.display()))?;
    if !m.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    if m.uid() != rustix::process::geteuid().as_raw() {
        return Err(format!(
            "{} belongs to uid {}, not to this server",
            dir.display(),
            m.uid()
        ));
    }
    if m.mode() & 0o7777 != 0o755 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("cannot chmod {}: {e}", dir.display()))?;
    }
    Ok(())
}

/// Remove everything in `dir` (not following symlinks), keeping `dir`.
fn clear_dir(dir: &Path) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(|e| format!("cannot look at {}: {e}", path.display()))?;
        let removed = if kind.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    /// A C++-like runtime whose compiler is `cc`, a script in `dir` (so a test can "upgrade" it).
    fn runtime(dir: &Path) -> Runtime {
        let cc = dir.join("cc");
        std::fs::write(&cc, "#!/bin/sh\n").expect("write cc");
        std::fs::set_permissions(&cc, std::fs::Permissions::from_mode(0o755)).expect("chmod cc");
        let text = format!(
            r#"
name = "cxx"
display_name = "C++ stand-in"
file = "main.cpp"
compile = ["{{cc}}", "-O2", "-o", "main", "{{sources}}"]
sources = ["*.cpp"]
run = ["./main"]
detect = ["/bin/sh", "-c", "echo 12.2.0"]
[vars]
cc = ["/bin/sh", "-c", "echo {}"]
[precompiled]
headers = ["bits/stdc++.h", "iostream"]
build = ["{{cc}}", "-O2", "-x", "c++-header", "{{file}}", "-o", "{{file}}.gch"]
use = ["-I{{dir}}", "-Winvalid-pch"]
[example]
hello = "int main() {{}}"
echo = "cat"
runtime_error = "exit 1"
compile_error = "if"
"#,
            cc.display()
        );
        let mut catalog = runtimes::Catalog::from_files([("cxx.toml", text)]).expect("valid");
        catalog.detect();
        let rt = catalog.get("cxx").expect("cxx").clone();
        assert!(rt.installed, "{:?}", rt.missing);
        rt
    }

    fn entry(dir: &Path) -> Entry {
        let rt = runtime(dir);
        let headers = dir.join("headers");
        make_dir(&headers).expect("headers dir");
        let flags = rt.precompiled_flags(headers.to_str().unwrap()).expect("flags");
        let identity = Fingerprint::new(&rt, &flags).expect("fingerprint");
        Entry::with(rt, headers, flags, identity)
    }

    /// Give `path` another modification time, as an upgrade that replaces the file would.
    fn touch(path: &Path, secs: u64) {
        let f = std::fs::File::options().write(true).open(path).expect("open");
        f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
            .expect("set mtime");
    }

    fn file(path: &str, content: &str) -> InputFile {
        InputFile {
            path: path.to_owned(),
            content: content.as_bytes().to_vec(),
            executable: false,
            read_only: false,
        }
    }

    #[test]
    fn the_identity_follows_the_toolchain() {
        let dir = tempfile::tempdir().expect("temp dir");
        let rt = runtime(dir.path());
        let flags = rt.precompiled_flags("/d").expect("flags");
        let fingerprint = Fingerprint::new(&rt, &flags).expect("fingerprint");
        assert_eq!(fingerprint.programs, [dir.path().join("cc")], "one compiler, once");
        let before = fingerprint.now().expect("the compiler is there");
        assert_eq!(fingerprint.now(), Some(before), "nothing changed");
        // Another version, other flags, another directory: other data.
        let mut newer = rt.clone();
        newer.version = Some("13.1.0".to_owned());
        let data = |rt: &Runtime, flags: &[String]| Fingerprint::new(rt, flags).expect("fingerprint").data;
        assert_ne!(data(&newer, &flags), fingerprint.data);
        assert_ne!(data(&rt, &rt.precompiled_flags("/e").expect("flags")), fingerprint.data);
        // The compiler replaced (its modification time), then gone.
        touch(&dir.path().join("cc"), 1_000_000);
        let after = fingerprint.now().expect("still there");
        assert_ne!(after, before);
        std::fs::remove_file(dir.path().join("cc")).expect("rm");
        assert_eq!(fingerprint.now(), None);
    }

    #[test]
    fn a_stamp_holds_only_for_its_identity_and_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (a, b) = ([1; 32], [2; 32]);
        assert_eq!(read_stamp(dir.path(), &a), None, "no stamp");
        write_file(dir.path(), "bits/stdc++.h.gch", b"12345").expect("write");
        write_file(dir.path(), "iostream.gch", b"123").expect("write");
        for h in ["bits/stdc++.h", "iostream"] {
            write_file(dir.path(), h, next_of(h).as_bytes()).expect("write");
        }
        let ready = [("bits/stdc++.h".to_owned(), 5), ("iostream".to_owned(), 3)];
        write_stamp(dir.path(), &a, &ready).expect("stamp");
        assert_eq!(
            read_stamp(dir.path(), &a),
            Some(vec!["bits/stdc++.h".to_owned(), "iostream".to_owned()])
        );
        assert_eq!(read_stamp(dir.path(), &b), None, "another identity");
        write_file(dir.path(), "iostream", b"#error\n").expect("write");
        assert_eq!(read_stamp(dir.path(), &a), None, "the file beside a header changed");
        write_file(dir.path(), "iostream", next_of("iostream").as_bytes()).expect("write");
        assert!(read_stamp(dir.path(), &a).is_some());
        write_file(dir.path(), "iostream.gch", b"1234").expect("write");
        assert_eq!(read_stamp(dir.path(), &a), None, "a file changed size");
        std::fs::remove_file(dir.path().join("iostream.gch")).expect("rm");
        assert_eq!(read_stamp(dir.path(), &a), None, "a file is gone");
        // Files are 0644, directories 0755, whatever the umask.
        let mode = |p: &str| std::fs::metadata(dir.path().join(p)).expect("stat").mode() & 0o7777;
        assert_eq!(mode("bits/stdc++.h.gch"), 0o644);
        assert_eq!(mode("bits"), 0o755);
    }

    #[test]
    fn headers_are_built_once_per_toolchain_identity() {
        let dir = tempfile::tempdir().expect("temp dir");
        let entry = entry(dir.path());
        let builds = std::cell::RefCell::new(Vec::new());
        let build = |h: &str| {
            builds.borrow_mut().push(h.to_owned());
            Ok(format!("pch of {h}").into_bytes())
        };
        assert_eq!(entry.usable("iostream"), Usable::No, "nothing built yet");
        entry.refresh(build, |_| Ok(()));
        assert_eq!(*builds.borrow(), ["bits/stdc++.h", "iostream"]);
        assert_eq!(entry.usable("iostream"), Usable::Yes);
        assert_eq!(entry.usable("bits/stdc++.h"), Usable::Yes);
        assert_eq!(entry.usable("vector"), Usable::No, "not a header of the runtime");
        let read = |name: &str| std::fs::read_to_string(entry.dir.join(name)).expect("built");
        assert_eq!(read("bits/stdc++.h.gch"), "pch of bits/stdc++.h");
        assert_eq!(read("bits/stdc++.h"), "#include_next <bits/stdc++.h>\n");
        assert_eq!(read("iostream"), "#include_next <iostream>\n");

        // The next start (the same identity): what is there is kept.
        builds.borrow_mut().clear();
        entry.refresh(build, |_| Ok(()));
        assert!(builds.borrow().is_empty(), "built again: {:?}", builds.borrow());
        assert_eq!(entry.usable("iostream"), Usable::Yes);

        // The compiler is upgraded: the next compile sees it, does not use the headers, and
        // asks for a rebuild (once); the rebuild makes them usable again.
        touch(&dir.path().join("cc"), 2_000_000);
        assert_eq!(entry.usable("iostream"), Usable::Stale);
        assert_eq!(entry.usable("iostream"), Usable::No, "one rebuild asked for");
        assert!(entry.stats().building);
        entry.refresh(build, |_| Ok(()));
        assert_eq!(*builds.borrow(), ["bits/stdc++.h", "iostream"]);
        assert_eq!(entry.usable("iostream"), Usable::Yes);
        let s = entry.stats();
        assert_eq!((s.headers, s.ready, s.building, s.builds), (2, 2, false, 3), "{s:?}");

        // A header that fails its build or its probe is not used, and not left in the
        // directory for a compiler to find.
        touch(&dir.path().join("cc"), 3_000_000);
        entry.refresh(
            |h| match h {
                "iostream" => Err("cc1plus died".to_owned()),
                _ => Ok(b"x".to_vec()),
            },
            |_| Ok(()),
        );
        assert_eq!(entry.usable("bits/stdc++.h"), Usable::Yes);
        assert_eq!(entry.usable("iostream"), Usable::No);
        assert!(!entry.dir.join("iostream.gch").exists(), "the old build was cleared");
        touch(&dir.path().join("cc"), 4_000_000);
        entry.refresh(
            |_| Ok(b"x".to_vec()),
            |h| match h {
                "bits/stdc++.h" => Err("warning: not used because `__OPTIMIZE__' not defined".to_owned()),
                _ => Ok(()),
            },
        );
        assert_eq!(entry.usable("bits/stdc++.h"), Usable::No);
        assert!(!entry.dir.join("bits/stdc++.h.gch").exists());
        assert!(!entry.dir.join("bits/stdc++.h").exists());
        assert_eq!(entry.usable("iostream"), Usable::Yes);
        assert!(entry.wait_built(Instant::now()), "nothing building");
    }

    #[test]
    fn a_compile_gets_the_flags_only_when_its_program_allows() {
        let dir = tempfile::tempdir().expect("temp dir");
        let entry = Arc::new(entry(dir.path()));
        entry.refresh(|_| Ok(b"x".to_vec()), |_| Ok(()));
        let (tx, rx) = mpsc::channel();
        let precompiled = Precompiled {
            entries: HashMap::from([("cxx".to_owned(), Arc::clone(&entry))]),
            rebuild: Some(Mutex::new(tx)),
        };
        let rt = entry.runtime.clone();
        let flags =
            |files: &[InputFile], args: &[String]| precompiled.flags_for(&rt, files, args).map(|(_, f)| f.to_vec());
        let hello = file("main.cpp", "#include <iostream>\nint main() {}\n");
        let want = vec![format!("-I{}", entry.dir.display()), "-Winvalid-pch".to_owned()];
        assert_eq!(flags(std::slice::from_ref(&hello), &[]), Some(want.clone()));
        assert_eq!(precompiled.bind("cxx"), Some(entry.dir.as_path()));
        // The request's own compiler options: the header may not be valid for them.
        assert_eq!(flags(std::slice::from_ref(&hello), &["-O0".to_owned()]), None);
        // A comment first, another source file, another runtime.
        assert_eq!(flags(&[file("main.cpp", "// hi\n#include <iostream>\n")], &[]), None);
        assert_eq!(flags(&[hello.clone(), file("add.cpp", "int add;")], &[]), None);
        let mut other = rt.clone();
        other.name = "other".to_owned();
        assert!(precompiled
            .flags_for(&other, std::slice::from_ref(&hello), &[])
            .is_none());
        assert_eq!(precompiled.bind("other"), None);
        // The toolchain changed: no flags, and the worker is asked to build again, once.
        touch(&dir.path().join("cc"), 5_000_000);
        assert_eq!(flags(std::slice::from_ref(&hello), &[]), None);
        assert_eq!(flags(std::slice::from_ref(&hello), &[]), None);
        let asked = rx.try_recv().expect("a rebuild was asked for");
        assert!(Arc::ptr_eq(&asked, &entry));
        assert!(rx.try_recv().is_err(), "asked once");
        assert!(!precompiled.wait_built(Duration::from_millis(10)), "building");
        asked.refresh(|_| Ok(b"x".to_vec()), |_| Ok(()));
        assert!(precompiled.wait_built(Duration::ZERO));
        assert_eq!(flags(&[hello], &[]), Some(want));
    }
}
