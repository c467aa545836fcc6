//! A content-addressed cache of build outputs: the same source, toolchain, compile command,
//! compiler arguments and compile limits make the same build, so a resubmitted program (the
//! class re-running the example, a student pressing Run again) skips its compile.
//!
//! Owns: the key (SHA-256 over every input of the build, each field length-prefixed), the
//! bounded in-memory store (least recently used entries evicted by bytes), single-flight
//! compiles of identical keys, and hit/miss counts.
//! Must never: keep a build that ended on a limit, a signal or an internal error, or give a
//! run anything that aliases the cache: each run gets copies of the files, written read-only
//! into its own fresh work dir.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use runtimes::{LimitSet, Runtime};
use sandbox::{InputFile, Status};
use sha2::{Digest, Sha256};

use crate::{Bound, EngineError, Limit, StageOutcome};

/// Size of the cache when none is configured: a C hello world is ~16 KiB, a Rust one ~400
/// KiB, so thousands of a class's builds fit while the server stays small.
pub const DEFAULT_BUILD_CACHE_MIB: u64 = 256;
/// The most a cache may be configured to hold; it lives in the server's memory.
pub const MAX_BUILD_CACHE_MIB: u64 = 16 << 10;
/// An entry larger than this fraction of the cache is not stored: one huge build must not
/// flush everybody else's.
const MAX_ENTRY_FRACTION: u64 = 4;
/// Bytes counted per entry on top of its files and output (key, bookkeeping, allocations).
const ENTRY_OVERHEAD_BYTES: u64 = 256;
/// Version of the key layout; bump it when the fields change.
const KEY_DOMAIN: &[u8] = b"tiderun-build-cache-v1";

/// The SHA-256 that names a build.
pub type BuildKey = [u8; 32];

/// A finished compile: what the runs need and what the caller sees of the compile stage.
#[derive(Debug, Clone)]
pub struct Build {
    /// The work dir after the compile (sources and outputs), read-only for the runs.
    pub files: Vec<InputFile>,
    pub compile: StageOutcome,
}

impl Build {
    /// A clean exit or a compile error (a non-zero exit) is the compiler's answer to its
    /// inputs and is kept; a limit, a signal or an internal error may not happen next time.
    fn deterministic(&self) -> bool {
        matches!(self.compile.status, Status::Ok | Status::RuntimeError)
    }

    /// Bytes the entry holds in memory.
    fn weight(&self) -> u64 {
        let c = &self.compile;
        let files: usize = self.files.iter().map(|f| f.path.len() + f.content.len()).sum();
        let output = c.stdout.len() + c.stderr.len() + c.output.len() + c.message.as_ref().map_or(0, String::len);
        ENTRY_OVERHEAD_BYTES + (files + output) as u64
    }
}

/// Counters and sizes for the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BuildCacheStats {
    /// Compiles answered from the cache (or by an identical compile running at the same time).
    pub hits: u64,
    /// Compiles run because the cache did not have the build.
    pub misses: u64,
    /// Bytes held now.
    pub bytes: u64,
    /// Builds held now.
    pub entries: u64,
    /// The configured size; 0 when the cache is off.
    pub capacity_bytes: u64,
}

/// One compile in progress; identical compiles wait on it. `None` when its build was not kept.
type Flight = Arc<OnceLock<Option<Arc<Build>>>>;

/// The bounded, shared build cache of an engine.
#[derive(Debug)]
pub struct BuildCache {
    capacity_bytes: u64,
    store: Mutex<Store>,
    flights: Mutex<HashMap<BuildKey, Flight>>,
    hits: AtomicU64,
    misses: AtomicU64,
    /// Per runtime: the compiler's identity on disk, taken at its first compile.
    toolchains: Mutex<HashMap<String, Option<BuildKey>>>,
}

#[derive(Debug)]
struct Store {
    lru: lru::LruCache<BuildKey, Arc<Build>>,
    bytes: u64,
}

impl Default for BuildCache {
    fn default() -> Self {
        BuildCache::with_capacity_bytes(DEFAULT_BUILD_CACHE_MIB << 20)
    }
}

impl BuildCache {
    /// A cache of `mib` MiB; 0 turns it off. More than [`MAX_BUILD_CACHE_MIB`] is refused.
    pub fn new(mib: u64) -> Result<BuildCache, EngineError> {
        if mib > MAX_BUILD_CACHE_MIB {
            return Err(EngineError::limit(
                Limit::BuildCacheMb,
                mib,
                Bound::Max(MAX_BUILD_CACHE_MIB),
            ));
        }
        Ok(BuildCache::with_capacity_bytes(mib << 20))
    }

