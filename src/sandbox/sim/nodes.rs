//! Launching and terminating EC2 nodes of a managed nodegroup.

use rand::Rng;
use serde_json::{Value, json};

use crate::sandbox::state::catalog::k8s_patch;
use crate::sandbox::state::objects::{self, NodeParams};
use crate::sandbox::state::{NodeSim, Timer, World};

const ZONES: [&str; 3] = ["a", "b", "c"];

/// Launch a node in `nodegroup` at `version`; it boots after NODE_BOOT_MS
/// (immediately while the world is being built).
pub fn launch_node(world: &mut World, nodegroup: &str, version: &str, release: &str) -> String {
    let ng = world.nodegroups[nodegroup].clone();
    let (name, ip) = loop {
        let (a, b, c) = (
            world.rng.random_range(0..64u8),
            world.rng.random_range(0..=255u8),
            world.rng.random_range(1..=254u8),
        );
        let ip = format!("10.0.{}.{}", a * 4 + b % 4, c);
        let name = format!(
            "ip-{}.{}.compute.internal",
            ip.replace('.', "-"),
            world.cluster.region
        );
        if !world.nodes.contains_key(&name) {
            break (name, ip);
        }
    };
    let zone = format!(
        "{}{}",
        world.cluster.region,
        ZONES[world.nodes.len() % ZONES.len()]
    );
    let id: u64 = world.rng.random();
    let instance_id = format!("i-0{:016x}", id);
    let taints: Vec<Value> = ng
        .taints
        .iter()
        .map(|t| {
            let mut v = json!({"key": t.key, "effect": t.effect});
            if let Some(val) = &t.value {
                v["value"] = json!(val);
            }
            v
        })
        .chain(std::iter::once(
            json!({"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}),
        ))
        .collect();
    let created = world.now_ts();
    let node = objects::node(NodeParams {
        name: &name,
        nodegroup,
        instance_type: &ng.instance_type,
        zone: &zone,
        kubelet_version: format!("v{}-eks-2f07ad8", k8s_patch(version)),
        release_version: release,
        cpu_milli: ng.cpu_milli,
        memory_bytes: ng.memory_bytes,
        max_pods: ng.max_pods,
        labels: &ng.labels,
        taints: Value::Array(taints),
        ip: &ip,
        instance_id: &instance_id,
        created,
    });
    world.nodes.insert(
        name.clone(),
        NodeSim {
            nodegroup: nodegroup.to_string(),
            minor: version.to_string(),
            release: release.to_string(),
            boot_at_ms: world.now_ms + super::NODE_BOOT_MS,
            reported_ready: None,
            cordoned: false,
            used_cpu: 0,
            used_memory: 0,
            used_pods: 0,
            cpu: ng.cpu_milli.saturating_sub(80),
            memory: ng.memory_bytes.saturating_sub(600 << 20),
            max_pods: ng.max_pods,
            pulled: Default::default(),
            pods: Default::default(),
        },
    );
    world.create("nodes", node);
    world.schedule(world.now_ms, Timer::Node(name.clone()));
    world.schedule(
        world.now_ms + super::NODE_BOOT_MS,
        Timer::Node(name.clone()),
    );
    name
}

/// Terminate a node's instance: its pods vanish with it and the Node object
/// is removed.
pub fn terminate_node(world: &mut World, name: &str) {
    let uids: Vec<String> = world
        .nodes
        .get(name)
        .map(|n| n.pods.iter().cloned().collect())
        .unwrap_or_default();
    for uid in uids {
        if let Some(p) = world.pods.get(&uid).cloned() {
            force_delete_pod(world, &p.ns, &p.name);
        }
    }
    world.delete("nodes", "", name);
}

/// Delete a pod at once, regardless of finalizers and its grace period
/// (its node is gone, or the update is forced).
pub fn force_delete_pod(world: &mut World, ns: &str, name: &str) {
    world.kube.modify("pods", ns, name, |p| {
        let had = !p["metadata"]["finalizers"].is_null();
        p["metadata"]
            .as_object_mut()
            .map(|m| m.remove("finalizers"));
        had
    });
    world.delete_now("pods", ns, name);
}
