//! The interpreter's side of durable runs (see `docs/durable-runs.md`): a
//! real run journals every result it reads and every mutation around its
//! request, and mutates only while it holds the cluster lock. A resumed run
//! replays the same program against that journal (`durable::history`): what
//! was recorded is fed back, not asked again, and the run goes live where
//! the journal ends. A dry run has none of this: it writes nothing and locks
//! nothing.

use std::cell::{Cell, RefCell};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use super::branch;
use crate::cloud::{Clock, token};
use crate::durable::journal;
use crate::durable::{
    ActionKey, ActionOutcome, ActionReplay, ActiveRun, ClusterLock, Divergence, History, LockError,
    LockOptions, Record, Replay, ResumeState, RunId, SystemClock,
};

/// A journalled run: the journal, the history an earlier attempt recorded
/// (being replayed), and the cluster lock once taken.
pub struct Durable {
    run: RefCell<ActiveRun>,
    history: RefCell<History>,
    /// `resume --force`: a divergence abandons the replay instead of stopping.
    force: Cell<bool>,
    lock: RefCell<Option<ClusterLock>>,
    /// Watches the lock while the run holds it.
    monitor: RefCell<Option<tokio::task::JoinHandle<()>>>,
    /// Why the lock was lost, once it was.
    lost: Arc<Mutex<Option<String>>>,
    /// A journal write that failed outside a mutation; the next mutation
    /// refuses rather than run unjournalled.
    broken: RefCell<Option<String>>,
    /// A structural record (step, rollback) that did not match the journal.
    diverged: RefCell<Option<Divergence>>,
    /// How many times the run ended (`run_finished`) before this attempt: a
    /// refused or failed run that is resumed starts over, live.
    generation: usize,
}

/// How a mutating call goes ahead.
#[derive(Debug)]
pub enum Go {
    /// Send it (its intent is on disk).
    Send,
    /// An earlier attempt recorded the intent but no result: settle
    /// in-flight updates and compare the state before sending anything
    /// (intent re-recorded, with the recorded token). Found already done,
    /// it was most likely done by that attempt: still a change of its step.
    Probe,
    /// A run started over after it ended: compare before sending.
    Compare,
    /// Done in an earlier attempt: this was its result.
    Reuse(serde_json::Value),
    /// Failed in an earlier attempt with this error: fail the same way.
    Fail(String),
    /// The step's `during` gate stopped it here in an earlier attempt.
    DuringFailed { gate: String, detail: String },
}

/// Why the run must stop now without rolling back: it stays resumable.
#[derive(Debug)]
pub enum Stop {
    /// The program asks for something other than the journal holds.
    Diverged(String),
    /// The cluster lock is gone: someone else may be changing the cluster.
    LockLost(String),
    /// The journal cannot be written.
    Journal(String),
}

/// The history lane of the code being run: its `parallel for` branch, or
/// `""` for the main line.
fn lane() -> String {
    branch::current().map(|b| b.lane).unwrap_or_default()
}

impl Durable {
    /// A fresh run passes `ResumeState::default()`; a resume the state
    /// `ResumePlan::begin` returned. The history to replay is read from the
    /// run's journal either way (a fresh journal has none).
    pub fn new(run: ActiveRun, _state: ResumeState) -> Durable {
        let (history, generation) = match journal::read(run.journal().path()) {
            Ok(contents) => (
                History::from_journal(&contents),
                contents
                    .records()
                    .filter(|r| matches!(r, Record::RunFinished { .. }))
                    .count(),
            ),
            Err(_) => (History::default(), 0),
        };
        Durable {
            run: RefCell::new(run),
            history: RefCell::new(history),
            force: Cell::new(false),
            lock: RefCell::new(None),
            monitor: RefCell::new(None),
            lost: Arc::new(Mutex::new(None)),
            broken: RefCell::new(None),
            diverged: RefCell::new(None),
            generation,
        }
    }

    /// `resume --force`: at a divergence, stop replaying and go on live.
    pub fn forcing(self, force: bool) -> Durable {
        self.force.set(force);
        self
    }

    pub fn run_id(&self) -> RunId {
        self.run.borrow().id().clone()
    }

    /// `.runbook/runs/<id>/`, where the journal and reports are.
    pub fn dir(&self) -> std::path::PathBuf {
        self.run.borrow().dir().to_path_buf()
    }

