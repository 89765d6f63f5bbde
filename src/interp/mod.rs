//! The interpreter: runs a loaded runbook against the cloud adapters.
//!
//! Stages of a run: parameters are bound (`params`, before any request);
//! every precondition is evaluated and all failures reported together; the
//! flow's statements run in order (`run`), expressions through `eval`, and
//! built-ins through the one `dispatch` table. When a step fails, its own
//! rollback runs, then the rollbacks of completed steps newest first,
//! stopping at an irreversible step. `--dry-run` is the same run in plan
//! mode: reads are real, mutations return plans and project their result.
//!
//! Public API:
//! - [`params::bind`]: parameters of a checked program
//!   ([`crate::analyze::Resolved`]) → values or located diagnostics.
//! - [`execute`]`(resolved, bound, cloud, opts, reporter, journal) -> RunSummary`.

mod branch;
mod checks;
pub mod dispatch;
pub mod durable;
pub mod env;
pub mod error;
mod eval;
mod gates;
pub mod params;
pub mod records;
pub mod report;
pub mod rollback;
pub mod run;
pub mod value;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;

pub use dispatch::Cloud;
pub use report::{Output, Reporter};

use crate::analyze::Resolved;
use crate::cloud::clock::human;
use crate::cloud::plan::Mode;
use crate::diagnostic::Diagnostic;
use crate::durable::{RunId, RunOutcome};
use env::Env;
use error::FailKind;
use report::{Event, StepStatus};
use run::{Interp, StepRecord};
use value::Value;

#[derive(Clone, Debug)]
pub struct ExecOptions {
    pub dry_run: bool,
    /// Answer every `confirm` (and a protected environment) with yes.
    pub yes: bool,
    /// stdin/stderr are a terminal: `confirm` may prompt.
    pub interactive: bool,
    /// `--step`: ask before each step (needs a terminal).
    pub step: bool,
    /// Seeds idempotency tokens (`ActionKey::client_request_token`): a
    /// resumed run keeps its id, so EKS never starts a second update for
    /// the same action.
    pub run_id: RunId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStatus {
    Succeeded,
    Planned,
    /// Preconditions failed: nothing was changed.
    Refused,
    /// A step failed and everything it and earlier steps changed was undone.
    RolledBack,
    /// A step failed and some changes remain (irreversible or not undoable).
    Failed,
    /// Stopped where it was, without rollback, to be resumed: the cluster
    /// lock was lost or the runbook no longer replays its journal.
    Interrupted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Succeeded => "succeeded",
            RunStatus::Planned => "planned",
            RunStatus::Refused => "refused before any change",
            RunStatus::RolledBack => "failed and rolled back",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted (resumable)",
        }
    }

    pub fn is_ok(self) -> bool {
        matches!(self, RunStatus::Succeeded | RunStatus::Planned)
    }
}

pub struct RunSummary {
    pub status: RunStatus,
    pub steps: Vec<StepRecord>,
    pub rollbacks: Vec<(String, StepStatus, String)>,
    /// The state the cluster was left in (one fact per line).
    pub final_state: Vec<String>,
    pub errors: Vec<Diagnostic>,
    pub elapsed: Duration,
    /// Dry run: how much shorter the plan is than the sum of its steps,
    /// because `parallel for` branches overlap.
    pub overlap: Duration,
}

impl RunSummary {
    pub fn render_text(&self) -> String {
        let mut out = String::from("\nSummary\n");
        for s in &self.steps {
            // A planned step shows how long it is predicted to take.
            let time = match s.status {
                StepStatus::Planned => format!("~{}", human(s.predicted)),
                _ => human(s.elapsed),
            };
            out.push_str(&format!(
                "  {:<11} {:>7}  {}\n",
                s.status.as_str(),
                time,
                s.title
            ));
            for c in &s.changes {
                out.push_str(&format!("                       {c}\n"));
            }
        }
        for (title, status, msg) in &self.rollbacks {
            out.push_str(&format!(
                "  ↩ {title}: {}{}\n",
                status.as_str(),
                if msg.is_empty() {
                    String::new()
                } else {
                    format!(" — {msg}")
                }
            ));
        }
        if !self.final_state.is_empty() {
            out.push_str("Cluster state now:\n");
            for l in &self.final_state {
                out.push_str(&format!("  {l}\n"));
            }
        }
        if self.status == RunStatus::Planned {
            let changes: usize = self.steps.iter().map(|s| s.changes.len()).sum();
            let predicted = self
                .steps
                .iter()
                .map(|s| s.predicted)
                .sum::<Duration>()
                .saturating_sub(self.overlap);
            out.push_str(&format!(
                "Plan: {changes} change(s), about {} if every gate passes at once\n",
                human(predicted)
            ));
        }
        out.push_str(&format!(
            "Run {} in {} (simulated time)\n",
            self.status.as_str(),
            human(self.elapsed)
        ));
        out
    }

    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "event": "summary",
            "status": self.status.as_str(),
            "elapsed_s": self.elapsed.as_secs(),
            "overlap_s": self.overlap.as_secs(),
            "steps": self.steps.iter().map(|s| json!({
                "title": s.title, "status": s.status.as_str(),
                "elapsed_s": s.elapsed.as_secs(), "changes": s.changes,
                "predicted_s": s.predicted.as_secs(),
            })).collect::<Vec<_>>(),
            "rollbacks": self.rollbacks.iter().map(|(t, s, m)| json!({
                "title": t, "status": s.as_str(), "message": m,
            })).collect::<Vec<_>>(),
            "final_state": self.final_state,
        })
    }
}

