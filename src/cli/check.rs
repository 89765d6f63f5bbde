use super::Outcome;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> miette::Result<Outcome> {
    Err(miette::miette!("`runbook check` is not implemented yet"))
}
