//! Upgrade insights computed from the simulated state: kubelet version skew,
//! kube-proxy version skew, add-on compatibility with the next minor, and
//! deprecated APIs the fixture says are in use.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::errors::EksError;
use super::{Call, epoch_seconds};
use crate::sandbox::state::World;
use crate::sandbox::state::catalog::SUPPORTED_MINORS;

struct Insight {
    id: String,
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

fn next_minor(v: &str) -> String {
    let i = SUPPORTED_MINORS.iter().position(|m| *m == v).unwrap_or(0);
    SUPPORTED_MINORS
        .get(i + 1)
        .unwrap_or(&SUPPORTED_MINORS[SUPPORTED_MINORS.len() - 1])
        .to_string()
}

fn minor_num(v: &str) -> i64 {
    v.split('.')
        .nth(1)
        .and_then(|m| m.trim_end_matches('+').parse().ok())
        .unwrap_or(0)
}

fn compute(world: &World) -> Vec<Insight> {
    let cluster = world.cluster.version.clone();
    let next = next_minor(&cluster);
    let mut out = Vec::new();

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
        name: "Kubelet version skew".into(),
        description: "Checks for kubelet versions of worker nodes in the cluster to see if upgrade would cause noncompliance with supported Kubernetes kubelet version skew policy.".into(),
        kubernetes_version: next.clone(),
        status,
        reason,
        recommendation: "Upgrade your worker nodes to match the Kubernetes version of your cluster control plane.".into(),
        resources: too_far.into_iter().chain(behind).collect(),
        details: json!({}),
    });

    // kube-proxy skew against the control plane.
    if let Some(kp) = world.addon_version("kube-proxy") {
        let kp_minor = kp
            .trim_start_matches('v')
            .split('.')
            .take(2)
            .collect::<Vec<_>>()
            .join(".");
        let (status, reason) = if kp_minor == cluster {
            (
                "PASSING",
                format!("kube-proxy {kp} matches the control plane {cluster}"),
            )
        } else {
            (
                "WARNING",
                format!("kube-proxy {kp} does not match the control plane {cluster}"),
            )
        };
        out.push(Insight {
            id: insight_id("kube-proxy-version-skew"),
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
            incompatible.push(json!({"insightStatus": {"status": "ERROR", "reason": format!("{name} {} is not compatible with {next}", a.version)}, "arn": format!("addon/{name}")}));
        }
    }
    out.push(Insight {
        id: insight_id("addon-compatibility"),
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

    // Deprecated APIs, one insight per minor that removes something.
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
        let upcoming = minor_num(minor) <= minor_num(&next);
        let status = if upcoming { "ERROR" } else { "WARNING" };
        out.push(Insight {
            id: insight_id(&format!("deprecated-apis-{minor}")),
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

fn summary(world: &World, i: &Insight) -> Value {
    json!({
        "id": i.id,
        "name": i.name,
        "category": "UPGRADE_READINESS",
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
        .filter(|_| wanted("categories", "UPGRADE_READINESS"))
        .filter(|i| wanted("kubernetesVersions", &i.kubernetes_version))
        .filter(|i| wanted("statuses", i.status))
        .map(|i| summary(world, i))
        .collect();
    Ok(json!({"insights": items}))
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
