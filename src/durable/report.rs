//! Run reports: the journal turned into something to paste into an incident
//! or change ticket. Built only from `run.json` and the journal, so a report
//! can be regenerated for any run, finished or not.

use std::fmt::Write as _;
use std::path::Path;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use serde_json::Value;

use super::header::{RunHeader, write_atomic};
use super::journal::JournalContents;
use super::record::{ActionOutcome, Record, StepOutcome};
use super::store::{RunState, StoreError};

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub run_id: String,
    pub runbook: String,
    pub cluster: String,
    pub environment: Option<String>,
    pub operator: String,
    pub tool_version: String,
    pub state: &'static str,
    pub started_at: Timestamp,
    /// Time of the last record.
    pub ended_at: Timestamp,
    pub duration_seconds: i64,
    pub resumes: u32,
    pub error: Option<String>,
    pub steps: Vec<StepReport>,
    pub gates: Vec<GateReport>,
    pub blockers: Vec<BlockerReport>,
    pub rollbacks: Vec<RollbackReport>,
    /// Where `resume --force` stopped replaying and went live.
    pub divergences: Vec<DivergenceReport>,
    /// Filled by the interpreter in `run_finished`.
    pub final_state: Option<Value>,
}

#[derive(Clone, Debug, Serialize)]
pub struct StepReport {
    pub step: String,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub duration_seconds: Option<i64>,
    /// On a sandbox: the step's duration on the simulated clock.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub simulated_seconds: Option<u64>,
    /// ok, failed, skipped, or unfinished.
    pub outcome: &'static str,
    pub error: Option<String>,
    pub actions: Vec<ActionReport>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ActionReport {
    pub key: String,
    pub action: String,
    pub client_request_token: Option<String>,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub duration_seconds: Option<i64>,
    /// ok, failed, or in doubt.
    pub outcome: &'static str,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct GateReport {
    pub gate: String,
    pub step: Option<String>,
    pub passed: bool,
    pub detail: String,
    pub at: Timestamp,
}

#[derive(Clone, Debug, Serialize)]
pub struct BlockerReport {
    pub step: Option<String>,
    pub kind: String,
    pub subject: String,
    pub detail: String,
    pub at: Timestamp,
}

#[derive(Clone, Debug, Serialize)]
pub struct DivergenceReport {
    /// The first journal record no longer replayed.
    pub from_seq: u64,
    pub recorded: String,
    pub asked: String,
    pub at: Timestamp,
}

#[derive(Clone, Debug, Serialize)]
pub struct RollbackReport {
    pub step: String,
    pub reason: String,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub ok: Option<bool>,
    pub error: Option<String>,
    /// "rolled back", "kept on purpose" or "not undone".
    pub verdict: Option<String>,
    /// The rollback block's own actions (keyed `rollback:<step title>`).
    pub actions: Vec<ActionReport>,
}

impl Report {
    pub fn build(header: &RunHeader, journal: &JournalContents, state: RunState) -> Report {
        let mut r = Report {
            run_id: header.run_id.to_string(),
            runbook: header.runbook.clone(),
            cluster: header.cluster.clone(),
            environment: header.environment.clone(),
            operator: header.operator.clone(),
            tool_version: header.tool_version.clone(),
            state: state.as_str(),
            started_at: header.started_at,
            ended_at: journal.entries.last().map_or(header.started_at, |e| e.at),
            duration_seconds: 0,
            resumes: 0,
            error: None,
            steps: Vec::new(),
            gates: Vec::new(),
            blockers: Vec::new(),
            rollbacks: Vec::new(),
            divergences: Vec::new(),
            final_state: None,
        };
        r.duration_seconds = seconds(r.started_at, r.ended_at);
        for entry in &journal.entries {
            let at = entry.at;
            match &entry.record {
                Record::RunStarted { .. } | Record::Observed { .. } => {}
                Record::Resumed { attempt, .. } => r.resumes = *attempt,
                Record::StepStarted { step } => {
                    // After a resume an unfinished step simply continues.
                    if r.open_step(step).is_none() {
                        r.steps.push(StepReport::new(step, at));
                    }
                }
                Record::StepFinished {
                    step,
                    outcome,
                    error,
                    simulated_seconds,
                    ..
                } => {
                    let s = match r.open_step(step) {
                        Some(s) => s,
                        None => {
                            r.steps.push(StepReport::new(step, at));
                            r.steps.last_mut().expect("just pushed")
                        }
                    };
                    s.finished_at = Some(at);
                    s.duration_seconds = Some(seconds(s.started_at, at));
                    s.simulated_seconds = *simulated_seconds;
                    s.outcome = match outcome {
                        StepOutcome::Ok => "ok",
                        StepOutcome::Failed => "failed",
                        StepOutcome::Skipped => "skipped",
                    };
                    s.error = error.clone();
                }
                Record::ActionIntent {
                    key,
                    action,
                    client_request_token,
                    ..
                } => {
                    let label = key.to_string();
                    let actions = r.actions_for(&key.step, at);
                    // A probe after a crash records the intent again: still
                    // one action.
                    if let Some(a) = actions
                        .iter_mut()
                        .rev()
                        .find(|a| a.key == label && a.finished_at.is_none())
                    {
                        a.client_request_token = client_request_token.clone();
                        continue;
                    }
                    actions.push(ActionReport {
                        key: label,
                        action: action.clone(),
                        client_request_token: client_request_token.clone(),
                        started_at: at,
                        finished_at: None,
                        duration_seconds: None,
                        outcome: "in doubt",
                        error: None,
                    });
                }
                Record::ActionResult { key, outcome } => {
                    let label = key.to_string();
                    let actions = r.actions_for(&key.step, at);
                    if let Some(a) = actions.iter_mut().rev().find(|a| a.key == label) {
                        a.finished_at = Some(at);
                        a.duration_seconds = Some(seconds(a.started_at, at));
                        match outcome {
                            ActionOutcome::Ok { .. } => a.outcome = "ok",
                            ActionOutcome::Failed { error } => {
                                a.outcome = "failed";
                                a.error = Some(error.clone());
                            }
                        }
                    }
                }
                Record::GateResult {
                    gate,
                    step,
                    passed,
                    detail,
                    ..
                } => r.gates.push(GateReport {
                    gate: gate.clone(),
                    step: step.clone(),
                    passed: *passed,
                    detail: detail.clone(),
                    at,
                }),
                Record::Blocker {
                    step,
                    kind,
                    subject,
                    detail,
                } => r.blockers.push(BlockerReport {
                    step: step.clone(),
                    kind: kind.clone(),
                    subject: subject.clone(),
                    detail: detail.clone(),
                    at,
                }),
                Record::Diverged {
                    from_seq,
                    recorded,
                    asked,
                } => r.divergences.push(DivergenceReport {
                    from_seq: *from_seq,
                    recorded: recorded.clone(),
                    asked: asked.clone(),
                    at,
                }),
                Record::RollbackStarted { step, reason } => r.rollbacks.push(RollbackReport {
                    step: step.clone(),
                    reason: reason.clone(),
                    started_at: at,
                    finished_at: None,
                    ok: None,
                    error: None,
                    verdict: None,
                    actions: Vec::new(),
                }),
                Record::RollbackFinished {
                    step,
                    ok,
                    error,
                    verdict,
                } => {
                    let open = r
                        .rollbacks
                        .iter()
                        .rposition(|rb| &rb.step == step && rb.finished_at.is_none());
                    let rb = match open {
                        Some(i) => &mut r.rollbacks[i],
                        // A step the rollback did not run a block for (no
                        // block, irreversible, an earlier hop it ends before).
                        None => {
                            r.rollbacks.push(RollbackReport {
                                step: step.clone(),
                                reason: String::new(),
                                started_at: at,
                                finished_at: None,
                                ok: None,
                                error: None,
                                verdict: None,
                                actions: Vec::new(),
                            });
                            r.rollbacks.last_mut().expect("just pushed")
                        }
                    };
                    rb.finished_at = Some(at);
                    rb.ok = Some(*ok);
                    rb.error = error.clone();
                    rb.verdict = verdict.clone();
                }
                Record::RunFinished {
                    error, final_state, ..
                } => {
                    r.error = error.clone();
                    r.final_state = final_state.clone();
                }
            }
        }
        r
    }

