//! `runbook runs`: list the runs recorded under `.runbook/runs/`, or show one
//! run's journal readably.

use std::path::PathBuf;

use crate::durable::{Entry, Record, RunStore, StoreError};

use super::Outcome;
use crate::durable::record::{ActionOutcome, StepOutcome};
use crate::durable::report::human_duration;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The state directory holding `runs/`
    #[arg(
        long = "runs-dir",
        value_name = "DIR",
        default_value = ".runbook",
        global = true,
        visible_alias = "dir"
    )]
    dir: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Print one run's journal, record by record
    Show {
        /// Run id as listed by `runbook runs`
        id: String,
    },
}

pub fn run(args: Args) -> miette::Result<Outcome> {
    let store = RunStore::new(&args.dir);
    match args.command {
        None => list(&store),
        Some(Command::Show { id }) => show(&store, &id),
    }
}

fn list(store: &RunStore) -> miette::Result<Outcome> {
    let runs = store
        .list(jiff::Timestamp::now())
        .map_err(|e| miette::miette!("{e}"))?;
    if runs.is_empty() {
        println!("no runs in {}", store.runs_dir().display());
        return Ok(Outcome::Ok);
    }
    let mut rows = vec![[
        "RUN".to_string(),
        "RUNBOOK".to_string(),
        "CLUSTER".to_string(),
        "ENV".to_string(),
        "STATE".to_string(),
        "STARTED".to_string(),
        "DURATION".to_string(),
    ]];
    for r in &runs {
        let h = &r.header;
        let state = match &r.problem {
            Some(_) => format!("{} (damaged)", r.state.as_str()),
            None => r.state.as_str().to_string(),
        };
        // A `runbook rollback` run names the run it undoes.
        let runbook = match &h.rollback_of {
            Some(of) => format!("{} (rollback of {of})", h.runbook),
            None => h.runbook.clone(),
        };
        rows.push([
            h.run_id.to_string(),
            runbook,
            h.cluster.clone(),
            h.environment.clone().unwrap_or_else(|| "-".to_string()),
            state,
            h.started_at.strftime("%Y-%m-%d %H:%M:%SZ").to_string(),
            human_duration(r.duration),
        ]);
    }
    let widths: Vec<usize> = (0..7)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
    for r in runs.iter().filter(|r| r.problem.is_some()) {
        eprintln!(
            "warning: run {}: {}",
            r.header.run_id,
            r.problem.as_deref().unwrap_or("")
        );
    }
    Ok(Outcome::Ok)
}

fn show(store: &RunStore, id: &str) -> miette::Result<Outcome> {
    let id = super::run_id(id)?;
    let run = match store.load(&id) {
        Ok(run) => run,
        Err(StoreError::Journal(e)) => {
            let (sources, diagnostic) = e.to_diagnostic();
            eprintln!(
                "{}",
                diagnostic.render(&sources, console::colors_enabled_stderr())
            );
            return Ok(Outcome::Failed);
        }
        Err(e) => {
            let help = e.help().unwrap_or("");
            return Err(miette::miette!(help = help, "{e}"));
        }
    };
    let h = &run.header;
    println!("run       {}", h.run_id);
    println!(
        "runbook   {} (sha256 {})",
        h.runbook,
        &h.fingerprint.sha256[..16]
    );
    println!("cluster   {}", h.cluster);
    if let Some(env) = &h.environment {
        println!("env       {env}");
    }
    println!("started   {} by {}", h.started_at, h.operator);
    if let Some(of) = &h.rollback_of {
        println!("rolls back run {of}");
    }
    println!("state     {}", run.state.as_str());
    if !h.params.is_empty() {
        println!("params");
        for (name, value) in &h.params {
            println!("  {name} = {value}");
        }
    }
    println!();
    for entry in &run.journal.entries {
        println!("{}", describe(entry));
    }
    if let Some(torn) = &run.journal.torn_tail {
        eprintln!("warning: {}", torn.message(&run.journal.path));
    }
    Ok(Outcome::Ok)
}

