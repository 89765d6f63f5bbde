//! Statements, steps, gates and rollback: running the runbook's flow.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use futures::future::{Either, LocalBoxFuture, select};
use futures::stream::FuturesUnordered;

use super::branch::{self, Branch};
use super::dispatch::Cloud;
use super::durable::{Durable, Stop};
use super::env::Env;
use super::error::{FailKind, RunError};
use super::report::{Event, Reporter, StepStatus};
use super::value::Value;
use crate::analyze::Resolved;
use crate::analyze::steps::MAX_RETRIES;
use crate::analyze::stmts::MAX_PARALLEL;
use crate::cloud::clock::human;
use crate::cloud::plan::{Change, Mode};
use crate::durable::record::{StepChange, UndoContext};
use crate::durable::{Record, Replay, RunId, StepOutcome};
use crate::source::Span;
use crate::syntax::Program;
use crate::syntax::ast::{
    Arg, Block, CheckDecl, Expr, ExprKind, GateDecl, Ident, Runbook, Step, Stmt, StmtKind, Template,
};

/// How an evaluation error names a variable not bound in scope
/// (`eval::Interp::eval`'s message).
const UNDEFINED_SUFFIX: &str = "is not defined here";

/// Wait between attempts of a step with `retry N` and no `every`.
const RETRY_EVERY: Duration = Duration::from_secs(30);

/// Gate defaults when a declaration leaves them out.
const GATE_WITHIN: Duration = Duration::from_secs(10 * 60);
const GATE_EVERY: Duration = Duration::from_secs(15);

pub struct Interp<'p> {
    pub program: &'p Program,
    pub runbook: &'p Runbook,
    pub cloud: Cloud,
    pub mode: Mode,
    pub reporter: &'p Reporter,
    pub run_id: RunId,
    pub yes: bool,
    pub interactive: bool,
    /// `--step`: ask before each step.
    pub step_mode: bool,
    /// A real run's journal and lock; `None` for dry runs.
    pub durable: Option<&'p Durable>,
    pub cluster: Option<String>,
    pub(super) gates: HashMap<&'p str, &'p GateDecl>,
    pub(super) checks: HashMap<&'p str, &'p CheckDecl>,
    templates: HashMap<&'p str, &'p Template>,
    state: RefCell<State<'p>>,
}

/// The step being run: its key for idempotency tokens and how many
/// mutating actions it has issued.
#[derive(Clone, Debug)]
struct StepCtx {
    key: String,
    actions: usize,
    during: Vec<String>,
    /// A change whose undo EKS bounds (`Effect::Mutate::limit`) was made.
    bounded: Option<&'static str>,
    /// In a rollback block: the `keep "reason"`s it declared.
    kept: Vec<String>,
    /// The changes made in it.
    changes: Vec<Change>,
    /// Dry run: how much shorter than the sum of its planned changes it is,
    /// because `parallel for` branches in it overlap.
    saved: Duration,
    /// Dry run: fixed waits (`pause`) in it, which a run spends too.
    waits: Duration,
}

/// A finished step, kept for rollback.
pub struct Completed<'p> {
    pub title: String,
    pub irreversible: bool,
    /// The step made a change EKS lets undo only within bounds (a control
    /// plane: one minor, once): a rollback stops after undoing it.
    pub bounded: Option<&'static str>,
    pub rollback: Option<&'p Block>,
    pub env: Env,
    pub changes: Vec<Change>,
    /// The `parallel for` branch it ran in: its rollback runs there too.
    pub branch: Option<Branch>,
}

/// What one attempt of a step did (`attempt_step`).
struct Attempt {
    result: Result<(), RunError>,
    changes: Vec<Change>,
    bounded: Option<&'static str>,
    /// Its environment, for its rollback.
    env: Env,
    timing: Timing,
}

/// How long a step took, and for its plan: what overlapping `parallel for`
/// branches saved and what its `pause`s add.
#[derive(Clone, Copy, Debug, Default)]
struct Timing {
    elapsed: Duration,
    saved: Duration,
    waits: Duration,
}

/// The history lane and step stack of the running code: its `parallel for`
/// branch, or `""` for the main line.
fn lane() -> String {
    branch::current().map(|b| b.lane).unwrap_or_default()
}

/// One line of the closing summary.
#[derive(Clone, Debug)]
pub struct StepRecord {
    pub title: String,
    pub status: StepStatus,
    pub elapsed: Duration,
    pub changes: Vec<String>,
    /// Dry run: the predicted duration of the step's planned changes.
    pub predicted: Duration,
}

#[derive(Default)]
struct State<'p> {
    /// The open step contexts of each lane (`""`: the main line, else a
    /// `parallel for` branch), innermost last.
    stacks: HashMap<String, Vec<StepCtx>>,
    /// Dry run: planned duration recorded in each branch so far.
    lane_planned: HashMap<String, Duration>,
    /// Dry run: how much shorter the whole plan is than the sum of its
    /// steps, because branches of a `parallel for` outside any step overlap.
    saved: Duration,
    completed: Vec<Completed<'p>>,
    /// The run's step and rollback events, which the summary reads.
    summary: Vec<Event>,
    planned: usize,
    /// Dry run: the checks' snapshot, read once (see `checks::run`).
    plan_snapshot: Option<std::sync::Arc<crate::checks::ScriptValues>>,
    /// Dry run: checks that failed on the EKS state the plan leaves (see
    /// `checks::run`): nothing but a request changes that while a gate
    /// waits.
    settled_failures: usize,
    /// Set when a rollback undid (or failed to undo) a bounded change: the
    /// step's title, and the bound when the undo succeeded.
    stopped_at: Option<(String, Option<&'static str>)>,
}

impl<'p> Interp<'p> {
    pub fn new(
        resolved: &Resolved<'p>,
        cloud: Cloud,
        mode: Mode,
        reporter: &'p Reporter,
        run_id: RunId,
    ) -> Self {
        Interp {
            program: resolved.program,
            runbook: resolved.runbook,
            cloud,
            mode,
            reporter,
            run_id,
            yes: false,
            interactive: false,
            step_mode: false,
            durable: None,
            cluster: None,
            gates: resolved.gates.clone(),
            checks: resolved.checks.clone(),
            templates: resolved.templates.clone(),
            state: RefCell::default(),
        }
    }

    pub fn is_plan(&self) -> bool {
        self.mode == Mode::Plan
    }

    /// The checks' snapshot of a dry run, once read.
    pub(super) fn plan_snapshot(&self) -> Option<std::sync::Arc<crate::checks::ScriptValues>> {
        self.state.borrow().plan_snapshot.clone()
    }

    pub(super) fn keep_plan_snapshot(&self, values: std::sync::Arc<crate::checks::ScriptValues>) {
        self.state.borrow_mut().plan_snapshot = Some(values);
    }

    /// Dry run: a check failed on the EKS state the plan leaves.
    pub(super) fn note_settled_failure(&self) {
        self.state.borrow_mut().settled_failures += 1;
    }

    fn settled_failures(&self) -> usize {
        self.state.borrow().settled_failures
    }

    /// The runbook's `cluster` parameter, which checks snapshot.
    pub fn cluster_name(&self) -> Option<String> {
        self.cluster.clone()
    }

    /// Dry run: how much shorter the plan is than the sum of its steps,
    /// because branches of a `parallel for` outside any step overlap.
    pub fn plan_overlap(&self) -> Duration {
        self.state.borrow().saved
    }

    /// The run's end, announced once and summed up from its events; it
    /// began at `started` on the engine's clock.
    pub fn summary(
        &self,
        started: Duration,
        status: super::RunStatus,
        errors: Vec<crate::diagnostic::Diagnostic>,
        final_state: Vec<String>,
    ) -> super::RunSummary {
        let elapsed = self.cloud.clock.since(started);
        self.reporter.event(Event::Finished {
            status: status.as_str().to_string(),
            elapsed,
        });
        super::RunSummary {
            status,
            steps: self.records(),
            rollbacks: self.rollbacks(),
            final_state,
            errors,
            elapsed,
            overlap: self.plan_overlap(),
        }
    }

    /// How many mutations this run has planned so far (dry run).
    pub fn planned_mutations(&self) -> usize {
        self.state.borrow().planned
    }

    /// The innermost open step context of the running lane.
    fn top<R>(&self, f: impl FnOnce(Option<&mut StepCtx>) -> R) -> R {
        let lane = lane();
        let mut st = self.state.borrow_mut();
        f(st.stacks.get_mut(&lane).and_then(|s| s.last_mut()))
    }

