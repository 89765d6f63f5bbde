//! The workload controllers: Deployments own one ReplicaSet per pod template,
//! ReplicaSets and StatefulSets keep their replica count, DaemonSets keep one
//! pod per node; each writes its status. PodDisruptionBudget status too.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::sandbox::kube::eviction;
use crate::sandbox::kube::store::meta_str;
use crate::sandbox::state::World;
use crate::sandbox::state::events::Subject;
use crate::sandbox::state::objects::{first_image, is_terminating, owner_ref, pod_from_template};
use crate::sandbox::state::pod_index::PodKey;

/// A pod owned by a controller: (namespace, name, ready, terminating).
type PodRef = (String, String, bool, bool);

/// The pods a controller owns, from the owner index.
fn owned_pods(world: &World, owner_uid: &str) -> Vec<PodRef> {
    world
        .pod_index
        .owned(owner_uid)
        .filter_map(|(ns, name)| world.kube.untyped("pods", ns, name))
        .map(|pod| {
            (
                meta_str(pod, "namespace").to_string(),
                meta_str(pod, "name").to_string(),
                world.pod_condition(pod).1,
                is_terminating(pod),
            )
        })
        .collect()
}

/// One pass of every controller. Work is proportional to what needs doing:
/// per-owner counts come from the pod index, and pods are only looked at
/// for controllers whose pod count is off (or DaemonSets after node changes).
/// A controller only changes its own pods, so each reads the counts of its
/// own pods as they were when the pass reached it.
pub fn run(world: &mut World) {
    super::deletion::run(world);
    let deployments = super::deployments::run(world);
    replicasets(world);
    if std::mem::take(&mut world.daemonsets_dirty) {
        daemonsets(world);
    }
    statefulsets(world);
    statuses(world);
    super::deployments::statuses(world, deployments);
    budgets(world);
    endpoints(world);
}

/// Endpoints follow pod readiness: a pod that is not Ready (for example on
/// a NotReady node) leaves `addresses` and receives no ClusterIP traffic.
fn endpoints(world: &mut World) {
    let services: Vec<(String, String, Value, Value)> = world
        .kube
        .list_untyped("services", None)
        .map(|(k, s)| {
            (
                k.0.to_string(),
                k.1.to_string(),
                s["spec"]["selector"].clone(),
                s["spec"]["ports"].clone(),
            )
        })
        .collect();
    for (ns, name, selector, ports) in services {
        let Some(sel) = selector.as_object() else {
            continue;
        };
        let mut ready = Vec::new();
        let mut not_ready = Vec::new();
        for (_, pod) in world.kube.list_untyped("pods", Some(&ns)) {
            let labels = &pod["metadata"]["labels"];
            if is_terminating(pod) || !sel.iter().all(|(k, v)| labels[k] == *v) {
                continue;
            }
            let Some(ip) = world.pod_ip(pod) else {
                continue;
            };
            let addr = json!({
                "ip": ip,
                "nodeName": pod["spec"]["nodeName"].clone(),
                "targetRef": {"kind": "Pod", "namespace": ns, "name": pod["metadata"]["name"].clone(),
                              "uid": pod["metadata"]["uid"].clone()},
            });
            if world.pod_condition(pod).1 {
                ready.push(addr);
            } else {
                not_ready.push(addr);
            }
        }
        let ports: Vec<Value> = ports
            .as_array()
            .map(|ps| {
                ps.iter()
                    .map(|p| json!({"port": p["targetPort"].clone(), "protocol": "TCP"}))
                    .collect()
            })
            .unwrap_or_default();
        let mut subset = json!({"ports": ports});
        if !ready.is_empty() {
            subset["addresses"] = json!(ready);
        }
        if !not_ready.is_empty() {
            subset["notReadyAddresses"] = json!(not_ready);
        }
        let subsets = if ready.is_empty() && not_ready.is_empty() {
            json!([])
        } else {
            json!([subset])
        };
        if world.kube.contains("endpoints", &ns, &name) {
            world.kube.modify("endpoints", &ns, &name, |e| {
                if e["subsets"] == subsets {
                    return false;
                }
                e["subsets"] = subsets.clone();
                true
            });
        } else {
            let obj = json!({
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {"name": name, "namespace": ns},
                "subsets": subsets,
            });
            world.create("endpoints", obj);
        }
    }
}

