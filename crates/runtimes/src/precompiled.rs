//! A runtime file's `[precompiled]` table: standard headers the engine precompiles once per
//! toolchain, and the rule that says when a program may use them.
//!
//! The strategy is GCC's precompiled headers (C and C++ only have them): a directory holding
//! `NAME.gch` is searched first (`-I{dir}`), and the compiler takes the precompiled state of
//! `NAME` for the first `#include <NAME>` of a file when it is valid for the compilation. What
//! to precompile, how to build one and which flags find it are the runtime file's data; what
//! is here is the language-independent part: the table's checks and when a program's own text
//! allows a header to be used unchanged.
//!
//! A precompiled header remembers where it was included from: a compile error that points into
//! a standard header says "In file included from main.cpp:1", and with a precompiled header
//! that line is the one the header was built with. So it is built from a file named as the
//! runtime's main file holding only `#include <NAME>` on its first line, and used only for a
//! program of one source file, that main file, whose first line is that include: the compiler
//! then sees the same file, line and macro state (nothing before it) as when it was built, and
//! every message the student sees is the one a compile without it gives.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::SpecError;
use crate::template::{Scope, Template};

/// Most headers one runtime precompiles: each is built at start-up (seconds of CPU) and kept
/// on disk (a C++ `<bits/stdc++.h>` is ~100 MB).
pub const MAX_PRECOMPILED_HEADERS: usize = 8;
/// The longest header name (`bits/stdc++.h`), in bytes.
pub const MAX_HEADER_NAME_BYTES: usize = 255;
/// The placeholder in `precompiled.use` for the directory holding the built headers.
pub(crate) const DIR: &str = "dir";

/// The `[precompiled]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PrecompiledFile {
    headers: Vec<String>,
    build: Vec<String>,
    #[serde(rename = "use")]
    use_flags: Vec<String>,
}

/// The validated `[precompiled]` table of a runtime.
#[derive(Clone, Debug)]
pub(crate) struct Precompiled {
    /// Header names as a program includes them (`bits/stdc++.h`), each once.
    pub(crate) headers: Vec<String>,
    /// argv that precompiles one header: `{file}` is a file named as the runtime's main file
    /// holding `#include <NAME>`; it leaves one `*.gch` file in the work dir.
    pub(crate) build: Vec<Template>,
    /// Arguments inserted after the compile program when a program uses a header; `{dir}` is
    /// the directory holding `NAME.gch` for every built header.
    pub(crate) use_flags: Vec<Template>,
}

impl PrecompiledFile {
    /// Checks the table; `vars` are the runtime's `[vars]`, `compiled` whether it has a compile
    /// step. `parse_argv` is the runtime file's own argv check (absolute program path).
    pub(crate) fn validate(
        self,
        vars: &BTreeMap<String, Vec<String>>,
        compiled: bool,
        parse_argv: impl Fn(&str, &[String], Scope) -> Result<Vec<Template>, SpecError>,
    ) -> Result<Precompiled, SpecError> {
        let invalid = |field: &str, reason: String| SpecError::Invalid {
            field: format!("precompiled.{field}"),
            reason,
        };
        if !compiled {
            return Err(invalid(
                "headers",
                "only a runtime with a compile step can use them".into(),
            ));
        }
        if self.headers.is_empty() {
            return Err(SpecError::Empty {
                field: "precompiled.headers".to_owned(),
            });
        }
        if self.headers.len() > MAX_PRECOMPILED_HEADERS {
            return Err(invalid("headers", format!("at most {MAX_PRECOMPILED_HEADERS}")));
        }
        let mut headers: Vec<String> = Vec::with_capacity(self.headers.len());
        for name in self.headers {
            if !header_name_ok(&name) {
                return Err(invalid(
                    "headers",
                    format!(
                        "{name:?} must be a relative header name as in #include <NAME> (letters, digits, \
                         _ + - . /, no empty, . or .. component, at most {MAX_HEADER_NAME_BYTES} bytes)"
                    ),
                ));
            }
            if !headers.contains(&name) {
                headers.push(name);
            }
        }
        let build = parse_argv("precompiled.build", &self.build, Scope::VarsAndFile)?;
        if build.iter().any(Template::is_sources) {
            return Err(invalid("build", "takes {file}, not {sources}".into()));
        }
        if !build.iter().any(Template::uses_file) {
            return Err(invalid("build", "must name the header's file with {file}".into()));
        }
        if self.use_flags.is_empty() {
            return Err(SpecError::Empty {
                field: "precompiled.use".to_owned(),
            });
        }
        if vars.contains_key(DIR) {
            return Err(invalid(
                "use",
                format!("{{{DIR}}} is the directory of the precompiled headers: rename vars.{DIR}"),
            ));
        }
        let mut with_dir: BTreeMap<String, ()> = vars.keys().map(|k| (k.clone(), ())).collect();
        with_dir.insert(DIR.to_owned(), ());
        let mut use_flags = Vec::with_capacity(self.use_flags.len());
        for (i, value) in self.use_flags.iter().enumerate() {
            let t = Template::parse(value, Scope::Vars, &with_dir).map_err(|source| SpecError::Template {
                field: format!("precompiled.use[{i}]"),
                source,
            })?;
            use_flags.push(t);
        }
        if !use_flags.iter().any(|t| t.uses_var(DIR)) {
            return Err(invalid("use", format!("must name the directory with {{{DIR}}}")));
        }
        Ok(Precompiled {
            headers,
            build,
            use_flags,
        })
    }
}

