//! The scheduler: binds Pending pods to Ready, schedulable nodes whose taints
//! they tolerate, whose labels match their nodeSelector, and that have room
//! for their CPU, memory and pod count.

use serde_json::Value;

use crate::sandbox::state::World;
use crate::sandbox::state::events::Subject;
use crate::sandbox::state::typed::Record;

/// Whether a pod's `tolerations` tolerate the taint (key, value, effect).
pub fn tolerates(tolerations: &Value, key: &str, value: Option<&str>, effect: &str) -> bool {
    let Some(ts) = tolerations.as_array() else {
        return false;
    };
    ts.iter().any(|t| {
        let op = t["operator"].as_str().unwrap_or("Equal");
        let key_ok = t["key"].is_null() && op == "Exists" || t["key"] == key;
        let value_ok = op == "Exists" || t["value"].as_str().unwrap_or("") == value.unwrap_or("");
        let effect_ok = t["effect"].is_null() || t["effect"] == effect;
        key_ok && value_ok && effect_ok
    })
}

/// Whether `pod` may run on `node` ignoring resources.
pub fn admits(node: &Record, pod: &Value) -> bool {
    let Some(model) = node.node() else {
        return false;
    };
    let tolerations = &pod["spec"]["tolerations"];
    if model.unschedulable
        && !tolerates(
            tolerations,
            "node.kubernetes.io/unschedulable",
            None,
            "NoSchedule",
        )
    {
        return false;
    }
    for t in &model.taints {
        if t.effect != "PreferNoSchedule"
            && !tolerates(tolerations, &t.key, t.value.as_deref(), &t.effect)
        {
            return false;
        }
    }
    if let Some(sel) = pod["spec"]["nodeSelector"].as_object() {
        let labels = &node.extra["metadata"]["labels"];
        if !sel.iter().all(|(k, v)| labels[k] == *v) {
            return false;
        }
    }
    true
}

pub fn run(world: &mut World) {
    if world.unscheduled.is_empty() {
        return;
    }
    let mut names: Vec<String> = world
        .nodes
        .iter()
        .filter(|(_, n)| n.reported_ready == Some(true))
        .map(|(k, _)| k.clone())
        .collect();
    names.sort();
    if names.is_empty() {
        return;
    }
    let pending: Vec<(String, String)> = world.unscheduled.keys().cloned().collect();
    let mut cursor = 0usize;
    for key in pending {
        let (ns, name) = (&key.0, &key.1);
        let Some(pod) = world.kube.untyped("pods", ns, name) else {
            world.unscheduled.remove(&key);
            continue;
        };
        if !pod["spec"]["nodeName"].as_str().unwrap_or("").is_empty() {
            world.unscheduled.remove(&key);
            continue;
        }
        let (cpu, mem) = world.unscheduled[&key].requests;
        let mut chosen = None;
        for i in 0..names.len() {
            let candidate = &names[(cursor + i) % names.len()];
            let sim = &world.nodes[candidate];
            if sim.used_pods >= sim.max_pods
                || sim.used_cpu + cpu > sim.cpu
                || sim.used_memory + mem > sim.memory
            {
                continue;
            }
            let Some(node) = world.kube.record("nodes", "", candidate) else {
                continue;
            };
            if admits(node, pod) {
                chosen = Some(candidate.clone());
                cursor = (cursor + i + 1) % names.len();
                break;
            }
        }
        let Some(node) = chosen else {
            mark_unschedulable(world, ns, name);
            continue;
        };
        // The PodScheduled condition is published with the pod's status.
        world.kube.modify("pods", ns, name, |p| {
            p["spec"]["nodeName"] = Value::String(node.clone());
            true
        });
        if let Some(mut bound) = world.unscheduled.remove(&key) {
            let message = format!("Successfully assigned {ns}/{name} to {node}");
            let subject = Subject {
                kind: "Pod",
                api_version: "v1",
                namespace: ns.clone(),
                name: name.clone(),
                uid: bound.uid.clone(),
            };
            world.event(subject, false, "Scheduled", message, "default-scheduler");
            bound.node = node;
            world.account_bind(bound);
        }
    }
}

fn mark_unschedulable(world: &mut World, ns: &str, name: &str) {
    let now = world.now_ts();
    let first = world.kube.modify("pods", ns, name, |p| {
        if p["status"]["conditions"][0]["reason"] == "Unschedulable" {
            return false;
        }
        p["status"]["conditions"] = serde_json::json!([{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/N nodes are available: no node has room or tolerates this pod.",
            "lastTransitionTime": now,
        }]);
        true
    });
    if first && let Some(pod) = world.kube.untyped("pods", ns, name) {
        let subject = Subject::of(pod, "Pod", "v1");
        let nodes = world.nodes.len();
        let message = format!(
            "0/{nodes} nodes are available: no Ready, schedulable node has room for the pod or is tolerated by it."
        );
        world.event(
            subject,
            true,
            "FailedScheduling",
            message,
            "default-scheduler",
        );
    }
}