    pub(super) fn next_action(&self) -> (String, usize) {
        self.top(|ctx| match ctx {
            Some(ctx) => {
                ctx.actions += 1;
                (ctx.key.clone(), ctx.actions - 1)
            }
            None => ("(runbook)".into(), 0),
        })
    }

    /// The key of the step being run (as journalled), if any.
    pub(super) fn current_step(&self) -> Option<String> {
        self.top(|ctx| ctx.map(|c| c.key.clone()))
    }

    /// A durable run must stop here, resumably.
    pub(super) fn stopped(&self, stop: Stop, span: Span) -> RunError {
        match stop {
            Stop::Diverged(message) => RunError::new(FailKind::Diverged, message, span).with_help(
                "resume with the runbook and parameters the run began with; or, after checking \
                 the cluster, pass --force to `runbook resume` to continue live from this point \
                 (the rest of the journal is then ignored)",
            ),
            Stop::LockLost(message) => RunError::new(
                FailKind::Stopped,
                format!("stopped before the next change: {message}"),
                span,
            )
            .with_help(
                "nothing more was sent. Check who holds the Lease kube-system/runbook-lock; \
                 when it is free, `runbook resume <run id>` continues this run",
            ),
            Stop::Journal(message) => RunError::new(FailKind::Stopped, message, span).with_help(
                "free disk space or fix the permissions, then `runbook resume <run id>`",
            ),
        }
    }

    /// The step's `during` gate failed at this point (replayed).
    pub(super) fn during_failed(&self, gate: &str, detail: String, span: Span) -> RunError {
        self.gate_verdict(gate, false, detail.clone(), None);
        RunError::new(FailKind::Gate, detail, span)
    }

    pub(super) fn current_during(&self) -> Vec<String> {
        self.top(|ctx| ctx.map(|c| c.during.clone()).unwrap_or_default())
    }

    /// The step being run made a change whose undo EKS bounds.
    pub(super) fn note_bounded(&self, limit: &'static str) {
        self.top(|ctx| {
            if let Some(top) = ctx {
                top.bounded = Some(limit);
            }
        })
    }

    /// Dry run: a fixed wait the run would spend here (`pause`), counted in
    /// the step's (and the branch's) predicted duration.
    fn plan_wait(&self, d: Duration) {
        if let Some(b) = branch::current() {
            *self
                .state
                .borrow_mut()
                .lane_planned
                .entry(b.lane)
                .or_default() += d;
        }
        self.top(|ctx| {
            if let Some(top) = ctx {
                top.waits += d;
            }
        })
    }

    pub(super) fn record_change(&self, change: Change) {
        if let Change::Planned(p) = &change {
            let mut st = self.state.borrow_mut();
            st.planned += 1;
            if let Some(b) = branch::current() {
                *st.lane_planned.entry(b.lane).or_default() += p.predicted;
            }
        }
        self.top(|ctx| {
            if let Some(top) = ctx {
                top.changes.push(change);
            }
        })
    }

    /// The summary's step lines, read from the run's events.
    pub fn records(&self) -> Vec<StepRecord> {
        let st = self.state.borrow();
        st.summary
            .iter()
            .filter_map(|e| match e {
                Event::StepFinished {
                    title,
                    status,
                    elapsed,
                    changes,
                    predicted,
                    ..
                } => Some(StepRecord {
                    title: title.clone(),
                    status: *status,
                    elapsed: *elapsed,
                    changes: changes.clone(),
                    predicted: *predicted,
                }),
                _ => None,
            })
            .collect()
    }

    /// The summary's rollback verdicts, read from the run's events.
    pub fn rollbacks(&self) -> Vec<(String, StepStatus, String)> {
        let st = self.state.borrow();
        st.summary
            .iter()
            .filter_map(|e| match e {
                Event::Rollback {
                    title,
                    status,
                    message,
                } => Some((title.clone(), *status, message.clone())),
                _ => None,
            })
            .collect()
    }

    /// One run event, to every reader: the journal (the events it keeps),
    /// the live view or JSON stream, and the summary. Steps and rollbacks
    /// are recorded only through here.
    pub(super) fn emit(&self, event: Event) {
        self.emit_with(event, None)
    }

    /// `emit`, with what a completed step's rollback needs journalled in its
    /// `step_finished` record (`runbook rollback` rebuilds it from there).
    fn emit_with(&self, event: Event, undo: Option<UndoContext>) {
        if let Some(record) = journal_record(&event, self.cloud.clock.scale() != 1.0, undo) {
            self.journal(record);
        }
        self.reporter.event(event.clone());
        if matches!(event, Event::StepFinished { .. } | Event::Rollback { .. }) {
            self.state.borrow_mut().summary.push(event);
        }
    }

    // ------------------------------------------------------------ preconditions

    /// Evaluate every precondition; all failures are returned together.
    pub async fn preconditions(&self, env: &Env) -> Vec<RunError> {
        let mut failures = Vec::new();
        for p in self.runbook.preconditions() {
            let title = self.eval_str(&p.title, env).await.unwrap_or_default();
            let else_msg = match &p.else_message {
                Some(m) => self.eval_str(m, env).await.ok(),
                None => None,
            };
            let mut failed = None;
            for cond in &p.conditions {
                match self.eval_bool(cond, env).await {
                    Ok(Some(true)) | Ok(None) => {}
                    Ok(Some(false)) => {
                        let e = RunError::new(
                            FailKind::Precondition,
                            format!("precondition failed: {title}"),
                            cond.span,
                        );
                        failed = Some(match &else_msg {
                            Some(m) => e.with_help(m.clone()),
                            None => e,
                        });
                        break;
                    }
                    Err(e) => {
                        failed = Some(RunError {
                            message: format!(
                                "precondition `{title}` could not be evaluated: {}",
                                e.message
                            ),
                            ..e
                        });
                        break;
                    }
                }
            }
            self.reporter.event(Event::Precondition {
                title: title.clone(),
                ok: failed.is_none(),
                message: failed
                    .as_ref()
                    .map(|f| f.help.clone().unwrap_or_else(|| f.message.clone())),
            });
            failures.extend(failed);
        }
        failures
    }

    // --------------------------------------------------------------- statements