/// The workload a new pod belongs to: (kind, name, uid).
type Owner<'a> = (&'a str, &'a str, &'a str);

fn create_owned_pod(
    world: &mut World,
    ns: &str,
    name: &str,
    template: &Value,
    (kind, owner, owner_uid): Owner,
    node: Option<&str>,
) {
    let created = world.now_ts();
    let mut pod = pod_from_template(
        ns,
        name,
        template,
        owner_ref("apps/v1", kind, owner, owner_uid),
        &created,
    );
    if let Some(node) = node {
        pod["spec"]["nodeName"] = json!(node);
    }
    world.create("pods", pod);
}

fn replicasets(world: &mut World) {
    let sets: Vec<(String, String, String, usize)> = world
        .kube
        .list_untyped("replicasets", None)
        .map(|(k, rs)| {
            (
                k.0.to_string(),
                k.1.to_string(),
                meta_str(rs, "uid").to_string(),
                rs["spec"]["replicas"].as_u64().unwrap_or(0) as usize,
            )
        })
        .filter(|(_, _, uid, want)| world.pod_index.counts(uid).0 as usize != *want)
        .collect();
    for (ns, name, uid, want) in sets {
        let have = world.pod_index.counts(&uid).0 as usize;
        // Only scaling down needs to know which pods exist.
        let live: Vec<PodRef> = if have > want {
            owned_pods(world, &uid)
                .into_iter()
                .filter(|p| !p.3)
                .collect()
        } else {
            Vec::new()
        };
        if have < want {
            let template = world
                .kube
                .untyped("replicasets", &ns, &name)
                .expect("listed above")["spec"]["template"]
                .clone();
            for _ in have..want {
                let pod_name = format!("{name}-{}", world.suffix(5));
                create_owned_pod(
                    world,
                    &ns,
                    &pod_name,
                    &template,
                    ("ReplicaSet", &name, &uid),
                    None,
                );
                rs_event(
                    world,
                    &ns,
                    &name,
                    &uid,
                    "SuccessfulCreate",
                    format!("Created pod: {pod_name}"),
                );
            }
        } else if live.len() > want {
            // Remove unready pods first, as the ReplicaSet controller does.
            let mut victims = live.clone();
            victims.sort_by_key(|p| (p.2, p.1.clone()));
            for p in victims.iter().take(live.len() - want) {
                world.delete("pods", &p.0, &p.1);
                rs_event(
                    world,
                    &ns,
                    &name,
                    &uid,
                    "SuccessfulDelete",
                    format!("Deleted pod: {}", p.1),
                );
            }
        }
    }
}

/// An event about a ReplicaSet, as its controller records it.
fn rs_event(
    world: &mut World,
    ns: &str,
    name: &str,
    uid: &str,
    reason: &'static str,
    message: String,
) {
    let subject = Subject {
        kind: "ReplicaSet",
        api_version: "apps/v1",
        namespace: ns.to_string(),
        name: name.to_string(),
        uid: uid.to_string(),
    };
    world.event(subject, false, reason, message, "replicaset-controller");
}

/// Where a pod runs and its first image: typed for bound pods (the
/// DaemonSet controller looks at every pod of every DaemonSet whenever a node
/// comes or goes), else from its JSON.
fn placement<'a>(world: &'a World, key: &PodKey, uid: &str) -> Option<(&'a str, &'a str)> {
    if let Some(sim) = world.pods.get(uid) {
        return Some((&sim.node, &sim.image));
    }
    let pod = world.kube.untyped("pods", &key.0, &key.1)?;
    Some((
        pod["spec"]["nodeName"].as_str().unwrap_or(""),
        first_image(pod),
    ))
}

/// Whether a DaemonSet's template may run on `node`.
fn selects(world: &World, template: &Value, node: &str) -> bool {
    let Some(node) = world.kube.record("nodes", "", node) else {
        return false;
    };
    template["spec"]["nodeSelector"]
        .as_object()
        .is_none_or(|sel| {
            sel.iter()
                .all(|(k, v)| node.extra["metadata"]["labels"][k] == *v)
        })
}

