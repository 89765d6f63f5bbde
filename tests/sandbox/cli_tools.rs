//! Fidelity with the real command-line clients: `kubectl` and the AWS CLI
//! against the sandbox, as an on-call engineer would use them. Each test is
//! skipped, with a printed reason, when its binary is not installed.

use std::path::{Path, PathBuf};
use std::process::Output;

use tokio::process::Command;

use runbook::sandbox::Sandbox;

use super::common::frozen;

fn find(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(tool))
            .find(|p| p.is_file())
    })
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

async fn kubectl(bin: &Path, kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .env("KUBECONFIG", kubeconfig)
        .env_remove("HTTPS_PROXY")
        .env_remove("HTTP_PROXY")
        .args(args)
        .output()
        .await
        .expect("kubectl runs")
}

/// kubectl pointed at a frozen sandbox of `fixture` by a kubeconfig in `dir`.
struct Kubectl {
    bin: PathBuf,
    sb: Sandbox,
    dir: tempfile::TempDir,
    kc: PathBuf,
}

async fn kubectl_on(fixture: &str) -> Option<Kubectl> {
    let Some(bin) = find("kubectl") else {
        eprintln!("skipping: kubectl not found on PATH");
        return None;
    };
    let sb = frozen(fixture).await;
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    sb.write_kubeconfig(&kc).unwrap();
    Some(Kubectl { bin, sb, dir, kc })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_cordon_drain_with_blocking_pdb_and_uncordon() {
    // `_dir` holds the kubeconfig's directory until the test ends.
    let Some(Kubectl {
        bin,
        sb,
        dir: _dir,
        kc,
    }) = kubectl_on("small.yaml").await
    else {
        return;
    };

    let out = kubectl(&bin, &kc, &["get", "nodes"]).await;
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let header = t.lines().next().unwrap();
    for col in ["NAME", "STATUS", "ROLES", "AGE", "VERSION"] {
        assert!(header.contains(col), "{t}");
    }
    assert_eq!(
        t.lines().filter(|l| l.contains(" Ready ")).count(),
        8,
        "{t}"
    );
    assert!(t.contains("v1.28.15-eks-"), "{t}");

    let out = kubectl(&bin, &kc, &["get", "pods", "-A"]).await;
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.lines().next().unwrap().starts_with("NAMESPACE"), "{t}");
    assert!(t.contains("checkout-") && t.contains("Running"), "{t}");

    let pod = sb
        .pods()
        .into_iter()
        .find(|p| p.name.starts_with("checkout-"))
        .unwrap();
    let node = pod.node.clone().unwrap();
    let out = kubectl(&bin, &kc, &["cordon", &node]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(sb.nodes().iter().any(|n| n.name == node && n.unschedulable));

    assert!(sb.set_pdb_enabled("shop", "checkout", true));
    let drain = [
        "drain",
        node.as_str(),
        "--ignore-daemonsets",
        "--delete-emptydir-data",
        "--timeout=6s",
    ];
    let out = kubectl(&bin, &kc, &drain).await;
    let t = text(&out);
    assert!(
        !out.status.success(),
        "drain must fail while the PDB blocks: {t}"
    );
    assert!(
        t.contains("Cannot evict pod as it would violate the pod's disruption budget."),
        "{t}"
    );
    assert!(t.contains(&pod.name), "{t}");
    assert!(sb.kube_object("pods", "shop", &pod.name).is_some());

    assert!(sb.set_pdb_enabled("shop", "checkout", false));
    // Evicted pods terminate over their grace period: drain waits for them
    // while simulated time moves.
    let ticking = async {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            sb.advance(std::time::Duration::from_secs(5));
        }
    };
    let out = tokio::select! {
        out = kubectl(&bin, &kc, &drain) => out,
        () = ticking => unreachable!(),
    };
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("drained"), "{t}");
    assert!(sb.kube_object("pods", "shop", &pod.name).is_none());

    let out = kubectl(&bin, &kc, &["uncordon", &node]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        sb.nodes()
            .iter()
            .any(|n| n.name == node && !n.unschedulable)
    );
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_create_and_apply_from_a_file() {
    let Some(Kubectl { bin, sb, dir, kc }) = kubectl_on("small.yaml").await else {
        return;
    };
    let manifest = |value: &str| {
        let path = dir.path().join(format!("budget-{value}.yaml"));
        let yaml = format!(
            "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: web-budget\n  namespace: shop\nspec:\n  maxUnavailable: {value}\n  selector:\n    matchLabels:\n      app: web\n"
        );
        std::fs::write(&path, yaml).unwrap();
        path.to_string_lossy().into_owned()
    };
    // Both validate client-side first, which needs the server's OpenAPI document.
    let out = kubectl(&bin, &kc, &["create", "-f", &manifest("1")]).await;
    assert!(out.status.success(), "{}", text(&out));
    let out = kubectl(&bin, &kc, &["apply", "-f", &manifest("2")]).await;
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("poddisruptionbudget.policy/web-budget configured"),
        "{t}"
    );
    let pdb = sb
        .kube_object("poddisruptionbudgets", "shop", "web-budget")
        .expect("the budget exists");
    assert_eq!(pdb["spec"]["maxUnavailable"], 2);
    assert!(
        pdb["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .is_string()
    );
    sb.shutdown().await;
}