pub async fn execute(
    resolved: &Resolved<'_>,
    bound: &params::BoundParams,
    cloud: Cloud,
    opts: &ExecOptions,
    reporter: &Reporter,
    journal: Option<&durable::Durable>,
) -> RunSummary {
    // A dry run is never journalled (it sends no mutation to protect).
    let journal = journal.filter(|_| !opts.dry_run);
    let mut cloud = cloud.for_run();
    if opts.dry_run {
        cloud.kube = cloud.kube.planning();
    }
    let summary = run(resolved, bound, cloud, opts, reporter, journal).await;
    conclude(summary, reporter, journal).await
}

/// `runbook rollback`: undo the completed steps of an earlier run, rebuilt
/// from its journal (`rollback::UndoSource`), as a run of its own.
pub async fn execute_rollback(
    resolved: &Resolved<'_>,
    bound: &params::BoundParams,
    cloud: Cloud,
    opts: &ExecOptions,
    reporter: &Reporter,
    journal: Option<&durable::Durable>,
    source: &rollback::UndoSource,
) -> RunSummary {
    let journal = journal.filter(|_| !opts.dry_run);
    let summary = rollback::run(
        resolved,
        bound,
        cloud.for_run(),
        opts,
        reporter,
        journal,
        source,
    )
    .await;
    conclude(summary, reporter, journal).await
}

/// The end of a journalled run: release the lock, record how it ended and
/// write its reports (or those of an interrupted run).
async fn conclude(
    mut summary: RunSummary,
    reporter: &Reporter,
    journal: Option<&durable::Durable>,
) -> RunSummary {
    if let Some(d) = journal {
        // A resumed run that cannot go on (lock held, no confirmation) has
        // changed things in an earlier attempt: it is interrupted, not
        // refused, and its history stays to be replayed.
        if summary.status == RunStatus::Refused && d.under_way() {
            summary.status = RunStatus::Interrupted;
        }
        d.unlock().await;
        let outcome = match summary.status {
            RunStatus::Succeeded | RunStatus::Planned => RunOutcome::Succeeded,
            RunStatus::RolledBack => RunOutcome::RolledBack,
            RunStatus::Refused => RunOutcome::Refused,
            RunStatus::Failed => RunOutcome::Failed,
            RunStatus::Interrupted => {
                match d.suspend() {
                    Ok(path) => reporter.event(Event::Log {
                        message: format!(
                            "report: {}; continue with `runbook resume {}`",
                            path.display(),
                            d.run_id()
                        ),
                    }),
                    Err(e) => reporter.event(Event::Log {
                        message: format!("the run report could not be written: {e}"),
                    }),
                }
                return summary;
            }
        };
        let error = summary.errors.first().map(|e| e.message.clone());
        match d.close(outcome, error, &summary.final_state) {
            Ok(path) => reporter.event(Event::Log {
                message: format!("report: {}", path.display()),
            }),
            Err(e) => reporter.event(Event::Log {
                message: format!("the run report could not be written: {e}"),
            }),
        }
    }
    summary
}

