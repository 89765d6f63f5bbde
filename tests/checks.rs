//! Custom checks: the stdlib against JSON snapshots, the sandbox limits, the
//! return protocol, and compile diagnostics with exact locations.

use std::time::{Duration, Instant};

use runbook::checks::{
    self, CheckError, CheckOutcome, CheckRunner, ClusterSnapshot, CompiledCheck, Limits, Origin,
    Params,
};
use runbook::diagnostic::Diagnostic;
use runbook::source::{SourceFile, SourceMap};
use serde_json::{Value, json};

fn pod(ns: &str, name: &str, image: &str, labels: Value) -> Value {
    json!({
        "namespace": ns, "name": name, "node": "ip-10-0-1-1", "phase": "Running", "ready": true,
        "labels": labels, "containers": [{"name": "main", "image": image}],
        "created": "2026-01-01T00:00:00Z"
    })
}

const ECR: &str = "602401143452.dkr.ecr.us-west-2.amazonaws.com";

/// A small healthy 1.29 cluster: every stdlib check passes on it.
fn healthy() -> Value {
    json!({
        "collected_at": "2026-01-10T12:00:00Z",
        "cluster": {
            "name": "prod", "version": "1.29", "platform_version": "eks.7", "status": "ACTIVE",
            "addons": [
                {"name": "vpc-cni", "version": "v1.16.0-eksbuild.1", "status": "ACTIVE", "catalog": [
                    {"version": "v1.16.0-eksbuild.1", "compatible": ["1.27", "1.28", "1.29", "1.30"], "default_for": ["1.29"]},
                    {"version": "v1.18.1-eksbuild.1", "compatible": ["1.28", "1.29", "1.30", "1.31"], "default_for": ["1.30", "1.31"]}
                ]},
                {"name": "kube-proxy", "version": "v1.29.0-eksbuild.1", "status": "ACTIVE", "catalog": [
                    {"version": "v1.29.0-eksbuild.1", "compatible": ["1.29"], "default_for": ["1.29"]},
                    {"version": "v1.30.0-eksbuild.3", "compatible": ["1.30"], "default_for": ["1.30"]}
                ]}
            ]
        },
        "nodegroups": [{"name": "main", "version": "1.29", "status": "ACTIVE", "desired_size": 2}],
        "nodes": [
            {"name": "ip-10-0-1-1", "nodegroup": "main", "kubelet_version": "v1.29.3-eks-ae9a62a", "ready": true},
            {"name": "ip-10-0-1-2", "nodegroup": "main", "kubelet_version": "v1.29.3-eks-ae9a62a", "ready": true}
        ],
        "pods": [
            pod("kube-system", "coredns-1", &format!("{ECR}/eks/coredns:v1.11.1-eksbuild.4"), json!({"k8s-app": "kube-dns"})),
            pod("kube-system", "coredns-2", &format!("{ECR}/eks/coredns:v1.11.1-eksbuild.4"), json!({"k8s-app": "kube-dns"})),
            pod("kube-system", "aws-node-a", &format!("{ECR}/amazon-k8s-cni:v1.16.0-eksbuild.1"), json!({"k8s-app": "aws-node"})),
            pod("default", "web-1", "public.ecr.aws/nginx/nginx:1.25", json!({"app": "web"})),
            pod("default", "web-2", "public.ecr.aws/nginx/nginx:1.25", json!({"app": "web"}))
        ],
        "deployments": [
            {"namespace": "kube-system", "name": "coredns", "replicas": 2, "ready_replicas": 2, "selector": {"k8s-app": "kube-dns"}},
            {"namespace": "default", "name": "web", "replicas": 2, "ready_replicas": 2, "selector": {"app": "web"}}
        ],
        "daemonsets": [
            {"namespace": "kube-system", "name": "kube-proxy", "replicas": 2, "ready_replicas": 2,
             "images": [format!("{ECR}/eks/kube-proxy:v1.29.0-minimal-eksbuild.1")]},
            {"namespace": "kube-system", "name": "aws-node", "replicas": 2, "ready_replicas": 2}
        ],
        "pdbs": [{"namespace": "default", "name": "web", "min_available": 1, "selector": {"app": "web"}, "expected_pods": 2, "disruptions_allowed": 1}],
        "pvcs": [{"namespace": "default", "name": "data-db-0", "phase": "Bound"}],
        "insights": [
            {"id": "i-1", "name": "Deprecated APIs removed in Kubernetes v1.29", "category": "UPGRADE_READINESS",
             "kubernetes_version": "1.29", "status": "PASSING"}
        ]
    })
}

fn stdlib(name: &str) -> (CompiledCheck, SourceMap) {
    let check = checks::stdlib_check(name).unwrap_or_else(|| panic!("no stdlib check {name}"));
    let mut sources = SourceMap::new();
    let file = sources.add(SourceFile::new(check.path, None, check.source.to_string()));
    match checks::compile(name, check.source, &Origin::file(file)) {
        Ok(c) => (c, sources),
        Err(ds) => panic!("{}", render(&ds, &sources)),
    }
}

fn render(ds: &[Diagnostic], sources: &SourceMap) -> String {
    ds.iter()
        .map(|d| d.plain(sources))
        .collect::<Vec<_>>()
        .join("\n")
}

fn params(v: Value) -> Params {
    serde_json::from_value(v).unwrap()
}

fn try_run(name: &str, snapshot: &Value, p: Value) -> Result<CheckOutcome, CheckError> {
    let (check, _) = stdlib(name);
    let snapshot: ClusterSnapshot = serde_json::from_value(snapshot.clone()).unwrap();
    CheckRunner::default().run(&check, &snapshot.to_script().unwrap(), &params(p))
}

fn run(name: &str, snapshot: &Value, p: Value) -> CheckOutcome {
    try_run(name, snapshot, p).unwrap_or_else(|e| panic!("{e}"))
}

fn offenders(o: &CheckOutcome) -> Vec<String> {
    o.offenders.iter().map(ToString::to_string).collect()
}

fn assert_passes(name: &str, snapshot: &Value, p: Value) {
    let o = run(name, snapshot, p);
    assert!(o.passed, "{name} failed: {} {:?}", o.message, offenders(&o));
    assert!(o.offenders.is_empty());
}

fn assert_fails(name: &str, snapshot: &Value, p: Value, offender: &[&str]) -> CheckOutcome {
    let o = run(name, snapshot, p);
    assert!(!o.passed, "{name} passed: {}", o.message);
    let got = offenders(&o);
    assert_eq!(got.len(), offender.len(), "{got:#?}");
    for (g, want) in got.iter().zip(offender) {
        assert!(g.contains(want), "offender `{g}` lacks `{want}`");
    }
    o
}

#[test]
fn every_stdlib_check_compiles_and_passes_a_healthy_cluster() {
    assert_eq!(checks::STDLIB.len(), 10);
    for check in checks::STDLIB {
        assert_passes(check.name, &healthy(), json!({}));
        // The embedded copy is the one on disk.
        let on_disk =
            std::fs::read_to_string(format!("stdlib/checks/{}.rhai", check.name)).unwrap();
        assert_eq!(on_disk, check.source);
    }
}

#[test]
fn no_docker_hub_images_flags_hub_images_and_honours_allowed() {
    let mut s = healthy();
    s["pods"][3]["containers"][0]["image"] = json!("nginx:1.25");
    let o = assert_fails(
        "no_docker_hub_images",
        &s,
        json!({}),
        &["Pod default/web-1: container main pulls nginx:1.25 from docker.io"],
    );
    assert_eq!(o.message, "1 container(s) pull from Docker Hub");

    let allowed = json!({"allowed": ["*.amazonaws.com", "public.ecr.aws"]});
    assert_passes("no_docker_hub_images", &healthy(), allowed);
    assert_fails(
        "no_docker_hub_images",
        &healthy(),
        json!({"allowed": "*.amazonaws.com"}),
        &["Pod default/web-1", "Pod default/web-2"],
    );
}

#[test]
fn no_latest_tags_flags_latest_and_untagged_but_not_digests() {
    let mut s = healthy();
    s["pods"][3]["containers"][0]["image"] = json!("public.ecr.aws/nginx/nginx");
    s["pods"][4]["containers"][0]["image"] = json!("busybox:latest");
    s["pods"][0]["containers"][0]["image"] = json!("public.ecr.aws/x/y@sha256:abcd");
    assert_fails(
        "no_latest_tags",
        &s,
        json!({}),
        &[
            "Pod default/web-1: container main image public.ecr.aws/nginx/nginx has no tag",
            "Pod default/web-2: container main image busybox:latest uses :latest",
        ],
    );
}