/// A header name as it stands between `<` and `>`: relative, plain components.
fn header_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_HEADER_NAME_BYTES
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_+-./".contains(c))
        && name.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

/// The header of `#include <NAME>` when it is the whole first line of `text` (spaces and tabs
/// around the `#` and before the name allowed, nothing after the `>` but trailing white space
/// or a CR); `None` for anything else — a comment, a blank or another directive first, a
/// byte-order mark, a line continuation, quotes instead of angle brackets.
pub(crate) fn first_line_include(text: &[u8]) -> Option<&str> {
    let line = text.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = std::str::from_utf8(line).ok()?;
    let line = line.trim_end_matches([' ', '\t', '\r']);
    let rest = line.trim_start_matches([' ', '\t']).strip_prefix('#')?;
    let rest = rest.trim_start_matches([' ', '\t']).strip_prefix("include")?;
    let rest = rest.trim_start_matches([' ', '\t']).strip_prefix('<')?;
    let name = rest.strip_suffix('>')?;
    header_name_ok(name).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Catalog;

    /// A compiled runtime whose programs exist everywhere (/bin/sh stands in for a compiler),
    /// with a `[precompiled]` table.
    const CXX: &str = r#"
name = "cxx"
display_name = "C++ stand-in"
file = "main.cpp"
compile = ["/bin/sh", "-O2", "-o", "main", "{sources}"]
sources = ["*.cpp"]
run = ["./main"]
detect = ["/bin/sh", "-c", "echo 12.2.0"]
[vars]
cc = ["/bin/sh", "-c", "echo /bin/sh"]
[precompiled]
headers = ["bits/stdc++.h", "iostream", "iostream"]
build = ["{cc}", "-O2", "-x", "c++-header", "{file}", "-o", "{file}.gch"]
use = ["-I{dir}", "-Winvalid-pch"]
[example]
hello = "int main() {}"
echo = "cat"
runtime_error = "exit 1"
compile_error = "if"
"#;

    fn cxx() -> Catalog {
        let mut catalog = Catalog::from_files([("cxx.toml", CXX)]).expect("valid");
        catalog.detect();
        catalog
    }

    fn chain(err: &dyn std::error::Error) -> String {
        let mut text = err.to_string();
        let mut source = err.source();
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        text
    }

    #[test]
    fn the_table_is_parsed_into_commands_and_flags() {
        let catalog = cxx();
        let rt = catalog.get("cxx").expect("cxx");
        assert_eq!(rt.precompiled_headers(), ["bits/stdc++.h", "iostream"], "each once");
        let build = rt.precompile("bits/stdc++.h").expect("renders").expect("declared");
        assert_eq!(
            build.command.argv,
            ["/bin/sh", "-O2", "-x", "c++-header", "main.cpp", "-o", "main.cpp.gch"]
        );
        assert!(build.command.env.iter().any(|(k, _)| k == "PATH"));
        assert_eq!(build.file, "main.cpp");
        assert_eq!(build.content, b"#include <bits/stdc++.h>\n");
        assert!(rt.precompile("vector").expect("renders").is_none(), "not declared");
        assert_eq!(
            rt.precompiled_flags("/var/lib/tiderun/precompiled/cxx")
                .expect("renders"),
            ["-I/var/lib/tiderun/precompiled/cxx", "-Winvalid-pch"]
        );
        // A runtime without the table has nothing of it.
        let plain = Catalog::from_files([(
            "p.toml",
            CXX.split("[precompiled]").next().unwrap().to_owned()
                + "[example]\nhello = \"x\"\necho = \"x\"\nruntime_error = \"x\"\ncompile_error = \"x\"\n",
        )])
        .expect("valid");
        let plain = plain.get("cxx").expect("cxx");
        assert!(plain.precompiled_headers().is_empty());
        assert!(plain.precompile("iostream").expect("no error").is_none());
        assert!(plain.precompiled_flags("/d").expect("no error").is_empty());
        assert_eq!(
            plain.precompiled_header_for(&["main.cpp"], b"#include <iostream>\n"),
            None
        );
    }

    #[test]
    fn a_program_uses_a_header_only_as_it_was_built() {
        let catalog = cxx();
        let rt = catalog.get("cxx").expect("cxx");
        let hello = b"#include <iostream>\nint main() {}\n";
        assert_eq!(rt.precompiled_header_for(&["main.cpp"], hello), Some("iostream"));
        assert_eq!(
            rt.precompiled_header_for(&["main.cpp", "data.txt", "util.h"], b"#include <bits/stdc++.h>\n"),
            Some("bits/stdc++.h"),
            "files that are not sources do not matter"
        );
        // Not built for it: another header, another main file name, another source, a
        // comment first.
        assert_eq!(rt.precompiled_header_for(&["main.cpp"], b"#include <vector>\n"), None);
        assert_eq!(rt.precompiled_header_for(&["solution.cpp"], hello), None);
        assert_eq!(rt.precompiled_header_for(&["main.cpp", "add.cpp"], hello), None);
        assert_eq!(
            rt.precompiled_header_for(&["main.cpp"], b"// A\n#include <iostream>\n"),
            None
        );
        assert_eq!(rt.precompiled_header_for::<&str>(&[], hello), None);
    }

    #[test]
    fn bad_tables_name_the_field() {
        let cases = [
            (
                CXX.replace("compile = [", "#")
                    .replace("run = [\"./main\"]", "run = [\"/bin/sh\"]")
                    .replace("sources = [\"*.cpp\"]", "")
                    .replace("compile_error = \"if\"\n", ""),
                "only a runtime with a compile step",
            ),
            (
                CXX.replace(
                    "headers = [\"bits/stdc++.h\", \"iostream\", \"iostream\"]",
                    "headers = []",
                ),
                "precompiled.headers must not be empty",
            ),
            (
                CXX.replace("\"iostream\", \"iostream\"]", "\"../iostream\"]"),
                "precompiled.headers",
            ),
            (
                CXX.replace("\"iostream\", \"iostream\"]", "\"/usr/include/stdio.h\"]"),
                "precompiled.headers",
            ),
            (
                CXX.replace(
                    "headers = [\"bits/stdc++.h\", \"iostream\", \"iostream\"]",
                    "headers = [\"a\", \"b\", \"c\", \"d\", \"e\", \"f\", \"g\", \"h\", \"i\"]",
                ),
                "at most 8",
            ),
            (
                CXX.replace("\"{file}\", \"-o\"", "\"{sources}\", \"-o\""),
                "not {sources}",
            ),
            (
                CXX.replace("\"{file}\", \"-o\", \"{file}.gch\"", "\"x.h\""),
                "must name the header's file with {file}",
            ),
            (
                CXX.replace("build = [\"{cc}\"", "build = [\"cc\""),
                "precompiled.build: program \"cc\"",
            ),
            (
                CXX.replace("use = [\"-I{dir}\", \"-Winvalid-pch\"]", "use = []"),
                "precompiled.use must not be empty",
            ),
            (
                CXX.replace("\"-I{dir}\"", "\"-I/x\""),
                "must name the directory with {dir}",
            ),
            (
                CXX.replace("\"-I{dir}\"", "\"-I{file}\""),
                "only allowed in compile and run",
            ),
            (
                CXX.replace("cc = [", "dir = [\"/bin/true\"]\ncc = ["),
                "rename vars.dir",
            ),
        ];
        for (text, want) in cases {
            let err = Catalog::from_files([("bad.toml", text)]).expect_err(want);
            let msg = chain(&err);
            assert!(msg.contains(want), "{msg} should contain {want:?}");
        }
        let unknown = CXX.replace("use = [", "lines = 3\nuse = [");
        let err = Catalog::from_files([("bad.toml", unknown)]).expect_err("unknown key");
        assert!(chain(&err).contains("unknown field `lines`"), "{}", chain(&err));
    }

    #[test]
    fn the_shipped_cpp_precompiles_its_common_headers_and_c_none() {
        let catalog = Catalog::embedded().expect("the embedded catalog loads");
        let cpp = catalog.get("c++").expect("c++");
        assert_eq!(cpp.precompiled_headers(), ["bits/stdc++.h", "iostream"]);
        let build = cpp.precompile("iostream").expect("renders").expect("declared");
        let compile = cpp.plan(&cpp.file, &[]).expect("plan").compile.expect("compiled");
        assert_eq!(
            build.command.argv[0], compile.argv[0],
            "the compiler that uses it builds it"
        );
        for flag in ["-std=gnu++17", "-O2"] {
            assert!(build.command.argv.iter().any(|a| a == flag), "{flag} as in compile");
            assert!(compile.argv.iter().any(|a| a == flag));
        }
        assert_eq!(build.command.env, compile.env);
        assert_eq!(build.file, "main.cpp");
        assert_eq!(cpp.precompiled_flags("/d").expect("renders"), ["-I/d", "-Winvalid-pch"]);
        assert_eq!(
            cpp.precompiled_header_for(&["main.cpp"], cpp.example.hello.as_bytes()),
            Some("iostream"),
            "the example hello world uses one"
        );
        assert!(catalog.get("c").expect("c").precompiled_headers().is_empty());
    }

    #[test]
    fn only_a_whole_first_line_include_counts() {
        for (text, want) in [
            ("#include <bits/stdc++.h>\nint main() {}\n", Some("bits/stdc++.h")),
            ("#include<iostream>", Some("iostream")),
            ("  #  include \t<iostream>  \r\nint x;", Some("iostream")),
            ("#include <iostream>\t\n", Some("iostream")),
            // Something before the include: its line, or macro state, would differ.
            ("// hello\n#include <iostream>\n", None),
            ("\n#include <iostream>\n", None),
            ("#define NDEBUG\n#include <iostream>\n", None),
            ("/* x */ #include <iostream>\n", None),
            // Not exactly one include of a header by name.
            ("#include \"iostream\"\n", None),
            ("#include <iostream> // all of it\n", None),
            ("#include <iostream> \\\n", None),
            ("#include <iostream> <vector>\n", None),
            ("#include <../iostream>\n", None),
            ("#include <>\n", None),
            ("#include <iostream\n", None),
            ("#import <iostream>\n", None),
            ("\u{feff}#include <iostream>\n", None),
            ("", None),
        ] {
            assert_eq!(first_line_include(text.as_bytes()), want, "{text:?}");
        }
        assert_eq!(first_line_include(b"#include <io\xffstream>\n"), None);
    }

    #[test]
    fn header_names_are_plain_relative_names() {
        for ok in ["iostream", "bits/stdc++.h", "a_b-c.h", "x/y/z.hpp"] {
            assert!(header_name_ok(ok), "{ok}");
        }
        let long = "h".repeat(MAX_HEADER_NAME_BYTES + 1);
        for bad in [
            "",
            "/usr/include/stdio.h",
            "../x.h",
            "a/./b.h",
            "a//b.h",
            "a b.h",
            "a>b",
            &long,
        ] {
            assert!(!header_name_ok(bad), "{bad}");
        }
    }
}
