//! Static checking of a loaded program. Every finding is a `Diagnostic` with
//! a code from `codes` (UPG010 and up), a labelled span and a help line.
//!
//! Stages, one file each: `decls` (program-wide gates, checks, environments),
//! `runbook` (params, preconditions, gates, flow), `environments`, `steps`,
//! `stmts`, `timing` (within/every), `expr` (names, fields, operators),
//! `calls` (built-ins, checks, methods), `literals` (versions, durations),
//! `rhai` (compile check sources).
//!
//! Public API: `check(&Program) -> Vec<Diagnostic>` and, for callers holding
//! parsed files without a loader, `check_files(&SourceMap, &[ast::File])`.

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
mod steps;
mod stmts;
pub mod suggest;
mod timing;
mod types;

use crate::diagnostic::Diagnostic;
use crate::source::SourceMap;
use crate::syntax::ast::File;

use context::Checker;
use decls::Decls;

pub use context::RangedUse;

/// Checks parsed files (a root file and everything it imports) together.
pub fn check_files(sources: &SourceMap, files: &[File]) -> Vec<Diagnostic> {
    run(sources, files, true).0
}

/// The runbook parameters passed directly to built-in arguments with a
/// range (`max_unavailable: mu`), so their `--set` values can be checked
/// before a run starts.
pub fn ranged_parameters(program: &crate::syntax::Program) -> Vec<RangedUse> {
    // Only the walk over calls is needed: compiling rhai would only slow
    // every `exec` and `resume` down.
    run(&program.sources, &program.files, false).1
}

fn run(sources: &SourceMap, files: &[File], rhai: bool) -> (Vec<Diagnostic>, Vec<RangedUse>) {
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
        });
    } else {
        checker.lenient_names = true;
        for g in &decls.file_gates {
            checker.gate_decl(g);
        }
        checker.lenient_names = false;
    }
    diags.extend(checker.diags);
    diags.extend(compiled.diags);
    (diags, checker.ranged_params)
}

/// Checks a loaded program (see `crate::syntax::load`).
pub fn check(program: &crate::syntax::Program) -> Vec<Diagnostic> {
    check_files(&program.sources, &program.files)
}

#[cfg(test)]
mod tests;