    pub fn exec_stmts<'a>(
        &'a self,
        stmts: &'p [Stmt],
        env: &'a mut Env,
    ) -> LocalBoxFuture<'a, Result<(), RunError>>
    where
        'p: 'a,
    {
        Box::pin(async move {
            for s in stmts {
                self.exec_stmt(s, env).await?;
            }
            Ok(())
        })
    }

    async fn exec_block(&self, block: &'p Block, env: &mut Env) -> Result<(), RunError> {
        env.push();
        let r = self.exec_stmts(&block.stmts, env).await;
        env.pop();
        r
    }

    pub(super) fn exec_stmt<'a>(
        &'a self,
        stmt: &'p Stmt,
        env: &'a mut Env,
    ) -> LocalBoxFuture<'a, Result<(), RunError>>
    where
        'p: 'a,
    {
        Box::pin(async move {
            if let Some(d) = self.durable
                && let Some(divergence) = d.take_divergence()
            {
                return Err(self.stopped(Stop::Diverged(divergence.to_string()), stmt.span));
            }
            if self.cloud.clock.is_cancelled() {
                if let Some(reason) = self.durable.and_then(Durable::lock_lost) {
                    return Err(self.stopped(Stop::LockLost(reason), stmt.span));
                }
                return Err(RunError::new(
                    FailKind::Cancelled,
                    "interrupted (Ctrl-C)",
                    stmt.span,
                ));
            }
            match &stmt.kind {
                StmtKind::Step(step) => self.exec_step(step, env).await,
                StmtKind::Use { name, args } => self.use_template(name, args, env).await,
                StmtKind::Let { name, value } => {
                    let v = self.eval(value, env).await?;
                    env.set(&name.name, v);
                    Ok(())
                }
                StmtKind::For {
                    var,
                    iter,
                    limit,
                    body,
                } => {
                    let limit = match limit {
                        Some(l) => Some((self.int(l, env).await?, l.span)),
                        None => None,
                    };
                    let items = match self.eval(iter, env).await? {
                        Value::List(l) => l,
                        Value::Map(m) => m.keys().map(Value::str).collect(),
                        other => {
                            return Err(RunError::eval(
                                format!("cannot loop over a {}", other.type_name()),
                                iter.span,
                            ));
                        }
                    };
                    if let Some((limit, at)) = limit {
                        return self.parallel(var, items, limit, at, body, env).await;
                    }
                    for item in items {
                        env.push();
                        env.set(&var.name, item);
                        let r = self.exec_stmts(&body.stmts, env).await;
                        env.pop();
                        r?;
                    }
                    Ok(())
                }
                StmtKind::If {
                    branches,
                    otherwise,
                } => {
                    for (cond, block) in branches {
                        let holds = self.eval_bool(cond, env).await?;
                        if holds.is_none() {
                            self.log(format!(
                                "`{}` is known only at run time; this branch is not planned",
                                self.source_of(cond)
                            ));
                        }
                        if holds.unwrap_or(false) {
                            env.push();
                            let r = self.exec_stmts(&block.stmts, env).await;
                            env.pop();
                            return r;
                        }
                    }
                    if let Some(block) = otherwise {
                        env.push();
                        let r = self.exec_stmts(&block.stmts, env).await;
                        env.pop();
                        return r;
                    }
                    Ok(())
                }
                StmtKind::Gate(name) => self.run_gate(&name.name, name.span, env).await,
                StmtKind::Await {
                    condition,
                    within,
                    every,
                } => {
                    let within = self.duration(within, env).await?;
                    let every = match every {
                        Some(e) => self.duration(e, env).await?,
                        None => GATE_EVERY,
                    };
                    let what = format!("await `{}`", self.source_of(condition));
                    let unrecorded = env.unrecorded();
                    let live = async {
                        self.await_cond(condition, within, every, &unrecorded)
                            .await
                            .map(|()| Value::Null)
                    };
                    self.observe(&what, &serde_json::Value::Null, env, stmt.span, live)
                        .await
                        .map(drop)
                }
                StmtKind::Pause(d) => {
                    let d = self.duration(d, env).await?;
                    if self.is_plan() {
                        self.log(format!("would pause {}", human(d)));
                        self.plan_wait(d);
                        return Ok(());
                    }
                    let live = async {
                        self.reporter.progress(&format!("pausing {}", human(d)));
                        self.cloud
                            .clock
                            .sleep(d)
                            .await
                            .map(|()| Value::Null)
                            .map_err(|e| RunError::cloud(e, stmt.span))
                    };
                    let what = format!("pause {}", human(d));
                    self.observe(&what, &serde_json::Value::Null, env, stmt.span, live)
                        .await
                        .map(drop)
                }
                StmtKind::Confirm(msg) => {
                    let text = self.eval(msg, env).await?.to_text();
                    let live = async { self.confirm(&text, stmt.span).map(|()| Value::Bool(true)) };
                    self.observe(
                        "confirm",
                        &serde_json::Value::String(text.clone()),
                        env,
                        stmt.span,
                        live,
                    )
                    .await
                    .map(drop)
                }
                StmtKind::Log(msg) => {
                    let text = self.eval(msg, env).await?.to_text();
                    self.log(text);
                    Ok(())
                }
                StmtKind::Keep(reason) => {
                    let text = self.eval(reason, env).await?.to_text();
                    self.log(format!("kept on purpose: {text}"));
                    self.top(|ctx| {
                        if let Some(top) = ctx {
                            top.kept.push(text);
                        }
                    });
                    Ok(())
                }
                StmtKind::Fail(msg) => {
                    let text = self.eval(msg, env).await?.to_text();
                    Err(RunError::new(FailKind::Fail, text, stmt.span))
                }
                StmtKind::Expr(e) => self.eval(e, env).await.map(drop),
            }
        })
    }

    /// `parallel for var in items limit N { body }`: one branch per item,
    /// at most `limit` running at once (one after another in a dry run and
    /// with `--step`, so a plan reads in order and every step can be asked
    /// about). The first branch to fail stops its siblings at their next
    /// safe point, with the cancellation a step timeout and Ctrl-C use, and
    /// no further branch starts; the statement fails with that error, and
    /// the rollback then undoes the completed steps of every branch, newest
    /// first (the order they completed in).
    async fn parallel(
        &self,
        var: &'p Ident,
        items: Vec<Value>,
        limit: i64,
        at: Span,
        body: &'p Block,
        env: &Env,
    ) -> Result<(), RunError> {
        if !(1..=MAX_PARALLEL).contains(&limit) {
            return Err(RunError::eval(
                format!("a `parallel for` limit must be 1 to {MAX_PARALLEL}, got {limit}"),
                at,
            ));
        }
        let at_once = if self.is_plan() || self.step_mode {
            1
        } else {
            limit as usize
        };
        let parent = branch::current();
        let parent_lane = lane();
        // The enclosing step: what the branches do outside steps of their
        // own belongs to it (its changes, its `during` gates).
        let base = self.top(|ctx| {
            ctx.map(|c| {
                let key = c
                    .key
                    .strip_prefix(&format!("{parent_lane} "))
                    .unwrap_or(&c.key);
                (key.to_string(), c.during.clone())
            })
        });
        let clock = &self.cloud.clock;
        let total = items.len();
        let mut pending = items.into_iter().enumerate();
        let mut running = FuturesUnordered::new();
        let mut planned = vec![Duration::ZERO; total];
        let mut failure: Option<RunError> = None;
        let mut stopped_siblings = false;
        let mut started = 0;
        loop {
            while failure.is_none() && running.len() < at_once {
                let Some((i, item)) = pending.next() else {
                    break;
                };
                started += 1;
                let b = Branch::child(parent.as_ref(), &var.name, i, &item);
                running.push(self.branch(b, i, var, item, body, env, base.clone()));
            }
            let Some((i, result, predicted)) = running.next().await else {
                break;
            };
            planned[i] = predicted;
            let Err(e) = result else { continue };
            if failure.is_none() && !clock.is_cancelled() && !running.is_empty() {
                clock.cancel();
                stopped_siblings = true;
            }
            // A stop that keeps the run resumable (divergence, lost lock)
            // wins over a failure, which would roll back.
            match &failure {
                Some(f) if f.kind.suspends() || !e.kind.suspends() => {}
                _ => failure = Some(e),
            }
        }
        if stopped_siblings {
            clock.reset_cancel();
        }
        if self.is_plan() {
            let sum: Duration = planned.iter().sum();
            let span = branch::makespan(&planned, limit as usize);
            let saved = sum.saturating_sub(span);
            let mut st = self.state.borrow_mut();
            if !parent_lane.is_empty() {
                *st.lane_planned.entry(parent_lane.clone()).or_default() += span;
            }
            let top = st.stacks.get_mut(&parent_lane).and_then(|s| s.last_mut());
            match top {
                // The branches' changes are the enclosing step's.
                Some(top) if !holds_step(&body.stmts) => top.saved += saved,
                _ => st.saved += saved,
            }
            drop(st);
            if total > 1 {
                self.log(format!(
                    "{total} branches of `{}`, {} at once: about {} (one after another: {})",
                    var.name,
                    limit.min(total as i64),
                    human(span),
                    human(sum)
                ));
            }
        }
        match failure {
            None => Ok(()),
            Some(e) => {
                if started < total {
                    self.log(format!(
                        "{} of {total} branches of `{}` were not started: a branch failed",
                        total - started,
                        var.name
                    ));
                }
                Err(e)
            }
        }
    }

    /// One branch of a `parallel for`: its body with `var` bound to `item`,
    /// as `b` (step keys, journal lane, output prefix). Returns its index,
    /// its result and, in a dry run, how long its planned changes take.
    #[allow(clippy::too_many_arguments)]
    fn branch<'a>(
        &'a self,
        b: Branch,
        index: usize,
        var: &'p Ident,
        item: Value,
        body: &'p Block,
        env: &Env,
        base: Option<(String, Vec<String>)>,
    ) -> LocalBoxFuture<'a, (usize, Result<(), RunError>, Duration)>
    where
        'p: 'a,
    {
        let mut env = env.clone();
        let parent_lane = lane();
        let lane = b.lane.clone();
        Box::pin(branch::within(b, async move {
            if let Some((key, during)) = &base {
                self.enter(key.clone(), during.clone());
            }
            env.push();
            env.set(&var.name, item);
            let result = self.exec_stmts(&body.stmts, &mut env).await;
            if base.is_some() {
                let (changes, ctx) = self.leave();
                let mut st = self.state.borrow_mut();
                if let Some(top) = st.stacks.get_mut(&parent_lane).and_then(|s| s.last_mut()) {
                    top.changes.extend(changes);
                    if let Some(ctx) = ctx {
                        top.bounded = top.bounded.or(ctx.bounded);
                        top.saved += ctx.saved;
                    }
                }
            }
            let predicted = self
                .state
                .borrow_mut()
                .lane_planned
                .remove(&lane)
                .unwrap_or_default();
            (index, result, predicted)
        }))
    }

    fn log(&self, message: String) {
        self.reporter.event(Event::Log { message });
    }

    async fn duration(&self, e: &Expr, env: &Env) -> Result<Duration, RunError> {
        match self.eval(e, env).await? {
            Value::Duration(d) => Ok(d),
            other => Err(RunError::eval(
                format!("expected a duration like 10m, got a {}", other.type_name()),
                e.span,
            )),
        }
    }

    async fn int(&self, e: &Expr, env: &Env) -> Result<i64, RunError> {
        match self.eval(e, env).await? {
            Value::Int(i) => Ok(i),
            other => Err(RunError::eval(
                format!("expected an int, got a {}", other.type_name()),
                e.span,
            )),
        }
    }

    fn confirm(&self, text: &str, span: Span) -> Result<(), RunError> {
        if self.is_plan() {
            self.log(format!("would ask: {text}"));
            return Ok(());
        }
        if self.yes {
            self.log(format!("confirmed by --yes: {text}"));
            return Ok(());
        }
        if !self.interactive {
            return Err(RunError::new(
                FailKind::Cancelled,
                format!("needs confirmation: {text}"),
                span,
            )
            .with_help("run on a terminal to answer, or pass --yes to confirm in advance"));
        }
        if ask_yes(text) {
            Ok(())
        } else {
            Err(RunError::new(
                FailKind::Cancelled,
                format!("not confirmed: {text}"),
                span,
            ))
        }
    }

    /// Append to the run's journal, if it has one (real runs).
    pub(super) fn journal(&self, record: Record) {
        if let Some(d) = self.durable {
            d.note(record);
        }
    }

    /// A gate's verdict, shown; journalled when `journal` says whether it
    /// was a step's `during` gate (a replayed verdict is in the journal).
    fn gate_verdict(&self, gate: &str, passed: bool, detail: String, journal: Option<bool>) {
        if let Some(during) = journal {
            self.journal(Record::GateResult {
                gate: gate.to_string(),
                step: self.current_step(),
                passed,
                detail: detail.clone(),
                during,
            });
        }
        self.reporter.event(Event::Gate {
            name: gate.to_string(),
            ok: passed,
            message: detail,
        });
    }

    /// `--step`: the operator okays each step before it starts.
    fn ask_step(&self, title: &str, span: Span) -> Result<(), RunError> {
        if ask_yes(&format!("next step: {title} — run it?")) {
            Ok(())
        } else {
            Err(RunError::new(
                FailKind::Cancelled,
                format!("step not confirmed: {title}"),
                span,
            )
            .with_help("`runbook resume <run id>` continues from this step later"))
        }
    }

    // -------------------------------------------------------------------- steps

    /// `use NAME(args)`: the template's statements, in a scope holding the
    /// runbook's parameters and the arguments (defaults for the rest), so
    /// nothing of the caller's other variables leaks in or out.
    async fn use_template(&self, name: &Ident, args: &[Arg], env: &Env) -> Result<(), RunError> {
        let Some(t) = self.templates.get(name.name.as_str()).copied() else {
            return Err(RunError::eval(
                format!("template `{}` is not declared", name.name),
                name.span,
            ));
        };
        let mut scope = env.base();
        scope.push();
        let mut given = std::collections::HashSet::new();
        let mut positional = t.params.iter();
        for a in args {
            let param = match &a.name {
                Some(k) => t.params.iter().find(|p| p.name.name == k.name),
                None => positional.next(),
            };
            let Some(param) = param else {
                return Err(RunError::eval(
                    format!("template `{}` has no such parameter", name.name),
                    a.value.span,
                ));
            };
            let value = self.eval(&a.value, env).await?;
            scope.set(&param.name.name, value);
            given.insert(param.name.name.as_str());
        }
        for p in &t.params {
            if given.contains(p.name.name.as_str()) {
                continue;
            }
            let Some(default) = &p.default else {
                return Err(RunError::eval(
                    format!("template `{}` needs `{}`", name.name, p.name.name),
                    name.span,
                ));
            };
            let value = self.eval(default, &scope).await?;
            scope.set(&p.name.name, value);
        }
        self.exec_stmts(&t.body.stmts, &mut scope).await
    }

    async fn exec_step(&self, step: &'p Step, env: &mut Env) -> Result<(), RunError> {
        let title = self.eval_str(&step.title, env).await?;
        if let Some(when) = &step.when
            && !self.eval_bool(when, env).await?.unwrap_or(true)
        {
            self.finish_step(
                &step.id,
                &title,
                StepStatus::Skipped,
                Timing::default(),
                vec![],
                None,
            );
            return Ok(());
        }
        if self.step_mode && !self.is_plan() {
            self.ask_step(&title, step.span)?;
        }
        let timeout = match &step.timeout {
            Some(t) => Some(self.duration(t, env).await?),
            None => None,
        };
        let (retries, every) = match &step.retry {
            Some(r) => (
                self.int(&r.times, env).await?.clamp(0, MAX_RETRIES) as u32,
                match &r.every {
                    Some(e) => self.duration(e, env).await?,
                    None => RETRY_EVERY,
                },
            ),
            None => (0, RETRY_EVERY),
        };
        let mut attempt = 1;
        loop {
            // Each attempt is its own step in the journal, so its actions
            // have their own idempotency keys and a resume replays them.
            let title = if attempt == 1 {
                title.clone()
            } else {
                format!("{title} (attempt {attempt} of {})", retries + 1)
            };
            let Attempt {
                result,
                changes,
                bounded,
                env: step_env,
                timing,
            } = self.attempt_step(step, &title, timeout, env).await;
            match result {
                Ok(()) => {
                    let status = if self.is_plan() {
                        StepStatus::Planned
                    } else {
                        StepStatus::Done
                    };
                    let undo = self
                        .durable
                        .map(|_| self.undo_context(&step_env, &changes, bounded));
                    let predicted =
                        self.finish_step(&step.id, &title, status, timing, changes.clone(), undo);
                    if let Some(t) = timeout.filter(|t| self.is_plan() && predicted > *t) {
                        self.reporter.event(Event::Log {
                            message: format!(
                                "⚠ the plan predicts {} for this step, beyond its timeout {}",
                                human(predicted),
                                human(t)
                            ),
                        });
                    }
                    self.state.borrow_mut().completed.push(Completed {
                        title,
                        irreversible: step.irreversible,
                        bounded,
                        rollback: step.rollback.as_ref(),
                        env: step_env,
                        changes,
                        branch: branch::current(),
                    });
                    return Ok(());
                }
                Err(e) => {
                    self.finish_step(
                        &step.id,
                        &title,
                        StepStatus::Failed,
                        timing,
                        changes.clone(),
                        None,
                    );
                    if self.is_plan() || e.kind.suspends() {
                        return Err(e);
                    }
                    // The failed attempt first: it may have changed things
                    // before failing.
                    let own = Completed {
                        title,
                        irreversible: false,
                        bounded,
                        rollback: step.rollback.as_ref(),
                        env: step_env,
                        changes,
                        branch: branch::current(),
                    };
                    let undone = self.undo_bounded(&own).await;
                    let retryable = !matches!(e.kind, FailKind::Cancelled | FailKind::Eval);
                    if attempt > retries || !retryable || !undone {
                        return Err(e);
                    }
                    self.reporter.event(Event::Log {
                        message: format!(
                            "attempt {attempt} of {} failed: {}; retrying in {}",
                            retries + 1,
                            e.message,
                            human(every)
                        ),
                    });
                    if self.cloud.clock.sleep(every).await.is_err() {
                        return Err(e);
                    }
                    attempt += 1;
                }
            }
        }
    }

    /// One attempt of a step: its body, its `during` gates while it runs and
    /// once more at its end, all within its `timeout`. Returns the result,
    /// the changes it made, its environment (for its rollback) and how long
    /// it took.
    async fn attempt_step(
        &self,
        step: &'p Step,
        title: &str,
        timeout: Option<Duration>,
        env: &Env,
    ) -> Attempt {
        let depth = self.state.borrow().stacks.get(&lane()).map_or(0, Vec::len);
        self.emit(Event::StepStarted {
            id: step.id.clone(),
            title: title.to_string(),
            depth,
        });
        let started = self.cloud.clock.now();
        self.enter(
            format!("{}:{title}", step.id),
            step.during.iter().map(|g| g.name.clone()).collect(),
        );
        let mut step_env = env.clone();
        step_env.push();
        let body = async {
            let result = if step.during.is_empty() || self.is_plan() {
                self.exec_stmts(&step.body.stmts, &mut step_env).await
            } else {
                let watch_env = step_env.clone();
                let body = self.exec_stmts(&step.body.stmts, &mut step_env);
                let watch = Box::pin(self.watch(step, &watch_env));
                match select(body, watch).await {
                    Either::Left((r, _)) => r,
                    Either::Right((r, _)) => r,
                }
            };
            match result {
                Ok(()) if !self.is_plan() => self.during_at_end(step, &step_env).await,
                other => other,
            }
        };
        let result = match timeout.filter(|_| !self.is_plan()) {
            None => body.await,
            Some(limit) => self.within_timeout(body, limit, step).await,
        };
        let (changes, ctx) = self.leave();
        let saved = ctx.as_ref().map_or(Duration::ZERO, |c| c.saved);
        let waits = ctx.as_ref().map_or(Duration::ZERO, |c| c.waits);
        let bounded = ctx
            .and_then(|c| c.bounded)
            .or_else(|| bounded_call(&step.body.stmts));
        let elapsed = self.cloud.clock.since(started);
        Attempt {
            result,
            changes,
            bounded,
            env: step_env,
            timing: Timing {
                elapsed,
                saved,
                waits,
            },
        }
    }

    /// Run `body` to its end, cancelling its waits (as Ctrl-C does) once
    /// `limit` has passed: the body stops at its next safe point, recording
    /// what may have landed, and the step fails with RUN025.
    async fn within_timeout(
        &self,
        body: impl std::future::Future<Output = Result<(), RunError>>,
        limit: Duration,
        step: &Step,
    ) -> Result<(), RunError> {
        let clock = &self.cloud.clock;
        let fired = std::cell::Cell::new(false);
        let timer = async {
            // A Ctrl-C also ends this sleep early: then the body sees that
            // cancel, and the step reports it as such.
            if clock.sleep(limit).await.is_ok() {
                fired.set(true);
                clock.cancel();
            }
            futures::future::pending::<()>().await
        };
        let result = match select(Box::pin(body), Box::pin(timer)).await {
            Either::Left((r, _)) => r,
            Either::Right(((), _)) => unreachable!("the timer never finishes"),
        };
        if !fired.get() {
            return result;
        }
        clock.reset_cancel();
        let span = step.timeout.as_ref().map_or(step.span, |t| t.span);
        match result {
            Err(e) if e.kind == FailKind::Cancelled => Err(RunError::new(
                FailKind::Timeout,
                format!("the step ran longer than its timeout {}", human(limit)),
                span,
            )
            .with_help("raise the step's `timeout`, or find what it waited for in the log above")),
            other => other,
        }
    }

    /// Open a step's context: its journal key (and idempotency tokens), the
    /// `during` gates a canary consults, and where its changes collect.
    /// In a `parallel for` branch the key carries the branch, so siblings'
    /// actions never share an idempotency token.
    fn enter(&self, key: String, during: Vec<String>) {
        let lane = lane();
        let key = if lane.is_empty() {
            key
        } else {
            format!("{lane} {key}")
        };
        self.state
            .borrow_mut()
            .stacks
            .entry(lane)
            .or_default()
            .push(StepCtx {
                key,
                actions: 0,
                during,
                bounded: None,
                kept: vec![],
                changes: vec![],
                saved: Duration::ZERO,
                waits: Duration::ZERO,
            });
    }

    /// Close the context `enter` opened: the changes made in it, and it.
    fn leave(&self) -> (Vec<Change>, Option<StepCtx>) {
        let lane = lane();
        let mut st = self.state.borrow_mut();
        let stack = st.stacks.entry(lane.clone()).or_default();
        let mut ctx = stack.pop();
        if stack.is_empty() && !lane.is_empty() {
            st.stacks.remove(&lane);
        }
        let changes = ctx
            .as_mut()
            .map(|c| std::mem::take(&mut c.changes))
            .unwrap_or_default();
        (changes, ctx)
    }

    /// Run a completed step's rollback block under its own identity
    /// (`rollback:<title>`): the result, what it changed, and the `keep`s it
    /// declared.
    async fn rollback_block(
        &self,
        done: &Completed<'p>,
        block: &'p Block,
    ) -> (Result<(), RunError>, Vec<Change>, Vec<String>) {
        branch::maybe_within(done.branch.clone(), async {
            self.enter(format!("rollback:{}", done.title), vec![]);
            let mut env = done.env.clone();
            let r = self.exec_block(block, &mut env).await;
            let (changes, ctx) = self.leave();
            (r, changes, ctx.map(|c| c.kept).unwrap_or_default())
        })
        .await
    }

    /// What a completed step's rollback block needs, for the journal: its
    /// variables, what it changed, the bound on undoing it, and when it
    /// finished on the cluster's clock.
    fn undo_context(
        &self,
        env: &Env,
        changes: &[Change],
        bounded: Option<&'static str>,
    ) -> UndoContext {
        UndoContext {
            bindings: env
                .locals()
                .into_iter()
                .map(|(name, v)| (name.to_string(), super::value::recorded::encode(v)))
                .collect(),
            changes: changes
                .iter()
                .filter_map(|c| match c {
                    Change::Applied {
                        target,
                        from,
                        to,
                        detail,
                    } => Some(StepChange {
                        target: target.clone(),
                        from: from.clone(),
                        to: to.clone(),
                        detail: detail.clone(),
                    }),
                    _ => None,
                })
                .collect(),
            limit: bounded.map(str::to_string),
            finished_at: Some(self.cloud.clock.wall_now()),
        }
    }

    /// Ends a step; returns the predicted duration of its planned changes,
    /// less what overlapping `parallel for` branches `saved`, plus its
    /// `pause`s (`waits`). `undo` is journalled with a completed step.
    fn finish_step(
        &self,
        id: &str,
        title: &str,
        status: StepStatus,
        Timing {
            elapsed,
            saved,
            waits,
        }: Timing,
        changes: Vec<Change>,
        undo: Option<UndoContext>,
    ) -> Duration {
        let predicted = changes
            .iter()
            .map(|c| match c {
                Change::Planned(p) => p.predicted,
                _ => Duration::ZERO,
            })
            .sum::<Duration>()
            .saturating_sub(saved)
            + waits;
        self.emit_with(
            Event::StepFinished {
                id: id.to_string(),
                title: title.to_string(),
                status,
                elapsed,
                changes: changes
                    .iter()
                    .filter(|c| !c.is_unchanged())
                    .map(|c| match c {
                        Change::Planned(p) => p.lines().first().cloned().unwrap_or_default(),
                        other => other.summary(),
                    })
                    .collect(),
                predicted,
            },
            undo,
        );
        predicted
    }

    /// Roll back every completed step, newest first. The rollback stops at
    /// an irreversible step that changed something, and after undoing a
    /// change whose undo EKS bounds (a control plane goes back one minor,
    /// once): what came before it stays, and is reported as kept. Returns
    /// whether everything that changed was undone or kept on purpose.
    pub async fn roll_back_completed(&self) -> bool {
        self.cloud.clock.reset_cancel();
        let completed: Vec<Completed<'p>> = std::mem::take(&mut self.state.borrow_mut().completed);
        let mut all = true;
        let mut rest = completed.iter().rev();
        let mut stopped = self.state.borrow_mut().stopped_at.take();
        while stopped.is_none() {
            let Some(done) = rest.next() else { break };
            let changed = changed_lines(&done.changes);
            if done.irreversible && !changed.is_empty() {
                self.note_rollback(
                    &done.title,
                    StepStatus::NotUndone,
                    format!(
                        "irreversible, cannot be undone: {}; the rollback stops here",
                        changed.join("; ")
                    ),
                );
                all = false;
                stopped = Some((done.title.clone(), None));
                break;
            }
            all &= self.undo_bounded(done).await;
            stopped = self.state.borrow_mut().stopped_at.take();
        }
        // What the rollback did not reach stays as it is.
        if let Some((at, limit)) = stopped {
            for done in rest {
                let changed = changed_lines(&done.changes);
                if changed.is_empty() {
                    continue;
                }
                match limit {
                    Some(limit) => self.note_rollback(
                        &done.title,
                        StepStatus::Kept,
                        format!(
                            "stays: {limit} (the rollback ended at `{at}`); still changed: {}",
                            changed.join("; ")
                        ),
                    ),
                    None => {
                        all = false;
                        self.note_rollback(
                            &done.title,
                            StepStatus::NotUndone,
                            format!(
                                "left as is: the rollback stopped at `{at}`; still changed: {}",
                                changed.join("; ")
                            ),
                        );
                    }
                }
            }
        }
        all
    }

    /// `runbook rollback`: the completed steps of an earlier run, rebuilt
    /// from its journal, are this run's to undo.
    pub(super) fn adopt_completed(&self, steps: Vec<Completed<'p>>) {
        self.state.borrow_mut().completed = steps;
    }

    /// `runbook rollback --dry-run`: what `roll_back_completed` would run,
    /// newest first, each compensation planned against the state the ones
    /// before it leave, ending where it would end; the steps it would not
    /// reach are named.
    pub async fn plan_roll_back_completed(&self) {
        let completed: Vec<Completed<'p>> = std::mem::take(&mut self.state.borrow_mut().completed);
        let mut rest = completed.iter().rev();
        let mut ended: Option<(String, Option<&'static str>)> = None;
        self.log("The rollback would run these, newest first:".into());
        for done in rest.by_ref() {
            let changed = !changed_lines(&done.changes).is_empty();
            if let Some(limit) = done.bounded.filter(|_| !changed && done.rollback.is_none()) {
                // Undone already by an earlier rollback, which ended there.
                self.log(format!(
                    "`{}` was rolled back already; the rollback ends there",
                    done.title
                ));
                ended = Some((done.title.clone(), Some(limit)));
                break;
            }
            if !changed {
                continue;
            }
            self.plan_undo(done, "").await;
            if done.irreversible {
                ended = Some((done.title.clone(), None));
                break;
            }
            if let Some(limit) = done.bounded {
                ended = Some((done.title.clone(), Some(limit)));
                break;
            }
        }
        let Some((at, limit)) = ended else { return };
        for done in rest {
            let changed = changed_lines(&done.changes);
            if changed.is_empty() {
                continue;
            }
            let message = match limit {
                Some(limit) => format!(
                    "stays: {limit} (the rollback ends at `{at}`); still changed: {}",
                    changed.join("; ")
                ),
                None => format!(
                    "left as is: the rollback stops at `{at}`; still changed: {}",
                    changed.join("; ")
                ),
            };
            self.note_plan("", &done.title, false, message);
        }
    }

    /// Dry run: for each planned step that changes something, newest first,
    /// the compensation that would run if a later step failed, planned
    /// against the state the rollbacks before it would leave, with what EKS
    /// would refuse at that moment. Steps nothing can undo are named.
    pub async fn plan_rollbacks(&self) {
        let completed: Vec<Completed<'p>> = std::mem::take(&mut self.state.borrow_mut().completed);
        // The forward plan's count is what the run sends when nothing fails.
        let planned = self.state.borrow().planned;
        let changing: Vec<&Completed<'p>> = completed
            .iter()
            .rev()
            .filter(|d| !changed_lines(&d.changes).is_empty())
            .collect();
        if changing.is_empty() {
            return;
        }
        self.log(
            "If a step fails, the rollback runs these, newest first, from the failed step back:"
                .into(),
        );
        for done in changing {
            self.plan_undo(done, "if a later step fails, ").await;
        }
        self.state.borrow_mut().planned = planned;
    }

    /// Plan one step's rollback against the state the rollbacks planned
    /// before it leave: the compensation, and whether EKS would accept each
    /// of its requests at that moment. `lead` introduces the verdict line.
    async fn plan_undo(&self, done: &Completed<'p>, lead: &str) {
        if done.irreversible {
            self.note_plan(
                lead,
                &done.title,
                false,
                "cannot be undone (irreversible): a rollback stops here".into(),
            );
            return;
        }
        let Some(block) = done.rollback else {
            self.note_plan(
                lead,
                &done.title,
                false,
                "no rollback block: it would be left as it is".into(),
            );
            return;
        };
        self.emit(Event::RollbackStarted {
            title: done.title.clone(),
            reason: if lead.is_empty() {
                "planned: what `runbook rollback` would run".into()
            } else {
                "planned: what a later failure would run".into()
            },
        });
        let (r, changes, _) = self.rollback_block(done, block).await;
        let refused: Vec<String> = changes
            .iter()
            .filter_map(|c| match c {
                Change::Planned(p) if !p.refusals.is_empty() => {
                    Some(format!("{}: {}", p.target, p.refusals.join("; ")))
                }
                _ => None,
            })
            .collect();
        let ok = r.is_ok() && refused.is_empty();
        self.emit(Event::RollbackFinished {
            title: done.title.clone(),
            status: if ok {
                StepStatus::Planned
            } else {
                StepStatus::Failed
            },
            elapsed: Duration::ZERO,
        });
        let mut message = match (&r, ok) {
            (Err(e), _) => format!("its rollback would fail: {}", e.message),
            (Ok(()), false) => format!("EKS would refuse: {}", refused.join("; ")),
            (Ok(()), true) => "EKS would accept every request of its rollback".into(),
        };
        if let Some(limit) = done.bounded {
            message.push_str(&format!("; a rollback ends after this step: {limit}"));
        }
        self.note_plan(lead, &done.title, ok, message);
    }

    fn note_plan(&self, lead: &str, title: &str, ok: bool, message: String) {
        self.log(format!(
            "{} {lead}`{title}`: {message}",
            if ok { "↩" } else { "!" }
        ));
    }

    /// Run one step's rollback block, then compare what the step changed
    /// with the state now. Returns whether its changes are undone (or kept
    /// on purpose by a `keep`).
    async fn undo(&self, done: &Completed<'p>) -> bool {
        let changed = changed_lines(&done.changes);
        let Some(block) = done.rollback else {
            if !changed.is_empty() {
                self.note_rollback(
                    &done.title,
                    StepStatus::NotUndone,
                    format!("no rollback block; left as is: {}", changed.join("; ")),
                );
                return false;
            }
            return true;
        };
        self.cloud.clock.reset_cancel();
        self.emit(Event::RollbackStarted {
            title: done.title.clone(),
            reason: "a step failed".into(),
        });
        let started = self.cloud.clock.now();
        let (r, undo_changes, kept) = self.rollback_block(done, block).await;
        let elapsed = self.cloud.clock.since(started);
        // The step failed before binding what its rollback block reads: the
        // block cannot run, and only matters if the step changed something.
        let unbound = matches!(&r, Err(e) if e.kind == FailKind::Eval
            && e.message.ends_with(UNDEFINED_SUFFIX));
        let nothing = unbound && changed.is_empty() && kept.is_empty();
        self.emit(Event::RollbackFinished {
            title: done.title.clone(),
            status: match &r {
                Ok(()) => StepStatus::Done,
                Err(_) if nothing => StepStatus::Skipped,
                Err(_) => StepStatus::Failed,
            },
            elapsed,
        });
        if let Err(e) = r {
            if nothing {
                self.log(format!(
                    "↩ {}: nothing to undo: it changed nothing before it failed (its rollback block reads what the step never bound: {})",
                    done.title, e.message
                ));
                return true;
            }
            let message = if unbound {
                format!(
                    "rollback failed: {} (the step failed before binding it); still changed: {}",
                    e.message,
                    changed.join("; ")
                )
            } else {
                format!("rollback failed: {}", e.message)
            };
            self.note_rollback(&done.title, StepStatus::NotUndone, message);
            return false;
        }
        if changed.is_empty() && kept.is_empty() {
            // Nothing to undo: not a rollback worth a line.
            return true;
        }
        let (verdict, ok) = self.verdict(&done.changes, &undo_changes, &kept).await;
        let (status, message) = verdict;
        self.note_rollback(&done.title, status, message);
        ok
    }

    /// `undo`, then, after a step that makes (or was to make) a change EKS
    /// bounds, end the rollback: nothing before it can be undone.
    async fn undo_bounded(&self, done: &Completed<'p>) -> bool {
        // In the step's own branch: its records go to that branch's lane,
        // whose order does not depend on how the branches interleaved.
        let ok = branch::maybe_within(done.branch.clone(), self.undo(done)).await;
        if let Some(limit) = done.bounded {
            self.state.borrow_mut().stopped_at = Some((done.title.clone(), ok.then_some(limit)));
        }
        ok
    }

    /// Whether a rollback block changed the state back: each change of the
    /// step that names a cluster, nodegroup or add-on is compared with the
    /// version it had before; others count as undone only if the block
    /// changed something.
    async fn verdict(
        &self,
        changes: &[Change],
        undo_changes: &[Change],
        kept: &[String],
    ) -> ((StepStatus, String), bool) {
        let mut differ = Vec::new();
        let mut verified = 0;
        let mut unverifiable = 0;
        let mut may_have = 0;
        for c in changes {
            let Change::Applied {
                target, from, to, ..
            } = c
            else {
                continue;
            };
            let Some(before) = from else {
                if to.is_none() && target.contains('.') && !target.contains(' ') {
                    // "may have been applied": the call itself was cut short.
                    may_have += 1;
                } else {
                    unverifiable += 1;
                }
                continue;
            };
            match self.state_of(target, to.as_deref()).await {
                Some(now) if same_version(&now, before) => verified += 1,
                Some(now) => differ.push(format!("{target} is at {now}, was {before}")),
                None => unverifiable += 1,
            }
        }
        let undid = undo_changes.iter().any(|c| !c.is_unchanged());
        let kept_text = kept.join("; ");
        if !differ.is_empty() {
            return if kept.is_empty() {
                (
                    (
                        StepStatus::NotUndone,
                        format!("the rollback block ran, but {}", differ.join("; ")),
                    ),
                    false,
                )
            } else {
                (
                    (
                        StepStatus::Kept,
                        format!("{kept_text} ({})", differ.join("; ")),
                    ),
                    true,
                )
            };
        }
        if unverifiable > 0 && !undid {
            return if kept.is_empty() {
                (
                    (
                        StepStatus::NotUndone,
                        format!(
                            "the rollback block changed nothing back: {}",
                            changed_lines(changes).join("; ")
                        ),
                    ),
                    false,
                )
            } else {
                ((StepStatus::Kept, kept_text), true)
            };
        }
        if verified == 0 && unverifiable == 0 && may_have > 0 && !undid {
            return (
                (
                    StepStatus::RolledBack,
                    "nothing was left to undo: the cluster matches the state before the step"
                        .into(),
                ),
                true,
            );
        }
        let mut message = String::new();
        if !kept.is_empty() {
            message = format!("(kept on purpose: {kept_text})");
        }
        ((StepStatus::RolledBack, message), true)
    }

    /// The version a change's target has now: a cluster's, a nodegroup's
    /// (or its blue/green replacement's, once the old group is gone) or an
    /// add-on's. `None` for other targets.
    async fn state_of(&self, target: &str, to: Option<&str>) -> Option<String> {
        let eks = &self.cloud.eks;
        if let Some(name) = target.strip_prefix("cluster ") {
            return eks.cluster(name).await.ok().map(|c| c.version);
        }
        let cluster = self.cluster.as_deref()?;
        if let Some(addon) = target.strip_prefix("add-on ") {
            return eks.addon(cluster, addon).await.ok().map(|a| a.version);
        }
        let ng = target.strip_prefix("nodegroup ")?;
        match eks.nodegroup(cluster, ng).await {
            Ok(info) => Some(info.version),
            Err(e) if e.is_not_found() => {
                let replacement = crate::cloud::rotate::replacement_name(ng, to?);
                eks.nodegroup(cluster, &replacement)
                    .await
                    .ok()
                    .map(|i| i.version)
            }
            Err(_) => None,
        }
    }

    fn note_rollback(&self, title: &str, status: StepStatus, message: String) {
        self.emit(Event::Rollback {
            title: title.to_string(),
            status,
            message,
        });
    }

    // -------------------------------------------------------------------- gates

    fn gate(&self, name: &str, span: Span) -> Result<&'p GateDecl, RunError> {
        self.gates
            .get(name)
            .copied()
            .ok_or_else(|| RunError::eval(format!("gate `{name}` is not declared"), span))
    }

    async fn gate_timing(
        &self,
        g: &GateDecl,
        env: &Env,
    ) -> Result<(Duration, Duration, usize), RunError> {
        let within = match &g.within {
            Some(e) => self.duration(e, env).await?,
            None => GATE_WITHIN,
        };
        let every = match &g.every {
            Some(e) => self.duration(e, env).await?,
            None => GATE_EVERY,
        };
        let consecutive = match &g.consecutive {
            Some(e) => match self.eval(e, env).await? {
                Value::Int(n) if n > 0 => n as usize,
                other => {
                    return Err(RunError::eval(
                        format!("consecutive must be a positive int, got {other}"),
                        e.span,
                    ));
                }
            },
            None => 1,
        };
        Ok((within, every, consecutive))
    }

    /// The first condition of a gate that does not hold now, if any.
    async fn failing<'g>(
        &self,
        conds: &'g [Expr],
        env: &Env,
    ) -> Result<Option<&'g Expr>, RunError> {
        for c in conds {
            match self.eval_bool(c, env).await {
                Ok(Some(false)) => return Ok(Some(c)),
                Ok(_) => {}
                // A read that failed (after the clients' own retries) is no
                // evidence either way: the condition does not hold *now*, and
                // the gate polls again until its deadline.
                Err(e) if e.kind == FailKind::Cloud && !self.is_plan() => {
                    self.reporter
                        .progress(&format!("`{}`: {}", self.source_of(c), e.message));
                    return Ok(Some(c));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    pub(super) fn source_of(&self, e: &Expr) -> String {
        self.program.sources.slice(e.span).trim().to_string()
    }

    /// Progress of a wait on `cond` that began at `started` (clock time).
    fn waiting_for(&self, cond: &Expr, started: Duration, within: Duration) -> String {
        format!(
            "waiting for `{}` ({} of {})",
            self.source_of(cond),
            human(self.cloud.clock.since(started)),
            human(within)
        )
    }

    /// `gate NAME`: wait until the gate's conditions hold `consecutive`
    /// times in a row, checking `every`, for at most `within`.
    pub async fn run_gate(&self, name: &str, span: Span, env: &Env) -> Result<(), RunError> {
        let g = self.gate(name, span)?;
        let (within, every, consecutive) = self.gate_timing(g, env).await?;
        if self.is_plan() {
            // A gate that holds takes at least its `consecutive` checks.
            self.plan_wait(every * (consecutive as u32).saturating_sub(1));
            let settled = self.settled_failures();
            let failing = self.failing(&g.conditions, env).await?;
            // A check that fails on the EKS state the planned changes leave
            // (add-on and control-plane versions) fails for real: no wait
            // changes what only a request changes.
            if let Some(c) = failing.filter(|c| {
                self.settled_failures() > settled
                    && matches!(&c.kind, ExprKind::Call { namespace, .. } if namespace.name == "check")
            }) {
                let msg = format!(
                    "gate `{name}` would not hold within {}: `{}` is false on the EKS state the changes above leave, which no wait changes",
                    human(within),
                    self.source_of(c)
                );
                self.gate_verdict(name, false, msg.clone(), None);
                return Err(RunError::new(FailKind::Gate, msg, c.span).with_help(format!(
                    "the gate was invoked at {}",
                    self.program.sources.location(span)
                )));
            }
            let message = match failing {
                None => "holds now".to_string(),
                Some(c) => format!(
                    "does not hold now (`{}`); a real run waits up to {} for it after the changes above",
                    self.source_of(c),
                    human(within)
                ),
            };
            self.gate_verdict(name, true, message, None);
            return Ok(());
        }
        if let Some(d) = self.durable.filter(|_| env.recorded()) {
            let step = self.current_step();
            match d
                .replay_gate(name, step.as_deref())
                .map_err(|stop| self.stopped(stop, span))?
            {
                Replay::Recorded((passed, message)) => {
                    self.gate_verdict(name, passed, message.clone(), None);
                    return if passed {
                        Ok(())
                    } else {
                        Err(RunError::new(FailKind::Gate, message, span))
                    };
                }
                Replay::DuringFailed { gate, detail } => {
                    return Err(self.during_failed(&gate, detail, span));
                }
                Replay::Live | Replay::Diverged(_) => {}
            }
        }
        // The gate's outcome is journalled as a whole, not its reads.
        let env = &env.unrecorded();
        let clock = &self.cloud.clock;
        let deadline = clock.deadline(within);
        let started = clock.now();
        let mut streak = 0;
        loop {
            let failing = self.failing(&g.conditions, env).await?;
            match failing {
                None => {
                    streak += 1;
                    if streak >= consecutive {
                        let message = format!("held after {}", human(clock.since(started)));
                        self.gate_verdict(name, true, message.clone(), Some(false));
                        return Ok(());
                    }
                }
                Some(c) => {
                    streak = 0;
                    if deadline.passed(clock) {
                        let msg = format!(
                            "gate `{name}` did not hold within {}: {}",
                            human(within),
                            self.why_false(c, env).await
                        );
                        self.gate_verdict(name, false, msg.clone(), Some(false));
                        return Err(
                            RunError::new(FailKind::Gate, msg, c.span).with_help(format!(
                                "the gate was invoked at {}",
                                self.program.sources.location(span)
                            )),
                        );
                    }
                    self.reporter.progress(&format!(
                        "gate {name}: {}",
                        self.waiting_for(c, started, within)
                    ));
                }
            }
            clock
                .sleep(every)
                .await
                .map_err(|e| RunError::cloud(e, span))?;
        }
    }

    /// Check a list of gates once each, with their own windows (canary).
    pub(super) async fn gates_now(&self, names: &[String], env: &Env) -> Result<(), RunError> {
        for n in names {
            self.run_gate(n, self.runbook.name.span, env).await?;
        }
        Ok(())
    }

    /// `during GATE`: while the step runs, a gate failing for longer than
    /// its `within` fails the step. Never returns Ok.
    async fn watch(&self, step: &'p Step, env: &Env) -> Result<(), RunError> {
        let mut gates = Vec::new();
        for id in &step.during {
            let g = self.gate(&id.name, id.span)?;
            let timing = self.gate_timing(g, env).await?;
            gates.push((id, g, timing));
        }
        let every = gates
            .iter()
            .map(|(_, _, t)| t.1)
            .min()
            .unwrap_or(GATE_EVERY);
        let clock = &self.cloud.clock;
        // Not journalled read by read: only a failure is, as the step's end.
        let env = &env.unrecorded();
        let mut failing_since: Vec<Option<Duration>> = vec![None; gates.len()];
        loop {
            // Cancelled (Ctrl-C, a timeout, a failed sibling branch): the
            // body stops at its next safe point and says why; the watch
            // must not end the step first and drop the body mid-request.
            if clock.sleep(every).await.is_err() {
                return futures::future::pending().await;
            }
            // While the step replays, its recorded past is not watched again
            // (a recorded failure of the watch is replayed by the body).
            if self.durable.is_some_and(Durable::replaying) {
                continue;
            }
            for (i, (id, g, (within, _, _))) in gates.iter().enumerate() {
                match self.failing(&g.conditions, env).await? {
                    None => failing_since[i] = None,
                    Some(c) => {
                        let since = *failing_since[i].get_or_insert(clock.now());
                        if clock.since(since) >= *within {
                            let msg = format!(
                                "gate `{}` failed during the step for {}: {}",
                                id.name,
                                human(*within),
                                self.why_false(c, env).await
                            );
                            self.gate_verdict(&id.name, false, msg.clone(), Some(true));
                            return Err(RunError::new(FailKind::Gate, msg, c.span));
                        }
                    }
                }
            }
        }
    }

    async fn await_cond(
        &self,
        cond: &Expr,
        within: Duration,
        every: Duration,
        env: &Env,
    ) -> Result<(), RunError> {
        if self.is_plan() {
            let now = self.eval_bool(cond, env).await?;
            self.log(format!(
                "would wait up to {} for `{}` ({})",
                human(within),
                self.source_of(cond),
                match now {
                    Some(true) => "holds now",
                    Some(false) => "does not hold now",
                    None => "known at run time",
                }
            ));
            return Ok(());
        }
        let clock = &self.cloud.clock;
        let deadline = clock.deadline(within);
        let started = clock.now();
        loop {
            if self
                .failing(std::slice::from_ref(cond), env)
                .await?
                .is_none()
            {
                return Ok(());
            }
            if deadline.passed(clock) {
                return Err(RunError::new(
                    FailKind::Await,
                    format!(
                        "`{}` did not hold within {}",
                        self.source_of(cond),
                        human(within)
                    ),
                    cond.span,
                ));
            }
            self.reporter
                .progress(&self.waiting_for(cond, started, within));
            clock
                .sleep(every)
                .await
                .map_err(|e| RunError::cloud(e, cond.span))?;
        }
    }
}

/// The undo bound of the first action in `stmts` (nested steps and rollback
/// blocks aside) whose undo EKS bounds: a step that calls one, whether or
/// not the call was reached, is where its hop begins, so a rollback ends
/// there.
fn bounded_call(stmts: &[Stmt]) -> Option<&'static str> {
    use crate::syntax::ast::{ExprKind, StrPart};
    fn expr(e: &Expr) -> Option<&'static str> {
        match &e.kind {
            ExprKind::Call {
                namespace,
                func,
                args,
            } => crate::builtins::lookup(&format!("{}.{}", namespace.name, func.name))
                .and_then(|b| b.undo_limit())
                .or_else(|| args.iter().find_map(|a| expr(&a.value))),
            ExprKind::Method { receiver, args, .. } => {
                expr(receiver).or_else(|| args.iter().find_map(|a| expr(&a.value)))
            }
            ExprKind::List(items) => items.iter().find_map(expr),
            ExprKind::Map(entries) => entries.iter().find_map(|m| expr(&m.value)),
            ExprKind::Field { base, .. } => expr(base),
            ExprKind::Index { base, index } => expr(base).or_else(|| expr(index)),
            ExprKind::Lambda { body, .. } => expr(body),
            ExprKind::Unary { operand, .. } => expr(operand),
            ExprKind::Binary { lhs, rhs, .. } => expr(lhs).or_else(|| expr(rhs)),
            ExprKind::Str(s) => s.parts.iter().find_map(|p| match p {
                StrPart::Interp(e) => expr(e),
                StrPart::Text { .. } => None,
            }),
            _ => None,
        }
    }
    stmts.iter().find_map(|s| match &s.kind {
        StmtKind::Step(_) => None,
        StmtKind::Let { value, .. } => expr(value),
        StmtKind::For { iter, body, .. } => expr(iter).or_else(|| bounded_call(&body.stmts)),
        StmtKind::If {
            branches,
            otherwise,
        } => branches
            .iter()
            .find_map(|(c, b)| expr(c).or_else(|| bounded_call(&b.stmts)))
            .or_else(|| otherwise.as_ref().and_then(|b| bounded_call(&b.stmts))),
        StmtKind::Expr(e) => expr(e),
        _ => None,
    })
}

