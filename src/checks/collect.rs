//! Collect a `ClusterSnapshot` through the real clients, read-only: EKS
//! (DescribeCluster, add-ons and their catalog, nodegroups, insights) and the
//! Kubernetes API (nodes, pods, workloads, PDBs, PVCs).

use anyhow::Context;
use aws_sdk_eks::Client as Eks;
use indexmap::IndexMap;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Node as K8sNode, PersistentVolumeClaim, Pod as K8sPod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString as K8sIntOrString;
use kube::api::{Api, ListParams};
use std::collections::BTreeMap;

use super::snapshot::*;

pub async fn collect(
    kube: &kube::Client,
    eks: &Eks,
    cluster: &str,
) -> anyhow::Result<ClusterSnapshot> {
    let (cluster_info, nodegroups, insights, k8s) = tokio::try_join!(
        collect_cluster(eks, cluster),
        collect_nodegroups(eks, cluster),
        collect_insights(eks, cluster),
        collect_kubernetes(kube),
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
    let out = eks
        .describe_cluster()
        .name(name)
        .send()
        .await
        .with_context(|| format!("DescribeCluster {name}"))?;
    let c = out
        .cluster()
        .context("DescribeCluster returned no cluster")?;
    let addon_names: Vec<String> = eks
        .list_addons()
        .cluster_name(name)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .context("ListAddons")?;
    // One add-on's calls are independent of another's: overlap them.
    let addons =
        futures::future::try_join_all(addon_names.into_iter().map(|a| addon(eks, name, a))).await?;
    Ok(Cluster {
        name: c.name().unwrap_or(name).to_string(),
        version: c.version().unwrap_or_default().to_string(),
        platform_version: c.platform_version().unwrap_or_default().to_string(),
        status: c
            .status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        addons,
    })
}

async fn addon(eks: &Eks, cluster: &str, addon: String) -> anyhow::Result<Addon> {
    let described = eks
        .describe_addon()
        .cluster_name(cluster)
        .addon_name(&addon)
        .send()
        .await
        .with_context(|| format!("DescribeAddon {addon}"))?;
    let a = described.addon();
    Ok(Addon {
        version: a
            .and_then(|a| a.addon_version())
            .unwrap_or_default()
            .to_string(),
        status: a
            .and_then(|a| a.status())
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        catalog: addon_catalog(eks, &addon).await?,
        name: addon,
    })
}

async fn addon_catalog(eks: &Eks, addon: &str) -> anyhow::Result<Vec<AddonVersion>> {
    let infos = eks
        .describe_addon_versions()
        .addon_name(addon)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .with_context(|| format!("DescribeAddonVersions {addon}"))?;
    let mut versions = Vec::new();
    for v in infos.iter().flat_map(|info| info.addon_versions()) {
        let compat = v.compatibilities();
        versions.push(AddonVersion {
            version: v.addon_version().unwrap_or_default().to_string(),
            compatible: compat
                .iter()
                .filter_map(|c| c.cluster_version().map(str::to_string))
                .collect(),
            default_for: compat
                .iter()
                .filter(|c| c.default_version())
                .filter_map(|c| c.cluster_version().map(str::to_string))
                .collect(),
        });
    }
    Ok(versions)
}

async fn collect_nodegroups(eks: &Eks, cluster: &str) -> anyhow::Result<Vec<Nodegroup>> {
    let names: Vec<String> = eks
        .list_nodegroups()
        .cluster_name(cluster)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .context("ListNodegroups")?;
    let mut nodegroups = Vec::new();
    for ng in names {
        let out = eks
            .describe_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(&ng)
            .send()
            .await
            .with_context(|| format!("DescribeNodegroup {ng}"))?;
        let Some(n) = out.nodegroup() else { continue };
        let scaling = n.scaling_config();
        nodegroups.push(Nodegroup {
            name: ng,
            version: n.version().unwrap_or_default().to_string(),
            release_version: n.release_version().unwrap_or_default().to_string(),
            status: n
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            desired_size: scaling.and_then(|s| s.desired_size()).unwrap_or(0).into(),
            min_size: scaling.and_then(|s| s.min_size()).unwrap_or(0).into(),
            max_size: scaling.and_then(|s| s.max_size()).unwrap_or(0).into(),
            capacity_type: n
                .capacity_type()
                .map(|c| c.as_str().to_string())
                .unwrap_or_default(),
            health_issues: n
                .health()
                .map(|h| {
                    h.issues()
                        .iter()
                        .map(|i| {
                            let code = i.code().map(|c| c.as_str()).unwrap_or("Issue");
                            format!("{code}: {}", i.message().unwrap_or_default())
                        })
                        .collect()
                })
                .unwrap_or_default(),
        });
    }
    Ok(nodegroups)
}

async fn collect_insights(eks: &Eks, cluster: &str) -> anyhow::Result<Vec<Insight>> {
    let summaries = eks
        .list_insights()
        .cluster_name(cluster)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .context("ListInsights")?;
    let mut insights = Vec::new();
    for s in &summaries {
        let status = s.insight_status();
        insights.push(Insight {
            id: s.id().unwrap_or_default().to_string(),
            name: s.name().unwrap_or_default().to_string(),
            category: s
                .category()
                .map(|c| c.as_str().to_string())
                .unwrap_or_default(),
            kubernetes_version: s.kubernetes_version().unwrap_or_default().to_string(),
            status: status
                .and_then(|st| st.status())
                .map(|st| st.as_str().to_string())
                .unwrap_or_default(),
            reason: status
                .and_then(|st| st.reason())
                .unwrap_or_default()
                .to_string(),
            description: s.description().unwrap_or_default().to_string(),
            deprecations: Vec::new(),
        });
    }
    for insight in insights.iter_mut().filter(|i| i.status != "PASSING") {
        let out = eks
            .describe_insight()
            .cluster_name(cluster)
            .id(&insight.id)
            .send()
            .await
            .with_context(|| format!("DescribeInsight {}", insight.id))?;
        let details = out
            .insight()
            .and_then(|i| i.category_specific_summary())
            .map(|s| s.deprecation_details())
            .unwrap_or_default();
        insight.deprecations = details
            .iter()
            .map(|d| Deprecation {
                usage: d.usage().unwrap_or_default().to_string(),
                replaced_with: d.replaced_with().unwrap_or_default().to_string(),
                stop_serving_version: d.stop_serving_version().unwrap_or_default().to_string(),
            })
            .collect();
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

async fn list<K>(client: &kube::Client) -> anyhow::Result<Vec<K>>
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let api: Api<K> = Api::all(client.clone());
    let list = api
        .list(&ListParams::default())
        .await
        .with_context(|| format!("list {}", K::plural(&())))?;
    Ok(list.items)
}

async fn collect_kubernetes(client: &kube::Client) -> anyhow::Result<Kubernetes> {
    let (nodes, pods, deployments, daemonsets, statefulsets, pdbs, pvcs) = tokio::try_join!(
        list::<K8sNode>(client),
        list::<K8sPod>(client),
        list::<Deployment>(client),
        list::<DaemonSet>(client),
        list::<StatefulSet>(client),
        list::<PodDisruptionBudget>(client),
        list::<PersistentVolumeClaim>(client),
    )?;
    Ok((
        nodes.iter().map(node).collect(),
        pods.iter().map(pod).collect(),
        deployments.iter().map(deployment).collect(),
        daemonsets.iter().map(daemonset).collect(),
        statefulsets.iter().map(statefulset).collect(),
        pdbs.iter().map(pdb).collect(),
        pvcs.iter().map(pvc).collect(),
    ))
}

fn name(meta: &ObjectMeta) -> String {
    meta.name.clone().unwrap_or_default()
}

fn namespace(meta: &ObjectMeta) -> String {
    meta.namespace.clone().unwrap_or_default()
}

fn labels(map: Option<&BTreeMap<String, String>>) -> IndexMap<String, String> {
    map.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

fn time(t: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>) -> String {
    t.map(|t| t.0.to_string()).unwrap_or_default()
}

fn selector(s: Option<&LabelSelector>) -> IndexMap<String, String> {
    labels(s.and_then(|s| s.match_labels.as_ref()))
}

fn node(n: &K8sNode) -> Node {
    let status = n.status.as_ref();
    let info = status.and_then(|s| s.node_info.as_ref());
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    let labels = labels(n.metadata.labels.as_ref());
    Node {
        name: name(&n.metadata),
        nodegroup: labels
            .get(crate::cloud::kube::NODEGROUP_LABEL)
            .cloned()
            .unwrap_or_default(),
        kubelet_version: info.map(|i| i.kubelet_version.clone()).unwrap_or_default(),
        kube_proxy_version: info
            .map(|i| i.kube_proxy_version.clone())
            .unwrap_or_default(),
        ready,
        unschedulable: n
            .spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false),
        labels,
        created: time(n.metadata.creation_timestamp.as_ref()),
    }
}

fn pod(p: &K8sPod) -> Pod {
    let spec = p.spec.as_ref();
    let status = p.status.as_ref();
    let containers = |list: Option<&Vec<k8s_openapi::api::core::v1::Container>>| {
        list.map(|cs| {
            cs.iter()
                .map(|c| Container {
                    name: c.name.clone(),
                    image: c.image.clone().unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
    };
    let owner = p
        .metadata
        .owner_references
        .as_ref()
        .and_then(|o| o.iter().find(|o| o.controller == Some(true)).or(o.first()));
    let statuses = status.and_then(|s| s.container_statuses.as_ref());
    Pod {
        namespace: namespace(&p.metadata),
        name: name(&p.metadata),
        node: spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        phase: status.and_then(|s| s.phase.clone()).unwrap_or_default(),
        ready: status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True")),
        owner_kind: owner.map(|o| o.kind.clone()).unwrap_or_default(),
        owner_name: owner.map(|o| o.name.clone()).unwrap_or_default(),
        labels: labels(p.metadata.labels.as_ref()),
        containers: containers(spec.map(|s| &s.containers)),
        init_containers: containers(spec.and_then(|s| s.init_containers.as_ref())),
        restarts: statuses
            .map(|s| s.iter().map(|c| i64::from(c.restart_count)).sum())
            .unwrap_or(0),
        waiting_reason: statuses
            .and_then(|s| {
                s.iter().find_map(|c| {
                    c.state
                        .as_ref()
                        .and_then(|st| st.waiting.as_ref())
                        .and_then(|w| w.reason.clone())
                })
            })
            .unwrap_or_default(),
        deletion_timestamp: time(p.metadata.deletion_timestamp.as_ref()),
        pvcs: spec
            .and_then(|s| s.volumes.as_ref())
            .map(|vs| {
                vs.iter()
                    .filter_map(|v| v.persistent_volume_claim.as_ref())
                    .map(|c| c.claim_name.clone())
                    .collect()
            })
            .unwrap_or_default(),
        created: time(p.metadata.creation_timestamp.as_ref()),
    }
}

fn images(spec: Option<&k8s_openapi::api::core::v1::PodSpec>) -> Vec<String> {
    spec.map(|s| {
        s.init_containers
            .iter()
            .flatten()
            .chain(&s.containers)
            .filter_map(|c| c.image.clone())
            .collect()
    })
    .unwrap_or_default()
}

fn deployment(d: &Deployment) -> Workload {
    let spec = d.spec.as_ref();
    let status = d.status.as_ref();
    Workload {
        namespace: namespace(&d.metadata),
        name: name(&d.metadata),
        replicas: spec.and_then(|s| s.replicas).unwrap_or(1).into(),
        ready_replicas: status.and_then(|s| s.ready_replicas).unwrap_or(0).into(),
        updated_replicas: status.and_then(|s| s.updated_replicas).unwrap_or(0).into(),
        selector: selector(spec.map(|s| &s.selector)),
        images: images(spec.and_then(|s| s.template.spec.as_ref())),
    }
}

fn daemonset(d: &DaemonSet) -> Workload {
    let spec = d.spec.as_ref();
    let status = d.status.as_ref();
    Workload {
        namespace: namespace(&d.metadata),
        name: name(&d.metadata),
        replicas: status.map_or(0, |s| s.desired_number_scheduled).into(),
        ready_replicas: status.map_or(0, |s| s.number_ready).into(),
        updated_replicas: status
            .and_then(|s| s.updated_number_scheduled)
            .unwrap_or(0)
            .into(),
        selector: selector(spec.map(|s| &s.selector)),
        images: images(spec.and_then(|s| s.template.spec.as_ref())),
    }
}

fn statefulset(d: &StatefulSet) -> Workload {
    let spec = d.spec.as_ref();
    let status = d.status.as_ref();
    Workload {
        namespace: namespace(&d.metadata),
        name: name(&d.metadata),
        replicas: spec.and_then(|s| s.replicas).unwrap_or(1).into(),
        ready_replicas: status.and_then(|s| s.ready_replicas).unwrap_or(0).into(),
        updated_replicas: status.and_then(|s| s.updated_replicas).unwrap_or(0).into(),
        selector: selector(spec.map(|s| &s.selector)),
        images: images(spec.and_then(|s| s.template.spec.as_ref())),
    }
}

fn int_or_string(v: Option<&K8sIntOrString>) -> Option<IntOrString> {
    v.map(|v| match v {
        K8sIntOrString::Int(i) => IntOrString::Int((*i).into()),
        K8sIntOrString::String(s) => IntOrString::String(s.clone()),
    })
}

fn pdb(p: &PodDisruptionBudget) -> Pdb {
    let spec = p.spec.as_ref();
    let status = p.status.as_ref();
    Pdb {
        namespace: namespace(&p.metadata),
        name: name(&p.metadata),
        min_available: int_or_string(spec.and_then(|s| s.min_available.as_ref())),
        max_unavailable: int_or_string(spec.and_then(|s| s.max_unavailable.as_ref())),
        selector: selector(spec.and_then(|s| s.selector.as_ref())),
        expected_pods: status.map_or(0, |s| s.expected_pods).into(),
        disruptions_allowed: status.map_or(0, |s| s.disruptions_allowed).into(),
    }
}

fn pvc(p: &PersistentVolumeClaim) -> Pvc {
    let spec = p.spec.as_ref();
    Pvc {
        namespace: namespace(&p.metadata),
        name: name(&p.metadata),
        phase: p
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default(),
        storage_class: spec
            .and_then(|s| s.storage_class_name.clone())
            .unwrap_or_default(),
        volume: spec.and_then(|s| s.volume_name.clone()).unwrap_or_default(),
        deletion_timestamp: time(p.metadata.deletion_timestamp.as_ref()),
        finalizers: p.metadata.finalizers.clone().unwrap_or_default(),
    }
}
