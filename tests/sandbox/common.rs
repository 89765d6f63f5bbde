//! Shared helpers: start a sandbox on a frozen clock, build real clients.

use std::path::PathBuf;

use runbook::sandbox::{Fixture, Sandbox, SandboxOptions};

pub fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples/sandbox")
        .join(name)
}

/// A sandbox of an example fixture whose clock only moves via `advance`.
pub async fn frozen(name: &str) -> Sandbox {
    let fixture = Fixture::load(&example(name)).unwrap_or_else(|e| panic!("{e}"));
    Sandbox::start(
        fixture,
        SandboxOptions {
            time_scale: 0.0,
            ..Default::default()
        },
    )
    .await
    .expect("sandbox starts")
}

/// A sandbox whose clock runs at `scale` × wall time (for watches).
pub async fn scaled(name: &str, scale: f64) -> Sandbox {
    let fixture = Fixture::load(&example(name)).unwrap_or_else(|e| panic!("{e}"));
    Sandbox::start(
        fixture,
        SandboxOptions {
            time_scale: scale,
            ..Default::default()
        },
    )
    .await
    .expect("sandbox starts")
}

pub fn eks(sb: &Sandbox) -> aws_sdk_eks::Client {
    let conf = aws_sdk_eks::Config::builder()
        .behavior_version(aws_sdk_eks::config::BehaviorVersion::latest())
        .region(aws_sdk_eks::config::Region::new(sb.region()))
        .endpoint_url(sb.endpoint())
        .credentials_provider(aws_sdk_eks::config::Credentials::new(
            "AKIDSANDBOXEXAMPLE",
            "sandbox-secret-key",
            None,
            None,
            "test",
        ))
        .build();
    aws_sdk_eks::Client::from_conf(conf)
}

pub async fn kube(sb: &Sandbox) -> kube::Client {
    let kc = kube::config::Kubeconfig::from_yaml(&sb.kubeconfig_yaml()).expect("kubeconfig parses");
    let mut cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("kubeconfig loads");
    // kube retries 429 by default; eviction tests need to see it.
    cfg.default_retry = false;
    kube::Client::try_from(cfg).expect("client builds")
}
