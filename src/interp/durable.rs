//! The interpreter's side of durable runs (see `docs/durable-runs.md`): a
//! real run journals every mutation around its request, consults what an
//! earlier attempt of the same run did, and mutates only while it holds the
//! cluster lock. A dry run has none of this: it writes nothing and locks
//! nothing.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use serde_json::json;

use crate::cloud::token;
use crate::durable::journal::{self, JournalContents};
use crate::durable::{
    ActionKey, ActionOutcome, ActionStatus, ActiveRun, ClusterLock, LockOptions, Record,
    ResumeState, RunId, SystemClock,
};

/// A journalled run: the journal, what earlier attempts recorded, and the
/// cluster lock once taken.
pub struct Durable {
    run: RefCell<ActiveRun>,
    state: ResumeState,
    /// Actions completed in an earlier attempt whose step was rolled back
    /// afterwards: their recorded result no longer describes the cluster.
    undone: HashSet<ActionKey>,
    lock: RefCell<Option<ClusterLock>>,
    /// A journal write that failed outside a mutation; the next mutation
    /// refuses rather than run unjournalled.
    broken: RefCell<Option<String>>,
}

/// How a mutating call goes ahead.
pub enum Go {
    /// Send it (its intent is on disk).
    Send,
    /// An earlier attempt may have sent it: settle in-flight updates and
    /// compare the state before sending anything (intent re-recorded).
    Probe,
    /// Done in an earlier attempt: this was its result.
    Reuse(serde_json::Value),
}

impl Durable {
    /// A fresh run passes `ResumeState::default()`; a resume the state
    /// `ResumePlan::begin` returned.
    pub fn new(run: ActiveRun, state: ResumeState) -> Durable {
        let undone = match journal::read(run.journal().path()) {
            Ok(contents) => undone_actions(&contents),
            Err(_) => HashSet::new(),
        };
        Durable {
            run: RefCell::new(run),
            state,
            undone,
            lock: RefCell::new(None),
            broken: RefCell::new(None),
        }
    }

    pub fn run_id(&self) -> RunId {
        self.run.borrow().id().clone()
    }

    /// `.runbook/runs/<id>/`, where the journal and reports are.
    pub fn dir(&self) -> std::path::PathBuf {
        self.run.borrow().dir().to_path_buf()
    }

    /// Take the cluster lock (before the first mutation).
    pub async fn lock(&self, client: kube::Client) -> Result<(), String> {
        let (id, runbook) = {
            let run = self.run.borrow();
            (run.id().clone(), run.header().runbook.clone())
        };
        let lock =
            ClusterLock::acquire(client, LockOptions::new(id, runbook), SystemClock::shared())
                .await
                .map_err(|e| format!("{e}; {}", e.help()))?;
        *self.lock.borrow_mut() = Some(lock);
        Ok(())
    }

    /// Clear the lock's holder (end of the run, whatever the outcome).
    pub async fn unlock(&self) {
        let lock = self.lock.borrow_mut().take();
        if let Some(lock) = lock
            && let Err(e) = lock.release().await
        {
            tracing::warn!("could not release the cluster lock: {e}");
        }
    }

    /// Journal a non-mutation record (steps, gates, rollbacks).
    pub fn note(&self, record: Record) {
        if let Err(e) = self.run.borrow_mut().append(record) {
            self.broken.borrow_mut().get_or_insert(e.to_string());
        }
    }

    /// Before a mutating request: the lock must be held, and the journal
    /// decides whether to send, probe or reuse; the intent (with the token to
    /// send) is on disk before this returns `Send` or `Probe`. Errors stop
    /// the mutation.
    pub fn begin(
        &self,
        key: &ActionKey,
        action: &str,
        token: &str,
        request: &serde_json::Value,
    ) -> Result<(Go, String), String> {
        if let Some(e) = self.broken.borrow().as_ref() {
            return Err(format!("the journal cannot be written: {e}"));
        }
        if let Some(lock) = self.lock.borrow().as_ref() {
            lock.ensure_held()
                .map_err(|e| format!("{e}; {}", e.help()))?;
        }
        // EKS answers a repeated token with the update it already made, so a
        // change that must really happen again (its earlier update failed,
        // or was rolled back since) gets a token of its own for this attempt.
        let retry_token =
            || token::derive(token, &format!("attempt-{}", self.state.attempts() + 1));
        let (go, token) = match self.state.status(key) {
            ActionStatus::Completed { .. } if self.undone.contains(key) => {
                (Go::Send, retry_token())
            }
            ActionStatus::Completed { result } => {
                return Ok((Go::Reuse(result.clone()), token.into()));
            }
            // A failure recorded after a timed-out or interrupted wait may
            // still have landed: probe it like an intent without a result.
            ActionStatus::Failed { .. } => (Go::Probe, retry_token()),
            ActionStatus::InDoubt(_) => (Go::Probe, token.to_string()),
            ActionStatus::NotStarted => (Go::Send, token.to_string()),
        };
        self.run
            .borrow_mut()
            .record_intent(key, action, &token, request)
            .map_err(|e| e.to_string())?;
        Ok((go, token))
    }

    /// After the mutation: its outcome, fsynced before the run moves on.
    pub fn finish(&self, key: &ActionKey, outcome: Result<serde_json::Value, String>) {
        let outcome = match outcome {
            Ok(result) => ActionOutcome::Ok { result },
            Err(error) => ActionOutcome::Failed { error },
        };
        if let Err(e) = self.run.borrow_mut().finish_action(key, outcome) {
            self.broken.borrow_mut().get_or_insert(e.to_string());
        }
    }

    /// Record the end of the run and write the reports; returns the path of
    /// the Markdown report.
    pub fn close(
        &self,
        outcome: crate::durable::RunOutcome,
        error: Option<String>,
        final_state: &[String],
    ) -> Result<std::path::PathBuf, String> {
        let mut run = self.run.borrow_mut();
        run.finish(outcome, error, Some(json!(final_state)))
            .map_err(|e| e.to_string())?;
        Ok(run.dir().join("report.md"))
    }
}

/// Completed actions whose step's rollback started after they completed.
/// Forward steps key their actions `<step id>:<title>`; rollbacks are
/// journalled under the title.
fn undone_actions(contents: &JournalContents) -> HashSet<ActionKey> {
    let mut completed: HashMap<ActionKey, u64> = HashMap::new();
    let mut rolled_back: HashMap<String, u64> = HashMap::new();
    for entry in &contents.entries {
        match &entry.record {
            Record::ActionResult {
                key,
                outcome: ActionOutcome::Ok { .. },
            } => {
                completed.insert(key.clone(), entry.seq);
            }
            Record::RollbackStarted { step, .. } => {
                rolled_back.insert(step.clone(), entry.seq);
            }
            _ => {}
        }
    }
    completed
        .into_iter()
        .filter(|(key, done)| {
            let title = key.step.split_once(':').map_or("", |(_, t)| t);
            rolled_back.get(title).is_some_and(|undone| undone > done)
        })
        .map(|(key, _)| key)
        .collect()
}
