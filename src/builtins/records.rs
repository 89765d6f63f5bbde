//! Shapes of the records that queries return. Field names follow the EKS and
//! Kubernetes APIs in snake_case; the interpreter builds exactly these fields.

use super::types::{Field, RecordType, Type, list};

const fn f(name: &'static str, ty: Type, doc: &'static str) -> Field {
    Field { name, ty, doc }
}

pub static CLUSTER: RecordType = RecordType {
    name: "Cluster",
    doc: "An EKS cluster (DescribeCluster).",
    fields: &[
        f("name", Type::String, "cluster name"),
        f("arn", Type::String, "cluster ARN"),
        f(
            "version",
            Type::Version,
            "Kubernetes minor of the control plane, e.g. 1.30",
        ),
        f(
            "platform_version",
            Type::String,
            "EKS platform version, e.g. eks.7",
        ),
        f(
            "status",
            Type::String,
            "CREATING, ACTIVE, UPDATING, DELETING or FAILED",
        ),
        f("endpoint", Type::String, "API server endpoint"),
        f("tags", Type::Map, "resource tags"),
    ],
};

pub static NODEGROUP: RecordType = RecordType {
    name: "Nodegroup",
    doc: "An EKS managed nodegroup (DescribeNodegroup).",
    fields: &[
        f("name", Type::String, "nodegroup name"),
        f("cluster", Type::String, "owning cluster"),
        f("version", Type::Version, "Kubernetes minor of the nodes"),
        f("release_version", Type::String, "AMI release version"),
        f("status", Type::String, "ACTIVE, UPDATING, DEGRADED, ..."),
        f("capacity_type", Type::String, "ON_DEMAND or SPOT"),
        f("ami_type", Type::String, "e.g. AL2023_x86_64_STANDARD"),
        f(
            "instance_types",
            Type::List(&list::STRING),
            "EC2 instance types",
        ),
        f("desired_size", Type::Int, "desired node count"),
        f("min_size", Type::Int, "minimum node count"),
        f("max_size", Type::Int, "maximum node count"),
        f(
            "max_unavailable",
            Type::Int,
            "nodes updated at once during a version update (null when a percentage is set)",
        ),
        f(
            "max_unavailable_percentage",
            Type::Int,
            "percentage of nodes updated at once (null when a count is set)",
        ),
        f(
            "max_unavailable_nodes",
            Type::Int,
            "nodes that may be unavailable at once: max_unavailable, or the percentage of desired_size rounded up (at least 1, at most 100)",
        ),
        f(
            "labels",
            Type::Map,
            "Kubernetes labels applied to the nodes",
        ),
        f(
            "taints",
            Type::List(&list::MAP),
            "taints as {key, value, effect}",
        ),
    ],
};

pub static ADDON: RecordType = RecordType {
    name: "Addon",
    doc: "An EKS add-on installed in a cluster (DescribeAddon).",
    fields: &[
        f("name", Type::String, "add-on name, e.g. vpc-cni"),
        f(
            "version",
            Type::String,
            "add-on version, e.g. v1.18.3-eksbuild.1",
        ),
        f("status", Type::String, "ACTIVE, UPDATING, DEGRADED, ..."),
        f(
            "configuration_values",
            Type::String,
            "JSON configuration, may be empty",
        ),
        f(
            "health_issues",
            Type::List(&list::STRING),
            "reported health issue codes",
        ),
    ],
};

pub static UPDATE: RecordType = RecordType {
    name: "Update",
    doc: "An EKS update (ListUpdates, DescribeUpdate) on the cluster, a nodegroup or an add-on.",
    fields: &[
        f("id", Type::String, "update id"),
        f(
            "target",
            Type::String,
            "what it changes: `cluster NAME`, `nodegroup NAME` or `add-on NAME`",
        ),
        f(
            "type",
            Type::String,
            "VersionUpdate, ConfigUpdate, AddonUpdate, VersionRollback, ...",
        ),
        f(
            "status",
            Type::String,
            "InProgress, Successful, Failed or Cancelled",
        ),
        f(
            "params",
            Type::Map,
            "the update's parameters, e.g. version, releaseVersion",
        ),
        f(
            "summary",
            Type::String,
            "one line naming the target, the type, the status and the parameters",
        ),
    ],
};

pub static INSIGHT: RecordType = RecordType {
    name: "Insight",
    doc: "An EKS upgrade insight (ListInsights/DescribeInsight).",
    fields: &[
        f("id", Type::String, "insight id"),
        f("name", Type::String, "short title"),
        f(
            "category",
            Type::String,
            "UPGRADE_READINESS or MISCONFIGURATION",
        ),
        f("status", Type::String, "PASSING, WARNING, ERROR or UNKNOWN"),
        f("reason", Type::String, "why the status was given"),
        f(
            "kubernetes_version",
            Type::Version,
            "minor the insight is about",
        ),
        f("description", Type::String, "what was found"),
        f("recommendation", Type::String, "what to do about it"),
    ],
};

