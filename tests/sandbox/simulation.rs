//! Simulated incidents and state machinery, observed through real clients.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};

use super::common::{control_plane_and_kube_proxy_to_1_29, eks, frozen, kube};

#[tokio::test]
async fn docker_hub_rate_limit_puts_pods_in_image_pull_back_off_until_the_window_resets() {
    let sb = frozen("dockerhub-ratelimit.yaml").await;
    let client = kube(&sb).await;
    let deploys: Api<Deployment> = Api::namespaced(client, "edge");
    let patch = serde_json::json!({"spec": {"replicas": 16}});
    deploys
        .patch("proxy", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    sb.advance(Duration::from_secs(60));
    let proxies: Vec<_> = sb
        .pods()
        .into_iter()
        .filter(|p| p.name.starts_with("proxy-"))
        .collect();
    assert_eq!(proxies.len(), 16);
    let failing = |reason: &str| {
        sb.pods()
            .into_iter()
            .filter(|p| p.name.starts_with("proxy-") && p.waiting_reason.as_deref() == Some(reason))
            .count()
    };
    assert!(failing("ErrImagePull") > 0, "{proxies:?}");
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(kube(&sb).await, "edge");
    let pull_failures = events
        .list(&ListParams::default().fields("reason=Failed"))
        .await
        .unwrap();
    assert!(!pull_failures.items.is_empty());
    assert!(
        pull_failures.items[0]
            .message
            .as_deref()
            .unwrap()
            .contains("toomanyrequests")
    );
    sb.advance(Duration::from_secs(5 * 60));
    assert!(failing("ImagePullBackOff") > 0);
    // A new 6-hour window lets the pulls through.
    sb.advance(Duration::from_secs(6 * 3600));
    let proxies: Vec<_> = sb
        .pods()
        .into_iter()
        .filter(|p| p.name.starts_with("proxy-"))
        .collect();
    assert!(proxies.iter().all(|p| p.ready), "{proxies:?}");
    sb.shutdown().await;
}

#[tokio::test]
async fn pvc_with_a_foreign_finalizer_stays_terminating() {
    let sb = frozen("stuck-pvc.yaml").await;
    let client = kube(&sb).await;
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client, "ledger");
    let all = pvcs.list(&ListParams::default()).await.unwrap();
    assert_eq!(all.items.len(), 3);
    assert!(
        all.items
            .iter()
            .all(|p| p.status.as_ref().unwrap().phase.as_deref() == Some("Bound"))
    );
    pvcs.delete("data-ledger-db-0", &DeleteParams::default())
        .await
        .unwrap();
    sb.advance(Duration::from_secs(600));
    let stuck = pvcs.get("data-ledger-db-0").await.unwrap();
    assert!(stuck.metadata.deletion_timestamp.is_some());
    let clear = serde_json::json!({"metadata": {"finalizers": null}});
    pvcs.patch(
        "data-ledger-db-0",
        &PatchParams::default(),
        &Patch::Merge(&clear),
    )
    .await
    .unwrap();
    assert!(pvcs.get_opt("data-ledger-db-0").await.unwrap().is_none());
    sb.shutdown().await;
}