async fn aws(bin: &Path, endpoint: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .env("AWS_ACCESS_KEY_ID", "AKIDSANDBOXEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "sandbox-secret")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .args(args)
        .args([
            "--endpoint-url",
            endpoint,
            "--region",
            "us-west-2",
            "--output",
            "json",
        ])
        .output()
        .await
        .expect("aws runs")
}

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", text(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_describes_and_updates_the_cluster() {
    let Some(bin) = find("aws") else {
        eprintln!("skipping: aws CLI not found on PATH");
        return;
    };
    // demo.yaml: small.yaml without the ERROR insights that block an upgrade.
    let sb = frozen("demo.yaml").await;
    let e = sb.endpoint();
    let c = json(&aws(&bin, &e, &["eks", "describe-cluster", "--name", "demo"]).await);
    assert_eq!(c["cluster"]["version"], "1.28");
    assert_eq!(c["cluster"]["status"], "ACTIVE");
    let ngs = json(
        &aws(
            &bin,
            &e,
            &["eks", "list-nodegroups", "--cluster-name", "demo"],
        )
        .await,
    );
    assert_eq!(
        ngs["nodegroups"],
        serde_json::json!(["general", "data", "system"])
    );
    let v = json(
        &aws(
            &bin,
            &e,
            &[
                "eks",
                "describe-addon-versions",
                "--addon-name",
                "vpc-cni",
                "--kubernetes-version",
                "1.29",
            ],
        )
        .await,
    );
    let versions = v["addons"][0]["addonVersions"].as_array().unwrap();
    assert!(
        versions
            .iter()
            .any(|x| x["addonVersion"] == "v1.19.2-eksbuild.1")
    );
    let u = json(
        &aws(
            &bin,
            &e,
            &[
                "eks",
                "update-cluster-version",
                "--name",
                "demo",
                "--kubernetes-version",
                "1.29",
            ],
        )
        .await,
    );
    let id = u["update"]["id"].as_str().unwrap().to_string();
    assert_eq!(u["update"]["status"], "InProgress");
    let bad = aws(
        &bin,
        &e,
        &[
            "eks",
            "update-cluster-version",
            "--name",
            "demo",
            "--kubernetes-version",
            "1.29",
        ],
    )
    .await;
    assert!(!bad.status.success());
    assert!(
        text(&bad).contains("ResourceInUseException"),
        "{}",
        text(&bad)
    );
    sb.advance(std::time::Duration::from_secs(26 * 60));
    let d = json(
        &aws(
            &bin,
            &e,
            &[
                "eks",
                "describe-update",
                "--name",
                "demo",
                "--update-id",
                &id,
            ],
        )
        .await,
    );
    assert_eq!(d["update"]["status"], "Successful");
    let missing = aws(&bin, &e, &["eks", "describe-cluster", "--name", "nope"]).await;
    assert!(
        text(&missing).contains("ResourceNotFoundException"),
        "{}",
        text(&missing)
    );
    // Credentials never reach the request log (it holds no headers at all).
    let log = serde_json::to_string(&sb.requests()).unwrap();
    assert!(!log.contains("AKIDSANDBOXEXAMPLE"));
    sb.shutdown().await;
}

