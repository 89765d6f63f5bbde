//! Hook for the rhai source of `check` declarations. Compiling rhai (syntax
//! errors, calls of unknown functions, codes UPG080-UPG089) belongs to
//! `crate::checks`; the checker finds each declared check's source text and
//! where it sits, and hands it to a compile function, so `runbook check`
//! reports everything in one pass.

use crate::diagnostic::Diagnostic;
use crate::source::{FileId, SourceMap};
use crate::syntax::ast::CheckSource;

use super::decls::Decls;

/// Compiles one check: `(name, rhai source, file, byte offset of the source
/// in that file)` → its diagnostics. For an inline check the file is the
/// `.upg` file and the offset that of the text between the `"""` quotes;
/// for `check NAME from "x.rhai"` it is the rhai file and 0.
///
/// HOOK: once `crate::checks` is merged, `super::check` passes
/// `|name, text, file, offset| crate::checks::compile(name, text,
/// &crate::checks::Origin::inline(file, offset)).err().unwrap_or_default()`.
pub type CompileFn<'f> = &'f dyn Fn(&str, &str, FileId, usize) -> Vec<Diagnostic>;

/// Until `crate::checks` is merged into this branch: no rhai diagnostics.
pub fn not_compiled(_name: &str, _text: &str, _file: FileId, _offset: usize) -> Vec<Diagnostic> {
    Vec::new()
}

/// Hands every declared check's source to `compile`, in name order.
pub fn compile_checks(decls: &Decls, sources: &SourceMap, compile: CompileFn) -> Vec<Diagnostic> {
    let mut checks: Vec<_> = decls.checks.values().collect();
    checks.sort_by_key(|c| c.name.name.as_str());
    let mut diags = Vec::new();
    for check in checks {
        let name = check.name.name.as_str();
        match &check.source {
            CheckSource::Inline { text, span } => {
                diags.extend(compile(name, text, span.file, span.start as usize));
            }
            CheckSource::File {
                file: Some(file), ..
            } => {
                let text = &sources.get(*file).text;
                diags.extend(compile(name, text, *file, 0));
            }
            // Not loaded: the loader has already reported the missing file.
            CheckSource::File { file: None, .. } => {}
        }
    }
    diags
}
