//! Typed EKS reads and mutations over aws-sdk-eks.
//!
//! Every mutation: (1) reads current state and returns `Unchanged` when it
//! already matches, so rerunning a finished upgrade changes nothing; (2) in
//! plan mode returns a `Plan` and records the state it would produce in a
//! projection that later reads see; (3) otherwise sends the request with the
//! caller's idempotency token and waits for the update through
//! DescribeUpdate, surfacing the update's errors verbatim.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_eks::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_eks::types::{
    InsightStatusValue, InsightsFilter, Nodegroup, NodegroupScalingConfig, NodegroupUpdateConfig,
    ResolveConflicts, Update, UpdateLabelsPayload, UpdateStatus,
};
use serde::Serialize;

use super::CloudError;
use super::clock::{Clock, human};
use super::kube::Kube;
use super::plan::{Change, Mutation, Plan};
use super::timing;

/// The insight categories that gate a version upgrade and a rollback.
const UPGRADE_READINESS: &str = "UPGRADE_READINESS";
const ROLLBACK_READINESS: &str = "ROLLBACK_READINESS";

/// What a category of readiness insights judges: the control plane's move
/// to the next minor, or back to the previous one.
#[derive(Clone, Copy, PartialEq)]
enum Readiness {
    Upgrade,
    Rollback,
}

impl Readiness {
    fn category(self) -> &'static str {
        match self {
            Readiness::Upgrade => UPGRADE_READINESS,
            Readiness::Rollback => ROLLBACK_READINESS,
        }
    }

    /// A kubelet or kube-proxy at `v` fails the check for a control plane
    /// at `to`. The skew policy: never newer, at most 3 minors older. EKS's
    /// rollback readiness checks only the first (the rollback makes the
    /// API server older, never further ahead).
    fn skewed(self, v: &str, to: &str) -> bool {
        let (Some(v), Some(to)) = (parse_minor(v), parse_minor(to)) else {
            return false;
        };
        v > to || (self == Readiness::Upgrade && to > (v.0, v.1 + 3))
    }

    fn failing_nodes(self, n: usize, to: &str) -> String {
        match self {
            Readiness::Upgrade => {
                format!("{n} node(s) would exceed the supported kubelet version skew of {to}")
            }
            Readiness::Rollback => format!("{n} node(s) run a kubelet newer than {to}"),
        }
    }

    /// EKS's description of check `name`, for an insight judged afresh.
    fn description(self, name: &str) -> &'static str {
        match (self, name) {
            (Readiness::Upgrade, "Kubelet version skew") => {
                "Checks for kubelet versions of worker nodes in the cluster to see if upgrade would cause noncompliance with supported Kubernetes kubelet version skew policy."
            }
            (Readiness::Upgrade, "Kube-proxy version skew") => {
                "Checks version of kube-proxy in cluster to see if upgrade would cause noncompliance with supported Kubernetes kube-proxy version skew policy."
            }
            (Readiness::Upgrade, _) => {
                "Checks version of installed EKS add-ons to ensure they are compatible with the next version of Kubernetes."
            }
            (Readiness::Rollback, "Kubelet version skew") => {
                "Checks for worker nodes whose kubelet is newer than the version the control plane would roll back to."
            }
            (Readiness::Rollback, "Kube-proxy version skew") => {
                "Checks that kube-proxy would not be newer than the control plane after the rollback."
            }
            (Readiness::Rollback, _) => {
                "Checks that installed EKS add-ons are compatible with the version the control plane would roll back to."
            }
        }
    }

    /// What of EKS's insights `real`, evaluated for another minor, still
    /// holds once judged for `to`: a rollback's none; an upgrade's
    /// deprecated APIs (the plan moves no workload off them), at ERROR
    /// when `to` or an earlier minor stops serving them.
    fn carried_over(self, real: Vec<InsightInfo>, to: &str) -> Vec<InsightInfo> {
        if self == Readiness::Rollback {
            return Vec::new();
        }
        real.into_iter()
            .filter(|i| i.name.starts_with("Deprecated APIs removed in"))
            .map(|i| InsightInfo {
                status: if parse_minor(&i.kubernetes_version) <= parse_minor(to) {
                    "ERROR"
                } else {
                    "WARNING"
                }
                .to_string(),
                ..i
            })
            .collect()
    }
}

/// How often an update is polled (simulated time).
const POLL: Duration = Duration::from_secs(15);

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ClusterInfo {
    pub name: String,
    pub version: String,
    pub status: String,
    pub platform_version: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct NodegroupInfo {
    pub name: String,
    pub version: String,
    pub release_version: Option<String>,
    pub status: String,
    pub min_size: i64,
    pub max_size: i64,
    pub desired_size: i64,
    pub max_unavailable: Option<i64>,
    pub max_unavailable_percentage: Option<i64>,
    /// Nodes a version update may take down at once (`unavailable_nodes`).
    pub max_unavailable_nodes: i64,
    pub instance_types: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// Not serialized, so the nodegroup record's `capacity_type` stays
    /// unset as before; checks read it from the snapshot.
    #[serde(skip)]
    pub capacity_type: String,
    /// `CODE: message` per health issue.
    #[serde(skip)]
    pub health_issues: Vec<String>,
    /// The full description, to copy a group's configuration (blue/green).
    #[serde(skip)]
    pub raw: Option<Nodegroup>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AddonInfo {
    pub name: String,
    pub version: String,
    pub status: String,
}

/// One version of an add-on in the EKS catalog (DescribeAddonVersions).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AddonVersionInfo {
    pub version: String,
    /// Kubernetes versions this add-on version runs on.
    pub compatible: Vec<String>,
    /// Kubernetes versions for which this is the default version.
    pub default_for: Vec<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct InsightInfo {
    pub id: String,
    pub name: String,
    pub category: String,
    pub status: String,
    pub description: String,
    /// Not serialized: the insight record leaves these unset for now.
    #[serde(skip)]
    pub kubernetes_version: String,
    #[serde(skip)]
    pub reason: String,
}

/// A deprecated API an insight found in use (DescribeInsight).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct DeprecationInfo {
    pub usage: String,
    pub replaced_with: String,
    pub stop_serving_version: String,
}

/// Scaling/update settings to change on a nodegroup; `None` leaves a field.
#[derive(Clone, Debug, Default)]
pub struct NodegroupConfig {
    pub min_size: Option<i64>,
    pub max_size: Option<i64>,
    pub desired_size: Option<i64>,
    pub max_unavailable: Option<i64>,
    pub max_unavailable_percentage: Option<i64>,
    pub labels: BTreeMap<String, String>,
}

impl NodegroupConfig {
    /// EKS's own bounds, checked before any request so a bad value fails
    /// the action at once instead of as a 400 halfway through a run.
    pub fn validate(&self) -> Result<(), CloudError> {
        check_update_config(self.max_unavailable, self.max_unavailable_percentage)?;
        for (name, v) in [
            ("min_size", self.min_size),
            ("max_size", self.max_size),
            ("desired_size", self.desired_size),
        ] {
            if let Some(v) = v
                && v < 0
            {
                return Err(CloudError::Invalid(format!(
                    "{name} must not be negative, got {v}"
                )));
            }
        }
        Ok(())
    }
}

/// UpdateConfig's bounds: maxUnavailable 1..=100 or maxUnavailablePercentage
/// 1..=100, at most one of them.
pub fn check_update_config(count: Option<i64>, percentage: Option<i64>) -> Result<(), CloudError> {
    if count.is_some() && percentage.is_some() {
        return Err(CloudError::Invalid(
            "set max_unavailable or max_unavailable_percentage, not both (EKS takes one)".into(),
        ));
    }
    for (name, v) in [
        ("max_unavailable", count),
        ("max_unavailable_percentage", percentage),
    ] {
        if let Some(v) = v
            && !(1..=100).contains(&v)
        {
            return Err(CloudError::Invalid(format!(
                "{name} must be between 1 and 100 (EKS's bounds), got {v}"
            )));
        }
    }
    Ok(())
}

/// Nodes an update may take down at once: the count, or the percentage of
/// the desired size rounded up; at least 1, at most 100 (EKS's cap).
pub fn unavailable_nodes(count: Option<i64>, percentage: Option<i64>, desired: i64) -> i64 {
    let n = match (count, percentage) {
        (Some(c), _) => c,
        (None, Some(p)) => (desired.max(0) * p + 99) / 100,
        (None, None) => 1,
    };
    n.clamp(1, 100)
}

/// What a copied nodegroup changes from its source; the default copies it
/// as it is.
#[derive(Clone, Debug, Default)]
pub struct CopyOverrides {
    /// Min, max and desired size all this.
    pub size: Option<i64>,
    pub labels: HashMap<String, String>,
    /// NoSchedule taints as (key, value).
    pub no_schedule: Vec<(String, String)>,
}

/// The state planned mutations would leave behind, so a dry run plans later
/// steps against it (after planning 1.28 → 1.29 the cluster reads 1.29).
#[derive(Default, Debug)]
struct Projection {
    cluster_version: HashMap<String, String>,
    nodegroup_version: HashMap<(String, String), String>,
    addon_version: HashMap<(String, String), String>,
    created: HashMap<(String, String), String>,
    deleted: HashSet<(String, String)>,
    /// Control-plane minors this dry run upgrades to: a rollback from one
    /// is inside EKS's window (the upgrade is this run's own).
    upgraded_to: HashSet<(String, String)>,
}

impl Projection {
    /// The plan has changed something of `cluster` that its insights judge.
    fn touches(&self, cluster: &str) -> bool {
        self.cluster_version.contains_key(cluster)
            || self.nodegroup_version.keys().any(|(c, _)| c == cluster)
            || self.addon_version.keys().any(|(c, _)| c == cluster)
            || self.deleted.iter().any(|(c, _)| c == cluster)
    }
}

#[derive(Clone)]
pub struct Eks {
    client: aws_sdk_eks::Client,
    clock: Clock,
    projection: Arc<Mutex<Projection>>,
    updates: Arc<Mutex<UpdateLedger>>,
}

/// What an EKS update belongs to: ListUpdates and DescribeUpdate name the
/// cluster and, for a nodegroup's or an add-on's update, that too.
#[derive(Clone, Copy, Debug)]
struct UpdateOf<'a> {
    cluster: &'a str,
    nodegroup: Option<&'a str>,
    addon: Option<&'a str>,
}

