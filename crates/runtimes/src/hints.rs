//! Beginners' hints of a runtime file (`[[hints]]`): a short explanation in the student's
//! language shown by the classroom page next to a compiler's or interpreter's message.
//!
//! Hints are data, matched by the page (JavaScript regular expressions, `u` flag); here they
//! are only validated, once, when the catalog loads. A pattern must compile with the `regex`
//! crate and stay inside the syntax both engines read alike: no inline flags or named groups
//! (`(?` only as `(?:`), no `\A`, `\z` or `\Q`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::SpecError;

/// The page's languages: `en` is required in every localized table, `zh-CN` optional.
pub const PAGE_LOCALES: [&str; 2] = ["en", "zh-CN"];
/// Most hints of one runtime: the page tests each against every failed run.
pub const MAX_HINTS: usize = 32;
/// Longest hint id.
pub const MAX_HINT_ID_CHARS: usize = 64;
/// Longest pattern (`match`, `source_match`), in bytes: a hint names a message, not a grammar.
pub const MAX_HINT_PATTERN_BYTES: usize = 300;
/// Longest hint text in one language, in bytes: two or three sentences.
pub const MAX_HINT_TEXT_BYTES: usize = 600;
/// Largest compiled pattern (the `regex` crate's size limit), so no pattern is costly to test.
const MAX_HINT_REGEX_BYTES: usize = 256 << 10;

/// When a hint is considered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HintWhen {
    /// After a run or compile that failed: `match` is tested against its error output.
    #[default]
    Error,
    /// After an exercise submission in which every test failed: `match` is tested against the
    /// tests' error output; when `source_match` has a capturing group, the captured text must
    /// also begin a failed test's output (a prompt printed by `input("...")`).
    AllTestsFailed,
}

/// One hint, as written and as served by `GET /api/v1/runtimes`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Hint {
    /// Lower-case letters, digits and `-`; unique in its file.
    pub id: String,
    /// Tested against the compiler's or interpreter's message (stderr).
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub message_match: Option<String>,
    /// Tested against the program's text. With `match`, both must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_match: Option<String>,
    #[serde(default)]
    pub when: HintWhen,
    /// The hint by page locale (`en` required, `zh-CN`).
    pub text: BTreeMap<String, String>,
}

impl Hint {
    /// Whether the hint applies to a failed run of `source` that wrote `stderr` (by the same
    /// rules as the page, for tests and tools).
    pub fn matches(&self, stderr: &str, source: &str) -> bool {
        let test = |pattern: &Option<String>, text: &str| {
            pattern
                .as_deref()
                .is_none_or(|p| compile(p).is_ok_and(|re| re.is_match(text)))
        };
        test(&self.message_match, stderr) && test(&self.source_match, source)
    }
}

fn compile(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(pattern)
        .size_limit(MAX_HINT_REGEX_BYTES)
        .build()
}

/// A table keyed by page locale: `en` present, no other key than [`PAGE_LOCALES`].
pub(crate) fn check_locales<T>(field: &str, table: &BTreeMap<String, T>, need_en: bool) -> Result<(), SpecError> {
    if let Some(other) = table.keys().find(|k| !PAGE_LOCALES.contains(&k.as_str())) {
        return Err(SpecError::Invalid {
            field: field.to_owned(),
            reason: format!("unknown locale {other:?}: use {}", PAGE_LOCALES.join(" or ")),
        });
    }
    if need_en && !table.contains_key("en") {
        return Err(SpecError::Invalid {
            field: field.to_owned(),
            reason: "needs `en`, the text shown in every other language".to_owned(),
        });
    }
    Ok(())
}

/// Every hint within the limits, with patterns that compile and ids unique.
pub(crate) fn check(hints: &[Hint]) -> Result<(), SpecError> {
    if hints.len() > MAX_HINTS {
        return Err(SpecError::Invalid {
            field: "hints".to_owned(),
            reason: format!("{} hints is more than the limit of {MAX_HINTS}", hints.len()),
        });
    }
    for (i, hint) in hints.iter().enumerate() {
        let field = format!("hints[{i}] ({:?})", hint.id);
        let invalid = |reason: String| SpecError::Invalid {
            field: field.clone(),
            reason,
        };
        let id_ok = !hint.id.is_empty()
            && hint.id.chars().count() <= MAX_HINT_ID_CHARS
            && hint
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !id_ok {
            return Err(invalid(format!(
                "id must be 1 to {MAX_HINT_ID_CHARS} of a-z, 0-9 and -"
            )));
        }
        if hints[..i].iter().any(|h| h.id == hint.id) {
            return Err(invalid("the id is used twice".to_owned()));
        }
        if hint.message_match.is_none() && hint.source_match.is_none() {
            return Err(invalid("needs `match`, `source_match` or both".to_owned()));
        }
        for (name, pattern) in [("match", &hint.message_match), ("source_match", &hint.source_match)] {
            let Some(pattern) = pattern else { continue };
            check_pattern(pattern).map_err(|reason| invalid(format!("{name}: {reason}")))?;
        }
        check_locales(&format!("{field}.text"), &hint.text, true)?;
        for (locale, text) in &hint.text {
            if text.trim().is_empty() {
                return Err(invalid(format!("text.{locale} is empty")));
            }
            if text.len() > MAX_HINT_TEXT_BYTES {
                return Err(invalid(format!(
                    "text.{locale} is {} bytes, more than the limit of {MAX_HINT_TEXT_BYTES}",
                    text.len()
                )));
            }
        }
    }
    Ok(())
}

