//! The rhai source of `check` declarations. Compiling rhai (syntax errors,
//! calls of unknown functions, codes UPG080-UPG089) belongs to
//! `crate::checks`; the checker finds each declared check's source text and
//! where it sits, and compiles it there, so `runbook check` reports
//! everything in one pass.

use std::collections::HashMap;

use crate::checks::{Origin, ParamsRead};
use crate::diagnostic::Diagnostic;
use crate::source::SourceMap;
use crate::syntax::ast::CheckSource;

use super::decls::Decls;

/// What compiling the declared checks found.
#[derive(Default)]
pub struct Compiled {
    /// Compile errors, in check name order.
    pub diags: Vec<Diagnostic>,
    /// The parameters each check reads, by check name (also for a check
    /// that does not compile, when the rest of its script could be read).
    pub params: HashMap<String, ParamsRead>,
}

/// Compiles every declared check's source, in name order.
pub fn compile_checks(decls: &Decls, sources: &SourceMap) -> Compiled {
    let mut checks: Vec<_> = decls.checks.values().collect();
    checks.sort_by_key(|c| c.name.name.as_str());
    let mut out = Compiled::default();
    for check in checks {
        let name = check.name.name.as_str();
        let (text, origin) = match &check.source {
            CheckSource::Inline { text, span } => {
                (text, Origin::inline(span.file, span.start as usize))
            }
            CheckSource::File {
                file: Some(file), ..
            } => (&sources.get(*file).text, Origin::file(*file)),
            // Not loaded: the loader has already reported the missing file.
            CheckSource::File { file: None, .. } => continue,
        };
        let (diags, params) = crate::checks::diagnose(name, text, &origin);
        out.diags.extend(diags);
        if let Some(params) = params {
            out.params.insert(name.to_string(), params);
        }
    }
    out
}
