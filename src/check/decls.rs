//! Declarations visible program-wide: runbooks, gates, checks and file-level
//! environments, from the root file and everything it imports. Duplicate gates
//! and checks are reported here.

use std::collections::HashMap;

use crate::diagnostic::Diagnostic;
use crate::syntax::ast::{CheckDecl, Environment, File, GateDecl, Item, Runbook};

use super::codes;

#[derive(Default)]
pub struct Decls<'a> {
    pub runbooks: Vec<&'a Runbook>,
    pub gates: HashMap<&'a str, &'a GateDecl>,
    pub checks: HashMap<&'a str, &'a CheckDecl>,
    /// Gates declared outside any runbook (library gates).
    pub file_gates: Vec<&'a GateDecl>,
    /// Environments declared outside any runbook.
    pub file_environments: Vec<&'a Environment>,
}

impl<'a> Decls<'a> {
    pub fn collect(files: &'a [File], diags: &mut Vec<Diagnostic>) -> Self {
        let mut decls = Decls::default();
        for file in files {
            for item in &file.items {
                match item {
                    Item::Runbook(r) => {
                        decls.runbooks.push(r);
                        for g in r.gates() {
                            decls.add_gate(g, diags);
                        }
                        for c in r.checks() {
                            decls.add_check(c, diags);
                        }
                    }
                    Item::Gate(g) => {
                        decls.file_gates.push(g);
                        decls.add_gate(g, diags);
                    }
                    Item::Check(c) => decls.add_check(c, diags),
                    Item::Environment(e) => decls.file_environments.push(e),
                }
            }
        }
        decls
    }

    fn add_gate(&mut self, g: &'a GateDecl, diags: &mut Vec<Diagnostic>) {
        if let Some(first) = self.gates.insert(g.name.as_str(), g) {
            diags.push(duplicate(
                "gate",
                &g.name.name,
                g.name.span,
                first.name.span,
            ));
            self.gates.insert(first.name.as_str(), first);
        }
    }

    fn add_check(&mut self, c: &'a CheckDecl, diags: &mut Vec<Diagnostic>) {
        if let Some(first) = self.checks.insert(c.name.as_str(), c) {
            diags.push(duplicate(
                "check",
                &c.name.name,
                c.name.span,
                first.name.span,
            ));
            self.checks.insert(first.name.as_str(), first);
        }
    }
}

fn duplicate(
    what: &str,
    name: &str,
    here: crate::source::Span,
    first: crate::source::Span,
) -> Diagnostic {
    codes::DUPLICATE_GATE
        .diag(format!("{what} `{name}` is declared twice"))
        .with_label(here, format!("second declaration of `{name}`"))
        .with_label(first, "first declared here")
        .with_help(format!("rename one of them or remove the duplicate {what}"))
}
