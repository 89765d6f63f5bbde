//! Managed nodegroup version updates, following EKS's documented phases:
//! setup, scale up (surge by maxUnavailable), upgrade (cordon, evict
//! honouring PodDisruptionBudgets, terminate; fail with PodEvictionFailure
//! after 15 minutes unless forced), and scale down.

use super::controlplane::{by_token, minor_index, new_update};
use super::nodes::{force_delete_pod, launch_node, terminate_node};
use super::{EVICTION_TIMEOUT_MS, ROLLOUT_SETUP_MS, ROLLOUT_TICK_MS};
use crate::sandbox::eks::errors::EksError;
use crate::sandbox::kube::eviction;
use crate::sandbox::state::catalog::{default_release_version, release_versions};
use crate::sandbox::state::cluster::{Update, UpdateError, UpdateStatus, UpdateTarget};
use crate::sandbox::state::rollout::{Phase, Rollout};
use crate::sandbox::state::typed::Taint;
use crate::sandbox::state::{Timer, World};

/// How long a new instance may stay NotReady after booting.
const JOIN_TIMEOUT_MS: u64 = 17 * super::MINUTE_MS;

pub struct VersionRequest<'a> {
    pub nodegroup: &'a str,
    pub version: Option<&'a str>,
    pub release_version: Option<&'a str>,
    pub force: bool,
    pub token: Option<String>,
}

pub fn start_version_update(world: &mut World, req: VersionRequest) -> Result<Update, EksError> {
    let target = UpdateTarget::Nodegroup(req.nodegroup.to_string());
    if let Some(u) = by_token(world, &target, req.token.as_deref()) {
        return Ok(u);
    }
    let Some(ng) = world.nodegroups.get(req.nodegroup) else {
        return Err(EksError::not_found(format!(
            "No node group found for name: {}.",
            req.nodegroup
        )));
    };
    let cluster = world.cluster.version.clone();
    let version = req.version.unwrap_or(&cluster).to_string();
    let Some(idx) = minor_index(&version) else {
        return Err(EksError::invalid_parameter(format!(
            "Requested Kubernetes version {version} is not supported"
        )));
    };
    if idx > minor_index(&cluster).unwrap_or(0) {
        return Err(EksError::invalid_parameter(format!(
            "Requested Nodegroup version {version} is newer than the cluster version {cluster}"
        )));
    }
    // A rollback goes back one minor at most (to follow a control-plane
    // rollback, or to prepare one).
    if idx + 1 < minor_index(&ng.version).unwrap_or(0) {
        return Err(EksError::invalid_parameter(format!(
            "Nodegroup {} runs {}; a version rollback may only go back one minor, not to {version}",
            ng.name, ng.version
        )));
    }
    let release = req
        .release_version
        .map(str::to_string)
        .unwrap_or_else(|| default_release_version(&version));
    validate_release(&version, &release)?;
    if version == ng.version && release == ng.release_version {
        return Err(EksError::invalid_parameter(format!(
            "Nodegroup {} is already at version {version} and release {release}",
            ng.name
        )));
    }
    // Parameters are checked first, as EKS answers a bad request with 400
    // whatever the nodegroup is doing.
    if ng.status != "ACTIVE" {
        return Err(EksError::in_use(format!(
            "Nodegroup {} is currently {} and cannot be updated",
            ng.name, ng.status
        )));
    }
    let update = new_update(
        world,
        target,
        "VersionUpdate",
        vec![
            ("Version".into(), version.clone()),
            ("ReleaseVersion".into(), release.clone()),
        ],
        req.token,
    );
    begin(
        world,
        req.nodegroup,
        &update.id,
        &version,
        &release,
        req.force,
    );
    Ok(update)
}

/// EKS accepts only release versions published for the requested minor.
pub fn validate_release(version: &str, release: &str) -> Result<(), EksError> {
    if release_versions(version).iter().any(|r| r == release) {
        Ok(())
    } else {
        Err(EksError::invalid_parameter(format!(
            "Requested release version {release} is not valid for kubernetes version {version}."
        )))
    }
}

/// Start a rollout without validation: what another team's automation does
/// when it rolls a nodegroup (back) behind our back.
pub fn start_external_rollout(world: &mut World, nodegroup: &str, version: &str) -> Option<Update> {
    if !world.nodegroups.contains_key(nodegroup) {
        return None;
    }
    let release = default_release_version(version);
    let update = new_update(
        world,
        UpdateTarget::Nodegroup(nodegroup.to_string()),
        "VersionUpdate",
        vec![
            ("Version".into(), version.to_string()),
            ("ReleaseVersion".into(), release.clone()),
        ],
        None,
    );
    begin(world, nodegroup, &update.id, version, &release, true);
    Some(update)
}

