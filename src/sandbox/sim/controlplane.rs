//! Control-plane version updates (about 25 simulated minutes), version
//! rollbacks (about 15) and add-on updates (about 2), with EKS's validation
//! rules.

use super::{ADDON_UPDATE_MS, CONTROL_PLANE_UPDATE_MS, MINUTE_MS};
use crate::sandbox::eks::errors::EksError;
use crate::sandbox::eks::insights;
use crate::sandbox::state::addons;
use crate::sandbox::state::catalog::SUPPORTED_MINORS;
use crate::sandbox::state::cluster::{InPlaceUpgrade, Update, UpdateStatus, UpdateTarget};
use crate::sandbox::state::{Timer, World};

/// A version rollback takes "several minutes" (`cloud::timing`).
pub const CONTROL_PLANE_ROLLBACK_MS: u64 =
    crate::cloud::timing::CONTROL_PLANE_ROLLBACK.as_millis() as u64;
/// A control plane can be rolled back within 7 days of an in-place upgrade.
pub const ROLLBACK_WINDOW_MS: u64 = 7 * 24 * 60 * MINUTE_MS;

pub fn minor_index(v: &str) -> Option<usize> {
    SUPPORTED_MINORS.iter().position(|m| *m == v)
}

/// The update a clientRequestToken already created, for idempotent retries.
pub fn by_token(world: &World, target: &UpdateTarget, token: Option<&str>) -> Option<Update> {
    let token = token?;
    world
        .updates
        .iter()
        .find(|u| &u.target == target && u.client_request_token.as_deref() == Some(token))
        .cloned()
}

pub fn new_update(
    world: &mut World,
    target: UpdateTarget,
    kind: &'static str,
    params: Vec<(String, String)>,
    token: Option<String>,
) -> Update {
    let update = Update {
        id: world.uid(),
        target,
        kind,
        status: UpdateStatus::InProgress,
        params,
        created_ms: world.now_ms,
        errors: Vec::new(),
        client_request_token: token,
    };
    world.updates.push(update.clone());
    update
}

/// An UpdateClusterVersion request.
pub struct ClusterVersionRequest {
    pub version: String,
    pub token: Option<String>,
    pub force: bool,
    /// `rollbackConfig.timeoutMinutes`, if given.
    pub rollback_timeout_minutes: Option<i64>,
}

/// The minor a version rollback may go back to right now: the one the last
/// in-place upgrade came from, within seven days of it completing.
pub fn rollback_target(world: &World) -> Option<String> {
    let c = &world.cluster;
    let up = c.upgraded.as_ref()?;
    (up.to == c.version && world.now_ms <= up.completed_ms + ROLLBACK_WINDOW_MS)
        .then(|| up.from.clone())
}

/// EKS's rules for UpdateClusterVersion: one minor up, only once every
/// managed nodegroup runs the cluster's version and no upgrade-readiness
/// insight reports ERROR (unless forced); or one minor back (a version
/// rollback) within seven days of an in-place upgrade, unless a
/// rollback-readiness insight reports ERROR (unless forced).
pub fn start_cluster_update(
    world: &mut World,
    req: ClusterVersionRequest,
) -> Result<Update, EksError> {
    if let Some(u) = by_token(world, &UpdateTarget::Cluster, req.token.as_deref()) {
        return Ok(u);
    }
    let name = world.cluster.name.clone();
    let current = world.cluster.version.clone();
    let version = req.version.as_str();
    let (Some(from), Some(to)) = (minor_index(&current), minor_index(version)) else {
        return Err(EksError::invalid_parameter(format!(
            "Unsupported Kubernetes minor version update from {current} to {version}"
        )));
    };
    if let Some(t) = req.rollback_timeout_minutes
        && !(120..=10080).contains(&t)
    {
        return Err(EksError::invalid_parameter(format!(
            "rollbackConfig.timeoutMinutes must be between 120 and 10080, got {t}"
        )));
    }
    if world.cluster.status != "ACTIVE" {
        return Err(EksError::in_use(format!(
            "Cluster {name} has an update in progress; wait for it to finish"
        )));
    }
    let rollback = to + 1 == from;
    if rollback {
        check_rollback(world, version)?;
    } else if to == from + 1 {
        if req.rollback_timeout_minutes.is_some() {
            return Err(EksError::invalid_parameter(
                "rollbackConfig is only valid for a version rollback",
            ));
        }
        let behind: Vec<&str> = world
            .nodegroups
            .values()
            .filter(|n| n.version != current)
            .map(|n| n.name.as_str())
            .collect();
        if !behind.is_empty() {
            return Err(EksError::invalid_request(
                &name,
                format!(
                    "Nodegroups {} must be updated to match cluster version {current} before updating cluster version",
                    behind.join(", ")
                ),
            ));
        }
    } else {
        return Err(EksError::invalid_parameter(format!(
            "Unsupported Kubernetes minor version update from {current} to {version}"
        )));
    }
    let category = if rollback {
        insights::ROLLBACK_READINESS
    } else {
        insights::UPGRADE_READINESS
    };
    let errors = insights::blocking(world, category);
    if !errors.is_empty() && !req.force {
        let what = if rollback { "rollback" } else { "upgrade" };
        return Err(EksError::invalid_state(
            &name,
            format!(
                "Amazon EKS detected {what} readiness issues for Kubernetes version {version}: {} (ERROR). Call ListInsights to view them, or pass the force flag to override {what} readiness errors.",
                errors.join(", ")
            ),
        ));
    }
    let update = new_update(
        world,
        UpdateTarget::Cluster,
        if rollback {
            "VersionRollback"
        } else {
            "VersionUpdate"
        },
        vec![
            ("Version".into(), version.to_string()),
            ("PlatformVersion".into(), "eks.1".into()),
        ],
        req.token,
    );
    world.cluster.status = "UPDATING";
    let duration = if rollback {
        CONTROL_PLANE_ROLLBACK_MS
    } else {
        CONTROL_PLANE_UPDATE_MS
    };
    world.schedule(world.now_ms + duration, Timer::Cluster);
    Ok(update)
}