fn check_pattern(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("empty pattern".to_owned());
    }
    if pattern.len() > MAX_HINT_PATTERN_BYTES {
        return Err(format!(
            "{} bytes, more than the limit of {MAX_HINT_PATTERN_BYTES}",
            pattern.len()
        ));
    }
    // What the page's engine reads differently: inline flags, named groups, Rust-only escapes.
    if pattern
        .match_indices("(?")
        .any(|(at, _)| !pattern[at..].starts_with("(?:"))
    {
        return Err("`(?` other than `(?:` (inline flags, named groups) is not read alike by the page".to_owned());
    }
    if ["\\A", "\\z", "\\Q"].iter().any(|e| pattern.contains(e)) {
        return Err("\\A, \\z and \\Q are not read alike by the page: use ^ and $".to_owned());
    }
    compile(pattern)
        .map(drop)
        .map_err(|e| format!("not a valid regular expression: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hint(message: Option<&str>, source: Option<&str>) -> Hint {
        Hint {
            id: "h".into(),
            message_match: message.map(Into::into),
            source_match: source.map(Into::into),
            when: HintWhen::Error,
            text: BTreeMap::from([("en".into(), "Hint.".into())]),
        }
    }

    #[test]
    fn both_patterns_must_match() {
        let h = hint(Some("SyntaxError"), Some("（"));
        assert!(h.matches("SyntaxError: invalid", "print（1）"));
        assert!(!h.matches("SyntaxError: invalid", "print(1)"));
        assert!(!h.matches("NameError", "print（1）"));
        assert!(hint(None, Some("x")).matches("", "x"));
    }

    #[test]
    fn bad_hints_name_what_is_wrong() {
        let err = |h: Hint| check(&[h]).unwrap_err().to_string();
        assert!(
            err(hint(Some("(unclosed"), None)).starts_with("hints[0] (\"h\"): match: not a valid regular expression")
        );
        assert!(err(hint(None, Some("(?i)x"))).contains("source_match: `(?`"));
        assert!(err(hint(None, Some("\\Ax"))).contains("\\A"));
        assert!(err(hint(Some(&"a".repeat(MAX_HINT_PATTERN_BYTES + 1)), None)).contains("more than the limit"));
        assert!(err(hint(None, None)).contains("needs `match`"));
        // Short to write, costly to run: Unicode classes repeated past the compiled size limit.
        let costly = err(hint(Some(r"\w{200}\w{200}\w{200}"), None));
        assert!(
            costly.contains("not a valid regular expression") && costly.contains("size limit"),
            "{costly}"
        );
        let mut h = hint(Some("x"), None);
        h.id = "Bad Id".into();
        assert!(err(h).contains("id must be"));
        let mut h = hint(Some("x"), None);
        h.text = BTreeMap::from([("zh-CN".into(), "提示".into())]);
        assert!(err(h).contains("needs `en`"));
        let mut h = hint(Some("x"), None);
        h.text.insert("fr".into(), "Indice".into());
        assert!(err(h).contains("unknown locale \"fr\""));
        let mut h = hint(Some("x"), None);
        h.text.insert("en".into(), "x".repeat(MAX_HINT_TEXT_BYTES + 1));
        assert!(err(h).contains("text.en is 601 bytes"));
        assert!(check(&[hint(Some("x"), None), hint(Some("y"), None)])
            .unwrap_err()
            .to_string()
            .contains("used twice"));
        let many: Vec<Hint> = (0..=MAX_HINTS)
            .map(|i| Hint {
                id: format!("h{i}"),
                ..hint(Some("x"), None)
            })
            .collect();
        assert!(check(&many)
            .unwrap_err()
            .to_string()
            .contains("more than the limit of 32"));
        assert!(check(&many[..MAX_HINTS]).is_ok());
    }
}
