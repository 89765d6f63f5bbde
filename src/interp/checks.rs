//! `check.NAME(key: value, ...)` calls: compile the declared rhai source,
//! collect a read-only snapshot through the real clients, and run the check
//! off the async runtime. A failing check is `false` with its message and
//! offenders logged, so conditions read naturally.

use std::sync::Arc;

use crate::checks::{
    CheckRunner, Limits, Origin, Params, SCRIPT_VARIABLES, ScriptValues, collect_reading, compile,
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
    let params: Params = keyword.into_iter().map(|(k, v)| (k, v.to_json())).collect();
    if interp.is_plan() {
        let base = plan_snapshot(interp, &cluster, name, span).await?;
        // A check that reads only EKS state (versions, the add-on catalog)
        // judges the state the planned changes leave exactly: the plan
        // projects it.
        let settled = projected(interp, &base, &cluster, span).await?;
        let (compiled, p) = (compiled.clone(), params.clone());
        let outcome = tokio::task::spawn_blocking(move || {
            CheckRunner::new(Limits::default()).run(&compiled, &settled, &p)
        })
        .await
        .map_err(|e| RunError::eval(format!("check `{name}` crashed: {e}"), span))?;
        if let Ok(o) = outcome {
            if !o.passed {
                interp.note_settled_failure();
            }
            return Ok(verdict(interp, name, o));
        }
        // It reads Kubernetes objects: after a planned mutation the live
        // cluster no longer matches the plan, so it would judge the wrong
        // state.
        if interp.planned_mutations() > 0 {
            return Ok(Value::Unknown(format!(
                "check.{name} runs against the cluster at run time"
            )));
        }
    }
    let values = match interp.is_plan() {
        true => plan_snapshot(interp, &cluster, name, span).await?,
        // A run reads only what this check does (gates poll it).
        false => snapshot(interp, &cluster, &compiled.uses, name, span).await?,
    };
    let outcome = tokio::task::spawn_blocking(move || {
        CheckRunner::new(Limits::default()).run(&compiled, &values, &params)
    })
    .await
    .map_err(|e| RunError::eval(format!("check `{name}` crashed: {e}"), span))?;
    match outcome {
        // `print`/`debug` output (`o.logs`, bounded by the runner) went to the
        // engine log (`RUNBOOK_LOG=info`) as it was produced, never to the
        // run's output: see docs/checks.md.
        Ok(o) => Ok(verdict(interp, name, o)),
        Err(e) => Err(RunError {
            kind: FailKind::Eval,
            message: e.message,
            span: e.span.or(Some(span)),
            help: None,
        }),
    }
}

/// A check's outcome as a value; a failure's message and offenders logged.
fn verdict(interp: &Interp<'_>, name: &str, o: crate::checks::CheckOutcome) -> Value {
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
    Value::Bool(o.passed)
}

/// The cluster as it is, through the real clients: the lists `reads` names.
async fn snapshot(
    interp: &Interp<'_>,
    cluster: &str,
    reads: &[&str],
    name: &str,
    span: Span,
) -> Result<Arc<ScriptValues>, RunError> {
    let snapshot = collect_reading(&interp.cloud.kube, &interp.cloud.eks, cluster, reads)
        .await
        .map_err(|e| {
            RunError::new(
                FailKind::Cloud,
                format!("check `{name}`: collecting the cluster snapshot: {e:#}"),
                span,
            )
        })?;
    Ok(Arc::new(snapshot.to_script().map_err(|e| {
        RunError::eval(format!("check `{name}`: {e:#}"), span)
    })?))
}

/// A dry run's snapshot of the cluster as it is, read once: its checks
/// on Kubernetes objects all run before its first planned change, so one
/// snapshot serves them all and each does not LIST every pod again.
async fn plan_snapshot(
    interp: &Interp<'_>,
    cluster: &str,
    name: &str,
    span: Span,
) -> Result<Arc<ScriptValues>, RunError> {
    if let Some(values) = interp.plan_snapshot() {
        return Ok(values);
    }
    // Every check of the dry run reads this one snapshot: all of it.
    let values = snapshot(interp, cluster, SCRIPT_VARIABLES, name, span).await?;
    interp.keep_plan_snapshot(values.clone());
    Ok(values)
}

/// The EKS state the plan's changes so far leave: `base`'s cluster with the
/// projected control-plane and add-on versions (the add-on catalog does
/// not change). Everything else is left out (unit), so a check that reads
/// it fails to run and is judged as before.
async fn projected(
    interp: &Interp<'_>,
    base: &ScriptValues,
    cluster: &str,
    span: Span,
) -> Result<Arc<ScriptValues>, RunError> {
    let eks = &interp.cloud.eks;
    let cloud = |e: crate::cloud::CloudError| RunError::cloud(e, span);
    let (info, addons) =
        tokio::try_join!(eks.cluster(cluster), eks.addons(cluster)).map_err(cloud)?;
    let mut vars = Vec::with_capacity(base.vars.len());
    for (var, value) in &base.vars {
        let value = match (*var, value.clone().try_cast::<rhai::Map>()) {
            ("cluster", Some(mut c)) => {
                c.insert("version".into(), info.version.clone().into());
                let list = c
                    .get("addons")
                    .cloned()
                    .and_then(|a| a.into_array().ok())
                    .unwrap_or_default();
                let list: rhai::Array = list
                    .into_iter()
                    .map(|a| match a.try_cast::<rhai::Map>() {
                        Some(mut a) => {
                            let name = a.get("name").map(|n| n.to_string()).unwrap_or_default();
                            if let Some(now) = addons.iter().find(|x| x.name == name) {
                                a.insert("version".into(), now.version.clone().into());
                            }
                            rhai::Dynamic::from_map(a)
                        }
                        None => rhai::Dynamic::UNIT,
                    })
                    .collect();
                c.insert("addons".into(), rhai::Dynamic::from_array(list));
                rhai::Dynamic::from_map(c)
            }
            _ => rhai::Dynamic::UNIT,
        };
        vars.push((*var, value));
    }
    Ok(Arc::new(ScriptValues {
        vars,
        now: base.now,
    }))
}