/// The prerequisites `force` does not bypass.
fn check_rollback(world: &World, version: &str) -> Result<(), EksError> {
    let c = &world.cluster;
    let refuse = |why: String| {
        Err(EksError::invalid_request(
            &c.name,
            format!(
                "Cluster {} cannot be rolled back from {} to {version}: {why}",
                c.name, c.version
            ),
        ))
    };
    if c.created_version == c.version {
        return refuse(format!(
            "it was created at {}; only an in-place upgrade can be rolled back",
            c.version
        ));
    }
    let Some(up) = c.upgraded.as_ref().filter(|u| u.to == c.version) else {
        return refuse(format!(
            "{} was not reached by an in-place upgrade from {version}",
            c.version
        ));
    };
    if world.now_ms > up.completed_ms + ROLLBACK_WINDOW_MS {
        return refuse(format!(
            "the upgrade to {} completed more than 7 days ago",
            c.version
        ));
    }
    if up.from != version {
        return refuse(format!(
            "only the previous version {} can be restored",
            up.from
        ));
    }
    Ok(())
}

pub fn finish_cluster_update(world: &mut World) {
    let now = world.now_ms;
    let Some(u) = world
        .updates
        .iter_mut()
        .find(|u| u.target == UpdateTarget::Cluster && u.status == UpdateStatus::InProgress)
    else {
        return;
    };
    u.status = UpdateStatus::Successful;
    let version = u.params[0].1.clone();
    let rollback = u.kind == "VersionRollback";
    let c = &mut world.cluster;
    // A rollback restores the previous minor and closes the window; an
    // upgrade opens a new one.
    c.upgraded = (!rollback).then(|| InPlaceUpgrade {
        from: c.version.clone(),
        to: version.clone(),
        completed_ms: now,
    });
    c.version = version;
    c.platform_version = "eks.1".into();
    c.status = "ACTIVE";
    // kube-proxy's skew is measured against the API server.
    world.addons_changed = true;
}

pub fn start_addon_update(
    world: &mut World,
    addon: &str,
    version: Option<&str>,
    token: Option<String>,
) -> Result<Update, EksError> {
    let target = UpdateTarget::Addon(addon.to_string());
    if let Some(u) = by_token(world, &target, token.as_deref()) {
        return Ok(u);
    }
    let Some(current) = world.addons.get(addon) else {
        return Err(EksError::not_found(format!(
            "No addon: {addon} found in cluster: {}",
            world.cluster.name
        )));
    };
    if current.pending.is_some() {
        return Err(EksError::in_use(format!(
            "Addon {addon} is already being updated"
        )));
    }
    let minor = world.cluster.version.clone();
    // Without a version EKS moves to the default for the cluster's minor.
    let version = match version {
        Some(v) => v.to_string(),
        None => world
            .catalog
            .default_version(addon, &minor)
            .unwrap_or(&current.version)
            .to_string(),
    };
    if world.catalog.find(addon, &version).is_none() {
        return Err(EksError::invalid_parameter(format!(
            "Addon version specified is not supported for {addon}: {version}"
        )));
    }
    if !world.catalog.supports(addon, &version, &minor) {
        return Err(EksError::invalid_parameter(format!(
            "Addon version specified is not supported by cluster version {minor}: {addon} {version}"
        )));
    }
    let update = new_update(
        world,
        target,
        "AddonUpdate",
        vec![("AddonVersion".into(), version.clone())],
        token,
    );
    let done = world.now_ms + ADDON_UPDATE_MS;
    if let Some(a) = world.addons.get_mut(addon) {
        a.status = "UPDATING";
        a.modified_ms = world.now_ms;
        a.pending = Some((update.id.clone(), version, done));
    }
    world.schedule(done, Timer::Addon(addon.to_string()));
    Ok(update)
}

pub fn finish_addon_update(world: &mut World, addon: &str) {
    let Some(a) = world.addons.get_mut(addon) else {
        return;
    };
    let Some((id, version, _)) = a.pending.take() else {
        return;
    };
    a.version = version.clone();
    a.status = "ACTIVE";
    a.modified_ms = world.now_ms;
    if let Some(u) = world.updates.iter_mut().find(|u| u.id == id) {
        u.status = UpdateStatus::Successful;
    }
    if let Some((kind, name, repo)) = addons::workload(addon) {
        let image = addons::image(&world.cluster.region, repo, &version);
        world.kube.modify(kind, "kube-system", name, |o| {
            o["spec"]["template"]["spec"]["containers"][0]["image"] = serde_json::json!(image);
            let generation = o["metadata"]["generation"].as_u64().unwrap_or(1);
            o["metadata"]["generation"] = serde_json::json!(generation + 1);
            true
        });
        world.daemonsets_dirty = true;
    }
    world.addons_changed = true;
    world.dirty = true;
}