    fn open_step(&mut self, step: &str) -> Option<&mut StepReport> {
        self.steps
            .iter_mut()
            .rev()
            .find(|s| s.step == step && s.finished_at.is_none())
    }

    /// Where an action keyed under `step` is listed: its rollback's actions
    /// for `rollback:<title>`, else its step's.
    fn actions_for(&mut self, step: &str, at: Timestamp) -> &mut Vec<ActionReport> {
        if let Some(title) = step.strip_prefix("rollback:")
            && let Some(i) = self.rollbacks.iter().rposition(|rb| rb.step == title)
        {
            return &mut self.rollbacks[i].actions;
        }
        &mut self.step_for(step, at).actions
    }

    fn step_for(&mut self, step: &str, at: Timestamp) -> &mut StepReport {
        let index = match self.steps.iter().rposition(|s| s.step == step) {
            Some(i) => i,
            None => {
                self.steps.push(StepReport::new(step, at));
                self.steps.len() - 1
            }
        };
        &mut self.steps[index]
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("reports always serialize")
    }

    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# Run {} — {}\n", self.run_id, self.runbook);
        let _ = writeln!(md, "| | |\n|---|---|");
        let _ = writeln!(md, "| Cluster | {} |", cell(&self.cluster));
        if let Some(env) = &self.environment {
            let _ = writeln!(md, "| Environment | {} |", cell(env));
        }
        let _ = writeln!(md, "| State | **{}** |", self.state);
        let _ = writeln!(
            md,
            "| Started | {} by {} |",
            self.started_at,
            cell(&self.operator)
        );
        let _ = writeln!(
            md,
            "| Duration | {} |",
            human_duration(SignedDuration::from_secs(self.duration_seconds))
        );
        if self.resumes > 0 {
            let _ = writeln!(md, "| Resumed | {} time(s) |", self.resumes);
        }
        let _ = writeln!(md, "| Tool version | {} |", self.tool_version);
        if let Some(error) = &self.error {
            let _ = writeln!(md, "| Error | {} |", cell(error));
        }

