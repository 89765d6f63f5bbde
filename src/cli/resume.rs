//! `runbook resume <id>`: validate an interrupted run, show how it will
//! continue, and continue it: the same runbook with the recorded parameters,
//! under the same run id, consulting its journal (see docs/durable-runs.md).

use std::path::PathBuf;

use super::Outcome;
use super::exec::{self, RunArgs, Start, Target};
use crate::durable::RunStore;
use crate::durable::redact::REDACTED;
use crate::durable::resume::{ResumeError, ResumePlan};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run id as listed by `runbook runs`
    id: String,
    /// Resume even though the runbook or its imports changed since the run began
    #[arg(long)]
    force: bool,
    /// Set a parameter again (secret ones are not recorded and must be)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    target: Target,
}

pub fn run(args: Args) -> miette::Result<Outcome> {
    let id = super::run_id(&args.id)?;
    let store = RunStore::new(&args.run.runs_dir);
    // A run that ended without its report (killed between its last journal
    // record and the report) gets it from the journal. A problem reading
    // the run is reported by `prepare` below.
    let restored = match store.restore_reports(&id) {
        Ok(Some(path)) => {
            eprintln!(
                "run {id} ended, but its report was missing (the process died before writing it); \
                 written from the journal: {}",
                path.display()
            );
            true
        }
        Ok(None) | Err(_) => false,
    };
    let plan = match ResumePlan::prepare(&store, &id, args.force) {
        Ok(plan) => plan,
        // Nothing to resume, and its report is now there: done.
        Err(ResumeError::AlreadyFinished { .. }) if restored => return Ok(Outcome::Ok),
        Err(e) => {
            let (sources, diagnostic) = e.to_diagnostic();
            eprintln!(
                "{}",
                diagnostic.render(&sources, console::colors_enabled_stderr())
            );
            return Ok(Outcome::Failed);
        }
    };
    print!("{plan}");
    hand_off(plan, &args)
}

/// Continue the run: its runbook, its recorded parameters (overridable with
/// `--set`), its id and journal. A `runbook rollback` run continues undoing
/// the same steps of the run it rolls back.
fn hand_off(plan: ResumePlan, args: &Args) -> miette::Result<Outcome> {
    let file = PathBuf::from(&plan.header.runbook);
    let sets = recorded_sets(&plan.header, &args.set);
    let env = plan.header.environment.clone();
    let undo = match &plan.header.rollback_of {
        Some(of) => match super::rollback::source(&plan.store, of, Some(&plan.header.run_id)) {
            Ok(source) => Some(source),
            Err(d) => {
                eprintln!(
                    "{}",
                    d.render(
                        &crate::source::SourceMap::new(),
                        console::colors_enabled_stderr()
                    )
                );
                return Ok(Outcome::Failed);
            }
        },
        None => None,
    };
    exec::drive(
        &file,
        env.as_deref(),
        sets,
        false,
        &args.run,
        &args.target,
        Start::Resume(Box::new(plan)),
        undo.as_ref(),
    )
}

/// The parameters a run recorded, as `--set`s, with `set` (given again on
/// this command line) winning; secret ones were not recorded.
pub(super) fn recorded_sets(header: &crate::durable::RunHeader, set: &[String]) -> Vec<String> {
    let mut sets: Vec<String> = header
        .params
        .iter()
        .filter(|(k, v)| {
            v.as_str() != Some(REDACTED) && !set.iter().any(|s| s.starts_with(&format!("{k}=")))
        })
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect();
    sets.extend(set.iter().cloned());
    sets
}