pub static NODE: RecordType = RecordType {
    name: "Node",
    doc: "A Kubernetes node.",
    fields: &[
        f("name", Type::String, "node name"),
        f("ready", Type::Bool, "the Ready condition is True"),
        f("version", Type::Version, "kubelet minor, e.g. 1.30"),
        f(
            "kubelet_version",
            Type::String,
            "full kubelet version, e.g. v1.30.4-eks-a737599",
        ),
        f(
            "nodegroup",
            Type::String,
            "EKS nodegroup (label eks.amazonaws.com/nodegroup)",
        ),
        f("unschedulable", Type::Bool, "cordoned"),
        f(
            "replacing",
            Type::Bool,
            "on its way out: cordoned, or tainted by EKS's rolling update (eks.amazonaws.com/nodegroup=unschedulable), cluster-autoscaler or Karpenter",
        ),
        f("labels", Type::Map, "node labels"),
        f(
            "taints",
            Type::List(&list::MAP),
            "taints as {key, value, effect}",
        ),
        f("instance_id", Type::String, "EC2 instance id"),
        f(
            "age",
            Type::Duration,
            "time since creation, by the cluster's clock: a NotReady node younger than its boot allowance is still joining",
        ),
    ],
};

pub static POD: RecordType = RecordType {
    name: "Pod",
    doc: "A Kubernetes pod.",
    fields: &[
        f("name", Type::String, "pod name"),
        f("namespace", Type::String, "namespace"),
        f(
            "node",
            Type::String,
            "node the pod runs on (empty if pending)",
        ),
        f(
            "phase",
            Type::String,
            "Pending, Running, Succeeded, Failed or Unknown",
        ),
        f("ready", Type::Bool, "all containers ready"),
        f("restarts", Type::Int, "sum of container restarts"),
        f(
            "images",
            Type::List(&list::STRING),
            "container image references",
        ),
        f(
            "reason",
            Type::String,
            "waiting reason, e.g. ImagePullBackOff (empty if none)",
        ),
        f(
            "owner_kind",
            Type::String,
            "kind of the controlling owner (empty if none)",
        ),
        f("owner_name", Type::String, "name of the controlling owner"),
        f("labels", Type::Map, "pod labels"),
        f("terminating", Type::Bool, "has a deletion timestamp"),
        f(
            "age",
            Type::Duration,
            "time since creation, by the cluster's clock",
        ),
        f(
            "uses_emptydir",
            Type::Bool,
            "mounts an emptyDir volume (data lost on eviction)",
        ),
    ],
};

pub static DEPLOYMENT: RecordType = RecordType {
    name: "Deployment",
    doc: "A Kubernetes Deployment.",
    fields: &[
        f("name", Type::String, "deployment name"),
        f("namespace", Type::String, "namespace"),
        f("replicas", Type::Int, "desired replicas"),
        f("ready_replicas", Type::Int, "ready replicas"),
        f("available_replicas", Type::Int, "available replicas"),
        f(
            "updated_replicas",
            Type::Int,
            "replicas at the current template",
        ),
        f(
            "images",
            Type::List(&list::STRING),
            "container image references",
        ),
        f("labels", Type::Map, "labels"),
    ],
};

pub static DAEMONSET: RecordType = RecordType {
    name: "DaemonSet",
    doc: "A Kubernetes DaemonSet.",
    fields: &[
        f("name", Type::String, "daemonset name"),
        f("namespace", Type::String, "namespace"),
        f("desired", Type::Int, "desiredNumberScheduled"),
        f("ready", Type::Int, "numberReady"),
        f("available", Type::Int, "numberAvailable"),
        f("updated", Type::Int, "updatedNumberScheduled"),
        f(
            "images",
            Type::List(&list::STRING),
            "container image references",
        ),
    ],
};

pub static STATEFULSET: RecordType = RecordType {
    name: "StatefulSet",
    doc: "A Kubernetes StatefulSet.",
    fields: &[
        f("name", Type::String, "statefulset name"),
        f("namespace", Type::String, "namespace"),
        f("replicas", Type::Int, "desired replicas"),
        f("ready_replicas", Type::Int, "ready replicas"),
        f(
            "images",
            Type::List(&list::STRING),
            "container image references",
        ),
    ],
};

pub static PDB: RecordType = RecordType {
    name: "Pdb",
    doc: "A Kubernetes PodDisruptionBudget.",
    fields: &[
        f("name", Type::String, "PDB name"),
        f("namespace", Type::String, "namespace"),
        f(
            "min_available",
            Type::Any,
            "int or percentage string; empty if unset",
        ),
        f(
            "max_unavailable",
            Type::Any,
            "int or percentage string; empty if unset",
        ),
        f("expected_pods", Type::Int, "pods the selector matches"),
        f("current_healthy", Type::Int, "healthy pods now"),
        f("desired_healthy", Type::Int, "healthy pods required"),
        f(
            "disruptions_allowed",
            Type::Int,
            "evictions allowed right now",
        ),
        f("selector", Type::Map, "matchLabels"),
    ],
};

/// Every record type, for documentation.
pub static ALL: &[&RecordType] = &[
    &CLUSTER,
    &NODEGROUP,
    &ADDON,
    &UPDATE,
    &INSIGHT,
    &NODE,
    &POD,
    &DEPLOYMENT,
    &DAEMONSET,
    &STATEFULSET,
    &PDB,
];
