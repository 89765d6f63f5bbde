//! Deterministic replay (Temporal's model): a resumed run executes the same
//! program from the start, and every result an earlier attempt recorded — a
//! query, a check, a gate's outcome, a confirmation, a mutation's result —
//! is fed back from the journal, in order, instead of being asked of the
//! cluster again. The run goes live at the first point the journal has no
//! result for. If the program asks for something other than what the journal
//! holds at that position, that is a divergence: an error naming both,
//! never a guess.
//!
//! `History` is the journal's events since the run last (re)started from
//! scratch, with a cursor per lane: the run's main line is one lane, and
//! each branch of a `parallel for` another (`Entry::branch`), since
//! branches interleave differently every time they run but each one is
//! deterministic on its own. Informational records (blockers, the `resumed`
//! markers) are not events; everything between an action's intent and its
//! result (canary gates, re-recorded intents of a probe) belongs to that
//! action.

use std::fmt;
use std::path::PathBuf;

use serde_json::Value;

use super::journal::JournalContents;
use super::record::{ActionKey, ActionOutcome, Record};
use super::resume::Intent;

/// One replayable record and where it is in the journal.
#[derive(Clone, Debug)]
struct Event {
    line: usize,
    seq: u64,
    record: Record,
}

/// What the replayed program gets back for one request.
#[derive(Debug)]
pub enum Replay<T> {
    /// The journal holds the result: use it, ask nobody.
    Recorded(T),
    /// The journal has nothing more: from here the run is live.
    Live,
    /// The journal records that the step's `during` gate failed here.
    DuringFailed { gate: String, detail: String },
    /// The journal holds something else at this position.
    Diverged(Divergence),
}

/// A recorded mutation.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionReplay {
    Done(Value),
    Failed(String),
    /// Intent without a result: it may or may not have landed; probe it.
    InDoubt(Intent),
}

/// The replayed program and the journal disagree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    pub journal: PathBuf,
    pub line: usize,
    /// The sequence number of the record at `line`.
    pub seq: u64,
    /// What the journal holds at that position.
    pub recorded: String,
    /// What the program asked for instead.
    pub asked: String,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the run no longer replays its journal: {}:{} records {}, but the runbook now asks for {}",
            self.journal.display(),
            self.line,
            self.recorded,
            self.asked
        )
    }
}

#[derive(Debug, Default)]
pub struct History {
    journal: PathBuf,
    /// By lane: `""` for the main line, else the branch.
    lanes: std::collections::HashMap<String, Lane>,
}

/// One lane's events and how far the replay has consumed them.
#[derive(Debug, Default)]
pub struct Lane {
    journal: PathBuf,
    events: Vec<Event>,
    pos: usize,
}

impl History {
    /// The events of the run's current execution: everything after the last
    /// `run_finished` (a refused run starts again from scratch).
    pub fn from_journal(contents: &JournalContents) -> History {
        let start = contents
            .entries
            .iter()
            .rposition(|e| matches!(e.record, Record::RunFinished { .. }))
            .map_or(0, |i| i + 1);
        let mut history = History {
            journal: contents.path.clone(),
            lanes: Default::default(),
        };
        for (i, e) in contents.entries.iter().enumerate().skip(start) {
            match &e.record {
                // `resume --force` went live there: what the journal held
                // from that point on is no longer the run's history.
                Record::Diverged { from_seq, .. } => {
                    for lane in history.lanes.values_mut() {
                        lane.events.retain(|x| x.seq < *from_seq);
                    }
                }
                Record::RunStarted { .. }
                | Record::Resumed { .. }
                | Record::Blocker { .. }
                | Record::RunFinished { .. } => {}
                record => history
                    .lane(e.branch.as_deref().unwrap_or_default())
                    .events
                    .push(Event {
                        line: i + 1,
                        seq: e.seq,
                        record: record.clone(),
                    }),
            }
        }
        history
    }