    fn with_capacity_bytes(capacity_bytes: u64) -> BuildCache {
        BuildCache {
            capacity_bytes,
            store: Mutex::new(Store {
                lru: lru::LruCache::unbounded(),
                bytes: 0,
            }),
            flights: Mutex::new(HashMap::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            toolchains: Mutex::new(HashMap::new()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.capacity_bytes > 0
    }

    pub fn stats(&self) -> BuildCacheStats {
        let store = lock(&self.store);
        BuildCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            bytes: store.bytes,
            entries: store.lru.len() as u64,
            capacity_bytes: self.capacity_bytes,
        }
    }

    /// The key of a compile, or `None` when the cache is off or the toolchain cannot be
    /// identified (then nothing is cached).
    pub(crate) fn key(&self, input: &KeyInput<'_>) -> Option<BuildKey> {
        if !self.enabled() {
            return None;
        }
        let toolchain = self.toolchain(input.runtime, input.argv.first()?)?;
        Some(input.digest(&toolchain))
    }

    /// The build for `key`: from the cache, from an identical compile in flight, or made by
    /// `build` (and kept when it is deterministic and small enough). True when no compile ran
    /// for this call. Without a key, `build` runs and nothing is counted.
    pub(crate) fn get_or_build(
        &self,
        key: Option<BuildKey>,
        build: impl FnOnce() -> Result<Build, EngineError>,
    ) -> Result<(Arc<Build>, bool), EngineError> {
        let Some(key) = key else {
            return build().map(|b| (Arc::new(b), false));
        };
        if let Some(found) = self.lookup(&key) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok((found, true));
        }
        let flight = Arc::clone(lock(&self.flights).entry(key).or_default());
        let mut build = Some(build);
        let mut mine = None;
        let shared = flight.get_or_init(|| {
            // A compile that finished between the lookup above and this flight.
            if let Some(found) = self.lookup(&key) {
                return Some(found);
            }
            let made = build.take().map(|b| b().map(Arc::new));
            let kept = match &made {
                Some(Ok(b)) if self.insert(key, b) => Some(Arc::clone(b)),
                _ => None,
            };
            mine = made;
            kept
        });
        {
            let mut flights = lock(&self.flights);
            if flights.get(&key).is_some_and(|f| Arc::ptr_eq(f, &flight)) {
                flights.remove(&key);
            }
        }
        if let Some(made) = mine {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return made.map(|b| (b, false));
        }
        if let Some(found) = shared {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok((Arc::clone(found), true));
        }
        // The identical compile we waited for was not kept (a limit, an error): its result
        // may not be ours, so compile again.
        self.misses.fetch_add(1, Ordering::Relaxed);
        let build = build
            .take()
            .expect("the build runs at most once, and it did not run here");
        build().map(|b| (Arc::new(b), false))
    }

    fn lookup(&self, key: &BuildKey) -> Option<Arc<Build>> {
        lock(&self.store).lru.get(key).cloned()
    }

    /// Keep a deterministic build that fits, evicting the least recently used. False when it
    /// was not kept.
    fn insert(&self, key: BuildKey, build: &Arc<Build>) -> bool {
        let weight = build.weight();
        if !build.deterministic() || weight > self.capacity_bytes / MAX_ENTRY_FRACTION {
            return false;
        }
        let mut store = lock(&self.store);
        if let Some(old) = store.lru.put(key, Arc::clone(build)) {
            store.bytes -= old.weight();
        }
        store.bytes += weight;
        while store.bytes > self.capacity_bytes {
            match store.lru.pop_lru() {
                Some((_, old)) => store.bytes -= old.weight(),
                None => break,
            }
        }
        true
    }

    /// The identity of a runtime's toolchain, taken once: its name and version, the compiler
    /// executable's device, inode, size and modification time (an upgrade replaces the file),
    /// and the host paths bound for it. `None` when the compiler cannot be found.
    fn toolchain(&self, runtime: &Runtime, compiler: &str) -> Option<BuildKey> {
        let mut known = lock(&self.toolchains);
        if let Some(k) = known.get(&runtime.name) {
            return *k;
        }
        let fingerprint = std::fs::metadata(Path::new(compiler)).ok().map(|m| {
            let mut h = Fields::new(b"toolchain");
            h.str(&runtime.name);
            h.str(runtime.version.as_deref().unwrap_or(""));
            h.str(compiler);
            for n in [m.dev(), m.ino(), m.size(), m.mtime() as u64, m.mtime_nsec() as u64] {
                h.u64(n);
            }
            h.u64(runtime.binds.len() as u64);
            for b in &runtime.binds {
                h.bytes(b.as_os_str().as_encoded_bytes());
            }
            h.finish()
        });
        known.insert(runtime.name.clone(), fingerprint);
        fingerprint
    }
}

/// Everything that decides a build, borrowed from the compile being prepared.
pub(crate) struct KeyInput<'a> {
    pub runtime: &'a Runtime,
    /// The compile argv after templating, the request's compiler arguments included.
    pub argv: &'a [String],
    pub env: &'a [(String, String)],
    /// The request's own compiler arguments (also in `argv`; kept apart so the split counts).
    pub compile_args: &'a [String],
    pub files: &'a [InputFile],
    /// A compile error under a small memory or disk limit may be the limit's doing.
    pub limits: &'a LimitSet,
}

