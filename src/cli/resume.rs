//! `runbook resume <id>`: validate an interrupted run and show how it would
//! continue. Continuing needs the interpreter; `hand_off` is the one place
//! that will call it.

use std::path::PathBuf;

use super::Outcome;
use crate::durable::resume::ResumePlan;
use crate::durable::{RunId, RunStore};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run id as listed by `runbook runs`
    id: String,
    /// Resume even though the runbook or its imports changed since the run began
    #[arg(long)]
    force: bool,
    /// The state directory holding `runs/`
    #[arg(long, default_value = ".runbook")]
    dir: PathBuf,
}

pub fn run(args: Args) -> miette::Result<Outcome> {
    let id: RunId = match args.id.parse() {
        Ok(id) => id,
        Err(e) => {
            return Err(miette::miette!(
                help = "list the runs with `runbook runs`",
                "{e}"
            ));
        }
    };
    let store = RunStore::new(&args.dir);
    let plan = match ResumePlan::prepare(&store, &id, args.force) {
        Ok(plan) => plan,
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
    hand_off(plan)
}

/// Where the interpreter takes over. Until it provides a resume entry point
/// the plan is shown and nothing is changed: the run is not locked, the
/// journal not touched.
fn hand_off(_plan: ResumePlan) -> miette::Result<Outcome> {
    eprintln!(
        "runbook resume: continuing the run needs the interpreter's resume entry point, which is \
         not integrated yet; nothing was changed"
    );
    Ok(Outcome::Failed)
}
