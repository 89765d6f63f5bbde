//! Hook for the rhai source of `check` declarations. Compiling rhai (syntax
//! errors, calls of unknown functions, codes UPG080-UPG089) belongs to
//! `crate::checks`; the checker only gathers the declarations and hands them
//! over, so `runbook check` reports everything in one pass.

use crate::diagnostic::Diagnostic;
use crate::source::SourceMap;

use super::decls::Decls;

/// Compiles every declared check and returns its diagnostics.
///
/// HOOK: call `crate::checks::compile(name, source, &origin)` here for each
/// `decls.checks` entry (inline source: origin is the `.upg` file and the
/// offset of `CheckSource::Inline.span`; `from` source: the `.rhai` file the
/// loader added to `sources`) once `crate::checks` exposes it.
pub fn compile_checks(_decls: &Decls, _sources: &SourceMap) -> Vec<Diagnostic> {
    Vec::new()
}
