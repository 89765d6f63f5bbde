//! `check.NAME(key: value, ...)` calls: compile the declared rhai source,
//! collect a read-only snapshot through the real clients, and run the check
//! off the async runtime. A failing check is `false` with its message and
//! offenders logged, so conditions read naturally.

use std::sync::Arc;

use crate::checks::{
    CheckRunner, Limits, Origin, Params, SCRIPT_VARIABLES, collect_reading, compile,
};
use crate::syntax::ast::CheckSource;

use super::error::{FailKind, RunError};
use super::report::Event;
use super::run::Interp;
use super::value::Value;
use crate::source::Span;

pub async fn run(
    interp: &Interp<'_>,
    name: &str,
    keyword: Vec<(String, Value)>,
    span: Span,
) -> Result<Value, RunError> {
    let decl = interp
        .checks
        .get(name)
        .ok_or_else(|| RunError::eval(format!("check `{name}` is not declared"), span))?;
    // After a planned mutation the live cluster no longer matches the plan;
    // a check would judge the wrong state.
    if interp.is_plan() && interp.planned_mutations() > 0 {
        return Ok(Value::Unknown(format!(
            "check.{name} runs against the cluster at run time"
        )));
    }
    let sources = &interp.program.sources;
    let (text, origin) = match &decl.source {
        CheckSource::Inline { text, span } => {
            (text.clone(), Origin::inline(span.file, span.start as usize))
        }
        CheckSource::File { file: Some(id), .. } => {
            (sources.get(*id).text.clone(), Origin::file(*id))
        }
        CheckSource::File {
            path, path_span, ..
        } => {
            return Err(RunError::eval(
                format!("check `{name}`: `{path}` was not loaded"),
                *path_span,
            ));
        }
    };
    let compiled = compile(name, &text, &origin).map_err(|diags| {
        let first = diags.into_iter().next();
        RunError {
            kind: FailKind::Eval,
            message: first.as_ref().map_or_else(
                || format!("check `{name}` does not compile"),
                |d| d.message.clone(),
            ),
            span: first.as_ref().and_then(|d| d.primary_span()).or(Some(span)),
            help: Some("run `runbook check` on the runbook for the full diagnostics".into()),
        }
    })?;
    let cluster = interp.cluster_name().ok_or_else(|| {
        RunError::eval(
            format!("check `{name}` needs the runbook's `cluster` parameter"),
            span,
        )
    })?;
    // A dry run's checks all run before its first planned change (above),
    // against the cluster as it is: one snapshot serves them all, so each
    // check does not LIST every pod again.
    let values = match interp.plan_snapshot().filter(|_| interp.is_plan()) {
        Some(values) => values,
        None => {
            // A dry run keeps the whole snapshot for every check; a run
            // reads only what this check does (gates poll it).
            let reads = if interp.is_plan() {
                SCRIPT_VARIABLES
            } else {
                &compiled.uses[..]
            };
            let snapshot = collect_reading(&interp.cloud.kube, &interp.cloud.eks, &cluster, reads)
                .await
                .map_err(|e| {
                    RunError::new(
                        FailKind::Cloud,
                        format!("check `{name}`: collecting the cluster snapshot: {e:#}"),
                        span,
                    )
                })?;
            let values = Arc::new(
                snapshot
                    .to_script()
                    .map_err(|e| RunError::eval(format!("check `{name}`: {e:#}"), span))?,
            );
            if interp.is_plan() {
                interp.keep_plan_snapshot(values.clone());
            }
            values
        }
    };
    let params: Params = keyword.into_iter().map(|(k, v)| (k, v.to_json())).collect();
    let outcome = tokio::task::spawn_blocking(move || {
        CheckRunner::new(Limits::default()).run(&compiled, &values, &params)
    })
    .await
    .map_err(|e| RunError::eval(format!("check `{name}` crashed: {e}"), span))?;
    match outcome {
        // `print`/`debug` output (`o.logs`, bounded by the runner) went to the
        // engine log (`RUNBOOK_LOG=info`) as it was produced, never to the
        // run's output: see docs/checks.md.
        Ok(o) => {
            if !o.passed {
                let offenders: Vec<String> = o.offenders.iter().map(|x| x.to_string()).collect();
                interp.reporter.event(Event::Log {
                    message: format!(
                        "check.{name} failed: {}{}",
                        o.message,
                        if offenders.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", offenders.join(", "))
                        }
                    ),
                });
            }
            Ok(Value::Bool(o.passed))
        }
        Err(e) => Err(RunError {
            kind: FailKind::Eval,
            message: e.message,
            span: e.span.or(Some(span)),
            help: None,
        }),
    }
}
