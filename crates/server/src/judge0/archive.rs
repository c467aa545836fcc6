//! Judge0's `additional_files`: a zip archive unpacked into the work dir beside the program
//! (Judge0 1.13.1 runs `unzip -n` in the sandbox; here the archive is read in the server, by
//! the `zip` crate, into the run's input files, so nothing of it is ever a path on the host).
//!
//! Hostile archives are the normal case. An archive is refused (a 422 on `additional_files`,
//! naming the entry) when it is not a zip, has more than [`MAX_ARCHIVE_ENTRIES`] entries or
//! more than [`MAX_ARCHIVE_FILES`] files, an entry path that is absolute, climbs out with
//! `..`, is deeper than [`MAX_PATH_DEPTH`] directories, longer than [`MAX_PATH_BYTES`] or
//! holds a control character, an entry that is a symbolic link, a device, a fifo or a socket,
//! an encrypted entry, a compression method other than stored or deflate, an entry that
//! declares more than [`MAX_COMPRESSION_RATIO`] times its compressed size (beyond
//! [`RATIO_FREE_BYTES`]), the same path twice, or a path that is both a file and a directory.
//! What the files hold together is bounded by the caller's byte budget (the request's input
//! limit less the source code): the declared sizes are summed before anything is inflated,
//! and each entry is inflated through a reader that stops one byte past what is left, so an
//! entry lying about its size costs at most the budget.

use std::collections::BTreeSet;
use std::io::{Cursor, Read};

use zip::result::ZipError;
use zip::{CompressionMethod, ZipArchive};

/// Most entries (files and directories) an archive may list; checked before any is read.
pub const MAX_ARCHIVE_ENTRIES: usize = 1024;
/// Most files an archive may hold: a run has at most `engine::MAX_FILES` input files, one of
/// them the program.
pub const MAX_ARCHIVE_FILES: usize = engine::MAX_FILES - 1;
/// Deepest directory nesting of an entry path (its components, the file included).
pub const MAX_PATH_DEPTH: usize = 16;
/// Longest entry path, in bytes (the sandbox's limit on an input file's path).
pub const MAX_PATH_BYTES: usize = 255;
/// An entry may declare at most this many times its compressed size...
pub const MAX_COMPRESSION_RATIO: u64 = 100;
/// ...once it is larger than this (small files of repeated bytes compress far better).
pub const RATIO_FREE_BYTES: u64 = 64 << 10;

/// One file of an archive: its path in the work dir (relative, `/`-separated, normal
/// components only) and its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveFile {
    pub path: String,
    pub content: Vec<u8>,
}

/// Why an archive is refused; the text is Judge0's field error on `additional_files`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveError {
    #[error("is not a valid zip archive")]
    NotZip,
    #[error("has {entries} entries, more than the limit of {MAX_ARCHIVE_ENTRIES}")]
    TooManyEntries { entries: usize },
    #[error("has more than {MAX_ARCHIVE_FILES} files")]
    TooManyFiles,
    #[error("entry {path:?} is an absolute path")]
    Absolute { path: String },
    #[error("entry {path:?} leaves the work directory (..)")]
    ParentDir { path: String },
    #[error("entry {path:?} is deeper than {MAX_PATH_DEPTH} directories")]
    TooDeep { path: String },
    #[error("entry {path:?} has a name longer than {MAX_PATH_BYTES} bytes")]
    NameTooLong { path: String },
    #[error("entry {path:?} has a name that is not UTF-8 or holds a control character")]
    BadName { path: String },
    #[error("entry {path:?} is a symbolic link (only files and directories are allowed)")]
    Symlink { path: String },
    #[error("entry {path:?} is a device, fifo or socket (only files and directories are allowed)")]
    Special { path: String },
    #[error("entry {path:?} is encrypted")]
    Encrypted { path: String },
    #[error("entry {path:?} uses an unsupported compression method (stored and deflate are)")]
    Compression { path: String },
    #[error("entry {path:?} unpacks to more than {MAX_COMPRESSION_RATIO} times its compressed size")]
    Ratio { path: String },
    #[error("unpacks to more than {limit} bytes (the program and its files share the request's input limit)")]
    TooLarge { limit: u64 },
    #[error("entry {path:?} appears twice")]
    Duplicate { path: String },
    #[error("entry {path:?} is both a file and a directory")]
    FileAndDirectory { path: String },
    #[error("entry {path:?} is corrupt")]
    Corrupt { path: String },
}