#[test]
fn pdbs_allow_eviction_flags_budgets_that_block_drains() {
    // Single replica with minAvailable 1: the incident.
    let mut s = healthy();
    s["pods"].as_array_mut().unwrap().remove(4);
    s["pdbs"][0]["expected_pods"] = json!(1);
    assert_fails(
        "pdbs_allow_eviction",
        &s,
        json!({}),
        &["PodDisruptionBudget default/web: minAvailable 1 with 1 replica(s)"],
    );

    // Without a status count, the covered pods are counted by selector.
    s["pdbs"][0]["expected_pods"] = json!(0);
    assert_fails(
        "pdbs_allow_eviction",
        &s,
        json!({}),
        &["minAvailable 1 with 1 replica(s)"],
    );

    let mut s = healthy();
    s["pdbs"][0] = json!({"namespace": "default", "name": "web", "max_unavailable": 0, "selector": {"app": "web"}});
    assert_fails(
        "pdbs_allow_eviction",
        &s,
        json!({}),
        &["maxUnavailable is 0"],
    );

    let mut s = healthy();
    s["pdbs"][0]["min_available"] = json!("100%");
    assert_fails(
        "pdbs_allow_eviction",
        &s,
        json!({}),
        &["minAvailable is 100%"],
    );

    // A budget that selects nothing blocks nothing.
    let mut s = healthy();
    s["pdbs"][0]["selector"] = json!({"app": "gone"});
    s["pdbs"][0]["expected_pods"] = json!(0);
    assert_passes("pdbs_allow_eviction", &s, json!({}));
}

#[test]
fn addons_compatible_checks_the_catalog_for_the_target() {
    let o = assert_fails(
        "addons_compatible",
        &healthy(),
        json!({"target": "1.30"}),
        &[
            "Addon kube-proxy: v1.29.0-eksbuild.1 does not support Kubernetes 1.30; update to v1.30.0-eksbuild.3",
        ],
    );
    assert_eq!(o.message, "1 add-on(s) do not support Kubernetes 1.30");
    assert_fails(
        "addons_compatible",
        &healthy(),
        json!({"target": "1.31"}),
        &[
            "Addon vpc-cni: v1.16.0-eksbuild.1 does not support Kubernetes 1.31; update to v1.18.1",
            "Addon kube-proxy: v1.29.0-eksbuild.1 does not support Kubernetes 1.31; no catalog version",
        ],
    );
    let mut s = healthy();
    s["cluster"]["addons"][0]["version"] = json!("v0.0.1");
    assert_fails(
        "addons_compatible",
        &s,
        json!({}),
        &["Addon vpc-cni: version v0.0.1 is not in the EKS add-on catalog"],
    );
}

#[test]
fn version_skew_checks_kubelets_and_kube_proxy_against_the_control_plane() {
    assert_passes("version_skew", &healthy(), json!({"target": "1.30"}));
    let mut s = healthy();
    s["nodes"][1]["kubelet_version"] = json!("v1.25.16-eks-1234");
    assert_fails(
        "version_skew",
        &s,
        json!({}),
        &["Node ip-10-0-1-2: kubelet v1.25.16-eks-1234 is 4 minors behind"],
    );
    assert_fails(
        "version_skew",
        &healthy(),
        json!({"target": "1.33", "max_skew": 3}),
        &[
            "DaemonSet kube-system/kube-proxy: kube-proxy v1.29.0-minimal-eksbuild.1 is 4 minors behind",
            "Node ip-10-0-1-1",
            "Node ip-10-0-1-2",
        ],
    );
    let mut s = healthy();
    s["cluster"]["version"] = json!("1.28");
    s["daemonsets"][0]["images"] = json!([]);
    assert_fails(
        "version_skew",
        &s,
        json!({}),
        &[
            "kube-proxy v1.29.0-eksbuild.1 is newer than the control plane 1.28",
            "Node ip-10-0-1-1: kubelet v1.29.3-eks-ae9a62a is newer",
            "Node ip-10-0-1-2",
        ],
    );
}

#[test]
fn no_deprecated_apis_reads_upgrade_insights() {
    let mut s = healthy();
    s["insights"][0] = json!({
        "id": "i-2", "name": "Deprecated APIs removed in Kubernetes v1.32", "category": "UPGRADE_READINESS",
        "kubernetes_version": "1.32", "status": "ERROR", "reason": "Deprecated API usage detected",
        "deprecations": [{"usage": "/apis/flowcontrol.apiserver.k8s.io/v1beta3/flowschemas",
            "replaced_with": "/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas", "stop_serving_version": "1.32"}]
    });
    assert_fails(
        "no_deprecated_apis",
        &s,
        json!({"target": "1.32"}),
        &[
            "API /apis/flowcontrol.apiserver.k8s.io/v1beta3/flowschemas: removed in 1.32; use /apis/flowcontrol.apiserver.k8s.io/v1/flowschemas",
        ],
    );
    // Not removed until after the target.
    assert_passes("no_deprecated_apis", &s, json!({"target": "1.30"}));
    s["insights"][0]["status"] = json!("WARNING");
    assert_passes("no_deprecated_apis", &s, json!({}));
    assert_fails(
        "no_deprecated_apis",
        &s,
        json!({"strict": true}),
        &["API /apis/flowcontrol"],
    );
}

#[test]
fn nothing_terminating_flags_objects_stuck_past_the_threshold() {
    let mut s = healthy();
    s["pods"][3]["deletion_timestamp"] = json!("2026-01-10T11:48:00Z");
    s["pods"][4]["deletion_timestamp"] = json!("2026-01-10T11:59:00Z");
    s["pvcs"][0]["deletion_timestamp"] = json!("2026-01-10T09:30:00Z");
    s["pvcs"][0]["finalizers"] = json!(["kubernetes.io/pvc-protection"]);
    assert_fails(
        "nothing_terminating",
        &s,
        json!({}),
        &[
            "Pod default/web-1: Terminating for 12m0s on node ip-10-0-1-1",
            "PersistentVolumeClaim default/data-db-0: Terminating for 2h30m, held by",
        ],
    );
    assert_fails(
        "nothing_terminating",
        &s,
        json!({"older_than": "30s"}),
        &["web-1", "web-2", "data-db-0"],
    );
    // A finalizer holds the claim: flagged whatever the threshold.
    assert_fails(
        "nothing_terminating",
        &s,
        json!({"older_than": "3h"}),
        &["data-db-0"],
    );
    s["pvcs"][0]["finalizers"] = json!([]);
    assert_passes("nothing_terminating", &s, json!({"older_than": "3h"}));
    let err = try_run("nothing_terminating", &s, json!({"older_than": "soon"})).unwrap_err();
    assert!(err.message.contains("`soon` is not a duration"), "{err}");
}

/// Seed 002: the PVC of `vmstorage-0` was deleted a minute before the run
/// and still held by its protection finalizer; the run went ahead and
/// recreated the pod onto it. Held objects are flagged at once.
#[test]
fn nothing_terminating_flags_what_a_finalizer_holds_at_once() {
    let mut s = healthy();
    s["pvcs"][0]["deletion_timestamp"] = json!("2026-01-10T11:59:00Z");
    s["pvcs"][0]["finalizers"] = json!(["kubernetes.io/pvc-protection"]);
    let o = assert_fails(
        "nothing_terminating",
        &s,
        json!({}),
        &[
            "PersistentVolumeClaim default/data-db-0: Terminating for 1m0s, held by finalizer [\"kubernetes.io/pvc-protection\"]",
        ],
    );
    assert!(o.message.contains("held by a finalizer"), "{}", o.message);
    s["pods"][3]["deletion_timestamp"] = json!("2026-01-10T11:59:50Z");
    s["pods"][3]["finalizers"] = json!(["example.com/drain-hook"]);
    assert_fails(
        "nothing_terminating",
        &s,
        json!({}),
        &[
            "Pod default/web-1: Terminating for 10s on node ip-10-0-1-1, held by finalizer",
            "data-db-0",
        ],
    );
    // Without a finalizer a fresh deletion is just in progress.
    s["pvcs"][0]["finalizers"] = json!([]);
    s["pods"][3]["finalizers"] = json!([]);
    assert_passes("nothing_terminating", &s, json!({}));
}