impl KeyInput<'_> {
    fn digest(&self, toolchain: &BuildKey) -> BuildKey {
        let mut h = Fields::new(KEY_DOMAIN);
        h.bytes(toolchain);
        h.str(&self.runtime.name);
        h.str(self.runtime.version.as_deref().unwrap_or(""));
        h.list(self.argv);
        h.u64(self.env.len() as u64);
        for (name, value) in self.env {
            h.str(name);
            h.str(value);
        }
        h.list(self.compile_args);
        h.u64(self.files.len() as u64);
        for f in self.files {
            h.str(&f.path);
            h.bytes(&f.content);
            h.u64(u64::from(f.executable));
        }
        h.bytes(&serde_json::to_vec(self.limits).expect("limits serialize"));
        h.finish()
    }
}

/// SHA-256 over length-prefixed fields: `["ab", "c"]` and `["a", "bc"]` hash differently.
struct Fields(Sha256);

impl Fields {
    fn new(domain: &[u8]) -> Fields {
        let mut f = Fields(Sha256::new());
        f.bytes(domain);
        f
    }

    fn u64(&mut self, n: u64) {
        self.0.update(n.to_le_bytes());
    }

    fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.0.update(b);
    }

    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    fn list(&mut self, items: &[String]) {
        self.u64(items.len() as u64);
        for i in items {
            self.str(i);
        }
    }

    fn finish(self) -> BuildKey {
        self.0.finalize().into()
    }
}