impl<'a> UpdateOf<'a> {
    fn cluster(cluster: &'a str) -> Self {
        UpdateOf {
            cluster,
            nodegroup: None,
            addon: None,
        }
    }

    fn nodegroup(cluster: &'a str, nodegroup: &'a str) -> Self {
        UpdateOf {
            nodegroup: Some(nodegroup),
            ..UpdateOf::cluster(cluster)
        }
    }

    fn addon(cluster: &'a str, addon: &'a str) -> Self {
        UpdateOf {
            addon: Some(addon),
            ..UpdateOf::cluster(cluster)
        }
    }
}

/// Which EKS updates are this run's, and which existed when it first
/// looked: the drift guard (`foreign_updates`) reports the rest.
#[derive(Debug, Default)]
struct UpdateLedger {
    /// Updates this process started or waited for.
    own: std::collections::HashSet<String>,
    /// Every update id seen by the first `foreign_updates` call.
    baseline: Option<std::collections::HashSet<String>>,
}

/// An EKS update as the drift guard reports it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct UpdateInfo {
    pub id: String,
    pub target: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    pub params: std::collections::BTreeMap<String, String>,
    pub summary: String,
}

fn sdk_err<E, R>(op: &'static str, err: SdkError<E, R>) -> CloudError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match &err {
        SdkError::ServiceError(ctx) => CloudError::Eks {
            op,
            code: ctx.err().code().map(str::to_string),
            message: ctx.err().message().unwrap_or("(no message)").to_string(),
        },
        _ => CloudError::Eks {
            op,
            code: None,
            message: aws_sdk_eks::error::DisplayErrorContext(&err).to_string(),
        },
    }
}

/// The `release_version` asking for the newest AMI release of a version.
pub const LATEST_RELEASE: &str = "latest";

/// `(major, minor)` of "1.29" / "v1.29.3-eks-..." / "1.29.0".
pub fn parse_minor(v: &str) -> Option<(u64, u64)> {
    crate::literal::Version::of_reported(v).map(|v| (v.major, v.minor))
}

/// The minors to pass through from `from` to `to`, one per hop as EKS
/// requires: 1.28 → 1.30 is [1.29, 1.30]. Empty when already there.
pub fn version_path(from: &str, to: &str) -> Result<Vec<String>, CloudError> {
    let bad = |v: &str| CloudError::Invalid(format!("`{v}` is not a Kubernetes version like 1.29"));
    let (fm, fmin) = parse_minor(from).ok_or_else(|| bad(from))?;
    let (tm, tmin) = parse_minor(to).ok_or_else(|| bad(to))?;
    if fm != tm {
        return Err(CloudError::Invalid(format!(
            "cannot move between major versions ({from} → {to})"
        )));
    }
    if tmin < fmin {
        return Err(CloudError::Invalid(format!(
            "target {to} is older than the current version {from}; EKS cannot downgrade"
        )));
    }
    Ok((fmin + 1..=tmin).map(|m| format!("{fm}.{m}")).collect())
}

/// How long after an in-place upgrade EKS rolls the control plane back.
pub const ROLLBACK_WINDOW: Duration = Duration::from_secs(7 * 86_400);

/// The minor before `v`: "1.29" → "1.28".
pub fn previous_minor(v: &str) -> Result<String, CloudError> {
    match parse_minor(v) {
        Some((major, minor)) if minor > 0 => Ok(format!("{major}.{}", minor - 1)),
        _ => Err(CloudError::Invalid(format!(
            "`{v}` is not a Kubernetes version with a previous minor"
        ))),
    }
}

/// The minor after `v`: "1.29" → "1.30".
pub fn next_minor(v: &str) -> Result<String, CloudError> {
    parse_minor(v)
        .map(|(major, minor)| format!("{major}.{}", minor + 1))
        .ok_or_else(|| CloudError::Invalid(format!("`{v}` is not a Kubernetes version")))
}

/// `a` is exactly one minor below `b` (a version rollback's target).
pub fn is_previous_minor(a: &str, b: &str) -> bool {
    matches!((parse_minor(a), parse_minor(b)), (Some((am, an)), Some((bm, bn))) if am == bm && an + 1 == bn)
}

fn same_minor(a: &str, b: &str) -> bool {
    parse_minor(a).is_some() && parse_minor(a) == parse_minor(b)
}

impl Eks {
    pub fn new(client: aws_sdk_eks::Client, clock: Clock) -> Self {
        Eks {
            client: super::connect::retry_on_clock(client, &clock),
            clock,
            projection: Arc::default(),
            updates: Arc::default(),
        }
    }

    /// The same client with fresh per-run state.
    pub fn for_run(&self) -> Eks {
        Eks::new(self.client.clone(), self.clock.clone())
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The same client without this one's planned changes: its reads see
    /// the cluster as it is, not as a dry run would leave it.
    pub fn observed(&self) -> Eks {
        Eks::new(self.client.clone(), self.clock.clone())
    }

    pub fn client(&self) -> &aws_sdk_eks::Client {
        &self.client
    }

    fn proj(&self) -> std::sync::MutexGuard<'_, Projection> {
        self.projection.lock().unwrap_or_else(|p| p.into_inner())
    }

    // ---------------------------------------------------------------- reads

    pub async fn cluster(&self, name: &str) -> Result<ClusterInfo, CloudError> {
        let out = self
            .client
            .describe_cluster()
            .name(name)
            .send()
            .await
            .map_err(|e| sdk_err("DescribeCluster", e))?;
        let c = out
            .cluster()
            .ok_or_else(|| CloudError::NotFound(format!("cluster {name}")))?;
        let mut info = ClusterInfo {
            name: name.to_string(),
            version: c.version().unwrap_or_default().to_string(),
            status: c
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            platform_version: c.platform_version().map(str::to_string),
        };
        if let Some(v) = self.proj().cluster_version.get(name) {
            info.version = v.clone();
        }
        Ok(info)
    }

    pub async fn nodegroup_names(&self, cluster: &str) -> Result<Vec<String>, CloudError> {
        let mut names: Vec<String> = self
            .client
            .list_nodegroups()
            .cluster_name(cluster)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| sdk_err("ListNodegroups", e))?;
        let proj = self.proj();
        names.retain(|n| !proj.deleted.contains(&(cluster.to_string(), n.clone())));
        // A group planned, then deleted by a later hop of the same plan, is gone.
        let mut created: Vec<&String> = proj
            .created
            .keys()
            .filter(|key| key.0 == cluster && !proj.deleted.contains(*key))
            .map(|(_, n)| n)
            .collect();
        created.sort();
        for n in created {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
        Ok(names)
    }

