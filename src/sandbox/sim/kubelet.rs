//! The kubelet's view: a node is Ready once booted and only if the installed
//! VPC CNI and kube-proxy support its kubelet minor; pods pull their image
//! (Docker Hub may refuse), start, and are Ready only on a Ready node.

use serde_json::{Value, json};

use super::{IMAGE_BACKOFF_MS, POD_START_MS};
use crate::sandbox::state::objects::{self, set_pod_state, waiting_reason};
use crate::sandbox::state::{Timer, World};

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
    world.kube.modify("nodes", "", name, |n| {
        n["status"]["conditions"] = objects::node_conditions(ready, &now, message);
        let taints = n["spec"]["taints"].as_array_mut();
        let mut list: Vec<Value> = taints.map(std::mem::take).unwrap_or_default();
        list.retain(|t| t["key"] != "node.kubernetes.io/not-ready");
        if !ready {
            list.push(json!({"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule", "timeAdded": now}));
        }
        if list.is_empty() {
            n["spec"].as_object_mut().map(|s| s.remove("taints"));
        } else {
            n["spec"]["taints"] = Value::Array(list);
        }
        true
    });
    world.dirty = true;
    if let Some(node) = world
        .kube
        .get("nodes", "", name)
        .filter(|_| was_reported || ready)
        .cloned()
    {
        let (reason, message) = if ready {
            ("NodeReady", format!("Node {name} status is now: NodeReady"))
        } else {
            (
                "NodeNotReady",
                format!("Node {name} status is now: NodeNotReady"),
            )
        };
        world.event(&node, "Normal", reason, message, "kubelet");
    }
    let uids: Vec<String> = world.nodes[name].pods.iter().cloned().collect();
    for uid in uids {
        pod(world, &uid, instant);
    }
}

pub fn recheck_all_nodes(world: &mut World, instant: bool) {
    let names: Vec<String> = world.nodes.keys().cloned().collect();
    for name in names {
        node(world, &name, instant);
        // Add-on pods on the node may start or stop crash-looping.
        let uids: Vec<String> = world.nodes[&name].pods.iter().cloned().collect();
        for uid in uids {
            pod(world, &uid, instant);
        }
    }
}

/// Whether this pod is the networking add-on that crashes on a node whose
/// kubelet it does not support.
fn crashes_here(world: &World, pod: &Value, minor: &str) -> bool {
    if pod["metadata"]["namespace"] != "kube-system" {
        return false;
    }
    let app = pod["metadata"]["labels"]["k8s-app"].as_str().unwrap_or("");
    let addon = match app {
        "aws-node" => "vpc-cni",
        "kube-proxy" => "kube-proxy",
        _ => return false,
    };
    world
        .addon_version(addon)
        .is_some_and(|v| !world.catalog.supports(addon, v, minor))
}