/// The skew guard names what lags: kube-proxy (update the add-on) or the
/// kubelets (rotate the nodegroups), and judges one of them on request.
#[test]
fn version_skew_names_the_component_that_lags() {
    let mut s = healthy();
    s["daemonsets"][0]["images"] =
        json!([format!("{ECR}/eks/kube-proxy:v1.25.16-minimal-eksbuild.1")]);
    let o = assert_fails(
        "version_skew",
        &s,
        json!({"target": "1.29"}),
        &[
            "kube-proxy v1.25.16-minimal-eksbuild.1 is 4 minors behind",
            "Node ip-10-0-1-1: kube-proxy",
            "Node ip-10-0-1-2: kube-proxy",
        ],
    );
    assert!(
        o.message.starts_with("kube-proxy v1.25.16"),
        "{}",
        o.message
    );
    assert!(!o.message.contains("node(s)"), "{}", o.message);
    // Only the kubelets: they are fine, kube-proxy is what lags.
    assert_passes(
        "version_skew",
        &s,
        json!({"target": "1.29", "only": "kubelet"}),
    );
    assert!(
        !run(
            "version_skew",
            &s,
            json!({"target": "1.29", "only": "kube-proxy"})
        )
        .passed
    );

    let mut s = healthy();
    s["nodes"][1]["kubelet_version"] = json!("v1.25.16-eks-1234");
    let o = run("version_skew", &s, json!({"target": "1.29"}));
    assert!(
        o.message.starts_with("1 node(s)' kubelet outside"),
        "{}",
        o.message
    );
    assert_passes(
        "version_skew",
        &s,
        json!({"target": "1.29", "only": "kube-proxy"}),
    );
    let err = try_run("version_skew", &s, json!({"only": "proxy"})).unwrap_err();
    assert!(err.message.contains("only must be"), "{err}");
}

/// A seed-000-like cluster: 1.25 with Istio 1.13 and Calico 3.21 running.
fn seed_000() -> Value {
    let mut s = healthy();
    s["cluster"]["version"] = json!("1.25");
    for n in s["nodes"].as_array_mut().unwrap() {
        n["kubelet_version"] = json!("v1.25.16-eks-ae9a62a");
    }
    s["deployments"].as_array_mut().unwrap().push(json!({
        "namespace": "istio-system", "name": "istiod", "replicas": 2, "ready_replicas": 2,
        "images": ["docker.io/istio/pilot:1.13.4"]
    }));
    s["daemonsets"].as_array_mut().unwrap().push(json!({
        "namespace": "kube-system", "name": "calico-node", "replicas": 2, "ready_replicas": 2,
        "images": ["docker.io/calico/cni:v3.21.5", "docker.io/calico/node:v3.21.5"]
    }));
    s["pods"].as_array_mut().unwrap().push(pod(
        "default",
        "web-sidecar",
        "docker.io/istio/proxyv2:1.13.4",
        json!({"app": "web"}),
    ));
    s
}

#[test]
fn third_party_compatible_refuses_istio_and_calico_left_behind() {
    let s = seed_000();
    let o = assert_fails(
        "third_party_compatible",
        &s,
        json!({"target": "1.28"}),
        &[
            "Deployment istio-system/istiod: Istio 1.13 (1.13.4) supports Kubernetes 1.20 to 1.23, not 1.28",
            "DaemonSet kube-system/calico-node: Calico 3.21 (v3.21.5) supports Kubernetes 1.20 to 1.22, not 1.28",
        ],
    );
    assert!(
        o.message.contains("2 third-party component(s)"),
        "{}",
        o.message
    );
    // Each offender cites the matrix it was judged by.
    assert!(offenders(&o)[0].contains("istio.io/latest/docs/releases/supported-releases"));
    // Already out of range at the current minor, too.
    assert!(!run("third_party_compatible", &s, json!({})).passed);
    // In step: Istio 1.19 and Calico 3.26 support 1.25 to 1.27.
    let mut s = seed_000();
    s["deployments"][2]["images"] = json!(["docker.io/istio/pilot:1.19.3"]);
    s["pods"][5]["containers"][0]["image"] = json!("docker.io/istio/proxyv2:1.19.3");
    s["daemonsets"][2]["images"] = json!(["docker.io/calico/node:v3.26.1"]);
    assert_passes("third_party_compatible", &s, json!({"target": "1.27"}));
    // Calico's page for 3.26 lists 1.28 too (added 2023-10-26).
    assert_passes("third_party_compatible", &s, json!({"target": "1.28"}));
    assert_fails(
        "third_party_compatible",
        &s,
        json!({"target": "1.29"}),
        &[
            "Istio 1.19 (1.19.3) supports Kubernetes 1.25 to 1.28, not 1.29",
            "Calico 3.26 (v3.26.1) supports Kubernetes 1.24 to 1.28, not 1.29",
        ],
    );
    // A release newer than the target is refused too.
    assert_fails(
        "third_party_compatible",
        &s,
        json!({"target": "1.23"}),
        &["Istio 1.19", "Calico 3.26"],
    );
}

#[test]
fn third_party_compatible_covers_every_listed_component() {
    let cases = [
        (
            "quay.io/jetstack/cert-manager-controller:v1.11.0",
            "1.28",
            "cert-manager 1.11",
        ),
        (
            "registry.k8s.io/ingress-nginx/controller:v1.8.1@sha256:e5c4",
            "1.28",
            "ingress-nginx 1.8",
        ),
        (
            "602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon/aws-load-balancer-controller:v2.3.1",
            "1.22",
            "AWS Load Balancer Controller 2.3",
        ),
        (
            "public.ecr.aws/karpenter/controller:0.37.0",
            "1.31",
            "Karpenter 0.37",
        ),
        (
            "registry.k8s.io/autoscaling/cluster-autoscaler:v1.28.2",
            "1.29",
            "cluster-autoscaler 1.28",
        ),
    ];
    for (image, target, who) in cases {
        let mut s = healthy();
        s["deployments"].as_array_mut().unwrap().push(json!({
            "namespace": "tools", "name": "component", "replicas": 1, "ready_replicas": 1, "images": [image]
        }));
        assert_fails(
            "third_party_compatible",
            &s,
            json!({"target": target}),
            &[who],
        );
    }
    // cluster-autoscaler is judged in lockstep; a newer LBC has no upper bound.
    let mut s = healthy();
    s["deployments"].as_array_mut().unwrap().push(json!({
        "namespace": "kube-system", "name": "ca", "replicas": 1, "ready_replicas": 1,
        "images": ["registry.k8s.io/autoscaling/cluster-autoscaler:v1.29.0", "public.ecr.aws/eks/aws-load-balancer-controller:v2.7.2"]
    }));
    assert_passes("third_party_compatible", &s, json!({"target": "1.29"}));
}

/// One deployment running `image` in an otherwise healthy cluster.
fn running(image: &str) -> Value {
    let mut s = healthy();
    s["deployments"].as_array_mut().unwrap().push(json!({
        "namespace": "tools", "name": "component", "replicas": 1, "ready_replicas": 1, "images": [image]
    }));
    s
}