    pub async fn nodegroup(&self, cluster: &str, name: &str) -> Result<NodegroupInfo, CloudError> {
        let key = (cluster.to_string(), name.to_string());
        if self.proj().deleted.contains(&key) {
            return Err(CloudError::NotFound(format!(
                "nodegroup {name} (deleted in this plan)"
            )));
        }
        // A group only planned looks like the real group it copies, through
        // the copies of earlier hops (which a later hop may have deleted).
        let mut real = name.to_string();
        while let Some(from) = self
            .proj()
            .created
            .get(&(cluster.to_string(), real.clone()))
        {
            real = from.clone();
        }
        if real != name {
            let mut info = Box::pin(self.observed().nodegroup(cluster, &real)).await?;
            info.name = name.to_string();
            info.version = self
                .proj()
                .nodegroup_version
                .get(&key)
                .cloned()
                .unwrap_or(info.version);
            return Ok(info);
        }
        let out = self
            .client
            .describe_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(name)
            .send()
            .await
            .map_err(|e| sdk_err("DescribeNodegroup", e))?;
        let ng = out
            .nodegroup()
            .ok_or_else(|| CloudError::NotFound(format!("nodegroup {name}")))?;
        let scaling = ng.scaling_config();
        let mut info = NodegroupInfo {
            name: name.to_string(),
            version: ng.version().unwrap_or_default().to_string(),
            release_version: ng.release_version().map(str::to_string),
            status: ng
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            min_size: scaling.and_then(|s| s.min_size()).unwrap_or(0).into(),
            max_size: scaling.and_then(|s| s.max_size()).unwrap_or(0).into(),
            desired_size: scaling.and_then(|s| s.desired_size()).unwrap_or(0).into(),
            max_unavailable: ng
                .update_config()
                .and_then(|u| u.max_unavailable())
                .map(i64::from),
            max_unavailable_percentage: ng
                .update_config()
                .and_then(|u| u.max_unavailable_percentage())
                .map(i64::from),
            max_unavailable_nodes: 1,
            instance_types: ng.instance_types().to_vec(),
            labels: ng
                .labels()
                .map(|l| l.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            capacity_type: ng
                .capacity_type()
                .map(|c| c.as_str().to_string())
                .unwrap_or_default(),
            health_issues: ng
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
            raw: Some(ng.clone()),
        };
        info.max_unavailable_nodes = unavailable_nodes(
            info.max_unavailable,
            info.max_unavailable_percentage,
            info.desired_size,
        );
        if let Some(v) = self.proj().nodegroup_version.get(&key) {
            info.version = v.clone();
        }
        Ok(info)
    }

    /// Dry run: whether this plan already replaces every node of
    /// `nodegroup` (rotates it, or creates it), so the nodes the cluster
    /// lists now are not the ones a later step finds there.
    pub fn planned_new_nodes(&self, cluster: &str, nodegroup: &str) -> bool {
        let key = (cluster.to_string(), nodegroup.to_string());
        let proj = self.proj();
        proj.created.contains_key(&key) || proj.nodegroup_version.contains_key(&key)
    }

    pub async fn addons(&self, cluster: &str) -> Result<Vec<AddonInfo>, CloudError> {
        let names: Vec<String> = self
            .client
            .list_addons()
            .cluster_name(cluster)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| sdk_err("ListAddons", e))?;
        // One add-on's DescribeAddon is independent of another's: overlap them.
        futures::future::try_join_all(names.iter().map(|name| self.addon(cluster, name))).await
    }

    pub async fn addon(&self, cluster: &str, name: &str) -> Result<AddonInfo, CloudError> {
        let out = self
            .client
            .describe_addon()
            .cluster_name(cluster)
            .addon_name(name)
            .send()
            .await
            .map_err(|e| sdk_err("DescribeAddon", e))?;
        let a = out
            .addon()
            .ok_or_else(|| CloudError::NotFound(format!("add-on {name}")))?;
        let mut info = AddonInfo {
            name: name.to_string(),
            version: a.addon_version().unwrap_or_default().to_string(),
            status: a
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
        };
        if let Some(v) = self
            .proj()
            .addon_version
            .get(&(cluster.to_string(), name.to_string()))
        {
            info.version = v.clone();
        }
        Ok(info)
    }

    /// The version EKS marks as default for `addon` on Kubernetes `k8s`.
    pub async fn default_addon_version(
        &self,
        addon: &str,
        k8s: &str,
    ) -> Result<String, CloudError> {
        let out = self
            .client
            .describe_addon_versions()
            .addon_name(addon)
            .kubernetes_version(k8s)
            .send()
            .await
            .map_err(|e| sdk_err("DescribeAddonVersions", e))?;
        let versions: Vec<AddonVersionInfo> = out
            .addons()
            .iter()
            .filter(|a| a.addon_name() == Some(addon))
            .flat_map(|a| a.addon_versions())
            .map(addon_version_info)
            .collect();
        let runs_on = |ks: &[String]| ks.iter().any(|k| same_minor(k, k8s));
        versions
            .iter()
            .find(|v| runs_on(&v.default_for))
            // No default flagged: the first listed compatible version (EKS lists newest first).
            .or_else(|| versions.iter().find(|v| runs_on(&v.compatible)))
            .map(|v| v.version.clone())
            .ok_or_else(|| {
                CloudError::NotFound(format!(
                    "a version of add-on {addon} compatible with Kubernetes {k8s}"
                ))
            })
    }

    /// The versions of `addon` EKS accepts while the cluster runs `k8s`.
    pub async fn addon_versions(&self, addon: &str, k8s: &str) -> Result<Vec<String>, CloudError> {
        let out = self
            .client
            .describe_addon_versions()
            .addon_name(addon)
            .kubernetes_version(k8s)
            .send()
            .await
            .map_err(|e| sdk_err("DescribeAddonVersions", e))?;
        Ok(out
            .addons()
            .iter()
            .filter(|a| a.addon_name() == Some(addon))
            .flat_map(|a| a.addon_versions())
            .map(addon_version_info)
            .filter(|v| v.compatible.iter().any(|c| same_minor(c, k8s)))
            .map(|v| v.version)
            .collect())
    }