/// An interpreter for a run (exec or rollback) that has just started, and
/// when it started on the engine's clock.
fn start<'p>(
    resolved: &'p Resolved<'p>,
    bound: &params::BoundParams,
    cloud: &Cloud,
    opts: &ExecOptions,
    reporter: &'p Reporter,
    journal: Option<&'p durable::Durable>,
) -> (Interp<'p>, std::time::Duration) {
    let mode = if opts.dry_run {
        Mode::Plan
    } else {
        Mode::Apply
    };
    let started = cloud.clock.now();
    let mut interp = Interp::new(resolved, cloud.clone(), mode, reporter, opts.run_id.clone());
    interp.yes = opts.yes;
    interp.interactive = opts.interactive;
    interp.step_mode = opts.step;
    interp.durable = journal;
    interp.cluster = match bound.values.get("cluster") {
        Some(Value::Str(c)) => Some(c.clone()),
        _ => None,
    };
    reporter.event(Event::Started {
        runbook: resolved.runbook.name.name.clone(),
        dry_run: opts.dry_run,
        run_id: opts.run_id.to_string(),
    });
    (interp, started)
}

async fn run(
    resolved: &Resolved<'_>,
    bound: &params::BoundParams,
    cloud: Cloud,
    opts: &ExecOptions,
    reporter: &Reporter,
    journal: Option<&durable::Durable>,
) -> RunSummary {
    let runbook = resolved.runbook;
    let (interp, started) = start(resolved, bound, &cloud, opts, reporter, journal);
    for (k, v) in &bound.values {
        reporter.event(Event::Param {
            name: k.clone(),
            value: v.to_string(),
        });
    }
    let base: HashMap<String, Value> = bound
        .values
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut env = Env::new(base);
    let finish =
        |status: RunStatus,
         errors: Vec<Diagnostic>,
         interp: &Interp<'_>,
         final_state: Vec<String>| { interp.summary(started, status, errors, final_state) };

    if bound.protected && !opts.dry_run {
        let name = bound.environment.clone().unwrap_or_default();
        let span = runbook.name.span;
        // Confirmed once, when the run began: a resume replays it (as any
        // `confirm`) instead of asking again.
        let what = "confirm environment";
        let args = crate::durable::record::args_hash(&json!(name));
        let replayed = match journal.map(|d| d.replay_observed(what, &args, None)) {
            Some(Ok(crate::durable::Replay::Recorded(Ok(_)))) => true,
            Some(Err(stop)) => {
                let e = interp.stopped(stop, span);
                return finish(
                    RunStatus::Interrupted,
                    vec![e.to_diagnostic()],
                    &interp,
                    vec![],
                );
            }
            _ => false,
        };
        let ok = if replayed {
            reporter.event(Event::Log {
                message: format!(
                    "environment `{name}` is protected: confirmed when the run began (replayed)"
                ),
            });
            true
        } else if opts.yes {
            true
        } else if opts.interactive {
            let term = console::Term::stderr();
            let _ = term.write_line(&format!(
                "environment `{name}` is protected; type its name to continue: "
            ));
            term.read_line().unwrap_or_default().trim() == name
        } else {
            false
        };
        if ok
            && !replayed
            && let Some(d) = journal
        {
            d.record_observed(what, &args, Ok(serde_json::Value::Bool(true)));
        }
        if !ok {
            let d = Diagnostic::error(
                "RUN006",
                format!("environment `{name}` is protected and the run was not confirmed"),
            )
            .with_label(span, "")
            .with_help("confirm on a terminal, or pass --yes after reviewing `--dry-run`");
            return finish(RunStatus::Refused, vec![d], &interp, vec![]);
        }
    }

    if opts.step && !opts.dry_run && !opts.interactive {
        let d = Diagnostic::error(
            "RUN007",
            "--step asks before each step and needs a terminal, but stdin or stderr is not one",
        )
        .with_label(runbook.name.span, "")
        .with_help("run it from a terminal, or leave out --step");
        return finish(RunStatus::Refused, vec![d], &interp, vec![]);
    }

    // Preconditions are judged once, when the run begins: a resumed run
    // replays that they passed (the cluster has changed since, by design).
    let pre_env = env.unrecorded();
    let preconditions = async {
        let failures = interp.preconditions(&pre_env).await;
        if failures.is_empty() {
            Ok(Value::Bool(true))
        } else {
            Err(failures)
        }
    };
    let passed = match journal.filter(|_| !opts.dry_run) {
        None => preconditions.await.map(drop),
        Some(d) => match d.replay_observed("preconditions", "", None) {
            Ok(crate::durable::Replay::Recorded(_)) => {
                reporter.event(Event::Log {
                    message: "preconditions: passed when the run began (replayed)".into(),
                });
                Ok(())
            }
            Ok(_) => {
                let r = preconditions.await;
                if r.is_ok() {
                    d.record_observed("preconditions", "", Ok(serde_json::Value::Bool(true)));
                }
                r.map(drop)
            }
            Err(stop) => {
                let e = interp.stopped(stop, runbook.name.span);
                return finish(
                    RunStatus::Interrupted,
                    vec![e.to_diagnostic()],
                    &interp,
                    vec![],
                );
            }
        },
    };
    if let Err(failures) = passed {
        let diags = failures.iter().map(|f| f.to_diagnostic()).collect();
        return finish(RunStatus::Refused, diags, &interp, vec![]);
    }

    // The cluster lock, before the first mutation; renewed in the background
    // until `execute` releases it.
    if let Err(d) = take_lock(journal, &cloud, runbook.name.span).await {
        return finish(RunStatus::Refused, vec![d], &interp, vec![]);
    }

    let mut error = None;
    for stmt in runbook.flow() {
        if let Err(e) = interp.exec_stmt(stmt, &mut env).await {
            error = Some(e);
            break;
        }
    }
    if opts.dry_run && error.is_none() {
        interp.plan_rollbacks().await;
    }
    let status = match &error {
        None if opts.dry_run => RunStatus::Planned,
        None => RunStatus::Succeeded,
        Some(_) if opts.dry_run => RunStatus::Failed,
        // Stopped resumably (lock lost, journal diverged): nothing more is
        // changed, not even by a rollback.
        Some(e) if e.kind.suspends() || journal.and_then(|d| d.lock_lost()).is_some() => {
            RunStatus::Interrupted
        }
        Some(_) => {
            if interp.roll_back_completed().await
                && interp
                    .rollbacks()
                    .iter()
                    .all(|(_, s, _)| matches!(s, StepStatus::RolledBack | StepStatus::Kept))
            {
                RunStatus::RolledBack
            } else {
                RunStatus::Failed
            }
        }
    };
    let final_state = if opts.dry_run {
        vec![]
    } else {
        final_state(&cloud, &bound.values).await
    };
    let mut errors = Vec::new();
    if let Some(e) = error {
        let mut d = e.to_diagnostic();
        if e.kind == FailKind::Cancelled && d.help.is_none() {
            d = d
                .with_help("the run was stopped; see the rollback lines above for what was undone");
        }
        errors.push(d);
    }
    interp.cloud.clock.reset_cancel();
    finish(status, errors, &interp, final_state)
}

