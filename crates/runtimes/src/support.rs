//! Support files: a runtime file's `[support]` table (a file name → its text), which the
//! engine writes once into a read-only directory bound into every sandbox of the runtime,
//! named in `env` and `run` by `{support}` (Python's `PYTHONPATH = "{support}"` puts the
//! matplotlib backend and the headless `turtle` there).
//!
//! This module owns the table's validation and the directory's default name, which follows
//! the contents (a changed file is a new directory, never a rewrite of one a sandbox may
//! have bound). Writing the directory is the engine's.

use std::collections::BTreeMap;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::error::SpecError;

/// The placeholder naming the support directory (`{support}`), in `env` and `run`.
pub(crate) const SUPPORT: &str = "support";
/// Where the support directories go by default: a root-owned tmpfs on every Linux host, not
/// below a path the sandbox owns (`/tmp`, `/var/tmp`), so it can be bound. The engine may put
/// them elsewhere ([`crate::Runtime::set_support_dir`]), e.g. without root.
pub const SUPPORT_ROOT: &str = "/run/tiderun-support";
/// Most files in one `[support]` table: a few modules, not a library.
pub const MAX_SUPPORT_FILES: usize = 16;
/// Most bytes of one runtime's support files together (the headless turtle and the plot
/// backend are ~20 KiB): they are written at every start and compared on reuse.
pub const MAX_SUPPORT_BYTES: usize = 256 << 10;
/// The longest support file name.
pub const MAX_SUPPORT_NAME_CHARS: usize = 64;

/// Checks a `[support]` table: at most [`MAX_SUPPORT_FILES`] plain file names (ASCII letters,
/// digits, `_ . -`, not starting with `.` or `-`, at most [`MAX_SUPPORT_NAME_CHARS`]: no
/// directory, no hidden file) of [`MAX_SUPPORT_BYTES`] together, none empty, and no
/// `vars.support` (the name is the directory's).
pub(crate) fn check<V>(files: &BTreeMap<String, String>, vars: &BTreeMap<String, V>) -> Result<(), SpecError> {
    let invalid = |reason: String| SpecError::Invalid {
        field: SUPPORT.to_owned(),
        reason,
    };
    if files.is_empty() {
        return Ok(());
    }
    if vars.contains_key(SUPPORT) {
        return Err(invalid(format!(
            "{{{SUPPORT}}} is the directory of the support files: rename vars.{SUPPORT}"
        )));
    }
    if files.len() > MAX_SUPPORT_FILES {
        return Err(invalid(format!("more than {MAX_SUPPORT_FILES} files")));
    }
    let mut bytes = 0;
    for (name, text) in files {
        let plain = name.chars().count() <= MAX_SUPPORT_NAME_CHARS
            && name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !plain {
            return Err(invalid(format!(
                "{name:?} is not a plain file name: ASCII letters, digits and _ . -, starting with a letter, digit or _, at most {MAX_SUPPORT_NAME_CHARS}"
            )));
        }
        if text.is_empty() {
            return Err(invalid(format!("{name:?} is empty")));
        }
        bytes += text.len();
    }
    if bytes > MAX_SUPPORT_BYTES {
        return Err(invalid(format!(
            "{bytes} bytes of files, more than {MAX_SUPPORT_BYTES}"
        )));
    }
    Ok(())
}

/// The default directory of a runtime's support files: `SUPPORT_ROOT/<runtime>-<digest>`,
/// the digest over every name and text (so two contents never share a directory).
pub(crate) fn default_dir(runtime: &str, files: &BTreeMap<String, String>) -> PathBuf {
    PathBuf::from(SUPPORT_ROOT).join(format!("{runtime}-{}", digest(files)))
}

/// The first 16 bytes of the SHA-256 of the files (length-prefixed names and texts), in hex.
pub fn digest(files: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    h.update(b"tiderun-support-v1");
    for (name, text) in files {
        for part in [name.as_bytes(), text.as_bytes()] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
    }
    h.finalize()[..16].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(n, t)| ((*n).to_owned(), (*t).to_owned())).collect()
    }

    fn no_vars() -> BTreeMap<String, ()> {
        BTreeMap::new()
    }

    #[test]
    fn plain_names_within_the_limits_pass() {
        check(
            &files(&[("turtle.py", "x = 1\n"), ("tiderun_plot.py", "y\n")]),
            &no_vars(),
        )
        .expect("valid");
        check(&BTreeMap::new(), &BTreeMap::from([(SUPPORT.to_owned(), ())])).expect("no table, any vars");
    }

    #[test]
    fn names_that_are_not_plain_files_are_refused() {
        for name in [
            "../x.py",
            "a/b.py",
            ".hidden",
            "-rf",
            "",
            "sp ace.py",
            "x\0.py",
            "é.py",
            &"a".repeat(MAX_SUPPORT_NAME_CHARS + 1),
        ] {
            let e = check(&files(&[(name, "x")]), &no_vars()).expect_err(name).to_string();
            assert!(e.contains("not a plain file name"), "{name:?}: {e}");
        }
        check(&files(&[(&"a".repeat(MAX_SUPPORT_NAME_CHARS), "x")]), &no_vars()).expect("at the limit");
    }

    #[test]
    fn count_bytes_empty_files_and_vars_support_are_bounded() {
        let many: Vec<(String, String)> = (0..=MAX_SUPPORT_FILES)
            .map(|i| (format!("f{i}.py"), "x".to_owned()))
            .collect();
        let many: BTreeMap<String, String> = many.into_iter().collect();
        let e = check(&many, &no_vars()).expect_err("too many").to_string();
        assert!(e.contains(&format!("more than {MAX_SUPPORT_FILES} files")), "{e}");
        let mut fit = many.clone();
        fit.pop_last();
        check(&fit, &no_vars()).expect("at the limit");

        let big = "x".repeat(MAX_SUPPORT_BYTES / 2 + 1);
        let e = check(&files(&[("a.py", &big), ("b.py", &big)]), &no_vars())
            .expect_err("too big")
            .to_string();
        assert!(e.contains(&format!("more than {MAX_SUPPORT_BYTES}")), "{e}");
        let half = "x".repeat(MAX_SUPPORT_BYTES / 2);
        check(&files(&[("a.py", &half), ("b.py", &half)]), &no_vars()).expect("at the limit");

        let e = check(&files(&[("a.py", "")]), &no_vars())
            .expect_err("empty")
            .to_string();
        assert!(e.contains("is empty"), "{e}");
        let e = check(&files(&[("a.py", "x")]), &BTreeMap::from([(SUPPORT.to_owned(), ())]))
            .expect_err("vars.support")
            .to_string();
        assert!(e.contains("rename vars.support"), "{e}");
    }

    #[test]
    fn the_directory_follows_the_contents() {
        let a = default_dir("python", &files(&[("turtle.py", "a")]));
        assert!(a.starts_with(SUPPORT_ROOT), "{}", a.display());
        assert_eq!(a, default_dir("python", &files(&[("turtle.py", "a")])));
        assert_ne!(a, default_dir("python", &files(&[("turtle.py", "b")])));
        assert_ne!(a, default_dir("python", &files(&[("turtle.p", "ya")])));
        assert_ne!(a, default_dir("perl", &files(&[("turtle.py", "a")])));
    }
}
