//! Strings with placeholders: `{file}`, `{stem}`, `{sources}` and `{var}` for every name in
//! `[vars]`.
//!
//! `{sources}` stands for a list of file names, so it is a whole argument of its own and expands
//! to as many arguments as the program has source files. `{{` and `}}` stand for literal braces. Templates are parsed once when a runtime file is
//! loaded, so an unknown placeholder is an error naming the file, never a surprise at run time.

use std::collections::BTreeMap;

use crate::error::TemplateError;

/// Placeholder for the main file name.
pub(crate) const FILE: &str = "file";
/// Placeholder for the main file name without its extension.
pub(crate) const STEM: &str = "stem";
/// Placeholder for every source file of the program (an argument of its own).
pub(crate) const SOURCES: &str = "sources";

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(String),
    File,
    Stem,
    Sources,
    Var(String),
}

/// Which placeholders a template may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Host-derived vars only (detect, binds, env, a program path).
    Vars,
    /// Vars plus `{file}`, `{stem}` and `{sources}` (compile and run arguments).
    VarsAndFile,
}

/// A parsed template string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

/// Values for the placeholders.
pub(crate) struct Context<'a> {
    pub(crate) file: Option<&'a str>,
    pub(crate) stem: Option<&'a str>,
    /// What `{sources}` expands to: the main file first, then the other source files.
    pub(crate) sources: Option<&'a [String]>,
    pub(crate) vars: &'a BTreeMap<String, String>,
}