fn daemonsets(world: &mut World) {
    let sets: Vec<Value> = world
        .kube
        .list_untyped("daemonsets", None)
        .map(|(_, v)| v.clone())
        .collect();
    let mut node_names: Vec<String> = world.nodes.keys().cloned().collect();
    node_names.sort();
    for ds in sets {
        let ns = meta_str(&ds, "namespace").to_string();
        let name = meta_str(&ds, "name").to_string();
        let uid = meta_str(&ds, "uid").to_string();
        let template = &ds["spec"]["template"];
        let image = first_image(template);
        // Pods on nodes that are gone or running an old image go; nodes
        // without a current pod get one.
        let (stale, missing) = {
            let mut stale: Vec<PodKey> = Vec::new();
            let mut covered: HashSet<&str> = HashSet::new();
            for key in world.pod_index.owned(&uid) {
                let Some(meta) = world.pod_index.meta(key) else {
                    continue;
                };
                let Some((node, pod_image)) = placement(world, key, &meta.uid) else {
                    continue;
                };
                let terminating = meta.terminating;
                let gone = !world.nodes.contains_key(node);
                if gone || !terminating && pod_image != image {
                    stale.push(key.clone());
                } else if !terminating {
                    covered.insert(node);
                }
            }
            let missing: Vec<&String> = node_names
                .iter()
                .filter(|n| !covered.contains(n.as_str()) && selects(world, template, n))
                .collect();
            (stale, missing.into_iter().cloned().collect::<Vec<String>>())
        };
        for (pod_ns, pod_name) in &stale {
            world.delete("pods", pod_ns, pod_name);
        }
        for node in &missing {
            let pod_name = format!("{name}-{}", world.suffix(5));
            create_owned_pod(
                world,
                &ns,
                &pod_name,
                template,
                ("DaemonSet", &name, &uid),
                Some(node),
            );
        }
    }
}