/// Advance one bound pod through pull, start and readiness.
pub fn pod(world: &mut World, uid: &str, instant: bool) {
    let Some(sim) = world.pods.get(uid) else {
        return;
    };
    let Some(obj) = world.kube.get("pods", &sim.ns, &sim.name) else {
        return;
    };
    if objects::is_terminating(obj) {
        return;
    }
    let Some(node) = world.nodes.get(&sim.node) else {
        return;
    };
    let node_ready = node.reported_ready == Some(true);
    let now = world.now_ms;
    let mut sim = sim.clone();
    if sim.ready_at_ms.is_none() {
        if sim.pull_retry_at_ms.is_some_and(|t| t > now) {
            return;
        }
        let image = objects::first_image(obj);
        let cached = node.pulled.contains(image);
        if instant || cached || world.registry.pull(image, now) {
            if !cached {
                let image = image.to_string();
                if let Some(n) = world.nodes.get_mut(&sim.node) {
                    n.pulled.insert(image);
                }
            }
            let at = if instant { now } else { now + POD_START_MS };
            sim.ready_at_ms = Some(at);
            sim.pull_retry_at_ms = None;
            if !instant {
                world.schedule(at, Timer::Pod(uid.to_string()));
            }
        } else {
            let image = image.to_string();
            let first = !matches!(
                waiting_reason(obj),
                Some("ErrImagePull" | "ImagePullBackOff")
            );
            let about = obj.clone();
            sim.pull_retry_at_ms = Some(now + IMAGE_BACKOFF_MS);
            world.schedule(now + IMAGE_BACKOFF_MS, Timer::Pod(uid.to_string()));
            let reason = if first {
                "ErrImagePull"
            } else {
                "ImagePullBackOff"
            };
            let (event, message) = if first {
                (
                    "Failed",
                    format!(
                        "Failed to pull image \"{image}\": 429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit."
                    ),
                )
            } else {
                ("BackOff", format!("Back-off pulling image \"{image}\""))
            };
            world.event(&about, "Warning", event, message, "kubelet");
            write_state(world, &sim, Err(reason), false);
            world.pods.insert(uid.to_string(), sim);
            return;
        }
    }
    let started = sim.ready_at_ms.is_some_and(|t| t <= now);
    if let Some(stored) = world.pods.get_mut(uid) {
        stored.ready_at_ms = sim.ready_at_ms;
        stored.pull_retry_at_ms = sim.pull_retry_at_ms;
    }
    let obj = world
        .kube
        .get("pods", &sim.ns, &sim.name)
        .expect("checked above");
    let minor = &world.nodes[&sim.node].minor;
    let was_running = obj["status"]["phase"] == "Running";
    let (state, ready): (Result<&str, &str>, bool) = if !started {
        (Err("ContainerCreating"), false)
    } else if crashes_here(world, obj, minor) {
        (Err("CrashLoopBackOff"), false)
    } else if node_ready || is_host_network_addon(obj) {
        (Ok(""), node_ready)
    } else if was_running {
        // The node went NotReady under a running pod: it stays Running but
        // leaves service endpoints.
        (Ok(""), false)
    } else {
        (Err("ContainerCreating"), false)
    };
    write_state(world, &sim, state, ready);
}

fn is_host_network_addon(pod: &Value) -> bool {
    pod["metadata"]["namespace"] == "kube-system"
        && matches!(
            pod["metadata"]["labels"]["k8s-app"].as_str(),
            Some("aws-node" | "kube-proxy" | "ebs-csi-node")
        )
}

fn write_state(
    world: &mut World,
    sim: &crate::sandbox::state::PodSim,
    state: Result<&str, &str>,
    ready: bool,
) {
    let Some(p) = world.kube.get("pods", &sim.ns, &sim.name) else {
        return;
    };
    let cur_reason = waiting_reason(p);
    let cur_ready = objects::pod_ready(p);
    let cur_running = p["status"]["phase"] == "Running";
    let unchanged = match state {
        Ok(_) => cur_running && cur_reason.is_none() && cur_ready == ready,
        Err(r) => cur_reason == Some(r) && cur_ready == ready,
    };
    // Most visits change nothing: build the new status only when needed.
    if unchanged {
        return;
    }
    let ready_changed = cur_ready != ready;
    let started = p["status"]["containerStatuses"][0]["state"]["running"]["startedAt"]
        .as_str()
        .map(str::to_string);
    let now = world.now_ts();
    let host_ip = world
        .kube
        .get("nodes", "", &sim.node)
        .and_then(|n| n["status"]["addresses"][0]["address"].as_str())
        .unwrap_or("10.0.0.1")
        .to_string();
    let pod_ip = pod_ip(&sim.name, &sim.ns);
    world.kube.modify("pods", &sim.ns, &sim.name, |p| {
        let started = started.unwrap_or_else(|| now.clone());
        let state = state.map(|_| started.as_str());
        set_pod_state(p, state, ready, &host_ip, &pod_ip, &now);
        true
    });
    if ready_changed {
        // Workload and budget status depend on readiness.
        world.set_pod_ready(&sim.ns, &sim.name, ready);
        world.dirty = true;
    }
}

/// A stable pod IP derived from the pod's name.
fn pod_ip(name: &str, ns: &str) -> String {
    let h = name
        .bytes()
        .chain(ns.bytes())
        .fold(2166136261u32, |h, b| (h ^ b as u32).wrapping_mul(16777619));
    format!("10.0.{}.{}", (h >> 8) % 250 + 1, h % 250 + 2)
}
