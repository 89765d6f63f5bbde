//! `runbook rollback RUN_ID`: undo a finished or failed run later, from its
//! journal. The completed, not-yet-undone steps (`durable::undo`) are
//! rebuilt against the unchanged runbook — each step's rollback block, with
//! the variables it journalled — and undone newest first by the same code
//! as a failed run's rollback (`Interp::roll_back_completed`), as a run of
//! its own: journalled, locked, resumable. Before anything is sent it is
//! planned, and refused when EKS's window for undoing the control plane has
//! passed on the cluster's clock.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;

use super::env::Env;
use super::report::{Event, StepStatus};
use super::run::{Completed, Interp};
use super::value::{Value, recorded};
use super::{Cloud, ExecOptions, Reporter, RunStatus, RunSummary, final_state, params, take_lock};
use crate::analyze::Resolved;
use crate::cloud::clock::{Clock, human};
use crate::cloud::eks::ROLLBACK_WINDOW;
use crate::cloud::plan::{Change, Mode};
use crate::diagnostic::Diagnostic;
use crate::durable::RunId;
use crate::durable::undo::Undoable;
use crate::syntax::ast::{Runbook, Step, Stmt, StmtKind};

/// The catalogue's code for a rollback refused before anything is sent.
pub const REFUSED: &str = crate::codes::ROLLBACK_REFUSED.code;

/// What `runbook rollback` undoes: run `of`'s completed, not-yet-undone
/// steps, oldest first.
#[derive(Clone, Debug)]
pub struct UndoSource {
    pub of: RunId,
    pub steps: Vec<Undoable>,
}

pub(super) async fn run(
    resolved: &Resolved<'_>,
    bound: &params::BoundParams,
    cloud: Cloud,
    opts: &ExecOptions,
    reporter: &Reporter,
    journal: Option<&super::durable::Durable>,
    source: &UndoSource,
) -> RunSummary {
    let runbook = resolved.runbook;
    let span = runbook.name.span;
    let (interp, started) = super::start(resolved, bound, &cloud, opts, reporter, journal);
    reporter.event(Event::Log {
        message: format!("rolling back run {}", source.of),
    });
    let finish =
        |status: RunStatus,
         errors: Vec<Diagnostic>,
         interp: &Interp<'_>,
         final_state: Vec<String>| { interp.summary(started, status, errors, final_state) };
    let refuse = |message: String, help: &str, interp: &Interp<'_>| {
        let d = Diagnostic::error(REFUSED, message)
            .with_label(span, "")
            .with_help(help);
        finish(RunStatus::Refused, vec![d], interp, vec![])
    };
    let base: HashMap<String, Value> = bound
        .values
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let completed = match rebuild(resolved, &base, &source.steps) {
        Ok(c) => c,
        Err(message) => {
            return refuse(
                message,
                "the run's journal and its runbook no longer describe the same steps",
                &interp,
            );
        }
    };
    // A resumed rollback run was checked, planned and confirmed when it
    // began; it continues what it started.
    let under_way = journal.is_some_and(super::durable::Durable::under_way);
    if !under_way && let Some(message) = window_closed(&source.steps, &completed, &cloud.clock) {
        return refuse(
            message,
            "nothing was sent. EKS rolls a control plane back only within 7 days of its in-place upgrade; past that, move forward instead (a new run to a newer minor), or restore the add-ons and nodegroups by hand",
            &interp,
        );
    }
    if opts.dry_run {
        interp.adopt_completed(completed);
        interp.plan_roll_back_completed().await;
        return finish(RunStatus::Planned, vec![], &interp, vec![]);
    }
    if !under_way {
        // Planned first, on a copy of the clients whose plan projects its
        // own state: the real run starts from the cluster as it is.
        let planner = {
            let mut p = Interp::new(
                resolved,
                cloud.for_run(),
                Mode::Plan,
                reporter,
                opts.run_id.clone(),
            );
            p.cluster = interp.cluster.clone();
            p
        };
        planner.adopt_completed(rebuild(resolved, &base, &source.steps).unwrap_or_default());
        planner.plan_roll_back_completed().await;
    }
    if let Err(d) = confirm(&interp, journal, source, opts) {
        return finish(
            RunStatus::Refused,
            vec![d.with_label(span, "")],
            &interp,
            vec![],
        );
    }
    if let Err(d) = take_lock(journal, &cloud, span).await {
        return finish(RunStatus::Refused, vec![d], &interp, vec![]);
    }
    interp.adopt_completed(completed);
    let all = interp.roll_back_completed().await;
    let status = if journal.and_then(|d| d.lock_lost()).is_some() {
        RunStatus::Interrupted
    } else if all
        && interp
            .rollbacks()
            .iter()
            .all(|(_, s, _)| matches!(s, StepStatus::RolledBack | StepStatus::Kept))
    {
        RunStatus::Succeeded
    } else {
        RunStatus::Failed
    };
    let final_state = final_state(&cloud, &bound.values).await;
    interp.cloud.clock.reset_cancel();
    finish(status, vec![], &interp, final_state)
}