    /// Recorded events remain in the current lane (the main line, or the
    /// `parallel for` branch being run): it is being replayed.
    pub fn replaying(&self) -> bool {
        self.history.borrow_mut().lane(&lane()).replaying()
    }

    /// An earlier attempt of this execution recorded something: the run is
    /// under way, so it can be interrupted but no longer "refused".
    pub fn under_way(&self) -> bool {
        !self.history.borrow().is_empty()
    }

    /// Take the cluster lock (before the first mutation). While it is held,
    /// a watcher stops the run's waits (`clock.cancel`) the moment it is
    /// lost, and every later mutation is refused.
    pub async fn lock(&self, client: kube::Client, clock: Clock) -> Result<(), LockError> {
        let (id, runbook) = {
            let run = self.run.borrow();
            (run.id().clone(), run.header().runbook.clone())
        };
        let lock =
            ClusterLock::acquire(client, LockOptions::new(id, runbook), SystemClock::shared())
                .await?;
        let monitor = lock.monitor();
        let lost = self.lost.clone();
        *self.monitor.borrow_mut() = Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                if let Err(e) = monitor.ensure_held() {
                    *lost.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                    clock.cancel();
                    return;
                }
            }
        }));
        *self.lock.borrow_mut() = Some(lock);
        Ok(())
    }

    /// Why the cluster lock was lost, if it was.
    pub fn lock_lost(&self) -> Option<String> {
        self.lost.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Clear the lock's holder (end of the run, whatever the outcome).
    pub async fn unlock(&self) {
        if let Some(m) = self.monitor.borrow_mut().take() {
            m.abort();
        }
        let lock = self.lock.borrow_mut().take();
        if let Some(lock) = lock
            && let Err(e) = lock.release().await
        {
            tracing::warn!("could not release the cluster lock: {e}");
        }
    }

    fn write(&self, record: Record) {
        let mut run = self.run.borrow_mut();
        run.set_lane(branch::current().map(|b| b.lane));
        if let Err(e) = run.append(record) {
            self.broken.borrow_mut().get_or_insert(e.to_string());
        }
    }

    /// Journal a record of the run's structure (steps, rollbacks) or a live
    /// gate result. While replaying, a structural record must be the one
    /// the journal holds next, and is not written again.
    pub fn note(&self, record: Record) {
        let structural = matches!(
            record,
            Record::StepStarted { .. }
                | Record::StepFinished { .. }
                | Record::RollbackStarted { .. }
                | Record::RollbackFinished { .. }
        );
        if structural {
            let r = self.history.borrow_mut().lane(&lane()).structure(&record);
            match r {
                Replay::Recorded(()) => return,
                Replay::Diverged(d) => {
                    if self.force.get() {
                        self.abandon(&d);
                    } else {
                        self.diverged.borrow_mut().get_or_insert(d);
                        return;
                    }
                }
                Replay::Live | Replay::DuringFailed { .. } => {}
            }
        }
        self.write(record);
    }

    /// A divergence noted by a structural record, for the interpreter to
    /// stop at.
    pub fn take_divergence(&self) -> Option<Divergence> {
        self.diverged.borrow_mut().take()
    }

    /// `--force` at a divergence: journal where the replay stopped (a later
    /// resume replays the run as it went on from here, not the abandoned
    /// records), then go live.
    fn abandon(&self, d: &Divergence) {
        tracing::warn!("--force: {d}; continuing live from here");
        self.history.borrow_mut().abandon();
        self.write(Record::Diverged {
            from_seq: d.seq,
            recorded: d.recorded.clone(),
            asked: d.asked.clone(),
        });
    }

    fn settle<T>(&self, r: Replay<T>) -> Result<Replay<T>, Stop> {
        match r {
            Replay::Diverged(d) if self.force.get() => {
                self.abandon(&d);
                Ok(Replay::Live)
            }
            Replay::Diverged(d) => Err(Stop::Diverged(d.to_string())),
            other => Ok(other),
        }
    }

    /// A recorded read (query, check, statement): its result if the journal
    /// has it next, `Live` when the run is past the journal's end.
    pub fn replay_observed(
        &self,
        what: &str,
        args: &str,
        step: Option<&str>,
    ) -> Result<Replay<Result<serde_json::Value, String>>, Stop> {
        let r = self
            .history
            .borrow_mut()
            .lane(&lane())
            .observed(what, args, step);
        self.settle(r)
    }

    /// Journal what a live read returned.
    pub fn record_observed(
        &self,
        what: &str,
        args: &str,
        outcome: Result<serde_json::Value, String>,
    ) {
        let (value, error) = match outcome {
            Ok(v) => (Some(v), None),
            Err(e) => (None, Some(e)),
        };
        self.write(Record::Observed {
            what: what.to_string(),
            args: args.to_string(),
            value,
            error,
        });
    }

    /// A gate statement's recorded outcome.
    pub fn replay_gate(
        &self,
        gate: &str,
        step: Option<&str>,
    ) -> Result<Replay<(bool, String)>, Stop> {
        let r = self.history.borrow_mut().lane(&lane()).gate(gate, step);
        self.settle(r)
    }

    /// Before a mutating request: replayed from the journal, or live — then
    /// the lock must be held and the intent (with the token to send) is on
    /// disk before this returns `Send` or `Probe`.
    pub fn begin(
        &self,
        key: &ActionKey,
        action: &str,
        token: &str,
        request: &serde_json::Value,
    ) -> Result<(Go, String), Stop> {
        let r = self.history.borrow_mut().lane(&lane()).action(key, action);
        let (go, token) = match self.settle(r)? {
            Replay::Recorded(ActionReplay::Done(result)) => {
                return Ok((Go::Reuse(result), token.into()));
            }
            Replay::Recorded(ActionReplay::Failed(error)) => {
                return Ok((Go::Fail(error), token.into()));
            }
            Replay::DuringFailed { gate, detail } => {
                return Ok((Go::DuringFailed { gate, detail }, token.into()));
            }
            // Probe with the token the request may have gone out with, so
            // EKS can name the update it made.
            Replay::Recorded(ActionReplay::InDoubt(intent)) => (
                Go::Probe,
                intent
                    .client_request_token
                    .unwrap_or_else(|| token.to_string()),
            ),
            Replay::Live | Replay::Diverged(_) if self.generation == 0 => {
                (Go::Send, token.to_string())
            }
            // A run started over after it failed or was refused: an earlier
            // execution may have made (or undone) this change, so compare
            // before sending; and a token of this execution's own, since EKS
            // answers a repeated token with the update it already made.
            Replay::Live | Replay::Diverged(_) => (
                Go::Compare,
                token::derive(token, &format!("execution-{}", self.generation + 1)),
            ),
        };
        if let Some(e) = self.broken.borrow().as_ref() {
            return Err(Stop::Journal(format!("the journal cannot be written: {e}")));
        }
        if let Some(reason) = self.lock_lost() {
            return Err(Stop::LockLost(reason));
        }
        if let Some(lock) = self.lock.borrow().as_ref() {
            lock.ensure_held()
                .map_err(|e| Stop::LockLost(format!("{e}; {}", e.help())))?;
        }
        let mut run = self.run.borrow_mut();
        run.set_lane(branch::current().map(|b| b.lane));
        run.record_intent(key, action, &token, request)
            .map_err(|e| Stop::Journal(e.to_string()))?;
        Ok((go, token))
    }

    /// After the mutation: its outcome, fsynced before the run moves on.
    pub fn finish(&self, key: &ActionKey, outcome: Result<serde_json::Value, String>) {
        let outcome = match outcome {
            Ok(result) => ActionOutcome::Ok { result },
            Err(error) => ActionOutcome::Failed { error },
        };
        let mut run = self.run.borrow_mut();
        run.set_lane(branch::current().map(|b| b.lane));
        if let Err(e) = run.finish_action(key, outcome) {
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
        run.set_lane(None);
        run.finish(outcome, error, Some(json!(final_state)))
            .map_err(|e| e.to_string())?;
        Ok(run.dir().join("report.md"))
    }

    /// The run stopped without an end (lock lost, divergence): write the
    /// reports of an interrupted run; `runbook resume` continues it.
    pub fn suspend(&self) -> Result<std::path::PathBuf, String> {
        let run = self.run.borrow();
        run.write_interrupted_report().map_err(|e| e.to_string())?;
        Ok(run.dir().join("report.md"))
    }
}
