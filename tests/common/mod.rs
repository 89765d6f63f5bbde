//! What the integration tests share: the shipped sandbox fixtures, a sandbox
//! at test speed with the real clients connected to it, and the one way to
//! run a program in-process (`execute`), by the same stages as `runbook exec`.

use std::path::PathBuf;

pub mod faults;

use runbook::cloud::{Clients, Clock, ConnectOptions};
use runbook::interp::durable::Durable;
use runbook::interp::{self, Cloud, ExecOptions, Output, Reporter, RunSummary, params};
use runbook::sandbox::{Fixture, Sandbox, SandboxOptions};

pub mod bin;

/// Fast enough that a 25-minute control-plane update takes ~1.5 s.
pub const SCALE: f64 = 1000.0;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> Fixture {
    Fixture::load(&root().join("examples/sandbox").join(name)).expect("fixture loads")
}

/// The sandbox of fixture `name` at `SCALE`, and the engine's clients on it.
pub async fn start(name: &str) -> (Sandbox, Cloud) {
    start_at(fixture(name), SCALE).await
}

/// The sandbox of `fixture` at `time_scale`, and the engine's clients on it.
pub async fn start_at(fixture: runbook::sandbox::Fixture, time_scale: f64) -> (Sandbox, Cloud) {
    let sandbox = Sandbox::start(
        fixture,
        SandboxOptions {
            time_scale,
            ..SandboxOptions::default()
        },
    )
    .await
    .expect("sandbox starts");
    let cloud = connect(&sandbox).await;
    (sandbox, cloud)
}

/// The real aws-sdk-eks and kube-rs clients pointed at `sandbox`, on its clock.
pub async fn connect(sandbox: &Sandbox) -> Cloud {
    let clients = Clients::connect(&ConnectOptions {
        region: Some(sandbox.region()),
        eks_endpoint: Some(sandbox.endpoint()),
        kubeconfig_yaml: Some(sandbox.kubeconfig_yaml()),
        ..ConnectOptions::default()
    })
    .await
    .expect("clients connect");
    let (started, epoch) = sandbox.origin();
    Cloud::new(
        clients,
        Clock::scaled(sandbox.time_scale()).with_origin(started, epoch),
    )
}

/// Check and resolve `program`, bind `--env`/`--set`, and run it (or plan
/// it) against `cloud`, journalled when `journal` is given, as `runbook
/// exec` does: the summary and the lines the reporter printed.
pub async fn execute(
    program: &runbook::syntax::Program,
    cloud: &Cloud,
    env: Option<&str>,
    sets: &[&str],
    dry_run: bool,
    journal: Option<&Durable>,
) -> (RunSummary, Vec<String>) {
    let (summary, reporter) = run(program, cloud, env, sets, dry_run, journal, true).await;
    (summary, reporter.lines())
}

/// The runner under `execute`, with `--yes` given or not (a protected
/// environment refuses an unconfirmed run: there is no terminal here);
/// hands back the reporter, for tests that read the JSON events.
pub async fn run(
    program: &runbook::syntax::Program,
    cloud: &Cloud,
    env: Option<&str>,
    sets: &[&str],
    dry_run: bool,
    journal: Option<&Durable>,
    yes: bool,
) -> (RunSummary, Reporter) {
    let render = |sources: &runbook::source::SourceMap, d: &[runbook::diagnostic::Diagnostic]| {
        runbook::diagnostic::render_all(d, sources, false).0
    };
    let resolved = runbook::analyze::resolve(program)
        .unwrap_or_else(|d| panic!("does not check:\n{}", render(&program.sources, &d)));
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let bound = params::bind(&resolved, env, &sets)
        .unwrap_or_else(|(sources, d)| panic!("{}", render(&sources, &d)));
    let reporter = Reporter::new(Output::Text, cloud.clock.clone());
    let opts = ExecOptions {
        dry_run,
        yes,
        interactive: false,
        step: false,
        run_id: journal.map_or_else(
            || "20261123T000000Z-00000001".parse().unwrap(),
            Durable::run_id,
        ),
    };
    // Boxed: the interpreter's future is deep, and tests nest it further.
    let summary = Box::pin(interp::execute(
        &resolved,
        &bound,
        cloud.clone(),
        &opts,
        &reporter,
        journal,
    ))
    .await;
    (summary, reporter)
}