/// Take the cluster lock before a journalled run's first mutation.
async fn take_lock(
    journal: Option<&durable::Durable>,
    cloud: &Cloud,
    span: crate::source::Span,
) -> Result<(), Diagnostic> {
    let Some(d) = journal else { return Ok(()) };
    let Err(e) = d
        .lock(cloud.kube.client().clone(), cloud.clock.clone())
        .await
    else {
        return Ok(());
    };
    // RUN008 only when someone else holds the lock; anything else is a
    // failure to reach or write the Lease.
    let d = match &e {
        crate::durable::LockError::Held { .. } | crate::durable::LockError::Contended { .. } => {
            Diagnostic::error("RUN008", format!("the cluster is locked: {e}")).with_help(
                "wait for the other run to end; a killed run's lock lapses after its TTL",
            )
        }
        _ => Diagnostic::error("RUN009", format!("could not take the cluster lock: {e}"))
            .with_help(e.help()),
    };
    Err(d.with_label(span, ""))
}

/// What the cluster looks like now, if the runbook has a `cluster` param.
async fn final_state(cloud: &Cloud, params: &indexmap::IndexMap<String, Value>) -> Vec<String> {
    let Some(Value::Str(cluster)) = params.get("cluster") else {
        return vec![];
    };
    let mut out = Vec::new();
    match cloud.eks.cluster(cluster).await {
        Ok(c) => out.push(format!("cluster {cluster}: {} ({})", c.version, c.status)),
        Err(e) => {
            out.push(format!("cluster {cluster}: could not be read: {e}"));
            return out;
        }
    }
    if let Ok(names) = cloud.eks.nodegroup_names(cluster).await {
        for n in names {
            if let Ok(ng) = cloud.eks.nodegroup(cluster, &n).await {
                out.push(format!(
                    "nodegroup {n}: {} ({}, {} nodes)",
                    ng.version, ng.status, ng.desired_size
                ));
            }
        }
    }
    if let Ok(addons) = cloud.eks.addons(cluster).await {
        for a in addons {
            out.push(format!("add-on {}: {} ({})", a.name, a.version, a.status));
        }
    }
    if let Ok(nodes) = cloud.kube.nodes(None).await {
        let ready = nodes.iter().filter(|n| n.ready).count();
        out.push(format!("nodes: {ready}/{} Ready", nodes.len()));
    }
    out
}