fn begin(world: &mut World, nodegroup: &str, id: &str, version: &str, release: &str, force: bool) {
    let now = world.now_ms;
    if let Some(ng) = world.nodegroups.get_mut(nodegroup) {
        ng.status = "UPDATING";
        ng.modified_ms = now;
        ng.rollout = Some(Rollout {
            update_id: id.to_string(),
            target_version: version.to_string(),
            target_release: release.to_string(),
            force,
            phase: Phase::Setup,
            phase_started_ms: now,
            surge: 0,
            draining: Vec::new(),
            old_tainted: false,
        });
    }
    world.schedule(
        now + ROLLOUT_SETUP_MS,
        Timer::Rollout(nodegroup.to_string()),
    );
}

/// Nodes of the nodegroup split into (old, new) by target version/release.
fn split(world: &World, nodegroup: &str, ro: &Rollout) -> (Vec<String>, Vec<String>) {
    let mut old = Vec::new();
    let mut new = Vec::new();
    for (name, n) in &world.nodes {
        if n.nodegroup != nodegroup {
            continue;
        }
        if n.minor == ro.target_version && n.release == ro.target_release {
            new.push(name.clone());
        } else {
            old.push(name.clone());
        }
    }
    old.sort();
    new.sort();
    (old, new)
}

/// How many (old, new) nodes `split` would return, without collecting them.
fn count_split(world: &World, nodegroup: &str, ro: &Rollout) -> (usize, usize) {
    world
        .nodes
        .values()
        .filter(|n| n.nodegroup == nodegroup)
        .fold((0, 0), |(old, new), n| {
            if n.minor == ro.target_version && n.release == ro.target_release {
                (old, new + 1)
            } else {
                (old + 1, new)
            }
        })
}

pub fn tick(world: &mut World, nodegroup: &str) {
    let Some(ng) = world.nodegroups.get(nodegroup) else {
        return;
    };
    let Some(mut ro) = ng.rollout.clone() else {
        crate::sandbox::eks::nodegroup_lifecycle(world, nodegroup);
        return;
    };
    let desired = ng.desired_size;
    let max_unavailable = ng.unavailable_budget();
    let now = world.now_ms;
    let (old, new) = split(world, nodegroup, &ro);
    match ro.phase {
        Phase::Setup => {
            ro.phase = Phase::ScaleUp;
            ro.phase_started_ms = now;
        }
        Phase::ScaleUp => {
            ro.surge = max_unavailable.min(old.len() as u32).max(1);
            for _ in 0..ro.surge {
                launch_node(world, nodegroup, &ro.target_version, &ro.target_release);
            }
            ro.phase = Phase::Upgrade;
            ro.phase_started_ms = now;
        }
        Phase::Upgrade => {
            let ready_new = new
                .iter()
                .filter(|n| world.nodes[*n].reported_ready == Some(true))
                .count();
            // New instances that never turn Ready (e.g. the VPC CNI or
            // kube-proxy does not support their kubelet) fail the update.
            let stuck: Vec<String> = new
                .iter()
                .filter(|n| {
                    let sim = &world.nodes[*n];
                    sim.reported_ready != Some(true) && now >= sim.boot_at_ms + JOIN_TIMEOUT_MS
                })
                .cloned()
                .collect();
            if !stuck.is_empty() {
                fail_with(
                    world,
                    nodegroup,
                    &ro,
                    "NodeCreationFailure",
                    "Instances failed to join the kubernetes cluster".to_string(),
                    stuck,
                );
                return;
            }
            // Drain more old nodes only while the new capacity is up.
            if ready_new == new.len() {
                // Once the new nodes are Ready, EKS taints every node not on
                // the new image so evicted pods move to new nodes.
                if !std::mem::replace(&mut ro.old_tainted, true) {
                    for name in &old {
                        taint_unschedulable(world, name);
                    }
                }
                for name in old.iter() {
                    if ro.draining.len() as u32 >= max_unavailable {
                        break;
                    }
                    if !ro.draining.iter().any(|(n, _)| n == name) {
                        ro.draining.push((name.clone(), now));
                    }
                }
            }
            let mut still = Vec::new();
            for (name, started) in std::mem::take(&mut ro.draining) {
                cordon(world, &name);
                let blocked = evict_all(world, &name, ro.force);
                if blocked.is_empty()
                    && terminating_on(world, &name)
                    && now < started + EVICTION_TIMEOUT_MS
                {
                    // Evicted, still in their grace period: EKS's drain waits
                    // for them like `kubectl drain`, then terminates.
                    still.push((name, started));
                } else if blocked.is_empty() {
                    terminate_node(world, &name);
                    let (_, new_now) = count_split(world, nodegroup, &ro);
                    if (new_now as u32) < desired {
                        launch_node(world, nodegroup, &ro.target_version, &ro.target_release);
                    }
                } else if now >= started + EVICTION_TIMEOUT_MS {
                    fail(world, nodegroup, &ro, &name, &blocked);
                    return;
                } else {
                    still.push((name, started));
                }
            }
            ro.draining = still;
            let (old_now, _) = count_split(world, nodegroup, &ro);
            if old_now == 0 && ro.draining.is_empty() {
                ro.phase = Phase::ScaleDown;
                ro.phase_started_ms = now;
            }
        }
        Phase::ScaleDown => {
            let extra = new.len().saturating_sub(desired as usize);
            for name in new.iter().rev().take(extra) {
                cordon(world, name);
                evict_all(world, name, true);
                terminate_node(world, name);
            }
            finish(world, nodegroup, &ro);
            return;
        }
    }
    if let Some(ng) = world.nodegroups.get_mut(nodegroup) {
        ng.rollout = Some(ro);
    }
    world.schedule(now + ROLLOUT_TICK_MS, Timer::Rollout(nodegroup.to_string()));
}