/// Unpack `zip`: its files (directories are implied by their paths; empty ones are dropped),
/// at most `max_bytes` of content together. See the module's documentation for what is refused.
pub fn unpack(zip: &[u8], max_bytes: u64) -> Result<Vec<ArchiveFile>, ArchiveError> {
    let mut archive = ZipArchive::new(Cursor::new(zip)).map_err(|_| ArchiveError::NotZip)?;
    if archive.len() > MAX_ARCHIVE_ENTRIES {
        return Err(ArchiveError::TooManyEntries { entries: archive.len() });
    }
    // First the central directory alone: names, kinds, methods, declared sizes.
    let mut planned: Vec<(usize, String, u64)> = Vec::new();
    let mut files = BTreeSet::new();
    let mut dirs = BTreeSet::new();
    let mut declared: u64 = 0;
    for index in 0..archive.len() {
        let entry = archive.by_index_raw(index).map_err(|_| ArchiveError::NotZip)?;
        let raw = String::from_utf8_lossy(entry.name_raw()).into_owned();
        let components = clean_path(&raw)?;
        let mode = entry.unix_mode().unwrap_or(0);
        let kind = mode & S_IFMT;
        if entry.is_symlink() || kind == S_IFLNK {
            return Err(ArchiveError::Symlink { path: raw });
        }
        if kind != 0 && kind != S_IFREG && kind != S_IFDIR {
            return Err(ArchiveError::Special { path: raw });
        }
        let is_dir = entry.is_dir() || kind == S_IFDIR;
        if components.is_empty() {
            if is_dir {
                continue; // "./": the work dir itself
            }
            return Err(ArchiveError::BadName { path: raw });
        }
        for depth in 1..components.len() {
            dirs.insert(components[..depth].join("/"));
        }
        let path = components.join("/");
        if is_dir {
            dirs.insert(path);
            continue;
        }
        if entry.encrypted() {
            return Err(ArchiveError::Encrypted { path: raw });
        }
        if !matches!(
            entry.compression(),
            CompressionMethod::Stored | CompressionMethod::Deflated
        ) {
            return Err(ArchiveError::Compression { path: raw });
        }
        let size = entry.size();
        if size > RATIO_FREE_BYTES && size / MAX_COMPRESSION_RATIO > entry.compressed_size() {
            return Err(ArchiveError::Ratio { path: raw });
        }
        declared = declared.saturating_add(size);
        if declared > max_bytes {
            return Err(ArchiveError::TooLarge { limit: max_bytes });
        }
        if !files.insert(path.clone()) {
            return Err(ArchiveError::Duplicate { path });
        }
        if files.len() > MAX_ARCHIVE_FILES {
            return Err(ArchiveError::TooManyFiles);
        }
        planned.push((index, path, size));
    }
    if let Some(both) = files.intersection(&dirs).next() {
        return Err(ArchiveError::FileAndDirectory { path: both.clone() });
    }
    // Then the contents, each through a reader that stops one byte past what is left.
    let mut left = max_bytes;
    let mut out = Vec::with_capacity(planned.len());
    for (index, path, size) in planned {
        let corrupt = || ArchiveError::Corrupt { path: path.clone() };
        let entry = match archive.by_index(index) {
            Ok(entry) => entry,
            Err(ZipError::UnsupportedArchive(_)) => return Err(ArchiveError::Encrypted { path }),
            Err(_) => return Err(corrupt()),
        };
        let mut content = Vec::with_capacity(usize::try_from(size.min(left)).unwrap_or(0));
        entry
            .take(left.saturating_add(1))
            .read_to_end(&mut content)
            .map_err(|_| corrupt())?;
        let got = content.len() as u64;
        if got > left {
            return Err(ArchiveError::TooLarge { limit: max_bytes });
        }
        left -= got;
        out.push(ArchiveFile { path, content });
    }
    Ok(out)
}