/// Rows checked against each project's own statement on 2026-11-28: each
/// case is one the previous table got wrong (see the table's comments).
#[test]
fn third_party_compatible_follows_each_projects_published_range() {
    let refused = [
        // Calico 3.30's page now lists 1.31-1.35 (was 1.30-1.33).
        (
            "quay.io/calico/node:v3.30.2",
            "1.30",
            "Calico 3.30 (v3.30.2) supports Kubernetes 1.31 to 1.35, not 1.30",
        ),
        // cert-manager 1.12 LTS: 1.22 → 1.32 (was 1.29).
        (
            "quay.io/jetstack/cert-manager-controller:v1.12.16",
            "1.33",
            "cert-manager 1.12 (v1.12.16) supports Kubernetes 1.22 to 1.32, not 1.33",
        ),
        // ingress-nginx v1.10.1+ lists 1.30, v1.10.0 does not.
        (
            "registry.k8s.io/ingress-nginx/controller:v1.10.6",
            "1.31",
            "ingress-nginx 1.10 (v1.10.6) supports Kubernetes 1.26 to 1.30, not 1.31",
        ),
        (
            "registry.k8s.io/ingress-nginx/controller:v1.10.0",
            "1.30",
            "ingress-nginx 1.10.0 (v1.10.0) supports Kubernetes 1.26 to 1.29, not 1.30",
        ),
        // The LBC v2.0.0~v2.1.3 "requires Kubernetes 1.15-1.21" (had no max).
        (
            "public.ecr.aws/eks/aws-load-balancer-controller:v2.1.3",
            "1.22",
            "AWS Load Balancer Controller 2.1 (v2.1.3) supports Kubernetes 1.15 to 1.21, not 1.22",
        ),
        // Karpenter 1.9: minK8sVersion 1.26 (was 1.29); 1.0.0-1.0.4 stop at 1.30.
        (
            "public.ecr.aws/karpenter/controller:1.9.0",
            "1.36",
            "Karpenter 1.9 (1.9.0) supports Kubernetes 1.26 to 1.35, not 1.36",
        ),
        (
            "public.ecr.aws/karpenter/controller:1.0.4",
            "1.31",
            "Karpenter 1.0.4 (1.0.4) supports Kubernetes 1.25 to 1.30, not 1.31",
        ),
    ];
    for (image, target, why) in refused {
        assert_fails(
            "third_party_compatible",
            &running(image),
            json!({"target": target}),
            &[why],
        );
    }
    // ... and what the previous table refused but the projects support.
    let supported = [
        ("quay.io/calico/node:v3.30.2", "1.35"),
        ("quay.io/jetstack/cert-manager-controller:v1.12.16", "1.32"),
        ("registry.k8s.io/ingress-nginx/controller:v1.10.6", "1.30"),
        ("public.ecr.aws/karpenter/controller:1.9.0", "1.28"),
        ("public.ecr.aws/karpenter/controller:1.0.5", "1.31"),
    ];
    for (image, target) in supported {
        assert_passes(
            "third_party_compatible",
            &running(image),
            json!({"target": target}),
        );
    }
}

/// A user's own entries: a component the table lacks, and a correction.
#[test]
fn third_party_compatible_is_extended_by_the_callers_table() {
    let mut s = seed_000();
    s["deployments"].as_array_mut().unwrap().push(json!({
        "namespace": "linkerd", "name": "linkerd-destination", "replicas": 1, "ready_replicas": 1,
        "images": ["cr.l5d.io/linkerd/controller:2.14.1"]
    }));
    let extra = json!([
        {"name": "Linkerd", "images": ["linkerd/controller"], "source": "https://linkerd.io/releases/",
         "releases": [{"v": "2.14", "min": "1.21", "max": "1.27"}]},
        {"name": "Istio", "releases": [{"v": "1.13", "min": "1.20", "max": "1.28"}]},
        {"name": "Calico", "releases": [{"v": "3.21", "min": "1.20", "max": "1.28"}]}
    ]);
    assert_fails(
        "third_party_compatible",
        &s,
        json!({"target": "1.28", "extra": extra}),
        &[
            "Deployment linkerd/linkerd-destination: Linkerd 2.14 (2.14.1) supports Kubernetes 1.21 to 1.27, not 1.28; upgrade it in step (https://linkerd.io/releases/)",
        ],
    );
    assert_passes(
        "third_party_compatible",
        &s,
        json!({"target": "1.27", "extra": extra}),
    );
}

#[test]
fn kube_system_ready_flags_unready_pods_and_workloads() {
    let mut s = healthy();
    s["pods"][2]["ready"] = json!(false);
    s["pods"][2]["phase"] = json!("Pending");
    s["pods"][2]["waiting_reason"] = json!("ImagePullBackOff");
    s["daemonsets"][1]["ready_replicas"] = json!(1);
    assert_fails(
        "kube_system_ready",
        &s,
        json!({}),
        &[
            "DaemonSet kube-system/aws-node: 1/2 ready",
            "Pod kube-system/aws-node-a: not ready (ImagePullBackOff)",
        ],
    );
}

#[test]
fn replicated_deployments_flags_single_replicas() {
    let mut s = healthy();
    s["deployments"][1]["replicas"] = json!(1);
    assert_fails(
        "replicated_deployments",
        &s,
        json!({}),
        &["Deployment default/web: 1 replica(s), want at least 2"],
    );
    assert_passes("replicated_deployments", &s, json!({"min_replicas": 1}));
    assert_passes(
        "replicated_deployments",
        &s,
        json!({"exclude_namespaces": ["default"]}),
    );
    s["deployments"][1]["replicas"] = json!(0);
    assert_passes("replicated_deployments", &s, json!({}));
}

// ---- sandbox limits and refusals ----

fn inline(source: &str) -> Result<CompiledCheck, (Vec<Diagnostic>, SourceMap)> {
    let mut sources = SourceMap::new();
    let file = sources.add(SourceFile::new("t.rhai", None, source.to_string()));
    checks::compile("t", source, &Origin::file(file)).map_err(|d| (d, sources))
}

fn run_script(source: &str, limits: Limits) -> (Result<CheckOutcome, CheckError>, Duration) {
    let check = inline(source).unwrap_or_else(|(d, s)| panic!("{}", render(&d, &s)));
    let snapshot: ClusterSnapshot = serde_json::from_value(healthy()).unwrap();
    let values = snapshot.to_script().unwrap();
    let start = Instant::now();
    let result = CheckRunner::new(limits).run(&check, &values, &Params::new());
    (result, start.elapsed())
}

fn stopped(source: &str, limits: Limits) -> CheckError {
    let (result, elapsed) = run_script(source, limits);
    let err = result.expect_err("the script should have been stopped");
    assert_eq!(err.code, checks::LIMIT_EXCEEDED, "{err}");
    // Loose: the precise speed belongs to a benchmark.
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
    err
}

#[test]
fn an_infinite_loop_is_stopped_by_the_operation_limit() {
    let err = stopped("loop { }", Limits::default());
    assert_eq!(
        err.message,
        "check `t` stopped: exceeded 1000000 operations"
    );
    assert!(err.span.is_some());
}

#[test]
fn an_infinite_loop_is_stopped_by_the_deadline() {
    let limits = Limits {
        max_operations: 0, // unlimited: only the clock can stop it
        timeout: Duration::from_millis(100),
        ..Limits::default()
    };
    let err = stopped("let i = 0; while true { i += 1; }", limits);
    assert_eq!(err.message, "check `t` stopped: exceeded time limit 100ms");
}

#[test]
fn deep_recursion_is_stopped_by_the_call_depth_limit() {
    let err = stopped("fn down(n) { down(n + 1) } down(0)", Limits::default());
    assert_eq!(err.message, "check `t` stopped: exceeded call depth 64");
}

