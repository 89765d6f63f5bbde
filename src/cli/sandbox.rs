//! `runbook sandbox serve FIXTURE`: serve a simulated EKS cluster until Ctrl-C.

use std::path::PathBuf;

use tokio::signal::unix::SignalKind;

use super::Outcome;
use crate::sandbox::{FaultSpec, Fixture, Sandbox, SandboxOptions};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Serve the EKS and Kubernetes APIs of a fixture on 127.0.0.1
    Serve(ServeArgs),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Fixture YAML (see docs/sandbox.md and examples/sandbox/)
    fixture: PathBuf,
    /// Port to listen on (0 picks a free one)
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Where to write the kubeconfig
    #[arg(long, default_value = "sandbox.kubeconfig")]
    kubeconfig: PathBuf,
    /// Simulated seconds per wall-clock second
    #[arg(long, default_value_t = 1.0, value_parser = super::serve_time_scale)]
    time_scale: f64,
    /// Seed for names, faults and other random choices
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Injected faults, e.g. "5xx=0.05,429=0.02,latency=200ms@0.1,drop=0.01"
    #[arg(long, value_parser = parse_faults)]
    faults: Option<FaultSpec>,
}

fn parse_faults(s: &str) -> Result<FaultSpec, String> {
    s.parse::<FaultSpec>().map_err(|e| e.to_string())
}

pub fn run(args: Args) -> miette::Result<Outcome> {
    match args.command {
        Command::Serve(a) => serve(a),
    }
}

fn serve(a: ServeArgs) -> miette::Result<Outcome> {
    let fixture = Fixture::load(&a.fixture).map_err(miette::Report::new)?;
    let rt = tokio::runtime::Runtime::new()
        .map_err(|e| miette::miette!("cannot start the async runtime: {e}"))?;
    rt.block_on(async move {
        let opts = SandboxOptions {
            time_scale: a.time_scale,
            seed: a.seed,
            faults: a.faults.unwrap_or_default(),
            port: a.port,
        };
        let sandbox = Sandbox::start(fixture, opts).await.map_err(|e| {
            miette::miette!(help = "pick another --port or use 0 for a free one", "{e}")
        })?;
        sandbox.write_kubeconfig(&a.kubeconfig).map_err(|e| {
            miette::miette!("cannot write kubeconfig {}: {e}", a.kubeconfig.display())
        })?;
        // Listen before the endpoint is printed: a script that reads it and
        // interrupts at once must stop the sandbox cleanly, not kill it.
        let mut interrupt = tokio::signal::unix::signal(SignalKind::interrupt())
            .map_err(|e| miette::miette!("cannot listen for Ctrl-C: {e}"))?;
        let endpoint = sandbox.endpoint();
        println!(
            "sandbox cluster {} ({}) serving on {endpoint}",
            sandbox.cluster_name(),
            sandbox.region()
        );
        println!("  export KUBECONFIG={}", a.kubeconfig.display());
        println!("  export AWS_ENDPOINT_URL_EKS={endpoint}");
        println!("  export AWS_REGION={}", sandbox.region());
        println!("  export AWS_ACCESS_KEY_ID=sandbox AWS_SECRET_ACCESS_KEY=sandbox");
        println!("press Ctrl-C to stop");
        interrupt.recv().await;
        sandbox.shutdown().await;
        println!("sandbox stopped");
        Ok(Outcome::Ok)
    })
}
