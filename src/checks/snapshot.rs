//! The read-only cluster snapshot a check sees. It is plain data (serde
//! structs), so it can be collected through the cloud adapters (`collect.rs`),
//! loaded from JSON in tests, and converted once into rhai values.
//!
//! Field names are snake_case in JSON and in scripts alike; optional values
//! are `()` in rhai when absent.

use indexmap::IndexMap;
use rhai::Dynamic;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterSnapshot {
    /// RFC 3339 time of collection; `age()` measures from here so a check
    /// gives the same answer for the same snapshot.
    pub collected_at: String,
    pub cluster: Cluster,
    pub nodegroups: Vec<Nodegroup>,
    pub nodes: Vec<Node>,
    pub pods: Vec<Pod>,
    pub deployments: Vec<Workload>,
    pub daemonsets: Vec<Workload>,
    pub statefulsets: Vec<Workload>,
    pub pdbs: Vec<Pdb>,
    pub pvcs: Vec<Pvc>,
    pub insights: Vec<Insight>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Cluster {
    pub name: String,
    /// Control-plane minor version, e.g. `1.29`.
    pub version: String,
    pub platform_version: String,
    pub status: String,
    pub addons: Vec<Addon>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Addon {
    pub name: String,
    pub version: String,
    pub status: String,
    /// The EKS add-on catalog for this add-on (DescribeAddonVersions).
    pub catalog: Vec<AddonVersion>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AddonVersion {
    pub version: String,
    /// Kubernetes minor versions this add-on version runs on.
    pub compatible: Vec<String>,
    /// Kubernetes minor versions for which this is the default version.
    pub default_for: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Nodegroup {
    pub name: String,
    pub version: String,
    pub release_version: String,
    pub status: String,
    pub desired_size: i64,
    pub min_size: i64,
    pub max_size: i64,
    pub capacity_type: String,
    pub health_issues: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Node {
    pub name: String,
    /// `eks.amazonaws.com/nodegroup` label, empty for unmanaged nodes.
    pub nodegroup: String,
    pub kubelet_version: String,
    pub kube_proxy_version: String,
    pub ready: bool,
    pub unschedulable: bool,
    pub labels: IndexMap<String, String>,
    pub created: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub node: String,
    pub phase: String,
    pub ready: bool,
    /// Kind of the controlling owner (`ReplicaSet`, `DaemonSet`, ...), empty if none.
    pub owner_kind: String,
    pub owner_name: String,
    pub labels: IndexMap<String, String>,
    pub containers: Vec<Container>,
    pub init_containers: Vec<Container>,
    pub restarts: i64,
    /// First container waiting reason such as `ImagePullBackOff`, else empty.
    pub waiting_reason: String,
    /// RFC 3339; empty unless the pod is terminating.
    pub deletion_timestamp: String,
    pub finalizers: Vec<String>,
    pub pvcs: Vec<String>,
    pub created: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Container {
    pub name: String,
    pub image: String,
}

/// A Deployment, DaemonSet or StatefulSet. For DaemonSets `replicas` is the
/// desired number of scheduled pods.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Workload {
    pub namespace: String,
    pub name: String,
    pub replicas: i64,
    pub ready_replicas: i64,
    pub updated_replicas: i64,
    pub selector: IndexMap<String, String>,
    pub images: Vec<String>,
}

/// `minAvailable`/`maxUnavailable`: a count or a percentage string.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IntOrString {
    Int(i64),
    String(String),
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Pdb {
    pub namespace: String,
    pub name: String,
    pub min_available: Option<IntOrString>,
    pub max_unavailable: Option<IntOrString>,
    /// `matchLabels` of the selector.
    pub selector: IndexMap<String, String>,
    pub expected_pods: i64,
    pub disruptions_allowed: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Pvc {
    pub namespace: String,
    pub name: String,
    pub phase: String,
    pub storage_class: String,
    pub volume: String,
    pub deletion_timestamp: String,
    pub finalizers: Vec<String>,
}

/// An EKS upgrade insight (ListInsights/DescribeInsight).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Insight {
    pub id: String,
    pub name: String,
    pub category: String,
    pub kubernetes_version: String,
    /// `PASSING`, `WARNING`, `ERROR` or `UNKNOWN`.
    pub status: String,
    pub reason: String,
    pub description: String,
    pub deprecations: Vec<Deprecation>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Deprecation {
    pub usage: String,
    pub replaced_with: String,
    pub stop_serving_version: String,
}

/// The snapshot as the rhai variables scripts read, converted once and
/// cloned into each run's scope.
#[derive(Clone, Debug)]
pub struct ScriptValues {
    pub(crate) vars: Vec<(&'static str, Dynamic)>,
    /// Unix seconds of `collected_at`, the `now` of `age()`.
    pub(crate) now: i64,
}

/// Names of the variables every check can read, in scope order.
pub const SCRIPT_VARIABLES: &[&str] = &[
    "cluster",
    "nodegroups",
    "nodes",
    "pods",
    "deployments",
    "daemonsets",
    "statefulsets",
    "pdbs",
    "pvcs",
    "insights",
    "params",
];

impl ClusterSnapshot {
    pub fn from_json(text: &str) -> serde_json::Result<Self> {
        serde_json::from_str(text)
    }

    /// Convert to the rhai values a run reads. Do this once per snapshot.
    pub fn to_script(&self) -> anyhow::Result<ScriptValues> {
        fn conv<T: Serialize>(v: &T) -> anyhow::Result<Dynamic> {
            rhai::serde::to_dynamic(v).map_err(|e| anyhow::anyhow!("snapshot conversion: {e}"))
        }
        let now = if self.collected_at.is_empty() {
            jiff::Timestamp::now()
        } else {
            self.collected_at
                .parse::<jiff::Timestamp>()
                .map_err(|e| anyhow::anyhow!("collected_at `{}`: {e}", self.collected_at))?
        };
        Ok(ScriptValues {
            vars: vec![
                ("cluster", conv(&self.cluster)?),
                ("nodegroups", conv(&self.nodegroups)?),
                ("nodes", conv(&self.nodes)?),
                ("pods", conv(&self.pods)?),
                ("deployments", conv(&self.deployments)?),
                ("daemonsets", conv(&self.daemonsets)?),
                ("statefulsets", conv(&self.statefulsets)?),
                ("pdbs", conv(&self.pdbs)?),
                ("pvcs", conv(&self.pvcs)?),
                ("insights", conv(&self.insights)?),
            ],
            now: now.as_second(),
        })
    }
}
