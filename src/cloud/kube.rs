//! Typed Kubernetes reads and the two node mutations (cordon/uncordon) over
//! kube-rs. Reads are retried on transient failures, because the client's
//! own retry is off (see `connect`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ::kube::api::{Api, ListParams};
use ::kube::core::{Selector, SelectorExt};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::{Serialize, Serializer};
use tokio::sync::OnceCell;

use super::CloudError;
use super::clock::Clock;

/// The label EKS puts on every node of a managed nodegroup.
pub const NODEGROUP_LABEL: &str = "eks.amazonaws.com/nodegroup";

/// Taints that mark a node on its way out: EKS's managed update puts the
/// first on every old node, cluster-autoscaler and Karpenter the others on
/// nodes they are removing.
pub const REPLACEMENT_TAINTS: &[(&str, Option<&str>)] = &[
    (NODEGROUP_LABEL, Some("unschedulable")),
    ("ToBeDeletedByClusterAutoscaler", None),
    ("karpenter.sh/disrupted", None),
    ("karpenter.sh/disruption", Some("disrupting")),
];

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct NodeInfo {
    pub name: String,
    pub ready: bool,
    /// Kubelet version as reported, e.g. `v1.29.3-eks-ae9a62a`.
    pub version: String,
    pub nodegroup: Option<String>,
    pub unschedulable: bool,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<TaintInfo>,
    /// Cordoned, or tainted for removal (`REPLACEMENT_TAINTS`): a rotation
    /// or an autoscaler is taking the node away.
    pub replacing: bool,
    /// EC2 instance id from the provider id, if it is an AWS one.
    pub instance_id: Option<String>,
    pub kube_proxy_version: String,
    /// RFC 3339 creation time, empty if unknown.
    pub created: String,
    /// Seconds since creation, by the cluster's clock (see `Kube::nodes`).
    pub age: Option<u64>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TaintInfo {
    pub key: String,
    pub value: Option<String>,
    pub effect: String,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PodInfo {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub node: Option<String>,
    pub phase: String,
    pub ready: bool,
    /// Kinds of the pod's owners (`ReplicaSet`, `DaemonSet`, ...).
    pub owner_kinds: Vec<String>,
    /// Kind of the controlling owner, if any.
    pub controller: Option<String>,
    /// Name of the controlling owner, if any.
    pub owner_name: Option<String>,
    pub restarts: i64,
    pub labels: BTreeMap<String, String>,
    pub images: Vec<String>,
    /// Container waiting reasons such as `ImagePullBackOff`.
    pub waiting_reasons: Vec<String>,
    pub uses_empty_dir: bool,
    pub mirror: bool,
    pub terminating: bool,
    pub grace_period: Option<i64>,
    /// Longest preStop hook of its containers (a `sleep`, or an exec of
    /// `sleep N`), in seconds: what a plan expects a deleted pod to take to
    /// stop, within its grace period.
    #[serde(skip)]
    pub pre_stop_s: u64,
    /// Kind and name of the controlling owner, else of the first owner.
    pub owner: Option<(String, String)>,
    pub containers: Vec<ContainerInfo>,
    pub init_containers: Vec<ContainerInfo>,
    /// Claim names of the pod's PersistentVolumeClaim volumes.
    pub pvcs: Vec<String>,
    /// RFC 3339; empty unless the pod is terminating.
    pub deletion_timestamp: String,
    /// `metadata.finalizers`: what must let go before the pod is removed.
    pub finalizers: Vec<String>,
    /// RFC 3339 creation time, empty if unknown.
    pub created: String,
    /// Seconds since creation, by the cluster's clock (see `Kube::pods`).
    pub age: Option<u64>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ContainerInfo {
    pub name: String,
    pub image: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct WorkloadInfo {
    pub namespace: String,
    pub name: String,
    pub desired: i64,
    pub ready: i64,
    pub available: i64,
    pub updated: i64,
    /// `matchLabels` of the selector.
    pub selector: BTreeMap<String, String>,
    /// Images of the pod template, init containers first. Not serialized:
    /// workload records do not carry them (yet).
    #[serde(skip)]
    pub images: Vec<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PdbInfo {
    pub namespace: String,
    pub name: String,
    /// A count or a percentage; records show it as text.
    #[serde(serialize_with = "int_or_string_text")]
    pub min_available: Option<IntOrString>,
    #[serde(serialize_with = "int_or_string_text")]
    pub max_unavailable: Option<IntOrString>,
    pub disruptions_allowed: i64,
    pub expected_pods: i64,
    pub current_healthy: i64,
    pub desired_healthy: i64,
    #[serde(skip)]
    pub selector: Option<LabelSelector>,
    /// The disruption controller has computed the status for the current
    /// spec (`status.observedGeneration >= metadata.generation`). The API
    /// server refuses every eviction a budget covers until it has.
    #[serde(skip)]
    pub status_current: bool,
}

fn int_or_string_text<S: Serializer>(v: &Option<IntOrString>, s: S) -> Result<S::Ok, S::Error> {
    v.as_ref()
        .map(|v| match v {
            IntOrString::Int(i) => i.to_string(),
            IntOrString::String(t) => t.clone(),
        })
        .serialize(s)
}

impl PdbInfo {
    /// Whether this PDB covers a pod (same namespace, selector matches).
    pub fn selects(&self, pod: &PodInfo) -> bool {
        pod.namespace == self.namespace
            && self
                .parsed_selector()
                .is_some_and(|s| s.matches(&pod.labels))
    }

    /// The selector, parsed once by callers that match many pods. None
    /// selects nothing (absent or invalid); an empty one selects every pod
    /// in the namespace (policy/v1).
    pub fn parsed_selector(&self) -> Option<Selector> {
        Selector::try_from(self.selector.clone()?).ok()
    }

    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

#[derive(Clone)]
pub struct Kube {
    client: ::kube::Client,
    clock: Clock,
    /// A dry run's one LIST of every pod (see `planning`).
    plan_pods: Option<Arc<OnceCell<Vec<PodInfo>>>>,
}

impl Kube {
    pub fn new(client: ::kube::Client, clock: Clock) -> Self {
        Kube {
            client,
            clock,
            plan_pods: None,
        }
    }

    /// The same client for a dry run: the first read of pods LISTs every
    /// pod once, and every later read of pods (all, one namespace's or one
    /// node's) is answered from that list. A plan sends no mutation, so the
    /// cluster it reads does not move under it, and on 30,000 pods each
    /// LIST is 50 MB of JSON: the checks' snapshot and every nodegroup's
    /// drain plan (ten at once under `parallel for`) each made their own.
    pub fn planning(&self) -> Kube {
        Kube {
            plan_pods: Some(Arc::new(OnceCell::new())),
            ..self.clone()
        }
    }

    pub fn client(&self) -> &::kube::Client {
        &self.client
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Run a read (or an idempotent write), retrying transient failures
    /// with backoff: ten attempts, 1 s doubling to 20 s, as the EKS client
    /// (`connect::retry_config`). A read outside a gate that still fails
    /// fails its step or precondition, and a checks' cluster snapshot makes
    /// dozens of reads: at 20 % transient errors five attempts all failed
    /// about once in 3,000 reads (a fault rehearsal run refused by a
    /// precondition); ten, once in ten million.
    pub(super) async fn read<T, F, Fut>(&self, op: &str, f: F) -> Result<T, CloudError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, ::kube::Error>>,
    {
        let mut delay = Duration::from_secs(1);
        for attempt in 0.. {
            match f().await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let err = CloudError::kube(op, e);
                    if attempt >= 9 || !err.is_transient() {
                        return Err(err);
                    }
                }
            }
            self.clock.sleep(delay).await?;
            delay = (delay * 2).min(Duration::from_secs(20));
        }
        unreachable!("the loop returns")
    }

    pub async fn nodes(&self, nodegroup: Option<&str>) -> Result<Vec<NodeInfo>, CloudError> {
        self.nodes_matching(nodegroup, None).await
    }

    /// Nodes of a nodegroup and/or matching a label selector (server-side).
    pub async fn nodes_matching(
        &self,
        nodegroup: Option<&str>,
        selector: Option<&str>,
    ) -> Result<Vec<NodeInfo>, CloudError> {
        let api: Api<Node> = Api::all(self.client.clone());
        let mut terms: Vec<String> = nodegroup
            .map(|ng| format!("{NODEGROUP_LABEL}={ng}"))
            .into_iter()
            .collect();
        terms.extend(selector.map(str::to_string));
        let lp = if terms.is_empty() {
            ListParams::default()
        } else {
            ListParams::default().labels(&terms.join(","))
        };
        let list = self.read("list nodes", || api.list(&lp)).await?;
        let now = self.clock.wall_now();
        Ok(list
            .items
            .iter()
            .map(|n| {
                let mut info = node_info(n);
                info.age = age(&info.created, now);
                info
            })
            .collect())
    }

    pub async fn pods(
        &self,
        namespace: Option<&str>,
        node: Option<&str>,
        selector: Option<&str>,
    ) -> Result<Vec<PodInfo>, CloudError> {
        if let (Some(cell), None) = (&self.plan_pods, selector) {
            let all = cell
                .get_or_try_init(|| self.list_pods(None, None, None))
                .await?;
            return Ok(all
                .iter()
                .filter(|p| namespace.is_none_or(|ns| p.namespace == ns))
                .filter(|p| node.is_none_or(|n| p.node.as_deref() == Some(n)))
                .cloned()
                .collect());
        }
        self.list_pods(namespace, node, selector).await
    }

    async fn list_pods(
        &self,
        namespace: Option<&str>,
        node: Option<&str>,
        selector: Option<&str>,
    ) -> Result<Vec<PodInfo>, CloudError> {
        let api: Api<Pod> = self.api(namespace);
        let mut lp = ListParams::default();
        if let Some(n) = node {
            lp = lp.fields(&format!("spec.nodeName={n}"));
        }
        if let Some(s) = selector {
            lp = lp.labels(s);
        }
        let list = self.read("list pods", || api.list(&lp)).await?;
        let now = self.clock.wall_now();
        Ok(list
            .items
            .iter()
            .map(|p| {
                let mut info = pod_info(p);
                info.age = age(&info.created, now);
                info
            })
            .collect())
    }

    pub async fn deployments(
        &self,
        namespace: Option<&str>,
    ) -> Result<Vec<WorkloadInfo>, CloudError> {
        let items: Vec<Deployment> = self.list("list deployments", namespace).await?;
        Ok(items.iter().map(deployment_info).collect())
    }

    pub async fn daemonsets(
        &self,
        namespace: Option<&str>,
    ) -> Result<Vec<WorkloadInfo>, CloudError> {
        let items: Vec<DaemonSet> = self.list("list daemonsets", namespace).await?;
        Ok(items.iter().map(daemonset_info).collect())
    }

    pub async fn statefulsets(
        &self,
        namespace: Option<&str>,
    ) -> Result<Vec<WorkloadInfo>, CloudError> {
        let items: Vec<StatefulSet> = self.list("list statefulsets", namespace).await?;
        Ok(items.iter().map(statefulset_info).collect())
    }

    pub async fn pdbs(&self, namespace: Option<&str>) -> Result<Vec<PdbInfo>, CloudError> {
        let pdbs: Vec<PodDisruptionBudget> =
            self.list("list poddisruptionbudgets", namespace).await?;
        Ok(pdbs.iter().map(pdb_info).collect())
    }

    /// Every object of kind `K` in `namespace` (or all namespaces).
    pub async fn list<K>(&self, op: &str, namespace: Option<&str>) -> Result<Vec<K>, CloudError>
    where
        K: ::kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + std::fmt::Debug
            + serde::de::DeserializeOwned,
        <K as ::kube::Resource>::DynamicType: Default,
    {
        let api: Api<K> = self.api(namespace);
        let lp = ListParams::default();
        Ok(self.read(op, || api.list(&lp)).await?.items)
    }

    fn api<K>(&self, namespace: Option<&str>) -> Api<K>
    where
        K: ::kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as ::kube::Resource>::DynamicType: Default,
    {
        match namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        }
    }

    /// Mark a node unschedulable. Returns whether it was schedulable before.
    pub async fn cordon(&self, node: &str) -> Result<bool, CloudError> {
        self.set_unschedulable(node, true).await
    }

    /// Mark a node schedulable again. Returns whether it was cordoned.
    pub async fn uncordon(&self, node: &str) -> Result<bool, CloudError> {
        self.set_unschedulable(node, false).await
    }

    async fn set_unschedulable(&self, node: &str, on: bool) -> Result<bool, CloudError> {
        let api: Api<Node> = Api::all(self.client.clone());
        let current = self.read("get node", || api.get(node)).await?;
        let was = current
            .spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false);
        if was == on {
            return Ok(false);
        }
        let op = format!("{} {node}", if on { "cordon" } else { "uncordon" });
        // Setting spec.unschedulable is idempotent, so it retries like a read.
        self.read(&op, || async {
            if on {
                api.cordon(node).await
            } else {
                api.uncordon(node).await
            }
        })
        .await?;
        Ok(true)
    }
}

/// The counts are what each kind calls desired, ready, available and updated.
fn workload(
    meta: &ObjectMeta,
    selector: Option<&LabelSelector>,
    template: Option<&k8s_openapi::api::core::v1::PodSpec>,
    [desired, ready, available, updated]: [i32; 4],
) -> WorkloadInfo {
    WorkloadInfo {
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
        desired: desired.into(),
        ready: ready.into(),
        available: available.into(),
        updated: updated.into(),
        selector: match_labels(selector),
        images: template
            .map(|s| {
                s.init_containers
                    .iter()
                    .flatten()
                    .chain(&s.containers)
                    .filter_map(|c| c.image.clone())
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn match_labels(selector: Option<&LabelSelector>) -> BTreeMap<String, String> {
    selector
        .and_then(|s| s.match_labels.clone())
        .unwrap_or_default()
}

/// RFC 3339, empty when absent.
pub fn time(t: Option<&Time>) -> String {
    t.map(|t| t.0.to_string()).unwrap_or_default()
}

/// Whole seconds from an RFC 3339 `created` to `now` (0 for a clock skewed
/// into the future); None when `created` is unknown.
pub fn age(created: &str, now: jiff::Timestamp) -> Option<u64> {
    let created: jiff::Timestamp = created.parse().ok()?;
    Some(now.duration_since(created).as_secs().max(0) as u64)
}

/// Deployments and StatefulSets spell their spec and counts alike.
macro_rules! replicated_workload {
    ($d:expr) => {{
        let spec = $d.spec.as_ref();
        let st = $d.status.as_ref();
        workload(
            &$d.metadata,
            spec.map(|s| &s.selector),
            spec.and_then(|s| s.template.spec.as_ref()),
            [
                spec.and_then(|s| s.replicas).unwrap_or(1),
                st.and_then(|s| s.ready_replicas).unwrap_or(0),
                st.and_then(|s| s.available_replicas).unwrap_or(0),
                st.and_then(|s| s.updated_replicas).unwrap_or(0),
            ],
        )
    }};
}

pub fn deployment_info(d: &Deployment) -> WorkloadInfo {
    replicated_workload!(d)
}

pub fn daemonset_info(d: &DaemonSet) -> WorkloadInfo {
    let spec = d.spec.as_ref();
    let st = d.status.clone().unwrap_or_default();
    workload(
        &d.metadata,
        spec.map(|s| &s.selector),
        spec.and_then(|s| s.template.spec.as_ref()),
        [
            st.desired_number_scheduled,
            st.number_ready,
            st.number_available.unwrap_or(0),
            st.updated_number_scheduled.unwrap_or(0),
        ],
    )
}

pub fn statefulset_info(d: &StatefulSet) -> WorkloadInfo {
    replicated_workload!(d)
}

pub fn node_info(n: &Node) -> NodeInfo {
    let labels = n.metadata.labels.clone().unwrap_or_default();
    let status = n.status.as_ref();
    let info = status.and_then(|s| s.node_info.as_ref());
    let spec = n.spec.as_ref();
    let unschedulable = spec.and_then(|s| s.unschedulable).unwrap_or(false);
    let taints: Vec<TaintInfo> = spec
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
        .map(|t| TaintInfo {
            key: t.key.clone(),
            value: t.value.clone(),
            effect: t.effect.clone(),
        })
        .collect();
    let replacing = unschedulable
        || taints.iter().any(|t| {
            REPLACEMENT_TAINTS
                .iter()
                .any(|(k, v)| t.key == *k && v.is_none_or(|v| t.value.as_deref() == Some(v)))
        });
    NodeInfo {
        name: n.metadata.name.clone().unwrap_or_default(),
        ready: status
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True"),
        version: info.map(|i| i.kubelet_version.clone()).unwrap_or_default(),
        nodegroup: labels.get(NODEGROUP_LABEL).cloned(),
        unschedulable,
        labels,
        taints,
        replacing,
        // aws:///us-west-2a/i-0123456789abcdef0
        instance_id: spec
            .and_then(|s| s.provider_id.as_deref())
            .filter(|p| p.starts_with("aws://"))
            .and_then(|p| p.rsplit('/').next())
            .filter(|id| id.starts_with("i-"))
            .map(str::to_string),
        kube_proxy_version: info
            .map(|i| i.kube_proxy_version.clone())
            .unwrap_or_default(),
        created: time(n.metadata.creation_timestamp.as_ref()),
        age: None,
    }
}

pub fn pod_info(p: &Pod) -> PodInfo {
    // Borrowed, not cloned: a gate converts every pod of the cluster.
    let meta = &p.metadata;
    let owners = meta.owner_references.as_deref().unwrap_or_default();
    let controller = owners.iter().find(|o| o.controller == Some(true));
    let default_spec: k8s_openapi::api::core::v1::PodSpec;
    let spec = match &p.spec {
        Some(s) => s,
        None => {
            default_spec = Default::default();
            &default_spec
        }
    };
    let default_status: k8s_openapi::api::core::v1::PodStatus;
    let status = match &p.status {
        Some(s) => s,
        None => {
            default_status = Default::default();
            &default_status
        }
    };
    let statuses = status.container_statuses.as_deref().unwrap_or_default();
    let volumes = spec.volumes.as_deref().unwrap_or_default();
    let containers = |cs: &[k8s_openapi::api::core::v1::Container]| {
        cs.iter()
            .map(|c| ContainerInfo {
                name: c.name.clone(),
                image: c.image.clone(),
            })
            .collect()
    };
    PodInfo {
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        node: spec.node_name.clone(),
        phase: status.phase.clone().unwrap_or_default(),
        ready: status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True"),
        owner_kinds: owners.iter().map(|o| o.kind.clone()).collect(),
        controller: controller.map(|o| o.kind.clone()),
        owner_name: controller.map(|o| o.name.clone()),
        owner: controller
            .or(owners.first())
            .map(|o| (o.kind.clone(), o.name.clone())),
        restarts: statuses.iter().map(|s| i64::from(s.restart_count)).sum(),
        labels: meta.labels.clone().unwrap_or_default(),
        images: spec
            .containers
            .iter()
            .filter_map(|c| c.image.clone())
            .collect(),
        containers: containers(&spec.containers),
        init_containers: containers(spec.init_containers.as_deref().unwrap_or_default()),
        waiting_reasons: statuses
            .iter()
            .filter_map(|s| s.state.as_ref()?.waiting.as_ref()?.reason.clone())
            .collect(),
        uses_empty_dir: volumes.iter().any(|v| v.empty_dir.is_some()),
        pvcs: volumes
            .iter()
            .filter_map(|v| v.persistent_volume_claim.as_ref())
            .map(|c| c.claim_name.clone())
            .collect(),
        mirror: meta
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key("kubernetes.io/config.mirror")),
        terminating: meta.deletion_timestamp.is_some(),
        deletion_timestamp: time(meta.deletion_timestamp.as_ref()),
        finalizers: meta.finalizers.clone().unwrap_or_default(),
        created: time(meta.creation_timestamp.as_ref()),
        age: None,
        grace_period: spec.termination_grace_period_seconds,
        pre_stop_s: spec.containers.iter().map(pre_stop_s).max().unwrap_or(0),
    }
}

/// A container's preStop sleep in seconds (0 for any other hook or none).
fn pre_stop_s(c: &k8s_openapi::api::core::v1::Container) -> u64 {
    let Some(hook) = c.lifecycle.as_ref().and_then(|l| l.pre_stop.as_ref()) else {
        return 0;
    };
    if let Some(s) = &hook.sleep {
        return s.seconds.max(0) as u64;
    }
    let command = hook.exec.as_ref().and_then(|e| e.command.as_ref());
    super::timing::exec_sleep_s(command.into_iter().flatten().map(String::as_str))
}

pub fn pdb_info(p: &PodDisruptionBudget) -> PdbInfo {
    let spec = p.spec.clone().unwrap_or_default();
    let status_current = p
        .status
        .as_ref()
        .is_some_and(|s| s.observed_generation.unwrap_or(0) >= p.metadata.generation.unwrap_or(0));
    let status = p.status.clone().unwrap_or_default();
    PdbInfo {
        namespace: p.metadata.namespace.clone().unwrap_or_default(),
        name: p.metadata.name.clone().unwrap_or_default(),
        min_available: spec.min_available,
        max_unavailable: spec.max_unavailable,
        disruptions_allowed: status.disruptions_allowed.into(),
        expected_pods: status.expected_pods.into(),
        current_healthy: status.current_healthy.into(),
        desired_healthy: status.desired_healthy.into(),
        selector: spec.selector,
        status_current,
    }
}
