//! Replay bookkeeping: what a journal says about each action, so a resumed run
//! skips what is done, probes what is in doubt, and runs the rest.
//!
//! The interpreter, for each mutating action with key `k`:
//! - `Completed` → do not send; reuse the recorded result.
//! - `InDoubt` → the intent was written but no result: the request may or may
//!   not have gone out. Probe the real state (e.g. EKS DescribeUpdate with the
//!   recorded `client_request_token`, or the version now observed) and record
//!   the result; send again only if the probe shows it never arrived.
//! - `Failed` → the mutation is known not to have taken effect; it may be retried.
//! - `NotStarted` → run it normally.

use std::fmt;
use std::path::PathBuf;

use indexmap::IndexMap;
use jiff::Timestamp;
use serde_json::Value;

use super::clock::SharedClock;
use super::header::RunHeader;
use super::journal::{JournalContents, TornTail};
use super::record::{ActionKey, ActionOutcome, Record, RunOutcome, StepOutcome};
use super::run_id::RunId;
use super::store::{ActiveRun, RunState, RunStore, StoreError};
use crate::diagnostic::Diagnostic;

/// A recorded `action_intent`.
#[derive(Clone, Debug, PartialEq)]
pub struct Intent {
    pub key: ActionKey,
    pub action: String,
    pub client_request_token: Option<String>,
    pub request: Value,
    pub seq: u64,
    pub at: Timestamp,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ActionStatus<'a> {
    NotStarted,
    InDoubt(&'a Intent),
    Completed { result: &'a Value },
    Failed { error: &'a str },
}

#[derive(Clone, Debug)]
struct Tracked {
    intent: Option<Intent>,
    outcome: Option<ActionOutcome>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepProgress {
    NotStarted,
    /// Started and never finished: it was running when the process died.
    Interrupted,
    Finished(StepOutcome),
}

/// Everything a journal says about a run's progress.
#[derive(Clone, Debug, Default)]
pub struct ResumeState {
    actions: IndexMap<ActionKey, Tracked>,
    steps: IndexMap<String, Option<StepOutcome>>,
    outcome: Option<RunOutcome>,
    attempts: u32,
}

impl ResumeState {
    pub fn from_journal(contents: &JournalContents) -> ResumeState {
        let mut state = ResumeState::default();
        for entry in &contents.entries {
            match &entry.record {
                Record::ActionIntent {
                    key,
                    action,
                    client_request_token,
                    request,
                } => {
                    // A new intent for the same key (a retry after `Failed`)
                    // supersedes the old outcome.
                    state.actions.insert(
                        key.clone(),
                        Tracked {
                            intent: Some(Intent {
                                key: key.clone(),
                                action: action.clone(),
                                client_request_token: client_request_token.clone(),
                                request: request.clone(),
                                seq: entry.seq,
                                at: entry.at,
                            }),
                            outcome: None,
                        },
                    );
                }
                Record::ActionResult { key, outcome } => {
                    let tracked = state.actions.entry(key.clone()).or_insert(Tracked {
                        intent: None,
                        outcome: None,
                    });
                    tracked.outcome = Some(outcome.clone());
                }
                Record::StepStarted { step } => {
                    state.steps.insert(step.clone(), None);
                }
                Record::StepFinished { step, outcome, .. } => {
                    state.steps.insert(step.clone(), Some(*outcome));
                }
                Record::Resumed { attempt, .. } => {
                    state.attempts = *attempt;
                    // The run goes on after a finish (a failed run retried).
                    state.outcome = None;
                }
                Record::RunFinished { outcome, .. } => state.outcome = Some(*outcome),
                Record::RunStarted { .. }
                | Record::GateResult { .. }
                | Record::Observed { .. }
                | Record::Blocker { .. }
                | Record::Diverged { .. }
                | Record::RollbackStarted { .. }
                | Record::RollbackFinished { .. } => {}
            }
        }
        state
    }

    pub fn status(&self, key: &ActionKey) -> ActionStatus<'_> {
        match self.actions.get(key) {
            None => ActionStatus::NotStarted,
            Some(Tracked {
                outcome: Some(ActionOutcome::Ok { result }),
                ..
            }) => ActionStatus::Completed { result },
            Some(Tracked {
                outcome: Some(ActionOutcome::Failed { error }),
                ..
            }) => ActionStatus::Failed { error },
            Some(Tracked {
                intent: Some(intent),
                outcome: None,
            }) => ActionStatus::InDoubt(intent),
            Some(Tracked {
                intent: None,
                outcome: None,
            }) => ActionStatus::NotStarted,
        }
    }

    pub fn step_progress(&self, step: &str) -> StepProgress {
        match self.steps.get(step) {
            None => StepProgress::NotStarted,
            Some(None) => StepProgress::Interrupted,
            Some(Some(outcome)) => StepProgress::Finished(*outcome),
        }
    }

    /// Intents without a result, in journal order.
    pub fn in_doubt(&self) -> impl Iterator<Item = &Intent> {
        self.actions.values().filter_map(|t| match t {
            Tracked {
                intent: Some(i),
                outcome: None,
            } => Some(i),
            _ => None,
        })
    }

    pub fn completed(&self) -> impl Iterator<Item = &ActionKey> {
        self.actions
            .iter()
            .filter_map(|(k, t)| matches!(t.outcome, Some(ActionOutcome::Ok { .. })).then_some(k))
    }

    pub fn steps(&self) -> impl Iterator<Item = (&str, StepProgress)> {
        self.steps
            .keys()
            .map(|s| (s.as_str(), self.step_progress(s)))
    }

    /// How the run last finished, unless it was resumed since.
    pub fn outcome(&self) -> Option<RunOutcome> {
        self.outcome
    }

    /// Number of earlier resumes.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the runbook changed since run {id} began: {}", list(.files))]
    RunbookChanged { id: RunId, files: Vec<PathBuf> },
    #[error("run {id} already {}; there is nothing to resume", describe(*.outcome))]
    AlreadyFinished { id: RunId, outcome: RunOutcome },
}

fn list(files: &[PathBuf]) -> String {
    files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe(outcome: RunOutcome) -> &'static str {
    match outcome {
        RunOutcome::Succeeded => "finished successfully",
        RunOutcome::Failed => "failed",
        RunOutcome::RolledBack => "rolled back",
        RunOutcome::Refused => "was refused before any change",
    }
}

impl ResumeError {
    pub fn to_diagnostic(&self) -> (crate::source::SourceMap, Diagnostic) {
        match self {
            ResumeError::Store(StoreError::Journal(e)) => e.to_diagnostic(),
            other => {
                let (code, help) = match other {
                    ResumeError::RunbookChanged { .. } => (
                        "RUN043",
                        "actions are matched by step and arguments, so an edited runbook can \
                         repeat or skip work. Restore the original files, or pass --force if you \
                         have checked that the change is safe",
                    ),
                    ResumeError::AlreadyFinished { .. } => {
                        ("RUN044", "start a new run with `runbook exec`")
                    }
                    ResumeError::Store(e) => ("RUN042", e.help().unwrap_or("")),
                };
                let mut d = Diagnostic::error(code, other.to_string());
                if !help.is_empty() {
                    d = d.with_help(help);
                }
                (crate::source::SourceMap::new(), d)
            }
        }
    }
}

/// A validated, not yet started resume: what `runbook resume` shows before
/// (and instead of) continuing.
#[derive(Debug)]
pub struct ResumePlan {
    pub store: RunStore,
    pub header: RunHeader,
    pub state: ResumeState,
    pub torn_tail: Option<String>,
    /// Files that changed, when resuming anyway under `--force`.
    pub changed_files: Vec<PathBuf>,
    pub forced: bool,
    /// Recorded results the resumed run replays (`durable::history`).
    pub replayed: usize,
    /// The run ended (failed or refused): it starts over instead.
    pub ended: Option<RunOutcome>,
}

impl ResumePlan {
    /// Load and validate run `id`. Read-only: nothing is written until `begin`.
    pub fn prepare(store: &RunStore, id: &RunId, force: bool) -> Result<ResumePlan, ResumeError> {
        let run = store.load(id)?;
        if run.state == RunState::Running {
            return Err(StoreError::Running { id: id.clone() }.into());
        }
        let state = ResumeState::from_journal(&run.journal);
        if let Some(outcome @ (RunOutcome::Succeeded | RunOutcome::RolledBack)) = state.outcome() {
            return Err(ResumeError::AlreadyFinished {
                id: id.clone(),
                outcome,
            });
        }
        let now = run.header.fingerprint.rehash();
        let changed_files = run.header.fingerprint.changed_files(&now);
        if !changed_files.is_empty() && !force {
            return Err(ResumeError::RunbookChanged {
                id: id.clone(),
                files: changed_files,
            });
        }
        Ok(ResumePlan {
            store: store.clone(),
            torn_tail: run
                .journal
                .torn_tail
                .as_ref()
                .map(|t: &TornTail| t.message(&run.journal.path)),
            header: run.header,
            replayed: super::history::History::from_journal(&run.journal).remaining(),
            ended: state.outcome(),
            state,
            changed_files,
            forced: force,
        })
    }

    /// Take the run over: hold its lock, cut a torn tail, record `resumed`.
    /// Returns the run to append to and the state to consult.
    pub fn begin(self, clock: SharedClock) -> Result<(ActiveRun, ResumeState), ResumeError> {
        let (mut run, contents) = self.store.reopen(&self.header.run_id, clock)?;
        // Re-derive from what is on disk now, under the lock.
        let state = ResumeState::from_journal(&contents);
        run.append(Record::Resumed {
            attempt: state.attempts() + 1,
            forced: self.forced && !self.changed_files.is_empty(),
            dropped_torn_tail: contents.torn_tail.is_some(),
        })
        .map_err(StoreError::from)?;
        Ok((run, state))
    }
}

impl fmt::Display for ResumePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = &self.header;
        writeln!(
            f,
            "run {} of {} on cluster {}",
            h.run_id, h.runbook, h.cluster
        )?;
        writeln!(f, "  started {} by {}", h.started_at, h.operator)?;
        if let Some(torn) = &self.torn_tail {
            writeln!(f, "  warning: {torn}; it will be dropped")?;
        }
        if !self.changed_files.is_empty() {
            writeln!(
                f,
                "  warning: resuming with --force although these changed: {}",
                list(&self.changed_files)
            )?;
        }
        for (step, status) in self.state.steps() {
            let s = match status {
                StepProgress::Finished(StepOutcome::Ok) => "done",
                StepProgress::Finished(StepOutcome::Skipped) => "skipped",
                StepProgress::Finished(StepOutcome::Failed) => "failed (will run again)",
                StepProgress::Interrupted => "interrupted (will continue)",
                StepProgress::NotStarted => "not started",
            };
            writeln!(f, "  step {step}: {s}")?;
        }
        if let Some(outcome) = self.ended {
            writeln!(
                f,
                "  the run {}; resuming starts it over from the beginning, comparing each \
                 change with the cluster before sending it",
                describe(outcome)
            )?;
            return Ok(());
        }
        writeln!(
            f,
            "  {} recorded result(s) will be replayed, not asked again; the run goes live after them",
            self.replayed
        )?;
        for intent in self.state.in_doubt() {
            writeln!(
                f,
                "  in doubt: {} ({}, token {}) — will be probed, not re-sent",
                intent.key,
                intent.action,
                intent.client_request_token.as_deref().unwrap_or("none")
            )?;
        }
        Ok(())
    }
}
