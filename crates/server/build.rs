//! Builds the classroom page (`web/`, a Vite project) into `web/dist`, which `page.rs` embeds
//! in the binary: a fresh checkout gets the page from `cargo build` alone, no separate step.
//!
//! `npm ci` runs when `web/node_modules` is missing or older than `package-lock.json`;
//! `npm run build` when `web/dist/index.html` is missing or older than any source. With a
//! fresh `web/dist`, npm is not needed at all. Builds of several cargo profiles at once take
//! turns (a file lock), so two Vite builds never write one `dist` together.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// What the bundle is built from, relative to `web/`.
const SOURCES: &[&str] = &[
    "src",
    "public",
    "index.html",
    "console.html",
    "package.json",
    "package-lock.json",
    "vite.config.js",
    "vite.config.mjs",
    "vite.config.ts",
];

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let web = manifest.join("../../web");
    let web = web.canonicalize().unwrap_or_else(|e| {
        fail(&format!(
            "the classroom page's sources are missing ({}: {e})",
            web.display()
        ))
    });
    // Only paths that exist: cargo would rerun this script on every build for a missing one.
    for source in SOURCES {
        let path = web.join(source);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    let dist = web.join("dist");
    if stale(&web, &dist) {
        let lock = lock(&web);
        // Another build may have done it while this one waited for the lock.
        if stale(&web, &dist) {
            build(&web);
        }
        drop(lock);
    }
    if !dist.join("index.html").is_file() {
        fail("`npm run build` in web/ did not produce web/dist/index.html");
    }
    // A new bundle has new (hashed) file names, which the embedding macro cannot notice by
    // itself: a changed stamp recompiles this crate.
    println!("cargo:rustc-env=TIDERUN_WEB_DIST_STAMP={}", stamp(&dist));
}

/// `dist` is missing or older than a source.
fn stale(web: &Path, dist: &Path) -> bool {
    let Some(built) = modified(&dist.join("index.html")) else {
        return true;
    };
    SOURCES
        .iter()
        .filter_map(|s| newest(&web.join(s)))
        .any(|source| source > built)
}

fn build(web: &Path) {
    let installed = modified(&web.join("node_modules/.package-lock.json"));
    let locked = modified(&web.join("package-lock.json"));
    if installed.is_none() || locked > installed {
        npm(web, &["ci", "--no-audit", "--no-fund"]);
    }
    npm(web, &["run", "build"]);
}

fn npm(web: &Path, args: &[&str]) {
    let status = Command::new("npm").args(args).current_dir(web).status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => fail(&format!("`npm {}` in {} failed ({s})", args.join(" "), web.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => fail(
            "npm is not installed: the classroom page (web/) is built with Node.js >= 20.19 and npm \
             (from nodejs.org or NodeSource; Debian 12's own nodejs package is too old)",
        ),
        Err(e) => fail(&format!("cannot run npm: {e}")),
    }
}

/// Taken by one build of the page at a time (released when the file is dropped).
fn lock(web: &Path) -> std::fs::File {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    web.hash(&mut hasher);
    let path = std::env::temp_dir().join(format!("tiderun-web-build-{:016x}.lock", hasher.finish()));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| fail(&format!("cannot open the build lock {}: {e}", path.display())));
    file.lock()
        .unwrap_or_else(|e| fail(&format!("cannot take the build lock {}: {e}", path.display())));
    file
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The newest modification time of a file, or of anything below a directory.
fn newest(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    let own = meta.modified().ok();
    if !meta.is_dir() {
        return own;
    }
    let entries = std::fs::read_dir(path).ok()?;
    entries.flatten().filter_map(|e| newest(&e.path())).chain(own).max()
}

/// Names, sizes and times of everything in `dist`.
fn stamp(dist: &Path) -> String {
    fn walk(dir: &Path, hasher: &mut std::collections::hash_map::DefaultHasher) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            path.hash(hasher);
            if let Ok(meta) = entry.metadata() {
                meta.len().hash(hasher);
                meta.modified().ok().hash(hasher);
                if meta.is_dir() {
                    walk(&path, hasher);
                }
            }
        }
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    walk(dist, &mut hasher);
    format!("{:016x}", hasher.finish())
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    panic!("{message}");
}
