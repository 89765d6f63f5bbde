//! Static analysis of a loaded program (what `runbook check` reports; the
//! custom rhai checks a runbook calls live in `crate::checks`). Every finding
//! is a `Diagnostic` with a code from `codes` (UPG010 and up), a labelled span
//! and a help line.
//!
//! Stages, one file each: `decls` (program-wide gates, checks, templates,
//! environments),
//! `runbook` (params, preconditions, gates, flow), `environments`, `steps`,
//! `stmts`, `timing` (within/every), `expr` (names, fields, operators),
//! `calls` (built-ins, checks, methods), `literals` (versions, durations),
//! `rhai` (compile check sources), `templates` (declarations and `use`).
//!
//! Public API: `resolve(&Program) -> Result<Resolved, Vec<Diagnostic>>`, the
//! checked program the interpreter runs; `check(&Program) -> Vec<Diagnostic>`
//! and, for callers holding parsed files without a loader,
//! `check_files(&SourceMap, &[ast::File])`.

mod calls;
pub use crate::codes;
mod context;
mod decls;
mod environments;
mod expr;
mod literals;
mod rhai;
mod runbook;
mod scope;
pub(crate) mod steps;
pub mod stmts;
pub mod suggest;
mod templates;
mod timing;
mod types;

use std::collections::HashMap;

use crate::diagnostic::Diagnostic;
use crate::source::SourceMap;
use crate::syntax::Program;
use crate::syntax::ast::{CheckDecl, File, GateDecl, Item, Runbook, Template};

use context::Checker;
use decls::Decls;

pub use context::RangedUse;

/// A program that passed the checker, with its names bound by the
/// checker's rules (one declaration per name, imports merged): what the
/// interpreter runs. Nothing is looked up a second time.
pub struct Resolved<'p> {
    pub program: &'p Program,
    /// The single runbook of the root file.
    pub runbook: &'p Runbook,
    /// Every gate and check visible to it: its own and imported ones.
    pub gates: HashMap<&'p str, &'p GateDecl>,
    pub checks: HashMap<&'p str, &'p CheckDecl>,
    pub templates: HashMap<&'p str, &'p Template>,
    /// Parameters passed straight to ranged built-in arguments, so their
    /// `--set` values are range-checked while binding.
    pub ranged: Vec<RangedUse>,
    /// The checker's warnings (the errors make `resolve` fail).
    pub warnings: Vec<Diagnostic>,
}

/// Checks `program` and resolves its root runbook for execution; the
/// diagnostics when there are errors or nothing to run (RUN005).
pub fn resolve(program: &Program) -> Result<Resolved<'_>, Vec<Diagnostic>> {
    let (diags, ranged, decls) = run(&program.sources, &program.files, true);
    if diags.iter().any(Diagnostic::is_error) {
        return Err(diags);
    }
    let runbook = root_runbook(program).map_err(|d| vec![d])?;
    Ok(Resolved {
        program,
        runbook,
        gates: decls.gates,
        checks: decls.checks,
        templates: decls.templates,
        ranged,
        warnings: diags,
    })
}

/// The single runbook of the root file.
fn root_runbook(program: &Program) -> Result<&Runbook, Diagnostic> {
    let runbooks: Vec<&Runbook> = program
        .root_file()
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Runbook(r) => Some(r),
            _ => None,
        })
        .collect();
    match runbooks.as_slice() {
        [one] => Ok(one),
        [] => Err(
            Diagnostic::error("RUN005", "this file has no runbook to run")
                .with_label(program.root_file().span, "")
                .with_help(
                    "`runbook exec` runs a file holding one `runbook NAME \"...\" { ... }` block",
                ),
        ),
        [_, second, ..] => Err(Diagnostic::error(
            "RUN005",
            "this file holds more than one runbook",
        )
        .with_label(second.name.span, "second runbook")
        .with_help("keep one runbook per file; share gates and checks through imports")),
    }
}

/// Checks parsed files (a root file and everything it imports) together.
pub fn check_files(sources: &SourceMap, files: &[File]) -> Vec<Diagnostic> {
    run(sources, files, true).0
}

fn run<'f>(
    sources: &SourceMap,
    files: &'f [File],
    rhai: bool,
) -> (Vec<Diagnostic>, Vec<RangedUse>, Decls<'f>) {
    let mut diags = Vec::new();
    let decls = Decls::collect(sources, files, &mut diags);
    let compiled = if rhai {
        rhai::compile_checks(&decls, sources)
    } else {
        rhai::Compiled::default()
    };
    let mut checker = Checker::new(sources, &decls, &compiled.params);
    for runbook in &decls.runbooks {
        checker.runbook(runbook);
    }
    checker.environment_targets(&decls);
    // Library gates (declared outside a runbook) may use the parameters of
    // the runbook that imports them; without a runbook, names are unknown.
    if let Some(runbook) = decls.runbooks.first() {
        checker.scoped(|c| {
            for p in runbook.params() {
                c.scopes.bind(&p.name.name, types::from_ast(&p.ty));
            }
            for g in &decls.file_gates {
                c.gate_decl(g);
            }
            templates(c, &decls);
        });
    } else {
        checker.lenient_names = true;
        for g in &decls.file_gates {
            checker.gate_decl(g);
        }
        templates(&mut checker, &decls);
        checker.lenient_names = false;
    }
    for (site, within) in templates::recursive_uses(&decls.templates) {
        checker.report(
            codes::RECURSIVE_TEMPLATE
                .diag(if site.name == within {
                    format!("template `{within}` uses itself")
                } else {
                    format!("template `{within}` uses itself through `{}`", site.name)
                })
                .with_label(site.span, "this use never ends")
                .with_help(
                    "repeat work with `for` over a list instead of a template that uses itself",
                ),
        );
    }
    diags.extend(checker.diags);
    diags.extend(compiled.diags);
    let ranged = checker.ranged_params;
    (diags, ranged, decls)
}

/// Every template's body, in declaration order, each with its own step ids.
fn templates(c: &mut Checker, decls: &Decls) {
    let mut all: Vec<_> = decls.templates.values().copied().collect();
    all.sort_by_key(|t| (t.span.file, t.span.start));
    let runbook_steps = std::mem::take(&mut c.step_ids);
    for t in all {
        c.template_decl(t);
        c.step_ids.clear();
    }
    c.step_ids = runbook_steps;
}

/// Checks a loaded program (see `crate::syntax::load`).
pub fn check(program: &Program) -> Vec<Diagnostic> {
    check_files(&program.sources, &program.files)
}

#[cfg(test)]
mod tests;