#[test]
fn a_huge_string_is_stopped_by_the_size_limit() {
    let err = stopped(r#"let s = "xxxxxxxx"; loop { s += s; }"#, Limits::default());
    assert_eq!(
        err.message,
        "check `t` stopped: exceeded string size 1048576 bytes"
    );
    let err = stopped("let a = [1]; loop { a += a; }", Limits::default());
    assert_eq!(
        err.message,
        "check `t` stopped: exceeded array size 100000 elements"
    );
}

fn compile_error(source: &str) -> (Diagnostic, String) {
    let (ds, sources) = inline(source).expect_err("should not compile");
    (ds[0].clone(), ds[0].plain(&sources))
}

#[test]
fn import_and_eval_are_refused_at_compile_time() {
    let (d, plain) = compile_error("import \"fs\" as fs;\npass(\"x\")");
    assert_eq!(d.code, checks::FORBIDDEN);
    assert_eq!(
        plain,
        "t.rhai:1:1: error[UPG083]: check `t` uses `import`, which the check sandbox refuses"
    );
    let (d, plain) = compile_error("let x = 1;\neval(\"x + 1\")");
    assert_eq!(
        plain,
        "t.rhai:2:1: error[UPG083]: check `t` uses `eval`, which the check sandbox refuses"
    );
    assert!(d.help.unwrap().contains("cannot load modules or code"));
    // A function pointer to `eval` gets past the parser but not the engine.
    let (result, _) = run_script(
        "let f = Fn(\"eval\"); f.call(\"1 + 1\") == 2",
        Limits::default(),
    );
    let err = result.unwrap_err();
    assert_eq!(err.code, checks::RUNTIME_ERROR);
    assert!(
        err.message.contains("'eval' is a reserved keyword"),
        "{err}"
    );
}

#[test]
fn reading_a_file_is_an_unknown_function() {
    let (d, plain) = compile_error("let text = read_file(\"/etc/passwd\");\ntext == \"\"");
    assert_eq!(d.code, checks::UNKNOWN_FUNCTION);
    assert_eq!(
        plain,
        "t.rhai:1:12: error[UPG081]: check `t` calls unknown function `read_file`"
    );
    assert!(d.help.unwrap().contains("no files, network or modules"));
    let (d, _) = compile_error("let f = open_file(\"/etc/passwd\"); f.read_string()");
    assert_eq!(d.code, checks::UNKNOWN_FUNCTION);
}

#[test]
fn known_functions_with_wrong_arguments_and_unknown_variables_are_reported() {
    let (d, plain) = compile_error("pods.len() > 0 && minor(\"1.29\", 2) > 0");
    assert_eq!(d.code, checks::WRONG_ARITY);
    assert_eq!(
        plain,
        "t.rhai:1:19: error[UPG082]: check `t`: `minor` takes 1 argument(s), not 2"
    );
    let (d, plain) = compile_error("let n = 1;\nnodez.len() > n");
    assert_eq!(d.code, checks::SYNTAX_ERROR);
    assert_eq!(
        plain,
        "t.rhai:2:1: error[UPG080]: check `t`: unknown variable `nodez`"
    );
    assert!(d.help.unwrap().contains("cluster, nodegroups, nodes"));
    let (d, _) = compile_error("pods.timestamp() == ()");
    assert_eq!(d.code, checks::WRONG_ARITY);
    assert_eq!(
        d.message,
        "check `t`: `timestamp` cannot be called as a method; call `timestamp()`"
    );
    // Script-defined functions, closures in variables and method calls are fine.
    assert!(
        inline("fn twice(x) { x * 2 } let f = |x| x + 1; f(twice(1)) == 3 && pods.len() > 0")
            .is_ok()
    );
}

#[test]
fn inline_compile_errors_point_into_the_upg_file() {
    let upg = "runbook demo \"d\" {\n  check ready {\n    \"\"\"\n    let n = nodes.len();\n    n > = 1\n    \"\"\"\n  }\n}\n";
    let body_start = upg.find("\"\"\"").unwrap() + 3;
    let body_end = upg[body_start..].find("\"\"\"").unwrap() + body_start;
    let mut sources = SourceMap::new();
    let file = sources.add(SourceFile::new("demo.upg", None, upg.to_string()));
    let ds = checks::compile(
        "ready",
        &upg[body_start..body_end],
        &Origin::inline(file, body_start),
    )
    .expect_err("syntax error");
    assert_eq!(ds[0].code, checks::SYNTAX_ERROR);
    let plain = ds[0].plain(&sources);
    assert!(
        plain.starts_with("demo.upg:5:9: error[UPG080]: check `ready`:"),
        "{plain}"
    );
    let rendered = ds[0].render(&sources, false);
    assert!(rendered.contains("demo.upg:5:9"), "{rendered}");

    let upg2 = upg.replace("n > = 1", "n > 0 && frobnicate(n)");
    let body_end = upg2[body_start..].find("\"\"\"").unwrap() + body_start;
    let ds = checks::compile(
        "ready",
        &upg2[body_start..body_end],
        &Origin::inline(file, body_start),
    )
    .expect_err("unknown function");
    let mut sources = SourceMap::new();
    sources.add(SourceFile::new("demo.upg", None, upg2.to_string()));
    assert_eq!(
        ds[0].plain(&sources),
        "demo.upg:5:14: error[UPG081]: check `ready` calls unknown function `frobnicate`"
    );
}

#[test]
fn compiled_checks_and_snapshots_can_cross_into_spawn_blocking() {
    fn send_sync_static<T: Send + Sync + 'static>() {}
    send_sync_static::<CompiledCheck>();
    send_sync_static::<checks::ScriptValues>();
    send_sync_static::<CheckRunner>();
    send_sync_static::<CheckError>();
}

// ---- the return protocol ----

#[test]
fn results_can_be_bools_maps_or_helpers_and_anything_else_is_an_error() {
    let ok = |src: &str| run_script(src, Limits::default()).0.unwrap();
    assert!(ok("true").passed);
    assert!(!ok("nodes.len() > 5").passed);
    let o = ok(
        r#"#{ ok: false, message: "no", offenders: ["Node a", #{kind: "Pod", namespace: "ns", name: "p", reason: "why"}] }"#,
    );
    assert_eq!((o.passed, o.message.as_str()), (false, "no"));
    assert_eq!(offenders(&o), ["Node a", "Pod ns/p: why"]);

    let err = |src: &str| run_script(src, Limits::default()).0.unwrap_err();
    let e = err("42");
    assert_eq!(
        (e.code, e.message.as_str()),
        (
            checks::BAD_RESULT,
            "check `t` returned a value of type `i64`, not a result"
        )
    );
    let e = err("#{ message: \"x\" }");
    assert_eq!(e.code, checks::BAD_RESULT);
    let e = err("\nthrow \"cluster looks odd\"");
    assert_eq!(
        (e.code, e.message.as_str()),
        (checks::RUNTIME_ERROR, "check `t` threw: cluster looks odd")
    );
    assert!(e.to_diagnostic().primary_span().is_some());
}

#[test]
fn print_and_debug_go_to_the_run_log_and_the_snapshot_is_read_only() {
    let (result, _) = run_script(
        "print(`nodes: ${nodes.len()}`); debug(cluster.version); pass(\"ok\")",
        Limits::default(),
    );
    let o = result.unwrap();
    assert_eq!(o.logs, ["nodes: 2", "[debug line 1] \"1.29\""]);
    let (result, _) = run_script("nodes.clear(); true", Limits::default());
    assert_eq!(result.unwrap_err().code, checks::RUNTIME_ERROR);
}

#[test]
fn helpers_are_callable_from_scripts() {
    let src = r#"
        let img = parse_image("nginx");
        img.registry == "docker.io" && img.repository == "library/nginx" && img.tag == "latest"
            && version_cmp("1.29", "v1.30.1") == -1 && version_ge("1.30", "1.29") && version_lt("1.28", "1.29")
            && minor("v1.29.3-eks-1") == 29 && duration("1h30m") == 5400 && duration(90) == 90
            && age("2026-01-10T11:00:00Z") == 3600
            && selector_matches(#{app: "web"}, pods[3].labels)
    "#;
    assert!(run_script(src, Limits::default()).0.unwrap().passed);
}

// ---- helpers never panic on arbitrary input ----

proptest::proptest! {
    #[test]
    fn helper_parsers_reject_garbage_without_panicking(s in "\\PC{0,40}") {
        let _ = checks::parse_image_ref(&s);
        let _ = checks::parse_duration_secs(&s);
        let _ = checks::compare_versions(&s, "1.29");
    }

    #[test]
    fn image_references_round_trip(
        registry in "(docker\\.io|public\\.ecr\\.aws|[a-z]{1,8}\\.example\\.com:5000)",
        repo in "[a-z]{1,8}/[a-z0-9]{1,8}",
        tag in "[a-z0-9][a-z0-9.]{0,8}",
    ) {
        let image = checks::parse_image_ref(&format!("{registry}/{repo}:{tag}")).unwrap();
        proptest::prop_assert_eq!(image.registry, registry);
        proptest::prop_assert_eq!(image.repository, repo);
        proptest::prop_assert_eq!(image.tag, tag);
    }
}

// ---- against the sandbox, through the real clients ----

mod sandboxed {
    use super::*;
    use runbook::cloud::{Clock, eks::Eks, kube::Kube};
    use runbook::sandbox::{Fixture, Sandbox, SandboxOptions};

    struct Live {
        sandbox: Sandbox,
        snapshot: ClusterSnapshot,
        kube: Kube,
        eks: Eks,
    }

    /// Start a frozen-clock sandbox from a fixture and collect a snapshot
    /// through aws-sdk-eks and kube-rs, exactly as the engine does.
    async fn live(path: &str) -> Live {
        live_with(path, |yaml| yaml).await
    }

    /// Like `live`, after editing the fixture's YAML text.
    async fn live_with(path: &str, edit: impl FnOnce(String) -> String) -> Live {
        let yaml = edit(std::fs::read_to_string(path).unwrap());
        let fixture =
            Fixture::from_yaml(path, &yaml).unwrap_or_else(|e| panic!("{}", e.render(false)));
        let opts = SandboxOptions {
            time_scale: 0.0,
            ..SandboxOptions::default()
        };
        let sandbox = Sandbox::start(fixture, opts).await.expect("sandbox starts");
        let eks_config = aws_sdk_eks::Config::builder()
            .behavior_version(aws_sdk_eks::config::BehaviorVersion::latest())
            .region(aws_sdk_eks::config::Region::new(sandbox.region()))
            .endpoint_url(sandbox.endpoint())
            .credentials_provider(aws_sdk_eks::config::Credentials::new(
                "sandbox", "sandbox", None, None, "test",
            ))
            .build();
        let eks = aws_sdk_eks::Client::from_conf(eks_config);
        let kubeconfig = kube::config::Kubeconfig::from_yaml(&sandbox.kubeconfig_yaml()).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .unwrap();
        let kube = Kube::new(kube::Client::try_from(config).unwrap(), Clock::real());
        let eks = Eks::new(eks, Clock::real());
        let snapshot = checks::collect(&kube, &eks, &sandbox.cluster_name())
            .await
            .expect("collects");
        Live {
            sandbox,
            snapshot,
            kube,
            eks,
        }
    }

    fn run_on(name: &str, snapshot: &ClusterSnapshot, p: Value) -> CheckOutcome {
        let (check, _) = stdlib(name);
        CheckRunner::default()
            .run(&check, &snapshot.to_script().unwrap(), &params(p))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn collect_reads_the_cluster_read_only() {
        let Live {
            sandbox, snapshot, ..
        } = live("examples/sandbox/small.yaml").await;
        assert!(sandbox.mutations().is_empty(), "{:?}", sandbox.mutations());
        let s = &snapshot;
        assert_eq!(
            (s.cluster.name.as_str(), s.cluster.version.as_str()),
            ("demo", "1.28")
        );
        assert_eq!(s.cluster.addons.len(), 4);
        let kube_proxy = s
            .cluster
            .addons
            .iter()
            .find(|a| a.name == "kube-proxy")
            .unwrap();
        assert_eq!(kube_proxy.version, "v1.28.15-eksbuild.31");
        assert!(
            kube_proxy
                .catalog
                .iter()
                .any(|v| v.compatible.contains(&"1.28".to_string()))
        );
        assert_eq!(s.nodegroups.len(), 3);
        assert_eq!(s.nodes.len(), 8);
        assert!(
            s.nodes
                .iter()
                .all(|n| n.kubelet_version.contains("1.28") && !n.nodegroup.is_empty())
        );
        assert!(
            s.pods
                .iter()
                .any(|p| p.namespace == "shop" && p.name.starts_with("web-"))
        );
        assert!(
            s.deployments
                .iter()
                .any(|d| d.name == "checkout" && d.replicas == 1)
        );
        assert!(s.statefulsets.iter().any(|d| d.name == "postgres"));
        assert!(s.pdbs.iter().any(|p| p.name == "web"));
        assert!(!s.pvcs.is_empty());
        let deprecated = s
            .insights
            .iter()
            .find(|i| i.name.contains("Deprecated APIs"))
            .unwrap();
        assert_eq!(
            deprecated.deprecations[0].usage,
            "flowcontrol.apiserver.k8s.io/v1beta2/flowschemas"
        );
        sandbox.shutdown().await;
    }

    #[tokio::test]
    async fn stdlib_checks_judge_the_sandbox_cluster() {
        let Live {
            sandbox, snapshot, ..
        } = live("examples/sandbox/small.yaml").await;
        let o = run_on("no_docker_hub_images", &snapshot, json!({}));
        assert!(!o.passed);
        assert!(!o.offenders.is_empty());
        assert!(
            o.offenders
                .iter()
                .all(|x| x.object.starts_with("Pod tools/metrics-proxy-")
                    && x.reason.contains("docker.io/library/haproxy:2.9")),
            "{:?}",
            o.offenders
        );
        let o = run_on("no_deprecated_apis", &snapshot, json!({"target": "1.29"}));
        assert!(!o.passed);
        assert_eq!(
            offenders(&o)[0],
            "API flowcontrol.apiserver.k8s.io/v1beta2/flowschemas: removed in 1.29; use flowcontrol.apiserver.k8s.io/v1beta3/flowschemas"
        );
        assert!(run_on("addons_compatible", &snapshot, json!({})).passed);
        let o = run_on("addons_compatible", &snapshot, json!({"target": "1.29"}));
        assert!(
            offenders(&o).iter().any(|x| x.starts_with(
                "Addon kube-proxy: v1.28.15-eksbuild.31 does not support Kubernetes 1.29"
            )),
            "{:?}",
            offenders(&o)
        );
        for name in [
            "version_skew",
            "kube_system_ready",
            "nothing_terminating",
            "pdbs_allow_eviction",
            "no_latest_tags",
        ] {
            let o = run_on(name, &snapshot, json!({}));
            assert!(o.passed, "{name}: {} {:?}", o.message, offenders(&o));
        }
        let o = run_on("replicated_deployments", &snapshot, json!({}));
        assert!(
            offenders(&o)
                .iter()
                .any(|x| x.starts_with("Deployment shop/checkout: 1 replica(s)")),
            "{:?}",
            offenders(&o)
        );
        sandbox.shutdown().await;
    }

    #[tokio::test]
    async fn pdbs_allow_eviction_catches_the_blocked_drain_fixture() {
        let Live {
            sandbox, snapshot, ..
        } = live("examples/sandbox/pdb-blocked.yaml").await;
        let o = run_on("pdbs_allow_eviction", &snapshot, json!({}));
        assert!(!o.passed);
        assert_eq!(
            offenders(&o),
            ["PodDisruptionBudget shop/checkout: minAvailable 1 with 1 replica(s)"]
        );
        sandbox.shutdown().await;
    }

    #[tokio::test]
    async fn version_skew_catches_a_nodegroup_left_behind() {
        let Live {
            sandbox, snapshot, ..
        } = live_with("examples/sandbox/small.yaml", |yaml| {
            yaml.replacen(
                "  - name: data\n",
                "  - name: data\n    version: \"1.25\"\n",
                1,
            )
        })
        .await;
        // Within policy today (3 behind); the next hop would leave it 4 behind.
        assert!(run_on("version_skew", &snapshot, json!({})).passed);
        let o = run_on("version_skew", &snapshot, json!({"target": "1.29"}));
        let got = offenders(&o);
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(
            got.iter().all(|x| x.starts_with("Node ")
                && x.contains("is 4 minors behind the control plane 1.29")),
            "{got:?}"
        );
        sandbox.shutdown().await;
    }

    #[tokio::test]
    async fn nothing_terminating_catches_a_pvc_stuck_on_its_finalizer() {
        use k8s_openapi::api::core::v1::PersistentVolumeClaim;
        let live = live_with("examples/sandbox/small.yaml", |yaml| {
            yaml.replacen(
                "      volumeSize: 20Gi\n",
                "      volumeSize: 20Gi\n      stuckPvcFinalizer: true\n",
                1,
            )
        })
        .await;
        let pvc = live.snapshot.pvcs[0].clone();
        assert!(pvc.deletion_timestamp.is_empty());
        let api: kube::Api<PersistentVolumeClaim> =
            kube::Api::namespaced(live.kube.client().clone(), &pvc.namespace);
        api.delete(&pvc.name, &Default::default())
            .await
            .expect("delete accepted");

        let mut later = checks::collect(&live.kube, &live.eks, "demo")
            .await
            .unwrap();
        let stuck = later
            .pvcs
            .iter()
            .find(|p| p.name == pvc.name)
            .expect("still there");
        assert!(!stuck.deletion_timestamp.is_empty());
        assert!(!stuck.finalizers.is_empty());
        // The sandbox clock is frozen; look at the same cluster ten minutes on.
        let deleted: jiff::Timestamp = stuck.deletion_timestamp.parse().unwrap();
        later.collected_at = (deleted + jiff::SignedDuration::from_mins(10)).to_string();
        let o = run_on("nothing_terminating", &later, json!({}));
        assert_eq!(offenders(&o).len(), 1, "{:?}", offenders(&o));
        assert!(
            offenders(&o)[0].starts_with(&format!(
                "PersistentVolumeClaim {}/{}: Terminating for 10m0s, held by",
                pvc.namespace, pvc.name
            )),
            "{:?}",
            offenders(&o)
        );
        // Held by its finalizer: flagged whatever the threshold, and a
        // minute after the delete as well (seed 002).
        assert!(!run_on("nothing_terminating", &later, json!({"older_than": "15m"})).passed);
        later.collected_at = (deleted + jiff::SignedDuration::from_mins(1)).to_string();
        let o = run_on("nothing_terminating", &later, json!({}));
        assert!(
            offenders(&o)[0].contains("Terminating for 1m0s, held by finalizer"),
            "{:?}",
            offenders(&o)
        );
        live.sandbox.shutdown().await;
    }

    #[tokio::test]
    async fn no_latest_tags_catches_an_untagged_image() {
        let Live {
            sandbox, snapshot, ..
        } = live_with("examples/sandbox/small.yaml", |yaml| {
            yaml.replacen(
                "image: public.ecr.aws/nginx/nginx:1.27",
                "image: public.ecr.aws/nginx/nginx",
                1,
            )
        })
        .await;
        let o = run_on("no_latest_tags", &snapshot, json!({}));
        let got = offenders(&o);
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(
            got.iter().all(
                |x| x.starts_with("Pod shop/web-") && x.ends_with("has no tag (means :latest)")
            ),
            "{got:?}"
        );
        sandbox.shutdown().await;
    }

    #[tokio::test]
    async fn kube_system_ready_catches_image_pull_backoff_after_docker_hub_limits() {
        use k8s_openapi::api::apps::v1::Deployment;
        let live = live_with("examples/sandbox/small.yaml", |yaml| {
            yaml.replacen(
                "  deployments:\n",
                "  deployments:\n    - name: dns-autoscaler\n      namespace: kube-system\n      replicas: 1\n      image: cpa/cluster-proportional-autoscaler:1.8.9\n",
                1,
            )
            .replace("pullsPer6h: 100", "pullsPer6h: 1")
        })
        .await;
        assert!(run_on("kube_system_ready", &live.snapshot, json!({})).passed);
        // New replicas land on nodes that never pulled the image; Docker Hub
        // allows one more pull.
        let api: kube::Api<Deployment> =
            kube::Api::namespaced(live.kube.client().clone(), "kube-system");
        let scale = kube::api::Patch::Merge(json!({"spec": {"replicas": 5}}));
        api.patch("dns-autoscaler", &Default::default(), &scale)
            .await
            .expect("scaled");
        live.sandbox.advance(Duration::from_secs(60));
        let later = checks::collect(&live.kube, &live.eks, "demo")
            .await
            .unwrap();
        let o = run_on("kube_system_ready", &later, json!({}));
        assert!(
            !o.passed,
            "{:?}",
            later
                .pods
                .iter()
                .filter(|p| p.namespace == "kube-system")
                .collect::<Vec<_>>()
        );
        let got = offenders(&o);
        assert!(
            got.iter()
                .any(|x| x.starts_with("Deployment kube-system/dns-autoscaler: ")),
            "{got:?}"
        );
        assert!(
            got.iter().any(
                |x| x.starts_with("Pod kube-system/dns-autoscaler-") && x.contains("ImagePull")
            ),
            "{got:?}"
        );
        live.sandbox.shutdown().await;
    }
}

#[test]
fn a_check_declares_the_params_its_script_reads() {
    use runbook::checks::ParamsRead;
    let names = |source: &str| match inline(source).map_err(|(d, _)| d).unwrap().params() {
        ParamsRead::Names(n) => Some(n.iter().cloned().collect::<Vec<_>>()),
        ParamsRead::Any => None,
    };
    assert_eq!(
        names(
            "let t = params.target ?? cluster.version; let n = params.min.to_int(); pass(`${t}${n}`)"
        ),
        Some(vec!["min".to_string(), "target".to_string()])
    );
    assert_eq!(
        names("let a = params.allowed[0]; let b = params.names.len(); pass(`${a}${b}`)"),
        Some(vec!["allowed".to_string(), "names".to_string()])
    );
    assert_eq!(names("pass(\"none\")"), Some(vec![]));
    // Used whole: any name may be read.
    assert_eq!(
        names("let k = \"min\"; let v = params[k]; pass(`${v}`)"),
        None
    );
    assert_eq!(names("let n = params.keys().len(); pass(`${n}`)"), None);
    // The stdlib documents what it reads.
    let (c, _) = stdlib("addons_compatible");
    assert_eq!(
        c.params(),
        &ParamsRead::Names(["target".to_string()].into_iter().collect())
    );
}

#[test]
fn print_output_is_bounded_per_run_with_a_note_saying_how_much_was_cut() {
    // 300 prints of 1 MB: 300 MB before output was bounded.
    let (result, _) = run_script(
        "let s = \"x\"; s.pad(1000000, 'y'); for i in 0..300 { print(s); } debug(\"end\"); pass(\"ok\")",
        Limits::default(),
    );
    let o = result.unwrap();
    assert!(o.passed);
    let kept: usize = o.logs.iter().map(String::len).sum();
    let limit = Limits::default().max_log_bytes;
    let note = o.logs.last().unwrap();
    assert!(
        kept <= limit + note.len() + 4,
        "{kept} bytes kept, limit {limit}"
    );
    assert!(note.starts_with("[output cut: "), "{note}");
    assert!(
        note.contains("301 lines"),
        "300 prints and the debug line: {note}"
    );
}

/// `runbook check` on a file in a temporary directory: exit code and stderr.
fn check_file(text: &str, extra: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in extra {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    std::fs::write(dir.path().join("main.upg"), text).unwrap();
    let out = crate::common::bin::command()
        .args(["check", "--color", "never", "main.upg"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn one_check_run_reports_every_diagnostic_of_a_file_rhai_ones_included() {
    // Before: a syntax error in the rhai file hid the unknown function, which
    // hid the unread argument; a bad literal hid `every 0s`.
    let rhai = "let t = params.target;\nlet x = ;\nfrobnicate(nodes);\npass(\"ok\")\n";
    let upg = r#"
check c "three mistakes" from "c.rhai"
runbook r "d" {
  param cluster: string
  gate g {
    k8s.nodes().all(n => n.ready)
    within 10q every 0s
  }
  precondition "p" { check.c(target: "1.30", tagret: "1.31") }
}
"#;
    let (status, err) = check_file(upg, &[("c.rhai", rhai)]);
    assert_eq!(status, 1);
    for code in ["UPG002", "UPG031", "UPG080", "UPG081", "UPG037"] {
        assert!(err.contains(code), "{code} missing:\n{err}");
    }
    // `target` is read on a line that parses; only `tagret` is unread.
    assert_eq!(err.matches("UPG037").count(), 1, "{err}");
    assert!(err.contains("tagret"), "{err}");
    // The placeholder the bad duration left is not reported again.
    assert_eq!(err.matches("UPG002").count(), 1, "{err}");
}

/// `runbook check --format json` on `main.upg` (and `extra` files): every
/// diagnostic as `CODE file:line:col`.
fn check_json(text: &str, extra: &[(&str, &str)]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in extra {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    std::fs::write(dir.path().join("main.upg"), text).unwrap();
    let out = crate::common::bin::command()
        .args(["check", "--format", "json", "main.upg"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let items: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    items
        .iter()
        .map(|d| {
            let l = &d["location"];
            format!(
                "{} {}:{}:{}",
                d["code"].as_str().unwrap(),
                l["file"].as_str().unwrap(),
                l["line"],
                l["column"]
            )
        })
        .collect()
}

#[test]
fn every_rhai_syntax_error_of_a_check_is_reported_located_in_one_run() {
    // Four separate mistakes in a file: one on the line that opens a block
    // (its `}` must still close it), one an unclosed `(` inside it, and
    // variables declared on bad lines (`a`, `c`) used at the end: no mistake
    // may hide the next, nor make a line after it look wrong.
    let rhai = "let n = nodes.len();\n\
                let a = ;\n\
                if n > > 0 {\n\
                \x20 let b = (n, ;\n\
                }\n\
                let c = n * * 2;\n\
                pass(\"ok \" + a + c)\n";
    // Two in an inline check (its body starts on line 4 of main.upg).
    let upg = "check f \"file\" from \"c.rhai\"\n\
               check i \"inline\" {\n\
               \x20 \"\"\"\n\
               \x20 let x = ;\n\
               \x20 let y = nodes.len() > ;\n\
               \x20 pass(\"ok\")\n\
               \x20 \"\"\"\n\
               }\n\
               runbook r \"d\" { log \"x\" }\n";
    let found = check_json(upg, &[("c.rhai", rhai)]);
    assert_eq!(
        found,
        [
            "UPG080 main.upg:4:11",
            "UPG080 main.upg:5:25",
            "UPG080 c.rhai:2:9",
            "UPG080 c.rhai:3:8",
            "UPG080 c.rhai:4:13",
            "UPG080 c.rhai:6:13",
        ],
        "every syntax error, each at its place, and nothing else"
    );
}

#[test]
fn deleting_a_nodegroup_must_be_declared_irreversible_and_the_control_plane_needs_a_rollback() {
    let upg = r#"
runbook r "d" {
  param cluster: string
  step "remove canary" {
    eks.delete_nodegroup(cluster, "canary")
  }
  step "control plane" {
    eks.update_cluster_version(cluster, 1.30)
  }
}
"#;
    let (status, err) = check_file(upg, &[]);
    assert_eq!(status, 1, "{err}");
    assert_eq!(err.matches("UPG026").count(), 1, "{err}");
    // EKS rolls a control plane back one minor within 7 days: its step is
    // undoable, so it needs a rollback block, not the marker.
    assert_eq!(err.matches("UPG027").count(), 1, "{err}");
    assert!(
        err.contains("`eks.delete_nodegroup` cannot be undone"),
        "{err}"
    );
    let fixed = upg
        .replace("\"remove canary\" {", "\"remove canary\" irreversible {")
        .replace(
            "eks.update_cluster_version(cluster, 1.30)\n",
            "eks.update_cluster_version(cluster, 1.30)\n    rollback { eks.update_cluster_version(cluster, 1.29) }\n",
        );
    let (status, err) = check_file(&fixed, &[]);
    assert_eq!(status, 0, "{err}");
}

#[test]
fn numeric_arguments_are_range_checked_in_literals_defaults_and_environments() {
    let upg = r#"
runbook r "d" {
  param cluster: string
  param batch: int = 1
  environment big { batch = 101 }
  step "rotate" {
    nodegroup.rotate(cluster, "a", max_unavailable: batch, parallelism: 0, grace_period: 2d)
    eks.update_nodegroup_config(cluster, "a", max_size: 451, min_size: -1)
    rollback { log "x" }
  }
}
"#;
    let (status, err) = check_file(upg, &[]);
    assert_eq!(status, 1, "{err}");
    for what in [
        "`max_unavailable: 101`",
        "`parallelism: 0`",
        "`grace_period: 2d`",
        "`max_size: 451`",
        "`min_size: -1`",
    ] {
        assert!(err.contains(what), "{what} not reported:\n{err}");
    }
    assert_eq!(err.matches("UPG038").count(), 5, "{err}");
}

/// A production-sized cluster: 15,000 pods share a few images. The check
/// once kept one entry per pod and stopped at its string limit (1 MiB) on
/// the generated 1,000-node fixture, refusing the dry run.
#[test]
fn third_party_compatible_judges_fifteen_thousand_pods_within_its_limits() {
    let mut s = seed_000();
    let pods = s["pods"].as_array_mut().unwrap();
    for i in 0..15_000 {
        pods.push(pod(
            "shop",
            &format!("checkout-7d9f8c6b5-{i:05}"),
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/checkout:2024.11.3",
            json!({"app": "checkout"}),
        ));
    }
    assert_fails(
        "third_party_compatible",
        &s,
        json!({"target": "1.28"}),
        &[
            "Istio 1.13 (1.13.4) supports Kubernetes 1.20 to 1.23, not 1.28",
            "Calico 3.21 (v3.21.5) supports Kubernetes 1.20 to 1.22, not 1.28",
        ],
    );
}

/// A production-sized namespace: 30,000 pods under a budget whose status has
/// no count yet, so the check counts the pods it selects. The check once
/// gathered every pod's labels per namespace, and rhai re-measured that list
/// against its size limits on every push (quadratic): on the generated
/// 1,000-node fixture it stopped at its 10 s time limit and refused the dry
/// run. Here the old script stops the same way.
#[test]
fn pdbs_allow_eviction_counts_thirty_thousand_pods_within_its_limits() {
    let mut s = healthy();
    let pods = s["pods"].as_array_mut().unwrap();
    for i in 0..30_000 {
        pods.push(pod(
            "shop",
            &format!("checkout-7d9f8c6b5-{i:05}"),
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/checkout:2024.11.3",
            json!({"app": "checkout", "pod-template-hash": "7d9f8c6b5"}),
        ));
    }
    // A terminating pod is not counted.
    let mut leaving = pod(
        "shop",
        "checkout-7d9f8c6b5-leaving",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/checkout:2024.11.3",
        json!({"app": "checkout"}),
    );
    leaving["deletion_timestamp"] = json!("2026-01-10T11:59:00Z");
    pods.push(leaving);
    s["pdbs"].as_array_mut().unwrap().push(json!({
        "namespace": "shop", "name": "checkout", "min_available": 30_000,
        "selector": {"app": "checkout"}, "expected_pods": 0
    }));
    assert_fails(
        "pdbs_allow_eviction",
        &s,
        json!({}),
        &["PodDisruptionBudget shop/checkout: minAvailable 30000 with 30000 replica(s)"],
    );
    // One more allowed disruption than that passes: every pod was counted.
    s["pdbs"][1]["min_available"] = json!(29_999);
    assert_passes("pdbs_allow_eviction", &s, json!({}));
}

/// `import "stdlib/..."` resolves to copies embedded at build time. They
/// must be this checkout's files: the build script once embedded absolute
/// paths of the checkout it was first compiled in, and cargo reuses that
/// script across checkouts sharing a target directory, so a release binary
/// ran another checkout's (older) stdlib checks.
#[test]
fn the_embedded_stdlib_is_this_checkouts() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("stdlib");
    let embedded = runbook::syntax::stdlib_files();
    assert!(embedded.len() >= 13, "{}", embedded.len());
    for (rel, text) in embedded {
        let on_disk = std::fs::read_to_string(root.join(rel)).unwrap();
        assert!(
            *text == on_disk,
            "embedded stdlib/{rel} differs from the file"
        );
    }
}

/// A dry run LISTs every pod once. The checks' snapshot and each nodegroup's
/// drain plan (four here, at once under `parallel for`) each made their own
/// LIST of all pods: on 30,000 pods, 50 MB of JSON apiece.
#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_lists_every_pod_once() {
    use runbook::sandbox::{Fixture, GenerateOptions, Sandbox, SandboxOptions};
    let sandbox = Sandbox::start(
        Fixture::generate(GenerateOptions {
            nodes: 40,
            pods: 600,
            nodegroups: 4,
            seed: 1,
        }),
        SandboxOptions {
            time_scale: crate::common::SCALE,
            ..SandboxOptions::default()
        },
    )
    .await
    .unwrap();
    let cloud = crate::common::connect(&sandbox).await;
    let program =
        runbook::syntax::load(&crate::common::root().join("playbooks/eks-minor-upgrade.upg"))
            .unwrap_or_else(|_| panic!("the shipped playbook loads"));
    let (summary, lines) = crate::common::execute(
        &program,
        &cloud,
        None,
        &["cluster=scale", "target=1.29"],
        true,
        None,
    )
    .await;
    assert_eq!(
        summary.status,
        runbook::interp::RunStatus::Planned,
        "{}",
        lines.join("\n")
    );
    assert!(
        lines.iter().filter(|l| l.contains("evict ")).count() >= 4,
        "every group's drain is planned:\n{}",
        lines.join("\n")
    );
    let pod_lists = sandbox
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/api/v1/pods")
        .count();
    assert_eq!(pod_lists, 1, "{}", lines.join("\n"));
}