impl Template {
    /// Parses `value`; `vars` are the names declared in the runtime's `[vars]` table.
    pub(crate) fn parse<V>(value: &str, scope: Scope, vars: &BTreeMap<String, V>) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut chars = value.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    text.push('}');
                }
                '}' => {
                    return Err(TemplateError::Unmatched {
                        value: value.to_owned(),
                    })
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => name.push(c),
                            None => {
                                return Err(TemplateError::Unclosed {
                                    value: value.to_owned(),
                                })
                            }
                        }
                    }
                    let part = match name.as_str() {
                        FILE | STEM | SOURCES if scope == Scope::Vars => {
                            return Err(TemplateError::NotAllowed {
                                name,
                                value: value.to_owned(),
                            });
                        }
                        FILE => Part::File,
                        STEM => Part::Stem,
                        SOURCES => Part::Sources,
                        _ if vars.contains_key(&name) => Part::Var(name),
                        _ => {
                            return Err(TemplateError::Unknown {
                                name,
                                value: value.to_owned(),
                            })
                        }
                    };
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text)));
                    }
                    parts.push(part);
                }
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        if parts.contains(&Part::Sources) && parts.len() > 1 {
            return Err(TemplateError::SourcesNotAlone {
                value: value.to_owned(),
            });
        }
        Ok(Self { parts })
    }

    /// True when the template is `{sources}` (it expands to a list, see [`Template::expand`]).
    pub(crate) fn is_sources(&self) -> bool {
        self.parts == [Part::Sources]
    }

    /// True when the template uses `{file}`.
    pub(crate) fn uses_file(&self) -> bool {
        self.parts.contains(&Part::File)
    }

    /// True when the template uses the var `name`.
    pub(crate) fn uses_var(&self, name: &str) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Var(v) if v == name))
    }

    /// True when the template begins with a placeholder (a var standing for an absolute path).
    pub(crate) fn starts_with_placeholder(&self) -> bool {
        matches!(
            self.parts.first(),
            Some(Part::Var(_) | Part::File | Part::Stem | Part::Sources)
        )
    }

    /// The literal text before the first placeholder.
    pub(crate) fn literal_prefix(&self) -> &str {
        match self.parts.first() {
            Some(Part::Text(t)) => t,
            _ => "",
        }
    }

    /// Substitutes the placeholders; `Err(name)` names a placeholder without a value.
    pub(crate) fn render(&self, ctx: &Context<'_>) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::File => out.push_str(ctx.file.ok_or_else(|| FILE.to_owned())?),
                Part::Stem => out.push_str(ctx.stem.ok_or_else(|| STEM.to_owned())?),
                // Only ever alone (checked by `parse`): `expand` gives its list.
                Part::Sources => return Err(SOURCES.to_owned()),
                Part::Var(name) => out.push_str(ctx.vars.get(name).ok_or_else(|| name.clone())?),
            }
        }
        Ok(out)
    }

    /// The arguments the template stands for: `{sources}` gives one per source file, any
    /// other template the one string [`Template::render`] makes.
    pub(crate) fn expand(&self, ctx: &Context<'_>) -> Result<Vec<String>, String> {
        if self.is_sources() {
            return ctx.sources.map(<[String]>::to_vec).ok_or_else(|| SOURCES.to_owned());
        }
        self.render(ctx).map(|one| vec![one])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<String, String> {
        BTreeMap::from([("sysroot".to_owned(), "/opt/rust".to_owned())])
    }

    #[test]
    fn renders_all_placeholders_and_escapes() {
        let vars = vars();
        let t = Template::parse("{sysroot}/bin/{stem}.{{x}}-{file}", Scope::VarsAndFile, &vars).expect("valid");
        let ctx = Context {
            file: Some("Main.java"),
            stem: Some("Main"),
            sources: None,
            vars: &vars,
        };
        assert_eq!(t.render(&ctx).expect("all known"), "/opt/rust/bin/Main.{x}-Main.java");
        assert!(t.starts_with_placeholder());
    }

    #[test]
    fn rejects_malformed_templates() {
        let vars = vars();
        assert!(matches!(
            Template::parse("a{b", Scope::Vars, &vars),
            Err(TemplateError::Unclosed { .. })
        ));
        assert!(matches!(
            Template::parse("a}b", Scope::Vars, &vars),
            Err(TemplateError::Unmatched { .. })
        ));
        assert!(matches!(
            Template::parse("{home}", Scope::Vars, &vars),
            Err(TemplateError::Unknown { .. })
        ));
        assert!(matches!(
            Template::parse("{file}", Scope::Vars, &vars),
            Err(TemplateError::NotAllowed { .. })
        ));
        assert!(matches!(
            Template::parse("{sources}", Scope::Vars, &vars),
            Err(TemplateError::NotAllowed { .. })
        ));
        for glued in ["-I{sources}", "{sources}.o", "{sources}{file}"] {
            assert!(
                matches!(
                    Template::parse(glued, Scope::VarsAndFile, &vars),
                    Err(TemplateError::SourcesNotAlone { .. })
                ),
                "{glued}"
            );
        }
    }

    #[test]
    fn sources_expand_to_one_argument_per_file() {
        let vars = vars();
        let sources = vec!["main.c".to_owned(), "add.c".to_owned(), "./-o.c".to_owned()];
        let ctx = Context {
            file: Some("main.c"),
            stem: Some("main"),
            sources: Some(&sources),
            vars: &vars,
        };
        let t = Template::parse("{sources}", Scope::VarsAndFile, &vars).expect("valid");
        assert!(t.is_sources());
        assert_eq!(t.expand(&ctx).expect("known"), sources);
        let one = Template::parse("-o{stem}", Scope::VarsAndFile, &vars).expect("valid");
        assert_eq!(one.expand(&ctx).expect("known"), ["-omain"]);
        let without = Context { sources: None, ..ctx };
        assert_eq!(t.expand(&without), Err("sources".to_owned()));
    }

    #[test]
    fn missing_var_value_is_reported() {
        let declared = vars();
        let t = Template::parse("{sysroot}/bin/rustc", Scope::Vars, &declared).expect("valid");
        let empty = BTreeMap::new();
        let ctx = Context {
            file: None,
            stem: None,
            sources: None,
            vars: &empty,
        };
        assert_eq!(t.render(&ctx), Err("sysroot".to_owned()));
    }
}
