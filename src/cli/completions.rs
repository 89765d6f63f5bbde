//! `runbook completions SHELL`: the completion script clap_complete derives
//! from the command definitions, so it never lags behind a new flag.
//!
//!   runbook completions bash > /etc/bash_completion.d/runbook
//!   runbook completions zsh > "${fpath[1]}/_runbook"
//!   runbook completions fish > ~/.config/fish/completions/runbook.fish

use clap::CommandFactory;
use clap_complete::Shell;

use super::Outcome;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to complete for
    #[arg(value_enum)]
    shell: Shell,
}

pub fn run<C: CommandFactory>(args: Args) -> miette::Result<Outcome> {
    let mut cmd = C::command();
    let name = cmd.get_name().to_string();
    // Into a buffer first: clap_complete panics when its writer fails.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, name, &mut script);
    write_stdout(&script)?;
    Ok(Outcome::Ok)
}

/// Write to standard output; a reader that went away (`| head`) is not an
/// error.
pub(super) fn write_stdout(bytes: &[u8]) -> miette::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(miette::miette!("cannot write to standard output: {e}"))
        }
        _ => Ok(()),
    }
}