fn describe(entry: &Entry) -> String {
    let what = match &entry.record {
        Record::RunStarted {
            runbook, cluster, ..
        } => format!("run started: {runbook} on {cluster}"),
        Record::Resumed {
            attempt,
            forced,
            dropped_torn_tail,
        } => {
            let mut s = format!("resumed (attempt {attempt})");
            if *dropped_torn_tail {
                s.push_str(", torn last line dropped");
            }
            if *forced {
                s.push_str(", forced despite a changed runbook");
            }
            s
        }
        Record::StepStarted { step } => format!("step {step} started"),
        Record::StepFinished {
            step,
            outcome,
            error,
            ..
        } => {
            let o = match outcome {
                StepOutcome::Ok => "ok",
                StepOutcome::Failed => "FAILED",
                StepOutcome::Skipped => "skipped",
            };
            match error {
                Some(e) => format!("step {step} {o}: {e}"),
                None => format!("step {step} {o}"),
            }
        }
        Record::ActionIntent {
            key,
            action,
            client_request_token,
            request,
        } => {
            let token = client_request_token
                .as_deref()
                .map(|t| format!(" token={t}"))
                .unwrap_or_default();
            format!("-> {action} {key}{token} {request}")
        }
        Record::ActionResult { key, outcome } => match outcome {
            ActionOutcome::Ok { result } => format!("<- {key} ok {result}"),
            ActionOutcome::Failed { error } => format!("<- {key} FAILED: {error}"),
        },
        Record::GateResult {
            gate,
            passed,
            detail,
            ..
        } => {
            let p = if *passed { "passed" } else { "FAILED" };
            if detail.is_empty() {
                format!("gate {gate} {p}")
            } else {
                format!("gate {gate} {p}: {detail}")
            }
        }
        Record::Observed {
            what, value, error, ..
        } => match (value, error) {
            (_, Some(e)) => format!("observed {what}: FAILED: {e}"),
            (Some(v), None) => {
                let mut v = v.to_string();
                if v.len() > 120 {
                    let cut = (0..=117)
                        .rev()
                        .find(|&i| v.is_char_boundary(i))
                        .unwrap_or(0);
                    v.truncate(cut);
                    v.push_str("...");
                }
                format!("observed {what}: {v}")
            }
            (None, None) => format!("observed {what}"),
        },
        Record::Blocker {
            kind,
            subject,
            detail,
            ..
        } => format!("blocked by {kind} {subject}: {detail}"),
        Record::Diverged {
            from_seq,
            recorded,
            asked,
        } => format!(
            "diverged at #{from_seq} ({recorded}; the runbook asked for {asked}): \
             --force went live, #{from_seq} onwards is no longer replayed"
        ),
        Record::RollbackStarted { step, reason } => {
            format!("rollback of {step} started: {reason}")
        }
        Record::RollbackFinished {
            step,
            verdict: Some(verdict),
            error,
            ..
        } => match error {
            Some(e) => format!("rollback of {step}: {verdict} ({e})"),
            None => format!("rollback of {step}: {verdict}"),
        },
        Record::RollbackFinished {
            step, ok, error, ..
        } => match (ok, error) {
            (true, _) => format!("rollback of {step} done"),
            (false, e) => format!(
                "rollback of {step} FAILED: {}",
                e.as_deref().unwrap_or("no detail")
            ),
        },
        Record::RunFinished { outcome, error, .. } => {
            let o = format!("{outcome:?}").to_lowercase();
            match error {
                Some(e) => format!("run finished: {o}: {e}"),
                None => format!("run finished: {o}"),
            }
        }
    };
    format!(
        "#{:<4} {}  {what}",
        entry.seq,
        entry.at.strftime("%Y-%m-%d %H:%M:%SZ")
    )
}