/// The file type bits of a unix mode, and the types an entry may have.
const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFLNK: u32 = 0o120_000;

/// An entry's path as normal components: `.` and empty components dropped (Python's zipfile
/// keeps the SDK's `./dir/file`), `\` read as a separator (archives made on Windows), and
/// refused when absolute, climbing with `..`, too deep, too long, or holding a control
/// character.
fn clean_path(raw: &str) -> Result<Vec<String>, ArchiveError> {
    let path = || raw.to_owned();
    if raw.contains(char::REPLACEMENT_CHARACTER) || raw.chars().any(char::is_control) {
        return Err(ArchiveError::BadName { path: path() });
    }
    if raw.starts_with(['/', '\\']) || raw.as_bytes().get(1) == Some(&b':') {
        return Err(ArchiveError::Absolute { path: path() });
    }
    let mut components = Vec::new();
    for part in raw.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => return Err(ArchiveError::ParentDir { path: path() }),
            name => components.push(name.to_owned()),
        }
    }
    if components.len() > MAX_PATH_DEPTH {
        return Err(ArchiveError::TooDeep { path: path() });
    }
    if components.join("/").len() > MAX_PATH_BYTES {
        return Err(ArchiveError::NameTooLong { path: path() });
    }
    Ok(components)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use zip::write::SimpleFileOptions;
    use zip::ZipWriter;

    use super::*;

    const BUDGET: u64 = 2 << 20;

    fn stored() -> SimpleFileOptions {
        SimpleFileOptions::default().compression_method(CompressionMethod::Stored)
    }

    fn deflated() -> SimpleFileOptions {
        SimpleFileOptions::default().compression_method(CompressionMethod::Deflated)
    }

    /// An archive of `(name, content)` files.
    fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = ZipWriter::new(Cursor::new(Vec::new()));
        for (name, content) in files {
            w.start_file(*name, deflated()).expect("start");
            w.write_all(content).expect("write");
        }
        w.finish().expect("finish").into_inner()
    }

    #[test]
    fn files_and_directories_unpack_with_clean_paths() {
        let mut w = ZipWriter::new(Cursor::new(Vec::new()));
        w.add_directory("src/", stored()).expect("dir");
        w.add_directory("empty/", stored()).expect("dir");
        for (name, content) in [
            ("run", "python3 main.py\n"),
            ("./my_dir1/my_file1.txt", "hello"),
            ("src/lib.py", "x = 1"),
        ] {
            w.start_file(name, deflated()).expect("start");
            w.write_all(content.as_bytes()).expect("write");
        }
        let zip = w.finish().expect("finish").into_inner();
        let files = unpack(&zip, BUDGET).expect("valid");
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["run", "my_dir1/my_file1.txt", "src/lib.py"]);
        assert_eq!(files[1].content, b"hello");
        assert_eq!(unpack(&zip_of(&[]), BUDGET), Ok(Vec::new()));
    }

    #[test]
    fn not_a_zip() {
        for bytes in [&b""[..], b"PK\x03\x04 truncated", b"just text"] {
            assert_eq!(unpack(bytes, BUDGET), Err(ArchiveError::NotZip), "{bytes:?}");
        }
    }

    /// Zip slip: every way out of the work dir.
    #[test]
    fn zip_slip_paths_are_refused() {
        for name in ["../evil.sh", "a/../../evil", "dir/..", "..\\evil", "ok/..\\..\\x"] {
            assert_eq!(
                unpack(&zip_of(&[(name, b"x")]), BUDGET),
                Err(ArchiveError::ParentDir { path: name.into() }),
                "{name}"
            );
        }
        for name in ["/etc/passwd", "\\windows\\x", "C:\\x", "c:/x"] {
            assert_eq!(
                unpack(&zip_of(&[(name, b"x")]), BUDGET),
                Err(ArchiveError::Absolute { path: name.into() }),
                "{name}"
            );
        }
        let deep = vec!["d"; MAX_PATH_DEPTH + 1].join("/");
        assert!(matches!(
            unpack(&zip_of(&[(&deep, b"x")]), BUDGET),
            Err(ArchiveError::TooDeep { .. })
        ));
        let ok = vec!["d"; MAX_PATH_DEPTH].join("/");
        assert!(
            unpack(&zip_of(&[(&ok, b"x")]), BUDGET).is_ok(),
            "{MAX_PATH_DEPTH} deep is allowed"
        );
        let long = "n".repeat(MAX_PATH_BYTES + 1);
        assert!(matches!(
            unpack(&zip_of(&[(&long, b"x")]), BUDGET),
            Err(ArchiveError::NameTooLong { .. })
        ));
        assert!(matches!(
            unpack(&zip_of(&[("a\nb", b"x")]), BUDGET),
            Err(ArchiveError::BadName { .. })
        ));
    }

    #[test]
    fn symlinks_are_refused() {
        let mut w = ZipWriter::new(Cursor::new(Vec::new()));
        w.add_symlink("passwd", "/etc/passwd", stored()).expect("symlink");
        let zip = w.finish().expect("finish").into_inner();
        assert_eq!(
            unpack(&zip, BUDGET),
            Err(ArchiveError::Symlink { path: "passwd".into() })
        );
    }

    #[test]
    fn devices_fifos_and_sockets_are_refused() {
        for (kind, mode) in [
            ("char device", 0o020_666),
            ("block device", 0o060_666),
            ("fifo", 0o010_644),
            ("socket", 0o140_644),
        ] {
            let zip = zip_of(&[("node", b"")]);
            let zip = with_unix_mode(zip, mode);
            assert_eq!(
                unpack(&zip, BUDGET),
                Err(ArchiveError::Special { path: "node".into() }),
                "{kind}"
            );
        }
        // The same with a regular file's mode is fine.
        assert!(unpack(&with_unix_mode(zip_of(&[("node", b"")]), 0o100_644), BUDGET).is_ok());
    }

    /// A zip bomb: a small archive that declares (and would inflate to) far more.
    #[test]
    fn bombs_are_refused_before_they_inflate() {
        let big = vec![0u8; 16 << 20];
        let zip = zip_of(&[("zeros", &big)]);
        assert!(zip.len() < 1 << 20, "compressed to {} bytes", zip.len());
        assert_eq!(unpack(&zip, BUDGET), Err(ArchiveError::Ratio { path: "zeros".into() }));
        // Within the ratio but past the budget.
        let zip = zip_of(&[("a", &vec![7u8; 1 << 20]), ("b", &vec![7u8; 1 << 20])]);
        let stored_zip = {
            let mut w = ZipWriter::new(Cursor::new(Vec::new()));
            for name in ["a", "b", "c"] {
                w.start_file(name, stored()).expect("start");
                w.write_all(&[1u8; 1 << 20]).expect("write");
            }
            w.finish().expect("finish").into_inner()
        };
        assert!(matches!(unpack(&zip, BUDGET), Err(ArchiveError::Ratio { .. })));
        assert_eq!(
            unpack(&stored_zip, BUDGET),
            Err(ArchiveError::TooLarge { limit: BUDGET })
        );
        assert_eq!(
            unpack(&stored_zip, 3 << 20).map(|f| f.len()),
            Ok(3),
            "exactly the budget fits"
        );
    }

    /// An entry that declares less than it holds is cut one byte past the budget.
    #[test]
    fn an_entry_lying_about_its_size_costs_at_most_the_budget() {
        let content = vec![b'x'; 100_000];
        let zip = {
            let mut w = ZipWriter::new(Cursor::new(Vec::new()));
            w.start_file("liar", stored()).expect("start");
            w.write_all(&content).expect("write");
            w.finish().expect("finish").into_inner()
        };
        // Declare 10 bytes in both headers (sizes at local +18/+22, central +20/+24).
        let zip = patch_sizes(zip, 10);
        let got = unpack(&zip, 1000);
        assert!(
            matches!(
                got,
                Err(ArchiveError::Corrupt { .. }) | Err(ArchiveError::TooLarge { .. })
            ),
            "{got:?}"
        );
    }

    /// Many entries: refused from the central directory alone.
    #[test]
    fn huge_entry_counts_are_refused() {
        let mut w = ZipWriter::new(Cursor::new(Vec::new()));
        for i in 0..=MAX_ARCHIVE_ENTRIES {
            w.add_directory(format!("d{i}/"), stored()).expect("dir");
        }
        let zip = w.finish().expect("finish").into_inner();
        assert_eq!(
            unpack(&zip, BUDGET),
            Err(ArchiveError::TooManyEntries {
                entries: MAX_ARCHIVE_ENTRIES + 1
            })
        );
        let names: Vec<String> = (0..=MAX_ARCHIVE_FILES).map(|i| format!("f{i}")).collect();
        let files: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
        assert_eq!(unpack(&zip_of(&files), BUDGET), Err(ArchiveError::TooManyFiles));
        assert_eq!(
            unpack(&zip_of(&files[1..]), BUDGET).map(|f| f.len()),
            Ok(MAX_ARCHIVE_FILES)
        );
    }

    #[test]
    fn duplicates_and_file_directory_clashes_are_refused() {
        assert_eq!(
            unpack(&zip_of(&[("a", b"1"), ("./a", b"2")]), BUDGET),
            Err(ArchiveError::Duplicate { path: "a".into() })
        );
        assert_eq!(
            unpack(&zip_of(&[("a", b"1"), ("a/b", b"2")]), BUDGET),
            Err(ArchiveError::FileAndDirectory { path: "a".into() })
        );
    }

    #[test]
    fn other_compression_methods_are_refused() {
        let zip = zip_of(&[("f", b"hello")]);
        // Method 12 (bzip2) in both headers (local +8, central +10).
        let zip = patch_method(zip, 12);
        assert_eq!(
            unpack(&zip, BUDGET),
            Err(ArchiveError::Compression { path: "f".into() })
        );
    }

    /// Offsets of the local and central headers of a one-entry archive.
    fn headers(zip: &[u8]) -> (usize, usize) {
        let find = |sig: &[u8]| zip.windows(4).position(|w| w == sig).expect("header");
        (find(b"PK\x03\x04"), find(b"PK\x01\x02"))
    }

    fn patch_sizes(mut zip: Vec<u8>, size: u32) -> Vec<u8> {
        let (local, central) = headers(&zip);
        for at in [local + 18, local + 22, central + 20, central + 24] {
            zip[at..at + 4].copy_from_slice(&size.to_le_bytes());
        }
        zip
    }

    fn patch_method(mut zip: Vec<u8>, method: u16) -> Vec<u8> {
        let (local, central) = headers(&zip);
        for at in [local + 8, central + 10] {
            zip[at..at + 2].copy_from_slice(&method.to_le_bytes());
        }
        zip
    }

    /// Made on unix (version made by: 3) with this mode in the external attributes.
    fn with_unix_mode(mut zip: Vec<u8>, mode: u32) -> Vec<u8> {
        let (_, central) = headers(&zip);
        zip[central + 5] = 3;
        zip[central + 38..central + 42].copy_from_slice(&(mode << 16).to_le_bytes());
        zip
    }
}