fn statefulsets(world: &mut World) {
    let sets: Vec<Value> = world
        .kube
        .list_untyped("statefulsets", None)
        .map(|(_, v)| v.clone())
        .collect();
    for sts in sets {
        let ns = meta_str(&sts, "namespace").to_string();
        let name = meta_str(&sts, "name").to_string();
        let uid = meta_str(&sts, "uid").to_string();
        let want = sts["spec"]["replicas"].as_u64().unwrap_or(1);
        let stuck =
            sts["metadata"]["annotations"]["sandbox.runbook.dev/stuck-pvc-finalizer"] == "true";
        if world.pod_index.counts(&uid).0 == want {
            continue;
        }
        let pods = owned_pods(world, &uid);
        for i in 0..want {
            let pod_name = format!("{name}-{i}");
            let claim = format!("data-{name}-{i}");
            if !pods.iter().any(|p| p.1 == pod_name) && !world.kube.contains("pods", &ns, &pod_name)
            {
                // Claims are created with their pod, never behind its back.
                if !world.kube.contains("persistentvolumeclaims", &ns, &claim) {
                    let mut finalizers = vec![json!(super::deletion::PVC_PROTECTION)];
                    if stuck {
                        finalizers.push(json!("backup.example.com/snapshot-protection"));
                    }
                    let tpl = &sts["spec"]["volumeClaimTemplates"][0]["spec"];
                    let pvc = json!({
                        "apiVersion": "v1",
                        "kind": "PersistentVolumeClaim",
                        "metadata": {
                            "name": claim,
                            "namespace": ns,
                            "labels": sts["spec"]["selector"]["matchLabels"].clone(),
                            "finalizers": finalizers,
                        },
                        "spec": {
                            "accessModes": tpl["accessModes"].clone(),
                            "resources": tpl["resources"].clone(),
                            "storageClassName": tpl["storageClassName"].clone(),
                            "volumeMode": "Filesystem",
                            "volumeName": format!("pvc-{}", world.uid()),
                        },
                        "status": {
                            "phase": "Bound",
                            "accessModes": tpl["accessModes"].clone(),
                            "capacity": {"storage": tpl["resources"]["requests"]["storage"].clone()},
                        },
                    });
                    world.create("persistentvolumeclaims", pvc);
                }
                let mut template = sts["spec"]["template"].clone();
                template["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] =
                    json!(pod_name);
                template["spec"]["hostname"] = json!(pod_name);
                template["spec"]["volumes"] =
                    json!([{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]);
                create_owned_pod(
                    world,
                    &ns,
                    &pod_name,
                    &template,
                    ("StatefulSet", &name, &uid),
                    None,
                );
            }
        }
        for p in pods.iter().filter(|p| !p.3) {
            let ordinal = p.1.rsplit('-').next().and_then(|s| s.parse::<u64>().ok());
            if ordinal.is_some_and(|o| o >= want) {
                world.delete("pods", &p.0, &p.1);
            }
        }
    }
}

fn statuses(world: &mut World) {
    let sets: Vec<(String, String, String)> = world
        .kube
        .list_untyped("replicasets", None)
        .map(|(_, rs)| {
            (
                meta_str(rs, "namespace").to_string(),
                meta_str(rs, "name").to_string(),
                meta_str(rs, "uid").to_string(),
            )
        })
        .collect();
    for (ns, name, uid) in sets {
        let (total, ready) = world.pod_index.counts(&uid);
        world.kube.modify("replicasets", &ns, &name, |rs| {
            let s = json!({"replicas": total, "readyReplicas": ready, "availableReplicas": ready,
                           "fullyLabeledReplicas": total, "observedGeneration": 1});
            if rs["status"] == s {
                return false;
            }
            rs["status"] = s;
            true
        });
    }
    for resource in ["daemonsets", "statefulsets"] {
        let objs: Vec<(String, String, String)> = world
            .kube
            .list_untyped(resource, None)
            .map(|(_, o)| {
                (
                    meta_str(o, "namespace").to_string(),
                    meta_str(o, "name").to_string(),
                    meta_str(o, "uid").to_string(),
                )
            })
            .collect();
        for (ns, name, uid) in objs {
            let (total, ready) = world.pod_index.counts(&uid);
            world.kube.modify(resource, &ns, &name, |o| {
                // The controller has seen the current spec (e.g. a scale).
                let observed = o["metadata"]["generation"].as_i64().unwrap_or(1);
                let s = if resource == "daemonsets" {
                    json!({"desiredNumberScheduled": total, "currentNumberScheduled": total,
                           "updatedNumberScheduled": total, "numberReady": ready,
                           "numberAvailable": ready, "numberMisscheduled": 0, "observedGeneration": observed})
                } else {
                    json!({"replicas": total, "readyReplicas": ready, "currentReplicas": total,
                           "updatedReplicas": total, "availableReplicas": ready, "observedGeneration": observed})
                };
                if o["status"] == s {
                    return false;
                }
                o["status"] = s;
                true
            });
        }
    }
}

fn budgets(world: &mut World) {
    let pdbs: Vec<(String, String)> = world
        .kube
        .list_untyped("poddisruptionbudgets", None)
        .map(|(k, _)| (k.0.to_string(), k.1.to_string()))
        .collect();
    for (ns, name) in pdbs {
        let Some(pdb) = world.kube.untyped("poddisruptionbudgets", &ns, &name) else {
            continue;
        };
        let b = eviction::budget(world, pdb);
        let since = meta_str(pdb, "creationTimestamp").to_string();
        world.kube.modify("poddisruptionbudgets", &ns, &name, |p| {
            let s = json!({
                "currentHealthy": b.current_healthy,
                "desiredHealthy": b.desired_healthy,
                "disruptionsAllowed": b.disruptions_allowed(),
                "expectedPods": b.expected,
                "observedGeneration": 1,
                "conditions": [{
                    "type": "DisruptionAllowed",
                    "status": if b.disruptions_allowed() > 0 { "True" } else { "False" },
                    "reason": if b.disruptions_allowed() > 0 { "SufficientPods" } else { "InsufficientPods" },
                    "message": "",
                    "lastTransitionTime": since,
                    "observedGeneration": 1,
                }],
            });
            if p["status"] == s {
                return false;
            }
            p["status"] = s;
            true
        });
    }
}
