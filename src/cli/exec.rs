//! `runbook exec FILE`: load, check, bind parameters (all before any
//! request), connect the real clients (or start an embedded sandbox and
//! point them at it), then run or plan the runbook.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use crate::cloud::{Clients, Clock, ConnectOptions};
use crate::diagnostic::Diagnostic;
use crate::durable::redact::{scrub, scrub_str};
use crate::durable::{Fingerprint, ResumePlan, ResumeState, RunHeader, RunId, RunStore};
use crate::interp::durable::Durable;
use crate::interp::rollback::UndoSource;
use crate::interp::{self, Cloud, ExecOptions, Output, Reporter, params};
use crate::source::SourceMap;

use super::Outcome;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The runbook to run
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Take parameter values from this environment block
    #[arg(long, value_name = "NAME")]
    env: Option<String>,
    /// Set a parameter (repeatable); wins over --env and defaults
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Plan only: real reads, zero mutating requests, each change printed
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    target: Target,
}

/// How a real run behaves; shared by `exec` and `resume`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Answer every confirmation with yes (needed without a terminal)
    #[arg(long)]
    yes: bool,
    /// Ask before each step (needs a terminal)
    #[arg(long)]
    step: bool,
    /// `text` (a live tree on a terminal) or `json` (one event per line)
    #[arg(long, value_enum, default_value_t = OutputArg::Text)]
    output: OutputArg,
    /// Where run journals and reports live (`<DIR>/runs/<id>/`)
    #[arg(
        long,
        value_name = "DIR",
        default_value = ".runbook",
        visible_alias = "dir"
    )]
    pub runs_dir: PathBuf,
}

/// Which cluster the clients talk to; shared by `exec` and `resume`.
#[derive(Debug, clap::Args)]
pub struct Target {
    /// AWS region (default: the AWS config chain)
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
    /// AWS profile (default: the AWS config chain)
    #[arg(long, value_name = "PROFILE")]
    profile: Option<String>,
    /// Kubeconfig context
    #[arg(long, value_name = "CONTEXT")]
    context: Option<String>,
    /// Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)
    #[arg(long, value_name = "PATH")]
    kubeconfig: Option<PathBuf>,
    /// Start a simulated cluster from this fixture and run against it
    #[arg(long, value_name = "FIXTURE.yaml")]
    sandbox: Option<PathBuf>,
    /// Simulated seconds per wall second for --sandbox
    #[arg(long, value_name = "N", default_value_t = 600.0, requires = "sandbox", value_parser = super::run_time_scale)]
    time_scale: f64,
}

