//! Versions: finding one in a toolchain's banner, and Piston-style semver selectors.

use semver::{Version, VersionReq};

/// The first dotted number (`\d+(\.\d+)+`) in `text`, e.g. `"3.11.2"` in `"Python 3.11.2"`,
/// `"20.20.2"` in `"v20.20.2"`, `"5.2.15"` in `"GNU bash, version 5.2.15(1)-release"`.
pub fn parse_version(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        let mut end = skip_digits(bytes, i);
        let mut dotted = false;
        while end + 1 < bytes.len() && bytes[end] == b'.' && bytes[end + 1].is_ascii_digit() {
            end = skip_digits(bytes, end + 1);
            dotted = true;
        }
        if dotted {
            // Only ASCII bytes were consumed, so both ends are char boundaries.
            return text.get(start..end);
        }
        i = end;
    }
    None
}

fn skip_digits(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// A dotted version as semver: `"3.11"` becomes 3.11.0, `"1.2.3.4"` becomes 1.2.3.
pub(crate) fn to_semver(version: &str) -> Option<Version> {
    let mut numbers = version.split('.').map(|n| n.parse::<u64>().ok());
    let major = numbers.next()??;
    let minor = numbers.next().unwrap_or(Some(0))?;
    let patch = numbers.next().unwrap_or(Some(0))?;
    Some(Version::new(major, minor, patch))
}

/// A version selector as Piston (node-semver) reads it.
#[derive(Debug, Clone)]
pub(crate) enum Selector {
    /// `*`, `x`, empty or absent: any version, even an unknown one.
    Any,
    /// Alternatives (`a || b`); a version matches when any alternative does.
    Ranges(Vec<VersionReq>),
}

impl Selector {
    /// Parses a node-semver style range.
    ///
    /// node-semver and the `semver` crate differ on bare versions: for node `3.11` means
    /// `3.11.x` and `3.11.2` means exactly that, while the crate reads both as caret ranges.
    /// Bare versions therefore get an `=` (the crate's `=3.11` is `>=3.11.0, <3.12.0`), and
    /// space-separated comparators become comma-separated ones.
    pub(crate) fn parse(selector: &str) -> Result<Self, semver::Error> {
        let selector = selector.trim();
        if matches!(selector, "" | "*" | "x" | "X") {
            return Ok(Self::Any);
        }
        let mut ranges = Vec::new();
        for alternative in selector.split("||") {
            let comparators: Vec<String> = alternative.split_whitespace().map(node_comparator).collect();
            let joined = if comparators.is_empty() {
                "*".to_owned()
            } else {
                comparators.join(", ")
            };
            ranges.push(VersionReq::parse(&joined)?);
        }
        Ok(Self::Ranges(ranges))
    }

    /// Whether `version` (None: installed but unknown) satisfies the selector.
    pub(crate) fn matches(&self, version: Option<&Version>) -> bool {
        match (self, version) {
            (Self::Any, _) => true,
            (Self::Ranges(_), None) => false,
            (Self::Ranges(ranges), Some(v)) => ranges.iter().any(|r| r.matches(v)),
        }
    }
}

fn node_comparator(c: &str) -> String {
    let op_len = c
        .find(|ch: char| !matches!(ch, '=' | '<' | '>' | '~' | '^'))
        .unwrap_or(c.len());
    let (op, rest) = c.split_at(op_len);
    let rest = rest.strip_prefix(['v', 'V']).unwrap_or(rest);
    let wildcard = rest.split('.').any(|p| matches!(p, "x" | "X" | "*"));
    if op.is_empty() && !wildcard {
        format!("={rest}")
    } else {
        format!("{op}{rest}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_versions_in_real_banners() {
        let cases = [
            ("Python 3.11.2", "3.11.2"),
            ("v20.20.2", "20.20.2"),
            ("javac 17.0.15", "17.0.15"),
            ("GNU bash, version 5.2.15(1)-release (x86_64-pc-linux-gnu)", "5.2.15"),
            ("v5.36.0", "5.36.0"),
            ("rustc 1.95.0 (59807616e 2026-04-14)", "1.95.0"),
            ("12.2.0\n", "12.2.0"),
            ("openjdk version \"17.0.15\" 2025-04-15", "17.0.15"),
            ("x86_64 build 3. then 3.11", "3.11"),
        ];
        for (text, want) in cases {
            assert_eq!(parse_version(text), Some(want), "in {text:?}");
        }
        assert_eq!(parse_version("no digits here"), None);
        assert_eq!(parse_version("version 21"), None);
        assert_eq!(parse_version("1."), None);
    }

    #[test]
    fn pads_and_truncates_to_semver() {
        assert_eq!(to_semver("3.11"), Some(Version::new(3, 11, 0)));
        assert_eq!(to_semver("1.2.3.4"), Some(Version::new(1, 2, 3)));
        assert_eq!(to_semver("99999999999999999999.1"), None);
    }

    #[test]
    fn selectors_follow_node_semver() {
        let v = Version::new(3, 11, 2);
        let yes = [
            "*",
            "",
            "x",
            "3",
            "3.x",
            "3.11",
            "3.11.x",
            "3.11.2",
            "v3.11.2",
            "=3.11.2",
            "^3",
            "^3.10",
            "~3.11",
            ">=3.8 <4",
            "2.x || 3.x",
            "3.*",
        ];
        let no = ["2.x", "3.10", "3.11.1", "3.12", "^2", ">=3.12", "<3", "2 || 4"];
        for s in yes {
            assert!(
                Selector::parse(s).expect(s).matches(Some(&v)),
                "{s} should match 3.11.2"
            );
        }
        for s in no {
            assert!(
                !Selector::parse(s).expect(s).matches(Some(&v)),
                "{s} should not match 3.11.2"
            );
        }
        assert!(Selector::parse("python").is_err());
        assert!(Selector::parse("*").expect("any").matches(None));
        assert!(!Selector::parse("3").expect("range").matches(None));
    }
}