/// A poisoned lock only means another thread panicked while holding it; the data (counters,
/// a map) is still consistent.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;
    use std::time::Duration;

    fn runtime() -> Runtime {
        let catalog = runtimes::Catalog::embedded().expect("catalog");
        catalog.get("c").expect("c runtime").clone()
    }

    fn file(path: &str, content: &str) -> InputFile {
        InputFile {
            path: path.into(),
            content: content.as_bytes().to_vec(),
            executable: false,
            read_only: false,
        }
    }

    fn limits() -> LimitSet {
        runtime().limits().compile.defaults
    }

    fn key_of(argv: &[&str], args: &[&str], files: &[InputFile], limits: &LimitSet) -> BuildKey {
        let rt = runtime();
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        KeyInput {
            runtime: &rt,
            argv: &argv,
            env: &[],
            compile_args: &args,
            files,
            limits,
        }
        .digest(&[7; 32])
    }

    fn build(status: Status, bytes: usize) -> Build {
        Build {
            files: vec![InputFile {
                content: vec![0; bytes],
                ..file("main", "")
            }],
            compile: StageOutcome {
                status,
                ..StageOutcome::default()
            },
        }
    }

    #[test]
    fn every_field_is_length_prefixed() {
        let l = limits();
        let base = key_of(&["cc", "main.c"], &[], &[file("main.c", "x")], &l);
        assert_eq!(base, key_of(&["cc", "main.c"], &[], &[file("main.c", "x")], &l));
        // Bytes moved across a field boundary.
        assert_ne!(base, key_of(&["ccm", "ain.c"], &[], &[file("main.c", "x")], &l));
        assert_ne!(
            key_of(&["cc"], &[], &[file("ab", "c")], &l),
            key_of(&["cc"], &[], &[file("a", "bc")], &l)
        );
        // The same argv, split differently between template and request.
        assert_ne!(
            key_of(&["cc", "-O2"], &["-O2"], &[file("main.c", "x")], &l),
            key_of(&["cc", "-O2"], &[], &[file("main.c", "x")], &l)
        );
        // Content, executable bit, limits.
        assert_ne!(base, key_of(&["cc", "main.c"], &[], &[file("main.c", "y")], &l));
        let exec = InputFile {
            executable: true,
            ..file("main.c", "x")
        };
        assert_ne!(base, key_of(&["cc", "main.c"], &[], &[exec], &l));
        // Every file is in the key, not only the main one: a second file, and its content.
        let two = key_of(&["cc", "main.c"], &[], &[file("main.c", "x"), file("add.c", "a")], &l);
        assert_ne!(base, two);
        assert_ne!(
            two,
            key_of(&["cc", "main.c"], &[], &[file("main.c", "x"), file("add.c", "b")], &l)
        );
        let mut more = l;
        more.memory_mib += 1;
        assert_ne!(base, key_of(&["cc", "main.c"], &[], &[file("main.c", "x")], &more));
    }

    #[test]
    fn the_toolchain_is_part_of_the_key() {
        let cache = BuildCache::default();
        let rt = runtime();
        let argv = vec!["/bin/sh".to_string()];
        let input = KeyInput {
            runtime: &rt,
            argv: &argv,
            env: &[],
            compile_args: &[],
            files: &[],
            limits: &limits(),
        };
        let k = cache.key(&input).expect("/bin/sh exists");
        assert_ne!(k, input.digest(&[7; 32]));
        // A compiler that is not there: nothing can be keyed (a fresh cache: one per runtime).
        let missing = vec!["/nonexistent/cc".to_string()];
        let input = KeyInput {
            argv: &missing,
            ..input
        };
        assert_eq!(BuildCache::default().key(&input), None);
        assert_eq!(BuildCache::new(0).unwrap().key(&input), None, "off: no keys");
    }

    #[test]
    fn hits_misses_and_what_is_kept() {
        let cache = BuildCache::new(1).unwrap();
        let (_, hit) = cache.get_or_build(Some([1; 32]), || Ok(build(Status::Ok, 10))).unwrap();
        assert!(!hit);
        let (b, hit) = cache.get_or_build(Some([1; 32]), || panic!("compiled again")).unwrap();
        assert!(hit && b.files[0].content.len() == 10);
        // A compile error is kept; a limit is not.
        cache
            .get_or_build(Some([2; 32]), || Ok(build(Status::RuntimeError, 1)))
            .unwrap();
        cache
            .get_or_build(Some([3; 32]), || Ok(build(Status::TimeLimit, 1)))
            .unwrap();
        let (_, hit) = cache.get_or_build(Some([3; 32]), || Ok(build(Status::Ok, 1))).unwrap();
        assert!(!hit, "a time limit is compiled again");
        // Errors pass through and are not kept.
        let e = cache.get_or_build(Some([4; 32]), || Err(EngineError::Internal("x".into())));
        assert!(e.is_err());
        let s = cache.stats();
        assert_eq!((s.hits, s.misses, s.entries), (1, 5, 3));
        // Without a key nothing is counted.
        cache.get_or_build(None, || Ok(build(Status::Ok, 1))).unwrap();
        assert_eq!(cache.stats().misses, 5);
    }

    #[test]
    fn bounded_by_bytes_least_recently_used_first() {
        let cache = BuildCache::new(1).unwrap(); // 1 MiB: entries up to 256 KiB
        let big = 240 << 10; // four fit, five do not
        for k in 0..4u8 {
            cache
                .get_or_build(Some([k; 32]), || Ok(build(Status::Ok, big)))
                .unwrap();
        }
        // Use 0 so that 1 is the least recently used, then add a fifth.
        assert!(cache.get_or_build(Some([0; 32]), || panic!("kept")).unwrap().1);
        cache
            .get_or_build(Some([4; 32]), || Ok(build(Status::Ok, big)))
            .unwrap();
        let s = cache.stats();
        assert!(s.bytes <= 1 << 20, "{s:?}");
        assert_eq!(s.entries, 4);
        assert!(cache.lookup(&[1; 32]).is_none(), "the least recently used went");
        assert!(cache.lookup(&[0; 32]).is_some());
        // Larger than a quarter of the cache: returned, not kept.
        let (_, hit) = cache
            .get_or_build(Some([9; 32]), || Ok(build(Status::Ok, 300 << 10)))
            .unwrap();
        assert!(!hit && cache.lookup(&[9; 32]).is_none());
        assert!(BuildCache::new(MAX_BUILD_CACHE_MIB + 1).is_err());
        assert!(BuildCache::new(MAX_BUILD_CACHE_MIB).is_ok());
    }

    #[test]
    fn identical_compiles_at_once_compile_once() {
        let cache = BuildCache::new(1).unwrap();
        let compiles = AtomicU64::new(0);
        let start = Barrier::new(4);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    start.wait();
                    let (b, _) = cache
                        .get_or_build(Some([5; 32]), || {
                            compiles.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(200));
                            Ok(build(Status::Ok, 3))
                        })
                        .unwrap();
                    assert_eq!(b.files[0].content.len(), 3);
                });
            }
        });
        assert_eq!(compiles.load(Ordering::SeqCst), 1);
        let s = cache.stats();
        assert_eq!((s.hits, s.misses), (3, 1));
    }
}