/// `aws eks ...` that must fail with the EKS error type `kind`, quoting `text`.
async fn aws_refused(bin: &Path, endpoint: &str, args: &[&str], kind: &str, quote: &str) {
    let out = aws(bin, endpoint, args).await;
    let t = text(&out);
    assert!(!out.status.success(), "{args:?} succeeded: {t}");
    assert!(t.contains(kind) && t.contains(quote), "{args:?}: {t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_sees_eks_refuse_upgrades_and_roll_back_within_the_window() {
    let Some(bin) = find("aws") else {
        eprintln!("skipping: aws CLI not found on PATH");
        return;
    };
    let update = |version: &'static str, force: bool| {
        let mut a = vec![
            "eks",
            "update-cluster-version",
            "--name",
            "skew",
            "--kubernetes-version",
            version,
        ];
        if force {
            a.push("--force");
        }
        a
    };
    // Nodegroups behind the control plane: refused, force or not.
    let sb = frozen("addon-skew.yaml").await;
    let e = sb.endpoint();
    for force in [false, true] {
        aws_refused(
            &bin,
            &e,
            &update("1.30", force),
            "InvalidRequestException",
            "Nodegroups legacy, current must be updated to match cluster version 1.29",
        )
        .await;
    }
    // Two minors back is no rollback.
    aws_refused(
        &bin,
        &e,
        &update("1.27", true),
        "InvalidParameterException",
        "1.29 to 1.27",
    )
    .await;
    // Rollback readiness insights exist within the window, all passing here.
    let insights = json(
        &aws(
            &bin,
            &e,
            &[
                "eks",
                "list-insights",
                "--cluster-name",
                "skew",
                "--filter",
                "categories=ROLLBACK_READINESS",
            ],
        )
        .await,
    );
    let items = insights["insights"].as_array().unwrap();
    assert!(!items.is_empty());
    assert!(
        items
            .iter()
            .all(|i| i["insightStatus"]["status"] == "PASSING" && i["kubernetesVersion"] == "1.28"),
        "{items:?}"
    );
    let u = json(&aws(&bin, &e, &update("1.28", false)).await);
    assert_eq!(u["update"]["type"], "VersionRollback");
    assert_eq!(u["update"]["params"][0]["value"], "1.28");
    aws_refused(
        &bin,
        &e,
        &update("1.28", false),
        "ResourceInUseException",
        "in progress",
    )
    .await;
    sb.advance(std::time::Duration::from_secs(16 * 60));
    let c = json(&aws(&bin, &e, &["eks", "describe-cluster", "--name", "skew"]).await);
    assert_eq!(c["cluster"]["version"], "1.28");
    // 1.28 is where the cluster was created: nothing left to roll back.
    aws_refused(
        &bin,
        &e,
        &update("1.27", true),
        "InvalidRequestException",
        "created at 1.28",
    )
    .await;
    sb.shutdown().await;

    // After seven days the window is closed, force or not.
    let sb = frozen("addon-skew.yaml").await;
    let e = sb.endpoint();
    sb.advance(std::time::Duration::from_secs(7 * 24 * 3600 + 60));
    aws_refused(
        &bin,
        &e,
        &update("1.28", true),
        "InvalidRequestException",
        "more than 7 days ago",
    )
    .await;
    sb.shutdown().await;

    // An ERROR upgrade-readiness insight: refused unless --force.
    let sb = frozen("small.yaml").await;
    let e = sb.endpoint();
    let update = [
        "eks",
        "update-cluster-version",
        "--name",
        "demo",
        "--kubernetes-version",
        "1.29",
    ];
    aws_refused(
        &bin,
        &e,
        &update,
        "InvalidStateException",
        "upgrade readiness issues",
    )
    .await;
    let forced = json(&aws(&bin, &e, &[&update[..], &["--force"][..]].concat()).await);
    assert_eq!(forced["update"]["type"], "VersionUpdate");
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_release_versions_tags_configuration_and_paging() {
    let Some(bin) = find("aws") else {
        eprintln!("skipping: aws CLI not found on PATH");
        return;
    };
    let sb = frozen("demo.yaml").await;
    let e = sb.endpoint();
    aws_refused(
        &bin,
        &e,
        &[
            "eks",
            "update-nodegroup-version",
            "--cluster-name",
            "demo",
            "--nodegroup-name",
            "general",
            "--release-version",
            "1.28.15-20991231",
        ],
        "InvalidParameterException",
        "Requested release version 1.28.15-20991231 is not valid for kubernetes version 1.28",
    )
    .await;
    assert!(sb.nodegroups().iter().all(|n| n.status == "ACTIVE"));

    let arn = json(&aws(&bin, &e, &["eks", "describe-cluster", "--name", "demo"]).await)["cluster"]
        ["arn"]
        .as_str()
        .unwrap()
        .to_string();
    for args in [
        [
            "tag-resource",
            "--resource-arn",
            &arn,
            "--tags",
            "team=payments,change=CHG-42",
        ],
        [
            "untag-resource",
            "--resource-arn",
            &arn,
            "--tag-keys",
            "change",
        ],
    ] {
        let out = aws(&bin, &e, &[&["eks"][..], &args[..]].concat()).await;
        assert!(out.status.success(), "{args:?}: {}", text(&out));
    }
    let tags = json(
        &aws(
            &bin,
            &e,
            &["eks", "list-tags-for-resource", "--resource-arn", &arn],
        )
        .await,
    );
    assert_eq!(tags["tags"], serde_json::json!({"team": "payments"}));
    aws_refused(
        &bin,
        &e,
        &[
            "eks",
            "list-tags-for-resource",
            "--resource-arn",
            &arn.replace("demo", "other"),
        ],
        "NotFoundException",
        "not found",
    )
    .await;

    let conf = json(
        &aws(
            &bin,
            &e,
            &[
                "eks",
                "describe-addon-configuration",
                "--addon-name",
                "coredns",
                "--addon-version",
                "v1.10.1-eksbuild.17",
            ],
        )
        .await,
    );
    let schema: serde_json::Value =
        serde_json::from_str(conf["configurationSchema"].as_str().unwrap()).unwrap();
    assert!(schema["definitions"]["Config"]["properties"]["replicaCount"].is_object());

    // The CLI follows server-side pages, or stops after --max-items.
    let all = json(
        &aws(
            &bin,
            &e,
            &[
                "eks",
                "list-nodegroups",
                "--cluster-name",
                "demo",
                "--page-size",
                "1",
            ],
        )
        .await,
    );
    assert_eq!(
        all["nodegroups"],
        serde_json::json!(["general", "data", "system"])
    );
    let some = json(
        &aws(
            &bin,
            &e,
            &[
                "eks",
                "list-nodegroups",
                "--cluster-name",
                "demo",
                "--max-items",
                "2",
                "--page-size",
                "1",
            ],
        )
        .await,
    );
    assert_eq!(some["nodegroups"], serde_json::json!(["general", "data"]));
    assert!(some["NextToken"].is_string(), "{some}");
    let pages = sb
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/node-groups") && r.query.contains("maxResults=1"))
        .count();
    assert!(pages >= 3, "one request per page of one: {pages}");
    sb.shutdown().await;
}
