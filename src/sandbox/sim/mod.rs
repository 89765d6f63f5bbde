//! The simulation: advances the world along the virtual clock. Work happens
//! at timers (a control-plane update finishing, a node booting, a pod
//! starting, a rollout tick) and whenever objects changed (controllers and
//! the scheduler run), so time can jump straight to the next event.

pub mod controllers;
pub mod controlplane;
pub mod deletion;
pub mod deployments;
pub mod kubelet;
pub mod nodegroup_update;
pub mod nodes;
pub mod scheduler;

use super::state::{Timer, World};

// How long EKS and Kubernetes take is written once, in `cloud::timing`,
// which the engine's plan reads too: the twin follows those figures.
use crate::cloud::timing;

const fn ms(d: std::time::Duration) -> u64 {
    d.as_millis() as u64
}

pub const MINUTE_MS: u64 = 60_000;
pub const CONTROL_PLANE_UPDATE_MS: u64 = ms(timing::CONTROL_PLANE_UPDATE);
pub const ADDON_UPDATE_MS: u64 = ms(timing::ADDON_UPDATE);
pub const NODE_BOOT_MS: u64 = ms(timing::NODE_BOOT);
pub const POD_START_MS: u64 = ms(timing::POD_START);
pub const IMAGE_BACKOFF_MS: u64 = 5 * MINUTE_MS;
pub const ROLLOUT_TICK_MS: u64 = ms(timing::ROLLOUT_TICK);
pub const ROLLOUT_SETUP_MS: u64 = ms(timing::ROLLOUT_SETUP);
/// An UpdateNodegroupConfig completes after about a minute.
pub const CONFIG_UPDATE_MS: u64 = ms(timing::CONFIG_UPDATE);
/// EKS gives up draining a node after 15 minutes of PDB-blocked evictions.
pub const EVICTION_TIMEOUT_MS: u64 = 15 * MINUTE_MS;

/// Advance the world to simulated time `target` (never backwards).
pub fn advance_to(world: &mut World, target: u64) {
    loop {
        step(world, false);
        match world.timers.first() {
            Some((at, _)) if *at <= target => world.now_ms = world.now_ms.max(*at),
            _ => break,
        }
    }
    world.now_ms = world.now_ms.max(target);
    step(world, false);
    if world.kube.has_watchers() {
        world.publish();
    }
}

/// Bring a freshly built world to a steady state at time zero: nodes boot
/// and pods start instantly.
pub fn settle(world: &mut World) {
    for _ in 0..8 {
        step(world, true);
        if !world.dirty
            && world
                .timers
                .first()
                .is_none_or(|(at, _)| *at > world.now_ms)
        {
            break;
        }
    }
}

