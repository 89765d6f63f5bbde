//! `runbook rollback <id>`: undo a finished or failed run later, from its
//! journal: the rollback blocks of its completed, not-yet-undone steps,
//! newest first, as a new run (its own id and journal, linked to the run it
//! undoes, resumable with `runbook resume`). See docs/running.md.

use std::path::PathBuf;

use super::Outcome;
use super::exec::{self, RunArgs, Start, Target};
use crate::diagnostic::Diagnostic;
use crate::durable::resume::ResumeError;
use crate::durable::undo::undoable;
use crate::durable::{Record, RunId, RunState, RunStore};
use crate::interp::rollback::{REFUSED, UndoSource};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run id as listed by `runbook runs`
    id: String,
    /// Plan only: what would be undone and whether EKS would accept it now;
    /// zero mutating requests
    #[arg(long)]
    dry_run: bool,
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
    let source = match source(&store, &id, None) {
        Ok(source) => source,
        Err(d) => return Ok(refused(&d)),
    };
    let header = match store.load(&id) {
        Ok(run) => run.header,
        Err(e) => return Ok(refused(&ResumeError::Store(e).to_diagnostic().1)),
    };
    // The rollback blocks are read from the runbook: it must be the one
    // the run ran, as for a resume.
    let changed = header
        .fingerprint
        .changed_files(&header.fingerprint.rehash());
    if !changed.is_empty() {
        let (_, d) = ResumeError::RunbookChanged { id, files: changed }.to_diagnostic();
        let d = Diagnostic {
            help: Some(
                "the rollback blocks and the steps they undo are read from the runbook the run \
                 ran: restore those files, then roll back"
                    .into(),
            ),
            ..d
        };
        return Ok(refused(&d));
    }
    // What came before a control plane that was rolled back already stays
    // (EKS rolls a control plane back once); steps that changed nothing
    // have nothing to undo.
    let after = source
        .steps
        .iter()
        .rposition(|s| s.undone_bound)
        .map_or(0, |i| i + 1);
    if source.steps[after..]
        .iter()
        .all(|s| s.context.changes.is_empty())
    {
        match after {
            0 => println!(
                "run {id} left nothing to undo: no step of it changed anything that is not undone"
            ),
            _ => println!(
                "run {id} left nothing more to undo: its rollback ended at `{}` (EKS rolls a control plane back one minor, once), and what came before it stays",
                source.steps[after - 1].title
            ),
        }
        return Ok(Outcome::Ok);
    }
    let sets = super::resume::recorded_sets(&header, &args.set);
    exec::drive(
        &PathBuf::from(&header.runbook),
        header.environment.as_deref(),
        sets,
        args.dry_run,
        &args.run,
        &args.target,
        Start::Fresh,
        Some(&source),
    )
}

fn refused(d: &Diagnostic) -> Outcome {
    eprintln!(
        "{}",
        d.render(
            &crate::source::SourceMap::new(),
            console::colors_enabled_stderr()
        )
    );
    Outcome::Failed
}

fn refuse(message: String, help: &str) -> Diagnostic {
    Diagnostic::error(REFUSED, message).with_help(help)
}

/// What rolling back run `of` undoes: its completed steps, less those its
/// own rollback and earlier `runbook rollback` runs of it undid. `this` is
/// the rollback run being resumed: only what came before it counts (its
/// own earlier, ended executions included), so it replays the same steps.
pub(super) fn source(
    store: &RunStore,
    of: &RunId,
    this: Option<&RunId>,
) -> Result<UndoSource, Diagnostic> {
    let run = store
        .load(of)
        .map_err(|e| ResumeError::Store(e).to_diagnostic().1)?;
    if let Some(original) = &run.header.rollback_of {
        return Err(refuse(
            format!("run {of} is itself the rollback of run {original}"),
            "a rollback is undone by running the upgrade again with `runbook exec`",
        ));
    }
    if this.is_none() {
        match run.state {
            RunState::Running => {
                return Err(refuse(
                    format!("run {of} is still running: its process holds the run"),
                    "wait for it to end (a failure rolls back by itself), or stop it with Ctrl-C",
                ));
            }
            RunState::Interrupted => {
                return Err(refuse(
                    format!("run {of} was interrupted before it ended"),
                    "finish it first with `runbook resume` (a failure rolls back by itself); roll back what it left afterwards",
                ));
            }
            _ => {}
        }
    }
    let mut later = Vec::new();
    let runs = store
        .list(jiff::Timestamp::now())
        .map_err(|e| ResumeError::Store(e).to_diagnostic().1)?;
    for r in runs
        .iter()
        .filter(|r| r.header.rollback_of.as_ref() == Some(of))
    {
        let rid = &r.header.run_id;
        if this.is_some_and(|t| rid >= t) {
            continue;
        }
        if this.is_none() && matches!(r.state, RunState::Running | RunState::Interrupted) {
            return Err(refuse(
                format!("rollback run {rid} of run {of} is {}", r.state.as_str()),
                "continue that one with `runbook resume` instead of starting another",
            ));
        }
        let loaded = store
            .load(rid)
            .map_err(|e| ResumeError::Store(e).to_diagnostic().1)?;
        later.push(loaded.journal);
    }
    if let Some(t) = this {
        // Its own executions that ended (a failed rollback run resumed
        // starts over from what they left).
        let mut own = store
            .load(t)
            .map_err(|e| ResumeError::Store(e).to_diagnostic().1)?
            .journal;
        let end = own
            .entries
            .iter()
            .rposition(|e| matches!(e.record, Record::RunFinished { .. }))
            .map_or(0, |i| i + 1);
        own.entries.truncate(end);
        later.push(own);
    }
    let steps = undoable(&run.journal, &later).map_err(|e| {
        refuse(
            e.to_string(),
            "roll back by hand, or run the upgrade again with this version first",
        )
    })?;
    Ok(UndoSource {
        of: of.clone(),
        steps,
    })
}
