//! Insights computed from the simulated state. UPGRADE_READINESS, for the
//! next minor: kubelet version skew, kube-proxy version skew, add-on
//! compatibility, and deprecated APIs the fixture says are in use.
//! ROLLBACK_READINESS, for the previous minor and only within the rollback
//! window after an in-place upgrade: nodes newer than it, kube-proxy newer
//! than it, add-ons it does not support. An ERROR in either category blocks
//! the matching UpdateClusterVersion unless `force` is set.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::errors::EksError;
use super::{Call, epoch_seconds};
use crate::sandbox::sim::controlplane::rollback_target;
use crate::sandbox::state::World;
use crate::sandbox::state::catalog::{minor_number, next_minor as following_minor};

pub const UPGRADE_READINESS: &str = "UPGRADE_READINESS";
pub const ROLLBACK_READINESS: &str = "ROLLBACK_READINESS";

struct Insight {
    id: String,
    category: &'static str,
    name: String,
    description: String,
    kubernetes_version: String,
    status: &'static str,
    reason: String,
    recommendation: String,
    resources: Vec<Value>,
    details: Value,
}

fn insight_id(name: &str) -> String {
    let d = Sha256::digest(name.as_bytes());
    let h: String = d.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn minor_num(v: &str) -> i64 {
    minor_number(v).unwrap_or(0)
}

/// "1.29" of an add-on build such as "v1.29.15-eksbuild.16".
fn build_minor(version: &str) -> String {
    version
        .trim_start_matches('v')
        .split('.')
        .take(2)
        .collect::<Vec<_>>()
        .join(".")
}

fn compute(world: &World) -> Vec<Insight> {
    let mut out = upgrade_readiness(world);
    if let Some(prev) = rollback_target(world) {
        out.extend(rollback_readiness(world, &prev));
    }
    out
}

/// The names of the ERROR insights of `category`: what blocks an update.
pub fn blocking(world: &World, category: &str) -> Vec<String> {
    compute(world)
        .into_iter()
        .filter(|i| i.category == category && i.status == "ERROR")
        .map(|i| i.name)
        .collect()
}

fn upgrade_readiness(world: &World) -> Vec<Insight> {
    let cluster = world.cluster.version.clone();
    let mut out = Vec::new();
    let Some(next) = following_minor(&cluster) else {
        out.extend(deprecated_apis(world, &cluster));
        return out;
    };

    // Kubelet skew: after upgrading to `next`, nodes may lag by at most 3.
    let mut behind = Vec::new();
    let mut too_far = Vec::new();
    let mut names: Vec<&String> = world.nodes.keys().collect();
    names.sort();
    for name in names {
        let n = &world.nodes[name];
        let skew = minor_num(&next) - minor_num(&n.minor);
        if skew > 3 {
            too_far.push(json!({"insightStatus": {"status": "ERROR", "reason": format!("kubelet {} is more than 3 minors behind {next}", n.minor)}, "kubernetesResourceUri": format!("/api/v1/nodes/{name}")}));
        } else if n.minor != cluster {
            behind.push(json!({"insightStatus": {"status": "WARNING", "reason": format!("kubelet {} is behind the control plane {cluster}", n.minor)}, "kubernetesResourceUri": format!("/api/v1/nodes/{name}")}));
        }
    }
    let (status, reason) = if !too_far.is_empty() {
        (
            "ERROR",
            format!(
                "{} node(s) would exceed the supported kubelet version skew after upgrading to {next}",
                too_far.len()
            ),
        )
    } else if !behind.is_empty() {
        (
            "WARNING",
            format!(
                "{} node(s) run an older kubelet than the control plane",
                behind.len()
            ),
        )
    } else {
        (
            "PASSING",
            "All nodes run the control plane's kubelet minor".to_string(),
        )
    };
    out.push(Insight {
        id: insight_id("kubelet-version-skew"),
        category: UPGRADE_READINESS,
        name: "Kubelet version skew".into(),
        description: "Checks for kubelet versions of worker nodes in the cluster to see if upgrade would cause noncompliance with supported Kubernetes kubelet version skew policy.".into(),
        kubernetes_version: next.clone(),
        status,
        reason,
        recommendation: "Upgrade your worker nodes to match the Kubernetes version of your cluster control plane.".into(),
        resources: too_far.into_iter().chain(behind).collect(),
        details: json!({}),
    });

    // kube-proxy against the API server after the upgrade: at most three
    // minors older, never newer.
    if let Some(kp) = world.addon_version("kube-proxy") {
        let kp_minor = build_minor(kp);
        let behind = minor_num(&next) - minor_num(&kp_minor);
        let (status, reason) = if !(0..=3).contains(&behind) {
            (
                "ERROR",
                format!("kube-proxy {kp} would be outside the supported version skew of {next}"),
            )
        } else if kp_minor != cluster {
            (
                "WARNING",
                format!("kube-proxy {kp} does not match the control plane {cluster}"),
            )
        } else {
            (
                "PASSING",
                format!("kube-proxy {kp} matches the control plane {cluster}"),
            )
        };
        out.push(Insight {
            id: insight_id("kube-proxy-version-skew"),
            category: UPGRADE_READINESS,
            name: "Kube-proxy version skew".into(),
            description: "Checks version of kube-proxy in cluster to see if upgrade would cause noncompliance with supported Kubernetes kube-proxy version skew policy.".into(),
            kubernetes_version: next.clone(),
            status,
            reason,
            recommendation: "Update kube-proxy to the version that matches the control plane.".into(),
            resources: vec![json!({"insightStatus": {"status": status, "reason": ""}, "kubernetesResourceUri": "/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy"})],
            details: json!({}),
        });
    }

    // Add-on compatibility with the next minor (kube-proxy is built per
    // minor and covered by the skew insight).
    let mut incompatible = Vec::new();
    let mut details = Vec::new();
    for (name, a) in &world.addons {
        if name == "kube-proxy" {
            continue;
        }
        let ok = world.catalog.supports(name, &a.version, &next);
        let compatible: Vec<&str> = world
            .catalog
            .addons
            .get(name)
            .map(|vs| {
                vs.iter()
                    .filter(|v| v.compatible.contains(&next))
                    .map(|v| v.version.as_str())
                    .collect()
            })
            .unwrap_or_default();
        details.push(json!({"name": name, "compatibleVersions": compatible}));
        if !ok {
            incompatible.push(json!({"insightStatus": {"status": "ERROR", "reason": format!("{name} {} is not compatible with {next}", a.version)}, "arn": super::tags::addon_arn(world, name)}));
        }
    }
    out.push(Insight {
        id: insight_id("addon-compatibility"),
        category: UPGRADE_READINESS,
        name: "EKS add-on version compatibility".into(),
        description: "Checks version of installed EKS add-ons to ensure they are compatible with the next version of Kubernetes.".into(),
        kubernetes_version: next.clone(),
        status: if incompatible.is_empty() { "PASSING" } else { "ERROR" },
        reason: if incompatible.is_empty() {
            "All installed add-ons are compatible with the next version".into()
        } else {
            format!("{} add-on(s) are not compatible with {next}", incompatible.len())
        },
        recommendation: "Upgrade the add-ons to a version compatible with the target Kubernetes version before upgrading the cluster.".into(),
        resources: incompatible,
        details: json!({"addonCompatibilityDetails": details}),
    });

    out.extend(deprecated_apis(world, &next));
    out
}

/// Deprecated APIs, one insight per minor that removes something; ERROR for
/// what `next` (or an earlier minor) removes.
fn deprecated_apis(world: &World, next: &str) -> Vec<Insight> {
    let mut out = Vec::new();
    let mut minors: Vec<&String> = world
        .deprecated_apis
        .iter()
        .map(|d| &d.removed_in)
        .collect();
    minors.sort();
    minors.dedup();
    for minor in minors {
        let apis: Vec<_> = world
            .deprecated_apis
            .iter()
            .filter(|d| &d.removed_in == minor)
            .collect();
        let upcoming = minor_num(minor) <= minor_num(next);
        let status = if upcoming { "ERROR" } else { "WARNING" };
        out.push(Insight {
            id: insight_id(&format!("deprecated-apis-{minor}")),
            category: UPGRADE_READINESS,
            name: format!("Deprecated APIs removed in Kubernetes v{minor}"),
            description: format!("Checks for usage of deprecated APIs that are scheduled for removal in Kubernetes v{minor}. Upgrading your cluster before migrating to the updated APIs supported by v{minor} could cause application impact."),
            kubernetes_version: minor.clone(),
            status,
            reason: format!("Deprecated API usage detected within last 30 days: {}", apis.iter().map(|a| a.api.as_str()).collect::<Vec<_>>().join(", ")),
            recommendation: "Update manifests and API clients to use newer Kubernetes APIs if applicable before upgrading to the next Kubernetes version.".into(),
            resources: Vec::new(),
            details: json!({"deprecationDetails": apis.iter().map(|a| json!({
                "usage": a.api,
                "replacedWith": a.replaced_with,
                "stopServingVersion": a.removed_in,
                "startServingReplacementVersion": a.removed_in,
                "clientStats": [{
                    "userAgent": a.user_agent.clone().unwrap_or_else(|| "unknown".into()),
                    "numberOfRequestsLast30Days": a.requests_last_30d,
                    "lastRequestTime": epoch_seconds(world, 0),
                }],
            })).collect::<Vec<_>>()}),
        });
    }
    out
}

/// What stands in the way of rolling back to `prev`: nodes and kube-proxy
/// newer than it (the API server must not be older than them), and add-ons
/// it does not support.
fn rollback_readiness(world: &World, prev: &str) -> Vec<Insight> {
    let mut out = Vec::new();
    let mut names: Vec<&String> = world.nodes.keys().collect();
    names.sort();
    let newer: Vec<Value> = names
        .into_iter()
        .filter(|n| minor_num(&world.nodes[*n].minor) > minor_num(prev))
        .map(|n| json!({"insightStatus": {"status": "ERROR", "reason": format!("kubelet {} is newer than {prev}", world.nodes[n].minor)}, "kubernetesResourceUri": format!("/api/v1/nodes/{n}")}))
        .collect();
    out.push(Insight {
        id: insight_id("rollback-kubelet-version-skew"),
        category: ROLLBACK_READINESS,
        name: "Kubelet version skew".into(),
        description: "Checks for worker nodes whose kubelet is newer than the version the control plane would roll back to.".into(),
        kubernetes_version: prev.to_string(),
        status: if newer.is_empty() { "PASSING" } else { "ERROR" },
        reason: if newer.is_empty() {
            format!("No node runs a kubelet newer than {prev}")
        } else {
            format!("{} node(s) run a kubelet newer than {prev}", newer.len())
        },
        recommendation: format!("Roll back managed node groups to {prev} with UpdateNodegroupVersion before rolling back the control plane."),
        resources: newer,
        details: json!({}),
    });
    if let Some(kp) = world.addon_version("kube-proxy") {
        let newer = minor_num(&build_minor(kp)) > minor_num(prev);
        let status = if newer { "ERROR" } else { "PASSING" };
        out.push(Insight {
            id: insight_id("rollback-kube-proxy-version-skew"),
            category: ROLLBACK_READINESS,
            name: "Kube-proxy version skew".into(),
            description: "Checks that kube-proxy would not be newer than the control plane after the rollback.".into(),
            kubernetes_version: prev.to_string(),
            status,
            reason: if newer {
                format!("kube-proxy {kp} is newer than {prev}")
            } else {
                format!("kube-proxy {kp} supports {prev}")
            },
            recommendation: format!("Update kube-proxy to its {prev} build before rolling back the control plane."),
            resources: vec![json!({"insightStatus": {"status": status, "reason": ""}, "kubernetesResourceUri": "/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy"})],
            details: json!({}),
        });
    }
    let mut incompatible = Vec::new();
    let mut details = Vec::new();
    for (name, a) in world.addons.iter().filter(|(n, _)| *n != "kube-proxy") {
        let compatible: Vec<&str> = world
            .catalog
            .addons
            .get(name)
            .map(|vs| {
                vs.iter()
                    .filter(|v| v.compatible.iter().any(|m| m == prev))
                    .map(|v| v.version.as_str())
                    .collect()
            })
            .unwrap_or_default();
        details.push(json!({"name": name, "compatibleVersions": compatible}));
        if !world.catalog.supports(name, &a.version, prev) {
            incompatible.push(json!({"insightStatus": {"status": "ERROR", "reason": format!("{name} {} is not compatible with {prev}", a.version)}, "arn": super::tags::addon_arn(world, name)}));
        }
    }
    out.push(Insight {
        id: insight_id("rollback-addon-compatibility"),
        category: ROLLBACK_READINESS,
        name: "EKS add-on version compatibility".into(),
        description: "Checks that installed EKS add-ons are compatible with the version the control plane would roll back to.".into(),
        kubernetes_version: prev.to_string(),
        status: if incompatible.is_empty() { "PASSING" } else { "ERROR" },
        reason: if incompatible.is_empty() {
            format!("All installed add-ons are compatible with {prev}")
        } else {
            format!("{} add-on(s) are not compatible with {prev}", incompatible.len())
        },
        recommendation: format!("Downgrade the add-ons to versions compatible with {prev} before rolling back the control plane."),
        resources: incompatible,
        details: json!({"addonCompatibilityDetails": details}),
    });
    out
}

fn summary(world: &World, i: &Insight) -> Value {
    json!({
        "id": i.id,
        "name": i.name,
        "category": i.category,
        "kubernetesVersion": i.kubernetes_version,
        "lastRefreshTime": epoch_seconds(world, world.now_ms),
        "lastTransitionTime": epoch_seconds(world, 0),
        "description": i.description,
        "insightStatus": {"status": i.status, "reason": i.reason},
    })
}

pub fn list(world: &mut World, call: &Call) -> Result<Value, EksError> {
    let f = &call.body["filter"];
    let wanted = |key: &str, v: &str| {
        f[key]
            .as_array()
            .is_none_or(|a| a.is_empty() || a.iter().any(|x| x == v))
    };
    let items: Vec<Value> = compute(world)
        .iter()
        .filter(|i| wanted("categories", i.category))
        .filter(|i| wanted("kubernetesVersions", &i.kubernetes_version))
        .filter(|i| wanted("statuses", i.status))
        .map(|i| summary(world, i))
        .collect();
    let (items, next) = super::paging::page(items, call)?;
    Ok(super::paging::with_token(json!({"insights": items}), next))
}

pub fn describe(world: &mut World, id: &str) -> Result<Value, EksError> {
    let all = compute(world);
    let Some(i) = all.iter().find(|i| i.id == id) else {
        return Err(EksError::not_found(format!(
            "No insight found for id: {id}"
        )));
    };
    let mut v = summary(world, i);
    v["recommendation"] = json!(i.recommendation);
    v["additionalInfo"] = json!({});
    v["resources"] = json!(i.resources);
    v["categorySpecificSummary"] = i.details.clone();
    Ok(json!({"insight": v}))
}