/// The operator's yes before the first change (`--yes` gives it in
/// advance); journalled, so a resume does not ask again.
fn confirm(
    interp: &Interp<'_>,
    journal: Option<&super::durable::Durable>,
    source: &UndoSource,
    opts: &ExecOptions,
) -> Result<(), Diagnostic> {
    let question = format!(
        "Roll back the steps of run {} listed above on cluster {}?",
        source.of,
        interp.cluster.as_deref().unwrap_or("?")
    );
    let what = "confirm rollback";
    let args = crate::durable::record::args_hash(&json!(source.of.to_string()));
    if let Some(d) = journal
        && let Ok(crate::durable::Replay::Recorded(Ok(_))) = d.replay_observed(what, &args, None)
    {
        return Ok(());
    }
    let yes = opts.yes || (opts.interactive && super::run::ask_yes(&question));
    if !yes {
        return Err(
            Diagnostic::error("RUN024", format!("not confirmed: {question}")).with_help(
                "run on a terminal to answer, or pass --yes after reviewing `--dry-run`",
            ),
        );
    }
    if let Some(d) = journal {
        d.record_observed(what, &args, Ok(serde_json::Value::Bool(true)));
    }
    Ok(())
}

/// Each journalled step as the rollback runs it: its rollback block from
/// the runbook, its variables from the journal over the parameters.
fn rebuild<'p>(
    resolved: &Resolved<'p>,
    base: &HashMap<String, Value>,
    steps: &[Undoable],
) -> Result<Vec<Completed<'p>>, String> {
    let mut out = Vec::new();
    for s in steps {
        let step = find_step(resolved, &s.id).ok_or_else(|| {
            format!(
                "the runbook has no step `{}` (journalled as `{}`)",
                s.id, s.title
            )
        })?;
        let bounded = s.context.limit.as_deref().map(static_limit);
        if s.undone_bound {
            // Undone by an earlier rollback, which ended there: nothing to
            // run, and `roll_back_completed` ends here as it did.
            out.push(Completed {
                title: s.title.clone(),
                irreversible: false,
                bounded,
                rollback: None,
                env: Env::new(base.clone()),
                changes: vec![],
                branch: None,
            });
            continue;
        }
        let mut env = Env::new(base.clone());
        env.push();
        for (name, v) in &s.context.bindings {
            let value = recorded::decode(v).ok_or_else(|| {
                format!(
                    "the journal's value of `{name}` in step `{}` cannot be read back",
                    s.title
                )
            })?;
            env.set(name, value);
        }
        out.push(Completed {
            title: s.title.clone(),
            irreversible: step.irreversible,
            bounded,
            rollback: step.rollback.as_ref(),
            env,
            changes: s
                .context
                .changes
                .iter()
                .map(|c| Change::Applied {
                    target: c.target.clone(),
                    from: c.from.clone(),
                    to: c.to.clone(),
                    detail: c.detail.clone(),
                })
                .collect(),
            // Undone one after another, whatever lane it ran in.
            branch: None,
        });
    }
    Ok(out)
}

/// The registry's text for an undo bound (`Builtin::undo_limit`); one the
/// registry no longer has is still a bound.
fn static_limit(limit: &str) -> &'static str {
    crate::builtins::all()
        .iter()
        .find_map(|b| b.undo_limit().filter(|l| *l == limit))
        .unwrap_or("EKS bounds undoing this change")
}

/// The step with id `id`: the runbook's own (ids are unique there), else
/// a template's.
fn find_step<'p>(resolved: &Resolved<'p>, id: &str) -> Option<&'p Step> {
    fn walk<'p>(stmts: &'p [Stmt], id: &str) -> Option<&'p Step> {
        stmts.iter().find_map(|s| match &s.kind {
            StmtKind::Step(step) if step.id == id => Some(step),
            StmtKind::Step(step) => walk(&step.body.stmts, id),
            StmtKind::For { body, .. } => walk(&body.stmts, id),
            StmtKind::If {
                branches,
                otherwise,
            } => branches
                .iter()
                .find_map(|(_, b)| walk(&b.stmts, id))
                .or_else(|| otherwise.as_ref().and_then(|b| walk(&b.stmts, id))),
            _ => None,
        })
    }
    let runbook: &'p Runbook = resolved.runbook;
    let flow: Vec<&'p Stmt> = runbook.flow().collect();
    flow.iter()
        .find_map(|s| walk(std::slice::from_ref(*s), id))
        .or_else(|| {
            let mut templates: Vec<_> = resolved.templates.values().copied().collect();
            templates.sort_by_key(|t| (t.span.file, t.span.start));
            templates.into_iter().find_map(|t| walk(&t.body.stmts, id))
        })
}

/// Why the rollback must not start: the first step it would undo whose
/// undo EKS bounds (a control plane) finished more than 7 days ago on the
/// cluster's clock. `None` when the rollback ends before such a step, or
/// the journal has no time for it (then EKS judges).
fn window_closed(steps: &[Undoable], completed: &[Completed<'_>], clock: &Clock) -> Option<String> {
    for (s, done) in steps.iter().zip(completed).rev() {
        if s.undone_bound {
            return None;
        }
        let changed = done.changes.iter().any(|c| !c.is_unchanged());
        if done.irreversible && changed {
            return None;
        }
        if s.context.limit.is_none() || !changed {
            continue;
        }
        let at = s.context.finished_at?;
        let now = clock.wall_now();
        let age = at.duration_until(now);
        if age <= jiff::SignedDuration::try_from(ROLLBACK_WINDOW).ok()? {
            return None;
        }
        return Some(format!(
            "the window for undoing `{}` has passed: it finished at {at}, {} ago on the cluster's clock (now {now}), and EKS rolls a control plane back only within 7 days of its upgrade",
            s.title,
            human(Duration::try_from(age).unwrap_or_default()),
        ));
    }
    None
}