/// Where a run's journal comes from.
pub enum Start {
    /// A new run: a new id and journal under the runs directory.
    Fresh,
    /// `runbook resume`: the earlier attempt's run, validated.
    Resume(Box<ResumePlan>),
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum OutputArg {
    Text,
    Json,
}

fn color() -> bool {
    std::io::stderr().is_terminal() && console::colors_enabled_stderr()
}

fn print_diagnostics(diags: &[Diagnostic], sources: &SourceMap, output: OutputArg) {
    match output {
        OutputArg::Json => {
            for d in diags {
                let mut event =
                    serde_json::json!({"event": "error", "diagnostic": d.to_json(sources)});
                scrub(&mut event);
                println!("{event}");
            }
        }
        OutputArg::Text => {
            for d in diags {
                eprintln!("{}", scrub_str(&d.render(sources, color())));
            }
        }
    }
}

pub fn run(args: Args) -> miette::Result<Outcome> {
    drive(
        &args.file,
        args.env.as_deref(),
        args.set,
        args.dry_run,
        &args.run,
        &args.target,
        Start::Fresh,
        None,
    )
}

/// Load, check, bind, connect and run; `exec` and `resume` differ only in
/// where the parameters and the journal come from, and `rollback` (`undo`)
/// in what runs: the rollbacks of an earlier run's completed steps.
#[allow(clippy::too_many_arguments)]
pub fn drive(
    file: &Path,
    env: Option<&str>,
    set: Vec<String>,
    dry_run: bool,
    run: &RunArgs,
    target_args: &Target,
    start: Start,
    undo: Option<&UndoSource>,
) -> miette::Result<Outcome> {
    // Everything that can be wrong with the input is reported before a
    // client is built, let alone a request sent.
    let output_arg = run.output;
    let program = match crate::syntax::load(file) {
        Ok(p) => p,
        Err((sources, diags)) => {
            print_diagnostics(&diags, &sources, output_arg);
            return Ok(Outcome::Failed);
        }
    };
    let resolved = match crate::analyze::resolve(&program) {
        Ok(r) => r,
        Err(diags) => {
            print_diagnostics(&diags, &program.sources, output_arg);
            return Ok(Outcome::Failed);
        }
    };
    let runbook = resolved.runbook;
    // Against the embedded sandbox the cluster is the fixture's: default the
    // conventional `cluster` parameter to it unless set explicitly.
    let fixture = match &target_args.sandbox {
        Some(path) => match crate::sandbox::Fixture::load(path) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("{}", e.render(color()));
                return Ok(Outcome::Failed);
            }
        },
        None => None,
    };
    // A kubeconfig (named or the default one) that cannot be read within
    // its limit is refused here, before a journal or a client exists.
    if fixture.is_none() || target_args.kubeconfig.is_some() {
        let options = kube::config::KubeConfigOptions {
            context: target_args.context.clone(),
            ..Default::default()
        };
        if let Err(e) =
            crate::cloud::connect::read_kubeconfig(target_args.kubeconfig.as_deref(), &options)
        {
            return Err(miette::miette!(help = e.hint(), "{e}"));
        }
    }
    let mut sets = set;
    if let Some(f) = &fixture
        && runbook.params().any(|p| p.name.name == "cluster")
        && !sets.iter().any(|s| s.starts_with("cluster="))
    {
        sets.push(format!("cluster={}", f.spec.cluster.name));
    }
    let bound = match params::bind(&resolved, env, &sets) {
        Ok(b) => b,
        Err((sources, diags)) => {
            print_diagnostics(&diags, &sources, output_arg);
            return Ok(Outcome::Failed);
        }
    };
    // A real run is journalled from before its first request; a dry run
    // writes nothing.
    let journal = if dry_run {
        None
    } else {
        match open_journal(file, &program, &bound, &run.runs_dir, start, undo) {
            Ok(j) => Some(j),
            Err(e) => return Err(e),
        }
    };
    let run_id = journal
        .as_ref()
        .map(Durable::run_id)
        .unwrap_or_else(|| RunId::generate(jiff::Timestamp::now()));
    if let Some(j) = &journal {
        eprintln!("run {run_id}: journal in {}", j.dir().display());
    }
    // The interpreter evaluates nested steps, gates and canary gates as
    // nested futures: give every worker the main thread's 8 MiB of stack.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_stack_size(8 << 20)
        .enable_all()
        .build()
        .map_err(|e| miette::miette!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async {
        let (connect, sandbox) = target(target_args, fixture).await?;
        let clients = Clients::connect(&connect).await.map_err(|e| {
            miette::miette!(
                help = "check --kubeconfig/--context and your AWS configuration",
                "{e}"
            )
        })?;
        // Wall time against a real cluster; a sandbox's (embedded or served)
        // advertised time scale otherwise.
        let mut clock = Clock::of_target(&clients.kube).await;
        if let Some(sandbox) = &sandbox {
            // Timestamps the embedded sandbox writes (a node's creation)
            // are on its simulated clock: read ages against the same origin.
            let (started, epoch) = sandbox.origin();
            clock = clock.with_origin(started, epoch);
        }
        let cloud = Cloud::new(clients, clock.clone());
        let output = match output_arg {
            OutputArg::Json => Output::Json,
            OutputArg::Text if std::io::stdout().is_terminal() => Output::Tty,
            OutputArg::Text => Output::Text,
        };
        let reporter = Reporter::new(output, clock.clone());
        let interrupt = clock.clone();
        tokio::spawn(async move {
            // First Ctrl-C: stop and roll back. Second: stop the rollback.
            while tokio::signal::ctrl_c().await.is_ok() {
                eprintln!(
                    "\ninterrupted: stopping, then rolling back (Ctrl-C again stops the rollback)"
                );
                interrupt.cancel();
            }
        });
        let opts = ExecOptions {
            dry_run,
            yes: run.yes,
            step: run.step,
            interactive: std::io::stdin().is_terminal() && std::io::stderr().is_terminal(),
            run_id,
        };
        let summary = match undo {
            None => {
                interp::execute(&resolved, &bound, cloud, &opts, &reporter, journal.as_ref()).await
            }
            Some(source) => {
                interp::execute_rollback(
                    &resolved,
                    &bound,
                    cloud,
                    &opts,
                    &reporter,
                    journal.as_ref(),
                    source,
                )
                .await
            }
        };
        print_diagnostics(&summary.errors, &program.sources, output_arg);
        match output {
            Output::Json => {
                let mut json = summary.to_json();
                scrub(&mut json);
                println!("{json}");
            }
            _ => print!("{}", scrub_str(&summary.render_text())),
        }
        Ok(if summary.status.is_ok() {
            Outcome::Ok
        } else {
            Outcome::Failed
        })
    })
}