    /// The cursor of one lane (`""`: the main line); a lane the journal
    /// has nothing of is live from its start.
    pub fn lane(&mut self, lane: &str) -> &mut Lane {
        let journal = &self.journal;
        self.lanes.entry(lane.to_string()).or_insert_with(|| Lane {
            journal: journal.clone(),
            ..Lane::default()
        })
    }

    /// Whether an earlier attempt recorded anything of this execution.
    pub fn is_empty(&self) -> bool {
        self.lanes.values().all(|l| l.events.is_empty())
    }

    /// Recorded events not consumed yet, in every lane.
    pub fn remaining(&self) -> usize {
        self.lanes.values().map(|l| l.events.len() - l.pos).sum()
    }

    /// Stop replaying (`--force` after a divergence): the rest of the
    /// journal is history, and the run continues live from here.
    pub fn abandon(&mut self) {
        for lane in self.lanes.values_mut() {
            lane.pos = lane.events.len();
        }
    }
}

impl Lane {
    /// Whether recorded events remain to be replayed in this lane.
    pub fn replaying(&self) -> bool {
        self.pos < self.events.len()
    }

    fn diverged<T>(&self, asked: String) -> Replay<T> {
        let e = &self.events[self.pos];
        Replay::Diverged(Divergence {
            journal: self.journal.clone(),
            line: e.line,
            seq: e.seq,
            recorded: describe(&e.record),
            asked,
        })
    }

    /// The step's `during` gate failed at this point of the recorded run.
    fn during_failure<T>(&mut self, step: Option<&str>) -> Option<Replay<T>> {
        let Some(Event {
            record:
                Record::GateResult {
                    gate,
                    step: s,
                    passed: false,
                    detail,
                    during: true,
                },
            ..
        }) = self.events.get(self.pos)
        else {
            return None;
        };
        if step.is_some() && s.as_deref() != step {
            return None;
        }
        let r = Replay::DuringFailed {
            gate: gate.clone(),
            detail: detail.clone(),
        };
        self.pos += 1;
        Some(r)
    }

    /// A result the program read (`what` names the query, check or
    /// statement, `args` hashes its arguments).
    pub fn observed(
        &mut self,
        what: &str,
        args: &str,
        step: Option<&str>,
    ) -> Replay<Result<Value, String>> {
        if !self.replaying() {
            return Replay::Live;
        }
        if let Some(r) = self.during_failure(step) {
            return r;
        }
        match &self.events[self.pos].record {
            Record::Observed {
                what: w,
                args: a,
                value,
                error,
            } if w == what && a == args => {
                let r = match error {
                    Some(e) => Err(e.clone()),
                    None => Ok(value.clone().unwrap_or(Value::Null)),
                };
                self.pos += 1;
                Replay::Recorded(r)
            }
            _ => self.diverged(describe_observed(what, args)),
        }
    }

    /// A gate statement's recorded outcome: `(passed, detail)`.
    pub fn gate(&mut self, name: &str, step: Option<&str>) -> Replay<(bool, String)> {
        if !self.replaying() {
            return Replay::Live;
        }
        if let Some(r) = self.during_failure(step) {
            return r;
        }
        match &self.events[self.pos].record {
            Record::GateResult {
                gate,
                step: s,
                passed,
                detail,
                during: false,
            } if gate == name && s.as_deref() == step => {
                let r = (*passed, detail.clone());
                self.pos += 1;
                Replay::Recorded(r)
            }
            _ => self.diverged(format!("gate `{name}`")),
        }
    }

