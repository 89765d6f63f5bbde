//! `runbook rollback RUN_ID`: what a finished or failed run left to undo,
//! read from its journal. Every step that finished `ok` journalled what its
//! rollback block needs (`UndoContext`); the rollbacks recorded since — the
//! run's own, after a failure, and those of earlier `runbook rollback` runs
//! of it — say which of those steps are undone already.

use std::collections::HashSet;

use super::journal::JournalContents;
use super::record::{Record, StepOutcome, UndoContext};

/// The report's word for a rollback that changed the state back.
pub const ROLLED_BACK: &str = "rolled back";

/// A completed step of the run, newest last.
#[derive(Clone, Debug, PartialEq)]
pub struct Undoable {
    /// The step's id (the slug of its title template).
    pub id: String,
    /// Its title as it ran (`control plane to 1.29`).
    pub title: String,
    pub context: UndoContext,
    /// Its change was undone, and EKS bounds undoing it (a control plane
    /// goes back one minor, once): nothing left to run, but a later
    /// rollback ends here, as the run's own did.
    pub undone_bound: bool,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum UndoError {
    #[error(
        "step `{0}` finished without what its rollback needs in the journal (a run journalled by an older runbook)"
    )]
    NoContext(String),
}

/// The completed, not-yet-undone steps of a run, in the order they ran:
/// from its journal, then the journals of the `runbook rollback` runs of it
/// (oldest first), whose rollbacks count as the run's own.
pub fn undoable(
    run: &JournalContents,
    rollbacks: &[JournalContents],
) -> Result<Vec<Undoable>, UndoError> {
    let mut steps: Vec<Undoable> = Vec::new();
    // Titles of failed attempts: their own rollback follows, and is not
    // about a completed step of the same title.
    let mut failed: HashSet<String> = HashSet::new();
    for record in std::iter::once(run)
        .chain(rollbacks)
        .flat_map(JournalContents::records)
    {
        match record {
            Record::StepFinished {
                step,
                outcome,
                undo,
                ..
            } => {
                let (id, title) = step.split_once(':').unwrap_or(("", step.as_str()));
                match outcome {
                    StepOutcome::Ok => {
                        let context = undo
                            .clone()
                            .ok_or_else(|| UndoError::NoContext(title.to_string()))?;
                        steps.push(Undoable {
                            id: id.to_string(),
                            title: title.to_string(),
                            context,
                            undone_bound: false,
                        });
                    }
                    StepOutcome::Failed => {
                        failed.insert(title.to_string());
                    }
                    StepOutcome::Skipped => {}
                }
            }
            Record::RollbackFinished { step, verdict, .. } => {
                if failed.remove(step) {
                    continue;
                }
                if verdict.as_deref() != Some(ROLLED_BACK) {
                    // Kept on purpose or not undone: still to undo.
                    continue;
                }
                let Some(i) = steps
                    .iter()
                    .rposition(|s| &s.title == step && !s.undone_bound)
                else {
                    continue;
                };
                if steps[i].context.limit.is_some() {
                    steps[i].undone_bound = true;
                } else {
                    steps.remove(i);
                }
            }
            _ => {}
        }
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::durable::journal::Entry;

    fn contents(records: Vec<Record>) -> JournalContents {
        let entries = records
            .into_iter()
            .enumerate()
            .map(|(i, record)| Entry {
                seq: i as u64 + 1,
                at: jiff::Timestamp::UNIX_EPOCH,
                branch: None,
                record,
            })
            .collect();
        JournalContents::for_tests("journal.jsonl".into(), entries)
    }

    fn finished(step: &str, outcome: StepOutcome, limit: Option<&str>) -> Record {
        Record::StepFinished {
            step: step.into(),
            outcome,
            error: None,
            simulated_seconds: None,
            undo: (outcome == StepOutcome::Ok).then(|| UndoContext {
                limit: limit.map(str::to_string),
                ..UndoContext::default()
            }),
        }
    }

    fn rolled(step: &str, verdict: &str) -> Record {
        Record::RollbackFinished {
            step: step.into(),
            ok: true,
            error: None,
            verdict: Some(verdict.into()),
        }
    }

    #[test]
    fn a_failed_hop_leaves_the_earlier_hop_behind_its_bound() {
        let run = contents(vec![
            finished("cp:cp 1.29", StepOutcome::Ok, Some("once")),
            finished("ng:ng 1.29", StepOutcome::Ok, None),
            finished("cp:cp 1.30", StepOutcome::Ok, Some("once")),
            finished("ng:ng 1.30", StepOutcome::Failed, None),
            // The failed attempt's own rollback, then the completed steps'.
            rolled("ng 1.30", ROLLED_BACK),
            rolled("cp 1.30", ROLLED_BACK),
            rolled("ng 1.29", "kept on purpose"),
            rolled("cp 1.29", "kept on purpose"),
        ]);
        let steps = undoable(&run, &[]).unwrap();
        let titles: Vec<(&str, bool)> = steps
            .iter()
            .map(|s| (s.title.as_str(), s.undone_bound))
            .collect();
        assert_eq!(
            titles,
            [("cp 1.29", false), ("ng 1.29", false), ("cp 1.30", true)]
        );
    }

    #[test]
    fn a_later_rollback_run_counts_and_old_journals_are_refused() {
        let run = contents(vec![
            finished("a:a", StepOutcome::Ok, None),
            finished("b:b", StepOutcome::Ok, None),
        ]);
        let later = contents(vec![rolled("b", ROLLED_BACK), rolled("a", "not undone")]);
        let steps = undoable(&run, &[later]).unwrap();
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].title, "a");
        let old = contents(vec![Record::StepFinished {
            step: "a:a".into(),
            outcome: StepOutcome::Ok,
            error: None,
            simulated_seconds: None,
            undo: None,
        }]);
        assert_eq!(undoable(&old, &[]), Err(UndoError::NoContext("a".into())));
    }
}
