//! The kubelet's view: a node is Ready once booted and only if the installed
//! VPC CNI supports its kubelet minor; a kube-proxy outside the skew policy
//! crash-loops without making the node NotReady; pods pull their image
//! (Docker Hub may refuse), start, and are Ready only on a Ready node.

use super::{IMAGE_BACKOFF_MS, POD_START_MS};
use crate::sandbox::state::events::Subject;
use crate::sandbox::state::objects;
use crate::sandbox::state::pod_status::PodStatus;
use crate::sandbox::state::typed::Taint;
use crate::sandbox::state::{PodRole, Timer, World};

/// The taint the node lifecycle controller keeps on a NotReady node.
const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";

const CNI_NOT_READY: &str = "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized";

/// Re-evaluate a node's Ready condition.
pub fn node(world: &mut World, name: &str, instant: bool) {
    let Some(sim) = world.nodes.get(name) else {
        return;
    };
    let booted = instant || world.now_ms >= sim.boot_at_ms;
    let network = world.network_supports(&sim.minor);
    let ready = booted && network;
    if sim.reported_ready == Some(ready) {
        return;
    }
    let was_reported = sim.reported_ready.is_some();
    if let Some(sim) = world.nodes.get_mut(name) {
        sim.reported_ready = Some(ready);
        if instant {
            sim.boot_at_ms = world.now_ms;
        }
    }
    let now = world.now_ts();
    let message = if ready {
        "kubelet is posting ready status"
    } else if booted {
        CNI_NOT_READY
    } else {
        "kubelet is starting"
    };
    world.kube.modify_record("nodes", "", name, |r| {
        let Some(n) = r.node_mut() else {
            return false;
        };
        n.conditions = objects::node_conditions(ready, &now, message);
        n.taints.retain(|t| t.key != NOT_READY_TAINT);
        if !ready {
            n.taints.push(Taint {
                key: NOT_READY_TAINT.into(),
                value: None,
                effect: "NoSchedule".into(),
                time_added: Some(now.clone()),
            });
        }
        true
    });
    world.dirty = true;
    if let Some(subject) = world
        .kube
        .record("nodes", "", name)
        .filter(|_| was_reported || ready)
        .map(|r| Subject::of(&r.extra, "Node", "v1"))
    {
        let (reason, message) = if ready {
            ("NodeReady", format!("Node {name} status is now: NodeReady"))
        } else {
            (
                "NodeNotReady",
                format!("Node {name} status is now: NodeNotReady"),
            )
        };
        world.event(subject, false, reason, message, "kubelet");
    }
    let uids: Vec<String> = world.nodes[name].pods.iter().cloned().collect();
    for uid in uids {
        pod(world, &uid, instant);
    }
}

pub fn recheck_all_nodes(world: &mut World, instant: bool) {
    // In name order: visits record events, whose names draw on the seeded RNG.
    let mut names: Vec<String> = world.nodes.keys().cloned().collect();
    names.sort();
    for name in names {
        node(world, &name, instant);
        // Add-on pods on the node may start or stop crash-looping.
        let uids: Vec<String> = world.nodes[&name].pods.iter().cloned().collect();
        for uid in uids {
            pod(world, &uid, instant);
        }
    }
}

/// Whether the networking add-on `role` crash-loops on a kubelet `minor`:
/// aws-node on a kubelet its VPC CNI version does not support, kube-proxy
/// outside the version-skew policy.
fn crashes_here(world: &World, role: PodRole, minor: &str) -> bool {
    match role {
        PodRole::Network("kube-proxy") => !world.kube_proxy_in_skew(minor),
        PodRole::Network(addon) => world
            .addon_version(addon)
            .is_some_and(|v| !world.catalog.supports(addon, v, minor)),
        _ => false,
    }
}