    /// Every version of `addon` in the EKS catalog, for every Kubernetes version.
    pub async fn addon_catalog(&self, addon: &str) -> Result<Vec<AddonVersionInfo>, CloudError> {
        let infos: Vec<_> = self
            .client
            .describe_addon_versions()
            .addon_name(addon)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| sdk_err("DescribeAddonVersions", e))?;
        Ok(infos
            .iter()
            .flat_map(|info| info.addon_versions())
            .map(addon_version_info)
            .collect())
    }

    pub async fn version_path(
        &self,
        cluster: &str,
        target: &str,
    ) -> Result<Vec<String>, CloudError> {
        let current = self.cluster(cluster).await?.version;
        version_path(&current, target)
    }

    /// EKS's insights as a step reads them (`eks.insights`). In a dry run
    /// whose plan has moved the control plane, a nodegroup or an add-on,
    /// the readiness ones (UPGRADE_READINESS, ROLLBACK_READINESS) are those
    /// EKS would report once those changes are made (`project_readiness`):
    /// what the plan resolves is not reported, what it causes is, and the
    /// rest is EKS's own verdict.
    pub async fn insights_after_plan(
        &self,
        cluster: &str,
        status: Option<&str>,
        category: Option<&str>,
        kube: &Kube,
    ) -> Result<Vec<InsightInfo>, CloudError> {
        if !self.proj().touches(cluster) {
            return self.insights(cluster, status, category).await;
        }
        // The status is judged after the projection: a PASSING insight may
        // fail once the plan's changes are made, and an ERROR pass.
        let mut out = self.insights(cluster, None, category).await?;
        for readiness in [Readiness::Upgrade, Readiness::Rollback] {
            if category.is_some_and(|c| !c.eq_ignore_ascii_case(readiness.category())) {
                continue;
            }
            let real;
            (real, out) = out
                .into_iter()
                .partition(|i| i.category == readiness.category());
            out.extend(
                self.project_readiness(cluster, readiness, real, kube)
                    .await?,
            );
        }
        out.retain(|i| status.is_none_or(|s| i.status.eq_ignore_ascii_case(s)));
        Ok(out)
    }

    /// EKS's insights as it reports them now, optionally filtered.
    pub async fn insights(
        &self,
        cluster: &str,
        status: Option<&str>,
        category: Option<&str>,
    ) -> Result<Vec<InsightInfo>, CloudError> {
        let mut req = self.client.list_insights().cluster_name(cluster);
        if status.is_some() || category.is_some() {
            let mut filter = InsightsFilter::builder();
            if let Some(s) = status {
                filter = filter.statuses(InsightStatusValue::from(s.to_ascii_uppercase().as_str()));
            }
            if let Some(c) = category {
                filter = filter.categories(aws_sdk_eks::types::Category::from(
                    c.to_ascii_uppercase().as_str(),
                ));
            }
            req = req.filter(filter.build());
        }
        let summaries: Vec<_> = req
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| sdk_err("ListInsights", e))?;
        Ok(summaries
            .iter()
            .map(|i| InsightInfo {
                id: i.id().unwrap_or_default().to_string(),
                name: i.name().unwrap_or_default().to_string(),
                category: i
                    .category()
                    .map(|c| c.as_str().to_string())
                    .unwrap_or_default(),
                status: i
                    .insight_status()
                    .and_then(|s| s.status())
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                description: i.description().unwrap_or_default().to_string(),
                kubernetes_version: i.kubernetes_version().unwrap_or_default().to_string(),
                reason: i
                    .insight_status()
                    .and_then(|s| s.reason())
                    .unwrap_or_default()
                    .to_string(),
            })
            .collect())
    }

    /// One category of readiness insights as EKS would evaluate it after
    /// the changes this plan made so far. `real` is what EKS reports now.
    /// They judge the minor the next update of that kind reaches (`to`):
    /// the one EKS evaluates now or, once this plan has moved the control
    /// plane, the one next to its planned version, judged afresh. An
    /// upgrade goes to the minor after it; a rollback to the minor before
    /// this plan's own upgrade, and after a planned rollback there is none.
    /// Kubelet, kube-proxy and add-on compatibility are judged per node or
    /// add-on: those the plan changes by their planned version (a
    /// nodegroup's nodes all at its planned version, a deleted group's
    /// gone), the others by EKS's verdict now. Warnings are not projected:
    /// what does not fail reads PASSING. Other insights pass through.
    async fn project_readiness(
        &self,
        cluster: &str,
        readiness: Readiness,
        real: Vec<InsightInfo>,
        kube: &Kube,
    ) -> Result<Vec<InsightInfo>, CloudError> {
        let (planned_cluster, own_upgrade, groups, created, deleted, addons) = {
            let p = self.proj();
            let planned_cluster = p.cluster_version.get(cluster).cloned();
            let own_upgrade = planned_cluster
                .as_ref()
                .is_some_and(|v| p.upgraded_to.contains(&(cluster.to_string(), v.clone())));
            let of_cluster = |(c, n): &(String, String)| (c == cluster).then(|| n.clone());
            let groups: HashMap<String, String> = p
                .nodegroup_version
                .iter()
                .filter_map(|(k, v)| Some((of_cluster(k)?, v.clone())))
                .collect();
            let created: HashSet<String> = p.created.keys().filter_map(of_cluster).collect();
            let deleted: HashSet<String> = p.deleted.iter().filter_map(of_cluster).collect();
            let addons: HashMap<String, String> = p
                .addon_version
                .iter()
                .filter_map(|(k, v)| Some((of_cluster(k)?, v.clone())))
                .collect();
            (
                planned_cluster,
                own_upgrade,
                groups,
                created,
                deleted,
                addons,
            )
        };
        let kubelet = "Kubelet version skew";
        let evaluated_now = real
            .iter()
            .find(|i| i.name == kubelet)
            .map(|i| i.kubernetes_version.clone());
        let (to, fresh) = match (readiness, &planned_cluster, evaluated_now) {
            (Readiness::Upgrade, Some(v), _) => (next_minor(v)?, true),
            (Readiness::Rollback, Some(v), _) if own_upgrade => (previous_minor(v)?, true),
            // Rolled back in this plan: EKS rolls back once.
            (Readiness::Rollback, Some(_), _) => return Ok(Vec::new()),
            (_, None, Some(to)) => (to, false),
            // Nothing evaluated now (no rollback window, no newer minor),
            // and the plan does not open it.
            (_, None, None) => return Ok(real),
        };
        let real: Vec<InsightInfo> = if fresh {
            readiness.carried_over(real, &to)
        } else {
            real
        };
        let fails = |v: &str| readiness.skewed(v, &to);
        let mut out = Vec::new();
        let mut judged = |name: &str,
                          failing_now: Vec<String>,
                          planned: Vec<(String, bool)>,
                          what: &dyn Fn(usize) -> String,
                          description: &str| {
            let failing = super::plan::failing_after_plan(&failing_now, &planned);
            let base = real.iter().find(|i| i.name == name);
            out.push(InsightInfo {
                id: base.map(|i| i.id.clone()).unwrap_or_default(),
                name: name.to_string(),
                category: readiness.category().to_string(),
                status: if failing.is_empty() {
                    "PASSING"
                } else {
                    "ERROR"
                }
                .to_string(),
                description: base
                    .map(|i| i.description.clone())
                    .unwrap_or_else(|| description.to_string()),
                kubernetes_version: to.clone(),
                reason: if failing.is_empty() {
                    format!("none once the changes planned above are made ({})", what(0))
                } else {
                    format!(
                        "{} once the changes planned above are made: {}",
                        what(failing.len()),
                        failing.join(", ")
                    )
                },
            });
        };
        let real_failing = |name: &str| {
            let insight = real.iter().find(|i| i.name == name).cloned();
            async move {
                match insight {
                    Some(i) if i.status == "ERROR" => {
                        let named = self.failing_resources(cluster, &i).await?;
                        // An error whose resources cannot be told apart
                        // is not the plan's to clear.
                        Ok(if named.is_empty() {
                            vec![format!("what EKS reports: {}", i.reason)]
                        } else {
                            named
                        })
                    }
                    _ => Ok(Vec::new()),
                }
            }
        };

        // Kubelets outside the skew policy against `to`: a planned group's
        // nodes all run its planned version; a deleted group's are gone; a
        // created group's nodes are named after it.
        if fresh || !groups.is_empty() || !deleted.is_empty() {
            let nodes = kube.nodes(None).await?;
            let failing_now = if fresh {
                nodes
                    .iter()
                    .filter(|n| fails(&n.version))
                    .map(|n| n.name.clone())
                    .collect()
            } else {
                real_failing(kubelet).await?
            };
            let mut planned = Vec::new();
            let mut seen = HashSet::new();
            for n in &nodes {
                let Some(g) = n.nodegroup.as_deref() else {
                    continue;
                };
                seen.insert(g);
                if deleted.contains(g) {
                    planned.push((n.name.clone(), false));
                } else if let Some(v) = groups.get(g) {
                    planned.push((n.name.clone(), fails(v)));
                }
            }
            for g in created.iter().filter(|g| !deleted.contains(*g)) {
                if let Some(v) = groups.get(g).filter(|_| !seen.contains(g.as_str())) {
                    planned.push((format!("the nodes of nodegroup {g}"), fails(v)));
                }
            }
            judged(
                kubelet,
                failing_now,
                planned,
                &|n| readiness.failing_nodes(n, &to),
                readiness.description(kubelet),
            );
        }

        // kube-proxy outside the skew policy, and add-ons `to` does not support.
        let installed: Vec<AddonInfo> = if fresh || !addons.is_empty() {
            self.addons(cluster).await?
        } else {
            Vec::new()
        };
        let proxy = "Kube-proxy version skew";
        if let Some(kp) = installed.iter().find(|a| a.name == "kube-proxy")
            && (fresh || addons.contains_key("kube-proxy"))
        {
            judged(
                proxy,
                Vec::new(),
                vec![(kp.version.clone(), fails(&kp.version))],
                &|n| format!("{n} kube-proxy build(s) outside the version skew of {to}"),
                readiness.description(proxy),
            );
        }
        let compatibility = "EKS add-on version compatibility";
        let others: Vec<&AddonInfo> = installed
            .iter()
            .filter(|a| a.name != "kube-proxy")
            .collect();
        if fresh || others.iter().any(|a| addons.contains_key(&a.name)) {
            let failing_now = if fresh {
                Vec::new()
            } else {
                real_failing(compatibility).await?
            };
            let mut planned = Vec::new();
            for a in others {
                if fresh || addons.contains_key(&a.name) {
                    let supported = self.addon_versions(&a.name, &to).await?;
                    planned.push((a.name.clone(), !supported.contains(&a.version)));
                }
            }
            judged(
                compatibility,
                failing_now,
                planned,
                &|n| format!("{n} add-on(s) not compatible with {to}"),
                readiness.description(compatibility),
            );
        }
        let projected: Vec<String> = out.iter().map(|i| i.name.clone()).collect();
        out.extend(real.into_iter().filter(|i| !projected.contains(&i.name)));
        Ok(out)
    }

    /// The nodes or add-ons an insight fails (DescribeInsight's resources at
    /// ERROR): a node by name, an add-on by the name in its ARN.
    async fn failing_resources(
        &self,
        cluster: &str,
        insight: &InsightInfo,
    ) -> Result<Vec<String>, CloudError> {
        let out = self
            .client
            .describe_insight()
            .cluster_name(cluster)
            .id(&insight.id)
            .send()
            .await
            .map_err(|e| sdk_err("DescribeInsight", e))?;
        let resources = out.insight().map(|i| i.resources()).unwrap_or_default();
        Ok(resources
            .iter()
            .filter(|r| {
                r.insight_status()
                    .and_then(|s| s.status())
                    .is_some_and(|s| s.as_str() == "ERROR")
            })
            .filter_map(|r| {
                if let Some(node) = r
                    .kubernetes_resource_uri()
                    .and_then(|u| u.strip_prefix("/api/v1/nodes/"))
                {
                    return Some(node.to_string());
                }
                // arn:aws:eks:REGION:ACCOUNT:addon/CLUSTER/NAME/ID
                let arn = r.arn()?;
                let path = arn.split_once(":addon/")?.1;
                path.split('/').nth(1).map(str::to_string)
            })
            .collect())
    }

    /// The deprecated APIs insight `id` found in use.
    pub async fn insight_deprecations(
        &self,
        cluster: &str,
        id: &str,
    ) -> Result<Vec<DeprecationInfo>, CloudError> {
        let out = self
            .client
            .describe_insight()
            .cluster_name(cluster)
            .id(id)
            .send()
            .await
            .map_err(|e| sdk_err("DescribeInsight", e))?;
        let details = out
            .insight()
            .and_then(|i| i.category_specific_summary())
            .map(|s| s.deprecation_details())
            .unwrap_or_default();
        Ok(details
            .iter()
            .map(|d| DeprecationInfo {
                usage: d.usage().unwrap_or_default().to_string(),
                replaced_with: d.replaced_with().unwrap_or_default().to_string(),
                stop_serving_version: d.stop_serving_version().unwrap_or_default().to_string(),
            })
            .collect())
    }

    /// Ids of updates still in progress on the cluster (or a nodegroup).
    async fn updates_in_progress(&self, of: UpdateOf<'_>) -> Result<Vec<String>, CloudError> {
        let out = self
            .client
            .list_updates()
            .name(of.cluster)
            .set_nodegroup_name(of.nodegroup.map(str::to_string))
            .set_addon_name(of.addon.map(str::to_string))
            .send()
            .await
            .map_err(|e| sdk_err("ListUpdates", e))?;
        let mut running = Vec::new();
        for id in out.update_ids() {
            let (status, _) = self.describe_update(of, id).await?;
            if status == UpdateStatus::InProgress {
                running.push(id.clone());
            }
        }
        Ok(running)
    }

    fn own_update(&self, id: &str) {
        self.updates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .own
            .insert(id.to_string());
    }

    /// Updates on `cluster`, its nodegroups and add-ons that this run did not
    /// start and that are in progress or began after the first call. The
    /// first call records every update that exists as the baseline.
    pub async fn foreign_updates(&self, cluster: &str) -> Result<Vec<UpdateInfo>, CloudError> {
        let mut targets: Vec<(String, Option<String>, Option<String>)> =
            vec![(format!("cluster {cluster}"), None, None)];
        for ng in self.nodegroup_names(cluster).await? {
            // A group this dry run only plans has no updates to look at.
            if self
                .proj()
                .created
                .contains_key(&(cluster.to_string(), ng.clone()))
            {
                continue;
            }
            targets.push((format!("nodegroup {ng}"), Some(ng), None));
        }
        let addons: Vec<String> = self
            .client
            .list_addons()
            .cluster_name(cluster)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| sdk_err("ListAddons", e))?;
        for a in addons {
            targets.push((format!("add-on {a}"), None, Some(a)));
        }
        let mut seen = Vec::new();
        for (target, nodegroup, addon) in targets {
            let ids: Vec<String> = self
                .client
                .list_updates()
                .name(cluster)
                .set_nodegroup_name(nodegroup.clone())
                .set_addon_name(addon.clone())
                .into_paginator()
                .send()
                .try_collect()
                .await
                .map_err(|e| sdk_err("ListUpdates", e))?
                .into_iter()
                .flat_map(|page| page.update_ids().to_vec())
                .collect();
            for id in ids {
                seen.push((id, target.clone(), nodegroup.clone(), addon.clone()));
            }
        }
        let candidates: Vec<_> = {
            let mut ledger = self.updates.lock().unwrap_or_else(|e| e.into_inner());
            let first_look = ledger.baseline.is_none();
            let baseline = ledger
                .baseline
                .get_or_insert_with(|| seen.iter().map(|s| s.0.clone()).collect())
                .clone();
            seen.into_iter()
                .filter(|(id, ..)| !ledger.own.contains(id))
                // Known before the first look: foreign only while in flight.
                .map(|s| {
                    let old = first_look || baseline.contains(&s.0);
                    (s, old)
                })
                .collect()
        };
        let mut out = Vec::new();
        for ((id, target, nodegroup, addon), old) in candidates {
            let u = self
                .client
                .describe_update()
                .name(cluster)
                .update_id(&id)
                .set_nodegroup_name(nodegroup)
                .set_addon_name(addon)
                .send()
                .await
                .map_err(|e| sdk_err("DescribeUpdate", e))?;
            let Some(u) = u.update() else { continue };
            let status = u.status().map(|s| s.as_str()).unwrap_or("InProgress");
            if old && status != "InProgress" {
                continue;
            }
            let kind = u
                .r#type()
                .map(|t| t.as_str())
                .unwrap_or("Unknown")
                .to_string();
            let params: std::collections::BTreeMap<String, String> = u
                .params()
                .iter()
                .filter_map(|p| {
                    Some((
                        p.r#type()?.as_str().to_string(),
                        p.value().unwrap_or_default().to_string(),
                    ))
                })
                .collect();
            let summary = format!(
                "{target}: {kind} ({status}){}",
                params
                    .iter()
                    .map(|(k, v)| format!(" {k}={v}"))
                    .collect::<String>()
            );
            out.push(UpdateInfo {
                id,
                target,
                kind,
                status: status.to_string(),
                params,
                summary,
            });
        }
        Ok(out)
    }

    async fn describe_update(
        &self,
        of: UpdateOf<'_>,
        id: &str,
    ) -> Result<(UpdateStatus, Vec<String>), CloudError> {
        let out = self
            .client
            .describe_update()
            .name(of.cluster)
            .update_id(id)
            .set_nodegroup_name(of.nodegroup.map(str::to_string))
            .set_addon_name(of.addon.map(str::to_string))
            .send()
            .await
            .map_err(|e| sdk_err("DescribeUpdate", e))?;
        let u = out
            .update()
            .ok_or_else(|| CloudError::NotFound(format!("update {id}")))?;
        let errors = u
            .errors()
            .iter()
            .map(|e| {
                let code = e.error_code().map(|c| c.as_str()).unwrap_or("Error");
                let msg = e.error_message().unwrap_or_default();
                if e.resource_ids().is_empty() {
                    format!("{code}: {msg}")
                } else {
                    format!("{code}: {msg} (resources: {})", e.resource_ids().join(", "))
                }
            })
            .collect();
        Ok((
            u.status().cloned().unwrap_or(UpdateStatus::InProgress),
            errors,
        ))
    }

    /// Poll an update until it is done or the mutation's budget runs out.
    async fn wait_update(
        &self,
        what: &str,
        of: UpdateOf<'_>,
        id: &str,
        m: &Mutation<'_>,
    ) -> Result<(), CloudError> {
        let started = self.clock.now();
        let deadline = self.clock.deadline(m.timeout);
        loop {
            let (status, errors) = self.describe_update(of, id).await?;
            match status {
                UpdateStatus::Successful => return Ok(()),
                UpdateStatus::Failed | UpdateStatus::Cancelled => {
                    return Err(CloudError::UpdateFailed {
                        what: what.to_string(),
                        update_id: id.to_string(),
                        status: status.as_str().to_string(),
                        errors,
                    });
                }
                _ => {}
            }
            if deadline.passed(&self.clock) {
                return Err(CloudError::Timeout {
                    what: format!("{what} (update {id})"),
                    after: deadline.budget(),
                });
            }
            (m.progress)(&format!(
                "{what}: update {id} in progress, {}",
                human(self.clock.since(started))
            ));
            self.clock.sleep(POLL).await?;
        }
    }

    /// The end every update-starting mutation shares: send the request
    /// (built with the run's idempotency token), then follow the update EKS
    /// started until it ends. Returns the update's id.
    async fn start_update<O, E, R>(
        &self,
        op: &'static str,
        what: &str,
        of: UpdateOf<'_>,
        m: &Mutation<'_>,
        request: impl std::future::Future<Output = Result<O, SdkError<E, R>>>,
        update: impl FnOnce(&O) -> Option<&Update>,
    ) -> Result<String, CloudError>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let out = request.await.map_err(|e| sdk_err(op, e))?;
        self.follow_update(what, of, update(&out), m).await
    }

    /// Wait for the update a mutating call just started; returns its id.
    async fn follow_update(
        &self,
        what: &str,
        of: UpdateOf<'_>,
        update: Option<&Update>,
        m: &Mutation<'_>,
    ) -> Result<String, CloudError> {
        let id = update.and_then(|u| u.id()).unwrap_or_default().to_string();
        self.own_update(&id);
        self.wait_update(what, of, &id, m).await?;
        Ok(id)
    }

    /// Wait out every update in flight on `of`. Their outcome does not
    /// matter: the caller compares the state that follows and decides what
    /// is left to do. Never sends a mutating request. `ours`: the update
    /// can only be an earlier attempt's of the same mutation, so the drift
    /// guard does not report it.
    async fn wait_out_updates(
        &self,
        what: &str,
        of: UpdateOf<'_>,
        ours: bool,
        m: &Mutation<'_>,
    ) -> Result<(), CloudError> {
        for id in self.updates_in_progress(of).await? {
            let whose = if ours {
                self.own_update(&id);
                " from an earlier attempt"
            } else {
                ""
            };
            (m.progress)(&format!(
                "{what}: update {id}{whose} is in progress; waiting for it"
            ));
            let _ = self.wait_update(what, of, &id, m).await;
        }
        Ok(())
    }

    /// For a probed mutation (`Mutation::probe`): an earlier attempt may
    /// have sent it before dying, so wait out whatever update is in flight on
    /// the target; the caller then compares the state and sends nothing when
    /// it already matches.
    async fn settle(
        &self,
        what: &str,
        of: UpdateOf<'_>,
        m: &Mutation<'_>,
    ) -> Result<(), CloudError> {
        if !m.probe || m.is_plan() {
            return Ok(());
        }
        self.wait_out_updates(what, of, true, m).await
    }

    /// Wait until no update runs on a nodegroup (one an interrupted
    /// rotation left going). Their outcome does not matter: the caller
    /// compares the state that follows.
    pub async fn wait_nodegroup_idle(
        &self,
        cluster: &str,
        nodegroup: &str,
        m: &Mutation<'_>,
    ) -> Result<(), CloudError> {
        if m.is_plan() {
            return Ok(());
        }
        self.wait_out_updates(
            &format!("nodegroup {nodegroup}"),
            UpdateOf::nodegroup(cluster, nodegroup),
            false,
            m,
        )
        .await?;
        // A group an interrupted rotation was creating: EKS deletes it only
        // once it is ACTIVE (or failed).
        let started = self.clock.now();
        let deadline = self.clock.deadline(m.timeout);
        loop {
            let ng = match self.nodegroup(cluster, nodegroup).await {
                Err(e) if e.is_not_found() => return Ok(()),
                other => other?,
            };
            if !matches!(ng.status.as_str(), "CREATING" | "UPDATING")
                || deadline.passed(&self.clock)
            {
                return Ok(());
            }
            (m.progress)(&format!(
                "nodegroup {nodegroup}: {}, {}",
                ng.status,
                human(self.clock.since(started))
            ));
            self.clock.sleep(POLL).await?;
        }
    }

    // ------------------------------------------------------------ mutations

    /// Upgrade the control plane one minor, or roll it back one minor (a
    /// `VersionRollback`: EKS allows it within 7 days of the in-place
    /// upgrade that reached the current version, once). `force` lets EKS
    /// proceed over readiness insights at ERROR.
    pub async fn update_cluster_version(
        &self,
        cluster: &str,
        version: &str,
        force: bool,
        m: &Mutation<'_>,
    ) -> Result<Change, CloudError> {
        let target = format!("cluster {cluster}");
        self.settle(&target, UpdateOf::cluster(cluster), m).await?;
        let current = self.cluster(cluster).await?;
        if same_minor(&current.version, version) {
            return Ok(Change::unchanged(target, format!("already at {version}")));
        }
        if is_previous_minor(version, &current.version) {
            return self
                .roll_back_cluster(cluster, &current.version, version, force, m)
                .await;
        }
        let path = version_path(&current.version, version)?;
        if path.len() > 1 {
            return Err(CloudError::Invalid(format!(
                "EKS moves the control plane one minor at a time: {} → {version} needs the hops {}",
                current.version,
                path.join(", ")
            )));
        }
        if m.is_plan() {
            let mut proj = self.proj();
            proj.cluster_version
                .insert(cluster.to_string(), version.to_string());
            proj.upgraded_to
                .insert((cluster.to_string(), version.to_string()));
            drop(proj);
            let mut plan = Plan::new("upgrade the control plane of", target)
                .from_to(Some(current.version.clone()), version)
                .predicted(timing::CONTROL_PLANE_UPDATE);
            plan.notes.push(format!(
                "undoable once, within 7 days: a VersionRollback to {}; an earlier hop of the same run cannot be undone",
                current.version
            ));
            return Ok(Change::Planned(plan));
        }
        let id = self
            .send_cluster_version("UpdateClusterVersion", &target, cluster, version, force, m)
            .await?;
        Ok(upgraded(target, current.version, version, &id))
    }

    /// UpdateClusterVersion, an upgrade or (to the previous minor) a
    /// rollback: EKS tells them apart, the request is the same.
    async fn send_cluster_version(
        &self,
        op: &'static str,
        target: &str,
        cluster: &str,
        version: &str,
        force: bool,
        m: &Mutation<'_>,
    ) -> Result<String, CloudError> {
        let request = self
            .client
            .update_cluster_version()
            .name(cluster)
            .version(version)
            .set_force(force.then_some(true))
            .client_request_token(&m.token)
            .send();
        self.start_update(op, target, UpdateOf::cluster(cluster), m, request, |o| {
            o.update()
        })
        .await
    }

    /// UpdateClusterVersion to the previous minor, which EKS runs as a
    /// `VersionRollback`. The dry run says whether EKS would accept it now.
    async fn roll_back_cluster(
        &self,
        cluster: &str,
        current: &str,
        version: &str,
        force: bool,
        m: &Mutation<'_>,
    ) -> Result<Change, CloudError> {
        let target = format!("cluster {cluster}");
        if m.is_plan() {
            let mut plan = Plan::new("roll back the control plane of", target)
                .from_to(Some(current.to_string()), version)
                .predicted(timing::CONTROL_PLANE_ROLLBACK);
            let own = self
                .proj()
                .upgraded_to
                .contains(&(cluster.to_string(), current.to_string()));
            if own {
                plan.notes.push(format!(
                    "a VersionRollback, which EKS allows for 7 days after this run's upgrade to {current}"
                ));
            } else {
                match self.rollback_window(cluster, current, version).await? {
                    Ok(note) => plan.notes.push(note),
                    Err(refusal) => plan.refusals.push(format!("EKS: {refusal}")),
                }
            }
            self.proj()
                .cluster_version
                .insert(cluster.to_string(), version.to_string());
            return Ok(Change::Planned(plan));
        }
        let id = self
            .send_cluster_version(
                "UpdateClusterVersion (VersionRollback)",
                &target,
                cluster,
                version,
                force,
                m,
            )
            .await?;
        Ok(Change::Applied {
            target,
            from: Some(current.to_string()),
            to: Some(version.to_string()),
            detail: format!("rolled back (update {id})"),
        })
    }

    /// Whether EKS would roll `cluster` back from `current` to `version`
    /// now, from its update history (ListUpdates, DescribeUpdate): `Ok` with
    /// the window's end, or `Err` with the reason it would refuse.
    pub async fn rollback_window(
        &self,
        cluster: &str,
        current: &str,
        version: &str,
    ) -> Result<Result<String, String>, CloudError> {
        if !is_previous_minor(version, current) {
            return Ok(Err(format!(
                "EKS rolls a control plane back one minor only ({current} → {version})"
            )));
        }
        let ids: Vec<String> = self
            .client
            .list_updates()
            .name(cluster)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| sdk_err("ListUpdates", e))?
            .into_iter()
            .flat_map(|page| page.update_ids().to_vec())
            .collect();
        // The newest successful version change decides: an upgrade to
        // `current` opens the window, a rollback closes it.
        let mut newest: Option<(i64, String, String)> = None;
        for id in ids {
            let out = self
                .client
                .describe_update()
                .name(cluster)
                .update_id(&id)
                .send()
                .await
                .map_err(|e| sdk_err("DescribeUpdate", e))?;
            let Some(u) = out.update() else { continue };
            let kind = u.r#type().map(|t| t.as_str()).unwrap_or_default();
            if !matches!(kind, "VersionUpdate" | "VersionRollback")
                || u.status() != Some(&UpdateStatus::Successful)
            {
                continue;
            }
            let to = u
                .params()
                .iter()
                .find(|p| p.r#type().map(|t| t.as_str()) == Some("Version"))
                .and_then(|p| p.value())
                .unwrap_or_default()
                .to_string();
            let at = u.created_at().map(|t| t.secs()).unwrap_or(0);
            if newest.as_ref().is_none_or(|(t, ..)| at >= *t) {
                newest = Some((at, kind.to_string(), to));
            }
        }
        let at = match newest {
            None => {
                return Ok(Err(format!(
                    "the cluster was created at {current}, not upgraded to it in place"
                )));
            }
            Some((at, kind, to)) if kind == "VersionUpdate" && same_minor(&to, current) => at,
            Some(_) => {
                return Ok(Err(format!(
                    "{current} was not reached by an in-place upgrade from {version} (a rolled-back cluster cannot be rolled back again)"
                )));
            }
        };
        // EKS evaluates rollback readiness only while a rollback is
        // possible; its insights also carry the service's "now" (a
        // sandbox's simulated time), which the window is measured on.
        let readiness: Vec<_> = self
            .client
            .list_insights()
            .cluster_name(cluster)
            .filter(
                InsightsFilter::builder()
                    .categories(aws_sdk_eks::types::Category::from(ROLLBACK_READINESS))
                    .build(),
            )
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| sdk_err("ListInsights", e))?;
        let evaluated: Vec<_> = readiness
            .iter()
            .filter(|i| {
                i.kubernetes_version()
                    .is_some_and(|v| same_minor(v, version))
            })
            .collect();
        let now = evaluated
            .iter()
            .filter_map(|i| i.last_refresh_time().map(|t| t.secs()))
            .max()
            .unwrap_or_else(|| self.clock.wall_now().as_second());
        let closes = at + ROLLBACK_WINDOW.as_secs() as i64;
        if evaluated.is_empty() && now <= closes {
            return Ok(Err(format!(
                "EKS reports no rollback readiness for {version}: the 7 days after the upgrade to {current} in which EKS allows a rollback have passed"
            )));
        }
        if now > closes {
            return Ok(Err(format!(
                "the upgrade to {current} is {} old; EKS allows a rollback for 7 days after it",
                human(Duration::from_secs((now - at).max(0) as u64))
            )));
        }
        Ok(Ok(format!(
            "a VersionRollback, which EKS allows for {} more (7 days after the upgrade to {current})",
            human(Duration::from_secs((closes - now).max(0) as u64))
        )))
    }

    pub async fn update_addon(
        &self,
        cluster: &str,
        addon: &str,
        version: &str,
        resolve_conflicts: Option<&str>,
        m: &Mutation<'_>,
    ) -> Result<Change, CloudError> {
        let target = format!("add-on {addon}");
        self.settle(&target, UpdateOf::addon(cluster, addon), m)
            .await?;
        let current = self.addon(cluster, addon).await?;
        if current.version == version {
            return Ok(Change::unchanged(target, format!("already at {version}")));
        }
        if m.is_plan() {
            // EKS accepts a version only for the minor the control plane
            // runs when the request is sent (as planned by then).
            let minor = self.cluster(cluster).await?.version;
            let accepted = self.addon_versions(addon, &minor).await?;
            self.proj().addon_version.insert(
                (cluster.to_string(), addon.to_string()),
                version.to_string(),
            );
            let mut plan = Plan::new("update", target)
                .from_to(Some(current.version), version)
                .predicted(timing::ADDON_UPDATE);
            if !accepted.iter().any(|v| v == version) {
                plan.refusals.push(format!(
                    "EKS does not offer {addon} {version} for Kubernetes {minor} (DescribeAddonVersions), the minor the control plane runs by then"
                ));
            }
            return Ok(Change::Planned(plan));
        }
        let request = self
            .client
            .update_addon()
            .cluster_name(cluster)
            .addon_name(addon)
            .addon_version(version)
            .set_resolve_conflicts(
                resolve_conflicts.map(|r| ResolveConflicts::from(r.to_ascii_uppercase().as_str())),
            )
            .client_request_token(&m.token)
            .send();
        let id = self
            .start_update(
                "UpdateAddon",
                &target,
                UpdateOf::addon(cluster, addon),
                m,
                request,
                |o| o.update(),
            )
            .await?;
        Ok(upgraded(target, current.version, version, &id))
    }

    pub async fn update_nodegroup_version(
        &self,
        cluster: &str,
        nodegroup: &str,
        version: &str,
        release_version: Option<&str>,
        force: bool,
        m: &Mutation<'_>,
    ) -> Result<Change, CloudError> {
        let target = format!("nodegroup {nodegroup}");
        self.settle(&target, UpdateOf::nodegroup(cluster, nodegroup), m)
            .await?;
        let current = self.nodegroup(cluster, nodegroup).await?;
        // `latest`: the newest AMI for the version, which only EKS knows, so
        // the request goes out without a release and EKS picks it.
        let latest = release_version == Some(LATEST_RELEASE);
        let pinned = release_version.filter(|r| *r != LATEST_RELEASE);
        let release_matches =
            !latest && pinned.is_none_or(|r| current.release_version.as_deref() == Some(r));
        let refresh = same_minor(&current.version, version);
        if refresh && release_matches {
            return Ok(Change::unchanged(target, format!("already at {version}")));
        }
        if m.is_plan() {
            self.proj().nodegroup_version.insert(
                (cluster.to_string(), nodegroup.to_string()),
                version.to_string(),
            );
            // A same-version AMI refresh is told apart by its release.
            let (from, to) = if refresh {
                (
                    current.release_version.clone(),
                    pinned.map_or_else(|| format!("newest AMI for {version}"), str::to_string),
                )
            } else {
                (Some(current.version), version.to_string())
            };
            // Pods that stop at once; a rotation refines it from their
            // preStop hooks and grace periods.
            let mut plan =
                Plan::new("roll", target)
                    .from_to(from, to)
                    .predicted(timing::managed_update(
                        current.desired_size,
                        current.max_unavailable_nodes,
                        timing::SIGTERM_EXIT,
                    ));
            if latest && refresh {
                plan.notes.push(
                    "EKS picks the newest AMI when the request is sent; a group already on it is left as it is (known only at run time)"
                        .into(),
                );
            }
            if force {
                plan.notes.push(
                    "force: pods are deleted even when a PodDisruptionBudget refuses eviction"
                        .into(),
                );
            }
            return Ok(Change::Planned(plan));
        }
        let out = self
            .client
            .update_nodegroup_version()
            .cluster_name(cluster)
            .nodegroup_name(nodegroup)
            .version(version)
            .set_release_version(pinned.map(str::to_string))
            .force(force)
            .client_request_token(&m.token)
            .send()
            .await
            .map_err(|e| sdk_err("UpdateNodegroupVersion", e));
        let out = match out {
            // EKS refuses a refresh to the release the group already runs.
            Err(CloudError::Eks { code, message, .. })
                if latest
                    && refresh
                    && code.as_deref() == Some("InvalidParameterException")
                    && message.contains("already") =>
            {
                return Ok(Change::unchanged(
                    target,
                    format!("already on the newest AMI for {version}"),
                ));
            }
            other => other?,
        };
        let id = self
            .follow_update(
                &target,
                UpdateOf::nodegroup(cluster, nodegroup),
                out.update(),
                m,
            )
            .await?;
        if refresh {
            let now = self.nodegroup(cluster, nodegroup).await?;
            return Ok(upgraded(
                target,
                current.release_version.unwrap_or_default(),
                now.release_version.as_deref().unwrap_or_default(),
                &id,
            ));
        }
        Ok(upgraded(target, current.version, version, &id))
    }

    pub async fn update_nodegroup_config(
        &self,
        cluster: &str,
        nodegroup: &str,
        want: &NodegroupConfig,
        m: &Mutation<'_>,
    ) -> Result<Change, CloudError> {
        let target = format!("nodegroup {nodegroup} config");
        want.validate()?;
        self.settle(&target, UpdateOf::nodegroup(cluster, nodegroup), m)
            .await?;
        let cur = self.nodegroup(cluster, nodegroup).await?;
        let mut diffs = Vec::new();
        let mut diff = |name: &str, cur: Option<i64>, want: Option<i64>| {
            if let Some(w) = want
                && cur != Some(w)
            {
                diffs.push(format!(
                    "{name} {} → {w}",
                    cur.map_or("unset".to_string(), |c| c.to_string())
                ));
            }
        };
        diff("min_size", Some(cur.min_size), want.min_size);
        diff("max_size", Some(cur.max_size), want.max_size);
        diff("desired_size", Some(cur.desired_size), want.desired_size);
        diff("max_unavailable", cur.max_unavailable, want.max_unavailable);
        diff(
            "max_unavailable_percentage",
            cur.max_unavailable_percentage,
            want.max_unavailable_percentage,
        );
        let labels: BTreeMap<_, _> = want
            .labels
            .iter()
            .filter(|(k, v)| cur.labels.get(*k) != Some(v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, v) in &labels {
            diffs.push(format!("label {k}={v}"));
        }
        if diffs.is_empty() {
            return Ok(Change::unchanged(target, "already configured"));
        }
        if m.is_plan() {
            // New instances of a larger group boot meanwhile: the config
            // update's effect is there once they are Ready.
            let grows = want.desired_size.is_some_and(|d| d > cur.desired_size);
            let mut plan = Plan::new("reconfigure", target).predicted(if grows {
                timing::CONFIG_UPDATE.max(timing::NODE_BOOT)
            } else {
                timing::CONFIG_UPDATE
            });
            plan.notes = diffs;
            return Ok(Change::Planned(plan));
        }
        let scaling = NodegroupScalingConfig::builder()
            .min_size(want.min_size.unwrap_or(cur.min_size) as i32)
            .max_size(want.max_size.unwrap_or(cur.max_size) as i32)
            .desired_size(want.desired_size.unwrap_or(cur.desired_size) as i32)
            .build();
        let mut req = self
            .client
            .update_nodegroup_config()
            .cluster_name(cluster)
            .nodegroup_name(nodegroup)
            .scaling_config(scaling)
            .client_request_token(&m.token);
        if want.max_unavailable.is_some() || want.max_unavailable_percentage.is_some() {
            req = req.update_config(
                NodegroupUpdateConfig::builder()
                    .set_max_unavailable(want.max_unavailable.map(|v| v as i32))
                    .set_max_unavailable_percentage(
                        want.max_unavailable_percentage.map(|v| v as i32),
                    )
                    .build(),
            );
        }
        if !labels.is_empty() {
            let mut payload = UpdateLabelsPayload::builder();
            for (k, v) in &labels {
                payload = payload.add_or_update_labels(k, v);
            }
            req = req.labels(payload.build());
        }
        self.start_update(
            "UpdateNodegroupConfig",
            &target,
            UpdateOf::nodegroup(cluster, nodegroup),
            m,
            req.send(),
            |o| o.update(),
        )
        .await?;
        Ok(Change::Applied {
            target,
            from: None,
            to: None,
            detail: diffs.join(", "),
        })
    }

    /// Create `name` copying the configuration of `from`, at `version`;
    /// waits until ACTIVE.
    pub async fn create_nodegroup(
        &self,
        cluster: &str,
        name: &str,
        from: &str,
        version: &str,
        m: &Mutation<'_>,
    ) -> Result<Change, CloudError> {
        self.create_nodegroup_with(cluster, name, from, version, &CopyOverrides::default(), m)
            .await
    }

    /// `create_nodegroup` with a different size, and extra labels and
    /// taints (an in-place rotation's canary group).
    pub async fn create_nodegroup_with(
        &self,
        cluster: &str,
        name: &str,
        from: &str,
        version: &str,
        overrides: &CopyOverrides,
        m: &Mutation<'_>,
    ) -> Result<Change, CloudError> {
        let target = format!("nodegroup {name}");
        match self.nodegroup(cluster, name).await {
            Ok(existing) if same_minor(&existing.version, version) => {
                if !m.is_plan() && existing.status != "ACTIVE" {
                    self.wait_nodegroup(cluster, name, false, m).await?;
                }
                return Ok(Change::unchanged(
                    target,
                    format!("already exists at {version}"),
                ));
            }
            Ok(existing) => {
                return Err(CloudError::Invalid(format!(
                    "nodegroup {name} already exists at {}, not {version}",
                    existing.version
                )));
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        let source = self.nodegroup(cluster, from).await?;
        if m.is_plan() {
            let key = (cluster.to_string(), name.to_string());
            let mut proj = self.proj();
            proj.created.insert(key.clone(), from.to_string());
            proj.nodegroup_version.insert(key, version.to_string());
            let mut plan = Plan::new("create", target)
                .from_to(None, version)
                .predicted(timing::NODEGROUP_CREATE);
            plan.notes.push(format!(
                "copying {from}: {} × {}",
                overrides.size.unwrap_or(source.desired_size),
                source.instance_types.join("/")
            ));
            return Ok(Change::Planned(plan));
        }
        let raw = source
            .raw
            .clone()
            .unwrap_or_else(|| Nodegroup::builder().build());
        let scaling = match overrides.size {
            Some(n) => Some(
                NodegroupScalingConfig::builder()
                    .min_size(n as i32)
                    .max_size(n.max(1) as i32)
                    .desired_size(n as i32)
                    .build(),
            ),
            None => raw.scaling_config().cloned(),
        };
        let mut labels = raw.labels().cloned().unwrap_or_default();
        labels.extend(overrides.labels.clone());
        let mut taints = raw.taints().to_vec();
        for (key, value) in &overrides.no_schedule {
            taints.push(
                aws_sdk_eks::types::Taint::builder()
                    .key(key)
                    .value(value)
                    .effect(aws_sdk_eks::types::TaintEffect::NoSchedule)
                    .build(),
            );
        }
        let mut req = self
            .client
            .create_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(name)
            .version(version)
            .set_scaling_config(scaling)
            .set_subnets(Some(raw.subnets().to_vec()))
            .set_instance_types(Some(raw.instance_types().to_vec()))
            .set_ami_type(raw.ami_type().cloned())
            .set_capacity_type(raw.capacity_type().cloned())
            .set_disk_size(raw.disk_size())
            .set_node_role(raw.node_role().map(str::to_string))
            .set_labels(Some(labels).filter(|l| !l.is_empty()))
            .set_taints(Some(taints))
            .set_update_config(raw.update_config().cloned())
            .set_launch_template(raw.launch_template().cloned())
            .set_tags(raw.tags().cloned())
            .client_request_token(&m.token);
        if raw.subnets().is_empty() {
            req = req.set_subnets(None);
        }
        req.send()
            .await
            .map_err(|e| sdk_err("CreateNodegroup", e))?;
        self.wait_nodegroup(cluster, name, false, m).await?;
        Ok(Change::Applied {
            target,
            from: None,
            to: Some(version.to_string()),
            detail: format!("created from {from}"),
        })
    }

    pub async fn delete_nodegroup(
        &self,
        cluster: &str,
        name: &str,
        m: &Mutation<'_>,
    ) -> Result<Change, CloudError> {
        let target = format!("nodegroup {name}");
        let current = match self.nodegroup(cluster, name).await {
            Ok(ng) => ng,
            Err(e) if e.is_not_found() => {
                return Ok(Change::unchanged(target, "already deleted"));
            }
            Err(e) => return Err(e),
        };
        if m.is_plan() {
            self.proj()
                .deleted
                .insert((cluster.to_string(), name.to_string()));
            let mut plan = Plan::new("delete", target).predicted(timing::NODEGROUP_DELETE);
            plan.notes.push(format!(
                "{} node(s) at {} terminated",
                current.desired_size, current.version
            ));
            return Ok(Change::Planned(plan));
        }
        if current.status != "DELETING" {
            self.client
                .delete_nodegroup()
                .cluster_name(cluster)
                .nodegroup_name(name)
                .send()
                .await
                .map_err(|e| sdk_err("DeleteNodegroup", e))?;
        }
        self.wait_nodegroup(cluster, name, true, m).await?;
        Ok(Change::Applied {
            target,
            from: Some(current.version),
            to: None,
            detail: "deleted".into(),
        })
    }

    /// Wait until a nodegroup is ACTIVE (or gone, when `gone`).
    async fn wait_nodegroup(
        &self,
        cluster: &str,
        name: &str,
        gone: bool,
        m: &Mutation<'_>,
    ) -> Result<(), CloudError> {
        let started = self.clock.now();
        let deadline = self.clock.deadline(m.timeout);
        loop {
            match self.nodegroup(cluster, name).await {
                Err(e) if e.is_not_found() && gone => return Ok(()),
                Err(e) => return Err(e),
                Ok(ng) if !gone && ng.status == "ACTIVE" => return Ok(()),
                Ok(ng) if ng.status.ends_with("FAILED") => {
                    return Err(CloudError::UpdateFailed {
                        what: format!("nodegroup {name}"),
                        update_id: "-".into(),
                        status: ng.status,
                        errors: vec![],
                    });
                }
                Ok(ng) => (m.progress)(&format!(
                    "nodegroup {name}: {}, {}",
                    ng.status,
                    human(self.clock.since(started))
                )),
            }
            if deadline.passed(&self.clock) {
                return Err(CloudError::Timeout {
                    what: format!(
                        "nodegroup {name} to become {}",
                        if gone { "deleted" } else { "ACTIVE" }
                    ),
                    after: deadline.budget(),
                });
            }
            self.clock.sleep(POLL).await?;
        }
    }
}

fn addon_version_info(v: &aws_sdk_eks::types::AddonVersionInfo) -> AddonVersionInfo {
    let compat = v.compatibilities();
    AddonVersionInfo {
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
    }
}

/// A version change EKS applied through update `id`.
fn upgraded(target: String, from: String, to: &str, id: &str) -> Change {
    Change::Applied {
        target,
        from: Some(from),
        to: Some(to.to_string()),
        detail: format!("(update {id})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_path_is_one_minor_per_hop() {
        assert_eq!(version_path("1.28", "1.30").unwrap(), vec!["1.29", "1.30"]);
        assert!(version_path("1.29", "1.29").unwrap().is_empty());
        assert_eq!(version_path("v1.28.5-eks-1", "1.29").unwrap(), vec!["1.29"]);
        let err = version_path("1.30", "1.28").unwrap_err().to_string();
        assert!(err.contains("cannot downgrade"), "{err}");
        assert!(version_path("1.28", "banana").is_err());
    }
}