/// Whether `stmts` hold a step of their own (templates may).
fn holds_step(stmts: &[Stmt]) -> bool {
    stmts.iter().any(|s| match &s.kind {
        StmtKind::Step(_) | StmtKind::Use { .. } => true,
        StmtKind::For { body, .. } => holds_step(&body.stmts),
        StmtKind::If {
            branches,
            otherwise,
        } => {
            branches.iter().any(|(_, b)| holds_step(&b.stmts))
                || otherwise.as_ref().is_some_and(|b| holds_step(&b.stmts))
        }
        _ => false,
    })
}

/// The changes that changed something, one line each.
fn changed_lines(changes: &[Change]) -> Vec<String> {
    changes
        .iter()
        .filter(|c| !c.is_unchanged())
        .map(Change::summary)
        .collect()
}

/// Kubernetes versions compare by minor ("1.29" and "1.29.3"); add-on
/// versions exactly.
fn same_version(a: &str, b: &str) -> bool {
    use crate::cloud::eks::parse_minor;
    if a.contains("eksbuild") || b.contains("eksbuild") {
        return a == b;
    }
    match (parse_minor(a), parse_minor(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Ask on the terminal; only an explicit yes counts.
pub(super) fn ask_yes(question: &str) -> bool {
    let term = console::Term::stderr();
    let _ = term.write_line(&format!("{question} [y/N] "));
    let answer = term.read_line().unwrap_or_default();
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// The journal's record of a run event, for the events it keeps. Steps are
/// journalled under their key (id and title): each loop iteration is its
/// own step.
/// `simulated_seconds`: a step's duration on a sandbox's clock (none on
/// wall time).
fn journal_record(event: &Event, simulated: bool, undo: Option<UndoContext>) -> Option<Record> {
    Some(match event {
        Event::StepStarted { id, title, .. } => Record::StepStarted {
            step: format!("{id}:{title}"),
        },
        Event::StepFinished {
            id,
            title,
            status,
            elapsed,
            ..
        } => Record::StepFinished {
            step: format!("{id}:{title}"),
            outcome: match status {
                StepStatus::Skipped => StepOutcome::Skipped,
                StepStatus::Failed => StepOutcome::Failed,
                _ => StepOutcome::Ok,
            },
            error: None,
            simulated_seconds: simulated.then_some(elapsed.as_secs()),
            undo: undo.filter(|_| *status == StepStatus::Done),
        },
        Event::RollbackStarted { title, reason } => Record::RollbackStarted {
            step: title.clone(),
            reason: reason.clone(),
        },
        Event::Rollback {
            title,
            status,
            message,
        } => Record::RollbackFinished {
            step: title.clone(),
            ok: matches!(status, StepStatus::RolledBack | StepStatus::Kept),
            error: (!message.is_empty()).then(|| message.clone()),
            verdict: Some(status.as_str().to_string()),
        },
        _ => return None,
    })
}