/// Advance one bound pod through pull, start and readiness.
pub fn pod(world: &mut World, uid: &str, instant: bool) {
    let Some(sim) = world.pods.get(uid) else {
        return;
    };
    if let Some(stop_at) = sim.stop_at_ms {
        // Deleted: once its containers have stopped the kubelet removes it.
        if stop_at <= world.now_ms {
            let (ns, name) = (sim.ns.clone(), sim.name.clone());
            world.delete_now("pods", &ns, &name);
        }
        return;
    }
    if sim.terminating {
        return;
    }
    let Some(node) = world.nodes.get(&sim.node) else {
        return;
    };
    let node_ready = node.reported_ready == Some(true);
    let now = world.now_ms;
    if sim.ready_at_ms.is_none() {
        if sim.pull_retry_at_ms.is_some_and(|t| t > now) {
            return;
        }
        let cached = node.pulled.contains(&sim.image);
        if instant || cached || world.registry.pull(&sim.image, now) {
            let node = sim.node.clone();
            let image = (!cached).then(|| sim.image.clone());
            let at = if instant { now } else { now + POD_START_MS };
            if let Some(sim) = world.pods.get_mut(uid) {
                sim.ready_at_ms = Some(at);
                sim.pull_retry_at_ms = None;
            }
            let pulled = match &image {
                Some(image) => format!(
                    "Successfully pulled image \"{image}\" in 2.1s (2.1s including waiting)"
                ),
                None => format!(
                    "Container image \"{}\" already present on machine",
                    world.pods[uid].image
                ),
            };
            if let Some(image) = &image {
                pod_event(
                    world,
                    uid,
                    false,
                    "Pulling",
                    format!("Pulling image \"{image}\""),
                );
            }
            pod_event(world, uid, false, "Pulled", pulled);
            if let Some(image) = image
                && let Some(n) = world.nodes.get_mut(&node)
            {
                n.pulled.insert(image);
            }
            if !instant {
                world.schedule(at, Timer::Pod(uid.to_string()));
            }
        } else {
            image_pull_refused(world, uid);
            return;
        }
    }
    let sim = &world.pods[uid];
    let started = sim.ready_at_ms.is_some_and(|t| t <= now);
    let was_running = sim.status.is_some_and(|s| s.running());
    let (waiting, ready) = if !started {
        (Some("ContainerCreating"), false)
    } else if crashes_here(world, sim.role, &world.nodes[&sim.node].minor) {
        (Some("CrashLoopBackOff"), false)
    } else if node_ready || sim.role.host_network() {
        (None, node_ready)
    } else if was_running {
        // The node went NotReady under a running pod: it stays Running but
        // leaves service endpoints.
        (None, false)
    } else {
        (Some("ContainerCreating"), false)
    };
    let was_waiting = sim
        .status
        .is_none_or(|s| s.waiting.is_some_and(|w| w != "CrashLoopBackOff"));
    if waiting.is_none() && was_waiting {
        let container = container_of(world, uid);
        pod_event(
            world,
            uid,
            false,
            "Created",
            format!("Created container {container}"),
        );
        pod_event(
            world,
            uid,
            false,
            "Started",
            format!("Started container {container}"),
        );
    }
    if waiting == Some("CrashLoopBackOff")
        && world.pods[uid].status.is_none_or(|s| s.waiting != waiting)
    {
        let sim = &world.pods[uid];
        let message = format!(
            "Back-off restarting failed container {} in pod {}_{}({uid})",
            container_of(world, uid),
            sim.name,
            sim.ns
        );
        pod_event(world, uid, true, "BackOff", message);
    }
    report(world, uid, waiting, ready);
}

/// The name of a bound pod's first container.
fn container_of(world: &World, uid: &str) -> String {
    let sim = &world.pods[uid];
    world
        .kube
        .untyped("pods", &sim.ns, &sim.name)
        .and_then(|p| p["spec"]["containers"][0]["name"].as_str())
        .unwrap_or("main")
        .to_string()
}

/// Record an event about a bound pod, as its kubelet.
fn pod_event(world: &mut World, uid: &str, warning: bool, reason: &'static str, message: String) {
    let Some(sim) = world.pods.get(uid) else {
        return;
    };
    let subject = Subject {
        kind: "Pod",
        api_version: "v1",
        namespace: sim.ns.clone(),
        name: sim.name.clone(),
        uid: uid.to_string(),
    };
    world.event(subject, warning, reason, message, "kubelet");
}

/// Docker Hub refused the pull: ErrImagePull, then ImagePullBackOff, and
/// another try after the back-off.
fn image_pull_refused(world: &mut World, uid: &str) {
    let now = world.now_ms;
    let Some(sim) = world.pods.get_mut(uid) else {
        return;
    };
    sim.pull_retry_at_ms = Some(now + IMAGE_BACKOFF_MS);
    let first = !matches!(
        sim.status.and_then(|s| s.waiting),
        Some("ErrImagePull" | "ImagePullBackOff")
    );
    let image = sim.image.clone();
    world.schedule(now + IMAGE_BACKOFF_MS, Timer::Pod(uid.to_string()));
    let (reason, event, message) = if first {
        (
            "ErrImagePull",
            "Failed",
            format!(
                "Failed to pull image \"{image}\": 429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit."
            ),
        )
    } else {
        (
            "ImagePullBackOff",
            "BackOff",
            format!("Back-off pulling image \"{image}\""),
        )
    };
    if first {
        pod_event(
            world,
            uid,
            false,
            "Pulling",
            format!("Pulling image \"{image}\""),
        );
    }
    pod_event(world, uid, true, event, message);
    report(world, uid, Some(reason), false);
}

/// Record what the kubelet sees, if it differs from what it last reported.
fn report(world: &mut World, uid: &str, waiting: Option<&'static str>, ready: bool) {
    let current = world.pods.get(uid).and_then(|s| s.status.as_ref());
    if let Some(status) = PodStatus::next(current, waiting, ready, world.now_ms) {
        world.report_pod_status(uid, status);
    }
}