/// Process every due timer, then run controllers and the scheduler if
/// anything changed, until nothing more is due now.
fn step(world: &mut World, instant: bool) {
    world.kube.now_unix_ms = world.epoch_ms + world.now_ms as i64;
    for _ in 0..16 {
        let mut progressed = false;
        while let Some((at, _)) = world.timers.first() {
            if *at > world.now_ms {
                break;
            }
            let (_, timer) = world.timers.pop_first().expect("checked non-empty");
            progressed = true;
            match timer {
                Timer::Cluster => controlplane::finish_cluster_update(world),
                Timer::Addon(name) => controlplane::finish_addon_update(world, &name),
                Timer::Rollout(ng) => nodegroup_update::tick(world, &ng),
                Timer::Node(name) => kubelet::node(world, &name, instant),
                Timer::Pod(uid) => kubelet::pod(world, &uid, instant),
                Timer::Custom(key) => crate::sandbox::kube::custom::tick(world, &key),
            }
        }
        if world.addons_changed {
            world.addons_changed = false;
            kubelet::recheck_all_nodes(world, instant);
            progressed = true;
        }
        if world.dirty {
            world.dirty = false;
            controllers::run(world);
            // The pass accounted for what it created itself.
            world.dirty = false;
            scheduler::run(world);
            progressed = true;
        }
        if !progressed {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    use super::*;
    use crate::sandbox::Fixture;
    use crate::sandbox::kube::store::meta_str;
    use crate::sandbox::state::objects::{
        controller_of, is_terminating, pod_ready, selector_matches,
    };

    /// The pod index and node accounting agree with the stored pods.
    fn assert_indexes_match_store(w: &mut World) {
        w.publish_pod_statuses();
        let mut counts: HashMap<String, (u64, u64)> = HashMap::new();
        let mut owned: HashMap<String, BTreeSet<(String, String)>> = HashMap::new();
        let mut on_node: HashMap<String, BTreeSet<String>> = HashMap::new();
        for ((ns, name), p) in w.kube.list_untyped("pods", None) {
            if let Some((_, _, uid)) = controller_of(p) {
                owned
                    .entry(uid.to_string())
                    .or_default()
                    .insert((ns.to_string(), name.to_string()));
                let c = counts.entry(uid.to_string()).or_default();
                if !is_terminating(p) {
                    c.0 += 1;
                    c.1 += pod_ready(p) as u64;
                }
            }
            if let Some(node) = p["spec"]["nodeName"].as_str() {
                on_node
                    .entry(node.to_string())
                    .or_default()
                    .insert(meta_str(p, "uid").to_string());
            }
        }
        assert!(!counts.is_empty());
        for (owner, c) in &counts {
            assert_eq!(w.pod_index.counts(owner), *c, "counts of {owner}");
            let indexed: BTreeSet<(String, String)> = w.pod_index.owned(owner).cloned().collect();
            assert_eq!(&indexed, &owned[owner], "pods of {owner}");
        }
        for (name, n) in &w.nodes {
            let want = on_node.remove(name).unwrap_or_default();
            assert_eq!(n.pods, want, "pods bound to {name}");
            assert_eq!(n.used_pods as usize, want.len(), "pod count of {name}");
        }
        assert!(
            on_node.is_empty(),
            "pods bound to missing nodes: {on_node:?}"
        );
        let mut budgets = 0;
        for ((ns, name), pdb) in w.kube.list_untyped("poddisruptionbudgets", None) {
            let scanned: Vec<&str> = w
                .kube
                .list_untyped("pods", Some(ns))
                .filter(|(_, p)| {
                    selector_matches(&pdb["spec"]["selector"], &p["metadata"]["labels"])
                })
                .map(|((_, pod), _)| pod)
                .collect();
            let indexed: Vec<&str> = w
                .budget_index
                .selected(ns, name)
                .expect("indexed")
                .collect();
            assert_eq!(indexed, scanned, "pods of budget {ns}/{name}");
            budgets += 1;
        }
        assert!(budgets > 0, "the fixture has a budget to check");
    }

    fn nodes_of(w: &World, nodegroup: &str) -> Vec<String> {
        let mut names: Vec<String> = w
            .nodes
            .iter()
            .filter(|(_, n)| n.nodegroup == nodegroup)
            .map(|(k, _)| k.clone())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_rollout_taints_old_nodes_so_drained_pods_move_to_new_ones() {
        // Ten nodegroups of two nodes each.
        let mut w = World::from_fixture(&Fixture::generated(20, 400), 7, 0);
        let ng = w.nodegroups.keys().next().cloned().expect("a nodegroup");
        let old = nodes_of(&w, &ng);
        assert_eq!(old.len(), 2);
        let tainted = |w: &World, node: &str| {
            let rec = w.kube.record("nodes", "", node);
            rec.and_then(|r| r.node()).is_some_and(|n| {
                n.taints.iter().any(|t| {
                    t.key == nodegroup_update::UPDATE_TAINT_KEY
                        && t.value.as_deref() == Some("unschedulable")
                        && t.effect == "NoSchedule"
                })
            })
        };
        assert!(nodegroup_update::start_external_rollout(&mut w, &ng, "1.27").is_some());
        let mut tainted_at = None;
        for minute in 1..=120 {
            advance_to(&mut w, minute * MINUTE_MS);
            let present: Vec<&String> = old.iter().filter(|n| w.nodes.contains_key(*n)).collect();
            if tainted_at.is_none() && !present.is_empty() && present.iter().all(|n| tainted(&w, n))
            {
                tainted_at = Some(w.now_ms);
            }
            // Nothing is scheduled onto a tainted old node.
            if let Some(t) = tainted_at {
                for p in w.pods.values().filter(|p| present.contains(&&p.node)) {
                    assert!(
                        p.bound_ms < t,
                        "{} bound to old node {} after the taint",
                        p.name,
                        p.node
                    );
                }
            }
        }
        assert!(tainted_at.is_some(), "old nodes were tainted");
        assert!(
            old.iter().all(|n| !w.nodes.contains_key(n)),
            "old nodes gone"
        );
        // The new nodes carry no such taint.
        let new = nodes_of(&w, &ng);
        assert_eq!(new.len(), 2);
        assert!(new.iter().all(|n| !tainted(&w, n)));
    }

    #[test]
    fn indexes_stay_consistent_through_deletes_and_a_rollout() {
        let mut w = World::from_fixture(&Fixture::generated(6, 150), 7, 0);
        assert_indexes_match_store(&mut w);
        // Delete every fifth pod; the controllers replace them.
        let victims: Vec<(String, String)> = w
            .kube
            .list_untyped("pods", None)
            .step_by(5)
            .map(|((ns, name), _)| (ns.to_string(), name.to_string()))
            .collect();
        for (ns, name) in &victims {
            assert!(w.delete("pods", ns, name).is_some());
        }
        advance_to(&mut w, MINUTE_MS);
        assert_indexes_match_store(&mut w);
        // A rollout cordons, evicts and terminates every node of the group.
        let ng = w.nodegroups.keys().next().cloned().expect("a nodegroup");
        let before = nodes_of(&w, &ng);
        assert!(nodegroup_update::start_external_rollout(&mut w, &ng, "1.27").is_some());
        advance_to(&mut w, 3 * 3600 * 1000);
        assert!(
            before.iter().all(|n| !w.nodes.contains_key(n)),
            "old nodes gone"
        );
        assert_indexes_match_store(&mut w);
    }
}