    /// A mutating action: its intent (re-recorded by probes), whatever
    /// happened while it ran, and its result if it has one.
    pub fn action(&mut self, key: &ActionKey, action: &str) -> Replay<ActionReplay> {
        if !self.replaying() {
            return Replay::Live;
        }
        if let Some(r) = self.during_failure(Some(&key.step)) {
            return r;
        }
        let intent = match &self.events[self.pos] {
            Event {
                record:
                    Record::ActionIntent {
                        key: k,
                        action: a,
                        client_request_token,
                        request,
                    },
                seq,
                ..
            } if k == key && a == action => Intent {
                key: k.clone(),
                action: a.clone(),
                client_request_token: client_request_token.clone(),
                request: request.clone(),
                seq: *seq,
                at: jiff::Timestamp::UNIX_EPOCH,
            },
            _ => return self.diverged(format!("action {action} {key}")),
        };
        let mut i = self.pos + 1;
        while let Some(e) = self.events.get(i) {
            match &e.record {
                Record::ActionResult { key: k, outcome } if k == key => {
                    self.pos = i + 1;
                    return Replay::Recorded(match outcome {
                        ActionOutcome::Ok { result } => ActionReplay::Done(result.clone()),
                        ActionOutcome::Failed { error } => ActionReplay::Failed(error.clone()),
                    });
                }
                Record::ActionIntent { key: k, .. } if k == key => {}
                // Canary gates run inside a rotation.
                Record::GateResult { during: false, .. } => {}
                Record::GateResult { during: true, .. } => {
                    // The step's `during` gate stopped it while this action
                    // was running.
                    self.pos = i;
                    return self.during_failure(Some(&key.step)).unwrap_or(Replay::Live);
                }
                _ => break,
            }
            i += 1;
        }
        if i < self.events.len() {
            // Something else followed without a result: not a history this
            // engine writes.
            self.pos = i;
            return self.diverged(format!("the result of action {action} {key}"));
        }
        self.pos = i;
        Replay::Recorded(ActionReplay::InDoubt(intent))
    }

    /// A record of the run's structure (steps, rollbacks): the same one must
    /// be next. `Recorded(())` means it was, and is not written again.
    pub fn structure(&mut self, record: &Record) -> Replay<()> {
        if !self.replaying() {
            return Replay::Live;
        }
        let next = &self.events[self.pos].record;
        if same_structure(next, record) {
            self.pos += 1;
            Replay::Recorded(())
        } else {
            self.diverged(describe(record))
        }
    }
}

/// Steps and rollbacks match on what identifies them, not on timings or
/// messages (a replayed gate's detail, a rollback's error text).
fn same_structure(a: &Record, b: &Record) -> bool {
    match (a, b) {
        (Record::StepStarted { step: x }, Record::StepStarted { step: y }) => x == y,
        (
            Record::StepFinished {
                step: x,
                outcome: o,
                ..
            },
            Record::StepFinished {
                step: y,
                outcome: p,
                ..
            },
        ) => x == y && o == p,
        (Record::RollbackStarted { step: x, .. }, Record::RollbackStarted { step: y, .. }) => {
            x == y
        }
        (
            Record::RollbackFinished { step: x, ok: o, .. },
            Record::RollbackFinished { step: y, ok: p, .. },
        ) => x == y && o == p,
        _ => false,
    }
}

fn describe_observed(what: &str, args: &str) -> String {
    if args.is_empty() {
        format!("`{what}`")
    } else {
        format!("`{what}` (arguments {args})")
    }
}

