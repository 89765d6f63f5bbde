//! `runbook sandbox serve FIXTURE`: serve a simulated EKS cluster until
//! Ctrl-C. `runbook sandbox generate`: write a fixture of any size.

use std::path::PathBuf;

use tokio::signal::unix::SignalKind;

use super::Outcome;
use crate::sandbox::{FaultSpec, Fixture, GenerateOptions, Sandbox, SandboxOptions};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Serve the EKS and Kubernetes APIs of a fixture on 127.0.0.1
    Serve(ServeArgs),
    /// Write a fixture of N nodes and P pods (the same seed, the same file)
    Generate(GenerateArgs),
}

#[derive(Debug, clap::Args)]
struct GenerateArgs {
    /// Nodes, spread evenly over the nodegroups
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=20_000))]
    nodes: u32,
    /// Pods in total: 3 DaemonSet pods per node and 2 CoreDNS replicas,
    /// the rest in Deployments of 50-150 replicas
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pods: u32,
    /// Managed nodegroups (maxUnavailable a tenth of each)
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100))]
    nodegroups: u32,
    /// Seed for replica counts, namespaces and requests
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write here instead of to standard output
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
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
        Command::Generate(a) => generate(a),
    }
}

fn generate(a: GenerateArgs) -> miette::Result<Outcome> {
    let yaml = Fixture::generated_yaml(GenerateOptions {
        nodes: a.nodes,
        pods: a.pods,
        nodegroups: a.nodegroups,
        seed: a.seed,
    });
    match &a.output {
        Some(path) => std::fs::write(path, yaml)
            .map_err(|e| miette::miette!("cannot write {}: {e}", path.display()))?,
        None => super::completions::write_stdout(yaml.as_bytes())?,
    }
    Ok(Outcome::Ok)
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
