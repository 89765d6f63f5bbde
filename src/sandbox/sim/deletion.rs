//! The controllers that finish deletions: the namespace controller empties a
//! Terminating namespace and then removes it, and the PVC protection
//! controller releases a deleted claim once no pod mounts it. Other
//! finalizers (a backup tool's, say) keep an object Terminating, and so its
//! namespace, as on a real cluster.

use serde_json::Value;

use crate::sandbox::kube::resources::RESOURCES;
use crate::sandbox::state::objects::is_terminating;
use crate::sandbox::state::{Change, World};

pub const PVC_PROTECTION: &str = "kubernetes.io/pvc-protection";

pub fn run(world: &mut World) {
    namespaces(world);
    claims(world);
}

fn namespaces(world: &mut World) {
    let terminating: Vec<String> = world
        .kube
        .list_untyped("namespaces", None)
        .filter(|(_, ns)| is_terminating(ns))
        .map(|((_, name), _)| name.to_string())
        .collect();
    for ns in terminating {
        let mut left = 0;
        for def in RESOURCES.iter().filter(|d| d.namespaced) {
            let live: Vec<String> = world
                .kube
                .records(def.plural, Some(&ns))
                .filter(|(_, o)| !is_terminating(&o.extra))
                .map(|((_, name), _)| name.to_string())
                .collect();
            for name in live {
                world.delete(def.plural, &ns, &name);
            }
            left += world.kube.records(def.plural, Some(&ns)).count();
        }
        if left == 0
            && let Some(obj) = world.kube.remove("namespaces", "", &ns)
        {
            world.observe("namespaces", "", &ns, Change::Deleted(&obj));
        }
    }
}

/// Whether a pod that has not finished mounts `claim`.
fn in_use(world: &World, ns: &str, claim: &str) -> bool {
    world.kube.list_untyped("pods", Some(ns)).any(|(_, pod)| {
        pod["spec"]["volumes"].as_array().is_some_and(|vs| {
            vs.iter()
                .any(|v| v["persistentVolumeClaim"]["claimName"] == claim)
        })
    })
}

fn claims(world: &mut World) {
    let released: Vec<(String, String)> = world
        .kube
        .list_untyped("persistentvolumeclaims", None)
        .filter(|(_, pvc)| is_terminating(pvc) && has_protection(pvc))
        .filter(|((ns, name), _)| !in_use(world, ns, name))
        .map(|((ns, name), _)| (ns.to_string(), name.to_string()))
        .collect();
    for (ns, name) in released {
        world
            .kube
            .modify("persistentvolumeclaims", &ns, &name, |pvc| {
                if let Some(f) = pvc["metadata"]["finalizers"].as_array_mut() {
                    f.retain(|f| f != PVC_PROTECTION);
                }
                true
            });
        // Gone unless another finalizer still holds it.
        world.after_update("persistentvolumeclaims", &ns, &name);
    }
}

fn has_protection(pvc: &Value) -> bool {
    pvc["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| f.iter().any(|f| f == PVC_PROTECTION))
}
