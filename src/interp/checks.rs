//! `check.NAME(...)` calls: custom rhai checks run by `crate::checks`.

use super::error::RunError;
use super::run::Interp;
use super::value::Value;
use crate::source::Span;

pub async fn run(interp: &Interp<'_>, name: &str, _keyword: Vec<(String, Value)>, span: Span) -> Result<Value, RunError> {
    if !interp.checks.contains_key(name) {
        return Err(RunError::eval(format!("check `{name}` is not declared"), span));
    }
    Err(RunError::eval(
        format!("check `{name}` cannot run: this build does not include the rhai checks runner yet"),
        span,
    )
    .with_help("remove the check from the runbook, or use a build that includes `crate::checks`"))
}
