//! Declarations visible program-wide: runbooks, gates, checks and file-level
//! environments, from the root file and everything it imports. Duplicate gates
//! and checks are reported here.

use std::collections::HashMap;

use crate::diagnostic::Diagnostic;
use crate::source::{FileId, SourceMap};
use crate::syntax::ast::{CheckDecl, Environment, File, GateDecl, Ident, Item, Runbook, Template};

use super::codes;

#[derive(Default)]
pub struct Decls<'a> {
    pub runbooks: Vec<&'a Runbook>,
    pub gates: HashMap<&'a str, &'a GateDecl>,
    pub checks: HashMap<&'a str, &'a CheckDecl>,
    pub templates: HashMap<&'a str, &'a Template>,
    /// Gates declared outside any runbook (library gates).
    pub file_gates: Vec<&'a GateDecl>,
    /// Environments declared outside any runbook.
    pub file_environments: Vec<&'a Environment>,
    /// The file being checked (imports follow it).
    root: Option<FileId>,
}

impl<'a> Decls<'a> {
    pub fn collect(sources: &SourceMap, files: &'a [File], diags: &mut Vec<Diagnostic>) -> Self {
        let mut decls = Decls {
            root: files.first().map(|f| f.file),
            ..Decls::default()
        };
        for file in files {
            for item in &file.items {
                match item {
                    Item::Runbook(r) => {
                        decls.runbooks.push(r);
                        for g in r.gates() {
                            decls.add_gate(sources, g, diags);
                        }
                        for c in r.checks() {
                            decls.add_check(sources, c, diags);
                        }
                    }
                    Item::Gate(g) => {
                        decls.file_gates.push(g);
                        decls.add_gate(sources, g, diags);
                    }
                    Item::Check(c) => decls.add_check(sources, c, diags),
                    Item::Environment(e) => decls.file_environments.push(e),
                    Item::Template(t) => decls.add_template(sources, t, diags),
                }
            }
        }
        decls
    }

    fn add_gate(&mut self, sources: &SourceMap, g: &'a GateDecl, diags: &mut Vec<Diagnostic>) {
        if let Some(first) = self.gates.insert(g.name.as_str(), g) {
            diags.push(self.duplicate(sources, "gate", &g.name, &first.name));
            self.gates.insert(first.name.as_str(), first);
        }
    }

    fn add_check(&mut self, sources: &SourceMap, c: &'a CheckDecl, diags: &mut Vec<Diagnostic>) {
        if let Some(first) = self.checks.insert(c.name.as_str(), c) {
            diags.push(self.duplicate(sources, "check", &c.name, &first.name));
            self.checks.insert(first.name.as_str(), first);
        }
    }

    fn add_template(&mut self, sources: &SourceMap, t: &'a Template, diags: &mut Vec<Diagnostic>) {
        if let Some(first) = self.templates.insert(t.name.as_str(), t) {
            diags.push(self.duplicate(sources, "template", &t.name, &first.name));
            self.templates.insert(first.name.as_str(), first);
        }
    }

    /// Points at the declaration in the file being checked when one of the
    /// two is imported: that is the one the user can rename.
    fn duplicate(
        &self,
        sources: &SourceMap,
        what: &str,
        second: &Ident,
        first: &Ident,
    ) -> Diagnostic {
        let (here, there) =
            if Some(first.span.file) == self.root && Some(second.span.file) != self.root {
                (first, second)
            } else {
                (second, first)
            };
        let name = &here.name;
        codes::DUPLICATE_GATE
            .diag(format!("{what} `{name}` is declared twice"))
            .with_label(here.span, format!("`{name}` declared here"))
            .with_label(there.span, "also declared here")
            .with_help(format!(
                "also declared at {}; rename one of them or remove the duplicate {what}",
                sources.location(there.span)
            ))
    }
}