/// A record as a divergence message names it.
pub fn describe(record: &Record) -> String {
    match record {
        Record::Observed { what, args, .. } => describe_observed(what, args),
        Record::ActionIntent { key, action, .. } => format!("action {action} {key}"),
        Record::ActionResult { key, .. } => format!("the result of action {key}"),
        Record::GateResult {
            gate, during: true, ..
        } => format!("the failure of `during` gate `{gate}`"),
        Record::GateResult { gate, .. } => format!("gate `{gate}`"),
        Record::StepStarted { step } => format!("the start of step `{step}`"),
        Record::StepFinished { step, outcome, .. } => {
            format!("the end of step `{step}` ({outcome:?})")
        }
        Record::RollbackStarted { step, .. } => format!("the rollback of `{step}`"),
        Record::RollbackFinished { step, .. } => format!("the end of the rollback of `{step}`"),
        Record::Blocker { kind, subject, .. } => format!("blocker {kind} {subject}"),
        Record::Diverged { from_seq, .. } => format!("the divergence at #{from_seq}"),
        Record::RunStarted { .. } | Record::Resumed { .. } | Record::RunFinished { .. } => {
            "the run's start or end".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::durable::journal::Entry;
    use serde_json::json;

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

    fn observed(what: &str, value: Value) -> Record {
        Record::Observed {
            what: what.into(),
            args: "a".into(),
            value: Some(value),
            error: None,
        }
    }

    #[test]
    fn replays_in_order_then_goes_live() {
        let key = ActionKey::new("s:S", 0, &json!({"v": "1.29"}));
        let mut h = History::from_journal(&contents(vec![
            observed("eks.version_path", json!(["1.29", "1.30"])),
            Record::StepStarted { step: "s".into() },
            Record::ActionIntent {
                key: key.clone(),
                action: "eks.update_cluster_version".into(),
                client_request_token: Some("t".into()),
                request: json!({}),
            },
        ]));
        assert!(matches!(
            h.lane("").observed("eks.version_path", "a", None),
            Replay::Recorded(Ok(v)) if v == json!(["1.29", "1.30"])
        ));
        assert!(matches!(
            h.lane("")
                .structure(&Record::StepStarted { step: "s".into() }),
            Replay::Recorded(())
        ));
        match h.lane("").action(&key, "eks.update_cluster_version") {
            Replay::Recorded(ActionReplay::InDoubt(i)) => {
                assert_eq!(i.client_request_token.as_deref(), Some("t"))
            }
            other => panic!("{other:?}"),
        }
        assert!(!h.lane("").replaying());
        assert!(matches!(
            h.lane("").observed("eks.cluster", "a", None),
            Replay::Live
        ));
    }

    #[test]
    fn each_branch_replays_in_its_own_order() {
        // Branch b's records came first in the file; a replay where a asks
        // first still finds its own.
        let mut c = contents(vec![
            observed("eks.nodegroup", json!("b")),
            observed("eks.nodegroup", json!("a")),
            observed("eks.cluster", json!("main")),
        ]);
        c.entries[0].branch = Some("ng[1]=b".into());
        c.entries[1].branch = Some("ng[0]=a".into());
        let mut h = History::from_journal(&c);
        assert_eq!(h.remaining(), 3);
        assert!(matches!(
            h.lane("ng[0]=a").observed("eks.nodegroup", "a", None),
            Replay::Recorded(Ok(v)) if v == json!("a")
        ));
        assert!(matches!(
            h.lane("").observed("eks.cluster", "a", None),
            Replay::Recorded(Ok(v)) if v == json!("main")
        ));
        assert!(!h.lane("ng[0]=a").replaying());
        assert!(h.lane("ng[1]=b").replaying());
        assert!(matches!(
            h.lane("ng[1]=b").observed("eks.nodegroup", "a", None),
            Replay::Recorded(Ok(v)) if v == json!("b")
        ));
        // A branch the journal never saw is live from its start.
        assert!(matches!(
            h.lane("ng[2]=c").observed("eks.nodegroup", "a", None),
            Replay::Live
        ));
    }

    #[test]
    fn a_different_request_is_a_located_divergence() {
        let mut h = History::from_journal(&contents(vec![
            Record::RunStarted {
                run_id: "20261123T011336Z-4f2a9c1e".parse().unwrap(),
                runbook: "r".into(),
                cluster: "c".into(),
                environment: None,
            },
            observed("eks.version_path", json!(["1.29"])),
        ]));
        match h.lane("").observed("eks.cluster", "a", None) {
            Replay::Diverged(d) => {
                assert_eq!(d.line, 2);
                let text = d.to_string();
                assert!(text.contains("journal.jsonl:2"), "{text}");
                assert!(text.contains("`eks.version_path`"), "{text}");
                assert!(text.contains("`eks.cluster`"), "{text}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_refused_attempt_is_not_replayed() {
        let mut h = History::from_journal(&contents(vec![
            observed("preconditions", json!(false)),
            Record::RunFinished {
                outcome: crate::durable::RunOutcome::Refused,
                error: None,
                final_state: None,
            },
            Record::Resumed {
                attempt: 1,
                forced: false,
                dropped_torn_tail: false,
            },
        ]));
        assert!(!h.lane("").replaying());
    }
}
