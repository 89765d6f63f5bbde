//! Collect a `ClusterSnapshot` through the cloud adapters, read-only: EKS
//! (DescribeCluster, add-ons and their catalog, nodegroups, insights) and the
//! Kubernetes API (nodes, pods, workloads, PDBs, PVCs). The adapters convert
//! the API objects; this file only lays their results out in the snapshot's
//! shape.

use indexmap::IndexMap;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString as K8sIntOrString;
use std::collections::BTreeMap;

use super::snapshot::*;
use crate::cloud::eks::{AddonInfo, Eks, NodegroupInfo};
use crate::cloud::kube::{ContainerInfo, Kube, NodeInfo, PdbInfo, PodInfo, WorkloadInfo};

pub async fn collect(kube: &Kube, eks: &Eks, cluster: &str) -> anyhow::Result<ClusterSnapshot> {
    collect_reading(kube, eks, cluster, SCRIPT_VARIABLES).await
}

/// The snapshot with only the lists a check reads (`reads`: names of
/// `SCRIPT_VARIABLES`); the others stay empty. A gate polls its check every
/// few seconds, and on 30,000 pods a LIST of them is 50 MB: a check of the
/// add-ons alone should not make one.
pub async fn collect_reading(
    kube: &Kube,
    eks: &Eks,
    cluster: &str,
    reads: &[&str],
) -> anyhow::Result<ClusterSnapshot> {
    // Checks read the cluster as it is, not as a dry run's plan would leave it.
    let eks = &eks.observed();
    let wants = |name: &str| reads.contains(&name);
    let (cluster_info, nodegroups, insights, k8s) = tokio::try_join!(
        async {
            match wants("cluster") {
                true => collect_cluster(eks, cluster).await,
                false => Ok(Cluster::default()),
            }
        },
        async {
            match wants("nodegroups") {
                true => collect_nodegroups(eks, cluster).await,
                false => Ok(Vec::new()),
            }
        },
        async {
            match wants("insights") {
                true => collect_insights(eks, cluster).await,
                false => Ok(Vec::new()),
            }
        },
        collect_kubernetes(kube, &wants),
    )?;
    let (nodes, pods, deployments, daemonsets, statefulsets, pdbs, pvcs) = k8s;
    Ok(ClusterSnapshot {
        collected_at: jiff::Timestamp::now().to_string(),
        cluster: cluster_info,
        nodegroups,
        nodes,
        pods,
        deployments,
        daemonsets,
        statefulsets,
        pdbs,
        pvcs,
        insights,
    })
}

async fn collect_cluster(eks: &Eks, name: &str) -> anyhow::Result<Cluster> {
    let (c, addons) = tokio::try_join!(eks.cluster(name), eks.addons(name))?;
    // One add-on's catalog is independent of another's: overlap them.
    let addons = futures::future::try_join_all(addons.into_iter().map(|a| addon(eks, a))).await?;
    Ok(Cluster {
        name: c.name,
        version: c.version,
        platform_version: c.platform_version.unwrap_or_default(),
        status: c.status,
        addons,
    })
}

async fn addon(eks: &Eks, a: AddonInfo) -> anyhow::Result<Addon> {
    let catalog = eks.addon_catalog(&a.name).await?;
    Ok(Addon {
        catalog: catalog
            .into_iter()
            .map(|v| AddonVersion {
                version: v.version,
                compatible: v.compatible,
                default_for: v.default_for,
            })
            .collect(),
        name: a.name,
        version: a.version,
        status: a.status,
    })
}

async fn collect_nodegroups(eks: &Eks, cluster: &str) -> anyhow::Result<Vec<Nodegroup>> {
    let mut nodegroups = Vec::new();
    for name in eks.nodegroup_names(cluster).await? {
        nodegroups.push(nodegroup(eks.nodegroup(cluster, &name).await?));
    }
    Ok(nodegroups)
}

fn nodegroup(n: NodegroupInfo) -> Nodegroup {
    Nodegroup {
        name: n.name,
        version: n.version,
        release_version: n.release_version.unwrap_or_default(),
        status: n.status,
        desired_size: n.desired_size,
        min_size: n.min_size,
        max_size: n.max_size,
        capacity_type: n.capacity_type,
        health_issues: n.health_issues,
    }
}

async fn collect_insights(eks: &Eks, cluster: &str) -> anyhow::Result<Vec<Insight>> {
    let mut insights = Vec::new();
    for i in eks.insights(cluster, None, None).await? {
        let deprecations = if i.status == "PASSING" {
            Vec::new()
        } else {
            eks.insight_deprecations(cluster, &i.id).await?
        };
        insights.push(Insight {
            id: i.id,
            name: i.name,
            category: i.category,
            kubernetes_version: i.kubernetes_version,
            status: i.status,
            reason: i.reason,
            description: i.description,
            deprecations: deprecations
                .into_iter()
                .map(|d| Deprecation {
                    usage: d.usage,
                    replaced_with: d.replaced_with,
                    stop_serving_version: d.stop_serving_version,
                })
                .collect(),
        });
    }
    Ok(insights)
}

