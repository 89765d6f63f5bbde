//! The `runbook` command line: one file per subcommand, each owning its clap
//! arguments and its `run` function. Exit codes: 0 ok, 1 errors found or the
//! run failed, 2 usage errors (clap's own convention).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod check;
mod completions;
mod exec;
mod fmt;
mod resume;
mod rollback;
mod runs;
mod sandbox;
mod show;

/// `runbook --version`: the crate version and the git commit it was built
/// from ("unknown" outside a git checkout; see build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("RUNBOOK_GIT_COMMIT"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "runbook",
    version = VERSION,
    about = "Declarative, checked, dry-runnable upgrade runbooks for Kubernetes on Amazon EKS"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Parse and statically check runbooks without touching any cluster
    Check(check::Args),
    /// Rewrite runbooks in the one canonical layout
    Fmt(fmt::Args),
    /// List a runbook's parameters, environments, gates and steps
    Show(show::Args),
    /// Run a runbook (or plan it with --dry-run)
    Exec(exec::Args),
    /// Serve a simulated EKS cluster on 127.0.0.1
    Sandbox(sandbox::Args),
    /// List recorded runs, or show one run's journal
    Runs(runs::Args),
    /// Continue an interrupted run where it stopped
    Resume(resume::Args),
    /// Undo a finished or failed run later, from its journal (or plan it with --dry-run)
    Rollback(rollback::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions(completions::Args),
}

/// Outcome of a subcommand, mapped to the process exit code.
pub enum Outcome {
    Ok,
    Failed,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Check(args) => check::run(args),
        Command::Fmt(args) => fmt::run(args),
        Command::Show(args) => show::run(args),
        Command::Exec(args) => exec::run(args),
        Command::Sandbox(args) => sandbox::run(args),
        Command::Runs(args) => runs::run(args),
        Command::Resume(args) => resume::run(args),
        Command::Rollback(args) => rollback::run(args),
        Command::Completions(args) => completions::run::<Cli>(args),
    };
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::from(1),
        Err(report) => {
            eprintln!(
                "{}",
                crate::durable::redact::scrub_str(&format!("{report:?}"))
            );
            ExitCode::from(1)
        }
    }
}

/// Warnings from the engine (a stale cluster lock taken over, a lock that
/// could not be released) go to stderr. `RUNBOOK_LOG=debug` (or `info`,
/// `trace`) shows more of the engine; other crates stay silent at every
/// level, since HTTP client internals are where credentials would leak.
fn init_logging() {
    use tracing_subscriber::filter::{EnvFilter, LevelFilter};
    let level = std::env::var("RUNBOOK_LOG")
        .ok()
        .and_then(|l| l.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::WARN);
    let filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::OFF.into())
        .parse_lossy(format!("runbook={level}"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(console::colors_enabled_stderr())
        .with_target(false)
        .without_time()
        .try_init();
}

/// Fastest simulated clock a sandbox accepts: one simulated week in about
/// a minute of wall time. Faster, waits round to nothing and the simulation
/// cannot keep up with the engine.
pub(crate) const MAX_TIME_SCALE: f64 = 10_000.0;

/// `--time-scale` of `exec`: a finite number above 0 and at most
/// `MAX_TIME_SCALE`, checked by clap before anything else happens.
/// A run id typed by a person, as `runbook runs` lists them.
fn run_id(s: &str) -> miette::Result<crate::durable::RunId> {
    s.parse()
        .map_err(|e| miette::miette!(help = "list the runs with `runbook runs`", "{e}"))
}

fn run_time_scale(s: &str) -> Result<f64, String> {
    time_scale(s, false)
}

/// `--time-scale` of `sandbox serve`: as for `exec`, and 0 freezes the clock.
fn serve_time_scale(s: &str) -> Result<f64, String> {
    time_scale(s, true)
}

fn time_scale(s: &str, zero_ok: bool) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    let low_ok = if zero_ok { v >= 0.0 } else { v > 0.0 };
    if v.is_finite() && low_ok && v <= MAX_TIME_SCALE {
        Ok(v)
    } else {
        Err(format!(
            "must be a number {} {MAX_TIME_SCALE} (simulated seconds per wall second), e.g. 600",
            if zero_ok {
                "from 0 (frozen) to"
            } else {
                "above 0 and at most"
            }
        ))
    }
}

/// Files named directly, plus the `.upg` files under named directories
/// (recursively, in name order). A directory without any is an error, for
/// `check` and `fmt` alike: a typo must not pass as "nothing to do".
fn upg_files(paths: &[PathBuf], command: &str) -> miette::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let before = files.len();
            collect_dir(path, &mut files)
                .map_err(|e| miette::miette!("cannot read directory `{}`: {e}", path.display()))?;
            if files.len() == before {
                return Err(miette::miette!(
                    help = format!(
                        "point `runbook {command}` at `.upg` files or a directory holding some"
                    ),
                    "no `.upg` files in `{}`",
                    path.display()
                ));
            }
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn collect_dir(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<(PathBuf, std::fs::FileType)> = std::fs::read_dir(dir)?
        .map(|e| e.and_then(|e| Ok((e.path(), e.file_type()?))))
        .collect::<Result<_, _>>()?;
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, ty) in entries {
        // Symlinked directories are not followed: a link cycle would never end.
        if ty.is_dir() {
            collect_dir(&path, files)?;
        } else if path.extension().is_some_and(|e| e == "upg") {
            files.push(path);
        }
    }
    Ok(())
}
