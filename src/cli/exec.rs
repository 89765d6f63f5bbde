//! `runbook exec FILE`: load, check, bind parameters (all before any
//! request), connect the real clients (or start an embedded sandbox and
//! point them at it), then run or plan the runbook.

use std::io::IsTerminal;
use std::path::PathBuf;

use crate::cloud::{Clients, Clock, ConnectOptions};
use crate::diagnostic::Diagnostic;
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
    /// Answer every confirmation with yes (needed without a terminal)
    #[arg(long)]
    yes: bool,
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
    #[arg(long, value_name = "N", default_value_t = 600.0, requires = "sandbox")]
    time_scale: f64,
    /// `text` (a live tree on a terminal) or `json` (one event per line)
    #[arg(long, value_enum, default_value_t = OutputArg::Text)]
    output: OutputArg,
    /// Seed of idempotency tokens; reuse it to resume a run safely
    #[arg(long, value_name = "ID")]
    run_id: Option<String>,
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
                println!(
                    "{}",
                    serde_json::json!({"event": "error", "diagnostic": d.to_json(sources)})
                );
            }
        }
        OutputArg::Text => {
            for d in diags {
                eprintln!("{}", d.render(sources, color()));
            }
        }
    }
}

pub fn run(args: Args) -> miette::Result<Outcome> {
    // Everything that can be wrong with the input is reported before a
    // client is built, let alone a request sent.
    let program = match crate::syntax::load(&args.file) {
        Ok(p) => p,
        Err((sources, diags)) => {
            print_diagnostics(&diags, &sources, args.output);
            return Ok(Outcome::Failed);
        }
    };
    let findings = crate::check::check(&program);
    if findings.iter().any(Diagnostic::is_error) {
        print_diagnostics(&findings, &program.sources, args.output);
        return Ok(Outcome::Failed);
    }
    let runbook = match params::root_runbook(&program) {
        Ok(r) => r,
        Err(d) => {
            print_diagnostics(&[d], &program.sources, args.output);
            return Ok(Outcome::Failed);
        }
    };
    // Against the embedded sandbox the cluster is the fixture's: default the
    // conventional `cluster` parameter to it unless set explicitly.
    let fixture = match &args.sandbox {
        Some(path) => match crate::sandbox::Fixture::load(path) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("{}", e.render(color()));
                return Ok(Outcome::Failed);
            }
        },
        None => None,
    };
    let mut sets = args.set.clone();
    if let Some(f) = &fixture
        && runbook.params().any(|p| p.name.name == "cluster")
        && !sets.iter().any(|s| s.starts_with("cluster="))
    {
        sets.push(format!("cluster={}", f.spec.cluster.name));
    }
    let bound = match params::bind(&program, runbook, args.env.as_deref(), &sets) {
        Ok(b) => b,
        Err((sources, diags)) => {
            print_diagnostics(&diags, &sources, args.output);
            return Ok(Outcome::Failed);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| miette::miette!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async {
        let (connect, clock, _sandbox) = target(&args, fixture).await?;
        let clients = Clients::connect(&connect).await.map_err(|e| {
            miette::miette!(
                help = "check --kubeconfig/--context and your AWS configuration",
                "{e}"
            )
        })?;
        let cloud = Cloud::new(clients, clock.clone());
        let output = match args.output {
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
            dry_run: args.dry_run,
            yes: args.yes,
            interactive: std::io::stdin().is_terminal() && std::io::stderr().is_terminal(),
            run_id: args.run_id.clone().unwrap_or_else(new_run_id),
        };
        let summary = interp::execute(&program, runbook, &bound, cloud, &opts, &reporter).await;
        print_diagnostics(&summary.errors, &program.sources, args.output);
        match output {
            Output::Json => println!("{}", summary.to_json()),
            _ => print!("{}", summary.render_text()),
        }
        Ok(if summary.status.is_ok() {
            Outcome::Ok
        } else {
            Outcome::Failed
        })
    })
}

/// Where the clients point: the embedded sandbox or the real cloud.
async fn target(
    args: &Args,
    fixture: Option<crate::sandbox::Fixture>,
) -> miette::Result<(ConnectOptions, Clock, Option<crate::sandbox::Sandbox>)> {
    let Some(fixture) = fixture else {
        let connect = ConnectOptions {
            region: args.region.clone(),
            profile: args.profile.clone(),
            context: args.context.clone(),
            kubeconfig: args.kubeconfig.clone(),
            ..ConnectOptions::default()
        };
        return Ok((connect, Clock::real(), None));
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
    let clock = Clock::scaled(sandbox.time_scale());
    Ok((connect, clock, Some(sandbox)))
}

fn new_run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{:x}-{:x}", nanos, std::process::id())
}