type Kubernetes = (
    Vec<Node>,
    Vec<Pod>,
    Vec<Workload>,
    Vec<Workload>,
    Vec<Workload>,
    Vec<Pdb>,
    Vec<Pvc>,
);

async fn collect_kubernetes(
    kube: &Kube,
    wants: &impl Fn(&str) -> bool,
) -> anyhow::Result<Kubernetes> {
    /// The read when the check reads `name`, else an empty list.
    async fn read<T>(
        wanted: bool,
        list: impl std::future::Future<Output = Result<Vec<T>, crate::cloud::CloudError>>,
    ) -> Result<Vec<T>, crate::cloud::CloudError> {
        if wanted { list.await } else { Ok(Vec::new()) }
    }
    let (nodes, pods, deployments, daemonsets, statefulsets, pdbs, pvcs) = tokio::try_join!(
        read(wants("nodes"), kube.nodes(None)),
        read(wants("pods"), kube.pods(None, None, None)),
        read(wants("deployments"), kube.deployments(None)),
        read(wants("daemonsets"), kube.daemonsets(None)),
        read(wants("statefulsets"), kube.statefulsets(None)),
        read(wants("pdbs"), kube.pdbs(None)),
        read(
            wants("pvcs"),
            kube.list::<PersistentVolumeClaim>("list persistentvolumeclaims", None)
        ),
    )?;
    Ok((
        nodes.into_iter().map(node).collect(),
        pods.into_iter().map(pod).collect(),
        deployments.into_iter().map(workload).collect(),
        daemonsets.into_iter().map(workload).collect(),
        statefulsets.into_iter().map(workload).collect(),
        pdbs.into_iter().map(pdb).collect(),
        pvcs.iter().map(pvc).collect(),
    ))
}

/// Snapshot maps keep the adapters' (sorted) order.
fn map(m: BTreeMap<String, String>) -> IndexMap<String, String> {
    m.into_iter().collect()
}

fn node(n: NodeInfo) -> Node {
    Node {
        name: n.name,
        nodegroup: n.nodegroup.unwrap_or_default(),
        kubelet_version: n.version,
        kube_proxy_version: n.kube_proxy_version,
        ready: n.ready,
        unschedulable: n.unschedulable,
        labels: map(n.labels),
        created: n.created,
    }
}

fn pod(p: PodInfo) -> Pod {
    let containers = |cs: Vec<ContainerInfo>| {
        cs.into_iter()
            .map(|c| Container {
                name: c.name,
                image: c.image.unwrap_or_default(),
            })
            .collect()
    };
    let (owner_kind, owner_name) = p.owner.unwrap_or_default();
    Pod {
        namespace: p.namespace,
        name: p.name,
        node: p.node.unwrap_or_default(),
        phase: p.phase,
        ready: p.ready,
        owner_kind,
        owner_name,
        labels: map(p.labels),
        containers: containers(p.containers),
        init_containers: containers(p.init_containers),
        restarts: p.restarts,
        waiting_reason: p.waiting_reasons.into_iter().next().unwrap_or_default(),
        deletion_timestamp: p.deletion_timestamp,
        finalizers: p.finalizers,
        pvcs: p.pvcs,
        created: p.created,
    }
}

fn workload(w: WorkloadInfo) -> Workload {
    Workload {
        namespace: w.namespace,
        name: w.name,
        replicas: w.desired,
        ready_replicas: w.ready,
        updated_replicas: w.updated,
        selector: map(w.selector),
        images: w.images,
    }
}

fn int_or_string(v: Option<K8sIntOrString>) -> Option<IntOrString> {
    v.map(|v| match v {
        K8sIntOrString::Int(i) => IntOrString::Int(i.into()),
        K8sIntOrString::String(s) => IntOrString::String(s),
    })
}

fn pdb(p: PdbInfo) -> Pdb {
    Pdb {
        namespace: p.namespace,
        name: p.name,
        min_available: int_or_string(p.min_available),
        max_unavailable: int_or_string(p.max_unavailable),
        selector: map(p.selector.and_then(|s| s.match_labels).unwrap_or_default()),
        expected_pods: p.expected_pods,
        disruptions_allowed: p.disruptions_allowed,
    }
}

/// PersistentVolumeClaims have no adapter type: the snapshot is their only reader.
fn pvc(p: &PersistentVolumeClaim) -> Pvc {
    let spec = p.spec.as_ref();
    Pvc {
        namespace: p.metadata.namespace.clone().unwrap_or_default(),
        name: p.metadata.name.clone().unwrap_or_default(),
        phase: p
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default(),
        storage_class: spec
            .and_then(|s| s.storage_class_name.clone())
            .unwrap_or_default(),
        volume: spec.and_then(|s| s.volume_name.clone()).unwrap_or_default(),
        deletion_timestamp: crate::cloud::kube::time(p.metadata.deletion_timestamp.as_ref()),
        finalizers: p.metadata.finalizers.clone().unwrap_or_default(),
    }
}
