//! What the engine test binaries share: the shipped sandbox fixtures and a
//! sandbox at test speed with the real clients connected to it.

use std::path::PathBuf;

pub mod faults;

use runbook::cloud::{Clients, Clock, ConnectOptions};
use runbook::interp::Cloud;
use runbook::sandbox::{Fixture, Sandbox, SandboxOptions};

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
    let sandbox = Sandbox::start(
        fixture(name),
        SandboxOptions {
            time_scale: SCALE,
            ..SandboxOptions::default()
        },
    )
    .await
    .expect("sandbox starts");
    let cloud = connect(&sandbox).await;
    (sandbox, cloud)
}

/// The real aws-sdk-eks and kube-rs clients pointed at `sandbox`.
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
    Cloud::new(clients, Clock::scaled(SCALE).with_origin(started, epoch))
}