        for d in &self.divergences {
            let _ = writeln!(
                md,
                "| Forced | at journal record #{}: {}, but the runbook asked for {}; resumed \
                 live from there with --force |",
                d.from_seq,
                cell(&d.recorded),
                cell(&d.asked)
            );
        }
        let failed: Vec<String> = self
            .gates
            .iter()
            .filter(|g| !g.passed)
            .map(|g| match &g.step {
                Some(step) => format!("{} (in {step})", g.gate),
                None => g.gate.clone(),
            })
            .collect();
        if !failed.is_empty() {
            let _ = writeln!(md, "| Failed gates | {} |", cell(&failed.join(", ")));
        }

        let _ = writeln!(md, "\n## Timeline\n");
        if self.steps.is_empty() {
            let _ = writeln!(md, "No step started.");
        }
        for s in &self.steps {
            let duration = match s.simulated_seconds {
                Some(secs) => format!(
                    "{} simulated, ",
                    human_duration(SignedDuration::from_secs(secs as i64))
                ),
                None => maybe_duration(s.duration_seconds),
            };
            let _ = writeln!(
                md,
                "- **{}** — {} ({}started {})",
                s.step, s.outcome, duration, s.started_at
            );
            if let Some(e) = &s.error {
                let _ = writeln!(md, "  - error: {}", one_line(e));
            }
            for a in &s.actions {
                let _ = write!(
                    md,
                    "  - `{}` {} — {} ({}started {})",
                    a.action,
                    a.key,
                    a.outcome,
                    maybe_duration(a.duration_seconds),
                    a.started_at
                );
                if let Some(e) = &a.error {
                    let _ = write!(md, ": {}", one_line(e));
                }
                md.push('\n');
            }
        }

