//! Control-plane version updates (about 25 simulated minutes) and add-on
//! updates (about 2), with EKS's validation rules.

use super::{ADDON_UPDATE_MS, CONTROL_PLANE_UPDATE_MS};
use crate::sandbox::eks::errors::EksError;
use crate::sandbox::state::addons;
use crate::sandbox::state::catalog::SUPPORTED_MINORS;
use crate::sandbox::state::cluster::{Update, UpdateStatus, UpdateTarget};
use crate::sandbox::state::{Timer, World};

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

pub fn start_cluster_update(
    world: &mut World,
    version: &str,
    token: Option<String>,
) -> Result<Update, EksError> {
    if let Some(u) = by_token(world, &UpdateTarget::Cluster, token.as_deref()) {
        return Ok(u);
    }
    let current = world.cluster.version.clone();
    if world.cluster.status == "UPDATING" {
        return Err(EksError::in_use(format!(
            "Cluster {} has an update in progress; wait for it to finish",
            world.cluster.name
        )));
    }
    let (Some(from), Some(to)) = (minor_index(&current), minor_index(version)) else {
        return Err(EksError::invalid_parameter(format!(
            "Unsupported Kubernetes minor version update from {current} to {version}"
        )));
    };
    if to != from + 1 {
        return Err(EksError::invalid_parameter(format!(
            "Unsupported Kubernetes minor version update from {current} to {version}"
        )));
    }
    let update = new_update(
        world,
        UpdateTarget::Cluster,
        "VersionUpdate",
        vec![
            ("Version".into(), version.to_string()),
            ("PlatformVersion".into(), "eks.1".into()),
        ],
        token,
    );
    world.cluster.status = "UPDATING";
    world.schedule(world.now_ms + CONTROL_PLANE_UPDATE_MS, Timer::Cluster);
    Ok(update)
}

pub fn finish_cluster_update(world: &mut World) {
    let Some(u) = world
        .updates
        .iter_mut()
        .find(|u| u.target == UpdateTarget::Cluster && u.status == UpdateStatus::InProgress)
    else {
        return;
    };
    u.status = UpdateStatus::Successful;
    let version = u.params[0].1.clone();
    world.cluster.version = version;
    world.cluster.platform_version = "eks.1".into();
    world.cluster.status = "ACTIVE";
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
