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
    scaled(name, 0.0).await
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

/// The first half of a hop from 1.28: control plane to 1.29, then kube-proxy
/// to its 1.29 build, each waited out on the clock. Forced: small.yaml and
/// pdb-blocked.yaml still call an API 1.29 removes (an ERROR insight), and
/// the tests using this are about what happens after the control plane.
pub async fn control_plane_and_kube_proxy_to_1_29(sb: &Sandbox, eks: &aws_sdk_eks::Client) {
    eks.update_cluster_version()
        .name(sb.cluster_name())
        .version("1.29")
        .force(true)
        .send()
        .await
        .unwrap();
    sb.advance(std::time::Duration::from_secs(26 * 60));
    eks.update_addon()
        .cluster_name(sb.cluster_name())
        .addon_name("kube-proxy")
        .addon_version("v1.29.15-eksbuild.16")
        .send()
        .await
        .unwrap();
    sb.advance(std::time::Duration::from_secs(3 * 60));
}

/// DescribeUpdate of a nodegroup update on the `demo` cluster.
pub async fn nodegroup_update(
    eks: &aws_sdk_eks::Client,
    nodegroup: &str,
    id: &str,
) -> aws_sdk_eks::types::Update {
    eks.describe_update()
        .name("demo")
        .update_id(id)
        .nodegroup_name(nodegroup)
        .send()
        .await
        .unwrap()
        .update
        .unwrap()
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