/// The taint EKS puts on a nodegroup's old nodes during an update.
pub const UPDATE_TAINT_KEY: &str = "eks.amazonaws.com/nodegroup";

fn taint_unschedulable(world: &mut World, node: &str) {
    let changed = world.kube.modify_record("nodes", "", node, |r| {
        let Some(n) = r.node_mut() else {
            return false;
        };
        if n.taints.iter().any(|t| t.key == UPDATE_TAINT_KEY) {
            return false;
        }
        n.taints.push(Taint {
            key: UPDATE_TAINT_KEY.into(),
            value: Some("unschedulable".into()),
            effect: "NoSchedule".into(),
            time_added: None,
        });
        true
    });
    if changed {
        world.dirty = true;
    }
}

fn untaint(world: &mut World, node: &str) {
    let changed = world.kube.modify_record("nodes", "", node, |r| {
        let Some(n) = r.node_mut() else {
            return false;
        };
        let before = n.taints.len();
        n.taints.retain(|t| t.key != UPDATE_TAINT_KEY);
        n.taints.len() < before
    });
    if changed {
        world.dirty = true;
    }
}

fn cordon(world: &mut World, node: &str) {
    let changed = world.kube.modify_record("nodes", "", node, |r| {
        r.node_mut()
            .is_some_and(|n| !std::mem::replace(&mut n.unschedulable, true))
    });
    if changed {
        world.dirty = true;
        world.cordon_changed(node);
    }
}

/// Pods on `node` that were evicted and have not stopped yet.
fn terminating_on(world: &World, node: &str) -> bool {
    world.nodes.get(node).is_some_and(|n| {
        n.pods
            .iter()
            .filter_map(|uid| world.pods.get(uid))
            .any(|p| !p.daemon && p.terminating)
    })
}

/// Evict every non-DaemonSet pod on a node; returns the pods still blocked
/// by a disruption budget (`force` deletes them regardless).
fn evict_all(world: &mut World, node: &str, force: bool) -> Vec<String> {
    let uids: Vec<String> = world
        .nodes
        .get(node)
        .map(|n| n.pods.iter().cloned().collect())
        .unwrap_or_default();
    let mut blocked = Vec::new();
    for uid in uids {
        let Some(p) = world.pods.get(&uid).filter(|p| !p.daemon && !p.terminating) else {
            continue;
        };
        let Some(pod) = world.kube.untyped("pods", &p.ns, &p.name) else {
            continue;
        };
        let verdict = eviction::check(world, pod);
        let (ns, name) = (p.ns.clone(), p.name.clone());
        match verdict {
            Ok(()) => {
                world.delete("pods", &ns, &name);
            }
            Err(_) if force => force_delete_pod(world, &ns, &name),
            Err(_) => blocked.push(format!("{ns}/{name}")),
        }
    }
    blocked
}

fn fail(world: &mut World, nodegroup: &str, ro: &Rollout, node: &str, blocked: &[String]) {
    let message = format!(
        "Reached max retries while trying to evict pods from nodes in node group {nodegroup}: pods {} on node {node} are protected by a PodDisruptionBudget",
        blocked.join(", ")
    );
    fail_with(
        world,
        nodegroup,
        ro,
        "PodEvictionFailure",
        message,
        vec![node.to_string()],
    );
}

fn fail_with(
    world: &mut World,
    nodegroup: &str,
    ro: &Rollout,
    code: &str,
    message: String,
    resource_ids: Vec<String>,
) {
    if let Some(u) = world.updates.iter_mut().find(|u| u.id == ro.update_id) {
        u.status = UpdateStatus::Failed;
        u.errors.push(UpdateError {
            code: code.into(),
            message,
            resource_ids,
        });
    }
    if let Some(ng) = world.nodegroups.get_mut(nodegroup) {
        ng.rollout = None;
        ng.status = "ACTIVE";
        ng.modified_ms = world.now_ms;
    }
}

fn finish(world: &mut World, nodegroup: &str, ro: &Rollout) {
    if let Some(u) = world.updates.iter_mut().find(|u| u.id == ro.update_id) {
        u.status = UpdateStatus::Successful;
    }
    // Nodes that stay are the nodegroup's nodes now: none keeps the update
    // taint, even one an earlier, failed update put there while these nodes
    // were the old ones (e.g. before a rollback to their version).
    let (_, stay) = split(world, nodegroup, ro);
    for name in stay {
        untaint(world, &name);
    }
    if let Some(ng) = world.nodegroups.get_mut(nodegroup) {
        ng.rollout = None;
        ng.status = "ACTIVE";
        ng.version = ro.target_version.clone();
        ng.release_version = ro.target_release.clone();
        ng.modified_ms = world.now_ms;
    }
}