        if !self.gates.is_empty() {
            let _ = writeln!(
                md,
                "\n## Gates\n\n| Gate | Step | Result | Detail |\n|---|---|---|---|"
            );
            for g in &self.gates {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} |",
                    cell(&g.gate),
                    cell(g.step.as_deref().unwrap_or("")),
                    if g.passed { "passed" } else { "**failed**" },
                    cell(&g.detail)
                );
            }
        }
        if !self.blockers.is_empty() {
            let _ = writeln!(
                md,
                "\n## Blockers met\n\n| Kind | Subject | Step | Detail |\n|---|---|---|---|"
            );
            for b in &self.blockers {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} |",
                    cell(&b.kind),
                    cell(&b.subject),
                    cell(b.step.as_deref().unwrap_or("")),
                    cell(&b.detail)
                );
            }
        }
        if !self.rollbacks.is_empty() {
            let _ = writeln!(md, "\n## Rollbacks\n");
            for rb in &self.rollbacks {
                let result = match (&rb.verdict, rb.ok) {
                    (Some(verdict), _) => match &rb.error {
                        Some(e) => format!("**{verdict}**: {}", one_line(e)),
                        None => format!("**{verdict}**"),
                    },
                    (None, Some(true)) => "completed".to_string(),
                    (None, Some(false)) => format!(
                        "**failed**: {}",
                        one_line(rb.error.as_deref().unwrap_or("no detail"))
                    ),
                    (None, None) => "unfinished".to_string(),
                };
                let reason = if rb.reason.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", one_line(&rb.reason))
                };
                let _ = writeln!(md, "- **{}**{reason} — {result}", rb.step);
                for a in &rb.actions {
                    let _ = write!(md, "  - `{}` {} — {}", a.action, a.key, a.outcome);
                    if let Some(e) = &a.error {
                        let _ = write!(md, ": {}", one_line(e));
                    }
                    md.push('\n');
                }
            }
        }
        let _ = writeln!(md, "\n## Final cluster state\n");
        match &self.final_state {
            Some(v) => {
                let pretty = serde_json::to_string_pretty(v).unwrap_or_default();
                let _ = writeln!(md, "```json\n{pretty}\n```");
            }
            None => {
                let _ = writeln!(md, "Not recorded.");
            }
        }
        md
    }

    /// Write `report.md` and `report.json` into the run's directory.
    pub fn write(&self, dir: &Path) -> Result<(), StoreError> {
        for (name, text) in [
            ("report.md", self.to_markdown()),
            ("report.json", self.to_json()),
        ] {
            let path = dir.join(name);
            write_atomic(&path, text.as_bytes())
                .map_err(|source| StoreError::Io { path, source })?;
        }
        Ok(())
    }
}

impl StepReport {
    fn new(step: &str, at: Timestamp) -> Self {
        StepReport {
            step: step.to_string(),
            started_at: at,
            finished_at: None,
            duration_seconds: None,
            simulated_seconds: None,
            outcome: "unfinished",
            error: None,
            actions: Vec::new(),
        }
    }
}

fn seconds(from: Timestamp, to: Timestamp) -> i64 {
    from.duration_until(to).as_secs()
}

/// `"12m 05s, "` for a finished item, nothing for an unfinished one.
fn maybe_duration(secs: Option<i64>) -> String {
    secs.map_or(String::new(), |s| {
        format!("{}, ", human_duration(SignedDuration::from_secs(s)))
    })
}

/// `45s`, `12m 03s`, `2h 05m 00s`.
pub fn human_duration(d: SignedDuration) -> String {
    let total = d.as_secs().max(0);
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    if h > 0 {
        format!("{h}h {m:02}m {s:02}s")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn cell(s: &str) -> String {
    one_line(s).replace('|', "\\|")
}