/// Start a new run's journal, or take over the one being resumed.
fn open_journal(
    file: &Path,
    program: &crate::syntax::Program,
    bound: &params::BoundParams,
    runs_dir: &Path,
    start: Start,
    undo: Option<&UndoSource>,
) -> miette::Result<Durable> {
    let clock = crate::durable::SystemClock::shared();
    let mut forced = false;
    let (run, state) = match start {
        Start::Fresh => {
            let now = jiff::Timestamp::now();
            let cluster = match bound.values.get("cluster") {
                Some(interp::value::Value::Str(c)) => c.clone(),
                _ => String::new(),
            };
            let secrets: Vec<&str> = bound.secrets.iter().map(String::as_str).collect();
            let params = bound
                .values
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect();
            let mut header = RunHeader::new(
                RunId::generate(now),
                // Absolute, so `resume` works from any directory.
                std::path::absolute(file)
                    .unwrap_or_else(|_| file.to_path_buf())
                    .display()
                    .to_string(),
                Fingerprint::of_sources(&program.sources),
                cluster,
                now,
            )
            .with_params(params, &secrets);
            if let Some(env) = &bound.environment {
                header = header.with_environment(env.clone());
            }
            if let Some(source) = undo {
                header = header.rolling_back(source.of.clone());
            }
            let run = RunStore::new(runs_dir)
                .start(header, clock)
                .map_err(|e| miette::miette!("cannot start the run journal: {e}"))?;
            (run, ResumeState::default())
        }
        Start::Resume(plan) => {
            forced = plan.forced;
            plan.begin(clock)
                .map_err(|e| miette::miette!("cannot resume the run: {e}"))?
        }
    };
    Ok(Durable::new(run, state).forcing(forced))
}

/// Where the clients point: the embedded sandbox or the real cloud.
async fn target(
    args: &Target,
    fixture: Option<crate::sandbox::Fixture>,
) -> miette::Result<(ConnectOptions, Option<crate::sandbox::Sandbox>)> {
    let Some(fixture) = fixture else {
        let connect = ConnectOptions {
            region: args.region.clone(),
            profile: args.profile.clone(),
            context: args.context.clone(),
            kubeconfig: args.kubeconfig.clone(),
            ..ConnectOptions::default()
        };
        return Ok((connect, None));
    };
    let opts = crate::sandbox::SandboxOptions {
        time_scale: args.time_scale,
        ..crate::sandbox::SandboxOptions::default()
    };
    let sandbox = crate::sandbox::Sandbox::start(fixture, opts)
        .await
        .map_err(|e| miette::miette!("cannot start the sandbox: {e:#}"))?;
    eprintln!(
        "sandbox: cluster {} on {} (time ×{})",
        sandbox.cluster_name(),
        sandbox.endpoint(),
        sandbox.time_scale()
    );
    let connect = ConnectOptions {
        region: Some(sandbox.region()),
        eks_endpoint: Some(sandbox.endpoint()),
        kubeconfig_yaml: Some(sandbox.kubeconfig_yaml()),
        ..ConnectOptions::default()
    };
    Ok((connect, Some(sandbox)))
}
