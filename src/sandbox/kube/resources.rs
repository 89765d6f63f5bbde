//! The resources the sandbox serves, with what discovery reports for each.

pub struct ResourceDef {
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    /// "" for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
}

const RW: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// Reviews are only ever created (and answered at once).
const REVIEWS: &[&str] = &[
    "selfsubjectaccessreviews",
    "selfsubjectrulesreviews",
    "selfsubjectreviews",
];

impl ResourceDef {
    pub fn verbs(&self) -> &'static [&'static str] {
        if self.is_review() { &["create"] } else { RW }
    }

    /// An authorization or authentication review (answered, never stored).
    pub fn is_review(&self) -> bool {
        REVIEWS.contains(&self.plural)
    }

    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `pods` → `pods` for core, `deployments.apps` otherwise (as in
    /// API error messages).
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

macro_rules! res {
    ($plural:expr, $singular:expr, $kind:expr, $group:expr, $ns:expr, [$($short:expr),*], [$($cat:expr),*]) => {
        ResourceDef {
            plural: $plural,
            singular: $singular,
            kind: $kind,
            group: $group,
            version: "v1",
            namespaced: $ns,
            short_names: &[$($short),*],
            categories: &[$($cat),*],
        }
    };
}

pub static RESOURCES: &[ResourceDef] = &[
    res!(
        "namespaces",
        "namespace",
        "Namespace",
        "",
        false,
        ["ns"],
        []
    ),
    res!("nodes", "node", "Node", "", false, ["no"], []),
    res!("pods", "pod", "Pod", "", true, ["po"], ["all"]),
    res!("configmaps", "configmap", "ConfigMap", "", true, ["cm"], []),
    res!(
        "serviceaccounts",
        "serviceaccount",
        "ServiceAccount",
        "",
        true,
        ["sa"],
        []
    ),
    res!("events", "event", "Event", "", true, ["ev"], []),
    res!(
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        "PersistentVolumeClaim",
        "",
        true,
        ["pvc"],
        []
    ),
    res!("services", "service", "Service", "", true, ["svc"], ["all"]),
    res!("endpoints", "endpoints", "Endpoints", "", true, ["ep"], []),
    res!(
        "deployments",
        "deployment",
        "Deployment",
        "apps",
        true,
        ["deploy"],
        ["all"]
    ),
    res!(
        "replicasets",
        "replicaset",
        "ReplicaSet",
        "apps",
        true,
        ["rs"],
        ["all"]
    ),
    res!(
        "daemonsets",
        "daemonset",
        "DaemonSet",
        "apps",
        true,
        ["ds"],
        ["all"]
    ),
    res!(
        "statefulsets",
        "statefulset",
        "StatefulSet",
        "apps",
        true,
        ["sts"],
        ["all"]
    ),
    res!(
        "poddisruptionbudgets",
        "poddisruptionbudget",
        "PodDisruptionBudget",
        "policy",
        true,
        ["pdb"],
        []
    ),
    res!(
        "leases",
        "lease",
        "Lease",
        "coordination.k8s.io",
        true,
        [],
        []
    ),
    // `kubectl auth can-i` and `kubectl auth whoami`.
    res!(
        "selfsubjectaccessreviews",
        "selfsubjectaccessreview",
        "SelfSubjectAccessReview",
        "authorization.k8s.io",
        false,
        [],
        []
    ),
    res!(
        "selfsubjectrulesreviews",
        "selfsubjectrulesreview",
        "SelfSubjectRulesReview",
        "authorization.k8s.io",
        false,
        [],
        []
    ),
    res!(
        "selfsubjectreviews",
        "selfsubjectreview",
        "SelfSubjectReview",
        "authentication.k8s.io",
        false,
        [],
        []
    ),
];

/// A subresource listed in discovery: (parent, sub, kind, group, version, verbs).
pub type Subresource = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
);

pub static SUBRESOURCES: &[Subresource] = &[
    ("pods", "eviction", "Eviction", "policy", "v1", &["create"]),
    (
        "pods",
        "status",
        "Pod",
        "",
        "v1",
        &["get", "patch", "update"],
    ),
    ("pods", "log", "Pod", "", "v1", &["get"]),
    (
        "nodes",
        "status",
        "Node",
        "",
        "v1",
        &["get", "patch", "update"],
    ),
    (
        "deployments",
        "status",
        "Deployment",
        "apps",
        "v1",
        &["get", "patch", "update"],
    ),
    (
        "deployments",
        "scale",
        "Scale",
        "autoscaling",
        "v1",
        &["get", "patch", "update"],
    ),
    (
        "statefulsets",
        "scale",
        "Scale",
        "autoscaling",
        "v1",
        &["get", "patch", "update"],
    ),
    (
        "replicasets",
        "scale",
        "Scale",
        "autoscaling",
        "v1",
        &["get", "patch", "update"],
    ),
    (
        "poddisruptionbudgets",
        "status",
        "PodDisruptionBudget",
        "policy",
        "v1",
        &["get", "patch", "update"],
    ),
];

/// Built-in kinds, then the custom resources (`custom.rs`).
pub fn all() -> impl Iterator<Item = &'static ResourceDef> {
    RESOURCES.iter().chain(super::custom::RESOURCES)
}

pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceDef> {
    all().find(|r| r.group == group && r.version == version && r.plural == plural)
}

pub fn groups() -> Vec<&'static str> {
    let mut gs: Vec<&str> = all().map(|r| r.group).filter(|g| !g.is_empty()).collect();
    gs.dedup();
    gs
}
