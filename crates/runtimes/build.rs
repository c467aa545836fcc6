//! Embeds `<workspace>/runtimes/*.toml` into the library.
//!
//! Generates `$OUT_DIR/embedded.rs` holding
//! `const EMBEDDED: &[(&str, &str)] = &[("python.toml", include_str!("/abs/.../python.toml")), ...];`
//! sorted by file name, so the binary carries the catalog and needs no files at run time.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let dir = manifest_dir.join("..").join("..").join("runtimes");
    let dir = dir
        .canonicalize()
        .unwrap_or_else(|e| panic!("cannot find the runtimes directory {}: {e}", dir.display()));
    println!("cargo:rerun-if-changed={}", dir.display());

    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display())) {
        let entry = entry.unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !name.ends_with(".toml") || !path.is_file() {
            continue;
        }
        files.push((name.to_owned(), path));
    }
    files.sort();

    let mut out =
        String::from("/// Runtime files compiled into the binary: (file name, contents), sorted by file name.\n");
    out.push_str("const EMBEDDED: &[(&str, &str)] = &[\n");
    for (name, path) in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let abs = path
            .to_str()
            .unwrap_or_else(|| panic!("non-UTF-8 path {}", path.display()));
        writeln!(out, "    ({name:?}, include_str!({abs:?})),").expect("writing to a String cannot fail");
    }
    out.push_str("];\n");

    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out_dir.join("embedded.rs"), out).expect("cannot write embedded.rs to OUT_DIR");
}