#[tokio::test]
async fn external_rollback_makes_our_nodegroup_update_conflict() {
    let sb = frozen("small.yaml").await;
    let eks = eks(&sb);
    assert!(sb.trigger_external_rollback("general", "1.28").is_some());
    let err = eks
        .update_nodegroup_version()
        .cluster_name("demo")
        .nodegroup_name("general")
        .release_version("1.28.15-20250820")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_in_use_exception(), "{err:?}");
    let ids = eks
        .list_updates()
        .name("demo")
        .nodegroup_name("general")
        .send()
        .await
        .unwrap();
    assert_eq!(ids.update_ids().len(), 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn insights_report_skew_addon_compatibility_and_deprecated_apis() {
    let sb = frozen("small.yaml").await;
    let eks = eks(&sb);
    let out = eks
        .list_insights()
        .cluster_name("demo")
        .send()
        .await
        .unwrap();
    let by_name = |name: &str| {
        out.insights()
            .iter()
            .find(|i| i.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no insight {name}"))
            .clone()
    };
    let kubelet = by_name("Kubelet version skew");
    assert_eq!(
        kubelet.insight_status.unwrap().status.unwrap().as_str(),
        "PASSING"
    );
    let deprecated = by_name("Deprecated APIs removed in Kubernetes v1.29");
    assert_eq!(
        deprecated
            .insight_status
            .clone()
            .unwrap()
            .status
            .unwrap()
            .as_str(),
        "ERROR"
    );
    let detail = eks
        .describe_insight()
        .cluster_name("demo")
        .id(deprecated.id.unwrap())
        .send()
        .await
        .unwrap()
        .insight
        .unwrap();
    let summary = detail.category_specific_summary.unwrap();
    let d = &summary.deprecation_details()[0];
    assert_eq!(
        d.usage.as_deref(),
        Some("flowcontrol.apiserver.k8s.io/v1beta2/flowschemas")
    );
    let errors = eks
        .list_insights()
        .cluster_name("demo")
        .filter(
            aws_sdk_eks::types::InsightsFilter::builder()
                .statuses(aws_sdk_eks::types::InsightStatusValue::Error)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(errors.insights().iter().all(|i| {
        i.insight_status
            .as_ref()
            .unwrap()
            .status
            .as_ref()
            .unwrap()
            .as_str()
            == "ERROR"
    }));
    sb.shutdown().await;
}

#[tokio::test]
async fn watch_streams_changes_after_a_resource_version() {
    let sb = super::common::scaled("small.yaml", 1.0).await;
    let client = kube(&sb).await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let list = cms.list(&ListParams::default()).await.unwrap();
    let rv = list.metadata.resource_version.unwrap();
    let stream = cms
        .watch(&WatchParams::default().timeout(10), &rv)
        .await
        .unwrap();
    let mut stream = stream.boxed();
    let cm: ConfigMap = serde_json::from_value(
        serde_json::json!({"metadata": {"name": "probe"}, "data": {"k": "v"}}),
    )
    .unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match first {
        WatchEvent::Added(o) => assert_eq!(o.metadata.name.as_deref(), Some("probe")),
        other => panic!("unexpected {other:?}"),
    }
    cms.delete("probe", &DeleteParams::default()).await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(next, WatchEvent::Deleted(_)), "{next:?}");
    sb.shutdown().await;
}

#[tokio::test]
async fn same_seed_same_requests_same_world() {
    async fn run() -> Vec<(String, Option<String>)> {
        let sb = frozen("small.yaml").await;
        let eks = eks(&sb);
        control_plane_and_kube_proxy_to_1_29(&sb, &eks).await;
        eks.update_nodegroup_version()
            .cluster_name("demo")
            .nodegroup_name("data")
            .send()
            .await
            .unwrap();
        sb.advance(Duration::from_secs(30 * 60));
        let pods = sb.pods().into_iter().map(|p| (p.name, p.node)).collect();
        sb.shutdown().await;
        pods
    }
    assert_eq!(run().await, run().await);
}

#[tokio::test]
async fn generated_cluster_rotates_every_nodegroup_and_keeps_its_pods() {
    let sb = runbook::sandbox::Sandbox::start(
        runbook::sandbox::Fixture::generated(60, 1800),
        runbook::sandbox::SandboxOptions {
            time_scale: 0.0,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let running = |sb: &runbook::sandbox::Sandbox| sb.pods().iter().filter(|p| p.ready).count();
    assert_eq!(sb.pods().len(), 1800);
    assert_eq!(running(&sb), 1800);
    let eks = eks(&sb);
    eks.update_cluster_version()
        .name("scale")
        .version("1.29")
        .send()
        .await
        .unwrap();
    sb.advance(Duration::from_secs(26 * 60));
    eks.update_addon()
        .cluster_name("scale")
        .addon_name("kube-proxy")
        .addon_version("v1.29.15-eksbuild.16")
        .send()
        .await
        .unwrap();
    sb.advance(Duration::from_secs(3 * 60));
    for ng in sb.nodegroups() {
        eks.update_nodegroup_version()
            .cluster_name("scale")
            .nodegroup_name(&ng.name)
            .send()
            .await
            .unwrap();
    }
    sb.advance(Duration::from_secs(90 * 60));
    assert!(
        sb.nodegroups()
            .iter()
            .all(|n| n.version == "1.29" && n.status == "ACTIVE"),
        "{:?}",
        sb.nodegroups()
    );
    let nodes = sb.nodes();
    assert_eq!(nodes.len(), 60);
    assert!(nodes.iter().all(|n| n.version == "1.29" && n.ready));
    assert_eq!(sb.pods().len(), 1800);
    assert_eq!(running(&sb), 1800);
    sb.shutdown().await;
}

/// Seed 001's other half: a kube-proxy four minors behind the API server
/// (outside the skew policy) crash-loops on every node, so Service traffic
/// from those nodes breaks, while every node stays Ready. Gates see it in the
/// kube-proxy DaemonSet's readiness; updating kube-proxy to the cluster's
/// build restores it.
#[tokio::test]
async fn kube_proxy_outside_the_skew_policy_breaks_service_traffic_but_nodes_stay_ready() {
    use k8s_openapi::api::apps::v1::DaemonSet;
    let path = super::common::example("addon-skew.yaml");
    let yaml = std::fs::read_to_string(&path).unwrap().replace(
        "kube-proxy: v1.26.15-eksbuild.19",
        "kube-proxy: v1.25.16-eksbuild.8",
    );
    let fixture = runbook::sandbox::Fixture::from_yaml("seed-001.yaml", &yaml).unwrap();
    let sb = runbook::sandbox::Sandbox::start(
        fixture,
        runbook::sandbox::SandboxOptions {
            time_scale: 0.0,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    sb.advance(Duration::from_secs(60));
    let nodes = sb.nodes();
    assert_eq!(nodes.len(), 4);
    assert!(nodes.iter().all(|n| n.ready), "{nodes:?}");
    let ds: Api<DaemonSet> = Api::namespaced(kube(&sb).await, "kube-system");
    let ready = |d: &DaemonSet| {
        let s = d.status.clone().unwrap();
        (s.number_ready, s.desired_number_scheduled)
    };
    assert_eq!(ready(&ds.get("kube-proxy").await.unwrap()), (0, 4));
    let aws_node = ready(&ds.get("aws-node").await.unwrap());
    assert_eq!(aws_node, (4, 4), "pod networking is fine");
    eks(&sb)
        .update_addon()
        .cluster_name("skew")
        .addon_name("kube-proxy")
        .addon_version("v1.29.15-eksbuild.16")
        .send()
        .await
        .unwrap();
    sb.advance(Duration::from_secs(5 * 60));
    assert_eq!(ready(&ds.get("kube-proxy").await.unwrap()), (4, 4));
    assert!(sb.nodes().iter().all(|n| n.ready));
    sb.shutdown().await;
}

/// Nodes with EKS's update taint on them.
fn update_tainted(sb: &runbook::sandbox::Sandbox) -> Vec<String> {
    sb.nodes()
        .into_iter()
        .filter(|n| {
            let node = sb.kube_object("nodes", "", &n.name).unwrap();
            node["spec"]["taints"]
                .as_array()
                .is_some_and(|ts| ts.iter().any(|t| t["key"] == "eks.amazonaws.com/nodegroup"))
        })
        .map(|n| n.name)
        .collect()
}

/// A rotation that fails on a blocking budget leaves the old nodes tainted;
/// whatever update then completes, forced or another team's rollback to the
/// old version (which keeps those very nodes), no node that stays in the
/// nodegroup keeps EKS's update taint.
#[tokio::test]
async fn a_completed_rotation_leaves_no_update_taint_behind() {
    for retry in ["forced", "rollback"] {
        let sb = frozen("pdb-blocked.yaml").await;
        let eks = eks(&sb);
        control_plane_and_kube_proxy_to_1_29(&sb, &eks).await;
        eks.update_nodegroup_version()
            .cluster_name("demo")
            .nodegroup_name("general")
            .send()
            .await
            .unwrap();
        sb.advance(Duration::from_secs(30 * 60));
        assert_eq!(
            update_tainted(&sb).len(),
            3,
            "the failed update tainted the old nodes"
        );
        let want = match retry {
            "forced" => {
                eks.update_nodegroup_version()
                    .cluster_name("demo")
                    .nodegroup_name("general")
                    .force(true)
                    .send()
                    .await
                    .unwrap();
                "1.29"
            }
            _ => {
                assert!(sb.trigger_external_rollback("general", "1.28").is_some());
                "1.28"
            }
        };
        sb.advance(Duration::from_secs(60 * 60));
        let general: Vec<_> = sb
            .nodes()
            .into_iter()
            .filter(|n| n.nodegroup == "general")
            .collect();
        assert_eq!(general.len(), 3, "{retry}: {general:?}");
        assert!(
            general.iter().all(|n| n.version == want && n.ready),
            "{retry}: {general:?}"
        );
        // A forced retry replaced every node; the rollback kept the node the
        // failed drain cordoned, and its cordon with it.
        let cordoned = general.iter().filter(|n| n.unschedulable).count();
        assert_eq!(cordoned, usize::from(retry == "rollback"), "{general:?}");
        assert_eq!(update_tainted(&sb), Vec::<String>::new(), "{retry}");
        sb.shutdown().await;
    }
}

/// As the API server does: an object modified into a watch's selector
/// arrives as ADDED, modified within it as MODIFIED, and modified out of it
/// as DELETED; changes outside the selector are not sent.
#[tokio::test]
async fn a_filtered_watch_sees_objects_enter_and_leave_its_selector() {
    let sb = super::common::scaled("small.yaml", 1.0).await;
    let cms: Api<ConfigMap> = Api::namespaced(kube(&sb).await, "default");
    let cm: ConfigMap = serde_json::from_value(
        serde_json::json!({"metadata": {"name": "probe", "labels": {"tier": "cold"}}}),
    )
    .unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = cms
        .watch(&WatchParams::default().labels("tier=hot").timeout(10), &rv)
        .await
        .unwrap()
        .boxed();
    let label = |tier: &str, note: &str| {
        let patch =
            serde_json::json!({"metadata": {"labels": {"tier": tier}}, "data": {"note": note}});
        let cms = cms.clone();
        async move {
            cms.patch("probe", &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .unwrap();
        }
    };
    label("cold", "still cold").await; // outside before and after: not sent
    label("hot", "warmed").await;
    label("hot", "still hot").await;
    label("cold", "cooled").await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let ev = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push(match ev {
            WatchEvent::Added(o) => ("ADDED", o.data.unwrap()["note"].clone()),
            WatchEvent::Modified(o) => ("MODIFIED", o.data.unwrap()["note"].clone()),
            WatchEvent::Deleted(o) => ("DELETED", o.data.unwrap()["note"].clone()),
            other => panic!("unexpected {other:?}"),
        });
    }
    assert_eq!(
        seen,
        [
            ("ADDED", "warmed".to_string()),
            ("MODIFIED", "still hot".to_string()),
            ("DELETED", "cooled".to_string()),
        ]
    );
    sb.shutdown().await;
}

/// The kubelet's pod statuses are published lazily; an open watch must still
/// see a replacement pod start, with no other request to trigger it.
#[tokio::test]
async fn an_open_pod_watch_sees_a_replacement_pod_start_without_other_requests() {
    use k8s_openapi::api::core::v1::Pod;
    let sb = frozen("small.yaml").await;
    let pods: Api<Pod> = Api::namespaced(kube(&sb).await, "shop");
    let web = ListParams::default().labels("app=web");
    let victim = pods.list(&web).await.unwrap().items[0]
        .metadata
        .name
        .clone()
        .unwrap();
    pods.delete(&victim, &DeleteParams::default())
        .await
        .unwrap();
    let rv = pods
        .list(&web)
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = pods
        .watch(&WatchParams::default().labels("app=web").timeout(30), &rv)
        .await
        .unwrap()
        .boxed();
    let requests = sb.requests().len();
    // The replacement is scheduled, pulls, starts and is Ready after 20 s.
    for _ in 0..6 {
        sb.advance(Duration::from_secs(10));
    }
    let mut phases = Vec::new();
    let ready_pod = loop {
        let ev = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
            .await
            .expect("an event while only the clock moves")
            .unwrap()
            .unwrap();
        let (WatchEvent::Added(p) | WatchEvent::Modified(p)) = ev else {
            continue;
        };
        let status = p.status.clone().unwrap_or_default();
        phases.push(status.phase.clone().unwrap_or_default());
        let ready = status
            .conditions
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        if ready {
            break p;
        }
    };
    assert_ne!(ready_pod.metadata.name.as_deref(), Some(victim.as_str()));
    assert_eq!(phases.last().map(String::as_str), Some("Running"));
    assert_eq!(sb.requests().len(), requests, "only the clock moved");
    // A plain read sees the same, latest status.
    let read = pods
        .get(ready_pod.metadata.name.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(read.status, ready_pod.status);
    sb.shutdown().await;
}

/// Deleting a namespace empties it first; a claim held by a foreign
/// finalizer keeps it Terminating (and closed to new objects) until cleared.
#[tokio::test]
async fn deleting_a_namespace_empties_it_and_waits_for_foreign_finalizers() {
    use k8s_openapi::api::core::v1::{Namespace, Pod};
    let sb = frozen("stuck-pvc.yaml").await;
    let client = kube(&sb).await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "ledger");
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "ledger");
    let cms: Api<ConfigMap> = Api::namespaced(client, "ledger");
    assert!(
        !pods
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    namespaces
        .delete("ledger", &DeleteParams::default())
        .await
        .unwrap();
    sb.advance(Duration::from_secs(60));
    let ns = namespaces.get("ledger").await.unwrap();
    assert_eq!(
        ns.status.unwrap().phase.as_deref(),
        Some("Terminating"),
        "held by the claims' backup finalizer"
    );
    assert!(
        pods.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let claims = pvcs.list(&ListParams::default()).await.unwrap().items;
    assert!(!claims.is_empty());
    for c in &claims {
        assert!(c.metadata.deletion_timestamp.is_some());
        // PVC protection let go once no pod mounted the claim.
        let finalizers = c.metadata.finalizers.clone().unwrap_or_default();
        assert_eq!(finalizers, ["backup.example.com/snapshot-protection"]);
    }
    let cm: ConfigMap =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "late"}})).unwrap();
    let err = cms.create(&PostParams::default(), &cm).await.unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("{err}")
    };
    assert_eq!((status.code, status.reason.as_str()), (403, "Forbidden"));
    assert!(
        status.message.contains("because it is being terminated"),
        "{}",
        status.message
    );
    let clear = serde_json::json!({"metadata": {"finalizers": null}});
    for c in &claims {
        let name = c.metadata.name.as_deref().unwrap();
        pvcs.patch(name, &PatchParams::default(), &Patch::Merge(&clear))
            .await
            .unwrap();
    }
    sb.advance(Duration::from_secs(10));
    assert!(namespaces.get_opt("ledger").await.unwrap().is_none());
    sb.shutdown().await;
}

/// EKS's managed update drains a node as `kubectl drain` does: it cordons
/// it (a NodeNotSchedulable event, as the node controller records), evicts
/// its pods, and terminates the instance only once the evicted pods have
/// stopped (here a 120 s preStop hook), not while they are Terminating.
#[tokio::test]
async fn a_managed_update_cordons_with_an_event_and_waits_for_evicted_pods_to_stop() {
    use std::collections::HashMap;

    use k8s_openapi::api::core::v1::Event;
    use runbook::sandbox::{Fixture, Sandbox, SandboxOptions};

    let mut fixture =
        Fixture::load(&super::common::example("demo.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let web = fixture
        .spec
        .workloads
        .deployments
        .iter_mut()
        .find(|d| d.name == "web")
        .expect("demo has web");
    web.pre_stop_seconds = Some(120);
    web.termination_grace_period_seconds = Some(180);
    let sb = Sandbox::start(
        fixture,
        SandboxOptions {
            time_scale: 0.0,
            ..Default::default()
        },
    )
    .await
    .expect("sandbox starts");
    let eks = eks(&sb);
    control_plane_and_kube_proxy_to_1_29(&sb, &eks).await;
    let old: Vec<String> = sb
        .nodes()
        .into_iter()
        .filter(|n| n.nodegroup == "general")
        .map(|n| n.name)
        .collect();
    eks.update_nodegroup_version()
        .cluster_name("demo")
        .nodegroup_name("general")
        .send()
        .await
        .unwrap();
    let tick = Duration::from_secs(5);
    let mut now = Duration::ZERO;
    // When a node's first web pod was evicted, and how long the node lived on.
    let mut evicted_at: HashMap<String, Duration> = HashMap::new();
    let mut lived: HashMap<String, Duration> = HashMap::new();
    for _ in 0..(90 * 60 / 5) {
        sb.advance(tick);
        now += tick;
        for p in sb.pods() {
            let Some(node) = p.node.clone().filter(|_| p.name.starts_with("web-")) else {
                continue;
            };
            let pod = sb.kube_object("pods", &p.namespace, &p.name);
            if pod.is_some_and(|o| !o["metadata"]["deletionTimestamp"].is_null()) {
                evicted_at.entry(node).or_insert(now);
            }
        }
        let present: Vec<String> = sb.nodes().into_iter().map(|n| n.name).collect();
        for (node, at) in &evicted_at {
            if !present.contains(node) {
                lived.entry(node.clone()).or_insert(now - *at);
            }
        }
        if old.iter().all(|n| !present.contains(n)) {
            break;
        }
    }
    assert!(
        old.iter()
            .all(|n| lived.contains_key(n) || !evicted_at.contains_key(n)),
        "every drained old node is gone: {lived:?} of {old:?}"
    );
    assert!(!lived.is_empty(), "no node ran a web pod: {evicted_at:?}");
    for (node, t) in &lived {
        // Up to one tick of the 120 s hook can fall before the eviction is seen.
        assert!(
            *t >= Duration::from_secs(115),
            "{node} was terminated {t:?} after its web pods were evicted"
        );
    }

    let events = kube::Api::<Event>::all(kube(&sb).await)
        .list(&ListParams::default())
        .await
        .unwrap();
    let not_schedulable: Vec<&str> = events
        .items
        .iter()
        .filter(|e| e.reason.as_deref() == Some("NodeNotSchedulable"))
        .filter_map(|e| e.involved_object.name.as_deref())
        .collect();
    for node in &old {
        assert!(
            not_schedulable.contains(&node.as_str()),
            "no NodeNotSchedulable for {node}: {not_schedulable:?}"
        );
    }
    sb.shutdown().await;
}
