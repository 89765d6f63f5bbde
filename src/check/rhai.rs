//! The rhai source of `check` declarations. Compiling rhai (syntax errors,
//! calls of unknown functions, codes UPG080-UPG089) belongs to
//! `crate::checks`; the checker finds each declared check's source text and
//! where it sits, and compiles it there, so `runbook check` reports
//! everything in one pass.

use crate::checks::Origin;
use crate::diagnostic::Diagnostic;
use crate::source::SourceMap;
use crate::syntax::ast::CheckSource;

use super::decls::Decls;

/// Compiles every declared check's source, in name order.
pub fn compile_checks(decls: &Decls, sources: &SourceMap) -> Vec<Diagnostic> {
    let compile = |name: &str, text: &str, origin: Origin| {
        crate::checks::compile(name, text, &origin)
            .err()
            .unwrap_or_default()
    };
    let mut checks: Vec<_> = decls.checks.values().collect();
    checks.sort_by_key(|c| c.name.name.as_str());
    let mut diags = Vec::new();
    for check in checks {
        let name = check.name.name.as_str();
        match &check.source {
            CheckSource::Inline { text, span } => {
                diags.extend(compile(
                    name,
                    text,
                    Origin::inline(span.file, span.start as usize),
                ));
            }
            CheckSource::File {
                file: Some(file), ..
            } => {
                let text = &sources.get(*file).text;
                diags.extend(compile(name, text, Origin::file(*file)));
            }
            // Not loaded: the loader has already reported the missing file.
            CheckSource::File { file: None, .. } => {}
        }
    }
    diags
}
